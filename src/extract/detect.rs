//! Deciding what a file is from its bytes.
//!
//! Order: empty, PDF header, ZIP container (then which office format by its
//! parts), OLE compound file (old Office formats and encrypted new ones),
//! the pictures OCR reads (PNG, JPEG, TIFF), other binary signatures (for a helpful "looks like" in the error), and
//! finally text: email headers, HTML, then Markdown, CSV or plain text. The
//! extension is consulted only in that last step, where content alone cannot
//! tell a `.md` from a `.txt` that happens to contain a `#`.

use std::io::{Cursor, Read, Seek, SeekFrom};
use std::path::Path;

use super::{ExtractError, Format};

/// How much of the start of a file the sniffers look at.
const HEAD_BYTES: usize = 64 * 1024;

/// Identifies the format by content; `file_name` (the name the uploader
/// gave) only breaks ties between text formats.
pub fn detect(path: &Path, file_name: &str) -> Result<Format, ExtractError> {
    let file = std::fs::File::open(path)
        .map_err(|e| ExtractError::Internal(format!("cannot open the upload: {e}")))?;
    detect_reader(file, file_name)
}

/// [`detect`] for bytes already in memory (email attachments).
pub(crate) fn detect_bytes(bytes: &[u8], file_name: &str) -> Result<Format, ExtractError> {
    detect_reader(Cursor::new(bytes), file_name)
}

fn detect_reader<R: Read + Seek>(mut reader: R, file_name: &str) -> Result<Format, ExtractError> {
    let mut head = Vec::with_capacity(HEAD_BYTES);
    (&mut reader)
        .take(HEAD_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(|e| ExtractError::Internal(format!("cannot read the upload: {e}")))?;
    if head.iter().all(u8::is_ascii_whitespace) {
        return Err(ExtractError::Empty);
    }
    // The PDF spec lets readers accept junk before the header; Acrobat looks
    // in the first kilobyte, and so do we.
    if find(&head[..head.len().min(1024)], b"%PDF-").is_some() {
        return Ok(Format::Pdf);
    }
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        reader
            .seek(SeekFrom::Start(0))
            .map_err(|e| ExtractError::Internal(e.to_string()))?;
        return detect_zip(reader);
    }
    if head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        reader
            .seek(SeekFrom::Start(0))
            .map_err(|e| ExtractError::Internal(e.to_string()))?;
        return Err(detect_ole(reader));
    }
    if let Some(format) = detect_image(&head) {
        return Ok(format);
    }
    if let Some(kind) = infer::get(&head)
        && kind.matcher_type() != infer::MatcherType::Text
    {
        return Err(ExtractError::Unsupported(describe_binary(&kind)));
    }
    detect_text(&head, file_name)
}

/// PNG, JPEG and TIFF by their signatures. Other pictures (GIF, WebP,
/// HEIC) are refused below as unsupported.
fn detect_image(head: &[u8]) -> Option<Format> {
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(Format::Png)
    } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(Format::Jpeg)
    } else if head.starts_with(b"II*\0") || head.starts_with(b"MM\0*") {
        Some(Format::Tiff)
    } else {
        None
    }
}

/// Which OOXML or ODF format a ZIP container holds, judged by its parts.
fn detect_zip<R: Read + Seek>(reader: R) -> Result<Format, ExtractError> {
    let mut archive = zip::ZipArchive::new(reader)
        .map_err(|e| ExtractError::Corrupt(format!("damaged ZIP container: {e}")))?;
    // ODF puts its media type, uncompressed, in an entry named "mimetype".
    if let Ok(mut entry) = archive.by_name("mimetype") {
        let mut mimetype = String::new();
        let _ = (&mut entry).take(200).read_to_string(&mut mimetype);
        match mimetype.trim() {
            "application/vnd.oasis.opendocument.text"
            | "application/vnd.oasis.opendocument.text-template" => return Ok(Format::Odt),
            "application/vnd.oasis.opendocument.spreadsheet"
            | "application/vnd.oasis.opendocument.spreadsheet-template" => {
                return Ok(Format::Ods);
            }
            "application/vnd.oasis.opendocument.presentation" => {
                return Err(ExtractError::Unsupported(
                    "an OpenDocument presentation (.odp); save it as PDF or PPTX".to_string(),
                ));
            }
            "application/epub+zip" => {
                return Err(ExtractError::Unsupported("an e-book (EPUB)".to_string()));
            }
            _ => {}
        }
    }
    let has = |name: &str| archive.index_for_name(name).is_some();
    if has("word/document.xml") {
        return Ok(Format::Docx);
    }
    if has("xl/workbook.xml") {
        return Ok(Format::Xlsx);
    }
    if has("ppt/presentation.xml") {
        return Ok(Format::Pptx);
    }
    // Packages with unusual part names still declare the main part's
    // content type.
    if let Ok(mut entry) = archive.by_name("[Content_Types].xml") {
        let mut types = String::new();
        let _ = (&mut entry).take(1 << 20).read_to_string(&mut types);
        if types.contains("wordprocessingml.document.main") {
            return Ok(Format::Docx);
        }
        if types.contains("spreadsheetml.sheet.main") || types.contains("ms-excel.sheet") {
            return Ok(Format::Xlsx);
        }
        if types.contains("presentationml.presentation.main")
            || types.contains("presentationml.slideshow.main")
        {
            return Ok(Format::Pptx);
        }
    }
    Err(ExtractError::Unsupported("a ZIP archive".to_string()))
}

