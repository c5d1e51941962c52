//! PDF through Debian's `pdftotext` and `pdfinfo` (poppler-utils), run as
//! child processes with the document on standard input; scanned pages
//! through `pdftoppm` and OCR (see `ocr`).
//!
//! Why poppler and not a Rust parser, measured on 1002 PDFs (the pdf.js
//! test corpus and py-pdf's sample files): pdf-extract 0.12 panicked on 43.
//! pdf_oxide 0.3 never panicked or hung and read a few odd-font files that
//! poppler could not, but it returned empty text instead of an error for
//! password-protected PDFs (they would be reported as scans), glued words
//! together on some real papers ("afterthe") and lost most of one paper's
//! first page. Poppler's one runaway (a JBIG2 bomb) ends when RLIMIT_AS
//! refuses its 1.16 GB allocation, and the timeout covers anything else.
//!
//! Pages are split on the form feed `pdftotext` writes after each page.
//! Lines inside a paragraph are joined (PDF text is hard-wrapped); blank
//! lines separate paragraphs. Whatever text a page has is indexed, however
//! short ("Whatever", a one-line form). A page is a scan when its text layer
//! is empty or only what scanners stamp on image-only pages (a page number
//! such as "3", "- 3 -", "Page 3 of 10"): such a page is rendered with
//! `pdftoppm` at [`OCR_DPI`] and read by OCR, page by page, so a scanned
//! page keeps its page number and a document that mixes typed and scanned
//! pages gets both. Without OCR installed the text pages are still indexed;
//! a PDF with no text at all is refused with a reason that says OCR is
//! missing.
//!
//! OCR takes seconds per page, so a long scan can outlast the time limit:
//! pages are read while the time left covers the slowest page so far, and
//! the rest are named in a warning instead of losing the whole document.

use std::time::{Duration, Instant};

use super::blocks::{BlockBuilder, clean_inline, human_bytes};
use super::ocr::{self, Ocr};
use super::title;
use super::tool::{ToolOutput, run_tool};
use super::{ExtractError, Extracted, Format, Limits};

/// Resolution scanned pages are rendered at for OCR. Measured with
/// tesseract 5.3 on an A4 page of 408 words in 11 pt scanned at 300 dpi,
/// and on pages of 8 pt and 6 pt type blurred, tilted and speckled: at 200
/// dpi it read as many words right as at 300 (408 of 408 both; 360 against
/// 359 of 360; 350 against 351 of 360) in 1.5 s instead of 2.1 s per page.
/// At 150 dpi (1.2 s) it lost one word more of the small print: too close
/// to the edge. Tesseract rescales every text line to one height anyway.
const OCR_DPI: u32 = 200;
/// A page larger than this many pixels at [`OCR_DPI`] (A0 posters and
/// plans; A1 is 31 megapixels) is rendered at a lower resolution instead:
/// its text is large, and the time and memory of OCR grow with the pixels.
const MAX_PAGE_PIXELS: u64 = 36_000_000;
/// A page whose text layer is longer than this is never a scanner's stamp.
const MAX_STAMP_CHARS: usize = 24;
/// Words that appear in stamped page numbers, lowercase.
const PAGE_WORDS: &[&str] = &[
    "page", "pages", "p", "pg", "pp", "of", "seite", "von", "s", "sur", "de", "página", "pagina",
    "pag", "di", "blad", "van", "sida", "av", "side", "af", "sivu", "bl", "blatt",
];
/// What a PDF without text is, in the reasons people see.
const SCANNED: &str = "scanned PDF without a text layer";
/// `pdfinfo` output is small; anything longer is not worth reading.
const INFO_CAP: u64 = 1 << 20;

