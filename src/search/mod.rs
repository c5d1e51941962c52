//! Full-text search over document chunks: the only module that imports
//! tantivy.
//!
//! A [`SearchIndex`] is a cheap-clone handle. Writes go over a bounded queue
//! to one named thread ("hearth-index", see `writer`) that owns the tantivy
//! `IndexWriter` and commits in batches; reads use one long-lived
//! `IndexReader` that the writer thread reloads after each commit, so
//! [`SearchIndex::search`] is a short synchronous call meant for
//! `spawn_blocking`. Access control is part of every query (a term filter on
//! the collection), never a filter applied to results, so hit counts and
//! snippets cannot leak documents a user may not see; and ranking uses BM25
//! statistics of the user's collections only (see `stats`), so scores and
//! order cannot either.
//!
//! The index is derived data: when [`SearchIndex::open`] answers
//! [`SearchError::NeedsRebuild`], call [`SearchIndex::recreate`] and re-add
//! every document. The query language users type is described in `query`.

pub mod bench;
mod chunk;
mod query;
mod schema;
mod snippet;
mod spelling;
mod stats;
mod writer;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use tantivy::collector::sort_key::{SortBySimilarityScore, SortByStaticFastValue};
use tantivy::collector::{Collector, Count, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query, RangeQuery, TermSetQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{
    DocAddress, Index, IndexReader, IndexSettings, Order, ReloadPolicy, Score, Searcher,
    TantivyDocument, TantivyError, Term,
};
use tokio::sync::oneshot;

pub use chunk::{Section, chunk};

use schema::{Analyzers, Fields};
use stats::{Statistics, StatsCache};
use writer::Request;

/// How many write requests may wait for the writer thread. Past this,
/// callers wait up to [`SEND_TIMEOUT`] and then get [`SearchError::Busy`].
const QUEUE_CAPACITY: usize = 256;

/// How long a write waits for room in the queue before answering `Busy`.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest page a caller may ask for; larger `limit`s are clamped.
pub const MAX_LIMIT: usize = 200;

/// Hits beyond this rank are never returned (the count stays exact); it
/// bounds the work a crafted `offset` can cause.
pub const MAX_OFFSET: usize = 10_000;

/// Tantivy's smallest memory budget per indexing thread.
const MIN_MEMORY_PER_THREAD: usize = 15_000_000;

/// Tuning for one index.
#[derive(Clone, Debug)]
pub struct SearchConfig {
    /// Stemming and stop-word language: any of tantivy's stemmer languages by
    /// name ("english", "german", ...). Changing it makes the index report
    /// [`SearchError::NeedsRebuild`].
    pub language: String,
    /// Writes become searchable at most this long after they were accepted
    /// (or at once after [`SearchIndex::flush`]). Batching keeps the number of
    /// small segments, and so search time, down during bulk ingest.
    pub commit_interval: Duration,
    /// Memory for the writer's in-memory segments, shared by its indexing
    /// threads (at least 15 MB per thread).
    pub writer_memory_bytes: usize,
    /// A search that finds fewer documents than this, or not every word,
    /// looks for a spelling correction (`did_you_mean`); 0 never does.
    pub suggest_below: usize,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            language: "english".to_string(),
            commit_interval: Duration::from_millis(500),
            writer_memory_bytes: 64 * 1024 * 1024,
            suggest_below: 3,
        }
    }
}

/// What can go wrong, in the variants callers branch on.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The user's query cannot be run; the message is written for the user.
    #[error("{0}")]
    BadQuery(String),
    /// The index on disk is corrupt or was built with another layout or
    /// language: call [`SearchIndex::recreate`] and re-add every document.
    #[error("the search index needs to be rebuilt: {0}")]
    NeedsRebuild(String),
    /// The write queue stayed full; try again shortly.
    #[error("the search index is busy")]
    Busy,
    /// Anything else (I/O, a stopped writer, bad configuration).
    #[error("search index error: {0}")]
    Other(String),
}

fn other(error: TantivyError) -> SearchError {
    SearchError::Other(error.to_string())
}

