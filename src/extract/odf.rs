//! OpenDocument text (ODT) and spreadsheets (ODS), both read from
//! `content.xml` with the shared XML walker.
//!
//! ODT headings are `text:h` with their outline level. In ODS every
//! top-level `table:table` is a sheet whose name becomes the heading.
//!
//! ODF compresses runs of equal cells and rows with `number-columns-repeated`
//! and `number-rows-repeated`; a sheet's empty tail is routinely "repeated"
//! a million times. Empty repeats are never expanded, and non-empty ones are
//! expanded at most [`MAX_REPEAT`] times, so the attribute cannot be used to
//! make us loop for ever.

use super::blocks::{BlockBuilder, emit_row, push_to_cell};
use super::ooxml::join_cells;
use super::title;
use super::xml::{XmlEvent, attr, local, walk};
use super::zipsafe::Package;
use super::{ExtractError, Extracted, Format, Limits};

/// Upper bound on expanding a repeated non-empty cell or row.
const MAX_REPEAT: usize = 1_000;
/// Upper bound on `text:s` (a run of spaces).
const MAX_SPACES: usize = 100;

pub(crate) fn extract(
    format: Format,
    bytes: &[u8],
    limits: &Limits,
) -> Result<Extracted, ExtractError> {
    let mut package = Package::open(bytes, limits)?;
    // Password-protected ODF keeps the manifest readable and lists how each
    // part is encrypted; the parts themselves are ciphertext.
    let manifest = package
        .read_xml("META-INF/manifest.xml")?
        .unwrap_or_default();
    if manifest.contains("encryption-data") {
        return Err(ExtractError::Encrypted(format.label().to_string()));
    }
    let Some(content) = package.read_xml("content.xml")? else {
        return Err(ExtractError::Corrupt(
            "the OpenDocument file has no content.xml".to_string(),
        ));
    };
    let title = meta_title(&mut package).and_then(|t| title::usable(&t));
    let mut builder = BlockBuilder::new(limits);
    let mut walker = OdfWalker {
        spreadsheet: format == Format::Ods,
        ..OdfWalker::default()
    };
    walk(&content, "content.xml", |event| {
        walker.event(event, &mut builder)
    })?;
    let title = title.or_else(|| builder.first_top_heading());
    Ok(Extracted {
        format,
        title,
        pages: None,
        blocks: builder.finish(),
        warnings: Vec::new(),
        ocr_pages: 0,
    })
}

/// `dc:title` from `meta.xml`; a damaged meta.xml only loses the title.
fn meta_title(package: &mut Package<'_>) -> Option<String> {
    let xml = package.read_xml("meta.xml").ok().flatten()?;
    let mut in_title = false;
    let mut title = String::new();
    let _ = walk(&xml, "meta.xml", |event| {
        match event {
            XmlEvent::Open(e) if local(e) == "title" => in_title = true,
            XmlEvent::Close("title") => in_title = false,
            XmlEvent::Text(t) if in_title => title.push_str(t),
            _ => {}
        }
        Ok(())
    });
    let title = title.trim().to_string();
    (!title.is_empty()).then_some(title)
}

struct Paragraph {
    text: String,
    /// `Some(level)` for `text:h`.
    heading: Option<u8>,
}

#[derive(Default)]
struct Table {
    row: Vec<String>,
    cell: Option<String>,
    cell_repeat: usize,
    row_repeat: usize,
}

#[derive(Default)]
struct OdfWalker {
    spreadsheet: bool,
    depth: usize,
    /// Depth at which an ignored element (tracked changes, annotations,
    /// footnote citations) opened.
    skip_from: Option<usize>,
    paragraphs: Vec<Paragraph>,
    tables: Vec<Table>,
}

