//! The query language users type, and its translation into tantivy queries.
//!
//! The syntax follows web search engines, because that is what people type:
//!
//! - `budget review`: every word must appear (in the text, the heading or
//!   the title), ranked by BM25; words are stemmed, so "running" finds
//!   "runs". When no chunk has every word, `search` retries with any word and
//!   marks the results as relaxed. Stop words ("the", "of") are ignored
//!   unless the query has nothing else.
//! - `"exact phrase"`: those words in that order, unstemmed (case and accents
//!   still ignored). A quoted single word matches only that form.
//! - `a OR b` (also `|`): either. OR binds tighter than the implicit AND, as
//!   on the web: `budget 2024 OR 2025` is budget AND (2024 OR 2025).
//! - `-word`, `-"phrase"`, `NOT word`, `-(a b)`: exclude.
//! - `AND`, `+word`: accepted, and the same as the default.
//! - `budg*`: any word starting with "budg" (the 50 most common such words
//!   in the collections the user may read; at least two letters, or it is a
//!   plain word). `"big bad wo"*` and `e-ma*`: a phrase whose last word is
//!   a prefix, expanded the same way.
//! - `title:word`, `title:"a phrase"`, `title:budg*`: in the title or file
//!   name only.
//! - `( … )`: grouping, eight levels deep at most.
//!
//! Parsing never fails: unbalanced quotes run to the end, stray operators and
//! parentheses are ignored, unknown `field:` prefixes are plain words. Only
//! a query with nothing left to look for, or with too many words, is a
//! [`SearchError::BadQuery`], with a message meant for the user.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::query::{
    BooleanQuery, BoostQuery, EmptyQuery, EnableScoring, Explanation, Occur, PhraseQuery, Query,
    Scorer, TermQuery, Weight,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocAddress, DocId, DocSet, Score, SegmentOrdinal, SegmentReader, Term};

use super::SearchError;
use super::schema::{Analyzers, Fields, tokens};
use super::stats::Statistics;

/// Groups nested deeper than this are flattened (their parentheses ignored):
/// the parser is recursive, and a user's "((((…" must not exhaust the stack.
const MAX_DEPTH: usize = 8;

/// More words or phrases than this is a `BadQuery`: each becomes several
/// term queries, and prefixes expand further.
pub(super) const MAX_UNITS: usize = 32;

/// At most this many `prefix*` words per query: each one reads the term
/// dictionaries.
pub(super) const MAX_PREFIXES: usize = 8;

/// Longer queries are a `BadQuery`; nobody types this much into a search box.
pub(super) const MAX_QUERY_CHARS: usize = 1_000;

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

/// A parsed query: clauses that must all hold.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Parsed {
    pub clauses: Vec<Clause>,
}

/// One clause: any of its alternatives (`a OR b`), or, when negated, none.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Clause {
    pub negated: bool,
    pub alternatives: Vec<Unit>,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Unit {
    Word {
        text: String,
        prefix: bool,
        title: bool,
    },
    Phrase {
        text: String,
        title: bool,
    },
    Group(Parsed),
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word {
        text: String,
        negated: bool,
        title: bool,
        prefix: bool,
    },
    Phrase {
        text: String,
        negated: bool,
        title: bool,
    },
    Open {
        negated: bool,
    },
    Close,
    Or,
    And,
    Not,
}

impl Token {
    fn starts_unit(&self) -> bool {
        matches!(
            self,
            Token::Word { .. } | Token::Phrase { .. } | Token::Open { .. } | Token::Not
        )
    }
}

/// Rejects input no person would type into a search box, before parsing.
pub(super) fn check_length(input: &str) -> Result<(), SearchError> {
    if input.chars().count() > MAX_QUERY_CHARS {
        return Err(SearchError::BadQuery(format!(
            "The search is too long: use at most {MAX_QUERY_CHARS} characters."
        )));
    }
    Ok(())
}

