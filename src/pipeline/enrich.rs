//! Static enrichment: the community, device-registry and site tags every
//! reading gets before it is stored.

use crate::devices::Devices;
use crate::model::Reading;

/// Static enrichment applied to every reading.
#[derive(Debug, Clone, Default)]
pub struct Enrich {
    pub community_id: String,
    pub site_tags: Vec<(String, String)>,
    pub devices: Devices,
}

impl Enrich {
    /// Adds the community, device-registry and site tags, in that order of
    /// precedence, never overriding a tag the reading already has (except
    /// `community`, which is always the site's).
    pub fn apply(&self, r: &mut Reading) {
        if !self.community_id.is_empty() && r.tag("community") != Some(self.community_id.as_str()) {
            r.set_tag("community", self.community_id.as_str());
        }
        // The device's own tags first, so they win over the site's. The
        // registry entry borrows `self`, not `r`: no copy is needed.
        let dev = r.tag("device").and_then(|d| self.devices.get(d));
        if let Some(dev) = dev {
            for (k, v) in &dev.tags.0 {
                r.default_tag(k, v);
            }
        }
        for (k, v) in &self.site_tags {
            r.default_tag(k, v);
        }
    }
}
