//! Word (DOCX) and PowerPoint (PPTX) documents: Office Open XML packages
//! read with the bounded ZIP reader and the shared XML walker.
//!
//! DOCX headings come from paragraph styles. Style ids are localised
//! ("Heading1" in English Word, "berschrift1" in German), so the style
//! table is read and a style counts as a heading when its outline level,
//! its name ("heading 2", "Title") or, failing that, its id says so,
//! following `basedOn` for styles derived from a heading.
//!
//! PPTX slides are read in presentation order (the relationship list in
//! `presentation.xml`, not file names), one page per slide; the slide's
//! title placeholder becomes the heading, and speaker notes follow the
//! slide's text under "<title> › Notes".

use std::collections::HashMap;

use super::blocks::{BlockBuilder, emit_row, push_to_cell};
use super::title;
use super::xml::{XmlEvent, attr, local, walk};
use super::zipsafe::{Package, resolve_target};
use super::{ExtractError, Extracted, Format, Limits};

pub(crate) fn extract_docx(bytes: &[u8], limits: &Limits) -> Result<Extracted, ExtractError> {
    let mut package = Package::open(bytes, limits)?;
    let main_part = main_part(&mut package, "word/document.xml")?;
    let Some(document) = package.read_xml(&main_part)? else {
        return Err(ExtractError::Corrupt(format!(
            "the Word document has no {main_part}"
        )));
    };
    let styles_part = resolve_target(&main_part, "styles.xml").unwrap_or_default();
    let styles = match package.read_xml(&styles_part)? {
        Some(xml) => parse_styles(&xml).unwrap_or_default(),
        None => Styles::default(),
    };
    let mut title = core_title(&mut package)?.and_then(|t| title::usable(&t));
    let mut builder = BlockBuilder::new(limits);
    let mut walker = DocxWalker::default();
    walk(&document, &main_part, |event| {
        walker.event(event, &styles, &mut builder, &mut title)
    })?;
    // No title in the properties nor a "Title" paragraph: the first
    // "Heading 1".
    let title = title.or_else(|| builder.first_top_heading());
    Ok(Extracted {
        format: Format::Docx,
        title,
        pages: None,
        blocks: builder.finish(),
        warnings: Vec::new(),
        ocr_pages: 0,
    })
}

pub(crate) fn extract_pptx(bytes: &[u8], limits: &Limits) -> Result<Extracted, ExtractError> {
    let mut package = Package::open(bytes, limits)?;
    let main_part = main_part(&mut package, "ppt/presentation.xml")?;
    let slides = slide_parts(&mut package, &main_part)?;
    let mut title = core_title(&mut package)?.and_then(|t| title::usable(&t));
    let mut builder = BlockBuilder::new(limits);
    for (index, slide_part) in slides.iter().enumerate() {
        let page = u32::try_from(index + 1).unwrap_or(u32::MAX);
        builder.set_page(Some(page));
        let Some(xml) = package.read_xml(slide_part)? else {
            continue;
        };
        let slide = parse_slide(&xml, slide_part)?;
        if title.is_none() {
            // The first slide's title names the presentation.
            title = slide.title.as_deref().and_then(title::usable);
        }
        builder.set_section(slide.title.as_deref());
        for item in &slide.items {
            item.emit(&mut builder)?;
        }
        if let Some(notes_part) = notes_part(&mut package, slide_part)?
            && let Some(notes_xml) = package.read_xml(&notes_part)?
        {
            let notes = parse_slide(&notes_xml, &notes_part)?;
            let heading = match &slide.title {
                Some(t) => format!("{t} › Notes"),
                None => "Notes".to_string(),
            };
            builder.set_section(Some(&heading));
            for item in &notes.items {
                item.emit(&mut builder)?;
            }
        }
        builder.flush();
    }
    Ok(Extracted {
        format: Format::Pptx,
        title,
        pages: Some(u32::try_from(slides.len()).unwrap_or(u32::MAX)),
        blocks: builder.finish(),
        warnings: Vec::new(),
        ocr_pages: 0,
    })
}

/// The package's main part from `_rels/.rels`, or the usual name.
pub(crate) fn main_part(package: &mut Package<'_>, usual: &str) -> Result<String, ExtractError> {
    if let Some(rels) = package.read_xml("_rels/.rels")? {
        for rel in parse_rels(&rels, "_rels/.rels")? {
            if rel.kind.ends_with("/officeDocument")
                && let Some(part) = resolve_target("", &rel.target)
                && package.contains(&part)
            {
                return Ok(part);
            }
        }
    }
    Ok(usual.to_string())
}

