//! Indicator settings: the `[indicators]` section (site-wide thresholds and
//! windows) and the per-device attributes under `[devices.<id>.indicators]`.
//!
//! Every value the domain reference marks **[default]** is a key here, with
//! the default documented in `docs/indicators.md`.

use serde::Deserialize;
use std::time::Duration;

use crate::config::{join, rebase_paths, Check, Rebase, Validate};

/// The longest lateness of a noise window: each open window holds a level
/// histogram, so this bounds the windows kept per sensor.
pub const MAX_NOISE_LATENESS: Duration = Duration::from_secs(86_400);
/// The longest lateness of a water window (a few bytes per interval kept).
pub const MAX_WATER_LATENESS: Duration = Duration::from_secs(7 * 86_400);

/// What advances the indicator watermark.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum WatermarkClock {
    #[default]
    WallClock,
    EventTime,
}

/// The `[indicators]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct IndicatorsConfig {
    /// Compute indicators at all.
    pub enabled: bool,
    /// How long after a window's end readings for it are still accepted
    /// (event time). Later readings are counted and dropped.
    #[serde(deserialize_with = "crate::config::duration")]
    pub allowed_lateness: Duration,
    /// Readings stamped further than this ahead of the wall clock are dropped.
    #[serde(deserialize_with = "crate::config::duration")]
    pub max_clock_skew: Duration,
    /// What drives the watermark: `wall_clock` (production: windows close
    /// by the gateway's clock) or `event_time` (only the newest accepted
    /// reading moves it, never the wall clock: for ingesting a past day,
    /// replays and accelerated simulations; see `super::event_clock`).
    pub watermark: WatermarkClock,
    /// The infrastructure interval (water, lighting, parking, security,
    /// health); must divide a day.
    #[serde(deserialize_with = "crate::config::duration")]
    pub interval: Duration,
    /// Local start of the day period ("06:00"): also where a noise day begins.
    pub day_start: String,
    /// Local start of the night period ("22:00").
    pub night_start: String,
    /// Days of daily results kept for `assess`.
    pub history_days: u32,
    /// Where the engine state is checkpointed (the lead's wiring saves here).
    pub checkpoint_path: Option<std::path::PathBuf>,
    #[serde(deserialize_with = "crate::config::duration")]
    pub checkpoint_interval: Duration,
    pub noise: NoiseConfig,
    pub water: WaterConfig,
    pub lighting: LightingConfig,
    pub parking: ParkingConfig,
    pub security: SecurityConfig,
    pub assess: AssessConfig,
}

