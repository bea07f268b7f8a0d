//! Bad input to the commissioning tools: one clear line on stderr and a
//! non-zero exit (64 for a name that is not configured, 69 for something
//! that cannot be reached), never a panic or a hang.

use crate::common::free_port;
use crate::tools_support::{greengate, write_config, Out};

fn run(args: &[&str]) -> Out {
    greengate(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
}

fn config(dir: &std::path::Path, modbus_port: u16, mqtt_port: u16) -> String {
    write_config(
        dir,
        &format!(
            r#"
[[sources.modbus.endpoints]]
name = "gw-off"
address = "127.0.0.1:{modbus_port}"
timeout = "300ms"
[[sources.modbus.endpoints.devices]]
id = "noise-1"
unit = 1
profile = "modbus-noise-rs485"

[sources.mqtt]
host = "127.0.0.1"
port = {mqtt_port}
client_id = "greengate-errors"
[[sources.mqtt.subscriptions]]
filter = "community/+site/water/+/up"
profile = "smart-water-meter"
"#
        ),
    )
    .to_string_lossy()
    .into_owned()
}

#[test]
fn probe_of_an_unknown_device_names_the_configured_ones_and_exits_64() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), free_port(), free_port());
    let out = run(&["probe", "-c", &cfg, "noise-99"]);
    out.assert_one_line_error(
        "no device \"noise-99\" in [sources.modbus] or [sources.meters] (configured: noise-1)",
    );
    assert_eq!(out.code, 64);
}

#[test]
fn probe_of_a_device_nothing_listens_for_says_connection_refused_and_exits_69() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = config(dir.path(), port, free_port());
    let out = run(&["probe", "-c", &cfg, "noise-1"]);
    out.assert_one_line_error(&format!(
        "tcp 127.0.0.1:{port}: connection refused (nothing listens on that port)"
    ));
    assert_eq!(out.code, 69);
}

#[test]
fn sniff_with_a_filter_that_matches_no_subscription_exits_64_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), free_port(), free_port());
    let out = run(&["sniff", "-c", &cfg, "community/+/noise/#"]);
    out.assert_one_line_error(
        "filter \"community/+/noise/#\" matches no subscription of [sources.mqtt] (subscriptions: community/+/water/+/up)",
    );
    assert_eq!(out.code, 64);
}

#[test]
fn sniff_without_a_broker_says_so_and_exits_69() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = config(dir.path(), free_port(), port);
    let out = run(&["sniff", "-c", &cfg, "--timeout", "5s"]);
    out.assert_one_line_error(&format!("MQTT broker 127.0.0.1:{port}: "));
    assert_eq!(out.code, 69);
}

#[test]
fn scans_of_a_port_that_is_not_there_exit_69() {
    let port = free_port().to_string();
    let addr = format!("127.0.0.1:{port}");
    let out = run(&["scan", "--tcp", &addr]);
    out.assert_one_line_error(&format!("tcp {addr}: connection refused"));
    assert_eq!(out.code, 69);
    let out = run(&["scan", "--serial", "/dev/ttyGG-not-there"]);
    out.assert_one_line_error("serial /dev/ttyGG-not-there 9600 8N1: no such serial port");
    assert_eq!(out.code, 69);
    let out = run(&[
        "scan",
        "--protocol",
        "cjt188",
        "--serial",
        "/dev/ttyGG-not-there",
    ]);
    out.assert_one_line_error("serial /dev/ttyGG-not-there 2400 8E1: no such serial port");
    assert_eq!(out.code, 69);
    let out = run(&["scan", "--protocol", "dlt645", "--tcp", &addr]);
    out.assert_one_line_error("connection refused");
}

#[test]
fn scan_arguments_that_make_no_sense_exit_64() {
    let out = run(&["scan"]);
    out.assert_one_line_error("give exactly one of --tcp HOST:PORT");
    assert_eq!(out.code, 64);
    let out = run(&["scan", "--tcp", "127.0.0.1:1", "--units", "0-300"]);
    out.assert_one_line_error("--units");
    assert_eq!(out.code, 64);
}
