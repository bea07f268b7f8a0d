//! The status page from a running daemon, as a browser renders it: a real
//! Mosquitto fed a few messages, a real Modbus TCP device (and one behind a
//! closed port), a real VictoriaMetrics behind the outbox; headless
//! Chromium loads `/`, whose script fetches `/status.json` and renders it.
//! The rendered DOM is checked against the daemon's own `/status.json`,
//! and a screenshot is kept in `target/test-artifacts/status.png`.

use crate::common;
use crate::http_support::request;
use crate::meters_support;
use crate::modbus_support;
use crate::status_support::*;

use common::chromium;
use common::daemon::Daemon;
use common::{free_port, Mosquitto, Victoria};

#[test]
fn the_status_page_renders_the_daemons_state_in_chromium() {
    chromium::dump_dom("about:blank"); // fails loudly, naming the package, without Chromium
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start();
    let vm = Victoria::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bank = modbus_support::Bank::default();
    bank.holding(1, 0, &[655]);
    let modbus = rt.block_on(modbus_support::TcpDevice::start(bank));
    let water = meters_support::Bus::new(vec![meters_support::Sim {
        nameplate: "00000000112233".into(),
        kind: meters_support::Kind::Cjt188 {
            meter_type: 0x10,
            flow: 12_345,
            unit: 0x2C,
            st1: 0x00,
            high_first: false,
        },
        fault: meters_support::Fault::None,
        preamble: 0,
    }]);
    let (meters, _sim) = rt.block_on(meters_support::serve_tcp(water));
    let http_port = free_port();
    let http = format!("listen = \"127.0.0.1:{http_port}\"");
    let cfg = write_config(
        dir.path(),
        broker.port(),
        &http,
        &vm.url(),
        modbus.addr.port(),
        meters.port(),
    );
    let mut d = Daemon::start(&cfg, http_port, dir.path());

    // A full noise hour H at least an hour ahead (the engine runs on event
    // time), six samples of 50 dB(A) ten minutes apart, then a reading past
    // its end that moves the clock and closes it.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let h = (now / HOUR + 2) * HOUR;
    let topic = "community/green-garden/noise/nl-01/up";
    for i in 0..6 {
        broker.publish(topic, &noise(h + i * 600 + 5, 50.0), 1);
    }
    broker.publish(topic, &noise(h + HOUR + 65, 50.0), 1);
    let alarm = format!(
        r#"{{"ts":{},"event":"alarm","alarmType":"forced open","alarmId":"A-7","online":true}}"#,
        (h + HOUR + 70) * 1000
    );
    broker.publish("community/green-garden/security/door-3-1/event", &alarm, 1);
    // Outside text with markup in it: a topic level that is HTML.
    broker.publish(
        "community/green-garden/noise/nl-<img src=x onerror=alert(1)>/up",
        "{not json",
        1,
    );

    let s = wait_status(&mut d, None, |s| {
        let noise = (s["indicators"]["noise"].as_array().into_iter().flatten())
            .filter(|n| n["device"] == "nl-01")
            .count();
        let polled = |id: &str| {
            (s["devices"].as_array().unwrap().iter())
                .any(|d| d["id"] == id && !d["online"].is_null())
        };
        noise == 1
            && s["indicators"]["alarms"]["open"] == 1
            && s["dead_letters"]["total"] == 1
            && s["sources"]["mqtt"]["connected"] == true
            && polled("mb-noise-1")
            && polled("mb-dead")
            && s["sources"]["meters"][0]["online"] == 1
    });

    // The daemon's state, as /status.json reports it.
    let is_day = (6..22).contains(&((h + LOCAL).rem_euclid(24 * HOUR) / HOUR));
    let n = (s["indicators"]["noise"].as_array().unwrap().iter())
        .find(|n| n["device"] == "nl-01")
        .unwrap();
    assert_eq!(n["device"], "nl-01", "{s:#}");
    assert_eq!(n["leq"], 50.0);
    assert_eq!(n["valid"], true);
    assert_eq!(n["period"], if is_day { "day" } else { "night" });
    let (limit, over) = if is_day { (55.0, -5.0) } else { (45.0, 5.0) };
    assert_eq!(n["limit"], limit, "GB 3096 class 1");
    assert_eq!(n["exceedance_db"], over);
    assert_eq!(n["hour"], rfc3339(h));
    let alarm = &s["indicators"]["alarms"]["list"][0];
    assert_eq!(alarm["key"], "door-3-1/A-7");
    assert_eq!(alarm["alarm_type"], "forced open");
    assert!(alarm["acknowledged"].is_null());
    let mb = device(&s, "mb-noise-1");
    assert_eq!(mb["source"], "modbus:noise-bus");
    assert_eq!(mb["class"], "noise");
    assert_eq!(mb["online"], true);
    assert_eq!(mb["degraded"], false);
    assert_eq!(mb["values"]["laeq"], 65.5);
    let dead = device(&s, "mb-dead");
    assert_eq!(
        (dead["online"].clone(), dead["degraded"].clone()),
        (false.into(), true.into())
    );
    assert!(dead["errors"].as_u64().unwrap() >= 1, "{dead:#}");
    let nl = device(&s, "nl-01");
    assert_eq!(
        (nl["source"].as_str(), nl["class"].as_str()),
        (Some("mqtt"), Some("noise"))
    );
    let buses = s["sources"]["modbus"].as_array().unwrap();
    assert_eq!(buses.len(), 2);
    assert_eq!(
        (buses[0]["name"].as_str(), buses[0]["online"].as_u64()),
        (Some("noise-bus"), Some(1))
    );
    assert_eq!(
        (buses[1]["name"].as_str(), buses[1]["online"].as_u64()),
        (Some("dead-bus"), Some(0))
    );
    let m = &s["sources"]["meters"][0];
    assert_eq!(
        (m["name"].as_str(), m["transport"].as_str()),
        (Some("dtu-1"), Some("tcp"))
    );
    assert_eq!(
        (m["online"].as_u64(), m["devices"].as_u64()),
        (Some(1), Some(1))
    );
    assert!(m["requests"].as_u64() >= Some(1), "{m:#}");
    assert_eq!(m["errors"], 0, "{m:#}");
    let outbox = (s["outboxes"].as_array().unwrap().iter()).find(|o| o["name"] == "influxdb");
    assert!(
        outbox.is_some_and(|o| o["appended"].as_u64() > Some(0)),
        "{s:#}"
    );
    let dl = &s["dead_letters"]["recent"][0];
    assert_eq!(
        dl["origin"],
        "community/green-garden/noise/nl-<img src=x onerror=alert(1)>/up"
    );
    assert_eq!(
        s["assessment"]["criteria"].as_array().map(Vec::len),
        Some(16)
    );

    // The same state, rendered by the page's script in a browser.
    let url = format!("http://127.0.0.1:{http_port}/");
    let dom = chromium::dump_dom(&url);
    assert!(
        dom.contains("data-loaded=\"1\""),
        "the page never rendered a snapshot:\n{dom}"
    );
    assert_eq!(text_of(&dom, "community"), "cn-status-0001");
    for dev in s["devices"].as_array().unwrap() {
        let id = dev["id"].as_str().unwrap();
        let r = row(&dom, "device", id);
        let online = match dev["online"].as_bool() {
            Some(true) => "在线 online",
            Some(false) => "离线 offline",
            None => "未知 unknown",
        };
        assert!(r.contains(online), "{id}: {online} expected in {r}");
        assert_eq!(
            r.contains("降级 degraded"),
            dev["degraded"] == true,
            "{id}: {r}"
        );
    }
    assert!(row(&dom, "device", "mb-noise-1").contains("laeq=65.5"));
    let r = row(&dom, "noise", "nl-01");
    let shown = if is_day { "-5 dB" } else { "+5 dB" };
    for want in ["50", &limit.to_string(), shown] {
        assert!(r.contains(want), "{want} expected in the noise row {r}");
    }
    assert_eq!(text_of(&dom, "alarm-count"), "1");
    assert!(dom.contains("door-3-1/A-7") && dom.contains("forced open"));
    assert!(dom.contains("已连接 connected"), "MQTT connected");
    assert!(dom.contains("noise-bus") && dom.contains("dead-bus"));
    assert!(
        dom.contains("dtu-1") && dom.contains("tcp 127.0.0.1:"),
        "meter bus row"
    );
    // Outside text is text: the markup in the topic is escaped, not parsed.
    assert!(
        dom.contains("nl-&lt;img src=x onerror=alert(1)&gt;"),
        "{dom}"
    );
    assert!(!dom.contains("<img"));
    assert!(dom.contains("通过 pass") || dom.contains("数据不足 insufficient data"));
    for secret in [MQTT_PASSWORD, INFLUX_TOKEN] {
        assert!(!dom.contains(secret), "a secret on the page");
        assert!(!s.to_string().contains(secret), "a secret in status.json");
    }

    chromium::screenshot(&url, &chromium::artifacts().join("status.png"), 1400, 2200);
    assert_eq!(d.stop(), 0, "{}", d.log());
    drop(modbus);
}

