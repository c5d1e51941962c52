//! Turns an uploaded office file into text blocks with page numbers and
//! headings, without trusting the file.
//!
//! Document parsers panic, hang and allocate without bound on hostile or
//! merely odd files, so the server never parses in its own process: it calls
//! [`extract`], which re-invokes the Hearth binary with a hidden
//! `extract-file` subcommand ([`child_main`]) under a wall-clock timeout, an
//! address-space limit and a CPU limit, and reads one JSON result back.
//! [`extract_in_process`] is the same work without the fence, for the child
//! itself and for tests.
//!
//! The format is decided by content ([`detect`]): magic bytes, then the
//! entries of a ZIP container, then text sniffing. The file name only breaks
//! ties between text formats (Markdown, plain text, CSV). Scanned PDF pages
//! and pictures (PNG, JPEG, TIFF) are read by OCR.
//!
//! Layout of this module: `detect` (what is it), `blocks` (the block builder
//! every format writes into, which also enforces the text cap), `zipsafe`
//! (bounded ZIP reading), `xml` (the one XML walker), `title` (which
//! metadata titles are real), one file per format
//! family (`pdf`, `ooxml`, `xlsx`, `odf`, `html`, `markdown`, `text`, `eml`,
//! `image`), `nesting` (bounding HTML depth before html5ever), `tool`
//! (running poppler and Tesseract with a deadline), `ocr` (Tesseract, for
//! scanned PDF pages and pictures), and `child` (the subprocess fence).
//! Nothing here depends on the rest of the crate.

mod blocks;
mod child;
mod detect;
mod eml;
mod html;
mod image;
mod markdown;
mod nesting;
mod ocr;
mod odf;
mod ooxml;
mod pdf;
mod text;
mod title;
mod tool;
mod xlsx;
mod xml;
mod zipsafe;

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use child::{LIMITS_ENV, SUBCOMMAND, child_main, extract};
pub use detect::detect;

/// The document formats Hearth can read. The serde form and [`Format::as_str`]
/// are the same stable lowercase codes, fit for storing in a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Pdf,
    Docx,
    Odt,
    Xlsx,
    Ods,
    Pptx,
    Html,
    Markdown,
    Text,
    Csv,
    Eml,
    /// Pictures, read by OCR.
    Png,
    Jpeg,
    Tiff,
}

