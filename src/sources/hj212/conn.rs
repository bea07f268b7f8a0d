//! One station connection: read, find frames, pace, hand batches to the
//! pipeline, and keep the connection's answers flowing.
//!
//! Why one slow or broken station cannot hurt the others: each connection
//! is its own task with its own buffer (at most `max_buffer_bytes`, the
//! oldest bytes dropped up to the next `##` beyond it), its own deadlines
//! (`idle_timeout` with no byte, `frame_timeout` for a begun frame, after
//! which its bytes are dropped and the reader resynchronises on the next
//! `##`; `write_timeout` per answer), its own token bucket
//! (`max_frames_per_second`, `burst`: over it, the connection is simply
//! not read until tokens return), and its own reassembler. The only thing
//! connections share is the pipeline channel: when the outbox is full
//! every connection waits on it (back-pressure, answers withheld).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::answer::{writer, Answers};
use super::config::Hj212Config;
use super::session::{Out, Session, Shared};
use crate::pipeline::{Origin, SourceBatch, SourceTx};
use crate::protocols::hj212::{decode, Decoded, Error};

/// How long a closing connection waits for the acks of what it sent.
const ANSWER_GRACE: Duration = Duration::from_secs(10);

/// Per-connection pacing: a token bucket refilled `rate` per second up to `burst`.
#[derive(Debug, Clone)]
pub(super) struct Bucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
}

