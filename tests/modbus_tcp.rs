//! The Modbus source against real tokio-modbus TCP servers on loopback,
//! including devices that never answer, answer late, close the connection,
//! answer exceptions or are busy.

mod modbus_support;

use std::time::Duration;

use greengate::model::FieldValue;
use modbus_support::*;
use tokio::time::Instant;
use tokio_modbus::ExceptionCode;

const NOISE_LIKE: &str = r#"
[[fields]]
name = "laeq"
table = "holding"
address = 0
scale = 0.1
unit = "dB(A)"
"#;

fn endpoint(
    name: &str,
    addr: std::net::SocketAddr,
    extra: &str,
    devices: &[(&str, u8, &str, &str)],
) -> String {
    let mut s = format!("[[endpoints]]\nname = \"{name}\"\naddress = \"{addr}\"\n{extra}\n");
    for (id, unit, profile, poll) in devices {
        s += &format!(
            "[[endpoints.devices]]\nid = \"{id}\"\nunit = {unit}\nprofile = \"{profile}\"\npoll_interval = \"{poll}\"\n"
        );
    }
    s
}

#[tokio::test]
async fn shipped_profiles_decode_from_a_gateway_with_several_units() {
    let bank = Bank::default();
    bank.holding(1, 0, &[655]);
    // 123456 litres, low word first (CDAB); flow 1.250 m3/h; leak bit set; 3600 mV.
    bank.holding(
        2,
        0,
        &[
            (123456u32 & 0xffff) as u16,
            (123456u32 >> 16) as u16,
            1250,
            0,
            1,
            3600,
        ],
    );
    bank.coil(3, 0, true);
    bank.holding(3, 0, &[2]);
    for (addr, v) in [(0, 229.5f32), (6, 0.75), (12, 172.1), (342, 1234.5)] {
        bank.input_f32(3, addr, v);
    }
    let dev = TcpDevice::start(bank.clone()).await;
    let cfg = modbus_config(&endpoint(
        "gw-shipped",
        dev.addr,
        "",
        &[
            ("tcp-noise-1", 1, "modbus-noise-rs485", "100ms"),
            ("tcp-water-1", 2, "modbus-water-meter", "100ms"),
            ("tcp-light-1", 3, "modbus-lighting-cabinet", "100ms"),
        ],
    ));
    let profiles = profile_set(vec![
        shipped_profile("modbus-noise-rs485"),
        shipped_profile("modbus-water-meter"),
        shipped_profile("modbus-lighting-cabinet"),
    ]);
    let run = start(cfg, profiles);
    run.out
        .until("a reading of each device", |c| {
            !c.of("noise", "tcp-noise-1").is_empty()
                && !c.of("water_meter", "tcp-water-1").is_empty()
                && !c.of("lighting", "tcp-light-1").is_empty()
        })
        .await;
    let out = run.stop().await;
    let noise = &out.of("noise", "tcp-noise-1")[0];
    assert_approx(float(noise, "laeq"), 65.5);
    let water = &out.of("water_meter", "tcp-water-1")[0];
    assert_approx(float(water, "total_m3"), 123.456);
    assert_approx(float(water, "flow_m3h"), 1.25);
    assert_eq!(water.field("leak"), Some(&FieldValue::Bool(true)));
    assert_approx(float(water, "battery_v"), 3.6);
    let light = &out.of("lighting", "tcp-light-1")[0];
    assert_eq!(light.field("on"), Some(&FieldValue::Bool(true)));
    assert_eq!(light.field("status_code"), Some(&FieldValue::Int(2)));
    assert_approx(float(light, "voltage_v"), 229.5);
    assert_approx(float(light, "current_a"), 0.75);
    assert_approx(float(light, "power_w"), 172.1f32 as f64);
    assert_approx(float(light, "energy_kwh"), 1234.5);
    let status = out.of("device_status", "tcp-light-1");
    assert_eq!(status[0].field("online"), Some(&FieldValue::Bool(true)));
    assert_eq!(status[0].tag("source"), Some("modbus"));
    assert!(out.dead().is_empty(), "{:?}", out.dead());
    // The meter's 4 holding fields are one read, not four.
    assert!(
        counter(
            "modbus_requests_total",
            &[("endpoint", "gw-shipped"), ("device", "tcp-water-1")]
        ) >= 1
    );
}

