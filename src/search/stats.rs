//! BM25 statistics over only the chunks a reader may see.
//!
//! Tantivy ranks with statistics of the whole index: how many chunks there
//! are, how many contain each word, how long each field is on average. Those
//! numbers include the collections a reader cannot see, so a reader's scores
//! and order would move when a colleague privately uploaded a document
//! containing a word, and anyone could test guesses ("layoff", a name) that
//! way. [`Visible`] holds which chunks of one searcher's segments belong to a
//! set of collections (live ones only: tantivy keeps counting deleted chunks
//! until a merge), and [`Statistics`] computes the BM25 numbers over those
//! chunks alone; every scored search hands it to tantivy as the
//! [`Bm25StatisticsProvider`], and prefix expansion ranks words by it.
//!
//! The numbers are a function of the visible chunks only, never of how the
//! index happens to be split into segments, so the merges that others'
//! uploads cause do not move them either. That is why field lengths are
//! summed from the chunks' field norms (the lengths BM25 reads for each
//! chunk, rounded the same way) rather than from tantivy's exact per-segment
//! token totals, which mix collections.
//!
//! Finding a set's chunks reads the collections' posting lists, so
//! [`StatsCache`] keeps the most recently used sets of the newest searcher
//! generation, each with the word counts asked of it so far.
//!
//! Two much weaker dependencies on the rest of the index remain. Prefix
//! expansion reads at most `MAX_SCANNED_TERMS` dictionary words per segment
//! (see `query::build::expand_prefix`). And tantivy adds the scores of three or
//! more required words in the order of their posting lists' lengths within
//! a segment, so a merge can change such a score in its last bit.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tantivy::query::Bm25StatisticsProvider;
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocId, DocSet, Searcher, SegmentReader, TERMINATED, Term};

use super::SearchError;

/// Collection sets kept per searcher generation. A set costs one bit per
/// chunk plus its word counts; the server's readers have few distinct sets.
const MAX_CACHED_SETS: usize = 64;

/// Word counts kept per set before they are forgotten and counted again:
/// about 80 bytes each, so with [`MAX_CACHED_SETS`] the cache stays near
/// 10 MB (plus a bit per chunk per set).
const MAX_CACHED_TERMS: usize = 2_048;

/// The most recently used [`Visible`] sets of the newest searcher
/// generation. Shared by every search of one index.
#[derive(Default)]
pub(super) struct StatsCache {
    state: Mutex<CacheState>,
}

#[derive(Default)]
struct CacheState {
    generation: u64,
    /// Counts lookups, to find the least recently used set.
    clock: u64,
    sets: HashMap<Vec<i64>, (u64, Arc<Visible>)>,
}

impl StatsCache {
    /// The chunks of `collections` in `searcher`'s segments, from the cache
    /// when this generation has seen the same set.
    pub(super) fn visible(
        &self,
        searcher: &Searcher,
        collection_field: Field,
        collections: &BTreeSet<i64>,
    ) -> Result<Arc<Visible>, SearchError> {
        let generation = searcher.generation().generation_id();
        let key: Vec<i64> = collections.iter().copied().collect();
        {
            let mut state = self.lock();
            if generation > state.generation {
                // A reload: the old segments' sets can never be asked again.
                state.sets.clear();
                state.generation = generation;
            }
            state.clock += 1;
            let now = state.clock;
            if let Some((used, visible)) = state.sets.get_mut(&key)
                && visible.generation == generation
            {
                *used = now;
                return Ok(Arc::clone(visible));
            }
        }
        // Computed without the lock, so that other searches need not wait.
        let visible = Arc::new(Visible::compute(searcher, collection_field, collections)?);
        let mut state = self.lock();
        // A search still holding an older searcher must not replace the
        // newer generation's sets.
        if state.generation == generation {
            if state.sets.len() >= MAX_CACHED_SETS
                && !state.sets.contains_key(&key)
                && let Some(oldest) = state
                    .sets
                    .iter()
                    .min_by_key(|(_, (used, _))| *used)
                    .map(|(key, _)| key.clone())
            {
                state.sets.remove(&oldest);
            }
            let now = state.clock;
            state.sets.insert(key, (now, Arc::clone(&visible)));
        }
        Ok(visible)
    }

