//! The platform's commands and greengate's replies: pure, no I/O.
//!
//! | command | reply |
//! |---|---|
//! | 1000 `OverTime=…;ReCount=…` | 9011 `QnRtn=1`, then 9012 `ExeRtn=1` (3 for a value out of range); applies to this platform's connection |
//! | 1011 read the clock | 9011 `QnRtn=1`, 1011 `SystemTime=<local time>`, 9012 `ExeRtn=1` |
//! | 1012 set the clock | 9011 `QnRtn=2` (refused: greengate never sets the system clock) |
//! | 1061 read the real-time interval | 9011 `QnRtn=1`, 1061 `RtdInterval=<s>`, 9012 `ExeRtn=1` |
//! | 1062 `RtdInterval=<s>` (30..=3600) | 9011 `QnRtn=1`, 9012 `ExeRtn=1` (3 out of range) |
//! | another CN | 9011 `QnRtn=8` |
//! | wrong PW / unknown MN / no QN | 9011 `QnRtn=3` / `4` / `7` |
//! | 9011, 9012, 9013, 9014, 9015 | nothing (an answer is never answered) |
//!
//! Replies echo the command's QN verbatim (a platform's may be 13-digit
//! epoch milliseconds, and QNs are reused), carry ST 91 (9011/9012) or the
//! platform's ST (the data of 1011/1061), greengate's PW, the command's MN
//! and Flag = the platform's version with no answer requested.

use chrono::NaiveDateTime;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::protocols::hj212::{cn, format_data_time, qn_rtn, st, Cp, Flag, Packet};

/// A packet read from the platform, owned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Incoming {
    pub qn: Option<String>,
    pub st: Option<u16>,
    pub cn: Option<u16>,
    pub pw: Option<String>,
    pub mn: Option<String>,
    pub flag: Option<Flag>,
    pub cp: String,
}

impl Incoming {
    pub fn from_packet(p: &Packet<'_>) -> Incoming {
        Incoming {
            qn: p.qn.map(str::to_string),
            st: p.st,
            cn: p.cn,
            pw: p.pw.map(str::to_string),
            mn: p.mn.map(str::to_string),
            flag: p.flag,
            cp: p.cp.map_or(String::new(), |c| c.0.to_string()),
        }
    }

    /// Whether this is the data answer (9014) to the upload with `qn`,
    /// whatever its ST and Flag.
    pub fn answers(&self, qn: &str) -> bool {
        self.cn == Some(cn::DATA_ANSWER) && self.qn.as_deref() == Some(qn)
    }
}

/// Settings the platform may change; they live as long as the sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub over_time: Duration,
    pub re_count: u32,
    default_rtd: Duration,
    rtd: BTreeMap<String, Duration>,
}

impl Settings {
    pub fn new(over_time: Duration, re_count: u32, rtd: Duration) -> Settings {
        Settings {
            over_time,
            re_count,
            default_rtd: rtd,
            rtd: BTreeMap::new(),
        }
    }

    /// The real-time interval of the point `mn`.
    pub fn rtd_interval(&self, mn: &str) -> Duration {
        self.rtd.get(mn).copied().unwrap_or(self.default_rtd)
    }
}

/// Who greengate is to this platform.
pub struct Identity<'a> {
    pub pw: &'a str,
    pub st: u16,
    pub flag_version: u8,
    /// Whether `mn` is one of the platform's points.
    pub knows: &'a dyn Fn(&str) -> bool,
}

/// What a command led to, for the metrics and the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not a command (an answer, a heartbeat): nothing sent.
    Ignored,
    /// Carried out (`ExeRtn` 1) or read.
    Done,
    /// Refused with this `QnRtn`, or failed with `ExeRtn` 3.
    Refused(u8),
}

/// The segments to send in reply to `cmd`, in order, and the outcome.
pub fn reply(
    cmd: &Incoming,
    me: &Identity<'_>,
    settings: &mut Settings,
    now_local: NaiveDateTime,
) -> (Vec<String>, Outcome) {
    let Some(code) = cmd.cn else {
        return (Vec::new(), Outcome::Ignored);
    };
    if (9000..10000).contains(&code) {
        return (Vec::new(), Outcome::Ignored);
    }
    let qn = cmd.qn.as_deref().unwrap_or("");
    let mn = cmd.mn.as_deref().unwrap_or("");
    let flag = Flag::new(me.flag_version, false, false);
    let seg = |st: u16, cn: u16, cp: &str| {
        let mut s = String::new();
        let p = Packet {
            qn: (!qn.is_empty()).then_some(qn),
            st: Some(st),
            cn: Some(cn),
            pw: Some(me.pw),
            mn: (!mn.is_empty()).then_some(mn),
            flag: Some(flag),
            pnum: None,
            pno: None,
            cp: Some(Cp(cp)),
        };
        // Only QN and MN come from the platform; the codec refuses what
        // would break the segment, and then nothing is sent.
        p.write(&mut s).ok().map(|_| s)
    };
    let request = |rtn: u8| {
        seg(
            st::SYSTEM_INTERACTION,
            cn::REQUEST_ANSWER,
            &format!("QnRtn={rtn}"),
        )
    };
    let result = |rtn: u8| {
        seg(
            st::SYSTEM_INTERACTION,
            cn::EXECUTION_RESULT,
            &format!("ExeRtn={rtn}"),
        )
    };
    let refuse = |rtn: u8| (request(rtn).into_iter().collect(), Outcome::Refused(rtn));
    if qn.is_empty() {
        return refuse(qn_rtn::BAD_QN);
    }
    if cmd.pw.as_deref() != Some(me.pw) {
        return refuse(qn_rtn::BAD_PW);
    }
    if !(me.knows)(mn) {
        return refuse(qn_rtn::BAD_MN);
    }
    let cp = Cp(&cmd.cp);
    let num = |k: &str| cp.get(k).and_then(|v| v.parse::<u64>().ok());
    let (data, exe) = match code {
        cn::SET_TIMEOUT_RETRIES => match (num("OverTime"), num("ReCount")) {
            (Some(t), Some(n)) if (1..=3600).contains(&t) && n <= 100 => {
                settings.over_time = Duration::from_secs(t);
                settings.re_count = n as u32;
                (None, 1)
            }
            _ => (None, 3),
        },
        cn::READ_CLOCK => (
            seg(
                me.st,
                cn::READ_CLOCK,
                &format!("SystemTime={}", format_data_time(now_local)),
            ),
            1,
        ),
        cn::SET_CLOCK => return refuse(qn_rtn::REFUSED),
        cn::READ_RTD_INTERVAL => {
            let s = settings.rtd_interval(mn).as_secs();
            (
                seg(me.st, cn::READ_RTD_INTERVAL, &format!("RtdInterval={s}")),
                1,
            )
        }
        cn::SET_RTD_INTERVAL => match num("RtdInterval") {
            Some(s) if (30..=3600).contains(&s) => {
                settings.rtd.insert(mn.to_string(), Duration::from_secs(s));
                (None, 1)
            }
            _ => (None, 3),
        },
        _ => return refuse(qn_rtn::BAD_CN),
    };
    let out = [request(qn_rtn::READY), data, result(exe)]
        .into_iter()
        .flatten()
        .collect();
    let outcome = if exe == 1 {
        Outcome::Done
    } else {
        Outcome::Refused(exe)
    };
    (out, outcome)
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
