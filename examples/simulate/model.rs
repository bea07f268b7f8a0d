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

fn round(x: f64, digits: i32) -> f64 {
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
    leak_m3h: f64,
    flowing_s: f64,
    battery_v: f64,
}

impl Water {
    pub fn new(rng: &mut Rng, leak: bool) -> Self {
        Water {
            total_m3: round(100.0 + rng.f64() * 1900.0, 3),
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
        self.total_m3 += flow * dt / 3600.0;
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
}

// ---------------------------------------------------------------- lighting

/// Sunset and sunrise (local hours) in Shanghai for a day of the year:
/// about 17:00/06:50 in December, 19:00/04:50 in June.
pub fn sun_times(day_of_year: u32) -> (f64, f64) {
    let s = (2.0 * std::f64::consts::PI * (f64::from(day_of_year) - 80.0) / 365.0).sin();
    (18.0 + 1.0 * s, 5.85 - 1.0 * s)
}

/// Street-light status codes (FIWARE Streetlight `status`).
pub const LIGHT_STATUS: [&str; 4] = ["ok", "defectiveLamp", "columnIssue", "brokenLantern"];

pub struct Light {
    rated_w: f64,
    lamps: f64,
    energy_kwh: f64,
    /// Status code and simulated seconds left while failing.
    fault: Option<(usize, f64)>,
}

impl Light {
    /// One lamp (`lamps = 1`) or a cabinet's circuit of `lamps` lamps.
    pub fn new(rng: &mut Rng, lamps: u32) -> Self {
        let fault = (rng.f64() < 0.1).then(|| (1, 3600.0 * (1.0 + rng.f64() * 3.0)));
        Light {
            rated_w: [60.0, 80.0, 100.0][rng.usize(0..3)] * f64::from(lamps.max(1)),
            lamps: f64::from(lamps.max(1)),
            energy_kwh: round(500.0 + rng.f64() * 3000.0, 2),
            fault,
        }
    }

    /// On from dusk (18:00 at the latest) to dawn (06:00 at the earliest),
    /// dimmed to 50% from 23:00 to 05:00; now and
    /// then a lamp fails (on, power near 0, `defectiveLamp`) for hours.
    pub fn step(&mut self, rng: &mut Rng, hour: f64, day_of_year: u32, dt: f64) -> Values {
        // Dusk to dawn, and always within the community's 18:00–06:00
        // schedule (the controller's astronomical clock plus a fixed window).
        let (dusk, dawn) = sun_times(day_of_year);
        let on = hour >= dusk.min(18.0) || hour < dawn.max(6.0);
        let dimming = if !on {
            0.0
        } else if !(5.0..23.0).contains(&hour) {
            50.0
        } else {
            100.0
        };
        match &mut self.fault {
            Some((_, left)) => {
                *left -= dt;
                if *left <= 0.0 {
                    self.fault = None;
                }
            }
            None if rng.f64() < chance(0.15, dt) => {
                let code = if rng.f64() < 0.8 {
                    1
                } else {
                    2 + rng.usize(0..2)
                };
                self.fault = Some((code, 3600.0 * (1.0 + rng.f64() * 3.0)));
            }
            None => {}
        }
        let code = self.fault.map_or(0, |(c, _)| c);
        let voltage = 220.0 + if on { 6.0 } else { 2.0 } + jitter(rng, 1.5);
        let power = match (on, code) {
            (false, _) => 0.0,
            (true, 0) => self.rated_w * dimming / 100.0 * (0.97 + rng.f64() * 0.05),
            // A failed lamp draws next to nothing; on a cabinet's circuit,
            // the other lamps still burn.
            (true, _) => {
                let others = self.rated_w * (self.lamps - 1.0) / self.lamps * dimming / 100.0;
                others + 0.3 + rng.f64() * 1.2
            }
        };
        let current = if power > 0.0 {
            power / (voltage * 0.95)
        } else {
            0.0
        };
        self.energy_kwh += power * dt / 3_600_000.0;
        vec![
            ("on", V::B(on)),
            ("power_w", V::F(round(power, 1))),
            ("voltage_v", V::F(round(voltage, 1))),
            ("current_a", V::F(round(current, 3))),
            ("energy_kwh", V::F(round(self.energy_kwh, 3))),
            ("dimming_pct", V::F(dimming)),
            ("status", V::S(LIGHT_STATUS[code].to_string())),
            ("status_code", V::I(code as i64)),
        ]
    }
}

// ---------------------------------------------------------------- parking

/// Share of residents' bays occupied by hour: empty by day, filling in the
/// evening, full at night.
const PARKING_OCC: [f64; 24] = [
    0.90, 0.92, 0.93, 0.93, 0.92, 0.88, 0.80, 0.60, 0.45, 0.35, 0.30, 0.30, 0.32, 0.30, 0.30, 0.32,
    0.38, 0.50, 0.68, 0.80, 0.86, 0.88, 0.90, 0.90,
];

pub struct Bay {
    pub fire_lane: bool,
    occupied: bool,
    /// Simulated seconds left of a fire-lane violation.
    violation_s: f64,
    battery_v: f64,
    rssi: i64,
    fcnt: i64,
}

impl Bay {
    pub fn new(rng: &mut Rng, fire_lane: bool, hour: f64) -> Self {
        Bay {
            fire_lane,
            occupied: !fire_lane && rng.f64() < hourly(&PARKING_OCC, hour),
            violation_s: 0.0,
            battery_v: round(3.5 + rng.f64() * 0.15, 2),
            rssi: -70 - rng.i64(0..40),
            fcnt: rng.i64(0..5000),
        }
    }

    /// A resident's bay follows a two-state chain whose equilibrium is the
    /// hour's occupancy (mean stay two hours); a fire-lane bay is empty
    /// except during a violation of 3–15 minutes, mostly in the evening.
    pub fn step(&mut self, rng: &mut Rng, hour: f64, dt: f64) -> Values {
        if self.fire_lane {
            if self.violation_s > 0.0 {
                self.violation_s -= dt;
            } else {
                let rate = if (17.0..23.0).contains(&hour) {
                    1.0
                } else {
                    0.3
                };
                if rng.f64() < chance(rate, dt) {
                    self.violation_s = 60.0 * (3.0 + rng.f64() * 12.0);
                }
            }
            self.occupied = self.violation_s > 0.0;
        } else {
            let p = hourly(&PARKING_OCC, hour);
            let leave = 0.5;
            let arrive = leave * p / (1.0 - p).max(0.02);
            let flip = if self.occupied {
                chance(leave, dt)
            } else {
                chance(arrive, dt)
            };
            if rng.f64() < flip {
                self.occupied = !self.occupied;
            }
        }
        self.rssi = (self.rssi + rng.i64(-2..=2)).clamp(-115, -60);
        self.fcnt += 1;
        vec![
            ("occupied", V::B(self.occupied)),
            ("battery_v", V::F(self.battery_v)),
            ("rssi", V::I(self.rssi)),
            ("fire_lane", V::B(self.fire_lane)),
            ("fcnt", V::I(self.fcnt)),
        ]
    }
}

// ---------------------------------------------------------------- security

pub const ALARM_TYPES: [&str; 4] = ["intrusion", "door_forced", "door_held_open", "tamper"];

/// One security event: alarm, ack or clear (heartbeats are timed by the caller).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub event: &'static str,
    pub alarm_type: String,
    pub alarm_id: String,
}

enum Stage {
    Idle,
    /// Raised; acknowledged by the guard after the given simulated seconds.
    Raised {
        left: f64,
    },
    /// Acknowledged; cleared after the given simulated seconds.
    Acked {
        left: f64,
    },
}

pub struct Security {
    device: String,
    stage: Stage,
    alarm_type: String,
    alarm_id: String,
    seq: u64,
}

impl Security {
    pub fn new(device: &str) -> Self {
        Security {
            device: device.to_string(),
            stage: Stage::Idle,
            alarm_type: String::new(),
            alarm_id: String::new(),
            seq: 0,
        }
    }

