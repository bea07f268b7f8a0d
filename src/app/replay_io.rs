//! The ends of a replay: line-protocol files in, a line-protocol file or
//! the store out.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::model::Reading;
use crate::store::StoreClient;

/// Lines per write request to the store.
const STORE_BATCH: usize = 5000;

/// Every reading of the files; bad lines are reported with file and line
/// number, counted and left out (the good ones are kept).
pub(super) fn read_files(files: &[PathBuf]) -> anyhow::Result<(Vec<Reading>, u64)> {
    let (mut out, mut bad) = (Vec::new(), 0u64);
    for f in files {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("--input {}: cannot read", f.display()))?;
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim_matches([' ', '\t', '\r']);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match crate::lineproto::parse_line(line, i64::MIN) {
                Ok(r) if r.time_ns == i64::MIN => {
                    bad += 1;
                    warn(f, n + 1, "no timestamp (a replay needs event time)");
                }
                Ok(r) => match r.validate() {
                    Ok(()) => out.push(r),
                    Err(e) => {
                        bad += 1;
                        warn(f, n + 1, &e.to_string());
                    }
                },
                Err(e) => {
                    bad += 1;
                    warn(f, n + 1, &e.to_string());
                }
            }
        }
    }
    Ok((out, bad))
}

fn warn(f: &Path, line: usize, msg: &str) {
    // At most 20 lines are named; the summary counts them all.
    static SHOWN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    if SHOWN.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 20 {
        eprintln!("warning: {}:{line}: {msg}; line skipped", f.display());
    }
}

/// Where the indicators go.
pub(super) enum Output {
    File {
        path: PathBuf,
        w: std::io::BufWriter<std::fs::File>,
        lines: u64,
    },
    Store {
        client: Box<StoreClient>,
        buf: Vec<u8>,
        queued: usize,
        lines: u64,
    },
}

impl Output {
    pub(super) fn file(p: &Path) -> anyhow::Result<Output> {
        let f = std::fs::File::create(p)
            .with_context(|| format!("--output {}: cannot create", p.display()))?;
        Ok(Output::File {
            path: p.to_path_buf(),
            w: std::io::BufWriter::new(f),
            lines: 0,
        })
    }

    pub(super) fn store(client: StoreClient) -> Output {
        Output::Store {
            client: Box::new(client),
            buf: Vec::new(),
            queued: 0,
            lines: 0,
        }
    }

    /// Indicator lines written.
    pub(super) fn lines(&self) -> u64 {
        match self {
            Output::File { lines, .. } | Output::Store { lines, .. } => *lines,
        }
    }

    pub(super) async fn write(&mut self, readings: Vec<Reading>) -> anyhow::Result<()> {
        for r in &readings {
            let mut line = Vec::with_capacity(160);
            if let Err(e) = crate::lineproto::encode(r, &mut line) {
                // The engine's own readings are valid; say so if one is not.
                eprintln!("warning: indicator {} not written: {e}", r.measurement);
                continue;
            }
            match self {
                Output::File { path, w, lines } => {
                    w.write_all(&line)
                        .with_context(|| format!("--output {}: write failed", path.display()))?;
                    *lines += 1;
                }
                Output::Store { buf, queued, .. } => {
                    buf.extend_from_slice(&line);
                    *queued += 1;
                }
            }
            if matches!(self, Output::Store { queued, .. } if *queued >= STORE_BATCH) {
                self.flush().await?;
            }
        }
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        if let Output::Store {
            client,
            buf,
            queued,
            lines,
        } = self
        {
            if *queued > 0 {
                let body = std::mem::take(buf);
                client
                    .write(body)
                    .await
                    .with_context(|| format!("--to-store {}", client.origin()))?;
                *lines += *queued as u64;
                *queued = 0;
            }
        }
        Ok(())
    }

    pub(super) async fn finish(&mut self) -> anyhow::Result<()> {
        self.flush().await?;
        if let Output::File { path, w, .. } = self {
            w.flush()
                .and_then(|()| w.get_ref().sync_all())
                .with_context(|| format!("--output {}: write failed", path.display()))?;
        }
        Ok(())
    }
}