    /// How many sets are cached now.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.lock().sets.len()
    }

    fn lock(&self) -> MutexGuard<'_, CacheState> {
        // The state is only a cache: whatever a panicking search left in it
        // is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Which live chunks of one searcher's segments belong to a set of
/// collections, and the statistics asked of them so far.
pub(super) struct Visible {
    generation: u64,
    /// By segment ordinal.
    segments: Vec<SegmentDocs>,
    num_docs: u64,
    tokens: Mutex<HashMap<Field, u64>>,
    doc_freqs: Mutex<HashMap<Term, u64>>,
}

enum SegmentDocs {
    Nothing,
    /// Every chunk of the segment (so it has no deleted ones either), where
    /// the term dictionary's counts are exact and no posting list need be
    /// read.
    Everything,
    Some(DocBits),
}

impl Visible {
    fn compute(
        searcher: &Searcher,
        collection_field: Field,
        collections: &BTreeSet<i64>,
    ) -> Result<Visible, SearchError> {
        let mut segments = Vec::with_capacity(searcher.segment_readers().len());
        let mut num_docs = 0;
        for segment in searcher.segment_readers() {
            let inverted = segment.inverted_index(collection_field).map_err(other)?;
            let alive = segment.alive_bitset();
            let mut docs = DocBits::new(segment.max_doc());
            for &collection in collections {
                let term = Term::from_field_i64(collection_field, collection);
                let Some(mut postings) = inverted
                    .read_postings(&term, IndexRecordOption::Basic)
                    .map_err(io)?
                else {
                    continue;
                };
                let mut doc = postings.doc();
                while doc != TERMINATED {
                    if alive.is_none_or(|alive| alive.is_alive(doc)) {
                        docs.insert(doc);
                    }
                    doc = postings.advance();
                }
            }
            let count = docs.len();
            num_docs += count;
            segments.push(if count == 0 {
                SegmentDocs::Nothing
            } else if count == u64::from(segment.max_doc()) {
                SegmentDocs::Everything
            } else {
                SegmentDocs::Some(docs)
            });
        }
        Ok(Visible {
            generation: searcher.generation().generation_id(),
            segments,
            num_docs,
            tokens: Mutex::new(HashMap::new()),
            doc_freqs: Mutex::new(HashMap::new()),
        })
    }

    /// The statistics of these chunks, read through `searcher`, which must
    /// be the one they were computed from.
    pub(super) fn statistics<'a>(&'a self, searcher: &'a Searcher) -> Statistics<'a> {
        debug_assert_eq!(searcher.generation().generation_id(), self.generation);
        debug_assert_eq!(searcher.segment_readers().len(), self.segments.len());
        Statistics {
            searcher,
            visible: self,
        }
    }
}

/// BM25 statistics over the visible chunks: pass it to
/// `Searcher::search_with_statistics_provider` for every scored search.
pub(super) struct Statistics<'a> {
    searcher: &'a Searcher,
    visible: &'a Visible,
}

