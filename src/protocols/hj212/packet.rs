//! The data segment: `QN=…;ST=…;CN=…;PW=…;MN=…;Flag=…;[PNUM=…;PNO=…;]CP=&&…&&`.
//!
//! Parsing is lenient where real stations and platforms are (protocols.md):
//! header fields in any order and each optional (2005-style frames have no
//! QN and no Flag), PNUM/PNO in either order and with or without the Flag
//! bit, QN kept verbatim (17-digit time, 13-digit epoch milliseconds, or
//! anything else), unknown header keys ignored.

use chrono::NaiveDateTime;

use super::cp::Cp;
use super::crc::Crc;
use super::frame;
use super::Error;

/// The Flag field: bits 7..2 the protocol version (1 = 2017, 0 = 2005; 2025
/// is reported as 2 but one stack uses 2 otherwise: the caller's setting),
/// bit 1 packets split (PNUM/PNO present), bit 0 the sender wants an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flag(pub u8);

impl Flag {
    pub const fn new(version: u8, split: bool, answer: bool) -> Flag {
        Flag((version << 2) | (if split { 2 } else { 0 }) | (if answer { 1 } else { 0 }))
    }
    pub const fn version(self) -> u8 {
        self.0 >> 2
    }
    pub const fn split(self) -> bool {
        self.0 & 2 != 0
    }
    pub const fn answer_requested(self) -> bool {
        self.0 & 1 != 0
    }
}

/// Command codes (CN) from protocols.md.
pub mod cn {
    /// Answer timeout and retries (`OverTime=5;ReCount=3`).
    pub const SET_TIMEOUT_RETRIES: u16 = 1000;
    pub const READ_CLOCK: u16 = 1011;
    pub const SET_CLOCK: u16 = 1012;
    pub const READ_RTD_INTERVAL: u16 = 1061;
    pub const SET_RTD_INTERVAL: u16 = 1062;
    pub const REAL_TIME_DATA: u16 = 2011;
    pub const EQUIPMENT_STATUS: u16 = 2021;
    pub const DAY_DATA: u16 = 2031;
    pub const MINUTE_DATA: u16 = 2051;
    /// 2025: noise single measurement.
    pub const NOISE_SINGLE: u16 = 2052;
    pub const HOUR_DATA: u16 = 2061;
    /// Request answer, with `QnRtn` (see [`super::qn_rtn`]).
    pub const REQUEST_ANSWER: u16 = 9011;
    /// Execution result, with `ExeRtn` (1 ok, …, 100 no data).
    pub const EXECUTION_RESULT: u16 = 9012;
    pub const NOTIFY_ANSWER: u16 = 9013;
    pub const DATA_ANSWER: u16 = 9014;
    /// 2025: heartbeat.
    pub const HEARTBEAT: u16 = 9015;
}

/// System codes (ST) from protocols.md.
pub mod st {
    pub const AIR: u16 = 22;
    pub const ACOUSTIC_ENVIRONMENT: u16 = 23;
    pub const NOISE_SOURCES: u16 = 36;
    pub const CONSTRUCTION_DUST: u16 = 39;
    pub const SYSTEM_INTERACTION: u16 = 91;
}

/// `QnRtn` values of a 9011 request answer.
pub mod qn_rtn {
    pub const READY: u8 = 1;
    pub const REFUSED: u8 = 2;
    pub const BAD_PW: u8 = 3;
    pub const BAD_MN: u8 = 4;
    pub const BAD_ST: u8 = 5;
    pub const BAD_FLAG: u8 = 6;
    pub const BAD_QN: u8 = 7;
    pub const BAD_CN: u8 = 8;
    pub const BAD_CRC: u8 = 9;
    pub const UNKNOWN: u8 = 100;
}

/// What a QN looks like. Whatever it is, it is echoed verbatim, and never
/// used alone to deduplicate (stations reuse QNs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QnKind {
    /// `YYYYMMDDhhmmsszzz`, the standard's.
    Time(NaiveDateTime),
    /// 13-digit epoch milliseconds (one real platform's commands).
    EpochMillis(i64),
    Other,
}

