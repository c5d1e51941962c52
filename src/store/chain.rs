//! Hash-chained, append-only tables: the audit log and the egress log.
//! Each row stores `link_hash(log, previous row's hash, its own columns)`,
//! computed in the transaction that appends it, with the id chosen there
//! (so a removed row leaves a gap). `audit::chain` verifies the links and
//! pins each log's head with signed checkpoints.

use rusqlite::types::{Value, ValueRef};
use rusqlite::{OptionalExtension, params_from_iter};
use sha2::{Digest, Sha256};

use super::{Store, StoreResult};

/// A chained table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Log {
    Audit,
    Egress,
}

impl Log {
    pub const ALL: [Log; 2] = [Log::Audit, Log::Egress];

    /// The name checkpoints carry.
    pub fn name(self) -> &'static str {
        match self {
            Log::Audit => "audit",
            Log::Egress => "egress",
        }
    }

    pub fn from_name(name: &str) -> Option<Log> {
        Log::ALL.into_iter().find(|l| l.name() == name)
    }

    fn table(self) -> &'static str {
        match self {
            Log::Audit => "audit_log",
            Log::Egress => "egress_log",
        }
    }

    /// The columns the hash covers, in order, `id` first: all but `hash`.
    fn columns(self) -> &'static [&'static str] {
        match self {
            Log::Audit => &[
                "id",
                "at",
                "actor_id",
                "actor",
                "action",
                "target",
                "outcome",
                "ip",
                "detail",
                "target_name",
                "target_collection",
            ],
            Log::Egress => &[
                "id",
                "at",
                "request_id",
                "purpose",
                "actor_id",
                "actor",
                "endpoint",
                "model",
                "conversation_id",
                "bytes_sent",
                "bytes_received",
                "redactions",
                "outcome",
                "detail",
            ],
        }
    }

    fn select(self) -> String {
        format!(
            "SELECT {}, hash FROM {}",
            self.columns().join(", "),
            self.table()
        )
    }
}

/// The hash before the first row.
pub const GENESIS: [u8; 32] = [0; 32];

/// A row's hash: SHA-256 over the log's label, the previous row's hash and
/// the row's encoded columns. Changing any column of any row, or removing
/// or inserting one, changes every hash after it.
pub fn link_hash(log: Log, prev: &[u8; 32], content: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"hearth ");
    hasher.update(log.name().as_bytes());
    hasher.update(b" v1\0");
    hasher.update(prev);
    hasher.update(content);
    hasher.finalize().into()
}

/// An unambiguous encoding of a row's values: each is tagged with its type
/// and text carries its length, so no two different rows encode alike
/// ("ab" + "c" is not "a" + "bc", 1 is not "1").
fn content<'a>(values: impl IntoIterator<Item = ValueRef<'a>>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    for value in values {
        match value {
            ValueRef::Null => out.push(b'n'),
            ValueRef::Integer(v) => {
                out.push(b'i');
                out.extend_from_slice(&v.to_be_bytes());
            }
            ValueRef::Real(v) => {
                out.push(b'r');
                out.extend_from_slice(&v.to_bits().to_be_bytes());
            }
            ValueRef::Text(bytes) | ValueRef::Blob(bytes) => {
                out.push(if matches!(value, ValueRef::Text(_)) {
                    b't'
                } else {
                    b'b'
                });
                out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
                out.extend_from_slice(bytes);
            }
        }
    }
    out
}

/// One row as the chain sees it.
#[derive(Debug, Clone)]
pub struct ChainLink {
    pub id: i64,
    /// The encoded columns ([`link_hash`]'s `content`).
    pub content: Vec<u8>,
    /// `None` when the row has none (it was put in by other means).
    pub hash: Option<[u8; 32]>,
}

impl ChainLink {
    /// The hash the next row links to: the stored one, or for a row
    /// without one, its content's own hash (as if it began a chain), so
    /// appending goes on and verifying reports that row.
    pub fn effective(&self, log: Log) -> [u8; 32] {
        self.hash
            .unwrap_or_else(|| link_hash(log, &GENESIS, &self.content))
    }
}

