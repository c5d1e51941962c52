//! HTML pages (and HTML email bodies): visible text by paragraph, `h1`-`h6`
//! as headings, tables as rows.
//!
//! html5ever (through scraper) builds the tree the way a browser would,
//! whatever the markup's mistakes, and the tree is walked with ego-tree's
//! iterative traversal: deeply nested junk cannot overflow the stack, which
//! a recursive renderer would (a stack overflow aborts the process instead
//! of unwinding). html5ever's time grows with the square of the nesting
//! depth, so markup nested deeper than `nesting::MAX_DEPTH` is flattened
//! first (its text kept), with a warning.

use ego_tree::iter::Edge;
use scraper::{Html, Node};

use super::blocks::BlockBuilder;
use super::ooxml::join_cells;
use super::title;
use super::{ExtractError, Extracted, Format, Limits};

/// Elements whose content is not visible text.
const INVISIBLE: &[&str] = &[
    "script", "style", "noscript", "template", "svg", "math", "iframe", "object", "select",
    "canvas", "head",
];

/// Elements that end a paragraph.
const BLOCK: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "body",
    "center",
    "dd",
    "details",
    "dialog",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "header",
    "hr",
    "html",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "ul",
    "caption",
    "table",
    "tbody",
    "thead",
    "tfoot",
    "tr",
    "legend",
];

pub(crate) fn extract(html: &str, limits: &Limits) -> Result<Extracted, ExtractError> {
    let mut builder = BlockBuilder::new(limits);
    let (title, flattened) = write_bounded_html(html, &mut builder)?;
    // No usable <title>: the first <h1>.
    let title = title
        .and_then(|t| title::usable(&t))
        .or_else(|| builder.first_top_heading());
    let mut warnings = Vec::new();
    if flattened {
        warnings.push(format!(
            "the page nests elements more than {} deep; the deeper ones were read as plain text",
            super::nesting::MAX_DEPTH
        ));
    }
    Ok(Extracted {
        format: Format::Html,
        title,
        pages: None,
        blocks: builder.finish(),
        warnings,
        ocr_pages: 0,
    })
}

#[derive(Default)]
struct Table {
    row: Vec<String>,
    cell: Option<String>,
}

#[derive(Default)]
struct Walker {
    invisible: usize,
    in_title: bool,
    pre: usize,
    title: String,
    paragraph: String,
    heading: Option<(u8, String)>,
    tables: Vec<Table>,
}

impl Walker {
    /// Where text goes now: the open heading, the open cell, or the body.
    fn target(&mut self) -> &mut String {
        if let Some((_, text)) = self.heading.as_mut() {
            return text;
        }
        if let Some(cell) = self.tables.last_mut().and_then(|t| t.cell.as_mut()) {
            return cell;
        }
        &mut self.paragraph
    }

    fn in_cell(&self) -> bool {
        self.tables.last().is_some_and(|t| t.cell.is_some())
    }

    fn text(&mut self, text: &str) {
        if self.in_title {
            self.title.push_str(text);
            return;
        }
        if self.invisible > 0 {
            return;
        }
        if self.pre > 0 {
            self.target().push_str(text);
            return;
        }
        // Outside <pre>, any run of whitespace is one space.
        let target = self.target();
        let mut last_space = target.ends_with(' ') || target.is_empty();
        for ch in text.chars() {
            if ch.is_whitespace() {
                if !last_space {
                    target.push(' ');
                    last_space = true;
                }
            } else {
                target.push(ch);
                last_space = false;
            }
        }
    }

    fn flush(&mut self, builder: &mut BlockBuilder) -> Result<(), ExtractError> {
        if self.in_cell() {
            self.target().push(' ');
            return Ok(());
        }
        let paragraph = std::mem::take(&mut self.paragraph);
        builder.paragraph(&paragraph)
    }

    fn open(&mut self, name: &str, builder: &mut BlockBuilder) -> Result<(), ExtractError> {
        if name == "title" {
            self.in_title = true;
            return Ok(());
        }
        if INVISIBLE.contains(&name) {
            self.invisible += 1;
            return Ok(());
        }
        if self.invisible > 0 {
            return Ok(());
        }
        if let Some(level) = heading_level(name)
            && !self.in_cell()
            && self.heading.is_none()
        {
            self.flush(builder)?;
            self.heading = Some((level, String::new()));
            return Ok(());
        }
        match name {
            "br" => self.target().push('\n'),
            "pre" => {
                self.flush(builder)?;
                self.pre += 1;
            }
            "table" => {
                self.flush(builder)?;
                self.tables.push(Table::default());
            }
            "td" | "th" => {
                if let Some(table) = self.tables.last_mut() {
                    table.cell = Some(String::new());
                }
            }
            _ if BLOCK.contains(&name) => self.flush(builder)?,
            _ => {}
        }
        Ok(())
    }