pub fn qn_kind(qn: &str) -> QnKind {
    let digits = qn.bytes().all(|b| b.is_ascii_digit());
    match qn.len() {
        17 if digits => NaiveDateTime::parse_from_str(qn.get(..14).unwrap_or(""), "%Y%m%d%H%M%S")
            .ok()
            .and_then(|t| {
                let ms = qn.get(14..).and_then(|m| m.parse::<i64>().ok())?;
                t.checked_add_signed(chrono::TimeDelta::milliseconds(ms))
            })
            .map_or(QnKind::Other, QnKind::Time),
        13 if digits => qn.parse().map_or(QnKind::Other, QnKind::EpochMillis),
        _ => QnKind::Other,
    }
}

/// Writes `t` as the standard's QN (`YYYYMMDDhhmmsszzz`, the sender's local
/// time to the millisecond): the inverse of [`QnKind::Time`].
pub fn format_qn(t: NaiveDateTime) -> String {
    t.format("%Y%m%d%H%M%S%3f").to_string()
}

/// One data segment, borrowing the frame's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Packet<'a> {
    pub qn: Option<&'a str>,
    pub st: Option<u16>,
    pub cn: Option<u16>,
    pub pw: Option<&'a str>,
    pub mn: Option<&'a str>,
    pub flag: Option<Flag>,
    /// Total packets and this one's index (from 1) of a split upload.
    pub pnum: Option<u16>,
    pub pno: Option<u16>,
    /// `None` if the segment has no `CP=&&…&&`.
    pub cp: Option<Cp<'a>>,
}

impl<'a> Packet<'a> {
    /// Parses a data segment.
    pub fn parse(segment: &'a str) -> Result<Packet<'a>, Error> {
        let (header, cp) = match segment.find("CP=&&") {
            Some(at) => {
                let rest = segment.get(at + 5..).unwrap_or("");
                let close = rest.rfind("&&").ok_or(Error::UnclosedCp)?;
                (
                    segment.get(..at).unwrap_or(""),
                    Some(Cp(rest.get(..close).unwrap_or(""))),
                )
            }
            None => (segment, None),
        };
        let mut p = Packet {
            cp,
            ..Packet::default()
        };
        for piece in header.split(';') {
            let Some((k, v)) = piece.split_once('=') else {
                continue;
            };
            let (k, v) = (k.trim(), v.trim());
            let num = |key: &'static str| {
                v.parse::<u16>().map_err(|_| Error::BadField {
                    key,
                    value: v.to_string(),
                })
            };
            match k {
                "QN" if p.qn.is_none() => p.qn = Some(v),
                "ST" if p.st.is_none() => p.st = Some(num("ST")?),
                "CN" if p.cn.is_none() => p.cn = Some(num("CN")?),
                "PW" if p.pw.is_none() => p.pw = Some(v),
                "MN" if p.mn.is_none() => p.mn = Some(v),
                "Flag" if p.flag.is_none() => {
                    p.flag = Some(Flag(v.parse::<u8>().map_err(|_| Error::BadField {
                        key: "Flag",
                        value: v.to_string(),
                    })?))
                }
                "PNUM" if p.pnum.is_none() => p.pnum = Some(num("PNUM")?),
                "PNO" if p.pno.is_none() => p.pno = Some(num("PNO")?),
                _ => {}
            }
        }
        Ok(p)
    }

    /// Decodes one frame from the front of `buf` and parses its segment.
    pub fn decode(buf: &'a [u8], crc: Crc) -> Result<Option<(Packet<'a>, usize)>, Error> {
        match frame::decode(buf, crc)? {
            frame::Decoded::Frame { frame, len } => Ok(Some((Packet::parse(frame.segment)?, len))),
            frame::Decoded::NeedMore => Ok(None),
        }
    }

    /// Whether this is one packet of a split upload (PNUM and PNO present,
    /// whatever the Flag says).
    pub fn is_split(&self) -> bool {
        self.pnum.is_some() && self.pno.is_some()
    }

    /// A reply (9011/9012/9013/9014) is never answered, whatever its Flag.
    pub fn is_answer(&self) -> bool {
        matches!(
            self.cn,
            Some(cn::REQUEST_ANSWER | cn::EXECUTION_RESULT | cn::NOTIFY_ANSWER | cn::DATA_ANSWER)
        )
    }

