//! The cloud model, when the owner allows one: any OpenAI-compatible
//! endpoint (`/chat/completions`, streamed), reached only through `egress`
//! (so every request is logged before it leaves), with personal data
//! replaced by placeholders first (`redact`) and put back in the answer as
//! it streams, a placeholder split across pieces included.
//!
//! - [`CloudSettings`]: the owner's choices, a versioned setting (`cloud`);
//!   the API key is not among them: it lives in a file readable by Hearth
//!   only ([`key_file`]), so it is never logged, shown, or part of a diff.
//! - [`prepare`]: the exact request body for a conversation, redacted;
//!   what "Ask the cloud model" shows before anything is sent.
//! - [`stream`]: sends a prepared request and turns the streamed answer
//!   into the same [`Event`]s the local engine sends, so an answer from the
//!   cloud is stored and shown like any other.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::egress::{Egress, EgressError, Outbound, Reach, Sender};
use crate::llm::{EngineError, Event, FinishReason, Finished, Generation, Message, Role};
use crate::redact::{Placeholders, Redactor, Restorer};
use crate::store::{ConversationId, EgressOutcome, EgressPurpose, Role as UserRole, User};

/// The setting's key in the store.
pub const SETTING_KEY: &str = "cloud";

/// Most bytes of an error answer read, to quote it.
const ERROR_BODY_LIMIT: usize = 2048;

/// When the cloud model may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Nothing ever leaves the box (the default).
    Never,
    /// Only when a person asks, after seeing exactly what will be sent.
    Ask,
    /// Also by itself, when the local model is unavailable or its queue is full.
    Auto,
}

/// The owner's choices for the cloud model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CloudSettings {
    pub policy: Policy,
    /// The API's base, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// The model's name at the provider.
    pub model: String,
    /// The endpoint is on the office network or this box (a model server in
    /// the office); otherwise only public addresses are contacted.
    pub allow_lan: bool,
    /// Roles whose members may use it.
    pub roles: Vec<UserRole>,
    /// People who may use it whatever their role, by username.
    pub users: Vec<String>,
    /// A short digest of the API key in use (empty: none), so a change of
    /// key shows in the history without the key itself.
    pub key_fingerprint: String,
    /// Longest wait for the cloud model's next words, in seconds.
    pub timeout_secs: u64,
}

impl Default for CloudSettings {
    fn default() -> Self {
        CloudSettings {
            policy: Policy::Never,
            base_url: String::new(),
            model: String::new(),
            allow_lan: false,
            roles: vec![UserRole::Owner, UserRole::Admin],
            users: Vec::new(),
            key_fingerprint: String::new(),
            timeout_secs: 60,
        }
    }
}

impl CloudSettings {
    /// What is wrong with these settings, in words, if anything.
    pub fn problem(&self) -> Option<String> {
        if !(5..=600).contains(&self.timeout_secs) {
            return Some("The time to wait for the cloud model must be 5 to 600 seconds.".into());
        }
        if self.policy == Policy::Never && self.base_url.trim().is_empty() {
            return None;
        }
        if let Err(why) = self.endpoint() {
            return Some(why);
        }
        if self.model.trim().is_empty() {
            return Some("Name the cloud model to ask (for example gpt-4o-mini).".into());
        }
        if self.model.len() > 200 || self.model.chars().any(char::is_control) {
            return Some("The model name is not valid.".into());
        }
        None
    }

    /// `<base_url>/chat/completions`, checked against the reach.
    pub fn endpoint(&self) -> Result<reqwest::Url, String> {
        let base = self.base_url.trim().trim_end_matches('/');
        if base.is_empty() {
            return Err("Give the address of the cloud model's API (for example https://api.openai.com/v1).".into());
        }
        let url = reqwest::Url::parse(&format!("{base}/chat/completions"))
            .map_err(|e| format!("The address {base} is not valid: {e}."))?;
        self.reach()
            .check_url(&url)
            .map_err(|why| format!("The address {base} cannot be used: {why}."))?;
        Ok(url)
    }

    pub fn reach(&self) -> Reach {
        if self.allow_lan {
            Reach::Lan
        } else {
            Reach::Internet
        }
    }

