//! Misbehaving Modbus TCP devices (real tokio-modbus servers on loopback):
//! one that never answers, one that answers late, one that closes every
//! connection, one that restarts. None of them may stall anything else.

use crate::modbus_support;

use std::time::Duration;

use greengate::model::FieldValue;
use modbus_support::*;
use tokio::time::Instant;

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
async fn gateway_reporting_a_silent_device_keeps_its_connection_but_degrades_the_device() {
    let bank = Bank::default();
    bank.holding(1, 0, &[500]);
    bank.holding(2, 0, &[500]);
    bank.mode(
        2,
        Mode::Exception(tokio_modbus::ExceptionCode::GatewayTargetDevice),
    );
    let dev = TcpDevice::start(bank.clone()).await;
    let extra = "degraded_after = 2\nreconnect_min = \"500ms\"\nreconnect_max = \"1s\"";
    let cfg = modbus_config(&endpoint(
        "ep-gw",
        dev.addr,
        extra,
        &[("gw-good", 1, "n", "100ms"), ("gw-silent", 2, "n", "100ms")],
    ));
    let run = start(cfg, profile_set(vec![profile("n", "noise", NOISE_LIKE)]));
    run.out
        .until("the silent device offline", |c| {
            c.of("device_status", "gw-silent")
                .iter()
                .any(|r| r.field("online") == Some(&FieldValue::Bool(false)))
        })
        .await;
    let polled = bank.requests(2);
    run.out
        .until("more polls of the good device", |_| bank.requests(1) >= 20)
        .await;
    let out = run.stop().await;
    assert_eq!(
        bank.connections.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    // Degraded: far fewer attempts than the good device's 100 ms polls.
    assert!(bank.requests(2) <= polled + 10, "{}", bank.requests(2));
    assert!(!out.of("noise", "gw-good").is_empty());
}
