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
use futures::Stream;
use tokio::sync::Notify;

use crate::config::Config;
use crate::disk::{self, SpoolError};
use crate::extract::{self, ExtractError};
use crate::search::{self, IndexDocument, SearchIndex};
use crate::store::{
    Added, DocumentId, DocumentRecord, DocumentStatus, NewDocument, Processed, Store, StoreError,
    StoredChunk,
};

/// A file stored under an internal name, not yet a document.
#[derive(Debug, Clone)]
pub struct StoredFile {
    pub stored_as: String,
    pub size: u64,
    pub sha256: String,
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
/// appears under its final name only once complete, synced and within
/// `limit` (at most `documents.max_upload_bytes`). See [`crate::disk::spool`].
pub async fn store_stream<S, E>(
    config: &Config,
    limit: u64,
    body: S,
) -> Result<StoredFile, SpoolError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let stored_as = new_stored_name();
    let partial = partials_dir(config).join(&stored_as);
    let disk = config.disk();
    let spooled = disk::spool(
        disk::SpoolTarget {
            disk: &disk,
            partial: &partial,
            limit: limit.min(config.documents.max_upload_bytes),
            append: false,
        },
        body,
    )
    .await?;
    let stored = async {
        tokio::fs::create_dir_all(files_dir(config)).await?;
        disk::commit(&partial, &stored_path(config, &stored_as)).await
    }
    .await;
    if let Err(err) = stored {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(err.into());
    }
    Ok(StoredFile {
        stored_as,
        size: spooled.size,
        sha256: spooled.sha256,
    })
}

/// Where uploads are written until they are complete.
fn partials_dir(config: &Config) -> PathBuf {
    config.documents_dir().join("partial")
}

/// Removes uploads a crash left half-written; called once at start, before
/// any upload is accepted.
pub fn clean_partial_uploads(config: &Config) {
    match disk::clean_partials(&partials_dir(config)) {
        0 => {}
        n => tracing::info!(
            files = n,
            "removed half-written uploads left by the last stop"
        ),
    }
}

