//! What one connection does with each frame (pure: no socket, no clock
//! beyond the receive time it is given). The connection loop (`conn.rs`)
//! turns an [`Out`] into a pipeline batch or an answer.
//!
//! Rules (the source's README states them for operators):
//! - good CRC, known MN, right PW: into the reassembler; a whole upload
//!   becomes readings, answered 9014 (per packet QN, when Flag asks) only
//!   after they are durable;
//! - wrong PW: 9011 QnRtn 3 at once, nothing stored (the station keeps
//!   its data), counted `bad_pw`;
//! - bad CRC: a dead letter (PW redacted), then 9011 QnRtn 9 so the
//!   station sends it again; a CRC of another variant is accepted when the
//!   MN is a station configured with that variant;
//! - unknown MN: `refuse` → 9011 QnRtn 4; `dead_letter` → a dead letter
//!   answered 9014 once durable (like a rejected MQTT message); `accept` →
//!   stored under the MN;
//! - an upload that cannot become readings (no DataTime, no numbers, bad
//!   PNUM/PNO): a dead letter answered 9014 once durable;
//! - replies, status, heartbeats, commands: nothing stored; a data packet
//!   that asks is answered 9014 at once (there is nothing to make durable).

use std::sync::Arc;

use super::answer::Echo;
use super::counters::Counters;
use super::map::{Mapped, Mapping};
use super::stations::{redact_pw, Stations, Verdict};
use crate::deadletter::DeadLetter;
use crate::model::Reading;
use crate::protocols::hj212::{cn, qn_rtn, Crc, Limits, Packet, Pushed, Reassembler};

/// Everything a connection needs that does not change while it runs.
pub(super) struct Shared {
    pub stations: Stations,
    pub mapping: Mapping,
    pub limits: Limits,
    pub c: Counters,
}

/// What to do after a frame.
#[derive(Debug, Default)]
pub(super) struct Out {
    pub readings: Vec<Reading>,
    pub dead: Vec<DeadLetter>,
    /// Answers to send after `readings` and `dead` are durable (through
    /// the pipeline), or at once when both are empty.
    pub answers: Vec<Vec<u8>>,
    /// Their CN (9014 or 9011).
    pub code: u16,
}

impl Out {
    fn answer(code: u16, frames: impl IntoIterator<Item = Vec<u8>>) -> Out {
        Out {
            code,
            answers: frames.into_iter().collect(),
            ..Out::default()
        }
    }
    /// Whether the pipeline must see it (something to make durable).
    pub(super) fn needs_pipeline(&self) -> bool {
        !self.readings.is_empty() || !self.dead.is_empty()
    }
}

pub(super) struct Session {
    shared: Arc<Shared>,
    reasm: Reassembler,
    /// Where it comes from, for dead letters (`peer` address).
    peer: String,
}

impl Session {
    pub(super) fn new(shared: Arc<Shared>, peer: String) -> Session {
        let reasm = Reassembler::new(shared.limits);
        Session {
            shared,
            reasm,
            peer,
        }
    }

    fn c(&self) -> &Counters {
        &self.shared.c
    }

    /// Unfinished split uploads held.
    pub(super) fn pending(&self) -> usize {
        self.reasm.pending()
    }

    /// Drops unfinished split uploads (timeout, connection end), counted.
    pub(super) fn clear(&mut self) {
        let before = self.reasm.dropped();
        self.reasm.clear();
        self.c().incomplete.add(self.reasm.dropped() - before);
    }

    fn dead(&self, origin: &str, reason: String, frame: &[u8]) -> DeadLetter {
        DeadLetter::new("hj212", origin, reason, &redact_pw(frame))
    }

