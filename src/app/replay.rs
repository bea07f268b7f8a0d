//! `greengate replay`: recorded readings through the indicator engine in
//! event time, independent of the wall clock; the indicators go to a
//! line-protocol file or to the store. For a new install with history, a
//! corrected device attribute (the config's attributes are used), or a gap
//! after an outage.
//!
//! Invariants:
//! - readings are fed in time order (a file's readings, or one
//!   `[store] page` of the store's, are sorted by time, stable, so each
//!   device keeps its own order) through [`EventClock`], as a daemon with
//!   `watermark = "event_time"` feeds them: a replay of a day equals the
//!   live result of that day, to the digit;
//! - with `--to`, readings at or after it are left out and the end is a
//!   flush at `to + allowed_lateness`: every window ending by `to` is
//!   emitted, none after it;
//! - the engine starts empty and is never checkpointed: the daemon's
//!   checkpoint is neither read nor written.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::app::Config;
use crate::indicators::{EventClock, IndicatorEngine};
use crate::model::Reading;
use crate::store::StoreClient;

use super::replay_io::{read_files, Output};

/// Exit code for bad arguments or configuration (EX_USAGE).
const EXIT_USAGE: u8 = 64;

/// `greengate replay`'s flags.
#[derive(clap::Args, Debug, Clone)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["input", "from_store"])))]
#[command(group(clap::ArgGroup::new("sink").required(true).args(["output", "to_store"])))]
pub struct Args {
    /// The configuration file (its [indicators], [devices] and [store] are used).
    #[arg(short, long)]
    pub config: PathBuf,
    /// Line-protocol files of recorded readings (repeatable).
    #[arg(long, value_name = "FILE.lp")]
    pub input: Vec<PathBuf>,
    /// Read the recorded readings back from the store (needs --from and --to).
    #[arg(long, requires_all = ["from", "to"])]
    pub from_store: bool,
    /// Start of the range: RFC 3339 or epoch seconds.
    #[arg(long)]
    pub from: Option<String>,
    /// End of the range (exclusive): RFC 3339 or epoch seconds. Windows
    /// ending by it are emitted.
    #[arg(long)]
    pub to: Option<String>,
    /// Write the indicators to this line-protocol file.
    #[arg(long, value_name = "FILE.lp")]
    pub output: Option<PathBuf>,
    /// Write the indicators to the store.
    #[arg(long)]
    pub to_store: bool,
}

/// What a replay did, printed at its end.
#[derive(Debug, Default)]
pub struct Summary {
    pub readings: u64,
    pub out_of_range: u64,
    pub bad_lines: u64,
    pub indicators: u64,
    pub late: u64,
}

