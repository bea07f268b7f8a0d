//! The Modbus source against real tokio-modbus TCP servers on loopback:
//! the shipped profiles, exceptions, busy devices, report by exception.
//! (Devices that never answer, answer late or drop connections: modbus_faults.rs.)

use crate::modbus_support;

use greengate::model::FieldValue;
use modbus_support::*;
use tokio::time::Instant;
use tokio_modbus::ExceptionCode;

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
    // Three units, one line: one connection, one request at a time.
    assert_eq!(
        bank.connections.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    // The meter's 4 holding fields are one read, not four.
    assert!(
        counter(
            "modbus_requests_total",
            &[("endpoint", "gw-shipped"), ("device", "tcp-water-1")]
        ) >= 1
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
    bank.holding(3, 0, &[1]);
    let dev = TcpDevice::start(bank.clone()).await;
    let two = "[[fields]]\nname = \"a\"\ntable = \"holding\"\naddress = 0\n[[fields]]\nname = \"b\"\ntable = \"holding\"\naddress = 5";
    // Two bits of a register the device lacks: one read that cannot split.
    let bits = "[[fields]]\nname = \"x\"\ntable = \"holding\"\naddress = 9\ntype = \"bit\"\nbit = 0\n\
                [[fields]]\nname = \"y\"\ntable = \"holding\"\naddress = 9\ntype = \"bit\"\nbit = 1";
    let cfg = modbus_config(&endpoint(
        "ep-exc",
        dev.addr,
        "",
        &[
            ("exc-holes", 1, "two", "100ms"),
            ("exc-refuses", 2, "n", "100ms"),
            ("exc-bits", 3, "bits", "100ms"),
        ],
    ));
    let run = start(
        cfg,
        profile_set(vec![
            profile("two", "noise", two),
            profile("n", "noise", NOISE_LIKE),
            profile("bits", "noise", bits),
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
    let before = bank.requests(1);
    run.out
        .until("later polls of the holed devices", |_| {
            bank.requests(1) >= before + 4 && bank.requests(3) >= 3
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
    // The unsplittable read is marked and retried after the back-off, not looped on.
    let st = out.of("device_status", "exc-bits");
    assert_eq!(st[0].field("online"), Some(&FieldValue::Bool(true)));
    assert!(out.of("noise", "exc-bits").is_empty());
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

#[tokio::test]
async fn a_field_that_does_not_decode_is_dead_lettered_and_the_rest_still_goes() {
    let bank = Bank::default();
    let nan = f32::NAN.to_bits();
    bank.holding(1, 0, &[655, (nan >> 16) as u16, nan as u16]);
    let dev = TcpDevice::start(bank.clone()).await;
    let map = r#"
[[fields]]
name = "laeq"
table = "holding"
address = 0
scale = 0.1
[[fields]]
name = "lamax"
table = "holding"
address = 1
type = "f32"
"#;
    let cfg = modbus_config(&endpoint(
        "ep-nan",
        dev.addr,
        "",
        &[("nan-1", 1, "m", "10s")],
    ));
    let run = start(cfg, profile_set(vec![profile("m", "noise", map)]));
    run.out
        .until("the reading and the dead letter", |c| {
            !c.of("noise", "nan-1").is_empty() && !c.dead().is_empty()
        })
        .await;
    let out = run.stop().await;
    let r = &out.of("noise", "nan-1")[0];
    assert_approx(float(r, "laeq"), 65.5);
    assert!(r.field("lamax").is_none());
    let d = &out.dead()[0];
    assert_eq!((d.source, d.origin.as_str()), ("modbus", "nan-1/holding:1"));
    assert!(d.reason.contains("lamax"), "{}", d.reason);
    assert!(d.reason.contains("not a finite number"), "{}", d.reason);
}

#[tokio::test]
async fn inter_request_delay_paces_the_line() {
    let bank = Bank::default();
    bank.holding(1, 0, &[500]);
    bank.holding(2, 0, &[500]);
    let dev = TcpDevice::start(bank.clone()).await;
    let cfg = modbus_config(&endpoint(
        "ep-paced",
        dev.addr,
        "inter_request_delay = \"200ms\"",
        &[("paced-1", 1, "n", "20ms"), ("paced-2", 2, "n", "20ms")],
    ));
    let t0 = tokio::time::Instant::now();
    let run = start(cfg, profile_set(vec![profile("n", "noise", NOISE_LIKE)]));
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    run.stop().await;
    let elapsed = t0.elapsed().as_millis() as u64;
    let sent = bank.requests(1) + bank.requests(2);
    // Unpaced, two devices at 20 ms would cost ~200 requests in 2 s.
    assert!(sent <= elapsed / 200 + 1, "{sent} requests in {elapsed} ms");
    assert!(sent >= 4, "{sent}");
}
