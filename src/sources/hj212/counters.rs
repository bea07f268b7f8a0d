//! The HJ 212 source's named events (docs/metrics.md), counted where logged.

use crate::metrics::{self, Counter, Gauge};

#[derive(Clone)]
pub(super) struct Counters {
    pub connections: Counter,
    pub open: Gauge,
    pub refused: Counter,
    pub frames: Counter,
    pub uploads: Counter,
    pub ignored: Counter,
    pub incomplete: Counter,
    pub undelivered: Counter,
    pub discarded: Counter,
    pub rate_limited: Counter,
}

impl Counters {
    pub(super) fn new() -> Counters {
        Counters {
            connections: metrics::counter(
                "hj212_connections_total",
                "Station connections accepted by the HJ 212 server.",
                &[],
            ),
            open: metrics::gauge(
                "hj212_connections_open",
                "Station connections open now.",
                &[],
            ),
            refused: metrics::counter(
                "hj212_connections_refused_total",
                "Station connections closed at once because max_connections were open.",
                &[],
            ),
            frames: metrics::counter(
                "hj212_frames_total",
                "HJ 212 frames received with a good CRC.",
                &[],
            ),
            uploads: metrics::counter(
                "hj212_uploads_total",
                "Whole HJ 212 data uploads (reassembled) handed to the pipeline as readings.",
                &[],
            ),
            ignored: metrics::counter(
                "hj212_uploads_ignored_total",
                "HJ 212 packets that carry no data to store (equipment status, heartbeats, replies, commands).",
                &[],
            ),
            incomplete: metrics::counter(
                "hj212_uploads_incomplete_total",
                "Split HJ 212 uploads dropped unfinished (limits, reassembly_timeout, connection closed).",
                &[],
            ),
            undelivered: metrics::counter(
                "hj212_answers_undelivered_total",
                "Answers that could not be written (the station's connection was gone or stalled).",
                &[],
            ),
            discarded: metrics::counter(
                "hj212_bytes_discarded_total",
                "Bytes dropped while resynchronising on ## (noise, damaged or timed-out frames).",
                &[],
            ),
            rate_limited: metrics::counter(
                "hj212_rate_limited_total",
                "Times a station connection was paused for exceeding max_frames_per_second.",
                &[],
            ),
        }
    }

    /// `hj212_uploads_rejected_total{reason}`.
    pub(super) fn rejected(&self, reason: &'static str) -> Counter {
        metrics::counter(
            "hj212_uploads_rejected_total",
            "HJ 212 packets refused or dead-lettered, by reason (bad_pw, bad_crc, unknown_mn, unreadable, bad_packet, damaged, no_data_time, bad_data_time, no_values, no_cn).",
            &[("reason", reason)],
        )
    }

    /// `hj212_answers_total{cn}`.
    pub(super) fn answer(&self, code: u16) -> Counter {
        let cn = match code {
            9011 => "9011",
            9014 => "9014",
            _ => "other",
        };
        metrics::counter(
            "hj212_answers_total",
            "Answers written to stations, by CN (9014 data answer, 9011 refusal).",
            &[("cn", cn)],
        )
    }

    /// `hj212_timeouts_total{kind}`: idle, frame, write.
    pub(super) fn timeout(&self, kind: &'static str) -> Counter {
        metrics::counter(
            "hj212_timeouts_total",
            "Station connections closed (idle, write) or partial frames dropped (frame) on a timeout.",
            &[("kind", kind)],
        )
    }
}