/// Parses what a user typed. Never fails; see the module comment.
pub(super) fn parse(input: &str) -> Parsed {
    let mut parser = Parser {
        tokens: lex(input),
        position: 0,
    };
    parser.sequence(0)
}

fn lex(input: &str) -> Vec<Token> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        match c {
            '(' => {
                tokens.push(Token::Open { negated: false });
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            '"' => {
                let (token, next) = phrase_token(&chars, i + 1, false, false);
                tokens.push(token);
                i = next;
            }
            _ => {
                let start = i;
                while i < chars.len()
                    && !chars[i].is_whitespace()
                    && !matches!(chars[i], '"' | '(' | ')')
                {
                    i += 1;
                }
                let raw: String = chars[start..i].iter().collect();
                match raw.as_str() {
                    "OR" | "|" | "||" => {
                        tokens.push(Token::Or);
                        continue;
                    }
                    "AND" | "&" | "&&" => {
                        tokens.push(Token::And);
                        continue;
                    }
                    "NOT" => {
                        tokens.push(Token::Not);
                        continue;
                    }
                    _ => {}
                }
                let mut rest = raw.as_str();
                let mut negated = false;
                if let Some(after) = rest.strip_prefix('-') {
                    negated = true;
                    rest = after;
                } else if let Some(after) = rest.strip_prefix('+') {
                    rest = after;
                }
                let mut title = false;
                if rest.len() >= 6
                    && rest.is_char_boundary(6)
                    && rest[..6].eq_ignore_ascii_case("title:")
                {
                    title = true;
                    rest = &rest[6..];
                }
                if rest.is_empty() {
                    // "-", "title:" and friends modify what follows directly.
                    if chars.get(i) == Some(&'"') {
                        let (token, next) = phrase_token(&chars, i + 1, negated, title);
                        tokens.push(token);
                        i = next;
                    } else if chars.get(i) == Some(&'(') && !title {
                        tokens.push(Token::Open { negated });
                        i += 1;
                    }
                    continue;
                }
                let prefix = rest.ends_with('*');
                let text = rest.trim_end_matches('*');
                if !text.is_empty() {
                    tokens.push(Token::Word {
                        text: text.to_string(),
                        negated,
                        title,
                        prefix,
                    });
                }
            }
        }
    }
    tokens
}

/// A quoted phrase starting after its opening quote; `"big bad wo"*` is a
/// phrase whose last word is a prefix.
fn phrase_token(chars: &[char], start: usize, negated: bool, title: bool) -> (Token, usize) {
    let (text, next) = read_phrase(chars, start);
    if chars.get(next) == Some(&'*') && chars.get(next - 1) == Some(&'"') {
        let token = Token::Word {
            text,
            negated,
            title,
            prefix: true,
        };
        return (token, next + 1);
    }
    (
        Token::Phrase {
            text,
            negated,
            title,
        },
        next,
    )
}

/// Reads a phrase body starting after its opening quote; an unclosed quote
/// runs to the end of the input. Returns the text and the next index.
fn read_phrase(chars: &[char], start: usize) -> (String, usize) {
    let mut end = start;
    while end < chars.len() && chars[end] != '"' {
        end += 1;
    }
    let text = chars[start.min(end)..end].iter().collect();
    (text, (end + 1).min(chars.len()))
}

