//! Probing one DL/T 645 / CJ/T 188 meter: each identifier of its profile
//! read once, with the meter source's own parts: the request frames and
//! reply checks of [`reply`], the line and its first-frame exchange of
//! [`link`] (so noise, wake-up bytes and stale bytes are handled as the
//! daemon handles them). Per identifier it prints the reply's data bytes
//! (DL/T 645: after −0x33, without the identifier), then per field the
//! decoded value, the scale and unit steps and the stored value; or why
//! the identifier gave nothing (timeout, damaged frame, error reply with
//! its ERR bits named, another meter's address).
//!
//! A broken line is opened again before the next identifier, as the bus
//! driver does; a bus that cannot be opened at all is exit 69.

use std::io::Write;
use std::time::Duration;

use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::model::Unit;
use crate::profiles::meter::{Di, Extract, MeterSpec, WaterValue};
use crate::profiles::Profile;
use crate::protocols::cjt188;
use crate::sources::bus::CallError;
use crate::sources::meters::config::{BusConfig, MeterConfig, MeterTransport};
use crate::sources::meters::link::{self, MeterError, MeterLink, MeterRequest, Stream};
use crate::sources::meters::meter::{Meter, MAX_FOLLOW_UPS};
use crate::sources::meters::reply::{self, Values};
use crate::tools::ToolError;

use super::render;

/// Reads every identifier of `cfg` once and prints it to `out`.
pub async fn run(
    bus: &BusConfig,
    cfg: &MeterConfig,
    profile: &Profile,
    out: &mut dyn Write,
) -> Result<(), ToolError> {
    let once = Backoff::new(Duration::from_secs(1), Duration::from_secs(1));
    let meter = Meter::new(cfg, profile, bus.preamble, once, Instant::now(), 0.0)
        .map_err(|e| ToolError::Usage(format!("meter {}: {e}", cfg.id)))?;
    let place = bus_place(bus);
    let _ = writeln!(
        out,
        "meter {} (profile {}, {}, class {}) address {} on bus {} ({place}), timeout {:?}",
        meter.id,
        profile.name,
        meter.protocol.name(),
        meter.measurement,
        meter.target.address(),
        bus.name,
        bus.timeout
    );
    let mut conn = open(bus, &place).await?;
    let dis: Vec<Di> = meter.groups.iter().flat_map(|g| g.dis.clone()).collect();
    let total = meter.specs.len();
    let mut failed: Vec<String> = Vec::new();
    let mut ser = 0u8;
    for (k, di) in dis.iter().enumerate() {
        if k > 0 && !bus.inter_request_delay.is_zero() {
            tokio::time::sleep(bus.inter_request_delay).await;
        }
        let started = Instant::now();
        let got = read(&mut conn, bus, &meter, *di, &mut ser).await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let specs: Vec<&MeterSpec> = meter.specs.iter().filter(|s| s.di == *di).collect();
        match got {
            Ok((values, data)) => {
                let _ = writeln!(out, "read {di} in {ms:.1} ms: data {}", hex(&data));
                for s in specs {
                    let (line, ok) = field(s, &values, &meter.unit_codes);
                    let _ = writeln!(out, "{line}");
                    if !ok {
                        failed.push(s.name.clone());
                    }
                }
            }
            Err(e) => {
                let why = why(&e);
                let _ = writeln!(out, "read {di}: {why}");
                for s in specs {
                    let _ = writeln!(out, "  {:<16} {di:<8} not read: {why}", s.name);
                    failed.push(s.name.clone());
                }
                if e.reconnect() {
                    drop(conn);
                    conn = open(bus, &place).await.map_err(|e| {
                        ToolError::Unavailable(format!("reopening after the failed read: {e}"))
                    })?;
                }
            }
        }
    }
    let good = total.saturating_sub(failed.len());
    let _ = writeln!(out, "{good} of {total} fields read and decoded");
    if failed.is_empty() {
        Ok(())
    } else {
        Err(ToolError::Failed(format!(
            "meter {}: {} of {total} fields not read or not decoded ({})",
            meter.id,
            failed.len(),
            failed.join(", ")
        )))
    }
}