/// One document as the index sees it: its metadata and its chunks.
#[derive(Clone, Debug)]
pub struct IndexDocument {
    pub doc_id: i64,
    pub collection_id: i64,
    pub title: String,
    pub file_name: String,
    /// Lowercase file kind ("pdf", "docx", ...), used by the format filter.
    pub format: String,
    /// Unix seconds.
    pub modified: i64,
    /// A document without chunks is still indexed by title and file name.
    pub chunks: Vec<Chunk>,
}

/// A piece of a document's text, small enough to rank and to quote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub ord: u32,
    pub page: Option<u32>,
    pub heading: Option<String>,
    pub text: String,
}

/// A search as a user asked it, plus the caller's access.
#[derive(Clone, Debug, Default)]
pub struct SearchRequest {
    /// What the user typed; see `query` for the syntax.
    pub query: String,
    /// The collections the user may read. Empty means no results.
    pub allowed_collections: Vec<i64>,
    /// The user's own collection filter, intersected with `allowed_collections`.
    pub collections: Option<Vec<i64>>,
    /// Only these formats ("pdf", ...); empty means all.
    pub formats: Vec<String>,
    /// Only chunks of documents modified at or after this unix time.
    pub modified_from: Option<i64>,
    /// Only chunks of documents modified at or before this unix time.
    pub modified_to: Option<i64>,
    pub offset: usize,
    /// Page size, clamped to [`MAX_LIMIT`]; 0 returns only `total`.
    pub limit: usize,
}

/// One page of results.
#[derive(Clone, Debug)]
pub struct SearchResults {
    /// Matching documents ([`SearchIndex::search`]) or chunks
    /// ([`SearchIndex::search_chunks`]), over all pages.
    pub total: usize,
    pub hits: Vec<Hit>,
    pub took: Duration,
    /// No result contained every word, so these are results that contain
    /// some of them (the page should say so).
    pub relaxed: bool,
    /// The query with misspelt words corrected, when the search found
    /// little and the correction finds more in what the reader may see.
    pub did_you_mean: Option<String>,
}

/// One matching chunk.
#[derive(Clone, Debug)]
pub struct Hit {
    pub doc_id: i64,
    pub collection_id: i64,
    pub chunk_ord: u32,
    pub page: Option<u32>,
    pub heading: Option<String>,
    pub title: String,
    pub file_name: String,
    pub format: String,
    pub modified: i64,
    /// HTML-escaped excerpt with `<mark>…</mark>` around matches; nothing
    /// else in it is markup.
    pub snippet_html: String,
    /// The same excerpt as plain text.
    pub snippet_text: String,
    pub score: f32,
}

/// A chunk picked to answer a question, with its full text.
#[derive(Clone, Debug)]
pub struct Passage {
    pub doc_id: i64,
    pub collection_id: i64,
    pub chunk_ord: u32,
    pub page: Option<u32>,
    pub heading: Option<String>,
    pub title: String,
    pub text: String,
    pub score: f32,
    /// The share of the question's words (stemmed; question and stop words
    /// left out) found in the passage, its heading or its title: 0 to 1.
    pub coverage: f32,
}

/// The index of a running server once it is open, or why it is not (still
/// opening, another process holds it, it failed): shared by everything that
/// searches, so none of them needs the documents capability to find it.
#[derive(Clone)]
pub struct IndexSlot {
    index: Arc<std::sync::OnceLock<SearchIndex>>,
    problem: Arc<std::sync::RwLock<Option<String>>>,
}

impl Default for IndexSlot {
    fn default() -> Self {
        IndexSlot {
            index: Arc::default(),
            problem: Arc::new(std::sync::RwLock::new(Some(
                "The search index is starting.".into(),
            ))),
        }
    }
}

impl IndexSlot {
    pub fn index(&self) -> Option<&SearchIndex> {
        self.index.get()
    }

    /// Makes `index` the one everyone searches; clears the problem.
    pub fn set(&self, index: SearchIndex) {
        let _ = self.index.set(index);
        self.set_problem(None);
    }