struct Parser {
    tokens: Vec<Token>,
    position: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position)
    }

    fn sequence(&mut self, depth: usize) -> Parsed {
        let mut clauses = Vec::new();
        while let Some(token) = self.peek() {
            match token {
                Token::Close if depth > 0 => break,
                Token::Close | Token::Or | Token::And => {
                    // Stray ")" at the top, or an operator with nothing on
                    // its left: ignore it.
                    self.position += 1;
                    continue;
                }
                _ => {}
            }
            let before = self.position;
            if let Some(clause) = self.clause(depth) {
                clauses.push(clause);
            }
            if self.position == before {
                self.position += 1;
            }
        }
        Parsed { clauses }
    }

    fn clause(&mut self, depth: usize) -> Option<Clause> {
        let mut alternatives = Vec::new();
        if let Some(unit) = self.unary(depth) {
            alternatives.push(unit);
        }
        while self.peek() == Some(&Token::Or) {
            self.position += 1;
            if !self.peek().is_some_and(Token::starts_unit) {
                break;
            }
            if let Some(unit) = self.unary(depth) {
                alternatives.push(unit);
            }
        }
        if alternatives.len() == 1 {
            let (negated, unit) = alternatives.remove(0);
            return Some(Clause {
                negated,
                alternatives: vec![unit],
            });
        }
        // "a OR -b" means nothing useful for a search: drop the negated side.
        let alternatives: Vec<Unit> = alternatives
            .into_iter()
            .filter(|(negated, _)| !negated)
            .map(|(_, unit)| unit)
            .collect();
        (!alternatives.is_empty()).then_some(Clause {
            negated: false,
            alternatives,
        })
    }

    /// One unit with its negation, or `None` (consuming what was skipped).
    fn unary(&mut self, depth: usize) -> Option<(bool, Unit)> {
        let mut negate = false;
        while let Some(token) = self.peek() {
            match token {
                Token::Not => negate = true,
                Token::And => {}
                _ => break,
            }
            self.position += 1;
        }
        let token = self.peek()?.clone();
        match token {
            Token::Word {
                text,
                negated,
                title,
                prefix,
            } => {
                self.position += 1;
                Some((
                    negate || negated,
                    Unit::Word {
                        text,
                        prefix,
                        title,
                    },
                ))
            }
            Token::Phrase {
                text,
                negated,
                title,
            } => {
                self.position += 1;
                Some((negate || negated, Unit::Phrase { text, title }))
            }
            Token::Open { negated } => {
                self.position += 1;
                if depth >= MAX_DEPTH {
                    return None;
                }
                let inner = self.sequence(depth + 1);
                if self.peek() == Some(&Token::Close) {
                    self.position += 1;
                }
                (!inner.clauses.is_empty()).then_some((negate || negated, Unit::Group(inner)))
            }
            Token::Close | Token::Or | Token::And | Token::Not => None,
        }
    }
}

/// Whether every word must match or any may (the relaxed retry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    AllWords,
    AnyWord,
}

/// Terms to mark in snippets: stems of the body analyser, and exact
/// (lowercased, folded) words from phrases and prefix expansions.
#[derive(Clone, Debug, Default)]
pub(super) struct HighlightTerms {
    pub stemmed: BTreeSet<String>,
    pub exact: BTreeSet<String>,
}

