//! Whether a title found in a document is one a person gave it.
//!
//! Metadata titles are often not: printer drivers and converters write the
//! file name ("Microsoft Word - doc1.docx"), templates leave placeholders
//! ("Untitled", "Document1", "PowerPoint Presentation"), and some tools
//! write a path. Such a title is worse than the file name, so [`usable`]
//! refuses it and the caller falls back (to the first heading, then to the
//! file name).

use super::blocks::clean_inline;

/// Longer titles are cut at a word boundary near this many characters.
const MAX_TITLE_CHARS: usize = 200;

/// Prefixes of titles that Office's "print to PDF" wrote from a file name.
const PRINTED_FROM: &[&str] = &[
    "microsoft word - ",
    "microsoft powerpoint - ",
    "microsoft excel - ",
    "microsoft outlook - ",
];

/// Endings that make a title a file name.
const FILE_EXTENSIONS: &[&str] = &[
    "ai", "cdr", "csv", "doc", "docm", "docx", "dot", "dotx", "eml", "eps", "htm", "html", "indd",
    "jpeg", "jpg", "key", "md", "msg", "numbers", "odp", "ods", "odt", "pages", "pdf", "png",
    "ppt", "pptx", "ps", "psd", "qxd", "qxp", "rtf", "tex", "tif", "tiff", "tmp", "txt", "wpd",
    "xls", "xlsm", "xlsx",
];

/// Placeholders that templates and tools leave as the title, lowercase and
/// without a trailing number ("Document1", "Book 2", "Slide 1").
const PLACEHOLDERS: &[&str] = &[
    "anonymous",
    "blank",
    "book",
    "doc",
    "document",
    "draft",
    "image",
    "microsoft word document",
    "new document",
    "new microsoft word document",
    "no title",
    "none",
    "null",
    "page",
    "pdf",
    "powerpoint presentation",
    "presentation",
    "print",
    "scan",
    "sheet",
    "slide",
    "temp",
    "template",
    "title",
    "tmp",
    "unknown",
    "untitled",
    "untitled document",
    "workbook",
];

/// `raw` cleaned up (whitespace collapsed, at most [`MAX_TITLE_CHARS`]),
/// or `None` when it is not a title a person gave the document.
pub(crate) fn usable(raw: &str) -> Option<String> {
    let title = clean_inline(raw);
    let title = title
        .trim_matches(|c: char| c.is_whitespace() || c == '"' || c == '\'')
        .to_string();
    if !title.chars().any(char::is_alphanumeric) {
        return None;
    }
    let lower = title.to_lowercase();
    if PRINTED_FROM.iter().any(|prefix| lower.starts_with(prefix))
        || lower.contains('\\')
        || lower.starts_with('/')
        || lower.rsplit_once('.').is_some_and(|(stem, extension)| {
            !stem.trim().is_empty() && FILE_EXTENSIONS.contains(&extension.trim())
        })
    {
        return None;
    }
    let bare = lower
        .trim_matches(|c: char| c.is_ascii_digit() || c.is_whitespace() || c == '(' || c == ')')
        .trim_end_matches(|c: char| c.is_ascii_digit() || c.is_whitespace());
    if PLACEHOLDERS.contains(&bare) {
        return None;
    }
    if title.chars().count() <= MAX_TITLE_CHARS {
        return Some(title);
    }
    let cut: String = title.chars().take(MAX_TITLE_CHARS).collect();
    let cut = match cut.rfind(char::is_whitespace) {
        Some(space) if space > MAX_TITLE_CHARS / 2 => cut[..space].to_string(),
        _ => cut,
    };
    Some(format!("{}…", cut.trim_end()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str, expected: Option<&str>) {
        assert_eq!(usable(raw).as_deref(), expected, "title {raw:?}");
    }

    #[test]
    fn real_titles_are_kept() {
        check("Infection Control Policy", Some("Infection Control Policy"));
        check("  Leave   policy\n2026 ", Some("Leave policy 2026"));
        check("\"Quarterly report\"", Some("Quarterly report"));
        check("Q3 results v2.1", Some("Q3 results v2.1"));
        check("Dr. Smith's notes", Some("Dr. Smith's notes"));
        check(
            "Document control procedure",
            Some("Document control procedure"),
        );
        check(
            "Untitled Goose Game review",
            Some("Untitled Goose Game review"),
        );
        check("Slide rules", Some("Slide rules"));
        let long = "word ".repeat(100);
        let cut = usable(&long).unwrap_or_default();
        assert!(
            cut.ends_with("word…") && cut.chars().count() <= 201,
            "{cut}"
        );
    }

    #[test]
    fn junk_is_refused() {
        for junk in [
            "",
            "   ",
            "---",
            "Microsoft Word - doc1.docx",
            "Microsoft PowerPoint - Quarterly.pptx",
            "doc1.docx",
            "Scan_0001.pdf",
            "report final.DOCX",
            "C:\\Users\\anna\\Desktop\\report",
            "/home/anna/report",
            "untitled",
            "Untitled Document",
            "Document1",
            "Document 12",
            "Book1",
            "PowerPoint Presentation",
            "Slide 1",
            "(anonymous)",
            "Title",
            "New Microsoft Word Document",
        ] {
            check(junk, None);
        }
    }
}
