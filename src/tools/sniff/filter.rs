//! Which broker filters `greengate sniff` subscribes to: pure.
//!
//! Never a shared subscription: a `$share/<group>/` filter would join the
//! daemon's group and take messages away from it, so the prefix is removed
//! and sniff gets its own copy of every message.

/// The filter without a `$share/<group>/` prefix.
pub fn unshared(f: &str) -> &str {
    match f.strip_prefix("$share/") {
        Some(rest) => rest.split_once('/').map_or(rest, |(_, f)| f),
        None => f,
    }
}

/// Whether some topic matches both filters (MQTT wildcards `+` and `#`).
pub fn overlap(a: &str, b: &str) -> bool {
    let (mut a, mut b) = (a.split('/'), b.split('/'));
    loop {
        match (a.next(), b.next()) {
            (Some("#"), _) | (_, Some("#")) => return true,
            (None, None) => return true,
            (Some(x), Some(y)) if x == "+" || y == "+" || x == y => {}
            _ => return false,
        }
    }
}

/// The broker filters to subscribe: the one asked for (when it overlaps a
/// subscription's), else every subscription's; `Err` lists them.
pub fn choose(asked: Option<&str>, subscriptions: &[String]) -> Result<Vec<String>, String> {
    let subs: Vec<&str> = subscriptions.iter().map(|s| unshared(s)).collect();
    match asked {
        Some(f) => {
            let f = unshared(f);
            if subs.iter().any(|s| overlap(f, s)) {
                Ok(vec![f.to_string()])
            } else {
                Err(format!(
                    "filter {f:?} matches no subscription of [sources.mqtt] (subscriptions: {})",
                    if subs.is_empty() {
                        "none".to_string()
                    } else {
                        subs.join(", ")
                    }
                ))
            }
        }
        None => {
            let mut all: Vec<String> = Vec::new();
            for s in subs {
                if !all.iter().any(|a| a == s) {
                    all.push(s.to_string());
                }
            }
            if all.is_empty() {
                Err("[sources.mqtt] has no subscription to sniff".into())
            } else {
                Ok(all)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_prefixes_are_removed() {
        assert_eq!(unshared("$share/greengate/a/+/b"), "a/+/b");
        assert_eq!(unshared("a/b"), "a/b");
    }

    #[test]
    fn filters_overlap_level_by_level() {
        assert!(overlap("community/+/noise/#", "community/g/noise/+/up"));
        assert!(overlap(
            "community/g/noise/nl-1/up",
            "community/+/noise/+/up"
        ));
        assert!(overlap("#", "a/b"));
        assert!(!overlap("community/g/water/+/up", "community/+/noise/+/up"));
        assert!(!overlap("a/b", "a/b/c"));
        assert!(overlap("a/b/#", "a/b"));
    }

    #[test]
    fn a_filter_that_matches_nothing_lists_the_subscriptions() {
        let subs = vec!["community/+/noise/+/up".to_string()];
        let e = choose(Some("other/#"), &subs).unwrap_err();
        assert!(e.contains("\"other/#\" matches no subscription"), "{e}");
        assert!(e.contains("community/+/noise/+/up"), "{e}");
        assert_eq!(
            choose(None, &[subs[0].clone(), subs[0].clone()]).unwrap(),
            subs
        );
    }
}