/// Copies a file from disk (console import, the inbox) into storage.
pub async fn store_path(config: &Config, path: &Path) -> Result<StoredFile, SpoolError> {
    let file = tokio::fs::File::open(path).await?;
    let size = file.metadata().await?.len();
    let limit = config.documents.max_upload_bytes;
    if size > limit {
        return Err(SpoolError::TooLarge { limit });
    }
    config.disk().check_room(size)?;
    let stream = tokio_util::io::ReaderStream::new(file);
    store_stream(config, limit, stream).await
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

/// The title a document is shown with: the one it gives itself (its
/// metadata or first heading, see `extract::Extracted::title`), cleaned
/// like every name, or else its file name without the extension.
pub fn document_title(own: Option<&str>, file_name: &str) -> String {
    own.map(|title| crate::text::clean_name(title).trim().to_string())
        .filter(|title| !title.is_empty())
        .unwrap_or_else(|| title_from_file_name(file_name))
}

/// The last path component of what a browser or a disk called the file,
/// without control characters, at most 200 characters. For display only.
pub fn clean_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = crate::text::clean_name(base).chars().take(200).collect();
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
        language: docs.language.clone(),
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

/// A document whose text was extracted (or could not be), on its way into
/// the index.
struct Prepared {
    document: DocumentRecord,
    /// What to index and then record, or why the document failed.
    result: Result<(IndexDocument, Processed), Processed>,
}

/// Most documents committed to the index together.
const MAX_BATCH: usize = 64;

/// After a commit fails (a full disk), processing waits up to this long
/// before trying again, or until someone has made room (free space grew by
/// [`ROOM_MADE`]); the documents wait in the queue meanwhile.
const RETRY_AFTER_FAILED_COMMIT: Duration = Duration::from_secs(30);
const ROOM_MADE: u64 = 1024 * 1024;

/// How often the indexer looks for index writes that a failed commit
/// dropped, when nothing else wakes it.
const RECONCILE_EVERY: Duration = Duration::from_secs(30);

impl Worker {
    /// Processes queued documents until `stop` resolves.
    ///
    /// `documents.workers` tasks each take the next document (fairly: a
    /// person whose file is already being processed waits behind others)
    /// and extract its text in a child process, so one slow file does not
    /// hold up the rest. One indexer then writes what they produce into the
    /// index in batches and records a document as indexed only after the
    /// commit that made it searchable succeeded; when a commit fails, the
    /// batch goes back to the queue and is tried again later.
    pub async fn run(self, stop: tokio_util::sync::CancellationToken) {
        match self.store.requeue_interrupted_documents().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(documents = n, "resuming interrupted document processing"),
            Err(err) => tracing::error!(error = %err, "cannot requeue interrupted documents"),
        }
        let workers = self.config.documents.workers.max(1);
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<Prepared>(workers);
        let mut extractors = tokio::task::JoinSet::new();
        for _ in 0..workers {
            extractors.spawn(self.clone().extract_loop(sender.clone(), stop.clone()));
        }
        drop(sender);
        loop {
            let first = tokio::select! {
                _ = stop.cancelled() => break,
                prepared = receiver.recv() => match prepared {
                    Some(prepared) => Some(prepared),
                    None => break,
                },
                _ = tokio::time::sleep(RECONCILE_EVERY) => None,
            };
            let Some(first) = first else {
                self.reconcile_lost(&[]).await;
                continue;
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(more) => batch.push(more),
                    Err(_) => break,
                }
            }
            if self.index_batch(batch).await.is_err() {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = self.wait_for_room() => {}
                }
            }
        }
        // Documents claimed but not recorded stay `processing`; the next
        // start queues them again.
        extractors.shutdown().await;
    }

    /// Waits until someone has made room on the disk, or at most
    /// [`RETRY_AFTER_FAILED_COMMIT`].
    async fn wait_for_room(&self) {
        let disk = self.config.disk();
        let before = disk.status().free;
        let deadline = tokio::time::Instant::now() + RETRY_AFTER_FAILED_COMMIT;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if disk.status().free >= before.saturating_add(ROOM_MADE) {
                return;
            }
        }
    }

    /// One extraction task: takes queued documents one at a time and hands
    /// their text to the indexer; between documents it waits to be woken,
    /// and looks every two seconds for documents queued by another process.
    async fn extract_loop(
        self,
        sender: tokio::sync::mpsc::Sender<Prepared>,
        stop: tokio_util::sync::CancellationToken,
    ) {
        loop {
            if stop.is_cancelled() {
                return;
            }
            let claimed = match self.store.claim_next_document().await {
                Ok(claimed) => claimed,
                Err(err) => {
                    tracing::error!(error = %err, "cannot take the next document");
                    None
                }
            };
            let Some(document) = claimed else {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
                continue;
            };
            let prepared = tokio::select! {
                _ = stop.cancelled() => return,
                prepared = self.prepare(document) => prepared,
            };
            if sender.send(prepared).await.is_err() {
                return;
            }
        }
    }

    /// Processes every queued document, then returns: for the console
    /// import, which runs without a server.
    pub async fn drain(&self, mut each: impl FnMut(&DocumentRecord)) -> anyhow::Result<()> {
        self.store.requeue_interrupted_documents().await?;
        let workers = self.config.documents.workers.max(1);
        loop {
            let mut claimed = Vec::new();
            while claimed.len() < workers {
                match self.store.claim_next_document().await? {
                    Some(document) => claimed.push(document),
                    None => break,
                }
            }
            if claimed.is_empty() {
                return Ok(());
            }
            let batch =
                futures::future::join_all(claimed.into_iter().map(|d| self.prepare(d))).await;
            for outcome in self.index_batch(batch).await? {
                each(&outcome.document);
            }
        }
    }

    /// Extracts and chunks one claimed document.
    async fn prepare(&self, document: DocumentRecord) -> Prepared {
        let started = std::time::Instant::now();
        let result = self.extract(&document).await.map_err(|err| {
            tracing::warn!(document = document.id.0, code = err.code(), reason = %err.reason(), "document not indexed");
            Processed::Failed {
                format: None,
                code: err.code().to_string(),
                reason: super::capitalise(&err.reason()),
            }
        });
        tracing::debug!(
            document = document.id.0,
            ms = started.elapsed().as_millis() as u64,
            "document extracted"
        );
        Prepared { document, result }
    }

    async fn extract(
        &self,
        document: &DocumentRecord,
    ) -> Result<(IndexDocument, Processed), ExtractError> {
        if document.attempts > MAX_ATTEMPTS {
            return Err(ExtractError::Crashed(
                "processing this file was interrupted several times".into(),
            ));
        }
        let path = stored_path(&self.config, &document.stored_as);
        let extracted = extract::extract(&self.extractor, &path, &limits(&self.config)).await?;
        for warning in &extracted.warnings {
            tracing::warn!(document = document.id.0, %warning, "document read in part");
        }
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
        let format = extracted.format.as_str().to_string();
        let title = document_title(extracted.title.as_deref(), &document.file_name);
        Ok((
            IndexDocument {
                doc_id: document.id.0,
                collection_id: document.collection_id.0,
                title: title.clone(),
                file_name: document.file_name.clone(),
                format: format.clone(),
                modified: document.updated_at,
                chunks,
            },
            Processed::Indexed {
                title,
                format,
                pages: extracted.pages,
                chunks: stored,
                text_bytes,
                ocr_pages: extracted.ocr_pages,
            },
        ))
    }

    /// Writes a batch into the index, commits, and only then records each
    /// document's outcome. When the commit fails (or a failed commit since
    /// dropped any of the batch's writes), the batch goes back to the queue
    /// and this returns an error: the database never says "indexed" for a
    /// document search cannot find.
    async fn index_batch(&self, batch: Vec<Prepared>) -> anyhow::Result<Vec<Outcome>> {
        let mut recorded = Vec::with_capacity(batch.len());
        for prepared in batch {
            let Prepared { document, result } = prepared;
            let processed = match result {
                Ok((doc, processed)) => match self.index.index_document(doc).await {
                    Ok(()) => processed,
                    Err(err) => {
                        tracing::warn!(document = document.id.0, error = %err, "the search index refused a document");
                        let _ = self.index.delete_document(document.id.0).await;
                        Processed::Failed {
                            format: None,
                            code: "index".into(),
                            reason: format!("The search index refused it: {err}"),
                        }
                    }
                },
                Err(failed) => {
                    let _ = self.index.delete_document(document.id.0).await;
                    failed
                }
            };
            recorded.push((document, processed));
        }
        let committed = self.index.flush().await;
        let lost = self.index.take_lost();
        let ids: Vec<i64> = recorded.iter().map(|(d, _)| d.id.0).collect();
        if let Err(err) = committed.map_err(anyhow::Error::from).and_then(|()| {
            match ids.iter().any(|id| lost.contains(id)) {
                true => Err(anyhow::anyhow!(
                    "an earlier commit dropped part of the batch"
                )),
                false => Ok(()),
            }
        }) {
            tracing::error!(error = %err, documents = ids.len(), "the search index could not be committed; the documents wait in the queue");
            self.store
                .release_documents(ids.iter().copied().map(DocumentId).collect())
                .await?;
            // Writing the other dropped documents again now would only be
            // dropped again: they wait for the next reconciliation.
            self.index
                .mark_lost(lost.into_iter().filter(|id| !ids.contains(id)));
            return Err(err);
        }
        if lost.iter().any(|id| !ids.contains(id)) {
            self.reconcile_lost_ids(&lost, &ids).await;
            if let Err(err) = self.index.flush().await {
                tracing::warn!(error = %err, "the search index could not take the documents put back");
            }
        }
        let mut outcomes = Vec::with_capacity(recorded.len());
        let mut recorded = recorded.into_iter();
        while let Some((document, processed)) = recorded.next() {
            let indexed = matches!(processed, Processed::Indexed { .. });
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
                        "document processed"
                    );
                    outcomes.push(Outcome { document: record });
                }
                // Deleted or replaced while it was processed: its index
                // entries, if any, belong to nothing now.
                Err(StoreError::NotFound) => {
                    if indexed
                        && self
                            .store
                            .document_for_processing(document.id)
                            .await
                            .is_err()
                    {
                        let _ = self.index.delete_document(document.id.0).await;
                    }
                    outcomes.push(Outcome { document });
                }
                Err(err) => {
                    // The database cannot record it (a full disk): the index
                    // is ahead of it for this and the rest of the batch. They
                    // go back to the queue (or, if even that cannot be
                    // written, at the next start), and their index entries
                    // are brought back in line by the next reconciliation.
                    let rest: Vec<i64> = std::iter::once(document.id.0)
                        .chain(recorded.map(|(d, _)| d.id.0))
                        .collect();
                    self.index.mark_lost(rest.iter().copied());
                    if let Err(release) = self
                        .store
                        .release_documents(rest.into_iter().map(DocumentId).collect())
                        .await
                    {
                        tracing::warn!(error = %release, "documents stay marked as being processed until the next start");
                    }
                    return Err(err.into());
                }
            }
        }
        Ok(outcomes)
    }

    /// Puts back what failed commits dropped, other than `skip` (a batch
    /// that is queued again anyway), then commits.
    async fn reconcile_lost(&self, skip: &[i64]) {
        let lost = self.index.take_lost();
        if lost.is_empty() {
            return;
        }
        self.reconcile_lost_ids(&lost, skip).await;
        if let Err(err) = self.index.flush().await {
            tracing::warn!(error = %err, "the search index still cannot be committed");
        }
    }

    async fn reconcile_lost_ids(&self, lost: &[i64], skip: &[i64]) {
        for id in lost.iter().filter(|id| !skip.contains(id)) {
            if let Err(err) = reconcile(&self.store, &self.index, DocumentId(*id)).await {
                tracing::warn!(document = id, error = %err, "cannot put a document back into the index");
            }
        }
    }
}

