//! Getting documents in: storing uploaded files under internal names, the
//! ingestion worker that turns queued documents into indexed text, and the
//! operations that keep the files, the database and the search index in
//! step (delete, move, re-index, rebuild).
//!
//! The queue is the `documents` table itself (see `store::documents`), so it
//! survives restarts. The worker indexes a document's chunks before it marks
//! the document indexed: a crash in between leaves it `processing`, it is
//! queued again at start, and indexing it again replaces its chunks instead
//! of adding them twice.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;

use crate::config::Config;
use crate::extract::{self, ExtractError};
use crate::search::{self, IndexDocument, SearchIndex};
use crate::store::{
    Added, DocumentId, DocumentRecord, NewDocument, Processed, Store, StoreError, StoredChunk,
};

/// A file stored under an internal name, not yet a document.
#[derive(Debug, Clone)]
pub struct StoredFile {
    pub stored_as: String,
    pub size: u64,
    pub sha256: String,
}

/// Why a file could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum StoreFileError {
    #[error("the file is larger than the limit of {limit} MB")]
    TooLarge { limit: u64 },
    #[error("the file is empty")]
    Empty,
    #[error("the upload was interrupted: {0}")]
    Interrupted(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Processing a document more often than this means it keeps taking the
/// server down with it; it is marked failed instead of tried again.
const MAX_ATTEMPTS: i64 = 3;

/// Where originals live, under names Hearth chose.
pub fn files_dir(config: &Config) -> PathBuf {
    config.documents_dir().join("files")
}

/// Path of a stored original. `stored_as` is always one of Hearth's own
/// names (hex), never anything a user typed.
pub fn stored_path(config: &Config, stored_as: &str) -> PathBuf {
    files_dir(config).join(stored_as)
}

fn new_stored_name() -> String {
    crate::auth::token::random_token(16)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect()
}

/// Streams an upload to disk while hashing and counting it; the file
/// appears under its final name only once complete and within the limit.
pub async fn store_stream<S, E>(config: &Config, mut body: S) -> Result<StoredFile, StoreFileError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let limit = config.documents.max_upload_bytes;
    let partial_dir = config.documents_dir().join("partial");
    tokio::fs::create_dir_all(&partial_dir).await?;
    tokio::fs::create_dir_all(files_dir(config)).await?;
    let stored_as = new_stored_name();
    let partial = partial_dir.join(&stored_as);
    let result = async {
        let mut file = tokio::fs::File::create(&partial).await?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(piece) = body.next().await {
            let piece = piece.map_err(|e| StoreFileError::Interrupted(e.to_string()))?;
            size += piece.len() as u64;
            if size > limit {
                return Err(StoreFileError::TooLarge {
                    limit: limit / (1024 * 1024),
                });
            }
            hasher.update(&piece);
            file.write_all(&piece).await?;
        }
        if size == 0 {
            return Err(StoreFileError::Empty);
        }
        file.sync_all().await?;
        Ok((size, hex::encode(hasher.finalize())))
    }
    .await;
    match result {
        Ok((size, sha256)) => {
            tokio::fs::rename(&partial, stored_path(config, &stored_as)).await?;
            Ok(StoredFile {
                stored_as,
                size,
                sha256,
            })
        }
        Err(err) => {
            let _ = tokio::fs::remove_file(&partial).await;
            Err(err)
        }
    }
}

/// Copies a file from disk (console import, the inbox) into storage.
pub async fn store_path(config: &Config, path: &Path) -> Result<StoredFile, StoreFileError> {
    let file = tokio::fs::File::open(path).await?;
    let size = file.metadata().await?.len();
    if size > config.documents.max_upload_bytes {
        return Err(StoreFileError::TooLarge {
            limit: config.documents.max_upload_bytes / (1024 * 1024),
        });
    }
    let stream = tokio_util::io::ReaderStream::new(file);
    store_stream(config, stream).await
}

/// A human title from an uploaded file name: the name without its
/// extension, or the name itself.
pub fn title_from_file_name(name: &str) -> String {
    let name = clean_file_name(name);
    match name.rsplit_once('.') {
        Some((stem, _)) if !stem.trim().is_empty() => stem.trim().to_string(),
        _ => name,
    }
}

