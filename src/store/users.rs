//! Accounts. Users are never deleted, only disabled, so the audit log and
//! ownership of conversations and documents keep pointing at someone.

use std::fmt;
use std::str::FromStr;

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

/// What a user may do. Ordered: each role can do everything the ones before it can.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Daily use: chat, search, schedule.
    Staff,
    /// Users and settings, but not ownership.
    Admin,
    /// Everything, including making others owners.
    Owner,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Staff, Role::Admin, Role::Owner];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Staff => "staff",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Staff => "Staff",
            Role::Admin => "Admin",
            Role::Owner => "Owner",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "staff" => Ok(Role::Staff),
            "admin" => Ok(Role::Admin),
            "owner" => Ok(Role::Owner),
            other => Err(format!("unknown role {other:?}; use owner, admin or staff")),
        }
    }
}

use super::{Store, StoreError, StoreResult, conflict_on_unique};

/// A user's id. Typed so it cannot be mixed up with other ids.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct UserId(pub i64);

/// An account as the rest of Hearth sees it (no password hash).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub disabled: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds of the last successful login, if any.
    pub last_login_at: Option<i64>,
}

/// A user together with the stored password hash, for login only.
#[derive(Debug, Clone)]
pub struct UserWithHash {
    pub user: User,
    pub password_hash: String,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub password_hash: String,
}

/// Fields an admin may change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
}

const COLUMNS: &str = "id, username, display_name, role, disabled, created_at, last_login_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    let role: String = row.get(3)?;
    Ok(User {
        id: UserId(row.get(0)?),
        username: row.get(1)?,
        display_name: row.get(2)?,
        role: role.parse().map_err(|_| {
            rusqlite::Error::FromSqlConversionFailure(
                3,
                rusqlite::types::Type::Text,
                format!("unknown role {role:?}").into(),
            )
        })?,
        disabled: row.get(4)?,
        created_at: row.get(5)?,
        last_login_at: row.get(6)?,
    })
}

pub(super) fn get(conn: &Connection, id: UserId) -> StoreResult<User> {
    Ok(conn.query_row(
        &format!("SELECT {COLUMNS} FROM users WHERE id = ?1"),
        [id.0],
        from_row,
    )?)
}

impl Store {
    pub async fn create_user(&self, new: NewUser) -> StoreResult<User> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            let at = clock.now();
            tx.execute(
                "INSERT INTO users (username, display_name, role, password_hash, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                params![new.username, new.display_name, new.role.as_str(), new.password_hash, at],
            )
            .map_err(|e| conflict_on_unique(e, "that username is already taken"))?;
            get(tx, UserId(tx.last_insert_rowid()))
        })
        .await
    }

    pub async fn user(&self, id: UserId) -> StoreResult<User> {
        self.read(move |c| get(c, id)).await
    }

    pub async fn user_by_username(&self, username: &str) -> StoreResult<Option<UserWithHash>> {
        let username = username.to_string();
        self.read(move |c| {
            Ok(c.query_row(
                &format!("SELECT {COLUMNS}, password_hash FROM users WHERE username = ?1"),
                [username],
                |row| {
                    Ok(UserWithHash {
                        user: from_row(row)?,
                        password_hash: row.get(7)?,
                    })
                },
            )
            .optional()?)
        })
        .await
    }

    pub async fn password_hash(&self, id: UserId) -> StoreResult<String> {
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT password_hash FROM users WHERE id = ?1",
                [id.0],
                |r| r.get(0),
            )?)
        })
        .await
    }

    /// All users, owners first, then by username.
    pub async fn users(&self) -> StoreResult<Vec<User>> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {COLUMNS} FROM users
                 ORDER BY CASE role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END, username"
            ))?;
            let users = stmt.query_map([], from_row)?.collect::<Result<_, _>>()?;
            Ok(users)
        })
        .await
    }

    /// Whether an enabled owner exists: until one does, Hearth is in setup.
    pub async fn owner_exists(&self) -> StoreResult<bool> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT EXISTS (SELECT 1 FROM users WHERE role = 'owner' AND disabled = 0)",
                [],
                |r| r.get(0),
            )?)
        })
        .await
    }

    /// Applies `change`. Disabling ends the user's sessions in the same
    /// transaction. The last enabled owner can be neither demoted nor
    /// disabled, so the box never ends up without one.
    pub async fn update_user(&self, id: UserId, change: UserChange) -> StoreResult<User> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            let before = get(tx, id)?;
            let role = change.role.unwrap_or(before.role);
            let disabled = change.disabled.unwrap_or(before.disabled);
            if before.role == Role::Owner && !before.disabled && (role != Role::Owner || disabled) {
                let owners: i64 = tx.query_row(
                    "SELECT COUNT(*) FROM users WHERE role = 'owner' AND disabled = 0",
                    [],
                    |r| r.get(0),
                )?;
                if owners <= 1 {
                    return Err(StoreError::Conflict(
                        "this is the only owner; make someone else an owner first".into(),
                    ));
                }
            }
            tx.execute(
                "UPDATE users SET display_name = ?2, role = ?3, disabled = ?4, updated_at = ?5
                 WHERE id = ?1",
                params![
                    id.0,
                    change.display_name.clone().unwrap_or(before.display_name),
                    role.as_str(),
                    disabled,
                    clock.now()
                ],
            )?;
            if disabled {
                tx.execute("DELETE FROM sessions WHERE user_id = ?1", [id.0])?;
            }
            get(tx, id)
        })
        .await
    }

    /// Replaces the password hash and ends the user's sessions, except the
    /// one given (the session that made the change stays signed in).
    pub async fn set_password(
        &self,
        id: UserId,
        password_hash: String,
        keep_session: Option<super::SessionId>,
    ) -> StoreResult<()> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1",
                params![id.0, password_hash, clock.now()],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            tx.execute(
                "DELETE FROM sessions WHERE user_id = ?1 AND id IS NOT ?2",
                params![id.0, keep_session.map(|s| s.0)],
            )?;
            Ok(())
        })
        .await
    }
}