pub(crate) fn extract(bytes: &[u8], limits: &Limits) -> Result<Extracted, ExtractError> {
    let deadline = Instant::now() + limits.time;

    let info = run_tool(
        "pdfinfo",
        &["-enc", "UTF-8", "-"],
        bytes,
        deadline,
        INFO_CAP,
    )?;
    if !info.status.success() {
        return Err(tool_failure("pdfinfo", &info));
    }
    let info_text = String::from_utf8_lossy(&info.stdout);
    let title = info_field(&info_text, "Title").and_then(|t| title::usable(&t));

    let text = run_tool(
        "pdftotext",
        &["-enc", "UTF-8", "-eol", "unix", "-", "-"],
        bytes,
        deadline,
        limits.max_text_bytes,
    )?;
    if text.truncated {
        return Err(ExtractError::TooLarge(format!(
            "more than {} of text",
            human_bytes(limits.max_text_bytes)
        )));
    }
    if !text.status.success() {
        return Err(tool_failure("pdftotext", &text));
    }
    let output = String::from_utf8_lossy(&text.stdout);
    let mut pages: Vec<&str> = output.split('\x0c').collect();
    // pdftotext ends every page, the last one included, with a form feed.
    if pages.last().is_some_and(|p| p.trim().is_empty()) {
        pages.pop();
    }
    let page_count = info_field(&info_text, "Pages")
        .and_then(|p| p.parse::<u32>().ok())
        .unwrap_or(u32::try_from(pages.len()).unwrap_or(u32::MAX));

    let mut reader = PageReader::new(bytes, limits, deadline, &pages)?;
    let mut builder = BlockBuilder::new(limits);
    for (index, page) in pages.iter().enumerate() {
        let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        builder.set_page(Some(number));
        let ocr_text;
        let page_text = if is_scan(page) {
            match reader.read(number)? {
                Some(text) => {
                    ocr_text = text;
                    ocr_text.as_str()
                }
                None => continue,
            }
        } else {
            page
        };
        for paragraph in super::text::paragraphs(page_text) {
            builder.paragraph(&unwrap_lines(&paragraph))?;
        }
    }
    let blocks = builder.finish();
    if blocks.is_empty() {
        return Err(if reader.ocr.is_none() && reader.scanned > 0 {
            ocr::not_installed(SCANNED)
        } else if reader.tried > 0 {
            ocr::found_nothing(SCANNED)
        } else {
            ExtractError::NoText("the PDF has no text".to_string())
        });
    }
    let ocr_pages = reader.read;
    Ok(Extracted {
        format: Format::Pdf,
        title,
        pages: Some(page_count),
        blocks,
        warnings: reader.warnings(limits),
        ocr_pages,
    })
}

/// Whether a page's text layer is missing or only a stamped page number,
/// which makes the page a scan to be read by OCR.
fn is_scan(page: &str) -> bool {
    let visible = page.chars().filter(|c| !c.is_whitespace()).count();
    if visible == 0 {
        return true;
    }
    if visible > MAX_STAMP_CHARS {
        return false;
    }
    let mut numbers = 0;
    for word in page.split(|c: char| c.is_whitespace() || c.is_ascii_punctuation()) {
        if word.is_empty() {
            continue;
        }
        let lower = word.to_lowercase();
        // Roman numerals number front matter: "iv", "XII".
        if word.chars().all(|c| c.is_ascii_digit())
            || (word.len() <= 6 && lower.chars().all(|c| "ivxlcdm".contains(c)))
        {
            numbers += 1;
        } else if !PAGE_WORDS.contains(&lower.as_str()) {
            return false;
        }
    }
    // "3", "3 / 10": a row of numbers is a table, not a page number.
    (1..=2).contains(&numbers)
}

/// Reads scanned pages by OCR, while OCR is installed and time is left.
struct PageReader<'a> {
    bytes: &'a [u8],
    ocr: Option<Ocr>,
    /// Page sizes in points, from `pdfinfo`, by page number - 1.
    sizes: Vec<Option<(f64, f64)>>,
    max_pixels: u64,
    max_text_bytes: u64,
    /// OCR stops here, leaving the helper time to answer before the
    /// parent's timeout kills it.
    stop: Instant,
    slowest: Duration,
    /// Pages that are scans, pages OCR ran on, pages where it found text
    /// (a blank page in a typed document is a "scan" without any), and the
    /// first page left unread for lack of time.
    scanned: u32,
    tried: u32,
    read: u32,
    out_of_time_at: Option<u32>,
    ocr_warnings: Vec<String>,
}

impl<'a> PageReader<'a> {
    fn new(
        bytes: &'a [u8],
        limits: &Limits,
        deadline: Instant,
        pages: &[&str],
    ) -> Result<Self, ExtractError> {
        let any_scan = pages.iter().any(|p| is_scan(p));
        let ocr = if any_scan {
            Ocr::find(&limits.language, deadline)?
        } else {
            None
        };
        let sizes = if ocr.is_some() {
            page_sizes(bytes, pages.len(), deadline)?
        } else {
            Vec::new()
        };
        // The parent started its clock before this process existed, and
        // the answer still has to be written.
        let margin = (limits.time / 10).min(Duration::from_secs(3));
        Ok(PageReader {
            bytes,
            ocr_warnings: ocr.as_ref().map(|o| o.warnings.clone()).unwrap_or_default(),
            ocr,
            sizes,
            max_pixels: ocr::max_pixels(limits).min(MAX_PAGE_PIXELS),
            max_text_bytes: limits.max_text_bytes,
            stop: deadline.checked_sub(margin).unwrap_or(deadline),
            slowest: Duration::ZERO,
            scanned: 0,
            tried: 0,
            read: 0,
            out_of_time_at: None,
        })
    }

