//! `greengate simulate` on the command line: runs the simulator until
//! `--duration` or a signal, with a status line every 5 s.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::{start, Args, Sim, CLASSES, SHANGHAI};

/// `greengate simulate`: the exit code (64 for invalid flags).
pub fn main(args: Args) -> std::process::ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("simulate: error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("simulate: error: {e}");
            std::process::ExitCode::from(64)
        }
    }
}

/// `greengate simulate`: runs until `--duration` has passed or SIGINT/SIGTERM.
pub async fn run(args: Args) -> Result<(), String> {
    let running = start(args, false).await?;
    let sim = running.sim.clone();
    let classes: Vec<String> = running
        .endpoints
        .iter()
        .map(|(p, _)| p.class.clone())
        .collect();
    let status = tokio::spawn(status_lines(sim.clone(), classes.clone()));
    let deadline = async {
        match sim.args.duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = deadline => {}
        _ = crate::signal::wait_for_signal() => eprintln!("simulate: stopping"),
    }
    running.stop().await;
    status.abort();
    println!("{}", status_line(&sim, &classes, "final"));
    Ok(())
}

async fn status_lines(sim: Arc<Sim>, modbus_classes: Vec<String>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.tick().await;
    loop {
        tick.tick().await;
        println!("{}", status_line(&sim, &modbus_classes, "sim"));
    }
}

/// One status line: simulated time, published per class, Modbus requests.
pub fn status_line(sim: &Sim, modbus_classes: &[String], label: &str) -> String {
    let now = sim.clock.now() + chrono::Duration::seconds(SHANGHAI);
    let mut line = format!(
        "[{label} {} +08:00] published",
        now.format("%Y-%m-%d %H:%M")
    );
    for c in CLASSES {
        line += &format!(
            " {}={}",
            c.name(),
            sim.stats.published[c.index()].load(Ordering::Relaxed)
        );
    }
    line += &format!(
        " (acked {}, connection errors {})",
        sim.stats.acked.load(Ordering::Relaxed),
        sim.stats.mqtt_errors.load(Ordering::Relaxed)
    );
    if !modbus_classes.is_empty() {
        line += "; modbus requests";
        for (i, c) in modbus_classes.iter().enumerate() {
            line += &format!(
                " {c}={}",
                sim.stats.modbus_requests[i].load(Ordering::Relaxed)
            );
        }
    }
    line
}
