//! The audit log's storage: insert and filtered, paged reads. The table's
//! triggers refuse UPDATE and DELETE, so history cannot be rewritten through
//! Hearth; and each entry carries a hash linking it to the one before
//! ([`link_hash`]), so rewriting it by other means shows: `audit::chain`
//! checks the links and pins the head with signed checkpoints.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, ToSql, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::collections::CollectionId;
use super::users::UserId;
use super::{AuditOutcome, Store, StoreResult};

pub struct NewAuditRecord {
    pub at: i64,
    pub actor_id: Option<UserId>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: AuditOutcome,
    pub ip: String,
    pub detail: String,
    /// The target's name at the time (a document's file name, a
    /// collection's name), for when it is renamed or gone.
    pub target_name: String,
    /// The collection a document target was in at the time.
    pub target_collection: Option<CollectionId>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    pub actor_id: Option<UserId>,
    /// The username at the time, or `console` / `anonymous`.
    pub actor: String,
    /// A dotted name such as `auth.login` or `user.created`.
    pub action: String,
    pub target: String,
    /// `ok`, `failed` or `denied`.
    pub outcome: AuditOutcome,
    pub ip: String,
    pub detail: String,
    /// The target's name at the time; not shown as such, because a reader
    /// may not be allowed to see it (see `audit::Sentences`).
    #[serde(skip)]
    pub target_name: String,
    #[serde(skip)]
    pub target_collection: Option<CollectionId>,
}

/// Filters for reading the log; empty fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Exact username (case-insensitive).
    pub actor: Option<String>,
    /// An action or a prefix of one: `auth` matches `auth.login`.
    pub action: Option<String>,
    pub outcome: Option<AuditOutcome>,
    /// Unix seconds, inclusive.
    pub since: Option<i64>,
    /// Unix seconds, exclusive.
    pub until: Option<i64>,
    pub offset: u64,
    pub limit: u64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub records: Vec<AuditRecord>,
    /// How many records match the filter in all.
    pub total: u64,
}

/// The current names of the documents and collections a page of entries is
/// about, regardless of access: the audit log decides what its reader may
/// be told (`audit::Sentences`).
#[derive(Debug, Default)]
pub struct AuditNames {
    /// File name and collection of each document that still exists.
    pub documents: HashMap<super::DocumentId, (String, CollectionId)>,
    /// Name and, for a personal collection, whose, of each that exists.
    pub collections: HashMap<CollectionId, (String, Option<UserId>)>,
}

impl Store {
    /// Current names for the audit log (see [`AuditNames`]).
    pub async fn audit_names(
        &self,
        documents: Vec<super::DocumentId>,
        collections: Vec<CollectionId>,
    ) -> StoreResult<AuditNames> {
        self.read(move |c| {
            let mut names = AuditNames::default();
            let mut stmt =
                c.prepare_cached("SELECT file_name, collection_id FROM documents WHERE id = ?1")?;
            for id in &documents {
                if let Some((name, collection)) = stmt
                    .query_row([id.0], |r| Ok((r.get(0)?, CollectionId(r.get(1)?))))
                    .optional()?
                {
                    names.documents.insert(*id, (name, collection));
                }
            }
            let mut stmt =
                c.prepare_cached("SELECT name, personal_of FROM collections WHERE id = ?1")?;
            let wanted = collections
                .iter()
                .copied()
                .chain(names.documents.values().map(|(_, c)| *c))
                .collect::<Vec<_>>();
            for id in wanted {
                if let Some((name, personal_of)) = stmt
                    .query_row([id.0], |r| {
                        Ok((r.get(0)?, r.get::<_, Option<i64>>(1)?.map(UserId)))
                    })
                    .optional()?
                {
                    names.collections.insert(id, (name, personal_of));
                }
            }
            Ok(names)
        })
        .await
    }

    pub async fn append_audit(&self, record: NewAuditRecord) -> StoreResult<()> {
        self.write_essential(move |tx| insert(tx, &record)).await
    }

