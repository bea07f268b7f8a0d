//! InfluxDB sink. (Stub: being written.)

pub mod config;

use tokio_util::sync::CancellationToken;

use crate::deadletter::DeadLetterWriter;
use crate::outbox::OutboxReader;

/// Writes batches from `reader` until it is drained and closed, or until
/// `shutdown` is cancelled (unsent records stay in the outbox).
pub async fn run(
    _cfg: config::InfluxDbConfig,
    _reader: OutboxReader,
    _dead: DeadLetterWriter,
    shutdown: CancellationToken,
) {
    shutdown.cancelled().await;
}
