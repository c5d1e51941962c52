//! The shape ARCHITECTURE.md promises, checked on every run (in the spirit
//! of rust-analyzer's tidy tests): every source file says what it is for,
//! the engines are walled, and capabilities meet only through engines.
//! Each failure names the file and line.

use std::path::{Path, PathBuf};

/// Capabilities: they own routes and pages and may use engines, `web`,
/// `audit` and `auth` (the identity every capability needs), never each other.
const CAPABILITIES: [&str; 6] = ["auth", "chat", "docs", "admin", "pages", "schedule"];

/// Engines: they know nothing of HTTP, people or capabilities.
const ENGINES: [&str; 12] = [
    "llm", "store", "search", "extract", "disk", "text", "memory", "calendar", "egress", "redact",
    "cloud", "backup",
];

/// What engines must not import.
const ABOVE_ENGINES: [&str; 12] = [
    "web", "auth", "app", "audit", "error", "cli", "api", "bench", "chat", "docs", "admin",
    "schedule",
];

/// Everything else: plumbing and wiring, which may use what it needs.
const WIRING: [&str; 14] = [
    "backups",
    "changes",
    "metrics",
    "web",
    "app",
    "cli",
    "config",
    "error",
    "audit",
    "api",
    "bench",
    "lib",
    "main",
    "appliance",
];

/// Which module may name which heavy library.
const WALLS: [(&str, &str); 4] = [
    ("llama_cpp_2", "llm"),
    ("llama_cpp_sys_2", "llm"),
    ("rusqlite", "store"),
    ("tantivy", "search"),
];

/// What opens a connection: only `egress` may, so every request that leaves
/// the box is logged first (issue 14).
const OUTBOUND: [&str; 4] = [
    "reqwest::Client::",
    "ClientBuilder",
    "TcpStream::connect",
    "UdpSocket::bind",
];

fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`src/chat/api.rs` → chat).
fn module_of(relative: &Path) -> String {
    let mut parts = relative.components().skip(1);
    let first = parts
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy()
        .to_string();
    first.trim_end_matches(".rs").to_string()
}

/// The crate modules a line of code refers to as `crate::name`.
fn crate_paths(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.push(name);
        }
        rest = after;
    }
    found
}

fn is_comment(line: &str) -> bool {
    let line = line.trim_start();
    line.starts_with("//")
}

#[test]
fn the_architecture_holds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    files.sort();
    assert!(files.len() > 50, "found the sources");
    let mut problems = Vec::new();
    for path in &files {
        let relative = path.strip_prefix(root).unwrap();
        let text = std::fs::read_to_string(path).unwrap();
        let module = module_of(relative);
        let shown = relative.display();
        if !CAPABILITIES.contains(&module.as_str())
            && !ENGINES.contains(&module.as_str())
            && !WIRING.contains(&module.as_str())
        {
            problems.push(format!(
                "{shown}: the module `{module}` is neither a capability, an engine nor wiring; classify it here and in ARCHITECTURE.md"
            ));
        }
        let first = text
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default();
        if !first.starts_with("//!") {
            problems.push(format!(
                "{shown}:1: the file does not open with a `//!` paragraph saying what it is for"
            ));
        }
        for (n, line) in text.lines().enumerate() {
            if is_comment(line) {
                continue;
            }
            let at = format!("{shown}:{}", n + 1);
            for (library, owner) in WALLS {
                let named = line.contains(&format!("{library}::"))
                    || line.trim_start().starts_with(&format!("use {library}"));
                if named && module != owner {
                    problems.push(format!(
                        "{at}: only `{owner}` may use `{library}`: {}",
                        line.trim()
                    ));
                }
            }
            for opener in OUTBOUND {
                if line.contains(opener) && module != "egress" {
                    problems.push(format!(
                        "{at}: only `egress` opens connections (`{opener}`), so every request that leaves is logged: {}",
                        line.trim()
                    ));
                }
            }
            for target in crate_paths(line) {
                if target == module {
                    continue;
                }
                if CAPABILITIES.contains(&module.as_str())
                    && CAPABILITIES.contains(&target.as_str())
                    && target != "auth"
                {
                    problems.push(format!(
                        "{at}: the capability `{module}` uses the capability `{target}`; capabilities meet through engines (or a shared module ARCHITECTURE.md names)"
                    ));
                }
                if module == "auth" && CAPABILITIES.contains(&target.as_str()) {
                    problems.push(format!(
                        "{at}: `auth` is used by every capability and uses none of them (`{target}`)"
                    ));
                }
                if ENGINES.contains(&module.as_str()) && ABOVE_ENGINES.contains(&target.as_str()) {
                    problems.push(format!(
                        "{at}: the engine `{module}` uses `{target}`; engines know nothing of HTTP, people or capabilities"
                    ));
                }
                if module == "web" && CAPABILITIES.contains(&target.as_str()) && target != "auth" {
                    problems.push(format!(
                        "{at}: `web` is plumbing and uses no capability (`{target}`)"
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the shape in ARCHITECTURE.md does not hold:\n{}",
        problems.join("\n")
    );
}

/// The checks themselves, on made-up lines, so a tidy test that passes
/// because it checks nothing cannot go unnoticed.
#[test]
fn the_checks_see_what_they_should() {
    assert_eq!(
        crate_paths("use crate::docs::answer; let x = crate::store::now();"),
        ["docs", "store"]
    );
    assert_eq!(module_of(Path::new("src/chat/api.rs")), "chat");
    assert_eq!(module_of(Path::new("src/app.rs")), "app");
    assert!(is_comment("    /// uses crate::docs"));
    assert!(!is_comment("let a = 1; // crate::docs"));
}
