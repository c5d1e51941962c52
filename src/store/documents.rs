//! Office documents, the collections they belong to, and who may see them.
//!
//! Access is decided here, in SQL, for every read that takes a [`Viewer`]:
//! a person sees a shared collection when their role or their name is on
//! it, and their own "My documents"; nobody else's. Callers never filter
//! lists afterwards, so counts cannot leak what a list would hide.
//!
//! A document's `status` is also its place in the ingestion queue:
//! `queued` → `processing` → `indexed` or `failed`. Claiming the next one
//! is a single UPDATE, and documents left `processing` by a stopped server
//! go back to `queued` when it starts again.

use rusqlite::{Connection, OptionalExtension, Row, named_params, params};
use serde::Serialize;

use super::users::UserId;
use super::{DocumentSource, DocumentStatus, Store, StoreError, StoreResult, conflict_on_unique};
use crate::store::Role;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct CollectionId(pub i64);

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct DocumentId(pub i64);

/// Whose eyes a read is for.
#[derive(Debug, Clone, Copy)]
pub struct Viewer {
    pub user: UserId,
    pub role: Role,
}

impl Viewer {
    /// Whose eyes a request reads with.
    pub fn of(user: &super::User) -> Viewer {
        Viewer {
            user: user.id,
            role: user.role,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Collection {
    pub id: CollectionId,
    pub name: String,
    pub description: String,
    /// Set for a person's own "My documents".
    pub personal_of: Option<UserId>,
    pub created_by: Option<UserId>,
    pub created_at: i64,
    /// Roles whose members all see it (shared collections).
    pub roles: Vec<Role>,
    /// People who see it by name (shared collections).
    pub users: Vec<UserId>,
    pub document_count: i64,
}

impl Collection {
    pub fn is_personal(&self) -> bool {
        self.personal_of.is_some()
    }
}

/// A new shared collection, or new access rules for one.
#[derive(Debug, Clone)]
pub struct CollectionAccess {
    pub name: String,
    pub description: String,
    pub roles: Vec<Role>,
    pub users: Vec<UserId>,
}

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

/// A cited passage of an answer.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MessageSource {
    pub n: u32,
    /// Gone when the document was deleted since.
    pub document_id: Option<DocumentId>,
    pub chunk_ord: u32,
    pub page: Option<u32>,
    pub title: String,
    pub excerpt: String,
}

/// Name of every person's own collection.
pub const PERSONAL_COLLECTION_NAME: &str = "My documents";

/// The access rule, as SQL over a collection aliased `c`, for the viewer
/// bound as `:viewer` and `:viewer_role`.
const VISIBLE: &str = "(c.personal_of = :viewer OR (c.personal_of IS NULL AND (
        EXISTS (SELECT 1 FROM collection_roles r WHERE r.collection_id = c.id AND r.role = :viewer_role)
        OR EXISTS (SELECT 1 FROM collection_users u WHERE u.collection_id = c.id AND u.user_id = :viewer))))";

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

fn collection_by_id(c: &Connection, id: CollectionId) -> StoreResult<Collection> {
    let (name, description, personal_of, created_by, created_at) = c.query_row(
        "SELECT name, description, personal_of, created_by, created_at FROM collections WHERE id = ?1",
        [id.0],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, i64>(4)?,
            ))
        },
    )?;
    let mut stmt =
        c.prepare_cached("SELECT role FROM collection_roles WHERE collection_id = ?1")?;
    let roles = stmt
        .query_map([id.0], |r| r.get::<_, String>(0))?
        .filter_map(|r| r.ok().and_then(|role| role.parse::<Role>().ok()))
        .collect();
    let mut stmt = c.prepare_cached(
        "SELECT user_id FROM collection_users WHERE collection_id = ?1 ORDER BY user_id",
    )?;
    let users = stmt
        .query_map([id.0], |r| r.get::<_, i64>(0).map(UserId))?
        .collect::<Result<_, _>>()?;
    let document_count = c.query_row(
        "SELECT count(*) FROM documents WHERE collection_id = ?1",
        [id.0],
        |r| r.get(0),
    )?;
    Ok(Collection {
        id,
        name,
        description,
        personal_of: personal_of.map(UserId),
        created_by: created_by.map(UserId),
        created_at,
        roles,
        users,
        document_count,
    })
}

