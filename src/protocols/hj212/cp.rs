//! The CP section: `CP=&&` items `&&`. `;` separates items, `,` the fields
//! of one item, `=` a key from its value. Keys are trimmed (the standard's
//! own noise example has `; LA-Rtd=50.1`). A key `<factor>-<suffix>` names
//! a monitoring factor (`Leq-Data`, `LA-Rtd`, `a34001-Avg`); any other key
//! is a parameter (`DataTime`, `QnRtn`, `RtdInterval`).

use super::Error;

/// The content between `CP=&&` and the closing `&&`, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cp<'a>(pub &'a str);

impl<'a> Cp<'a> {
    /// The items (`;`-separated), empty ones skipped.
    pub fn items(self) -> impl Iterator<Item = Item<'a>> {
        self.0.split(';').filter(|i| !i.trim().is_empty()).map(Item)
    }
    /// Every field of every item, in order.
    pub fn fields(self) -> impl Iterator<Item = Field<'a>> {
        self.items().flat_map(Item::fields)
    }
    /// The value of the first field named `key`.
    pub fn get(self, key: &str) -> Option<&'a str> {
        self.fields().find(|f| f.key == key).map(|f| f.value)
    }
    /// `DataTime` (`YYYYMMDDhhmmss`): the start of the window the values
    /// describe, in the station's local time (UTC+8 in China); the caller
    /// attaches the offset.
    pub fn data_time(self) -> Option<chrono::NaiveDateTime> {
        chrono::NaiveDateTime::parse_from_str(self.get("DataTime")?, "%Y%m%d%H%M%S").ok()
    }
}

/// Writes `t` as a `DataTime` value (`YYYYMMDDhhmmss`, the caller's local
/// time): the inverse of [`Cp::data_time`].
pub fn format_data_time(t: chrono::NaiveDateTime) -> String {
    t.format("%Y%m%d%H%M%S").to_string()
}

/// One `;`-separated item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item<'a>(pub &'a str);

impl<'a> Item<'a> {
    /// Its `,`-separated `key=value` fields; a piece without `=` is a key
    /// with an empty value.
    pub fn fields(self) -> impl Iterator<Item = Field<'a>> {
        self.0.split(',').filter(|f| !f.trim().is_empty()).map(|f| {
            let (k, v) = f.split_once('=').unwrap_or((f, ""));
            Field {
                key: k.trim(),
                value: v.trim(),
            }
        })
    }
}

/// One `key=value`, both trimmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    pub key: &'a str,
    pub value: &'a str,
}

impl<'a> Field<'a> {
    /// `(factor, suffix)` for a key `<factor>-<suffix>`; `None` for a
    /// parameter. The factor code is kept verbatim: which code means what
    /// (`Leq`, `B03`, `n00000`, swapped Ld/Ln) is a per-platform table.
    pub fn factor(self) -> Option<(&'a str, Suffix<'a>)> {
        let (code, suffix) = self.key.rsplit_once('-')?;
        (!code.is_empty()).then(|| (code, Suffix::parse(suffix)))
    }
    /// The value as a number, if it is one.
    pub fn number(self) -> Option<f64> {
        self.value.parse::<f64>().ok().filter(|v| v.is_finite())
    }
}

/// What a factor's value is. `DayData`/`NightData`/`Data` cover every
/// day-data coding platforms use (`Ld-DayData`, `<code>-DayData` for every
/// factor, `Ldn-Data`): the codec reads all of them alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suffix<'a> {
    Rtd,
    Flag,
    Avg,
    Max,
    Min,
    Cou,
    Data,
    DayData,
    NightData,
    Other(&'a str),
}

impl<'a> Suffix<'a> {
    pub fn parse(s: &'a str) -> Suffix<'a> {
        match s {
            "Rtd" => Suffix::Rtd,
            "Flag" => Suffix::Flag,
            "Avg" => Suffix::Avg,
            "Max" => Suffix::Max,
            "Min" => Suffix::Min,
            "Cou" => Suffix::Cou,
            "Data" => Suffix::Data,
            "DayData" => Suffix::DayData,
            "NightData" => Suffix::NightData,
            other => Suffix::Other(other),
        }
    }
}

/// A data-quality flag (the value of a `-Flag` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataFlag {
    /// N
    Normal,
    /// F
    Stopped,
    /// M
    Maintenance,
    /// S
    Manual,
    /// D
    Fault,
    /// C
    Calibration,
    /// T
    OverRange,
    /// B
    CommunicationFault,
}

impl DataFlag {
    pub fn parse(s: &str) -> Option<DataFlag> {
        Some(match s {
            "N" => DataFlag::Normal,
            "F" => DataFlag::Stopped,
            "M" => DataFlag::Maintenance,
            "S" => DataFlag::Manual,
            "D" => DataFlag::Fault,
            "C" => DataFlag::Calibration,
            "T" => DataFlag::OverRange,
            "B" => DataFlag::CommunicationFault,
            _ => return None,
        })
    }
    pub const fn code(self) -> &'static str {
        match self {
            DataFlag::Normal => "N",
            DataFlag::Stopped => "F",
            DataFlag::Maintenance => "M",
            DataFlag::Manual => "S",
            DataFlag::Fault => "D",
            DataFlag::Calibration => "C",
            DataFlag::OverRange => "T",
            DataFlag::CommunicationFault => "B",
        }
    }
}

/// Builds a CP content, refusing keys and values that would break its
/// structure (`;`, `,`, `=`, `&`, CR, LF) or carry surrounding spaces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpWriter {
    out: String,
    item_open: bool,
}

impl CpWriter {
    pub fn new() -> Self {
        Self::default()
    }
    /// Starts a new `;`-separated item.
    pub fn item(&mut self) -> &mut Self {
        self.item_open = false;
        self
    }
    /// Adds `key=value` to the current item (`,`-separated).
    pub fn field(&mut self, key: &str, value: &str) -> Result<&mut Self, Error> {
        for s in [key, value] {
            if s.contains([';', ',', '=', '&', '\r', '\n']) || s.trim() != s {
                return Err(Error::Forbidden(s.to_string()));
            }
        }
        if key.is_empty() {
            return Err(Error::Forbidden(String::new()));
        }
        if !self.out.is_empty() {
            self.out.push(if self.item_open { ',' } else { ';' });
        }
        self.out.push_str(key);
        self.out.push('=');
        self.out.push_str(value);
        self.item_open = true;
        Ok(self)
    }
    pub fn finish(self) -> String {
        self.out
    }
}
