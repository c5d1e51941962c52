//! Pictures of text (PNG, JPEG, TIFF: phone photos of a letter, copier and
//! fax scans) read by OCR.
//!
//! The size is read from the header before anything decodes the picture: a
//! few kilobytes of PNG can declare 300 megapixels, and a decoder allocates
//! for what the header says. Pictures over the OCR pixel budget (see `ocr`)
//! are refused with a reason that gives their size. A multi-page TIFF is
//! counted page by page and read with page numbers; a single picture has no
//! page number.

use std::time::Instant;

use super::blocks::BlockBuilder;
use super::ocr::{self, Ocr};
use super::{ExtractError, Extracted, Format, Limits};

/// More TIFF pages than this is not a scan anyone uploads to be read.
const MAX_TIFF_PAGES: usize = 1000;

/// Width and height of each page (one for PNG and JPEG).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Size {
    pages: Vec<(u32, u32)>,
}

impl Size {
    fn pixels(&self) -> u64 {
        self.pages
            .iter()
            .map(|(w, h)| u64::from(*w) * u64::from(*h))
            .max()
            .unwrap_or(0)
    }
}

pub(crate) fn extract(
    format: Format,
    bytes: &[u8],
    limits: &Limits,
) -> Result<Extracted, ExtractError> {
    let deadline = Instant::now() + limits.time;
    let size = size(format, bytes)?;
    let max = ocr::max_pixels(limits);
    if size.pixels() > max {
        let (w, h) = size
            .pages
            .iter()
            .copied()
            .max_by_key(|(w, h)| u64::from(*w) * u64::from(*h))
            .unwrap_or_default();
        return Err(ExtractError::TooLarge(format!(
            "a picture of {w} × {h} pixels; OCR reads pictures of up to {} megapixels: \
             scan at 300 dpi or scale it down",
            max / 1_000_000
        )));
    }
    let subject = format!("picture ({}) that only OCR can read", format.label());
    let ocr = Ocr::find(&limits.language, deadline)?.ok_or_else(|| ocr::not_installed(&subject))?;
    let text = ocr.read(bytes, None, deadline, limits.max_text_bytes)?;

    let multi_page = size.pages.len() > 1;
    let mut builder = BlockBuilder::new(limits);
    let mut ocr_pages = 0;
    // Tesseract ends every page with a form feed.
    for (index, page) in text.split('\x0c').enumerate() {
        if !page.trim().is_empty() {
            ocr_pages += 1;
        }
        if multi_page {
            builder.set_page(Some(u32::try_from(index + 1).unwrap_or(u32::MAX)));
        }
        for paragraph in super::text::paragraphs(page) {
            builder.paragraph(&super::pdf::unwrap_lines(&paragraph))?;
        }
    }
    let blocks = builder.finish();
    if blocks.is_empty() {
        return Err(ocr::found_nothing(&subject));
    }
    let pages = u32::try_from(size.pages.len()).unwrap_or(u32::MAX);
    Ok(Extracted {
        format,
        title: None,
        pages: multi_page.then_some(pages),
        blocks,
        warnings: ocr.warnings,
        ocr_pages,
    })
}

/// The size of every page, from the header alone.
pub(crate) fn size(format: Format, bytes: &[u8]) -> Result<Size, ExtractError> {
    let pages = match format {
        Format::Png => png_size(bytes).map(|s| vec![s]),
        Format::Jpeg => jpeg_size(bytes).map(|s| vec![s]),
        Format::Tiff => tiff_sizes(bytes)?,
        _ => None,
    };
    match pages {
        Some(pages) if !pages.is_empty() && pages.iter().all(|(w, h)| *w > 0 && *h > 0) => {
            Ok(Size { pages })
        }
        _ => Err(ExtractError::Corrupt(format!(
            "the {} has no readable size",
            format.label()
        ))),
    }
}

/// PNG: the IHDR chunk comes first, right after the signature.
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.get(12..16)? != b"IHDR" {
        return None;
    }
    Some((be32(bytes, 16)?, be32(bytes, 20)?))
}

/// JPEG: walks the segments to the first start-of-frame marker.
fn jpeg_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let mut at = 2;
    loop {
        // Markers may be padded with any number of 0xFF fill bytes.
        while *bytes.get(at)? == 0xFF && *bytes.get(at + 1)? == 0xFF {
            at += 1;
        }
        if *bytes.get(at)? != 0xFF {
            return None;
        }
        let marker = *bytes.get(at + 1)?;
        at += 2;
        match marker {
            // Standalone markers have no length.
            0x01 | 0xD0..=0xD7 => continue,
            0xD8..=0xDA => return None,
            // SOF0-SOF15 except DHT (C4), JPG (C8) and DAC (CC).
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                let height = u32::from(be16(bytes, at + 3)?);
                let width = u32::from(be16(bytes, at + 5)?);
                return Some((width, height));
            }
            _ => {
                let length = usize::from(be16(bytes, at)?);
                if length < 2 {
                    return None;
                }
                at += length;
            }
        }
    }
}

