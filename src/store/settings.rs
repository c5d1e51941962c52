//! Versioned settings: every write keeps the old value in
//! `settings_history`, so a change can be reviewed and rolled back.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::users::UserId;
use super::{Store, StoreResult};

impl Store {
    pub async fn setting(&self, key: &'static str) -> StoreResult<Option<String>> {
        self.read(move |c| {
            Ok(
                c.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                    r.get(0)
                })
                .optional()?,
            )
        })
        .await
    }

    /// Sets `key` to `value` as a new version; returns that version.
    pub async fn set_setting(
        &self,
        key: &'static str,
        value: String,
        by: Option<UserId>,
    ) -> StoreResult<i64> {
        self.set_versioned(key.to_string(), value, by).await
    }

    /// Sets a setting whose key is made at run time (a collection's access,
    /// `collection:<id>`) as a new version; returns that version.
    pub async fn set_versioned(
        &self,
        key: String,
        value: String,
        by: Option<UserId>,
    ) -> StoreResult<i64> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            let version: i64 = tx.query_row(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM settings_history WHERE key = ?1",
                [&key],
                |r| r.get(0),
            )?;
            let at = clock.now();
            let by = by.map(|u| u.0);
            tx.execute(
                "INSERT INTO settings_history (key, version, value, changed_at, changed_by)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![key, version, value, at, by],
            )?;
            tx.execute(
                "INSERT INTO settings (key, value, version, updated_at, updated_by)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = excluded.version,
                     updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                params![key, value, version, at, by],
            )?;
            Ok(version)
        })
        .await
    }

    /// One version of any setting, by a key made at run time.
    pub async fn versioned_value(&self, key: String, version: i64) -> StoreResult<String> {
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT value FROM settings_history WHERE key = ?1 AND version = ?2",
                params![key, version],
                |r| r.get(0),
            )?)
        })
        .await
    }

    /// The newest `limit` versions of every setting (after `offset`),
    /// newest first, each with the value before it.
    pub async fn all_setting_versions(
        &self,
        offset: u32,
        limit: u32,
    ) -> StoreResult<(Vec<SettingChange>, u64)> {
        self.read(move |c| {
            let total: i64 =
                c.query_row("SELECT count(*) FROM settings_history", [], |r| r.get(0))?;
            let mut stmt = c.prepare(
                "SELECT h.key, h.version, h.value,
                        LAG(h.value) OVER (PARTITION BY h.key ORDER BY h.version),
                        h.changed_at, COALESCE(u.username, 'console'),
                        h.version = MAX(h.version) OVER (PARTITION BY h.key)
                 FROM settings_history h LEFT JOIN users u ON u.id = h.changed_by
                 ORDER BY h.changed_at DESC, h.id DESC LIMIT ?1 OFFSET ?2",
            )?;
            let rows = stmt
                .query_map(params![limit, offset], |r| {
                    Ok(SettingChange {
                        key: r.get(0)?,
                        version: r.get(1)?,
                        value: r.get(2)?,
                        before: r.get(3)?,
                        changed_at: r.get(4)?,
                        changed_by: r.get(5)?,
                        current: r.get(6)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok((rows, total.max(0) as u64))
        })
        .await
    }

    /// The last `limit` versions of a setting, newest first, with who set them.
    pub async fn setting_history(
        &self,
        key: &'static str,
        limit: u32,
    ) -> StoreResult<Vec<SettingVersion>> {
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT h.version, h.value, h.changed_at, COALESCE(u.username, 'console')
                 FROM settings_history h LEFT JOIN users u ON u.id = h.changed_by
                 WHERE h.key = ?1 ORDER BY h.version DESC LIMIT ?2",
            )?;
            let rows = stmt
                .query_map(params![key, limit], |r| {
                    Ok(SettingVersion {
                        version: r.get(0)?,
                        value: r.get(1)?,
                        changed_at: r.get(2)?,
                        changed_by: r.get(3)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// One earlier version of a setting.
    pub async fn setting_version(&self, key: &'static str, version: i64) -> StoreResult<String> {
        self.versioned_value(key.to_string(), version).await
    }
}

/// One version of a setting.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SettingVersion {
    pub version: i64,
    pub value: String,
    pub changed_at: i64,
    /// Username of who set it, or `console`.
    pub changed_by: String,
}

/// One version of any setting, with the value before it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SettingChange {
    pub key: String,
    pub version: i64,
    pub value: String,
    /// The version before's value (none for a first version).
    pub before: Option<String>,
    pub changed_at: i64,
    pub changed_by: String,
    /// The version in use now.
    pub current: bool,
}