    /// Why the index is not available, for people.
    pub fn problem(&self) -> Option<String> {
        self.problem
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_problem(&self, problem: Option<String>) {
        *self.problem.write().unwrap_or_else(|p| p.into_inner()) = problem;
    }
}

/// A handle on one index; clones share it.
#[derive(Clone)]
pub struct SearchIndex {
    inner: Arc<Inner>,
}

struct Inner {
    reader: IndexReader,
    fields: Fields,
    analyzers: Analyzers,
    /// BM25 statistics per set of readable collections.
    stats: StatsCache,
    /// See [`SearchConfig::suggest_below`].
    suggest_below: usize,
    sender: SyncSender<Request>,
    writer_thread: Option<std::thread::JoinHandle<()>>,
    /// Documents whose writes a failed commit rolled back (see `writer`).
    lost: Arc<std::sync::Mutex<BTreeSet<i64>>>,
}

impl Drop for Inner {
    /// When the last handle goes, the writer thread commits what is pending
    /// and releases the index lock; waiting for it here means a dropped index
    /// can be reopened at once. This blocks for at most one commit.
    fn drop(&mut self) {
        let (closed, _) = sync_channel(0);
        drop(std::mem::replace(&mut self.sender, closed));
        if let Some(thread) = self.writer_thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the search index writer thread panicked");
        }
    }
}

impl SearchIndex {
    /// Opens the index in `dir`, creating it when there is none.
    ///
    /// An index that cannot be read, or that was built with another language
    /// or layout, is reported as [`SearchError::NeedsRebuild`].
    pub fn open(dir: &Path, config: &SearchConfig) -> Result<SearchIndex, SearchError> {
        let language = schema::parse_language(&config.language)?;
        let (expected, fields) = schema::build_schema(language);
        std::fs::create_dir_all(dir).map_err(|error| {
            SearchError::Other(format!("cannot create {}: {error}", dir.display()))
        })?;
        let directory = MmapDirectory::open(dir).map_err(|error| {
            SearchError::Other(format!("cannot open {}: {error}", dir.display()))
        })?;
        let exists = Index::exists(&directory).map_err(|error| {
            SearchError::NeedsRebuild(format!("cannot read the index: {error}"))
        })?;
        let index = if exists {
            let index = Index::open(directory).map_err(|error| match error {
                TantivyError::IoError(_) => other(error),
                error => SearchError::NeedsRebuild(format!("cannot open the index: {error}")),
            })?;
            if index.schema() != expected {
                return Err(SearchError::NeedsRebuild(
                    "the index was built with another language or an older layout".to_string(),
                ));
            }
            index
        } else {
            Index::create(directory, expected, IndexSettings::default()).map_err(other)?
        };
        Self::start(index, fields, language, config)
    }