    /// A frame whose CRC checked with the server's variant: `frame` is
    /// its bytes, `segment` its data segment.
    pub(super) fn frame(&mut self, frame: &[u8], segment: &str, now_ns: i64) -> Out {
        self.c().frames.inc();
        let p = match Packet::parse(segment) {
            Ok(p) => p,
            Err(e) => {
                self.c().rejected("unreadable").inc();
                return Out {
                    dead: vec![self.dead(&self.peer, format!("unreadable: {e}"), frame)],
                    ..Out::default()
                };
            }
        };
        if p.is_answer() {
            self.c().ignored.inc();
            return Out::default();
        }
        let echo = Echo::of(&p);
        let crc = self.shared.stations.crc_of(p.mn);
        let origin = p.mn.unwrap_or(self.peer.as_str()).to_string();
        let device = match self.shared.stations.judge(p.mn, p.pw) {
            Verdict::Accept { device, .. } => device,
            Verdict::BadPw => {
                self.c().rejected("bad_pw").inc();
                tracing::warn!(event = "Hj212UploadRejected", reason = "bad_pw", mn = %origin, peer = %self.peer, "HJ 212 upload refused: wrong PW (9011 QnRtn 3).");
                return Out::answer(cn::REQUEST_ANSWER, echo.request_answer(qn_rtn::BAD_PW, crc));
            }
            Verdict::RefuseMn => {
                self.c().rejected("unknown_mn").inc();
                return Out::answer(cn::REQUEST_ANSWER, echo.request_answer(qn_rtn::BAD_MN, crc));
            }
            Verdict::DeadLetterMn => {
                self.c().rejected("unknown_mn").inc();
                return Out {
                    dead: vec![self.dead(
                        &origin,
                        "unknown_mn: no station has this MN".into(),
                        frame,
                    )],
                    ..self.answered(&p, &echo, crc)
                };
            }
        };
        match self.reasm.push(&p) {
            Ok(Pushed::Pending) | Ok(Pushed::Duplicate) => Out::default(),
            Err(e) => {
                self.c().rejected("bad_packet").inc();
                Out {
                    dead: vec![self.dead(&origin, format!("bad_packet: {e}"), frame)],
                    ..self.answered(&p, &echo, crc)
                }
            }
            Ok(Pushed::Complete(msg)) => {
                let qns = msg.distinct_qns();
                let answers = if msg.wants_answer() {
                    echo.data_answers(&qns, crc)
                } else {
                    Vec::new()
                };
                match self.shared.mapping.map(&msg, &device, now_ns) {
                    Ok(Mapped::Readings(readings)) => {
                        self.c().uploads.inc();
                        Out {
                            readings,
                            answers,
                            code: cn::DATA_ANSWER,
                            ..Out::default()
                        }
                    }
                    Ok(Mapped::Ignored(_)) => {
                        self.c().ignored.inc();
                        Out::answer(cn::DATA_ANSWER, answers)
                    }
                    Err(e) => {
                        self.c().rejected(e.reason()).inc();
                        let text = format!("{}: {e}", e.reason());
                        Out {
                            dead: vec![self.dead(&origin, text, frame)],
                            answers,
                            code: cn::DATA_ANSWER,
                            ..Out::default()
                        }
                    }
                }
            }
        }
    }

    /// The 9014 for one packet, if it asks.
    fn answered(&self, p: &Packet<'_>, echo: &Echo, crc: Crc) -> Out {
        let frames = if p.wants_answer() {
            echo.data_answers(&p.qn.into_iter().collect::<Vec<_>>(), crc)
        } else {
            Vec::new()
        };
        Out::answer(cn::DATA_ANSWER, frames)
    }

    /// A frame whose CRC field did not match the server's variant:
    /// accepted if the station named in it writes a variant that matches,
    /// else dead-lettered and answered 9011 QnRtn 9.
    pub(super) fn bad_crc(
        &mut self,
        frame: &[u8],
        segment: &[u8],
        written: [u8; 4],
        now_ns: i64,
    ) -> Out {
        let text = String::from_utf8_lossy(segment);
        let written = std::str::from_utf8(&written)
            .ok()
            .and_then(|h| u16::from_str_radix(h, 16).ok());
        let p = Packet::parse(&text).unwrap_or_default();
        if let (Some(s), Some(w), Ok(seg)) = (
            p.mn.and_then(|m| self.shared.stations.get(m)),
            written,
            std::str::from_utf8(segment),
        ) {
            if s.crc != self.shared.stations.default_crc && s.crc.of(segment) == w {
                return self.frame(frame, seg, now_ns);
            }
        }
        self.c().rejected("bad_crc").inc();
        let variants: Vec<String> = written
            .map(|w| {
                Crc::matching(segment, w)
                    .map(|c| format!("{c:?}"))
                    .collect()
            })
            .unwrap_or_default();
        let hint = if variants.is_empty() {
            String::new()
        } else {
            format!(
                " (it matches {}: set the station's crc)",
                variants.join(", ")
            )
        };
        let origin = p.mn.unwrap_or(self.peer.as_str()).to_string();
        tracing::warn!(event = "Hj212UploadRejected", reason = "bad_crc", mn = %origin, peer = %self.peer, "HJ 212 frame with a bad CRC dead-lettered (9011 QnRtn 9){hint}.");
        let crc = self.shared.stations.crc_of(p.mn);
        Out {
            dead: vec![self.dead(&origin, format!("bad_crc{hint}"), frame)],
            ..Out::answer(
                cn::REQUEST_ANSWER,
                Echo::of(&p).request_answer(qn_rtn::BAD_CRC, crc),
            )
        }
    }

    /// A frame without its CR LF or with a segment that is not text.
    pub(super) fn damaged(&mut self, frame: &[u8], why: &str) -> Out {
        self.c().rejected("damaged").inc();
        Out {
            dead: vec![self.dead(&self.peer, format!("damaged: {why}"), frame)],
            ..Out::default()
        }
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
