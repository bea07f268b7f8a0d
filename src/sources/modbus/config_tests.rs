use super::*;
use crate::config::parse_value;
use crate::profiles::Profile;

fn parse(text: &str) -> (Option<ModbusConfig>, Check) {
    let v: toml::Value = toml::from_str(text).unwrap();
    let mut cx = Check::new(".");
    let c: Option<ModbusConfig> =
        parse_value(serde_json::to_value(v).unwrap(), "sources.modbus", &mut cx);
    if let Some(c) = &c {
        c.validate("sources.modbus", &mut cx);
    }
    (c, cx)
}

fn problems(cx: &Check) -> Vec<String> {
    cx.problems().iter().map(|p| p.to_string()).collect()
}

#[test]
fn a_full_endpoint_parses_with_defaults() {
    let (c, cx) = parse(
        r#"
        [[endpoints]]
        name = "bus-1"
        transport = "rtu"
        serial = { path = "/dev/ttyUSB0", baud = 19200, parity = "even" }
        inter_request_delay = "20ms"
        [[endpoints.devices]]
        id = "noise-07"
        unit = 7
        profile = "modbus-noise-rs485"
        poll_interval = "1s"
        group_intervals = { slow = "5m" }
        "#,
    );
    assert!(cx.problems().is_empty(), "{:?}", problems(&cx));
    let c = c.unwrap();
    let e = &c.endpoints[0];
    assert_eq!(e.transport, Transport::Rtu);
    assert_eq!(e.serial.as_ref().unwrap().parity, Parity::Even);
    assert_eq!(e.serial.as_ref().unwrap().data_bits, 8);
    assert_eq!(e.timeout, Duration::from_secs(1));
    assert_eq!(
        e.devices[0].group_intervals["slow"].0,
        Duration::from_secs(300)
    );
    assert!(e.devices[0].coalesce);
}

#[test]
fn endpoint_mistakes_are_reported_with_their_paths() {
    let (_, cx) = parse(
        r#"
        [[endpoints]]
        name = "gw"
        address = "10.0.0.1"
        timeout = "0s"
        [[endpoints.devices]]
        id = "a"
        profile = "p"
        max_request = 126
        [[endpoints]]
        name = "gw"
        transport = "rtu"
        [[endpoints.devices]]
        id = "a"
        unit = 0
        profile = "p"
        "#,
    );
    let p = problems(&cx).join("\n");
    for needle in [
        "sources.modbus.endpoints[0].address: expected host:port",
        "sources.modbus.endpoints[0].timeout: must be positive",
        "sources.modbus.endpoints[0].devices[0].max_request: must be 1 to 125, got 126",
        "sources.modbus.endpoints[1].name: endpoint \"gw\" is defined twice",
        "sources.modbus.endpoints[1].serial: transport = \"rtu\" needs serial",
        "sources.modbus.endpoints[1].devices[0].unit: RTU unit ids run from 1 to 247",
        "sources.modbus.endpoints[1].devices[0].id: device \"a\" is also sources.modbus.endpoints[0].devices[0]",
    ] {
        assert!(p.contains(needle), "{needle} missing from:\n{p}");
    }
}

#[test]
fn unknown_keys_and_transports_are_reported() {
    let (_, cx) = parse("[[endpoints]]\nname = \"x\"\naddres = \"a:1\"\ntransport = \"udp\"");
    let p = problems(&cx).join("\n");
    assert!(
        p.contains("sources.modbus.endpoints[0].transport: unknown variant `udp`"),
        "{p}"
    );
}

#[test]
fn devices_must_name_a_profile_with_a_register_map() {
    let (c, _) = parse(
        r#"
        [[endpoints]]
        name = "gw"
        address = "127.0.0.1:502"
        [[endpoints.devices]]
        id = "a"
        profile = "missing"
        [[endpoints.devices]]
        id = "b"
        profile = "mqtt-only"
        "#,
    );
    let mut set = ProfileSet::default();
    set.profiles.insert(
        "mqtt-only".into(),
        Profile {
            name: "mqtt-only".into(),
            class: "noise".into(),
            ..Profile::default()
        },
    );
    let mut cx = Check::new(".");
    c.unwrap().check_refs("sources.modbus", &set, &mut cx);
    assert_eq!(
        problems(&cx),
        vec![
            "sources.modbus.endpoints[0].devices[0].profile: no profile named \"missing\" is loaded",
            "sources.modbus.endpoints[0].devices[1].profile: profile \"mqtt-only\" has no [modbus] register map",
        ]
    );
}

#[test]
fn one_bus_cannot_be_split_over_two_endpoints_or_share_a_unit_id() {
    let (_, cx) = parse(
        r#"
        [[endpoints]]
        name = "a"
        transport = "rtu"
        serial = { path = "/dev/ttyUSB0" }
        [[endpoints.devices]]
        id = "x"
        unit = 3
        profile = "p"
        [[endpoints.devices]]
        id = "y"
        unit = 3
        profile = "p"
        [[endpoints]]
        name = "b"
        transport = "rtu"
        serial = { path = "/dev/ttyUSB0" }
        "#,
    );
    let p = problems(&cx).join("\n");
    assert!(p.contains("sources.modbus.endpoints[1].serial.path: \"/dev/ttyUSB0\" is also sources.modbus.endpoints[0]"), "{p}");
    assert!(
        p.contains("sources.modbus.endpoints[0].devices[1].unit: unit 3 is also devices[0]"),
        "{p}"
    );
}
