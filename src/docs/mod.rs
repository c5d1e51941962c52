//! Office documents: upload and import, the ingestion worker, the search
//! page, collections and who may see them, and answers from documents.
//!
//! Invariants:
//! - Every read of documents, chunks, search hits or passages passes the
//!   reader's visible collections into the query itself (`store::Viewer`
//!   for SQL, `allowed_collections` for the index), never a filter applied
//!   afterwards, so counts cannot leak what a list hides.
//! - Originals are stored under names Hearth generates, and identified by
//!   their content, not their extension.
//! - Text extraction runs in a child process (`hearth extract-file`) with
//!   time and memory limits: a parser that panics or loops costs one file.
//! - The search index is derived state: it can be rebuilt from the
//!   database at any time (Admin → Collections, or automatically when it
//!   is missing or out of step).

mod api;
pub mod collections;
pub mod import;
pub mod inbox;
pub mod ingest;
mod manage;
mod pages;
mod reviews;
mod search_page;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::search::{IndexSlot, SearchConfig, SearchError, SearchIndex};
use crate::store::Role;
use crate::store::{Collection, DocumentRecord, User};
use crate::web::Routes;

pub fn routes() -> Routes {
    Routes::new()
        .merge(pages::routes())
        .merge(search_page::routes())
        .merge(collections::routes())
        .merge(api::routes())
        .merge(reviews::routes())
}

pub fn api_doc() -> utoipa::openapi::OpenApi {
    let mut doc = api::api_doc();
    doc.merge(reviews::api_doc());
    doc
}

/// Setting key: whether staff may create shared collections (owner decides).
pub const STAFF_COLLECTIONS_SETTING: &str = "documents.staff_create_collections";

/// The `hearth` binary that extraction re-invokes. Tests run the server
/// inside a test binary, so they name the real one here.
static EXTRACTOR: OnceLock<PathBuf> = OnceLock::new();

/// Uses `path` as the binary for `hearth extract-file` (tests only need this).
pub fn use_extractor_binary(path: PathBuf) {
    let _ = EXTRACTOR.set(path);
}

fn extractor_binary() -> PathBuf {
    EXTRACTOR.get().cloned().unwrap_or_else(|| {
        std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/usr/bin/hearth"))
    })
}

/// The documents capability's shared handles (the index itself is the
/// search engine's, in `AppState::search`).
#[derive(Clone)]
pub struct Docs {
    /// Wakes the ingestion workers when a document is queued.
    pub wake: Arc<Notify>,
    pub extractor: PathBuf,
}

impl Default for Docs {
    fn default() -> Self {
        Docs::new()
    }
}

impl Docs {
    pub fn new() -> Docs {
        Docs {
            wake: Arc::new(Notify::new()),
            extractor: extractor_binary(),
        }
    }
}

/// The index, or a "try again shortly" error saying why not.
pub fn index_or_unavailable(slot: &IndexSlot) -> AppResult<&SearchIndex> {
    slot.index().ok_or_else(|| AppError::Unavailable {
        message: slot
            .problem()
            .unwrap_or_else(|| "The search index is not available.".into()),
        retry_after_secs: 5,
    })
}

/// `text` with a capital first letter, as pages show reasons and lists.
pub fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Whether `user` may move, re-process or delete `document`: the person
/// who uploaded it, the owner of the personal collection it is in, or an
/// admin who can see it (seeing it is checked when it is loaded).
pub fn can_manage(user: &User, document: &DocumentRecord, collection: &Collection) -> bool {
    user.role >= Role::Admin
        || document.uploaded_by == Some(user.id)
        || collection.personal_of == Some(user.id)
}

/// Whether `user` may add documents to `collection` (which they can see):
/// their own collection; a shared one if they are an admin or created it.
pub fn can_upload_to(user: &User, collection: &Collection) -> bool {
    match collection.personal_of {
        Some(owner) => owner == user.id,
        None => user.role >= Role::Admin || collection.created_by == Some(user.id),
    }
}

