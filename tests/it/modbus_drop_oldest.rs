//! The full-outbox policy for Modbus, end to end: a real tokio-modbus TCP
//! device polled by the whole daemon (in process), the store down (its URL
//! a closed loopback port) and a tiny raw-Modbus outbox. Polling goes on,
//! the oldest raw readings are dropped and counted, nothing reaches the main
//! outbox, and once a real VictoriaMetrics comes up on that port every
//! surviving reading arrives: appended = stored + dropped. And with
//! `modbus_max_bytes = 0` the Modbus outbox left by an earlier run is still
//! delivered while new readings share the main outbox.
//!
//! The tests share the process-wide metrics, so they run one at a time and
//! compare counters before and after.

use crate::common;
use crate::modbus_support;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{free_port, Victoria};
use greengate::app::{self, modbus_raw, Config};
use modbus_support::{counter, Bank, TcpDevice};
use tokio_util::sync::CancellationToken;

const DEVICE: &str = "mb-drop-1";
const LONG: Duration = Duration::from_secs(120);

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn config(
    dir: &std::path::Path,
    device: std::net::SocketAddr,
    store_port: u16,
    modbus_max_bytes: u64,
) -> Config {
    let devices = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/devices");
    let text = format!(
        r#"
[site]
community_id = "c-drop"
[http]
enabled = false
[outbox]
dir = "outbox"
fsync = "never"
modbus_max_bytes = {modbus_max_bytes}
[dead_letter]
path = "dead.jsonl"
[profiles]
dirs = ["{devices}"]
[indicators]
enabled = false
[[sources.modbus.endpoints]]
name = "ep-drop"
address = "{device}"
timeout = "1s"
status_interval = "100ms"
[[sources.modbus.endpoints.devices]]
id = "{DEVICE}"
unit = 1
profile = "modbus-noise-rs485"
poll_interval = "10ms"
[sinks]
shutdown_grace = "120s"
[sinks.influxdb]
url = "http://127.0.0.1:{store_port}"
org = "o"
bucket = "b"
token = "t"
linger = "50ms"
timeout = "5s"
retry_min = "50ms"
retry_max = "200ms"
"#,
        devices = devices.display()
    );
    let file = dir.join("greengate.toml");
    std::fs::write(&file, text).unwrap();
    Config::load(&file).unwrap_or_else(|p| panic!("{p}"))
}

fn outbox_counter(name: &'static str, outbox: &str) -> u64 {
    counter(name, &[("name", outbox)])
}

/// The outbox counters of this test run: (appended, acked, dropped) of the
/// raw-Modbus outbox and appended of the main one, as deltas from `base`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Counts {
    appended: u64,
    acked: u64,
    dropped: u64,
    main_appended: u64,
}

impl Counts {
    fn now() -> Counts {
        let raw = modbus_raw::NAME;
        Counts {
            appended: outbox_counter("outbox_records_appended_total", raw),
            acked: outbox_counter("outbox_records_acked_total", raw),
            dropped: outbox_counter("outbox_records_dropped_total", raw),
            main_appended: outbox_counter("outbox_records_appended_total", "influxdb"),
        }
    }

    fn since(base: Counts) -> Counts {
        let n = Counts::now();
        Counts {
            appended: n.appended - base.appended,
            acked: n.acked - base.acked,
            dropped: n.dropped - base.dropped,
            main_appended: n.main_appended - base.main_appended,
        }
    }
}

fn polls() -> u64 {
    counter(
        "modbus_polls_total",
        &[("endpoint", "ep-drop"), ("device", DEVICE)],
    )
}

