//! One group commit, made so that nothing is acknowledged past what is on
//! disk: the group's readings are encoded once into a staging buffer
//! (each line with the outboxes it goes to) together with its dead letters;
//! then each outbox gets its lines, the dead letters are written and
//! fsynced, and every outbox commits. A failed write rolls its outbox back
//! to its last commit (see `outbox::writer`), so the attempt is repeated
//! from what each outbox has durably or still holds uncommitted, until it
//! succeeds, the daemon is stopped, or the error is judged permanent.
//!
//! The group's acknowledgements fire only after [`Staged`] was written
//! whole; a group abandoned at shutdown fires none (its sources redeliver).

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::deadletter::DeadLetter;
use crate::outbox::OutboxError;

use super::{Pipeline, PipelineOptions, SourceBatch};

/// How long [`gather`] sleeps before it looks for more batches: as long as
/// [`GATHER_IDLE`], so one step without growth ends the group. Each sleep
/// is a context switch (issue 15: 250 µs steps were ~4 % of the CPU at
/// 30,000 msg/s).
const GATHER_STEP: Duration = GATHER_IDLE;

/// A group that has not grown for this long commits without waiting for
/// the rest of `commit_spacing`. Not shorter: on a busy 2-core box the
/// source's thread is often off the CPU for a few hundred µs while messages
/// keep coming (with a 250 µs idle window, groups on the issue-15 workload
/// committed after ~90 messages whatever the spacing).
const GATHER_IDLE: Duration = Duration::from_millis(1);

/// Adds to `group` what arrives until `opts.commit_spacing` after the last
/// commit, while something keeps arriving: [`GATHER_IDLE`] with nothing new
/// ends it (the sources wait for this group's acknowledgements, or the line
/// is quiet), so waiting costs at most that beyond what it gains. Called on
/// the pipeline's own thread (or inside `block_in_place`): a blocking sleep
/// here holds up no other task.
pub(super) fn gather(
    rx: &mut mpsc::Receiver<SourceBatch>,
    group: &mut Vec<SourceBatch>,
    opts: &PipelineOptions,
    last_commit: Instant,
) {
    let due = last_commit + opts.commit_spacing;
    let mut grew = Instant::now();
    while group.len() < opts.max_group {
        let now = Instant::now();
        if now >= due || now.duration_since(grew) >= GATHER_IDLE {
            return;
        }
        std::thread::sleep((due - now).min(GATHER_STEP));
        let before = group.len();
        while group.len() < opts.max_group {
            match rx.try_recv() {
                Ok(b) => group.push(b),
                Err(_) => break,
            }
        }
        if group.len() > before {
            grew = Instant::now();
        }
    }
}

/// A group's encoded lines and dead letters, until they are durable.
#[derive(Default)]
pub(super) struct Staged {
    /// Every line of the group back to back (no newlines).
    pub buf: Vec<u8>,
    /// `(start, end, outboxes)`: a line of `buf` and the bit set of the
    /// outboxes that take it.
    pub lines: Vec<(usize, usize, u64)>,
    pub dead: Vec<DeadLetter>,
    /// The dead letters are durable (a retry does not write them again).
    pub dead_written: bool,
    /// Per outbox: lines appended in this group (committed or not) and
    /// lines committed.
    pub done: Vec<usize>,
    pub committed: Vec<usize>,
}

impl Staged {
    pub(super) fn clear(&mut self, outboxes: usize) {
        self.buf.clear();
        self.lines.clear();
        self.dead.clear();
        self.dead_written = false;
        self.done.clear();
        self.done.resize(outboxes, 0);
        self.committed.clear();
        self.committed.resize(outboxes, 0);
    }

    pub(super) fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.dead.is_empty()
    }
}

/// Why an attempt at writing a group stopped.
#[derive(Debug)]
pub(super) enum GroupError {
    /// A write, fsync or dead-letter write failed; the attempt can be
    /// repeated (the failing outbox is back at its last commit).
    Io(String, bool),
    /// The daemon is stopping while the group waited for space.
    Shutdown,
}

