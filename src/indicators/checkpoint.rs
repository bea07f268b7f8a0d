//! Checkpoints: the whole engine [`State`] as JSON with a `version` field,
//! written atomically (temp file, fsync, rename, fsync of the directory) so
//! a crash leaves either the old or the new checkpoint, never a torn one.
//! Restoring keeps an hour, a night or a day in progress across a restart;
//! device attributes come from the current config, not the checkpoint.

use std::io::Write;
use std::path::Path;

use super::engine::IndicatorEngine;
use super::state::{State, STATE_VERSION};

/// Why a checkpoint cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum IndicatorError {
    /// The bytes are not a checkpoint: start with empty state.
    #[error("checkpoint is not valid: {0}")]
    Corrupt(String),
    /// Written by another version: start with empty state.
    #[error("checkpoint version {found} is not supported (expected {expected})")]
    Version { found: u32, expected: u32 },
    /// The file could not be read or written: check the path and disk.
    #[error("checkpoint file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl IndicatorEngine {
    /// The engine state as versioned JSON.
    pub fn checkpoint(&self) -> Vec<u8> {
        match serde_json::to_vec(&self.state) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "Indicator checkpoint failed to serialise.");
                Vec::new()
            }
        }
    }

    /// Replaces the state with a checkpoint. On error the state is unchanged.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), IndicatorError> {
        #[derive(serde::Deserialize)]
        struct Head {
            version: u32,
        }
        let head: Head =
            serde_json::from_slice(bytes).map_err(|e| IndicatorError::Corrupt(e.to_string()))?;
        if head.version != STATE_VERSION {
            return Err(IndicatorError::Version {
                found: head.version,
                expected: STATE_VERSION,
            });
        }
        let state: State =
            serde_json::from_slice(bytes).map_err(|e| IndicatorError::Corrupt(e.to_string()))?;
        self.state = state;
        self.rebuild_index();
        let ids: Vec<String> = self.devices.keys().cloned().collect();
        for id in ids {
            if !self.index.contains_key(&id) {
                self.ensure_device(&id);
            }
        }
        Ok(())
    }

    /// Writes the checkpoint to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<(), IndicatorError> {
        let io = |source| IndicatorError::Io {
            path: path.display().to_string(),
            source,
        };
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(&self.checkpoint()).map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }

    /// Restores from `path`; `Ok(false)` when there is no checkpoint yet.
    pub fn load(&mut self, path: &Path) -> Result<bool, IndicatorError> {
        match std::fs::read(path) {
            Ok(bytes) => self.restore(&bytes).map(|_| true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(IndicatorError::Io {
                path: path.display().to_string(),
                source,
            }),
        }
    }
}