    fn close(&mut self, name: &str, builder: &mut BlockBuilder) -> Result<(), ExtractError> {
        if name == "title" {
            self.in_title = false;
            return Ok(());
        }
        if INVISIBLE.contains(&name) {
            self.invisible = self.invisible.saturating_sub(1);
            return Ok(());
        }
        if self.invisible > 0 {
            return Ok(());
        }
        if let Some(level) = heading_level(name)
            && self.heading.as_ref().is_some_and(|(l, _)| *l == level)
        {
            if let Some((level, text)) = self.heading.take() {
                builder.heading(level, &text)?;
            }
            return Ok(());
        }
        match name {
            "pre" => {
                self.flush(builder)?;
                self.pre = self.pre.saturating_sub(1);
            }
            "td" | "th" => {
                if let Some(table) = self.tables.last_mut()
                    && let Some(cell) = table.cell.take()
                {
                    table.row.push(cell.trim().to_string());
                }
            }
            "tr" => {
                let row = self
                    .tables
                    .last_mut()
                    .map(|t| join_cells(&std::mem::take(&mut t.row)))
                    .unwrap_or_default();
                // A row of a nested table belongs to the outer cell.
                if self.tables.len() > 1 {
                    let outer = self.tables.len() - 2;
                    if let Some(cell) = self.tables[outer].cell.as_mut() {
                        cell.push(' ');
                        cell.push_str(&row);
                        return Ok(());
                    }
                }
                builder.row(&row)?;
            }
            "table" => {
                self.tables.pop();
            }
            _ if BLOCK.contains(&name) => self.flush(builder)?,
            _ => {}
        }
        Ok(())
    }
}

fn heading_level(name: &str) -> Option<u8> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

/// Writes the page's text into `builder`; returns the `<title>`.
pub(crate) fn write_html(
    html: &str,
    builder: &mut BlockBuilder,
) -> Result<Option<String>, ExtractError> {
    write_bounded_html(html, builder).map(|(title, _)| title)
}

/// [`write_html`], also saying whether deep nesting was flattened.
fn write_bounded_html(
    html: &str,
    builder: &mut BlockBuilder,
) -> Result<(Option<String>, bool), ExtractError> {
    let (html, flattened) = super::nesting::bound_nesting(html);
    let document = Html::parse_document(&html);
    let mut walker = Walker::default();
    for edge in document.tree.root().traverse() {
        match edge {
            Edge::Open(node) => match node.value() {
                Node::Element(element) => walker.open(element.name(), builder)?,
                Node::Text(text) => walker.text(text),
                _ => {}
            },
            Edge::Close(node) => {
                if let Node::Element(element) = node.value() {
                    walker.close(element.name(), builder)?;
                }
            }
        }
    }
    if let Some((level, text)) = walker.heading.take() {
        builder.heading(level, &text)?;
    }
    let paragraph = std::mem::take(&mut walker.paragraph);
    builder.paragraph(&paragraph)?;
    let title = walker
        .title
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    Ok(((!title.is_empty()).then_some(title), flattened))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_tables_and_invisible_text() {
        let html = "<html><head><title>Handbook</title><style>p{}</style></head><body>\
            <h1>Leave policy</h1><p>Intro <b>bold</b>\n text.</p><script>var x;</script>\
            <h2>Sick days</h2><table><tr><th>Days</th><th>Pay</th></tr>\
            <tr><td>10</td><td>full</td></tr></table></body></html>";
        let out = extract(html, &Limits::default()).unwrap();
        assert_eq!(out.title.as_deref(), Some("Handbook"));
        assert_eq!(out.blocks[0].heading.as_deref(), Some("Leave policy"));
        assert_eq!(out.blocks[0].text, "Intro bold text.");
        assert_eq!(
            out.blocks[1].heading.as_deref(),
            Some("Leave policy › Sick days")
        );
        assert_eq!(out.blocks[1].text, "Days | Pay\n10 | full");
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let html = "<div>".repeat(5_000) + "deep text";
        let out = extract(&html, &Limits::default()).unwrap();
        assert_eq!(out.full_text(), "deep text");
        assert!(out.warnings[0].contains("nests elements more than 512 deep"));
    }
}