impl Statistics<'_> {
    pub(super) fn searcher(&self) -> &Searcher {
        self.searcher
    }

    /// The segments with at least one visible chunk; words found only in
    /// the others cannot match.
    pub(super) fn segments_with_visible_chunks(&self) -> impl Iterator<Item = &SegmentReader> {
        self.searcher
            .segment_readers()
            .iter()
            .zip(&self.visible.segments)
            .filter(|(_, docs)| !matches!(docs, SegmentDocs::Nothing))
            .map(|(segment, _)| segment)
    }

    /// How many visible chunks contain `term`.
    pub(super) fn visible_doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        if let Some(&count) = lock(&self.visible.doc_freqs).get(term) {
            return Ok(count);
        }
        let mut count = 0;
        for (segment, docs) in self
            .searcher
            .segment_readers()
            .iter()
            .zip(&self.visible.segments)
        {
            let docs = match docs {
                SegmentDocs::Nothing => continue,
                SegmentDocs::Everything => {
                    let inverted = segment.inverted_index(term.field())?;
                    count += inverted
                        .get_term_info(term)?
                        .map_or(0, |info| u64::from(info.doc_freq));
                    continue;
                }
                SegmentDocs::Some(docs) => docs,
            };
            let inverted = segment.inverted_index(term.field())?;
            let Some(mut postings) = inverted.read_postings(term, IndexRecordOption::Basic)? else {
                continue;
            };
            let mut doc = postings.doc();
            while doc != TERMINATED {
                count += u64::from(docs.contains(doc));
                doc = postings.advance();
            }
        }
        let mut cached = lock(&self.visible.doc_freqs);
        if cached.len() >= MAX_CACHED_TERMS {
            cached.clear();
        }
        cached.insert(term.clone(), count);
        Ok(count)
    }

    fn visible_tokens(&self, field: Field) -> tantivy::Result<u64> {
        if let Some(&tokens) = lock(&self.visible.tokens).get(&field) {
            return Ok(tokens);
        }
        let mut tokens = 0;
        for (segment, docs) in self
            .searcher
            .segment_readers()
            .iter()
            .zip(&self.visible.segments)
        {
            // Without norms tantivy scores every chunk as one token long.
            let norms = segment.fieldnorms_readers().get_field(field)?;
            let length = |doc: DocId| norms.as_ref().map_or(1, |norms| norms.fieldnorm(doc));
            tokens += match docs {
                SegmentDocs::Nothing => 0,
                SegmentDocs::Everything => (0..segment.max_doc())
                    .map(|doc| u64::from(length(doc)))
                    .sum(),
                SegmentDocs::Some(docs) => docs.iter().map(|doc| u64::from(length(doc))).sum(),
            };
        }
        lock(&self.visible.tokens).insert(field, tokens);
        Ok(tokens)
    }
}

impl Bm25StatisticsProvider for Statistics<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        // At least one, so the average length is never 0/0 (NaN) when no
        // visible chunk has the field; then none of them can match in it,
        // and the value changes no visible score.
        Ok(self.visible_tokens(field)?.max(1))
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        // Likewise: with nothing visible nothing matches.
        Ok(self.visible.num_docs.max(1))
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        self.visible_doc_freq(term)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Caches only: a panic elsewhere leaves them consistent.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn other(error: tantivy::TantivyError) -> SearchError {
    SearchError::Other(error.to_string())
}

fn io(error: std::io::Error) -> SearchError {
    SearchError::Other(error.to_string())
}

/// A set of a segment's chunks, one bit each.
struct DocBits {
    words: Vec<u64>,
    len: u64,
}

impl DocBits {
    fn new(max_doc: DocId) -> DocBits {
        DocBits {
            words: vec![0; (max_doc as usize).div_ceil(64)],
            len: 0,
        }
    }

    fn insert(&mut self, doc: DocId) {
        let (word, bit) = (doc as usize / 64, doc % 64);
        if self.words[word] & (1 << bit) == 0 {
            self.words[word] |= 1 << bit;
            self.len += 1;
        }
    }

    fn contains(&self, doc: DocId) -> bool {
        self.words
            .get(doc as usize / 64)
            .is_some_and(|word| word & (1 << (doc % 64)) != 0)
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn iter(&self) -> impl Iterator<Item = DocId> + '_ {
        self.words.iter().enumerate().flat_map(|(index, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let bit = rest.trailing_zeros();
                rest &= rest - 1;
                Some(index as DocId * 64 + bit)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_bits_iterate_what_was_inserted() {
        for (max_doc, docs) in [
            (0, vec![]),
            (1, vec![0]),
            (64, vec![0, 63]),
            (65, vec![64]),
            (200, vec![1, 2, 63, 64, 65, 127, 128, 199]),
        ] {
            let mut bits = DocBits::new(max_doc);
            for &doc in docs.iter().chain(&docs) {
                bits.insert(doc);
            }
            assert_eq!(bits.len(), docs.len() as u64, "{docs:?}");
            assert_eq!(bits.iter().collect::<Vec<_>>(), docs);
            for doc in 0..max_doc + 64 {
                assert_eq!(bits.contains(doc), docs.contains(&doc), "{doc} in {docs:?}");
            }
        }
    }
}
