//! Settings of the HJ 212 source (`[sources.hj212]`): where the server
//! listens, the limits every connection lives under, the password and CRC
//! variant stations use, and which station (MN) is which device. No I/O.
//!
//! ```toml
//! [sources.hj212]
//! listen = "127.0.0.1:9212"
//! pw = "123456"
//! unknown_mn = "dead_letter"        # refuse | dead_letter | accept
//! [[sources.hj212.stations]]
//! mn = "GG0001"
//! device = "noise-07"               # an id of the device registry
//! ```
//!
//! Why the MN map lives here and not on `[devices.<id>]`: the MN is how one
//! protocol names a device, like an MQTT topic capture or a Modbus unit id,
//! and those live with their source too; the registry keeps what every
//! source shares (tags, indicator attributes), and `greengate check`
//! requires every `device` named here to be in it.

use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use crate::config::{join, Check, Secret, Validate};
use crate::protocols::hj212::Crc;

/// What happens to an upload whose MN is not in `stations`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownMn {
    /// Answered 9011 QnRtn 4 (bad MN); nothing stored, the station keeps
    /// its data.
    Refuse,
    /// Written to the dead-letter file (PW redacted), then answered 9011
    /// QnRtn 4: an operator can see and replay it once the MN is mapped.
    #[default]
    DeadLetter,
    /// Stored with the MN itself as device id (checked against `pw`),
    /// answered 9014 like a known station.
    Accept,
}

/// The CRC variant a station writes (protocols.md: three seen in real traffic).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrcVariant {
    #[default]
    Standard,
    ModbusHighFirst,
    ModbusLowFirst,
}

impl CrcVariant {
    pub fn crc(self) -> Crc {
        match self {
            CrcVariant::Standard => Crc::Standard,
            CrcVariant::ModbusHighFirst => Crc::ModbusHighFirst,
            CrcVariant::ModbusLowFirst => Crc::ModbusLowFirst,
        }
    }
}

/// `[sources.hj212]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Hj212Config {
    /// Loopback by default: expose deliberately (stations reach it through
    /// a VPN or a port forward).
    pub listen: SocketAddr,
    /// Connections open at once; one over the limit is closed at once.
    pub max_connections: usize,
    /// The password stations send (PW); a station's own `pw` overrides it.
    pub pw: Option<Secret>,
    /// The CRC variant stations write; a station's own `crc` overrides it.
    pub crc: CrcVariant,
    pub unknown_mn: UnknownMn,
    /// Uploads coded 2051 (minute data) become `noise` readings that feed
    /// the indicators, for stations that send no real-time data; otherwise
    /// they are `noise_interval` readings (`interval = "minute"`).
    pub minute_data_feeds_indicators: bool,
    /// Extra factor codes over the built-in table (`n00000 = "laeq"`): the
    /// canonical field a platform-specific code means.
    pub factor_codes: BTreeMap<String, String>,
    /// The station's clock (DataTime) offset from UTC; by default the
    /// site's `utc_offset`.
    pub utc_offset: Option<crate::config::UtcOffset>,
    /// A connection that sends nothing for this long is closed.
    #[serde(deserialize_with = "crate::config::duration")]
    pub idle_timeout: Duration,
    /// A frame begun must be complete within this time; else its bytes are
    /// dropped and the reader resynchronises on the next `##`.
    #[serde(deserialize_with = "crate::config::duration")]
    pub frame_timeout: Duration,
    /// An answer that cannot be written within this time closes the connection.
    #[serde(deserialize_with = "crate::config::duration")]
    pub write_timeout: Duration,
    /// Frames per second a connection may send (token bucket); beyond,
    /// the server stops reading it until tokens return (TCP back-pressure).
    pub max_frames_per_second: u32,
    /// The bucket's size: frames a connection may send at once.
    pub burst: u32,
    /// Bytes buffered per connection without yielding a frame before the
    /// oldest are dropped (resync on `##`); at least one maximal frame.
    pub max_buffer_bytes: usize,
    /// Split uploads (PNUM/PNO) being put together per connection.
    pub max_pending_uploads: usize,
    /// CP characters of unfinished split uploads held per connection.
    pub max_upload_bytes: usize,
    /// Largest PNUM accepted.
    pub max_packets: u16,
    /// Unfinished split uploads are dropped after this long.
    #[serde(deserialize_with = "crate::config::duration")]
    pub reassembly_timeout: Duration,
    pub stations: Vec<StationConfig>,
}

/// One station: its MN and the registry device it is.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StationConfig {
    pub mn: String,
    /// The `device` tag of its readings: an id in `[devices]`.
    pub device: String,
    pub pw: Option<Secret>,
    pub crc: Option<CrcVariant>,
}

/// Smallest buffer: one frame of the largest segment.
pub const MIN_BUFFER: usize = 9999 + 12;

