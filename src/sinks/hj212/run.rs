//! The loop of one platform: outbox batch → uploads → frames → 9014 → ack.
//!
//! Invariants:
//! - uploads are sent one at a time in outbox order (stop and wait), so
//!   history after an outage reaches the platform in time order;
//! - with `answers = true` an upload counts as delivered only when a 9014
//!   with its QN arrived (one per packet when split); without an answer
//!   within OverTime it is sent again with the same QN, ReCount times, then
//!   the connection is dropped and reopened after the backoff and the
//!   upload sent again: nothing is skipped;
//! - a batch is acknowledged in the outbox after its last upload was
//!   delivered; a restart sends the unacknowledged batch again (at least
//!   once: the platform may see an upload twice, never miss one);
//! - the platform's commands are answered whenever they arrive, idle or
//!   while an answer is awaited.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::conn::{Conn, ConnError};
use super::map::{local, Mapper, Upload};
use super::session::{reply, Identity, Incoming, Outcome, Settings};
use super::{config::PlatformConfig, Metrics};
use crate::backoff::Backoff;
use crate::config::Secret;
use crate::lineproto::parse_line;
use crate::outbox::OutboxReader;
use crate::protocols::hj212::{encode, format_qn, split, Cp, Crc, Flag, Packet};

/// Records per outbox batch.
const MAX_RECORDS: usize = 500;

/// Shutdown came while waiting.
struct Stopped;

pub(super) struct Sink {
    cfg: PlatformConfig,
    name: String,
    pw: Secret,
    crc: Crc,
    offset_s: i32,
    settings: Settings,
    mapper: Mapper,
    conn: Option<Conn>,
    backoff: Backoff,
    next_connect: Instant,
    last_qn_ms: i64,
    m: Metrics,
}

impl Sink {
    pub(super) fn new(cfg: PlatformConfig, pw: Secret, offset_s: i32) -> Sink {
        let name = cfg.sink_name();
        Sink {
            crc: cfg.crc.crc(),
            settings: Settings::new(cfg.over_time, cfg.re_count, cfg.rtd_interval),
            mapper: Mapper::new(offset_s),
            backoff: Backoff::new(cfg.retry, cfg.retry_max),
            next_connect: Instant::now(),
            conn: None,
            last_qn_ms: 0,
            m: Metrics::new(&name),
            name,
            pw,
            offset_s,
            cfg,
        }
    }

