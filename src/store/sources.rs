//! What answers draw on: whether a conversation answers from documents (and
//! from which collections), and the numbered passages each answer was given,
//! kept with it so people can check them.

use rusqlite::params;
use serde::Serialize;

use super::collections::CollectionId;
use super::documents::DocumentId;
use super::kinds::DocumentsMode;
use super::users::UserId;
use super::{Store, StoreError, StoreResult};

/// A cited passage of an answer.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MessageSource {
    pub n: u32,
    /// Gone when the document was deleted since.
    pub document_id: Option<DocumentId>,
    pub chunk_ord: u32,
    pub page: Option<u32>,
    pub title: String,
    pub excerpt: String,
}

impl Store {
    /// Whether a conversation answers from documents, and from which of the
    /// collections (empty: all its owner may see).
    pub async fn conversation_documents(
        &self,
        user: UserId,
        conversation: super::ConversationId,
    ) -> StoreResult<(DocumentsMode, Vec<CollectionId>)> {
        self.read(move |c| {
            let on: DocumentsMode = c.query_row(
                "SELECT documents_mode FROM conversations WHERE id = ?1 AND user_id = ?2",
                params![conversation.0, user.0],
                |r| r.get(0),
            )?;
            let mut stmt = c.prepare(
                "SELECT collection_id FROM conversation_collections WHERE conversation_id = ?1 ORDER BY collection_id",
            )?;
            let picked = stmt
                .query_map([conversation.0], |r| r.get(0).map(CollectionId))?
                .collect::<Result<_, _>>()?;
            Ok((on, picked))
        })
        .await
    }

    pub async fn set_conversation_documents(
        &self,
        user: UserId,
        conversation: super::ConversationId,
        mode: DocumentsMode,
        picked: Vec<CollectionId>,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE conversations SET documents_mode = ?3 WHERE id = ?1 AND user_id = ?2",
                params![conversation.0, user.0, mode],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            tx.execute(
                "DELETE FROM conversation_collections WHERE conversation_id = ?1",
                [conversation.0],
            )?;
            for id in &picked {
                tx.execute(
                    "INSERT OR IGNORE INTO conversation_collections (conversation_id, collection_id)
                     SELECT ?1, id FROM collections WHERE id = ?2",
                    params![conversation.0, id.0],
                )?;
            }
            Ok(())
        })
        .await
    }

    pub async fn add_message_sources(
        &self,
        message: super::MessageId,
        sources: Vec<MessageSource>,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            let mut insert = tx.prepare_cached(
                "INSERT INTO message_sources (message_id, n, document_id, chunk_ord, page, title, excerpt)
                 VALUES (?1, ?2, (SELECT id FROM documents WHERE id = ?3), ?4, ?5, ?6, ?7)",
            )?;
            for source in &sources {
                insert.execute(params![
                    message.0,
                    source.n,
                    source.document_id.map(|d| d.0),
                    source.chunk_ord,
                    source.page,
                    source.title,
                    source.excerpt
                ])?;
            }
            Ok(())
        })
        .await
    }

    /// The cited passages of every answer in a conversation, by message.
    pub async fn conversation_sources(
        &self,
        user: UserId,
        conversation: super::ConversationId,
    ) -> StoreResult<Vec<(super::MessageId, MessageSource)>> {
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT s.message_id, s.n, s.document_id, s.chunk_ord, s.page, s.title, s.excerpt
                 FROM message_sources s JOIN messages m ON m.id = s.message_id
                 JOIN conversations v ON v.id = m.conversation_id
                 WHERE v.id = ?1 AND v.user_id = ?2 ORDER BY s.message_id, s.n",
            )?;
            let rows = stmt
                .query_map(params![conversation.0, user.0], |r| {
                    Ok((
                        super::MessageId(r.get(0)?),
                        MessageSource {
                            n: r.get(1)?,
                            document_id: r.get::<_, Option<i64>>(2)?.map(DocumentId),
                            chunk_ord: r.get(3)?,
                            page: r.get(4)?,
                            title: r.get(5)?,
                            excerpt: r.get(6)?,
                        },
                    ))
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }
}
