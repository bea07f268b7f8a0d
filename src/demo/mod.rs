//! `greengate demo`: a whole simulated community through the real pipeline,
//! on one machine with nothing else installed.
//!
//! In one process: an embedded MQTT broker (rumqttd, [`broker`]) on a free
//! loopback port; the simulator ([`crate::sim`]) with MQTT devices of all
//! five classes and Modbus TCP device servers; and the daemon itself
//! ([`crate::app::start`]) on the configuration of
//! `scripts/demo/greengate.demo.toml.in` ([`config`]), indicators on an
//! event-time watermark so the accelerated clock closes windows. Readings go
//! to InfluxDB when `--influx-url` is given, otherwise they stay in the
//! outbox in the data directory. A live summary ([`summary`]) is printed
//! every 3 s. Ctrl-C or SIGTERM (or `--seconds`) stops the devices, then
//! the daemon (its outbox committed, sinks drained within the grace), and
//! exits 0. The daemon's and the broker's logs go to `<data-dir>/greengate.log`.

pub mod broker;
pub mod config;
pub mod summary;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use chrono::{DateTime, Duration as Days, FixedOffset, Utc};
use tokio_util::sync::CancellationToken;

use self::config::{Settings, Sink};

/// The community id of the simulated community.
pub const COMMUNITY: &str = "cn-sh-demo-0001";

/// `greengate demo`'s flags.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Stop after this many seconds (0 = until Ctrl-C).
    #[arg(long, default_value_t = 0)]
    pub seconds: u64,
    /// Simulated seconds per wall-clock second (60: an hour per minute).
    #[arg(long, default_value_t = 60.0)]
    pub accel: f64,
    /// Devices per class (and Modbus unit ids per server).
    #[arg(long, default_value_t = 3)]
    pub scale: usize,
    /// Messages per device per second.
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,
    /// Inject water leaks: a pipe leak behind the district master meter
    /// (water-01) and a household leak (water-02).
    #[arg(long)]
    pub leak: bool,
    /// Simulated start (RFC 3339); default: the next 17:30 in Shanghai, so
    /// dusk, the evening parking and the first 亮灯率 window come early.
    #[arg(long)]
    pub start: Option<String>,
    /// Write to this InfluxDB (or VictoriaMetrics); default: keep everything
    /// in the outbox.
    #[arg(long, value_name = "URL")]
    pub influx_url: Option<String>,
    /// InfluxDB 1.x database (selects the v1 write API).
    #[arg(long, value_name = "DB", requires = "influx_url")]
    pub influx_db: Option<String>,
    /// InfluxDB 2.x organisation (v2; the token comes from GREENGATE_DEMO_INFLUX_TOKEN).
    #[arg(long, default_value = "greengate", value_name = "ORG")]
    pub influx_org: String,
    /// InfluxDB 2.x bucket (v2).
    #[arg(long, default_value = "demo", value_name = "BUCKET")]
    pub influx_bucket: String,
    /// Keep the outbox, configuration and logs here (default: a temporary
    /// directory, removed at exit).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The daemon's HTTP endpoint (/healthz /readyz /metrics /assess);
    /// default 127.0.0.1:9898, or a free port when that one is taken.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
}

