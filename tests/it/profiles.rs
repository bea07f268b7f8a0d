//! Every shipped MQTT device profile against its sample payloads, Telegraf
//! style: `tests/fixtures/profiles/<case>/{filter, topic, payload.json |
//! payload.txt, expected.txt | expected_error.txt}` plus an optional
//! `profile` file naming the profile when the folder name is not its name.
//! Messages without a payload timestamp get the receive time
//! 1764388800000000000.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use greengate::config::Check;
use greengate::profiles::config::ProfilesConfig;
use greengate::profiles::topic::TopicFilter;
use greengate::profiles::{decode, decode_with_properties, ProfileSet};

const RECEIVED_NS: i64 = 1_764_388_800_000_000_000;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn shipped() -> ProfileSet {
    let mut cx = Check::new(root().join("config"));
    let set = ProfileSet::load(&ProfilesConfig::default(), &mut cx);
    let problems: Vec<String> = cx.problems().iter().map(|p| p.to_string()).collect();
    assert!(
        problems.is_empty(),
        "shipped profiles have problems:\n{}",
        problems.join("\n")
    );
    set
}

fn read(dir: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(name)).ok()
}

#[test]
fn every_shipped_profile_decodes_its_fixtures_exactly() {
    let set = shipped();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root().join("tests/fixtures/profiles"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    let mut covered = BTreeMap::new();
    let mut failures = Vec::new();
    for dir in &cases {
        let case = dir.file_name().unwrap().to_string_lossy().to_string();
        let name = read(dir, "profile")
            .map(|s| s.trim().to_string())
            .unwrap_or(case.clone());
        let profile = set
            .get(&name)
            .unwrap_or_else(|| panic!("{case}: no profile {name:?}"));
        let filter = TopicFilter::parse(read(dir, "filter").unwrap().trim()).unwrap();
        let topic = read(dir, "topic").unwrap();
        let captures = filter
            .matches(topic.trim())
            .unwrap_or_else(|| panic!("{case}: topic does not match the filter"));
        let payload = read(dir, "payload.json")
            .or_else(|| read(dir, "payload.txt"))
            .unwrap();
        // MQTT 5 user properties of the message, one `name=value` per line.
        let props: Vec<(String, String)> = read(dir, "user_properties.txt")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let got = decode_with_properties(
            profile,
            &BTreeMap::new(),
            &captures,
            payload.as_bytes(),
            &props,
            RECEIVED_NS,
        );
        let got = match got {
            Ok(rs) => rs
                .iter()
                .map(|r| greengate::lineproto::to_line(r).unwrap() + "\n")
                .collect::<String>(),
            Err(e) => format!("error: {e}\n"),
        };
        let want = match (read(dir, "expected.txt"), read(dir, "expected_error.txt")) {
            (Some(lines), None) => lines,
            (None, Some(err)) => format!("error: {err}"),
            _ => panic!("{case}: give expected.txt or expected_error.txt"),
        };
        if got != want {
            failures.push(format!("{case}:\n  want: {want}  got:  {got}"));
        }
        *covered.entry(name).or_insert(0) += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for (name, p) in &set.profiles {
        if p.mqtt.is_some() {
            assert!(
                covered.contains_key(name),
                "MQTT profile {name} has no fixture"
            );
        }
    }
}

#[test]
fn shipped_profiles_cover_every_device_class() {
    let set = shipped();
    let classes: Vec<&str> = set
        .profiles
        .values()
        .filter(|p| p.mqtt.is_some())
        .map(|p| p.class.as_str())
        .collect();
    for class in ["noise", "water_meter", "lighting", "parking", "security"] {
        assert!(classes.contains(&class), "no MQTT profile for {class}");
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn profile_problems_name_the_file_and_key_and_spare_the_other_files() {
    let dir = tempfile::tempdir().unwrap();
    let devices = dir.path().join("devices");
    std::fs::create_dir(&devices).unwrap();
    write(
        &devices,
        "a-good.toml",
        "name = \"good\"\nclass = \"noise\"\n[mqtt]\nfields.laeq = { path = \"LAeq\" }\n",
    );
    write(
        &devices,
        "b-bad.toml",
        "name = \"bad\"\nclass = \"noise\"\ncolour = \"red\"\n[mqtt]\nfields.laeq = { path = \"LAeq\", unit = \"dBZ\" }\n",
    );
    write(
        &devices,
        "c-dup.toml",
        "name = \"good\"\nclass = \"noise\"\n[mqtt]\nfields.laeq = { path = \"x\" }\n",
    );
    write(
        &devices,
        "d-neither.toml",
        "name = \"neither\"\nclass = \"noise\"\n",
    );
    write(&devices, "e-broken.toml", "name = \n");
    write(
        &devices,
        "f-time.toml",
        "name = \"t\"\nclass = \"noise\"\n[mqtt]\ntime = { path = \"t\", format = \"hours\" }\nfields.laeq = { path = \"LAeq\" }\n",
    );
    write(&devices, "notes.txt", "ignored");
    let mut cx = Check::new(dir.path());
    let set = ProfileSet::load(&ProfilesConfig::default(), &mut cx);
    assert_eq!(set.profiles.keys().collect::<Vec<_>>(), ["good"]);
    let d = devices.display();
    let problems: Vec<String> = cx.problems().iter().map(|p| p.to_string()).collect();
    let want = [
        format!("{d}/b-bad.toml.colour: unknown key"),
        format!("{d}/b-bad.toml.mqtt.fields.laeq.unit: unknown unit \"dBZ\""),
        format!("{d}/f-time.toml.mqtt.time.format: unknown variant `hours`"),
        format!("{d}/c-dup.toml.name: duplicate profile name \"good\""),
        format!("{d}/d-neither.toml: a profile needs an [mqtt], a [modbus] or a [meter] table"),
        format!("{d}/e-broken.toml: "),
    ];
    for w in &want {
        assert!(
            problems.iter().any(|p| p.starts_with(w.as_str())),
            "missing {w:?} in {problems:#?}"
        );
    }
}

#[test]
fn a_configured_profile_dir_that_is_missing_is_a_problem_but_the_default_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let mut cx = Check::new(dir.path());
    assert!(ProfileSet::load(&ProfilesConfig::default(), &mut cx)
        .profiles
        .is_empty());
    assert!(cx.problems().is_empty());
    let cfg = ProfilesConfig {
        dirs: Some(vec![PathBuf::from("nowhere")]),
    };
    ProfileSet::load(&cfg, &mut cx);
    assert_eq!(cx.problems().len(), 1);
    assert!(cx.problems()[0]
        .to_string()
        .starts_with("profiles.dirs[0]: cannot read"));
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "[a-zA-Z0-9 :.+\\-TZ\n\"\\\\]{0,24}".prop_map(Value::String),
            Just(Value::String("2025-11-29T12:00:00+08:00".into())),
            Just(Value::String("ON".into())),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("LAeq".to_string()),
                        Just("LAmax".to_string()),
                        Just("readings".to_string()),
                        Just("data".to_string()),
                        Just("object".to_string()),
                        Just("rxInfo".to_string()),
                        Just("ts".to_string()),
                        Just("time".to_string()),
                        Just("totalL".to_string()),
                        Just("event".to_string()),
                        "[a-z]{1,6}",
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn cached() -> &'static ProfileSet {
        static SET: std::sync::OnceLock<ProfileSet> = std::sync::OnceLock::new();
        SET.get_or_init(shipped)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn arbitrary_json_never_panics_any_shipped_profile_and_every_reading_is_valid(v in json()) {
            let set = cached();
            let payload = serde_json::to_vec(&v).unwrap();
            let caps = [("device", "d")];
            for p in set.profiles.values().filter(|p| p.mqtt.is_some()) {
                if let Ok(rs) = decode(p, &BTreeMap::new(), &caps, &payload, RECEIVED_NS) {
                    for r in rs {
                        prop_assert!(r.validate().is_ok(), "{}: {:?}", p.name, r);
                    }
                }
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic_any_shipped_profile(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let set = cached();
            for p in set.profiles.values().filter(|p| p.mqtt.is_some()) {
                let _ = decode(p, &BTreeMap::new(), &[], &bytes, RECEIVED_NS);
            }
        }
    }
}
