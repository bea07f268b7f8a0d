//! Line-protocol escaping checked against the authority: readings with every
//! tricky character in every element are encoded by `lineproto::encode`,
//! written through the InfluxDB writer into a real InfluxDB 1.x, read back
//! with InfluxQL and compared exactly with the input.

use crate::common;

use common::Influx1;
use greengate::deadletter::DeadLetterWriter;
use greengate::lineproto;
use greengate::model::{FieldValue, Reading, ReadingError};
use greengate::sinks::influxdb::config::InfluxDbConfig;
use greengate::sinks::influxdb::InfluxWriter;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Every element gets each of these, at its start, middle and end.
const TRICKY: &[&str] = &[
    "a b",
    " lead",
    "trail ",
    "a,b",
    ",",
    "a=b",
    "=",
    "say \"hi\"",
    "\"",
    "back\\slash",
    "\\lead",
    "it's",
    "ünïcødé 雨 🌧",
    "tab\there",
    "#hash",
    "a\\b c,d=e\"f",
    "plain",
];

type Point = (
    String,
    BTreeMap<String, String>,
    BTreeMap<String, Value>,
    i64,
);

fn expected(r: &Reading) -> Point {
    let tags = r
        .tags
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let fields = r
        .fields
        .iter()
        .map(|(k, v)| {
            let j = match v {
                FieldValue::Float(f) => json!(f),
                FieldValue::Int(i) => json!(i),
                FieldValue::UInt(u) => json!(u),
                FieldValue::Bool(b) => json!(b),
                FieldValue::Str(s) => json!(s),
            };
            (k.clone(), j)
        })
        .collect();
    (r.measurement.clone(), tags, fields, r.time_ns)
}

