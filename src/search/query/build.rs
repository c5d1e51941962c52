//! Turning a parsed query into a tantivy query: words become stemmed terms
//! in the body, heading and title (boosted), phrases and hyphenated words
//! become exact phrases, prefixes expand to the reader's most common
//! matching words, and exclusions become `MustNot` clauses. Also the
//! "any meaningful word" query used to find passages for a question, and
//! the words a snippet should mark.

use std::collections::{BTreeSet, HashMap};

use tantivy::query::{
    BooleanQuery, BoostQuery, EmptyQuery, EnableScoring, Explanation, Occur, PhraseQuery, Query,
    Scorer, TermQuery, Weight,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocId, DocSet, Score, SegmentReader, Term};

use super::parse::{Parsed, Unit};
use crate::search::SearchError;
use crate::search::schema::{Analyzers, Fields, tokens};
use crate::search::stats::Statistics;

/// More words or phrases than this is a `BadQuery`: each becomes several
/// term queries, and prefixes expand further.
const MAX_UNITS: usize = 32;

/// At most this many `prefix*` words per query: each one reads the term
/// dictionaries.
const MAX_PREFIXES: usize = 8;

/// Questions are cut to this many characters; a question is not a document.
const MAX_QUESTION_CHARS: usize = 4_000;

/// A prefix expands to at most this many of its most frequent words.
const MAX_EXPANSIONS: usize = 50;

/// Stop reading a segment's term dictionary after this many candidates, so
/// a short prefix over a huge vocabulary stays fast.
const MAX_SCANNED_TERMS: usize = 20_000;

/// Shorter prefixes are searched as plain words ("a*" is "a").
const MIN_PREFIX_CHARS: usize = 2;

/// A match in a heading or title says more than one in running text.
const HEADING_BOOST: Score = 1.5;
const TITLE_BOOST: Score = 2.0;

/// Whether every word must match or any may (the relaxed retry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::search) enum Mode {
    AllWords,
    AnyWord,
}

/// Terms to mark in snippets: stems of the body analyser, and exact
/// (lowercased, folded) words from phrases and prefix expansions.
#[derive(Clone, Debug, Default)]
pub(in crate::search) struct HighlightTerms {
    pub stemmed: BTreeSet<String>,
    pub exact: BTreeSet<String>,
}

pub(in crate::search) struct Built {
    pub query: Box<dyn Query>,
    pub highlight: HighlightTerms,
    /// There are several required clauses, so an `AnyWord` retry can find
    /// more.
    pub relaxable: bool,
}

/// Translates a parsed query into a tantivy query over the text fields.
/// Prefixes expand to the words most common in the chunks `statistics`
/// covers (what the reader may see), so that others' documents change
/// neither the expansion nor, through it, the results.
pub(in crate::search) fn build(
    parsed: &Parsed,
    analyzers: &Analyzers,
    fields: &Fields,
    statistics: &Statistics<'_>,
    mode: Mode,
) -> Result<Built, SearchError> {
    let mut builder = Builder {
        analyzers: analyzers.clone(),
        fields,
        statistics,
        units: 0,
        prefixes: 0,
        highlight: HighlightTerms::default(),
        stop_words: Vec::new(),
    };
    let (mut positive, negative) = builder.clauses(parsed, true)?;
    if positive.is_empty() {
        if !builder.stop_words.is_empty() {
            // Only stop words ("to be or not to be"): look for them as written.
            for word in std::mem::take(&mut builder.stop_words) {
                positive.push(builder.exact_phrase(&[(0, word)], true));
            }
        } else if !negative.is_empty() {
            return Err(SearchError::BadQuery(
                "Add a word to search for: a search cannot consist only of excluded words."
                    .to_string(),
            ));
        } else {
            return Err(SearchError::BadQuery(
                "Type a word or a phrase to search for.".to_string(),
            ));
        }
    }
    let relaxable = mode == Mode::AllWords && positive.len() > 1;
    let occur = match mode {
        Mode::AllWords => Occur::Must,
        Mode::AnyWord => Occur::Should,
    };
    let mut clauses: Vec<(Occur, Box<dyn Query>)> =
        positive.into_iter().map(|query| (occur, query)).collect();
    clauses.extend(negative.into_iter().map(excluded));
    Ok(Built {
        query: Box::new(BooleanQuery::new(clauses)),
        highlight: builder.highlight,
        relaxable,
    })
}

