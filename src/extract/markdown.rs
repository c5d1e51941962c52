//! Markdown: parsed with pulldown-cmark (already in Hearth for rendering
//! chat replies), so that `#` inside code blocks is not a heading and setext
//! headings (underlined with `===`) are. The first level-1 heading, or a
//! `title:` in YAML front matter, is the title. Inline HTML is dropped.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use super::blocks::BlockBuilder;
use super::ooxml::join_cells;
use super::{ExtractError, Extracted, Format, Limits};

pub(crate) fn extract(markdown: &str, limits: &Limits) -> Result<Extracted, ExtractError> {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_YAML_STYLE_METADATA_BLOCKS;
    let mut builder = BlockBuilder::new(limits);
    let mut title: Option<String> = None;
    let mut front_matter_title: Option<String> = None;
    let mut buffer = String::new();
    let mut heading: Option<u8> = None;
    let mut in_metadata = false;
    let mut row: Vec<String> = Vec::new();
    let mut in_cell = false;

    for event in Parser::new_ext(markdown, options) {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                builder.paragraph(&std::mem::take(&mut buffer))?;
                heading = Some(level as u8);
            }
            Event::End(TagEnd::Heading(_)) => {
                let text = std::mem::take(&mut buffer);
                let level = heading.take().unwrap_or(1);
                if level == 1 && title.is_none() {
                    title = Some(text.trim().to_string());
                }
                builder.heading(level, &text)?;
            }
            Event::Start(Tag::MetadataBlock(_)) => in_metadata = true,
            Event::End(TagEnd::MetadataBlock(_)) => in_metadata = false,
            Event::Start(Tag::TableCell) => in_cell = true,
            Event::End(TagEnd::TableCell) => {
                in_cell = false;
                row.push(std::mem::take(&mut buffer).trim().to_string());
            }
            Event::End(TagEnd::TableHead | TagEnd::TableRow) => {
                builder.row(&join_cells(&std::mem::take(&mut row)))?;
            }
            Event::Start(
                Tag::Paragraph
                | Tag::Item
                | Tag::CodeBlock(_)
                | Tag::BlockQuote(_)
                | Tag::List(_)
                | Tag::Table(_)
                | Tag::FootnoteDefinition(_)
                | Tag::DefinitionListTitle
                | Tag::DefinitionListDefinition,
            )
            | Event::End(
                TagEnd::Paragraph
                | TagEnd::Item
                | TagEnd::CodeBlock
                | TagEnd::BlockQuote(_)
                | TagEnd::List(_)
                | TagEnd::FootnoteDefinition
                | TagEnd::DefinitionListTitle
                | TagEnd::DefinitionListDefinition,
            )
            | Event::Rule
                if !in_cell =>
            {
                builder.paragraph(&std::mem::take(&mut buffer))?;
            }
            Event::Text(text) if in_metadata && front_matter_title.is_none() => {
                front_matter_title = text.lines().find_map(|line| {
                    let value = line.strip_prefix("title:")?.trim();
                    let value = value.trim_matches(|c| c == '"' || c == '\'');
                    (!value.is_empty()).then(|| value.to_string())
                });
            }
            // The rest of the front matter is metadata, not text.
            Event::Text(_) if in_metadata => {}
            Event::Text(text)
            | Event::Code(text)
            | Event::InlineMath(text)
            | Event::DisplayMath(text) => buffer.push_str(&text),
            Event::SoftBreak => buffer.push(' '),
            Event::HardBreak => buffer.push('\n'),
            _ => {}
        }
    }
    builder.paragraph(&buffer)?;
    Ok(Extracted {
        format: Format::Markdown,
        title: front_matter_title.or(title),
        pages: None,
        blocks: builder.finish(),
        warnings: Vec::new(),
        ocr_pages: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_code_and_tables() {
        let md = "# Handbook\n\nIntro.\n\n## Leave\n\n```\n# not a heading\n```\n\n\
                  | a | b |\n|---|---|\n| 1 | 2 |\n";
        let out = extract(md, &Limits::default()).unwrap();
        assert_eq!(out.title.as_deref(), Some("Handbook"));
        assert_eq!(out.blocks[0].text, "Intro.");
        assert_eq!(out.blocks[1].heading.as_deref(), Some("Handbook › Leave"));
        assert_eq!(out.blocks[1].text, "# not a heading\n\na | b\n1 | 2");
    }
}
