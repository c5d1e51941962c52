//! Redaction of personal data before text leaves the box for a cloud model,
//! and restoration of the placeholders in the model's answer.
//!
//! [`Redactor::redact`] replaces e-mail addresses, phone numbers, payment
//! cards, IBANs, national identifiers, IP addresses, dates of birth and
//! person names with placeholders such as `[PERSON_1]` or `[IBAN_2]`. The
//! mapping lives in [`Placeholders`], one per conversation: the same person
//! or number always gets the same placeholder, across every message of the
//! conversation, so the model can still tell people apart. The answer is put
//! back together with [`Placeholders::restore`], or chunk by chunk while it
//! streams with [`Restorer`].
//!
//! Detection is local and small: regular expressions for the shapes,
//! check digits for the numbers (Luhn, mod 97, MOD 11,10, 11-proof, 7-3-1),
//! context words for dates of birth and identifiers without a check digit,
//! the office's own list of staff and customers ([`KnownNames`], always
//! found), and for other names an embedded gazetteer of given names with
//! rules about titles, greetings, capitalisation and verbs. Precision and
//! recall on the labelled corpus in `corpus.jsonl` are measured by
//! [`evaluate`]; the unit tests hold the targets. `holdout.jsonl` holds
//! samples written after the rules, as a check on text they were not tuned
//! on.
//!
//! What it does not do: names the gazetteer does not know are found only
//! with context (a title, a greeting or label, a verb of speech, a listed
//! surname); names typed in lower case only when both parts are listed;
//! word-like given names without context stay (German "Kai kommt",
//! English "Frank, the pipes…"); postal addresses, health data, passwords
//! and free-form account numbers are not a kind. A company named in a case
//! citation ("Apple v. Samsung") is taken as a person. A digit run without
//! separators is a phone number only with a trunk zero or "+" or after a
//! phone word, and never after an invoice, order or account word.

mod detect;
mod eval;
mod names;
mod placeholders;
pub mod validate;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use eval::{KindStats, Report, evaluate};
pub use names::KnownNames;
pub use placeholders::{Placeholders, Restorer};

/// The labelled corpus the targets are measured on (`hearth bench --redaction`).
pub const CORPUS: &str = include_str!("corpus.jsonl");
/// Samples written after the rules, not tuned on.
pub const HOLDOUT: &str = include_str!("holdout.jsonl");

/// The kinds of personal data the redactor finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Email,
    Phone,
    Card,
    Iban,
    NationalId,
    Ip,
    BirthDate,
    KnownName,
    Person,
}

impl Kind {
    /// The word inside this kind's placeholders (`[EMAIL_1]`). Known names
    /// and other names share `PERSON`: the model needs no hint of which
    /// names the office knows.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Email => "EMAIL",
            Kind::Phone => "PHONE",
            Kind::Card => "CARD",
            Kind::Iban => "IBAN",
            Kind::NationalId => "ID",
            Kind::Ip => "IP",
            Kind::BirthDate => "DOB",
            Kind::KnownName | Kind::Person => "PERSON",
        }
    }

    /// Every kind, in declaration order.
    pub fn all() -> &'static [Kind] {
        &[
            Kind::Email,
            Kind::Phone,
            Kind::Card,
            Kind::Iban,
            Kind::NationalId,
            Kind::Ip,
            Kind::BirthDate,
            Kind::KnownName,
            Kind::Person,
        ]
    }

    /// The snake_case name used in the corpus and in JSON.
    pub fn key(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::Card => "card",
            Kind::Iban => "iban",
            Kind::NationalId => "national_id",
            Kind::Ip => "ip",
            Kind::BirthDate => "birth_date",
            Kind::KnownName => "known_name",
            Kind::Person => "person",
        }
    }

    /// How much a kind is trusted when two findings overlap with the same
    /// length: a checked number beats a phone shape, any number beats a name.
    fn rank(self) -> u8 {
        match self {
            Kind::Email => 9,
            Kind::Iban => 8,
            Kind::Card => 7,
            Kind::NationalId => 6,
            Kind::Ip => 5,
            Kind::Phone => 4,
            Kind::BirthDate => 3,
            Kind::KnownName => 2,
            Kind::Person => 1,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Email => "e-mail address",
            Kind::Phone => "phone number",
            Kind::Card => "payment card number",
            Kind::Iban => "IBAN",
            Kind::NationalId => "national identifier",
            Kind::Ip => "IP address",
            Kind::BirthDate => "date of birth",
            Kind::KnownName => "known name",
            Kind::Person => "person name",
        })
    }
}

