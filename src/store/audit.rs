//! The audit log's storage: insert and filtered, paged reads. The table's
//! triggers refuse UPDATE and DELETE, so history cannot be rewritten through
//! Hearth; and each entry carries a hash linking it to the one before
//! (`store::chain`), so rewriting it by other means shows.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, ToSql, params};
use serde::Serialize;

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
    use rusqlite::types::Value;
    let text = |s: &str| Value::Text(s.to_string());
    super::chain::append(
        tx,
        super::chain::Log::Audit,
        vec![
            Value::Integer(record.at),
            record.actor_id.map_or(Value::Null, |u| Value::Integer(u.0)),
            text(&record.actor),
            text(&record.action),
            text(&record.target),
            text(record.outcome.as_str()),
            text(&record.ip),
            text(&record.detail),
            text(&record.target_name),
            record
                .target_collection
                .map_or(Value::Null, |c| Value::Integer(c.0)),
        ],
    )?;
    Ok(())
}
