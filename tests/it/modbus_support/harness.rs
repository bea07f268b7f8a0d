//! The harness side of the Modbus tests: profiles and configs from TOML
//! text, a running source, and what it produced.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use greengate::config::{parse_value, Check, Validate};
use greengate::model::{FieldValue, Reading};
use greengate::pipeline::SourceBatch;
use greengate::profiles::modbus::RegisterMap;
use greengate::profiles::{Profile, ProfileSet};

/// Loads a shipped profile from `config/devices/<name>.toml`.
pub fn shipped_profile(name: &str) -> Profile {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("config/devices/{name}.toml"));
    let v = greengate::config::read_toml_file(&file).unwrap();
    let class = v["class"].as_str().unwrap().to_string();
    let map = profile_from_json(v["modbus"].clone(), name);
    Profile {
        name: name.into(),
        class,
        modbus: Some(map),
        ..Profile::default()
    }
}

fn profile_from_json(v: serde_json::Value, name: &str) -> RegisterMap {
    let mut cx = Check::new(".");
    let map: Option<RegisterMap> = parse_value(v, &format!("{name}.modbus"), &mut cx);
    if let Some(m) = &map {
        m.validate(&format!("{name}.modbus"), &mut cx);
    }
    assert!(cx.problems().is_empty(), "{:?}", cx.problems());
    map.unwrap()
}

/// A profile from the TOML text of its `[modbus]` table body.
pub fn profile(name: &str, class: &str, modbus_toml: &str) -> Profile {
    let v: toml::Value = toml::from_str(modbus_toml).unwrap();
    Profile {
        name: name.into(),
        class: class.into(),
        modbus: Some(profile_from_json(serde_json::to_value(v).unwrap(), name)),
        ..Profile::default()
    }
}

pub fn profile_set(profiles: Vec<Profile>) -> Arc<ProfileSet> {
    let mut set = ProfileSet::default();
    for p in profiles {
        set.profiles.insert(p.name.clone(), p);
    }
    Arc::new(set)
}

/// Parses a `[sources.modbus]` body, asserting it validates.
pub fn modbus_config(text: &str) -> greengate::sources::modbus::config::ModbusConfig {
    let v: toml::Value = toml::from_str(text).unwrap();
    let mut cx = Check::new(".");
    let c: Option<greengate::sources::modbus::config::ModbusConfig> =
        parse_value(serde_json::to_value(v).unwrap(), "sources.modbus", &mut cx);
    let c = c.unwrap();
    c.validate("sources.modbus", &mut cx);
    assert!(cx.problems().is_empty(), "{:?}", cx.problems());
    c
}

/// Everything a source sent, gathered by a background task.
#[derive(Clone, Default)]
pub struct Collected(pub Arc<Mutex<Vec<SourceBatch>>>);

impl Collected {
    pub fn readings(&self) -> Vec<Reading> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .flat_map(|b| b.readings.clone())
            .collect()
    }
    pub fn of(&self, measurement: &str, device: &str) -> Vec<Reading> {
        self.readings()
            .into_iter()
            .filter(|r| r.measurement == measurement && r.tag("device") == Some(device))
            .collect()
    }
    pub fn dead(&self) -> Vec<greengate::deadletter::DeadLetter> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .flat_map(|b| b.dead.clone())
            .collect()
    }
    /// Waits (up to a generous guard, not a performance bound) until `f` holds.
    pub async fn until(&self, what: &str, f: impl Fn(&Collected) -> bool) {
        for _ in 0..600 {
            if f(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "gave up waiting for: {what}; readings: {:#?}",
            self.readings()
        );
    }
}

/// A running Modbus source and what it produced.
pub struct Running {
    pub out: Collected,
    pub shutdown: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub async fn stop(self) -> Collected {
        self.shutdown.cancel();
        let _ = self.task.await;
        self.out
    }
}

pub fn start(
    cfg: greengate::sources::modbus::config::ModbusConfig,
    profiles: Arc<ProfileSet>,
) -> Running {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<SourceBatch>(64);
    let out = Collected::default();
    let o = out.clone();
    tokio::spawn(async move {
        while let Some(b) = rx.recv().await {
            o.0.lock().unwrap().push(b);
        }
    });
    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(greengate::sources::modbus::run(
        cfg,
        profiles,
        tx,
        shutdown.clone(),
    ));
    Running {
        out,
        shutdown,
        task,
    }
}

pub fn float(r: &Reading, f: &str) -> Option<f64> {
    match r.field(f) {
        Some(FieldValue::Float(v)) => Some(*v),
        _ => None,
    }
}

/// A counter of the process-wide metrics registry, by its labels.
pub fn counter(name: &'static str, labels: &[(&'static str, &str)]) -> u64 {
    greengate::metrics::registry()
        .counter(name, "", labels)
        .get()
}

/// Asserts a float field is `want` within rounding.
#[track_caller]
pub fn assert_approx(got: Option<f64>, want: f64) {
    match got {
        Some(v) if (v - want).abs() <= 1e-9 * want.abs().max(1.0) => {}
        other => panic!("expected {want}, got {other:?}"),
    }
}

/// A one-field noise map: holding 0 in tenths of a dB.
pub const NOISE_LIKE: &str = r#"
[[fields]]
name = "laeq"
table = "holding"
address = 0
scale = 0.1
unit = "dB(A)"
"#;

/// A `[[endpoints]]` entry with `extra` settings and (id, unit, profile, poll) devices.
pub fn endpoint(
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
