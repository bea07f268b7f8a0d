//! `greengate sniff -c FILE [FILTER]`: what the MQTT source would make of
//! each message, printed as it arrives: the topic, the subscription and
//! profile it matched, its readings as line protocol, or the reason it
//! would be rejected with the start of its payload.
//!
//! It decodes with the source's own [`Router`] (the same first-match rule,
//! the same profiles and guards) and connects with the shared
//! [`crate::common::mqtt`] code (the config's host, TLS and credentials),
//! but as its own client: its own client id, a clean session, QoS 0 and
//! automatic acks. At QoS 0 there is nothing to acknowledge, and a
//! session of its own never touches the daemon's persistent session or
//! the messages queued for it ([`filter`] also keeps it out of `$share`
//! groups).

pub mod filter;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use rumqttc::QoS;

use super::ToolError;
use crate::app::Config;
use crate::common::mqtt::client::{self, Event};
use crate::common::mqtt::{Protocol, Session};
use crate::sources::mqtt::config::MqttConfig;
use crate::sources::mqtt::router::Router;

/// How much of a rejected payload is printed.
const PAYLOAD_START: usize = 120;

/// `greengate sniff` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The configuration file (its [sources.mqtt] connection and subscriptions).
    #[arg(short, long)]
    pub config: PathBuf,
    /// An MQTT topic filter; it must overlap one of the subscriptions
    /// (default: every subscription's filter).
    pub filter: Option<String>,
    /// Stop after this many messages (exit 1 if --timeout ends it first).
    #[arg(long)]
    pub count: Option<u64>,
    /// Stop after this long (e.g. 30s).
    #[arg(long, value_parser = super::parse_duration)]
    pub timeout: Option<Duration>,
    /// The client id to connect with (default: <client_id>-sniff-<pid>);
    /// never the daemon's own.
    #[arg(long)]
    pub client_id: Option<String>,
}

pub fn main(args: Args) -> ExitCode {
    let cfg = match super::load(&args.config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let r = super::runtime().and_then(|rt| rt.block_on(sniff(&cfg, &args)));
    super::exit(r)
}

/// The lines of one message: a header, then its readings or its rejection.
pub fn render(router: &Router, topic: &str, payload: &[u8], now_ns: i64) -> Vec<String> {
    let matched = match router.route(topic) {
        Some((r, _)) => format!("subscription {} | profile {}", r.filter, r.profile.name),
        None => "subscription (none)".to_string(),
    };
    let mut lines = vec![format!("topic {topic} | {matched}")];
    match router.handle(topic, payload, now_ns) {
        Ok(readings) if readings.is_empty() => lines.push("  (no readings)".into()),
        Ok(readings) => {
            for r in &readings {
                match crate::lineproto::to_line(r) {
                    Ok(l) => lines.push(format!("  {l}")),
                    Err(e) => lines.push(format!("  (a reading that cannot be encoded: {e})")),
                }
            }
        }
        Err(rej) => lines.push(format!(
            "  rejected ({}): {}; payload ({} bytes) starts: {}",
            rej.reason,
            rej.detail,
            payload.len(),
            super::payload_start(payload, PAYLOAD_START)
        )),
    }
    lines
}

/// The client id, checked against the daemon's own (and its session ids).
fn client_id(cfg: &MqttConfig, asked: Option<&str>) -> Result<String, ToolError> {
    let id = match asked {
        Some(id) => id.to_string(),
        None => format!("{}-sniff-{}", cfg.client_id, std::process::id()),
    };
    let daemon: Vec<String> = cfg
        .session_configs()
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    if id.trim().is_empty() || id == cfg.client_id || daemon.contains(&id) {
        return Err(ToolError::Usage(format!(
            "--client-id {id:?} is the daemon's: sniff must never use the daemon's session"
        )));
    }
    Ok(id)
}

async fn sniff(cfg: &Config, args: &Args) -> Result<(), ToolError> {
    let mqtt = cfg.sources.mqtt.as_ref().ok_or_else(|| {
        ToolError::Usage(format!(
            "{} has no [sources.mqtt] section to sniff",
            args.config.display()
        ))
    })?;
    let router = Router::new(mqtt);
    let subs: Vec<String> = router
        .routes
        .iter()
        .map(|r| r.filter.broker_filter().to_string())
        .collect();
    let filters = filter::choose(args.filter.as_deref(), &subs).map_err(ToolError::Usage)?;
    let id = client_id(mqtt, args.client_id.as_deref())?;
    let mut conn = mqtt.connection();
    conn.client_id = &id;
    let v5 = mqtt.protocol == Protocol::V5;
    let session = Session {
        clean_session: true,
        manual_acks: false,
        inflight: 10,
        max_incoming: mqtt.receive_limit(),
        receive_maximum: None,
        session_expiry: v5.then_some(0),
    };
    let opts = conn
        .client_options(mqtt.protocol, &session)
        .map_err(|e| ToolError::Usage(format!("sources.mqtt: {e}")))?;
    let broker = format!("{}:{}", mqtt.host, mqtt.port);
    let (client, mut eventloop) = client::new(opts, 64);
    let deadline = args.timeout.map(|t| tokio::time::Instant::now() + t);
    let stop = crate::signal::wait_for_signal();
    tokio::pin!(stop);
    let mut seen = 0u64;
    let mut out = std::io::stdout();
    loop {
        if args.count.is_some_and(|n| seen >= n) {
            break;
        }
        let event = tokio::select! {
            _ = &mut stop => break,
            _ = sleep_until(deadline) => {
                if let Some(n) = args.count {
                    return Err(ToolError::Failed(format!(
                        "timed out after {:?} with {seen} of {n} messages",
                        args.timeout.unwrap_or_default()
                    )));
                }
                break;
            }
            e = eventloop.poll() => e,
        };
        match event {
            Ok(Event::ConnAck(_)) => {
                let f: Vec<(String, QoS)> = filters
                    .iter()
                    .map(|f| (f.clone(), QoS::AtMostOnce))
                    .collect();
                client
                    .try_subscribe_many(&f)
                    .map_err(|e| ToolError::Failed(e.to_string()))?;
            }
            Ok(Event::SubAck(codes)) => {
                for (f, c) in filters.iter().zip(&codes) {
                    if c.granted.is_none() {
                        return Err(ToolError::Unavailable(format!(
                            "broker {broker} refused the subscription {f:?}: {}",
                            c.code
                        )));
                    }
                }
                eprintln!(
                    "sniffing {} on {broker} as client {id} (clean session, QoS 0); Ctrl-C stops",
                    filters.join(", ")
                );
            }
            Ok(Event::Publish(m)) => {
                seen += 1;
                let lines = render(&router, &m.topic, &m.payload, crate::model::now_ns());
                for l in lines {
                    let _ = writeln!(out, "{l}");
                }
                let _ = out.flush();
            }
            Ok(_) => {}
            Err(e) => {
                return Err(ToolError::Unavailable(format!(
                    "MQTT broker {broker}: {}",
                    e.to_string().replace('\n', " ")
                )))
            }
        }
    }
    if client.try_disconnect().is_ok() {
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while let Ok(e) = eventloop.poll().await {
                if matches!(e, Event::DisconnectSent) {
                    break;
                }
            }
        })
        .await;
    }
    Ok(())
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