/// OLE compound files: old binary Office formats, Outlook messages, and
/// password-protected OOXML (which Office wraps in an OLE container).
fn detect_ole<R: Read + Seek>(reader: R) -> ExtractError {
    let Ok(compound) = cfb::CompoundFile::open(reader) else {
        return ExtractError::Unsupported("an old Microsoft Office file".to_string());
    };
    let names: Vec<String> = compound
        .read_root_storage()
        .map(|entry| entry.name().to_string())
        .collect();
    let has = |name: &str| names.iter().any(|n| n == name);
    if has("EncryptionInfo") || has("EncryptedPackage") {
        return ExtractError::Encrypted("Office document".to_string());
    }
    let what = if has("WordDocument") {
        "an old Word document (.doc); save it as .docx or PDF"
    } else if has("Workbook") || has("Book") {
        "an old Excel workbook (.xls); save it as .xlsx"
    } else if has("PowerPoint Document") {
        "an old PowerPoint file (.ppt); save it as .pptx or PDF"
    } else if names.iter().any(|n| n.starts_with("__substg1.0_")) {
        "an Outlook message (.msg); forward it or save it as .eml"
    } else {
        "an old Microsoft Office file"
    };
    ExtractError::Unsupported(what.to_string())
}

/// "a PNG image", "a GZIP archive", ...
fn describe_binary(kind: &infer::Type) -> String {
    let extension = kind.extension().to_uppercase();
    let noun = match kind.matcher_type() {
        infer::MatcherType::Image => "image",
        infer::MatcherType::Video => "video",
        infer::MatcherType::Audio => "audio file",
        infer::MatcherType::Archive => "archive",
        infer::MatcherType::Font => "font",
        infer::MatcherType::Book => "e-book",
        infer::MatcherType::App => "program",
        _ => "file",
    };
    let article = if extension.starts_with([
        'A', 'E', 'I', 'O', 'U', 'F', 'H', 'L', 'M', 'N', 'R', 'S', 'X',
    ]) {
        "an"
    } else {
        "a"
    };
    format!("{article} {extension} {noun}")
}

/// Text formats: decide by content, then let the extension break ties.
fn detect_text(head: &[u8], file_name: &str) -> Result<Format, ExtractError> {
    let extension = file_name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    // Email first, on the raw bytes: headers are ASCII, but a body sent
    // with `Content-Transfer-Encoding: binary` may look like binary data.
    if looks_like_email(&String::from_utf8_lossy(head), extension == "eml") {
        return Ok(Format::Eml);
    }
    let Some(text) = super::text::decode_head(head) else {
        return Err(ExtractError::Unsupported(
            "binary data of an unknown kind".to_string(),
        ));
    };
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    let lower_start: String = trimmed
        .chars()
        .take(1024)
        .collect::<String>()
        .to_lowercase();

    let strong_html = lower_start.starts_with("<!doctype html")
        || lower_start.starts_with("<html")
        || (lower_start.starts_with("<?xml") && lower_start.contains("<html"))
        || (lower_start.starts_with("<!--") && lower_start.contains("<html"));
    if strong_html {
        return Ok(Format::Html);
    }
    match extension.as_str() {
        "htm" | "html" | "xhtml" if has_tags(&lower_start) => return Ok(Format::Html),
        "md" | "markdown" | "mdown" | "mkd" => return Ok(Format::Markdown),
        "csv" | "tsv" => return Ok(Format::Csv),
        "txt" | "text" | "log" => return Ok(Format::Text),
        _ => {}
    }
    if looks_like_markdown(trimmed) {
        return Ok(Format::Markdown);
    }
    if looks_like_csv(trimmed) {
        return Ok(Format::Csv);
    }
    Ok(Format::Text)
}