impl Bucket {
    pub(super) fn new(rate: u32, burst: u32, now: Instant) -> Bucket {
        Bucket {
            tokens: f64::from(burst),
            rate: f64::from(rate),
            burst: f64::from(burst),
            last: now,
        }
    }
    /// Takes a token: `None` when there was one, else how long until one.
    pub(super) fn take(&mut self, now: Instant) -> Option<Duration> {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            None
        } else {
            Some(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}

pub(super) struct Conn {
    cfg: Arc<Hj212Config>,
    shared: Arc<Shared>,
    session: Session,
    peer: SocketAddr,
    buf: Vec<u8>,
    /// When the bytes now in `buf` started arriving.
    frame_started: Option<Instant>,
    pending_since: Option<Instant>,
    bucket: Bucket,
}

impl Conn {
    pub(super) fn new(cfg: Arc<Hj212Config>, shared: Arc<Shared>, peer: SocketAddr) -> Conn {
        let session = Session::new(shared.clone(), peer.to_string());
        let bucket = Bucket::new(cfg.max_frames_per_second, cfg.burst, Instant::now());
        Conn {
            cfg,
            shared,
            session,
            peer,
            buf: Vec::with_capacity(4096),
            frame_started: None,
            pending_since: None,
            bucket,
        }
    }

    /// Serves the connection until the station leaves, a timeout, a write
    /// failure, or `shutdown`; then waits (at most [`ANSWER_GRACE`]) for
    /// the answers of what it handed to the pipeline.
    pub(super) async fn run(
        mut self,
        stream: TcpStream,
        tx: SourceTx,
        shutdown: CancellationToken,
    ) {
        let _ = stream.set_nodelay(true);
        let (mut rd, wr) = stream.into_split();
        let conn = shutdown.child_token();
        let c = self.shared.c.clone();
        let (answers, writer_task) = writer(wr, self.cfg.write_timeout, c.clone(), conn.clone());
        let mut chunk = vec![0u8; 4096];
        'conn: loop {
            // Every whole frame in the buffer, paced by the bucket.
            while let Some(out) = self.next_frame() {
                if let Some(wait) = self.bucket.take(Instant::now()) {
                    c.rate_limited.inc();
                    tokio::select! {
                        _ = conn.cancelled() => break 'conn,
                        _ = tokio::time::sleep(wait) => {}
                    }
                    let _ = self.bucket.take(Instant::now());
                }
                if !self.deliver(out, &answers, &tx, &conn).await {
                    break 'conn;
                }
            }
            self.expire_uploads();
            let deadline = match self.frame_started {
                Some(t) if !self.buf.is_empty() => t + self.cfg.frame_timeout,
                _ => Instant::now() + self.cfg.idle_timeout,
            };
            let read = tokio::select! {
                _ = conn.cancelled() => break,
                r = tokio::time::timeout_at(deadline, rd.read(&mut chunk)) => r,
            };
            match read {
                Err(_) if !self.buf.is_empty() => {
                    c.timeout("frame").inc();
                    c.discarded.add(self.buf.len() as u64);
                    tracing::debug!(peer = %self.peer, bytes = self.buf.len(), "HJ 212 partial frame timed out; dropped.");
                    self.buf.clear();
                    self.frame_started = None;
                }
                Err(_) => {
                    c.timeout("idle").inc();
                    tracing::info!(peer = %self.peer, "HJ 212 station idle; connection closed.");
                    break;
                }
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => {
                    if self.buf.is_empty() {
                        self.frame_started = Some(Instant::now());
                    }
                    self.buf.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
                    self.limit_buffer();
                }
            }
        }
        self.session.clear();
        drop(tx);
        drop(answers);
        let _ = tokio::time::timeout(ANSWER_GRACE, writer_task).await;
    }

    /// Hands `out` to the pipeline (answers through the batch's ack) or
    /// answers at once; `false` when the connection must end.
    async fn deliver(
        &mut self,
        out: Out,
        answers: &Answers,
        tx: &SourceTx,
        conn: &CancellationToken,
    ) -> bool {
        if self.session.pending() > 0 {
            self.pending_since.get_or_insert_with(Instant::now);
        } else {
            self.pending_since = None;
        }
        if !out.needs_pipeline() {
            answers.send(out.code, out.answers);
            return true;
        }
        let batch = SourceBatch {
            ack: answers.ack(out.code, out.answers),
            readings: out.readings,
            dead: out.dead,
            origin: Origin::Hj212,
        };
        tokio::select! {
            biased;
            // Not answered: the station sends it again.
            _ = conn.cancelled() => false,
            r = tx.send(batch) => r.is_ok(),
        }
    }

    /// Drops split uploads left unfinished for `reassembly_timeout`.
    fn expire_uploads(&mut self) {
        if let Some(t) = self.pending_since {
            if t.elapsed() >= self.cfg.reassembly_timeout {
                self.session.clear();
                self.pending_since = None;
            }
        }
    }

    /// Beyond `max_buffer_bytes`: drop the front up to the next `##`.
    fn limit_buffer(&mut self) {
        if self.buf.len() <= self.cfg.max_buffer_bytes {
            return;
        }
        let keep_from = self
            .buf
            .windows(2)
            .skip(1)
            .position(|w| w == b"##")
            .map_or(self.buf.len(), |p| p + 1);
        self.drop_front(keep_from);
    }

    fn drop_front(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        self.shared.c.discarded.add(n as u64);
        self.buf.drain(..n);
        self.frame_started = if self.buf.is_empty() {
            None
        } else {
            Some(Instant::now())
        };
    }

    fn consume(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        self.buf.drain(..n);
        self.frame_started = (!self.buf.is_empty()).then(Instant::now);
    }

    /// The next frame's outcome, or `None` when more bytes are needed.
    fn next_frame(&mut self) -> Option<Out> {
        let now_ns = crate::model::now_ns();
        loop {
            let crc = self.shared.stations.default_crc;
            match decode(&self.buf, crc) {
                Ok(Decoded::NeedMore) => return None,
                Ok(Decoded::Frame { frame, len }) => {
                    let segment = frame.segment.to_string();
                    let bytes = self.buf.get(..len).unwrap_or(&[]).to_vec();
                    self.consume(len);
                    return Some(self.session.frame(&bytes, &segment, now_ns));
                }
                Err(Error::NotAFrame { skip }) => self.drop_front(skip.max(1)),
                Err(Error::BadCrc { got, len, .. }) => {
                    let bytes = self.buf.get(..len).unwrap_or(&[]).to_vec();
                    let seg = bytes.get(6..len.saturating_sub(6)).unwrap_or(&[]).to_vec();
                    self.consume(len);
                    return Some(self.session.bad_crc(&bytes, &seg, got, now_ns));
                }
                Err(e @ (Error::BadEnd { .. } | Error::NotText { .. })) => {
                    let len = e.skip().max(1);
                    let bytes = self.buf.get(..len).unwrap_or(&[]).to_vec();
                    self.shared.c.discarded.add(len as u64);
                    self.consume(len);
                    return Some(self.session.damaged(&bytes, &e.to_string()));
                }
                Err(e) => {
                    let skip = e.skip().max(1);
                    self.drop_front(skip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_a_burst_then_paces_at_its_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(2, 3, t0);
        assert!((0..3).all(|_| b.take(t0).is_none()));
        let wait = b.take(t0).expect("empty");
        assert!(wait <= Duration::from_millis(500) && wait > Duration::from_millis(400));
        assert!(b.take(t0 + Duration::from_millis(600)).is_none());
    }
}
