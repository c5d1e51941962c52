//! The subprocess fence around extraction.
//!
//! [`extract`] (server side) starts `<exe> extract-file <path>` in its own
//! process group at the lowest CPU priority (niceness [`HELPER_NICENESS`]),
//! with a cleared environment and the limits in [`LIMITS_ENV`], waits at
//! most `Limits::time`, and reads one JSON
//! `Result<Extracted, ExtractError>` from its stdout. On timeout the whole
//! group is killed, so a `pdftotext` grandchild dies too. A helper that dies
//! without answering is classified from its exit status and the tail of its
//! stderr (Rust prints "memory allocation of N bytes failed" before aborting
//! on an exhausted RLIMIT_AS).
//!
//! [`child_main`] (helper side) lowers its own limits before touching the
//! file: RLIMIT_AS for memory, RLIMIT_CPU a little above the wall-clock
//! limit as a backstop, and no core dumps. It catches panics so that a
//! parser bug still produces a JSON answer.
//!
//! The helper must be dispatched before the server starts its tokio runtime
//! or loads models: threads reserve address space that counts against
//! RLIMIT_AS, and the helper needs none of it.

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncRead, AsyncReadExt};

use super::{ExtractError, Extracted, Limits, extract_in_process};

/// The environment variable that carries the limits (JSON) to the helper.
pub const LIMITS_ENV: &str = "HEARTH_EXTRACT_LIMITS";

/// The hidden subcommand the server re-invokes itself with.
pub const SUBCOMMAND: &str = "extract-file";

/// How much of the helper's stderr is kept to explain a crash.
const STDERR_TAIL: usize = 8 * 1024;

/// The helper's niceness. On a 2-core office box the helper (OCR keeps a
/// core busy for seconds per page) competes with the chat model for CPU,
/// and llama.cpp's threads meet at a barrier after every operation, so any
/// of them being preempted stalls the whole step. Measured with `hearth
/// bench` (a chat asked back to back while 200 documents are imported, the
/// index threads at the same niceness): at nice 10 the chat kept 0.58 of its
/// speed (the import took 10 answers' time); at nice 19, 0.90 (51 answers);
/// under `SCHED_IDLE`, 1.02, but the import starved (364 answers). Nice 19
/// keeps the chat fast and the import moving.
const HELPER_NICENESS: i32 = 19;

/// Extracts `path` in a fenced helper process (`exe extract-file path`).
/// Never panics; every failure is an [`ExtractError`].
pub async fn extract(exe: &Path, path: &Path, limits: &Limits) -> Result<Extracted, ExtractError> {
    let limits_json = serde_json::to_string(limits)
        .map_err(|e| ExtractError::Internal(format!("cannot encode limits: {e}")))?;
    let mut command = tokio::process::Command::new(exe);
    command
        .arg(SUBCOMMAND)
        .arg(path)
        // The helper parses hostile files: it gets no secrets from the
        // server's environment, only what it needs to find pdftotext.
        .env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
        )
        .env(LIMITS_ENV, limits_json)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    lower_priority(&mut command);
    let mut child = command
        .spawn()
        .map_err(|e| ExtractError::Internal(format!("cannot start the extraction helper: {e}")))?;
    let reaped = AtomicBool::new(false);
    let group = GroupKiller {
        pgid: child.id().and_then(|id| i32::try_from(id).ok()),
        reaped: &reaped,
    };
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(ExtractError::Internal("no pipes to the helper".to_string()));
    };
    // The JSON is the text plus escapes and per-block fields.
    let stdout_cap = limits
        .max_text_bytes
        .saturating_mul(3)
        .saturating_add(1 << 20);

    let run = async {
        let (out, err, status) = tokio::join!(
            read_capped(stdout, stdout_cap),
            read_tail(stderr, STDERR_TAIL),
            async {
                let status = child.wait().await;
                reaped.store(true, Ordering::SeqCst);
                status
            }
        );
        (out, err, status)
    };
    let (out, err, status) = match tokio::time::timeout(limits.time, run).await {
        Ok(done) => done,
        Err(_) => {
            // `group` kills the process group (the helper is not reaped
            // yet, so its group id cannot have been reused), then the
            // helper is reaped here.
            drop(group);
            let _ = child.start_kill();
            let _ = child.wait().await;
            return Err(ExtractError::TimedOut);
        }
    };
    let status = status
        .map_err(|e| ExtractError::Internal(format!("waiting for the extraction helper: {e}")))?;
    let (out, over_cap) = out;
    if over_cap {
        return Err(ExtractError::TooLarge(
            "the extracted text is too large".to_string(),
        ));
    }
    if let Ok(result) = serde_json::from_slice::<Result<Extracted, ExtractError>>(&out) {
        return result;
    }
    Err(classify_death(status, &err))
}

