//! `greengate probe` against meters configured under `[sources.meters]`:
//! a DL/T 645 meter on a socat pty that refuses one identifier with an
//! error reply, a CJ/T 188 water meter behind a TCP serial device server,
//! a bus that refuses the connection, and an unknown device. The meters
//! are the simulators of `meters_support`, built from the standards' byte
//! layouts, not from the codecs under test.

use crate::common::free_port;
use crate::common::socat::pty_pair;
use crate::meters_support::*;
use crate::tools_support::{greengate_async, write_config, Out};

const POWER: u32 = 0x0203_0000;

fn line<'a>(out: &'a Out, start: &str) -> &'a str {
    out.stdout
        .lines()
        .find(|l| l.trim_start().starts_with(start))
        .unwrap_or_else(|| panic!("no line for {start}: {out:?}"))
}

#[tokio::test]
async fn probe_reads_a_dlt645_meter_on_a_pty_and_names_the_error_reply() {
    let dir = tempfile::tempdir().unwrap();
    let (_socat, a, b) = pty_pair(dir.path());
    let bus = Bus::new(vec![dlt(
        "000000000004",
        single_phase(123_456, 2201, -1500, 3300),
        Fault::ErrorReply(POWER),
    )]);
    let _sim = serve_serial(&a, bus.clone());
    let cfg = write_config(
        dir.path(),
        &format!(
            r#"
[[sources.meters.buses]]
name = "pty-bus"
serial = {{ path = "{}" }}
timeout = "400ms"
preamble = 2
[[sources.meters.buses.meters]]
id = "em-4"
address = "000000000004"
profile = "dlt645-single-phase"
"#,
            b.display()
        ),
    );
    let out = greengate_async(&["probe", "-c", cfg.to_str().unwrap(), "em-4"]).await;
    let s = &out.stdout;
    assert!(
        s.contains("meter em-4 (profile dlt645-single-phase, dlt645"),
        "{s}"
    );
    assert!(
        s.contains("address 000000000004 on bus pty-bus (serial "),
        "{s}"
    );
    // The value bytes after -0x33, least significant first, then the values.
    assert!(
        line(&out, "read 00010000").contains("data 56 34 12 00"),
        "{s}"
    );
    let e = line(&out, "energy_kwh");
    assert!(
        e.contains("decoded 1234.56") && e.contains("= 1234.56 kWh"),
        "{e}"
    );
    assert!(line(&out, "read 02010100").contains("data 01 22"), "{s}");
    assert!(line(&out, "voltage_v").contains("= 220.1 V"), "{s}");
    assert!(line(&out, "read 02020100").contains("data 00 15 80"), "{s}");
    assert!(line(&out, "current_a").contains("= -1.5 A"), "{s}");
    // The refused identifier: the error reply and what its ERR bits mean.
    let p = line(&out, "read 02030000");
    assert!(
        p.contains("error_reply: error reply: ERR 0x02: no such data requested"),
        "{p}"
    );
    assert!(
        line(&out, "power_w").contains("not read: error_reply"),
        "{s}"
    );
    assert!(s.contains("3 of 4 fields read and decoded"), "{s}");
    out.assert_one_line_error("meter em-4: 1 of 4 fields not read or not decoded (power_w)");
    assert_eq!(out.code, 1);
    assert!(bus.requests.load(std::sync::atomic::Ordering::Relaxed) >= 4);
}

