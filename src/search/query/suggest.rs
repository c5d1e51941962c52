//! "Did you mean": the query with its misspelt words replaced by the
//! closest words the reader's documents contain.
//!
//! A word looks misspelt when its stem is in no chunk the reader may see,
//! or in so few that a word one or two edits away is in at least
//! [`RARE_RATIO`] times as many. Candidates come from the `exact` field's
//! term dictionary (words as written, so the suggestion reads like the
//! documents) through a Levenshtein automaton (tantivy's, with a
//! transposition as one edit), one edit first and two only for long words
//! when one finds nothing; among them the word in the most visible chunks
//! wins.
//!
//! Every count is of visible chunks (`Statistics`), so a word that exists
//! only in collections the reader may not see counts nothing and is never
//! suggested; the caller still runs the corrected query under the reader's
//! filters before offering it.

use std::collections::HashMap;

use tantivy::Term;
use tantivy::query::FuzzyTermQuery;

use super::parse::{Parsed, Unit};
use crate::search::SearchError;
use crate::search::schema::{Analyzers, Fields, tokens};
use crate::search::stats::Statistics;

/// Shorter words are never corrected: too many real words lie one letter
/// away from them.
const MIN_CHARS: usize = 4;

/// Words at least this long may be two edits from their correction.
const TWO_EDITS_FROM_CHARS: usize = 8;

/// At most this many distinct words of one query are looked at.
const MAX_WORDS: usize = 8;

/// At most this many dictionary words near one word are counted per
/// segment, so a huge vocabulary costs a bounded time.
const MAX_CANDIDATES: usize = 200;

/// A word that does match something is replaced only by one found in at
/// least this many times as many visible chunks.
const RARE_RATIO: u64 = 10;

/// `input` with its misspelt words corrected, or `None` when no word needs
/// (or has) a correction.
pub(in crate::search) fn correct(
    input: &str,
    parsed: &Parsed,
    analyzers: &Analyzers,
    fields: &Fields,
    statistics: &Statistics<'_>,
) -> Result<Option<String>, SearchError> {
    let mut words = Vec::new();
    plain_words(parsed, &mut words);
    words.sort();
    words.dedup();
    words.truncate(MAX_WORDS);
    let mut analyzers = analyzers.clone();
    let mut replacements = Vec::new();
    for word in words {
        if let Some(better) = better_word(&word, &mut analyzers, fields, statistics)? {
            replacements.push((word, better));
        }
    }
    if replacements.is_empty() {
        return Ok(None);
    }
    Ok(Some(rewrite(input, &replacements)))
}

/// The words typed as plain words (not excluded, not prefixes, only
/// letters): the ones a person may have misspelt and a suggestion can
/// replace in place.
fn plain_words(parsed: &Parsed, words: &mut Vec<String>) {
    for clause in parsed.clauses.iter().filter(|clause| !clause.negated) {
        for unit in &clause.alternatives {
            match unit {
                Unit::Word {
                    text,
                    prefix: false,
                    ..
                } if text.chars().count() >= MIN_CHARS && text.chars().all(char::is_alphabetic) => {
                    words.push(text.clone());
                }
                Unit::Group(inner) => plain_words(inner, words),
                Unit::Word { .. } | Unit::Phrase { .. } => {}
            }
        }
    }
}

/// The visible word that `word` was probably meant to be.
fn better_word(
    word: &str,
    analyzers: &mut Analyzers,
    fields: &Fields,
    statistics: &Statistics<'_>,
) -> Result<Option<String>, SearchError> {
    let written = match tokens(&mut analyzers.exact, word).as_slice() {
        [(_, written)] => written.clone(),
        _ => return Ok(None),
    };
    // A stop word is never what made a search fail.
    let Some(stem) = first_stem(analyzers, word) else {
        return Ok(None);
    };
    let mut seen = 0;
    for field in [fields.body, fields.heading, fields.title] {
        seen += statistics
            .visible_doc_freq(&Term::from_field_text(field, &stem))
            .map_err(other)?;
    }
    let max_edits = if written.chars().count() >= TWO_EDITS_FROM_CHARS {
        2
    } else {
        1
    };
    // A word that matches something needs a much more common replacement.
    let needed = seen.saturating_mul(RARE_RATIO).max(1);
    for edits in 1..=max_edits {
        let mut best: Option<(u64, String)> = None;
        // Counting a word's visible chunks reads its posting lists, so the
        // candidates go in the order of their whole-index counts (an upper
        // bound) and the search stops once none can win.
        for (candidate, bound) in nearby_words(&written, edits, fields, statistics)? {
            if bound < needed || best.as_ref().is_some_and(|(count, _)| bound < *count) {
                break;
            }
            // "colour" for "color", "runs" for "running": the same word.
            match first_stem(analyzers, &candidate) {
                Some(candidate_stem) if candidate_stem != stem => {}
                _ => continue,
            }
            let count = statistics
                .visible_doc_freq(&Term::from_field_text(fields.exact, &candidate))
                .map_err(other)?;
            if count < needed {
                continue;
            }
            // Ties go to the first word alphabetically, not to the one with
            // the larger bound: that would depend on others' documents.
            let better = best.as_ref().is_none_or(|(best_count, best_word)| {
                count > *best_count || (count == *best_count && candidate < *best_word)
            });
            if better {
                best = Some((count, candidate));
            }
        }
        if let Some((_, candidate)) = best {
            return Ok(Some(same_case(word, &candidate)));
        }
    }
    Ok(None)
}