/// Runs the demo; the exit code (0 after Ctrl-C, SIGTERM or `--seconds`).
pub fn main(args: Args) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("demo: error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The next 17:30 in Shanghai after `now` (never in the past: the demo's
/// indicators close windows on event time, so older readings count as late).
pub fn next_evening(now: DateTime<Utc>) -> DateTime<Utc> {
    let Some(tz) = FixedOffset::east_opt(8 * 3600) else {
        return now;
    };
    let local = now.with_timezone(&tz);
    let evening = local
        .date_naive()
        .and_hms_opt(17, 30, 0)
        .and_then(|t| t.and_local_timezone(tz).single())
        .map_or(now, |t| t.with_timezone(&Utc));
    if evening >= now {
        evening
    } else {
        evening + Days::days(1)
    }
}

fn sink(args: &Args, hold_port: u16) -> Sink {
    match (&args.influx_url, &args.influx_db) {
        (None, _) => Sink::OutboxOnly { hold_port },
        (Some(url), Some(db)) => Sink::V1 {
            url: url.clone(),
            database: db.clone(),
        },
        (Some(url), None) => Sink::V2 {
            url: url.clone(),
            org: args.influx_org.clone(),
            bucket: args.influx_bucket.clone(),
            // VictoriaMetrics accepts any token; InfluxDB 2 needs a real one.
            token: std::env::var("GREENGATE_DEMO_INFLUX_TOKEN")
                .unwrap_or_else(|_| "demo-token-not-secret".into()),
        },
    }
}

fn init_logs(dir: &std::path::Path) -> anyhow::Result<PathBuf> {
    let path = dir.join("greengate.log");
    let file = std::fs::File::create(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|f| f.parse::<tracing_subscriber::EnvFilter>().ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info,rumqttd=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
    Ok(path)
}

/// A directory of our own under the system temp dir.
fn temp_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "greengate-demo-{}-{:08x}",
        std::process::id(),
        fastrand::u32(..)
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

async fn run(args: Args) -> anyhow::Result<()> {
    if args.scale == 0 || args.scale > 1000 {
        bail!("--scale must be 1 to 1000, got {}", args.scale);
    }
    let (data_dir, temporary) = match &args.data_dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
            (d.clone(), false)
        }
        None => (temp_dir()?, true),
    };
    let result = run_in(&args, &data_dir).await;
    if temporary {
        let _ = std::fs::remove_dir_all(&data_dir);
        println!(
            "greengate demo: removed {} (--data-dir DIR keeps the outbox, configuration and logs)",
            data_dir.display()
        );
    } else {
        println!(
            "greengate demo: outbox, configuration and logs kept in {}; `greengate run -c {}` with a real [sinks.influxdb] delivers what the outbox holds",
            data_dir.display(),
            data_dir.join("greengate.toml").display()
        );
    }
    result
}

/// `--http`, or 127.0.0.1:9898 unless another process (a greengate
/// daemon, say) listens there, then a free port.
fn http_addr(flag: Option<SocketAddr>) -> SocketAddr {
    flag.unwrap_or_else(|| {
        let default = SocketAddr::from((Ipv4Addr::LOCALHOST, 9898));
        match TcpListener::bind(default) {
            Ok(_) => default,
            Err(_) => SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        }
    })
}

