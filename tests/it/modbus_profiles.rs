//! Every shipped Modbus register-map profile parses and validates, and its
//! poll plan stays small (so the docs and files cannot drift).

use crate::modbus_support;

use std::time::Duration;

use greengate::sources::modbus::config::DeviceConfig;
use greengate::sources::modbus::device::Device;

#[test]
fn every_shipped_modbus_profile_validates_and_plans_few_requests() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/devices");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        if !name.starts_with("modbus-") || path.extension().map_or(true, |e| e != "toml") {
            continue;
        }
        let v = greengate::config::read_toml_file(&path).unwrap();
        assert_eq!(
            v["name"].as_str(),
            Some(name.as_str()),
            "{name}: `name` must match the file name"
        );
        assert!(
            v["class"].as_str().is_some_and(|c| !c.is_empty()),
            "{name}: needs a class"
        );
        let profile = modbus_support::shipped_profile(&name);
        let cfg = DeviceConfig {
            id: "d".into(),
            poll_interval: Duration::from_secs(1),
            ..DeviceConfig::default()
        };
        let backoff =
            greengate::backoff::Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let dev = Device::new(&cfg, &profile, backoff, tokio::time::Instant::now(), 0.0).unwrap();
        let fields = dev.specs.len();
        assert!(
            dev.requests_per_cycle() < fields.max(2),
            "{name}: {} requests for {fields} fields",
            dev.requests_per_cycle()
        );
        seen += 1;
    }
    assert!(
        seen >= 3,
        "expected the shipped Modbus profiles in {}",
        dir.display()
    );
}

#[test]
fn readme_sample_config_validates_against_the_shipped_profiles() {
    use greengate::config::Check;
    use greengate::profiles::CheckRefs;
    let readme = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/sources/modbus/README.md"),
    )
    .unwrap();
    let start = readme.find("```toml\n").unwrap() + 8;
    let end = start + readme[start..].find("```").unwrap();
    let v: toml::Value = toml::from_str(&readme[start..end]).unwrap();
    let mut cx = Check::new(".");
    let json = serde_json::to_value(&v["sources"]["modbus"]).unwrap();
    let cfg: greengate::sources::modbus::config::ModbusConfig =
        greengate::config::parse_value(json, "sources.modbus", &mut cx).unwrap();
    greengate::config::Validate::validate(&cfg, "sources.modbus", &mut cx);
    let profiles = modbus_support::profile_set(
        [
            "modbus-noise-rs485",
            "modbus-water-meter",
            "modbus-lighting-cabinet",
        ]
        .map(modbus_support::shipped_profile)
        .to_vec(),
    );
    cfg.check_refs("sources.modbus", &profiles, &mut cx);
    assert!(cx.problems().is_empty(), "{:?}", cx.problems());
    assert_eq!(cfg.endpoints.len(), 2);
}
