//! Daily patterns of the five device classes: pure state machines stepped
//! by simulated time (`hour` = local time of day in Asia/Shanghai, `dt` =
//! simulated seconds since the last step). No I/O, no clock: the same
//! model feeds the MQTT payloads and the Modbus register images.
//!
//! Every `step` returns canonical values (the field names and units of
//! `docs/data-model.md`); the payload and register encoders translate them
//! into what a real device of that model would send.

use fastrand::Rng;

/// A canonical field value.
#[derive(Debug, Clone, PartialEq)]
pub enum V {
    F(f64),
    B(bool),
    I(i64),
    S(String),
}

impl V {
    pub fn as_f64(&self) -> f64 {
        match self {
            V::F(x) => *x,
            V::B(b) => f64::from(u8::from(*b)),
            V::I(i) => *i as f64,
            V::S(_) => 0.0,
        }
    }
}

/// Canonical field name → value, as one device reading.
pub type Values = Vec<(&'static str, V)>;

pub fn get<'a>(v: &'a Values, name: &str) -> Option<&'a V> {
    v.iter().find(|(k, _)| *k == name).map(|(_, x)| x)
}

/// Linear interpolation in a 24-entry hourly table (wraps at midnight).
pub fn hourly(table: &[f64; 24], hour: f64) -> f64 {
    let h = hour.rem_euclid(24.0);
    let i = h.floor() as usize % 24;
    let f = h - h.floor();
    table[i] * (1.0 - f) + table[(i + 1) % 24] * f
}

/// Probability that an event with `per_hour` rate happens within `dt` seconds.
pub fn chance(per_hour: f64, dt: f64) -> f64 {
    1.0 - (-per_hour * dt.max(0.0) / 3600.0).exp()
}

/// A roughly normal deviate (sum of four uniforms), mean 0, sd ≈ `sd`.
pub fn jitter(rng: &mut Rng, sd: f64) -> f64 {
    let s: f64 = (0..4).map(|_| rng.f64()).sum::<f64>() - 2.0;
    s * sd * 1.732
}

pub(crate) fn round(x: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (x * p).round() / p
}

pub fn is_night(hour: f64) -> bool {
    !(6.0..22.0).contains(&hour)
}

// ---------------------------------------------------------------- noise

/// Hourly mean LAeq of a residential street (GB 3096 class 1 area):
/// 55–62 dB(A) by day, 40–47 at night.
const NOISE_DB: [f64; 24] = [
    45.0, 43.5, 42.0, 41.0, 41.0, 43.0, 49.0, 56.0, 60.0, 59.0, 57.5, 57.0, 58.0, 57.0, 56.5, 57.0,
    58.0, 60.0, 61.5, 60.5, 58.5, 57.0, 50.0, 46.5,
];

pub struct Noise {
    offset_db: f64,
}

impl Noise {
    pub fn new(rng: &mut Rng) -> Self {
        Noise {
            offset_db: jitter(rng, 1.2),
        }
    }

    /// One interval's LAeq/LAmax/LA90; at night a burst (a motorbike, a
    /// party) happens now and then and is folded into the interval's
    /// energetic average, its level into LAmax.
    pub fn step(&mut self, rng: &mut Rng, hour: f64, dt: f64) -> Values {
        let base = (hourly(&NOISE_DB, hour) + self.offset_db + jitter(rng, 0.8)).clamp(35.0, 75.0);
        let mut laeq = base;
        let mut lamax = base + 3.0 + rng.f64() * 6.0;
        let mut burst = false;
        if is_night(hour) && rng.f64() < chance(1.5, dt) {
            let level = base + 15.0 + rng.f64() * 12.0;
            let secs = 20.0 + rng.f64() * 160.0;
            let frac = (secs / dt.max(1.0)).min(1.0);
            laeq = 10.0
                * ((1.0 - frac) * 10f64.powf(base / 10.0) + frac * 10f64.powf(level / 10.0))
                    .log10();
            lamax = lamax.max(level + 2.0);
            burst = true;
        }
        let la90 = base - 3.0 - rng.f64() * 3.0;
        let lamin = la90 - 1.0 - rng.f64() * 2.0;
        vec![
            ("laeq", V::F(round(laeq, 1))),
            ("lamax", V::F(round(lamax, 1))),
            ("la90", V::F(round(la90, 1))),
            ("lamin", V::F(round(lamin, 1))),
            ("burst", V::B(burst)),
        ]
    }
}