pub(super) struct Built {
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
pub(super) fn build(
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
pub(super) fn question(
    text: &str,
    analyzers: &Analyzers,
    fields: &Fields,
) -> Option<Box<dyn Query>> {
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

/// Name of the fast field the grouping collector reads, and that breaks ties
/// between equal scores.
pub(super) const DOC_ID_FIELD: &str = "doc_id";

/// Collects every matching chunk but keeps only the best-scoring one per
/// document: a results page lists documents, and `total` counts them.
pub(super) struct BestChunkPerDocument;

type Best = HashMap<i64, (Score, DocAddress)>;

fn keep_best(best: &mut Best, doc_id: i64, score: Score, address: DocAddress) {
    match best.entry(doc_id) {
        Entry::Occupied(mut entry) => {
            if score > entry.get().0 {
                entry.insert((score, address));
            }
        }
        Entry::Vacant(entry) => {
            entry.insert((score, address));
        }
    }
}

impl Collector for BestChunkPerDocument {
    /// Best first; equal scores by document id.
    type Fruit = Vec<(Score, DocAddress)>;
    type Child = BestChunkSegment;

    fn for_segment(
        &self,
        segment_ord: SegmentOrdinal,
        segment: &SegmentReader,
    ) -> tantivy::Result<BestChunkSegment> {
        Ok(BestChunkSegment {
            segment_ord,
            doc_ids: segment.fast_fields().i64(DOC_ID_FIELD)?,
            best: HashMap::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, segment_fruits: Vec<Best>) -> tantivy::Result<Self::Fruit> {
        let mut best = Best::new();
        for fruit in segment_fruits {
            for (doc_id, (score, address)) in fruit {
                keep_best(&mut best, doc_id, score, address);
            }
        }
        let mut ranked: Vec<(i64, Score, DocAddress)> = best
            .into_iter()
            .map(|(doc_id, (score, address))| (doc_id, score, address))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(ranked
            .into_iter()
            .map(|(_, score, address)| (score, address))
            .collect())
    }
}

pub(super) struct BestChunkSegment {
    segment_ord: SegmentOrdinal,
    doc_ids: Column<i64>,
    best: Best,
}

impl SegmentCollector for BestChunkSegment {
    type Fruit = Best;

    fn collect(&mut self, doc: DocId, score: Score) {
        if let Some(doc_id) = self.doc_ids.first(doc) {
            keep_best(
                &mut self.best,
                doc_id,
                score,
                DocAddress::new(self.segment_ord, doc),
            );
        }
    }

    fn harvest(self) -> Best {
        self.best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(text: &str) -> Unit {
        Unit::Word {
            text: text.to_string(),
            prefix: false,
            title: false,
        }
    }

    fn must(unit: Unit) -> Clause {
        Clause {
            negated: false,
            alternatives: vec![unit],
        }
    }

    fn check(input: &str, expected: Vec<Clause>) {
        assert_eq!(parse(input).clauses, expected, "parsing {input:?}");
    }

    #[test]
    fn parses_the_documented_syntax() {
        check(
            "budget review",
            vec![must(word("budget")), must(word("review"))],
        );
        check(
            "budget 2024 OR 2025",
            vec![
                must(word("budget")),
                Clause {
                    negated: false,
                    alternatives: vec![word("2024"), word("2025")],
                },
            ],
        );
        check(
            "-draft NOT old",
            vec![
                Clause {
                    negated: true,
                    alternatives: vec![word("draft")],
                },
                Clause {
                    negated: true,
                    alternatives: vec![word("old")],
                },
            ],
        );
        check(
            "\"exact phrase\" budg* title:\"annual report\" TITLE:plan",
            vec![
                must(Unit::Phrase {
                    text: "exact phrase".to_string(),
                    title: false,
                }),
                must(Unit::Word {
                    text: "budg".to_string(),
                    prefix: true,
                    title: false,
                }),
                must(Unit::Phrase {
                    text: "annual report".to_string(),
                    title: true,
                }),
                must(Unit::Word {
                    text: "plan".to_string(),
                    prefix: false,
                    title: true,
                }),
            ],
        );
        check(
            "-(a b) c",
            vec![
                Clause {
                    negated: true,
                    alternatives: vec![Unit::Group(Parsed {
                        clauses: vec![must(word("a")), must(word("b"))],
                    })],
                },
                must(word("c")),
            ],
        );
    }

    #[test]
    fn forgives_typos() {
        check(
            "\"unclosed phrase",
            vec![must(Unit::Phrase {
                text: "unclosed phrase".to_string(),
                title: false,
            })],
        );
        check("AND AND x OR", vec![must(word("x"))]);
        check("- * -* ) ( title:", vec![]);
        check("a OR -b", vec![must(word("a"))]);
        check(
            "error: file",
            vec![must(word("error:")), must(word("file"))],
        );
        check(
            "(a (b",
            vec![must(Unit::Group(Parsed {
                clauses: vec![
                    must(word("a")),
                    must(Unit::Group(Parsed {
                        clauses: vec![must(word("b"))],
                    })),
                ],
            }))],
        );
        // Deep nesting is flattened, not recursed into.
        let deep = "(".repeat(10_000) + "x" + &")".repeat(10_000);
        assert!(!parse(&deep).clauses.is_empty());
    }
}
