//! RFC 3339 timestamps: Lambda takes a line's own level only with a valid `timestamp`.

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)` (RFC 3339, section 5.6).
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |from: usize, n: usize| -> Option<u32> {
        let part = b.get(from..from + n)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| std::str::from_utf8(part).ok()?.parse().ok())?
    };
    let field =
        |from: usize, n: usize, lo: u32, hi: u32| digits(from, n).filter(|v| (lo..=hi).contains(v));
    let date_time = field(0, 4, 0, 9999).is_some()
        && b.get(4) == Some(&b'-')
        && field(5, 2, 1, 12).is_some()
        && b.get(7) == Some(&b'-')
        && field(8, 2, 1, 31).is_some()
        && matches!(b.get(10), Some(b'T' | b't'))
        && field(11, 2, 0, 23).is_some()
        && b.get(13) == Some(&b':')
        && field(14, 2, 0, 59).is_some()
        && b.get(16) == Some(&b':')
        && field(17, 2, 0, 60).is_some();
    if !date_time {
        return false;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match b.get(i) {
        Some(b'Z' | b'z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            field(i + 1, 2, 0, 23).is_some()
                && b.get(i + 3) == Some(&b':')
                && field(i + 4, 2, 0, 59).is_some()
                && i + 6 == b.len()
        }
        _ => false,
    }
}
