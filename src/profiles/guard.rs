//! What an input cannot say about itself, whatever its payload claims:
//!
//! - **which device it is**, when the gateway already knows: the device the
//!   topic names (a `+device` capture, or the subscription's static `device`
//!   tag) wins over a `device` tag in the payload, or the message is rejected
//!   ([`DeviceMismatch`], per subscription). Without a device from the topic
//!   the payload's is the only one there is, and is used.
//! - **that it is an indicator**: measurements starting with
//!   [`INDICATOR_PREFIX`] (`gg_`) are computed by greengate and forwarded to
//!   the city platform; no input may deliver one (refused at decode time for
//!   MQTT payloads, and a config problem for a profile that configures one).
//!
//! Pure functions over decoded readings, so every rule is a unit test.

use serde::Deserialize;

use crate::model::Reading;
use crate::pipeline::INDICATOR_PREFIX;

/// What a subscription does when a payload's `device` tag contradicts the
/// device its topic names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceMismatch {
    /// The topic's device replaces the payload's (counted in
    /// `mqtt_device_overrides_total`).
    #[default]
    TopicWins,
    /// The message is rejected and dead-lettered (`device_mismatch`).
    Reject,
}

/// Why decoded readings are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error("payload tag device={payload:?} contradicts the topic's device {topic:?}")]
    DeviceMismatch { topic: String, payload: String },
    #[error("measurement {0:?} has the reserved indicator prefix \"gg_\": indicators are computed by greengate, never received")]
    Reserved(String),
}

impl GuardError {
    /// The metric label (`mqtt_messages_rejected_total{reason}`).
    pub fn reason(&self) -> &'static str {
        match self {
            GuardError::DeviceMismatch { .. } => "device_mismatch",
            GuardError::Reserved(_) => "reserved_measurement",
        }
    }
}

/// Whether `measurement` is reserved for indicators.
pub fn is_reserved(measurement: &str) -> bool {
    measurement.starts_with(INDICATOR_PREFIX)
}

/// The config problem for a profile that configures a reserved measurement.
pub fn reserved_problem(measurement: &str) -> Option<String> {
    is_reserved(measurement).then(|| {
        format!("{measurement:?} has the prefix \"{INDICATOR_PREFIX}\", reserved for the indicators greengate computes")
    })
}

/// Refuses the message if any reading has a reserved measurement.
pub fn refuse_reserved(readings: &[Reading]) -> Result<(), GuardError> {
    match readings.iter().find(|r| is_reserved(&r.measurement)) {
        Some(r) => Err(GuardError::Reserved(r.measurement.clone())),
        None => Ok(()),
    }
}

/// Makes `device` (the topic's) the device of every reading. Returns how
/// many readings carried another device (replaced with
/// [`DeviceMismatch::TopicWins`]); with [`DeviceMismatch::Reject`] the first
/// such reading is an error and nothing is changed.
pub fn enforce_device(
    readings: &mut [Reading],
    device: &str,
    policy: DeviceMismatch,
) -> Result<usize, GuardError> {
    let forged = |r: &Reading| r.tag("device").is_some_and(|d| d != device);
    if policy == DeviceMismatch::Reject {
        if let Some(r) = readings.iter().find(|r| forged(r)) {
            return Err(GuardError::DeviceMismatch {
                topic: device.to_string(),
                payload: r.tag("device").unwrap_or_default().to_string(),
            });
        }
    }
    let mut overridden = 0;
    for r in readings.iter_mut() {
        if forged(r) {
            overridden += 1;
        }
        r.set_tag("device", device);
    }
    Ok(overridden)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(measurement: &str, device: Option<&str>) -> Reading {
        let mut r = Reading::new(measurement, 1);
        if let Some(d) = device {
            r.set_tag("device", d);
        }
        r
    }

    #[test]
    fn the_topics_device_wins_over_the_payloads_and_is_counted() {
        let mut rs = vec![
            reading("env", Some("devB")),
            reading("env", Some("devA")),
            reading("env", None),
        ];
        let n = enforce_device(&mut rs, "devA", DeviceMismatch::TopicWins).unwrap();
        assert_eq!(n, 1);
        assert!(rs.iter().all(|r| r.tag("device") == Some("devA")));
    }

    #[test]
    fn a_mismatch_is_rejected_when_the_subscription_says_so() {
        let mut rs = vec![reading("env", Some("devA")), reading("env", Some("devB"))];
        let e = enforce_device(&mut rs, "devA", DeviceMismatch::Reject).unwrap_err();
        assert_eq!(e.reason(), "device_mismatch");
        assert_eq!(
            e.to_string(),
            "payload tag device=\"devB\" contradicts the topic's device \"devA\""
        );
        assert_eq!(rs[1].tag("device"), Some("devB"), "nothing is changed");
        let mut ok = vec![reading("env", Some("devA")), reading("env", None)];
        assert_eq!(
            enforce_device(&mut ok, "devA", DeviceMismatch::Reject),
            Ok(0)
        );
        assert_eq!(ok[1].tag("device"), Some("devA"));
    }

    #[test]
    fn indicator_measurements_are_refused_from_inputs() {
        let rs = vec![reading("noise", None), reading("gg_noise_day", None)];
        let e = refuse_reserved(&rs).unwrap_err();
        assert_eq!(e.reason(), "reserved_measurement");
        assert!(e.to_string().starts_with("measurement \"gg_noise_day\""));
        assert!(refuse_reserved(&rs[..1]).is_ok());
        assert!(reserved_problem("gg_x").is_some());
        assert!(reserved_problem("noise_gg_").is_none());
    }
}
