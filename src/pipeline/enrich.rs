//! Static enrichment: the community, device-registry and site tags every
//! reading gets before it is stored.

use crate::devices::{DeviceConfig, Devices};
use crate::model::Reading;

/// Static enrichment applied to every reading: the community, device-registry
/// and site tags, in that order of precedence, never overriding a tag the
/// reading already has (except `community`, which is always the site's).
/// The pipeline applies it through [`TagSets`], built once per registry.
#[derive(Debug, Clone, Default)]
pub struct Enrich {
    pub community_id: String,
    pub site_tags: Vec<(String, String)>,
    pub devices: Devices,
}

/// [`Enrich`] resolved once per device: the sorted tags enrichment adds to
/// a device's readings (community, then the device's, then the site's), so
/// that applying it is one merge of two sorted lists into a vector of the
/// right size, instead of a lookup and an insertion per tag. Rebuilt when
/// the registry is reloaded (the rule is on [`Enrich`]; the tests check it
/// against a one-tag-at-a-time reference).
#[derive(Debug, Default)]
pub struct TagSets {
    by_device: std::collections::HashMap<String, Vec<(String, String)>>,
    /// For readings of devices not in the registry (or without one).
    unregistered: Vec<(String, String)>,
    /// `community` replaces a reading's own (it is always the site's).
    community_wins: bool,
}

impl TagSets {
    pub fn new(e: &Enrich) -> TagSets {
        let set = |dev: Option<&DeviceConfig>| {
            let mut r = Reading::new(String::new(), 0);
            r.set_tag("community", e.community_id.as_str());
            for (k, v) in dev.iter().flat_map(|d| &d.tags.0) {
                r.default_tag(k, v);
            }
            for (k, v) in &e.site_tags {
                r.default_tag(k, v);
            }
            r.tags
        };
        TagSets {
            by_device: e
                .devices
                .iter()
                .map(|(id, d)| (id.clone(), set(Some(d))))
                .collect(),
            unregistered: set(None),
            community_wins: !e.community_id.is_empty(),
        }
    }

    pub fn apply(&self, r: &mut Reading) {
        let set = r
            .tag("device")
            .and_then(|d| self.by_device.get(d))
            .unwrap_or(&self.unregistered);
        // Both lists are sorted: one binary search per enrichment tag finds
        // it or its place in the reading's own vector, which grows (exactly)
        // only when a tag is missing.
        for (i, (k, v)) in set.iter().enumerate() {
            match r.tags.binary_search_by(|(ok, _)| ok.as_str().cmp(k)) {
                Ok(at) => {
                    let own = &mut r.tags[at].1;
                    if k == "community" && self.community_wins && own != v {
                        own.clone_from(v);
                    }
                }
                Err(at) => {
                    r.tags.reserve_exact(set.len() - i);
                    r.tags.insert(at, (k.clone(), v.clone()));
                }
            }
        }
    }
}
