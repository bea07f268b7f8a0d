//! A simulated green community: MQTT devices of all five classes and
//! Modbus TCP device servers, with daily patterns in Asia/Shanghai time.
//!
//! ```sh
//! greengate simulate --broker 127.0.0.1:1883 --modbus-bind 127.0.0.1:15020 --accel 1440 --leak
//! ```
//!
//! `greengate demo` runs the same simulator in-process (see `crate::demo`).
//!
//! MQTT (QoS 1, client id `gg-sim-<pid>-<random>`): `--scale` devices per
//! class, each publishing `--rate` messages per second, shaped as the
//! shipped profiles in `config/devices/mqtt-*.toml` expect. Payload
//! timestamps follow the simulated clock, which starts at `--start`
//! (default: now) and runs `--accel` times faster than the wall clock.
//! `<c>` is `--community`, `NN` the device number (01, 02, ...).
//!
//! | class | topic (subscription filter) | profile | payload |
//! |---|---|---|---|
//! | noise | `community/<c>/noise/noise-NN/up` (`community/+site/noise/+device/up`) | `fiware-noise` | `{"id":"urn:ngsi-ld:NoiseLevelObserved:noise-01","type":"NoiseLevelObserved","dateObserved":"2026-11-29T21:00:05.000+08:00","LAeq":45.1,"LAmax":52.3,"LAmin":39.0,"LA90":41.0,"sonometerClass":"1"}` |
//! | water_meter | `community/<c>/water/gw-GG/up`, ten meters per gateway (`community/+site/water/+/up`); `water-01` is the district master meter (the others' use plus 8 % pipe loss) | `smart-water-meter` | `{"meterId":"water-01","batteryMv":3560,"readings":[{"ts":1764421200,"totalL":1234567.1,"flowLph":12.3,"leak":0},{"ts":1764421205,...}]}` (two readings per message) |
//! | lighting | `community/<c>/lighting/light-NN/telemetry` (`community/+site/lighting/+device/telemetry`) | `street-light` | `{"time":"2026-11-29T21:00:05.000+08:00","data":{"lamp":"ON","power":79.8,"voltage":226.1,"current":0.371,"energyWh":1234567,"dim":100,"status":0}}` (status 0 ok, 1 defectiveLamp, 2 columnIssue, 3 brokenLantern) |
//! | parking | `application/1/device/<devEUI>/event/up` (`application/+/device/+/event/up`) | `geomagnetic-parking` | ChirpStack v3 uplink `{"deviceName":"parking-01","devEUI":"a840410000000001","rxInfo":[{"time":"2026-11-29T13:00:05.000Z","rssi":-87,...}],"object":{"parkFlag":1,"batteryMv":3580,"fireLane":true},...}`; bays 01, 11, 21, ... are fire lanes (empty except during violations) |
//! | security | `community/<c>/security/sec-NN/event` (`community/+site/security/+device/event`) | `access-alarm` | `{"ts":1764421205000,"event":"heartbeat","online":true}` every `--heartbeat`; alarms: events `alarm`, `ack`, `clear` with `"alarmType":"intrusion","alarmId":"sec-01-1"` |
//!
//! Modbus (`--modbus-bind HOST:P`, none = off): one TCP server per profile
//! with a `[modbus]` table in `--devices-dir` on HOST: P noise, P+1
//! water meter, P+2 lighting, then any other Modbus profiles by file name.
//! Each serves unit ids 1..=scale (at most 247), unit 1 of a water meter
//! leaking under `--leak`. The registers are encoded through the profile's
//! own register map (see `modbus.rs`); with the shipped profiles:
//!
//! | port | profile | registers |
//! |---|---|---|
//! | P | `modbus-noise-rs485` | holding 0: LAeq in 0.1 dB(A) (u16) |
//! | P+1 | `modbus-water-meter` | holding 0–1: total in litres (u32, word order CDAB); holding 2: flow in 0.001 m³/h (u16); holding 4 bit 0: leak; holding 5: battery mV (u16) |
//! | P+2 | `modbus-lighting-cabinet` | coil 0: contactor on; holding 0: status code (u16); input 0–1 voltage V, 6–7 current A, 12–13 power W, 342–343 energy kWh (f32, ABCD); a cabinet is a circuit of 30 lamps |
//!
//! Unmapped addresses read 0; an unknown unit id answers exception 0x0B
//! (gateway target failed to respond). Nothing panics on a closed
//! connection: MQTT reconnects with a capped backoff, a Modbus client's
//! hang-up ends only its own connection task.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, Utc};
use tokio_util::sync::CancellationToken;

#[cfg(test)]
mod alignment_tests;
pub mod modbus;
pub mod model;
mod model_infra;
mod mqtt;
pub mod payload;
mod regmap;
mod run;