impl GroupError {
    fn io(e: &dyn std::fmt::Display, no_space: bool) -> Self {
        GroupError::Io(e.to_string(), no_space)
    }
}

impl Pipeline {
    /// One attempt at making the staged group durable everywhere.
    pub(super) fn write_group(&mut self) -> Result<(), GroupError> {
        for i in 0..self.outboxes.len() {
            self.append_staged(i)?;
        }
        if !self.staged.dead_written {
            self.dead
                .write_all(&self.staged.dead)
                .map_err(|e| GroupError::io(&e, crate::outbox::is_no_space(&e)))?;
            self.staged.dead_written = true;
        }
        for i in 0..self.outboxes.len() {
            let ob = &mut self.outboxes[i];
            if let Err(e) = ob.commit() {
                self.staged.done[i] = self.staged.committed[i];
                return Err(GroupError::io(&e, e.is_no_space()));
            }
            self.staged.committed[i] = self.staged.done[i];
        }
        self.c.commits.inc();
        Ok(())
    }

    /// Appends outbox `i`'s remaining lines of the group, waiting while it
    /// is full (or dropping its oldest data, for a droppable route).
    fn append_staged(&mut self, i: usize) -> Result<(), GroupError> {
        let bit = 1u64 << i;
        let mut waited = false;
        while self.staged.done[i] < self.staged.lines.len() {
            let k = self.staged.done[i];
            let (start, end, mask) = self.staged.lines[k];
            if mask & bit == 0 {
                self.staged.done[i] += 1;
                continue;
            }
            let droppable = self.routes[i].droppable();
            let ob = &mut self.outboxes[i];
            match ob.append(&self.staged.buf[start..end]) {
                Ok(()) => self.staged.done[i] += 1,
                Err(OutboxError::Full { .. }) if droppable => {
                    // Never block the main sink or the sources for a
                    // droppable outbox: make room, or skip this line.
                    match ob.drop_oldest() {
                        Ok(n) => {
                            self.staged.committed[i] = k;
                            if n == 0 {
                                self.c.routed_dropped.inc();
                                tracing::warn!(
                                    event = "RoutedReadingsDropped",
                                    outbox = ob.stats().name(),
                                    "Routed outbox full; reading dropped for it."
                                );
                                self.staged.done[i] += 1;
                            }
                        }
                        Err(e) => {
                            self.staged.done[i] = self.staged.committed[i];
                            return Err(GroupError::io(&e, e.is_no_space()));
                        }
                    }
                }
                Err(OutboxError::Full { .. }) => {
                    if !waited {
                        self.c.full_waits.inc();
                        tracing::warn!(
                            outbox = ob.stats().name(),
                            low_on_space = ob.is_low_on_space(),
                            "Outbox full; holding acknowledgements until its sink drains it."
                        );
                        waited = true;
                    }
                    super::report_outbox_readiness(ob);
                    // Commit what we have so the sink can make progress,
                    // then wait for an acknowledgement to free space.
                    if let Err(e) = ob.commit() {
                        self.staged.done[i] = self.staged.committed[i];
                        return Err(GroupError::io(&e, e.is_no_space()));
                    }
                    self.staged.committed[i] = k;
                    ob.wait_for_space(Duration::from_millis(500));
                    if self.shutdown.is_cancelled() {
                        return Err(GroupError::Shutdown);
                    }
                }
                Err(e @ OutboxError::InvalidRecord { .. }) => {
                    self.c.invalid.inc();
                    let line = &self.staged.buf[start..end];
                    let name = line
                        .split(|&b| b == b',' || b == b' ')
                        .next()
                        .unwrap_or(b"");
                    self.staged.dead.push(DeadLetter::new(
                        "pipeline",
                        String::from_utf8_lossy(name).into_owned(),
                        e.to_string(),
                        line,
                    ));
                    // One dead letter per line, whichever outbox refused it.
                    self.staged.lines[k].2 = 0;
                    self.staged.done[i] += 1;
                }
                Err(e) => {
                    self.staged.done[i] = self.staged.committed[i];
                    return Err(GroupError::io(&e, e.is_no_space()));
                }
            }
        }
        Ok(())
    }
}
