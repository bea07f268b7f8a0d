use super::*;
use crate::devices::{DeviceConfig, Devices};
use crate::model::FieldValue;

/// The enrichment rule applied one tag at a time: the reference the
/// per-device tag sets are checked against.
fn reference_apply(e: &Enrich, r: &mut Reading) {
    if !e.community_id.is_empty() && r.tag("community") != Some(e.community_id.as_str()) {
        r.set_tag("community", e.community_id.as_str());
    }
    let dev = r.tag("device").and_then(|d| e.devices.get(d)).cloned();
    if let Some(dev) = dev {
        for (k, v) in &dev.tags.0 {
            r.default_tag(k, v);
        }
    }
    for (k, v) in &e.site_tags {
        r.default_tag(k, v);
    }
}

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
    enrich::TagSets::new(&e).apply(&mut r);
    assert_eq!(r.tag("community"), Some("c1"));
    assert_eq!(r.tag("building"), Some("own"));
    assert_eq!(r.tag("district"), Some("device-district"));
    assert_eq!(r.tag("city"), Some("sh"));
}

#[test]
fn per_device_tag_sets_enrich_exactly_as_enrich_does() {
    let mut devices = Devices::new();
    let mut d = DeviceConfig::default();
    d.tags.0.insert("district".into(), "device-district".into());
    d.tags.0.insert("building".into(), "3".into());
    d.tags
        .0
        .insert("community".into(), "device-community".into());
    devices.insert("n1".into(), d);
    for community in ["c1", ""] {
        let e = Enrich {
            community_id: community.into(),
            site_tags: vec![
                ("district".into(), "site-district".into()),
                ("city".into(), "sh".into()),
                ("a".into(), "first".into()),
            ],
            devices: devices.clone(),
        };
        let sets = enrich::TagSets::new(&e);
        for (dev, own) in [
            (
                Some("n1"),
                vec![("building", "own"), ("community", "spoofed")],
            ),
            (Some("n1"), vec![("zz", "last")]),
            (Some("unknown"), vec![("city", "own")]),
            (None, vec![]),
            (Some("n1"), vec![("community", "c1")]),
        ] {
            let mut r = Reading::new("noise", 1);
            if let Some(d) = dev {
                r.set_tag("device", d);
            }
            for (k, v) in own {
                r.set_tag(k, v);
            }
            r.add_field("laeq", FieldValue::Float(50.0));
            let mut want = r.clone();
            reference_apply(&e, &mut want);
            sets.apply(&mut r);
            assert_eq!(r, want, "community {community:?}, device {dev:?}");
        }
    }
}
