use super::*;
use crate::config::{parse_value, Check, Validate};

/// Parses a `[modbus]` table's body and validates it under `p.modbus`.
pub(crate) fn check(text: &str) -> (Option<RegisterMap>, Vec<String>) {
    let v: toml::Value = toml::from_str(text).unwrap();
    let mut cx = Check::new(".");
    let map: Option<RegisterMap> =
        parse_value(serde_json::to_value(v).unwrap(), "p.modbus", &mut cx);
    if let Some(m) = &map {
        m.validate("p.modbus", &mut cx);
    }
    let problems = cx.problems().iter().map(|p| p.to_string()).collect();
    (map, problems)
}

#[test]
fn modicon_numbers_are_one_based_and_name_their_table() {
    assert_eq!(parse_modicon("40001"), Ok((Table::Holding, 0)));
    assert_eq!(parse_modicon("30010"), Ok((Table::Input, 9)));
    assert_eq!(parse_modicon("400001"), Ok((Table::Holding, 0)));
    assert_eq!(parse_modicon("00001"), Ok((Table::Coil, 0)));
    assert_eq!(parse_modicon("465536"), Ok((Table::Holding, 65535)));
    assert!(parse_modicon("40000").is_err());
    assert!(parse_modicon("20001").is_err());
    assert!(parse_modicon("4001").is_err());
}

#[test]
fn three_ways_of_addressing_one_register_agree() {
    let (m, p) = check(
        r#"
        [[fields]]
        name = "a"
        table = "holding"
        address = 9
        [[fields]]
        name = "b"
        register = "30010"
        "#,
    );
    assert!(p.is_empty(), "{p:?}");
    let specs = m.unwrap().resolve().unwrap();
    assert_eq!((specs[0].table, specs[0].address), (Table::Holding, 9));
    assert_eq!((specs[1].table, specs[1].address), (Table::Input, 9));
    let (m, p) =
        check("address_base = 1\n[[fields]]\nname = \"a\"\ntable = \"holding\"\naddress = 10");
    assert!(p.is_empty(), "{p:?}");
    assert_eq!(m.unwrap().resolve().unwrap()[0].address, 9);
}

#[test]
fn unknown_type_is_reported_with_its_path() {
    let (_, p) =
        check("[[fields]]\nname = \"a\"\ntable = \"holding\"\naddress = 0\ntype = \"u33\"");
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].starts_with("p.modbus.fields[0].type: unknown variant `u33`"),
        "{p:?}"
    );
}

#[test]
fn register_out_of_range_is_reported_with_its_path() {
    let (_, p) =
        check("[[fields]]\nname = \"a\"\ntable = \"input\"\naddress = 65535\ntype = \"f32\"");
    assert_eq!(
        p,
        vec!["p.modbus.fields[0].address: register out of range: 65535 + 2 registers passes 65535"]
    );
}

#[test]
fn overlapping_fields_are_reported_but_distinct_bits_may_share_a_register() {
    let (_, p) = check(
        r#"
        [[fields]]
        name = "total"
        table = "holding"
        address = 10
        type = "u32"
        [[fields]]
        name = "flow"
        table = "holding"
        address = 11
        [[fields]]
        name = "leak"
        table = "holding"
        address = 20
        type = "bit"
        bit = 0
        [[fields]]
        name = "tamper"
        table = "holding"
        address = 20
        type = "bit"
        bit = 1
        "#,
    );
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(
        p[0],
        "p.modbus.fields[1]: overlapping fields: \"flow\" (holding 11..12) overlaps fields[0] \"total\" (holding 10..12)"
    );
}

#[test]
fn a_forced_126_register_read_is_reported() {
    let (_, p) = check("[[fields]]\nname = \"s\"\ntable = \"holding\"\naddress = 0\ntype = \"string\"\nlength = 126");
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains("p.modbus.fields[0].length: needs 126 registers"),
        "{p:?}"
    );
    let (_, p) =
        check("max_request = 126\n[[fields]]\nname = \"a\"\ntable = \"holding\"\naddress = 0");
    assert_eq!(p, vec!["p.modbus.max_request: must be 1 to 125, got 126"]);
}

#[test]
fn every_problem_is_reported_at_once() {
    let (_, p) = check(
        r#"
        [[fields]]
        name = "a"
        table = "coil"
        address = 0
        type = "u16"
        [[fields]]
        name = "a"
        table = "holding"
        address = 0
        type = "bit"
        bit = 16
        unit = "furlongs"
        group = "nope"
        "#,
    );
    let joined = p.join("\n");
    for needle in [
        "fields[0].type: the coil table holds bits",
        "fields[1].name: \"a\" is also fields[0]",
        "fields[1].bit: must be 0 to 15",
        "fields[1].unit: unknown unit",
        "fields[1].group: no group",
    ] {
        assert!(joined.contains(needle), "{needle} missing from:\n{joined}");
    }
}

#[test]
fn report_defaults_skip_cumulative_counters() {
    let (m, p) = check(
        r#"
        report = { deadband_pct = 1.0, heartbeat = "10m" }
        [[fields]]
        name = "flow_m3h"
        table = "input"
        address = 0
        [[fields]]
        name = "total_m3"
        table = "input"
        address = 1
        type = "u32"
        cumulative = true
        "#,
    );
    assert!(p.is_empty(), "{p:?}");
    let s = m.unwrap().resolve().unwrap();
    assert_eq!(s[0].rbe.unwrap().heartbeat, Duration::from_secs(600));
    assert_eq!(s[0].rbe.unwrap().deadband_pct, 1.0);
    assert_eq!(s[1].rbe, None);
}
