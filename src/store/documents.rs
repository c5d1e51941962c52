//! Office documents. Every read that takes a [`Viewer`] applies the
//! collection access rules of `collections` in its SQL.
//!
//! A document's `status` is also its place in the ingestion queue:
//! `queued` → `processing` → `indexed` or `failed`. Claiming the next one
//! is a single UPDATE, and documents left `processing` by a stopped server
//! go back to `queued` when it starts again.

use rusqlite::{Connection, OptionalExtension, Row, named_params, params};
use serde::Serialize;

use super::collections::{CollectionId, VISIBLE, Viewer, collection_by_id, is_visible};
use super::users::UserId;
use super::{DocumentSource, DocumentStatus, Store, StoreError, StoreResult, conflict_on_unique};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct DocumentId(pub i64);

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DocumentRecord {
    pub id: DocumentId,
    pub collection_id: CollectionId,
    pub collection_name: String,
    pub title: String,
    /// The name it was uploaded with (never used as a path).
    pub file_name: String,
    /// Detected from the content: `pdf`, `docx`, ... (unknown until processed).
    pub format: Option<String>,
    pub size: i64,
    pub sha256: String,
    #[serde(skip)]
    pub stored_as: String,
    /// `queued`, `processing`, `indexed` or `failed`.
    pub status: DocumentStatus,
    pub error_code: Option<String>,
    /// Why processing failed, for people.
    pub error_reason: Option<String>,
    pub pages: Option<i64>,
    /// Pages (or pictures) whose text was read by OCR.
    pub ocr_pages: i64,
    pub chunk_count: i64,
    pub text_bytes: i64,
    /// `upload`, `inbox`, `import` or `api`.
    pub source: DocumentSource,
    pub uploaded_by: Option<UserId>,
    pub uploaded_by_name: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub indexed_at: Option<i64>,
    /// Times processing started (to stop retrying a file that crashes it).
    #[serde(skip)]
    pub attempts: i64,
}

/// A document to add (its file is already stored as `stored_as`).
#[derive(Debug, Clone)]
pub struct NewDocument {
    pub collection_id: CollectionId,
    pub title: String,
    pub file_name: String,
    pub size: i64,
    pub sha256: String,
    pub stored_as: String,
    pub source: DocumentSource,
    pub uploaded_by: Option<UserId>,
}

/// What adding a document did.
#[derive(Debug, Clone)]
pub enum Added {
    New(DocumentRecord),
    /// A document of the same name in the collection had other contents:
    /// it now has these, and its old file (`old_stored_as`) can go.
    Replaced {
        document: DocumentRecord,
        old_stored_as: String,
    },
    /// The collection already holds exactly this content; nothing changed.
    Duplicate(DocumentRecord),
}

/// One piece of a document's text, as indexed and cited.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StoredChunk {
    pub ord: u32,
    pub page: Option<u32>,
    pub heading: Option<String>,
    pub text: String,
}

/// How processing a document ended.
#[derive(Debug, Clone)]
pub enum Processed {
    Indexed {
        /// The title the document gives itself, or one made from its file
        /// name; it replaces the title the upload was given.
        title: String,
        format: String,
        pages: Option<u32>,
        chunks: Vec<StoredChunk>,
        text_bytes: i64,
        ocr_pages: u32,
    },
    Failed {
        format: Option<String>,
        code: String,
        reason: String,
    },
}