    /// Whether `user` may have questions sent to the cloud model.
    pub fn permits(&self, user: &User) -> bool {
        self.policy != Policy::Never
            && (self.roles.contains(&user.role)
                || self
                    .users
                    .iter()
                    .any(|u| u.eq_ignore_ascii_case(&user.username)))
    }
}

/// The API key's file: `<data_dir>/secrets/cloud-api-key`, mode 0600.
pub fn key_file(data_dir: &Path) -> crate::disk::SecretFile {
    crate::disk::SecretFile::new(data_dir, "cloud-api-key")
}

/// A digest of a key that identifies it without revealing it.
pub fn fingerprint(key: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(key.trim().as_bytes());
    format!("sha256:{}", hex::encode(&digest[..6]))
}

/// One message as it will be sent.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OutgoingMessage {
    pub role: String,
    pub content: String,
}

/// What will leave the box for one answer.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The messages, redacted, exactly as in the body.
    pub messages: Vec<OutgoingMessage>,
    /// The request body, byte for byte.
    pub body: Vec<u8>,
    /// Replacements made, by kind (`email`, `person`, ...).
    pub redactions: BTreeMap<String, usize>,
    /// To put the originals back into the answer.
    pub placeholders: Placeholders,
    pub model: String,
}

impl Prepared {
    /// A digest of the body: the confirmation of "Ask the cloud model"
    /// carries the one shown, so what is sent is what the person saw.
    pub fn digest(&self) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&self.body))
    }
}

/// The request for `messages` (system prompt first), each redacted by
/// `redactor` with `placeholders` (kept per conversation, so a name is the
/// same placeholder in every request).
pub fn prepare(
    settings: &CloudSettings,
    messages: &[Message],
    max_tokens: usize,
    temperature: f32,
    redactor: &Redactor,
    mut placeholders: Placeholders,
) -> Prepared {
    let mut redactions: BTreeMap<String, usize> = BTreeMap::new();
    let outgoing: Vec<OutgoingMessage> = messages
        .iter()
        .map(|m| {
            let redacted = redactor.redact(&m.content, &mut placeholders);
            for (kind, n) in redacted.counts_by_key() {
                *redactions.entry(kind).or_default() += n;
            }
            OutgoingMessage {
                role: match m.role {
                    Role::System => "system",
                    Role::User => "user",
                    Role::Assistant => "assistant",
                }
                .to_string(),
                content: redacted.text,
            }
        })
        .collect();
    let body = serde_json::json!({
        "model": settings.model,
        "messages": outgoing,
        "stream": true,
        "max_tokens": max_tokens,
        "temperature": temperature,
    });
    Prepared {
        messages: outgoing,
        body: serde_json::to_vec(&body).unwrap_or_default(),
        redactions,
        placeholders,
        model: settings.model.clone(),
    }
}

/// Sends `prepared` and streams the answer as engine events, originals put
/// back. Stopping the returned generation ends the request.
pub fn stream(
    egress: &Egress,
    settings: &CloudSettings,
    key: Option<String>,
    prepared: Prepared,
    sender: Sender,
    conversation: Option<ConversationId>,
) -> Generation {
    let (events, receiver) = mpsc::unbounded_channel();
    let token = CancellationToken::new();
    let task = Task {
        egress: egress.clone(),
        settings: settings.clone(),
        key,
        sender,
        conversation,
        events,
        token: token.clone(),
    };
    tokio::spawn(task.run(prepared));
    Generation::remote(receiver, token)
}

struct Task {
    egress: Egress,
    settings: CloudSettings,
    key: Option<String>,
    sender: Sender,
    conversation: Option<ConversationId>,
    events: mpsc::UnboundedSender<Event>,
    token: CancellationToken,
}

