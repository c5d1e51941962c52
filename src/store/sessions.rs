//! Server-side sessions. The cookie carries a random 256-bit token; the
//! database keeps only its SHA-256, so a copy of the database signs no one in.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::users::{self, User, UserId};
use super::{Store, StoreResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct SessionId(pub i64);

pub struct NewSession {
    pub token_hash: Vec<u8>,
    pub user_id: UserId,
    pub csrf_token: String,
    pub ip: String,
    pub user_agent: String,
}

/// A live session and its (enabled) user.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub id: SessionId,
    pub user: User,
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
}

/// A session as listed to its owner.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    pub id: SessionId,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub ip: String,
    pub user_agent: String,
}

impl Store {
    /// Creates a session and stamps the user's last login.
    pub async fn create_session(&self, new: NewSession) -> StoreResult<SessionId> {
        let clock = self.clock().clone();
        self.write_essential(move |tx| {
            let at = clock.now();
            tx.execute(
                "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, last_seen_at, ip, user_agent)
                 VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6)",
                params![new.token_hash, new.user_id.0, new.csrf_token, at, new.ip, new.user_agent],
            )?;
            let id = SessionId(tx.last_insert_rowid());
            tx.execute(
                "UPDATE users SET last_login_at = ?2 WHERE id = ?1",
                params![new.user_id.0, at],
            )?;
            Ok(id)
        })
        .await
    }

    /// The session with this token hash, if it exists and its user is enabled.
    /// Expiry is the caller's decision (see `auth::session`).
    pub async fn session_by_token(
        &self,
        token_hash: Vec<u8>,
    ) -> StoreResult<Option<SessionRecord>> {
        self.read(move |c| {
            let row = c
                .query_row(
                    "SELECT s.id, s.user_id, s.csrf_token, s.created_at, s.last_seen_at
                     FROM sessions s JOIN users u ON u.id = s.user_id
                     WHERE s.token_hash = ?1 AND u.disabled = 0",
                    [token_hash],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, i64>(3)?,
                            r.get::<_, i64>(4)?,
                        ))
                    },
                )
                .optional()?;
            let Some((id, user_id, csrf_token, created_at, last_seen_at)) = row else {
                return Ok(None);
            };
            Ok(Some(SessionRecord {
                id: SessionId(id),
                user: users::get(c, UserId(user_id))?,
                csrf_token,
                created_at,
                last_seen_at,
            }))
        })
        .await
    }

    pub async fn touch_session(&self, id: SessionId) -> StoreResult<()> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            tx.execute(
                "UPDATE sessions SET last_seen_at = ?2 WHERE id = ?1",
                params![id.0, clock.now()],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn delete_session(&self, id: SessionId) -> StoreResult<()> {
        self.write_essential(move |tx| {
            tx.execute("DELETE FROM sessions WHERE id = ?1", [id.0])?;
            Ok(())
        })
        .await
    }

    /// Ends one of `user`'s sessions; false if it was not theirs or is gone.
    pub async fn delete_user_session(&self, user: UserId, id: SessionId) -> StoreResult<bool> {
        self.write_essential(move |tx| {
            Ok(tx.execute(
                "DELETE FROM sessions WHERE id = ?1 AND user_id = ?2",
                params![id.0, user.0],
            )? > 0)
        })
        .await
    }

    pub async fn sessions_of(&self, user: UserId) -> StoreResult<Vec<SessionInfo>> {
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, created_at, last_seen_at, ip, user_agent FROM sessions
                 WHERE user_id = ?1 ORDER BY last_seen_at DESC",
            )?;
            let rows = stmt
                .query_map([user.0], |r| {
                    Ok(SessionInfo {
                        id: SessionId(r.get(0)?),
                        created_at: r.get(1)?,
                        last_seen_at: r.get(2)?,
                        ip: r.get(3)?,
                        user_agent: r.get(4)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// Deletes sessions idle since before `idle_cutoff` or created before
    /// `absolute_cutoff`; returns how many.
    pub async fn purge_sessions(
        &self,
        idle_cutoff: i64,
        absolute_cutoff: i64,
    ) -> StoreResult<usize> {
        self.write(move |tx| {
            Ok(tx.execute(
                "DELETE FROM sessions WHERE last_seen_at < ?1 OR created_at < ?2",
                params![idle_cutoff, absolute_cutoff],
            )?)
        })
        .await
    }
}
