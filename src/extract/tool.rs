//! Running the external readers (poppler's `pdfinfo`, `pdftotext` and
//! `pdftoppm`, and `tesseract`) from inside the extraction helper.
//!
//! Each tool gets its input on standard input, a deadline after which it is
//! killed, and a cap on its standard output. `PR_SET_PDEATHSIG` makes it die
//! with the helper if the helper is killed first (the parent's timeout kills
//! the helper's whole process group too, but a signal from the kernel does
//! not depend on the group surviving intact). The tools inherit the helper's
//! RLIMIT_AS, RLIMIT_CPU and lowered CPU priority, so one set of limits
//! covers the whole extraction.

use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::ExtractError;

/// Only the start of stderr is kept, for error messages; the rest is drained.
const STDERR_KEEP: usize = 16 * 1024;

pub(crate) struct ToolOutput {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: String,
    /// Standard output passed the cap and the tool was killed.
    pub(crate) truncated: bool,
}

/// Runs `program args` with `input` on stdin; see [`run_command`].
pub(crate) fn run_tool(
    program: &str,
    args: &[&str],
    input: &[u8],
    deadline: Instant,
    stdout_cap: u64,
) -> Result<ToolOutput, ExtractError> {
    let mut command = Command::new(program);
    command.args(args);
    run_command(command, program, input, deadline, stdout_cap)
}

/// Runs a prepared command with `input` on stdin until it exits, `deadline`
/// passes (killed: `TimedOut`) or its stdout passes `stdout_cap` (killed:
/// `truncated`). `program` names the tool in error messages.
pub(crate) fn run_command(
    mut command: Command,
    program: &str,
    input: &[u8],
    deadline: Instant,
    stdout_cap: u64,
) -> Result<ToolOutput, ExtractError> {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    die_with_parent(&mut command);
    let mut child = command.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ExtractError::Internal(format!(
                "{program} is not installed (Debian package {})",
                debian_package(program)
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

/// Where an administrator gets a missing tool.
fn debian_package(program: &str) -> &'static str {
    match program.rsplit('/').next().unwrap_or(program) {
        "tesseract" => "tesseract-ocr",
        _ => "poppler-utils",
    }
}

/// The directory on `PATH` that holds an executable `program`, for tools
/// that are optional (OCR): their absence is an answer, not an error.
pub(crate) fn find_on_path(program: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;

    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
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