/// TIFF: follows the chain of image file directories, one per page, and
/// reads ImageWidth (256) and ImageLength (257) from each.
fn tiff_sizes(bytes: &[u8]) -> Result<Option<Vec<(u32, u32)>>, ExtractError> {
    let little = match bytes.get(..4) {
        Some(b"II*\0") => true,
        Some(b"MM\0*") => false,
        _ => return Ok(None),
    };
    let u16_at = |at: usize| {
        let b = bytes.get(at..at + 2)?;
        Some(if little {
            u16::from_le_bytes([b[0], b[1]])
        } else {
            u16::from_be_bytes([b[0], b[1]])
        })
    };
    let u32_at = |at: usize| {
        let b = bytes.get(at..at + 4)?;
        let b = [b[0], b[1], b[2], b[3]];
        Some(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let mut pages = Vec::new();
    let mut offset = u32_at(4).map_or(0, |o| o as usize);
    // Offsets must move forward, or a directory pointing back at an earlier
    // one would make the chain endless.
    let mut previous = 0;
    while offset != 0 {
        if offset <= previous {
            return Ok(None);
        }
        if pages.len() >= MAX_TIFF_PAGES {
            return Err(ExtractError::TooLarge(format!(
                "a TIFF of more than {MAX_TIFF_PAGES} pages"
            )));
        }
        let Some(count) = u16_at(offset) else {
            return Ok(None);
        };
        let (mut width, mut height) = (0, 0);
        for entry in 0..usize::from(count) {
            let at = offset + 2 + entry * 12;
            let (Some(tag), Some(kind)) = (u16_at(at), u16_at(at + 2)) else {
                return Ok(None);
            };
            // SHORT (3) values sit in the first two bytes of the value field.
            let value = match kind {
                3 => u16_at(at + 8).map(u32::from),
                4 => u32_at(at + 8),
                _ => None,
            };
            match (tag, value) {
                (256, Some(v)) => width = v,
                (257, Some(v)) => height = v,
                _ => {}
            }
        }
        pages.push((width, height));
        previous = offset;
        offset = u32_at(offset + 2 + usize::from(count) * 12).map_or(0, |o| o as usize);
    }
    Ok(Some(pages))
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at + 2)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(format: Format, bytes: &[u8], expected: Option<&[(u32, u32)]>) {
        let got = size(format, bytes).ok().map(|s| s.pages);
        assert_eq!(got.as_deref(), expected, "{format:?} {bytes:02x?}");
    }

    #[test]
    fn sizes_come_from_headers() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend(20000u32.to_be_bytes());
        png.extend(15000u32.to_be_bytes());
        check(Format::Png, &png, Some(&[(20000, 15000)]));
        check(Format::Png, &png[..20], None);

        // SOI, an APP0 segment of 4 bytes, fill bytes, SOF2 (progressive).
        let jpeg = b"\xff\xd8\xff\xe0\0\x04ab\xff\xff\xc2\0\x11\x08\x01\x2c\x02\x58";
        check(Format::Jpeg, jpeg, Some(&[(600, 300)]));
        check(Format::Jpeg, &jpeg[..12], None);
        // A DHT segment (C4) is not a frame.
        check(Format::Jpeg, b"\xff\xd8\xff\xc4\0\x02\xff\xd9", None);

        // Little-endian TIFF, two pages: SHORT width/LONG height, then LONG
        // width/SHORT height.
        let mut tiff = b"II*\0\x08\0\0\0".to_vec();
        let ifd = |w: (u16, u32), h: (u16, u32), next: u32| {
            let mut d = 2u16.to_le_bytes().to_vec();
            for (tag, (kind, value)) in [(256u16, w), (257u16, h)] {
                d.extend(tag.to_le_bytes());
                d.extend(kind.to_le_bytes());
                d.extend(1u32.to_le_bytes());
                d.extend(value.to_le_bytes());
            }
            d.extend(next.to_le_bytes());
            d
        };
        tiff.extend(ifd((3, 1700), (4, 2200), 8 + 30));
        tiff.extend(ifd((4, 800), (3, 600), 0));
        check(Format::Tiff, &tiff, Some(&[(1700, 2200), (800, 600)]));
        // A directory chain that loops back is refused, not followed.
        let mut looping = tiff.clone();
        looping[8 + 30 + 26..8 + 60].copy_from_slice(&8u32.to_le_bytes());
        check(Format::Tiff, &looping, None);
    }
}
