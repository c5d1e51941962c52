//! Hygiene for the names people type or upload (file names, display names,
//! conversation titles, collection names, the business name): one rule for
//! every capability, applied before a name is stored.
//!
//! Control characters carry nothing a person meant to show, and Unicode's
//! bidirectional controls let a name display as something else: the file
//! `invoice-<U+202E>txt.exe` is listed as "invoice-exe.txt". Both are
//! removed; whitespace runs become one space.

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

#[cfg(test)]
mod tests {
    use super::*;

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