type Clauses = (Vec<Box<dyn Query>>, Vec<Box<dyn Query>>);

struct Builder<'a> {
    analyzers: Analyzers,
    fields: &'a Fields,
    statistics: &'a Statistics<'a>,
    units: usize,
    prefixes: usize,
    highlight: HighlightTerms,
    /// Words dropped as stop words, kept in case nothing else is left.
    stop_words: Vec<String>,
}

impl Builder<'_> {
    /// The positive and the negated clauses of one level.
    fn clauses(&mut self, parsed: &Parsed, highlight: bool) -> Result<Clauses, SearchError> {
        let mut positive = Vec::new();
        let mut negative = Vec::new();
        for clause in &parsed.clauses {
            let mut alternatives = Vec::new();
            for unit in &clause.alternatives {
                if let Some(query) = self.unit(unit, highlight && !clause.negated)? {
                    alternatives.push(query);
                }
            }
            let query = match alternatives.len() {
                0 => continue,
                1 => alternatives.remove(0),
                _ => Box::new(BooleanQuery::union(alternatives)),
            };
            if clause.negated {
                negative.push(query);
            } else {
                positive.push(query);
            }
        }
        Ok((positive, negative))
    }

    fn unit(
        &mut self,
        unit: &Unit,
        highlight: bool,
    ) -> Result<Option<Box<dyn Query>>, SearchError> {
        match unit {
            Unit::Group(parsed) => {
                let (positive, negative) = self.clauses(parsed, highlight)?;
                if positive.is_empty() {
                    // A group of only exclusions matches nothing by itself.
                    return Ok(None);
                }
                let clauses = positive
                    .into_iter()
                    .map(|query| (Occur::Must, query))
                    .chain(negative.into_iter().map(excluded))
                    .collect();
                Ok(Some(Box::new(BooleanQuery::new(clauses))))
            }
            Unit::Word {
                text,
                prefix,
                title,
            } => {
                self.count_unit()?;
                if *prefix {
                    self.prefixes += 1;
                    if self.prefixes > MAX_PREFIXES {
                        return Err(SearchError::BadQuery(format!(
                            "The search has too many words ending in *: use at most {MAX_PREFIXES}."
                        )));
                    }
                    self.prefix(text, *title, highlight)
                } else {
                    Ok(self.word(text, *title, highlight))
                }
            }
            Unit::Phrase { text, title } => {
                self.count_unit()?;
                Ok(self.phrase(text, *title, highlight))
            }
        }
    }

    fn count_unit(&mut self) -> Result<(), SearchError> {
        self.units += 1;
        if self.units > MAX_UNITS {
            return Err(SearchError::BadQuery(format!(
                "The search is too long: use at most {MAX_UNITS} words or phrases."
            )));
        }
        Ok(())
    }

    fn word(&mut self, text: &str, title: bool, highlight: bool) -> Option<Box<dyn Query>> {
        let exact = tokens(&mut self.analyzers.exact, text);
        if title {
            return self.stemmed_in(self.fields.title, text);
        }
        match exact.len() {
            0 => None,
            // "e-mail", "covid-19", "3.5": the parts, next to each other.
            2.. => Some(self.exact_phrase(&exact, highlight)),
            1 => {
                let stems = tokens(&mut self.analyzers.stem, text);
                let Some((_, stem)) = stems.into_iter().next() else {
                    self.stop_words.push(exact[0].1.clone());
                    return None;
                };
                if highlight {
                    self.highlight.stemmed.insert(stem.clone());
                }
                let fields = [
                    (self.fields.body, 1.0),
                    (self.fields.heading, HEADING_BOOST),
                    (self.fields.title, TITLE_BOOST),
                ];
                let per_field = fields
                    .into_iter()
                    .map(|(field, boost)| {
                        let term = TermQuery::new(
                            Term::from_field_text(field, &stem),
                            IndexRecordOption::WithFreqs,
                        );
                        Box::new(BoostQuery::new(Box::new(term), boost)) as Box<dyn Query>
                    })
                    .collect();
                Some(Box::new(BooleanQuery::union(per_field)))
            }
        }
    }

    /// A word or phrase in one stemmed field with positions (the title).
    fn stemmed_in(&mut self, field: Field, text: &str) -> Option<Box<dyn Query>> {
        let stems = tokens(&mut self.analyzers.stem, text);
        match stems.len() {
            0 => None,
            1 => Some(Box::new(TermQuery::new(
                Term::from_field_text(field, &stems[0].1),
                IndexRecordOption::WithFreqs,
            ))),
            _ => Some(Box::new(PhraseQuery::new_with_offset(
                stems
                    .into_iter()
                    .map(|(position, stem)| (position, Term::from_field_text(field, &stem)))
                    .collect(),
            ))),
        }
    }

    fn phrase(&mut self, text: &str, title: bool, highlight: bool) -> Option<Box<dyn Query>> {
        if title {
            return self.stemmed_in(self.fields.title, text);
        }
        let exact = tokens(&mut self.analyzers.exact, text);
        if exact.is_empty() {
            return None;
        }
        Some(self.exact_phrase(&exact, highlight))
    }

    /// Words in the unstemmed field, in this order (one word: that word).
    fn exact_phrase(&mut self, words: &[(usize, String)], highlight: bool) -> Box<dyn Query> {
        if highlight {
            self.highlight
                .exact
                .extend(words.iter().map(|(_, word)| word.clone()));
        }
        let field = self.fields.exact;
        if let [(_, word)] = words {
            return Box::new(TermQuery::new(
                Term::from_field_text(field, word),
                IndexRecordOption::WithFreqs,
            ));
        }
        Box::new(PhraseQuery::new_with_offset(
            words
                .iter()
                .map(|(position, word)| (*position, Term::from_field_text(field, word)))
                .collect(),
        ))
    }

    fn prefix(
        &mut self,
        text: &str,
        title: bool,
        highlight: bool,
    ) -> Result<Option<Box<dyn Query>>, SearchError> {
        let exact = tokens(&mut self.analyzers.exact, text);
        match exact.as_slice() {
            [] => Ok(None),
            [(_, prefix)] => {
                if prefix.chars().count() < MIN_PREFIX_CHARS {
                    return Ok(self.word(text, title, highlight));
                }
                let field = if title {
                    self.fields.title
                } else {
                    self.fields.exact
                };
                let words = expand_prefix(self.statistics, field, prefix)?;
                if words.is_empty() {
                    return Ok(Some(Box::new(EmptyQuery)));
                }
                if highlight && !title {
                    self.highlight.exact.extend(words.iter().cloned());
                }
                let alternatives = words
                    .iter()
                    .map(|word| {
                        Box::new(TermQuery::new(
                            Term::from_field_text(field, word),
                            IndexRecordOption::WithFreqs,
                        )) as Box<dyn Query>
                    })
                    .collect();
                Ok(Some(Box::new(BooleanQuery::union(alternatives))))
            }
            [leading @ .., (last_position, last)] => {
                // "e-ma*": a phrase whose last word is a prefix. Tantivy's
                // `PhrasePrefixQuery` would expand it to the first words of
                // each segment's dictionary and score it with whole-index
                // statistics, both of which others' documents change; so
                // expand it like a single prefix and ask for each phrase.
                if highlight {
                    self.highlight
                        .exact
                        .extend(leading.iter().map(|(_, word)| word.clone()));
                }
                let field = self.fields.exact;
                let words = expand_prefix(self.statistics, field, last)?;
                if words.is_empty() {
                    return Ok(Some(Box::new(EmptyQuery)));
                }
                let phrases = words
                    .iter()
                    .map(|word| {
                        let terms = leading
                            .iter()
                            .chain(std::iter::once(&(*last_position, word.clone())))
                            .map(|(position, word)| (*position, Term::from_field_text(field, word)))
                            .collect();
                        Box::new(PhraseQuery::new_with_offset(terms)) as Box<dyn Query>
                    })
                    .collect();
                Ok(Some(Box::new(BooleanQuery::union(phrases))))
            }
        }
    }
}

