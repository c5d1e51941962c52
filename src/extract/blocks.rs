//! The block builder every format writes into.
//!
//! Formats report structure as they see it (a heading of some level, a
//! paragraph, a table row, a page break) and the builder turns that into
//! blocks of a useful size: short paragraphs of the same section and page
//! are merged up to [`TARGET_BLOCK_BYTES`], and a single huge paragraph (a
//! text file without blank lines, a CSV) is cut at whitespace near
//! [`MAX_BLOCK_BYTES`]. Chunking for search happens downstream; these sizes
//! only keep blocks from being one per line or one per book.
//!
//! The builder is also where the text cap is enforced, so no format can
//! produce more than `Limits::max_text_bytes` however it is fooled.

use super::{Block, ExtractError, Limits};

/// Merge short paragraphs until a block reaches about this size.
pub(crate) const TARGET_BLOCK_BYTES: usize = 1500;
/// Cut single paragraphs longer than this.
pub(crate) const MAX_BLOCK_BYTES: usize = 4000;
/// Heading text longer than this is not a heading but a styled paragraph.
const MAX_HEADING_CHARS: usize = 300;

/// How a piece of text joins the one before it in the same block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Joined to the previous piece by a blank line.
    Paragraph,
    /// A table or spreadsheet row: joined to a previous row by a newline.
    Row,
}

pub(crate) struct BlockBuilder {
    blocks: Vec<Block>,
    /// Open headings, outermost first, with their levels (1 = top).
    headings: Vec<(u8, String)>,
    /// A heading set from outside the document (sheet name), placed above
    /// the document's own headings.
    section: Option<String>,
    page: Option<u32>,
    current: Option<Block>,
    last_kind: Kind,
    text_bytes: u64,
    max_text_bytes: u64,
    /// The first top-level heading, a title for documents without one.
    first_top_heading: Option<String>,
}

impl BlockBuilder {
    pub(crate) fn new(limits: &Limits) -> Self {
        BlockBuilder {
            blocks: Vec::new(),
            headings: Vec::new(),
            section: None,
            page: None,
            current: None,
            last_kind: Kind::Paragraph,
            text_bytes: 0,
            max_text_bytes: limits.max_text_bytes,
            first_top_heading: None,
        }
    }

    /// Starts a new page (1-based); later text carries this page number.
    pub(crate) fn set_page(&mut self, page: Option<u32>) {
        if self.page != page {
            self.flush();
            self.page = page;
        }
    }

    /// Replaces the outside section (sheet name, slide title) and closes the
    /// document's own headings, which do not carry across sections.
    pub(crate) fn set_section(&mut self, section: Option<&str>) {
        let section = section.map(clean_inline).filter(|s| !s.is_empty());
        self.flush();
        self.section = section;
        self.headings.clear();
    }

    /// Opens a heading of `level` (1 = top), closing any open heading of the
    /// same or a deeper level. Over-long "headings" are kept as paragraphs:
    /// a whole paragraph styled as a heading is still body text.
    pub(crate) fn heading(&mut self, level: u8, text: &str) -> Result<(), ExtractError> {
        let text = clean_inline(text);
        if text.is_empty() {
            return Ok(());
        }
        if text.chars().count() > MAX_HEADING_CHARS {
            return self.paragraph(&text);
        }
        self.charge(text.len())?;
        self.flush();
        let level = level.max(1);
        if level == 1 && self.first_top_heading.is_none() {
            self.first_top_heading = Some(text.clone());
        }
        while self.headings.last().is_some_and(|(l, _)| *l >= level) {
            self.headings.pop();
        }
        self.headings.push((level, text));
        Ok(())
    }

    /// Adds a paragraph of body text. Whitespace inside lines is collapsed;
    /// line breaks are kept.
    pub(crate) fn paragraph(&mut self, text: &str) -> Result<(), ExtractError> {
        self.push(text, Kind::Paragraph)
    }

    /// Adds a table row (cells already joined).
    pub(crate) fn row(&mut self, text: &str) -> Result<(), ExtractError> {
        self.push(text, Kind::Row)
    }

