//! The durable outbox. (Stub: being written; the API below is fixed.)

pub mod config;
pub use config::OutboxConfig;

use std::path::Path;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("outbox full")]
    Full,
    #[error("outbox I/O at {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A batch of records read from the outbox: newline-terminated
/// line-protocol lines, and the position to acknowledge.
#[derive(Debug)]
pub struct Batch {
    pub data: Vec<u8>,
    pub lines: usize,
}

/// The writing half: owned by the pipeline.
pub struct OutboxWriter {}

impl OutboxWriter {
    /// Appends one record (one line, with or without trailing newline).
    pub fn append(&mut self, _line: &[u8]) -> Result<(), OutboxError> {
        Ok(())
    }
    /// Makes every appended record durable per the fsync policy and visible to the reader.
    pub fn commit(&mut self) -> Result<(), OutboxError> {
        Ok(())
    }
}

/// The reading half: owned by one sink.
pub struct OutboxReader {}

impl OutboxReader {
    /// Waits for records; returns up to `max_lines`/`max_bytes`, waiting at
    /// most `linger` after the first record for a fuller batch. `Ok(None)`
    /// when the writer is gone and everything has been read.
    pub async fn next_batch(
        &mut self,
        _max_lines: usize,
        _max_bytes: usize,
        _linger: Duration,
    ) -> Result<Option<Batch>, OutboxError> {
        Ok(None)
    }
    /// Acknowledges a batch: it will not be read again, even after a restart.
    pub fn ack(&mut self, _batch: Batch) -> Result<(), OutboxError> {
        Ok(())
    }
}

/// Opens (or creates) the outbox in `dir`.
pub fn open(_dir: &Path, _cfg: &OutboxConfig) -> Result<(OutboxWriter, OutboxReader), OutboxError> {
    Ok((OutboxWriter {}, OutboxReader {}))
}
