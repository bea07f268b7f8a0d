//! Answers to a station: the frames (9014 data answer, 9011 request answer)
//! and the connection's writer, which the pipeline's acks feed.
//!
//! Invariant: a 9014 is only ever queued by an [`Ack`] the pipeline fires
//! after the upload's readings (or its dead letter) are durable. The acks
//! of one connection are fired in the order its batches were sent, so its
//! answers leave in upload order; the refusals the connection sends itself
//! (bad PW, unknown MN) carry no data and go out at once.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::counters::Counters;
use crate::pipeline::Ack;
use crate::protocols::hj212::{cn, Cp, Crc, Flag, Packet};

/// The header an answer echoes (QN, PW, MN of the upload).
#[derive(Debug, Clone, Default)]
pub(super) struct Echo {
    pub qn: Option<String>,
    pub pw: Option<String>,
    pub mn: Option<String>,
}

impl Echo {
    pub(super) fn of(p: &Packet<'_>) -> Echo {
        Echo {
            qn: p.qn.map(str::to_string),
            pw: p.pw.map(str::to_string),
            mn: p.mn.map(str::to_string),
        }
    }

    fn packet<'a>(&'a self, qn: Option<&'a str>, code: u16, cp: &'a str) -> Packet<'a> {
        Packet {
            qn,
            st: Some(crate::protocols::hj212::st::SYSTEM_INTERACTION),
            cn: Some(code),
            pw: self.pw.as_deref(),
            mn: self.mn.as_deref(),
            flag: Some(Flag::new(1, false, false)),
            pnum: None,
            pno: None,
            cp: Some(Cp(cp)),
        }
    }

    /// The standard's 9014 for each QN (one without QN if there is none).
    pub(super) fn data_answers(&self, qns: &[&str], crc: Crc) -> Vec<Vec<u8>> {
        let one = |qn: Option<&str>| self.packet(qn, cn::DATA_ANSWER, "").to_frame(crc).ok();
        if qns.is_empty() {
            return one(None).into_iter().collect();
        }
        qns.iter().filter_map(|q| one(Some(q))).collect()
    }

    /// A 9011 with `QnRtn=<rtn>` (a damaged header that cannot be echoed
    /// is answered without the fields that break the frame).
    pub(super) fn request_answer(&self, rtn: u8, crc: Crc) -> Option<Vec<u8>> {
        let cp = Packet::request_answer_cp(rtn);
        match self
            .packet(self.qn.as_deref(), cn::REQUEST_ANSWER, &cp)
            .to_frame(crc)
        {
            Ok(f) => Some(f),
            Err(_) => Echo::default()
                .packet(None, cn::REQUEST_ANSWER, &cp)
                .to_frame(crc)
                .ok(),
        }
    }
}

/// The sending side of one connection's writer.
#[derive(Clone)]
pub(super) struct Answers {
    tx: mpsc::UnboundedSender<(u16, Vec<u8>)>,
    c: Counters,
}

impl Answers {
    /// Queues `frames` (answers with CN `code`) now.
    pub(super) fn send(&self, code: u16, frames: Vec<Vec<u8>>) {
        for f in frames {
            if self.tx.send((code, f)).is_err() {
                self.c.undelivered.inc();
            }
        }
    }

    /// An ack that queues `frames` when fired (after the batch is durable).
    pub(super) fn ack(&self, code: u16, frames: Vec<Vec<u8>>) -> Option<Ack> {
        if frames.is_empty() {
            return None;
        }
        let me = self.clone();
        Some(Ack::new(move || me.send(code, frames)))
    }
}

/// Starts the writer of one connection: it writes every queued answer
/// within `timeout` each and ends when every sender is gone (the
/// connection ended and every ack fired or was dropped), or on a write
/// failure, which also cancels `conn` (the connection is closed).
pub(super) fn writer(
    mut wr: tokio::net::tcp::OwnedWriteHalf,
    timeout: Duration,
    c: Counters,
    conn: CancellationToken,
) -> (Answers, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(u16, Vec<u8>)>();
    let answers = Answers { tx, c: c.clone() };
    let task = tokio::spawn(async move {
        while let Some((code, frame)) = rx.recv().await {
            match tokio::time::timeout(timeout, wr.write_all(&frame)).await {
                Ok(Ok(())) => c.answer(code).inc(),
                Ok(Err(_)) | Err(_) => {
                    c.undelivered.inc();
                    c.timeout("write").inc();
                    conn.cancel();
                    rx.close();
                    while rx.recv().await.is_some() {
                        c.undelivered.inc();
                    }
                    return;
                }
            }
        }
        let _ = wr.shutdown().await;
    });
    (answers, task)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_answer_per_qn_in_the_standards_form() {
        let e = Echo {
            qn: Some("20261201090000123".into()),
            pw: Some("123456".into()),
            mn: Some("GG0001".into()),
        };
        let f = e.data_answers(&["20261201090000123"], Crc::Standard);
        assert_eq!(f.len(), 1);
        let text = String::from_utf8(f[0].clone()).unwrap();
        assert!(
            text.starts_with(
                "##0069QN=20261201090000123;ST=91;CN=9014;PW=123456;MN=GG0001;Flag=4;CP=&&&&"
            ),
            "{text}"
        );
        assert_eq!(e.data_answers(&["1", "2"], Crc::Standard).len(), 2);
    }

    #[test]
    fn a_request_answer_to_a_damaged_header_still_goes_out() {
        let e = Echo {
            qn: Some("1&&x".into()),
            ..Default::default()
        };
        let f = e.request_answer(9, Crc::Standard).unwrap();
        let text = String::from_utf8(f).unwrap();
        assert!(
            text.contains("ST=91;CN=9011;Flag=4;CP=&&QnRtn=9&&"),
            "{text}"
        );
    }
}
