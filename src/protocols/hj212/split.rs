//! Splitting a long upload into packets (PNUM/PNO) and putting packets back
//! together in any order, with bounded memory.
//!
//! Packets are cut only between CP items, so each packet parses on its own
//! and joining the parts with `;` restores the CP exactly. The threshold is
//! the platform's (some still reject segments over 1,024 characters).

use super::cp::Cp;
use super::packet::{Flag, Packet};
use super::Error;

/// The header fields PNUM and PNO cost at most (4 digits each).
const PN_FIELDS: usize = "PNUM=9999;PNO=9999;".len();

/// The segments for `packet`, each at most `max_segment` characters: the
/// packet itself if it fits, else one segment per group of CP items with
/// PNUM, PNO (unpadded, from 1) and Flag bit 1 set.
pub fn split(packet: &Packet<'_>, max_segment: usize) -> Result<Vec<String>, Error> {
    let mut whole = String::new();
    packet.write(&mut whole)?;
    if whole.len() <= max_segment {
        return Ok(vec![whole]);
    }
    let mut bare = Packet {
        cp: Some(Cp("")),
        pnum: None,
        pno: None,
        ..*packet
    };
    bare.flag = packet.flag.map(|f| Flag(f.0 | 2));
    let mut head = String::new();
    bare.write(&mut head)?;
    let budget = max_segment.saturating_sub(head.len() + PN_FIELDS);
    let cp = packet.cp.unwrap_or_default().0;
    let mut groups: Vec<String> = Vec::new();
    for item in cp.split(';') {
        if item.len() > budget {
            return Err(Error::ItemTooLong {
                len: item.len(),
                budget,
            });
        }
        match groups.last_mut() {
            Some(g) if g.len() + 1 + item.len() <= budget => {
                g.push(';');
                g.push_str(item);
            }
            _ => groups.push(item.to_string()),
        }
    }
    let pnum = u16::try_from(groups.len())
        .ok()
        .filter(|n| *n <= 9999)
        .ok_or(Error::TooManyPackets(groups.len()))?;
    groups
        .iter()
        .zip(1u16..)
        .map(|(g, pno)| {
            let mut seg = String::new();
            Packet {
                cp: Some(Cp(g)),
                pnum: Some(pnum),
                pno: Some(pno),
                ..bare
            }
            .write(&mut seg)?;
            Ok(seg)
        })
        .collect()
}

/// Memory bounds of a [`Reassembler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Uploads being put together at once; the oldest is dropped beyond.
    pub messages: usize,
    /// CP characters held in total; the oldest upload is dropped beyond.
    pub bytes: usize,
    /// Largest PNUM accepted.
    pub packets: u16,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            messages: 16,
            bytes: 256 * 1024,
            packets: 256,
        }
    }
}

/// A whole upload: the header of its first packet (PNO 1), the QN of every
/// packet (they may differ), and the joined CP.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    pub qn: Option<String>,
    pub st: Option<u16>,
    pub cn: Option<u16>,
    pub pw: Option<String>,
    pub mn: Option<String>,
    /// The first packet's Flag with the split bit cleared.
    pub flag: Option<Flag>,
    pub qns: Vec<String>,
    pub cp: String,
}

impl Message {
    fn header(p: &Packet<'_>) -> Message {
        Message {
            qn: p.qn.map(str::to_string),
            st: p.st,
            cn: p.cn,
            pw: p.pw.map(str::to_string),
            mn: p.mn.map(str::to_string),
            flag: p.flag.map(|f| Flag(f.0 & !2)),
            qns: Vec::new(),
            cp: String::new(),
        }
    }
    /// The sender asked for an answer (Flag bit 0) and this is not itself
    /// a reply (9011/9012/9013/9014).
    pub fn wants_answer(&self) -> bool {
        use super::packet::cn;
        self.flag.is_some_and(Flag::answer_requested)
            && !matches!(
                self.cn,
                Some(
                    cn::REQUEST_ANSWER | cn::EXECUTION_RESULT | cn::NOTIFY_ANSWER | cn::DATA_ANSWER
                )
            )
    }
    /// The distinct QNs of its packets, in packet order: what a data
    /// answer (9014) per packet echoes.
    pub fn distinct_qns(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for q in &self.qns {
            if !out.contains(&q.as_str()) {
                out.push(q);
            }
        }
        out
    }
    /// The CP as a borrowed view.
    pub fn cp(&self) -> Cp<'_> {
        Cp(&self.cp)
    }
}

#[derive(Debug)]
struct Pending {
    /// MN, ST, CN, PNUM: not the QN, which some stations change per packet.
    key: (Option<String>, Option<u16>, Option<u16>, u16),
    header: Message,
    parts: Vec<Option<(Option<String>, String)>>,
    bytes: usize,
    age: u64,
}

