//! Conversations with the assistant and their messages. Every read and
//! write names the owner, so one person's conversations are never reachable
//! by another's id.

use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

use super::users::UserId;
use super::{AnswerSource, MessageRole, MessageStatus, Store, StoreError, StoreResult};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct ConversationId(pub i64);

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct MessageId(pub i64);

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Conversation {
    pub id: ConversationId,
    pub title: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoredMessage {
    pub id: MessageId,
    pub role: MessageRole,
    pub content: String,
    pub status: MessageStatus,
    /// Where an answer came from: `local:<model file>`, ...
    pub source: AnswerSource,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub tokens_per_second: Option<f64>,
    /// Older messages the model could not see when it wrote this answer.
    pub dropped_messages: i64,
    pub created_at: i64,
}

/// Who names a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TitleBy {
    /// Its owner: the title stays.
    Person,
    /// The model, after the first exchange: only while nobody renamed it.
    Model,
}

/// An answer to store.
pub struct NewAnswer {
    pub content: String,
    pub status: MessageStatus,
    pub source: AnswerSource,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub tokens_per_second: Option<f64>,
    pub dropped_messages: i64,
}

const CONVERSATION_COLUMNS: &str = "id, title, created_at, updated_at";
const MESSAGE_COLUMNS: &str = "id, role, content, status, source, prompt_tokens, completion_tokens, tokens_per_second, dropped_messages, created_at";

fn conversation(row: &Row<'_>) -> rusqlite::Result<Conversation> {
    Ok(Conversation {
        id: ConversationId(row.get(0)?),
        title: row.get(1)?,
        created_at: row.get(2)?,
        updated_at: row.get(3)?,
    })
}

fn message(row: &Row<'_>) -> rusqlite::Result<StoredMessage> {
    Ok(StoredMessage {
        id: MessageId(row.get(0)?),
        role: row.get(1)?,
        content: row.get(2)?,
        status: row.get(3)?,
        source: row.get(4)?,
        prompt_tokens: row.get(5)?,
        completion_tokens: row.get(6)?,
        tokens_per_second: row.get(7)?,
        dropped_messages: row.get(8)?,
        created_at: row.get(9)?,
    })
}

fn owned(tx: &rusqlite::Connection, user: UserId, id: ConversationId) -> StoreResult<()> {
    let found: Option<i64> = tx
        .query_row(
            "SELECT 1 FROM conversations WHERE id = ?1 AND user_id = ?2",
            params![id.0, user.0],
            |r| r.get(0),
        )
        .optional()?;
    found.map(|_| ()).ok_or(StoreError::NotFound)
}

/// Adds a message to one of `user`'s conversations, marks the conversation
/// active, and returns the message.
fn insert_message(
    tx: &rusqlite::Connection,
    user: UserId,
    id: ConversationId,
    role: MessageRole,
    status: MessageStatus,
    content: &str,
    at: i64,
) -> StoreResult<StoredMessage> {
    owned(tx, user, id)?;
    tx.execute(
        "INSERT INTO messages (conversation_id, role, content, status, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id.0, role, content, status, at],
    )?;
    inserted_message(tx, id, at)
}

/// Marks the conversation active at `at` and returns the message just inserted.
fn inserted_message(
    tx: &rusqlite::Connection,
    id: ConversationId,
    at: i64,
) -> StoreResult<StoredMessage> {
    let message_id = tx.last_insert_rowid();
    tx.execute(
        "UPDATE conversations SET updated_at = ?2 WHERE id = ?1",
        params![id.0, at],
    )?;
    Ok(tx.query_row(
        &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1"),
        [message_id],
        message,
    )?)
}

