//! One TCP connection to a platform: frames out, checked packets in.
//!
//! Invariant: [`Conn::next`] is cancel-safe (bytes read stay in the
//! buffer; a packet is removed only when returned), so the sink can wait
//! for the platform's commands and for its outbox at the same time.
//! Garbage, a bad CRC or an unparsable segment from the platform is counted
//! (`hj212_sink_frames_rejected_total`) and skipped; the connection stays.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::session::Incoming;
use crate::metrics::Counter;
use crate::protocols::hj212::{decode, Crc, Decoded, Packet};

/// Bytes held without a whole frame before they are dropped (a frame is
/// at most 10,011 bytes).
const MAX_BUFFERED: usize = 64 << 10;

/// What went wrong; every variant means: drop the connection, reconnect
/// after the backoff.
#[derive(Debug, thiserror::Error)]
pub(super) enum ConnError {
    #[error("connect timed out after {0:?}")]
    ConnectTimeout(Duration),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the platform closed the connection")]
    Closed,
}

pub(super) struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    crc: Crc,
    rejected: Counter,
}

impl Conn {
    pub(super) async fn connect(
        address: &str,
        timeout: Duration,
        crc: Crc,
        rejected: Counter,
    ) -> Result<Conn, ConnError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(address))
            .await
            .map_err(|_| ConnError::ConnectTimeout(timeout))??;
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(4096),
            crc,
            rejected,
        })
    }

    /// Writes whole frames.
    pub(super) async fn send(&mut self, frames: &[u8]) -> Result<(), ConnError> {
        self.stream.write_all(frames).await?;
        Ok(())
    }

    /// The next checked packet from the platform.
    pub(super) async fn next(&mut self) -> Result<Incoming, ConnError> {
        loop {
            if let Some(p) = self.take() {
                return Ok(p);
            }
            if self.buf.len() > MAX_BUFFERED {
                self.rejected.inc();
                self.buf.clear();
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(ConnError::Closed);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Takes the first packet out of the buffer, skipping what is not one.
    fn take(&mut self) -> Option<Incoming> {
        loop {
            let (got, used) = match decode(&self.buf, self.crc) {
                Ok(Decoded::Frame { frame, len }) => (
                    Packet::parse(frame.segment).map(|p| Incoming::from_packet(&p)),
                    len,
                ),
                Ok(Decoded::NeedMore) => return None,
                Err(e) => {
                    tracing::debug!(error = %e, "Platform sent bytes that are not a frame.");
                    (Err(e.clone()), e.skip().max(1))
                }
            };
            self.buf.drain(..used.min(self.buf.len()));
            match got {
                Ok(p) => return Some(p),
                Err(e) => {
                    self.rejected.inc();
                    tracing::warn!(event = "Hj212FrameRejected", error = %e, "Platform frame rejected; skipped.");
                }
            }
        }
    }
}