/// Sets the helper's niceness between fork and exec, so it holds from the
/// helper's first instruction and is inherited by everything it starts
/// (`pdftotext`, `pdftoppm`, `tesseract`). A server already running nicer
/// keeps its own niceness for the helper. A failure is ignored: a helper at
/// normal priority is slower for the chat, not wrong.
fn lower_priority(command: &mut tokio::process::Command) {
    // SAFETY: getpriority and setpriority are plain system calls that
    // allocate nothing and touch no memory of the parent, which is what a
    // pre_exec closure may do.
    unsafe {
        command.pre_exec(|| {
            // -1 is both an error and a valid niceness; either way the
            // helper ends up at HELPER_NICENESS or nicer.
            let current = libc::getpriority(libc::PRIO_PROCESS, 0);
            libc::setpriority(libc::PRIO_PROCESS, 0, current.max(HELPER_NICENESS));
            Ok(())
        });
    }
}

/// Kills the helper's process group when dropped before the helper was
/// reaped: on timeout, and when the caller's future is dropped mid-way.
struct GroupKiller<'a> {
    pgid: Option<i32>,
    reaped: &'a AtomicBool,
}

impl Drop for GroupKiller<'_> {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid
            && pgid > 0
            && !self.reaped.load(Ordering::SeqCst)
        {
            // SAFETY: killpg has no memory-safety preconditions; the group
            // is the helper's own (process_group(0) made it the leader).
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
        }
    }
}

/// What happened to a helper that gave no answer.
fn classify_death(status: std::process::ExitStatus, stderr: &str) -> ExtractError {
    if stderr.contains("memory allocation of") || stderr.contains("bad_alloc") {
        return ExtractError::OutOfMemory;
    }
    if stderr.contains("has overflowed its stack") {
        return ExtractError::Crashed("stack overflow in a parser".to_string());
    }
    if let Some(signal) = status.signal() {
        return match signal {
            libc::SIGXCPU => ExtractError::TimedOut,
            // Nobody here sends SIGKILL before reaping except the kernel's
            // out-of-memory killer and the hard RLIMIT_CPU.
            libc::SIGKILL => ExtractError::OutOfMemory,
            other => ExtractError::Crashed(format!("killed by signal {}", signal_name(other))),
        };
    }
    let last_line = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no output");
    ExtractError::Crashed(format!(
        "exited with {} without a result: {}",
        status.code().unwrap_or(-1),
        last_line.trim()
    ))
}

fn signal_name(signal: i32) -> String {
    match signal {
        libc::SIGSEGV => "SIGSEGV (invalid memory access)".to_string(),
        libc::SIGABRT => "SIGABRT (aborted)".to_string(),
        libc::SIGBUS => "SIGBUS".to_string(),
        libc::SIGILL => "SIGILL".to_string(),
        libc::SIGFPE => "SIGFPE".to_string(),
        other => other.to_string(),
    }
}

/// Reads up to `cap` bytes; the flag says whether there was more (the
/// rest is drained so the helper does not block on a full pipe).
async fn read_capped(mut reader: impl AsyncRead + Unpin, cap: u64) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let _ = (&mut reader)
        .take(cap.saturating_add(1))
        .read_to_end(&mut out)
        .await;
    let over = out.len() as u64 > cap;
    if over {
        out.clear();
        let _ = tokio::io::copy(&mut reader, &mut tokio::io::sink()).await;
    }
    (out, over)
}

/// Reads everything, keeping only the last `keep` bytes.
async fn read_tail(mut reader: impl AsyncRead + Unpin, keep: usize) -> String {
    let mut tail: Vec<u8> = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tail.extend_from_slice(&buf[..n]);
                if tail.len() > 2 * keep {
                    tail.drain(..tail.len() - keep);
                }
            }
        }
    }
    if tail.len() > keep {
        tail.drain(..tail.len() - keep);
    }
    String::from_utf8_lossy(&tail).into_owned()
}

/// The helper: applies the limits to this process, extracts, writes the
/// JSON result to stdout. Exit code 0 when a result (success or error) was
/// written, 2 when even that failed.
pub fn child_main(path: &Path, limits: &Limits) -> ExitCode {
    apply_rlimits(limits);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        extract_in_process(path, limits)
    }))
    .unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        Err(ExtractError::Crashed(format!("parser panicked: {message}")))
    });
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = serde_json::to_writer(&mut out, &result)
        .map_err(std::io::Error::from)
        .and_then(|()| out.flush());
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(2),
    }
}

/// Lowers this process's limits. Failures are ignored: the parent's
/// wall-clock timeout still holds, and a limit that cannot be set (for
/// example under a sanitizer) should not make every upload fail.
fn apply_rlimits(limits: &Limits) {
    let cpu_seconds = limits.time.as_secs().saturating_add(2);
    set_rlimit(libc::RLIMIT_CPU, cpu_seconds, cpu_seconds.saturating_add(1));
    set_rlimit(libc::RLIMIT_AS, limits.memory_bytes, limits.memory_bytes);
    set_rlimit(libc::RLIMIT_CORE, 0, 0);
}

/// glibc declares the resource argument as its own enum type, other libcs
/// as a plain int.
#[cfg(target_env = "gnu")]
type Resource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
type Resource = libc::c_int;

fn set_rlimit(resource: Resource, soft: u64, hard: u64) {
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(resource, &mut current) != 0 {
            return;
        }
        // An unprivileged process may only lower its hard limit.
        let max = current.rlim_max;
        let wanted = libc::rlimit {
            rlim_cur: soft.min(max),
            rlim_max: hard.min(max),
        };
        libc::setrlimit(resource, &wanted);
    }
}
