//! The `greengate` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code for an invalid configuration (EX_CONFIG from sysexits.h is 78;
/// we use EX_USAGE's 64 as the issue tracker and systemd unit expect).
const EXIT_INVALID_CONFIG: u8 = 64;

#[derive(Parser)]
#[command(
    name = "greengate",
    version,
    about = "Edge daemon for smart, green residential communities"
)]
struct Cli {
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon.
    Run {
        /// The configuration file.
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Validate a configuration and print every problem with its key path.
    Check {
        #[arg(short, long)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => match greengate::app::Config::load(&config) {
            Ok(_) => {
                println!("{}: ok", config.display());
                ExitCode::SUCCESS
            }
            Err(problems) => {
                eprintln!("{problems}");
                eprintln!("{}: {} problem(s)", config.display(), problems.0.len());
                ExitCode::from(EXIT_INVALID_CONFIG)
            }
        },
        Command::Run { config } => {
            let cfg = match greengate::app::Config::load(&config) {
                Ok(c) => c,
                Err(problems) => {
                    eprintln!("{problems}");
                    return ExitCode::from(EXIT_INVALID_CONFIG);
                }
            };
            let _ = (cfg, cli.log_json);
            eprintln!("run: not yet wired");
            ExitCode::FAILURE
        }
    }
}
