//! The whole configuration: every section, loaded and validated at once.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{self, join, Check, Problems, Rebase, Tags, Validate};
use crate::deadletter::DeadLetterConfig;
use crate::devices::Devices;
use crate::indicators::config::IndicatorsConfig;
use crate::outbox::OutboxConfig;
use crate::profiles::config::ProfilesConfig;
use crate::profiles::{CheckRefs, ProfileSet};
use crate::sinks::SinksConfig;
use crate::sources::SourcesConfig;

/// `[site]`: the community this gateway serves.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SiteConfig {
    /// Added as the `community` tag to every reading.
    pub community_id: String,
    /// The site's UTC offset for local days and the 22:00 night boundary
    /// (China: "+08:00", no daylight saving).
    pub utc_offset: String,
    /// Static tags added to every reading.
    pub tags: Tags,
}

impl Default for SiteConfig {
    fn default() -> Self {
        SiteConfig {
            community_id: String::new(),
            utc_offset: "+08:00".into(),
            tags: Tags::default(),
        }
    }
}

/// `site.utc_offset`, parsed (see [`config::UtcOffset`]).
pub use crate::config::UtcOffset;

impl SiteConfig {
    /// Checks the section and returns its UTC offset, parsed once (the
    /// daemon runs from it; nothing parses `utc_offset` again).
    pub fn check(&self, path: &str, cx: &mut Check) -> Option<UtcOffset> {
        if self.community_id.trim().is_empty() {
            cx.problem(
                join(path, "community_id"),
                "must be set (it tags every reading)",
            );
        }
        let offset = self.utc_offset.parse::<UtcOffset>();
        if let Err(e) = &offset {
            cx.problem(join(path, "utc_offset"), e.to_string());
        }
        self.tags.validate(&join(path, "tags"), cx);
        offset.ok()
    }
}

impl Validate for SiteConfig {
    fn validate(&self, path: &str, cx: &mut Check) {
        self.check(path, cx);
    }
}

/// `[log]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    /// `text` (human-readable) or `json`.
    pub format: LogFormat,
    /// A tracing filter: `info`, `greengate=debug,info`, ...
    pub level: String,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

impl Validate for LogConfig {
    fn validate(&self, path: &str, cx: &mut Check) {
        if let Err(e) = self.level.parse::<tracing_subscriber::EnvFilter>() {
            cx.problem(
                join(path, "level"),
                format!("invalid filter {:?}: {e}", self.level),
            );
        }
    }
}

/// `[http]`: the self-monitoring endpoint (its own module, beside its server).
pub use crate::http::config::HttpConfig;

/// The whole configuration, parsed and checked: what `greengate check`
/// reports on is exactly what the daemon runs from. Its paths are resolved
/// (see [`config::Rebase`]) and its parsed values typed (`utc_offset`, the
/// profiles, the MQTT routes), so no configuration error can surface at run
/// time.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub site: SiteConfig,
    pub log: LogConfig,
    pub http: HttpConfig,
    pub outbox: OutboxConfig,
    pub dead_letter: DeadLetterConfig,
    pub profiles: ProfilesConfig,
    pub devices: Devices,
    pub sources: SourcesConfig,
    pub sinks: SinksConfig,
    pub indicators: IndicatorsConfig,
    /// `[store]`: where replay and assessment read the store back.
    pub store: crate::store::StoreConfig,
    /// The config file's directory, against which every relative path in
    /// the sections above was resolved when the file was loaded.
    pub base_dir: PathBuf,
    /// `site.utc_offset`, parsed.
    pub utc_offset: UtcOffset,
    /// The device profiles loaded from `[profiles]`.
    pub profile_set: Arc<ProfileSet>,
}

const SECTIONS: &[&str] = &[
    "site",
    "log",
    "http",
    "outbox",
    "dead_letter",
    "profiles",
    "devices",
    "sources",
    "sinks",
    "indicators",
    "store",
];

