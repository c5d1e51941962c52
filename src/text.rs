//! Hygiene for the names people type or upload (file names, display names,
//! conversation titles, collection names, the business name): one rule for
//! every capability, applied before a name is stored.
//!
//! Control characters carry nothing a person meant to show, and Unicode's
//! bidirectional controls let a name display as something else: the file
//! `invoice-<U+202E>txt.exe` is listed as "invoice-exe.txt". Both are
//! removed; whitespace runs become one space.
//!
//! And the words around numbers people read: [`count`] ("1 document", "3
//! documents") and [`wait`] ("1 second", "15 minutes"), so no page says
//! "document(s)".

/// Whether `c` changes the direction of the text around it: the embeddings
/// and overrides U+202A–202E, the isolates U+2066–2069, and the marks
/// U+200E, U+200F and U+061C.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// `name` without control or bidirectional characters, its whitespace runs
/// collapsed to single spaces, trimmed.
pub fn clean_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut space = false;
    for c in name.chars() {
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if c.is_control() || is_bidi_control(c) {
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(c);
    }
    out
}

/// The first words of `text` within `max` characters, with an ellipsis if cut.
pub fn truncate_words(text: &str, max: usize) -> String {
    let text = clean_name(text);
    if text.chars().count() <= max {
        return text;
    }
    let mut out = String::new();
    for word in text.split(' ') {
        if out.chars().count() + word.chars().count() + 1 > max.saturating_sub(1) {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.is_empty() {
        out = text.chars().take(max.saturating_sub(1)).collect();
    }
    out.push('…');
    out
}

/// `n` with the word that fits it: `count(1, "file", "files")` is "1 file",
/// `count(0, ...)` "0 files".
pub fn count(n: i64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// A wait of `secs` seconds in words: seconds up to a minute, then whole
/// minutes rounded up (a person told "2 minutes" who waits 90 seconds is
/// not turned away again).
pub fn wait(secs: u64) -> String {
    let secs = secs.max(1);
    if secs < 60 {
        return count(secs as i64, "second", "seconds");
    }
    count(secs.div_ceil(60) as i64, "minute", "minutes")
}

/// A Unix time as people read it where no time zone is at hand (the
/// command line, a log's own statements): `2026-12-01 13:45 UTC`.
pub fn utc_time(unix: i64) -> String {
    jiff::Timestamp::from_second(unix)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| format!("{unix} (Unix time)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_take_the_word_that_fits() {
        for (n, expected) in [
            (0, "0 files"),
            (1, "1 file"),
            (2, "2 files"),
            (-1, "-1 files"),
        ] {
            assert_eq!(count(n, "file", "files"), expected);
        }
        assert_eq!(count(1, "person", "people"), "1 person");
        for (secs, expected) in [
            (0, "1 second"),
            (1, "1 second"),
            (2, "2 seconds"),
            (59, "59 seconds"),
            (60, "1 minute"),
            (61, "2 minutes"),
            (900, "15 minutes"),
        ] {
            assert_eq!(wait(secs), expected, "{secs} s");
        }
    }

    fn check(input: &str, expected: &str) {
        assert_eq!(clean_name(input), expected, "{input:?}");
    }

    #[test]
    fn names_lose_controls_and_direction_changes() {
        check("invoice-\u{202E}txt.exe", "invoice-txt.exe");
        check("a\u{2066}b\u{2069}c\u{200F}", "abc");
        check("  two\t\nlines  ", "two lines");
        check("nul\0byte", "nulbyte");
        check("Zahnarztpraxis Müller", "Zahnarztpraxis Müller");
        check("\u{202E}", "");
    }
}
