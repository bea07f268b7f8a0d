//! Cutting a batch of newline-terminated lines into pieces without copying:
//! halves for a 413 and for bisecting a 400, single lines for dead letters.

/// The number of non-empty lines.
pub fn line_count(data: &[u8]) -> usize {
    lines(data).count()
}

/// The non-empty lines, without their newline.
pub fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty())
}

/// Splits at the line boundary nearest the middle line: both halves hold at
/// least one line. `None` when there are fewer than two lines.
pub fn halves(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let n = line_count(data);
    if n < 2 {
        return None;
    }
    let mut seen = 0;
    let mut at = 0;
    for (i, b) in data.iter().enumerate() {
        if *b != b'\n' {
            continue;
        }
        let line = &data[at..i];
        if !(line.is_empty() || line == b"\r") {
            seen += 1;
        }
        at = i + 1;
        if seen == n / 2 {
            break;
        }
    }
    Some(data.split_at(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_cut_on_line_boundaries_and_lose_nothing() {
        let data = b"a 1\nb 2\nc 3\nd 4\ne 5\n";
        let (l, r) = halves(data).unwrap();
        assert_eq!(l, b"a 1\nb 2\n");
        assert_eq!(r, b"c 3\nd 4\ne 5\n");
        assert_eq!(line_count(l) + line_count(r), 5);
    }

    #[test]
    fn a_single_line_cannot_be_halved() {
        assert_eq!(halves(b"a 1\n"), None);
        assert_eq!(halves(b"\n\na 1\n\n"), None);
        assert_eq!(halves(b""), None);
    }

    #[test]
    fn blank_lines_and_a_missing_final_newline_are_handled() {
        let data = b"\na 1\n\nb 2";
        assert_eq!(line_count(data), 2);
        let (l, r) = halves(data).unwrap();
        assert_eq!(line_count(l), 1);
        assert_eq!(line_count(r), 1);
        assert_eq!(lines(r).collect::<Vec<_>>(), vec![&b"b 2"[..]]);
    }

    #[test]
    fn repeated_halving_reaches_every_single_line() {
        let data: Vec<u8> = (0..37)
            .flat_map(|i| format!("m v={i}\n").into_bytes())
            .collect();
        let mut stack = vec![&data[..]];
        let mut singles = Vec::new();
        while let Some(d) = stack.pop() {
            match halves(d) {
                Some((l, r)) => {
                    stack.push(r);
                    stack.push(l);
                }
                None => singles.push(String::from_utf8(d.to_vec()).unwrap()),
            }
        }
        let want: Vec<String> = (0..37).map(|i| format!("m v={i}\n")).collect();
        assert_eq!(singles, want);
    }
}
