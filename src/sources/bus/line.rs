//! The line of one bus: its connection, its pacing and its reconnect
//! back-off. [`Line::request`] is the only way a device poll talks on it.

use std::time::Duration;

use tokio::time::{sleep, Instant};
use tracing::{debug, warn};

use super::{later, BusSettings, CallError, Health, Link, Tally};
use crate::backoff::Backoff;
use crate::metrics::Gauge;

pub struct Line<L: Link> {
    pub link: L,
    pub cfg: BusSettings,
    conn: Option<L::Conn>,
    backoff: Backoff,
    /// No connect attempt before this instant.
    pub(super) reconnect_at: Option<Instant>,
    last_request: Option<Instant>,
    pub(super) lateness_max: Gauge,
}

impl<L: Link> Line<L> {
    pub fn new(link: L, cfg: BusSettings, lateness_max: Gauge) -> Self {
        Line {
            link,
            backoff: Backoff::new(cfg.reconnect_min, cfg.reconnect_max),
            cfg,
            conn: None,
            reconnect_at: None,
            last_request: None,
            lateness_max,
        }
    }

    /// One request on the line: connect if needed, pace, retry "busy",
    /// count; drops the connection after an error that poisons it.
    pub async fn request(
        &mut self,
        h: &mut Health,
        t: &Tally,
        req: &L::Request,
    ) -> Result<L::Answer, L::Error> {
        let proto = t.names().protocol;
        let mut busy_left = self.cfg.busy_retries;
        loop {
            if self.conn.is_none() {
                if let Err(e) = self.connect(t).await {
                    h.errors += 1;
                    return Err(e);
                }
            }
            if let Some(last) = self.last_request {
                if let Some(rest) = self.cfg.inter_request_delay.checked_sub(last.elapsed()) {
                    sleep(rest).await;
                }
            }
            let Some(conn) = self.conn.as_mut() else {
                return Err(L::Error::transport(std::io::Error::from(
                    std::io::ErrorKind::NotConnected,
                )));
            };
            let t0 = Instant::now();
            t.requests.inc();
            let result = self.link.call(conn, req, self.cfg.timeout).await;
            self.last_request = Some(Instant::now());
            match result {
                Ok(a) => {
                    let rtt = t0.elapsed();
                    h.last_rtt = Some(rtt);
                    t.rtt_us.set(rtt.as_micros() as i64);
                    self.backoff.reset();
                    return Ok(a);
                }
                Err(e) => {
                    h.errors += 1;
                    t.error(e.kind());
                    if e.reconnect() {
                        warn!(bus = %self.cfg.name, device = %t.device, request = %req, error = %e,
                            metric = t.names().errors, kind = e.kind(),
                            "{proto} request failed; reconnecting.");
                        if let Some(c) = self.conn.take() {
                            let _ = tokio::time::timeout(
                                Duration::from_millis(100),
                                self.link.close(c),
                            )
                            .await;
                        }
                        return Err(e);
                    }
                    if e.busy() && busy_left > 0 {
                        busy_left -= 1;
                        debug!(bus = %self.cfg.name, device = %t.device, "{proto} device busy; retrying shortly.");
                        sleep(self.cfg.busy_retry).await;
                        continue;
                    }
                    return Err(e);
                }
            }
        }
    }

    /// Opens the line unless its back-off says wait; the wait is only ever
    /// entered from the driver's loop, which sleeps until `reconnect_at`.
    async fn connect(&mut self, t: &Tally) -> Result<(), L::Error> {
        if self.reconnect_at.is_some_and(|at| Instant::now() < at) {
            return Err(L::Error::transport(std::io::Error::other(
                "waiting to reconnect",
            )));
        }
        let limit = self.cfg.timeout;
        let opened = match tokio::time::timeout(limit, self.link.connect()).await {
            Ok(r) => r,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("connect timed out after {limit:?}"),
            )),
        };
        let proto = t.names().protocol;
        match opened {
            Ok(c) => {
                debug!(bus = %self.cfg.name, "{proto} connection open.");
                self.conn = Some(c);
                self.reconnect_at = None;
                Ok(())
            }
            Err(e) => {
                let wait = self.backoff.next_delay();
                self.reconnect_at = Some(later(Instant::now(), wait));
                t.error("connect");
                warn!(bus = %self.cfg.name, device = %t.device, error = %e, retry_in = ?wait,
                    metric = t.names().errors, kind = "connect", "{proto} connect failed; backing off.");
                Err(L::Error::transport(e))
            }
        }
    }
}
