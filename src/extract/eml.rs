//! Email messages (EML, RFC 5322 with MIME): a header block, the body, and
//! every attachment Hearth can read, extracted recursively with the heading
//! "Attachment: name".
//!
//! Attachments are detected by content like uploads, and read from memory:
//! no file is written and no path is built from the attachment's name.
//! Images are skipped silently and not read by OCR: in mail they are
//! signatures and logos far more often than scans, and OCR would spend
//! seconds on each for noise. A scanned PDF attachment is read by OCR like
//! an upload. Other attachments that cannot be read become warnings, not failures, since the message itself
//! was readable. Nesting (a message attached to a message) stops at
//! `MAX_NESTING`.

use mail_parser::{Address, MessageParser, MimeHeaders};

use super::blocks::BlockBuilder;
use super::{Block, ExtractError, Extracted, Format, Limits, MAX_NESTING};

pub(crate) fn extract(
    bytes: &[u8],
    limits: &Limits,
    depth: u32,
) -> Result<Extracted, ExtractError> {
    let message = MessageParser::default()
        .parse(bytes)
        .ok_or_else(|| ExtractError::Corrupt("not a readable email message".to_string()))?;
    let subject = message.subject().map(str::to_string);

    let mut builder = BlockBuilder::new(limits);
    let mut header = Vec::new();
    if let Some(from) = message.from() {
        header.push(format!("From: {}", addresses(from)));
    }
    if let Some(to) = message.to() {
        header.push(format!("To: {}", addresses(to)));
    }
    if let Some(cc) = message.cc() {
        header.push(format!("Cc: {}", addresses(cc)));
    }
    if let Some(date) = message.date() {
        header.push(format!("Date: {}", date.to_rfc3339()));
    }
    if let Some(subject) = &subject {
        header.push(format!("Subject: {subject}"));
    }
    builder.row(&header.join("\n"))?;
    builder.flush();

    for part in message.text_bodies() {
        if part.is_text_html() {
            if let Some(html) = part.text_contents() {
                super::html::write_html(html, &mut builder)?;
            }
        } else if let Some(text) = part.text_contents() {
            for paragraph in super::text::paragraphs(text) {
                builder.paragraph(&paragraph)?;
            }
        }
        builder.flush();
    }

    let used = builder.text_bytes();
    let mut blocks = builder.finish();
    let mut warnings = Vec::new();
    let mut text_left = limits.max_text_bytes.saturating_sub(used);
    let mut ocr_pages = 0;

    for (index, part) in message.attachments().enumerate() {
        let name = part
            .attachment_name()
            .map(str::to_string)
            .unwrap_or_else(|| format!("attachment {}", index + 1));
        let is_image = part
            .content_type()
            .is_some_and(|ct| ct.ctype().eq_ignore_ascii_case("image"));
        if depth + 1 > MAX_NESTING {
            warnings.push(format!("attachment {name} skipped: nested too deeply"));
            continue;
        }
        let sub_limits = Limits {
            max_text_bytes: text_left,
            ..limits.clone()
        };
        let result = if let Some(nested) = part.message() {
            extract(nested.raw_message(), &sub_limits, depth + 1)
        } else {
            let bytes = part.contents();
            match super::detect::detect_bytes(bytes, &name) {
                Ok(format) if format.is_image() => continue,
                Ok(format) => super::extract_bytes(format, bytes, &sub_limits, depth + 1),
                Err(e) => Err(e),
            }
        };
        match result {
            Ok(inner) => {
                ocr_pages += inner.ocr_pages;
                let prefix = format!("Attachment: {name}");
                for block in inner.blocks {
                    text_left = text_left.saturating_sub(block.text.len() as u64);
                    blocks.push(Block {
                        heading: Some(match block.heading {
                            Some(h) => format!("{prefix} › {h}"),
                            None => prefix.clone(),
                        }),
                        ..block
                    });
                }
                warnings.extend(
                    inner
                        .warnings
                        .into_iter()
                        .map(|w| format!("attachment {name}: {w}")),
                );
            }
            // Running out of text budget is about the whole message.
            Err(e @ ExtractError::TooLarge(_)) => return Err(e),
            Err(ExtractError::Unsupported(_) | ExtractError::Empty) if is_image => {}
            Err(e) => warnings.push(format!("attachment {name} skipped: {}", e.reason())),
        }
    }

    Ok(Extracted {
        format: Format::Eml,
        title: subject,
        pages: None,
        blocks,
        warnings,
        ocr_pages,
    })
}

/// "Ann Lee <ann@example.com>, bob@example.com"
fn addresses(address: &Address<'_>) -> String {
    address
        .iter()
        .map(|a| match (a.name(), a.address()) {
            (Some(name), Some(addr)) => format!("{name} <{addr}>"),
            (Some(name), None) => name.to_string(),
            (None, Some(addr)) => addr.to_string(),
            (None, None) => String::new(),
        })
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}