    /// Deletes whatever is in `dir` (which must hold nothing but the index)
    /// and opens a new, empty index there: the answer to `NeedsRebuild`.
    pub fn recreate(dir: &Path, config: &SearchConfig) -> Result<SearchIndex, SearchError> {
        // Check the configuration before deleting anything.
        schema::parse_language(&config.language)?;
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|error| {
                SearchError::Other(format!("cannot remove {}: {error}", dir.display()))
            })?;
        }
        Self::open(dir, config)
    }

    /// An index that lives only in memory (tests, benchmarks).
    pub fn open_in_ram(config: &SearchConfig) -> Result<SearchIndex, SearchError> {
        let language = schema::parse_language(&config.language)?;
        let (schema, fields) = schema::build_schema(language);
        let index = Index::create_in_ram(schema);
        Self::start(index, fields, language, config)
    }

    fn start(
        index: Index,
        fields: Fields,
        language: tantivy::tokenizer::Language,
        config: &SearchConfig,
    ) -> Result<SearchIndex, SearchError> {
        let analyzers = schema::register_analyzers(&index, language);
        // Reloading is the writer thread's job, right after each commit, so
        // that `flush` can promise the change is searchable.
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|error| {
                SearchError::NeedsRebuild(format!("cannot read the index: {error}"))
            })?;
        let memory = config.writer_memory_bytes.max(MIN_MEMORY_PER_THREAD);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = cores.clamp(1, 4).min(memory / MIN_MEMORY_PER_THREAD).max(1);
        let (sender, receiver) = sync_channel(QUEUE_CAPACITY);
        let lost = Arc::new(std::sync::Mutex::new(BTreeSet::new()));
        let writer_thread = writer::spawn(
            writer::WriterSpec {
                index,
                threads,
                memory,
            },
            reader.clone(),
            fields,
            config.commit_interval,
            receiver,
            lost.clone(),
        )?;
        Ok(SearchIndex {
            inner: Arc::new(Inner {
                reader,
                fields,
                analyzers,
                stats: StatsCache::default(),
                suggest_below: config.suggest_below,
                sender,
                writer_thread: Some(writer_thread),
                lost,
            }),
        })
    }

    /// Adds `doc`, replacing every chunk indexed earlier under its `doc_id`.
    /// It becomes searchable within `commit_interval` (or after `flush`).
    pub async fn index_document(&self, doc: IndexDocument) -> Result<(), SearchError> {
        self.request(|reply| Request::Index { doc, reply }).await
    }

    /// Removes every chunk of `doc_id`.
    pub async fn delete_document(&self, doc_id: i64) -> Result<(), SearchError> {
        self.request(|reply| Request::Delete { doc_id, reply })
            .await
    }

    /// Removes everything and commits, for a rebuild; the caller then re-adds
    /// every document.
    pub async fn clear(&self) -> Result<(), SearchError> {
        self.request(|reply| Request::Clear { reply }).await
    }

    /// Commits now and returns once every earlier write is searchable.
    pub async fn flush(&self) -> Result<(), SearchError> {
        self.request(|reply| Request::Flush { reply }).await
    }

    /// The documents whose writes a failed commit rolled back since the last
    /// call: whatever the index holds for them may be stale, so the caller
    /// writes them again (or deletes them) from the database.
    pub fn take_lost(&self) -> Vec<i64> {
        std::mem::take(&mut *self.inner.lost.lock().unwrap_or_else(|p| p.into_inner()))
            .into_iter()
            .collect()
    }

    /// Puts documents back into the lost set (their writes could not be
    /// repeated yet), for a later [`take_lost`](Self::take_lost).
    pub fn mark_lost(&self, ids: impl IntoIterator<Item = i64>) {
        self.inner
            .lost
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(ids);
    }

    /// Commits what is pending and stops the writer thread, releasing the
    /// index lock at once (the server calls this when it stops, so the data
    /// directory can be opened again before every handle is gone).
    pub async fn close(&self) -> Result<(), SearchError> {
        self.request(|reply| Request::Close { reply }).await
    }

    async fn request(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<(), SearchError>>) -> Request,
    ) -> Result<(), SearchError> {
        let (reply, answer) = oneshot::channel();
        let mut request = make(reply);
        let deadline = Instant::now() + SEND_TIMEOUT;
        // A std channel because the writer is a plain thread that needs
        // `recv_timeout`; an async caller must not block on it, so poll.
        loop {
            match self.inner.sender.try_send(request) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) => {
                    if Instant::now() >= deadline {
                        return Err(SearchError::Busy);
                    }
                    request = back;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(TrySendError::Disconnected(_)) => {
                    return Err(SearchError::Other(
                        "the search index writer has stopped".to_string(),
                    ));
                }
            }
        }
        answer.await.map_err(|_| {
            SearchError::Other("the search index writer stopped before answering".to_string())
        })?
    }

    /// Runs a user's search and returns one hit per document (its
    /// best-scoring chunk, whose excerpt is shown); `total` counts documents.
    /// Synchronous and quick (milliseconds): call it from `spawn_blocking`.
    pub fn search(&self, request: &SearchRequest) -> Result<SearchResults, SearchError> {
        self.search_with(request, Grouping::ByDocument)
    }

    /// Like [`search`](Self::search), but every matching chunk is a hit and
    /// `total` counts chunks.
    pub fn search_chunks(&self, request: &SearchRequest) -> Result<SearchResults, SearchError> {
        self.search_with(request, Grouping::None)
    }

    fn search_with(
        &self,
        request: &SearchRequest,
        grouping: Grouping,
    ) -> Result<SearchResults, SearchError> {
        let started = Instant::now();
        query::check_length(&request.query)?;
        let searcher = self.inner.reader.searcher();
        // Scores come from what the user may read, not from their own
        // collection filter: like the other filters it narrows what matches
        // without reordering it.
        let visible = self.visible(&searcher, &request.allowed_collections)?;
        let statistics = visible.statistics(&searcher);
        let parsed = query::parse(&request.query);
        let mut results = self.search_parsed(&parsed, request, grouping, &statistics)?;
        if results.relaxed || results.total < self.inner.suggest_below {
            results.did_you_mean = self.did_you_mean(
                &parsed,
                request,
                grouping,
                &statistics,
                results.total,
                results.relaxed,
            )?;
        }
        results.took = started.elapsed();
        Ok(results)
    }

    fn search_parsed(
        &self,
        parsed: &query::Parsed,
        request: &SearchRequest,
        grouping: Grouping,
        statistics: &Statistics<'_>,
    ) -> Result<SearchResults, SearchError> {
        let mut built = query::build(
            parsed,
            &self.inner.analyzers,
            &self.inner.fields,
            statistics,
            query::Mode::AllWords,
        )?;
        let Some(filter) = self.filter(request) else {
            return Ok(SearchResults {
                total: 0,
                hits: Vec::new(),
                took: Duration::ZERO,
                relaxed: false,
                did_you_mean: None,
            });
        };
        let mut relaxed = false;
        let mut page = self.run(
            statistics,
            built.query.box_clone(),
            filter.as_ref(),
            request,
            grouping,
        )?;
        if page.total == 0 && built.relaxable {
            // Like a web search engine: when no chunk has every word, show
            // the ones that have most of them, and say so.
            built = query::build(
                parsed,
                &self.inner.analyzers,
                &self.inner.fields,
                statistics,
                query::Mode::AnyWord,
            )?;
            page = self.run(
                statistics,
                built.query.box_clone(),
                filter.as_ref(),
                request,
                grouping,
            )?;
            relaxed = true;
        }
        let highlighter = snippet::Highlighter::new(&built.highlight, &self.inner.analyzers);
        let searcher = statistics.searcher();
        let mut hits = Vec::with_capacity(page.addresses.len());
        for (score, address) in page.addresses {
            let stored = StoredChunk::load(searcher, &self.inner.fields, address)?;
            let excerpt = highlighter.excerpt(&stored.body);
            hits.push(Hit {
                doc_id: stored.doc_id,
                collection_id: stored.collection_id,
                chunk_ord: stored.chunk_ord,
                page: stored.page,
                heading: stored.heading,
                title: stored.title,
                file_name: stored.file_name,
                format: stored.format,
                modified: stored.modified,
                snippet_html: excerpt.html,
                snippet_text: excerpt.text,
                score,
            });
        }
        Ok(SearchResults {
            total: page.total,
            hits,
            took: Duration::ZERO,
            relaxed,
            did_you_mean: None,
        })
    }

    /// The query with its misspelt words corrected, offered only when it
    /// finds every word, and more than the query as typed did (`found`,
    /// unless that had to be `relaxed`), run under the reader's own access
    /// and filters: a suggestion can only point at what the reader would
    /// see.
    fn did_you_mean(
        &self,
        parsed: &query::Parsed,
        request: &SearchRequest,
        grouping: Grouping,
        statistics: &Statistics<'_>,
        found: usize,
        relaxed: bool,
    ) -> Result<Option<String>, SearchError> {
        let Some(corrected) = query::correct(
            &request.query,
            parsed,
            &self.inner.analyzers,
            &self.inner.fields,
            statistics,
        )?
        else {
            return Ok(None);
        };
        let check = SearchRequest {
            query: corrected.clone(),
            offset: 0,
            limit: 0,
            ..request.clone()
        };
        match self.search_parsed(&query::parse(&corrected), &check, grouping, statistics) {
            Ok(results) if !results.relaxed && (relaxed || results.total > found) => {
                Ok(Some(corrected))
            }
            Ok(_) | Err(SearchError::BadQuery(_)) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The chunks of `allowed_collections` in `searcher`, whose BM25
    /// statistics every scored search uses.
    fn visible(
        &self,
        searcher: &Searcher,
        allowed_collections: &[i64],
    ) -> Result<Arc<stats::Visible>, SearchError> {
        let allowed: BTreeSet<i64> = allowed_collections.iter().copied().collect();
        self.inner
            .stats
            .visible(searcher, self.inner.fields.collection_id, &allowed)
    }

    /// The access, collection, format and date filters as one query, or
    /// `None` when the user may see nothing.
    fn filter(&self, request: &SearchRequest) -> Option<Box<dyn Query>> {
        let fields = &self.inner.fields;
        let mut collections: BTreeSet<i64> = request.allowed_collections.iter().copied().collect();
        if let Some(wanted) = &request.collections {
            let wanted: BTreeSet<i64> = wanted.iter().copied().collect();
            collections.retain(|id| wanted.contains(id));
        }
        if collections.is_empty() {
            return None;
        }
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(
            Occur::Must,
            Box::new(TermSetQuery::new(
                collections
                    .iter()
                    .map(|&id| Term::from_field_i64(fields.collection_id, id)),
            )),
        )];
        let formats: BTreeSet<String> = request
            .formats
            .iter()
            .map(|format| format.trim().to_lowercase())
            .filter(|format| !format.is_empty())
            .collect();
        if !formats.is_empty() {
            clauses.push((
                Occur::Must,
                Box::new(TermSetQuery::new(
                    formats
                        .iter()
                        .map(|format| Term::from_field_text(fields.format, format)),
                )),
            ));
        }
        if request.modified_from.is_some() || request.modified_to.is_some() {
            let bound = |value: Option<i64>| match value {
                Some(value) => Bound::Included(Term::from_field_i64(fields.modified, value)),
                None => Bound::Unbounded,
            };
            clauses.push((
                Occur::Must,
                Box::new(RangeQuery::new(
                    bound(request.modified_from),
                    bound(request.modified_to),
                )),
            ));
        }
        // Filters must not change the ranking, only what may match.
        Some(Box::new(ConstScoreQuery::new(
            Box::new(BooleanQuery::new(clauses)),
            0.0,
        )))
    }

    fn run(
        &self,
        statistics: &Statistics<'_>,
        user_query: Box<dyn Query>,
        filter: &dyn Query,
        request: &SearchRequest,
        grouping: Grouping,
    ) -> Result<Page, SearchError> {
        let query = BooleanQuery::new(vec![
            (Occur::Must, user_query),
            (Occur::Must, filter.box_clone()),
        ]);
        let searcher = statistics.searcher();
        let limit = request.limit.min(MAX_LIMIT);
        let offset = request.offset.min(MAX_OFFSET);
        if grouping == Grouping::ByDocument {
            let best = searcher
                .search_with_statistics_provider(&query, &query::BestChunkPerDocument, statistics)
                .map_err(other)?;
            let total = best.len();
            let addresses = best.into_iter().skip(offset).take(limit).collect();
            return Ok(Page { total, addresses });
        }
        if limit == 0 {
            // Counting does not score.
            let total = searcher.search(&query, &Count).map_err(other)?;
            return Ok(Page {
                total,
                addresses: Vec::new(),
            });
        }
        let (total, ranked) = searcher
            .search_with_statistics_provider(
                &query,
                &(Count, best_chunks(limit, offset)),
                statistics,
            )
            .map_err(other)?;
        Ok(Page {
            total,
            addresses: scores_and_addresses(ranked),
        })
    }

    /// The chunks that best answer a natural-language `question`, for
    /// quoting to a language model: any of the question's meaningful words
    /// (stop words and question words dropped), ranked by BM25.
    pub fn passages(
        &self,
        question: &str,
        allowed_collections: &[i64],
        limit: usize,
    ) -> Result<Vec<Passage>, SearchError> {
        let limit = limit.min(MAX_LIMIT);
        if limit == 0 || allowed_collections.is_empty() {
            return Ok(Vec::new());
        }
        let Some(question_query) =
            query::question(question, &self.inner.analyzers, &self.inner.fields)
        else {
            return Ok(Vec::new());
        };
        let request = SearchRequest {
            allowed_collections: allowed_collections.to_vec(),
            ..SearchRequest::default()
        };
        let Some(filter) = self.filter(&request) else {
            return Ok(Vec::new());
        };
        let searcher = self.inner.reader.searcher();
        let visible = self.visible(&searcher, allowed_collections)?;
        let statistics = visible.statistics(&searcher);
        let query = BooleanQuery::new(vec![(Occur::Must, question_query), (Occur::Must, filter)]);
        let ranked = searcher
            .search_with_statistics_provider(&query, &best_chunks(limit, 0), &statistics)
            .map_err(other)?;
        let stems = query::question_stems(question, &self.inner.analyzers);
        let mut passages = Vec::with_capacity(ranked.len());
        for (score, address) in scores_and_addresses(ranked) {
            let stored = StoredChunk::load(&searcher, &self.inner.fields, address)?;
            let about = format!(
                "{}\n{}\n{}",
                stored.title,
                stored.heading.as_deref().unwrap_or_default(),
                stored.body
            );
            passages.push(Passage {
                coverage: query::coverage(&stems, &about, &self.inner.analyzers),
                doc_id: stored.doc_id,
                collection_id: stored.collection_id,
                chunk_ord: stored.chunk_ord,
                page: stored.page,
                heading: stored.heading,
                title: stored.title,
                text: stored.body,
                score,
            });
        }
        Ok(passages)
    }

    /// How many documents and chunks are searchable now, as
    /// `(documents, chunks)`. An unreadable index counts no documents (and
    /// logs why), which makes a caller comparing with its database rebuild.
    pub fn counts(&self) -> (usize, usize) {
        let searcher = self.inner.reader.searcher();
        let first_chunks = tantivy::query::TermQuery::new(
            Term::from_field_text(self.inner.fields.marker, schema::FIRST_CHUNK_MARKER),
            IndexRecordOption::Basic,
        );
        let chunks = usize::try_from(searcher.num_docs()).unwrap_or(usize::MAX);
        match searcher.search(&first_chunks, &Count) {
            Ok(documents) => (documents, chunks),
            Err(error) => {
                tracing::error!(%error, "counting the search index's documents failed");
                (0, chunks)
            }
        }
    }

    /// How many segments the index has now (more segments, slower search).
    pub fn segment_count(&self) -> usize {
        self.inner.reader.searcher().segment_readers().len()
    }
}

