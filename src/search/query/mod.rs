//! The query language users type, and its translation into tantivy queries.
//!
//! The syntax follows web search engines, because that is what people type:
//!
//! - `budget review`: every word must appear (in the text, the heading or
//!   the title), ranked by BM25; words are stemmed, so "running" finds
//!   "runs", and British and American spellings are one word ("colour"
//!   finds "color", "sterilization" finds "sterilisation"). When no chunk has every word, `search` retries with any word and
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
//! [`SearchError::BadQuery`](super::SearchError::BadQuery), with a message
//! meant for the user.
//!
//! When a search finds little, `suggest` offers the query with its
//! misspelt words corrected ("Did you mean").
//!
//! A query goes through three steps: `parse` reads the text into clauses
//! (never failing), `build` turns those into a tantivy query over the text
//! fields (expanding prefixes with what the reader may see), and `collect`
//! keeps the best-scoring chunk of each matching document.

mod build;
mod collect;
mod parse;
mod suggest;

pub(super) use build::{HighlightTerms, Mode, build, coverage, question, question_stems};
pub(super) use collect::{BestChunkPerDocument, DOC_ID_FIELD};
pub(super) use parse::{Parsed, check_length, parse};
pub(super) use suggest::correct;