impl Format {
    /// Every format, in the order a settings page would list them.
    pub fn all() -> &'static [Format] {
        &[
            Format::Pdf,
            Format::Docx,
            Format::Odt,
            Format::Xlsx,
            Format::Ods,
            Format::Pptx,
            Format::Html,
            Format::Markdown,
            Format::Text,
            Format::Csv,
            Format::Eml,
            Format::Png,
            Format::Jpeg,
            Format::Tiff,
        ]
    }

    /// Stable code, e.g. `"pdf"`, `"docx"`, `"markdown"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Pdf => "pdf",
            Format::Docx => "docx",
            Format::Odt => "odt",
            Format::Xlsx => "xlsx",
            Format::Ods => "ods",
            Format::Pptx => "pptx",
            Format::Html => "html",
            Format::Markdown => "markdown",
            Format::Text => "text",
            Format::Csv => "csv",
            Format::Eml => "eml",
            Format::Png => "png",
            Format::Jpeg => "jpeg",
            Format::Tiff => "tiff",
        }
    }

    /// Pictures, which only OCR can read.
    pub fn is_image(self) -> bool {
        matches!(self, Format::Png | Format::Jpeg | Format::Tiff)
    }

    /// Inverse of [`Format::as_str`].
    pub fn from_code(code: &str) -> Option<Format> {
        Format::all().iter().copied().find(|f| f.as_str() == code)
    }

    /// What a person calls it.
    pub fn label(self) -> &'static str {
        match self {
            Format::Pdf => "PDF",
            Format::Docx => "Word document",
            Format::Odt => "OpenDocument text",
            Format::Xlsx => "Excel workbook",
            Format::Ods => "OpenDocument spreadsheet",
            Format::Pptx => "PowerPoint presentation",
            Format::Html => "Web page",
            Format::Markdown => "Markdown",
            Format::Text => "Plain text",
            Format::Csv => "CSV table",
            Format::Eml => "Email message",
            Format::Png => "PNG image",
            Format::Jpeg => "JPEG image",
            Format::Tiff => "TIFF image",
        }
    }

    /// The registered media type, for serving the original file back.
    pub fn mime(self) -> &'static str {
        match self {
            Format::Pdf => "application/pdf",
            Format::Docx => {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }
            Format::Odt => "application/vnd.oasis.opendocument.text",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Ods => "application/vnd.oasis.opendocument.spreadsheet",
            Format::Pptx => {
                "application/vnd.openxmlformats-officedocument.presentationml.presentation"
            }
            Format::Html => "text/html",
            Format::Markdown => "text/markdown",
            Format::Text => "text/plain",
            Format::Csv => "text/csv",
            Format::Eml => "message/rfc822",
            Format::Png => "image/png",
            Format::Jpeg => "image/jpeg",
            Format::Tiff => "image/tiff",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// One piece of a document: a paragraph, or several short paragraphs of the
/// same section and page merged together (see `blocks` for the sizes).
///
/// The heading text lives in `heading` only; it is not repeated in `text`,
/// so a chunker that wants it in the embedded text prepends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// 1-based page for PDF, slide number for PPTX; `None` where the format
    /// has no pages.
    pub page: Option<u32>,
    /// The heading path this block sits under, outermost first and joined
    /// with " › ", e.g. "Leave policy › Sick days". Sheet name for
    /// spreadsheets, "Attachment: name" for email attachments.
    pub heading: Option<String>,
    pub text: String,
}

/// The text of one document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extracted {
    pub format: Format,
    /// The title the document gives itself: PDF, Office or OpenDocument
    /// metadata, `<title>`, Markdown front matter, email subject, or else
    /// the first top-level heading (a Word "Title" paragraph, `<h1>`, `#`,
    /// the first slide's title). Metadata that is a file name or a
    /// template's placeholder ("Microsoft Word - doc1.docx", "Untitled")
    /// does not count. `None`: name the document after its file.
    pub title: Option<String>,
    /// Page count for PDF and multi-page TIFF, slide count for PPTX.
    pub pages: Option<u32>,
    pub blocks: Vec<Block>,
    /// Things a person may want to know that did not stop extraction, such as
    /// an email attachment that could not be read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// How many pages (or pictures) had their text read by OCR rather than
    /// from a text layer: scanned PDF pages, images. Blank pages OCR found
    /// nothing on do not count.
    #[serde(default)]
    pub ocr_pages: u32,
}

impl Extracted {
    /// All block text joined with blank lines; handy for search and tests.
    pub fn full_text(&self) -> String {
        let mut out = String::new();
        for block in &self.blocks {
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str(&block.text);
        }
        out
    }
}

