//! The console contract: commands, stdin passwords, exit codes, one-line errors.

use std::io::Write;
use std::process::{Command, Output, Stdio};

struct Console {
    dir: tempfile::TempDir,
}

impl Console {
    fn new() -> Console {
        Console {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hearth"))
            .args(args)
            .env("HEARTH_DATA_DIR", self.dir.path())
            .env_remove("HEARTH_CONFIG")
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

#[test]
fn help_lists_every_command_and_usage_errors_exit_2() {
    let console = Console::new();
    let help = console.run(&["--help"], "");
    assert_eq!(help.status.code(), Some(0));
    let out = text(&help.stdout);
    for command in ["serve", "user", "config"] {
        assert!(out.contains(command), "{out}");
    }
    let user_help = text(&console.run(&["user", "--help"], "").stdout);
    for command in ["add", "passwd", "list", "disable", "enable", "api-key"] {
        assert!(user_help.contains(command), "{user_help}");
    }
    assert_eq!(console.run(&["frobnicate"], "").status.code(), Some(2));
    assert_eq!(
        console
            .run(&["user", "add", "sam", "--role", "emperor"], "")
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        console
            .run(&["--listen", "not-an-address", "config"], "")
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn users_are_managed_from_the_console() {
    let console = Console::new();
    let added = console.run(
        &[
            "user",
            "add",
            "olivia",
            "--role",
            "owner",
            "--name",
            "Olivia Owner",
        ],
        "correct horse battery staple\n",
    );
    assert_eq!(added.status.code(), Some(0), "{}", text(&added.stderr));
    assert!(text(&added.stdout).contains("setup is complete"));

    let weak = console.run(&["user", "add", "sam", "--role", "staff"], "password1234\n");
    assert_eq!(weak.status.code(), Some(1));
    let message = text(&weak.stderr);
    assert!(
        message.starts_with("hearth: ")
            && message.contains("most common")
            && message.trim().lines().count() == 1,
        "{message}"
    );

    assert_eq!(
        console
            .run(
                &["user", "add", "sam", "--role", "staff"],
                "a long staff passphrase\n"
            )
            .status
            .code(),
        Some(0)
    );
    let duplicate = console.run(
        &["user", "add", "SAM", "--role", "staff"],
        "a long staff passphrase\n",
    );
    assert_eq!(duplicate.status.code(), Some(1));
    assert!(text(&duplicate.stderr).contains("already taken"));
    let empty = console.run(&["user", "add", "tina", "--role", "staff"], "");
    assert_eq!(empty.status.code(), Some(1));
    assert!(text(&empty.stderr).contains("no password on stdin"));

    let list = text(&console.run(&["user", "list"], "").stdout);
    assert!(
        list.contains("olivia")
            && list.contains("owner")
            && list.contains("sam")
            && list.contains("active"),
        "{list}"
    );

    let key = console.run(&["user", "api-key", "sam", "--name", "backup script"], "");
    assert_eq!(key.status.code(), Some(0));
    assert!(text(&key.stdout).trim().starts_with("hth_"));

    assert_eq!(
        console
            .run(&["user", "passwd", "sam"], "a new long passphrase\n")
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        console.run(&["user", "disable", "sam"], "").status.code(),
        Some(0)
    );
    assert!(text(&console.run(&["user", "list"], "").stdout).contains("disabled"));
    assert_eq!(
        console.run(&["user", "enable", "sam"], "").status.code(),
        Some(0)
    );
    let missing = console.run(&["user", "disable", "nobody"], "");
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("no user named"));
    // The last owner cannot be disabled, even from the console.
    let last = console.run(&["user", "disable", "olivia"], "");
    assert_eq!(last.status.code(), Some(1));
    assert!(text(&last.stderr).contains("only owner"));
}

#[test]
fn config_prints_the_effective_configuration() {
    let console = Console::new();
    let output = console.run(&["--listen", "0.0.0.0:9999", "config"], "");
    assert_eq!(output.status.code(), Some(0));
    let printed: hearth::config::Config = toml::from_str(&text(&output.stdout)).unwrap();
    assert_eq!(printed.data_dir, console.dir.path());
    assert_eq!(printed.server.listen.port(), 9999);

    let bad = console.dir.path().join("bad.toml");
    std::fs::write(&bad, "[server]\nmax_request_bytes = 1\n").unwrap();
    let output = console.run(&["--config", bad.to_str().unwrap(), "config"], "");
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("at least 4096"));
    let output = console.run(&["--config", "/nonexistent/hearth.toml", "config"], "");
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("cannot read the configuration file"));
}

#[test]
fn the_setup_banner_is_plain_framed_text_when_piped() {
    use std::io::{BufRead, BufReader};

    let console = Console::new();
    let config = console.dir.path().join("empty.toml");
    std::fs::write(&config, "").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .env("HEARTH_DATA_DIR", console.dir.path())
        .env_remove("HEARTH_CONFIG")
        .env_remove("RUST_LOG")
        // What a terminal-less service sees: no NO_COLOR to lean on.
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut rules = 0;
    while rules < 2 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if line.starts_with("  +-") {
                    rules += 1;
                }
                seen.push(line);
            }
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let output = seen.join("\n");
    assert_eq!(rules, 2, "a framed banner:\n{output}");
    assert!(!output.contains('\u{1b}'), "no escape codes:\n{output}");
    let banner: Vec<&str> = seen
        .iter()
        .map(String::as_str)
        .skip_while(|l| !l.starts_with("  +-"))
        .collect();
    let width = banner[0].len();
    assert!(banner.iter().all(|l| l.len() == width), "{output}");
    let code_line = banner
        .iter()
        .find(|l| l.contains("setup code: "))
        .expect("the code");
    let code = code_line
        .split("setup code: ")
        .nth(1)
        .unwrap()
        .trim_end_matches([' ', '|']);
    assert_eq!(code.len(), 14, "ABCD-EFGH-JKMN: {code_line}");
    assert!(
        banner
            .iter()
            .any(|l| l.contains("http://127.0.0.1:") && l.contains("/setup")),
        "the address to open:\n{output}"
    );
}
