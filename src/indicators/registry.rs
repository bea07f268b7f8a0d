//! Device attributes that change while the engine runs (config reload).
//!
//! Rule: every window is computed with the attributes in force when it
//! *opened*. A reload at engine time `t` (the clock of the last `advance`)
//! keeps the previous attributes for windows that started before `t` and
//! uses the new ones for windows starting at or after `t`:
//! - a new device's attributes apply to its next readings;
//! - a changed zone class gives new limits to the windows opened after the
//!   reload, while the noise day in progress is judged against the limits
//!   it started with;
//! - a removed device keeps its open windows, which close and are emitted
//!   as usual with its old attributes; afterwards it no longer counts as a
//!   known device (e.g. in `gg_device_health`) unless it reports again.
//!
//! The earlier attributes live only in memory (a restart applies the config
//! to everything, as before) and are forgotten once no window can be open
//! that started before them.

use std::borrow::Cow;
use std::collections::HashMap;

use super::attrs::Attrs;
use super::engine::IndicatorEngine;
use super::window::DAY;
use crate::devices::Devices;

/// Per device index: `(until, attrs)` pairs, oldest first; `attrs` apply to
/// windows starting before `until`.
pub(super) type Earlier = HashMap<usize, Vec<(i64, Attrs)>>;

/// The attributes of device `i` for a window starting at `ws`.
pub(super) fn attrs_at<'a>(
    current: &'a [Attrs],
    earlier: &'a Earlier,
    i: usize,
    ws: i64,
) -> &'a Attrs {
    earlier
        .get(&i)
        .and_then(|v| v.iter().find(|(until, _)| ws < *until))
        .map(|(_, a)| a)
        .unwrap_or(&current[i])
}

/// Every device's attributes for a window starting at `ws` (borrowed when
/// no reload is pending, the usual case).
pub(super) fn all_at<'a>(current: &'a [Attrs], earlier: &'a Earlier, ws: i64) -> Cow<'a, [Attrs]> {
    if earlier.is_empty() {
        return Cow::Borrowed(current);
    }
    Cow::Owned(
        (0..current.len())
            .map(|i| attrs_at(current, earlier, i, ws).clone())
            .collect(),
    )
}

/// Forgets attributes no open window can still use: a window starting
/// before `until` has ended by `until + DAY` (the longest window), so after
/// a watermark past that (with a day's margin) it is closed.
pub(super) fn prune(earlier: &mut Earlier, wm: i64) {
    earlier.retain(|_, v| {
        v.retain(|(until, _)| until.saturating_add(2 * DAY) > wm);
        !v.is_empty()
    });
}

impl IndicatorEngine {
    /// Applies a reloaded device registry (`[devices.<id>]` with their
    /// `indicators` attributes); see the module doc for what applies when.
    pub fn update_devices(&mut self, devices: &Devices) {
        let from = self.state.now;
        let old = std::mem::replace(&mut self.devices, devices.clone());
        let ids: Vec<&String> = old.keys().chain(devices.keys()).collect();
        let mut changed = Vec::new();
        for id in ids {
            let before = old.get(id).map(|c| &c.indicators);
            let after = devices.get(id).map(|c| &c.indicators);
            if before != after && !changed.contains(id) {
                changed.push(id.clone());
            }
        }
        for id in changed {
            let Some(&i) = self.index.get(&id) else {
                // New device: its state starts now, with its attributes.
                self.ensure_device(&id);
                continue;
            };
            let cfg = self.devices.get(&id).map(|c| &c.indicators);
            if cfg.is_none() {
                // Removed: unknown until it reports again.
                self.state.devices[i].class = None;
            }
            let seen = self.state.devices[i].class.clone();
            let new = Attrs::new(&self.cx, cfg, seen.as_deref());
            let prev = std::mem::replace(&mut self.attrs[i], new);
            if from != i64::MIN {
                self.earlier.entry(i).or_default().push((from, prev));
            }
        }
    }
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