impl Task {
    async fn run(self, prepared: Prepared) {
        let started = Instant::now();
        let _ = self.events.send(Event::Started {
            prompt_tokens: 0,
            reused_tokens: 0,
            dropped_messages: 0,
        });
        let result = tokio::select! {
            result = self.exchange(prepared, started) => result,
            () = self.token.cancelled() => Err(Stop::Cancelled),
        };
        let event = match result {
            Ok(finished) => Event::Finished(finished),
            Err(Stop::Cancelled) => Event::Finished(Finished {
                reason: FinishReason::Cancelled,
                prompt_tokens: 0,
                reused_tokens: 0,
                completion_tokens: 0,
                time_to_first_token: started.elapsed(),
                generation_time: Duration::ZERO,
                model: self.settings.model.clone(),
            }),
            Err(Stop::Failed(message)) => Event::Failed(EngineError::Failed(message)),
        };
        let _ = self.events.send(event);
    }

    async fn exchange(&self, prepared: Prepared, started: Instant) -> Result<Finished, Stop> {
        let url = self.settings.endpoint().map_err(Stop::Failed)?;
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            reqwest::header::HeaderValue::from_static("application/json"),
        );
        headers.insert(
            reqwest::header::ACCEPT,
            reqwest::header::HeaderValue::from_static("text/event-stream, application/json"),
        );
        if let Some(key) = &self.key {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {key}"))
                .map_err(|_| Stop::Failed("the cloud API key is not valid text".into()))?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let sent = self
            .egress
            .send(Outbound {
                purpose: EgressPurpose::CloudChat,
                sender: self.sender.clone(),
                method: reqwest::Method::POST,
                url,
                headers,
                body: Some(prepared.body.clone()),
                model: prepared.model.clone(),
                conversation: self.conversation,
                redactions: prepared.redactions.clone(),
                reach: self.settings.reach(),
                follow_redirects: false,
                connect_timeout: Duration::from_secs(10),
                read_timeout: Duration::from_secs(self.settings.timeout_secs),
            })
            .await
            .map_err(|e| {
                Stop::Failed(match e {
                    EgressError::Refused(why) => format!("The cloud model was not asked: {why}."),
                    other => format!("The cloud model could not be reached: {other}."),
                })
            })?;
        let mut ticket = sent.ticket;
        let response = sent.response;
        let status = response.status();
        if !status.is_success() {
            let body = response.bytes().await.unwrap_or_default();
            ticket.received(body.len() as u64);
            let quoted: String = String::from_utf8_lossy(&body[..body.len().min(ERROR_BODY_LIMIT)])
                .chars()
                .filter(|c| !c.is_control())
                .take(300)
                .collect();
            let message = format!("The cloud model answered {status}: {quoted}");
            ticket
                .finish(EgressOutcome::Failed, &format!("HTTP {status}"))
                .await;
            return Err(Stop::Failed(message));
        }
        let is_stream = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let mut restorer = Restorer::new(&prepared.placeholders);
        let mut reader = Reader::default();
        let mut first: Option<Duration> = None;
        let mut body = response.bytes_stream();
        let mut raw = Vec::new();
        loop {
            let chunk = match body.next().await {
                None => break,
                Some(Ok(chunk)) => chunk,
                Some(Err(err)) => {
                    let why = crate::egress::describe(&err);
                    ticket
                        .finish(
                            EgressOutcome::Failed,
                            &format!("the answer broke off: {why}"),
                        )
                        .await;
                    return Err(Stop::Failed(format!(
                        "The cloud model's answer broke off: {why}."
                    )));
                }
            };
            ticket.received(chunk.len() as u64);
            if !is_stream {
                raw.extend_from_slice(&chunk);
                continue;
            }
            for piece in reader.push(&chunk) {
                let shown = restorer.push(&piece);
                if !shown.is_empty() {
                    first.get_or_insert_with(|| started.elapsed());
                    let _ = self.events.send(Event::Text(shown));
                }
            }
            if reader.done {
                break;
            }
        }
        if !is_stream {
            let text = whole_answer(&raw, &mut reader).map_err(Stop::Failed)?;
            let shown = restorer.push(&text);
            first.get_or_insert_with(|| started.elapsed());
            let _ = self.events.send(Event::Text(shown));
        }
        let rest = restorer.finish();
        if !rest.is_empty() {
            let _ = self.events.send(Event::Text(rest));
        }
        ticket.finish(EgressOutcome::Ok, "").await;
        let first = first.unwrap_or_else(|| started.elapsed());
        Ok(Finished {
            reason: if reader.length {
                FinishReason::Length
            } else {
                FinishReason::Stop
            },
            prompt_tokens: reader.prompt_tokens,
            reused_tokens: 0,
            completion_tokens: reader.completion_tokens.max(reader.pieces),
            time_to_first_token: first,
            generation_time: started.elapsed().saturating_sub(first),
            model: self.settings.model.clone(),
        })
    }
}