pub use run::{main, run, status_line};

pub use payload::{Class, CLASSES};

/// At most this many Modbus endpoints (profiles) are served.
pub const MAX_ENDPOINTS: usize = 16;

/// `greengate simulate`'s flags.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The MQTT broker the devices publish to.
    #[arg(long, default_value = "127.0.0.1:1883", value_name = "HOST:PORT")]
    pub broker: String,
    /// Where the Modbus TCP device servers listen: one per Modbus profile, on
    /// this port and the next ones ("0.0.0.0:5020" inside the compose stack,
    /// where greengate runs in another container). Default: no Modbus.
    #[arg(long, value_name = "HOST:PORT")]
    pub modbus_bind: Option<String>,
    /// Directory of the device profiles whose register maps the Modbus servers serve.
    #[arg(long, default_value = "config/devices")]
    pub devices_dir: PathBuf,
    /// Devices per class (and Modbus unit ids per server).
    #[arg(long, default_value_t = 3, value_parser = parse_scale)]
    pub scale: usize,
    /// Messages per device per second.
    #[arg(long, default_value_t = 0.2)]
    pub rate: f64,
    /// Simulated seconds per wall-clock second (1440: a day per minute).
    #[arg(long, default_value_t = 1.0)]
    pub accel: f64,
    /// Simulated start time (RFC 3339), or "now".
    #[arg(long, default_value = "now")]
    pub start: String,
    /// Stop after this long (e.g. "60s", "10m"); default: until Ctrl-C.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Security devices' heartbeat interval (wall clock).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub heartbeat: Duration,
    /// Inject water leaks: a pipe leak behind the district master meter
    /// (MQTT `water-01`, which measures the other meters plus 8 % loss), a
    /// household leak on `water-02` and on Modbus unit 1 (constant flows).
    #[arg(long)]
    pub leak: bool,
    #[arg(long, default_value = "cn-sh-demo-0001")]
    pub community: String,
    /// Seed of the random patterns (default: random).
    #[arg(long)]
    pub seed: Option<u64>,
}

/// Simulated time: `sim0 + (wall elapsed) * accel`.
pub struct Clock {
    wall0: Instant,
    pub sim0: DateTime<Utc>,
    accel: f64,
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        let ms = self.wall0.elapsed().as_secs_f64() * self.accel * 1000.0;
        // Saturates instead of overflowing after centuries of simulated time.
        let ms = ms.min(1e15) as i64;
        self.sim0
            .checked_add_signed(chrono::Duration::milliseconds(ms))
            .unwrap_or(self.sim0)
    }
}

const SHANGHAI: i64 = 8 * 3600;

/// Hour of the day (fractional) in Asia/Shanghai (UTC+8, no DST).
pub fn local_hour(t: DateTime<Utc>) -> f64 {
    let s = (t.timestamp() + SHANGHAI).rem_euclid(86_400) as f64;
    (s + f64::from(t.timestamp_subsec_millis()) / 1000.0) / 3600.0
}

pub fn local_day_of_year(t: DateTime<Utc>) -> u32 {
    (t + chrono::Duration::seconds(SHANGHAI)).ordinal()
}

#[derive(Default)]
pub struct Stats {
    pub published: [AtomicU64; 5],
    pub acked: AtomicU64,
    pub mqtt_errors: AtomicU64,
    pub modbus_requests: [AtomicU64; MAX_ENDPOINTS],
    /// The latest LAeq each MQTT noise sensor published, dB(A).
    pub latest_laeq: Mutex<std::collections::BTreeMap<String, f64>>,
    /// Water the MQTT household meters delivered since the district master
    /// meter (`water-01`) last read it, in m³.
    pub district_m3: Mutex<f64>,
}

impl Stats {
    pub fn total_published(&self) -> u64 {
        self.published
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }
}

pub struct Sim {
    pub args: Args,
    /// The broker from `--broker`.
    pub mqtt_host: String,
    pub mqtt_port: u16,
    pub clock: Clock,
    pub stats: Stats,
    pub seed: u64,
    pub heartbeat: Duration,
    /// In-process (the demo): no connection notes on stderr.
    pub quiet: bool,
}

impl Sim {
    /// A note on stderr (connections, Modbus servers), unless quiet.
    pub fn note(&self, msg: std::fmt::Arguments<'_>) {
        if !self.quiet {
            eprintln!("simulate: {msg}");
        }
    }
}

/// `HOST:PORT` (a bracketed IPv6 host is accepted).
pub fn host_port(s: &str) -> Result<(String, u16), String> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("expected HOST:PORT, got {s:?}"))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("expected HOST:PORT with a port number, got {s:?}"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("expected HOST:PORT with a host, got {s:?}"));
    }
    Ok((host.to_string(), port))
}