/// What [`Reassembler::push`] made of a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    /// The upload is whole (at once, for an unsplit packet).
    Complete(Message),
    /// Stored; more packets are needed.
    Pending,
    /// The same packet again (a retransmission); nothing changed.
    Duplicate,
}

/// Puts split uploads back together, in any packet order, holding at most
/// [`Limits`] in memory. Pure: one per connection, no clock; a caller that
/// wants a timeout calls [`Reassembler::clear`].
#[derive(Debug, Default)]
pub struct Reassembler {
    limits: Limits,
    pending: Vec<Pending>,
    bytes: usize,
    age: u64,
    dropped: u64,
}

impl Reassembler {
    pub fn new(limits: Limits) -> Self {
        Reassembler {
            limits,
            ..Default::default()
        }
    }

    /// Uploads dropped unfinished (evicted by the limits, or replaced by a
    /// new upload reusing their PNOs) since creation.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
    /// Uploads waiting for packets.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
    /// CP characters held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
    /// Forgets every unfinished upload.
    pub fn clear(&mut self) {
        self.dropped += self.pending.len() as u64;
        self.pending.clear();
        self.bytes = 0;
    }

    pub fn push(&mut self, p: &Packet<'_>) -> Result<Pushed, Error> {
        let cp = p.cp.unwrap_or_default().0;
        let (Some(pnum), Some(pno)) = (p.pnum, p.pno) else {
            return Ok(Pushed::Complete(Message {
                cp: cp.to_string(),
                qns: p.qn.map(str::to_string).into_iter().collect(),
                ..Message::header(p)
            }));
        };
        if pnum == 0 || pno == 0 || pno > pnum || pnum > self.limits.packets {
            return Err(Error::BadPacketIndex { pno, pnum });
        }
        if cp.len() > self.limits.bytes {
            return Err(Error::TooLong(cp.len()));
        }
        let key = (p.mn.map(str::to_string), p.st, p.cn, pnum);
        let slot = usize::from(pno - 1);
        let part = (p.qn.map(str::to_string), cp.to_string());
        self.age += 1;
        let i = match self.pending.iter().position(|m| m.key == key) {
            Some(i) => {
                match self.pending.get(i).and_then(|m| m.parts.get(slot)) {
                    Some(Some(old)) if *old == part => return Ok(Pushed::Duplicate),
                    // That PNO again with other content: a new upload.
                    Some(Some(_)) => {
                        self.remove(i);
                        self.dropped += 1;
                        self.start(key, pnum)
                    }
                    _ => i,
                }
            }
            None => self.start(key, pnum),
        };
        let Some(m) = self.pending.get_mut(i) else {
            return Ok(Pushed::Pending);
        };
        if pno == 1 || m.parts.iter().all(Option::is_none) {
            m.header = Message::header(p);
        }
        m.bytes += cp.len();
        self.bytes += cp.len();
        m.age = self.age;
        if let Some(s) = m.parts.get_mut(slot) {
            *s = Some(part);
        }
        if m.parts.iter().all(Option::is_some) {
            let m = self.remove(i);
            let mut msg = m.header;
            for (qn, cp) in m.parts.into_iter().flatten() {
                msg.qns.extend(qn);
                if !cp.is_empty() {
                    if !msg.cp.is_empty() {
                        msg.cp.push(';');
                    }
                    msg.cp.push_str(&cp);
                }
            }
            return Ok(Pushed::Complete(msg));
        }
        self.evict(i);
        Ok(Pushed::Pending)
    }

    fn start(&mut self, key: (Option<String>, Option<u16>, Option<u16>, u16), pnum: u16) -> usize {
        self.pending.push(Pending {
            key,
            header: Message::default(),
            parts: vec![None; usize::from(pnum)],
            bytes: 0,
            age: self.age,
        });
        self.pending.len() - 1
    }

    fn remove(&mut self, i: usize) -> Pending {
        let m = self.pending.swap_remove(i);
        self.bytes = self.bytes.saturating_sub(m.bytes);
        m
    }

    /// Drops the oldest uploads other than the one just fed (`keep`) until
    /// the limits hold; the one just fed goes too if it alone exceeds them.
    fn evict(&mut self, keep: usize) {
        let keep_age = self.pending.get(keep).map(|m| m.age);
        while self.pending.len() > self.limits.messages || self.bytes > self.limits.bytes {
            let victim = self
                .pending
                .iter()
                .enumerate()
                .filter(|(_, m)| Some(m.age) != keep_age || self.pending.len() == 1)
                .min_by_key(|(_, m)| m.age)
                .map(|(i, _)| i);
            let Some(v) = victim else { break };
            self.remove(v);
            self.dropped += 1;
        }
    }
}