/// Which documents a list shows.
#[derive(Debug, Clone, Default)]
pub struct DocumentFilter {
    pub collection: Option<CollectionId>,
    pub status: Option<DocumentStatus>,
    /// Part of the title or file name.
    pub name: Option<String>,
    pub offset: u32,
    pub limit: u32,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DocumentPage {
    pub documents: Vec<DocumentRecord>,
    pub total: i64,
}

const DOCUMENT_COLUMNS: &str = "d.id, d.collection_id, c.name, d.title, d.file_name, d.format, d.size, d.sha256,
    d.stored_as, d.status, d.error_code, d.error_reason, d.pages, d.chunk_count, d.text_bytes, d.source,
    d.uploaded_by, (SELECT display_name FROM users WHERE id = d.uploaded_by), d.created_at, d.updated_at, d.indexed_at, d.attempts,
    d.ocr_pages";

fn document(row: &Row<'_>) -> rusqlite::Result<DocumentRecord> {
    Ok(DocumentRecord {
        id: DocumentId(row.get(0)?),
        collection_id: CollectionId(row.get(1)?),
        collection_name: row.get(2)?,
        title: row.get(3)?,
        file_name: row.get(4)?,
        format: row.get(5)?,
        size: row.get(6)?,
        sha256: row.get(7)?,
        stored_as: row.get(8)?,
        status: row.get(9)?,
        error_code: row.get(10)?,
        error_reason: row.get(11)?,
        pages: row.get(12)?,
        chunk_count: row.get(13)?,
        text_bytes: row.get(14)?,
        source: row.get(15)?,
        uploaded_by: row.get::<_, Option<i64>>(16)?.map(UserId),
        uploaded_by_name: row.get(17)?,
        created_at: row.get(18)?,
        updated_at: row.get(19)?,
        indexed_at: row.get(20)?,
        attempts: row.get(21)?,
        ocr_pages: row.get(22)?,
    })
}

fn document_by_id(c: &Connection, id: DocumentId) -> StoreResult<DocumentRecord> {
    Ok(c.query_row(
        &format!(
            "SELECT {DOCUMENT_COLUMNS} FROM documents d JOIN collections c ON c.id = d.collection_id WHERE d.id = ?1"
        ),
        [id.0],
        document,
    )?)
}

impl Store {
    /// Adds a document to the queue, unless the collection already holds the
    /// same content; a different content under the same file name replaces
    /// the earlier version (same id, processed again).
    pub async fn add_document(&self, new: NewDocument) -> StoreResult<Added> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            let duplicate: Option<i64> = tx
                .query_row(
                    "SELECT id FROM documents WHERE collection_id = ?1 AND sha256 = ?2",
                    params![new.collection_id.0, new.sha256],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(id) = duplicate {
                return Ok(Added::Duplicate(document_by_id(tx, DocumentId(id))?));
            }
            let at = clock.now();
            let same_name: Option<(i64, String)> = tx
                .query_row(
                    "SELECT id, stored_as FROM documents WHERE collection_id = ?1 AND file_name = ?2
                     ORDER BY id DESC LIMIT 1",
                    params![new.collection_id.0, new.file_name],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if let Some((id, old_stored_as)) = same_name {
                tx.execute(
                    "UPDATE documents SET size = ?2, sha256 = ?3, stored_as = ?4, status = 'queued',
                     error_code = NULL, error_reason = NULL, attempts = 0, source = ?5,
                     uploaded_by = ?6, updated_at = ?7 WHERE id = ?1",
                    params![
                        id,
                        new.size,
                        new.sha256,
                        new.stored_as,
                        new.source,
                        new.uploaded_by.map(|u| u.0),
                        at
                    ],
                )?;
                return Ok(Added::Replaced {
                    document: document_by_id(tx, DocumentId(id))?,
                    old_stored_as,
                });
            }
            tx.execute(
                "INSERT INTO documents (collection_id, title, file_name, size, sha256, stored_as, status,
                 source, uploaded_by, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?8, ?9, ?9)",
                params![
                    new.collection_id.0,
                    new.title,
                    new.file_name,
                    new.size,
                    new.sha256,
                    new.stored_as,
                    new.source,
                    new.uploaded_by.map(|u| u.0),
                    at
                ],
            )?;
            Ok(Added::New(document_by_id(tx, DocumentId(tx.last_insert_rowid()))?))
        })
        .await
    }

    /// The documents `viewer` may see, newest first.
    pub async fn documents(
        &self,
        viewer: Viewer,
        filter: DocumentFilter,
    ) -> StoreResult<DocumentPage> {
        self.read(move |c| {
            let name = filter.name.filter(|n| !n.trim().is_empty()).map(|n| {
                super::contains_pattern(&n)
            });
            let condition = format!(
                "{VISIBLE} AND (:collection IS NULL OR d.collection_id = :collection)
                 AND (:status IS NULL OR d.status = :status)
                 AND (:name IS NULL OR d.title LIKE :name ESCAPE '\\' OR d.file_name LIKE :name ESCAPE '\\')"
            );
            let total = c.query_row(
                &format!("SELECT count(*) FROM documents d JOIN collections c ON c.id = d.collection_id WHERE {condition}"),
                named_params! {
                    ":viewer": viewer.user.0, ":viewer_role": viewer.role.as_str(),
                    ":collection": filter.collection.map(|c| c.0), ":status": filter.status, ":name": name,
                },
                |r| r.get(0),
            )?;
            let mut stmt = c.prepare(&format!(
                "SELECT {DOCUMENT_COLUMNS} FROM documents d JOIN collections c ON c.id = d.collection_id
                 WHERE {condition} ORDER BY d.updated_at DESC, d.id DESC LIMIT :limit OFFSET :offset"
            ))?;
            let documents = stmt
                .query_map(
                    named_params! {
                        ":viewer": viewer.user.0, ":viewer_role": viewer.role.as_str(),
                        ":collection": filter.collection.map(|c| c.0), ":status": filter.status, ":name": name,
                        ":limit": filter.limit.max(1), ":offset": filter.offset,
                    },
                    document,
                )?
                .collect::<Result<_, _>>()?;
            Ok(DocumentPage { documents, total })
        })
        .await
    }

    /// One document, if `viewer` may see it (else `NotFound`, as if it did
    /// not exist).
    pub async fn document(&self, viewer: Viewer, id: DocumentId) -> StoreResult<DocumentRecord> {
        self.read(move |c| {
            let record = document_by_id(c, id)?;
            if !is_visible(c, viewer, record.collection_id)? {
                return Err(StoreError::NotFound);
            }
            Ok(record)
        })
        .await
    }

    /// The document `viewer` asked for and may not see (it exists, in a
    /// collection not theirs), or `None` when they may see it or it does
    /// not exist: what the audit log records as a refusal.
    pub async fn document_refused(
        &self,
        viewer: Viewer,
        id: DocumentId,
    ) -> StoreResult<Option<DocumentRecord>> {
        self.read(move |c| match document_by_id(c, id) {
            Ok(record) if !is_visible(c, viewer, record.collection_id)? => Ok(Some(record)),
            Ok(_) | Err(StoreError::NotFound) => Ok(None),
            Err(other) => Err(other),
        })
        .await
    }

    /// One document regardless of access: for the ingestion worker only.
    pub async fn document_for_processing(&self, id: DocumentId) -> StoreResult<DocumentRecord> {
        self.read(move |c| document_by_id(c, id)).await
    }

    /// Statuses of these documents, for progress displays (only those the
    /// viewer may see).
    pub async fn documents_by_ids(
        &self,
        viewer: Viewer,
        ids: Vec<DocumentId>,
    ) -> StoreResult<Vec<DocumentRecord>> {
        self.read(move |c| {
            let mut found = Vec::new();
            for id in ids.into_iter().take(500) {
                match document_by_id(c, id) {
                    Ok(record) if is_visible(c, viewer, record.collection_id)? => {
                        found.push(record)
                    }
                    Ok(_) | Err(StoreError::NotFound) => {}
                    Err(err) => return Err(err),
                }
            }
            Ok(found)
        })
        .await
    }

    /// Takes the next queued document for processing: the oldest one whose
    /// uploader has nothing being processed right now, else the oldest one,
    /// so one person's slow files never hold up everyone else's.
    pub async fn claim_next_document(&self) -> StoreResult<Option<DocumentRecord>> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            let id: Option<i64> = tx
                .query_row(
                    "UPDATE documents SET status = 'processing', attempts = attempts + 1, updated_at = ?1
                     WHERE id = (
                         SELECT q.id FROM documents q WHERE q.status = 'queued'
                         ORDER BY EXISTS (
                             SELECT 1 FROM documents p WHERE p.status = 'processing'
                             AND p.uploaded_by IS q.uploaded_by
                         ), q.id
                         LIMIT 1)
                     RETURNING id",
                    [clock.now()],
                    |r| r.get(0),
                )
                .optional()?;
            id.map(|id| document_by_id(tx, DocumentId(id))).transpose()
        })
        .await
    }

    /// Puts documents a stopped server was processing back in the queue;
    /// returns how many.
    pub async fn requeue_interrupted_documents(&self) -> StoreResult<usize> {
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE documents SET status = 'queued' WHERE status = 'processing'",
                [],
            )?)
        })
        .await
    }

    /// Puts documents being processed back in the queue without counting
    /// the attempt: their processing was fine, the index could not take
    /// them (a full disk).
    pub async fn release_documents(&self, ids: Vec<DocumentId>) -> StoreResult<()> {
        self.write(move |tx| {
            let mut release = tx.prepare_cached(
                "UPDATE documents SET status = 'queued', attempts = max(attempts - 1, 0)
                 WHERE id = ?1 AND status = 'processing'",
            )?;
            for id in &ids {
                release.execute([id.0])?;
            }
            Ok(())
        })
        .await
    }

    /// How many documents that `viewer` may see wait or are being processed.
    pub async fn visible_documents_pending(&self, viewer: Viewer) -> StoreResult<i64> {
        self.read(move |c| {
            Ok(c.query_row(
                &format!(
                    "SELECT count(*) FROM documents d JOIN collections c ON c.id = d.collection_id
                     WHERE d.status IN ('queued', 'processing') AND {VISIBLE}"
                ),
                named_params! {":viewer": viewer.user.0, ":viewer_role": viewer.role.as_str()},
                |r| r.get(0),
            )?)
        })
        .await
    }

    /// How many documents wait or are being processed.
    pub async fn documents_pending(&self) -> StoreResult<i64> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM documents WHERE status IN ('queued', 'processing')",
                [],
                |r| r.get(0),
            )?)
        })
        .await
    }

    /// Records how processing ended. The chunks replace any earlier ones in
    /// the same transaction. Ignored (`NotFound`) if the document was
    /// deleted or replaced by a newer upload meanwhile (`sha256` differs).
    pub async fn finish_document(
        &self,
        id: DocumentId,
        sha256: String,
        outcome: Processed,
    ) -> StoreResult<DocumentRecord> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            let current: Option<String> = tx
                .query_row(
                    "SELECT sha256 FROM documents WHERE id = ?1 AND status = 'processing'",
                    [id.0],
                    |r| r.get(0),
                )
                .optional()?;
            if current.as_deref() != Some(sha256.as_str()) {
                return Err(StoreError::NotFound);
            }
            tx.execute("DELETE FROM chunks WHERE document_id = ?1", [id.0])?;
            let at = clock.now();
            match &outcome {
                Processed::Indexed {
                    title,
                    format,
                    pages,
                    chunks,
                    text_bytes,
                    ocr_pages,
                } => {
                    let mut insert = tx.prepare_cached(
                        "INSERT INTO chunks (document_id, ord, page, heading, text) VALUES (?1, ?2, ?3, ?4, ?5)",
                    )?;
                    for chunk in chunks {
                        insert.execute(params![id.0, chunk.ord, chunk.page, chunk.heading, chunk.text])?;
                    }
                    tx.execute(
                        "UPDATE documents SET status = 'indexed', format = ?2, pages = ?3, chunk_count = ?4,
                         text_bytes = ?5, error_code = NULL, error_reason = NULL, updated_at = ?6, indexed_at = ?6,
                         ocr_pages = ?7, title = ?8 WHERE id = ?1",
                        params![id.0, format, pages, chunks.len() as i64, text_bytes, at, ocr_pages, title],
                    )?;
                }
                Processed::Failed {
                    format,
                    code,
                    reason,
                } => {
                    tx.execute(
                        "UPDATE documents SET status = 'failed', format = coalesce(?2, format), pages = NULL,
                         chunk_count = 0, text_bytes = 0, ocr_pages = 0, error_code = ?3, error_reason = ?4, updated_at = ?5,
                         indexed_at = NULL WHERE id = ?1",
                        params![id.0, format, code, reason, at],
                    )?;
                }
            }
            document_by_id(tx, id)
        })
        .await
    }

    /// Queues a document to be processed again.
    pub async fn requeue_document(&self, id: DocumentId) -> StoreResult<DocumentRecord> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE documents SET status = 'queued', attempts = 0, error_code = NULL, error_reason = NULL,
                 updated_at = ?2 WHERE id = ?1 AND status <> 'processing'",
                params![id.0, clock.now()],
            )?;
            if changed == 0 {
                document_by_id(tx, id)?;
                return Err(StoreError::Conflict(
                    "The document is being processed right now; try again in a moment.".into(),
                ));
            }
            document_by_id(tx, id)
        })
        .await
    }

    /// Moves a document to another collection (`Conflict` if that collection
    /// already holds the same content).
    pub async fn move_document(
        &self,
        id: DocumentId,
        to: CollectionId,
    ) -> StoreResult<DocumentRecord> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            collection_by_id(tx, to)?;
            tx.execute(
                "UPDATE documents SET collection_id = ?2, updated_at = ?3 WHERE id = ?1",
                params![id.0, to.0, clock.now()],
            )
            .map_err(|e| {
                conflict_on_unique(
                    e,
                    "That collection already holds a document with the same contents.",
                )
            })?;
            document_by_id(tx, id)
        })
        .await
    }

    /// Deletes a document with its text; returns it so its file can go.
    pub async fn delete_document(&self, id: DocumentId) -> StoreResult<DocumentRecord> {
        self.write_essential(move |tx| {
            let record = document_by_id(tx, id)?;
            tx.execute("DELETE FROM documents WHERE id = ?1", [id.0])?;
            Ok(record)
        })
        .await
    }

    pub async fn document_chunks(&self, id: DocumentId) -> StoreResult<Vec<StoredChunk>> {
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT ord, page, heading, text FROM chunks WHERE document_id = ?1 ORDER BY ord",
            )?;
            let chunks = stmt
                .query_map([id.0], |r| {
                    Ok(StoredChunk {
                        ord: r.get(0)?,
                        page: r.get(1)?,
                        heading: r.get(2)?,
                        text: r.get(3)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(chunks)
        })
        .await
    }

    /// Every indexed document's id, for rebuilding the search index.
    pub async fn indexed_document_ids(&self) -> StoreResult<Vec<DocumentId>> {
        self.read(|c| {
            let mut stmt =
                c.prepare("SELECT id FROM documents WHERE status = 'indexed' ORDER BY id")?;
            let ids = stmt
                .query_map([], |r| r.get(0).map(DocumentId))?
                .collect::<Result<_, _>>()?;
            Ok(ids)
        })
        .await
    }

    /// Counts by status over all documents (for Admin and readiness).
    pub async fn document_counts(&self) -> StoreResult<Vec<(String, i64)>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT status, count(*) FROM documents GROUP BY status ORDER BY status",
            )?;
            let counts = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            Ok(counts)
        })
        .await
    }
}
