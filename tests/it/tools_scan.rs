//! `greengate scan`: Modbus unit ids 1–247 against a tokio-modbus server
//! that answers units 3 and 17 only, and the meter broadcast reads against
//! meter simulators written here from the standards' byte layouts (their
//! own checksum and +0x33, not the codec under test): a DL/T 645 meter on
//! a socat pseudo-terminal, a CJ/T 188 water meter behind a TCP "serial
//! device server".

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::socat::pty_pair;
use crate::modbus_support::{rtu_device, Bank, TcpDevice};
use crate::tools_support::greengate_async;

#[tokio::test]
async fn modbus_scan_finds_units_3_and_17_among_247() {
    let bank = Bank::default();
    bank.holding(3, 0, &[42]);
    // Unit 17 has input registers only: its answer to a holding read is an
    // exception, which still says it is there.
    bank.input(17, 0, &[7]);
    let dev = TcpDevice::start(bank.clone()).await;
    let addr = dev.addr.to_string();
    let out = greengate_async(&[
        "scan",
        "--tcp",
        &addr,
        "--function",
        "holding",
        "--timeout",
        "60ms",
    ])
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    let s = &out.stdout;
    assert!(s.contains("scanning 247 unit ids on tcp "), "{s}");
    let present: Vec<&str> = s.lines().filter(|l| l.starts_with("unit ")).collect();
    assert_eq!(present.len(), 2, "{s}");
    assert!(
        present[0].starts_with("unit   3: present: read holding 0 → answered 0x002A"),
        "{s}"
    );
    assert!(
        present[1].starts_with(
            "unit  17: present: read holding 0 → exception 0x02 (Illegal data address)"
        ),
        "{s}"
    );
    assert!(s.contains("2 unit(s) answered: 3, 17"), "{s}");
    // Every unit was asked once.
    assert_eq!(bank.requests(3), 1);
    assert_eq!(bank.requests(17), 1);

    // Both functions, for the two units found.
    let out =
        greengate_async(&["scan", "--tcp", &addr, "--units", "3,17", "--timeout", "1s"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .contains("unit  17: present: read holding 0 → exception 0x02 (Illegal data address)"),
        "{out:?}"
    );
    assert!(
        out.stdout.contains("; read input 0 → answered 0x0007"),
        "{out:?}"
    );
}

#[tokio::test]
async fn modbus_scan_of_a_serial_bus_finds_its_unit() {
    let dir = tempfile::tempdir().unwrap();
    let (_socat, a, b) = pty_pair(dir.path());
    let bank = Bank::default();
    bank.holding(2, 0, &[5]);
    let _server = rtu_device(&a, bank.clone());
    let out = greengate_async(&[
        "scan",
        "--serial",
        b.to_str().unwrap(),
        "--baud",
        "19200",
        "--units",
        "1-4",
        "--timeout",
        "150ms",
    ])
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    let s = &out.stdout;
    assert!(s.contains("scanning 4 unit ids on serial "), "{s}");
    assert!(
        s.contains(" 19200 8N1: read holding 0 (function 3) and read input 0 (function 4)"),
        "{s}"
    );
    assert!(
        s.contains(
            "unit   2: present: read holding 0 → answered 0x0005; read input 0 → exception 0x02"
        ),
        "{s}"
    );
    assert!(s.contains("1 unit(s) answered: 2"), "{s}");
}

// --- DL/T 645-2007, written out from the standard -------------------------
//
// 68 A0..A5 68 C L DATA CS 16; every DATA byte +0x33 on the wire; CS the
// sum mod 256 from the first 68 to the last data byte; wake-up FE before.

/// The meter's address in wire order (A0 first): nameplate 123456789012.
const DLT_ADDR: [u8; 6] = [0x12, 0x90, 0x78, 0x56, 0x34, 0x12];

fn sum(b: &[u8]) -> u8 {
    b.iter().fold(0u8, |a, x| a.wrapping_add(*x))
}

/// A complete request at the front of `buf`: (bytes used, address, C, plain data).
fn dlt_request(buf: &[u8]) -> Option<(usize, [u8; 6], u8, Vec<u8>)> {
    let s = buf.iter().position(|b| *b == 0x68)?;
    let f = &buf[s..];
    if f.len() < 12 || f[7] != 0x68 {
        return None;
    }
    let l = f[9] as usize;
    if f.len() < 12 + l {
        return None;
    }
    assert_eq!(f[10 + l], sum(&f[..10 + l]), "request checksum");
    assert_eq!(f[11 + l], 0x16, "request end byte");
    let mut a = [0u8; 6];
    a.copy_from_slice(&f[1..7]);
    let data = f[10..10 + l].iter().map(|b| b.wrapping_sub(0x33)).collect();
    Some((s + 12 + l, a, f[8], data))
}

fn dlt_reply(c: u8, plain: &[u8]) -> Vec<u8> {
    let mut f = vec![0xfe, 0xfe, 0x68];
    f.extend_from_slice(&DLT_ADDR);
    f.extend_from_slice(&[0x68, c, plain.len() as u8]);
    f.extend(plain.iter().map(|b| b.wrapping_add(0x33)));
    let cs = sum(&f[2..]);
    f.extend_from_slice(&[cs, 0x16]);
    f
}

/// A DL/T 645 meter on the serial device at `path`; with `knows_0x13`
/// false it ignores read-address and answers only a read of 04000401.
fn dlt645_meter(path: &std::path::Path, knows_0x13: bool) -> tokio::task::JoinHandle<()> {
    let mut port =
        tokio_serial::SerialStream::open(&tokio_serial::new(path.to_string_lossy(), 2400)).unwrap();
    tokio::spawn(async move {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 64];
        loop {
            let Ok(n) = port.read(&mut chunk).await else {
                return;
            };
            buf.extend_from_slice(&chunk[..n]);
            while let Some((used, a, c, data)) = dlt_request(&buf) {
                buf.drain(..used);
                assert_eq!(a, [0xaa; 6], "the scan asks the any-meter address");
                let reply = match (c, data.as_slice()) {
                    (0x13, []) if knows_0x13 => dlt_reply(0x93, &DLT_ADDR),
                    // Read 04000401: DI0..DI3 = 01 04 00 04, then the address.
                    (0x11, [0x01, 0x04, 0x00, 0x04]) => {
                        let mut d = vec![0x01, 0x04, 0x00, 0x04];
                        d.extend_from_slice(&DLT_ADDR);
                        dlt_reply(0x91, &d)
                    }
                    _ => continue,
                };
                if port.write_all(&reply).await.is_err() {
                    return;
                }
            }
        }
    })
}