/// Whether staff may create shared collections (an owner setting).
pub async fn staff_may_create_collections(state: &AppState) -> AppResult<bool> {
    Ok(state
        .store
        .setting(STAFF_COLLECTIONS_SETTING)
        .await?
        .is_some_and(|v| v == "true"))
}

pub fn search_config(state_config: &crate::config::Config) -> SearchConfig {
    SearchConfig {
        language: state_config.documents.language.clone(),
        suggest_below: state_config.documents.suggest_below_results,
        ..SearchConfig::default()
    }
}

/// Holds the data directory's processing lock: one process at a time
/// extracts and writes the index (the server, or `hearth docs import` when
/// no server runs).
pub struct ProcessingLock {
    _file: std::fs::File,
}

/// Takes the processing lock, or says it is held by another process.
pub fn try_processing_lock(
    config: &crate::config::Config,
) -> std::io::Result<Option<ProcessingLock>> {
    std::fs::create_dir_all(&config.data_dir)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(config.data_dir.join(".processing.lock"))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(ProcessingLock { _file: file })),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(err)) => Err(err),
    }
}

/// Opens the index, rebuilding it when it is missing, unreadable, written
/// with another language, or out of step with the database.
pub async fn open_index(
    store: &crate::store::Store,
    config: &crate::config::Config,
) -> anyhow::Result<SearchIndex> {
    let dir = config.index_dir();
    let search_config = search_config(config);
    let (index, rebuild) = match SearchIndex::open(&dir, &search_config) {
        Ok(index) => (index, false),
        Err(SearchError::NeedsRebuild(why)) => {
            tracing::warn!(reason = %why, "the search index will be rebuilt");
            let _ = std::fs::remove_dir_all(&dir);
            (SearchIndex::open(&dir, &search_config)?, true)
        }
        Err(err) => return Err(err.into()),
    };
    let indexed = store.indexed_document_ids().await?.len();
    let (in_index, _) = index.counts();
    if rebuild || in_index != indexed {
        let started = std::time::Instant::now();
        let count = ingest::rebuild_index(store, &index).await?;
        tracing::info!(
            documents = count,
            ms = started.elapsed().as_millis() as u64,
            "search index rebuilt from the database"
        );
    }
    Ok(index)
}

/// The server's background work for documents: waits for the processing
/// lock, opens the index, then runs the ingestion worker and watches the
/// inbox until `stop`.
pub async fn run_background(state: AppState, stop: CancellationToken) {
    let docs = state.docs.clone();
    let slot = state.search.clone();
    let lock = loop {
        match try_processing_lock(&state.config) {
            Ok(Some(lock)) => break lock,
            Ok(None) => {
                slot.set_problem(Some(
                    "Another Hearth process (a console import?) is processing documents; search starts when it finishes."
                        .into(),
                ));
                tracing::warn!("the processing lock is held by another process; waiting");
            }
            Err(err) => {
                slot.set_problem(Some(format!("Cannot lock the data directory: {err}")));
                tracing::error!(error = %err, "cannot take the processing lock");
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
        }
    };
    // Holding the lock, no other process is processing: whatever is in
    // `documents/partial/` was left half-written by a crash.
    ingest::clean_partial_uploads(&state.config);
    let index = match open_index(&state.store, &state.config).await {
        Ok(index) => index,
        Err(err) => {
            tracing::error!(error = %err, "the search index cannot be opened");
            slot.set_problem(Some(format!("The search index cannot be opened: {err}")));
            return;
        }
    };
    slot.set(index.clone());
    let worker = ingest::Worker {
        store: state.store.clone(),
        config: state.config.clone(),
        index: index.clone(),
        extractor: docs.extractor.clone(),
        wake: docs.wake.clone(),
    };
    let inbox = tokio::spawn(inbox::watch(state.clone(), stop.clone()));
    worker.run(stop.clone()).await;
    let _ = inbox.await;
    if let Err(err) = index.close().await {
        tracing::warn!(error = %err, "the search index did not close cleanly");
    }
    drop(lock);
}
