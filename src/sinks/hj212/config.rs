//! `[sinks.hj212]`: the environmental platforms that receive noise
//! indicators in HJ 212, one `[[sinks.hj212.platforms]]` each. No I/O beyond
//! validation, which reads a `pw_file` once so a typo is reported by
//! `greengate check`.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{join, rebase_paths, Check, Rebase, Secret, SecretSource, Validate};
use crate::pipeline::Route;
use crate::protocols::hj212::{frame::MAX_SEGMENT, Crc};

/// `[sinks.hj212]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Hj212Config {
    pub platforms: Vec<PlatformConfig>,
}

impl Rebase for Hj212Config {
    fn rebase(&mut self, base: &Path) {
        rebase_paths(self.platforms.iter_mut().map(|p| &mut p.pw_file), base);
    }
}

/// Which CRC the platform writes and checks (protocols.md: three variants
/// seen in real traffic).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrcSetting {
    #[default]
    Standard,
    ModbusHighFirst,
    ModbusLowFirst,
}

impl CrcSetting {
    pub fn crc(self) -> Crc {
        match self {
            CrcSetting::Standard => Crc::Standard,
            CrcSetting::ModbusHighFirst => Crc::ModbusHighFirst,
            CrcSetting::ModbusLowFirst => Crc::ModbusLowFirst,
        }
    }
}

/// How day data (CN 2031) is coded: platforms differ (protocols.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayCoding {
    /// `Ld-DayData`, `Ln-NightData`, `Ldn-Data` (the default).
    #[default]
    DayNight,
    /// `Ld-Data`, `Ln-Data`, `Ldn-Data`.
    Data,
}

/// The factor code sent for each indicator field; an empty code leaves the
/// field out. Defaults: the 2017 noise codes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Factors {
    pub leq: String,
    pub l5: String,
    pub l10: String,
    pub l50: String,
    pub l90: String,
    pub l95: String,
    pub lmax: String,
    pub lmin: String,
    pub ld: String,
    pub ln: String,
    pub ldn: String,
    /// Real-time A-weighted level (CN 2011, `LA-Rtd`).
    pub la: String,
}

impl Default for Factors {
    fn default() -> Self {
        let s = |v: &str| v.to_string();
        Factors {
            leq: s("Leq"),
            l5: String::new(),
            l10: s("L10"),
            l50: s("L50"),
            l90: s("L90"),
            l95: String::new(),
            lmax: s("LMx"),
            lmin: s("LMn"),
            ld: s("Ld"),
            ln: s("Ln"),
            ldn: s("Ldn"),
            la: s("LA"),
        }
    }
}

impl Factors {
    /// (indicator field, factor code) of the interval (minute, hour) values.
    pub fn interval(&self) -> [(&'static str, &str); 8] {
        [
            ("leq", &self.leq),
            ("l5", &self.l5),
            ("l10", &self.l10),
            ("l50", &self.l50),
            ("l90", &self.l90),
            ("l95", &self.l95),
            ("lmax", &self.lmax),
            ("lmin", &self.lmin),
        ]
    }

    fn all(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.interval().into_iter().chain([
            ("ld", self.ld.as_str()),
            ("ln", self.ln.as_str()),
            ("ldn", self.ldn.as_str()),
            ("la", self.la.as_str()),
        ])
    }
}

/// `[[sinks.hj212.platforms]]`: one environmental platform.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct PlatformConfig {
    /// Names the outbox (`<outbox.dir>/hj212-<name>`), metrics and logs.
    pub name: String,
    /// `host:port` of the platform's HJ 212 server.
    pub address: String,
    /// The access password (PW), inline or as `pw_file`; never logged.
    pub pw: Option<Secret>,
    pub pw_file: Option<PathBuf>,
    /// System code (ST): 23 acoustic environment quality, 36 noise sources.
    pub st: u16,
    /// Flag bits 7..2 (1 = HJ 212-2017).
    pub flag_version: u8,
    /// Flag bit 0: the platform answers every upload with 9014, and a
    /// record leaves the outbox only after its answer.
    pub answers: bool,
    pub crc: CrcSetting,
    /// Answer timeout (OverTime) and retries (ReCount) before reconnecting;
    /// the platform may change both with CN 1000.
    #[serde(deserialize_with = "crate::config::duration")]
    pub over_time: Duration,
    pub re_count: u32,
    /// Reconnect delay after an error; doubles (jittered) up to `retry_max`.
    #[serde(deserialize_with = "crate::config::duration")]
    pub retry: Duration,
    #[serde(deserialize_with = "crate::config::duration")]
    pub retry_max: Duration,
    #[serde(deserialize_with = "crate::config::duration")]
    pub connect_timeout: Duration,
    /// Uploads longer than this are split into packets (PNUM/PNO).
    pub max_segment: usize,
    /// Which windows are sent: minute (2051), hour (2061), day (2031).
    pub minute: bool,
    pub hour: bool,
    pub day: bool,
    /// Real-time data (2011) from raw readings of `realtime_measurement`
    /// (field `laeq`), at most one per `rtd_interval` per point.
    pub realtime: bool,
    pub realtime_measurement: String,
    #[serde(deserialize_with = "crate::config::duration")]
    pub rtd_interval: Duration,
    pub day_coding: DayCoding,
    pub factors: Factors,
    /// Noise device id → the MN the platform registered for that point.
    pub points: BTreeMap<String, String>,
}

