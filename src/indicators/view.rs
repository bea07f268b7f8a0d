//! Read-only views of the engine's state for the status page: nothing here
//! changes the engine.

use super::engine::IndicatorEngine;
use super::security::OpenAlarm;

impl IndicatorEngine {
    /// Alarms raised and not yet cleared, oldest first.
    pub fn open_alarms(&self) -> Vec<OpenAlarm> {
        self.state.security.open_alarms()
    }

    /// A noise sensor's effective (day, night) limits in dB(A), indoor
    /// offset applied; `None` for an unknown device or one without a zone
    /// class.
    pub fn noise_limits(&self, device: &str) -> Option<(f64, f64)> {
        let i = *self.index.get(device)?;
        self.attrs.get(i)?.noise.limits
    }
}