/// `dc:title` from `docProps/core.xml`, shared by DOCX, PPTX and XLSX.
pub(crate) fn core_title(package: &mut Package<'_>) -> Result<Option<String>, ExtractError> {
    let Some(xml) = package.read_xml("docProps/core.xml")? else {
        return Ok(None);
    };
    let mut in_title = false;
    let mut title = String::new();
    // A damaged core.xml only loses the title, not the document.
    let _ = walk(&xml, "docProps/core.xml", |event| {
        match event {
            XmlEvent::Open(e) if local(e) == "title" => in_title = true,
            XmlEvent::Close("title") => in_title = false,
            XmlEvent::Text(t) if in_title => title.push_str(t),
            _ => {}
        }
        Ok(())
    });
    let title = title.trim().to_string();
    Ok((!title.is_empty()).then_some(title))
}

struct Relationship {
    id: String,
    kind: String,
    target: String,
}

fn parse_rels(xml: &str, part: &str) -> Result<Vec<Relationship>, ExtractError> {
    let mut rels = Vec::new();
    walk(xml, part, |event| {
        if let XmlEvent::Open(e) = event
            && local(e) == "Relationship"
            && attr(e, "TargetMode").as_deref() != Some("External")
        {
            rels.push(Relationship {
                id: attr(e, "Id").unwrap_or_default(),
                kind: attr(e, "Type").unwrap_or_default(),
                target: attr(e, "Target").unwrap_or_default(),
            });
        }
        Ok(())
    })?;
    Ok(rels)
}

/// The relationships file of a part: `a/b.xml` → `a/_rels/b.xml.rels`.
fn rels_part(part: &str) -> String {
    match part.rsplit_once('/') {
        Some((folder, file)) => format!("{folder}/_rels/{file}.rels"),
        None => format!("_rels/{part}.rels"),
    }
}

// ---------------------------------------------------------------- DOCX --

#[derive(Default)]
struct Styles {
    /// Style id → heading level (1 = top), for paragraph styles that are
    /// headings.
    heading_level: HashMap<String, u8>,
    title_styles: Vec<String>,
}

impl Styles {
    fn level(&self, style: &str) -> Option<u8> {
        self.heading_level.get(style).copied().or_else(|| {
            // Without a style table, fall back on Word's English ids.
            let digits = style.strip_prefix("Heading")?;
            digits.parse::<u8>().ok().filter(|l| (1..=9).contains(l))
        })
    }

    fn is_title(&self, style: &str) -> bool {
        style == "Title" || self.title_styles.iter().any(|s| s == style)
    }
}

#[derive(Default)]
struct StyleDef {
    name: String,
    based_on: Option<String>,
    outline: Option<u8>,
}

fn parse_styles(xml: &str) -> Result<Styles, ExtractError> {
    let mut defs: HashMap<String, StyleDef> = HashMap::new();
    let mut current: Option<(String, StyleDef)> = None;
    let mut in_ppr = false;
    walk(xml, "styles.xml", |event| {
        match event {
            XmlEvent::Open(e) => match local(e).as_str() {
                "style" => {
                    let is_paragraph = attr(e, "type").is_none_or(|t| t == "paragraph");
                    current = match (is_paragraph, attr(e, "styleId")) {
                        (true, Some(id)) => Some((id, StyleDef::default())),
                        _ => None,
                    };
                }
                "name" => {
                    if let Some((_, def)) = current.as_mut() {
                        def.name = attr(e, "val").unwrap_or_default().to_lowercase();
                    }
                }
                "basedOn" => {
                    if let Some((_, def)) = current.as_mut() {
                        def.based_on = attr(e, "val");
                    }
                }
                "pPr" => in_ppr = true,
                "outlineLvl" if in_ppr => {
                    if let Some((_, def)) = current.as_mut() {
                        def.outline = attr(e, "val").and_then(|v| v.parse().ok());
                    }
                }
                _ => {}
            },
            XmlEvent::Close("pPr") => in_ppr = false,
            XmlEvent::Close("style") => {
                if let Some((id, def)) = current.take() {
                    defs.insert(id, def);
                }
            }
            _ => {}
        }
        Ok(())
    })?;

    let mut styles = Styles::default();
    for id in defs.keys() {
        // Follow basedOn a few steps: "My Heading" based on "heading 2".
        let mut cursor = Some(id.as_str());
        for _ in 0..10 {
            let Some(def) = cursor.and_then(|c| defs.get(c)) else {
                break;
            };
            if def.name == "title" {
                styles.title_styles.push(id.clone());
                break;
            }
            let by_name = def
                .name
                .strip_prefix("heading ")
                .and_then(|n| n.trim().parse::<u8>().ok());
            // Outline level 9 means "body text" in Word.
            let by_outline = def.outline.filter(|l| *l < 9).map(|l| l + 1);
            if let Some(level) = by_outline.or(by_name).filter(|l| (1..=9).contains(l)) {
                styles.heading_level.insert(id.clone(), level);
                break;
            }
            cursor = def.based_on.as_deref();
        }
    }
    Ok(styles)
}

