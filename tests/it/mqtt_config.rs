//! The `[profiles]` and `[sources.mqtt]` sections through the whole config
//! loader. Their mistakes (every problem at once, each with its key path or
//! profile file) are fixture folders under `tests/fixtures/config-errors/`.

use greengate::app::config::Config;

fn devices(dir: &std::path::Path) {
    let d = dir.join("devices");
    std::fs::create_dir_all(&d).unwrap();
    for f in ["mqtt-fiware-noise.toml", "mqtt-line-protocol.toml"] {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("config/devices")
            .join(f);
        std::fs::copy(src, d.join(f)).unwrap();
    }
}

const GOOD: &str = r#"
[site]
community_id = "green-garden"

[profiles]
dirs = ["devices"]

[sources.mqtt]
host = "127.0.0.1"
port = 1883
client_id = "greengate-gw1"
password_file = "secrets/mqtt-password"
username = "greengate"

[[sources.mqtt.subscriptions]]
filter = "community/+site/noise/+device/up"
profile = "fiware-noise"
tags = { zone = "north" }

[[sources.mqtt.subscriptions]]
filter = "community/+site/lp/+device"
profile = "line-protocol"

[sinks.influxdb]
url = "http://127.0.0.1:8086"
org = "o"
bucket = "b"
token = "t"
"#;

#[test]
fn a_valid_mqtt_config_loads_with_its_profiles_and_resolved_files() {
    let dir = tempfile::tempdir().unwrap();
    devices(dir.path());
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    std::fs::write(dir.path().join("secrets/mqtt-password"), "s3cret\n").unwrap();
    let file = dir.path().join("greengate.toml");
    std::fs::write(&file, GOOD).unwrap();
    let cfg = Config::load(&file).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.profile_set.profiles.len(), 2);
    let mqtt = cfg.sources.mqtt.expect("mqtt section");
    assert_eq!(mqtt.password().unwrap().unwrap().expose(), "s3cret");
    assert!(greengate::sources::mqtt::options(&mqtt).is_ok());
}
