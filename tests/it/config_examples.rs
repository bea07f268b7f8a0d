//! Docs that cannot drift: every config file shipped under `config/` loads.

use greengate::app::Config;

fn toml_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            toml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "toml") {
            out.push(p);
        }
    }
}

#[test]
fn every_shipped_main_config_is_valid() {
    let mut files = Vec::new();
    toml_files(std::path::Path::new("config"), &mut files);
    let mains: Vec<_> = files
        .iter()
        .filter(|p| p.parent() == Some(std::path::Path::new("config")))
        .collect();
    assert!(!mains.is_empty());
    for f in mains {
        if let Err(p) = Config::load(f) {
            panic!("{}:\n{p}", f.display());
        }
    }
}

#[test]
fn every_shipped_device_profile_is_loaded_by_the_example_config() {
    let cfg = Config::load(std::path::Path::new("config/greengate.example.toml"))
        .unwrap_or_else(|p| panic!("{p}"));
    let mut files = Vec::new();
    toml_files(std::path::Path::new("config/devices"), &mut files);
    assert!(
        files.len() >= 5,
        "expected a profile per device class, found {files:?}"
    );
    assert_eq!(
        cfg.profile_set.profiles.len(),
        files.len(),
        "each file under config/devices is one profile"
    );
}

#[test]
fn environment_overrides_scalars() {
    // GREENGATE__SITE__COMMUNITY_ID overrides [site] community_id. The
    // variables are passed to the loader, not set in the process: other
    // tests run on other threads.
    // String keys keep the text as written (`0001`, not the number 1);
    // number keys convert it.
    let vars = [
        ("GREENGATE__SITE__COMMUNITY_ID", "0001"),
        ("GREENGATE__SINKS__INFLUXDB__TOKEN", "true"),
        ("GREENGATE__SOURCES__MQTT__PORT", "18830"),
    ];
    let cfg = Config::load_with_env(
        std::path::Path::new("config/greengate.example.toml"),
        vars.map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let cfg = cfg.unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(cfg.site.community_id, "0001");
    let influx = cfg
        .sinks
        .influxdb
        .expect("the example has an influxdb sink");
    assert_eq!(
        influx.token.map(|t| t.expose().to_string()).as_deref(),
        Some("true")
    );
    assert_eq!(cfg.sources.mqtt.expect("mqtt").port, 18830);
}

/// The compose stack's greengate config (deploy/compose) with its container
/// profile path pointed at the repository's profiles: every other key must
/// load, so the deploy kit cannot drift from the code.
#[test]
fn the_compose_stack_config_is_valid() {
    let text = std::fs::read_to_string("deploy/compose/greengate/greengate.toml").unwrap();
    assert!(text.contains("/etc/greengate/devices"));
    let repo = std::env::current_dir().unwrap().join("config/devices");
    let text = text.replace("/etc/greengate/devices", &repo.display().to_string());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("greengate.toml");
    std::fs::write(&path, text).unwrap();
    if let Err(p) = Config::load(&path) {
        panic!("deploy/compose/greengate/greengate.toml:\n{p}");
    }
}