/// Why a document could not be read. Callers branch on the variant (or the
/// stable [`ExtractError::code`]) and show [`ExtractError::reason`] to the
/// person who uploaded the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", content = "detail", rename_all = "snake_case")]
pub enum ExtractError {
    /// The file has no bytes, or only whitespace.
    #[error("empty file")]
    Empty,
    /// Not a format Hearth reads; the detail says what it looks like, e.g.
    /// "a ZIP archive", "an old Word document (.doc)".
    #[error("unsupported file: {0}")]
    Unsupported(String),
    /// Password-protected; the detail names the kind of document.
    #[error("encrypted {0}")]
    Encrypted(String),
    /// A PDF or picture without text: a scan that OCR could not read (or
    /// OCR is not installed). The detail is the whole sentence for people,
    /// e.g. "scanned PDF without a text layer, and OCR found no text in it".
    #[error("no text: {0}")]
    NoText(String),
    /// The file is damaged or is not what it claims to be.
    #[error("damaged file: {0}")]
    Corrupt(String),
    /// A zip bomb, too many parts, or more text than the limit allows.
    #[error("too large: {0}")]
    TooLarge(String),
    /// Extraction ran past the time limit and was stopped.
    #[error("timed out")]
    TimedOut,
    /// Extraction ran past the memory limit.
    #[error("out of memory")]
    OutOfMemory,
    /// The extractor died (a parser bug): signal, panic or garbage output.
    #[error("extractor crashed: {0}")]
    Crashed(String),
    /// Hearth itself failed (could not read the upload, could not start the
    /// helper, `pdftotext` missing). Not the uploader's fault.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ExtractError {
    /// Stable snake_case code, the same as the serde tag.
    pub fn code(&self) -> &'static str {
        match self {
            ExtractError::Empty => "empty",
            ExtractError::Unsupported(_) => "unsupported",
            ExtractError::Encrypted(_) => "encrypted",
            ExtractError::NoText(_) => "no_text",
            ExtractError::Corrupt(_) => "corrupt",
            ExtractError::TooLarge(_) => "too_large",
            ExtractError::TimedOut => "timed_out",
            ExtractError::OutOfMemory => "out_of_memory",
            ExtractError::Crashed(_) => "crashed",
            ExtractError::Internal(_) => "internal",
        }
    }

    /// A sentence for the person who uploaded the file: what is wrong and,
    /// where there is one, what to do about it.
    pub fn reason(&self) -> String {
        match self {
            ExtractError::Empty => "the file is empty".to_string(),
            ExtractError::Unsupported(what) => {
                format!("not a supported file type (looks like {what})")
            }
            ExtractError::Encrypted(what) => {
                format!("encrypted {what}: remove the password and upload again")
            }
            ExtractError::NoText(detail) => detail.clone(),
            ExtractError::Corrupt(detail) => {
                format!("the file is damaged and could not be read ({detail})")
            }
            ExtractError::TooLarge(detail) => format!("the file is too large to read ({detail})"),
            ExtractError::TimedOut => "reading the file took too long; it may be damaged or \
                 very large: try splitting it"
                .to_string(),
            ExtractError::OutOfMemory => "reading the file needed too much memory; it may be \
                 damaged or very large: try splitting it"
                .to_string(),
            ExtractError::Crashed(detail) => {
                format!("the reader crashed on this file ({detail}); try saving it again as PDF")
            }
            ExtractError::Internal(detail) => {
                format!("Hearth could not read the file because of an internal error ({detail})")
            }
        }
    }
}

/// Resource limits for one extraction, and the documents' language (for
/// OCR). The defaults suit a box with a few GiB of memory and documents of a
/// few hundred pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Wall-clock time for the whole extraction (the helper is killed after
    /// it). In-process, only the poppler and OCR runs are held to it.
    #[serde(with = "duration_ms")]
    pub time: Duration,
    /// Address-space limit for the helper process (RLIMIT_AS).
    pub memory_bytes: u64,
    /// Total bytes a ZIP-based document may unpack to.
    pub max_unpacked_bytes: u64,
    /// Total text bytes an extraction may produce.
    pub max_text_bytes: u64,
    /// The documents' language as configured for search (a stemmer name:
    /// "english", "german", ...). OCR reads English plus this language.
    #[serde(default = "default_language")]
    pub language: String,
}

fn default_language() -> String {
    "english".to_string()
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            time: Duration::from_secs(60),
            memory_bytes: 1 << 30,
            max_unpacked_bytes: 500_000_000,
            max_text_bytes: 50_000_000,
            language: default_language(),
        }
    }
}

impl Limits {
    /// Reads the limits the parent passed in [`LIMITS_ENV`]; defaults when
    /// it is absent or unreadable, since the parent also enforces the time.
    pub fn from_env() -> Limits {
        std::env::var(LIMITS_ENV)
            .ok()
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default()
    }
}

