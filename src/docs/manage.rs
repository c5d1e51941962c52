//! What people do with documents, whoever asks: the Documents page, the
//! JSON API and the console all call these. Reading an upload (several files,
//! each stored and queued on its own), loading a document someone may see
//! or manage (recording the read, and the refusal of one they may not),
//! and moving, re-processing and deleting one, each audited.

use axum::extract::Multipart;
use axum::http::header;
use serde::Serialize;

use super::ingest;
use super::{can_manage, can_upload_to, capitalise};
use crate::app::AppState;
use crate::audit::{self, Actor, Event, Target};
use crate::disk::SpoolError;
use crate::error::{AppError, AppResult};
use crate::store::{
    Added, Collection, CollectionId, DocumentId, DocumentRecord, DocumentSource, NewDocument, User,
    Viewer,
};

/// Collections `user` may add documents to, their own first (created on
/// first use).
pub async fn upload_targets(state: &AppState, user: &User) -> AppResult<Vec<Collection>> {
    state.store.personal_collection(user.id).await?;
    Ok(state
        .store
        .visible_collections(Viewer::of(user))
        .await?
        .into_iter()
        .filter(|c| can_upload_to(user, c))
        .collect())
}

/// What became of one uploaded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UploadOutcome {
    /// A new document, waiting to be processed.
    Queued,
    /// A new version of a document with this name in the collection.
    Replaced,
    /// Already there; nothing changed.
    Duplicate,
    /// Not taken; the result's `error` says why.
    Rejected,
}

impl UploadOutcome {
    fn as_str(self) -> &'static str {
        match self {
            UploadOutcome::Queued => "queued",
            UploadOutcome::Replaced => "replaced",
            UploadOutcome::Duplicate => "duplicate",
            UploadOutcome::Rejected => "rejected",
        }
    }
}

/// What happened to one uploaded file.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UploadResult {
    pub file_name: String,
    pub outcome: UploadOutcome,
    pub document: Option<DocumentRecord>,
    /// Why a file was rejected, for people.
    pub error: Option<String>,
    /// Rejected for its size.
    #[serde(skip)]
    pub too_large: bool,
}

/// What became of an upload request: a result per file, and why reading
/// stopped early (a request over its total limit, a stalled client, a
/// full disk), if it did.
pub struct Upload {
    pub results: Vec<UploadResult>,
    pub stopped: Option<AppError>,
}

impl Upload {
    /// Whether any file was taken (queued, a new version, or already there).
    pub fn accepted_any(&self) -> bool {
        self.results
            .iter()
            .any(|r| r.outcome != UploadOutcome::Rejected)
    }

    /// The error to answer when nothing was taken: why reading stopped, or
    /// else what the files have in common (all too large: 413), or 400.
    pub fn refusal(self) -> (AppError, Vec<UploadResult>) {
        let error = match self.stopped {
            Some(error) => error,
            None if self.results.is_empty() => {
                AppError::bad_request("Send at least one file (a `file` part).")
            }
            None if self.results.iter().all(|r| r.too_large) => AppError::TooLarge(format!(
                "Nothing was uploaded: {}",
                summarise(&self.results)
            )),
            None => AppError::BadRequest(format!(
                "Nothing was uploaded: {}",
                summarise(&self.results)
            )),
        };
        (error, self.results)
    }
}