impl OdfWalker {
    fn event(
        &mut self,
        event: XmlEvent<'_>,
        builder: &mut BlockBuilder,
    ) -> Result<(), ExtractError> {
        match event {
            XmlEvent::Open(e) => {
                self.depth += 1;
                if self.skip_from.is_some() {
                    return Ok(());
                }
                match local(e).as_str() {
                    "tracked-changes" | "annotation" | "note-citation" | "notes-configuration" => {
                        self.skip_from = Some(self.depth);
                    }
                    "p" => self.paragraphs.push(Paragraph {
                        text: String::new(),
                        heading: None,
                    }),
                    "h" => {
                        let level = attr(e, "outline-level")
                            .and_then(|l| l.parse::<u8>().ok())
                            .unwrap_or(1);
                        self.paragraphs.push(Paragraph {
                            text: String::new(),
                            heading: Some(level),
                        });
                    }
                    "s" => {
                        let count = attr(e, "c")
                            .and_then(|c| c.parse::<usize>().ok())
                            .unwrap_or(1)
                            .min(MAX_SPACES);
                        self.push_text(&" ".repeat(count));
                    }
                    "tab" => self.push_text("\t"),
                    "line-break" => self.push_text("\n"),
                    "table" => {
                        if self.spreadsheet && self.tables.is_empty() {
                            builder.set_section(attr(e, "name").as_deref());
                        }
                        self.tables.push(Table::default());
                    }
                    "table-row" => {
                        if let Some(t) = self.tables.last_mut() {
                            t.row_repeat = repeat(attr(e, "number-rows-repeated"));
                        }
                    }
                    "table-cell" | "covered-table-cell" => {
                        if let Some(t) = self.tables.last_mut() {
                            t.cell = Some(String::new());
                            t.cell_repeat = repeat(attr(e, "number-columns-repeated"));
                        }
                    }
                    _ => {}
                }
            }
            XmlEvent::Close(name) => {
                let closing = self.depth;
                self.depth = self.depth.saturating_sub(1);
                if let Some(from) = self.skip_from {
                    if closing == from {
                        self.skip_from = None;
                    }
                    return Ok(());
                }
                match name {
                    "p" | "h" => {
                        if let Some(p) = self.paragraphs.pop() {
                            self.end_paragraph(p, builder)?;
                        }
                    }
                    "table-cell" | "covered-table-cell" => {
                        if let Some(t) = self.tables.last_mut()
                            && let Some(cell) = t.cell.take()
                        {
                            let cell = cell.trim().to_string();
                            // Empty repeats only matter if a later cell in
                            // the row has content; one placeholder keeps
                            // the columns roughly aligned.
                            let times = if cell.is_empty() { 1 } else { t.cell_repeat };
                            for _ in 0..times {
                                t.row.push(cell.clone());
                            }
                        }
                    }
                    "table-row" => {
                        let Some(t) = self.tables.last_mut() else {
                            return Ok(());
                        };
                        let row = join_cells(&std::mem::take(&mut t.row));
                        if row.is_empty() {
                            return Ok(());
                        }
                        let times = t.row_repeat;
                        for _ in 0..times {
                            self.emit_row(&row, builder)?;
                        }
                    }
                    "table" => {
                        self.tables.pop();
                    }
                    _ => {}
                }
            }
            XmlEvent::Text(t) => {
                if self.skip_from.is_none() {
                    self.push_text(t);
                }
            }
        }
        Ok(())
    }

    fn push_text(&mut self, text: &str) {
        // Text outside text:p/text:h (between elements) is formatting
        // whitespace, not content.
        if let Some(p) = self.paragraphs.last_mut() {
            p.text.push_str(text);
        }
    }

    fn end_paragraph(
        &mut self,
        p: Paragraph,
        builder: &mut BlockBuilder,
    ) -> Result<(), ExtractError> {
        if let Some(cell) = self.tables.last_mut().and_then(|t| t.cell.as_mut()) {
            push_to_cell(cell, p.text.trim());
            return Ok(());
        }
        // A paragraph nested in another (a footnote body, a text frame) is
        // emitted on its own before its parent finishes.
        match p.heading {
            Some(level) => builder.heading(level, &p.text),
            None => builder.paragraph(&p.text),
        }
    }

    fn emit_row(&mut self, row: &str, builder: &mut BlockBuilder) -> Result<(), ExtractError> {
        let outer = self.tables.len().checked_sub(2);
        emit_row(
            outer.and_then(|i| self.tables[i].cell.as_mut()),
            row,
            builder,
        )
    }
}

fn repeat(value: Option<String>) -> usize {
    value
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, MAX_REPEAT)
}
