//! Pure: a meter's request frames, and its replies checked (address,
//! identifier, error reply) and turned into canonical fields.

use crate::model::{FieldValue, Unit};
use crate::profiles::meter::{Di, Extract, MeterSpec, WaterValue};
use crate::protocols::{cjt188, dlt645};

use super::link::MeterError;

/// How to address one meter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Dlt645(dlt645::Address),
    Cjt188 {
        meter_type: cjt188::MeterType,
        address: cjt188::Address,
        order: cjt188::DiOrder,
    },
}

impl Target {
    pub fn address(&self) -> String {
        match self {
            Target::Dlt645(a) => a.to_string(),
            Target::Cjt188 { address, .. } => address.to_string(),
        }
    }
}

/// The value part of a checked reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// DL/T 645: the plain value bytes (offset removed); `more` with the
    /// sequence number of a follow-up to ask for.
    Dlt645 {
        bytes: Vec<u8>,
        more: Option<u8>,
    },
    Water(cjt188::WaterData),
}

/// The read request for `di` (`follow_up`: DL/T 645 frame `seq`).
pub fn request(t: &Target, di: Di, follow_up: Option<u8>, preamble: usize, ser: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(24);
    let r = match (t, di.dlt645()) {
        (Target::Dlt645(a), Some(d)) => match follow_up {
            Some(seq) => dlt645::app::read_follow_up_request(a, d, seq, preamble, &mut out),
            None => dlt645::app::read_request(a, d, preamble, &mut out),
        }
        .map_err(|e| e.to_string()),
        (
            Target::Cjt188 {
                meter_type,
                address,
                order,
            },
            None,
        ) => {
            let id = match di {
                Di::Cjt188(v) => cjt188::DataId(v),
                _ => cjt188::DataId::READ_DATA,
            };
            cjt188::read_request(*meter_type, address, id, *order, ser, preamble, &mut out)
                .map_err(|e| e.to_string())
        }
        _ => Err("identifier of another protocol".into()),
    };
    if r.is_err() {
        out.clear();
    }
    out
}

/// Checks `frame` as the reply of meter `t` to a read of `di`.
pub fn interpret(t: &Target, di: Di, frame: &[u8]) -> Result<Values, MeterError> {
    match (t, di.dlt645()) {
        (Target::Dlt645(want), Some(d)) => {
            let f = match dlt645::decode_complete(frame) {
                Ok((f, _)) => f,
                Err(dlt645::Error::ErrorReply { address, code, .. }) => {
                    if !want.accepts_reply_from(&address) {
                        return Err(wrong(want.to_string(), address.to_string()));
                    }
                    return Err(MeterError::ErrorReply(code.to_string()));
                }
                Err(e) => return Err(MeterError::Unexpected(e.to_string())),
            };
            if !want.accepts_reply_from(&f.address) {
                return Err(wrong(want.to_string(), f.address.to_string()));
            }
            let r = dlt645::app::read_reply_for(&f, d)
                .map_err(|e| MeterError::Unexpected(e.to_string()))?;
            let more = r.more.then(|| r.seq.unwrap_or(0).wrapping_add(1));
            Ok(Values::Dlt645 {
                bytes: r.value_bytes().collect(),
                more,
            })
        }
        (
            Target::Cjt188 {
                meter_type,
                address,
                ..
            },
            None,
        ) => {
            let f = match cjt188::decode_complete(frame) {
                Ok((f, _)) => f,
                Err(cjt188::Error::ErrorReply { address: got, .. })
                    if !address.accepts_reply_from(&got) =>
                {
                    return Err(wrong(address.to_string(), got.to_string()))
                }
                Err(e @ cjt188::Error::ErrorReply { .. }) => {
                    return Err(MeterError::ErrorReply(e.to_string()))
                }
                Err(e) => return Err(MeterError::Unexpected(e.to_string())),
            };
            if !address.accepts_reply_from(&f.address) || !meter_type.accepts_reply(f.meter_type) {
                return Err(wrong(
                    format!("{:02X}/{address}", meter_type.0),
                    format!("{:02X}/{}", f.meter_type.0, f.address),
                ));
            }
            let id = match di {
                Di::Cjt188(v) => cjt188::DataId(v),
                _ => cjt188::DataId::READ_DATA,
            };
            let r = cjt188::reply_for(&f, cjt188::function::READ_DATA, id)
                .map_err(|e| MeterError::Unexpected(e.to_string()))?;
            let w = cjt188::WaterData::decode(r.payload)
                .map_err(|e| MeterError::Value(e.to_string()))?;
            Ok(Values::Water(w))
        }
        _ => Err(MeterError::Unexpected(
            "identifier of another protocol".into(),
        )),
    }
}

fn wrong(want: String, got: String) -> MeterError {
    MeterError::WrongAddress { want, got }
}

/// The value of `spec` in `v`: `Ok(None)` when the meter left it out
/// (`FF`-filled); an error names why it cannot be used.
pub fn field(
    spec: &MeterSpec,
    v: &Values,
    unit_codes: &std::collections::BTreeMap<u8, Unit>,
) -> Result<Option<FieldValue>, MeterError> {
    let num = |x: f64, unit: Unit| {
        let x = unit.to_canonical(x * spec.scale);
        x.is_finite().then_some(FieldValue::Float(x))
    };
    match (spec.extract, v) {
        (Extract::Bcd { format, index }, Values::Dlt645 { bytes, .. }) => {
            let n = usize::from(format.bytes.max(1));
            let Some(chunk) = bytes.get(index * n..index * n + n) else {
                return Err(MeterError::Value(format!(
                    "{} value bytes, value {index} of {n} bytes wanted",
                    bytes.len()
                )));
            };
            let d = crate::protocols::bcd::decode(chunk, format)
                .map_err(|e| MeterError::Value(e.to_string()))?;
            Ok(d.and_then(|d| num(d.to_f64(), spec.unit)))
        }
        (Extract::Water(w), Values::Water(data)) => match w {
            WaterValue::Total | WaterValue::SettlementTotal => {
                let q = if w == WaterValue::Total {
                    data.current
                } else {
                    data.settlement
                };
                let Some(q) = q else { return Ok(None) };
                let unit = *unit_codes
                    .get(&q.unit.code())
                    .ok_or(MeterError::UnitCode(q.unit.code()))?;
                Ok(num(q.value.to_f64(), unit))
            }
            WaterValue::ValveOpen => Ok(data
                .status
                .map(|s| FieldValue::Bool(s.valve() == cjt188::Valve::Open))),
            WaterValue::BatteryLow => Ok(data.status.map(|s| FieldValue::Bool(s.battery_low()))),
        },
        _ => Err(MeterError::Unexpected("reply of another protocol".into())),
    }
}

/// Appends follow-up value bytes to a first reply's.
pub fn extend(first: &mut Values, next: Values) {
    if let (Values::Dlt645 { bytes, more }, Values::Dlt645 { bytes: b, more: m }) = (first, next) {
        bytes.extend(b);
        *more = m;
    }
}
