//! Flags on answers and their review: a person marks an answer good or
//! wrong (with a correction, if they like); owners and admins review the
//! wrong ones. A flag keeps a copy of the question, the answer and its
//! sources as they were, so the review does not depend on the conversation
//! still existing.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::users::UserId;
use super::{
    ConversationId, DocumentId, FlagRating, FlagStatus, MessageId, Store, StoreError, StoreResult,
};

/// A flag's id.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct FlagId(pub i64);

/// One flag, as the review queue shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Flag {
    pub id: FlagId,
    pub message_id: Option<i64>,
    pub conversation_id: Option<i64>,
    /// Who flagged it, as they were named then.
    pub flagged_by: String,
    pub rating: FlagRating,
    /// What the answer should have said, if they wrote it.
    pub correction: String,
    pub question: String,
    pub answer: String,
    /// The passages the answer was given, as "title: excerpt" lines.
    pub sources: Vec<String>,
    /// Where the answer came from (`local:<model>`, `cloud:<model>`, ...).
    pub answer_source: String,
    pub status: FlagStatus,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<i64>,
    pub review_note: String,
    /// The house fact a correction became.
    pub fact_document_id: Option<i64>,
    pub created_at: i64,
}

/// A flag to store.
pub struct NewFlag {
    pub message: MessageId,
    pub conversation: ConversationId,
    pub user: UserId,
    pub rating: FlagRating,
    pub correction: String,
}

