//! `greengate assess --from-store`: the assessment from the `gg_*` history
//! in the store (InfluxQL, `[store]`), for any period and whatever box
//! computed it, instead of the engine's own `history_days`.

use crate::app::Config;
use crate::indicators::{stored, Assessment};

/// Reads the period's indicator points and assesses them with the config's
/// thresholds (the CLI: its own runtime).
pub fn assess(cfg: &Config, from: i64, to: i64) -> anyhow::Result<Assessment> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(assess_async(cfg, from, to))
}

/// [`assess`] on the caller's runtime: the daemon's `/assess?from_store=1`.
pub async fn assess_async(cfg: &Config, from: i64, to: i64) -> anyhow::Result<Assessment> {
    let client = super::replay::store_client(cfg)?;
    let kinds: Vec<String> = stored::KINDS.iter().map(|k| k.to_string()).collect();
    let (points, _) = crate::store::points(&client, &kinds, from, to).await?;
    let mut e = super::replay::engine(cfg);
    e.set_history(stored::history(&points));
    Ok(e.assess(from, to))
}