/// The last path component of what a browser or a disk called the file,
/// without control characters, at most 200 characters. For display only.
pub fn clean_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    let cleaned = cleaned.trim().to_string();
    if cleaned.is_empty() {
        "unnamed".to_string()
    } else {
        cleaned
    }
}

/// Adds a stored file as a document and tidies files the outcome made
/// unnecessary (the new copy of a duplicate, the old file of a replaced
/// version). Wakes the worker.
pub async fn add_document(
    store: &Store,
    config: &Config,
    wake: &Notify,
    new: NewDocument,
) -> Result<Added, StoreError> {
    let stored_as = new.stored_as.clone();
    let added = match store.add_document(new).await {
        Ok(added) => added,
        Err(err) => {
            let _ = tokio::fs::remove_file(stored_path(config, &stored_as)).await;
            return Err(err);
        }
    };
    match &added {
        Added::Duplicate(_) => {
            let _ = tokio::fs::remove_file(stored_path(config, &stored_as)).await;
        }
        Added::Replaced { old_stored_as, .. } => {
            let _ = tokio::fs::remove_file(stored_path(config, old_stored_as)).await;
        }
        Added::New(_) => {}
    }
    wake.notify_one();
    Ok(added)
}

/// The extraction limits from the configuration.
pub fn limits(config: &Config) -> extract::Limits {
    let docs = &config.documents;
    extract::Limits {
        time: Duration::from_secs(docs.extract_timeout_secs),
        memory_bytes: docs.extract_memory_mb * 1024 * 1024,
        max_unpacked_bytes: docs.max_unpacked_bytes,
        max_text_bytes: docs.max_text_bytes,
    }
}

/// What the worker needs.
#[derive(Clone)]
pub struct Worker {
    pub store: Store,
    pub config: Arc<Config>,
    pub index: SearchIndex,
    /// The `hearth` binary, re-invoked for each extraction.
    pub extractor: PathBuf,
    pub wake: Arc<Notify>,
}

/// What happened to one document, for progress displays.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub document: DocumentRecord,
}