impl Default for Hj212Config {
    fn default() -> Self {
        Hj212Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 9212)),
            max_connections: 1024,
            pw: None,
            crc: CrcVariant::Standard,
            unknown_mn: UnknownMn::DeadLetter,
            minute_data_feeds_indicators: false,
            factor_codes: BTreeMap::new(),
            utc_offset: None,
            idle_timeout: Duration::from_secs(300),
            frame_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(10),
            max_frames_per_second: 20,
            burst: 40,
            max_buffer_bytes: 2 * MIN_BUFFER,
            max_pending_uploads: 16,
            max_upload_bytes: 256 * 1024,
            max_packets: 256,
            reassembly_timeout: Duration::from_secs(300),
            stations: Vec::new(),
        }
    }
}

/// The canonical fields `factor_codes` may name.
pub const CANONICAL: &[&str] = &[
    "laeq", "lamax", "lamin", "la5", "la10", "la50", "la90", "la95", "ld", "ln", "ldn",
];

impl Hj212Config {
    /// The station's offset from UTC in seconds, given the site's.
    pub fn offset_seconds(&self, site: i32) -> i32 {
        self.utc_offset
            .map_or(site, crate::config::UtcOffset::seconds)
    }

    /// Device ids named by `stations`, for the registry check.
    pub fn devices(&self) -> impl Iterator<Item = (usize, &str)> {
        self.stations
            .iter()
            .enumerate()
            .map(|(i, s)| (i, s.device.as_str()))
    }
}

fn valid_text(s: &str) -> bool {
    !s.is_empty() && !s.contains([';', '=', '&', ',', '\r', '\n']) && s.trim() == s
}

impl Validate for Hj212Config {
    fn validate(&self, path: &str, cx: &mut Check) {
        if self.max_connections == 0 || self.max_connections > 65_536 {
            cx.problem(join(path, "max_connections"), "must be 1 to 65536");
        }
        for (key, d) in [
            ("idle_timeout", self.idle_timeout),
            ("frame_timeout", self.frame_timeout),
            ("write_timeout", self.write_timeout),
            ("reassembly_timeout", self.reassembly_timeout),
        ] {
            if d.is_zero() {
                cx.problem(join(path, key), "must be more than 0s");
            }
        }
        if self.max_frames_per_second == 0 {
            cx.problem(join(path, "max_frames_per_second"), "must be at least 1");
        }
        if self.burst == 0 {
            cx.problem(join(path, "burst"), "must be at least 1");
        }
        if self.max_buffer_bytes < MIN_BUFFER {
            cx.problem(
                join(path, "max_buffer_bytes"),
                format!("must be at least {MIN_BUFFER} (one frame of 9,999 characters)"),
            );
        }
        if self.max_pending_uploads == 0 {
            cx.problem(join(path, "max_pending_uploads"), "must be at least 1");
        }
        if self.max_upload_bytes < 9999 {
            cx.problem(join(path, "max_upload_bytes"), "must be at least 9999");
        }
        if self.max_packets == 0 || self.max_packets > 9999 {
            cx.problem(join(path, "max_packets"), "must be 1 to 9999");
        }
        if let Some(pw) = &self.pw {
            if !valid_text(pw.expose()) {
                cx.problem(join(path, "pw"), "must be non-empty text without ; = & , or spaces around it (not shown: a secret)");
            }
        }
        for (code, field) in &self.factor_codes {
            let at = join(&join(path, "factor_codes"), code);
            if !valid_text(code) || code.contains('-') {
                cx.problem(&at, "a factor code must be non-empty, without - ; = & ,");
            }
            if !CANONICAL.contains(&field.as_str()) {
                cx.problem(
                    at,
                    format!("expected one of {}, got {field:?}", CANONICAL.join(", ")),
                );
            }
        }
        let mut mns = BTreeSet::new();
        for (i, s) in self.stations.iter().enumerate() {
            let at = format!("{path}.stations[{i}]");
            if !valid_text(&s.mn) {
                cx.problem(
                    join(&at, "mn"),
                    "must be non-empty text without ; = & , or spaces around it",
                );
            } else if !mns.insert(s.mn.as_str()) {
                cx.problem(join(&at, "mn"), format!("MN {:?} is given twice", s.mn));
            }
            if s.device.trim().is_empty() {
                cx.problem(join(&at, "device"), "must name a device of [devices]");
            }
            match &s.pw {
                Some(pw) if !valid_text(pw.expose()) => cx.problem(
                    join(&at, "pw"),
                    "must be non-empty text without ; = & , or spaces around it (not shown: a secret)",
                ),
                Some(_) => {}
                None if self.pw.is_none() => cx.problem(
                    join(&at, "pw"),
                    format!("no password: set {path}.pw or this station's pw"),
                ),
                None => {}
            }
        }
        if self.unknown_mn == UnknownMn::Accept && self.pw.is_none() {
            cx.problem(
                join(path, "pw"),
                "unknown_mn = \"accept\" needs a password to check unknown stations against",
            );
        }
        if self.stations.is_empty() && self.unknown_mn != UnknownMn::Accept {
            cx.problem(
                join(path, "stations"),
                "no station: add [[sources.hj212.stations]] (or unknown_mn = \"accept\")",
            );
        }
    }
}