impl Config {
    /// Loads `file` with environment overrides and validates everything,
    /// returning every problem found.
    pub fn load(file: &Path) -> Result<Config, Problems> {
        let layers = config::load_layers(file)?;
        let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::from_layers(layers, &base)
    }

    /// Like [`Config::load`], with `vars` in place of the process
    /// environment (see [`config::layers::load_with_env`]).
    pub fn load_with_env(
        file: &Path,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, Problems> {
        let layers = config::layers::load_with_env(file, vars)?;
        let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::from_layers(layers, &base)
    }

    /// Parses and validates an already merged value tree.
    pub fn from_value(root: serde_json::Value, base_dir: &Path) -> Result<Config, Problems> {
        Self::from_layers(
            config::Layers {
                root,
                ..Default::default()
            },
            base_dir,
        )
    }

    /// Parses and validates merged layers (see [`config::layers`]).
    pub fn from_layers(layers: config::Layers, base_dir: &Path) -> Result<Config, Problems> {
        let root = layers.root;
        let mut cx = Check::new(base_dir).with_env(layers.env);
        let mut s = config::sections(root, SECTIONS, &mut cx);
        let site: Option<SiteConfig> = config::section(&mut s, "site", &mut cx);
        let log = config::section(&mut s, "log", &mut cx);
        let http = config::section(&mut s, "http", &mut cx);
        let outbox = config::section(&mut s, "outbox", &mut cx);
        let dead_letter = config::section(&mut s, "dead_letter", &mut cx);
        let profiles = config::section(&mut s, "profiles", &mut cx);
        let devices: Option<Devices> = config::section(&mut s, "devices", &mut cx);
        let sources = config::section(&mut s, "sources", &mut cx);
        let sinks = config::section(&mut s, "sinks", &mut cx);
        let indicators = config::section(&mut s, "indicators", &mut cx);
        let store: Option<crate::store::StoreConfig> = config::section(&mut s, "store", &mut cx);
        // Validate every section that parsed, so one broken section does not
        // hide the problems of the others.
        let utc_offset = site.as_ref().and_then(|s| s.check("site", &mut cx));
        validate_opt(&log, "log", &mut cx);
        validate_opt(&http, "http", &mut cx);
        validate_opt(&outbox, "outbox", &mut cx);
        validate_opt(&dead_letter, "dead_letter", &mut cx);
        validate_opt(&profiles, "profiles", &mut cx);
        validate_opt(&sources, "sources", &mut cx);
        validate_opt(&sinks, "sinks", &mut cx);
        validate_opt(&indicators, "indicators", &mut cx);
        validate_opt(&store, "store", &mut cx);
        // Profiles are loaded (and their files checked) whatever else failed.
        let profile_set = Arc::new(
            profiles
                .as_ref()
                .map(|p| ProfileSet::load(p, &mut cx))
                .unwrap_or_default(),
        );
        if let Some(devices) = &devices {
            for (id, d) in devices {
                d.validate(&join("devices", id), &mut cx);
            }
        }
        let (
            Some(site),
            Some(log),
            Some(http),
            Some(outbox),
            Some(dead_letter),
            Some(profiles),
            Some(devices),
            Some(sources),
            Some(sinks),
            Some(indicators),
            Some(store),
        ) = (
            site,
            log,
            http,
            outbox,
            dead_letter,
            profiles,
            devices,
            sources,
            sinks,
            indicators,
            store,
        )
        else {
            return Err(Problems(cx.problems().to_vec()));
        };
        let mut c = Config {
            site,
            log,
            http,
            outbox,
            dead_letter,
            profiles,
            devices,
            sources,
            sinks,
            indicators,
            store,
            base_dir: base_dir.to_path_buf(),
            // A bad offset is a problem already: this Config is then
            // checked for cross-references only, and never returned.
            utc_offset: utc_offset.unwrap_or_default(),
            profile_set,
        };
        c.check_cross_references(&mut cx);
        cx.into_result()?;
        c.rebase(base_dir);
        Ok(c)
    }
}

impl Rebase for Config {
    /// Every file path of every section, resolved once against the config
    /// file's directory (after validation, whose messages name the paths as
    /// they were written).
    fn rebase(&mut self, base: &Path) {
        self.http.rebase(base);
        self.outbox.rebase(base);
        self.dead_letter.rebase(base);
        self.sources.rebase(base);
        self.sinks.rebase(base);
        self.indicators.rebase(base);
        self.store.rebase(base);
    }
}

fn validate_opt<T: Validate>(t: &Option<T>, path: &str, cx: &mut Check) {
    if let Some(t) = t {
        t.validate(path, cx);
    }
}

impl Config {
    /// Checks that need more than one section: profile references, and
    /// that something is configured to read and to write.
    fn check_cross_references(&mut self, cx: &mut Check) {
        if let Some(m) = &mut self.sources.mqtt {
            m.routes = m.plan("sources.mqtt", &self.profile_set, cx);
        }
        if let Some(m) = &self.sources.modbus {
            m.check_refs("sources.modbus", &self.profile_set, cx);
        }
        if let Some(m) = &self.sources.meters {
            m.check_refs("sources.meters", &self.profile_set, cx);
        }
        for (id, d) in &self.devices {
            if let Some(p) = &d.profile {
                if self.profile_set.get(p).is_none() {
                    cx.problem(
                        join(&join("devices", id), "profile"),
                        format!("no profile named {p:?} is loaded"),
                    );
                }
            }
        }
        if let Some(h) = &self.sources.hj212 {
            for (i, id) in h.devices() {
                if !id.trim().is_empty() && !self.devices.contains_key(id) {
                    cx.problem(
                        format!("sources.hj212.stations[{i}].device"),
                        format!("no device {id:?} in [devices]: add [devices.{id}]"),
                    );
                }
            }
        }
        if self.sources.mqtt.is_none()
            && self.sources.modbus.is_none()
            && self.sources.meters.is_none()
            && self.sources.hj212.is_none()
        {
            cx.problem(
                "sources",
                "no source configured: add [sources.mqtt], [sources.modbus], [sources.meters] or [sources.hj212]",
            );
        }
        if self.sinks.influxdb.is_none() {
            cx.problem("sinks", "no sink configured: add [sinks.influxdb]");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(v: serde_json::Value) -> Vec<String> {
        match Config::from_value(v, Path::new(".")) {
            Ok(_) => vec![],
            Err(p) => p.0.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn unknown_keys_are_reported_with_their_full_path() {
        let p = problems(json!({
            "site": {"community_id": "c", "colour": "green"},
            "devices": {"n1": {"tagz": {"a": "b"}}},
            "nonsense": 1,
        }));
        assert!(p.contains(&"site.colour: unknown key".to_string()), "{p:?}");
        assert!(
            p.contains(&"devices.n1.tagz: unknown key".to_string()),
            "{p:?}"
        );
        assert!(p.contains(&"nonsense: unknown key".to_string()), "{p:?}");
    }

    #[test]
    fn a_type_error_in_one_section_does_not_hide_problems_in_others() {
        let p = problems(json!({
            "site": {"community_id": "c"},
            "http": {"listen": "not an address"},
            "log": {"format": "xml"},
        }));
        assert!(p.iter().any(|s| s.starts_with("http.listen: ")), "{p:?}");
        assert!(p.iter().any(|s| s.starts_with("log.format: ")), "{p:?}");
    }

    #[test]
    fn semantic_problems_are_all_reported() {
        let p = problems(json!({
            "site": {"community_id": "", "utc_offset": "UTC+8"},
            "log": {"level": "loud=="},
        }));
        assert!(
            p.iter().any(|s| s.starts_with("site.community_id: ")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|s| s.starts_with("site.utc_offset: ")),
            "{p:?}"
        );
        assert!(p.iter().any(|s| s.starts_with("log.level: ")), "{p:?}");
        assert!(p.iter().any(|s| s.starts_with("sources: ")), "{p:?}");
        assert!(p.iter().any(|s| s.starts_with("sinks: ")), "{p:?}");
    }
}
