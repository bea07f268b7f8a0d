//! The harness itself: each real service starts on a free port and answers.

use crate::common;

use common::{http, Influx1, Mosquitto, Victoria};

#[test]
fn victoria_accepts_v2_writes_and_exports_them() {
    let vm = Victoria::start();
    let (s, b) = http(
        "POST",
        vm.port(),
        "/api/v2/write?org=o&bucket=b&precision=ns",
        b"harness,device=d1 level=1.5 1700000000000000000\n",
    )
    .unwrap();
    assert_eq!(s, 204, "{b}");
    let e = vm.wait_for_samples("harness_level", 1, std::time::Duration::from_secs(20));
    assert_eq!(e[0]["metric"]["device"], "d1");
    assert_eq!(e[0]["values"][0], 1.5);
    assert_eq!(e[0]["timestamps"][0], 1_700_000_000_000i64);
}

#[test]
fn influx1_accepts_v1_writes_and_answers_influxql() {
    let db = Influx1::start();
    db.create_db("t");
    let (s, b) = http(
        "POST",
        db.port(),
        "/write?db=t&precision=ns",
        b"harness,device=d1 s=\"x y\" 1700000000000000001\n",
    )
    .unwrap();
    assert_eq!(s, 204, "{b}");
    let rows = db.wait_for_rows(
        "t",
        "SELECT * FROM harness",
        1,
        std::time::Duration::from_secs(10),
    );
    assert_eq!(rows[0]["s"], "x y");
    assert_eq!(rows[0]["time"], 1_700_000_000_000_000_001i64);
}

#[test]
fn mosquitto_starts_on_a_free_port() {
    let m = Mosquitto::start();
    m.publish("harness/t", "hello", 1);
}
