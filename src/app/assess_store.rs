//! `greengate assess --from-store`: the assessment from the `gg_*` history
//! in the store (InfluxQL, `[store]`), for any period and whatever box
//! computed it, instead of the engine's own `history_days`.

use crate::app::Config;
use crate::indicators::{stored, Assessment};

/// Reads the period's indicator points and assesses them with the config's thresholds.
pub fn assess(cfg: &Config, from: i64, to: i64) -> anyhow::Result<Assessment> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = super::replay::store_client(cfg)?;
    let kinds: Vec<String> = stored::KINDS.iter().map(|k| k.to_string()).collect();
    let (points, _) = rt.block_on(crate::store::points(&client, &kinds, from, to))?;
    let mut e = super::replay::engine(cfg);
    e.set_history(stored::history(&points));
    Ok(e.assess(from, to))
}