#[tokio::test]
async fn dead_device_does_not_delay_other_endpoints() {
    let good = Bank::default();
    good.holding(1, 0, &[500]);
    let dead = Bank::default();
    dead.holding(1, 0, &[500]);
    dead.mode(1, Mode::Silent);
    let (g, d) = (
        TcpDevice::start(good.clone()).await,
        TcpDevice::start(dead.clone()).await,
    );
    let cfg = modbus_config(&format!(
        "{}{}",
        endpoint("ep-good", g.addr, "", &[("iso-good", 1, "n", "100ms")]),
        endpoint(
            "ep-dead",
            d.addr,
            "timeout = \"1s\"",
            &[("iso-dead", 1, "n", "100ms")]
        ),
    ));
    let t0 = Instant::now();
    let run = start(cfg, profile_set(vec![profile("n", "noise", NOISE_LIKE)]));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let out = run.stop().await;
    let elapsed = t0.elapsed().as_millis() as u64;
    let polls = good.requests(1);
    // At 100 ms the good device gets ~elapsed/100 polls; the dead one's 1 s
    // timeouts on its own line must not take a share of that.
    assert!(
        polls >= elapsed / 100 / 2,
        "only {polls} polls of the good device in {elapsed} ms"
    );
    assert!(
        dead.requests(1) <= elapsed / 1000 + 1,
        "dead device got {} requests",
        dead.requests(1)
    );
    assert!(out.of("noise", "iso-dead").is_empty());
    assert!(out.of("noise", "iso-good").len() as u64 >= elapsed / 100 / 2);
}

#[tokio::test]
async fn dead_device_costs_its_bus_at_most_one_timeout_per_backoff_period() {
    let bank = Bank::default();
    bank.holding(1, 0, &[500]);
    bank.holding(2, 0, &[500]);
    bank.mode(2, Mode::Silent);
    let dev = TcpDevice::start(bank.clone()).await;
    let extra = "timeout = \"200ms\"\ndegraded_after = 2\nreconnect_min = \"500ms\"\nreconnect_max = \"1s\"";
    let cfg = modbus_config(&endpoint(
        "bus-shared",
        dev.addr,
        extra,
        &[("bus-good", 1, "n", "100ms"), ("bus-dead", 2, "n", "100ms")],
    ));
    let t0 = Instant::now();
    let run = start(cfg, profile_set(vec![profile("n", "noise", NOISE_LIKE)]));
    tokio::time::sleep(Duration::from_secs(4)).await;
    let out = run.stop().await;
    let elapsed = t0.elapsed().as_millis() as u64;
    let dead = bank.requests(2);
    // Two failures make it degraded; after that one attempt per back-off
    // period, which is at least reconnect_min minus its 50 % jitter.
    let bound = 2 + elapsed / 250 + 1;
    assert!(
        dead <= bound,
        "dead device got {dead} requests in {elapsed} ms (bound {bound})"
    );
    assert!(dead >= 3, "the dead device is still retried: {dead}");
    // The good device on the same bus loses at most one timeout per dead attempt.
    let spare = elapsed.saturating_sub(dead * 200);
    let good = bank.requests(1);
    assert!(
        good >= spare / 100 / 2,
        "good device polled {good} times in {elapsed} ms"
    );
    let status = out.of("device_status", "bus-dead");
    assert_eq!(
        status.last().unwrap().field("online"),
        Some(&FieldValue::Bool(false))
    );
    let online = greengate::metrics::registry()
        .gauge(
            "modbus_device_online",
            "",
            &[("endpoint", "bus-shared"), ("device", "bus-dead")],
        )
        .get();
    assert_eq!(online, 0);
    assert!(
        counter(
            "modbus_request_errors_total",
            &[
                ("endpoint", "bus-shared"),
                ("device", "bus-dead"),
                ("kind", "timeout")
            ]
        ) >= 3
    );
}

