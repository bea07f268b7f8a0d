//! `greengate simulate` against a real Mosquitto: devices of all five
//! classes publish (seen by the real `mosquitto_sub` client), and the
//! Modbus TCP device servers answer a real Modbus client.

#![cfg(feature = "demo")]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{free_port, require_tool, Mosquitto};
use tokio_modbus::client::Reader;

#[test]
fn simulated_devices_of_every_class_publish_and_serve_modbus() {
    let broker = Mosquitto::start();
    let sub = Command::new(require_tool("mosquitto_sub", "mosquitto-clients"))
        .args(["-h", "127.0.0.1", "-p", &broker.port().to_string()])
        .args(["-t", "community/#", "-t", "application/#", "-v"])
        .args(["-C", "200", "-W", "60"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("mosquitto_sub");
    // Let the subscription be in place before the devices start.
    std::thread::sleep(Duration::from_millis(500));
    let modbus = free_port();
    let mut sim = Command::new(env!("CARGO_BIN_EXE_greengate"))
        .arg("simulate")
        .args(["--broker", &format!("127.0.0.1:{}", broker.port())])
        .args(["--modbus-bind", &format!("127.0.0.1:{modbus}")])
        .arg("--devices-dir")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/config/devices"))
        .args(["--scale", "2", "--rate", "10", "--accel", "60"])
        .args(["--duration", "30s", "--community", "cn-sim-test"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("greengate simulate");

    // The noise server (first port) holds LAeq in 0.1 dB(A) at holding 0.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let laeq = rt.block_on(async {
        for _ in 0..100 {
            let addr = format!("127.0.0.1:{modbus}").parse().expect("addr");
            if let Ok(mut ctx) = tokio_modbus::client::tcp::connect_slave(addr, 1.into()).await {
                // The image is written once a second.
                tokio::time::sleep(Duration::from_millis(1500)).await;
                if let Ok(Ok(w)) = ctx.read_holding_registers(0, 1).await {
                    return w[0];
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        0
    });
    assert!((300..=800).contains(&laeq), "LAeq register {laeq}");

    let out = sub.wait_with_output().expect("mosquitto_sub output");
    let _ = Command::new("kill")
        .args(["-TERM", &sim.id().to_string()])
        .status();
    let status = sim.wait().expect("simulate exit");
    assert!(status.success(), "simulate exited {status}");
    let topics = String::from_utf8_lossy(&out.stdout);
    for (class, part) in [
        ("noise", "community/cn-sim-test/noise/noise-0"),
        ("water", "community/cn-sim-test/water/gw-01/up"),
        ("lighting", "community/cn-sim-test/lighting/light-0"),
        ("parking", "application/1/device/a8404100000000"),
        ("security", "community/cn-sim-test/security/sec-0"),
    ] {
        assert!(topics.contains(part), "no {class} message in:\n{topics}");
    }
}

#[test]
fn invalid_flags_exit_64_with_the_flag_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_greengate"))
        .args(["simulate", "--broker", "no-port", "--duration", "1s"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--broker"), "{err}");
}
