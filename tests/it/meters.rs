//! The meter source over a real serial line (a socat pty pair) and over TCP
//! (as behind a transparent serial device server), against meter simulators
//! built from the standards' byte layouts (`meters_support`). Several
//! meters share a bus: one silent, one with a bad checksum, one answering
//! error replies, one from a wrong address, one behind noise; the good
//! values of every meter still arrive and the bus keeps its schedule.

use std::sync::Arc;
use std::time::Duration;

use crate::common;
use crate::meters_support::*;
use crate::modbus_support::{assert_approx, counter, float, Collected};

use common::socat::pty_pair;
use greengate::config::{parse_value, Check, Validate};
use greengate::model::FieldValue;
use greengate::pipeline::SourceBatch;
use greengate::profiles::ProfileSet;
use greengate::sources::meters::config::MetersConfig;

pub fn meters_config(text: &str) -> MetersConfig {
    let v: toml::Value = toml::from_str(text).unwrap();
    let mut cx = Check::new(".");
    let c: Option<MetersConfig> =
        parse_value(serde_json::to_value(v).unwrap(), "sources.meters", &mut cx);
    let c = c.unwrap();
    c.validate("sources.meters", &mut cx);
    assert!(cx.problems().is_empty(), "{:?}", cx.problems());
    c
}

pub fn shipped() -> Arc<ProfileSet> {
    let mut cx = Check::new(".");
    let cfg: greengate::profiles::config::ProfilesConfig = parse_value(
        serde_json::json!({"dirs": [common::repo().join("config/devices")]}),
        "profiles",
        &mut cx,
    )
    .unwrap();
    let set = ProfileSet::load(&cfg, &mut cx);
    assert!(cx.problems().is_empty(), "{:?}", cx.problems());
    Arc::new(set)
}

pub struct Running {
    pub out: Collected,
    shutdown: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub async fn stop(self) -> Collected {
        self.shutdown.cancel();
        let _ = self.task.await;
        self.out
    }
}

pub fn start(cfg: MetersConfig, profiles: Arc<ProfileSet>) -> Running {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<SourceBatch>(64);
    let out = Collected::default();
    let o = out.clone();
    tokio::spawn(async move {
        while let Some(b) = rx.recv().await {
            o.0.lock().unwrap().push(b);
        }
    });
    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(greengate::sources::meters::run(
        cfg,
        profiles,
        tx,
        shutdown.clone(),
    ));
    Running {
        out,
        shutdown,
        task,
    }
}

const VOLTAGE: u32 = 0x0201_0100;
const POWER: u32 = 0x0203_0000;

fn meter_entry(id: &str, address: &str, profile: &str) -> String {
    format!(
        "[[buses.meters]]\nid = \"{id}\"\naddress = \"{address}\"\nprofile = \"{profile}\"\npoll_interval = \"300ms\"\ngroup_intervals = {{ energy = \"300ms\" }}\n"
    )
}

fn has(c: &Collected, id: &str, field: &str) -> bool {
    c.of("electricity_meter", id)
        .iter()
        .any(|r| r.field(field).is_some())
}