    pub(super) async fn run(mut self, mut reader: OutboxReader, shutdown: CancellationToken) {
        info!(sink = %self.name, address = %self.cfg.address, "HJ 212 sink started.");
        loop {
            self.try_connect(&shutdown).await;
            let next = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                got = next_packet(&mut self.conn) => {
                    self.on_packet(got).await;
                    continue;
                }
                _ = tokio::time::sleep_until(self.next_connect), if self.conn.is_none() => continue,
                n = reader.next_batch(MAX_RECORDS, 1 << 20, Duration::from_millis(100)) => n,
            };
            let batch = match next {
                Ok(Some(b)) => b,
                Ok(None) => break,
                Err(e) => {
                    warn!(sink = %self.name, error = %e, "Outbox read failed; retrying.");
                    let d = self.backoff.next_delay();
                    if sleep_or_stop(d, &shutdown).await {
                        break;
                    }
                    continue;
                }
            };
            let uploads = self.uploads(batch.lines());
            let mut stopped = false;
            for u in &uploads {
                if self.deliver(u, &shutdown).await.is_err() {
                    stopped = true;
                    break;
                }
            }
            if stopped {
                break;
            }
            if let Err(e) = reader.ack(batch) {
                warn!(sink = %self.name, error = %e, "Outbox acknowledgement failed.");
            }
        }
        info!(sink = %self.name, "HJ 212 sink stopped.");
    }

    /// The uploads of a batch's lines; what is not sent is counted.
    fn uploads<'a>(&mut self, lines: impl Iterator<Item = &'a [u8]>) -> Vec<Upload> {
        let mut out = Vec::new();
        for line in lines {
            let r = std::str::from_utf8(line)
                .ok()
                .and_then(|l| parse_line(l, 0).ok());
            let Some(r) = r else {
                self.m.skipped("unparsable");
                continue;
            };
            let settings = &self.settings;
            let rtd = |mn: &str| settings.rtd_interval(mn).as_nanos() as i64;
            match self.mapper.upload(&self.cfg, &r, rtd) {
                Ok(u) => out.push(u),
                Err(s) => self.m.skipped(s.label()),
            }
        }
        out
    }

    /// A QN for a new upload: local time to the millisecond, strictly
    /// increasing so no two uploads of this sink share one.
    fn next_qn(&mut self) -> String {
        let now_ms = crate::model::now_ns() / 1_000_000;
        self.last_qn_ms = now_ms.max(self.last_qn_ms + 1);
        format_qn(local(self.last_qn_ms * 1_000_000, self.offset_s))
    }

    /// The frames of one upload (several when it is longer than `max_segment`).
    fn frames(&self, u: &Upload, qn: &str) -> Result<(Vec<u8>, usize), String> {
        let p = Packet {
            qn: Some(qn),
            st: Some(self.cfg.st),
            cn: Some(u.cn),
            pw: Some(self.pw.expose()),
            mn: Some(&u.mn),
            flag: Some(Flag::new(self.cfg.flag_version, false, self.cfg.answers)),
            pnum: None,
            pno: None,
            cp: Some(Cp(&u.cp)),
        };
        // The error never holds the PW: it names a CP item or a count.
        let segments = split(&p, self.cfg.max_segment).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for s in &segments {
            encode(s, self.crc, &mut out).map_err(|e| e.to_string())?;
        }
        Ok((out, segments.len()))
    }

    /// Sends `u` until it is delivered (or shutdown).
    async fn deliver(&mut self, u: &Upload, shutdown: &CancellationToken) -> Result<(), Stopped> {
        let qn = self.next_qn();
        let (frames, packets) = match self.frames(u, &qn) {
            Ok(f) => f,
            Err(e) => {
                warn!(sink = %self.name, cn = u.cn, mn = %u.mn, error = %e, "Upload cannot be encoded; skipped.");
                self.m.skipped("unencodable");
                return Ok(());
            }
        };
        let mut attempts = 0u32;
        loop {
            while self.conn.is_none() {
                if sleep_until_or_stop(self.next_connect, shutdown).await {
                    return Err(Stopped);
                }
                self.try_connect(shutdown).await;
            }
            if let Some(c) = self.conn.as_mut() {
                if let Err(e) = c.send(&frames).await {
                    self.lost(e);
                    continue;
                }
            }
            if !self.cfg.answers {
                self.delivered();
                return Ok(());
            }
            match self.await_answers(&qn, packets, shutdown).await? {
                Some(true) => {
                    self.delivered();
                    return Ok(());
                }
                // The connection broke: reconnect and send again.
                None => continue,
                Some(false) => {}
            }
            attempts += 1;
            if attempts > self.settings.re_count {
                self.m.unanswered.inc();
                warn!(sink = %self.name, event = "Hj212UploadUnanswered", qn = %qn, cn = u.cn, mn = %u.mn, attempts, "No answer after ReCount retries; reconnecting.");
                self.drop_conn();
                attempts = 0;
            } else {
                self.m.retried.inc();
                warn!(sink = %self.name, event = "Hj212UploadRetried", qn = %qn, cn = u.cn, mn = %u.mn, attempt = attempts, "No answer within OverTime; sending again.");
            }
        }
    }

    fn delivered(&mut self) {
        self.m.uploaded.inc();
        self.backoff.reset();
    }

    /// Waits OverTime for `packets` answers with `qn`: `Some(true)` all
    /// came, `Some(false)` timeout, `None` the connection broke.
    async fn await_answers(
        &mut self,
        qn: &str,
        packets: usize,
        shutdown: &CancellationToken,
    ) -> Result<Option<bool>, Stopped> {
        let deadline = Instant::now() + self.settings.over_time;
        let mut got = 0;
        loop {
            let p = tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Err(Stopped),
                _ = tokio::time::sleep_until(deadline) => return Ok(Some(false)),
                p = next_packet(&mut self.conn) => p,
            };
            match p {
                Ok(p) if p.answers(qn) => {
                    got += 1;
                    if got >= packets {
                        return Ok(Some(true));
                    }
                }
                Ok(p) => {
                    self.on_packet(Ok(p)).await;
                    // Replying to a command may have found the connection broken.
                    if self.conn.is_none() {
                        return Ok(None);
                    }
                }
                Err(e) => {
                    self.lost(e);
                    return Ok(None);
                }
            }
        }
    }

    /// Answers a command (late 9014s and other answers are ignored).
    async fn on_packet(&mut self, got: Result<Incoming, ConnError>) {
        let p = match got {
            Ok(p) => p,
            Err(e) => return self.lost(e),
        };
        let now = local(crate::model::now_ns(), self.offset_s);
        let (segments, outcome) = {
            let points = &self.cfg.points;
            let knows = |mn: &str| points.values().any(|m| m == mn);
            let me = Identity {
                pw: self.pw.expose(),
                st: self.cfg.st,
                flag_version: self.cfg.flag_version,
                knows: &knows,
            };
            reply(&p, &me, &mut self.settings, now)
        };
        let code = p.cn.map_or("none".to_string(), |c| c.to_string());
        match outcome {
            Outcome::Ignored => return,
            Outcome::Done => {
                self.m.command(&code, "done");
                info!(sink = %self.name, event = "Hj212CommandAnswered", cn = %code, qn = ?p.qn, "Platform command carried out.");
            }
            Outcome::Refused(rtn) => {
                self.m.command(&code, "refused");
                warn!(sink = %self.name, event = "Hj212CommandRefused", cn = %code, qn = ?p.qn, rtn, "Platform command refused.");
            }
        }
        let mut out = Vec::new();
        for s in &segments {
            let _ = encode(s, self.crc, &mut out);
        }
        if let Some(c) = self.conn.as_mut() {
            if let Err(e) = c.send(&out).await {
                self.lost(e);
            }
        }
    }

    /// Opens the connection when there is none and its time has come.
    async fn try_connect(&mut self, shutdown: &CancellationToken) {
        if self.conn.is_some() || Instant::now() < self.next_connect {
            return;
        }
        let c = Conn::connect(
            &self.cfg.address,
            self.cfg.connect_timeout,
            self.crc,
            self.m.rejected.clone(),
        );
        let r = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = c => r,
        };
        match r {
            Ok(c) => {
                self.m.connects.inc();
                info!(sink = %self.name, event = "Hj212PlatformConnected", address = %self.cfg.address, "Connected to the platform.");
                self.conn = Some(c);
            }
            Err(e) => self.lost(e),
        }
    }

    /// The connection failed or broke: reconnect after the backoff.
    fn lost(&mut self, e: ConnError) {
        self.m.conn_errors.inc();
        let delay = self.backoff.next_delay();
        warn!(sink = %self.name, event = "Hj212ConnectionFailed", address = %self.cfg.address, error = %e, retry_in = ?delay, "Platform connection failed; reconnecting.");
        self.conn = None;
        self.next_connect = Instant::now() + delay;
    }

    fn drop_conn(&mut self) {
        self.conn = None;
        self.next_connect = Instant::now() + self.backoff.next_delay();
    }
}

/// The next packet of the connection; never ready without one.
async fn next_packet(conn: &mut Option<Conn>) -> Result<Incoming, ConnError> {
    match conn {
        Some(c) => c.next().await,
        None => std::future::pending().await,
    }
}

/// Sleeps `d`; true when `shutdown` came first.
async fn sleep_or_stop(d: Duration, shutdown: &CancellationToken) -> bool {
    sleep_until_or_stop(Instant::now() + d, shutdown).await
}

async fn sleep_until_or_stop(t: Instant, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => true,
        _ = tokio::time::sleep_until(t) => false,
    }
}