/// `serial /dev/ttyUSB1` or `tcp 10.0.0.5:4001`.
fn bus_place(bus: &BusConfig) -> String {
    match bus.transport {
        MeterTransport::Tcp => format!("tcp {}", bus.address.as_deref().unwrap_or_default()),
        MeterTransport::Serial => format!(
            "serial {}",
            bus.serial
                .as_ref()
                .map(|s| s.path.display().to_string())
                .unwrap_or_default()
        ),
    }
}

async fn open(bus: &BusConfig, place: &str) -> Result<Box<dyn Stream>, ToolError> {
    let limit = bus.timeout.max(Duration::from_secs(1));
    match tokio::time::timeout(limit, MeterLink::open(bus)).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(ToolError::Unavailable(open_error(place, &e))),
        Err(_) => Err(ToolError::Unavailable(format!(
            "cannot open bus {place}: no connection within {limit:?}"
        ))),
    }
}

fn open_error(place: &str, e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    let hint = match e.kind() {
        K::ConnectionRefused => {
            "connection refused (is the serial device server there, on that port?)"
        }
        K::NotFound => "no such port",
        K::PermissionDenied => "permission denied (is the user in the dialout group?)",
        _ => "",
    };
    if hint.is_empty() {
        format!("cannot open bus {place}: {e}")
    } else {
        format!("cannot open bus {place}: {hint}: {e}")
    }
}

/// Why an identifier gave nothing, with the kind the daemon counts it as.
fn why(e: &MeterError) -> String {
    format!("{}: {e}", e.kind())
}

/// One identifier: the request, its DL/T 645 follow-ups, the checked
/// values and the reply's data bytes.
async fn read(
    conn: &mut Box<dyn Stream>,
    bus: &BusConfig,
    meter: &Meter,
    di: Di,
    ser: &mut u8,
) -> Result<(Values, Vec<u8>), MeterError> {
    let mut ask = |follow_up: Option<u8>| {
        *ser = ser.wrapping_add(1);
        MeterRequest {
            protocol: meter.protocol,
            bytes: reply::request(&meter.target, di, follow_up, meter.preamble, *ser),
            label: format!("{}/{di}", meter.target.address()),
        }
    };
    let req = ask(None);
    let raw = link::exchange(conn.as_mut(), &req, bus.timeout, &bus.name).await?;
    let mut values = reply::interpret(&meter.target, di, &raw.frame)?;
    let mut data = data_bytes(&values, &raw.frame);
    for _ in 0..MAX_FOLLOW_UPS {
        let Values::Dlt645 {
            more: Some(seq), ..
        } = values
        else {
            break;
        };
        let req = ask(Some(seq));
        let raw = link::exchange(conn.as_mut(), &req, bus.timeout, &bus.name).await?;
        let next = reply::interpret(&meter.target, di, &raw.frame)?;
        data.extend(data_bytes(&next, &raw.frame));
        reply::extend(&mut values, next);
    }
    Ok((values, data))
}

/// DL/T 645: the value bytes (offset removed); CJ/T 188: the frame's data
/// field (identifier, SER, payload).
fn data_bytes(v: &Values, frame: &[u8]) -> Vec<u8> {
    match v {
        Values::Dlt645 { bytes, .. } => bytes.clone(),
        Values::Water(_) => cjt188::decode_complete(frame)
            .map(|(f, _)| f.data.to_vec())
            .unwrap_or_default(),
    }
}