impl Default for PlatformConfig {
    fn default() -> Self {
        PlatformConfig {
            name: String::new(),
            address: String::new(),
            pw: None,
            pw_file: None,
            st: 23,
            flag_version: 1,
            answers: true,
            crc: CrcSetting::Standard,
            over_time: Duration::from_secs(5),
            re_count: 3,
            retry: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            max_segment: 1024,
            minute: true,
            hour: true,
            day: true,
            realtime: false,
            realtime_measurement: "noise".into(),
            rtd_interval: Duration::from_secs(30),
            day_coding: DayCoding::DayNight,
            factors: Factors::default(),
            points: BTreeMap::new(),
        }
    }
}

/// Text that may go into a header field or a CP key/value unchanged.
fn wire_safe(s: &str) -> bool {
    !s.is_empty() && s.trim() == s && !s.contains([';', ',', '=', '&', '\r', '\n'])
}

impl PlatformConfig {
    /// The sink name: outbox directory, metrics label, log field.
    pub fn sink_name(&self) -> String {
        format!("hj212-{}", self.name)
    }

    /// The measurements this platform's outbox receives.
    pub fn route(&self) -> Route {
        let mut only: Vec<String> = [
            (self.minute, "gg_noise_minute"),
            (self.hour, "gg_noise_hour"),
            (self.day, "gg_noise_day"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, m)| m.to_string())
        .collect();
        if self.realtime {
            only.push(self.realtime_measurement.clone());
        }
        Route::Measurements {
            prefixes: Vec::new(),
            only,
        }
    }

    /// The PW, from `pw` or `pw_file` (read now, relative to `base_dir`;
    /// the daemon passes `""`: `Config::load` resolved the path already).
    pub fn resolve_pw(&self, base_dir: &Path) -> Result<Secret, String> {
        let mut cx = Check::new(base_dir);
        let pw = self.pw_source().resolve("", &mut cx);
        match (pw, cx.problems().first()) {
            (Some(pw), None) => Ok(pw),
            (_, Some(p)) => Err(p.to_string()),
            (None, None) => Err("pw: missing".into()),
        }
    }

    fn pw_source(&self) -> SecretSource<'_> {
        SecretSource {
            key: "pw",
            value: &self.pw,
            file: &self.pw_file,
        }
    }
}

impl Validate for Hj212Config {
    fn validate(&self, path: &str, cx: &mut Check) {
        let key = join(path, "platforms");
        if self.platforms.is_empty() {
            cx.problem(&key, "empty: add a [[sinks.hj212.platforms]] per platform");
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, p) in self.platforms.iter().enumerate() {
            let at = format!("{key}[{i}]");
            if !p.name.is_empty() && !seen.insert(p.name.as_str()) {
                cx.problem(join(&at, "name"), format!("{:?} is used twice", p.name));
            }
            p.validate(&at, cx);
        }
    }
}

impl Validate for PlatformConfig {
    fn validate(&self, path: &str, cx: &mut Check) {
        let key = |k: &str| join(path, k);
        let name_ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if self.name.is_empty() || !self.name.chars().all(name_ok) {
            cx.problem(
                key("name"),
                format!("expected letters, digits, - or _, got {:?}", self.name),
            );
        }
        match self.address.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0) => {}
            _ => cx.problem(
                key("address"),
                format!("expected host:port, got {:?}", self.address),
            ),
        }
        match self.pw_source().resolve(path, cx) {
            Some(pw) if !wire_safe(pw.expose()) => cx.problem(
                key("pw"),
                "must not be empty nor hold ; , = & spaces at its ends or line breaks",
            ),
            Some(_) => {}
            None if self.pw_file.is_none() => cx.problem(key("pw"), "missing: set pw or pw_file"),
            None => {}
        }
        if !(1..=999).contains(&self.st) {
            cx.problem(key("st"), format!("expected 1..=999, got {}", self.st));
        }
        if self.flag_version > 63 {
            cx.problem(
                key("flag_version"),
                format!(
                    "expected 0..=63 (Flag bits 7..2), got {}",
                    self.flag_version
                ),
            );
        }
        if self.over_time.is_zero() {
            cx.problem(key("over_time"), "must be more than 0");
        }
        if self.re_count > 100 {
            cx.problem(key("re_count"), "expected at most 100");
        }
        if self.retry.is_zero() {
            cx.problem(key("retry"), "must be more than 0");
        }
        if self.retry_max < self.retry {
            cx.problem(key("retry_max"), "must be at least retry");
        }
        if self.connect_timeout.is_zero() {
            cx.problem(key("connect_timeout"), "must be more than 0");
        }
        if !(200..=MAX_SEGMENT).contains(&self.max_segment) {
            cx.problem(
                key("max_segment"),
                format!("expected 200..={MAX_SEGMENT}, got {}", self.max_segment),
            );
        }
        if !(self.minute || self.hour || self.day || self.realtime) {
            cx.problem(
                key("minute"),
                "minute, hour, day and realtime are all false: nothing would be sent",
            );
        }
        if self.realtime && self.realtime_measurement.trim().is_empty() {
            cx.problem(key("realtime_measurement"), "empty measurement name");
        }
        if self.rtd_interval.as_secs() == 0 {
            cx.problem(key("rtd_interval"), "must be at least 1s");
        }
        for (field, code) in self.factors.all() {
            let bad = code.contains(|c: char| c == '-' || c.is_whitespace());
            if !code.is_empty() && (!wire_safe(code) || bad) {
                cx.problem(
                    join(&key("factors"), field),
                    format!("{code:?} is not a factor code (no - ; , = & or spaces)"),
                );
            }
        }
        if self.points.is_empty() {
            cx.problem(
                key("points"),
                "empty: map each noise device id to the MN the platform registered",
            );
        }
        for (device, mn) in &self.points {
            if !wire_safe(mn) || mn.len() > 24 {
                cx.problem(
                    join(&key("points"), device),
                    format!("{mn:?} is not an MN (at most 24 characters, no ; , = & or spaces)"),
                );
            }
        }
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