/// The simulator with its Modbus servers serving and no MQTT device yet
/// (so a daemon can be configured with their ports and subscribe first).
pub struct Prepared {
    pub sim: Arc<Sim>,
    /// The Modbus servers: profile and port.
    pub endpoints: Vec<(modbus::Profile, u16)>,
    stop: CancellationToken,
}

impl Prepared {
    /// Starts the MQTT devices.
    pub fn publish(self) -> Running {
        let mqtt_task = mqtt::start(self.sim.clone(), self.stop.clone());
        Running {
            sim: self.sim,
            endpoints: self.endpoints,
            stop: self.stop,
            mqtt_task,
        }
    }
}

/// A running simulator (MQTT devices and Modbus servers).
pub struct Running {
    pub sim: Arc<Sim>,
    /// The Modbus servers: profile and port.
    pub endpoints: Vec<(modbus::Profile, u16)>,
    stop: CancellationToken,
    mqtt_task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops the devices and the Modbus servers and waits (a few seconds
    /// at most) for the broker to acknowledge what was published.
    pub async fn stop(self) -> Arc<Sim> {
        self.stop.cancel();
        let _ = self.mqtt_task.await;
        self.sim
    }
}

/// Checks the flags and starts the Modbus servers (`--modbus-bind` port 0:
/// each server on a free port); the MQTT devices start with
/// [`Prepared::publish`].
pub async fn prepare(args: Args, quiet: bool) -> Result<Prepared, String> {
    if !(args.rate > 0.0 && args.rate.is_finite() && args.rate <= 1000.0) {
        return Err(format!(
            "--rate must be above 0 and at most 1000, got {}",
            args.rate
        ));
    }
    if !(args.accel > 0.0 && args.accel <= 1_000_000.0) {
        return Err(format!(
            "--accel must be above 0 and at most 1000000, got {}",
            args.accel
        ));
    }
    let (mqtt_host, mqtt_port) = host_port(&args.broker).map_err(|e| format!("--broker: {e}"))?;
    let modbus_bind = match &args.modbus_bind {
        Some(b) => Some(host_port(b).map_err(|e| format!("--modbus-bind: {e}"))?),
        None => None,
    };
    let sim0 = match args.start.as_str() {
        "now" => DateTime::<Utc>::from(std::time::SystemTime::now()),
        s => DateTime::parse_from_rfc3339(s)
            .map_err(|e| format!("--start {s:?}: {e}"))?
            .with_timezone(&Utc),
    };
    let sim = Arc::new(Sim {
        clock: Clock {
            wall0: Instant::now(),
            sim0,
            accel: args.accel,
        },
        stats: Stats::default(),
        seed: args.seed.unwrap_or_else(|| fastrand::u64(..)),
        heartbeat: args.heartbeat.max(Duration::from_millis(100)),
        mqtt_host,
        mqtt_port,
        quiet,
        args,
    });
    let stop = CancellationToken::new();
    let endpoints = match &modbus_bind {
        None => Vec::new(),
        Some((host, port)) => {
            modbus::start(
                sim.clone(),
                &sim.args.devices_dir,
                host,
                *port,
                stop.clone(),
            )
            .await?
        }
    };
    for (p, port) in &endpoints {
        sim.note(format_args!(
            "Modbus {} ({}, {}) on port {port}, unit ids 1..={}, {} fields",
            p.name,
            p.class,
            p.file,
            sim.args.scale.min(247),
            p.fields.len()
        ));
    }
    sim.note(format_args!(
        "{} MQTT devices per class to {}:{} (community {}), {} msg/s each, simulated time x{} from {}",
        sim.args.scale,
        sim.mqtt_host,
        sim.mqtt_port,
        sim.args.community,
        sim.args.rate,
        sim.args.accel,
        sim.clock.sim0.to_rfc3339()
    ));
    Ok(Prepared {
        sim,
        endpoints,
        stop,
    })
}

/// [`prepare`] and [`Prepared::publish`] at once.
pub async fn start(args: Args, quiet: bool) -> Result<Running, String> {
    Ok(prepare(args, quiet).await?.publish())
}

fn parse_scale(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=100_000).contains(&n) => Ok(n),
        _ => Err(format!("expected 1 to 100000, got {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_address_is_host_and_port() {
        assert_eq!(host_port("mosquitto:1883"), Ok(("mosquitto".into(), 1883)));
        assert_eq!(host_port("[::1]:1883"), Ok(("::1".into(), 1883)));
        assert!(host_port("mosquitto").is_err());
        assert!(host_port(":1883").is_err());
        assert!(host_port("h:99999").is_err());
    }
}
