//! Requests and replies: read data (single and block identifiers), read
//! follow-up data, read address, error replies, and the BCD values.

use super::frame::{self, Frame, OFFSET};
use super::types::{function, Address, Control, DataId, Edition, ErrorCode};
use super::Error;
use crate::protocols::bcd::{self, BcdError, Decimal, Format};

/// Appends a read request for `di` (0x11 for a 2007 identifier, 0x01 for a
/// 1997 one) behind `preamble` wake-up bytes.
pub fn read_request(
    address: &Address,
    di: DataId,
    preamble: usize,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let mut data = Vec::with_capacity(4);
    di.wire(&mut data);
    frame::encode(
        address,
        Control::request(di.edition().read()),
        &data,
        preamble,
        out,
    )
}

/// Appends a read-follow-up request (after a reply with D5 set): 2007 sends
/// the identifier and the frame sequence number `seq`, 1997 the identifier.
pub fn read_follow_up_request(
    address: &Address,
    di: DataId,
    seq: u8,
    preamble: usize,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let mut data = Vec::with_capacity(5);
    di.wire(&mut data);
    if di.edition() == Edition::V2007 {
        data.push(seq);
    }
    frame::encode(
        address,
        Control::request(di.edition().read_follow_up()),
        &data,
        preamble,
        out,
    )
}

/// Appends the 2007 read-address request (to `AA…`, no data); the single
/// meter on the bus answers with its address.
pub fn read_address_request(preamble: usize, out: &mut Vec<u8>) -> Result<(), Error> {
    frame::encode(
        &Address::ANY,
        Control::request(function::READ_ADDRESS),
        &[],
        preamble,
        out,
    )
}

/// A meter's read reply as a meter simulator sends it: `values` are the
/// plain value bytes (BCD, least significant first); `seq` is appended to
/// a 2007 follow-up reply; `more` sets D5.
pub fn encode_read_reply(
    reply: &ReplySpec<'_>,
    preamble: usize,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let ed = reply.di.edition();
    let f = if reply.follow_up {
        ed.read_follow_up()
    } else {
        ed.read()
    };
    let mut data = Vec::with_capacity(ed.di_len() + reply.values.len() + 1);
    reply.di.wire(&mut data);
    data.extend_from_slice(reply.values);
    if reply.follow_up && ed == Edition::V2007 {
        data.push(reply.seq);
    }
    frame::encode(
        &reply.address,
        Control::reply(f, reply.more),
        &data,
        preamble,
        out,
    )
}

/// What [`encode_read_reply`] sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplySpec<'a> {
    pub address: Address,
    pub di: DataId,
    pub values: &'a [u8],
    pub more: bool,
    pub follow_up: bool,
    pub seq: u8,
}

/// A meter's error reply to `function` with ERR byte `code`.
pub fn encode_error_reply(
    address: &Address,
    function: u8,
    code: ErrorCode,
    preamble: usize,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    frame::encode(
        address,
        Control::error_reply(function),
        &[code.0],
        preamble,
        out,
    )
}

/// A meter's reply to the read-address request: its address, in the
/// address field and in the data.
pub fn encode_address_reply(
    address: &Address,
    preamble: usize,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    frame::encode(
        address,
        Control::reply(function::READ_ADDRESS, false),
        &address.0,
        preamble,
        out,
    )
}

/// A normal reply to a read or read-follow-up request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadReply<'a> {
    pub address: Address,
    pub di: DataId,
    /// D5: more data follows; ask with a follow-up request.
    pub more: bool,
    /// The frame sequence number of a 2007 follow-up reply.
    pub seq: Option<u8>,
    raw_values: &'a [u8],
}

impl<'a> ReadReply<'a> {
    /// The value bytes with the 0x33 offset removed.
    pub fn value_bytes(&self) -> impl ExactSizeIterator<Item = u8> + Clone + 'a {
        self.raw_values.iter().map(|b| b.wrapping_sub(OFFSET))
    }

    /// The values of a block read (or the one value of a single read), one
    /// per `fmt.bytes` bytes; `Ok(None)` for an `FF`-filled (absent) one.
    pub fn values(
        &self,
        fmt: Format,
    ) -> impl Iterator<Item = Result<Option<Decimal>, BcdError>> + 'a {
        self.raw_values
            .chunks(usize::from(fmt.bytes).max(1))
            .map(move |c| {
                let mut plain = [0u8; 9];
                for (d, s) in plain.iter_mut().zip(c) {
                    *d = s.wrapping_sub(OFFSET);
                }
                match plain.get(..c.len()) {
                    Some(p) => bcd::decode(p, fmt),
                    None => Err(BcdError::Short {
                        want: fmt.bytes,
                        got: c.len(),
                    }),
                }
            })
    }

    /// The single value of a non-block read: exactly `fmt.bytes` bytes.
    pub fn value(&self, fmt: Format) -> Result<Option<Decimal>, Error> {
        let mut it = self.values(fmt);
        match (it.next(), it.next()) {
            (Some(v), None) => Ok(v?),
            _ => Err(Error::Value(BcdError::Short {
                want: fmt.bytes,
                got: self.raw_values.len(),
            })),
        }
    }
}