/// The indexed words of `field` that start with `prefix` and occur in the
/// most visible chunks (at most [`MAX_EXPANSIONS`], most common first, then
/// alphabetical).
///
/// Counting a word's visible chunks reads its posting lists, so words are
/// taken in the order of their whole-index counts, an upper bound, and the
/// search stops once no remaining word can beat the chosen ones. One thing
/// still depends on other collections: a segment's dictionary is read only
/// up to [`MAX_SCANNED_TERMS`] words with the prefix, which a prefix meets
/// only in a vocabulary of tens of thousands of words sharing it.
fn expand_prefix(
    statistics: &Statistics<'_>,
    field: Field,
    prefix: &str,
) -> Result<Vec<String>, SearchError> {
    let mut bounds: HashMap<String, u64> = HashMap::new();
    for segment in statistics.segments_with_visible_chunks() {
        let inverted = segment
            .inverted_index(field)
            .map_err(|error| SearchError::Other(error.to_string()))?;
        let mut stream = inverted
            .terms()
            .range()
            .ge(prefix.as_bytes())
            .into_stream()
            .map_err(|error| SearchError::Other(error.to_string()))?;
        let mut scanned = 0;
        while stream.advance() && scanned < MAX_SCANNED_TERMS {
            let key = stream.key();
            if !key.starts_with(prefix.as_bytes()) {
                break;
            }
            scanned += 1;
            if let Ok(word) = std::str::from_utf8(key) {
                *bounds.entry(word.to_string()).or_default() += u64::from(stream.value().doc_freq);
            }
        }
    }
    let mut candidates: Vec<(String, u64)> = bounds.into_iter().collect();
    candidates.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    // Best first: visible count descending, then the word.
    let mut chosen: Vec<(String, u64)> = Vec::with_capacity(MAX_EXPANSIONS + 1);
    for (word, bound) in candidates {
        if chosen.len() == MAX_EXPANSIONS
            && let Some((worst_word, worst_count)) = chosen.last()
            && (bound < *worst_count || (bound == *worst_count && word > *worst_word))
        {
            // Candidates come in (bound, word) order, so none after this
            // one can rank above the worst chosen word either.
            break;
        }
        let count = statistics
            .visible_doc_freq(&Term::from_field_text(field, &word))
            .map_err(|error| SearchError::Other(error.to_string()))?;
        if count == 0 {
            continue;
        }
        let at = chosen.partition_point(|(other, other_count)| {
            *other_count > count || (*other_count == count && *other < word)
        });
        chosen.insert(at, (word, count));
        chosen.truncate(MAX_EXPANSIONS);
    }
    Ok(chosen.into_iter().map(|(word, _)| word).collect())
}

