//! MQTT topic filters with named captures.
//!
//! A filter level `+name` matches one topic level and captures it as the tag
//! `name`; `#name` (last level only) matches the rest of the topic and
//! captures it joined by `/`; a plain `+` or `#` matches without capturing.
//! `community/+site/noise/+device/up` on `community/c1/noise/n-7/up` captures
//! `site = c1`, `device = n-7`. The broker is sent the filter with the names
//! removed (`community/+/noise/+/up`). A `$share/GROUP/` prefix is kept for
//! the broker and ignored for matching.

use std::fmt;

/// Why a topic filter is not valid; levels count from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    #[error("empty topic filter")]
    Empty,
    #[error("topic filter contains a NUL character")]
    Nul,
    #[error("a $share filter is $share/GROUP/filter")]
    Share,
    #[error("level {level}: '#' must be the last level")]
    HashNotLast { level: usize },
    #[error("level {level} {text:?}: '+' and '#' must start a level (write +name or #name)")]
    WildcardInsideLevel { level: usize, text: String },
    #[error("level {level}: capture name {name:?} must be letters, digits and '_'")]
    CaptureName { level: usize, name: String },
    #[error("level {level}: capture {name:?} appears twice")]
    CaptureTwice { level: usize, name: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Level {
    Exact(String),
    /// `+` or `+name`
    One(Option<String>),
    /// `#` or `#name`
    Rest(Option<String>),
}

/// A parsed, valid filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicFilter {
    levels: Vec<Level>,
    /// What is sent in SUBSCRIBE.
    broker: String,
    text: String,
}

impl fmt::Display for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn valid_name(n: &str) -> bool {
    let mut c = n.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

impl TopicFilter {
    /// Parses a filter; the error names the offending level.
    pub fn parse(s: &str) -> Result<TopicFilter, TopicError> {
        if s.is_empty() {
            return Err(TopicError::Empty);
        }
        if s.contains('\0') {
            return Err(TopicError::Nul);
        }
        let (share, body) = match s.strip_prefix("$share/") {
            Some(rest) => match rest.split_once('/') {
                Some((group, body)) if !group.is_empty() && !group.contains(['+', '#']) => {
                    (format!("$share/{group}/"), body)
                }
                _ => return Err(TopicError::Share),
            },
            None => (String::new(), s),
        };
        let parts: Vec<&str> = body.split('/').collect();
        let mut levels = Vec::with_capacity(parts.len());
        let mut names: Vec<&str> = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            let level = if let Some(name) = p.strip_prefix('+') {
                Level::One(capture_name(name, &mut names, i)?)
            } else if let Some(name) = p.strip_prefix('#') {
                if i + 1 != parts.len() {
                    return Err(TopicError::HashNotLast { level: i + 1 });
                }
                Level::Rest(capture_name(name, &mut names, i)?)
            } else if p.contains(['+', '#']) {
                return Err(TopicError::WildcardInsideLevel {
                    level: i + 1,
                    text: p.to_string(),
                });
            } else {
                Level::Exact(p.to_string())
            };
            levels.push(level);
        }
        let broker = share
            + &levels
                .iter()
                .map(|l| match l {
                    Level::Exact(e) => e.as_str(),
                    Level::One(_) => "+",
                    Level::Rest(_) => "#",
                })
                .collect::<Vec<_>>()
                .join("/");
        Ok(TopicFilter {
            levels,
            broker,
            text: s.to_string(),
        })
    }

    /// The same filter shared by `group` (`$share/<group>/<filter>`); a
    /// filter that already names its share group is kept as it is.
    pub fn shared(&self, group: &str) -> TopicFilter {
        if self.text.starts_with("$share/") {
            return self.clone();
        }
        TopicFilter {
            levels: self.levels.clone(),
            broker: format!("$share/{group}/{}", self.broker),
            text: format!("$share/{group}/{}", self.text),
        }
    }

    /// The filter as sent to the broker (capture names removed).
    pub fn broker_filter(&self) -> &str {
        &self.broker
    }

    /// The capture names, in order.
    pub fn capture_names(&self) -> impl Iterator<Item = &str> {
        self.levels.iter().filter_map(|l| match l {
            Level::One(Some(n)) | Level::Rest(Some(n)) => Some(n.as_str()),
            _ => None,
        })
    }