#[tokio::test]
async fn probe_reads_a_cjt188_water_meter_behind_a_serial_device_server() {
    let dir = tempfile::tempdir().unwrap();
    let bus = Bus::new(vec![Sim {
        nameplate: "00000000112233".into(),
        kind: Kind::Cjt188 {
            meter_type: 0x10,
            flow: 12_345,
            unit: 0x2C,
            st1: 0x04,
            high_first: false,
        },
        fault: Fault::None,
        preamble: 0,
    }]);
    let (addr, _sim) = serve_tcp(bus).await;
    let cfg = write_config(
        dir.path(),
        &format!(
            r#"
[[sources.meters.buses]]
name = "dtu-1"
transport = "tcp"
address = "{addr}"
timeout = "400ms"
[[sources.meters.buses.meters]]
id = "wm-1"
address = "00000000112233"
profile = "cjt188-cold-water"
"#
        ),
    );
    let out = greengate_async(&["probe", "-c", cfg.to_str().unwrap(), "wm-1"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let s = &out.stdout;
    assert!(s.contains("on bus dtu-1 (tcp "), "{s}");
    // Identifier 901F low byte first, SER, the flow 123.45 in BCD, unit 2C.
    let r = line(&out, "read 901F");
    assert!(
        r.contains("data 1F 90 ") && r.contains(" 45 23 01 00 2C"),
        "{r}"
    );
    let t = line(&out, "total_m3");
    assert!(
        t.contains("decoded 123.45") && t.contains("= 123.45 m³"),
        "{t}"
    );
    assert!(line(&out, "valve_open").contains("= true"), "{s}");
    assert!(line(&out, "battery_low").contains("= true"), "{s}");
    assert!(s.contains("3 of 3 fields read and decoded"), "{s}");
}

#[tokio::test]
async fn probe_of_a_meter_bus_that_refuses_the_connection_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = write_config(
        dir.path(),
        &format!(
            r#"
[[sources.meters.buses]]
name = "dtu-gone"
transport = "tcp"
address = "127.0.0.1:{port}"
[[sources.meters.buses.meters]]
id = "wm-9"
address = "00000000112239"
profile = "cjt188-cold-water"
"#
        ),
    );
    let out = greengate_async(&["probe", "-c", cfg.to_str().unwrap(), "wm-9"]).await;
    out.assert_one_line_error("cannot open bus tcp 127.0.0.1:");
    out.assert_one_line_error("connection refused");
    assert_eq!(out.code, 69);
}

#[tokio::test]
async fn probe_of_an_unknown_meter_lists_the_configured_ones() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        r#"
[[sources.meters.buses]]
name = "dtu-1"
transport = "tcp"
address = "127.0.0.1:1"
[[sources.meters.buses.meters]]
id = "wm-1"
address = "00000000112233"
profile = "cjt188-cold-water"
"#,
    );
    let out = greengate_async(&["probe", "-c", cfg.to_str().unwrap(), "wm-7"]).await;
    out.assert_one_line_error(
        "no device \"wm-7\" in [sources.modbus] or [sources.meters] (configured: wm-1)",
    );
    assert_eq!(out.code, 64);
}

#[tokio::test]
async fn probe_names_a_bad_checksum_and_a_silent_meter_s_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let good = single_phase(100, 2300, 250, 575);
    let bus = Bus::new(vec![
        dlt(
            "000000000003",
            good.clone(),
            Fault::BadChecksum(0x0201_0100),
        ),
        dlt("000000000002", good, Fault::Silent),
    ]);
    let (addr, _sim) = serve_tcp(bus).await;
    let cfg = write_config(
        dir.path(),
        &format!(
            r#"
[[sources.meters.buses]]
name = "dtu-2"
transport = "tcp"
address = "{addr}"
timeout = "300ms"
[[sources.meters.buses.meters]]
id = "em-3"
address = "000000000003"
profile = "dlt645-single-phase"
[[sources.meters.buses.meters]]
id = "em-2"
address = "000000000002"
profile = "dlt645-single-phase"
"#
        ),
    );
    let cfg = cfg.to_str().unwrap();
    let out = greengate_async(&["probe", "-c", cfg, "em-3"]).await;
    let v = line(&out, "read 02010100");
    assert!(v.contains("bad_checksum: damaged frame"), "{v}");
    assert!(
        line(&out, "voltage_v").contains("not read: bad_checksum"),
        "{out:?}"
    );
    assert!(line(&out, "energy_kwh").contains("= 1 kWh"), "{out:?}");
    out.assert_one_line_error("meter em-3: 1 of 4 fields not read or not decoded (voltage_v)");
    assert_eq!(out.code, 1);

    let out = greengate_async(&["probe", "-c", cfg, "em-2", "--timeout", "100ms"]).await;
    assert!(
        line(&out, "read 00010000").contains("timeout: no answer within 100ms"),
        "{out:?}"
    );
    assert!(
        out.stdout.contains("0 of 4 fields read and decoded"),
        "{out:?}"
    );
    out.assert_one_line_error("meter em-2: 4 of 4 fields not read or not decoded");
    assert_eq!(out.code, 1);
}