/// Waits (15 s at most) until the daemon's MQTT source has its
/// subscriptions, so that no simulated message finds no subscriber.
async fn wait_subscribed() {
    for _ in 0..150 {
        let ready = crate::metrics::registry()
            .gauge_values("component_ready")
            .into_iter()
            .any(|(l, v)| v == 1 && l.iter().any(|(_, c)| c.starts_with("mqtt:")));
        if ready {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tracing::warn!("The MQTT source is not subscribed after 15 s; starting the devices anyway.");
}

/// (day, night) limits of the noise sensors with a zone class.
fn noise_limits(cfg: &crate::app::Config) -> BTreeMap<String, (f64, f64)> {
    let offset = cfg.indicators.noise.indoor_offset_db;
    cfg.devices
        .iter()
        .filter_map(|(id, d)| {
            let a = &d.indicators;
            let (day, night) = crate::indicators::noise::zone_limits(a.noise_standard(), a.zone()?);
            let indoor = if a.indoor { offset } else { 0.0 };
            Some((id.clone(), (day - indoor, night - indoor)))
        })
        .collect()
}

async fn run_in(args: &Args, data_dir: &std::path::Path) -> anyhow::Result<()> {
    let log = init_logs(data_dir)?;
    // Signals are watched from the start: Ctrl-C during startup also stops cleanly.
    let stop = CancellationToken::new();
    tokio::spawn({
        let stop = stop.clone();
        async move {
            crate::signal::wait_for_signal().await;
            stop.cancel();
        }
    });
    let mqtt = broker::start().await?;
    // Outbox only: the sink's URL is this listener, which never answers.
    let hold =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("cannot bind a loopback port")?;
    let hold_port = hold.local_addr().context("loopback port")?.port();
    let sink = sink(args, hold_port);

    // The Modbus servers first (each on a free port) for the configuration;
    // the MQTT devices once the daemon has subscribed.
    let devices_dir = data_dir.join("devices");
    std::fs::create_dir_all(&devices_dir)?;
    for (name, text) in config::PROFILES {
        std::fs::write(devices_dir.join(name), text)?;
    }
    let start = match &args.start {
        Some(s) => s.clone(),
        None => next_evening(std::time::SystemTime::now().into()).to_rfc3339(),
    };
    let sim = crate::sim::prepare(
        crate::sim::Args {
            broker: mqtt.to_string(),
            modbus_bind: Some("127.0.0.1:0".into()),
            devices_dir,
            scale: args.scale,
            rate: args.rate,
            accel: args.accel,
            start,
            duration: None,
            heartbeat: Duration::from_secs(10),
            leak: args.leak,
            community: COMMUNITY.into(),
            seed: None,
        },
        true,
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let port = |class: &str| {
        sim.endpoints
            .iter()
            .find(|(p, _)| p.class == class)
            .map_or(0, |(_, port)| *port)
    };
    let settings = Settings {
        community: COMMUNITY.into(),
        http: http_addr(args.http),
        data_dir: data_dir.to_path_buf(),
        mqtt_port: mqtt.port(),
        modbus_ports: [port("noise"), port("water_meter"), port("lighting")],
        sink: sink.clone(),
    };
    let cfg_path = config::write(&settings)?;
    let cfg = crate::app::Config::load(&cfg_path).map_err(|p| {
        anyhow::anyhow!(
            "the demo configuration {} is invalid:\n{p}",
            cfg_path.display()
        )
    })?;
    let noise_limits = noise_limits(&cfg);
    let shutdown = CancellationToken::new();
    let daemon = crate::app::start(cfg, shutdown.clone()).await?;
    wait_subscribed().await;
    let sim = sim.publish();

    let sink_text = match &sink {
        Sink::OutboxOnly { .. } => "nowhere (outbox only; --influx-url writes to InfluxDB)".into(),
        Sink::V1 { url, database } => format!("{url} db={database}"),
        Sink::V2 { url, bucket, .. } => format!("{url} bucket={bucket}"),
    };
    let mut summary = summary::Summary::new(
        sim.sim.clone(),
        daemon.indicators.clone(),
        daemon.http_addr,
        sink_text,
        noise_limits,
    );
    println!(
        "greengate demo: MQTT broker on {mqtt}, {} devices per class, Modbus servers on ports {:?}, data in {}, logs in {}",
        args.scale,
        settings.modbus_ports,
        data_dir.display(),
        log.display()
    );
    let tty = std::io::stdout().is_terminal();
    let deadline = async {
        match args.seconds {
            0 => std::future::pending().await,
            s => tokio::time::sleep(Duration::from_secs(s)).await,
        }
    };
    tokio::pin!(deadline);
    let mut tick = tokio::time::interval(Duration::from_secs(3));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            _ = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let text = summary.render("live");
        if tty {
            // Redraw in place.
            println!("\x1b[2J\x1b[H{text}  (Ctrl-C stops)");
        } else {
            println!("{text}");
        }
    }
    println!("greengate demo: stopping the devices, then the daemon");
    sim.stop().await;
    shutdown.cancel();
    daemon.wait().await?;
    drop(hold);
    println!("{}", summary.render("final"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn simulated_clock_starts_at_the_next_shanghai_evening() {
        // 08:00 in Shanghai: this evening.
        assert_eq!(
            next_evening(utc("2026-11-29T00:00:00Z")),
            utc("2026-11-29T17:30:00+08:00")
        );
        // 18:00 in Shanghai: tomorrow evening, never in the past.
        assert_eq!(
            next_evening(utc("2026-11-29T10:00:00Z")),
            utc("2026-11-30T17:30:00+08:00")
        );
    }
}