    /// Alarms come about every two simulated hours per device, are
    /// acknowledged 1–8 minutes later and cleared 3–20 minutes after that.
    pub fn step(&mut self, rng: &mut Rng, dt: f64) -> Option<Event> {
        let ev = |s: &Self, event| Event {
            event,
            alarm_type: s.alarm_type.clone(),
            alarm_id: s.alarm_id.clone(),
        };
        match &mut self.stage {
            Stage::Idle => {
                if rng.f64() < chance(0.5, dt) {
                    self.seq += 1;
                    self.alarm_type = ALARM_TYPES[rng.usize(0..ALARM_TYPES.len())].to_string();
                    self.alarm_id = format!("{}-{}", self.device, self.seq);
                    self.stage = Stage::Raised {
                        left: 60.0 * (1.0 + rng.f64() * 7.0),
                    };
                    return Some(ev(self, "alarm"));
                }
                None
            }
            Stage::Raised { left } => {
                *left -= dt;
                if *left > 0.0 {
                    return None;
                }
                self.stage = Stage::Acked {
                    left: 60.0 * (3.0 + rng.f64() * 17.0),
                };
                Some(ev(self, "ack"))
            }
            Stage::Acked { left } => {
                *left -= dt;
                if *left > 0.0 {
                    return None;
                }
                self.stage = Stage::Idle;
                Some(ev(self, "clear"))
            }
        }
    }
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