/// Every point in the database, from `SELECT * FROM /.*/ GROUP BY *`.
fn stored(db: &Influx1) -> Vec<Point> {
    let v = db.query("rt", "SELECT * FROM /.*/ GROUP BY *");
    let mut out = Vec::new();
    for s in v["results"][0]["series"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let name = s["name"].as_str().unwrap().to_string();
        let tags: BTreeMap<String, String> = s["tags"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .filter(|(_, v)| !v.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let cols: Vec<String> = s["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        for row in s["values"].as_array().unwrap() {
            let row = row.as_array().unwrap();
            let mut fields = BTreeMap::new();
            let mut time = 0;
            for (c, v) in cols.iter().zip(row) {
                if c == "time" {
                    time = v.as_i64().unwrap();
                } else if !v.is_null() {
                    fields.insert(c.clone(), v.clone());
                }
            }
            out.push((name.clone(), tags.clone(), fields, time));
        }
    }
    out.sort_by_key(|p| p.3);
    out
}

async fn write_all(db: &Influx1, data: &[u8]) {
    let cfg: InfluxDbConfig = serde_json::from_value(json!({
        "url": db.url(), "api": "v1", "database": "rt", "retry_min": "50ms", "retry_max": "1s",
    }))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dead = DeadLetterWriter::open(dir.path().join("dead.jsonl"), 1 << 20).unwrap();
    let mut w = InfluxWriter::new(&cfg, "roundtrip", dead).unwrap();
    let done = w.write(data, &CancellationToken::new()).await.unwrap();
    assert_eq!(
        done.lines_dead_lettered, 0,
        "the store refused encoded lines"
    );
    let dl = std::fs::read_to_string(dir.path().join("dead.jsonl")).unwrap_or_default();
    assert!(dl.is_empty(), "{dl}");
}

fn wait_for(db: &Influx1, n: usize) -> Vec<Point> {
    let start = std::time::Instant::now();
    loop {
        let s = stored(db);
        if s.len() >= n || start.elapsed() > Duration::from_secs(30) {
            return s;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tricky_character_in_every_element_round_trips_through_influxdb() {
    let db = Influx1::start();
    db.create_db("rt");
    let n = TRICKY.len();
    let t0 = 1_700_000_000_000_000_000i64;
    let mut readings = Vec::new();
    for i in 0..n {
        // Each reading has its own measurement, and its tag and field keys differ.
        // A measurement cannot start with '#' (a comment line): see the refusal test.
        let m = TRICKY[(i + 2) % n];
        let m = if m.starts_with('#') {
            format!("m{m}")
        } else {
            m.to_string()
        };
        let mut r = Reading::new(m, t0 + i as i64 * 1_000_000_007 + 1);
        r.set_tag(TRICKY[i], TRICKY[(i + 3) % n]);
        r.set_tag("tv", TRICKY[(i + 5) % n]);
        r.tags.push(("zz_empty".into(), String::new()));
        r.add_field(
            TRICKY[(i + 1) % n],
            FieldValue::Str(TRICKY[(i + 4) % n].into()),
        );
        r.add_field("s", FieldValue::Str(format!("{}\\", TRICKY[i])));
        r.add_field(
            "x",
            FieldValue::Float([0.1, -1e-300, 1e300, 123456.789][i % 4]),
        );
        r.add_field("k", FieldValue::Int([i64::MAX, -i64::MAX, 0, -7][i % 4]));
        r.add_field("ok", FieldValue::Bool(i % 2 == 0));
        readings.push(r);
    }
    // Pre-1970 timestamps too.
    let mut old = Reading::new("old", -1_000_000_000_123);
    old.add_field("x", FieldValue::Float(1.5));
    readings.push(old);

    let mut data = Vec::new();
    for r in &readings {
        lineproto::encode(r, &mut data).unwrap();
    }
    // NaN and infinities never reach the wire: the encoder refuses them.
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut r = Reading::new("nan", t0);
        r.add_field("x", FieldValue::Float(bad));
        assert!(lineproto::encode(&r, &mut data).is_err());
    }
    write_all(&db, &data).await;

    let got = wait_for(&db, readings.len());
    let mut want: Vec<Point> = readings.iter().map(expected).collect();
    want.sort_by_key(|p| p.3);
    assert_eq!(got, want);

    // SHOW TAG VALUES agrees, and empty tag values left no tag behind.
    let v = db.query("rt", "SHOW TAG VALUES FROM /.*/ WITH KEY =~ /.*/");
    let mut tag_values = BTreeSet::new();
    for s in v["results"][0]["series"].as_array().unwrap() {
        for kv in s["values"].as_array().unwrap() {
            tag_values.insert((
                s["name"].as_str().unwrap().to_string(),
                kv[0].as_str().unwrap().to_string(),
                kv[1].as_str().unwrap().to_string(),
            ));
        }
    }
    let want_tags: BTreeSet<_> = readings
        .iter()
        .flat_map(|r| {
            r.tags
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (r.measurement.clone(), k.clone(), v.clone()))
        })
        .collect();
    assert_eq!(tag_values, want_tags);
    assert!(!String::from_utf8_lossy(&data).contains("NaN"));
}

#[test]
fn what_line_protocol_cannot_carry_is_refused_before_the_wire() {
    for (m, tk, tv, fk) in [
        ("#comment", "t", "v", "f"),
        ("ends\\", "t", "v", "f"),
        ("m", "t", "ends\\", "f"),
        ("m", "t", "a\\,b", "f"),
        ("m", "k\\", "v", "f"),
        ("m", "t", "v", "f\\ x"),
        ("m", "t", "two\\\\back", "f"),
        ("\tm", "t", "v", "f"),
        ("m\\=", "t", "v", "f"),
        ("m", "t", "v", "say\\\"hi"),
    ] {
        let mut r = Reading::new(m, 1);
        r.set_tag(tk, tv);
        r.add_field(fk, FieldValue::Int(1));
        let mut out = Vec::new();
        assert!(
            matches!(
                lineproto::encode(&r, &mut out),
                Err(ReadingError::Unrepresentable(..))
            ),
            "{m:?} {tk:?} {tv:?} {fk:?}"
        );
        assert!(out.is_empty());
    }
}

/// A bounded, seeded run of random names and values over the tricky alphabet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_readings_over_the_tricky_alphabet_round_trip() {
    const ALPHABET: &[char] = &[
        'a', 'Z', ' ', ',', '=', '"', '\\', '\'', '#', 'ü', '雨', '\t', '0',
    ];
    let mut rng = fastrand::Rng::with_seed(0x9e37_79b9);
    let word = |rng: &mut fastrand::Rng| -> String {
        let len = rng.usize(1..8);
        (0..len)
            .map(|_| ALPHABET[rng.usize(..ALPHABET.len())])
            .collect()
    };
    let db = Influx1::start();
    db.create_db("rt");
    let mut readings = Vec::new();
    let mut data = Vec::new();
    let mut refused = 0;
    let mut i = 0i64;
    while readings.len() < 150 {
        i += 1;
        let mut r = Reading::new(
            format!("{}{}", word(&mut rng), i),
            1_700_000_000_000_000_000 + i,
        );
        r.set_tag(format!("t{}", word(&mut rng)), word(&mut rng));
        r.add_field(
            format!("f{}", word(&mut rng)),
            FieldValue::Str(word(&mut rng)),
        );
        match lineproto::encode(&r, &mut data) {
            Ok(()) => readings.push(r),
            Err(ReadingError::Unrepresentable(..)) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(
        refused > 0,
        "the alphabet should produce some unrepresentable names"
    );
    write_all(&db, &data).await;
    let got = wait_for(&db, readings.len());
    let mut want: Vec<Point> = readings.iter().map(expected).collect();
    want.sort_by_key(|p| p.3);
    assert_eq!(got, want);
}

/// VictoriaMetrics (the v2 path in the end-to-end tests) reads the same
/// escaping: tag values with every tricky character arrive as exact labels.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tricky_tag_values_arrive_exactly_in_victoriametrics() {
    let vm = common::Victoria::start();
    let cfg: InfluxDbConfig = serde_json::from_value(json!({
        "url": vm.url(), "org": "o", "bucket": "b", "token": "t",
    }))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dead = DeadLetterWriter::open(dir.path().join("dead.jsonl"), 1 << 20).unwrap();
    let mut w = InfluxWriter::new(&cfg, "roundtrip_vm", dead).unwrap();
    let mut data = Vec::new();
    for (i, v) in TRICKY.iter().enumerate() {
        let mut r = Reading::new("tricky", 1_700_000_000_000_000_000 + i as i64 * 1_000_000);
        r.set_tag("device", format!("d{i}"));
        r.set_tag("v", *v);
        r.add_field("x", FieldValue::Float(i as f64 + 0.5));
        lineproto::encode(&r, &mut data).unwrap();
    }
    let done = w.write(&data, &CancellationToken::new()).await.unwrap();
    assert_eq!(done.lines_dead_lettered, 0);
    let e = vm.wait_for_samples("tricky_x", TRICKY.len(), Duration::from_secs(30));
    let mut got: Vec<(String, String)> = e
        .iter()
        .map(|s| {
            (
                s["metric"]["device"].as_str().unwrap().to_string(),
                s["metric"]["v"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String)> = TRICKY
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("d{i}"), v.to_string()))
        .collect();
    want.sort();
    assert_eq!(got, want);
}
