//! The Modbus source over RTU: a tokio-modbus RTU server on one end of a
//! socat pseudo-terminal pair, greengate on the other (and, for RTU over
//! TCP, socat bridging a loopback TCP port to the pty, as a serial device
//! server does). Fails, naming the package, when socat is not installed.

use crate::common;
use crate::modbus_support;

use common::socat::{pty_pair, socat};
use greengate::model::FieldValue;
use modbus_support::*;

fn bus_bank() -> Bank {
    let bank = Bank::default();
    bank.holding(1, 0, &[655]);
    bank.holding(2, 0, &[0x5678, 0x0001, 500, 0, 0, 3300]);
    bank
}

#[tokio::test]
async fn rtu_bus_polls_several_units_and_a_dead_one_does_not_stop_them() {
    let dir = tempfile::tempdir().unwrap();
    let (_socat, a, b) = pty_pair(dir.path());
    let bank = bus_bank();
    let _server = rtu_device(&a, bank.clone());
    let cfg = modbus_config(&format!(
        r#"
[[endpoints]]
name = "rs485-1"
transport = "rtu"
serial = {{ path = "{}", baud = 19200, parity = "none", data_bits = 8, stop_bits = 1 }}
timeout = "200ms"
inter_request_delay = "5ms"
degraded_after = 2
reconnect_min = "500ms"
reconnect_max = "1s"
[[endpoints.devices]]
id = "rtu-noise"
unit = 1
profile = "modbus-noise-rs485"
poll_interval = "100ms"
[[endpoints.devices]]
id = "rtu-water"
unit = 2
profile = "modbus-water-meter"
poll_interval = "100ms"
[[endpoints.devices]]
id = "rtu-missing"
unit = 9
profile = "modbus-noise-rs485"
poll_interval = "100ms"
"#,
        b.display()
    ));
    let profiles = profile_set(vec![
        shipped_profile("modbus-noise-rs485"),
        shipped_profile("modbus-water-meter"),
    ]);
    let run = start(cfg, profiles);
    run.out
        .until(
            "several readings of both live units and the dead one offline",
            |c| {
                c.of("noise", "rtu-noise").len() >= 5
                    && c.of("water_meter", "rtu-water").len() >= 5
                    && c.of("device_status", "rtu-missing")
                        .iter()
                        .any(|r| r.field("online") == Some(&FieldValue::Bool(false)))
            },
        )
        .await;
    let out = run.stop().await;
    assert_approx(float(&out.of("noise", "rtu-noise")[0], "laeq"), 65.5);
    let w = &out.of("water_meter", "rtu-water")[0];
    assert_approx(float(w, "total_m3"), 0x0001_5678 as f64 / 1000.0);
    assert_approx(float(w, "battery_v"), 3.3);
    assert!(out.dead().is_empty(), "{:?}", out.dead());
}

#[tokio::test]
async fn rtu_over_tcp_reaches_a_bus_behind_a_serial_device_server() {
    let dir = tempfile::tempdir().unwrap();
    let (_pair, a, b) = pty_pair(dir.path());
    let bank = bus_bank();
    let _server = rtu_device(&a, bank.clone());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The "serial device server": TCP on one side, the bus on the other.
    let _bridge = socat(
        &format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork"),
        &format!("OPEN:{},raw,echo=0", b.display()),
        &[],
    );
    let cfg = modbus_config(&format!(
        r#"
[[endpoints]]
name = "dtu-1"
transport = "rtu_over_tcp"
address = "127.0.0.1:{port}"
timeout = "500ms"
reconnect_min = "100ms"
reconnect_max = "500ms"
[[endpoints.devices]]
id = "dtu-noise"
unit = 1
profile = "modbus-noise-rs485"
poll_interval = "100ms"
[[endpoints.devices]]
id = "dtu-water"
unit = 2
profile = "modbus-water-meter"
poll_interval = "100ms"
"#
    ));
    let profiles = profile_set(vec![
        shipped_profile("modbus-noise-rs485"),
        shipped_profile("modbus-water-meter"),
    ]);
    let run = start(cfg, profiles);
    run.out
        .until("readings of both units through the bridge", |c| {
            !c.of("noise", "dtu-noise").is_empty() && !c.of("water_meter", "dtu-water").is_empty()
        })
        .await;
    let out = run.stop().await;
    assert_approx(float(&out.of("noise", "dtu-noise")[0], "laeq"), 65.5);
    assert_approx(
        float(&out.of("water_meter", "dtu-water")[0], "flow_m3h"),
        0.5,
    );
}
