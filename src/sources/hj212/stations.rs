//! Which station an upload comes from, whether its password is right, and
//! which CRC it writes (pure).

use std::collections::HashMap;

use super::config::{Hj212Config, UnknownMn};
use crate::config::Secret;
use crate::protocols::hj212::Crc;

/// A configured station.
#[derive(Debug, Clone)]
pub(super) struct Station {
    pub device: String,
    pw: Option<Secret>,
    pub crc: Crc,
}

/// The station table of one source.
#[derive(Debug, Clone)]
pub(super) struct Stations {
    by_mn: HashMap<String, Station>,
    default_pw: Option<Secret>,
    pub default_crc: Crc,
    unknown: UnknownMn,
}

/// What to do with a packet, from its MN and PW.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Store it as this device's; answers use this CRC.
    Accept { device: String, crc: Crc },
    /// Refuse: 9011 QnRtn 3.
    BadPw,
    /// Unknown MN (or none), under `refuse`: 9011 QnRtn 4.
    RefuseMn,
    /// Unknown MN under `dead_letter`.
    DeadLetterMn,
}

impl Stations {
    pub(super) fn new(cfg: &Hj212Config) -> Stations {
        let default_crc = cfg.crc.crc();
        Stations {
            by_mn: cfg
                .stations
                .iter()
                .map(|s| {
                    let st = Station {
                        device: s.device.clone(),
                        pw: s.pw.clone().or_else(|| cfg.pw.clone()),
                        crc: s.crc.map_or(default_crc, |c| c.crc()),
                    };
                    (s.mn.clone(), st)
                })
                .collect(),
            default_pw: cfg.pw.clone(),
            default_crc,
            unknown: cfg.unknown_mn,
        }
    }

    pub(super) fn get(&self, mn: &str) -> Option<&Station> {
        self.by_mn.get(mn)
    }

    /// The CRC variant the station `mn` writes.
    pub(super) fn crc_of(&self, mn: Option<&str>) -> Crc {
        mn.and_then(|m| self.get(m))
            .map_or(self.default_crc, |s| s.crc)
    }

    pub(super) fn judge(&self, mn: Option<&str>, pw: Option<&str>) -> Verdict {
        let known = mn.and_then(|m| self.get(m).map(|s| (m, s)));
        let (device, want, crc) = match (known, mn) {
            (Some((_, s)), _) => (s.device.clone(), s.pw.as_ref(), s.crc),
            (None, Some(m)) if self.unknown == UnknownMn::Accept && !m.is_empty() => {
                (m.to_string(), self.default_pw.as_ref(), self.default_crc)
            }
            (None, _) if self.unknown == UnknownMn::DeadLetter => return Verdict::DeadLetterMn,
            (None, _) => return Verdict::RefuseMn,
        };
        match want {
            Some(w) if Some(w.expose()) == pw => Verdict::Accept { device, crc },
            // No password configured for it (validation requires one).
            None => Verdict::BadPw,
            Some(_) => Verdict::BadPw,
        }
    }
}

/// The bytes with every `PW=` value replaced by `***` (dead letters keep
/// no password).
pub(super) fn redact_pw(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"PW=")
            && (i == 0 || matches!(bytes[i - 1], b';' | b'#' | b' ' | b'0'..=b'9'))
        {
            out.extend_from_slice(b"PW=***");
            i += 3;
            while i < bytes.len() && !matches!(bytes[i], b';' | b'&' | b'\r' | b'\n') {
                i += 1;
            }
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::hj212::config::{CrcVariant, StationConfig};

    fn cfg(unknown: UnknownMn) -> Hj212Config {
        Hj212Config {
            pw: Some(Secret::new("123456")),
            unknown_mn: unknown,
            stations: vec![
                StationConfig {
                    mn: "GG0001".into(),
                    device: "noise-07".into(),
                    ..Default::default()
                },
                StationConfig {
                    mn: "GG0002".into(),
                    device: "noise-08".into(),
                    pw: Some(Secret::new("own")),
                    crc: Some(CrcVariant::ModbusLowFirst),
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn a_known_station_with_its_password_is_its_device() {
        let s = Stations::new(&cfg(UnknownMn::Refuse));
        assert_eq!(
            s.judge(Some("GG0001"), Some("123456")),
            Verdict::Accept {
                device: "noise-07".into(),
                crc: Crc::Standard
            }
        );
        assert_eq!(
            s.judge(Some("GG0002"), Some("own")),
            Verdict::Accept {
                device: "noise-08".into(),
                crc: Crc::ModbusLowFirst
            }
        );
        assert_eq!(s.judge(Some("GG0002"), Some("123456")), Verdict::BadPw);
        assert_eq!(s.judge(Some("GG0001"), None), Verdict::BadPw);
    }

    #[test]
    fn unknown_stations_follow_the_configured_rule() {
        let r = Stations::new(&cfg(UnknownMn::Refuse));
        assert_eq!(r.judge(Some("X"), Some("123456")), Verdict::RefuseMn);
        assert_eq!(r.judge(None, Some("123456")), Verdict::RefuseMn);
        let d = Stations::new(&cfg(UnknownMn::DeadLetter));
        assert_eq!(d.judge(Some("X"), Some("123456")), Verdict::DeadLetterMn);
        let a = Stations::new(&cfg(UnknownMn::Accept));
        assert_eq!(
            a.judge(Some("X"), Some("123456")),
            Verdict::Accept {
                device: "X".into(),
                crc: Crc::Standard
            }
        );
        assert_eq!(a.judge(Some("X"), Some("bad")), Verdict::BadPw);
        assert_eq!(a.judge(None, Some("123456")), Verdict::RefuseMn, "no MN");
    }

    #[test]
    fn dead_letters_keep_no_password() {
        assert_eq!(
            redact_pw(b"##0030QN=1;PW=s3cret;MN=A;CP=&&&&ABCD\r\n"),
            b"##0030QN=1;PW=***;MN=A;CP=&&&&ABCD\r\n".to_vec()
        );
        assert_eq!(redact_pw(b"PW=x"), b"PW=***".to_vec());
        assert_eq!(redact_pw(b"CP=&&XPW=1&&"), b"CP=&&XPW=1&&".to_vec());
    }
}
