//! `[sources.mqtt]`: the broker connection and the subscriptions.
//!
//! Validation checks everything a connection would trip on later: the
//! client id, every topic filter (with its captures), the password file and
//! the TLS files (read and parsed as PEM), and the limits. It also records
//! the config file's directory so the runtime can re-read the password and
//! TLS files at every reconnect (certificate rotation without a restart).

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::mqtt::{Connection, OptionsError, MIN_KEEP_ALIVE_V5};
pub use crate::common::mqtt::{Protocol, TlsConfig};
use crate::config::{join, rebase_paths, Check, Rebase, Secret, Tags, Validate};
use crate::profiles::guard::DeviceMismatch;
use crate::profiles::mqtt::Format;
use crate::profiles::topic::TopicFilter;
use crate::profiles::{CheckRefs, Profile, ProfileSet};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Largest payload MQTT can carry (remaining length limit).
pub const MQTT_MAX_PACKET: usize = 268_435_455;

/// The default [`MqttConfig::receive_limit`]: well above any sensible
/// `max_payload_bytes`, small enough to buffer on an edge box.
pub const DEFAULT_RECEIVE_LIMIT: usize = 32 << 20;

/// Room in a PUBLISH beside its payload: the topic (at most 65,535 bytes),
/// its length, the packet id and the fixed header.
const PACKET_OVERHEAD: usize = 64 * 1024 + 16;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct MqttConfig {
    /// MQTT 3.1.1 (default; `4` or `"3.1.1"`) or `5`.
    pub protocol: Protocol,
    pub host: String,
    pub port: u16,
    /// Fixed client id: the broker keeps the session (queued QoS 1
    /// messages) under it while greengate is away.
    pub client_id: String,
    /// Keep `false`: a persistent session is what makes QoS 1 lossless.
    pub clean_session: bool,
    #[serde(deserialize_with = "crate::config::duration")]
    pub keep_alive: Duration,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    pub tls: Option<TlsConfig>,
    /// Larger messages are rejected and dead-lettered.
    pub max_payload_bytes: usize,
    /// The largest MQTT packet the client reads at all (rumqttc's incoming
    /// limit); see [`MqttConfig::receive_limit`].
    pub receive_limit_bytes: Option<usize>,
    /// Outgoing in-flight window of the client (rumqttc `inflight`); the
    /// incoming window is the broker's `max_inflight_messages` in MQTT 3.1.1,
    /// [`MqttConfig::receive_maximum`] with MQTT 5.
    pub inflight: u16,
    /// MQTT 5 only: the Receive Maximum announced in CONNECT, the number of
    /// unacknowledged QoS 1/2 messages the broker may send this session
    /// (default: `inflight`).
    pub receive_maximum: Option<u16>,
    /// MQTT 5 only: how long the broker keeps the session (and its queue)
    /// after a disconnect. Unset: never expires, as a 3.1.1 persistent
    /// session.
    #[serde(deserialize_with = "crate::config::opt_duration")]
    pub session_expiry: Option<Duration>,
    #[serde(deserialize_with = "crate::config::duration")]
    pub reconnect_min: Duration,
    #[serde(deserialize_with = "crate::config::duration")]
    pub reconnect_max: Duration,
    pub subscriptions: Vec<Subscription>,
    /// Parallel sessions sharing every subscription (`$share/<share_group>/...`).
    pub sessions: u16,
    pub share_group: String,
    /// The subscriptions, parsed and bound to their profiles by
    /// `Config::load` (see [`MqttConfig::plan`]); the source runs from these.
    #[serde(skip)]
    pub routes: Vec<SubscriptionPlan>,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            protocol: Protocol::default(),
            host: "127.0.0.1".into(),
            port: 1883,
            client_id: String::new(),
            clean_session: false,
            keep_alive: Duration::from_secs(30),
            username: None,
            password: None,
            password_file: None,
            tls: None,
            max_payload_bytes: 256 * 1024,
            receive_limit_bytes: None,
            inflight: 100,
            receive_maximum: None,
            session_expiry: None,
            reconnect_min: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(30),
            subscriptions: Vec::new(),
            sessions: 1,
            share_group: "greengate".into(),
            routes: Vec::new(),
        }
    }
}

