//! Community-wide infrastructure accumulators, keyed by interval start.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use super::lighting::{close_lighting, record_lamp, LampState, LightAcc};
pub use super::parking::{
    close_chargers, close_parking, fire_lanes, record_bay, record_charger, BayState, ChargerAcc,
    ChargerState, LotAcc,
};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct InfraState {
    pub light: BTreeMap<i64, LightAcc>,
    /// Lot → interval start → accumulators.
    pub lots: BTreeMap<String, BTreeMap<i64, LotAcc>>,
    pub chargers: BTreeMap<i64, ChargerAcc>,
    /// Closed fire-lane events not yet emitted.
    pub pending: Vec<super::parking::FireEvent>,
}
