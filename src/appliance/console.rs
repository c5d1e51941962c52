//! `hearth console`: the box's own screen (tty1, and the serial console).
//! Whoever plugs in a monitor sees, in large letters, the address to open
//! and, until the owner exists, the one-time setup code; no keyboard, no
//! login. It draws from the status file Hearth keeps ([`super::status`])
//! and redraws only when something changed, so a serial log stays short.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use super::status::BoxStatus;

/// A status older than this means Hearth stopped answering (it rewrites
/// the file every [`super::status::EVERY`]).
const STALE_AFTER_SECS: i64 = 30;

/// The widest line the big letters may take; wider text is shown plain
/// (an 80-column console, with a margin).
const MAX_WIDTH: usize = 78;

/// Draws the screen on stdout, again whenever it changes; with `once`,
/// draws it a single time and returns.
pub fn run(status_file: &Path, once: bool) -> anyhow::Result<()> {
    let mut shown = String::new();
    loop {
        let status = BoxStatus::read(status_file);
        let now = jiff::Timestamp::now().as_second();
        let screen = screen(status.as_ref(), now);
        if screen != shown {
            let mut out = std::io::stdout().lock();
            if !once {
                // Home and clear, so the screen always shows the latest.
                write!(out, "\x1b[H\x1b[2J")?;
            }
            write!(out, "{screen}")?;
            out.flush()?;
            shown = screen;
        }
        if once {
            return Ok(());
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// The whole screen for a status read at `now`.
pub fn screen(status: Option<&BoxStatus>, now: i64) -> String {
    let mut lines = vec![String::new()];
    let Some(status) = status else {
        lines.push("  Hearth is starting. This takes a minute the first time.".to_string());
        lines.push(String::new());
        return lines.join("\n") + "\n";
    };
    let stale = now - status.written_at > STALE_AFTER_SECS;
    let main_url = status
        .name_url
        .clone()
        .or_else(|| status.address_urls.first().cloned());
    match &main_url {
        Some(url) => {
            lines.push("  Open Hearth in a web browser in the office:".to_string());
            lines.push(String::new());
            lines.extend(big(url.trim_start_matches("http://")));
            lines.push(format!("  {url}"));
        }
        None => {
            lines.push("  Hearth is running, but this box has no network address yet.".to_string());
            lines
                .push("  Check the network cable; the address appears here by itself.".to_string());
        }
    }
    let others: Vec<&String> = status
        .address_urls
        .iter()
        .filter(|u| Some(*u) != main_url.as_ref())
        .collect();
    if !others.is_empty() {
        lines.push(String::new());
        lines.push("  If that name does not open (some phones), use the number:".to_string());
        lines.extend(others.iter().map(|u| format!("    {u}")));
    }
    if let Some(notice) = &status.name_notice {
        lines.push(String::new());
        lines.extend(
            wrap(notice, MAX_WIDTH - 2)
                .into_iter()
                .map(|l| format!("  {l}")),
        );
    }
    if let Some(code) = &status.setup_code {
        lines.push(String::new());
        lines.push("  This box has no owner yet. Setup asks for this one-time code:".to_string());
        lines.push(String::new());
        lines.extend(big(code));
        // The plain line is what scripts (and the image test) look for.
        lines.push(format!("  setup code: {code}"));
    }
    lines.push(String::new());
    let state = if stale {
        "Hearth is not answering; it restarts by itself. If this stays, restart the box."
    } else if status.state == "stopping" {
        "Hearth is restarting."
    } else {
        "Hearth is running."
    };
    lines.push(format!("  {state}  (version {})", status.version));
    lines.push(String::new());
    lines.join("\n") + "\n"
}

/// `text` in large letters (FIGlet's small font), indented; the plain text
/// when the letters would not fit an 80-column screen.
fn big(text: &str) -> Vec<String> {
    let font = figlet_rs::FIGlet::small();
    let rendered = font
        .ok()
        .and_then(|font| font.convert(text).map(|figure| figure.to_string()));
    match rendered {
        Some(art) if art.lines().all(|l| l.chars().count() + 2 <= MAX_WIDTH) => art
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| format!("  {}", l.trim_end()))
            .collect(),
        _ => vec![format!("  {text}")],
    }
}

/// Words of `text` in lines of at most `width` characters.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let line = lines.last_mut().expect("never empty");
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(word.to_string());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status() -> BoxStatus {
        BoxStatus {
            version: "1.2.0".into(),
            state: "running".into(),
            name_url: Some("http://hearth.local".into()),
            name_notice: None,
            address_urls: vec!["http://192.168.1.20".into()],
            setup_code: Some("ABCD-EFGH-JKMN".into()),
            written_at: 1_000,
        }
    }

    #[test]
    fn the_screen_shows_the_name_the_address_and_the_code_in_large_letters() {
        let screen = screen(Some(&status()), 1_005);
        assert!(screen.contains("  http://hearth.local\n"), "{screen}");
        assert!(screen.contains("    http://192.168.1.20\n"), "{screen}");
        assert!(
            screen.contains("  setup code: ABCD-EFGH-JKMN\n"),
            "{screen}"
        );
        assert!(screen.contains("Hearth is running.  (version 1.2.0)"));
        // Large letters: several lines of art above each plain line.
        let lines: Vec<&str> = screen.lines().collect();
        let code_at = lines
            .iter()
            .position(|l| l.contains("setup code:"))
            .unwrap();
        assert!(lines[code_at - 1].trim().len() > 30, "{screen}");
        assert!(
            lines.iter().all(|l| l.chars().count() <= MAX_WIDTH),
            "fits 80 columns:\n{screen}"
        );
        assert!(screen.is_ascii(), "a serial console shows it too");
    }

    #[test]
    fn the_screen_says_what_is_wrong() {
        let starting = screen(None, 0);
        assert!(starting.contains("Hearth is starting"), "{starting}");

        let stale = screen(Some(&status()), 1_000 + STALE_AFTER_SECS + 1);
        assert!(stale.contains("not answering"), "{stale}");

        let mut owned = status();
        owned.setup_code = None;
        owned.name_url = Some("http://hearth-2.local".into());
        owned.name_notice = Some(
            "Another device on the network already answers to hearth.local, so this box is hearth-2.local. Rename or remove the other device, or choose another name in [appliance] name.".into(),
        );
        let clash = screen(Some(&owned), 1_000);
        assert!(!clash.contains("setup code"), "{clash}");
        assert!(clash.contains("  http://hearth-2.local\n"), "{clash}");
        assert!(clash.contains("already answers to hearth.local"), "{clash}");
        assert!(
            clash.lines().all(|l| l.chars().count() <= MAX_WIDTH),
            "{clash}"
        );

        let mut offline = status();
        offline.name_url = None;
        offline.address_urls.clear();
        let offline = screen(Some(&offline), 1_000);
        assert!(offline.contains("no network address yet"), "{offline}");
    }
}