async fn wait_until(what: &str, f: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !f() {
        assert!(start.elapsed() < LONG, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Distinct (series, timestamp) points of the device in the store.
fn stored_points(vm: &Victoria) -> usize {
    let mut points = BTreeSet::new();
    for sel in ["noise_laeq", "device_status_online"] {
        for s in vm.export(&format!(r#"{sel}{{device="{DEVICE}"}}"#)) {
            for t in s["timestamps"].as_array().into_iter().flatten() {
                points.insert((sel, t.as_i64().unwrap_or(-1)));
            }
        }
    }
    points.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_raw_modbus_outbox_drops_the_oldest_keeps_polling_and_delivers_the_rest() {
    let _serial = SERIAL.lock().await;
    let base = Counts::now();
    let bank = Bank::default();
    bank.holding(1, 0, &[655]);
    let dev = TcpDevice::start(bank.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens here until the store "comes back".
    let store_port = free_port();
    let cfg = config(dir.path(), dev.addr, store_port, 16384);
    let shutdown = CancellationToken::new();
    let running = app::start(cfg, shutdown.clone()).await.unwrap();

    wait_until("raw Modbus records to be dropped", || {
        Counts::since(base).dropped > 0
    })
    .await;
    // The pollers are not held back by the full outbox.
    let at_first_drop = polls();
    wait_until("polling to go on after the drops", || {
        polls() >= at_first_drop + 20
    })
    .await;
    assert_eq!(
        Counts::since(base).main_appended,
        0,
        "raw Modbus readings never go to the main outbox"
    );

    let vm = tokio::task::spawn_blocking(move || Victoria::start_on(store_port))
        .await
        .unwrap();
    wait_until("the store to receive readings", || {
        Counts::since(base).acked > 0
    })
    .await;
    // Stop the sources; the sinks drain the outboxes before the daemon ends.
    shutdown.cancel();
    running.wait().await.unwrap();

    let Counts {
        appended,
        acked,
        dropped,
        ..
    } = Counts::since(base);
    eprintln!("raw Modbus outbox: appended {appended}, stored {acked}, dropped {dropped}");
    assert!(dropped > 0 && acked > 0, "dropped {dropped}, acked {acked}");
    assert_eq!(
        acked + dropped,
        appended,
        "every raw reading is stored or counted as dropped"
    );
    let vm = tokio::task::spawn_blocking(move || {
        let start = std::time::Instant::now();
        while stored_points(&vm) < acked as usize && start.elapsed() < LONG {
            std::thread::sleep(Duration::from_millis(250));
        }
        vm
    })
    .await
    .unwrap();
    assert_eq!(stored_points(&vm), acked as usize);
    assert!(
        std::fs::read_to_string(dir.path().join("dead.jsonl"))
            .unwrap_or_default()
            .is_empty(),
        "nothing dead-lettered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_modbus_max_bytes_0_leftovers_are_delivered_and_new_readings_use_the_main_outbox() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    // Records an earlier run left in the Modbus outbox.
    let leftover_dir = dir.path().join("outbox").join(modbus_raw::NAME);
    {
        let ob = greengate::outbox::OutboxConfig::default();
        let (mut w, _r) = greengate::outbox::open(&leftover_dir, &ob).unwrap();
        for i in 0..3 {
            let line = format!("leftover,device={DEVICE} v={i}i 170000000000000000{i}");
            w.append(line.as_bytes()).unwrap();
        }
        w.commit().unwrap();
    }
    let base = Counts::now();
    let bank = Bank::default();
    bank.holding(1, 0, &[655]);
    let dev = TcpDevice::start(bank.clone()).await;
    let vm = tokio::task::spawn_blocking(Victoria::start).await.unwrap();
    let cfg = config(dir.path(), dev.addr, vm.port(), 0);
    let shutdown = CancellationToken::new();
    let running = app::start(cfg, shutdown.clone()).await.unwrap();
    wait_until("Modbus readings through the main outbox", || {
        Counts::since(base).main_appended > 0
    })
    .await;
    wait_until("the leftovers to be sent", || {
        Counts::since(base).acked >= 3
    })
    .await;
    shutdown.cancel();
    running.wait().await.unwrap();
    let c = Counts::since(base);
    assert_eq!((c.appended, c.acked, c.dropped), (0, 3, 0), "{c:?}");
    let vm = tokio::task::spawn_blocking(move || {
        let e = vm.wait_for_samples(&format!(r#"leftover_v{{device="{DEVICE}"}}"#), 3, LONG);
        let n: usize = e
            .iter()
            .map(|s| s["values"].as_array().map_or(0, |a| a.len()))
            .sum();
        assert_eq!(n, 3, "{e:?}");
        vm
    })
    .await
    .unwrap();
    drop(vm);
}
