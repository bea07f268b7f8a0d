//! Finding a frame in a byte stream, shared by DL/T 645 and CJ/T 188 (and
//! HJ 212, whose `##` is found by its first `#`): a frame starts with a
//! byte that may also occur in noise or unescaped data, after optional
//! wake-up bytes (`FE` for the meters). Each codec says what the bytes at one start are ([`Attempt`]);
//! this module decides which `68` to believe.

/// What one codec makes of the bytes starting at one candidate `68`.
pub(crate) enum Attempt<F, E> {
    /// A checked frame and the bytes it used, counted from the buffer start.
    Frame(F, usize),
    /// The candidate's header or body is not complete yet.
    NeedMore,
    /// The header cannot be a frame's (a structural check failed).
    Stray,
    /// A complete frame whose checksum or end byte is wrong, ending at the
    /// given offset from the buffer start.
    Bad(E, usize),
    /// A well-formed frame the codec reports as an error (an error reply).
    Refused(E),
}

/// What the front of the buffer holds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Scan<F, E> {
    Frame(F, usize),
    NeedMore,
    /// Drop this many bytes (noise, a stray start) and scan again.
    Skip(usize),
    Err(E),
}

/// Scans `buf`: wake-up bytes are passed over silently; anything else
/// before the first start byte is [`Scan::Skip`]. At a start that fails its
/// checksum or end byte, a later start inside that frame that holds a
/// checked frame wins (a stray `68` before the real start); a start still
/// waiting for bytes loses to a complete frame further on.
pub(crate) fn scan<F, E>(
    buf: &[u8],
    start: u8,
    wake: Option<u8>,
    attempt: impl Fn(usize) -> Attempt<F, E>,
) -> Scan<F, E> {
    let first = buf
        .iter()
        .position(|b| Some(*b) != wake)
        .unwrap_or(buf.len());
    let Some(p) = buf
        .iter()
        .skip(first)
        .position(|b| *b == start)
        .map(|q| q + first)
    else {
        return if first == buf.len() {
            Scan::NeedMore
        } else {
            Scan::Skip(buf.len())
        };
    };
    if p > first {
        return Scan::Skip(p);
    }
    let starts = |from: usize, to: usize| {
        (from..to.min(buf.len())).filter(move |q| buf.get(*q) == Some(&start))
    };
    let complete_after = |p: usize| {
        starts(p + 1, buf.len())
            .find(|q| matches!(attempt(*q), Attempt::Frame(..) | Attempt::Refused(_)))
    };
    match attempt(p) {
        Attempt::Frame(f, len) => Scan::Frame(f, len),
        Attempt::Refused(e) => Scan::Err(e),
        Attempt::Stray => Scan::Skip(p + 1),
        Attempt::NeedMore => complete_after(p).map_or(Scan::NeedMore, Scan::Skip),
        Attempt::Bad(e, end) => {
            for q in starts(p + 1, end) {
                match attempt(q) {
                    Attempt::Frame(..) | Attempt::Refused(_) => return Scan::Skip(q),
                    Attempt::NeedMore => {
                        return complete_after(q).map_or(Scan::NeedMore, Scan::Skip)
                    }
                    Attempt::Stray | Attempt::Bad(..) => {}
                }
            }
            Scan::Err(e)
        }
    }
}
