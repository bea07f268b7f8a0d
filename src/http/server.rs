//! The accept loop: a connection limit, backoff when accepting fails, and
//! logs that cannot flood.
//!
//! - At most `max_connections` connections are served at once (a semaphore
//!   permit per connection); one over the limit is answered `503` with a
//!   single non-blocking write and closed at once, so a flood of half-open
//!   connections costs a file descriptor for microseconds, not memory.
//! - When `accept` fails for want of resources (EMFILE, ENFILE, ENOBUFS,
//!   ENOMEM), the same error would return at once on the next call: the loop
//!   sleeps with the capped backoff (10 ms doubling to 1 s, reset by the
//!   next accepted connection) instead of spinning. Errors that concern one
//!   connection only (aborted, reset) are retried at once.
//! - Each of these events is counted every time and logged at most once per
//!   `LOG_EVERY`, with the number left out.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::conn::{self, Timeouts};
use super::routes::Router;
use crate::backoff::Backoff;
use crate::log_limit::LogLimit;
use crate::metrics;

/// At most one log line per event kind in this interval.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// What an over-the-limit connection is told before it is closed.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\nRetry-After: 1\r\n\r\n";

/// How the server runs (from `[http]`, see [`super::Options`]).
pub struct Limits {
    pub timeouts: Timeouts,
    pub max_connections: usize,
}

/// Whether an accept error concerns only the connection being accepted
/// (retry at once) rather than the process (back off).
pub fn is_per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted | WouldBlock
    )
}

struct Counters {
    open: metrics::Gauge,
    rejected: metrics::Counter,
    accept_errors: metrics::Counter,
}

impl Counters {
    fn new() -> Counters {
        Counters {
            open: metrics::gauge(
                "http_connections_open",
                "HTTP connections being served.",
                &[],
            ),
            rejected: metrics::counter(
                "http_connections_rejected_total",
                "HTTP connections closed at once because max_connections were open.",
                &[],
            ),
            accept_errors: metrics::counter(
                "http_accept_errors_total",
                "Failed accepts on the HTTP listener (e.g. out of file descriptors).",
                &[],
            ),
        }
    }
}

/// A served connection's permit and place in `http_connections_open`.
struct Slot {
    _permit: OwnedSemaphorePermit,
    open: metrics::Gauge,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.add(-1);
    }
}

/// Accepts on `listener` until `shutdown`.
pub async fn accept_loop(
    listener: TcpListener,
    router: Arc<Router>,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let c = Counters::new();
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut backoff = Backoff::new(Duration::from_millis(10), Duration::from_secs(1));
    let mut accept_log = LogLimit::new(LOG_EVERY);
    let mut reject_log = LogLimit::new(LOG_EVERY);
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.cancelled() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff.reset();
                match permits.clone().try_acquire_owned() {
                    Ok(permit) => {
                        c.open.add(1);
                        let slot = Slot {
                            _permit: permit,
                            open: c.open.clone(),
                        };
                        let (router, stop) = (router.clone(), shutdown.clone());
                        let timeouts = limits.timeouts;
                        tokio::spawn(async move {
                            conn::serve(stream, router, timeouts, stop).await;
                            drop(slot);
                        });
                    }
                    Err(_) => {
                        c.rejected.inc();
                        refuse(stream);
                        if let Some(suppressed) = reject_log.hit(std::time::Instant::now()) {
                            tracing::warn!(
                                peer = %peer,
                                max_connections = limits.max_connections,
                                suppressed,
                                "HTTP connection rejected: max_connections are open."
                            );
                        }
                    }
                }
            }
            Err(e) if is_per_connection(&e) => {
                c.accept_errors.inc();
                tracing::debug!(error = %e, "HTTP accept failed for one connection.");
            }
            Err(e) => {
                c.accept_errors.inc();
                let delay = backoff.next_delay();
                if let Some(suppressed) = accept_log.hit(std::time::Instant::now()) {
                    tracing::warn!(
                        error = %e,
                        retry_in = ?delay,
                        suppressed,
                        "HTTP accept failed; backing off."
                    );
                }
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.cancelled() => return,
                }
            }
        }
    }
}

/// Tells an over-the-limit client 503 if its socket takes it at once, and
/// closes.
fn refuse(stream: TcpStream) {
    let _ = stream.try_write(BUSY);
    drop(stream);
}

/// Binds `addr`; the caller spawns [`accept_loop`].
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error, ErrorKind};

    #[test]
    fn resource_errors_back_off_and_per_connection_errors_do_not() {
        // EMFILE, ENFILE, ENOBUFS, ENOMEM on Linux.
        for errno in [24, 23, 105, 12] {
            assert!(
                !is_per_connection(&Error::from_raw_os_error(errno)),
                "{errno}"
            );
        }
        assert!(is_per_connection(&Error::from(
            ErrorKind::ConnectionAborted
        )));
        assert!(is_per_connection(&Error::from(ErrorKind::ConnectionReset)));
        assert!(!is_per_connection(&Error::from(
            ErrorKind::PermissionDenied
        )));
    }
}
