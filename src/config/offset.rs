//! A UTC offset such as `+08:00`, parsed once where the configuration is
//! read (`site.utc_offset`, `sources.hj212.utc_offset`).

use std::fmt;
use std::str::FromStr;

/// Seconds east of UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct UtcOffset(i32);

impl UtcOffset {
    /// Seconds east of UTC.
    pub fn seconds(self) -> i32 {
        self.0
    }
}

impl Default for UtcOffset {
    /// China Standard Time, `+08:00`.
    fn default() -> Self {
        UtcOffset(8 * 3600)
    }
}

/// Why an offset is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadOffset(String);

impl fmt::Display for BadOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected an offset like \"+08:00\", got {:?}", self.0)
    }
}

impl FromStr for UtcOffset {
    type Err = BadOffset;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<chrono::FixedOffset>()
            .map(|o| UtcOffset(o.local_minus_utc()))
            .map_err(|_| BadOffset(s.to_string()))
    }
}

impl TryFrom<String> for UtcOffset {
    type Error = BadOffset;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_parse_once_and_name_a_bad_one() {
        assert_eq!(
            "+08:00".parse::<UtcOffset>().map(UtcOffset::seconds),
            Ok(28_800)
        );
        assert_eq!(
            "-03:30".parse::<UtcOffset>().map(UtcOffset::seconds),
            Ok(-12_600)
        );
        let e = "UTC+8".parse::<UtcOffset>().unwrap_err().to_string();
        assert_eq!(e, "expected an offset like \"+08:00\", got \"UTC+8\"");
    }
}
