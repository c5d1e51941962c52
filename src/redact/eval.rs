//! Measuring the redactor on a labelled corpus: per kind, how much of the
//! labelled data it finds (recall) and how much of what it finds is
//! labelled (precision).
//!
//! The corpus (`corpus.jsonl` beside this file) is JSON Lines. The first line
//! may hold the office's known names, `{"known_names": ["Anna Schmidt", …]}`;
//! every other line is one sample:
//! `{"lang": "en"|"de", "text": "…", "entities": [{"kind": "email", "text": "…"}, …]}`
//! with kinds in snake_case as in [`Kind`]. An entity's position is its
//! optional `"start"` (byte offset into the text, checked against `"text"`);
//! without one it is the k-th occurrence of its text, where k counts the
//! earlier entities of the sample with the same text and no `"start"` (so a
//! substring that occurs twice is simply listed twice).
//!
//! A finding counts for a labelled span when the two overlap and the kinds
//! agree, except that a person label is also met by a known-name finding
//! (the known name is the better answer, not a different one).

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use super::{Found, Kind, KnownNames, Redactor};

/// Counts for one kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindStats {
    /// Labelled spans of this kind.
    pub gold: usize,
    /// Labelled spans met by a finding.
    pub gold_found: usize,
    /// Findings of this kind.
    pub found: usize,
    /// Findings that meet a labelled span.
    pub found_correct: usize,
}

impl KindStats {
    /// Share of labelled spans found; 1 when there are none.
    pub fn recall(&self) -> f64 {
        ratio(self.gold_found, self.gold)
    }

    /// Share of findings that are labelled; 1 when there are none.
    pub fn precision(&self) -> f64 {
        ratio(self.found_correct, self.found)
    }

    fn add(&mut self, o: &KindStats) {
        self.gold += o.gold;
        self.gold_found += o.gold_found;
        self.found += o.found;
        self.found_correct += o.found_correct;
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// The result of [`evaluate`].
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub per_kind: BTreeMap<Kind, KindStats>,
    /// Samples per language.
    pub samples: BTreeMap<String, usize>,
    /// Samples with at least one labelled span of a kind.
    pub samples_with: BTreeMap<Kind, usize>,
    /// Labelled spans not found: "kind: text — in: sample".
    pub misses: Vec<String>,
    /// Findings that meet no labelled span.
    pub false_positives: Vec<String>,
    /// Corpus lines that could not be read, with the reason.
    pub bad_lines: Vec<String>,
}

impl Report {
    /// All kinds together.
    pub fn total(&self) -> KindStats {
        let mut t = KindStats::default();
        for s in self.per_kind.values() {
            t.add(s);
        }
        t
    }

    /// The counts for one kind (zero if the corpus has none).
    pub fn kind(&self, kind: Kind) -> KindStats {
        self.per_kind.get(&kind).copied().unwrap_or_default()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<12} {:>6} {:>6} {:>8} {:>6} {:>8} {:>10}",
            "kind", "gold", "found", "gold_tp", "fp", "recall", "precision"
        )?;
        let row = |f: &mut fmt::Formatter<'_>, name: &str, s: &KindStats| {
            writeln!(
                f,
                "{:<12} {:>6} {:>6} {:>8} {:>6} {:>7.1}% {:>9.1}%",
                name,
                s.gold,
                s.found,
                s.gold_found,
                s.found - s.found_correct,
                s.recall() * 100.0,
                s.precision() * 100.0
            )
        };
        for (k, s) in &self.per_kind {
            row(f, k.key(), s)?;
        }
        row(f, "all", &self.total())?;
        let langs: Vec<String> = self
            .samples
            .iter()
            .map(|(l, n)| format!("{l} {n}"))
            .collect();
        writeln!(f, "samples: {}", langs.join(", "))
    }
}

#[derive(Deserialize)]
struct Line {
    #[serde(default)]
    known_names: Option<Vec<String>>,
    #[serde(default)]
    lang: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    entities: Vec<GoldEntity>,
}

#[derive(Deserialize)]
struct GoldEntity {
    kind: Kind,
    text: String,
    #[serde(default)]
    start: Option<usize>,
}

/// A labelled span of a sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gold {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

/// A corpus sample with its labels resolved to byte ranges.
#[derive(Debug, Clone)]
pub struct Sample {
    pub lang: String,
    pub text: String,
    pub gold: Vec<Gold>,
}