#[derive(Default)]
struct Paragraph {
    text: String,
    style: Option<String>,
    outline: Option<u8>,
}

#[derive(Default)]
struct Table {
    row: Vec<String>,
    cell: Option<String>,
}

/// Streaming state for `word/document.xml`.
#[derive(Default)]
struct DocxWalker {
    depth: usize,
    /// While inside an element whose text is a duplicate or not content
    /// (`mc:Fallback` repeats `mc:Choice`), the depth at which it opened.
    skip_from: Option<usize>,
    paragraphs: Vec<Paragraph>,
    tables: Vec<Table>,
    in_text: bool,
    in_ppr: bool,
}

impl DocxWalker {
    fn event(
        &mut self,
        event: XmlEvent<'_>,
        styles: &Styles,
        builder: &mut BlockBuilder,
        title: &mut Option<String>,
    ) -> Result<(), ExtractError> {
        match event {
            XmlEvent::Open(e) => {
                self.depth += 1;
                if self.skip_from.is_some() {
                    return Ok(());
                }
                match local(e).as_str() {
                    "Fallback" => self.skip_from = Some(self.depth),
                    "p" => self.paragraphs.push(Paragraph::default()),
                    "pPr" => self.in_ppr = true,
                    "pStyle" if self.in_ppr => {
                        if let Some(p) = self.paragraphs.last_mut() {
                            p.style = attr(e, "val");
                        }
                    }
                    "outlineLvl" if self.in_ppr => {
                        if let Some(p) = self.paragraphs.last_mut() {
                            p.outline = attr(e, "val").and_then(|v| v.parse().ok());
                        }
                    }
                    "t" => self.in_text = true,
                    "tab" if !self.in_ppr => self.push_text("\t"),
                    "br" | "cr" => self.push_text("\n"),
                    "noBreakHyphen" => self.push_text("-"),
                    "tbl" => self.tables.push(Table::default()),
                    "tc" => {
                        if let Some(t) = self.tables.last_mut() {
                            t.cell = Some(String::new());
                        }
                    }
                    _ => {}
                }
            }
            XmlEvent::Close(name) => {
                let depth = self.depth;
                self.depth = self.depth.saturating_sub(1);
                if let Some(from) = self.skip_from {
                    if depth == from {
                        self.skip_from = None;
                    }
                    return Ok(());
                }
                match name {
                    "t" => self.in_text = false,
                    "pPr" => self.in_ppr = false,
                    "p" => {
                        if let Some(p) = self.paragraphs.pop() {
                            self.end_paragraph(p, styles, builder, title)?;
                        }
                    }
                    "tc" => {
                        if let Some(t) = self.tables.last_mut()
                            && let Some(cell) = t.cell.take()
                        {
                            t.row
                                .push(cell.split_whitespace().collect::<Vec<_>>().join(" "));
                        }
                    }
                    "tr" => {
                        let row = self
                            .tables
                            .last_mut()
                            .map(|t| join_cells(&std::mem::take(&mut t.row)))
                            .unwrap_or_default();
                        self.emit_row(&row, builder)?;
                    }
                    "tbl" => {
                        self.tables.pop();
                    }
                    _ => {}
                }
            }
            XmlEvent::Text(t) => {
                if self.in_text && self.skip_from.is_none() {
                    self.push_text(t);
                }
            }
        }
        Ok(())
    }

    fn push_text(&mut self, text: &str) {
        if let Some(p) = self.paragraphs.last_mut() {
            p.text.push_str(text);
        }
    }

