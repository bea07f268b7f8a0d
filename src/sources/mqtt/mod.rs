//! MQTT source. (Stub: being written.)

pub mod config;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::pipeline::SourceTx;
use crate::profiles::ProfileSet;

/// Subscribes and forwards readings until `shutdown` is cancelled.
pub async fn run(
    _cfg: config::MqttConfig,
    _profiles: Arc<ProfileSet>,
    _tx: SourceTx,
    shutdown: CancellationToken,
) {
    shutdown.cancelled().await;
}