    /// The sender asked for an answer (Flag bit 0) and this is not itself one.
    pub fn wants_answer(&self) -> bool {
        self.flag.is_some_and(Flag::answer_requested) && !self.is_answer()
    }

    /// Whether this is the data answer (9014) to `upload`: the same QN,
    /// whatever its ST and Flag (real platforms answer with the upload's ST
    /// and Flag 5, the standard says ST 91 and Flag 4).
    pub fn answers(&self, upload: &Packet<'_>) -> bool {
        self.cn == Some(cn::DATA_ANSWER) && self.qn.is_some() && self.qn == upload.qn
    }

    /// A 2005-style segment (no QN and no Flag).
    pub fn is_2005_style(&self) -> bool {
        self.qn.is_none() && self.flag.is_none()
    }

    /// The standard's data answer to `upload`: its QN, ST 91, CN 9014, its
    /// PW and MN, Flag 4 (version 1, no answer wanted), empty CP.
    pub fn data_answer(upload: &Packet<'a>) -> Packet<'a> {
        Packet {
            qn: upload.qn,
            st: Some(st::SYSTEM_INTERACTION),
            cn: Some(cn::DATA_ANSWER),
            pw: upload.pw,
            mn: upload.mn,
            flag: Some(Flag::new(1, false, false)),
            pnum: None,
            pno: None,
            cp: Some(Cp("")),
        }
    }

    /// A 9011 request answer to `upload` with `QnRtn=<rtn>` (see
    /// [`qn_rtn`]): its QN, ST 91, its PW and MN, Flag 4. `cp` must outlive
    /// the answer; [`Packet::request_answer_cp`] builds it.
    pub fn request_answer(upload: &Packet<'a>, cp: &'a str) -> Packet<'a> {
        Packet {
            cn: Some(cn::REQUEST_ANSWER),
            cp: Some(Cp(cp)),
            ..Packet::data_answer(upload)
        }
    }

    /// The CP content of a 9011 answer: `QnRtn=<rtn>`.
    pub fn request_answer_cp(rtn: u8) -> String {
        format!("QnRtn={rtn}")
    }

    /// Writes the segment: fields in the standard's order, absent ones left
    /// out. Text fields may not hold `;`, `=`, `&` or line breaks.
    pub fn write(&self, out: &mut String) -> Result<(), Error> {
        use std::fmt::Write;
        let mut put = |k: &str, v: &dyn std::fmt::Display| {
            let _ = write!(out, "{k}={v};");
        };
        for v in [self.qn, self.pw, self.mn].into_iter().flatten() {
            if v.contains([';', '=', '&', '\r', '\n']) || v.trim() != v {
                return Err(Error::Forbidden(v.to_string()));
            }
        }
        if let Some(v) = self.qn {
            put("QN", &v);
        }
        if let Some(v) = self.st {
            put("ST", &v);
        }
        if let Some(v) = self.cn {
            put("CN", &v);
        }
        if let Some(v) = self.pw {
            put("PW", &v);
        }
        if let Some(v) = self.mn {
            put("MN", &v);
        }
        if let Some(v) = self.flag {
            put("Flag", &v.0);
        }
        if let Some(v) = self.pnum {
            put("PNUM", &v);
        }
        if let Some(v) = self.pno {
            put("PNO", &v);
        }
        match self.cp {
            Some(Cp(cp)) if cp.contains("&&") || cp.contains(['\r', '\n']) => {
                return Err(Error::Forbidden(cp.to_string()))
            }
            Some(Cp(cp)) => {
                out.push_str("CP=&&");
                out.push_str(cp);
                out.push_str("&&");
            }
            None => {
                // No CP: drop the last separator.
                if out.ends_with(';') {
                    out.pop();
                }
            }
        }
        Ok(())
    }

    /// The whole frame for this packet with CRC variant `crc`.
    pub fn to_frame(&self, crc: Crc) -> Result<Vec<u8>, Error> {
        let mut seg = String::new();
        self.write(&mut seg)?;
        let mut out = Vec::with_capacity(seg.len() + frame::OVERHEAD);
        frame::encode(&seg, crc, &mut out)?;
        Ok(out)
    }
}