    fn end_paragraph(
        &mut self,
        p: Paragraph,
        styles: &Styles,
        builder: &mut BlockBuilder,
        title: &mut Option<String>,
    ) -> Result<(), ExtractError> {
        // Text inside a table cell belongs to the cell, not the body.
        if let Some(cell) = self.tables.last_mut().and_then(|t| t.cell.as_mut()) {
            push_to_cell(cell, &p.text);
            return Ok(());
        }
        // A paragraph inside a text box closes before the paragraph that
        // holds the box; its text stands on its own.
        let style = p.style.as_deref().unwrap_or("");
        if styles.is_title(style) {
            if title.is_none() && !p.text.trim().is_empty() {
                *title = Some(p.text.trim().to_string());
            }
            return builder.heading(1, &p.text);
        }
        let level = p
            .outline
            .filter(|l| *l < 9)
            .map(|l| l + 1)
            .or_else(|| styles.level(style));
        match level {
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

/// Joins table cells with " | ", dropping trailing empty cells; an all-empty
/// row becomes "".
pub(crate) fn join_cells(cells: &[String]) -> String {
    let last = cells.iter().rposition(|c| !c.trim().is_empty());
    match last {
        Some(last) => cells[..=last]
            .iter()
            .map(|c| c.trim())
            .collect::<Vec<_>>()
            .join(" | "),
        None => String::new(),
    }
}

// ---------------------------------------------------------------- PPTX --

/// Slide parts in presentation order.
fn slide_parts(package: &mut Package<'_>, main_part: &str) -> Result<Vec<String>, ExtractError> {
    let mut order: Vec<String> = Vec::new();
    if let Some(xml) = package.read_xml(main_part)? {
        walk(&xml, main_part, |event| {
            if let XmlEvent::Open(e) = event
                && local(e) == "sldId"
                && let Some(id) = relationship_id(e)
            {
                order.push(id);
            }
            Ok(())
        })?;
    }
    let rels_name = rels_part(main_part);
    let rels = match package.read_xml(&rels_name)? {
        Some(xml) => parse_rels(&xml, &rels_name)?,
        None => Vec::new(),
    };
    let mut slides = Vec::new();
    for id in &order {
        if let Some(rel) = rels
            .iter()
            .find(|r| &r.id == id && r.kind.ends_with("/slide"))
            && let Some(part) = resolve_target(main_part, &rel.target)
            && !slides.contains(&part)
        {
            slides.push(part);
        }
    }
    if slides.is_empty() {
        // No usable order: fall back on the slide file numbers.
        let mut numbered: Vec<(u32, String)> = package
            .names()
            .into_iter()
            .filter_map(|name| {
                let n = name
                    .strip_prefix("ppt/slides/slide")?
                    .strip_suffix(".xml")?
                    .parse()
                    .ok()?;
                Some((n, name))
            })
            .collect();
        numbered.sort();
        slides = numbered.into_iter().map(|(_, name)| name).collect();
    }
    Ok(slides)
}

/// The `r:id` attribute. `p:sldId` also has a plain `id` (a number), so
/// the local name alone is not enough: the relationship id is the prefixed
/// one.
fn relationship_id(e: &quick_xml::events::BytesStart<'_>) -> Option<String> {
    e.attributes().flatten().find_map(|a| {
        let key = a.key;
        if key.local_name().as_ref() == "id" && key.prefix().is_some() {
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .ok()
                .map(|v| v.into_owned())
        } else {
            None
        }
    })
}

fn notes_part(package: &mut Package<'_>, slide_part: &str) -> Result<Option<String>, ExtractError> {
    let rels_name = rels_part(slide_part);
    let Some(xml) = package.read_xml(&rels_name)? else {
        return Ok(None);
    };
    let rels = parse_rels(&xml, &rels_name)?;
    Ok(rels
        .iter()
        .find(|r| r.kind.ends_with("/notesSlide"))
        .and_then(|r| resolve_target(slide_part, &r.target)))
}

enum Item {
    Paragraph(String),
    Row(String),
}

impl Item {
    fn emit(&self, builder: &mut BlockBuilder) -> Result<(), ExtractError> {
        match self {
            Item::Paragraph(text) => builder.paragraph(text),
            Item::Row(text) => builder.row(text),
        }
    }
}

struct Slide {
    title: Option<String>,
    items: Vec<Item>,
}

#[derive(Default)]
struct Shape {
    /// Title placeholder: its text is the slide's heading.
    title: bool,
    /// Slide number, date, header and footer placeholders repeat on every
    /// slide and carry no content.
    boilerplate: bool,
    items: Vec<Item>,
}

/// Parses a slide or notes slide into its title and text items.
fn parse_slide(xml: &str, part: &str) -> Result<Slide, ExtractError> {
    let mut shapes: Vec<Shape> = vec![Shape::default()];
    let mut title: Option<String> = None;
    let mut paragraph: Option<String> = None;
    let mut tables: Vec<Table> = Vec::new();
    let mut in_text = false;
    let mut depth = 0usize;
    let mut skip_from: Option<usize> = None;
    walk(xml, part, |event| {
        match event {
            XmlEvent::Open(e) => {
                depth += 1;
                if skip_from.is_some() {
                    return Ok(());
                }
                match local(e).as_str() {
                    "Fallback" => skip_from = Some(depth),
                    "sp" | "graphicFrame" => shapes.push(Shape::default()),
                    "ph" => {
                        let kind = attr(e, "type").unwrap_or_default();
                        if let Some(shape) = shapes.last_mut() {
                            shape.title |= matches!(kind.as_str(), "title" | "ctrTitle");
                            shape.boilerplate |=
                                matches!(kind.as_str(), "sldNum" | "dt" | "ftr" | "hdr" | "sldImg");
                        }
                    }
                    "p" => paragraph = Some(String::new()),
                    "t" => in_text = true,
                    "br" => {
                        if let Some(p) = paragraph.as_mut() {
                            p.push('\n');
                        }
                    }
                    "tbl" => tables.push(Table::default()),
                    "tc" => {
                        if let Some(t) = tables.last_mut() {
                            t.cell = Some(String::new());
                        }
                    }
                    _ => {}
                }
            }
            XmlEvent::Close(name) => {
                let closing = depth;
                depth = depth.saturating_sub(1);
                if let Some(from) = skip_from {
                    if closing == from {
                        skip_from = None;
                    }
                    return Ok(());
                }
                match name {
                    "t" => in_text = false,
                    "p" => {
                        let text = paragraph.take().unwrap_or_default();
                        if let Some(cell) = tables.last_mut().and_then(|t| t.cell.as_mut()) {
                            if !cell.is_empty() {
                                cell.push(' ');
                            }
                            cell.push_str(text.trim());
                        } else if let Some(shape) = shapes.last_mut() {
                            shape.items.push(Item::Paragraph(text));
                        }
                    }
                    "tc" => {
                        if let Some(t) = tables.last_mut()
                            && let Some(cell) = t.cell.take()
                        {
                            t.row.push(cell);
                        }
                    }
                    "tr" => {
                        if let Some(t) = tables.last_mut() {
                            let row = join_cells(&std::mem::take(&mut t.row));
                            if let Some(shape) = shapes.last_mut() {
                                shape.items.push(Item::Row(row));
                            }
                        }
                    }
                    "tbl" => {
                        tables.pop();
                    }
                    "sp" | "graphicFrame" if shapes.len() > 1 => {
                        if let Some(shape) = shapes.pop() {
                            finish_shape(shape, &mut title, &mut shapes);
                        }
                    }
                    _ => {}
                }
            }
            XmlEvent::Text(t) => {
                if in_text && let Some(p) = paragraph.as_mut() {
                    p.push_str(t);
                }
            }
        }
        Ok(())
    })?;
    let mut items = Vec::new();
    for shape in shapes {
        items.extend(shape.items);
    }
    Ok(Slide { title, items })
}

fn finish_shape(shape: Shape, title: &mut Option<String>, shapes: &mut [Shape]) {
    if shape.boilerplate {
        return;
    }
    if shape.title && title.is_none() {
        let text: Vec<String> = shape
            .items
            .iter()
            .map(|item| match item {
                Item::Paragraph(t) | Item::Row(t) => t.trim().to_string(),
            })
            .filter(|t| !t.is_empty())
            .collect();
        if !text.is_empty() {
            *title = Some(text.join(" "));
            return;
        }
    }
    // Shapes inside a group report to the group; the outermost pseudo-shape
    // collects everything in document order.
    if let Some(parent) = shapes.last_mut() {
        parent.items.extend(shape.items);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localised_heading_styles_are_found_by_name_and_outline() {
        let xml = r#"<w:styles xmlns:w="w">
          <w:style w:type="paragraph" w:styleId="berschrift1"><w:name w:val="heading 1"/></w:style>
          <w:style w:type="paragraph" w:styleId="Custom"><w:name w:val="Custom"/><w:basedOn w:val="berschrift1"/></w:style>
          <w:style w:type="paragraph" w:styleId="Out"><w:name w:val="x"/><w:pPr><w:outlineLvl w:val="2"/></w:pPr></w:style>
          <w:style w:type="paragraph" w:styleId="Titel"><w:name w:val="Title"/></w:style>
        </w:styles>"#;
        let styles = parse_styles(xml).unwrap();
        assert_eq!(styles.level("berschrift1"), Some(1));
        assert_eq!(styles.level("Custom"), Some(1));
        assert_eq!(styles.level("Out"), Some(3));
        assert!(styles.is_title("Titel"));
        assert_eq!(styles.level("Heading4"), Some(4));
        assert_eq!(styles.level("Normal"), None);
    }

    #[test]
    fn cells_join() {
        let cells = [
            "a".to_string(),
            " ".to_string(),
            "b".to_string(),
            String::new(),
        ];
        assert_eq!(join_cells(&cells), "a |  | b");
    }
}