/// Reads a multipart upload: a `collection` field (an id; default: the
/// uploader's own collection) followed by one or more `file` fields. Each
/// file is stored and queued on its own; a bad file never stops the rest.
/// The request as a whole may carry at most `documents.max_request_bytes`,
/// and nothing is read while the disk is under its free-space floor.
pub async fn receive_upload(
    state: &AppState,
    user: &User,
    ip: &str,
    headers: &axum::http::HeaderMap,
    multipart: &mut Multipart,
    source: DocumentSource,
) -> AppResult<Upload> {
    let max_request = state.config.documents.max_request_bytes;
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(length) = announced
        && length > max_request
    {
        return Err(AppError::TooLarge(format!(
            "The upload is {}; at most {} can be sent at once. Send fewer files at a time.",
            crate::disk::human_size(length),
            crate::disk::human_size(max_request)
        )));
    }
    state
        .config
        .disk()
        .check_room(announced.unwrap_or(0))
        .map_err(|_| AppError::disk_full())?;
    let targets = upload_targets(state, user).await?;
    let mut collection = targets
        .iter()
        .find(|c| c.personal_of == Some(user.id))
        .cloned()
        .ok_or(AppError::Forbidden)?;
    let mut upload = Upload {
        results: Vec::new(),
        stopped: None,
    };
    let mut budget = max_request;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(err) => {
                upload.stopped = Some(err.into());
                break;
            }
        };
        match field.name() {
            Some("collection") => {
                let text = field.text().await?;
                let id: i64 = text
                    .trim()
                    .parse()
                    .map_err(|_| AppError::bad_request("Choose a collection."))?;
                collection = targets
                    .iter()
                    .find(|c| c.id.0 == id)
                    .cloned()
                    .ok_or_else(|| {
                        AppError::bad_request(
                            "You cannot add documents to that collection. Choose another one.",
                        )
                    })?;
            }
            Some("file") | Some("files") => {
                let file_name = ingest::clean_file_name(field.file_name().unwrap_or("unnamed"));
                if field.file_name().is_none_or(str::is_empty) {
                    continue;
                }
                let per_file = state.config.documents.max_upload_bytes;
                let stored = ingest::store_stream(&state.config, budget, field).await;
                let rejected = |error: String, too_large: bool| UploadResult {
                    file_name: file_name.clone(),
                    outcome: UploadOutcome::Rejected,
                    document: None,
                    error: Some(capitalise(&error)),
                    too_large,
                };
                let result = match stored {
                    Ok(stored) => {
                        budget = budget.saturating_sub(stored.size);
                        add_stored(state, user, ip, &collection, &file_name, stored, source).await?
                    }
                    Err(SpoolError::TooLarge { limit }) if limit < per_file => {
                        // The request's total, not this file, is over.
                        upload.results.push(rejected(
                            format!(
                                "the upload is larger than {} in all; send fewer files at a time",
                                crate::disk::human_size(max_request)
                            ),
                            true,
                        ));
                        upload.stopped = Some(AppError::TooLarge(format!(
                            "The upload is larger than {} in all; send fewer files at a time.",
                            crate::disk::human_size(max_request)
                        )));
                        break;
                    }
                    Err(err @ (SpoolError::TooLarge { .. } | SpoolError::Empty)) => {
                        tracing::info!(file = %file_name, error = %err, "upload rejected");
                        let too_large = matches!(err, SpoolError::TooLarge { .. });
                        rejected(err.to_string(), too_large)
                    }
                    Err(SpoolError::DiskFull) => {
                        upload
                            .results
                            .push(rejected(crate::error::DISK_FULL_MESSAGE.to_string(), false));
                        upload.stopped = Some(AppError::disk_full());
                        break;
                    }
                    Err(SpoolError::Interrupted { message, stalled }) => {
                        tracing::info!(file = %file_name, %message, "upload interrupted");
                        upload.results.push(rejected(
                            "the upload was interrupted; send it again".into(),
                            false,
                        ));
                        upload.stopped = Some(if stalled {
                            AppError::Timeout
                        } else {
                            AppError::bad_request("The upload was interrupted; send it again.")
                        });
                        break;
                    }
                    Err(SpoolError::Io(err)) => return Err(AppError::Internal(err.into())),
                };
                upload.results.push(result);
            }
            _ => {}
        }
    }
    Ok(upload)
}

async fn add_stored(
    state: &AppState,
    user: &User,
    ip: &str,
    collection: &Collection,
    file_name: &str,
    stored: ingest::StoredFile,
    source: DocumentSource,
) -> AppResult<UploadResult> {
    let added = ingest::add_document(
        &state.store,
        &state.config,
        &state.docs.wake,
        NewDocument {
            collection_id: collection.id,
            title: ingest::title_from_file_name(file_name),
            file_name: file_name.to_string(),
            size: stored.size as i64,
            sha256: stored.sha256,
            stored_as: stored.stored_as,
            source,
            uploaded_by: Some(user.id),
        },
    )
    .await?;
    let (outcome, document, error) = match added {
        Added::New(document) => (UploadOutcome::Queued, document, None),
        Added::Replaced { document, .. } => (UploadOutcome::Replaced, document, None),
        Added::Duplicate(document) => {
            let note = format!(
                "Already in {} as \"{}\"; nothing changed.",
                document.collection_name, document.title
            );
            (UploadOutcome::Duplicate, document, Some(note))
        }
    };
    if outcome != UploadOutcome::Duplicate {
        audit::record(
            &state.store,
            Actor::User(user),
            ip,
            Event::ok("docs.uploaded", Target::Document(document.id))
                .named(document.file_name.clone())
                .in_collection(document.collection_id)
                .detail(format!(
                    "{} ({}) into {}",
                    document.file_name,
                    outcome.as_str(),
                    document.collection_name
                )),
        )
        .await?;
    }
    Ok(UploadResult {
        file_name: file_name.to_string(),
        outcome,
        document: Some(document),
        error,
        too_large: false,
    })
}