#[tokio::test]
async fn dlt645_broadcast_read_finds_the_meter_on_a_serial_line() {
    let dir = tempfile::tempdir().unwrap();
    let (_socat, a, b) = pty_pair(dir.path());
    let _meter = dlt645_meter(&a, true);
    let out = greengate_async(&[
        "scan",
        "--protocol",
        "dlt645",
        "--serial",
        b.to_str().unwrap(),
    ])
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("broadcast read on serial "), "{out:?}");
    assert!(out.stdout.contains(" 2400 8E1"), "{out:?}");
    assert!(
        out.stdout
            .contains("DL/T 645 read address (control 0x13) to AAAAAAAAAAAA → meter 123456789012"),
        "{out:?}"
    );
}

#[tokio::test]
async fn dlt645_meter_without_read_address_is_found_by_its_communication_address() {
    let dir = tempfile::tempdir().unwrap();
    let (_socat, a, b) = pty_pair(dir.path());
    let _meter = dlt645_meter(&a, false);
    let out = greengate_async(&[
        "scan",
        "--protocol",
        "dlt645",
        "--serial",
        b.to_str().unwrap(),
        "--timeout",
        "300ms",
    ])
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .contains("(control 0x13) to AAAAAAAAAAAA → no answer"),
        "{out:?}"
    );
    assert!(
        out.stdout.contains(
            "DL/T 645 read 04000401 (communication address) to AAAAAAAAAAAA → meter 123456789012"
        ),
        "{out:?}"
    );
}

// --- CJ/T 188, written out from the standard -------------------------------
//
// 68 T A0..A6 C L DATA CS 16; no data offset; CS the sum mod 256 from 68 to
// the last data byte. Read address: C = 03, DATA = 810A (either byte order)
// and SER; the reply C = 83 carries the address in its address field.

/// Wire order A0..A6 of the meter printed 78330011223344 (protocols.md).
const CJT_ADDR: [u8; 7] = [0x44, 0x33, 0x22, 0x11, 0x00, 0x33, 0x78];

/// A cold-water meter behind a TCP serial device server that sends
/// identifiers high byte first (`81 0A`) and ignores the other order.
async fn cjt188_meter() -> (String, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        let Ok((mut s, _)) = l.accept().await else {
            return;
        };
        let mut buf = Vec::new();
        let mut chunk = [0u8; 64];
        loop {
            let Ok(n) = s.read(&mut chunk).await else {
                return;
            };
            if n == 0 {
                return;
            }
            buf.extend_from_slice(&chunk[..n]);
            loop {
                let Some(st) = buf.iter().position(|b| *b == 0x68) else {
                    buf.clear();
                    break;
                };
                let f = &buf[st..];
                if f.len() < 13 || f.len() < 13 + f[10] as usize {
                    break;
                }
                let l = f[10] as usize;
                assert_eq!(f[11 + l], sum(&f[..11 + l]), "request checksum");
                assert_eq!(f[12 + l], 0x16);
                let (t, a, c, data) = (f[1], f[2..9].to_vec(), f[9], f[11..11 + l].to_vec());
                buf.drain(..st + 13 + l);
                assert_eq!((t, a.as_slice()), (0xaa, &[0xaa; 7][..]));
                if c != 0x03 || data.len() != 3 || data[..2] != [0x81, 0x0a] {
                    continue; // the low-byte-first identifier: not this meter's
                }
                let mut r = vec![0xfe, 0x68, 0x10];
                r.extend_from_slice(&CJT_ADDR);
                r.extend_from_slice(&[0x83, 0x03, 0x81, 0x0a, data[2]]);
                let cs = sum(&r[1..]);
                r.extend_from_slice(&[cs, 0x16]);
                if s.write_all(&r).await.is_err() {
                    return;
                }
            }
        }
    });
    (addr, task)
}

#[tokio::test]
async fn cjt188_broadcast_read_finds_the_meter_behind_a_serial_device_server() {
    let (addr, _meter) = cjt188_meter().await;
    let out = greengate_async(&[
        "scan",
        "--protocol",
        "cjt188",
        "--tcp",
        &addr,
        "--timeout",
        "300ms",
    ])
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .contains("identifier 0A 81) to type AA, AAAAAAAAAAAAAA → no answer"),
        "{out:?}"
    );
    assert!(
        out.stdout.contains(
            "identifier 81 0A) to type AA, AAAAAAAAAAAAAA → meter 78330011223344 type 0x10 (identifier high byte first)"
        ),
        "{out:?}"
    );
}