pub fn hex(b: &[u8]) -> String {
    if b.is_empty() {
        return "(none)".into();
    }
    b.iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The unit the meter reported `s` in: the profile's, or for a CJ/T 188
/// volume the reply's unit code as the profile's `unit_codes` name it.
fn reported_unit(s: &MeterSpec, v: &Values, codes: &std::collections::BTreeMap<u8, Unit>) -> Unit {
    match (s.extract, v) {
        (
            Extract::Water(w @ (WaterValue::Total | WaterValue::SettlementTotal)),
            Values::Water(d),
        ) => {
            let q = if w == WaterValue::Total {
                d.current
            } else {
                d.settlement
            };
            q.and_then(|q| codes.get(&q.unit.code()).copied())
                .unwrap_or(Unit::None)
        }
        _ => s.unit,
    }
}

/// One field's line, and whether it gave a stored value (a value the
/// meter left out, `FF`-filled, is not a failure).
pub fn field(
    s: &MeterSpec,
    v: &Values,
    codes: &std::collections::BTreeMap<u8, Unit>,
) -> (String, bool) {
    let unit = reported_unit(s, v, codes);
    // Before scale and unit: the plain spec, every unit code as "none".
    let plain = MeterSpec {
        scale: 1.0,
        unit: Unit::None,
        ..s.clone()
    };
    let none: std::collections::BTreeMap<u8, Unit> =
        codes.keys().map(|k| (*k, Unit::None)).collect();
    let decoded = match reply::field(&plain, v, &none) {
        Ok(Some(x)) => render::value(&x),
        Ok(None) => "(left out)".into(),
        Err(e) => format!("({e})"),
    };
    let mut steps = Vec::new();
    if s.scale != 1.0 {
        steps.push(format!("×{}", s.scale));
    }
    if unit != Unit::None {
        if unit.canonical() != unit {
            steps.push(format!("{} → {}", unit.symbol(), unit.canonical().symbol()));
        } else {
            steps.push(unit.symbol().to_string());
        }
    }
    let canonical = if unit == Unit::None {
        ""
    } else {
        unit.canonical().symbol()
    };
    let (stored, ok) = match reply::field(s, v, codes) {
        Ok(Some(x)) => (
            format!("= {} {canonical}", render::value(&x))
                .trim_end()
                .to_string(),
            true,
        ),
        Ok(None) => (
            "= (not stored: the meter left it out, FF-filled)".into(),
            true,
        ),
        Err(e) => (format!("NOT DECODED: {}: {e}", e.kind()), false),
    };
    let steps = if steps.is_empty() {
        String::new()
    } else {
        format!(" {}", steps.join(" "))
    };
    (
        format!(
            "  {:<16} {:<8} decoded {decoded}{steps} {stored}",
            s.name,
            s.di.to_string()
        ),
        ok,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::bcd::{Decimal, Format};
    use std::collections::BTreeMap;

    fn power() -> MeterSpec {
        MeterSpec {
            name: "power_w".into(),
            di: Di::Dlt645(0x0203_0000),
            extract: Extract::Bcd {
                format: Format::new(3, 4, true),
                index: 0,
            },
            scale: 1.0,
            unit: Unit::KiloWatt,
            group: None,
        }
    }

    fn volume(code: u8) -> Values {
        Values::Water(cjt188::WaterData {
            current: Some(cjt188::Quantity {
                value: Decimal {
                    raw: 12_345,
                    decimals: 2,
                },
                unit: cjt188::Unit::from_code(code),
            }),
            settlement: None,
            time: None,
            status: None,
        })
    }

    fn total() -> MeterSpec {
        MeterSpec {
            name: "total_m3".into(),
            di: Di::Cjt188(0x901F),
            extract: Extract::Water(WaterValue::Total),
            scale: 1.0,
            unit: Unit::None,
            group: None,
        }
    }

    #[test]
    fn a_dlt645_value_shows_its_decoded_value_and_the_unit_step() {
        let v = Values::Dlt645 {
            bytes: vec![0x00, 0x33, 0x00],
            more: None,
        };
        let (line, ok) = field(&power(), &v, &BTreeMap::new());
        assert!(ok, "{line}");
        assert!(line.contains("decoded 0.33 kW → W = 330 W"), "{line}");
    }

    #[test]
    fn an_ff_filled_value_is_left_out_not_failed() {
        let v = Values::Dlt645 {
            bytes: vec![0xFF; 3],
            more: None,
        };
        let (line, ok) = field(&power(), &v, &BTreeMap::new());
        assert!(ok, "{line}");
        assert!(line.contains("(left out)"), "{line}");
    }

    #[test]
    fn a_volume_takes_its_unit_from_the_unit_code_and_an_unknown_code_fails() {
        let codes = BTreeMap::from([(0x2C, Unit::CubicMetre)]);
        let (line, ok) = field(&total(), &volume(0x2C), &codes);
        assert!(ok && line.contains("= 123.45 m³"), "{line}");
        let (line, ok) = field(&total(), &volume(0x2A), &codes);
        assert!(!ok, "{line}");
        assert!(line.contains("NOT DECODED: unit_code"), "{line}");
    }

    #[test]
    fn hex_is_spaced_upper_case() {
        assert_eq!(hex(&[0x1F, 0x90, 0x0a]), "1F 90 0A");
        assert_eq!(hex(&[]), "(none)");
    }
}