// ---------------------------------------------------------------- water

/// Hourly mean flow of one household meter, m³/h (≈0.6 m³/day), with the
/// morning and evening peaks and a night minimum.
const WATER_M3H: [f64; 24] = [
    0.004, 0.003, 0.002, 0.002, 0.003, 0.008, 0.030, 0.060, 0.050, 0.030, 0.025, 0.030, 0.035,
    0.025, 0.020, 0.020, 0.025, 0.040, 0.055, 0.060, 0.050, 0.035, 0.020, 0.010,
];

/// A continuous flow for this long raises the meter's leak flag.
const LEAK_AFTER_S: f64 = 2.0 * 3600.0;

pub struct Water {
    total_m3: f64,
    /// Volume of the last step, m³.
    last_m3: f64,
    leak_m3h: f64,
    flowing_s: f64,
    battery_v: f64,
}

impl Water {
    pub fn new(rng: &mut Rng, leak: bool) -> Self {
        Water {
            total_m3: round(100.0 + rng.f64() * 1900.0, 3),
            last_m3: 0.0,
            leak_m3h: if leak { 0.04 } else { 0.0 },
            flowing_s: 0.0,
            battery_v: round(3.45 + rng.f64() * 0.2, 2),
        }
    }

    /// Household use is intermittent (many intervals without flow); a leak
    /// adds a constant flow, so the night minimum stays above zero and the
    /// meter's own leak flag rises after two hours without a pause.
    pub fn step(&mut self, rng: &mut Rng, hour: f64, dt: f64) -> Values {
        let mean = hourly(&WATER_M3H, hour);
        let p_use = (mean * 12.0).clamp(0.05, 0.85);
        let use_m3h = if rng.f64() < p_use {
            mean / p_use * (0.5 + rng.f64())
        } else {
            0.0
        };
        let flow = use_m3h + self.leak_m3h;
        self.last_m3 = flow * dt / 3600.0;
        self.total_m3 += self.last_m3;
        if flow > 0.0 {
            self.flowing_s += dt;
        } else {
            self.flowing_s = 0.0;
        }
        let leak = self.flowing_s > LEAK_AFTER_S.max(3.0 * dt);
        vec![
            ("total_m3", V::F(round(self.total_m3, 3))),
            ("flow_m3h", V::F(round(flow, 4))),
            ("leak", V::B(leak)),
            ("battery_v", V::F(self.battery_v)),
        ]
    }

    /// The volume that went through during the last step, m³.
    pub fn last_m3(&self) -> f64 {
        self.last_m3
    }
}

/// The district master meter: it measures what the households behind it
/// used plus what the pipes between lose (`LOSS` of the delivered water,
/// and with a pipe leak a constant flow on top).
pub struct MasterWater {
    total_m3: f64,
    leak_m3h: f64,
    battery_v: f64,
}

/// The share of the delivered water the district pipes lose (CJJ 92 asks
/// for at most 10 % overall).
pub const DISTRICT_LOSS: f64 = 0.08;

impl MasterWater {
    pub fn new(rng: &mut Rng, pipe_leak: bool) -> Self {
        MasterWater {
            total_m3: round(10_000.0 + rng.f64() * 5_000.0, 3),
            leak_m3h: if pipe_leak { 0.05 } else { 0.0 },
            battery_v: round(3.5 + rng.f64() * 0.1, 2),
        }
    }

    /// `delivered_m3`: what the households used since the last step.
    pub fn step(&mut self, delivered_m3: f64, dt: f64) -> Values {
        let lost = delivered_m3 * DISTRICT_LOSS + self.leak_m3h * dt / 3600.0;
        let through = delivered_m3 + lost;
        self.total_m3 += through;
        let flow = if dt > 0.0 { through * 3600.0 / dt } else { 0.0 };
        vec![
            ("total_m3", V::F(round(self.total_m3, 3))),
            ("flow_m3h", V::F(round(flow, 4))),
            ("leak", V::B(false)),
            ("battery_v", V::F(self.battery_v)),
        ]
    }
}

pub use super::model_infra::*;

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