#[tokio::test]
async fn device_that_restarts_is_polled_again() {
    let bank = Bank::default();
    bank.holding(1, 0, &[600]);
    let dev = TcpDevice::start(bank.clone()).await;
    let extra = "timeout = \"300ms\"\ndegraded_after = 1\nreconnect_min = \"100ms\"\nreconnect_max = \"400ms\"";
    let cfg = modbus_config(&endpoint(
        "ep-restart",
        dev.addr,
        extra,
        &[("restart-1", 1, "n", "100ms")],
    ));
    let run = start(cfg, profile_set(vec![profile("n", "noise", NOISE_LIKE)]));
    let online = |c: &Collected, v: bool| {
        c.of("device_status", "restart-1")
            .iter()
            .any(|r| r.field("online") == Some(&FieldValue::Bool(v)))
    };
    run.out
        .until("first reading", |c| !c.of("noise", "restart-1").is_empty())
        .await;
    let (addr, bank) = dev.stop().await;
    run.out
        .until("device reported offline", |c| online(c, false))
        .await;
    bank.holding(1, 0, &[700]);
    let _dev = TcpDevice::start_at(addr, bank).await;
    run.out
        .until("readings after the restart", |c| {
            c.of("noise", "restart-1")
                .iter()
                .any(|r| float(r, "laeq").is_some_and(|v| (v - 70.0).abs() < 1e-9))
        })
        .await;
    let out = run.stop().await;
    let status: Vec<_> = out
        .of("device_status", "restart-1")
        .iter()
        .map(|r| r.field("online").cloned())
        .collect();
    assert_eq!(
        status.last().unwrap(),
        &Some(FieldValue::Bool(true)),
        "{status:?}"
    );
}

#[tokio::test]
async fn device_that_closes_connections_recovers_when_it_stops() {
    let bank = Bank::default();
    bank.holding(1, 0, &[610]);
    let dev = TcpDevice::start(bank.clone()).await;
    dev.refuse.store(true, std::sync::atomic::Ordering::SeqCst);
    let extra = "timeout = \"300ms\"\nreconnect_min = \"50ms\"\nreconnect_max = \"200ms\"";
    let cfg = modbus_config(&endpoint(
        "ep-closes",
        dev.addr,
        extra,
        &[("closes-1", 1, "n", "100ms")],
    ));
    let run = start(cfg, profile_set(vec![profile("n", "noise", NOISE_LIKE)]));
    run.out
        .until("a few closed connections", |_| {
            bank.connections.load(std::sync::atomic::Ordering::SeqCst) >= 3
        })
        .await;
    assert!(run.out.of("noise", "closes-1").is_empty());
    dev.refuse.store(false, std::sync::atomic::Ordering::SeqCst);
    run.out
        .until("readings once it accepts", |c| {
            !c.of("noise", "closes-1").is_empty()
        })
        .await;
    let out = run.stop().await;
    assert_approx(float(&out.of("noise", "closes-1")[0], "laeq"), 61.0);
}

#[tokio::test]
async fn late_answers_drop_the_connection_and_never_become_the_next_answer() {
    let bank = Bank::default();
    bank.holding(1, 0, &[111]);
    bank.mode(1, Mode::Late(Duration::from_millis(400)));
    let dev = TcpDevice::start(bank.clone()).await;
    let extra = "timeout = \"150ms\"\nreconnect_min = \"50ms\"\nreconnect_max = \"100ms\"\ndegraded_after = 10";
    let cfg = modbus_config(&endpoint(
        "ep-late",
        dev.addr,
        extra,
        &[("late-1", 1, "n", "100ms")],
    ));
    let run = start(cfg, profile_set(vec![profile("n", "noise", NOISE_LIKE)]));
    run.out
        .until("a few timeouts", |_| bank.requests(1) >= 3)
        .await;
    bank.with(1, |u| {
        u.mode = Mode::Normal;
        u.holding.insert(0, 222);
    });
    run.out
        .until("a timely reading", |c| !c.of("noise", "late-1").is_empty())
        .await;
    let out = run.stop().await;
    // Every reading carries the value served on time, never a stale late one.
    for r in out.of("noise", "late-1") {
        assert_approx(float(&r, "laeq"), 22.2);
    }
    assert!(
        bank.connections.load(std::sync::atomic::Ordering::SeqCst) >= 3,
        "reconnected after each timeout"
    );
}