/// `[[sources.mqtt.subscriptions]]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct Subscription {
    /// Topic filter with named captures: `community/+site/noise/+device/up`.
    pub filter: String,
    /// The device profile (with an `[mqtt]` table) that decodes its messages.
    pub profile: String,
    pub qos: u8,
    /// Static tags added to every reading from this subscription.
    pub tags: Tags,
    /// When the payload's `device` tag contradicts the topic's device:
    /// `topic_wins` (default, counted) or `reject` (dead letter).
    pub device_mismatch: DeviceMismatch,
}

impl Default for Subscription {
    fn default() -> Self {
        Subscription {
            filter: String::new(),
            profile: String::new(),
            qos: 1,
            tags: Tags::default(),
            device_mismatch: DeviceMismatch::default(),
        }
    }
}

impl MqttConfig {
    /// The connection keys, lent to the shared MQTT connection code.
    pub fn connection(&self) -> Connection<'_> {
        Connection {
            host: &self.host,
            port: self.port,
            client_id: &self.client_id,
            client_id_hint: ": a fixed id keeps the broker session across restarts",
            keep_alive: self.keep_alive,
            username: &self.username,
            password: &self.password,
            password_file: &self.password_file,
            tls: self.tls.as_ref(),
            tls_at: "tls",
        }
    }

    /// The password, read now (from the file if configured).
    pub fn password(&self) -> Result<Option<Secret>, OptionsError> {
        self.connection().password()
    }

    /// One config per session: itself when `sessions <= 1`; otherwise
    /// client ids `<client_id>-<i>` and filters under `$share/<group>/`.
    pub fn session_configs(&self) -> Vec<MqttConfig> {
        if self.sessions <= 1 {
            return vec![self.clone()];
        }
        (0..self.sessions)
            .map(|i| {
                let mut c = self.clone();
                c.client_id = format!("{}-{i}", self.client_id);
                for s in &mut c.subscriptions {
                    if !s.filter.starts_with("$share/") {
                        s.filter = format!("$share/{}/{}", self.share_group, s.filter);
                    }
                }
                for r in &mut c.routes {
                    r.filter = r.filter.shared(&self.share_group);
                }
                c
            })
            .collect()
    }

    /// The smallest packet limit that still lets every payload of
    /// `max_payload_bytes` arrive with the longest topic.
    pub fn max_packet_bytes(&self) -> usize {
        self.max_payload_bytes
            .saturating_add(PACKET_OVERHEAD)
            .min(MQTT_MAX_PACKET)
    }

    /// The MQTT 5 Receive Maximum: `receive_maximum`, else `inflight`.
    pub fn receive_maximum(&self) -> u16 {
        self.receive_maximum.unwrap_or(self.inflight).max(1)
    }

    /// The MQTT 5 Session Expiry Interval in seconds: `session_expiry`, else
    /// what 3.1.1 does: never expires with `clean_session = false` (`u32::MAX`),
    /// ends with the connection with `clean_session = true` (0).
    pub fn session_expiry_secs(&self) -> u32 {
        match self.session_expiry {
            Some(d) => u32::try_from(d.as_secs()).unwrap_or(u32::MAX - 1),
            None if self.clean_session => 0,
            None => u32::MAX,
        }
    }

    /// The largest packet rumqttc reads (its incoming limit): a ceiling far
    /// above `max_payload_bytes`, so that a message over the payload limit
    /// still arrives whole, is dead-lettered (its start only) and is
    /// acknowledged, and never blocks the session. rumqttc buffers a packet
    /// whole before it can be decoded, so this is also the memory a single
    /// message may take. A packet above it fails the connection before it is
    /// read (rumqttc cannot skip it and cannot acknowledge what it did not
    /// parse), and the broker redelivers it on every reconnect: the broker's
    /// own limit (Mosquitto `message_size_limit`) must stay below this one.
    pub fn receive_limit(&self) -> usize {
        self.receive_limit_bytes
            .unwrap_or(DEFAULT_RECEIVE_LIMIT.max(self.max_packet_bytes()))
            .min(MQTT_MAX_PACKET)
    }
}

