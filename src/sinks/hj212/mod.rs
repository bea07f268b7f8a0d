//! The HJ 212 northbound: noise indicators uploaded to one or more
//! environmental platforms over TCP (`[[sinks.hj212.platforms]]`).
//!
//! Each platform has its own outbox (`<outbox.dir>/hj212-<name>`) whose
//! [`Route`](crate::pipeline::Route) takes the `gg_noise_minute`,
//! `gg_noise_hour` and `gg_noise_day` points (and, with `realtime`, the raw
//! noise readings), like the city sink: droppable, because everything it
//! carries is also in the main store. One loop per platform ([`run`])
//! turns each record into one upload ([`map`], pure: CN 2051/2061/2031/2011,
//! factor codes, data-quality flags), frames it with the codec
//! ([`crate::protocols::hj212`]) and sends it over one long-lived TCP
//! connection ([`conn`]), reopened after the capped backoff. A record
//! leaves the outbox only once delivered: with `answers = true` after the
//! platform's 9014 with the same QN, retried per OverTime/ReCount (which
//! the platform may change with CN 1000). The platform's commands (1000,
//! 1011, 1012, 1061, 1062) are answered by [`session`] (pure).
//!
//! Events (logs and metrics, label `sink="hj212-<name>"`):
//! `Hj212PlatformConnected` (`hj212_sink_connects_total`),
//! `Hj212ConnectionFailed` (`hj212_sink_connection_errors_total`),
//! `Hj212UploadRetried` (`hj212_sink_uploads_retried_total`),
//! `Hj212UploadUnanswered` (`hj212_sink_uploads_unanswered_total`),
//! `Hj212FrameRejected` (`hj212_sink_frames_rejected_total`),
//! `Hj212CommandAnswered` / `Hj212CommandRefused`
//! (`hj212_sink_commands_total{cn,outcome}`), and
//! `hj212_sink_records_uploaded_total`, `hj212_sink_records_skipped_total{reason}`.

pub mod config;
mod conn;
pub mod map;
mod run;
pub mod session;

use tokio_util::sync::CancellationToken;

use crate::config::Secret;
use crate::metrics::{self, Counter};
use crate::outbox::OutboxReader;

/// Uploads one platform's outbox until it is drained and closed or
/// `shutdown` is cancelled. `offset_s` is the site's UTC offset (DataTime
/// and QN are site-local); `pw` the resolved PW (never logged).
pub async fn run(
    cfg: config::PlatformConfig,
    pw: Secret,
    offset_s: i32,
    reader: OutboxReader,
    shutdown: CancellationToken,
) {
    run::Sink::new(cfg, pw, offset_s)
        .run(reader, shutdown)
        .await
}

/// The sink's counters, labelled with its name.
pub(crate) struct Metrics {
    sink: String,
    uploaded: Counter,
    retried: Counter,
    unanswered: Counter,
    connects: Counter,
    conn_errors: Counter,
    rejected: Counter,
}

impl Metrics {
    fn new(sink: &str) -> Metrics {
        let c = |name, help| metrics::counter(name, help, &[("sink", sink)]);
        Metrics {
            sink: sink.to_string(),
            uploaded: c(
                "hj212_sink_records_uploaded_total",
                "Records delivered to the platform (answered by 9014 when answers are requested).",
            ),
            retried: c(
                "hj212_sink_uploads_retried_total",
                "Uploads sent again after no 9014 within OverTime.",
            ),
            unanswered: c(
                "hj212_sink_uploads_unanswered_total",
                "Uploads still unanswered after ReCount retries (the connection is reopened).",
            ),
            connects: c(
                "hj212_sink_connects_total",
                "TCP connections established to the platform.",
            ),
            conn_errors: c(
                "hj212_sink_connection_errors_total",
                "Connection attempts that failed and connections that broke.",
            ),
            rejected: c(
                "hj212_sink_frames_rejected_total",
                "Bytes or frames from the platform that were not a valid packet (bad CRC, garbage).",
            ),
        }
    }

    fn skipped(&self, reason: &str) {
        metrics::counter(
            "hj212_sink_records_skipped_total",
            "Outbox records not sent: no MN for the device, nothing to send, unparsable, real-time interval not elapsed.",
            &[("sink", self.sink.as_str()), ("reason", reason)],
        )
        .inc();
    }

    fn command(&self, cn: &str, outcome: &str) {
        metrics::counter(
            "hj212_sink_commands_total",
            "Platform commands answered, by CN and outcome (done, refused).",
            &[
                ("sink", self.sink.as_str()),
                ("cn", cn),
                ("outcome", outcome),
            ],
        )
        .inc();
    }
}
