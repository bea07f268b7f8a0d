//! The simulator speaks the shipped profiles: every payload it publishes
//! decodes under its profile in `config/devices/` (through greengate's own
//! topic matching and decoder) into the values the model produced, and every
//! register image decodes under greengate's Modbus decoder likewise.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::Check;
use crate::model::FieldValue;
use crate::profiles::modbus::Table as GgTable;
use crate::profiles::{decode, topic::TopicFilter, Profile, ProfileSet};
use crate::sources::modbus::decode::{field, Data};
use crate::sources::modbus::planner::Read;
use chrono::DateTime;
use fastrand::Rng;

use crate::sim::modbus::{self, Table};
use crate::sim::model::{self, Values, V};
use crate::sim::payload::{self, Class};

fn devices_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/devices")
}

fn profiles() -> BTreeMap<String, Profile> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(devices_dir()).expect("config/devices") {
        let path = e.expect("dir entry").path();
        if path.extension().is_some_and(|x| x == "toml") {
            let mut cx = Check::new(devices_dir());
            if let Some(p) = ProfileSet::load_file(&path, &mut cx) {
                out.insert(p.name.clone(), p);
            }
        }
    }
    out
}

fn close(got: &FieldValue, want: &V, name: &str, what: &str) {
    let ok = match (got, want) {
        (FieldValue::Bool(g), V::B(w)) => g == w,
        (FieldValue::Str(g), V::S(w)) => g == w,
        (g, w) => match g.as_f64() {
            Some(g) => (g - w.as_f64()).abs() <= 1e-3_f64.max(w.as_f64().abs() * 1e-6),
            None => false,
        },
    };
    assert!(
        ok,
        "{what}: field {name}: decoded {got:?}, simulated {want:?}"
    );
}

/// (class, profile, subscription filter) as the profiles document them.
const MQTT: [(Class, &str, &str); 5] = [
    (
        Class::Noise,
        "fiware-noise",
        "community/+site/noise/+device/up",
    ),
    (
        Class::Water,
        "smart-water-meter",
        "community/+site/water/+/up",
    ),
    (
        Class::Lighting,
        "street-light",
        "community/+site/lighting/+device/telemetry",
    ),
    (
        Class::Parking,
        "geomagnetic-parking",
        "application/+/device/+/event/up",
    ),
    (
        Class::Security,
        "access-alarm",
        "community/+site/security/+device/event",
    ),
];

fn simulated(class: Class, rng: &mut Rng) -> Values {
    match class {
        Class::Noise => model::Noise::new(rng).step(rng, 21.0, 300.0),
        Class::Water => model::Water::new(rng, true).step(rng, 3.0, 300.0),
        Class::Lighting => model::Light::new(rng, 1).step(rng, 21.0, 330, 300.0),
        Class::Parking => model::Bay::new(rng, false, 21.0).step(rng, 21.0, 300.0),
        Class::Security => vec![("event", V::S("heartbeat".into())), ("online", V::B(true))],
    }
}

#[test]
fn every_mqtt_payload_decodes_under_its_shipped_profile() {
    let profiles = profiles();
    let mut rng = Rng::with_seed(11);
    let t = DateTime::from_timestamp(1_764_421_205, 0).expect("time");
    for (class, name, filter) in MQTT {
        let profile = profiles
            .get(name)
            .unwrap_or_else(|| panic!("profile {name} not in config/devices"));
        let device = payload::device_id(class, 3);
        let topic = payload::topic("cn-sh-demo-0001", class, 3, &device);
        let parsed = TopicFilter::parse(filter).expect("filter");
        let captures = parsed.matches(&topic);
        let captures = captures.unwrap_or_else(|| panic!("{topic} does not match {filter}"));
        let values = simulated(class, &mut rng);
        let msg = payload::payload(class, &device, 3, &[(t, values.clone())]);
        let readings = decode(
            profile,
            &BTreeMap::new(),
            &captures,
            msg.to_string().as_bytes(),
            0,
        )
        .unwrap_or_else(|e| panic!("{name}: {e} for {msg}"));
        assert_eq!(readings.len(), 1, "{name}");
        let r = &readings[0];
        assert_eq!(r.measurement, class.name(), "{name}");
        assert_eq!(r.tag("device"), Some(device.as_str()), "{name}");
        assert_eq!(r.time_ns, t.timestamp_nanos_opt().expect("ns"), "{name}");
        for (k, got) in &r.fields {
            let want =
                model::get(&values, k).unwrap_or_else(|| panic!("{name}: unexpected field {k}"));
            close(got, want, k, name);
        }
        assert!(r.fields.len() >= 2, "{name}: only {:?}", r.fields);
    }
}