#[tokio::test]
async fn a_pty_bus_reads_good_meters_and_bad_replies_cost_only_their_identifier() {
    let dir = tempfile::tempdir().unwrap();
    let (_socat, a, b) = pty_pair(dir.path());
    let good = single_phase(123_456, 2201, -1500, 3300);
    let bus = Bus::new(vec![
        dlt("000000000001", good.clone(), Fault::None),
        dlt("000000000002", good.clone(), Fault::Silent),
        dlt("000000000003", good.clone(), Fault::BadChecksum(VOLTAGE)),
        dlt("000000000004", good.clone(), Fault::ErrorReply(POWER)),
        dlt("000000000005", good.clone(), Fault::WrongAddress(VOLTAGE)),
        Sim {
            preamble: 4,
            ..dlt("000000000006", good.clone(), Fault::Noise)
        },
        dlt("000000000007", good, Fault::Truncate(POWER)),
    ]);
    let _sim = serve_serial(&a, bus.clone());
    let mut text = format!(
        "[[buses]]\nname = \"pty-bus\"\nserial = {{ path = \"{}\" }}\ntimeout = \"250ms\"\ninter_request_delay = \"5ms\"\ndegraded_after = 2\nreconnect_min = \"500ms\"\nreconnect_max = \"1s\"\npreamble = 2\n",
        b.display()
    );
    for n in 1..=7 {
        text += &meter_entry(
            &format!("em-{n}"),
            &format!("00000000000{n}"),
            "dlt645-single-phase",
        );
    }
    let run = start(meters_config(&text), shipped());
    run.out
        .until(
            "every answering meter's good values, and the silent one offline",
            |c| {
                (1..=7)
                    .filter(|n| *n != 2)
                    .all(|n| has(c, &format!("em-{n}"), "energy_kwh"))
                    && has(c, "em-1", "power_w")
                    && has(c, "em-3", "power_w")
                    && has(c, "em-4", "voltage_v")
                    && has(c, "em-5", "power_w")
                    && has(c, "em-6", "voltage_v")
                    && has(c, "em-7", "voltage_v")
                    && c.of("device_status", "em-2")
                        .iter()
                        .any(|r| r.field("online") == Some(&FieldValue::Bool(false)))
            },
        )
        .await;
    let out = run.stop().await;
    let r = out.of("electricity_meter", "em-1");
    let full = r.iter().find(|r| r.field("power_w").is_some()).unwrap();
    assert_approx(float(full, "energy_kwh"), 1234.56);
    assert_approx(float(full, "voltage_v"), 220.1);
    assert_approx(float(full, "current_a"), -1.5);
    assert_approx(float(full, "power_w"), 330.0);
    // The damaged, refused, foreign and truncated identifiers never gave a value.
    assert!(!has(&out, "em-3", "voltage_v"));
    assert!(!has(&out, "em-4", "power_w"));
    assert!(!has(&out, "em-5", "voltage_v"));
    assert!(!has(&out, "em-7", "power_w"));
    assert!(out.of("electricity_meter", "em-2").is_empty());
    // Each kind was counted under its meter.
    for (dev, kind) in [
        ("em-2", "timeout"),
        ("em-3", "bad_checksum"),
        ("em-4", "error_reply"),
        ("em-5", "wrong_address"),
        ("em-7", "truncated"),
    ] {
        let n = counter(
            "meter_request_errors_total",
            &[("bus", "pty-bus"), ("device", dev), ("kind", kind)],
        );
        assert!(n > 0, "{dev} {kind}");
    }
    assert!(counter("meter_noise_bytes_total", &[("bus", "pty-bus")]) > 0);
    // Damaged frames were dead-lettered with their bytes.
    let dead = out.dead();
    assert!(
        dead.iter()
            .any(|d| d.origin == "em-3/02010100" && !d.payload.is_empty()),
        "{dead:?}"
    );
    let s = out.of("device_status", "em-1");
    assert_eq!(
        s.last().unwrap().field("online"),
        Some(&FieldValue::Bool(true))
    );
    assert_eq!(s.last().unwrap().tag("source"), Some("meters"));
}

