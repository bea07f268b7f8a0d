//! Requests and replies: read data (901F) and its water-meter reply, read
//! address (810A), and the generic identifier + SER reply header.

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};

use super::frame::{self, Frame};
use super::types::{function, Address, Control, DataId, DiOrder, MeterType, Status, Unit};
use super::Error;
use crate::protocols::bcd::{self, Decimal, Format};

/// Flow values: 4 bytes BCD, XXXXXX.XX.
pub const FLOW: Format = Format::new(4, 2, false);
/// The water meter's read-data reply after identifier and SER: current
/// flow + unit, settlement-day flow + unit, real time, ST1 ST2.
pub const WATER_DATA_LEN: usize = 5 + 5 + 7 + 2;

/// Appends a read-data request for `di` with serial number `ser`.
pub fn read_request(
    meter_type: MeterType,
    address: &Address,
    di: DataId,
    order: DiOrder,
    ser: u8,
    preamble: usize,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let [a, b] = di.wire(order);
    frame::encode(
        meter_type,
        address,
        Control::request(function::READ_DATA),
        &[a, b, ser],
        preamble,
        out,
    )
}

/// Appends the read-address request (to `AA…`): the single meter on the
/// bus answers with its address in the address field.
pub fn read_address_request(
    meter_type: MeterType,
    order: DiOrder,
    ser: u8,
    preamble: usize,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let [a, b] = DataId::READ_ADDRESS.wire(order);
    frame::encode(
        meter_type,
        &Address::ANY,
        Control::request(function::READ_ADDRESS),
        &[a, b, ser],
        preamble,
        out,
    )
}

/// A normal reply: identifier (in the order the meter used), SER, payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply<'a> {
    pub meter_type: MeterType,
    pub address: Address,
    pub di: DataId,
    pub order: DiOrder,
    pub ser: u8,
    pub payload: &'a [u8],
}

/// Reads `frame` as the normal reply to `function` for identifier `want`,
/// which may arrive in either byte order.
pub fn reply_for<'a>(frame: &Frame<'a>, function: u8, want: DataId) -> Result<Reply<'a>, Error> {
    let c = frame.control;
    if !c.is_reply() || c.function() != function {
        return Err(Error::UnexpectedControl {
            want: Control::reply(function).0,
            got: c.0,
        });
    }
    let (di, ser, payload) = match frame.data {
        [a, b, ser, rest @ ..] => ([*a, *b], *ser, rest),
        _ => {
            return Err(Error::ShortData {
                need: 3,
                got: frame.data.len(),
            })
        }
    };
    let order = want
        .order_of(di)
        .ok_or(Error::WrongIdentifier { want, got: di })?;
    Ok(Reply {
        meter_type: frame.meter_type,
        address: frame.address,
        di: want,
        order,
        ser,
        payload,
    })
}

/// A flow or volume with its unit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity {
    pub value: Decimal,
    pub unit: Unit,
}

impl Quantity {
    /// The value in m³, if its unit is one protocols.md gives (0x2C).
    pub fn m3(self) -> Option<f64> {
        match self.unit {
            Unit::CubicMetre => Some(self.value.to_f64()),
            Unit::Other(_) => None,
        }
    }
}

/// The read-data reply of a water meter. `None` marks a field the meter
/// filled with `FF` (unsupported) or left out at the end of a short reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaterData {
    pub current: Option<Quantity>,
    pub settlement: Option<Quantity>,
    /// The meter's clock (local time); also `None` when it is not a valid
    /// date, so a bad clock never costs the flow reading.
    pub time: Option<NaiveDateTime>,
    pub status: Option<Status>,
}

impl WaterData {
    /// Decodes the payload after identifier and SER. Flow that is neither
    /// BCD nor FF-filled is an error (the reading itself is damaged); bytes
    /// beyond the layout (vendor extras) are ignored.
    pub fn decode(payload: &[u8]) -> Result<WaterData, Error> {
        if payload.len() < 5 {
            return Err(Error::ShortData {
                need: 5,
                got: payload.len(),
            });
        }
        let quantity = |at: usize| -> Result<Option<Quantity>, Error> {
            let (Some(v), Some(unit)) = (payload.get(at..at + 4), payload.get(at + 4)) else {
                return Ok(None);
            };
            Ok(bcd::decode(v, FLOW)?.map(|value| Quantity {
                value,
                unit: Unit::from_code(*unit),
            }))
        };
        let status = match payload.get(17..19) {
            Some([0xff, 0xff]) | None => None,
            Some([st1, st2]) => Some(Status {
                st1: *st1,
                st2: *st2,
            }),
            Some(_) => None,
        };
        Ok(WaterData {
            current: quantity(0)?,
            settlement: quantity(5)?,
            time: payload.get(10..17).and_then(meter_time),
            status,
        })
    }

    /// The payload a meter sends for `self` (absent fields FF-filled).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        for q in [self.current, self.settlement] {
            match q {
                Some(q) => {
                    bcd::encode(q.value.raw, FLOW, out).ok_or(Error::Unencodable("flow"))?;
                    out.push(q.unit.code());
                }
                None => out.extend_from_slice(&[0xff; 5]),
            }
        }
        match self.time {
            Some(t) if (2000..=9999).contains(&t.year()) => {
                let y = t.year() as u16;
                let digits = [t.second(), t.minute(), t.hour(), t.day(), t.month()];
                out.extend(digits.iter().map(|d| bcd::to_bcd(*d as u8)));
                out.push(bcd::to_bcd((y % 100) as u8));
                out.push(bcd::to_bcd((y / 100) as u8));
            }
            Some(_) => return Err(Error::Unencodable("time")),
            None => out.extend_from_slice(&[0xff; 7]),
        }
        match self.status {
            Some(s) => out.extend_from_slice(&[s.st1, s.st2]),
            None => out.extend_from_slice(&[0xff, 0xff]),
        }
        Ok(())
    }
}

/// `ss mm hh DD MM YY YY` (BCD, seconds first, year low byte first).
fn meter_time(b: &[u8]) -> Option<NaiveDateTime> {
    let d = <[u8; 7]>::try_from(b)
        .ok()?
        .map(|x| bcd::from_bcd(x).map(u32::from));
    let [s, mi, h, day, mo, ylo, yhi] = d;
    let year = i32::try_from(yhi? * 100 + ylo?).ok()?;
    NaiveDate::from_ymd_opt(year, mo?, day?)?.and_hms_opt(h?, mi?, s?)
}

/// Appends a meter's reply: identifier in `order`, SER, payload.
#[allow(clippy::too_many_arguments)]
pub fn encode_reply(
    meter_type: MeterType,
    address: &Address,
    function: u8,
    di: DataId,
    order: DiOrder,
    ser: u8,
    payload: &[u8],
    preamble: usize,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let mut data = Vec::with_capacity(3 + payload.len());
    data.extend_from_slice(&di.wire(order));
    data.push(ser);
    data.extend_from_slice(payload);
    frame::encode(
        meter_type,
        address,
        Control::reply(function),
        &data,
        preamble,
        out,
    )
}