/// Limits carry their time as whole milliseconds, which reads well in the
/// environment variable and in config files.
mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// Extracts in the current process: no timeout (except for `pdftotext`),
/// no memory fence, and a parser panic unwinds to the caller. The server
/// uses [`extract`] instead.
pub fn extract_in_process(path: &Path, limits: &Limits) -> Result<Extracted, ExtractError> {
    let bytes = read_upload(path, limits)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    extract_bytes_in_process(&bytes, name, limits)
}

/// [`extract_in_process`] for bytes already in memory; `file_name` only
/// breaks ties between text formats. Used by the fuzz tests.
pub fn extract_bytes_in_process(
    bytes: &[u8],
    file_name: &str,
    limits: &Limits,
) -> Result<Extracted, ExtractError> {
    if bytes.len() as u64 > max_input_bytes(limits) {
        return Err(ExtractError::TooLarge(format!(
            "the file is over {}",
            blocks::human_bytes(max_input_bytes(limits))
        )));
    }
    let format = detect::detect_bytes(bytes, file_name)?;
    extract_bytes(format, bytes, limits, 0)
}

/// Largest file read at all. Even text formats rarely beat their text size
/// by more than this factor, and the cap keeps a huge upload from being
/// pulled into memory only to fail later.
fn max_input_bytes(limits: &Limits) -> u64 {
    limits
        .max_unpacked_bytes
        .max(limits.max_text_bytes.saturating_mul(4))
}

fn read_upload(path: &Path, limits: &Limits) -> Result<Vec<u8>, ExtractError> {
    use std::io::Read;

    let file = std::fs::File::open(path)
        .map_err(|e| ExtractError::Internal(format!("cannot open the upload: {e}")))?;
    let cap = max_input_bytes(limits);
    let mut bytes = Vec::new();
    file.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| match e.kind() {
            // read_to_end grows its buffer with try_reserve, so hitting
            // RLIMIT_AS here is an error value rather than an abort.
            std::io::ErrorKind::OutOfMemory => ExtractError::OutOfMemory,
            _ => ExtractError::Internal(format!("cannot read the upload: {e}")),
        })?;
    if bytes.len() as u64 > cap {
        return Err(ExtractError::TooLarge(format!(
            "the file is over {}",
            blocks::human_bytes(cap)
        )));
    }
    Ok(bytes)
}

/// How deep email attachments may nest (a message attached to a message
/// attached to ...). Deeper ones are skipped with a warning.
const MAX_NESTING: u32 = 3;

/// Dispatches on an already detected format. `depth` counts email nesting.
fn extract_bytes(
    format: Format,
    bytes: &[u8],
    limits: &Limits,
    depth: u32,
) -> Result<Extracted, ExtractError> {
    let mut extracted = match format {
        Format::Pdf => pdf::extract(bytes, limits)?,
        Format::Docx => ooxml::extract_docx(bytes, limits)?,
        Format::Pptx => ooxml::extract_pptx(bytes, limits)?,
        Format::Xlsx => xlsx::extract(bytes, limits)?,
        Format::Odt | Format::Ods => odf::extract(format, bytes, limits)?,
        Format::Html => html::extract(&text::decode(bytes)?, limits)?,
        Format::Markdown => markdown::extract(&text::decode(bytes)?, limits)?,
        Format::Text => text::extract_plain(&text::decode(bytes)?, limits)?,
        Format::Csv => text::extract_csv(&text::decode(bytes)?, limits)?,
        Format::Eml => eml::extract(bytes, limits, depth)?,
        Format::Png | Format::Jpeg | Format::Tiff => image::extract(format, bytes, limits)?,
    };
    if extracted.blocks.is_empty() {
        // PDF and pictures explain their own lack of text (scan, OCR); a
        // document of any other format without text is empty.
        return Err(ExtractError::Empty);
    }
    extracted.title = extracted.title.and_then(|t| title::usable(&t));
    Ok(extracted)
}