/// One line for people about a batch of uploads.
pub fn summarise(results: &[UploadResult]) -> String {
    if results.is_empty() {
        return "Choose one or more files to upload.".into();
    }
    let count = |o: UploadOutcome| results.iter().filter(|r| r.outcome == o).count();
    let mut parts = Vec::new();
    let queued = count(UploadOutcome::Queued) + count(UploadOutcome::Replaced);
    if queued > 0 {
        parts.push(format!(
            "{} added and being processed",
            crate::text::count(queued as i64, "file", "files")
        ));
    }
    let duplicates = count(UploadOutcome::Duplicate);
    if duplicates > 0 {
        parts.push(format!("{duplicates} already there"));
    }
    for rejected in results
        .iter()
        .filter(|r| r.outcome == UploadOutcome::Rejected)
    {
        parts.push(format!(
            "{}: {}",
            rejected.file_name,
            rejected.error.as_deref().unwrap_or("rejected")
        ));
    }
    format!("{}.", parts.join("; "))
}

/// Loads a document the user may see, with its collection.
pub async fn visible_document(
    state: &AppState,
    user: &User,
    id: DocumentId,
) -> AppResult<(DocumentRecord, Collection)> {
    let document = state.store.document(Viewer::of(user), id).await?;
    let collection = state.store.collection(document.collection_id).await?;
    Ok((document, collection))
}

/// How someone reads a document, as the audit log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// Its page with its text, or a passage opened from search or an answer:
    /// recorded once within `audit.repeat_window_minutes`.
    View,
    /// The original file: every download is recorded.
    Download,
    /// Its status (the API): only a refusal is recorded.
    Status,
}

/// Loads a document the user may see, recording the read; a document they
/// may not see answers "not found", as ever, and is recorded as refused.
pub async fn read_document(
    state: &AppState,
    user: &User,
    ip: &str,
    id: DocumentId,
    reading: Reading,
) -> AppResult<(DocumentRecord, Collection)> {
    let action = match reading {
        Reading::View | Reading::Status => "docs.viewed",
        Reading::Download => "docs.downloaded",
    };
    let (document, collection) = match visible_document(state, user, id).await {
        Err(AppError::NotFound) => {
            record_refusal(state, user, ip, id, action).await?;
            return Err(AppError::NotFound);
        }
        other => other?,
    };
    let event = Event::ok(action, Target::Document(document.id))
        .named(document.file_name.clone())
        .in_collection(document.collection_id);
    match reading {
        Reading::View => {
            audit::record_once(
                &state.store,
                Actor::User(user),
                ip,
                event,
                state.config.audit.repeat_window(),
            )
            .await?;
        }
        Reading::Download => audit::record(&state.store, Actor::User(user), ip, event).await?,
        Reading::Status => {}
    }
    Ok((document, collection))
}

/// Records that `user` asked for a document they may not see (`action`
/// is what they tried), when it exists; one entry per window.
async fn record_refusal(
    state: &AppState,
    user: &User,
    ip: &str,
    id: DocumentId,
    action: &str,
) -> AppResult<()> {
    if let Some(document) = state.store.document_refused(Viewer::of(user), id).await? {
        refuse(state, user, ip, &document, action).await?;
    }
    Ok(())
}

async fn refuse(
    state: &AppState,
    user: &User,
    ip: &str,
    document: &DocumentRecord,
    action: &str,
) -> AppResult<()> {
    audit::record_once(
        &state.store,
        Actor::User(user),
        ip,
        Event::refused(action, Target::Document(document.id))
            .named(document.file_name.clone())
            .in_collection(document.collection_id),
        state.config.audit.repeat_window(),
    )
    .await?;
    Ok(())
}