/// A chunk's rank: its score, then its document's id.
type ChunkRank = (Score, Option<i64>);

/// The best chunks, skipping `offset`: highest score first, equal scores by
/// document id like `query::BestChunkPerDocument`. Tantivy alone would order
/// ties by where chunks sit in the index, which merges (caused by anyone's
/// writes) change.
fn best_chunks(
    limit: usize,
    offset: usize,
) -> impl Collector<Fruit = Vec<(ChunkRank, DocAddress)>> {
    TopDocs::with_limit(limit).and_offset(offset).order_by((
        SortBySimilarityScore,
        (
            SortByStaticFastValue::<i64>::for_field(query::DOC_ID_FIELD),
            Order::Asc,
        ),
    ))
}

fn scores_and_addresses(ranked: Vec<(ChunkRank, DocAddress)>) -> Vec<(Score, DocAddress)> {
    ranked
        .into_iter()
        .map(|((score, _), address)| (score, address))
        .collect()
}

/// Whether hits are documents (their best chunk) or chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Grouping {
    ByDocument,
    None,
}

struct Page {
    total: usize,
    addresses: Vec<(f32, DocAddress)>,
}

/// A chunk's stored fields.
struct StoredChunk {
    doc_id: i64,
    collection_id: i64,
    chunk_ord: u32,
    page: Option<u32>,
    heading: Option<String>,
    title: String,
    file_name: String,
    format: String,
    modified: i64,
    body: String,
}

impl StoredChunk {
    fn load(
        searcher: &Searcher,
        fields: &Fields,
        address: DocAddress,
    ) -> Result<StoredChunk, SearchError> {
        let doc: TantivyDocument = searcher.doc(address).map_err(other)?;
        let text = |field| {
            doc.get_first(field)
                .and_then(|value| value.as_str().map(str::to_string))
        };
        let small = |field| {
            doc.get_first(field)
                .and_then(|value| value.as_u64())
                .and_then(|value| u32::try_from(value).ok())
        };
        let int = |field| doc.get_first(field).and_then(|value| value.as_i64());
        Ok(StoredChunk {
            doc_id: int(fields.doc_id).unwrap_or_default(),
            collection_id: int(fields.collection_id).unwrap_or_default(),
            chunk_ord: small(fields.chunk_ord).unwrap_or_default(),
            page: small(fields.page),
            heading: text(fields.heading),
            title: text(fields.title).unwrap_or_default(),
            file_name: text(fields.file_name).unwrap_or_default(),
            format: text(fields.format).unwrap_or_default(),
            modified: int(fields.modified).unwrap_or_default(),
            body: text(fields.body).unwrap_or_default(),
        })
    }
}