impl Default for IndicatorsConfig {
    fn default() -> Self {
        IndicatorsConfig {
            enabled: true,
            allowed_lateness: Duration::from_secs(120),
            max_clock_skew: Duration::from_secs(600),
            watermark: WatermarkClock::WallClock,
            interval: Duration::from_secs(3600),
            day_start: "06:00".into(),
            night_start: "22:00".into(),
            history_days: 62,
            checkpoint_path: None,
            checkpoint_interval: Duration::from_secs(60),
            noise: NoiseConfig::default(),
            water: WaterConfig::default(),
            lighting: LightingConfig::default(),
            parking: ParkingConfig::default(),
            security: SecurityConfig::default(),
            assess: AssessConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct NoiseConfig {
    /// Expected spacing of a sensor's samples (the "samples due" of the
    /// valid-data rate); a device may override it.
    #[serde(deserialize_with = "crate::config::duration")]
    pub sample_interval: Duration,
    /// A minute or hour is valid at this coverage (0..1).
    pub valid_coverage: f64,
    pub min_valid_day_hours: u32,
    pub min_valid_night_hours: u32,
    /// Night sudden noise: Lmax above the night limit by more than this.
    pub sudden_margin_db: f64,
    /// Indoor measurements are judged against limit minus this.
    pub indoor_offset_db: f64,
    /// How long after a noise window ends its readings are still accepted;
    /// by default `allowed_lateness`. Noise windows are emitted once, when
    /// this has passed.
    #[serde(default, deserialize_with = "crate::config::opt_duration")]
    pub lateness: Option<Duration>,
}

impl Default for NoiseConfig {
    fn default() -> Self {
        NoiseConfig {
            sample_interval: Duration::from_secs(1),
            valid_coverage: 0.75,
            min_valid_day_hours: 12,
            min_valid_night_hours: 6,
            sudden_margin_db: 15.0,
            indoor_offset_db: 10.0,
            lateness: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct WaterConfig {
    /// Minimum-night-flow window, local time.
    pub night_flow_start: String,
    pub night_flow_end: String,
    /// Legitimate night use subtracted from the minimum night flow.
    pub legit_night_use_l_per_conn_h: f64,
    /// Alarm when the corrected night flow rises this many nights in a row.
    pub rising_nights: u32,
    /// A household meter that never reaches zero flow at night this many
    /// nights in a row is flagged as a persistent leak.
    pub leak_nights: u32,
    /// A drop in a cumulative total larger than this fraction is a reset.
    pub reset_drop_fraction: f64,
    /// Balance loss % above which a district is flagged for checking / alarmed.
    pub loss_check_pct: f64,
    pub loss_alarm_pct: f64,
    /// GB/T 50331-2002 zone (1..6) for the per-capita range.
    pub per_capita_zone: u8,
    /// Overrides the zone's range, L/(person·day), as [low, high].
    pub per_capita_range: Option<[f64; 2]>,
    /// How long after a water window ends a meter's readings still count:
    /// NB-IoT and LoRaWAN meters upload a day of totals at once. Windows
    /// are emitted once `allowed_lateness` has passed and again whenever a
    /// later reading within this changes them (same time and tags: the
    /// store overwrites the point).
    #[serde(deserialize_with = "crate::config::duration")]
    pub lateness: Duration,
}

impl Default for WaterConfig {
    fn default() -> Self {
        WaterConfig {
            night_flow_start: "02:00".into(),
            night_flow_end: "04:00".into(),
            legit_night_use_l_per_conn_h: 3.0,
            rising_nights: 3,
            leak_nights: 3,
            reset_drop_fraction: 0.10,
            loss_check_pct: 10.0,
            loss_alarm_pct: 20.0,
            per_capita_zone: 2,
            per_capita_range: None,
            lateness: Duration::from_secs(26 * 3600),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LightingConfig {
    /// Scheduled on-period, local time (may cross midnight).
    pub on_time: String,
    pub off_time: String,
    /// Commanded on with power below this fraction of rated power is a fault.
    pub fault_power_fraction: f64,
    /// Target 亮灯率 in % (criterion 6).
    pub target_lit_rate_pct: f64,
    /// A lamp's last reported state is held this long after its reading.
    #[serde(deserialize_with = "crate::config::duration")]
    pub hold: Duration,
}

impl Default for LightingConfig {
    fn default() -> Self {
        LightingConfig {
            on_time: "18:00".into(),
            off_time: "06:00".into(),
            fault_power_fraction: 0.15,
            target_lit_rate_pct: 97.0,
            hold: Duration::from_secs(900),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ParkingConfig {
    /// A fire lane must be occupied this long before an event opens.
    #[serde(deserialize_with = "crate::config::duration")]
    pub fire_lane_dwell: Duration,
    /// An open event closes after the lane has been clear this long.
    #[serde(deserialize_with = "crate::config::duration")]
    pub fire_lane_clear: Duration,
}

impl Default for ParkingConfig {
    fn default() -> Self {
        ParkingConfig {
            fire_lane_dwell: Duration::from_secs(120),
            fire_lane_clear: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SecurityConfig {
    /// A device without a heartbeat (or any reading) for this long is offline.
    #[serde(deserialize_with = "crate::config::duration")]
    pub heartbeat_timeout: Duration,
    /// Alarm response (alarm → ack) target.
    #[serde(deserialize_with = "crate::config::duration")]
    pub response_target: Duration,
    /// Alarm handling (alarm → clear) target.
    #[serde(deserialize_with = "crate::config::duration")]
    pub handling_target: Duration,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            heartbeat_timeout: Duration::from_secs(300),
            response_target: Duration::from_secs(5),
            handling_target: Duration::from_secs(1800),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AssessConfig {
    /// Criteria 4 and 11: minimum device online rate, %.
    pub min_online_pct: f64,
    /// Criterion 10: minimum point-day compliance rate (day and night), %.
    pub min_noise_compliance_pct: f64,
    /// Criterion 11: minimum share of alarms answered within target, %.
    pub min_response_share_pct: f64,
    /// Criterion 12: households under property management / total.
    pub managed_households: Option<u32>,
    pub total_households: Option<u32>,
    /// Criterion 12 threshold, %.
    pub min_managed_pct: f64,
}

impl Default for AssessConfig {
    fn default() -> Self {
        AssessConfig {
            min_online_pct: 90.0,
            min_noise_compliance_pct: 90.0,
            min_response_share_pct: 90.0,
            managed_households: None,
            total_households: None,
            min_managed_pct: 30.0,
        }
    }
}

/// Parses a local "HH:MM" into minutes after midnight.
pub fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

fn check_hhmm(path: &str, key: &str, v: &str, cx: &mut Check) {
    if parse_hhmm(v).is_none() {
        cx.problem(
            join(path, key),
            format!("expected a local time \"HH:MM\", got {v:?}"),
        );
    }
}

fn check_fraction(path: &str, key: &str, v: f64, cx: &mut Check) {
    if !(v > 0.0 && v <= 1.0) {
        cx.problem(join(path, key), format!("must be in (0, 1], got {v}"));
    }
}

impl Rebase for IndicatorsConfig {
    fn rebase(&mut self, base: &std::path::Path) {
        rebase_paths([&mut self.checkpoint_path], base);
    }
}

impl Validate for IndicatorsConfig {
    fn validate(&self, path: &str, cx: &mut Check) {
        let secs = self.interval.as_secs();
        if secs < 60 || 86_400 % secs != 0 || self.interval.subsec_nanos() != 0 {
            cx.problem(
                join(path, "interval"),
                "must be whole minutes that divide a day (e.g. \"15m\", \"1h\")",
            );
        }
        check_hhmm(path, "day_start", &self.day_start, cx);
        check_hhmm(path, "night_start", &self.night_start, cx);
        if let (Some(d), Some(n)) = (parse_hhmm(&self.day_start), parse_hhmm(&self.night_start)) {
            if d == n {
                cx.problem(join(path, "night_start"), "must differ from day_start");
            }
        }
        if self.history_days == 0 {
            cx.problem(join(path, "history_days"), "must be at least 1");
        }
        let p = join(path, "noise");
        if self.noise.sample_interval.is_zero() {
            cx.problem(join(&p, "sample_interval"), "must be positive");
        }
        check_fraction(&p, "valid_coverage", self.noise.valid_coverage, cx);
        if matches!(self.noise.lateness, Some(l) if l > MAX_NOISE_LATENESS) {
            cx.problem(join(&p, "lateness"), "must be at most 1 day");
        }
        let p = join(path, "water");
        check_hhmm(&p, "night_flow_start", &self.water.night_flow_start, cx);
        check_hhmm(&p, "night_flow_end", &self.water.night_flow_end, cx);
        check_fraction(
            &p,
            "reset_drop_fraction",
            self.water.reset_drop_fraction,
            cx,
        );
        if self.water.lateness > MAX_WATER_LATENESS {
            cx.problem(join(&p, "lateness"), "must be at most 7 days");
        }
        if !(1..=6).contains(&self.water.per_capita_zone) {
            cx.problem(join(&p, "per_capita_zone"), "must be 1 to 6 (GB/T 50331)");
        }
        if let Some([lo, hi]) = self.water.per_capita_range {
            if !(lo >= 0.0 && hi > lo) {
                cx.problem(
                    join(&p, "per_capita_range"),
                    "expected [low, high], low < high",
                );
            }
        }
        let p = join(path, "lighting");
        check_hhmm(&p, "on_time", &self.lighting.on_time, cx);
        check_hhmm(&p, "off_time", &self.lighting.off_time, cx);
        check_fraction(
            &p,
            "fault_power_fraction",
            self.lighting.fault_power_fraction,
            cx,
        );
        let a = &self.assess;
        if let (Some(m), Some(t)) = (a.managed_households, a.total_households) {
            if m > t {
                cx.problem(
                    join(path, "assess.managed_households"),
                    "cannot exceed total_households",
                );
            }
        }
    }
}

pub use crate::devices::{DeviceAttributes, MeterReplacement, ZONE_CLASSES};