/// At most this many distinct words of a question are used.
const MAX_QUESTION_TERMS: usize = 64;

/// A question as "any of its meaningful words", or `None` if it has none.
/// The words of a question that say what it is about (question words and
/// stop words left out), stemmed, at most [`MAX_QUESTION_TERMS`].
pub(in crate::search) fn question_stems(text: &str, analyzers: &Analyzers) -> BTreeSet<String> {
    let text = match text.char_indices().nth(MAX_QUESTION_CHARS) {
        Some((cut, _)) => &text[..cut],
        None => text,
    };
    let mut analyzers = analyzers.clone();
    let mut stems = BTreeSet::new();
    for (_, word) in tokens(&mut analyzers.exact, text) {
        if analyzers.question_words.contains(&word.as_str()) {
            continue;
        }
        if let Some((_, stem)) = tokens(&mut analyzers.stem, &word).into_iter().next() {
            stems.insert(stem);
            if stems.len() >= MAX_QUESTION_TERMS {
                break;
            }
        }
    }
    stems
}

/// How much of a question a passage covers: the share of the question's
/// stems that occur in `text` (0 to 1).
pub(in crate::search) fn coverage(
    stems: &BTreeSet<String>,
    text: &str,
    analyzers: &Analyzers,
) -> f32 {
    if stems.is_empty() {
        return 0.0;
    }
    let mut analyzers = analyzers.clone();
    let found: BTreeSet<String> = tokens(&mut analyzers.stem, text)
        .into_iter()
        .map(|(_, stem)| stem)
        .filter(|stem| stems.contains(stem))
        .collect();
    found.len() as f32 / stems.len() as f32
}

