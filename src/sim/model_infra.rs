//! Daily patterns of the infrastructure classes: street lights, parking
//! bays and security devices (see `model.rs` for the conventions).

use fastrand::Rng;

use super::model::{chance, hourly, jitter, round, Values, V};

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