    /// Appends `record` unless the same person already has an entry with
    /// the same action, target and outcome at or after `since` (a document
    /// opened again a minute later); checked and written in one
    /// transaction. Whether it was appended.
    pub async fn append_audit_unless_recent(
        &self,
        record: NewAuditRecord,
        since: i64,
    ) -> StoreResult<bool> {
        self.write_essential(move |tx| {
            let recent: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM audit_log
                 WHERE actor_id IS ?1 AND at >= ?2 AND action = ?3 AND target = ?4 AND outcome = ?5)",
                params![
                    record.actor_id.map(|u| u.0),
                    since,
                    record.action,
                    record.target,
                    record.outcome
                ],
                |r| r.get(0),
            )?;
            if recent {
                return Ok(false);
            }
            insert(tx, &record)?;
            Ok(true)
        })
        .await
    }

    /// Newest first.
    pub async fn audit(&self, filter: AuditFilter) -> StoreResult<AuditPage> {
        self.read(move |c| {
            let mut clauses = Vec::new();
            let mut args: Vec<Box<dyn ToSql + Send>> = Vec::new();
            if let Some(actor) = filter.actor.filter(|s| !s.is_empty()) {
                clauses.push("actor = ? COLLATE NOCASE");
                args.push(Box::new(actor));
            }
            if let Some(action) = filter.action.filter(|s| !s.is_empty()) {
                clauses.push("(action = ? OR action LIKE ? ESCAPE '\\')");
                let escaped = super::like_escaped(&action);
                args.push(Box::new(action));
                args.push(Box::new(format!("{escaped}.%")));
            }
            if let Some(outcome) = filter.outcome {
                clauses.push("outcome = ?");
                args.push(Box::new(outcome));
            }
            if let Some(since) = filter.since {
                clauses.push("at >= ?");
                args.push(Box::new(since));
            }
            if let Some(until) = filter.until {
                clauses.push("at < ?");
                args.push(Box::new(until));
            }
            let filter_sql = if clauses.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", clauses.join(" AND "))
            };
            let arg_refs: Vec<&dyn ToSql> = args.iter().map(|a| a.as_ref() as &dyn ToSql).collect();
            let total: i64 = c.query_row(
                &format!("SELECT COUNT(*) FROM audit_log {filter_sql}"),
                arg_refs.as_slice(),
                |r| r.get(0),
            )?;
            let mut stmt = c.prepare(&format!(
                "SELECT id, at, actor_id, actor, action, target, outcome, ip, detail,
                        target_name, target_collection
                 FROM audit_log {filter_sql} ORDER BY id DESC LIMIT {} OFFSET {}",
                filter.limit.min(1000),
                filter.offset
            ))?;
            let records = stmt
                .query_map(arg_refs.as_slice(), |r| {
                    Ok(AuditRecord {
                        id: r.get(0)?,
                        at: r.get(1)?,
                        actor_id: r.get::<_, Option<i64>>(2)?.map(UserId),
                        actor: r.get(3)?,
                        action: r.get(4)?,
                        target: r.get(5)?,
                        outcome: r.get(6)?,
                        ip: r.get(7)?,
                        detail: r.get(8)?,
                        target_name: r.get(9)?,
                        target_collection: r.get::<_, Option<i64>>(10)?.map(CollectionId),
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(AuditPage {
                records,
                total: total as u64,
            })
        })
        .await
    }
}

fn insert(tx: &rusqlite::Connection, record: &NewAuditRecord) -> StoreResult<()> {
    // The id is chosen here, not by SQLite, because it is part of what the
    // hash covers: AUTOINCREMENT's counter, plus one, is what SQLite would
    // have given (never reused, so a removed entry leaves a gap).
    let id: i64 = tx.query_row(
        "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'), 0) + 1",
        [],
        |r| r.get(0),
    )?;
    let prev = head_hash(tx)?;
    let hash = link_hash(
        &prev,
        &content(&Fields {
            id,
            at: record.at,
            actor_id: record.actor_id.map(|u| u.0),
            actor: &record.actor,
            action: &record.action,
            target: &record.target,
            outcome: record.outcome.as_str(),
            ip: &record.ip,
            detail: &record.detail,
            target_name: &record.target_name,
            target_collection: record.target_collection.map(|c| c.0),
        }),
    );
    tx.execute(
        "INSERT INTO audit_log (id, at, actor_id, actor, action, target, outcome, ip, detail,
                                target_name, target_collection, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            id,
            record.at,
            record.actor_id.map(|u| u.0),
            record.actor,
            record.action,
            record.target,
            record.outcome,
            record.ip,
            record.detail,
            record.target_name,
            record.target_collection.map(|c| c.0),
            hash.as_slice()
        ],
    )?;
    Ok(())
}

/// The hash before the first entry.
pub const GENESIS: [u8; 32] = [0; 32];

/// An entry's hash: SHA-256 over a label, the previous entry's hash and the
/// entry's [`content`]. Changing any field of any entry, or removing or
/// inserting one, changes every hash after it.
pub fn link_hash(prev: &[u8; 32], content: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"hearth audit v1\0");
    hasher.update(prev);
    hasher.update(content);
    hasher.finalize().into()
}