/// The collections whose ids `query` selects, in its order.
fn collections_selected(
    c: &Connection,
    query: &str,
    params: &[(&str, &dyn rusqlite::ToSql)],
) -> StoreResult<Vec<Collection>> {
    let mut stmt = c.prepare(query)?;
    let ids: Vec<i64> = stmt
        .query_map(params, |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    ids.into_iter()
        .map(|id| collection_by_id(c, CollectionId(id)))
        .collect()
}

fn is_visible(c: &Connection, viewer: Viewer, id: CollectionId) -> StoreResult<bool> {
    Ok(c.query_row(
        &format!("SELECT EXISTS (SELECT 1 FROM collections c WHERE c.id = :id AND {VISIBLE})"),
        named_params! {":id": id.0, ":viewer": viewer.user.0, ":viewer_role": viewer.role.as_str()},
        |r| r.get(0),
    )?)
}

fn set_access(
    tx: &Connection,
    id: CollectionId,
    roles: &[Role],
    users: &[UserId],
) -> StoreResult<()> {
    tx.execute(
        "DELETE FROM collection_roles WHERE collection_id = ?1",
        [id.0],
    )?;
    tx.execute(
        "DELETE FROM collection_users WHERE collection_id = ?1",
        [id.0],
    )?;
    for role in roles {
        tx.execute(
            "INSERT OR IGNORE INTO collection_roles (collection_id, role) VALUES (?1, ?2)",
            params![id.0, role.as_str()],
        )?;
    }
    for user in users {
        tx.execute(
            "INSERT OR IGNORE INTO collection_users (collection_id, user_id) VALUES (?1, ?2)",
            params![id.0, user.0],
        )?;
    }
    Ok(())
}

fn validate_collection_name(name: &str) -> StoreResult<String> {
    let name = crate::text::clean_name(name);
    let name = name.as_str();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(StoreError::Conflict(
            "A collection needs a name of 1 to 80 characters.".into(),
        ));
    }
    if name.eq_ignore_ascii_case(PERSONAL_COLLECTION_NAME) {
        return Err(StoreError::Conflict(format!(
            "\"{PERSONAL_COLLECTION_NAME}\" is everyone's own collection; choose another name."
        )));
    }
    Ok(name.to_string())
}

