//! The pipeline between sources and outboxes. (Stub: being written.)

use crate::deadletter::DeadLetter;
use crate::model::Reading;

/// Acknowledges a source message once its readings are durably stored (or
/// dead-lettered). Called in the order batches were sent.
pub struct Ack(Box<dyn FnOnce() + Send>);

impl Ack {
    pub fn new(f: impl FnOnce() + Send + 'static) -> Self {
        Ack(Box::new(f))
    }
    pub fn fire(self) {
        (self.0)()
    }
}

impl std::fmt::Debug for Ack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ack")
    }
}

/// What a source hands to the pipeline: the readings of one message (or one
/// poll), the inputs that could not be used, and the acknowledgement to fire
/// once both are durable.
#[derive(Debug, Default)]
pub struct SourceBatch {
    pub readings: Vec<Reading>,
    pub dead: Vec<DeadLetter>,
    pub ack: Option<Ack>,
}

/// The channel sources send into.
pub type SourceTx = tokio::sync::mpsc::Sender<SourceBatch>;