#[tokio::test]
async fn cold_water_and_electricity_meters_share_a_bus_behind_a_serial_device_server() {
    let water = |np: &str, flow, high_first, fault| Sim {
        nameplate: String::from(np),
        kind: Kind::Cjt188 {
            meter_type: 0x10,
            flow,
            unit: 0x2C,
            st1: 0x04,
            high_first,
        },
        fault,
        preamble: 0,
    };
    let bus = Bus::new(vec![
        water("00000000112233", 12_345, false, Fault::None),
        water("00000000112234", 67_800, true, Fault::None),
        water("00000000112235", 1, false, Fault::Silent),
        dlt(
            "000000000011",
            single_phase(100, 2300, 250, 575),
            Fault::None,
        ),
    ]);
    let (addr, _sim) = serve_tcp(bus.clone()).await;
    let mut text = format!(
        "[[buses]]\nname = \"dtu-1\"\ntransport = \"tcp\"\naddress = \"{addr}\"\ntimeout = \"250ms\"\ninter_request_delay = \"5ms\"\ndegraded_after = 1\n"
    );
    text += &meter_entry("wm-1", "00000000112233", "cjt188-cold-water");
    text += &meter_entry("wm-2", "00000000112234", "cjt188-cold-water");
    text += &meter_entry("wm-3", "00000000112235", "cjt188-cold-water");
    text += &meter_entry("em-11", "000000000011", "dlt645-single-phase");
    let run = start(meters_config(&text), shipped());
    run.out
        .until(
            "both answering water meters, the electricity meter, the silent one offline",
            |c| {
                !c.of("water_meter", "wm-1").is_empty()
                    && !c.of("water_meter", "wm-2").is_empty()
                    && has(c, "em-11", "power_w")
                    && c.of("device_status", "wm-3")
                        .iter()
                        .any(|r| r.field("online") == Some(&FieldValue::Bool(false)))
            },
        )
        .await;
    let out = run.stop().await;
    let w1 = out.of("water_meter", "wm-1");
    assert_approx(float(&w1[0], "total_m3"), 123.45);
    assert_eq!(w1[0].field("valve_open"), Some(&FieldValue::Bool(true)));
    assert_eq!(w1[0].field("battery_low"), Some(&FieldValue::Bool(true)));
    // Identifier echoed high byte first: matched all the same.
    assert_approx(float(&out.of("water_meter", "wm-2")[0], "total_m3"), 678.0);
    let e = out.of("electricity_meter", "em-11");
    let e = e.iter().find(|r| r.field("power_w").is_some()).unwrap();
    assert_approx(float(e, "power_w"), 57.5);
    assert!(bus.requests.load(std::sync::atomic::Ordering::Relaxed) >= 4);
}

#[tokio::test]
async fn discovery_finds_the_single_meter_on_a_pty_and_behind_a_device_server() {
    use greengate::profiles::meter::MeterProtocol;
    use greengate::protocols::cjt188::DiOrder;
    use greengate::sources::meters::config::{BusConfig, MeterSerial, MeterTransport};
    let dir = tempfile::tempdir().unwrap();
    let (_socat, a, b) = pty_pair(dir.path());
    let _sim = serve_serial(
        &a,
        Bus::new(vec![dlt(
            "398192000337",
            single_phase(4, 2200, 0, 0),
            Fault::None,
        )]),
    );
    let bus = BusConfig {
        name: "discover".into(),
        serial: Some(MeterSerial {
            path: b.clone(),
            ..MeterSerial::default()
        }),
        ..BusConfig::default()
    };
    let found = greengate::sources::meters::discover(
        &bus,
        MeterProtocol::Dlt645,
        DiOrder::LowFirst,
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    assert_eq!(found.address, "398192000337");

    let water = Sim {
        nameplate: "78330011223344".into(),
        kind: Kind::Cjt188 {
            meter_type: 0x10,
            flow: 0,
            unit: 0x2C,
            st1: 0,
            high_first: false,
        },
        fault: Fault::None,
        preamble: 1,
    };
    let (addr, _t) = serve_tcp(Bus::new(vec![water])).await;
    let bus = BusConfig {
        name: "discover".into(),
        transport: MeterTransport::Tcp,
        address: Some(addr.to_string()),
        ..BusConfig::default()
    };
    let found = greengate::sources::meters::discover(
        &bus,
        MeterProtocol::Cjt188,
        DiOrder::LowFirst,
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    assert_eq!(
        (found.address.as_str(), found.meter_type),
        ("78330011223344", Some(0x10))
    );

    // The command line prints the same (run off the runtime that serves the meter).
    let a = addr.to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_greengate"))
            .args(["meters", "discover", "--tcp", &a, "--protocol", "cjt188"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("78330011223344"), "{text}");
}
