//! The `greengate` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use greengate::app::config::LogFormat;

/// Exit code for an invalid configuration (EX_USAGE from sysexits.h).
const EXIT_INVALID_CONFIG: u8 = 64;

#[derive(Parser)]
#[command(
    name = "greengate",
    version,
    about = "Edge daemon for smart, green residential communities"
)]
struct Cli {
    /// Log as JSON lines instead of human-readable text (overrides log.format).
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon until SIGTERM or SIGINT.
    Run {
        /// The configuration file.
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Validate a configuration and print every problem with its key path
    /// (exit 0 when valid, 64 when not).
    Check {
        /// The configuration file.
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Assess the green-community criteria from the indicator checkpoint
    /// (the running daemon serves the same at http://127.0.0.1:9898/assess).
    Assess {
        /// The configuration file (its indicators.checkpoint_path is read).
        #[arg(short, long)]
        config: PathBuf,
        /// Start of the period: RFC 3339 or epoch seconds (default: 30 days ago).
        #[arg(long)]
        from: Option<String>,
        /// End of the period: RFC 3339 or epoch seconds (default: now).
        #[arg(long)]
        to: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Read the gg_* history from the store ([store]) instead of the checkpoint.
        #[arg(long)]
        from_store: bool,
    },
    /// Recorded readings (line-protocol files or the store) through the
    /// indicator engine in event time; the indicators to a file or the store.
    Replay(greengate::app::replay::Args),
    /// Read one configured device once, without the daemon: raw registers,
    /// decoded and stored values, all four byte orders, or why not.
    Probe(greengate::tools::probe::Args),
    /// Show what the MQTT source makes of each message (its own client id,
    /// clean session, QoS 0: the daemon's session is never touched).
    Sniff(greengate::tools::sniff::Args),
    /// Find the Modbus unit ids on a bus, or the address of the single
    /// DL/T 645 or CJ/T 188 meter on it.
    Scan(greengate::tools::scan::Args),
    /// DL/T 645 and CJ/T 188 meters: `meters discover` prints the address
    /// of the single meter on a bus.
    Meters(greengate::app::meters_cli::Args),
    /// A whole simulated community through the real pipeline, on this
    /// machine alone: embedded MQTT broker, simulated devices, the daemon,
    /// a live summary. Ctrl-C stops it.
    #[cfg(feature = "demo")]
    Demo(greengate::demo::Args),
    /// Simulated MQTT and Modbus TCP devices of all five classes, with daily
    /// patterns, against any broker.
    #[cfg(feature = "demo")]
    Simulate(greengate::sim::Args),
}

fn assess(
    config: &std::path::Path,
    from: Option<String>,
    to: Option<String>,
    json: bool,
    from_store: bool,
) -> ExitCode {
    let cfg = match load(config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut query = Vec::new();
    if let Some(f) = from {
        query.push(format!("from={f}"));
    }
    if let Some(t) = to {
        query.push(format!("to={t}"));
    }
    let (from, to) =
        match greengate::app::indicators::period(&query.join("&"), greengate::model::now_ns()) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_INVALID_CONFIG);
            }
        };
    if from_store {
        return match greengate::app::assess_store::assess(&cfg, from, to) {
            Ok(a) => print_assessment(&a, json),
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let engine = match greengate::app::indicators::engine(&cfg) {
        Ok((e, _)) => e,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let e = engine.lock().unwrap_or_else(|p| p.into_inner());
    print_assessment(&e.assess(from, to), json)
}

fn print_assessment(a: &greengate::indicators::Assessment, json: bool) -> ExitCode {
    if json {
        println!("{}", serde_json::to_string_pretty(a).unwrap_or_default());
    } else {
        print!("{}", greengate::indicators::render_text(a));
    }
    ExitCode::SUCCESS
}

fn load(path: &std::path::Path) -> Result<greengate::app::Config, ExitCode> {
    greengate::app::Config::load(path).map_err(|problems| {
        eprintln!("{problems}");
        eprintln!("{}: {} problem(s)", path.display(), problems.0.len());
        ExitCode::from(EXIT_INVALID_CONFIG)
    })
}

fn init_logs(json: bool, level: &str) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|f| f.parse::<tracing_subscriber::EnvFilter>().ok())
        .or_else(|| level.parse().ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init();
    } else {
        builder.init();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => match load(&config) {
            Ok(cfg) => {
                let problems = greengate::app::preflight::problems(&cfg);
                if problems.is_empty() {
                    println!("{}: ok", config.display());
                    ExitCode::SUCCESS
                } else {
                    for p in &problems {
                        eprintln!("error: {p}");
                    }
                    eprintln!("{}: {} problem(s)", config.display(), problems.len());
                    ExitCode::from(EXIT_INVALID_CONFIG)
                }
            }
            Err(code) => code,
        },
        Command::Assess {
            config,
            from,
            to,
            json,
            from_store,
        } => assess(&config, from, to, json, from_store),
        Command::Replay(args) => greengate::app::replay::main(args),
        Command::Probe(args) => greengate::tools::probe::main(args),
        Command::Sniff(args) => greengate::tools::sniff::main(args),
        Command::Scan(args) => greengate::tools::scan::main(args),
        Command::Meters(args) => greengate::app::meters_cli::main(args),
        #[cfg(feature = "demo")]
        Command::Demo(args) => greengate::demo::main(args),
        #[cfg(feature = "demo")]
        Command::Simulate(args) => greengate::sim::main(args),
        Command::Run { config } => {
            let cfg = match load(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            // Before any thread: arenas are made as threads first allocate.
            let tuning = greengate::app::allocator::tune();
            init_logs(
                cli.log_json || cfg.log.format == LogFormat::Json,
                &cfg.log.level,
            );
            tracing::debug!(?tuning, "malloc arenas and thresholds (app::allocator).");
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(greengate::app::run(cfg, config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "greengate stopped on an error.");
                    if e.is::<greengate::app::StorageFailed>() {
                        ExitCode::from(greengate::app::EXIT_STORAGE_FAILED)
                    } else {
                        ExitCode::FAILURE
                    }
                }
            }
        }
    }
}
