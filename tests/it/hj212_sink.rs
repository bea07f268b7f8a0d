//! The HJ 212 northbound end to end: a noise day published through a real
//! Mosquitto into the greengate binary, whose indicator engine closes the
//! minutes, hours and the noise day; the HJ 212 sink uploads them to a test
//! platform written from the standard's byte layout (its own CRC and
//! parsing, `hj212_sink_platform`), which answers like real platforms do,
//! leaves one upload unanswered, drops the connection once and sends
//! commands. The values the platform receives equal the `gg_noise_*`
//! points the daemon wrote to its store (a real VictoriaMetrics).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::daemon::Daemon;
use crate::common::{free_port, Mosquitto, Victoria};
use crate::hj212_sink_platform::{Action, Platform, Seg, State};

/// 2026-03-10 06:00 +08:00 (the start of a noise day), in ns.
const DAY0: i64 = 1_773_093_600 * 1_000_000_000;
const MIN: i64 = 60 * 1_000_000_000;
const PW: &str = "Pw2026x";

fn write_config(
    dir: &Path,
    mqtt: u16,
    http: u16,
    store: &str,
    platform: u16,
) -> std::path::PathBuf {
    let text = format!(
        r#"
[site]
community_id = "cn-hj212-0001"
utc_offset = "+08:00"

[http]
listen = "127.0.0.1:{http}"

[outbox]
dir = "{dir}/outbox"
fsync = "never"

[dead_letter]
path = "{dir}/dead-letter.jsonl"

[profiles]
dirs = ["{repo}/config/devices"]

[devices.noise-01.indicators]
class = "noise"
zone_class = "1"
sample_interval = "60s"

[sources.mqtt]
host = "127.0.0.1"
port = {mqtt}
client_id = "greengate-hj212"

[[sources.mqtt.subscriptions]]
filter = "community/+site/lp"
profile = "line-protocol"

[sinks]
shutdown_grace = "5s"

[sinks.influxdb]
url = "{store}"
org = "o"
bucket = "b"
token = "any"
linger = "100ms"

[[sinks.hj212.platforms]]
name = "env"
address = "127.0.0.1:{platform}"
pw = "{PW}"
over_time = "500ms"
re_count = 3
retry = "100ms"
retry_max = "1s"
points = {{ "noise-01" = "GG0001" }}

[indicators]
watermark = "event_time"
"#,
        dir = dir.display(),
        repo = env!("CARGO_MANIFEST_DIR"),
    );
    let path = dir.join("greengate.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// One reading a minute from 06:00 for 24 h (day ~55 dB, night ~42 dB),
/// then one at 06:03 the next day, which closes the noise day.
fn day_messages() -> Vec<String> {
    let mut out = Vec::new();
    for m in 0..24 * 60 {
        let t = DAY0 + m * MIN + 5_000_000_000;
        let base = if m >= 16 * 60 { 42.0 } else { 55.0 };
        let laeq = base + ((m * 7919) % 61) as f64 / 10.0;
        let lamax = laeq + (m % 13) as f64 * 0.7;
        out.push(format!(
            "noise,device=noise-01 laeq={laeq:.1},lamax={lamax:.1} {t}"
        ));
    }
    out.push(format!(
        "noise,device=noise-01 laeq=44.0 {}",
        DAY0 + (24 * 60 + 3) * MIN
    ));
    out
}

/// Victoria's samples of `selector` as DataTime (local +08:00) → value.
fn store_values(store: &Victoria, selector: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for s in store.export(selector) {
        let ts = s["timestamps"].as_array().cloned().unwrap_or_default();
        let vs = s["values"].as_array().cloned().unwrap_or_default();
        for (t, v) in ts.iter().zip(vs.iter()) {
            let ms = t.as_i64().unwrap();
            let local = chrono::DateTime::from_timestamp_millis(ms + 8 * 3_600_000)
                .unwrap()
                .naive_utc();
            out.insert(
                local.format("%Y%m%d%H%M%S").to_string(),
                v.as_f64().unwrap(),
            );
        }
    }
    out
}

fn answered(state: &Arc<Mutex<State>>, cn: u32) -> Vec<Seg> {
    let s = state.lock().unwrap();
    s.answered
        .iter()
        .filter(|u| u.cn() == cn)
        .cloned()
        .collect()
}

/// Every value of `code` the platform got, by DataTime, after checking
/// its flag is N and the DataTimes strictly increase (time order).
fn received(ups: &[Seg], key: &str, flag: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let mut last = String::new();
    for u in ups {
        let f = u.cp_fields();
        let dt = f["DataTime"].clone();
        assert!(dt > last, "uploads out of time order: {last} then {dt}");
        last = dt.clone();
        if let Some(v) = f.get(key) {
            assert_eq!(f.get(flag).map(String::as_str), Some("N"), "{}", u.text);
            out.insert(dt, v.parse::<f64>().unwrap());
        }
    }
    out
}

fn assert_equal(got: &BTreeMap<String, f64>, want: &BTreeMap<String, f64>, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: count");
    for (t, v) in want {
        let g = got
            .get(t)
            .unwrap_or_else(|| panic!("{what}: nothing at {t}"));
        assert!(
            (g - v).abs() < 1e-9,
            "{what} at {t}: platform {g}, store {v}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_noise_day_arrives_as_2051_2061_2031_frames_equal_to_the_indicators() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start_with("max_queued_messages 0\nmax_inflight_messages 1000\n");
    let store = Victoria::start();
    let port = free_port();
    let state = Arc::new(Mutex::new(State::default()));
    // Upload 40 is not answered (sent again with its QN); upload 700 is
    // met by a closed connection (reconnect, sent again).
    let platform = Platform::start(
        port,
        state.clone(),
        Box::new(|n| match n {
            40 => Action::Ignore,
            700 => Action::Close,
            _ => Action::Answer,
        }),
    )
    .await;
    let http = free_port();
    let cfg = write_config(dir.path(), broker.port(), http, &store.url(), port);
    let mut daemon = tokio::task::block_in_place(|| Daemon::start(&cfg, http, dir.path()));

    // Commands on the first connection: clock read (an epoch-ms QN),
    // clock set (refused), the real-time interval set, then read twice
    // with the same QN (platforms reuse QNs).
    let deadline = Instant::now() + Duration::from_secs(30);
    while state.lock().unwrap().connections == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let head = |qn: &str, cn: u32| format!("QN={qn};ST=91;CN={cn};PW={PW};MN=GG0001;Flag=5;CP=");
    platform.command(&format!("{}&&&&", head("1773099000123", 1011)));
    platform.command(&format!(
        "{}&&SystemTime=20200101000000&&",
        head("1773099000124", 1012)
    ));
    platform.command(&format!(
        "{}&&RtdInterval=60&&",
        head("1773099000125", 1062)
    ));
    platform.command(&format!("{}&&&&", head("1773099000126", 1061)));
    platform.command(&format!("{}&&&&", head("1773099000126", 1061)));

    let lines = day_messages();
    crate::common::publish::publish_all(broker.port(), "community/garden/lp".into(), lines, 20)
        .await
        .expect("publish the day");

    let deadline = Instant::now() + Duration::from_secs(180);
    while answered(&state, 2031).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (minutes, hours, days) = (
        answered(&state, 2051),
        answered(&state, 2061),
        answered(&state, 2031),
    );
    assert_eq!(
        (minutes.len(), hours.len(), days.len()),
        (1440, 24, 1),
        "{}",
        daemon.log()
    );
    let s = state.lock().unwrap();
    assert!(s.bad_frames.is_empty(), "{:?}", s.bad_frames);
    for u in &s.uploads {
        assert_eq!(
            (u.get("ST"), u.get("PW"), u.get("MN"), u.get("Flag")),
            ("23", PW, "GG0001", "5"),
            "{}",
            u.text
        );
        assert_eq!(u.get("QN").len(), 17, "{}", u.text);
    }
    // The unanswered upload was sent again with the same QN; the one met
    // by the closed connection was sent again on the next connection.
    assert_eq!(s.uploads[40].get("QN"), s.uploads[41].get("QN"));
    assert_eq!(s.uploads[701].get("QN"), s.uploads[700].get("QN"));
    assert_eq!((s.uploads[700].conn, s.uploads[701].conn), (1, 2));
    assert_eq!(s.connections, 2);

    // The replies to the commands, in order.
    let replies: Vec<String> = s
        .replies
        .iter()
        .map(|r| format!("{} {} {}", r.get("QN"), r.cn(), r.cp))
        .collect();
    assert_eq!(replies.len(), 12, "{replies:?}");
    assert_eq!(replies[0], "1773099000123 9011 QnRtn=1");
    assert!(
        replies[1].starts_with("1773099000123 1011 SystemTime=2026"),
        "{replies:?}"
    );
    assert_eq!(replies[2], "1773099000123 9012 ExeRtn=1");
    assert_eq!(replies[3], "1773099000124 9011 QnRtn=2");
    assert_eq!(
        replies[4..6],
        ["1773099000125 9011 QnRtn=1", "1773099000125 9012 ExeRtn=1"]
    );
    for k in [6, 9] {
        assert_eq!(replies[k + 1], "1773099000126 1061 RtdInterval=60");
    }
    for r in &s.replies {
        assert_eq!(
            (r.get("PW"), r.get("MN"), r.get("Flag")),
            (PW, "GG0001", "4")
        );
    }
    drop(s);

    // The values equal the gg_noise_* points in the store.
    let want = |sel: &str| {
        tokio::task::block_in_place(|| {
            store.wait_for_samples(sel, 1, Duration::from_secs(30));
            store_values(&store, sel)
        })
    };
    for (field, code) in [
        ("leq", "Leq"),
        ("l10", "L10"),
        ("l50", "L50"),
        ("l90", "L90"),
        ("lmax", "LMx"),
        ("lmin", "LMn"),
    ] {
        let h = received(&hours, &format!("{code}-Data"), &format!("{code}-Flag"));
        assert_equal(
            &h,
            &want(&format!("gg_noise_hour_{field}")),
            &format!("hour {code}"),
        );
    }
    let m = received(&minutes, "Leq-Data", "Leq-Flag");
    assert_equal(&m, &want("gg_noise_minute_leq"), "minute Leq");
    let d = days[0].cp_fields();
    assert_eq!(d["DataTime"], "20260310000000");
    for (field, key) in [
        ("ld", "Ld-DayData"),
        ("ln", "Ln-NightData"),
        ("ldn", "Ldn-Data"),
    ] {
        let v = want(&format!("gg_noise_day_{field}"));
        let stored = *v.values().next().unwrap();
        assert_eq!(d[key].parse::<f64>().unwrap(), stored, "{key}");
    }
    assert!(!daemon.log().contains(PW), "the PW must never be logged");
    assert_eq!(daemon.metric("hj212_sink_uploads_retried_total"), 1.0);
    assert_eq!(daemon.stop(), 0);
    platform.stop();
}

/// The commented `[[sinks.hj212.platforms]]` block of the example config,
/// uncommented, is a valid platform and names every key there is.
#[test]
fn the_example_configs_platform_block_is_valid_and_complete() {
    let text = std::fs::read_to_string("config/greengate.example.toml").unwrap();
    let start = text
        .find("# [[sinks.hj212.platforms]]")
        .expect("the example documents [[sinks.hj212.platforms]]");
    let block: String = text[start..]
        .lines()
        .take_while(|l| l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let block = block.replace("/etc/greengate/hj212-pw", "pw");
    std::fs::write(dir.path().join("pw"), "123456\n").unwrap();
    let v: toml::Value = toml::from_str(&block).unwrap();
    let keys: Vec<String> = v["sinks"]["hj212"]["platforms"][0]
        .as_table()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let cfg: greengate::sinks::hj212::config::Hj212Config =
        serde_json::from_value(serde_json::to_value(&v["sinks"]["hj212"]).unwrap()).unwrap();
    let mut cx = greengate::config::Check::new(dir.path());
    greengate::config::Validate::validate(&cfg, "sinks.hj212", &mut cx);
    assert!(cx.problems().is_empty(), "{:?}", cx.problems());
    // Every key of the struct is documented (pw only as the commented alternative).
    let all = serde_json::to_value(&v["sinks"]["hj212"]["platforms"][0]).unwrap();
    for k in [
        "name",
        "address",
        "pw_file",
        "st",
        "flag_version",
        "answers",
        "crc",
        "over_time",
        "re_count",
        "retry",
        "retry_max",
        "connect_timeout",
        "max_segment",
        "minute",
        "hour",
        "day",
        "realtime",
        "realtime_measurement",
        "rtd_interval",
        "day_coding",
        "factors",
        "points",
    ] {
        assert!(
            keys.iter().any(|x| x == k),
            "{k} missing from the example: {all}"
        );
    }
    assert!(text[start..].contains("# # pw = "));
}