/// Brings the index in line with the database for one document: its stored
/// chunks if it is indexed, nothing otherwise.
pub async fn reconcile(store: &Store, index: &SearchIndex, id: DocumentId) -> anyhow::Result<()> {
    match store.document_for_processing(id).await {
        Ok(document) if document.status == DocumentStatus::Indexed => {
            reindex_from_store(store, index, id).await
        }
        Ok(_) | Err(StoreError::NotFound) => Ok(index.delete_document(id.0).await?),
        Err(err) => Err(err.into()),
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
    if document.status != DocumentStatus::Indexed {
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
) -> Result<DocumentRecord, StoreError> {
    let record = store.delete_document(id).await?;
    // The file goes first: on a full disk, deleting is how people make room.
    let _ = tokio::fs::remove_file(stored_path(config, &record.stored_as)).await;
    if let Some(index) = index {
        // The database no longer has it, so no page or answer shows it; if
        // the index cannot be committed now (a full disk), the deletion is
        // kept for the next reconciliation instead of failing the request.
        let removed = match index.delete_document(id.0).await {
            Ok(()) => index.flush().await,
            Err(err) => Err(err),
        };
        if let Err(err) = removed {
            tracing::warn!(document = id.0, error = %err, "the search index could not drop a deleted document yet");
            index.mark_lost([id.0]);
        }
    }
    Ok(record)
}