/// One entry's fields, as hashed.
struct Fields<'a> {
    id: i64,
    at: i64,
    actor_id: Option<i64>,
    actor: &'a str,
    action: &'a str,
    target: &'a str,
    outcome: &'a str,
    ip: &'a str,
    detail: &'a str,
    target_name: &'a str,
    target_collection: Option<i64>,
}

/// An unambiguous encoding of the fields: each is tagged, and text carries
/// its length, so no two different entries encode alike ("ab" + "c" is not
/// "a" + "bc").
fn content(fields: &Fields<'_>) -> Vec<u8> {
    fn int(out: &mut Vec<u8>, value: Option<i64>) {
        match value {
            Some(v) => {
                out.push(b'i');
                out.extend_from_slice(&v.to_be_bytes());
            }
            None => out.push(b'n'),
        }
    }
    fn text(out: &mut Vec<u8>, value: &str) {
        out.push(b't');
        out.extend_from_slice(&(value.len() as u64).to_be_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    let mut out = Vec::with_capacity(128 + fields.detail.len());
    int(&mut out, Some(fields.id));
    int(&mut out, Some(fields.at));
    int(&mut out, fields.actor_id);
    text(&mut out, fields.actor);
    text(&mut out, fields.action);
    text(&mut out, fields.target);
    text(&mut out, fields.outcome);
    text(&mut out, fields.ip);
    text(&mut out, fields.detail);
    text(&mut out, fields.target_name);
    int(&mut out, fields.target_collection);
    out
}

/// The newest entry's hash ([`GENESIS`] for an empty log). An entry put in
/// by other means may have no valid hash: then its [`ChainLink::effective`]
/// hash, so Hearth keeps recording (refusing every audited action would
/// lock the office out) and `hearth audit verify` reports that entry.
fn head_hash(c: &rusqlite::Connection) -> StoreResult<[u8; 32]> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {CHAIN_COLUMNS} FROM audit_log ORDER BY id DESC LIMIT 1"
    ))?;
    let newest = stmt.query_row([], chain_link).optional()?;
    Ok(match newest {
        None => GENESIS,
        Some(link) => {
            if link.hash.is_none() {
                tracing::error!(
                    id = link.id,
                    "the newest audit entry has no valid hash: it was not written by Hearth; run `hearth audit verify`"
                );
            }
            link.effective()
        }
    })
}

/// One entry as the chain sees it: what is hashed and the hash stored.
#[derive(Debug, Clone)]
pub struct ChainLink {
    pub id: i64,
    pub at: i64,
    /// The encoded fields ([`link_hash`]'s `content`).
    pub content: Vec<u8>,
    /// `None` when the entry has none (it was put in by other means).
    pub hash: Option<[u8; 32]>,
}

