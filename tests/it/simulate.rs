//! `greengate simulate` against a real Mosquitto: devices of all five
//! classes publish (seen by the real `mosquitto_sub` client), and the
//! Modbus TCP device servers answer a real Modbus client.

#![cfg(feature = "demo")]

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{require_tool, Mosquitto};
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
    // Port 0: every Modbus server on a port the system picks, read back
    // from the status lines. (Consecutive ports above a probed free one
    // may be held by the broker or another test's service.)
    let mut sim = Command::new(env!("CARGO_BIN_EXE_greengate"))
        .arg("simulate")
        .args(["--broker", &format!("127.0.0.1:{}", broker.port())])
        .args(["--modbus-bind", "127.0.0.1:0"])
        .arg("--devices-dir")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/config/devices"))
        .args(["--scale", "2", "--rate", "10", "--accel", "60"])
        .args(["--duration", "30s", "--community", "cn-sim-test"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("greengate simulate");
    let stderr = sim.stderr.take().expect("simulate stderr");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let modbus = loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                if let Some(port) = noise_port(&line) {
                    break port;
                }
                seen.push(line);
            }
            Err(e) => panic!(
                "no Modbus noise server announced ({e}); simulate printed:\n{}",
                seen.join("\n")
            ),
        }
    };

    // The noise server holds LAeq in 0.1 dB(A) at holding 0.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let laeq = rt.block_on(async {
        let addr = format!("127.0.0.1:{modbus}").parse().expect("addr");
        let mut ctx = tokio_modbus::client::tcp::connect_slave(addr, 1.into())
            .await
            .expect("connect to the noise server");
        // The image is written once a second; until then it reads 0.
        for _ in 0..60 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            match ctx.read_holding_registers(0, 1).await {
                Ok(Ok(w)) if w[0] != 0 => return w[0],
                Ok(Ok(_)) => {}
                other => panic!("reading holding 0: {other:?}"),
            }
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

/// The port of the noise profile's server from a status line such as
/// "simulate: Modbus noise-modbus (noise, noise.toml) on port 40123, ...".
fn noise_port(line: &str) -> Option<u16> {
    let rest = line.strip_prefix("simulate: Modbus ")?;
    let (_, rest) = rest.split_once(" (noise, ")?;
    let (_, rest) = rest.split_once(" on port ")?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
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
