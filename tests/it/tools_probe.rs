//! `greengate probe` against real Modbus devices: a tokio-modbus TCP server
//! with a 32-bit float, a 64-bit counter, a word-swapped float and a
//! register it refuses; a silent unit; and an RTU device over a socat
//! pseudo-terminal pair.

use crate::common::socat::pty_pair;
use crate::modbus_support::{rtu_device, Bank, TcpDevice};
use crate::tools_support::{greengate_async, write_config};
use tokio_modbus::ExceptionCode;

const METER: &str = r#"
name = "probe-meter"
class = "lighting"
description = "Test meter: f32 voltage, u64 energy, word-swapped f32 power, a status word"

[modbus]
byte_order = "ABCD"

[[modbus.fields]]
name = "voltage_v"
table = "input"
address = 0
type = "f32"
unit = "V"

[[modbus.fields]]
name = "energy_kwh"
table = "input"
address = 2
type = "u64"
scale = 0.01
unit = "kWh"

[[modbus.fields]]
name = "power_w"
table = "holding"
address = 10
type = "f32"
byte_order = "CDAB"
unit = "kW"

[[modbus.fields]]
name = "status"
table = "holding"
address = 20
type = "u16"
"#;

fn meter_bank(unit: u8) -> Bank {
    let bank = Bank::default();
    bank.input_f32(unit, 0, 230.5);
    // 123456789 as a u64, big-endian words.
    bank.input(unit, 2, &[0x0000, 0x0000, 0x075B, 0xCD15]);
    // 1.5 kW as f32 0x3FC00000, word-swapped (CDAB) on the wire.
    bank.holding(unit, 10, &[0x0000, 0x3FC0]);
    bank.holding(unit, 20, &[7]);
    bank.refuse(unit, 20, ExceptionCode::IllegalDataAddress);
    bank
}

fn tcp_config(dir: &std::path::Path, addr: std::net::SocketAddr) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("profiles")).unwrap();
    std::fs::write(dir.join("profiles/probe-meter.toml"), METER).unwrap();
    write_config(
        dir,
        &format!(
            r#"
[[sources.modbus.endpoints]]
name = "gw-probe"
transport = "tcp"
address = "{addr}"
timeout = "300ms"
[[sources.modbus.endpoints.devices]]
id = "meter-5"
unit = 5
profile = "probe-meter"
[[sources.modbus.endpoints.devices]]
id = "meter-9"
unit = 9
profile = "probe-meter"
"#
        ),
    )
}

#[tokio::test]
async fn probe_prints_raw_registers_decoded_values_all_byte_orders_and_the_refused_register() {
    let dir = tempfile::tempdir().unwrap();
    let dev = TcpDevice::start(meter_bank(5)).await;
    let cfg = tcp_config(dir.path(), dev.addr);
    let out = greengate_async(&["probe", "-c", cfg.to_str().unwrap(), "meter-5"]).await;
    let s = &out.stdout;
    let line = |name: &str| -> String {
        s.lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no line for {name}:\n{s}"))
            .to_string()
    };
    let orders = |name: &str| -> String {
        let mut it = s.lines().skip_while(|l| !l.trim_start().starts_with(name));
        it.next();
        it.next().unwrap_or_default().to_string()
    };
    assert!(s.contains("device meter-5 (profile probe-meter"), "{s}");
    // The 32-bit float: its registers, its value, and the four orders.
    let v = line("voltage_v");
    assert!(v.contains("input:0") && v.contains("f32 ABCD"), "{v}");
    assert!(v.contains("raw 0x4366 0x8000"), "{v}");
    assert!(v.contains("= 230.5 V"), "{v}");
    let o = orders("voltage_v");
    assert!(o.contains("ABCD 230.5 (configured)"), "{o}");
    for order in ["CDAB", "BADC", "DCBA"] {
        assert!(o.contains(order), "{order} missing: {o}");
    }
    // The 64-bit counter: the decoded integer before its scale.
    let e = line("energy_kwh");
    assert!(e.contains("raw 0x0000 0x0000 0x075B 0xCD15"), "{e}");
    assert!(e.contains("decoded 123456789 ×0.01 = 1234567.89"), "{e}");
    assert!(orders("energy_kwh").contains("ABCD 1234567.89"), "{s}");
    // The word-swapped float: the configured order right, ABCD visibly wrong.
    let p = line("power_w");
    assert!(p.contains("raw 0x0000 0x3FC0"), "{p}");
    assert!(p.contains("decoded 1.5 kW → W = 1500 W"), "{p}");
    let o = orders("power_w");
    assert!(o.contains("CDAB 1500 (configured)"), "{o}");
    assert!(o.contains("ABCD 2.2"), "{o}");
    // The coalesced holding read is refused, then read field by field: the
    // refused register is named with its exception and meaning.
    assert!(s.contains("reading its 2 fields one by one"), "{s}");
    let st = line("status");
    assert!(st.contains("holding:20"), "{st}");
    assert!(
        st.contains("not read: exception 0x02 (Illegal data address): a register in this range is not implemented"),
        "{st}"
    );
    assert!(s.contains("3 of 4 fields read and decoded"), "{s}");
    out.assert_one_line_error("device meter-5: 1 of 4 fields not read (status)");
    assert_eq!(out.code, 1);
}