/// Reads a corpus: its known names, its samples, and the lines it could
/// not read.
pub fn load(corpus: &str) -> (Vec<String>, Vec<Sample>, Vec<String>) {
    let mut known = Vec::new();
    let mut samples = Vec::new();
    let mut bad = Vec::new();
    for (no, line) in corpus.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Line = match serde_json::from_str(line) {
            Ok(l) => l,
            Err(e) => {
                bad.push(format!("line {}: {e}", no + 1));
                continue;
            }
        };
        if let Some(names) = parsed.known_names {
            known.extend(names);
            continue;
        }
        let Some(text) = parsed.text else {
            bad.push(format!("line {}: no text", no + 1));
            continue;
        };
        match resolve_gold(&text, &parsed.entities) {
            Ok(gold) => samples.push(Sample {
                lang: parsed.lang,
                text,
                gold,
            }),
            Err(e) => bad.push(format!("line {}: {e}", no + 1)),
        }
    }
    (known, samples, bad)
}

fn resolve_gold(text: &str, entities: &[GoldEntity]) -> Result<Vec<Gold>, String> {
    let mut out = Vec::with_capacity(entities.len());
    for (i, e) in entities.iter().enumerate() {
        if e.text.is_empty() {
            return Err("empty entity text".into());
        }
        let start = match e.start {
            Some(s) => {
                let end = s.saturating_add(e.text.len());
                if text.get(s..end) != Some(e.text.as_str()) {
                    return Err(format!("{:?} is not at byte {s}", e.text));
                }
                s
            }
            None => {
                let k = entities[..i]
                    .iter()
                    .filter(|o| o.text == e.text && o.start.is_none())
                    .count();
                let mut from = 0;
                let mut at = None;
                for _ in 0..=k {
                    match text.get(from..).and_then(|t| t.find(&e.text)) {
                        Some(p) => {
                            at = Some(from + p);
                            from += p + 1;
                            while !text.is_char_boundary(from) {
                                from += 1;
                            }
                        }
                        None => {
                            at = None;
                            break;
                        }
                    }
                }
                at.ok_or_else(|| format!("{:?} occurs fewer than {} times", e.text, k + 1))?
            }
        };
        out.push(Gold {
            kind: e.kind,
            start,
            end: start + e.text.len(),
        });
    }
    Ok(out)
}

/// Whether a finding of kind `found` answers a label of kind `gold`.
fn answers(found: Kind, gold: Kind) -> bool {
    found == gold || (gold == Kind::Person && found == Kind::KnownName)
}

fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// Runs the redactor made by `make` (given the corpus's known names) over
/// every sample of `corpus` and counts, per kind, labels found and findings
/// labelled.
pub fn evaluate(corpus: &str, make: impl Fn(KnownNames) -> Redactor) -> Report {
    let (known, samples, bad_lines) = load(corpus);
    let redactor = make(KnownNames::new(known));
    let mut report = Report {
        bad_lines,
        ..Report::default()
    };
    for s in &samples {
        *report.samples.entry(s.lang.clone()).or_insert(0) += 1;
        let found = redactor.find(&s.text);
        let mut kinds_here: Vec<Kind> = s.gold.iter().map(|g| g.kind).collect();
        kinds_here.sort();
        kinds_here.dedup();
        for k in kinds_here {
            *report.samples_with.entry(k).or_insert(0) += 1;
        }
        for g in &s.gold {
            let st = report.per_kind.entry(g.kind).or_default();
            st.gold += 1;
            if found
                .iter()
                .any(|f| answers(f.kind, g.kind) && overlaps((f.start, f.end), (g.start, g.end)))
            {
                st.gold_found += 1;
            } else {
                report.misses.push(format!(
                    "{}: {:?} — in: {}",
                    g.kind.key(),
                    &s.text[g.start..g.end],
                    s.text
                ));
            }
        }
        for f in &found {
            let st = report.per_kind.entry(f.kind).or_default();
            st.found += 1;
            if correct(f, &s.gold) {
                st.found_correct += 1;
            } else {
                report.false_positives.push(format!(
                    "{}: {:?} — in: {}",
                    f.kind.key(),
                    f.original,
                    s.text
                ));
            }
        }
    }
    report
}

fn correct(f: &Found, gold: &[Gold]) -> bool {
    gold.iter()
        .any(|g| answers(f.kind, g.kind) && overlaps((f.start, f.end), (g.start, g.end)))
}
