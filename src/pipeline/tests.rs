use super::*;
use crate::devices::{DeviceConfig, Devices};
use crate::model::FieldValue;

#[test]
fn enrichment_prefers_the_readings_own_then_the_devices_then_the_sites_tags() {
    let mut devices = Devices::new();
    let mut d = DeviceConfig::default();
    d.tags.0.insert("district".into(), "device-district".into());
    d.tags.0.insert("building".into(), "3".into());
    devices.insert("n1".into(), d);
    let e = Enrich {
        community_id: "c1".into(),
        site_tags: vec![
            ("district".into(), "site-district".into()),
            ("city".into(), "sh".into()),
        ],
        devices,
    };
    let mut r = Reading::new("noise", 1);
    r.set_tag("device", "n1");
    r.set_tag("building", "own");
    r.set_tag("community", "spoofed");
    r.add_field("laeq", FieldValue::Float(50.0));
    e.apply(&mut r);
    assert_eq!(r.tag("community"), Some("c1"));
    assert_eq!(r.tag("building"), Some("own"));
    assert_eq!(r.tag("district"), Some("device-district"));
    assert_eq!(r.tag("city"), Some("sh"));
}
