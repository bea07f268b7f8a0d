//! The documented indicator configuration parses and validates, and bad
//! values are reported with their key paths.

use greengate::config::{parse_value, Check, Validate};
use greengate::devices::Devices;
use greengate::indicators::config::{DeviceAttributes, IndicatorsConfig};

fn documented() -> toml::Value {
    let doc = include_str!("../../docs/indicators.md");
    let start = doc.find("```toml\n").unwrap() + 8;
    let end = start + doc[start..].find("```").unwrap();
    toml::from_str(&doc[start..end]).unwrap()
}

#[test]
fn the_documented_config_parses_without_problems() {
    let v = serde_json::to_value(documented()).unwrap();
    let mut cx = Check::new(".");
    let cfg: IndicatorsConfig =
        parse_value(v["indicators"].clone(), "indicators", &mut cx).unwrap();
    cfg.validate("indicators", &mut cx);
    let devices: Devices = parse_value(v["devices"].clone(), "devices", &mut cx).unwrap();
    for (id, d) in &devices {
        d.indicators
            .validate(&format!("devices.{id}.indicators"), &mut cx);
    }
    assert!(cx.problems().is_empty(), "{:?}", cx.problems());
    assert_eq!(devices["wm-inlet"].indicators.replacements.len(), 1);
}

#[test]
fn bad_values_are_reported_with_their_paths() {
    let mut cx = Check::new(".");
    let v = serde_json::json!({"interval": "7m", "day_start": "25:00", "water": {"per_capita_zone": 9}});
    let cfg: IndicatorsConfig = parse_value(v, "indicators", &mut cx).unwrap();
    cfg.validate("indicators", &mut cx);
    let v = serde_json::json!({"zone_class": "5", "role": "boss", "replacements": [{"at": "yesterday"}]});
    let a: DeviceAttributes = parse_value(v, "devices.x.indicators", &mut cx).unwrap();
    a.validate("devices.x.indicators", &mut cx);
    let paths: Vec<_> = cx.problems().iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "indicators.interval",
            "indicators.day_start",
            "indicators.water.per_capita_zone",
            "devices.x.indicators.zone_class",
            "devices.x.indicators.role",
            "devices.x.indicators.replacements[0].at",
        ]
    );
}
