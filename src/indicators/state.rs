//! Everything the engine knows, as plain data: the one document a
//! checkpoint writes (versioned JSON, see [`super::checkpoint`]). The
//! indicators own the logic; their state lives here so that a checkpoint
//! stays one value and its format one place to read.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::chargers::{ChargerAcc, ChargerState};
use super::history::History;
use super::lighting::{LampState, LightAcc};
use super::noise::NoiseState;
use super::parking::{BayState, FireEvent, LotAcc};
use super::{health, security, water};

pub const STATE_VERSION: u32 = 1;

/// Everything the engine knows (checkpointed).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct State {
    pub version: u32,
    pub watermark: i64,
    pub now: i64,
    /// The earliest infrastructure interval not yet closed.
    pub next_interval: Option<i64>,
    pub devices: Vec<DeviceState>,
    pub infra: InfraState,
    pub security: security::SecurityState,
    pub history: History,
    pub late_readings: u64,
}

impl Default for State {
    fn default() -> Self {
        State {
            version: STATE_VERSION,
            watermark: i64::MIN,
            now: i64::MIN,
            next_interval: None,
            devices: Vec::new(),
            infra: Default::default(),
            security: Default::default(),
            history: Default::default(),
            late_readings: 0,
        }
    }
}

/// Per-device state (checkpointed).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DeviceState {
    pub id: String,
    /// The class learned from the first reading when not configured.
    pub class: Option<String>,
    pub health: health::HealthState,
    pub noise: Option<NoiseState>,
    pub water: Option<water::WaterState>,
    pub lamp: Option<LampState>,
    pub bay: Option<BayState>,
    pub charger: Option<ChargerState>,
}

/// Community-wide infrastructure accumulators, keyed by interval start.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct InfraState {
    pub light: BTreeMap<i64, LightAcc>,
    /// Lot → interval start → accumulators.
    pub lots: BTreeMap<String, BTreeMap<i64, LotAcc>>,
    pub chargers: BTreeMap<i64, ChargerAcc>,
    /// Closed fire-lane events not yet emitted.
    pub pending: Vec<FireEvent>,
}
