//! One HTTP/1 connection, with its two clocks:
//!
//! - hyper's header-read timeout (it needs a [`TokioTimer`]; without one it
//!   is silently inactive): the request head must be complete within
//!   `header_read_timeout` from connecting or from the previous response,
//!   which also closes idle keep-alive connections;
//! - an idle timeout of our own: the socket is wrapped so every byte read or
//!   written notes the time, and a connection on which nothing moved for
//!   `idle_timeout` (a client that stops reading its response) is dropped.
//!
//! Memory per connection is bounded by `MAX_BUF` (hyper's default is ~400 KB).

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::AUTHORIZATION;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::routes::{Req, Router};
use crate::metrics;

/// hyper's read and write buffer ceiling: our requests are a GET line and a
/// few headers (a longer head is answered 431).
const MAX_BUF: usize = 16 * 1024;

/// The time limits of a connection.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub header_read: Duration,
    pub idle: Duration,
}

/// When a byte last moved on the connection, in ms since it was accepted.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = self.start.elapsed().as_millis();
        self.last_ms
            .store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// A socket that notes every byte read or written in its [`Activity`].
struct Tracked<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// HttpConnectionTimedOut, by which clock (`header_read`, `idle`).
fn timed_out(timeout: &str) -> metrics::Counter {
    metrics::counter(
        "http_connections_timed_out_total",
        "HTTP connections closed by header_read_timeout or idle_timeout.",
        &[("timeout", timeout)],
    )
}

async fn handle(
    router: &Router,
    req: &Request<Incoming>,
) -> hyper::Response<http_body_util::Full<hyper::body::Bytes>> {
    router
        .route(&Req {
            method: req.method(),
            path: req.uri().path(),
            query: req.uri().query().unwrap_or(""),
            authorization: req.headers().get(AUTHORIZATION).map(|v| v.as_bytes()),
        })
        .await
}

/// Serves one connection until the client is done, a timeout closes it, or
/// `shutdown`.
pub(super) async fn serve<T>(
    stream: T,
    router: Arc<Router>,
    t: Timeouts,
    shutdown: CancellationToken,
) where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Tracked {
        inner: stream,
        activity: activity.clone(),
    });
    let svc = hyper::service::service_fn(move |req| {
        let router = router.clone();
        async move { Ok::<_, Infallible>(handle(&router, &req).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(t.header_read)
        .max_buf_size(MAX_BUF);
    let conn = builder.serve_connection(io, svc);
    tokio::pin!(conn);
    loop {
        let deadline = activity.last() + t.idle;
        tokio::select! {
            r = conn.as_mut() => {
                match r {
                    Err(e) if e.is_timeout() => {
                        timed_out("header_read").inc();
                        tracing::debug!("HTTP connection timed out reading the request head.");
                    }
                    Err(e) => tracing::debug!(error = %e, "HTTP connection ended with an error."),
                    Ok(()) => {}
                }
                return;
            }
            _ = tokio::time::sleep_until(deadline) => {
                if activity.last() + t.idle <= Instant::now() {
                    timed_out("idle").inc();
                    tracing::debug!(idle = ?t.idle, "HTTP connection timed out idle.");
                    return;
                }
            }
            _ = shutdown.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::auth::Auth;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn router() -> Arc<Router> {
        Arc::new(Router {
            auth: Auth::none(),
            extra: Vec::new(),
        })
    }

    // The idle clock is longer, so a silent client is always cut by the
    // header-read clock (with equal values either may fire first).
    const T: Timeouts = Timeouts {
        header_read: Duration::from_millis(300),
        idle: Duration::from_millis(900),
    };

    /// A bound for "it happens", not a timing: far above both timeouts.
    const GUARD: Duration = Duration::from_secs(30);

    fn timeouts(kind: &str) -> u64 {
        timed_out(kind).get()
    }

    #[tokio::test]
    async fn a_silent_client_is_closed_by_the_header_read_timeout() {
        let before = timeouts("header_read");
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let task = tokio::spawn(serve(server, router(), T, CancellationToken::new()));
        let mut buf = Vec::new();
        // EOF: the server dropped its end.
        let read = tokio::time::timeout(GUARD, client.read_to_end(&mut buf)).await;
        assert_eq!(read.ok().and_then(Result::ok), Some(0));
        assert!(task.await.is_ok());
        assert!(timeouts("header_read") > before);
    }

    #[tokio::test]
    async fn a_trickled_head_is_cut_before_it_completes() {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let task = tokio::spawn(serve(server, router(), T, CancellationToken::new()));
        let head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
        let mut sent = 0;
        for b in head {
            if task.is_finished() || client.write_all(&[*b]).await.is_err() {
                break;
            }
            sent += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(sent < head.len(), "the whole head got through");
        assert!(tokio::time::timeout(GUARD, task).await.is_ok());
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_is_closed_by_the_idle_timeout() {
        let before = timeouts("idle");
        // A pipe far smaller than the response: the server's write blocks.
        let (mut client, server) = tokio::io::duplex(64);
        crate::metrics::gauge("conn_test_padding", "Makes /metrics long.", &[]).set(1);
        let task = tokio::spawn(serve(server, router(), T, CancellationToken::new()));
        let req = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
        client.write_all(req).await.expect("request");
        assert!(tokio::time::timeout(GUARD, task).await.is_ok());
        assert!(timeouts("idle") > before);
    }

    #[tokio::test]
    async fn a_request_is_answered() {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        tokio::spawn(serve(server, router(), T, CancellationToken::new()));
        let req = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        client.write_all(req).await.expect("request");
        let mut buf = Vec::new();
        let read = tokio::time::timeout(GUARD, client.read_to_end(&mut buf)).await;
        assert!(matches!(read, Ok(Ok(_))), "{read:?}");
        let text = String::from_utf8_lossy(&buf);
        assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
        assert!(text.ends_with("ok\n"), "{text}");
    }
}
