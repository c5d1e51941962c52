//! The placeholder mapping of one conversation, and putting the originals
//! back into the model's answer, whole ([`Placeholders::restore`]) or while
//! it streams ([`Restorer`]).
//!
//! Placeholders are `[LABEL_N]`, numbered per label in order of first
//! appearance. The same original always gets the same placeholder: e-mail
//! addresses compare lower-cased, phone, card and IBAN numbers by their
//! digits, names case-folded, and every form of a known name (full, "Frau
//! Schmidt", "A. Schmidt") as the one listed person. Models often drop the
//! brackets; a bare `PERSON_1` standing as a word is restored too. A
//! placeholder that was never issued is left as it is.

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::Kind;
use super::names::fold;

/// One issued placeholder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The placeholder as it appears in the text, `[PERSON_1]`.
    pub placeholder: String,
    pub kind: Kind,
    /// The normalised original, which decides whether two findings are the
    /// same piece of data.
    pub key: String,
    /// What the placeholder restores to.
    pub value: String,
}

/// The stable mapping from personal data to placeholders for one
/// conversation. Serialises to a list of entries, so it can be stored with
/// the conversation and restored later.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Stored", into = "Stored")]
pub struct Placeholders {
    entries: Vec<Entry>,
    /// (label, key) → entry.
    by_key: HashMap<(String, String), usize>,
    /// Placeholder without brackets ("PERSON_1") → entry.
    by_token: HashMap<String, usize>,
    /// Highest number issued per label.
    max: HashMap<String, u64>,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    entries: Vec<Entry>,
}

impl From<Stored> for Placeholders {
    fn from(s: Stored) -> Self {
        let mut p = Placeholders::default();
        for e in s.entries {
            p.insert(e);
        }
        p
    }
}

impl From<Placeholders> for Stored {
    fn from(p: Placeholders) -> Self {
        Stored { entries: p.entries }
    }
}

impl Placeholders {
    pub fn new() -> Self {
        Placeholders::default()
    }

    /// Number of distinct originals with a placeholder.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The issued placeholders in order of issue.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The original a placeholder (with or without brackets) stands for.
    pub fn lookup(&self, placeholder: &str) -> Option<&str> {
        let bare = placeholder
            .strip_prefix('[')
            .and_then(|p| p.strip_suffix(']'))
            .unwrap_or(placeholder);
        self.by_token
            .get(bare)
            .and_then(|&i| self.entries.get(i))
            .map(|e| e.value.as_str())
    }

    /// Adds an entry read back from storage. Entries whose placeholder does
    /// not have the `[LABEL_N]` shape, or that repeat a placeholder or key
    /// already present, are skipped: stored data is not trusted to be
    /// consistent.
    fn insert(&mut self, e: Entry) {
        let Some((label, n)) = parse_placeholder(&e.placeholder) else {
            return;
        };
        let bare = format!("{label}_{n}");
        let key = (label.to_string(), e.key.clone());
        if self.by_token.contains_key(&bare) || self.by_key.contains_key(&key) {
            return;
        }
        let idx = self.entries.len();
        let max = self.max.entry(label.to_string()).or_insert(0);
        *max = (*max).max(n);
        self.by_token.insert(bare, idx);
        self.by_key.insert(key, idx);
        self.entries.push(e);
    }

    /// The placeholder for a finding, issuing a new one for data not seen
    /// before in this conversation.
    pub(crate) fn assign(&mut self, kind: Kind, original: &str, canonical: Option<&str>) -> String {
        let label = kind.label();
        let key = normalise(kind, canonical.unwrap_or(original));
        if let Some(&i) = self.by_key.get(&(label.to_string(), key.clone()))
            && let Some(e) = self.entries.get(i)
        {
            return e.placeholder.clone();
        }
        let max = self.max.entry(label.to_string()).or_insert(0);
        *max += 1;
        let n = *max;
        let bare = format!("{label}_{n}");
        let placeholder = format!("[{bare}]");
        let idx = self.entries.len();
        self.by_token.insert(bare, idx);
        self.by_key.insert((label.to_string(), key.clone()), idx);
        self.entries.push(Entry {
            placeholder: placeholder.clone(),
            kind,
            key,
            value: canonical.unwrap_or(original).to_string(),
        });
        placeholder
    }

    /// `text` with every issued placeholder replaced by its original.
    pub fn restore(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        self.restore_into(text, None, &mut out);
        out
    }

    /// Restores `text`, where `prev` is the character before it (for the
    /// word boundary of a bare placeholder at its start).
    fn restore_into(&self, text: &str, prev: Option<char>, out: &mut String) {
        let mut at = 0;
        for m in token_regex().find_iter(text) {
            let t = m.as_str();
            let open = t.starts_with('[');
            let close = t.ends_with(']');
            let inner_start = m.start() + usize::from(open);
            let inner_end = m.end() - usize::from(close);
            let inner = &text[inner_start..inner_end];
            let value = if open && close {
                self.by_token.get(inner)
            } else {
                // Without both brackets the placeholder must stand as a word.
                let before = if inner_start == 0 {
                    prev
                } else {
                    text[..inner_start].chars().next_back()
                };
                let after = text[inner_end..].chars().next();
                let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                if word(before) || word(after) {
                    None
                } else {
                    self.by_token.get(inner)
                }
            };
            let Some(e) = value.and_then(|&i| self.entries.get(i)) else {
                continue;
            };
            let (from, to) = if open && close {
                (m.start(), m.end())
            } else {
                (inner_start, inner_end)
            };
            out.push_str(&text[at..from]);
            out.push_str(&e.value);
            at = to;
        }
        out.push_str(&text[at..]);
    }

