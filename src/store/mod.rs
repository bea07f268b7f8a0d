//! The store read back: InfluxQL over the v1 HTTP API (`/query`), which
//! InfluxDB 1.x serves, 2.x through its v1 compatibility endpoint (a DBRP
//! mapping names a bucket as a database) and 3.x as well. Not Flux.
//!
//! Two readers use it: `greengate replay --from-store` (recorded readings,
//! one `[store] page` of time per query, sorted by time before the engine
//! sees them) and `greengate assess --from-store` (the `gg_*` history of
//! any period). `greengate replay --to-store` writes through `/write`.
//!
//! Invariants: a query answer is read chunk by chunk (`chunked=true`), so
//! memory holds one chunk plus one page of readings; credentials go in
//! headers, never in URLs or messages.

mod client;
pub mod config;
pub mod series;

pub use client::{ident, StoreClient};
pub use config::{StoreConfig, Target};

use crate::model::Reading;

/// What went wrong talking to the store.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The settings cannot describe a client.
    #[error("store settings: {0}")]
    Config(String),
    /// No answer: connection refused, timeout, broken body.
    #[error("store unreachable: {0}")]
    Transport(String),
    /// A non-2xx answer (401/403: credentials; 404: database or DBRP mapping).
    #[error("store answered {status}: {body}")]
    Status { status: u16, body: String },
    /// The statement failed (`"error"` in the answer).
    #[error("query failed: {0}")]
    Query(String),
    /// The answer is not what InfluxQL answers.
    #[error("unexpected answer: {0}")]
    Answer(String),
}

/// The measurements in the database, by `SHOW MEASUREMENTS`.
pub async fn measurements(c: &StoreClient) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    c.query("SHOW MEASUREMENTS", &mut |s| {
        for row in &s.values {
            if let Some(name) = row.first().and_then(|v| v.as_str()) {
                out.push(name.to_string());
            }
        }
    })
    .await?;
    Ok(out)
}

/// Every point of `measurements` in `[from, to)`, in the store's order
/// (series by series); `skipped` counts rows that are not readings.
pub async fn points(
    c: &StoreClient,
    measurements: &[String],
    from: i64,
    to: i64,
) -> Result<(Vec<Reading>, usize), StoreError> {
    if measurements.is_empty() || from >= to {
        return Ok((Vec::new(), 0));
    }
    let names: Vec<String> = measurements.iter().map(|m| ident(m)).collect();
    let q = format!(
        "SELECT * FROM {} WHERE time >= {from} AND time < {to} GROUP BY *",
        names.join(",")
    );
    let (mut out, mut skipped) = (Vec::new(), 0);
    c.query(&q, &mut |s| {
        let (r, n) = series::readings(&s);
        out.extend(r);
        skipped += n;
    })
    .await?;
    Ok((out, skipped))
}