fn read_link(log: Log) -> impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<ChainLink> {
    move |r| {
        let n = log.columns().len();
        let values = (0..n)
            .map(|i| r.get_ref(i))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(ChainLink {
            id: r.get(0)?,
            content: content(values),
            hash: r
                .get::<_, Option<Vec<u8>>>(n)?
                .and_then(|h| <[u8; 32]>::try_from(h).ok()),
        })
    }
}

/// The newest row's id and the hash the next one links to (0 and
/// [`GENESIS`] for an empty log).
fn head(c: &rusqlite::Connection, log: Log) -> StoreResult<(i64, [u8; 32])> {
    let mut stmt = c.prepare_cached(&format!("{} ORDER BY id DESC LIMIT 1", log.select()))?;
    Ok(match stmt.query_row([], read_link(log)).optional()? {
        None => (0, GENESIS),
        Some(link) => {
            if link.hash.is_none() {
                tracing::error!(
                    log = log.name(),
                    id = link.id,
                    "the newest entry of a log has no valid hash: it was not written by Hearth; run `hearth audit verify`"
                );
            }
            (link.id, link.effective(log))
        }
    })
}

/// Appends a row: `values` are the columns after `id`, in [`Log::columns`]
/// order. Returns the row's id.
pub(super) fn append(tx: &rusqlite::Connection, log: Log, values: Vec<Value>) -> StoreResult<i64> {
    // AUTOINCREMENT's counter, plus one, is what SQLite would have given:
    // never reused, so a removed row leaves a gap.
    let id: i64 = tx.query_row(
        "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = ?1), 0) + 1",
        [log.table()],
        |r| r.get(0),
    )?;
    let (_, prev) = head(tx, log)?;
    let mut row = Vec::with_capacity(values.len() + 2);
    row.push(Value::Integer(id));
    row.extend(values);
    let hash = link_hash(log, &prev, &content(row.iter().map(ValueRef::from)));
    row.push(Value::Blob(hash.to_vec()));
    let columns = log.columns();
    let placeholders = (1..=columns.len() + 1)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    tx.prepare_cached(&format!(
        "INSERT INTO {} ({}, hash) VALUES ({placeholders})",
        log.table(),
        columns.join(", ")
    ))?
    .execute(params_from_iter(row.iter()))?;
    Ok(id)
}

/// Gives the rows written before the log was a chain their hashes, in
/// order (once, when the database is migrated). Only a run of unsealed rows
/// at the start is sealed: one found after a sealed row was put in by
/// other means, and verifying reports it.
pub(super) fn seal_unchained(tx: &rusqlite::Connection, log: Log) -> StoreResult<usize> {
    let first_sealed: Option<i64> = tx.query_row(
        &format!("SELECT MIN(id) FROM {} WHERE hash IS NOT NULL", log.table()),
        [],
        |r| r.get(0),
    )?;
    let mut stmt = tx.prepare(&format!(
        "{} WHERE hash IS NULL AND id < ?1 ORDER BY id",
        log.select()
    ))?;
    let links = stmt
        .query_map([first_sealed.unwrap_or(i64::MAX)], read_link(log))?
        .collect::<Result<Vec<_>, _>>()?;
    let mut prev = GENESIS;
    let mut update = tx.prepare(&format!(
        "UPDATE {} SET hash = ?1 WHERE id = ?2",
        log.table()
    ))?;
    for link in &links {
        prev = link_hash(log, &prev, &link.content);
        update.execute(rusqlite::params![prev.as_slice(), link.id])?;
    }
    Ok(links.len())
}

impl Store {
    /// Up to `limit` rows of `log` after `after_id`, oldest first, as the
    /// chain sees them (for `audit::chain::verify`).
    pub async fn chain(&self, log: Log, after_id: i64, limit: u32) -> StoreResult<Vec<ChainLink>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "{} WHERE id > ?1 ORDER BY id LIMIT ?2",
                log.select()
            ))?;
            let links = stmt
                .query_map(rusqlite::params![after_id, limit], read_link(log))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(links)
        })
        .await
    }

    /// The newest row's id and hash (0 and [`GENESIS`] for an empty log):
    /// what a checkpoint signs.
    pub async fn chain_head(&self, log: Log) -> StoreResult<(i64, [u8; 32])> {
        self.read(move |c| head(c, log)).await
    }
}
