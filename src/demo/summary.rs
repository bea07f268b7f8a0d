//! The demo's live summary: what the simulated community is doing, as the
//! pipeline sees it. Sources: the process-wide metrics registry (messages,
//! polls, outbox), the indicator engine's history of closed windows
//! (`gg_*`: device health, lighting, parking, security, water balance,
//! noise days) and the simulator's latest published noise levels. Text
//! only; [`indicator_lines`] is a pure function of the history.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crate::indicators::history::{History, IntervalRecord};
use crate::metrics::registry;
use crate::sim::{Sim, CLASSES};

/// The classes as the summary lists them (the indicator engine's names).
pub const CLASS_NAMES: [&str; 5] = ["noise", "water_meter", "lighting", "parking", "security"];

/// Counters at the previous refresh, for rates.
struct Last {
    at: Instant,
    mqtt: u64,
    polls: u64,
    readings: u64,
}

/// Renders the summary; remembers counters between refreshes for rates.
pub struct Summary {
    pub sim: Arc<Sim>,
    pub engine: Option<crate::app::indicators::SharedEngine>,
    pub http: Option<std::net::SocketAddr>,
    /// Where the data goes, in words.
    pub sink: String,
    /// Noise sensors' (day, night) limits by device id.
    pub noise_limits: BTreeMap<String, (f64, f64)>,
    pub started: Instant,
    last: Option<Last>,
}

fn total(name: &str) -> u64 {
    registry().counter_total(name)
}

impl Summary {
    pub fn new(
        sim: Arc<Sim>,
        engine: Option<crate::app::indicators::SharedEngine>,
        http: Option<std::net::SocketAddr>,
        sink: String,
        noise_limits: BTreeMap<String, (f64, f64)>,
    ) -> Self {
        Summary {
            sim,
            engine,
            http,
            sink,
            noise_limits,
            started: Instant::now(),
            last: None,
        }
    }

    /// One refresh of the summary (`title` names it: live or final).
    pub fn render(&mut self, title: &str) -> String {
        let mut out = String::new();
        let local = self.sim.clock.now() + chrono::Duration::hours(8);
        let _ = writeln!(
            out,
            "greengate demo ({title}): {}s, simulated {} +08:00 (x{})",
            self.started.elapsed().as_secs(),
            local.format("%Y-%m-%d %H:%M"),
            self.sim.args.accel
        );
        if let Some(a) = self.http {
            let _ = writeln!(
                out,
                "  endpoints   http://{a}/healthz  http://{a}/readyz  http://{a}/metrics  http://{a}/assess"
            );
        }
        self.traffic(&mut out);
        if let Some(engine) = &self.engine {
            let e = engine.lock().unwrap_or_else(|p| p.into_inner());
            for line in indicator_lines(e.history()) {
                let _ = writeln!(out, "  {line}");
            }
        }
        self.noise(&mut out);
        let (appended, acked) = (
            total("outbox_records_appended_total"),
            total("outbox_records_acked_total"),
        );
        let _ = writeln!(
            out,
            "  outbox      {} records kept, {} delivered; {} lines written to {}; dead letters {}",
            appended.saturating_sub(acked),
            acked,
            total("influx_lines_written_total"),
            self.sink,
            total("dead_letters_total")
        );
        out
    }

    fn traffic(&mut self, out: &mut String) {
        let now = Last {
            at: Instant::now(),
            mqtt: total("mqtt_messages_received_total"),
            polls: total("modbus_polls_total"),
            readings: total("pipeline_readings_total"),
        };
        let rate = |new: u64, old: u64, secs: f64| (new.saturating_sub(old)) as f64 / secs;
        let (mqtt_rate, poll_rate, reading_rate) = match &self.last {
            Some(l) => {
                let secs = now.at.duration_since(l.at).as_secs_f64().max(0.001);
                (
                    rate(now.mqtt, l.mqtt, secs),
                    rate(now.polls, l.polls, secs),
                    rate(now.readings, l.readings, secs),
                )
            }
            None => (0.0, 0.0, 0.0),
        };
        let mut published = String::new();
        for c in CLASSES {
            let n = self.sim.stats.published[c.index()].load(Ordering::Relaxed);
            let _ = write!(published, " {}={n}", c.name());
        }
        let _ = writeln!(out, "  published  {published}");
        let _ = writeln!(
            out,
            "  messages    MQTT {mqtt_rate:.1}/s ({} received, {} rejected) | Modbus polls {poll_rate:.1}/s ({} errors) | readings {reading_rate:.1}/s ({})",
            now.mqtt,
            total("mqtt_messages_rejected_total"),
            total("modbus_request_errors_total"),
            now.readings
        );
        self.last = Some(now);
    }

    fn noise(&self, out: &mut String) {
        let night = crate::sim::model::is_night(crate::sim::local_hour(self.sim.clock.now()));
        let latest = match self.sim.stats.latest_laeq.lock() {
            Ok(l) => l.clone(),
            Err(_) => return,
        };
        if latest.is_empty() {
            return;
        }
        let mut line = format!(
            "  noise       latest LAeq against the {} limit:",
            if night { "night" } else { "day" }
        );
        for (device, laeq) in latest {
            match self.noise_limits.get(&device) {
                Some((day, night_limit)) => {
                    let limit = if night { *night_limit } else { *day };
                    let flag = if laeq > limit { " over" } else { "" };
                    let _ = write!(line, " {device} {laeq:.1}/{limit:.0}{flag}");
                }
                None => {
                    let _ = write!(line, " {device} {laeq:.1}");
                }
            }
        }
        let _ = writeln!(out, "{line} dB(A)");
    }
}