/// Reads `frame` as the normal reply to a read or read-follow-up request.
pub fn read_reply<'a>(frame: &Frame<'a>) -> Result<ReadReply<'a>, Error> {
    let c = frame.control;
    let ed = Edition::of_function(c.function());
    let follow_up = c.function() == ed.read_follow_up();
    if !c.is_reply() || !(c.function() == ed.read() || follow_up) {
        return Err(Error::UnexpectedControl {
            want: ed.read() | 0x80,
            got: c.0,
        });
    }
    let raw = frame.raw_data();
    let seq_len = usize::from(follow_up && ed == Edition::V2007);
    let need = ed.di_len() + seq_len;
    if raw.len() < need {
        return Err(Error::ShortData {
            need,
            got: raw.len(),
        });
    }
    let mut di = [0u8; 4];
    for (d, s) in di.iter_mut().zip(raw) {
        *d = s.wrapping_sub(OFFSET);
    }
    let di = DataId::from_wire(ed, &di).ok_or(Error::ShortData {
        need,
        got: raw.len(),
    })?;
    let values = raw.get(ed.di_len()..raw.len() - seq_len).unwrap_or(&[]);
    let seq = (seq_len == 1)
        .then(|| raw.last().map(|b| b.wrapping_sub(OFFSET)))
        .flatten();
    Ok(ReadReply {
        address: frame.address,
        di,
        more: c.more_follows(),
        seq,
        raw_values: values,
    })
}

/// [`read_reply`], checked against the identifier that was requested.
pub fn read_reply_for<'a>(frame: &Frame<'a>, want: DataId) -> Result<ReadReply<'a>, Error> {
    let r = read_reply(frame)?;
    if r.di != want {
        return Err(Error::WrongIdentifier { want, got: r.di });
    }
    Ok(r)
}

/// Reads `frame` as the reply to the read-address request: the address the
/// meter put in its data field (and its address field).
pub fn address_reply(frame: &Frame<'_>) -> Result<Address, Error> {
    let c = frame.control;
    if !c.is_reply() || c.function() != function::READ_ADDRESS {
        return Err(Error::UnexpectedControl {
            want: 0x93,
            got: c.0,
        });
    }
    let mut a = [0u8; 6];
    let mut data = frame.data();
    if data.len() < 6 {
        return Err(Error::ShortData {
            need: 6,
            got: data.len(),
        });
    }
    for b in a.iter_mut() {
        *b = data.next().unwrap_or(0);
    }
    Ok(Address(a))
}

/// What protocols.md says about one data identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    pub name: &'static str,
    pub unit: &'static str,
    pub format: Format,
}

const KNOWN: &[(DataId, Known)] = &[
    (
        DataId::V2007(0x0000_0000),
        Known {
            name: "combined active energy total",
            unit: "kWh",
            format: Format::new(4, 2, false),
        },
    ),
    (
        DataId::V2007(0x0001_0000),
        Known {
            name: "forward active energy total",
            unit: "kWh",
            format: Format::new(4, 2, false),
        },
    ),
    (
        DataId::V2007(0x0201_0100),
        Known {
            name: "phase A voltage",
            unit: "V",
            format: Format::new(2, 1, false),
        },
    ),
    (
        DataId::V2007(0x0202_0100),
        Known {
            name: "phase A current",
            unit: "A",
            format: Format::new(3, 3, true),
        },
    ),
    (
        DataId::V2007(0x0203_0000),
        Known {
            name: "total active power",
            unit: "kW",
            format: Format::new(3, 4, true),
        },
    ),
    (
        DataId::V1997(0xB611),
        Known {
            name: "phase A voltage",
            unit: "V",
            format: Format::new(2, 0, false),
        },
    ),
    (
        DataId::V1997(0xB621),
        Known {
            name: "phase A current",
            unit: "A",
            format: Format::new(2, 2, false),
        },
    ),
    (
        DataId::V1997(0xB630),
        Known {
            name: "total active power",
            unit: "kW",
            format: Format::new(3, 4, false),
        },
    ),
];

/// The layout of a data identifier protocols.md lists. A 2007 block
/// identifier (DI1 = FF) has the layout of its members (DI1 = 00, else 01):
/// `00 01 FF 00` reads like `00 01 00 00`, one value per tariff.
pub fn known(di: DataId) -> Option<Known> {
    let find = |d: DataId| KNOWN.iter().find(|(k, _)| *k == d).map(|(_, v)| *v);
    match di {
        DataId::V2007(v) if v & 0x0000_ff00 == 0x0000_ff00 => {
            let base = v & !0x0000_ff00;
            find(DataId::V2007(base)).or_else(|| find(DataId::V2007(base | 0x0000_0100)))
        }
        _ => find(di),
    }
}