#[test]
fn the_status_page_needs_the_credentials_changes_nothing_and_shows_no_secret() {
    chromium::dump_dom("about:blank");
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start();
    let vm = Victoria::start();
    let http_port = free_port();
    let http = format!(
        "listen = \"127.0.0.1:{http_port}\"\ntoken = \"{HTTP_TOKEN}\"\nusername = \"viewer\"\npassword = \"{HTTP_PASSWORD}\""
    );
    let cfg = write_config(
        dir.path(),
        broker.port(),
        &http,
        &vm.url(),
        free_port(),
        free_port(),
    );
    let mut d = Daemon::spawn(&cfg, http_port, dir.path(), 0, &[], None);
    let bearer = format!("Bearer {HTTP_TOKEN}");
    wait_ready_with(&mut d, &bearer);
    broker.publish("community/green-garden/noise/nl-01/up", "{not json", 1);
    let s = wait_status(&mut d, Some(&bearer), |s| s["dead_letters"]["total"] == 1);

    // Like every path but /healthz: nothing without the credentials.
    for path in ["/", "/status.json"] {
        let r = request(http_port, "GET", path, None).unwrap();
        assert_eq!(r.status, 401, "{path}");
        assert!(r.header("www-authenticate").is_some(), "{path}");
        assert!(!r.body.contains("cn-status-0001"), "{path}: {}", r.body);
        let r = request(http_port, "GET", path, Some("Bearer wrong")).unwrap();
        assert_eq!(r.status, 401, "{path}");
        // Read-only: every other method is refused, even with the token.
        for m in ["POST", "PUT", "DELETE", "PATCH"] {
            let r = request(http_port, m, path, Some(&bearer)).unwrap();
            assert_eq!(r.status, 405, "{m} {path}");
            assert_eq!(r.header("allow"), Some("GET, HEAD"));
        }
    }
    let page = request(http_port, "GET", "/", Some(&bearer)).unwrap();
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let csp = page.header("content-security-policy").unwrap_or_default();
    for rule in [
        "default-src 'none'",
        "connect-src 'self'",
        "form-action 'none'",
    ] {
        assert!(csp.contains(rule), "{rule} in {csp}");
    }
    // The embedded page loads nothing from anywhere else.
    for remote in ["http://", "https://", "//cdn", "src="] {
        assert!(!page.body.contains(remote), "{remote} in the page");
    }

    // A browser with the basic credentials renders it; no secret reaches it.
    let url = format!("http://viewer:{HTTP_PASSWORD}@127.0.0.1:{http_port}/");
    let dom = chromium::dump_dom(&url);
    assert!(dom.contains("data-loaded=\"1\""), "{dom}");
    assert_eq!(text_of(&dom, "community"), "cn-status-0001");
    let basic = greengate::http::auth::base64(format!("viewer:{HTTP_PASSWORD}").as_bytes());
    let json = s.to_string();
    for secret in [
        HTTP_TOKEN,
        HTTP_PASSWORD,
        MQTT_PASSWORD,
        INFLUX_TOKEN,
        basic.as_str(),
    ] {
        assert!(!dom.contains(secret), "{secret} on the page");
        assert!(!json.contains(secret), "{secret} in status.json");
        assert!(!page.body.contains(secret));
    }
    assert_eq!(d.stop(), 0, "{}", d.log());
}