/// Records that `user` asked for the documents of a collection they may
/// not see (the list then shows none, as ever).
pub async fn note_collection_request(
    state: &AppState,
    user: &User,
    ip: &str,
    id: CollectionId,
) -> AppResult<()> {
    if let Some(collection) = state.store.collection_refused(Viewer::of(user), id).await? {
        audit::record_once(
            &state.store,
            Actor::User(user),
            ip,
            Event::refused("collection.viewed", Target::Collection(id)).named(collection.name),
            state.config.audit.repeat_window(),
        )
        .await?;
    }
    Ok(())
}

/// Loads a document the user may change; a refusal (one they may not see,
/// or may see but not change) is recorded under `action`.
pub async fn manageable_document(
    state: &AppState,
    user: &User,
    ip: &str,
    id: DocumentId,
    action: &str,
) -> AppResult<DocumentRecord> {
    let (document, collection) = match visible_document(state, user, id).await {
        Err(AppError::NotFound) => {
            record_refusal(state, user, ip, id, action).await?;
            return Err(AppError::NotFound);
        }
        other => other?,
    };
    if !can_manage(user, &document, &collection) {
        refuse(state, user, ip, &document, action).await?;
        return Err(AppError::Forbidden);
    }
    Ok(document)
}

/// What a move did.
pub enum Moved {
    /// The document is now in another collection.
    To(DocumentRecord),
    /// It was already in the chosen collection; nothing changed.
    AlreadyThere(DocumentRecord),
}

/// Moves a document; its index entries follow. Moving it into the
/// collection it is in changes (and records) nothing.
pub async fn move_document(
    state: &AppState,
    user: &User,
    ip: &str,
    id: DocumentId,
    to: i64,
) -> AppResult<Moved> {
    let document = manageable_document(state, user, ip, id, "docs.moved").await?;
    if document.collection_id.0 == to {
        return Ok(Moved::AlreadyThere(document));
    }
    let targets = upload_targets(state, user).await?;
    let target = targets
        .iter()
        .find(|c| c.id.0 == to)
        .ok_or_else(|| AppError::bad_request("You cannot move documents into that collection."))?;
    let moved = state.store.move_document(document.id, target.id).await?;
    if let Some(index) = state.search.index() {
        ingest::reindex_from_store(&state.store, index, moved.id)
            .await
            .map_err(AppError::Internal)?;
        index
            .flush()
            .await
            .map_err(|e| AppError::Internal(e.into()))?;
    }
    audit::record(
        &state.store,
        Actor::User(user),
        ip,
        Event::ok("docs.moved", Target::Document(moved.id))
            .named(moved.file_name.clone())
            .in_collection(moved.collection_id)
            .detail(format!(
                "{} from {} to {}",
                moved.file_name, document.collection_name, moved.collection_name
            )),
    )
    .await?;
    Ok(Moved::To(moved))
}

pub async fn reprocess_document(
    state: &AppState,
    user: &User,
    ip: &str,
    id: DocumentId,
) -> AppResult<DocumentRecord> {
    let document = manageable_document(state, user, ip, id, "docs.reprocessed").await?;
    let queued = state.store.requeue_document(document.id).await?;
    state.docs.wake.notify_one();
    audit::record(
        &state.store,
        Actor::User(user),
        ip,
        Event::ok("docs.reprocessed", Target::Document(queued.id))
            .named(queued.file_name.clone())
            .in_collection(queued.collection_id)
            .detail(queued.file_name.clone()),
    )
    .await?;
    Ok(queued)
}

pub async fn delete_document(
    state: &AppState,
    user: &User,
    ip: &str,
    id: DocumentId,
) -> AppResult<DocumentRecord> {
    let document = manageable_document(state, user, ip, id, "docs.deleted").await?;
    let deleted = ingest::delete_document(
        &state.store,
        &state.config,
        state.search.index(),
        document.id,
    )
    .await?;
    audit::record(
        &state.store,
        Actor::User(user),
        ip,
        Event::ok("docs.deleted", Target::Document(deleted.id))
            .named(deleted.file_name.clone())
            .in_collection(deleted.collection_id)
            .detail(format!(
                "{} from {}",
                deleted.file_name, deleted.collection_name
            )),
    )
    .await?;
    Ok(deleted)
}
