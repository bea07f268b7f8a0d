//! `[sinks.city]`: the city northbound. Which indicator measurements go to
//! the city platform, and the InfluxDB endpoint that receives them. No I/O.

use serde::Deserialize;

use crate::config::{join, Check, Rebase, Validate};
use crate::pipeline::Route;
use crate::sinks::influxdb::config::InfluxDbConfig;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct CityConfig {
    /// Measurements starting with one of these go north (default: every
    /// indicator, `["gg_"]`). Raw device readings never have the `gg_` prefix.
    pub measurement_prefixes: Vec<String>,
    /// When not empty, exactly these measurements go north and
    /// `measurement_prefixes` is ignored (e.g. only the hourly and daily
    /// rollups: `["gg_noise_hour", "gg_noise_day", "gg_water_day"]`).
    pub only: Vec<String>,
    /// The city platform's store (same keys as `[sinks.influxdb]`).
    pub influxdb: Option<InfluxDbConfig>,
    /// Or the city platform's MQTT broker (exactly one of the two).
    pub mqtt: Option<super::mqtt::CityMqttConfig>,
}

impl Default for CityConfig {
    fn default() -> Self {
        CityConfig {
            measurement_prefixes: vec!["gg_".into()],
            only: Vec::new(),
            influxdb: None,
            mqtt: None,
        }
    }
}

impl CityConfig {
    /// The pipeline route of the city outbox (droppable: see `pipeline`).
    pub fn route(&self) -> Route {
        Route::Measurements {
            prefixes: self.measurement_prefixes.clone(),
            only: self.only.clone(),
        }
    }
}

impl Rebase for CityConfig {
    fn rebase(&mut self, base: &std::path::Path) {
        self.influxdb.rebase(base);
        self.mqtt.rebase(base);
    }
}

impl Validate for CityConfig {
    fn validate(&self, path: &str, cx: &mut Check) {
        if self.only.is_empty() && self.measurement_prefixes.is_empty() {
            cx.problem(
                join(path, "measurement_prefixes"),
                "empty: nothing would be forwarded (set prefixes like [\"gg_\"] or `only`)",
            );
        }
        for (i, p) in self.measurement_prefixes.iter().enumerate() {
            if p.is_empty() {
                cx.problem(
                    format!("{}[{i}]", join(path, "measurement_prefixes")),
                    "an empty prefix would forward every raw reading",
                );
            }
        }
        for (i, m) in self.only.iter().enumerate() {
            if m.trim().is_empty() {
                cx.problem(
                    format!("{}[{i}]", join(path, "only")),
                    "empty measurement name",
                );
            }
        }
        match (&self.influxdb, &self.mqtt) {
            (Some(s), None) => s.validate(&join(path, "influxdb"), cx),
            (None, Some(m)) => m.validate(&join(path, "mqtt"), cx),
            (None, None) => cx.problem(
                join(path, "influxdb"),
                "missing: add [sinks.city.influxdb] (or [sinks.city.mqtt]) with the city platform's endpoint",
            ),
            (Some(_), Some(_)) => cx.problem(
                path,
                "set one of [sinks.city.influxdb] and [sinks.city.mqtt], not both",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn problems(v: serde_json::Value) -> Vec<String> {
        let c: CityConfig = serde_json::from_value(v).unwrap();
        let mut cx = Check::new(Path::new("."));
        c.validate("sinks.city", &mut cx);
        cx.problems().iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn default_route_forwards_indicators_and_not_raw_readings() {
        let r = CityConfig::default().route();
        assert!(r.accepts("gg_noise_hour"));
        assert!(!r.accepts("noise"));
        assert!(r.droppable());
    }

    #[test]
    fn only_list_replaces_the_prefixes() {
        let c: CityConfig =
            serde_json::from_value(serde_json::json!({"only": ["gg_noise_hour"]})).unwrap();
        let r = c.route();
        assert!(r.accepts("gg_noise_hour"));
        assert!(!r.accepts("gg_noise_minute"));
    }

    #[test]
    fn empty_prefix_and_missing_store_are_reported_with_their_paths() {
        let p = problems(serde_json::json!({"measurement_prefixes": ["gg_", ""]}));
        assert!(
            p.iter()
                .any(|s| s.starts_with("sinks.city.measurement_prefixes[1]: ")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|s| s.starts_with("sinks.city.influxdb: ")),
            "{p:?}"
        );
    }
}
