//! Personal API keys. Like sessions, only a SHA-256 of each key is stored
//! (keys are 256-bit random, so a fast hash is enough); the key itself is
//! shown once, at creation.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::users::{self, User, UserId};
use super::{Store, StoreResult, conflict_on_unique};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct ApiKeyId(pub i64);

/// A key as listed to its owner: never the key itself.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub name: String,
    /// The first characters of the key, to tell keys apart.
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

const COLUMNS: &str = "id, name, prefix, created_at, last_used_at, revoked_at";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKey> {
    Ok(ApiKey {
        id: ApiKeyId(r.get(0)?),
        name: r.get(1)?,
        prefix: r.get(2)?,
        created_at: r.get(3)?,
        last_used_at: r.get(4)?,
        revoked_at: r.get(5)?,
    })
}

impl Store {
    pub async fn create_api_key(
        &self,
        user: UserId,
        name: String,
        key_hash: Vec<u8>,
        prefix: String,
    ) -> StoreResult<ApiKey> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO api_keys (user_id, name, key_hash, prefix, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![user.0, name, key_hash, prefix, clock.now()],
            )
            .map_err(|e| conflict_on_unique(e, "key collision; try again"))?;
            Ok(tx.query_row(
                &format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1"),
                [tx.last_insert_rowid()],
                from_row,
            )?)
        })
        .await
    }

    /// The user's keys, newest first, revoked ones included.
    pub async fn api_keys_of(&self, user: UserId) -> StoreResult<Vec<ApiKey>> {
        self.read(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {COLUMNS} FROM api_keys WHERE user_id = ?1 ORDER BY id DESC"
            ))?;
            let keys = stmt
                .query_map([user.0], from_row)?
                .collect::<Result<_, _>>()?;
            Ok(keys)
        })
        .await
    }

    /// Revokes one of `user`'s keys; the name of the key, or `None` if it was
    /// not theirs or already revoked.
    pub async fn revoke_api_key(&self, user: UserId, id: ApiKeyId) -> StoreResult<Option<String>> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            Ok(tx
                .query_row(
                    "UPDATE api_keys SET revoked_at = ?3
                     WHERE id = ?1 AND user_id = ?2 AND revoked_at IS NULL RETURNING name",
                    params![id.0, user.0, clock.now()],
                    |r| r.get(0),
                )
                .optional()?)
        })
        .await
    }

    /// The key's id and its user, if the key is live and the user enabled.
    pub async fn api_key_user(
        &self,
        key_hash: Vec<u8>,
    ) -> StoreResult<Option<(ApiKeyId, User, Option<i64>)>> {
        self.read(move |c| {
            let row = c
                .query_row(
                    "SELECT k.id, k.user_id, k.last_used_at FROM api_keys k JOIN users u ON u.id = k.user_id
                     WHERE k.key_hash = ?1 AND k.revoked_at IS NULL AND u.disabled = 0",
                    [key_hash],
                    |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, Option<i64>>(2)?)),
                )
                .optional()?;
            match row {
                Some((key, user, last_used)) => Ok(Some((
                    ApiKeyId(key),
                    users::get(c, UserId(user))?,
                    last_used,
                ))),
                None => Ok(None),
            }
        })
        .await
    }

    pub async fn touch_api_key(&self, id: ApiKeyId) -> StoreResult<()> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            tx.execute(
                "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1",
                params![id.0, clock.now()],
            )?;
            Ok(())
        })
        .await
    }
}
