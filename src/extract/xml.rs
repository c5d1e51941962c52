//! The one XML walker the ZIP-based formats share.
//!
//! quick-xml never expands entities declared in a DOCTYPE (the "billion
//! laughs" attack needs that), so only the five predefined entities and
//! numeric character references are resolved here; anything else is dropped.
//! The walk is a loop, not recursion, but element depth is still capped: no
//! real document nests thousands deep, and the formats keep stacks per open
//! element.

use std::borrow::Cow;

use quick_xml::Reader;
use quick_xml::events::{BytesRef, BytesStart, Event};

use super::ExtractError;

/// Deeper nesting than this is treated as a damaged (or hostile) part.
const MAX_DEPTH: usize = 1_000;

/// What the walker reports. `Empty` elements (`<w:tab/>`) are reported as an
/// `Open` followed by a `Close`.
pub(crate) enum XmlEvent<'e> {
    Open(&'e BytesStart<'e>),
    Close(&'e str),
    Text(&'e str),
}

/// Walks `xml`, calling `visit` for each element and piece of text. `part`
/// names the archive entry in error messages.
pub(crate) fn walk(
    xml: &str,
    part: &str,
    mut visit: impl FnMut(XmlEvent<'_>) -> Result<(), ExtractError>,
) -> Result<(), ExtractError> {
    let mut reader = Reader::from_str(xml);
    let config = reader.config_mut();
    // Office files written by odd tools sometimes close tags loosely; the
    // text is still worth having.
    config.check_end_names = false;
    config.allow_dangling_amp = true;
    let mut depth = 0usize;
    loop {
        let event = reader.read_event().map_err(|e| {
            ExtractError::Corrupt(format!(
                "bad XML in {part} at byte {}: {e}",
                reader.error_position()
            ))
        })?;
        match event {
            Event::Start(start) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(ExtractError::Corrupt(format!(
                        "XML in {part} nests deeper than {MAX_DEPTH} elements"
                    )));
                }
                visit(XmlEvent::Open(&start))?;
            }
            Event::Empty(start) => {
                visit(XmlEvent::Open(&start))?;
                visit(XmlEvent::Close(start.local_name().as_ref()))?;
            }
            Event::End(end) => {
                depth = depth.saturating_sub(1);
                visit(XmlEvent::Close(end.local_name().as_ref()))?;
            }
            Event::Text(text) => visit(XmlEvent::Text(&text.xml10_content()))?,
            Event::CData(data) => visit(XmlEvent::Text(&data.xml10_content()))?,
            Event::GeneralRef(reference) => {
                if let Some(text) = resolve_reference(&reference) {
                    visit(XmlEvent::Text(&text))?;
                }
            }
            Event::Eof => return Ok(()),
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
}

/// The local name of an element (`w:p` → `p`).
pub(crate) fn local(start: &BytesStart<'_>) -> String {
    start.local_name().as_ref().to_string()
}

/// The value of the attribute whose local name is `name`, whatever its
/// prefix (`w:val`, `text:outline-level`).
pub(crate) fn attr(start: &BytesStart<'_>, name: &str) -> Option<String> {
    start.attributes().flatten().find_map(|a| {
        if a.key.local_name().as_ref() == name {
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .ok()
                .map(Cow::into_owned)
        } else {
            None
        }
    })
}

/// Decodes an XML part: UTF-8 (the norm), or UTF-16 with a byte-order mark.
/// Invalid UTF-8 is replaced rather than rejected: a stray byte in one run
/// should not lose the whole document.
pub(crate) fn decode_xml_bytes(bytes: &[u8], part: &str) -> Result<String, ExtractError> {
    let (text, _, _) = match bytes {
        [0xFF, 0xFE, ..] => encoding_rs::UTF_16LE.decode(bytes),
        [0xFE, 0xFF, ..] => encoding_rs::UTF_16BE.decode(bytes),
        _ => encoding_rs::UTF_8.decode(bytes),
    };
    if text.is_empty() && !bytes.is_empty() {
        return Err(ExtractError::Corrupt(format!("{part} is not text")));
    }
    Ok(text.into_owned())
}

fn resolve_reference(reference: &BytesRef<'_>) -> Option<String> {
    if reference.is_char_ref() {
        return reference
            .resolve_char_ref()
            .ok()
            .flatten()
            .map(String::from);
    }
    quick_xml::escape::resolve_predefined_entity(reference.as_ref()).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(xml: &str) -> Result<String, ExtractError> {
        let mut out = String::new();
        walk(xml, "test.xml", |event| {
            if let XmlEvent::Text(t) = event {
                out.push_str(t);
            }
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn entities_are_not_expanded() {
        let bomb = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>
<r>&lol2;&amp;&#x41;&#66;</r>"#;
        assert_eq!(texts(bomb).unwrap().trim(), "&AB");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let xml = "<a>".repeat(MAX_DEPTH + 1);
        assert_eq!(texts(&xml).unwrap_err().code(), "corrupt");
    }
}