pub(in crate::search) fn question(
    text: &str,
    analyzers: &Analyzers,
    fields: &Fields,
) -> Option<Box<dyn Query>> {
    let stems = question_stems(text, analyzers);
    if stems.is_empty() {
        return None;
    }
    let per_term = stems
        .iter()
        .map(|stem| {
            let in_field = |field: Field, boost: Score| {
                Box::new(BoostQuery::new(
                    Box::new(TermQuery::new(
                        Term::from_field_text(field, stem),
                        IndexRecordOption::WithFreqs,
                    )),
                    boost,
                )) as Box<dyn Query>
            };
            // The passage's own text decides; headings and titles help a little.
            Box::new(BooleanQuery::union(vec![
                in_field(fields.body, 1.0),
                in_field(fields.heading, 0.5),
                in_field(fields.title, 0.3),
            ])) as Box<dyn Query>
        })
        .collect();
    Some(Box::new(BooleanQuery::union(per_term)))
}

/// A `MustNot` clause, wrapped in [`Excluded`].
fn excluded(query: Box<dyn Query>) -> (Occur, Box<dyn Query>) {
    (Occur::MustNot, Box::new(Excluded(query)))
}

/// Makes tantivy probe an excluded query with the default, forward-only
/// `seek_danger`. Tantivy 0.27 probes exclusions with targets behind a
/// phrase scorer that has already run out, which `PhraseScorer::seek_danger`
/// debug-asserts against (quickwit-oss/tantivy#2811): release builds answer
/// correctly, debug builds panic on `budget -"marketing costs"`.
#[derive(Debug)]
struct Excluded(Box<dyn Query>);

impl Clone for Excluded {
    fn clone(&self) -> Self {
        Excluded(self.0.box_clone())
    }
}

impl Query for Excluded {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(ExcludedWeight(self.0.weight(enable_scoring)?)))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        self.0.query_terms(visitor);
    }
}

struct ExcludedWeight(Box<dyn Weight>);

impl Weight for ExcludedWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        Ok(Box::new(ForwardOnly(self.0.scorer(reader, boost)?)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        self.0.explain(reader, doc)
    }
}

/// A scorer that never passes a target behind its current document on.
struct ForwardOnly(Box<dyn Scorer>);

impl DocSet for ForwardOnly {
    fn advance(&mut self) -> DocId {
        self.0.advance()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        let doc = self.0.doc();
        if doc >= target {
            return doc;
        }
        self.0.seek(target)
    }

    fn doc(&self) -> DocId {
        self.0.doc()
    }

    fn size_hint(&self) -> u32 {
        self.0.size_hint()
    }

    fn cost(&self) -> u64 {
        self.0.cost()
    }
}

impl Scorer for ForwardOnly {
    fn score(&mut self) -> Score {
        self.0.score()
    }
}
