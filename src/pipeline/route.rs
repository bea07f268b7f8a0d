//! Which readings an outbox receives: everything (the main sink) or only
//! some measurements (the city northbound).

/// Which readings an outbox receives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Route {
    /// Every reading; a full outbox blocks (back-pressure, never loss).
    #[default]
    All,
    /// Only readings whose measurement starts with one of `prefixes` (or,
    /// when `only` is not empty, is exactly one of `only`); a full outbox
    /// drops its oldest data instead of blocking.
    Measurements {
        prefixes: Vec<String>,
        only: Vec<String>,
    },
}

impl Route {
    /// Whether a reading of `measurement` goes to this outbox.
    pub fn accepts(&self, measurement: &str) -> bool {
        match self {
            Route::All => true,
            Route::Measurements { only, .. } if !only.is_empty() => {
                only.iter().any(|m| m == measurement)
            }
            Route::Measurements { prefixes, .. } => {
                prefixes.iter().any(|p| measurement.starts_with(p.as_str()))
            }
        }
    }

    /// Whether a full outbox drops old data rather than blocking the pipeline.
    pub fn droppable(&self) -> bool {
        !matches!(self, Route::All)
    }
}