fn first_stem(analyzers: &mut Analyzers, word: &str) -> Option<String> {
    tokens(&mut analyzers.stem, word)
        .into_iter()
        .next()
        .map(|(_, stem)| stem)
}

/// The words of the `exact` field within `edits` edits of `written`, from
/// the segments that hold visible chunks, each with its chunk count in
/// those segments (visible or not: an upper bound of the visible count,
/// which is the caller's to take), highest first.
fn nearby_words(
    written: &str,
    edits: u8,
    fields: &Fields,
    statistics: &Statistics<'_>,
) -> Result<Vec<(String, u64)>, SearchError> {
    let automaton = FuzzyTermQuery::new(Term::from_field_text(fields.exact, written), edits, true)
        .automaton()
        .map_err(other)?;
    let mut bounds: HashMap<String, u64> = HashMap::new();
    for segment in statistics.segments_with_visible_chunks() {
        let inverted = segment.inverted_index(fields.exact).map_err(other)?;
        let mut stream = inverted
            .terms()
            .search(&automaton)
            .into_stream()
            .map_err(|error| SearchError::Other(error.to_string()))?;
        let mut taken = 0;
        while taken < MAX_CANDIDATES && stream.advance() {
            taken += 1;
            if let Ok(word) = std::str::from_utf8(stream.key())
                && word != written
                && word.chars().all(char::is_alphabetic)
            {
                *bounds.entry(word.to_string()).or_default() += u64::from(stream.value().doc_freq);
            }
        }
    }
    let mut words: Vec<(String, u64)> = bounds.into_iter().collect();
    words.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(words)
}

/// `suggestion` capitalised like `typed` was ("Sterlisation" →
/// "Sterilisation").
fn same_case(typed: &str, suggestion: &str) -> String {
    if typed.chars().next().is_some_and(char::is_uppercase) {
        let mut chars = suggestion.chars();
        if let Some(first) = chars.next() {
            return first.to_uppercase().chain(chars).collect();
        }
    }
    suggestion.to_string()
}

/// `input` with every whole word that equals a replaced one swapped for its
/// replacement; everything else (quotes, operators, spacing) as typed.
fn rewrite(input: &str, replacements: &[(String, String)]) -> String {
    let mut out = String::with_capacity(input.len() + 8);
    let mut word_start: Option<usize> = None;
    let flush =
        |out: &mut String, word: &str| match replacements.iter().find(|(typed, _)| typed == word) {
            Some((_, better)) => out.push_str(better),
            None => out.push_str(word),
        };
    for (at, c) in input.char_indices() {
        if c.is_alphanumeric() {
            word_start.get_or_insert(at);
            continue;
        }
        if let Some(start) = word_start.take() {
            flush(&mut out, &input[start..at]);
        }
        out.push(c);
    }
    if let Some(start) = word_start {
        flush(&mut out, &input[start..]);
    }
    out
}

fn other(error: tantivy::TantivyError) -> SearchError {
    SearchError::Other(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, replacements: &[(&str, &str)], expected: &str) {
        let replacements: Vec<(String, String)> = replacements
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(
            rewrite(input, &replacements),
            expected,
            "rewriting {input:?}"
        );
    }

    #[test]
    fn rewrites_only_whole_words() {
        check(
            "sterlisation procedure",
            &[("sterlisation", "sterilisation")],
            "sterilisation procedure",
        );
        check(
            "Budgit -draft \"budgit plan\" title:budgit",
            &[("budgit", "budget"), ("Budgit", "Budget")],
            "Budget -draft \"budget plan\" title:budget",
        );
        check("budgits budgit", &[("budgit", "budget")], "budgits budget");
        check("café  crème", &[("crème", "creme")], "café  creme");
        check("", &[("a", "b")], "");
    }

    #[test]
    fn keeps_the_capital() {
        assert_eq!(same_case("Sterlisation", "sterilisation"), "Sterilisation");
        assert_eq!(same_case("sterlisation", "sterilisation"), "sterilisation");
    }
}