    /// Ends the current block even if it is short (a slide or a message
    /// part ended).
    pub(crate) fn flush(&mut self) {
        if let Some(block) = self.current.take()
            && !block.text.is_empty()
        {
            self.blocks.push(block);
        }
    }

    pub(crate) fn finish(mut self) -> Vec<Block> {
        self.flush();
        self.blocks
    }

    /// The first level-1 heading so far (a Word "Title" or "Heading 1"
    /// paragraph, `<h1>`, `text:h` of outline level 1).
    pub(crate) fn first_top_heading(&self) -> Option<String> {
        self.first_top_heading.clone()
    }

    /// Text bytes accepted so far.
    pub(crate) fn text_bytes(&self) -> u64 {
        self.text_bytes
    }

    fn heading_path(&self) -> Option<String> {
        let parts: Vec<&str> = self
            .section
            .iter()
            .map(String::as_str)
            .chain(self.headings.iter().map(|(_, h)| h.as_str()))
            .collect();
        if parts.is_empty() {
            None
        } else {
            Some(parts.join(" › "))
        }
    }

    fn charge(&mut self, bytes: usize) -> Result<(), ExtractError> {
        self.text_bytes = self.text_bytes.saturating_add(bytes as u64);
        if self.text_bytes > self.max_text_bytes {
            return Err(ExtractError::TooLarge(format!(
                "more than {} of text",
                human_bytes(self.max_text_bytes)
            )));
        }
        Ok(())
    }

    fn push(&mut self, text: &str, kind: Kind) -> Result<(), ExtractError> {
        let text = clean_text(text);
        if text.is_empty() {
            return Ok(());
        }
        self.charge(text.len())?;
        for piece in split_long(&text, MAX_BLOCK_BYTES) {
            let separator = match (kind, self.last_kind) {
                (Kind::Row, Kind::Row) => "\n",
                _ => "\n\n",
            };
            let fits = self.current.as_ref().is_some_and(|block| {
                block.text.len() + separator.len() + piece.len() <= TARGET_BLOCK_BYTES
            });
            if fits {
                if let Some(block) = self.current.as_mut() {
                    block.text.push_str(separator);
                    block.text.push_str(piece);
                }
            } else {
                self.flush();
                self.current = Some(Block {
                    page: self.page,
                    heading: self.heading_path(),
                    text: piece.to_string(),
                });
            }
            self.last_kind = kind;
        }
        Ok(())
    }
}

/// Splits `text` into pieces of at most about `max` bytes, preferring a
/// newline, then a space, in the last quarter of each piece.
pub(crate) fn split_long(text: &str, max: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.len() > max {
        let mut end = max;
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let window = &rest[..end];
        let floor = max * 3 / 4;
        let cut = window
            .rfind('\n')
            .filter(|&i| i >= floor)
            .or_else(|| window.rfind(' ').filter(|&i| i >= floor))
            .unwrap_or(end);
        // A cut at 0 would loop forever on odd input; `end` is never 0
        // because a char is at most 4 bytes and `max` is far larger.
        let cut = if cut == 0 { end.max(1) } else { cut };
        let (piece, tail) = rest.split_at(cut);
        let piece = piece.trim_end();
        if !piece.is_empty() {
            pieces.push(piece);
        }
        rest = tail.trim_start();
    }
    if !rest.is_empty() {
        pieces.push(rest);
    }
    pieces
}

/// Cleans body text: control characters become spaces, runs of spaces and
/// tabs inside a line collapse to one space, lines are trimmed, and runs of
/// blank lines collapse to one blank line.
pub(crate) fn clean_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in text.lines() {
        let line = clean_inline(line);
        if line.is_empty() {
            blank_run += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank_run > 0 { "\n\n" } else { "\n" });
        }
        blank_run = 0;
        out.push_str(&line);
    }
    out
}