impl Rebase for MqttConfig {
    fn rebase(&mut self, base: &Path) {
        rebase_paths([&mut self.password_file], base);
        self.tls.rebase(base);
    }
}

impl Validate for MqttConfig {
    fn validate(&self, path: &str, cx: &mut Check) {
        self.connection().validate(path, cx);
        if let Some(t) = &self.tls {
            t.validate(&join(path, "tls"), cx);
        }
        if !(1024..=MQTT_MAX_PACKET).contains(&self.max_payload_bytes) {
            cx.problem(
                join(path, "max_payload_bytes"),
                format!("must be between 1024 and {MQTT_MAX_PACKET}"),
            );
        }
        if let Some(n) = self.receive_limit_bytes {
            let min = self.max_packet_bytes();
            if !(min..=MQTT_MAX_PACKET).contains(&n) {
                cx.problem(
                    join(path, "receive_limit_bytes"),
                    format!("must be between max_payload_bytes + {PACKET_OVERHEAD} ({min}) and {MQTT_MAX_PACKET}, so an oversized payload still arrives to be dead-lettered"),
                );
            }
        }
        if !(1..=64).contains(&self.sessions) {
            cx.problem(join(path, "sessions"), "must be 1..64");
        }
        if self.sessions > 1
            && (self.share_group.is_empty() || self.share_group.contains(['/', '+', '#']))
        {
            cx.problem(
                join(path, "share_group"),
                "must be a non-empty name without '/', '+' or '#'",
            );
        }
        if self.inflight == 0 {
            cx.problem(join(path, "inflight"), "must be at least 1");
        }
        self.validate_v5(path, cx);
        if self.reconnect_min.is_zero() {
            cx.problem(join(path, "reconnect_min"), "must be more than 0");
        }
        if self.reconnect_max < self.reconnect_min {
            cx.problem(
                join(path, "reconnect_max"),
                "must be at least reconnect_min",
            );
        }
        if self.subscriptions.is_empty() {
            cx.problem(
                join(path, "subscriptions"),
                "at least one [[sources.mqtt.subscriptions]] is needed",
            );
        }
        for (i, s) in self.subscriptions.iter().enumerate() {
            let sp = format!("{}[{i}]", join(path, "subscriptions"));
            if let Err(e) = TopicFilter::parse(&s.filter) {
                cx.problem(join(&sp, "filter"), e.to_string());
            }
            if s.qos > 2 {
                cx.problem(join(&sp, "qos"), "must be 0, 1 or 2 (1 recommended)");
            }
            if s.profile.is_empty() {
                cx.problem(join(&sp, "profile"), "must name an MQTT device profile");
            }
            s.tags.validate(&join(&sp, "tags"), cx);
        }
    }
}

impl MqttConfig {
    /// The MQTT 5 keys: only with `protocol = 5` (with 3.1.1 they would
    /// silently do nothing), and the keep-alive rumqttc's MQTT 5 client takes.
    fn validate_v5(&self, path: &str, cx: &mut Check) {
        if self.protocol != Protocol::V5 {
            for (key, set) in [
                ("receive_maximum", self.receive_maximum.is_some()),
                ("session_expiry", self.session_expiry.is_some()),
            ] {
                if set {
                    cx.problem(
                        join(path, key),
                        "needs protocol = 5 (MQTT 3.1.1 has no such property)",
                    );
                }
            }
            return;
        }
        if self.keep_alive < MIN_KEEP_ALIVE_V5 {
            cx.problem(
                join(path, "keep_alive"),
                "must be at least 5s with protocol = 5",
            );
        }
        if self.receive_maximum == Some(0) {
            cx.problem(join(path, "receive_maximum"), "must be 1..65535");
        }
        if let Some(d) = self.session_expiry {
            if d < Duration::from_secs(1) || d.as_secs() >= u64::from(u32::MAX) {
                cx.problem(
                    join(path, "session_expiry"),
                    "must be at least 1s (0 would end the session, and its queued messages, at every disconnect) and below 136 years; leave it unset for never",
                );
            }
        }
    }
}

