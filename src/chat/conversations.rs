//! What people do with conversations, whoever asks: the chat page and
//! `/api/v1/conversations` both call these, so a message is checked,
//! claimed, stored and answered the same way from either.

use super::answer::{self, Answer, Listener, Turn};
use crate::app::AppState;
use crate::audit::{self, Actor, Event, Target};
use crate::error::{AppError, AppResult};
use crate::store::{
    CollectionId, Conversation, ConversationId, DocumentsMode, MessageId, TitleBy, User,
};

/// Longest message a person may send, in characters.
pub const MAX_MESSAGE_CHARS: usize = 32_000;

/// How a new conversation gets its title.
pub enum Title<'a> {
    /// Chosen by the person; never replaced by a generated one.
    Chosen(&'a str),
    /// A placeholder (the start of the first message) until the model
    /// names the conversation after its first exchange.
    Automatic(&'a str),
}

/// Whether a conversation answers from documents (automatically, only
/// from documents, or not), and from which collections (none: every
/// collection the person may see).
pub struct DocumentsChoice {
    pub mode: DocumentsMode,
    pub collections: Vec<CollectionId>,
}

/// Checks a message: not empty once control characters are gone (line
/// breaks and tabs stay), at most [`MAX_MESSAGE_CHARS`].
pub fn validate_message(content: &str) -> AppResult<String> {
    // Control characters (NUL, escapes, ...) carry nothing a person typed;
    // emptiness is judged after they go, so a message of only NULs is
    // refused rather than stored empty.
    let normalised: String = content
        .replace("\r\n", "\n")
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect();
    let trimmed = normalised.trim();
    if trimmed.is_empty() {
        return Err(AppError::bad_request("Type a message first."));
    }
    let chars = trimmed.chars().count();
    if chars > MAX_MESSAGE_CHARS {
        return Err(AppError::BadRequest(format!(
            "That message is {chars} characters long; the limit is {MAX_MESSAGE_CHARS}. Shorten it or split it up."
        )));
    }
    Ok(trimmed.to_string())
}

/// Checks a conversation title: 1 to 120 characters of text.
pub fn validate_title(title: &str) -> AppResult<String> {
    let title = crate::text::clean_name(title);
    if title.is_empty() || title.chars().count() > 120 {
        return Err(AppError::bad_request("A title has 1 to 120 characters."));
    }
    Ok(title)
}

/// Starts a conversation (audited).
pub async fn create(
    state: &AppState,
    user: &User,
    ip: &str,
    title: Title<'_>,
) -> AppResult<Conversation> {
    let conversation = match title {
        Title::Chosen(title) => {
            let title = validate_title(title)?;
            let conversation = state.store.create_conversation(user.id, title).await?;
            state
                .store
                .rename_conversation(
                    user.id,
                    conversation.id,
                    conversation.title.clone(),
                    TitleBy::Person,
                )
                .await?;
            conversation
        }
        Title::Automatic(start) => {
            let title = crate::text::truncate_words(start, 48);
            let title = if title.is_empty() {
                "New conversation".to_string()
            } else {
                title
            };
            state.store.create_conversation(user.id, title).await?
        }
    };
    record(state, user, ip, "chat.created", conversation.id).await?;
    Ok(conversation)
}

/// Sends `content` in conversation `id` and starts the answer: checks the
/// message, takes the conversation (one answer at a time), applies the
/// documents choice, stores the message. A refusal here stores nothing.
pub async fn send(
    state: &AppState,
    user: &User,
    id: ConversationId,
    content: &str,
    listener: Listener,
    documents: Option<DocumentsChoice>,
) -> AppResult<Answer> {
    state.store.conversation(user.id, id).await?;
    let content = validate_message(content)?;
    let claim = claim(state, id)?;
    if let Some(choice) = documents {
        state
            .store
            .set_conversation_documents(user.id, id, choice.mode, choice.collections)
            .await?;
    }
    state.store.add_user_message(user.id, id, content).await?;
    answer::start(state, user, id, claim, listener, Turn::Next, None).await
}

/// Answers again in conversation `id`: the last answer written anew
/// ([`Turn::Regenerate`]), the latest question edited and answered
/// ([`Turn::Edit`]), or more of a cut-off answer ([`Turn::Continue`]).
/// `message` is the answer (or, for an edit, the question) the person saw:
/// when the conversation has moved on since, nothing happens. Nothing
/// changes unless the model takes the request.
pub async fn answer_again(
    state: &AppState,
    user: &User,
    id: ConversationId,
    message: MessageId,
    turn: Turn,
    listener: Listener,
) -> AppResult<Answer> {
    let turn = match turn {
        Turn::Edit(content) => Turn::Edit(validate_message(&content)?),
        Turn::Next => return Err(AppError::bad_request("Send the message instead.")),
        turn => turn,
    };
    let claim = claim(state, id)?;
    answer::start(state, user, id, claim, listener, turn, Some(message)).await
}

/// The right to answer in conversation `id`: refused while it answers.
fn claim(state: &AppState, id: ConversationId) -> AppResult<answer::Claim> {
    state.chat.running.claim(id).ok_or_else(|| {
        AppError::Conflict(
            "The assistant is still answering in this conversation. Wait for it or press Stop."
                .into(),
        )
    })
}

/// Renames a conversation to a title the person chose.
pub async fn rename(
    state: &AppState,
    user: &User,
    id: ConversationId,
    title: &str,
) -> AppResult<Conversation> {
    let title = validate_title(title)?;
    state
        .store
        .rename_conversation(user.id, id, title, TitleBy::Person)
        .await?;
    Ok(state.store.conversation(user.id, id).await?)
}

/// Stops the answer being written in conversation `id`, if any.
pub async fn stop(state: &AppState, user: &User, id: ConversationId) -> AppResult<()> {
    state.store.conversation(user.id, id).await?;
    state.chat.running.stop(id);
    Ok(())
}

/// Deletes a conversation and its messages (audited); an answer being
/// written there stops.
pub async fn delete(
    state: &AppState,
    user: &User,
    ip: &str,
    id: ConversationId,
) -> AppResult<Conversation> {
    let conversation = state.store.conversation(user.id, id).await?;
    state.chat.running.stop(id);
    state.store.delete_conversation(user.id, id).await?;
    record(state, user, ip, "chat.deleted", id).await?;
    Ok(conversation)
}

async fn record(
    state: &AppState,
    user: &User,
    ip: &str,
    action: &str,
    id: ConversationId,
) -> AppResult<()> {
    audit::record(
        &state.store,
        Actor::User(user),
        ip,
        Event::ok(action, Target::Conversation(id)),
    )
    .await?;
    Ok(())
}
