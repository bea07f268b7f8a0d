//! Meter readings through the whole daemon: a CJ/T 188 water meter and a
//! DL/T 645 meter (as `lighting`) behind a simulated serial device server,
//! `greengate run`, and the points in a real VictoriaMetrics.

use std::time::Duration;

use crate::common;
use crate::meters_support::*;

use common::daemon::Daemon;
use common::{free_port, http, repo, Victoria};

#[test]
fn meter_readings_reach_victoria_metrics_through_the_daemon() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bus = Bus::new(vec![
        Sim {
            nameplate: "00000000112233".into(),
            kind: Kind::Cjt188 {
                meter_type: 0x10,
                flow: 12_345,
                unit: 0x2C,
                st1: 0,
                high_first: false,
            },
            fault: Fault::None,
            preamble: 2,
        },
        dlt(
            "000000000011",
            single_phase(98_765, 2300, 250, 575),
            Fault::None,
        ),
        dlt("000000000012", single_phase(1, 1, 1, 1), Fault::Silent),
    ]);
    let (addr, _sim) = rt.block_on(serve_tcp(bus));
    let dir = tempfile::tempdir().unwrap();
    let vm = Victoria::start();
    let http_port = free_port();
    let text = format!(
        r#"
[site]
community_id = "cn-meters"

[http]
listen = "127.0.0.1:{http_port}"

[outbox]
dir = "{dir}/outbox"

[dead_letter]
path = "{dir}/dead-letter.jsonl"

[profiles]
dirs = ["{repo}/config/devices"]

[[sources.meters.buses]]
name = "dtu-e2e"
transport = "tcp"
address = "{addr}"
timeout = "300ms"
degraded_after = 1

[[sources.meters.buses.meters]]
id = "wm-e2e"
address = "00000000112233"
profile = "cjt188-cold-water"
poll_interval = "500ms"

[[sources.meters.buses.meters]]
id = "em-e2e"
address = "000000000011"
profile = "dlt645-single-phase"
class = "lighting"
poll_interval = "500ms"
group_intervals = {{ energy = "500ms" }}

[[sources.meters.buses.meters]]
id = "em-silent"
address = "000000000012"
profile = "dlt645-single-phase"
poll_interval = "500ms"

[sinks.influxdb]
linger = "50ms"
url = "{vm}"
api = "v2"
org = "greengate"
bucket = "community"
token = "t"
"#,
        dir = dir.path().display(),
        repo = repo().display(),
        vm = vm.url(),
    );
    let cfg = dir.path().join("greengate.toml");
    std::fs::write(&cfg, text).unwrap();
    let mut d = Daemon::spawn(&cfg, http_port, dir.path(), 0, &[], None);
    let wait = Duration::from_secs(30);
    let w = vm.wait_for_samples(r#"water_meter_total_m3{device="wm-e2e"}"#, 1, wait);
    assert_eq!(w[0]["values"][0], 123.45, "{w:?}");
    assert_eq!(w[0]["metric"]["community"], "cn-meters");
    let e = vm.wait_for_samples(r#"lighting_energy_kwh{device="em-e2e"}"#, 1, wait);
    assert_eq!(e[0]["values"][0], 987.65, "{e:?}");
    let p = vm.wait_for_samples(r#"lighting_power_w{device="em-e2e"}"#, 1, wait);
    assert_eq!(p[0]["values"][0], 57.5, "{p:?}");
    vm.wait_for_samples(r#"device_status_online{device="em-silent"}"#, 1, wait);
    let (status, metrics) = http("GET", http_port, "/metrics", b"").unwrap();
    assert_eq!(status, 200);
    assert!(metrics.contains("meter_request_errors_total"), "{metrics}");
    d.assert_running();
    assert_eq!(d.stop(), 0, "{}", d.log());
}