/// The newest record of each key of a kind.
fn latest<'a>(h: &'a History, kind: &str) -> BTreeMap<&'a str, &'a IntervalRecord> {
    let mut out: BTreeMap<&str, &IntervalRecord> = BTreeMap::new();
    for r in h.intervals.iter().filter(|r| r.kind == kind) {
        match out.get(r.key.as_str()) {
            Some(o) if o.t >= r.t => {}
            _ => {
                out.insert(r.key.as_str(), r);
            }
        }
    }
    out
}

fn int(r: &IntervalRecord, k: &str) -> i64 {
    r.get(k).unwrap_or(0.0).round() as i64
}

/// The indicator lines: devices online per class, noise days, water loss,
/// 亮灯率, parking and fire lanes, alarms. Each says when its first window
/// has not closed yet.
pub fn indicator_lines(h: &History) -> Vec<String> {
    let mut out = Vec::new();
    let health = latest(h, "gg_device_health");
    let mut online = String::from("devices on  ");
    if health.is_empty() {
        online += " (after the first indicator interval)";
    }
    for class in CLASS_NAMES {
        // Keys are `category:class`.
        let (mut on, mut n) = (0, 0);
        for (key, r) in &health {
            if key.rsplit(':').next() == Some(class) {
                on += int(r, "online");
                n += int(r, "devices");
            }
        }
        if n > 0 {
            let _ = write!(online, " {class} {on}/{n}");
        }
    }
    out.push(online);

    // The latest noise day with a level (a sensor without valid hours has none).
    let valid = |r: &&crate::indicators::noise::NoiseDayRecord| r.ld.is_some() || r.ln.is_some();
    if let Some(day) = h.noise.iter().filter(valid).map(|r| r.day).max() {
        let mut line = String::from("noise days ");
        for r in h.noise.iter().filter(valid).filter(|r| r.day == day) {
            let verdict = |ok: Option<bool>| match ok {
                Some(true) => "ok",
                Some(false) => "over",
                None => "n/a",
            };
            let level = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.1}"));
            let _ = write!(
                line,
                " {} Ld {} {} Ln {} {};",
                r.device,
                level(r.ld),
                verdict(r.day_ok),
                level(r.ln),
                verdict(r.night_ok)
            );
        }
        out.push(line.trim_end_matches(';').to_string());
    }

    let balance = latest(h, "gg_water_balance");
    let leaks: Vec<&str> = latest(h, "gg_water_night_flow")
        .into_iter()
        .filter(|(_, r)| r.get("leak_suspected") == Some(1.0) || r.get("alarm") == Some(1.0))
        .map(|(k, _)| k)
        .collect();
    let mut water = String::from("water loss ");
    if balance.is_empty() {
        water += " (after the first local day)";
    }
    for (district, r) in &balance {
        let (master, loss) = (
            r.get("master_m3").unwrap_or(0.0),
            r.get("loss_m3").unwrap_or(0.0),
        );
        let pct = if master > 0.0 {
            100.0 * loss / master
        } else {
            0.0
        };
        let _ = write!(
            water,
            " district {district} {loss:.3} m³ of {master:.3} ({pct:.1} %)"
        );
    }
    if !leaks.is_empty() {
        let _ = write!(water, " | night-flow leak suspected: {}", leaks.join(", "));
    }
    out.push(water);

    let lit = h
        .intervals
        .iter()
        .filter(|r| r.kind == "gg_lighting" && r.get("lit_rate_pct").is_some())
        .max_by_key(|r| r.t);
    out.push(match lit {
        Some(r) => format!(
            "亮灯率      {:.1} % ({} of {} lamps faulty)",
            r.get("lit_rate_pct").unwrap_or(0.0),
            int(r, "lamps_faulty"),
            int(r, "lamps")
        ),
        None => "亮灯率      (after the first interval in the lighting schedule)".into(),
    });

    let parking = latest(h, "gg_parking");
    let events: i64 = h
        .intervals
        .iter()
        .filter(|r| r.kind == "gg_parking")
        .map(|r| int(r, "fire_lane_events"))
        .sum();
    let mut line = String::from("parking    ");
    if parking.is_empty() {
        line += " (after the first indicator interval)";
    }
    for (lot, r) in &parking {
        let _ = write!(
            line,
            " {lot} {:.0} % occupied ({}/{})",
            r.get("occupancy_pct").unwrap_or(0.0),
            int(r, "occupied"),
            int(r, "spaces")
        );
    }
    let _ = write!(line, " | fire-lane events {events}");
    out.push(line);

    let security = latest(h, "gg_security");
    let alarms: i64 = h
        .intervals
        .iter()
        .filter(|r| r.kind == "gg_security")
        .map(|r| int(r, "alarms"))
        .sum();
    out.push(match security.values().next() {
        Some(r) => format!(
            "alarms      {} open (unacknowledged), {alarms} raised so far",
            int(r, "unacknowledged")
        ),
        None => "alarms      (after the first indicator interval)".into(),
    });
    out
}

#[cfg(test)]
#[path = "summary_tests.rs"]
mod tests;