impl Store {
    /// Flags `new.message` (an answer in the person's own conversation);
    /// flagging the same answer again replaces the person's earlier flag
    /// while it is still open.
    pub async fn flag_answer(&self, new: NewFlag) -> StoreResult<Flag> {
        let clock = self.clock().clone();
        let id = self
            .write(move |tx| {
                let (role, content, source, conversation_owner): (String, String, String, i64) = tx
                    .query_row(
                        "SELECT m.role, m.content, m.source, v.user_id FROM messages m
                         JOIN conversations v ON v.id = m.conversation_id
                         WHERE m.id = ?1 AND m.conversation_id = ?2",
                        params![new.message.0, new.conversation.0],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                    )?;
                if conversation_owner != new.user.0 {
                    return Err(StoreError::NotFound);
                }
                if role != "assistant" || content.is_empty() {
                    return Err(StoreError::Conflict(
                        "Only an answer can be flagged.".into(),
                    ));
                }
                let question: String = tx
                    .query_row(
                        "SELECT content FROM messages WHERE conversation_id = ?1 AND id < ?2
                         AND role = 'user' ORDER BY id DESC LIMIT 1",
                        params![new.conversation.0, new.message.0],
                        |r| r.get(0),
                    )
                    .optional()?
                    .unwrap_or_default();
                let mut stmt = tx.prepare_cached(
                    "SELECT title, excerpt FROM message_sources WHERE message_id = ?1 ORDER BY n",
                )?;
                let sources: Vec<String> = stmt
                    .query_map([new.message.0], |r| {
                        Ok(format!("{}: {}", r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                    })?
                    .collect::<Result<_, _>>()?;
                let flagged_by: String = tx.query_row(
                    "SELECT display_name FROM users WHERE id = ?1",
                    [new.user.0],
                    |r| r.get(0),
                )?;
                tx.execute(
                    "DELETE FROM answer_flags WHERE message_id = ?1 AND user_id = ?2 AND status = 'open'",
                    params![new.message.0, new.user.0],
                )?;
                tx.execute(
                    "INSERT INTO answer_flags (message_id, conversation_id, user_id, flagged_by,
                        rating, correction, question, answer, sources, answer_source, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    params![
                        new.message.0,
                        new.conversation.0,
                        new.user.0,
                        flagged_by,
                        new.rating,
                        new.correction,
                        question,
                        content,
                        serde_json::to_string(&sources).unwrap_or_else(|_| "[]".into()),
                        source,
                        clock.now()
                    ],
                )?;
                Ok(FlagId(tx.last_insert_rowid()))
            })
            .await?;
        self.flag(id).await
    }

    pub async fn flag(&self, id: FlagId) -> StoreResult<Flag> {
        self.read(move |c| {
            Ok(c.query_row(&format!("{FLAG_SELECT} WHERE f.id = ?1"), [id.0], read_flag)?)
        })
        .await
    }

    /// Flags with `status` (all when `None`), newest first.
    pub async fn flags(&self, status: Option<FlagStatus>, limit: u32) -> StoreResult<Vec<Flag>> {
        self.read(move |c| {
            let mut stmt = c.prepare(&format!(
                "{FLAG_SELECT} WHERE (?1 IS NULL OR f.status = ?1) ORDER BY f.id DESC LIMIT ?2"
            ))?;
            let flags = stmt
                .query_map(params![status, limit], read_flag)?
                .collect::<Result<_, _>>()?;
            Ok(flags)
        })
        .await
    }

    /// How many flags wait for review.
    pub async fn open_flag_count(&self) -> StoreResult<i64> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM answer_flags WHERE status = 'open'",
                [],
                |r| r.get(0),
            )?)
        })
        .await
    }

    /// The person's own open flag on each answer of a conversation.
    pub async fn my_flags(
        &self,
        user: UserId,
        conversation: ConversationId,
    ) -> StoreResult<Vec<(MessageId, FlagRating)>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT message_id, rating FROM answer_flags
                 WHERE user_id = ?1 AND conversation_id = ?2 AND message_id IS NOT NULL",
            )?;
            let flags = stmt
                .query_map(params![user.0, conversation.0], |r| {
                    Ok((MessageId(r.get(0)?), r.get(1)?))
                })?
                .collect::<Result<_, _>>()?;
            Ok(flags)
        })
        .await
    }

    /// Closes an open flag: dismissed, or accepted (its correction became
    /// the house fact `fact`).
    pub async fn review_flag(
        &self,
        id: FlagId,
        by: UserId,
        status: FlagStatus,
        note: String,
        fact: Option<DocumentId>,
    ) -> StoreResult<Flag> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE answer_flags SET status = ?2, reviewed_by = ?3, reviewed_at = ?4,
                     review_note = ?5, fact_document_id = ?6
                 WHERE id = ?1 AND status = 'open'",
                params![id.0, status, by.0, clock.now(), note, fact.map(|d| d.0)],
            )?;
            if changed == 0 {
                return Err(StoreError::Conflict(
                    "This flag was already reviewed.".into(),
                ));
            }
            Ok(())
        })
        .await?;
        self.flag(id).await
    }
}

const FLAG_SELECT: &str = "SELECT f.id, f.message_id, f.conversation_id, f.flagged_by, f.rating,
        f.correction, f.question, f.answer, f.sources, f.answer_source, f.status,
        u.display_name, f.reviewed_at, f.review_note, f.fact_document_id, f.created_at
     FROM answer_flags f LEFT JOIN users u ON u.id = f.reviewed_by";

fn read_flag(r: &rusqlite::Row<'_>) -> rusqlite::Result<Flag> {
    let sources: String = r.get(8)?;
    Ok(Flag {
        id: FlagId(r.get(0)?),
        message_id: r.get(1)?,
        conversation_id: r.get(2)?,
        flagged_by: r.get(3)?,
        rating: r.get(4)?,
        correction: r.get(5)?,
        question: r.get(6)?,
        answer: r.get(7)?,
        sources: serde_json::from_str(&sources).unwrap_or_default(),
        answer_source: r.get(9)?,
        status: r.get(10)?,
        reviewed_by: r.get(11)?,
        reviewed_at: r.get(12)?,
        review_note: r.get(13)?,
        fact_document_id: r.get(14)?,
        created_at: r.get(15)?,
    })
}