/// An RFC 5322 header block: every line up to the first blank one is a
/// header or a continuation, with `From:` and two other tell-tale headers.
/// A file named `.eml` needs only a well-formed block.
fn looks_like_email(text: &str, named_eml: bool) -> bool {
    let mut seen_from = false;
    let mut tell_tales = 0;
    let mut headers = 0;
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if headers == 0 {
                return false;
            }
            continue;
        }
        let Some((name, _)) = line.split_once(':') else {
            // mbox files start with "From sender date".
            if headers == 0 && line.starts_with("From ") {
                continue;
            }
            return false;
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return false;
        }
        headers += 1;
        match name.to_ascii_lowercase().as_str() {
            "from" => seen_from = true,
            "to" | "subject" | "date" | "message-id" | "received" | "mime-version"
            | "return-path" | "delivered-to" => tell_tales += 1,
            _ => {}
        }
        if headers > 500 {
            break;
        }
    }
    if named_eml {
        // A file named .eml needs only a well-formed header block.
        headers > 0
    } else {
        seen_from && tell_tales >= 2
    }
}

fn has_tags(lower: &str) -> bool {
    [
        "<p", "<div", "<br", "<h1", "<h2", "<table", "<body", "<head", "<span", "<a ",
    ]
    .iter()
    .any(|tag| lower.contains(tag))
}

/// ATX headings, fenced code or link syntax near the start.
fn looks_like_markdown(text: &str) -> bool {
    let mut signals = 0;
    for line in text.lines().take(200) {
        let line = line.trim_end();
        let hashes = line.bytes().take_while(|b| *b == b'#').count();
        let heading = (1..=6).contains(&hashes) && line[hashes..].starts_with(' ');
        let fence = line.starts_with("```") || line.starts_with("~~~");
        let link_or_quote =
            line.contains("](") || line.starts_with("- [") || line.starts_with("> ");
        let rule = line.starts_with("---") && line.bytes().all(|b| b == b'-');
        if heading || fence {
            signals += 2;
        } else if link_or_quote || rule {
            signals += 1;
        }
    }
    signals >= 2
}

/// At least three lines with the same, non-zero count of one delimiter.
fn looks_like_csv(text: &str) -> bool {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(20)
        .collect();
    if lines.len() < 3 {
        return false;
    }
    // The last line of a head may be cut short.
    let lines = &lines[..lines.len() - 1];
    super::text::sniff_delimiter(lines).is_some()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(bytes: &[u8], name: &str, expected: Result<Format, &str>) {
        let got = detect_bytes(bytes, name).map_err(|e| e.code());
        assert_eq!(got, expected, "{name}");
    }

    #[test]
    fn text_formats() {
        check(b"# Title\n\nSome text\n", "notes", Ok(Format::Markdown));
        check(b"# not a heading?\n", "notes.txt", Ok(Format::Text));
        check(b"a,b,c\n1,2,3\n4,5,6\n7,8,9\n", "data", Ok(Format::Csv));
        check(b"a,b,c\n1,2,3\n", "data.csv", Ok(Format::Csv));
        check(b"Just a line of text.\n", "x.md", Ok(Format::Markdown));
        check(b"Just a line of text.\n", "x", Ok(Format::Text));
        check(b"<!DOCTYPE html><p>x</p>", "page.txt", Ok(Format::Html));
        check(b"<p>hello</p>", "page.html", Ok(Format::Html));
        check(
            b"From: a@b.c\nTo: d@e.f\nSubject: hi\n\nbody",
            "mail",
            Ok(Format::Eml),
        );
        check(b"Subject: hi\n\nbody", "m.eml", Ok(Format::Eml));
        check(b"Subject: hi\n\nbody", "m.txt", Ok(Format::Text));
        check(
            b"Content-Type: text/plain\n\n\0b\0o\0d\0y",
            "m.eml",
            Ok(Format::Eml),
        );
    }

    #[test]
    fn binaries_and_empties() {
        check(b"", "x.pdf", Err("empty"));
        check(b"  \n\t", "x.txt", Err("empty"));
        check(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "x.pdf", Ok(Format::Png));
        check(b"\xff\xd8\xff\xe0\0\x10JFIF\0", "x", Ok(Format::Jpeg));
        check(b"II*\0\x08\0\0\0", "x", Ok(Format::Tiff));
        check(b"MM\0*\0\0\0\x08", "x", Ok(Format::Tiff));
        check(b"GIF89a\x01\0\x01\0\0\0\0", "x.png", Err("unsupported"));
        check(
            b"junk\0\x01\x02\x03\0\0\xff\xfe",
            "x.pdf",
            Err("unsupported"),
        );
        check(b"%PDF-1.4 truncated", "x", Ok(Format::Pdf));
    }
}
