//! Reading text from pictures (scanned PDF pages, PNG, JPEG and TIFF) with
//! Debian's `tesseract` (package tesseract-ocr), run as a child process of
//! the extraction helper like the poppler tools (see `tool`).
//!
//! Tesseract reads English plus the language the documents are configured
//! for (`documents.language`, a stemmer name such as "german"), as
//! `eng+deu`, when that language's data is installed; otherwise English
//! alone, with a warning that names the Debian package to install. It runs
//! with `OMP_THREAD_LIMIT=1`: on a 2-core office box a multithreaded OCR
//! run would take both cores from the chat model, and the gain is small
//! (Tesseract's OpenMP parallelism covers only parts of LSTM recognition).
//!
//! Memory: Tesseract holds the decoded image several times over (colour,
//! grey, binarised). Measured with tesseract 5.3.0 under a 1 GiB RLIMIT_AS:
//! a 67 megapixel RGB image peaked at 738 MB resident and read fine, a
//! 134 megapixel one failed. So images are refused from their header above
//! one pixel per [`BYTES_PER_PIXEL`] bytes of the memory limit (67 MP for
//! 1 GiB), with a reason, before any decoder sees them.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use super::tool::{find_on_path, run_command, run_tool};
use super::{ExtractError, Limits};

/// Memory limit divided by this is the largest picture OCR is given (see
/// the measurements above: about 11 bytes per pixel for RGB, rounded up).
const BYTES_PER_PIXEL: u64 = 16;
/// `tesseract --list-langs` prints a few dozen short lines.
const LIST_CAP: u64 = 64 * 1024;

/// A Tesseract that is installed, with the languages it will read.
pub(crate) struct Ocr {
    program: PathBuf,
    /// Tesseract's `-l` argument, e.g. `eng+deu`.
    languages: String,
    /// Said once per document, e.g. that a language's data is missing.
    pub(crate) warnings: Vec<String>,
}

impl Ocr {
    /// Finds `tesseract` and decides the languages for `language` (the
    /// configured stemmer name). `None` when OCR is not installed, which
    /// callers turn into a "no text" reason that says so.
    pub(crate) fn find(language: &str, deadline: Instant) -> Result<Option<Ocr>, ExtractError> {
        let Some(program) = find_on_path("tesseract") else {
            return Ok(None);
        };
        let program_name = program.to_string_lossy().into_owned();
        let listed = run_tool(&program_name, &["--list-langs"], &[], deadline, LIST_CAP)?;
        // Tesseract 4 printed the list on stderr, 5 prints it on stdout.
        let listing = format!(
            "{}\n{}",
            String::from_utf8_lossy(&listed.stdout),
            listed.stderr
        );
        let installed: Vec<&str> = listing
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.contains(' '))
            .collect();
        if !installed.contains(&"eng") {
            // English comes with tesseract-ocr on Debian; without it the
            // installation is broken, which is the same as absent here.
            return Ok(None);
        }
        let mut warnings = Vec::new();
        let languages = match tesseract_code(language) {
            None | Some("eng") => "eng".to_string(),
            Some(code) if installed.contains(&code) => format!("eng+{code}"),
            Some(code) => {
                warnings.push(format!(
                    "OCR read English only: the {language} language data is not installed \
                     (Debian package tesseract-ocr-{code})"
                ));
                "eng".to_string()
            }
        };
        Ok(Some(Ocr {
            program,
            languages,
            warnings,
        }))
    }

    /// Reads the text of one picture (PNG, JPEG, TIFF or PNM bytes; every
    /// frame of a multi-page TIFF, each ended by a form feed). `dpi` is
    /// given for rendered PDF pages, whose PNM carries no resolution;
    /// without it Tesseract estimates one from the text height.
    pub(crate) fn read(
        &self,
        image: &[u8],
        dpi: Option<u32>,
        deadline: Instant,
        max_text_bytes: u64,
    ) -> Result<String, ExtractError> {
        let mut command = Command::new(&self.program);
        command
            .args(["stdin", "stdout", "-l", &self.languages])
            .env("OMP_THREAD_LIMIT", "1");
        if let Some(dpi) = dpi {
            command.args(["--dpi", &dpi.to_string()]);
        }
        let output = run_command(command, "tesseract", image, deadline, max_text_bytes)?;
        if output.truncated {
            return Err(ExtractError::TooLarge(format!(
                "more than {} of text",
                super::blocks::human_bytes(max_text_bytes)
            )));
        }
        if !output.status.success() {
            return Err(failure(&output));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

/// The largest picture, in pixels, that OCR is given under `limits`.
pub(crate) fn max_pixels(limits: &Limits) -> u64 {
    limits.memory_bytes / BYTES_PER_PIXEL
}

/// Why Tesseract gave up, for the person who uploaded the file.
fn failure(output: &super::tool::ToolOutput) -> ExtractError {
    use std::os::unix::process::ExitStatusExt;

    let stderr = &output.stderr;
    if stderr.contains("bad_alloc") || stderr.contains("Out of memory") {
        return ExtractError::OutOfMemory;
    }
    match output.status.signal() {
        Some(libc::SIGXCPU) => ExtractError::TimedOut,
        // The kernel's out-of-memory killer and the hard RLIMIT_CPU.
        Some(libc::SIGKILL) => ExtractError::OutOfMemory,
        Some(signal) => ExtractError::Crashed(format!("tesseract died of signal {signal}")),
        // Leptonica reports an image it cannot decode as "Error in pixRead...".
        None => ExtractError::Corrupt(
            stderr
                .lines()
                .find(|l| l.contains("Error") || l.contains("error"))
                .map(super::blocks::clean_inline)
                .unwrap_or_else(|| "OCR could not read the image".to_string()),
        ),
    }
}

/// Tesseract's code for a tantivy stemmer language name (the values
/// `documents.language` takes); `None` for names it does not know.
pub(crate) fn tesseract_code(language: &str) -> Option<&'static str> {
    Some(match language.trim().to_ascii_lowercase().as_str() {
        "arabic" => "ara",
        "danish" => "dan",
        "dutch" => "nld",
        "english" => "eng",
        "finnish" => "fin",
        "french" => "fra",
        "german" => "deu",
        "greek" => "ell",
        "hungarian" => "hun",
        "italian" => "ita",
        "norwegian" => "nor",
        "portuguese" => "por",
        "romanian" => "ron",
        "russian" => "rus",
        "spanish" => "spa",
        "swedish" => "swe",
        "tamil" => "tam",
        "turkish" => "tur",
        _ => return None,
    })
}

/// The "no text" reason for a scan when OCR is not installed; `subject`
/// says what the file is, e.g. "scanned PDF without a text layer".
pub(crate) fn not_installed(subject: &str) -> ExtractError {
    ExtractError::NoText(format!(
        "{subject}, and OCR is not installed on the server \
         (Debian package tesseract-ocr): ask the administrator to install it, or run the \
         file through OCR (for example \"Save as searchable PDF\" in the scanner software) \
         and upload again"
    ))
}

/// The "no text" reason for a scan in which OCR found nothing.
pub(crate) fn found_nothing(subject: &str) -> ExtractError {
    ExtractError::NoText(format!("{subject}, and OCR found no text in it"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stemmer_names_map_to_tesseract_codes() {
        for (name, code) in [
            ("english", Some("eng")),
            ("German", Some("deu")),
            ("french", Some("fra")),
            ("dutch", Some("nld")),
            ("klingon", None),
        ] {
            assert_eq!(tesseract_code(name), code, "{name}");
        }
    }
}
