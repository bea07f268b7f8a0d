//! The demo's greengate configuration: `scripts/demo/greengate.demo.toml.in`
//! (the same template `scripts/demo.sh` fills in) with this run's ports and
//! directories, and the shipped device profiles, written into the data
//! directory so that `greengate run -c <data-dir>/greengate.toml` can later
//! deliver what the outbox holds. Pure text functions, plus [`write`].

use std::path::{Path, PathBuf};

const TEMPLATE: &str = include_str!("../../scripts/demo/greengate.demo.toml.in");

macro_rules! profile {
    ($f:literal) => {
        ($f, include_str!(concat!("../../config/devices/", $f)))
    };
}

/// The shipped device profiles (`config/devices/`), so the demo runs from
/// any directory. A test checks that none is missing.
pub const PROFILES: [(&str, &str); 13] = [
    profile!("cjt188-cold-water.toml"),
    profile!("dlt645-single-phase.toml"),
    profile!("dlt645-three-phase.toml"),
    profile!("modbus-lighting-cabinet.toml"),
    profile!("modbus-noise-rs485.toml"),
    profile!("modbus-water-meter.toml"),
    profile!("mqtt-access-alarm.toml"),
    profile!("mqtt-fiware-noise.toml"),
    profile!("mqtt-line-protocol.toml"),
    profile!("mqtt-parking-bay.toml"),
    profile!("mqtt-street-light.toml"),
    profile!("mqtt-water-meter.toml"),
    profile!("mqtt5-noise-sensor.toml"),
];

/// Where the daemon writes.
#[derive(Debug, Clone, PartialEq)]
pub enum Sink {
    /// InfluxDB 1.x write API.
    V1 { url: String, database: String },
    /// InfluxDB 2.x/3.x or VictoriaMetrics write API.
    V2 {
        url: String,
        org: String,
        bucket: String,
        token: String,
    },
    /// Nothing is delivered: the sink points at a loopback port the demo
    /// holds open without ever answering, so every reading stays in the
    /// outbox (the first write times out; the next try is an hour later).
    OutboxOnly { hold_port: u16 },
}

/// This run's settings for the template.
#[derive(Debug, Clone)]
pub struct Settings {
    pub community: String,
    pub http: std::net::SocketAddr,
    pub data_dir: PathBuf,
    pub mqtt_port: u16,
    /// Ports of the Modbus device servers: noise, water meter, lighting.
    pub modbus_ports: [u16; 3],
    pub sink: Sink,
}

/// A TOML basic string's contents.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn sink_section(sink: &Sink) -> String {
    match sink {
        Sink::V1 { url, database } => format!(
            "[sinks.influxdb]\nurl = \"{}\"\napi = \"v1\"\ndatabase = \"{}\"\nlinger = \"500ms\"\n",
            esc(url),
            esc(database)
        ),
        Sink::V2 {
            url,
            org,
            bucket,
            token,
        } => format!(
            "[sinks.influxdb]\nurl = \"{}\"\napi = \"v2\"\norg = \"{}\"\nbucket = \"{}\"\ntoken = \"{}\"\nlinger = \"500ms\"\n",
            esc(url),
            esc(org),
            esc(bucket),
            esc(token)
        ),
        Sink::OutboxOnly { hold_port } => format!(
            "# Outbox only: this port is held open by the demo and never answers,\n\
             # so nothing leaves the outbox (greengate run -c on this file with a\n\
             # real InfluxDB sink delivers it later).\n\
             [sinks.influxdb]\nurl = \"http://127.0.0.1:{hold_port}\"\napi = \"v2\"\n\
             org = \"demo\"\nbucket = \"demo\"\ntoken = \"outbox-only\"\n\
             timeout = \"1s\"\nretry_min = \"1h\"\nretry_max = \"1h\"\n"
        ),
    }
}