#[tokio::test]
async fn probe_of_a_silent_unit_says_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let dev = TcpDevice::start(meter_bank(5)).await;
    let cfg = tcp_config(dir.path(), dev.addr);
    let out = greengate_async(&[
        "probe",
        "-c",
        cfg.to_str().unwrap(),
        "meter-9",
        "--timeout",
        "100ms",
    ])
    .await;
    assert!(
        out.stdout.contains("timeout: no answer within 100ms"),
        "{out:?}"
    );
    out.assert_one_line_error("device meter-9: 4 of 4 fields not read");
}

#[tokio::test]
async fn probe_reads_an_rtu_device_over_a_serial_line() {
    let dir = tempfile::tempdir().unwrap();
    let (_socat, a, b) = pty_pair(dir.path());
    let bank = Bank::default();
    bank.holding(2, 0, &[0x5678, 0x0001, 500, 0, 1, 3300]);
    let _server = rtu_device(&a, bank.clone());
    let cfg = write_config(
        dir.path(),
        &format!(
            r#"
[[sources.modbus.endpoints]]
name = "rs485-1"
transport = "rtu"
serial = {{ path = "{}", baud = 19200 }}
timeout = "500ms"
[[sources.modbus.endpoints.devices]]
id = "water-2"
unit = 2
profile = "modbus-water-meter"
"#,
            b.display()
        ),
    );
    let out = greengate_async(&["probe", "-c", cfg.to_str().unwrap(), "water-2"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let s = &out.stdout;
    assert!(s.contains("on endpoint rs485-1 (rtu "), "{s}");
    let total = s.lines().find(|l| l.contains("total_m3")).unwrap();
    assert!(total.contains("raw 0x5678 0x0001"), "{total}");
    assert!(total.contains("u32 CDAB"), "{total}");
    assert!(
        total.contains("decoded 87672 L → m³ = 87.672 m³"),
        "{total}"
    );
    assert!(s.contains("CDAB 87.672 (configured)"), "{s}");
    let leak = s.lines().find(|l| l.contains("leak")).unwrap();
    assert!(leak.contains("bit 0") && leak.contains("= true"), "{leak}");
    assert!(s.contains("4 of 4 fields read and decoded"), "{s}");
    assert!(bank.requests(2) >= 1);
}

#[tokio::test]
async fn probe_of_a_serial_bus_the_daemon_holds_says_the_port_is_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let (_socat, _a, b) = pty_pair(dir.path());
    // The daemon's poller has the port open (tokio-serial opens it exclusively).
    let _held =
        tokio_serial::SerialStream::open(&tokio_serial::new(b.to_string_lossy(), 9600)).unwrap();
    let cfg = write_config(
        dir.path(),
        &format!(
            r#"
[[sources.modbus.endpoints]]
name = "rs485-held"
transport = "rtu"
serial = {{ path = "{}" }}
[[sources.modbus.endpoints.devices]]
id = "noise-3"
unit = 3
profile = "modbus-noise-rs485"
"#,
            b.display()
        ),
    );
    let out = greengate_async(&["probe", "-c", cfg.to_str().unwrap(), "noise-3"]).await;
    out.assert_one_line_error(
        "the serial port is in use (by the running daemon or another program",
    );
    assert_eq!(out.code, 69);
}