impl Store {
    pub async fn create_conversation(
        &self,
        user: UserId,
        title: String,
    ) -> StoreResult<Conversation> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            let at = clock.now();
            tx.execute(
                "INSERT INTO conversations (user_id, title, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
                params![user.0, title, at],
            )?;
            Ok(tx.query_row(
                &format!("SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = ?1"),
                [tx.last_insert_rowid()],
                conversation,
            )?)
        })
        .await
    }

    /// The user's conversations, most recently active first; with `query`,
    /// only those whose title or messages contain it (any case).
    pub async fn conversations(
        &self,
        user: UserId,
        query: Option<String>,
        limit: u32,
    ) -> StoreResult<Vec<Conversation>> {
        self.read(move |c| {
            let pattern = query.filter(|q| !q.trim().is_empty()).map(|q| {
                super::contains_pattern(&q)
            });
            let mut stmt = c.prepare(&format!(
                "SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE user_id = ?1
                 AND (?2 IS NULL OR title LIKE ?2 ESCAPE '\\' OR EXISTS (
                     SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.content LIKE ?2 ESCAPE '\\'))
                 ORDER BY updated_at DESC, id DESC LIMIT ?3"
            ))?;
            let rows = stmt
                .query_map(params![user.0, pattern, limit], conversation)?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// One of the user's conversations; `NotFound` if it is someone else's.
    pub async fn conversation(
        &self,
        user: UserId,
        id: ConversationId,
    ) -> StoreResult<Conversation> {
        self.read(move |c| {
            Ok(c.query_row(
                &format!("SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = ?1 AND user_id = ?2"),
                params![id.0, user.0],
                conversation,
            )?)
        })
        .await
    }

    pub async fn messages(
        &self,
        user: UserId,
        id: ConversationId,
    ) -> StoreResult<Vec<StoredMessage>> {
        self.read(move |c| {
            owned(c, user, id)?;
            let mut stmt = c.prepare(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ?1 ORDER BY id"
            ))?;
            let rows = stmt.query_map([id.0], message)?.collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    pub async fn add_user_message(
        &self,
        user: UserId,
        id: ConversationId,
        content: String,
    ) -> StoreResult<StoredMessage> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            insert_message(
                tx,
                user,
                id,
                MessageRole::User,
                MessageStatus::Done,
                &content,
                clock.now(),
            )
        })
        .await
    }

    /// Starts an answer: an empty assistant message with status `writing`,
    /// which [`Store::save_answer_draft`] fills as the text arrives and
    /// [`Store::finish_answer`] completes. A crash in between leaves it
    /// `writing`, and [`Store::interrupt_unfinished_answers`] marks it at the
    /// next start, so what was streamed is kept.
    pub async fn begin_answer(
        &self,
        user: UserId,
        id: ConversationId,
    ) -> StoreResult<StoredMessage> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            insert_message(
                tx,
                user,
                id,
                MessageRole::Assistant,
                MessageStatus::Writing,
                "",
                clock.now(),
            )
        })
        .await
    }

    /// Saves the text of an answer being written so far.
    pub async fn save_answer_draft(
        &self,
        message: MessageId,
        content: String,
        dropped_messages: i64,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE messages SET content = ?2, dropped_messages = ?3
                 WHERE id = ?1 AND status = 'writing'",
                params![message.0, content, dropped_messages],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
        .await
    }

    /// Completes an answer begun with [`Store::begin_answer`]. `NotFound` when
    /// the conversation was deleted meanwhile.
    pub async fn finish_answer(
        &self,
        message: MessageId,
        answer: NewAnswer,
    ) -> StoreResult<StoredMessage> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE messages SET content = ?2, status = ?3, source = ?4, prompt_tokens = ?5,
                     completion_tokens = ?6, tokens_per_second = ?7, dropped_messages = ?8
                 WHERE id = ?1 AND status = 'writing'",
                params![
                    message.0,
                    answer.content,
                    answer.status,
                    answer.source,
                    answer.prompt_tokens,
                    answer.completion_tokens,
                    answer.tokens_per_second,
                    answer.dropped_messages,
                ],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            let at = clock.now();
            tx.execute(
                "UPDATE conversations SET updated_at = ?2
                 WHERE id = (SELECT conversation_id FROM messages WHERE id = ?1)",
                params![message.0, at],
            )?;
            Ok(tx.query_row(
                &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1"),
                [message.0],
                self::message,
            )?)
        })
        .await
    }

    /// Marks answers that were being written when the server stopped as
    /// `interrupted`, keeping their text. Called once at start, before any
    /// answer begins. Returns how many there were.
    pub async fn interrupt_unfinished_answers(&self) -> StoreResult<usize> {
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE messages SET status = 'interrupted' WHERE status = 'writing'",
                [],
            )?)
        })
        .await
    }

    /// Renames a conversation. A generated title replaces only an automatic
    /// one, so it never overwrites a person's rename.
    pub async fn rename_conversation(
        &self,
        user: UserId,
        id: ConversationId,
        title: String,
        by: TitleBy,
    ) -> StoreResult<bool> {
        self.write(move |tx| {
            owned(tx, user, id)?;
            let changed = match by {
                TitleBy::Model => tx.execute(
                    "UPDATE conversations SET title = ?2 WHERE id = ?1 AND title_is_auto = 1",
                    params![id.0, title],
                )?,
                TitleBy::Person => tx.execute(
                    "UPDATE conversations SET title = ?2, title_is_auto = 0 WHERE id = ?1",
                    params![id.0, title],
                )?,
            };
            Ok(changed > 0)
        })
        .await
    }

    /// Answers `question` again: its text becomes `content` when one is
    /// given (an edited question), every message after it goes (the old
    /// answer, and anything later), and a new `writing` answer begins, all in
    /// one transaction. `NotFound` unless `question` is a question in this
    /// conversation of `user`'s.
    pub async fn begin_answer_again(
        &self,
        user: UserId,
        id: ConversationId,
        question: MessageId,
        content: Option<String>,
    ) -> StoreResult<StoredMessage> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            owned(tx, user, id)?;
            let role: Option<MessageRole> = tx
                .query_row(
                    "SELECT role FROM messages WHERE id = ?1 AND conversation_id = ?2",
                    params![question.0, id.0],
                    |r| r.get(0),
                )
                .optional()?;
            if role != Some(MessageRole::User) {
                return Err(StoreError::NotFound);
            }
            if let Some(content) = &content {
                tx.execute(
                    "UPDATE messages SET content = ?2 WHERE id = ?1",
                    params![question.0, content],
                )?;
            }
            tx.execute(
                "DELETE FROM messages WHERE conversation_id = ?1 AND id > ?2",
                params![id.0, question.0],
            )?;
            insert_message(
                tx,
                user,
                id,
                MessageRole::Assistant,
                MessageStatus::Writing,
                "",
                clock.now(),
            )
        })
        .await
    }

    /// Opens a cut-off answer (stopped, at the length limit, or interrupted)
    /// for more text: it is `writing` again, with its text kept, until
    /// [`Store::finish_answer`]. `NotFound` unless it is the conversation's
    /// last message and was cut off.
    pub async fn reopen_answer(
        &self,
        user: UserId,
        id: ConversationId,
        answer: MessageId,
    ) -> StoreResult<StoredMessage> {
        self.write(move |tx| {
            owned(tx, user, id)?;
            let changed = tx.execute(
                "UPDATE messages SET status = 'writing'
                 WHERE id = ?1 AND conversation_id = ?2 AND role = 'assistant'
                   AND status IN ('stopped', 'length', 'interrupted')
                   AND id = (SELECT max(id) FROM messages WHERE conversation_id = ?2)",
                params![answer.0, id.0],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(tx.query_row(
                &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1"),
                [answer.0],
                message,
            )?)
        })
        .await
    }

    pub async fn delete_conversation(&self, user: UserId, id: ConversationId) -> StoreResult<()> {
        self.write_essential(move |tx| {
            owned(tx, user, id)?;
            tx.execute("DELETE FROM conversations WHERE id = ?1", [id.0])?;
            Ok(())
        })
        .await
    }
}
