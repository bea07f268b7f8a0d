//! Named operational events, counted where they are logged, rendered in the
//! Prometheus text format at `/metrics`.
//!
//! Names are the same in logs and metrics (`mqtt_messages_rejected_total`
//! next to `warn!(..., "MQTT message rejected.")`). A counter handle is an
//! `Arc<AtomicU64>`: look it up once (per topic, per device) and keep it, so
//! the per-message path is one atomic add.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

type Labels = Vec<(&'static str, String)>;

#[derive(Clone, Debug, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Clone, Debug, Default)]
pub struct Gauge(Arc<AtomicI64>);

impl Gauge {
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }
    pub fn add(&self, v: i64) {
        self.0.fetch_add(v, Ordering::Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
struct Family {
    help: &'static str,
    gauge: bool,
    counters: BTreeMap<Labels, Counter>,
    gauges: BTreeMap<Labels, Gauge>,
}

/// The registry of every metric in the process.
#[derive(Default)]
pub struct Registry {
    families: Mutex<BTreeMap<&'static str, Family>>,
}

fn labels(l: &[(&'static str, &str)]) -> Labels {
    l.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

impl Registry {
    pub fn counter(
        &self,
        name: &'static str,
        help: &'static str,
        l: &[(&'static str, &str)],
    ) -> Counter {
        let mut f = self.families.lock().unwrap_or_else(|e| e.into_inner());
        let fam = f.entry(name).or_default();
        fam.help = help;
        fam.counters.entry(labels(l)).or_default().clone()
    }

    pub fn gauge(
        &self,
        name: &'static str,
        help: &'static str,
        l: &[(&'static str, &str)],
    ) -> Gauge {
        let mut f = self.families.lock().unwrap_or_else(|e| e.into_inner());
        let fam = f.entry(name).or_default();
        fam.help = help;
        fam.gauge = true;
        fam.gauges.entry(labels(l)).or_default().clone()
    }

    /// The sum of a counter over all its label sets (for tests and summaries).
    pub fn counter_total(&self, name: &str) -> u64 {
        let f = self.families.lock().unwrap_or_else(|e| e.into_inner());
        f.get(name)
            .map(|fam| fam.counters.values().map(Counter::get).sum())
            .unwrap_or(0)
    }

    /// Every label set and value of a counter family (for the status page).
    pub fn counter_values(&self, name: &str) -> Vec<(Vec<(&'static str, String)>, u64)> {
        let f = self.families.lock().unwrap_or_else(|e| e.into_inner());
        f.get(name)
            .map(|fam| {
                fam.counters
                    .iter()
                    .map(|(l, c)| (l.clone(), c.get()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every label set and value of a gauge family.
    pub fn gauge_values(&self, name: &str) -> Vec<(Vec<(&'static str, String)>, i64)> {
        let f = self.families.lock().unwrap_or_else(|e| e.into_inner());
        f.get(name)
            .map(|fam| {
                fam.gauges
                    .iter()
                    .map(|(l, g)| (l.clone(), g.get()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Renders every metric in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let f = self.families.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::with_capacity(4096);
        for (name, fam) in f.iter() {
            let kind = if fam.gauge { "gauge" } else { "counter" };
            let _ = writeln!(out, "# HELP greengate_{name} {}", fam.help);
            let _ = writeln!(out, "# TYPE greengate_{name} {kind}");
            let rows = fam
                .counters
                .iter()
                .map(|(l, c)| (l, c.get() as i64))
                .chain(fam.gauges.iter().map(|(l, g)| (l, g.get())));
            for (l, v) in rows {
                let _ = write!(out, "greengate_{name}");
                if !l.is_empty() {
                    out.push('{');
                    for (i, (k, val)) in l.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        let esc = val
                            .replace('\\', "\\\\")
                            .replace('"', "\\\"")
                            .replace('\n', "\\n");
                        let _ = write!(out, "{k}=\"{esc}\"");
                    }
                    out.push('}');
                }
                let _ = writeln!(out, " {v}");
            }
        }
        out
    }
}

/// The process-wide registry.
pub fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(Registry::default)
}

/// Shorthand for `registry().counter(...)`.
pub fn counter(name: &'static str, help: &'static str, l: &[(&'static str, &str)]) -> Counter {
    registry().counter(name, help, l)
}

/// Shorthand for `registry().gauge(...)`.
pub fn gauge(name: &'static str, help: &'static str, l: &[(&'static str, &str)]) -> Gauge {
    registry().gauge(name, help, l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_with_labels_in_prometheus_format() {
        let r = Registry::default();
        r.counter(
            "mqtt_messages_received_total",
            "Messages received.",
            &[("topic", "a/\"b")],
        )
        .add(3);
        r.gauge("outbox_bytes", "Bytes in the outbox.", &[]).set(42);
        let text = r.render();
        assert!(text.contains("# TYPE greengate_mqtt_messages_received_total counter"));
        assert!(text.contains("greengate_mqtt_messages_received_total{topic=\"a/\\\"b\"} 3"));
        assert!(text.contains("greengate_outbox_bytes 42"));
        assert_eq!(r.counter_total("mqtt_messages_received_total"), 3);
    }
}