/// One `[[sources.mqtt.subscriptions]]`, parsed and bound to its profile:
/// what the MQTT source subscribes and routes with. Built once, when the
/// configuration is loaded ([`MqttConfig::plan`]).
#[derive(Debug, Clone)]
pub struct SubscriptionPlan {
    pub filter: TopicFilter,
    pub qos: rumqttc::QoS,
    pub profile: Arc<Profile>,
    pub tags: BTreeMap<String, String>,
    pub device_mismatch: DeviceMismatch,
}

impl MqttConfig {
    /// `self` validated and planned against `profiles`, its paths resolved
    /// against `base`: what `Config::load` does for `[sources.mqtt]`, for
    /// callers that build the section alone (tests, tools).
    pub fn planned(
        mut self,
        base: &Path,
        profiles: &ProfileSet,
    ) -> Result<MqttConfig, crate::config::Problems> {
        let mut cx = Check::new(base);
        self.validate("sources.mqtt", &mut cx);
        self.routes = self.plan("sources.mqtt", profiles, &mut cx);
        cx.into_result()?;
        self.rebase(base);
        Ok(self)
    }
}

impl CheckRefs for MqttConfig {
    fn check_refs(&self, path: &str, profiles: &ProfileSet, cx: &mut Check) {
        self.plan(path, profiles, cx);
    }
}

impl MqttConfig {
    /// Checks each subscription's profile and device id, and returns the
    /// subscriptions that are usable, parsed (`validate` has reported the
    /// filters and QoS that are not). `Config::load` keeps the result in
    /// [`MqttConfig::routes`].
    pub fn plan(&self, path: &str, profiles: &ProfileSet, cx: &mut Check) -> Vec<SubscriptionPlan> {
        // Without a device id a subscription is still planned: the router
        // rejects each of its readings (only a test runs such a config).
        let mut plans = Vec::with_capacity(self.subscriptions.len());
        for (i, s) in self.subscriptions.iter().enumerate() {
            let filter = TopicFilter::parse(&s.filter).ok();
            let qos = match s.qos {
                0 => Some(rumqttc::QoS::AtMostOnce),
                1 => Some(rumqttc::QoS::AtLeastOnce),
                2 => Some(rumqttc::QoS::ExactlyOnce),
                _ => None,
            };
            if s.profile.is_empty() {
                continue;
            }
            let at = format!("{}[{i}].profile", join(path, "subscriptions"));
            match profiles.get(&s.profile) {
                None => cx.problem(at, format!("no profile named {:?} is loaded", s.profile)),
                Some(p) if p.mqtt.is_none() => cx.problem(
                    at,
                    format!(
                        "profile {:?} has no [mqtt] table (it is not an MQTT profile)",
                        s.profile
                    ),
                ),
                Some(p) => {
                    // Every reading needs a device tag: from a capture, the
                    // subscription's tags, or the payload.
                    let from_payload = p.mqtt.as_ref().is_some_and(|m| {
                        m.format == Format::LineProtocol || m.tags.contains_key("device")
                    });
                    let captured = filter
                        .as_ref()
                        .map_or(true, |f| f.capture_names().any(|n| n == "device"));
                    if !from_payload && !captured && !s.tags.0.contains_key("device") {
                        cx.problem(
                            format!("{}[{i}].filter", join(path, "subscriptions")),
                            format!(
                                "no device id: capture it (+device) or set tags.device; profile {:?} does not take it from the payload",
                                s.profile
                            ),
                        );
                    }
                    let from_property = p
                        .mqtt
                        .as_ref()
                        .and_then(|m| m.time.as_ref())
                        .and_then(|t| t.property.as_ref());
                    if let (Some(name), Protocol::V4) = (from_property, self.protocol) {
                        cx.problem(
                            at.clone(),
                            format!(
                                "profile {:?} reads its time from the user property {name:?}, which only MQTT 5 carries: set protocol = 5",
                                s.profile
                            ),
                        );
                    }
                    if let (Some(filter), Some(qos)) = (filter, qos) {
                        plans.push(SubscriptionPlan {
                            filter,
                            qos,
                            profile: Arc::new(p.clone()),
                            tags: s.tags.0.clone(),
                            device_mismatch: s.device_mismatch,
                        });
                    }
                }
            }
        }
        plans
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
