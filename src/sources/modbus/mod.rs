//! Modbus source. (Stub: being written.)

pub mod config;
pub mod profile;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::pipeline::SourceTx;
use crate::profiles::ProfileSet;

/// Polls every configured endpoint until `shutdown` is cancelled.
pub async fn run(
    _cfg: config::ModbusConfig,
    _profiles: Arc<ProfileSet>,
    _tx: SourceTx,
    shutdown: CancellationToken,
) {
    shutdown.cancelled().await;
}
