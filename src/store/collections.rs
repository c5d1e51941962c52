//! Collections and who may see them. Access is decided here, in SQL, for
//! every read that takes a [`Viewer`]: a person sees a shared collection
//! when their role or their name is on it, and their own "My documents";
//! nobody else's. Callers never filter lists afterwards, so counts cannot
//! leak what a list would hide.

use rusqlite::{Connection, OptionalExtension, named_params, params};
use serde::Serialize;

use super::users::UserId;
use super::{Store, StoreError, StoreResult, conflict_on_unique};
use crate::store::Role;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct CollectionId(pub i64);

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
    /// Never sent to the cloud model, in any mode.
    pub local_only: bool,
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

/// Name of every person's own collection.
pub const PERSONAL_COLLECTION_NAME: &str = "My documents";

/// The access rule, as SQL over a collection aliased `c`, for the viewer
/// bound as `:viewer` and `:viewer_role`.
pub(super) const VISIBLE: &str = "(c.personal_of = :viewer OR (c.personal_of IS NULL AND (
        EXISTS (SELECT 1 FROM collection_roles r WHERE r.collection_id = c.id AND r.role = :viewer_role)
        OR EXISTS (SELECT 1 FROM collection_users u WHERE u.collection_id = c.id AND u.user_id = :viewer))))";

pub(super) fn collection_by_id(c: &Connection, id: CollectionId) -> StoreResult<Collection> {
    let (name, description, personal_of, created_by, created_at, local_only) = c.query_row(
        "SELECT name, description, personal_of, created_by, created_at, local_only
         FROM collections WHERE id = ?1",
        [id.0],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, bool>(5)?,
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
        local_only,
    })
}

/// The collections whose ids `query` selects, in its order.
pub(super) fn collections_selected(
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

pub(super) fn is_visible(c: &Connection, viewer: Viewer, id: CollectionId) -> StoreResult<bool> {
    Ok(c.query_row(
        &format!("SELECT EXISTS (SELECT 1 FROM collections c WHERE c.id = :id AND {VISIBLE})"),
        named_params! {":id": id.0, ":viewer": viewer.user.0, ":viewer_role": viewer.role.as_str()},
        |r| r.get(0),
    )?)
}

pub(super) fn set_access(
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

pub(super) fn validate_collection_name(name: &str) -> StoreResult<String> {
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
                    "\"{}\" still holds {}: move or delete them first.",
                    current.name,
                    crate::text::count(current.document_count, "document", "documents")
                )));
            }
            tx.execute("DELETE FROM collections WHERE id = ?1", [id.0])?;
            Ok(current)
        })
        .await
    }

    /// The collection `viewer` asked for and may not see, or `None` when
    /// they may see it or it does not exist (see `document_refused`).
    pub async fn collection_refused(
        &self,
        viewer: Viewer,
        id: CollectionId,
    ) -> StoreResult<Option<Collection>> {
        self.read(move |c| match collection_by_id(c, id) {
            Ok(collection) if !is_visible(c, viewer, id)? => Ok(Some(collection)),
            Ok(_) | Err(StoreError::NotFound) => Ok(None),
            Err(other) => Err(other),
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

    /// One page of the shared collections, by name, and how many there
    /// are in all (Admin → Collections).
    pub async fn shared_collections_page(
        &self,
        offset: u64,
        limit: u64,
    ) -> StoreResult<(Vec<Collection>, u64)> {
        self.read(move |c| {
            let total: i64 = c.query_row(
                "SELECT count(*) FROM collections WHERE personal_of IS NULL",
                [],
                |r| r.get(0),
            )?;
            let page = collections_selected(
                c,
                "SELECT id FROM collections WHERE personal_of IS NULL
                 ORDER BY name COLLATE NOCASE, id LIMIT :limit OFFSET :offset",
                named_params! {
                    ":limit": i64::try_from(limit).unwrap_or(i64::MAX),
                    ":offset": i64::try_from(offset).unwrap_or(i64::MAX),
                },
            )?;
            Ok((page, total.max(0) as u64))
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
}

impl Store {
    /// Keeps the collection on the box (never sent to the cloud model), or
    /// lets its passages be sent again.
    pub async fn set_collection_local_only(
        &self,
        id: CollectionId,
        local_only: bool,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE collections SET local_only = ?2 WHERE id = ?1",
                rusqlite::params![id.0, local_only],
            )?;
            if changed == 0 {
                return Err(super::StoreError::NotFound);
            }
            Ok(())
        })
        .await
    }

    /// Of `documents`, those in local-only collections.
    pub async fn local_only_documents(
        &self,
        documents: Vec<Option<super::DocumentId>>,
    ) -> StoreResult<std::collections::HashSet<Option<super::DocumentId>>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT c.local_only FROM documents d JOIN collections c ON c.id = d.collection_id
                 WHERE d.id = ?1",
            )?;
            let mut found = std::collections::HashSet::new();
            for id in documents {
                let local = match id {
                    // A document deleted since: where it was is unknown, so
                    // it is treated as if it could not leave.
                    None => true,
                    Some(doc) => stmt
                        .query_row([doc.0], |r| r.get::<_, bool>(0))
                        .optional()?
                        .unwrap_or(true),
                };
                if local {
                    found.insert(id);
                }
            }
            Ok(found)
        })
        .await
    }

    /// The answers in a conversation that drew on a local-only collection
    /// (or on a document deleted since, whose collection is unknown): the
    /// cloud model never reads them.
    pub async fn local_only_answers(
        &self,
        user: UserId,
        conversation: super::ConversationId,
    ) -> StoreResult<std::collections::HashSet<super::MessageId>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT DISTINCT s.message_id FROM message_sources s
                 JOIN messages m ON m.id = s.message_id
                 JOIN conversations v ON v.id = m.conversation_id
                 LEFT JOIN documents d ON d.id = s.document_id
                 LEFT JOIN collections c ON c.id = d.collection_id
                 WHERE m.conversation_id = ?1 AND v.user_id = ?2
                   AND (c.id IS NULL OR c.local_only = 1)",
            )?;
            let ids = stmt
                .query_map(rusqlite::params![conversation.0, user.0], |r| {
                    r.get::<_, i64>(0).map(super::MessageId)
                })?
                .collect::<Result<_, _>>()?;
            Ok(ids)
        })
        .await
    }

    /// The names of the office's own people in the schedule (staff and
    /// customers), which redaction always replaces.
    pub async fn office_people_names(&self) -> StoreResult<Vec<String>> {
        self.read(|c| {
            let mut stmt =
                c.prepare_cached("SELECT name FROM staff UNION SELECT name FROM customers")?;
            let names = stmt
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<_, _>>()?;
            Ok(names)
        })
        .await
    }
}