    /// The OCR text of scanned page `number` (1-based); `None` when it
    /// cannot be read (no OCR, no time left).
    fn read(&mut self, number: u32) -> Result<Option<String>, ExtractError> {
        self.scanned += 1;
        let Some(ocr) = &self.ocr else {
            return Ok(None);
        };
        if self.out_of_time_at.is_some() {
            return Ok(None);
        }
        let started = Instant::now();
        if !time_for_another_page(
            self.tried,
            self.slowest,
            self.stop.saturating_duration_since(started),
        ) {
            self.out_of_time_at = Some(number);
            return Ok(None);
        }
        let size = self.sizes.get(number as usize - 1).copied().flatten();
        let dpi = dpi_for(size, self.max_pixels);
        let result = render_page(self.bytes, number, dpi, self.stop, self.max_pixels)
            .and_then(|image| ocr.read(&image, Some(dpi), self.stop, self.max_text_bytes));
        match result {
            Ok(text) => {
                self.tried += 1;
                if !text.trim().is_empty() {
                    self.read += 1;
                }
                self.slowest = self.slowest.max(started.elapsed());
                // Tesseract ends its page with a form feed.
                Ok(Some(text.replace('\x0c', "")))
            }
            // Pages already read are worth keeping; without any, the
            // document timed out.
            Err(ExtractError::TimedOut) if self.tried > 0 => {
                self.out_of_time_at = Some(number);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// What a person should know about the pages that were not read.
    fn warnings(self, limits: &Limits) -> Vec<String> {
        let mut warnings = self.ocr_warnings;
        if self.ocr.is_none() && self.scanned > 0 {
            // extract/ imports nothing from the crate, so not text::count.
            let pages = if self.scanned == 1 {
                "1 scanned page was".to_string()
            } else {
                format!("{} scanned pages were", self.scanned)
            };
            warnings.push(format!(
                "{pages} not read: OCR is not installed on the server \
                 (Debian package tesseract-ocr)"
            ));
        }
        if let Some(page) = self.out_of_time_at {
            warnings.push(format!(
                "scanned pages from page {page} on were not read: OCR ran out of the \
                 {}-second time limit (documents.extract_timeout_secs)",
                limits.time.as_secs()
            ));
        }
        warnings
    }
}

/// Whether to start OCR of another page with `left` until OCR must stop: if
/// the slowest page so far, and a quarter more, would still fit. The first
/// page is always tried (it may be all the document has).
fn time_for_another_page(tried: u32, slowest: Duration, left: Duration) -> bool {
    tried == 0 || slowest + slowest / 4 <= left
}

/// Rendering resolution for a page of `size` points: [`OCR_DPI`], or less
/// for a page that would have more than `max_pixels` pixels.
fn dpi_for(size: Option<(f64, f64)>, max_pixels: u64) -> u32 {
    let Some((width, height)) = size else {
        return OCR_DPI;
    };
    let square_inches = (width / 72.0) * (height / 72.0);
    let at_full = square_inches * f64::from(OCR_DPI) * f64::from(OCR_DPI);
    if at_full <= max_pixels as f64 {
        return OCR_DPI;
    }
    // Truncating keeps the page under the budget.
    ((max_pixels as f64 / square_inches).sqrt() as u32).clamp(1, OCR_DPI)
}

/// One page as a greyscale PNM image, at `dpi`.
fn render_page(
    bytes: &[u8],
    number: u32,
    dpi: u32,
    deadline: Instant,
    max_pixels: u64,
) -> Result<Vec<u8>, ExtractError> {
    let page = number.to_string();
    let dpi = dpi.to_string();
    // One byte per grey pixel, plus the small PNM header. A page whose
    // size pdfinfo could not tell may still pass the budget: the cap stops
    // pdftoppm then.
    let cap = max_pixels.saturating_add(4096);
    let output = run_tool(
        "pdftoppm",
        &["-f", &page, "-l", &page, "-r", &dpi, "-gray", "-"],
        bytes,
        deadline,
        cap,
    )?;
    if output.truncated {
        return Err(ExtractError::TooLarge(format!(
            "page {number} is too large to read by OCR"
        )));
    }
    if !output.status.success() {
        return Err(tool_failure("pdftoppm", &output));
    }
    Ok(output.stdout)
}

/// Every page's size in points ("Page    3 size: 595.276 x 841.89 pts").
fn page_sizes(
    bytes: &[u8],
    pages: usize,
    deadline: Instant,
) -> Result<Vec<Option<(f64, f64)>>, ExtractError> {
    let last = pages.max(1).to_string();
    let info = run_tool(
        "pdfinfo",
        &["-f", "1", "-l", &last, "-"],
        bytes,
        deadline,
        INFO_CAP,
    )?;
    let mut sizes = vec![None; pages];
    for line in String::from_utf8_lossy(&info.stdout).lines() {
        let Some(rest) = line.strip_prefix("Page") else {
            continue;
        };
        let Some((number, size)) = rest.split_once("size:") else {
            continue;
        };
        let mut parts = size.split_whitespace();
        let (Ok(number), Some(Ok(width)), Some("x"), Some(Ok(height))) = (
            number.trim().parse::<usize>(),
            parts.next().map(str::parse::<f64>),
            parts.next(),
            parts.next().map(str::parse::<f64>),
        ) else {
            continue;
        };
        if let Some(slot) = number.checked_sub(1).and_then(|i| sizes.get_mut(i))
            && width.is_finite()
            && height.is_finite()
            && width > 0.0
            && height > 0.0
        {
            *slot = Some((width, height));
        }
    }
    Ok(sizes)
}

/// Joins the hard-wrapped lines of one PDF paragraph. A line ending in a
/// hyphen is joined without a space: "well-" + "known" reads "well-known",
/// and a hyphenated "exam-" + "ple" stays legible as "exam-ple".
pub(crate) fn unwrap_lines(paragraph: &str) -> String {
    let mut out = String::with_capacity(paragraph.len());
    for line in paragraph.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if !out.is_empty() && !out.ends_with('-') {
            out.push(' ');
        }
        out.push_str(line);
    }
    out
}

fn info_field(info: &str, name: &str) -> Option<String> {
    info.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == name).then(|| clean_inline(value))
    })
}

