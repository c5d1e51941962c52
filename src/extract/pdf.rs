//! PDF through Debian's `pdftotext` and `pdfinfo` (poppler-utils), run as
//! child processes with the document on standard input.
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
//! lines separate paragraphs. A PDF whose pages carry (almost) no text is a
//! scan and reported as `NoText`.
//!
//! The tools get the time left until the deadline and are killed after it;
//! `PR_SET_PDEATHSIG` makes them die with the helper process if it is killed
//! first, so no `pdftotext` outlives a timed-out extraction.

use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::blocks::{BlockBuilder, clean_inline, human_bytes};
use super::{ExtractError, Extracted, Format, Limits};

/// A page with fewer visible characters than this counts as having no
/// text (page numbers and scanner stamps aside).
const MIN_CHARS_PER_PAGE: usize = 10;
/// One page with this much text is a real text layer, however many blank
/// or scanned pages surround it.
const MIN_CHARS_TEXT_PAGE: usize = 200;
/// `pdfinfo` output is small; anything longer is not worth reading.
const INFO_CAP: u64 = 1 << 20;
/// Only the start of stderr is kept, for error messages; the rest is drained.
const STDERR_KEEP: usize = 16 * 1024;

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
    let title = info_field(&info_text, "Title")
        .filter(|t| !t.eq_ignore_ascii_case("untitled") && !t.is_empty());

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

    let visible: Vec<usize> = pages
        .iter()
        .map(|p| p.chars().filter(|c| !c.is_whitespace()).count())
        .collect();
    let has_text_layer = visible.iter().sum::<usize>() >= MIN_CHARS_PER_PAGE * pages.len()
        || visible.iter().any(|v| *v >= MIN_CHARS_TEXT_PAGE);
    let mut builder = BlockBuilder::new(limits);
    // Without a text layer the blocks stay empty and the caller reports
    // NoText: a few characters on a scan are a stamp or page numbers.
    if has_text_layer {
        for (index, page) in pages.iter().enumerate() {
            builder.set_page(Some(u32::try_from(index + 1).unwrap_or(u32::MAX)));
            for paragraph in super::text::paragraphs(page) {
                builder.paragraph(&unwrap_lines(&paragraph))?;
            }
        }
    }
    Ok(Extracted {
        format: Format::Pdf,
        title,
        pages: Some(page_count),
        blocks: builder.finish(),
        warnings: Vec::new(),
    })
}

/// Joins the hard-wrapped lines of one PDF paragraph. A line ending in a
/// hyphen is joined without a space: "well-" + "known" reads "well-known",
/// and a hyphenated "exam-" + "ple" stays legible as "exam-ple".
fn unwrap_lines(paragraph: &str) -> String {
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

struct ToolOutput {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: String,
    /// Standard output passed the cap and the tool was killed.
    truncated: bool,
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

/// Runs a poppler tool with `input` on stdin until it exits, `deadline`
/// passes (killed: `TimedOut`) or its stdout passes `stdout_cap` (killed:
/// `truncated`).
fn run_tool(
    program: &str,
    args: &[&str],
    input: &[u8],
    deadline: Instant,
    stdout_cap: u64,
) -> Result<ToolOutput, ExtractError> {
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    die_with_parent(&mut command);
    let mut child = command.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ExtractError::Internal(format!(
                "{program} is not installed (Debian package poppler-utils)"
            ))
        } else {
            ExtractError::Internal(format!("cannot start {program}: {e}"))
        }
    })?;
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(ExtractError::Internal(format!("no pipes to {program}")));
    };
    let over_cap = AtomicBool::new(false);

    std::thread::scope(|scope| {
        // A tool that stops reading (it found the document broken) makes
        // the write fail with a broken pipe; that is not an error here.
        scope.spawn(move || {
            let _ = stdin.write_all(input);
        });
        let out_reader = scope.spawn(|| {
            let mut out = Vec::new();
            let _ = stdout
                .take(stdout_cap.saturating_add(1))
                .read_to_end(&mut out);
            if out.len() as u64 > stdout_cap {
                out.truncate(stdout_cap as usize);
                over_cap.store(true, Ordering::SeqCst);
            }
            out
        });
        let err_reader = scope.spawn(move || {
            let mut kept = Vec::new();
            let mut stderr = stderr;
            let _ = (&mut stderr)
                .take(STDERR_KEEP as u64)
                .read_to_end(&mut kept);
            let _ = std::io::copy(&mut stderr, &mut std::io::sink());
            String::from_utf8_lossy(&kept).into_owned()
        });

        let mut pause = Duration::from_millis(1);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Ok(status),
                Ok(None) => {}
                Err(e) => {
                    break Err(ExtractError::Internal(format!(
                        "waiting for {program}: {e}"
                    )));
                }
            }
            if over_cap.load(Ordering::SeqCst) {
                let _ = child.kill();
                break child
                    .wait()
                    .map_err(|e| ExtractError::Internal(format!("waiting for {program}: {e}")));
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break Err(ExtractError::TimedOut);
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        };
        // The readers finish once the tool is gone and its pipes close.
        let stdout = out_reader.join().unwrap_or_default();
        let stderr = err_reader.join().unwrap_or_default();
        let status = status?;
        Ok(ToolOutput {
            status,
            stdout,
            stderr,
            truncated: over_cap.load(Ordering::SeqCst),
        })
    })
}

/// Asks Linux to kill the tool when the thread that started it dies, so a
/// helper killed for its timeout does not leave `pdftotext` running.
#[cfg(target_os = "linux")]
fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;

    // SAFETY: prctl is async-signal-safe and touches no memory of the
    // parent; it is the documented use of pre_exec.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_command: &mut Command) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_unwrap() {
        assert_eq!(unwrap_lines("a b\nc d\nwell-\nknown"), "a b c d well-known");
    }
}