impl Worker {
    /// Processes queued documents until `stop` resolves; between documents it
    /// waits to be woken, and looks again every two seconds for documents
    /// queued by another process (`hearth docs import`).
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        match self.store.requeue_interrupted_documents().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(documents = n, "resuming interrupted document processing"),
            Err(err) => tracing::error!(error = %err, "cannot requeue interrupted documents"),
        }
        tokio::pin!(stop);
        loop {
            let processed = tokio::select! {
                _ = &mut stop => return,
                processed = self.process_next() => processed,
            };
            match processed {
                Ok(Some(_)) => continue,
                Ok(None) => {
                    if let Err(err) = self.index.flush().await {
                        tracing::error!(error = %err, "cannot commit the search index");
                    }
                }
                Err(err) => tracing::error!(error = %err, "document processing failed"),
            }
            tokio::select! {
                _ = &mut stop => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
    }

    /// Processes every queued document, then commits: for the console import.
    pub async fn drain(&self, mut each: impl FnMut(&DocumentRecord)) -> anyhow::Result<()> {
        self.store.requeue_interrupted_documents().await?;
        while let Some(outcome) = self.process_next().await? {
            each(&outcome.document);
        }
        self.index.flush().await?;
        Ok(())
    }

    /// Takes the next queued document and processes it; `None` when the
    /// queue is empty.
    pub async fn process_next(&self) -> anyhow::Result<Option<Outcome>> {
        let Some(document) = self.store.claim_next_document().await? else {
            return Ok(None);
        };
        let started = std::time::Instant::now();
        let outcome = self.extract_and_index(&document).await;
        let (processed, indexed) = match outcome {
            Ok(processed) => (processed, true),
            Err(err) => {
                tracing::warn!(document = document.id.0, code = err.code(), reason = %err.reason(), "document not indexed");
                let _ = self.index.delete_document(document.id.0).await;
                (
                    Processed::Failed {
                        format: None,
                        code: err.code().to_string(),
                        reason: super::capitalise(&err.reason()),
                    },
                    false,
                )
            }
        };
        // When this is the last document waiting, everything indexed so far
        // is made searchable before its status says so (in a longer batch the
        // others become searchable within the index's commit interval).
        if self.store.documents_pending().await? <= 1
            && let Err(err) = self.index.flush().await
        {
            tracing::error!(error = %err, "cannot commit the search index");
        }
        match self
            .store
            .finish_document(document.id, document.sha256.clone(), processed)
            .await
        {
            Ok(record) => {
                tracing::info!(
                    document = record.id.0,
                    status = %record.status,
                    chunks = record.chunk_count,
                    ms = started.elapsed().as_millis() as u64,
                    "document processed"
                );
                Ok(Some(Outcome { document: record }))
            }
            // Deleted or replaced while it was processed: its index entries,
            // if any, belong to nothing now.
            Err(StoreError::NotFound) => {
                if indexed {
                    let current = self.store.document_for_processing(document.id).await;
                    if current.is_err() {
                        let _ = self.index.delete_document(document.id.0).await;
                    }
                }
                Ok(Some(Outcome { document }))
            }
            Err(err) => Err(err.into()),
        }
    }

    async fn extract_and_index(
        &self,
        document: &DocumentRecord,
    ) -> Result<Processed, ExtractError> {
        if document.attempts > MAX_ATTEMPTS {
            return Err(ExtractError::Crashed(
                "processing this file was interrupted several times".into(),
            ));
        }
        let path = stored_path(&self.config, &document.stored_as);
        let extracted = extract::extract(&self.extractor, &path, &limits(&self.config)).await?;
        let sections: Vec<search::Section<'_>> = extracted
            .blocks
            .iter()
            .map(|block| search::Section {
                page: block.page,
                heading: block.heading.as_deref(),
                text: &block.text,
            })
            .collect();
        let chunks = search::chunk(&sections, self.config.documents.chunk_words);
        if chunks.is_empty() {
            return Err(ExtractError::Empty);
        }
        let text_bytes = chunks.iter().map(|c| c.text.len() as i64).sum();
        let stored: Vec<StoredChunk> = chunks
            .iter()
            .map(|c| StoredChunk {
                ord: c.ord,
                page: c.page,
                heading: c.heading.clone(),
                text: c.text.clone(),
            })
            .collect();
        self.index
            .index_document(IndexDocument {
                doc_id: document.id.0,
                collection_id: document.collection_id.0,
                title: document.title.clone(),
                file_name: document.file_name.clone(),
                format: extracted.format.as_str().to_string(),
                modified: document.updated_at,
                chunks,
            })
            .await
            .map_err(|e| ExtractError::Crashed(format!("the search index refused it: {e}")))?;
        Ok(Processed::Indexed {
            format: extracted.format.as_str().to_string(),
            pages: extracted.pages,
            chunks: stored,
            text_bytes,
        })
    }
}

/// Puts a document's stored chunks back into the index (after a move, or
/// when rebuilding), without extracting again.
pub async fn reindex_from_store(
    store: &Store,
    index: &SearchIndex,
    id: DocumentId,
) -> anyhow::Result<()> {
    let document = store.document_for_processing(id).await?;
    if document.status != "indexed" {
        index.delete_document(id.0).await?;
        return Ok(());
    }
    let chunks = store
        .document_chunks(id)
        .await?
        .into_iter()
        .map(|c| search::Chunk {
            ord: c.ord,
            page: c.page,
            heading: c.heading,
            text: c.text,
        })
        .collect();
    index
        .index_document(IndexDocument {
            doc_id: id.0,
            collection_id: document.collection_id.0,
            title: document.title,
            file_name: document.file_name,
            format: document.format.unwrap_or_default(),
            modified: document.updated_at,
            chunks,
        })
        .await?;
    Ok(())
}

/// Empties the index and fills it again from the database: the index is
/// derived state. Returns how many documents went back in.
pub async fn rebuild_index(store: &Store, index: &SearchIndex) -> anyhow::Result<usize> {
    index.clear().await?;
    let ids = store.indexed_document_ids().await?;
    for id in &ids {
        reindex_from_store(store, index, *id).await?;
    }
    index.flush().await?;
    Ok(ids.len())
}

/// Deletes a document everywhere: database row and text, index entries,
/// and the original file.
pub async fn delete_document(
    store: &Store,
    config: &Config,
    index: Option<&SearchIndex>,
    id: DocumentId,
) -> anyhow::Result<DocumentRecord> {
    let record = store.delete_document(id).await?;
    if let Some(index) = index {
        index.delete_document(id.0).await?;
        index.flush().await?;
    }
    let _ = tokio::fs::remove_file(stored_path(config, &record.stored_as)).await;
    Ok(record)
}
