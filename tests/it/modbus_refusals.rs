//! Exception answers to coalesced reads, against a real tokio-modbus TCP
//! server: the refusing register is isolated, its neighbours keep their
//! values, the refusal is counted by code and retried after the back-off.

use crate::modbus_support;

use greengate::model::FieldValue;
use modbus_support::*;
use tokio_modbus::ExceptionCode;

/// `u16` holding fields named `<prefix><address>` at `addresses`.
fn fields(prefix: &str, addresses: std::ops::Range<u16>) -> String {
    addresses
        .map(|a| {
            format!("[[fields]]\nname = \"{prefix}{a}\"\ntable = \"holding\"\naddress = {a}\n")
        })
        .collect()
}

fn int(r: &greengate::model::Reading, f: &str) -> Option<i64> {
    match r.field(f) {
        Some(FieldValue::Int(v)) => Some(*v),
        _ => None,
    }
}

fn refusals(device: &str, code: &str) -> u64 {
    counter(
        "modbus_read_refusals_total",
        &[("endpoint", "ep-ref"), ("device", device), ("code", code)],
    )
}

fn polls(device: &str) -> u64 {
    counter(
        "modbus_polls_total",
        &[("endpoint", "ep-ref"), ("device", device)],
    )
}

#[tokio::test]
async fn a_register_refused_with_any_code_is_isolated_and_its_neighbours_keep_their_values() {
    let bank = Bank::default();
    // Unit 1: registers 0..=6, register 3 refused with 04 (server device failure).
    bank.holding(1, 0, &[100, 101, 102, 103, 104, 105, 106]);
    bank.refuse(1, 3, ExceptionCode::ServerDeviceFailure);
    // Unit 2: registers 10..=12, register 11 refused with 03 (illegal data value).
    bank.holding(2, 10, &[210, 211, 212]);
    bank.refuse(2, 11, ExceptionCode::IllegalDataValue);
    // Unit 3 behind a gateway: register 21 answered with 0B.
    bank.holding(3, 20, &[320, 321]);
    bank.refuse(3, 21, ExceptionCode::GatewayTargetDevice);
    // Unit 4: dead behind the gateway (every read 0B); unit 5 healthy.
    bank.holding(4, 30, &[1, 2]);
    bank.mode(4, Mode::Exception(ExceptionCode::GatewayTargetDevice));
    bank.holding(5, 0, &[555]);
    let dev = TcpDevice::start(bank.clone()).await;
    let extra = "reconnect_min = \"200ms\"\nreconnect_max = \"400ms\"\ndegraded_after = 2";
    let cfg = modbus_config(&endpoint(
        "ep-ref",
        dev.addr,
        extra,
        &[
            ("ref-04", 1, "a", "100ms"),
            ("ref-03", 2, "b", "100ms"),
            ("ref-0b", 3, "c", "100ms"),
            ("ref-dead", 4, "d", "100ms"),
            ("ref-ok", 5, "n", "100ms"),
        ],
    ));
    let run = start(
        cfg,
        profile_set(vec![
            profile("a", "noise", &fields("a", 0..7)),
            profile("b", "noise", &fields("b", 10..13)),
            profile("c", "noise", &fields("c", 20..22)),
            profile("d", "noise", &fields("d", 30..32)),
            profile("n", "noise", NOISE_LIKE),
        ]),
    );
    let has =
        |c: &Collected, dev: &str, f: &str| c.of("noise", dev).iter().any(|r| r.field(f).is_some());
    run.out
        .until("the neighbours of every refused register", |c| {
            has(c, "ref-04", "a2")
                && has(c, "ref-04", "a4")
                && has(c, "ref-03", "b12")
                && has(c, "ref-0b", "c20")
        })
        .await;
    let (p0, ok0, r0) = (polls("ref-04"), polls("ref-ok"), bank.refused(1));
    run.out
        .until("15 more polls", |_| polls("ref-04") >= p0 + 15)
        .await;
    let (p1, ok1) = (polls("ref-04"), polls("ref-ok"));
    let out = run.stop().await;

    // Neighbours stored and decoded; the refused registers absent.
    let a = out.of("noise", "ref-04");
    let r = a.iter().find(|r| r.field("a0").is_some()).unwrap();
    for (f, v) in [
        ("a0", 100),
        ("a1", 101),
        ("a2", 102),
        ("a4", 104),
        ("a5", 105),
        ("a6", 106),
    ] {
        assert_eq!(int(r, f), Some(v), "{f}");
    }
    assert!(a.iter().all(|r| r.field("a3").is_none()));
    let b = out.of("noise", "ref-03");
    let r = b.iter().find(|r| r.field("b10").is_some()).unwrap();
    assert_eq!((int(r, "b10"), int(r, "b12")), (Some(210), Some(212)));
    assert!(b.iter().all(|r| r.field("b11").is_none()));
    let c = out.of("noise", "ref-0b");
    assert!(c.iter().any(|r| int(r, "c20") == Some(320)));
    assert!(c.iter().all(|r| r.field("c21").is_none()));

    // Counted by device and code: every refusal the server made, no other code.
    assert!(refusals("ref-04", "04") >= 4);
    assert_eq!(refusals("ref-04", "04"), bank.refused(1));
    assert_eq!(refusals("ref-03", "03"), bank.refused(2));
    assert_eq!(refusals("ref-03", "04"), 0);
    // The 0B to the first, still unanswered read is a probe, not yet a refusal.
    assert_eq!(refusals("ref-0b", "0B"), bank.refused(3) - 1);

    // Retried after the back-off (≥ 200 ms, growing to 400 ms), not every
    // 100 ms poll: in 15 polls at least one retry and at most one every
    // other poll.
    let retries = bank.refused(1) - r0;
    assert!(
        retries >= 1 && retries * 2 <= (p1 - p0) + 2,
        "{retries} retries in {} polls",
        p1 - p0
    );
    // The plan settled to 0..3, 3, 4, 5..7: first poll 7 requests (0..7 ✗,
    // 0..3, 3..7 ✗, 3..5 ✗, 5..7, 3 ✗, 4), then 3 per poll plus each retry
    // of register 3 (the poll cut by the shutdown may have sent fewer).
    let polls_total = polls("ref-04");
    let want = 7 + 3 * (polls_total - 1) + (bank.refused(1) - 4);
    let sent = bank.requests(1);
    assert!(sent <= want && sent + 3 >= want, "sent {sent}, want {want}");

    // The schedule holds: the refusing device polled as often as a healthy one.
    assert!(
        (p1 - p0).abs_diff(ok1 - ok0) <= 1,
        "{} vs {}",
        p1 - p0,
        ok1 - ok0
    );
    // Exceptions keep the connection; the dead device behind the gateway is
    // offline, not split: its plan was restored after the probe.
    assert_eq!(
        bank.connections.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert!(out
        .of("device_status", "ref-dead")
        .iter()
        .any(|r| r.field("online") == Some(&FieldValue::Bool(false))));
    assert_eq!(refusals("ref-dead", "0B"), 0);
    assert!(out
        .of("device_status", "ref-04")
        .iter()
        .all(|r| r.field("online") == Some(&FieldValue::Bool(true))));
}