pub fn main(args: Args) -> ExitCode {
    let cfg = match Config::load(&args.config) {
        Ok(c) => c,
        Err(problems) => {
            eprintln!("{problems}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let time = |s: &Option<String>, k: &str| match s {
        None => Ok(None),
        Some(v) => crate::app::indicators::parse_time(v)
            .map(Some)
            .ok_or_else(|| format!("--{k}: expected RFC 3339 or epoch seconds, got {v:?}")),
    };
    let range = time(&args.from, "from").and_then(|f| Ok((f, time(&args.to, "to")?)));
    let (from, to) = match range {
        Ok((Some(f), Some(t))) if f >= t => {
            eprintln!("error: --from must be before --to");
            return ExitCode::from(EXIT_USAGE);
        }
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(&cfg, &args, from, to)) {
        Ok(s) => {
            eprintln!(
                "replayed {} readings ({} outside the range, {} bad lines, {} late): {} indicator lines",
                s.readings, s.out_of_range, s.bad_lines, s.late, s.indicators
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The store client of `[store]` (or `[sinks.influxdb]`).
pub fn store_client(cfg: &Config) -> anyhow::Result<StoreClient> {
    let mut cx = crate::config::Check::new("");
    let target = cfg.store.target(cfg.sinks.influxdb.as_ref(), &mut cx);
    if let (Some(t), true) = (target, cx.problems().is_empty()) {
        return Ok(StoreClient::new(&t)?);
    }
    let msgs: Vec<String> = cx.problems().iter().map(|p| p.to_string()).collect();
    anyhow::bail!("{}", msgs.join("; "))
}

/// The engine of a replay: the config's settings and attributes, empty state.
pub fn engine(cfg: &Config) -> IndicatorEngine {
    let offset = cfg.utc_offset.seconds();
    IndicatorEngine::new(
        &cfg.indicators,
        &cfg.devices,
        &cfg.site.community_id,
        offset,
    )
}

async fn run(
    cfg: &Config,
    args: &Args,
    from: Option<i64>,
    to: Option<i64>,
) -> anyhow::Result<Summary> {
    let mut out = match &args.output {
        Some(p) => Output::file(p)?,
        None => Output::store(store_client(cfg)?),
    };
    let mut r = Replay::new(cfg, from, to);
    if args.from_store {
        let (Some(from), Some(to)) = (from, to) else {
            anyhow::bail!("--from-store needs --from and --to");
        };
        let c = store_client(cfg)?;
        let names: Vec<String> = crate::store::measurements(&c)
            .await?
            .into_iter()
            .filter(|m| !m.starts_with("gg_"))
            .collect();
        let page = (cfg.store.page.as_nanos().min(i64::MAX as u128) as i64).max(1);
        let mut t = from;
        while t < to {
            let end = t.saturating_add(page).min(to);
            let (mut points, skipped) = crate::store::points(&c, &names, t, end).await?;
            r.summary.bad_lines += skipped as u64;
            points.sort_by_key(|p| p.time_ns);
            for p in &points {
                r.feed(p);
            }
            out.write(r.take()).await?;
            t = end;
        }
    } else {
        let (mut readings, bad) = read_files(&args.input)?;
        r.summary.bad_lines += bad;
        readings.sort_by_key(|p| p.time_ns);
        for p in &readings {
            r.feed(p);
            if r.pending.len() >= 10_000 {
                out.write(r.take()).await?;
            }
        }
    }
    let last = r.finish();
    out.write(last).await?;
    out.finish().await?;
    r.summary.indicators = out.lines();
    Ok(r.summary)
}

/// The engine, its event clock and the range.
pub struct Replay {
    pub engine: IndicatorEngine,
    clock: EventClock,
    from: Option<i64>,
    to: Option<i64>,
    pending: Vec<Reading>,
    pub summary: Summary,
}

impl Replay {
    pub fn new(cfg: &Config, from: Option<i64>, to: Option<i64>) -> Replay {
        let skew = cfg
            .indicators
            .max_clock_skew
            .as_nanos()
            .min(i64::MAX as u128) as i64;
        Replay {
            engine: engine(cfg),
            clock: EventClock::new(skew),
            from,
            to,
            pending: Vec::new(),
            summary: Summary::default(),
        }
    }

    /// Feeds one reading (in time order); readings outside the range are counted and left out.
    pub fn feed(&mut self, r: &Reading) {
        let t = r.time_ns;
        if self.from.is_some_and(|f| t < f) || self.to.is_some_and(|to| t >= to) {
            self.summary.out_of_range += 1;
            return;
        }
        self.summary.readings += 1;
        let wall = crate::model::now_ns();
        self.clock
            .feed(&mut self.engine, r, wall, &mut self.pending);
    }

    /// The indicators emitted so far.
    pub fn take(&mut self) -> Vec<Reading> {
        std::mem::take(&mut self.pending)
    }

    /// The final flush: at `to + allowed_lateness` (every window ending by
    /// `to`), or without `--to` at the newest reading.
    pub fn finish(&mut self) -> Vec<Reading> {
        let mut out = self.take();
        match self.to {
            Some(to) => {
                let at = to.saturating_add(self.engine.ctx().lateness);
                out.extend(self.engine.advance(at));
            }
            None => out.extend(self.clock.advance(&mut self.engine)),
        }
        self.summary.late = self.engine.late_readings();
        out
    }
}