impl ChainLink {
    /// The hash the next entry links to: the stored one, or for an entry
    /// without one, its content's own hash (as if it began a chain).
    pub fn effective(&self) -> [u8; 32] {
        self.hash
            .unwrap_or_else(|| link_hash(&GENESIS, &self.content))
    }
}

const CHAIN_COLUMNS: &str = "id, at, actor_id, actor, action, target, outcome, ip, detail, target_name, target_collection, hash";

fn chain_link(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChainLink> {
    let text = |i: usize| -> rusqlite::Result<String> {
        // Read any stored type as text, so a value changed to another type
        // by other means shows as a broken link instead of an error.
        Ok(match r.get_ref(i)? {
            rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                String::from_utf8_lossy(t).into_owned()
            }
            rusqlite::types::ValueRef::Integer(v) => v.to_string(),
            rusqlite::types::ValueRef::Real(v) => v.to_string(),
            rusqlite::types::ValueRef::Null => String::new(),
        })
    };
    let id: i64 = r.get(0)?;
    let at: i64 = r.get(1)?;
    let content = content(&Fields {
        id,
        at,
        actor_id: r.get(2)?,
        actor: &text(3)?,
        action: &text(4)?,
        target: &text(5)?,
        outcome: &text(6)?,
        ip: &text(7)?,
        detail: &text(8)?,
        target_name: &text(9)?,
        target_collection: r.get(10)?,
    });
    let hash = r
        .get::<_, Option<Vec<u8>>>(11)?
        .and_then(|h| <[u8; 32]>::try_from(h).ok());
    Ok(ChainLink {
        id,
        at,
        content,
        hash,
    })
}

/// Gives the entries written before the log was a chain their hashes, in
/// order (once, when the database is migrated). Only a run of unsealed
/// entries at the start is sealed: one found after a sealed entry was put
/// in by other means, and `hearth audit verify` reports it.
pub(super) fn seal_unchained(tx: &rusqlite::Connection) -> StoreResult<usize> {
    let first_sealed: Option<i64> = tx.query_row(
        "SELECT MIN(id) FROM audit_log WHERE hash IS NOT NULL",
        [],
        |r| r.get(0),
    )?;
    let mut stmt = tx.prepare(&format!(
        "SELECT {CHAIN_COLUMNS} FROM audit_log WHERE hash IS NULL AND id < ?1 ORDER BY id"
    ))?;
    let links = stmt
        .query_map([first_sealed.unwrap_or(i64::MAX)], chain_link)?
        .collect::<Result<Vec<_>, _>>()?;
    let mut prev = GENESIS;
    let mut update = tx.prepare("UPDATE audit_log SET hash = ?1 WHERE id = ?2")?;
    for link in &links {
        prev = link_hash(&prev, &link.content);
        update.execute(params![prev.as_slice(), link.id])?;
    }
    Ok(links.len())
}

impl Store {
    /// Up to `limit` entries after `after_id`, oldest first, as the chain
    /// sees them (for `audit::chain::verify`).
    pub async fn audit_chain(&self, after_id: i64, limit: u32) -> StoreResult<Vec<ChainLink>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {CHAIN_COLUMNS} FROM audit_log WHERE id > ?1 ORDER BY id LIMIT ?2"
            ))?;
            let links = stmt
                .query_map(params![after_id, limit], chain_link)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(links)
        })
        .await
    }

    /// The newest entry's id and hash (0 and [`GENESIS`] for an empty log):
    /// what a checkpoint signs.
    pub async fn audit_head(&self) -> StoreResult<(i64, [u8; 32])> {
        self.read(|c| {
            let id: i64 = c.query_row("SELECT COALESCE(MAX(id), 0) FROM audit_log", [], |r| {
                r.get(0)
            })?;
            Ok((id, head_hash(c)?))
        })
        .await
    }
}