#[test]
fn water_batches_decode_into_one_reading_per_record() {
    let profiles = profiles();
    let profile = &profiles["smart-water-meter"];
    let mut rng = Rng::with_seed(5);
    let mut m = model::Water::new(&mut rng, false);
    let t0 = DateTime::from_timestamp(1_764_421_200, 0).expect("time");
    let t1 = DateTime::from_timestamp(1_764_421_500, 0).expect("time");
    let batch = [
        (t0, m.step(&mut rng, 8.0, 300.0)),
        (t1, m.step(&mut rng, 8.0, 300.0)),
    ];
    let msg = payload::payload(Class::Water, "water-01", 1, &batch);
    let rs = decode(
        profile,
        &BTreeMap::new(),
        &[],
        msg.to_string().as_bytes(),
        0,
    )
    .expect("decodes");
    assert_eq!(rs.len(), 2);
    assert_eq!(rs[1].tag("device"), Some("water-01"));
    assert!(
        rs[1].field("total_m3").and_then(FieldValue::as_f64)
            >= rs[0].field("total_m3").and_then(FieldValue::as_f64)
    );
}

#[test]
fn alarm_events_carry_type_and_id_through_the_profile() {
    let profile = &profiles()["access-alarm"];
    let t = DateTime::from_timestamp(1_764_421_205, 0).expect("time");
    let e = model::Event {
        event: "alarm",
        alarm_type: "intrusion".into(),
        alarm_id: "sec-01-1".into(),
    };
    let msg = payload::security(t, "alarm", Some(&e));
    let rs = decode(
        profile,
        &BTreeMap::new(),
        &[("device", "sec-01")],
        msg.to_string().as_bytes(),
        0,
    )
    .expect("decodes");
    assert_eq!(
        rs[0].field("alarm_id"),
        Some(&FieldValue::Str("sec-01-1".into()))
    );
    assert_eq!(rs[0].field("event"), Some(&FieldValue::Str("alarm".into())));
}

fn gg_table(t: GgTable) -> Table {
    match t {
        GgTable::Coil => Table::Coil,
        GgTable::DiscreteInput => Table::DiscreteInput,
        GgTable::Holding => Table::Holding,
        GgTable::Input => Table::Input,
    }
}

#[test]
fn every_modbus_register_map_decodes_to_the_simulated_values() {
    let gg = profiles();
    let ours = modbus::load_profiles(&devices_dir()).expect("profiles");
    assert!(
        ours.len() >= 3,
        "expected the noise, water and lighting maps"
    );
    let mut rng = Rng::with_seed(3);
    for p in ours {
        let specs = gg[&p.name]
            .modbus
            .as_ref()
            .expect("a [modbus] table")
            .resolve()
            .expect("resolves");
        let mut m = modbus::Model::new(&p.class, &mut rng, true);
        let values = m.step(
            &mut rng,
            DateTime::from_timestamp(1_764_421_205, 0).expect("time"),
            60.0,
        );
        let img = modbus::image_of(&p.fields, &values);
        for s in &specs {
            let read = Read {
                table: s.table,
                start: s.address,
                count: s.width,
                fields: vec![],
            };
            let t = gg_table(s.table);
            let data = if s.table.is_bits() {
                Data::Bits((0..s.width).map(|i| img.bit(t, s.address + i)).collect())
            } else {
                Data::Words((0..s.width).map(|i| img.word(t, s.address + i)).collect())
            };
            let got =
                field(s, &read, &data).unwrap_or_else(|e| panic!("{}: {}: {e}", p.name, s.name));
            let want = model::get(&values, &s.name)
                .unwrap_or_else(|| panic!("{}: no simulated {}", p.name, s.name));
            // Registers hold the device's resolution (e.g. 0.1 dB, 1 L).
            let want = match want {
                V::F(x) => V::F(quantised(*x, &got)),
                other => other.clone(),
            };
            close(&got, &want, &s.name, &p.name);
        }
    }
}

fn quantised(x: f64, got: &FieldValue) -> f64 {
    match got.as_f64() {
        Some(g) if (g - x).abs() <= 0.051 || (g - x).abs() <= x.abs() * 1e-6 => g,
        _ => x,
    }
}