#[tokio::test]
async fn exceptions_keep_the_connection_and_split_reads_over_holes() {
    let bank = Bank::default();
    // Registers 0 and 5 exist, 1..=4 do not: a coalesced read 0..6 is refused.
    bank.holding(1, 0, &[100]);
    bank.holding(1, 5, &[200]);
    bank.holding(2, 0, &[1]);
    bank.mode(2, Mode::Exception(ExceptionCode::IllegalFunction));
    let dev = TcpDevice::start(bank.clone()).await;
    let two = "[[fields]]\nname = \"a\"\ntable = \"holding\"\naddress = 0\n[[fields]]\nname = \"b\"\ntable = \"holding\"\naddress = 5";
    let cfg = modbus_config(&endpoint(
        "ep-exc",
        dev.addr,
        "",
        &[
            ("exc-holes", 1, "two", "100ms"),
            ("exc-refuses", 2, "n", "100ms"),
        ],
    ));
    let run = start(
        cfg,
        profile_set(vec![
            profile("two", "noise", two),
            profile("n", "noise", NOISE_LIKE),
        ]),
    );
    run.out
        .until("both fields of the holed device", |c| {
            c.of("noise", "exc-holes")
                .iter()
                .any(|r| r.field("a").is_some() && r.field("b").is_some())
        })
        .await;
    run.out
        .until("status of the refusing device", |c| {
            !c.of("device_status", "exc-refuses").is_empty()
        })
        .await;
    let out = run.stop().await;
    let r = out
        .of("noise", "exc-holes")
        .into_iter()
        .find(|r| r.field("a").is_some())
        .unwrap();
    assert_eq!(
        (r.field("a"), r.field("b")),
        (Some(&FieldValue::Int(100)), Some(&FieldValue::Int(200)))
    );
    // Exceptions are answers: one connection throughout, device online.
    assert_eq!(
        bank.connections.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    let st = out.of("device_status", "exc-refuses");
    assert_eq!(st[0].field("online"), Some(&FieldValue::Bool(true)));
    assert!(
        counter(
            "modbus_request_errors_total",
            &[
                ("endpoint", "ep-exc"),
                ("device", "exc-refuses"),
                ("kind", "exception")
            ]
        ) >= 1
    );
}

#[tokio::test]
async fn busy_device_is_retried_shortly_on_the_same_connection() {
    let bank = Bank::default();
    bank.holding(1, 0, &[420]);
    bank.mode(1, Mode::Busy(2));
    let dev = TcpDevice::start(bank.clone()).await;
    let extra = "busy_retry = \"20ms\"\nbusy_retries = 2";
    let cfg = modbus_config(&endpoint(
        "ep-busy",
        dev.addr,
        extra,
        &[("busy-1", 1, "n", "10s")],
    ));
    let run = start(cfg, profile_set(vec![profile("n", "noise", NOISE_LIKE)]));
    run.out
        .until("the reading", |c| !c.of("noise", "busy-1").is_empty())
        .await;
    let out = run.stop().await;
    // One poll (10 s interval): two busy answers, then the data.
    assert_eq!(bank.requests(1), 3);
    assert_approx(float(&out.of("noise", "busy-1")[0], "laeq"), 42.0);
    assert_eq!(
        bank.connections.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

#[tokio::test]
async fn report_by_exception_sends_changes_and_heartbeats_only() {
    let bank = Bank::default();
    bank.holding(1, 0, &[500, 7]);
    let dev = TcpDevice::start(bank.clone()).await;
    let rbe = r#"
[[fields]]
name = "laeq"
table = "holding"
address = 0
scale = 0.1
deadband = 1.0
heartbeat = "1s"
[[fields]]
name = "count"
table = "holding"
address = 1
"#;
    let cfg = modbus_config(&endpoint(
        "ep-rbe",
        dev.addr,
        "",
        &[("rbe-1", 1, "r", "50ms")],
    ));
    let t0 = Instant::now();
    let run = start(cfg, profile_set(vec![profile("r", "noise", rbe)]));
    run.out
        .until("20 polls", |c| c.of("noise", "rbe-1").len() >= 20)
        .await;
    let steady = t0.elapsed().as_millis() as u64;
    let with_laeq = run
        .out
        .of("noise", "rbe-1")
        .iter()
        .filter(|r| r.field("laeq").is_some())
        .count() as u64;
    // The first value, then one heartbeat per second; the counter field
    // (no deadband) is in every reading.
    assert!(
        with_laeq <= 1 + steady / 1000 + 1,
        "{with_laeq} laeq values in {steady} ms"
    );
    bank.holding(1, 0, &[505]); // +0.5 dB: inside the deadband
    bank.holding(1, 0, &[520]); // +2.0 dB: outside
    run.out
        .until("the change", |c| {
            c.of("noise", "rbe-1")
                .iter()
                .any(|r| float(r, "laeq").is_some_and(|v| (v - 52.0).abs() < 1e-9))
        })
        .await;
    let out = run.stop().await;
    assert!(out
        .of("noise", "rbe-1")
        .iter()
        .all(|r| r.field("count") == Some(&FieldValue::Int(7))));
}
