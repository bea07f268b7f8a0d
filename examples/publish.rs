//! A QoS 1 load publisher for the end-to-end benchmark
//! (`scripts/bench-e2e.sh`): sends every line of a file as one message and
//! exits 0 only once the broker acknowledged every one. The publishing loop
//! is the fault tests' (`tests/it/common/publish.rs`).
//!
//! `cargo run --release --example publish -- PORT TOPIC FILE [INFLIGHT]`

// A test or bench binary has no API: its `pub` only shares between its modules.
#![allow(unreachable_pub)]

#[path = "../tests/it/common/publish.rs"]
mod publish;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [port, topic, file, rest @ ..] = args.as_slice() else {
        return Err("usage: publish PORT TOPIC FILE [INFLIGHT]".into());
    };
    let port: u16 = port.parse().map_err(|e| format!("PORT: {e}"))?;
    let inflight: u16 = match rest.first() {
        Some(v) => v.parse().map_err(|e| format!("INFLIGHT: {e}"))?,
        None => 1000,
    };
    let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
    let lines = text.lines().map(str::to_owned).collect();
    publish::publish_all(port, topic.clone(), lines, inflight).await
}
