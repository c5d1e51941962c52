//! Test support: independent implementations to check the calendar engine
//! against. Python's `zoneinfo` (the system's tz database, not jiff's
//! bundled one), `dateutil.rrule` (a separate recurrence engine from the
//! `rrule` crate, whose Rust code is a port of rrule.js) and the
//! `icalendar` package (a separate iCalendar parser) run in a child
//! `python3`, fed JSON on stdin, answering JSON on stdout.
//!
//! Where python3 or a package is missing the calling test reports
//! `SKIPPED name (file:line): why` on stderr and returns, as the
//! integration tests' `skipped()` does: a check that could not run must
//! show in every run, never pass as a silent green.

use std::io::Write;
use std::process::{Command, Stdio};

/// Runs `script` with `input` as JSON on stdin and returns its stdout as
/// JSON, or `None` (after reporting the skip) when python3 or one of
/// `modules` is not installed. A script that fails otherwise fails the
/// test: the oracle itself must not break silently.
/// `python3` with Hearth's private package directory (`.ci/deps` installs
/// the checkers there: python-dateutil, icalendar) on its path.
fn python3() -> Command {
    let dir = std::env::var("HEARTH_PYTHON_DIR").unwrap_or_else(|_| {
        format!(
            "{}/.cache/hearth/python",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    let mut command = Command::new("python3");
    command.env("PYTHONPATH", dir);
    command
}

#[track_caller]
pub fn python(
    modules: &[&str],
    script: &str,
    input: &serde_json::Value,
) -> Option<serde_json::Value> {
    let at = std::panic::Location::caller();
    let probe = format!("import {}", modules.join(", "));
    let available = python3()
        .args(["-c", &probe])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match available {
        Err(e) => {
            skipped(at, &format!("python3 is not available ({e})"));
            return None;
        }
        Ok(status) if !status.success() => {
            skipped(
                at,
                &format!(
                    "python3 cannot import {} (pip install them)",
                    modules.join(", ")
                ),
            );
            return None;
        }
        Ok(_) => {}
    }
    let mut child = python3()
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 starts");
    // Written from a thread: a large answer must not deadlock against a
    // large question.
    let mut stdin = child.stdin.take().expect("stdin");
    let text = input.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
    let output = child.wait_with_output().expect("python3 runs");
    writer.join().expect("writer").expect("stdin written");
    assert!(
        output.status.success(),
        "the Python oracle failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(serde_json::from_slice(&output.stdout).expect("the oracle answers JSON"))
}

fn skipped(at: &std::panic::Location<'_>, why: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test} ({}:{}): {why}",
        at.file(),
        at.line()
    );
}