/// Turns a failed run into the error a person should see.
fn tool_failure(tool: &str, output: &ToolOutput) -> ExtractError {
    use std::os::unix::process::ExitStatusExt;

    let stderr = &output.stderr;
    if stderr.contains("Incorrect password") {
        return ExtractError::Encrypted("PDF".to_string());
    }
    if let Some(signal) = output.status.signal() {
        if signal == libc::SIGXCPU {
            return ExtractError::TimedOut;
        }
        if stderr.contains("bad_alloc") || stderr.contains("Out of memory") {
            return ExtractError::OutOfMemory;
        }
        return ExtractError::Crashed(format!("{tool} died of signal {signal}"));
    }
    // poppler reports a page tree it cannot read as a bad page range.
    if stderr.contains("Wrong page range") {
        return ExtractError::Corrupt("the PDF has no readable pages".to_string());
    }
    // poppler prints "Syntax Error: ..." lines; the last one is usually the
    // one that made it give up. The prefix means nothing to a person.
    let detail = stderr
        .lines()
        .rev()
        .find(|l| l.contains("Error"))
        .map(|line| {
            let line = line.split_once("Error: ").map_or(line, |(_, rest)| rest);
            clean_inline(line)
        })
        .unwrap_or_else(|| format!("{tool} could not read it"));
    ExtractError::Corrupt(detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_unwrap() {
        assert_eq!(unwrap_lines("a b\nc d\nwell-\nknown"), "a b c d well-known");
    }

    #[test]
    fn scans_are_pages_without_text_or_with_only_a_page_number() {
        for (page, scan) in [
            ("", true),
            ("  \n\n", true),
            ("3", true),
            ("- 12 -", true),
            ("Page 3 of 10", true),
            ("Seite 2/7", true),
            ("xiv", true),
            ("Whatever", false),
            ("Name: ____", false),
            ("Page 3", true),
            ("ABC000123", false),
            ("1 2 3 4 5 6 7 8 9 10 11 12 13", false),
            ("Total 12", false),
        ] {
            assert_eq!(is_scan(page), scan, "{page:?}");
        }
    }

    #[test]
    fn ocr_starts_a_page_only_if_the_slowest_one_would_fit() {
        let s = Duration::from_secs;
        for (tried, slowest, left, start) in [
            (0, s(0), s(0), true),
            (1, s(4), s(5), true),
            (1, s(4), s(4), false),
            (3, s(2), s(60), true),
        ] {
            assert_eq!(
                time_for_another_page(tried, slowest, left),
                start,
                "{tried} {slowest:?} {left:?}"
            );
        }
    }

    #[test]
    fn big_pages_are_rendered_below_the_pixel_budget() {
        let a4 = Some((595.276, 841.89));
        assert_eq!(dpi_for(a4, MAX_PAGE_PIXELS), OCR_DPI);
        assert_eq!(dpi_for(None, MAX_PAGE_PIXELS), OCR_DPI);
        // A0 (841 x 1189 mm): 200 dpi would be 62 megapixels.
        let a0 = (2383.94, 3370.39);
        let dpi = dpi_for(Some(a0), MAX_PAGE_PIXELS);
        let pixels = (a0.0 / 72.0 * f64::from(dpi)) * (a0.1 / 72.0 * f64::from(dpi));
        assert!(dpi < OCR_DPI && pixels <= MAX_PAGE_PIXELS as f64, "{dpi}");
        assert_eq!(dpi_for(Some((1e9, 1e9)), MAX_PAGE_PIXELS), 1);
    }
}
