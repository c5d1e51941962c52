//! The egress log's storage: every request that left the box or tried to.
//! A request is two rows: one written before it is sent (`sending`), one
//! when it ended (`request_id` names the first), both appended to the hash
//! chain (`store::chain`), never changed.

use std::collections::BTreeMap;

use rusqlite::params;
use rusqlite::types::Value;
use serde::Serialize;

use super::users::UserId;
use super::{ConversationId, EgressOutcome, EgressPurpose, Store, StoreResult};

/// A request about to leave.
#[derive(Debug, Clone)]
pub struct NewEgress {
    pub at: i64,
    pub purpose: EgressPurpose,
    pub actor_id: Option<UserId>,
    /// The username, or `hearth` for the box's own requests.
    pub actor: String,
    /// scheme://host[:port]/path, without credentials or query.
    pub endpoint: String,
    pub model: String,
    pub conversation: Option<ConversationId>,
    pub bytes_sent: u64,
    /// How many of each kind of personal data were replaced before sending.
    pub redactions: BTreeMap<String, usize>,
    /// `Sending`, or `Refused` for one that never left.
    pub outcome: EgressOutcome,
    pub detail: String,
}

/// One request as Admin → Egress shows it: the row written before it left,
/// with how it ended (if it has).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EgressRecord {
    pub id: i64,
    /// Unix seconds, when it was sent (or refused).
    pub at: i64,
    pub purpose: EgressPurpose,
    pub actor: String,
    pub endpoint: String,
    pub model: String,
    pub conversation_id: Option<i64>,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub redactions: BTreeMap<String, usize>,
    /// `sending` while under way (or when Hearth stopped before it ended
    /// and could not say so), else how it ended.
    pub outcome: EgressOutcome,
    /// Why it failed or was refused, the HTTP status.
    pub detail: String,
    /// Unix seconds, when it ended.
    pub ended_at: Option<i64>,
}

/// A page of the egress log.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EgressPage {
    pub records: Vec<EgressRecord>,
    pub total: u64,
    /// Bytes sent and received by all requests in the log.
    pub total_bytes_sent: u64,
    pub total_bytes_received: u64,
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

impl Store {
    /// Writes a request's first row, before it is sent; its id.
    pub async fn egress_begin(&self, entry: NewEgress) -> StoreResult<i64> {
        self.write_essential(move |tx| {
            let redactions = serde_json::to_string(&entry.redactions)
                .map_err(|e| anyhow::anyhow!("redaction counts: {e}"))?;
            super::chain::append(
                tx,
                super::chain::Log::Egress,
                vec![
                    Value::Integer(entry.at),
                    Value::Null,
                    text(entry.purpose.as_str()),
                    entry.actor_id.map_or(Value::Null, |u| Value::Integer(u.0)),
                    text(&entry.actor),
                    text(&entry.endpoint),
                    text(&entry.model),
                    entry
                        .conversation
                        .map_or(Value::Null, |c| Value::Integer(c.0)),
                    Value::Integer(entry.bytes_sent as i64),
                    Value::Integer(0),
                    Value::Text(redactions),
                    text(entry.outcome.as_str()),
                    text(&entry.detail),
                ],
            )
        })
        .await
    }

    /// Writes how request `request_id` ended.
    pub async fn egress_end(
        &self,
        request_id: i64,
        outcome: EgressOutcome,
        bytes_received: u64,
        detail: String,
    ) -> StoreResult<()> {
        let at = self.now();
        self.write_essential(move |tx| {
            let (purpose, actor_id, actor, endpoint, model, conversation): (
                String,
                Option<i64>,
                String,
                String,
                String,
                Option<i64>,
            ) = tx.query_row(
                "SELECT purpose, actor_id, actor, endpoint, model, conversation_id
                 FROM egress_log WHERE id = ?1 AND request_id IS NULL",
                [request_id],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                },
            )?;
            super::chain::append(
                tx,
                super::chain::Log::Egress,
                vec![
                    Value::Integer(at),
                    Value::Integer(request_id),
                    Value::Text(purpose),
                    actor_id.map_or(Value::Null, Value::Integer),
                    Value::Text(actor),
                    Value::Text(endpoint),
                    Value::Text(model),
                    conversation.map_or(Value::Null, Value::Integer),
                    Value::Integer(0),
                    Value::Integer(bytes_received as i64),
                    text("{}"),
                    text(outcome.as_str()),
                    Value::Text(detail.clone()),
                ],
            )?;
            Ok(())
        })
        .await
    }

    /// Requests, newest first, `limit` from `offset`.
    pub async fn egress(&self, offset: u64, limit: u64) -> StoreResult<EgressPage> {
        self.read(move |c| {
            let (total, sent, received): (i64, i64, i64) = c.query_row(
                "SELECT COUNT(*) FILTER (WHERE request_id IS NULL),
                        COALESCE(SUM(bytes_sent), 0), COALESCE(SUM(bytes_received), 0)
                 FROM egress_log",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            let mut stmt = c.prepare(
                "SELECT b.id, b.at, b.purpose, b.actor, b.endpoint, b.model, b.conversation_id,
                        b.bytes_sent, COALESCE(e.bytes_received, 0), b.redactions,
                        COALESCE(e.outcome, b.outcome), COALESCE(NULLIF(e.detail, ''), b.detail),
                        e.at
                 FROM egress_log b
                 LEFT JOIN egress_log e ON e.request_id = b.id
                 WHERE b.request_id IS NULL
                 ORDER BY b.id DESC LIMIT ?1 OFFSET ?2",
            )?;
            let records = stmt
                .query_map(params![limit.min(1000) as i64, offset as i64], |r| {
                    let redactions: String = r.get(9)?;
                    Ok(EgressRecord {
                        id: r.get(0)?,
                        at: r.get(1)?,
                        purpose: r.get(2)?,
                        actor: r.get(3)?,
                        endpoint: r.get(4)?,
                        model: r.get(5)?,
                        conversation_id: r.get(6)?,
                        bytes_sent: r.get::<_, i64>(7)?.max(0) as u64,
                        bytes_received: r.get::<_, i64>(8)?.max(0) as u64,
                        redactions: serde_json::from_str(&redactions).unwrap_or_default(),
                        outcome: r.get(10)?,
                        detail: r.get(11)?,
                        ended_at: r.get(12)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(EgressPage {
                records,
                total: total.max(0) as u64,
                total_bytes_sent: sent.max(0) as u64,
                total_bytes_received: received.max(0) as u64,
            })
        })
        .await
    }
}