/// The filled-in configuration text.
pub fn render(s: &Settings, devices_dir: &Path) -> String {
    let state = esc(&s.data_dir.display().to_string());
    let mut text = TEMPLATE
        .replace("@COMMUNITY@", &esc(&s.community))
        .replace("127.0.0.1:@HTTP_PORT@", &s.http.to_string())
        .replace("@STATE_DIR@", &state)
        .replace("@DEVICES_DIR@", &esc(&devices_dir.display().to_string()))
        .replace("@MQTT_PORT@", &s.mqtt_port.to_string())
        .replace("@MODBUS_NOISE_PORT@", &s.modbus_ports[0].to_string())
        .replace("@MODBUS_WATER_PORT@", &s.modbus_ports[1].to_string())
        .replace("@MODBUS_LIGHTING_PORT@", &s.modbus_ports[2].to_string());
    // Replace the template's sink section (up to the next table).
    if let Some(a) = text.find("[sinks.influxdb]\n") {
        let b = text[a..]
            .find("\n[indicators]")
            .map_or(text.len(), |i| a + i + 1);
        text.replace_range(a..b, &(sink_section(&s.sink) + "\n"));
    }
    if matches!(s.sink, Sink::OutboxOnly { .. }) {
        // Nothing to drain at shutdown: do not wait for it.
        text = text.replace("shutdown_grace = \"10s\"", "shutdown_grace = \"1s\"");
    }
    text
}

/// Writes the profiles into `<data_dir>/devices` and the configuration into
/// `<data_dir>/greengate.toml`; returns the configuration's path.
pub fn write(s: &Settings) -> std::io::Result<PathBuf> {
    let devices = s.data_dir.join("devices");
    std::fs::create_dir_all(&devices)?;
    for (name, text) in PROFILES {
        std::fs::write(devices.join(name), text)?;
    }
    let path = s.data_dir.join("greengate.toml");
    std::fs::write(&path, render(s, &devices))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(sink: Sink) -> Settings {
        Settings {
            community: "cn-sh-demo-0001".into(),
            http: "127.0.0.1:0".parse().expect("addr"),
            data_dir: PathBuf::from("/tmp/gg \"demo\""),
            mqtt_port: 1883,
            modbus_ports: [5020, 5021, 5022],
            sink,
        }
    }

    #[test]
    fn every_shipped_profile_is_embedded() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/devices");
        let mut shipped: Vec<String> = std::fs::read_dir(dir)
            .expect("config/devices")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".toml"))
            .collect();
        shipped.sort();
        let embedded: Vec<&str> = PROFILES.iter().map(|(n, _)| *n).collect();
        assert_eq!(shipped, embedded);
    }

    #[test]
    fn every_placeholder_is_filled_and_the_sink_replaced() {
        for sink in [
            Sink::OutboxOnly { hold_port: 9 },
            Sink::V1 {
                url: "http://127.0.0.1:8086".into(),
                database: "demo".into(),
            },
        ] {
            let text = render(&settings(sink), Path::new("/d"));
            let unfilled = text
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .any(|l| l.contains('@'));
            assert!(!unfilled, "{text}");
            assert_eq!(text.matches("[sinks.influxdb]").count(), 1, "{text}");
            let t: toml::Table = text.parse().expect("valid TOML");
            assert_eq!(t["outbox"]["dir"].as_str(), Some("/tmp/gg \"demo\"/outbox"));
            assert!(t["indicators"]["enabled"].as_bool().unwrap_or(false));
        }
    }

    #[test]
    fn outbox_only_points_the_sink_at_the_held_port() {
        let t: toml::Table = render(
            &settings(Sink::OutboxOnly { hold_port: 4242 }),
            Path::new("/d"),
        )
        .parse()
        .expect("valid TOML");
        let sink = &t["sinks"]["influxdb"];
        assert_eq!(sink["url"].as_str(), Some("http://127.0.0.1:4242"));
        assert_eq!(sink["retry_min"].as_str(), Some("1h"));
        assert_eq!(t["sinks"]["shutdown_grace"].as_str(), Some("1s"));
    }
}