impl Store {
    /// The person's own collection, created the first time it is needed.
    pub async fn personal_collection(&self, user: UserId) -> StoreResult<Collection> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            let existing: Option<i64> = tx
                .query_row(
                    "SELECT id FROM collections WHERE personal_of = ?1",
                    [user.0],
                    |r| r.get(0),
                )
                .optional()?;
            let id = match existing {
                Some(id) => id,
                None => {
                    tx.execute(
                        "INSERT INTO collections (name, personal_of, created_by, created_at) VALUES (?1, ?2, ?2, ?3)",
                        params![PERSONAL_COLLECTION_NAME, user.0, clock.now()],
                    )?;
                    tx.last_insert_rowid()
                }
            };
            collection_by_id(tx, CollectionId(id))
        })
        .await
    }

    /// A new shared collection; `Conflict` if the name is taken.
    pub async fn create_collection(
        &self,
        access: CollectionAccess,
        created_by: Option<UserId>,
    ) -> StoreResult<Collection> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            let name = validate_collection_name(&access.name)?;
            tx.execute(
                "INSERT INTO collections (name, description, created_by, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![name, access.description.trim(), created_by.map(|u| u.0), clock.now()],
            )
            .map_err(|e| conflict_on_unique(e, "A collection with this name already exists."))?;
            let id = CollectionId(tx.last_insert_rowid());
            set_access(tx, id, &access.roles, &access.users)?;
            collection_by_id(tx, id)
        })
        .await
    }

    /// New name, description and access rules for a shared collection.
    pub async fn update_collection(
        &self,
        id: CollectionId,
        access: CollectionAccess,
    ) -> StoreResult<Collection> {
        self.write(move |tx| {
            let current = collection_by_id(tx, id)?;
            if current.is_personal() {
                return Err(StoreError::Conflict(
                    "A personal collection is only ever visible to its owner.".into(),
                ));
            }
            let name = validate_collection_name(&access.name)?;
            tx.execute(
                "UPDATE collections SET name = ?2, description = ?3 WHERE id = ?1",
                params![id.0, name, access.description.trim()],
            )
            .map_err(|e| conflict_on_unique(e, "A collection with this name already exists."))?;
            set_access(tx, id, &access.roles, &access.users)?;
            collection_by_id(tx, id)
        })
        .await
    }

    /// Deletes an empty shared collection.
    pub async fn delete_collection(&self, id: CollectionId) -> StoreResult<Collection> {
        self.write_essential(move |tx| {
            let current = collection_by_id(tx, id)?;
            if current.is_personal() {
                return Err(StoreError::Conflict(
                    "Personal collections cannot be deleted.".into(),
                ));
            }
            if current.document_count > 0 {
                return Err(StoreError::Conflict(format!(
                    "\"{}\" still holds {} document(s): move or delete them first.",
                    current.name, current.document_count
                )));
            }
            tx.execute("DELETE FROM collections WHERE id = ?1", [id.0])?;
            Ok(current)
        })
        .await
    }

    pub async fn collection(&self, id: CollectionId) -> StoreResult<Collection> {
        self.read(move |c| collection_by_id(c, id)).await
    }

    /// A shared collection by name (any case).
    pub async fn collection_by_name(&self, name: String) -> StoreResult<Collection> {
        self.read(move |c| {
            let id: i64 = c.query_row(
                "SELECT id FROM collections WHERE personal_of IS NULL AND name = ?1 COLLATE NOCASE",
                [name.trim()],
                |r| r.get(0),
            )?;
            collection_by_id(c, CollectionId(id))
        })
        .await
    }

    /// Every shared collection (for the people who manage them), by name.
    pub async fn shared_collections(&self) -> StoreResult<Vec<Collection>> {
        self.read(|c| {
            collections_selected(
                c,
                "SELECT id FROM collections WHERE personal_of IS NULL ORDER BY name COLLATE NOCASE",
                &[],
            )
        })
        .await
    }

    /// The collections `viewer` may see: their own first, then by name.
    pub async fn visible_collections(&self, viewer: Viewer) -> StoreResult<Vec<Collection>> {
        self.read(move |c| {
            collections_selected(
                c,
                &format!(
                    "SELECT c.id FROM collections c WHERE {VISIBLE}
                     ORDER BY c.personal_of IS NULL, c.name COLLATE NOCASE"
                ),
                named_params! {":viewer": viewer.user.0, ":viewer_role": viewer.role.as_str()},
            )
        })
        .await
    }

    /// Ids of the collections `viewer` may see: the access part of every
    /// search and every question answered from documents.
    pub async fn visible_collection_ids(&self, viewer: Viewer) -> StoreResult<Vec<CollectionId>> {
        self.read(move |c| {
            let mut stmt = c.prepare(&format!("SELECT c.id FROM collections c WHERE {VISIBLE}"))?;
            let ids = stmt
                .query_map(
                    named_params! {":viewer": viewer.user.0, ":viewer_role": viewer.role.as_str()},
                    |r| r.get(0).map(CollectionId),
                )?
                .collect::<Result<_, _>>()?;
            Ok(ids)
        })
        .await
    }

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
                         ocr_pages = ?7 WHERE id = ?1",
                        params![id.0, format, pages, chunks.len() as i64, text_bytes, at, ocr_pages],
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

    /// Whether a conversation answers from documents, and from which of the
    /// collections (empty: all its owner may see).
    pub async fn conversation_documents(
        &self,
        user: UserId,
        conversation: super::ConversationId,
    ) -> StoreResult<(bool, Vec<CollectionId>)> {
        self.read(move |c| {
            let on: bool = c.query_row(
                "SELECT use_documents FROM conversations WHERE id = ?1 AND user_id = ?2",
                params![conversation.0, user.0],
                |r| r.get(0),
            )?;
            let mut stmt = c.prepare(
                "SELECT collection_id FROM conversation_collections WHERE conversation_id = ?1 ORDER BY collection_id",
            )?;
            let picked = stmt
                .query_map([conversation.0], |r| r.get(0).map(CollectionId))?
                .collect::<Result<_, _>>()?;
            Ok((on, picked))
        })
        .await
    }

    pub async fn set_conversation_documents(
        &self,
        user: UserId,
        conversation: super::ConversationId,
        on: bool,
        picked: Vec<CollectionId>,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE conversations SET use_documents = ?3 WHERE id = ?1 AND user_id = ?2",
                params![conversation.0, user.0, on],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            tx.execute(
                "DELETE FROM conversation_collections WHERE conversation_id = ?1",
                [conversation.0],
            )?;
            for id in &picked {
                tx.execute(
                    "INSERT OR IGNORE INTO conversation_collections (conversation_id, collection_id)
                     SELECT ?1, id FROM collections WHERE id = ?2",
                    params![conversation.0, id.0],
                )?;
            }
            Ok(())
        })
        .await
    }

    pub async fn add_message_sources(
        &self,
        message: super::MessageId,
        sources: Vec<MessageSource>,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            let mut insert = tx.prepare_cached(
                "INSERT INTO message_sources (message_id, n, document_id, chunk_ord, page, title, excerpt)
                 VALUES (?1, ?2, (SELECT id FROM documents WHERE id = ?3), ?4, ?5, ?6, ?7)",
            )?;
            for source in &sources {
                insert.execute(params![
                    message.0,
                    source.n,
                    source.document_id.map(|d| d.0),
                    source.chunk_ord,
                    source.page,
                    source.title,
                    source.excerpt
                ])?;
            }
            Ok(())
        })
        .await
    }

    /// The cited passages of every answer in a conversation, by message.
    pub async fn conversation_sources(
        &self,
        user: UserId,
        conversation: super::ConversationId,
    ) -> StoreResult<Vec<(super::MessageId, MessageSource)>> {
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT s.message_id, s.n, s.document_id, s.chunk_ord, s.page, s.title, s.excerpt
                 FROM message_sources s JOIN messages m ON m.id = s.message_id
                 JOIN conversations v ON v.id = m.conversation_id
                 WHERE v.id = ?1 AND v.user_id = ?2 ORDER BY s.message_id, s.n",
            )?;
            let rows = stmt
                .query_map(params![conversation.0, user.0], |r| {
                    Ok((
                        super::MessageId(r.get(0)?),
                        MessageSource {
                            n: r.get(1)?,
                            document_id: r.get::<_, Option<i64>>(2)?.map(DocumentId),
                            chunk_ord: r.get(3)?,
                            page: r.get(4)?,
                            title: r.get(5)?,
                            excerpt: r.get(6)?,
                        },
                    ))
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }
}