/// One piece of personal data found in a text: its kind, its byte range in
/// the original text and the text itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Found {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
    pub original: String,
}

/// The result of [`Redactor::redact`]: the text to send, how many findings
/// of each kind it had, and the findings themselves (offsets into the
/// original text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redacted {
    pub text: String,
    pub counts: BTreeMap<Kind, usize>,
    pub spans: Vec<Found>,
}

impl Redacted {
    /// The counts keyed by the kinds' snake_case names ("email",
    /// "known_name"), the shape the egress log stores.
    pub fn counts_by_key(&self) -> BTreeMap<String, usize> {
        self.counts
            .iter()
            .map(|(k, n)| (k.key().to_string(), *n))
            .collect()
    }
}

/// A finding before overlaps are resolved. `canonical` is the listed form
/// of a known name, which is what its placeholder restores to.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
    pub canonical: Option<String>,
}

/// Finds and replaces personal data. Built once (the patterns are compiled
/// once per process, the known names once per redactor) and shared freely
/// between threads.
#[derive(Debug, Clone)]
pub struct Redactor {
    known: KnownNames,
}

impl Redactor {
    /// A redactor that also finds the given known names.
    pub fn new(known: KnownNames) -> Self {
        // Compile the shared patterns and load the gazetteer now rather than
        // on the first message.
        detect::patterns();
        names::lexicon();
        Redactor { known }
    }

    /// The known names this redactor finds.
    pub fn known_names(&self) -> &KnownNames {
        &self.known
    }

    /// The personal data in `text`: non-overlapping, sorted by position.
    pub fn find(&self, text: &str) -> Vec<Found> {
        self.candidates(text)
            .into_iter()
            .map(|c| Found {
                kind: c.kind,
                start: c.start,
                end: c.end,
                original: text[c.start..c.end].to_string(),
            })
            .collect()
    }

    /// `text` with its personal data replaced by placeholders from (and
    /// added to) `placeholders`.
    pub fn redact(&self, text: &str, placeholders: &mut Placeholders) -> Redacted {
        let found = self.candidates(text);
        let mut out = String::with_capacity(text.len());
        let mut counts = BTreeMap::new();
        let mut spans = Vec::with_capacity(found.len());
        let mut at = 0;
        for c in found {
            let original = &text[c.start..c.end];
            out.push_str(&text[at..c.start]);
            out.push_str(&placeholders.assign(c.kind, original, c.canonical.as_deref()));
            at = c.end;
            *counts.entry(c.kind).or_insert(0) += 1;
            spans.push(Found {
                kind: c.kind,
                start: c.start,
                end: c.end,
                original: original.to_string(),
            });
        }
        out.push_str(&text[at..]);
        Redacted {
            text: out,
            counts,
            spans,
        }
    }

    /// All detectors' findings, overlaps resolved.
    fn candidates(&self, text: &str) -> Vec<Candidate> {
        let mut all = Vec::new();
        detect::patterns().find(text, &mut all);
        self.known.find(text, &mut all);
        names::lexicon().find_persons(text, &mut all);
        resolve(all)
    }
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new(KnownNames::default())
    }
}

/// Picks non-overlapping findings: known names first remove the person
/// names they overlap (the office's own list is the better source), then
/// longer spans win over shorter ones, and at equal length the more specific
/// kind wins (an e-mail address containing a name is one e-mail address).
fn resolve(mut all: Vec<Candidate>) -> Vec<Candidate> {
    let known: Vec<(usize, usize)> = all
        .iter()
        .filter(|c| c.kind == Kind::KnownName)
        .map(|c| (c.start, c.end))
        .collect();
    if !known.is_empty() {
        all.retain(|c| {
            c.kind != Kind::Person || !known.iter().any(|&(s, e)| c.start < e && s < c.end)
        });
    }
    all.retain(|c| c.start < c.end);
    all.sort_by(|a, b| {
        (b.end - b.start)
            .cmp(&(a.end - a.start))
            .then(b.kind.rank().cmp(&a.kind.rank()))
            .then(a.start.cmp(&b.start))
    });
    // Accepted spans keyed by start; a new span overlaps an accepted one if
    // the nearest accepted span starting before its end reaches into it.
    let mut taken: BTreeMap<usize, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for c in all {
        let overlaps = taken
            .range(..c.end)
            .next_back()
            .is_some_and(|(_, &end)| end > c.start);
        if !overlaps {
            taken.insert(c.start, c.end);
            out.push(c);
        }
    }
    out.sort_by_key(|c| c.start);
    out
}