    /// Matches a topic; on a match returns the captured (name, value) pairs,
    /// borrowed from the filter and the topic (no copy per message).
    /// Empty captured values are left out (they cannot be tags).
    pub fn matches<'a>(&'a self, topic: &'a str) -> Option<Vec<(&'a str, &'a str)>> {
        // MQTT: wildcards at the first level do not match `$SYS/...` topics.
        if topic.starts_with('$') && !matches!(self.levels.first(), Some(Level::Exact(_))) {
            return None;
        }
        let mut caps = Vec::new();
        let mut rest = Some(topic);
        for level in &self.levels {
            match level {
                Level::Rest(name) => {
                    // `a/#` also matches `a` itself.
                    let tail = rest.unwrap_or("");
                    if let (Some(n), false) = (name, tail.is_empty()) {
                        caps.push((n.as_str(), tail));
                    }
                    return Some(caps);
                }
                _ => {
                    let r = rest?;
                    let (head, tail) = match r.split_once('/') {
                        Some((h, t)) => (h, Some(t)),
                        None => (r, None),
                    };
                    match level {
                        Level::Exact(e) if e != head => return None,
                        Level::One(Some(n)) if !head.is_empty() => caps.push((n.as_str(), head)),
                        _ => {}
                    }
                    rest = tail;
                }
            }
        }
        rest.is_none().then_some(caps)
    }
}

fn capture_name<'a>(
    name: &'a str,
    seen: &mut Vec<&'a str>,
    i: usize,
) -> Result<Option<String>, TopicError> {
    if name.is_empty() {
        return Ok(None);
    }
    if !valid_name(name) {
        return Err(TopicError::CaptureName {
            level: i + 1,
            name: name.to_string(),
        });
    }
    if seen.contains(&name) {
        return Err(TopicError::CaptureTwice {
            level: i + 1,
            name: name.to_string(),
        });
    }
    seen.push(name);
    Ok(Some(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(f: &str, t: &str) -> Option<Vec<(String, String)>> {
        let f = TopicFilter::parse(f).unwrap();
        f.matches(t).map(owned)
    }

    fn owned(v: Vec<(&str, &str)>) -> Vec<(String, String)> {
        v.into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn named_single_level_wildcards_capture_tags() {
        assert_eq!(
            caps(
                "community/+site/noise/+device/up",
                "community/c1/noise/n-7/up"
            ),
            Some(pairs(&[("site", "c1"), ("device", "n-7")]))
        );
        assert_eq!(
            caps("community/+site/noise/+device/up", "community/c1/noise/n-7"),
            None
        );
        assert_eq!(
            caps(
                "community/+site/noise/+device/up",
                "community/c1/water/n-7/up"
            ),
            None
        );
    }

    #[test]
    fn plain_plus_matches_without_capturing() {
        assert_eq!(caps("a/+/c", "a/b/c"), Some(vec![]));
        assert_eq!(caps("a/+/c", "a/b/x/c"), None);
    }

    #[test]
    fn named_hash_captures_the_remaining_levels() {
        assert_eq!(
            caps("lp/#rest", "lp/x/y/z"),
            Some(pairs(&[("rest", "x/y/z")]))
        );
        assert_eq!(caps("lp/#rest", "lp"), Some(vec![]));
        assert_eq!(caps("lp/#", "other"), None);
    }

    #[test]
    fn broker_filter_drops_capture_names() {
        let f = TopicFilter::parse("$share/gg/community/+site/noise/+device/#rest").unwrap();
        assert_eq!(f.broker_filter(), "$share/gg/community/+/noise/+/#");
        assert_eq!(
            f.matches("community/c/noise/d/a/b").map(owned),
            Some(pairs(&[("site", "c"), ("device", "d"), ("rest", "a/b")]))
        );
        assert_eq!(
            f.capture_names().collect::<Vec<_>>(),
            ["site", "device", "rest"]
        );
    }

    #[test]
    fn a_shared_filter_matches_as_the_plain_one_and_keeps_its_own_group() {
        let f = TopicFilter::parse("community/+site/noise/+device/up").unwrap();
        let s = f.shared("gg");
        assert_eq!(s.to_string(), "$share/gg/community/+site/noise/+device/up");
        assert_eq!(s.broker_filter(), "$share/gg/community/+/noise/+/up");
        assert_eq!(
            s.matches("community/c/noise/d/up"),
            f.matches("community/c/noise/d/up")
        );
        let own = TopicFilter::parse("$share/own/b").unwrap();
        assert_eq!(own.shared("gg"), own);
        assert_eq!(
            s,
            TopicFilter::parse("$share/gg/community/+site/noise/+device/up").unwrap()
        );
    }

    #[test]
    fn wildcards_do_not_match_dollar_topics() {
        assert_eq!(caps("#", "$SYS/broker/uptime"), None);
        assert_eq!(caps("+/broker/uptime", "$SYS/broker/uptime"), None);
    }

    #[test]
    fn bad_filters_name_the_level() {
        for (f, want) in [
            ("a/#x/b", "level 2"),
            ("a/b+c", "level 2"),
            ("+dev/+dev", "appears twice"),
            ("+1x", "capture name"),
            ("", "empty"),
            ("$share/x", "$share"),
        ] {
            let e = TopicFilter::parse(f).unwrap_err().to_string();
            assert!(e.contains(want), "{f}: {e}");
        }
    }

    #[test]
    fn empty_levels_match_exactly() {
        assert_eq!(caps("a//c", "a//c"), Some(vec![]));
        assert_eq!(caps("a/+x/c", "a//c"), Some(vec![]));
    }
}