enum Stop {
    Cancelled,
    Failed(String),
}

/// Reads a server-sent event stream of chat completion chunks.
#[derive(Default)]
struct Reader {
    pending: Vec<u8>,
    done: bool,
    length: bool,
    pieces: usize,
    prompt_tokens: usize,
    completion_tokens: usize,
}

impl Reader {
    /// The answer's pieces in `bytes` (lines may be split anywhere).
    fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(bytes);
        let mut pieces = Vec::new();
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim();
            let Some(data) = line.strip_prefix("data:") else {
                continue;
            };
            let data = data.trim();
            if data == "[DONE]" {
                self.done = true;
                break;
            }
            if let Ok(chunk) = serde_json::from_str::<serde_json::Value>(data)
                && let Some(text) = self.read_chunk(&chunk, "delta")
            {
                pieces.push(text);
            }
        }
        pieces
    }

    /// The text of one chunk (`delta`) or whole answer (`message`), noting
    /// why it ended and the token counts when the server says.
    fn read_chunk(&mut self, chunk: &serde_json::Value, part: &str) -> Option<String> {
        if let Some(usage) = chunk.get("usage") {
            self.prompt_tokens = usage["prompt_tokens"].as_u64().unwrap_or(0) as usize;
            self.completion_tokens = usage["completion_tokens"].as_u64().unwrap_or(0) as usize;
        }
        let choice = chunk.get("choices")?.get(0)?;
        if choice.get("finish_reason").and_then(|r| r.as_str()) == Some("length") {
            self.length = true;
        }
        let text = choice.get(part)?.get("content")?.as_str()?;
        if text.is_empty() {
            return None;
        }
        self.pieces += 1;
        Some(text.to_string())
    }
}

/// The text of a whole (not streamed) answer.
fn whole_answer(raw: &[u8], reader: &mut Reader) -> Result<String, String> {
    let value: serde_json::Value = serde_json::from_slice(raw).map_err(|_| {
        "The cloud model's answer was not what an OpenAI-compatible API sends.".to_string()
    })?;
    Ok(reader.read_chunk(&value, "message").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_reader_takes_lines_split_anywhere() {
        let stream = concat!(
            "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hello\"}}]}\n\n",
            ": a comment\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\", [PERSON_1]\"},\"finish_reason\":\"length\"}]}\n\n",
            "data: [DONE]\n\n",
        )
        .as_bytes();
        for split in 0..stream.len() {
            let mut reader = Reader::default();
            let mut pieces = reader.push(&stream[..split]);
            pieces.extend(reader.push(&stream[split..]));
            assert_eq!(pieces.concat(), "Hello, [PERSON_1]", "split at {split}");
            assert!(reader.done && reader.length);
        }
    }

    #[test]
    fn settings_are_checked() {
        let mut settings = CloudSettings::default();
        assert_eq!(settings.problem(), None, "off and empty is fine");
        settings.policy = Policy::Ask;
        assert!(settings.problem().unwrap().contains("address"));
        settings.base_url = "http://127.0.0.1:9000/v1".into();
        settings.model = "gpt-test".into();
        assert!(settings.problem().unwrap().contains("cannot be used"));
        settings.allow_lan = true;
        assert_eq!(settings.problem(), None);
        assert_eq!(
            settings.endpoint().unwrap().as_str(),
            "http://127.0.0.1:9000/v1/chat/completions"
        );
        settings.base_url = "http://169.254.169.254/v1".into();
        assert!(settings.problem().is_some(), "never link-local");
    }

    #[test]
    fn keys_are_fingerprinted_not_shown() {
        let f = fingerprint("sk-secret-123");
        assert!(f.starts_with("sha256:") && !f.contains("secret"));
        assert_eq!(f, fingerprint(" sk-secret-123\n"));
    }
}