    /// Whether `tail` (the end of the text streamed so far) could still grow
    /// into an issued placeholder, or is a bare one that needs the next
    /// character to know whether it stands as a word.
    fn pending(&self, tail: &str) -> bool {
        let body = tail.strip_prefix('[').unwrap_or(tail);
        if body.is_empty() {
            return tail == "[";
        }
        for (label, &max) in &self.max {
            if label.len() >= body.len() {
                if label.starts_with(body) {
                    return true;
                }
                continue;
            }
            let Some(rest) = body.strip_prefix(label.as_str()) else {
                continue;
            };
            let Some(digits) = rest.strip_prefix('_') else {
                continue;
            };
            if digits.is_empty() {
                return true;
            }
            if digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            // More digits only make the number larger, so a number already
            // above the highest issued one can never become a placeholder.
            if digits.parse::<u64>().is_ok_and(|n| n <= max) {
                return true;
            }
        }
        false
    }

    /// The longest text a placeholder can take, `[PERSON_123]`.
    fn longest(&self) -> usize {
        self.max
            .iter()
            .map(|(l, &n)| l.len() + n.to_string().len() + 3)
            .max()
            .unwrap_or(0)
    }
}

/// Placeholders, bracketed or not. The brackets are optional so that the
/// mangled forms are seen too; the code decides what counts.
fn token_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        match Regex::new(r"\[?(?:EMAIL|PHONE|CARD|IBAN|ID|IP|DOB|PERSON)_[0-9]{1,18}\]?") {
            Ok(r) => r,
            Err(e) => panic!("built-in placeholder pattern does not compile: {e}"),
        }
    })
}

/// `[LABEL_N]` → (LABEL, N).
fn parse_placeholder(p: &str) -> Option<(&str, u64)> {
    let inner = p.strip_prefix('[')?.strip_suffix(']')?;
    let (label, n) = inner.rsplit_once('_')?;
    if !Kind::all().iter().any(|k| k.label() == label) {
        return None;
    }
    if n.is_empty() || n.starts_with('0') || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Stored data is not trusted: a number near u64::MAX would overflow
    // the next one issued. No conversation has a billion placeholders.
    let n: u64 = n.parse().ok()?;
    (n <= 1_000_000_000).then_some((label, n))
}

/// The comparison key of a finding: what makes two spellings the same data.
fn normalise(kind: Kind, original: &str) -> String {
    match kind {
        Kind::Email => original.to_lowercase(),
        Kind::Phone => {
            // "+49 (0)30 …", "+49 30 …" and "0049 30 …" are the same number.
            let dialled = original.replacen("(0)", "", 1);
            let d: String = dialled.chars().filter(char::is_ascii_digit).collect();
            if dialled.trim_start().starts_with("00") {
                d.get(2..).unwrap_or("").to_string()
            } else {
                d
            }
        }
        Kind::Card => original.chars().filter(char::is_ascii_digit).collect(),
        Kind::Iban | Kind::NationalId => original
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .collect(),
        Kind::Ip => match original.parse::<std::net::IpAddr>() {
            Ok(ip) => ip.to_string(),
            Err(_) => original.to_lowercase(),
        },
        Kind::BirthDate => original
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase(),
        Kind::KnownName | Kind::Person => fold(original),
    }
}

/// Restores placeholders in a streamed answer. Each [`push`](Self::push)
/// returns the text that is safe to show now; the end of a chunk that could
/// still be the start of a placeholder is held back (never more than the
/// longest placeholder) until the next chunk or [`finish`](Self::finish).
#[derive(Debug)]
pub struct Restorer<'a> {
    placeholders: &'a Placeholders,
    held: String,
    prev: Option<char>,
    longest: usize,
}

impl<'a> Restorer<'a> {
    pub fn new(placeholders: &'a Placeholders) -> Self {
        Restorer {
            placeholders,
            held: String::new(),
            prev: None,
            longest: placeholders.longest(),
        }
    }

    /// Adds a chunk of the answer; returns the restored text that can be
    /// shown now.
    pub fn push(&mut self, chunk: &str) -> String {
        self.held.push_str(chunk);
        // The earliest start, within the last `longest` bytes, of a tail
        // that may still become a placeholder.
        let len = self.held.len();
        let mut cut = len;
        let from = len.saturating_sub(self.longest);
        for (i, c) in self.held.char_indices() {
            if i < from {
                continue;
            }
            if (c == '[' || c.is_ascii_uppercase()) && self.placeholders.pending(&self.held[i..]) {
                cut = i;
                break;
            }
        }
        let mut out = String::new();
        let ready = &self.held[..cut];
        self.placeholders.restore_into(ready, self.prev, &mut out);
        if let Some(c) = ready.chars().next_back() {
            self.prev = Some(c);
        }
        self.held.drain(..cut);
        out
    }

    /// Bytes held back, waiting for the next chunk.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.held.len()
    }

    /// The rest of the answer, restored.
    pub fn finish(self) -> String {
        let mut out = String::new();
        self.placeholders
            .restore_into(&self.held, self.prev, &mut out);
        out
    }
}