/// Cleans one line: every kind of whitespace or control character becomes
/// a single space, and the ends are trimmed. Also drops the zero-width and
/// soft-hyphen characters that office formats sprinkle in.
pub(crate) fn clean_inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for ch in text.chars() {
        if ch.is_whitespace() || ch.is_control() {
            pending_space = true;
            continue;
        }
        if matches!(ch, '\u{ad}' | '\u{200b}' | '\u{feff}' | '\u{fffe}') {
            continue;
        }
        if pending_space && !out.is_empty() {
            out.push(' ');
        }
        pending_space = false;
        out.push(ch);
    }
    out
}

/// "50 MB", "1.5 GB": for limits in messages a person reads.
pub(crate) fn human_bytes(bytes: u64) -> String {
    const MB: u64 = 1_000_000;
    if bytes >= 1000 * MB {
        format!("{:.1} GB", bytes as f64 / (1000 * MB) as f64)
    } else if bytes >= MB {
        format!("{} MB", bytes / MB)
    } else {
        format!("{} kB", bytes.div_ceil(1000))
    }
}

/// Appends `text` to a table cell being read, a space apart from what the
/// cell already holds (the ODF and OOXML walkers share this).
pub(crate) fn push_to_cell(cell: &mut String, text: &str) {
    if !cell.is_empty() {
        cell.push(' ');
    }
    cell.push_str(text);
}

/// Emits a table row: into `outer_cell` when the table is nested in another
/// table's cell (its text belongs to that cell), else as a row of the document.
pub(crate) fn emit_row(
    outer_cell: Option<&mut String>,
    row: &str,
    builder: &mut BlockBuilder,
) -> Result<(), ExtractError> {
    match outer_cell {
        Some(cell) => {
            push_to_cell(cell, row);
            Ok(())
        }
        None => builder.row(row),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::default()
    }

    #[test]
    fn headings_nest_and_close() {
        let mut b = BlockBuilder::new(&limits());
        b.heading(1, "Leave policy").unwrap();
        b.paragraph("intro").unwrap();
        b.heading(2, "Sick days").unwrap();
        b.paragraph("ten days").unwrap();
        b.heading(2, "Holidays").unwrap();
        b.paragraph("twenty days").unwrap();
        b.heading(1, "Pay").unwrap();
        b.paragraph("monthly").unwrap();
        let headings: Vec<_> = b
            .finish()
            .into_iter()
            .map(|b| b.heading.unwrap_or_default())
            .collect();
        assert_eq!(
            headings,
            [
                "Leave policy",
                "Leave policy › Sick days",
                "Leave policy › Holidays",
                "Pay"
            ]
        );
    }

    #[test]
    fn short_paragraphs_merge_long_ones_split() {
        let mut b = BlockBuilder::new(&limits());
        for i in 0..5 {
            b.paragraph(&format!("para {i}")).unwrap();
        }
        b.paragraph(&"word ".repeat(2000)).unwrap();
        let blocks = b.finish();
        assert_eq!(
            blocks[0].text,
            "para 0\n\npara 1\n\npara 2\n\npara 3\n\npara 4"
        );
        assert!(blocks.len() >= 3);
        assert!(blocks.iter().all(|b| b.text.len() <= MAX_BLOCK_BYTES));
    }

    #[test]
    fn text_cap_is_enforced() {
        let mut b = BlockBuilder::new(&Limits {
            max_text_bytes: 100,
            ..Limits::default()
        });
        b.paragraph(&"x".repeat(90)).unwrap();
        let err = b.paragraph(&"y".repeat(20)).unwrap_err();
        assert_eq!(err.code(), "too_large");
    }

    #[test]
    fn split_handles_multibyte_and_no_spaces() {
        let text = "é".repeat(5000);
        let pieces = split_long(&text, 1000);
        assert_eq!(pieces.concat(), text);
        assert!(pieces.iter().all(|p| p.len() <= 1000));
    }

    #[test]
    fn clean_collapses_whitespace() {
        assert_eq!(clean_text("  a \t b \n\n\n c\u{0}d  "), "a b\n\nc d");
        assert_eq!(clean_inline("soft\u{ad}hyphen\u{200b}"), "softhyphen");
    }
}
