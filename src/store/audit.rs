//! The audit log's storage: insert and filtered, paged reads. The table's
//! triggers refuse UPDATE and DELETE, so history cannot be rewritten through
//! Hearth.

use rusqlite::{ToSql, params};
use serde::Serialize;

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

impl Store {
    pub async fn append_audit(&self, record: NewAuditRecord) -> StoreResult<()> {
        self.write_essential(move |tx| {
            tx.execute(
                "INSERT INTO audit_log (at, actor_id, actor, action, target, outcome, ip, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    record.at,
                    record.actor_id.map(|u| u.0),
                    record.actor,
                    record.action,
                    record.target,
                    record.outcome,
                    record.ip,
                    record.detail
                ],
            )?;
            Ok(())
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
                "SELECT id, at, actor_id, actor, action, target, outcome, ip, detail
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
