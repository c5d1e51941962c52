//! Plain text and CSV, and the text decoding every text format shares.
//!
//! Decoding: a byte-order mark decides (UTF-8, UTF-16 LE/BE); otherwise
//! valid UTF-8 is UTF-8, a file with a NUL in every other byte is BOM-less
//! UTF-16, and anything else is read as Windows-1252, the superset of
//! Latin-1 that old Windows tools actually wrote. Data with many control
//! characters is binary, not text.

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252};

use super::blocks::BlockBuilder;
use super::{ExtractError, Extracted, Format, Limits};

/// Decodes a whole text file.
pub(crate) fn decode(bytes: &[u8]) -> Result<String, ExtractError> {
    let encoding = guess_encoding(bytes, false)
        .ok_or_else(|| ExtractError::Unsupported("binary data of an unknown kind".to_string()))?;
    // `decode` strips a matching BOM and replaces malformed sequences.
    let (text, _, _) = encoding.decode(bytes);
    Ok(text.into_owned())
}

/// Decodes the first part of a file for sniffing; `None` if it is binary.
/// The cut may fall inside a multi-byte character, which is allowed.
pub(crate) fn decode_head(head: &[u8]) -> Option<String> {
    let encoding = guess_encoding(head, true)?;
    let (text, _, _) = encoding.decode(head);
    Some(text.into_owned())
}

fn guess_encoding(bytes: &[u8], truncated: bool) -> Option<&'static Encoding> {
    let sample = &bytes[..bytes.len().min(64 * 1024)];
    let encoding = if let Some((encoding, _)) = Encoding::for_bom(bytes) {
        encoding
    } else if let Some(utf16) = bomless_utf16(sample) {
        utf16
    } else {
        let valid_utf8 = match std::str::from_utf8(bytes) {
            Ok(_) => true,
            // An incomplete character at the very end of a truncated head.
            Err(e) => truncated && e.error_len().is_none(),
        };
        if valid_utf8 { UTF_8 } else { WINDOWS_1252 }
    };
    // Judge by the decoded characters, so that binary data that happens to
    // look like UTF-16 is still caught.
    let (decoded, _, _) = encoding.decode(sample);
    (!looks_binary(&decoded)).then_some(encoding)
}

/// UTF-16 without a BOM: mostly-ASCII text has a NUL in every other byte.
fn bomless_utf16(sample: &[u8]) -> Option<&'static Encoding> {
    if sample.len() < 8 {
        return None;
    }
    let pairs = sample.len() / 2;
    let even_zero = sample.iter().step_by(2).filter(|b| **b == 0).count();
    let odd_zero = sample
        .iter()
        .skip(1)
        .step_by(2)
        .filter(|b| **b == 0)
        .count();
    if odd_zero * 10 >= pairs * 7 && even_zero * 10 <= pairs {
        Some(UTF_16LE)
    } else if even_zero * 10 >= pairs * 7 && odd_zero * 10 <= pairs {
        Some(UTF_16BE)
    } else {
        None
    }
}

/// More than 1 in 100 characters being NUL or another control character
/// that text never contains.
fn looks_binary(sample: &str) -> bool {
    let mut total = 0usize;
    let mut control = 0usize;
    for ch in sample.chars() {
        total += 1;
        if matches!(ch, '\0'..='\x08' | '\x0e'..='\x1a' | '\x1c'..='\x1f' | '\x7f') {
            control += 1;
        }
    }
    control * 100 > total
}

/// Plain text: paragraphs are separated by blank lines; a form feed starts a
/// new page.
pub(crate) fn extract_plain(text: &str, limits: &Limits) -> Result<Extracted, ExtractError> {
    let mut builder = BlockBuilder::new(limits);
    let pages: Vec<&str> = text.split('\x0c').collect();
    let paged = pages.len() > 1;
    for (index, page) in pages.iter().enumerate() {
        if paged {
            builder.set_page(Some(u32::try_from(index + 1).unwrap_or(u32::MAX)));
        }
        for paragraph in paragraphs(page) {
            builder.paragraph(&paragraph)?;
        }
    }
    Ok(Extracted {
        format: Format::Text,
        title: None,
        pages: None,
        blocks: builder.finish(),
        warnings: Vec::new(),
        ocr_pages: 0,
    })
}

/// Splits on blank lines, keeping the line breaks inside a paragraph.
pub(crate) fn paragraphs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
        } else {
            if !current.is_empty() {
                current.push('\n');
            }
            current.push_str(line);
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The delimiter that splits every sample line into the same number (> 0)
/// of extra fields, trying the common ones in order.
pub(crate) fn sniff_delimiter(lines: &[&str]) -> Option<u8> {
    if lines.is_empty() {
        return None;
    }
    [b',', b';', b'\t', b'|'].into_iter().find(|&delimiter| {
        let counts: Vec<usize> = lines
            .iter()
            .map(|line| count_outside_quotes(line, delimiter))
            .collect();
        counts[0] > 0 && counts.iter().all(|c| *c == counts[0])
    })
}

fn count_outside_quotes(line: &str, delimiter: u8) -> usize {
    let mut quoted = false;
    let mut count = 0;
    for b in line.bytes() {
        if b == b'"' {
            quoted = !quoted;
        } else if b == delimiter && !quoted {
            count += 1;
        }
    }
    count
}

/// CSV: each record becomes a row "a | b | c". The delimiter is sniffed
/// from the first lines (comma, semicolon as European Excel writes, tab,
/// pipe); ragged rows are kept.
pub(crate) fn extract_csv(text: &str, limits: &Limits) -> Result<Extracted, ExtractError> {
    let sample: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(20)
        .collect();
    let delimiter = sniff_delimiter(&sample)
        .or_else(|| sniff_delimiter(&sample[..sample.len().saturating_sub(1)]))
        .unwrap_or(b',');
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut builder = BlockBuilder::new(limits);
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {
                let cells: Vec<String> = record.iter().map(str::to_string).collect();
                builder.row(&super::ooxml::join_cells(&cells))?;
            }
            Ok(false) => break,
            // A malformed record (a stray quote) loses that record only.
            Err(_) => continue,
        }
    }
    Ok(Extracted {
        format: Format::Csv,
        title: None,
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
    fn encodings() {
        assert_eq!(decode("héllo".as_bytes()).unwrap(), "héllo");
        assert_eq!(decode(b"h\xe9llo").unwrap(), "héllo");
        let mut utf16 = vec![0xFF, 0xFE];
        for unit in "héllo wörld".encode_utf16() {
            utf16.extend(unit.to_le_bytes());
        }
        assert_eq!(decode(&utf16).unwrap(), "héllo wörld");
        let bomless: Vec<u8> = "plain ascii text here"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        assert_eq!(decode(&bomless).unwrap(), "plain ascii text here");
        assert_eq!(
            decode(b"\0\x01\x02\x03abc").unwrap_err().code(),
            "unsupported"
        );
    }

    #[test]
    fn csv_rows_and_delimiters() {
        let out = extract_csv("a;b;c\n1;\"x;y\";3\n", &Limits::default()).unwrap();
        assert_eq!(out.blocks[0].text, "a | b | c\n1 | x;y | 3");
    }
}
