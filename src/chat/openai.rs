//! The OpenAI-compatible API (`/v1/chat/completions`, `/v1/models`), so the
//! office's other tools can use the local model with the official OpenAI
//! client libraries unchanged: point their base URL at `http://hearth.local/v1`
//! and use a personal Hearth API key as the API key.
//!
//! These calls are stateless (nothing is stored as a conversation); the
//! engine still reuses the KV cache when a client resends a conversation
//! with one more message.

use std::convert::Infallible;

use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::error::{AppError, AppResult};
use crate::llm::{Completion, EngineState, Event, FinishReason, Finished, Message, Request, Role};
use crate::web::{Access, Routes};

/// Most messages one request may carry.
const MAX_MESSAGES: usize = 1000;

pub fn routes() -> Routes {
    Routes::new().get("/v1/models", Access::Staff, models).post(
        "/v1/chat/completions",
        Access::Staff,
        chat_completions,
    )
}

fn now() -> i64 {
    crate::store::now()
}

async fn models(State(chat): State<super::ChatState>, _: CurrentUser) -> Json<Value> {
    let config = chat.engine.config();
    let created = std::fs::metadata(&config.model_path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64);
    let data: Vec<Value> = match chat.engine.state() {
        EngineState::Ready { model } => vec![json!({
            "id": model,
            "object": "model",
            "created": created,
            "owned_by": "hearth",
        })],
        _ => Vec::new(),
    };
    Json(json!({ "object": "list", "data": data }))
}

#[derive(Debug, Deserialize)]
struct CompletionRequest {
    /// The model's id as `/v1/models` lists it (its file name, with or
    /// without `.gguf`); another name is refused as `model_not_found`.
    #[serde(default)]
    model: Option<String>,
    messages: Vec<WireMessage>,
    #[serde(default)]
    stream: bool,
    stream_options: Option<StreamOptions>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    seed: Option<i64>,
    n: Option<u32>,
    frequency_penalty: Option<f32>,
    presence_penalty: Option<f32>,
    /// llama-server's extension: generate exactly `max_tokens` (benchmarks).
    #[serde(default)]
    ignore_eos: bool,
}

#[derive(Debug, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Debug, Deserialize)]
struct WireMessage {
    role: String,
    #[serde(default)]
    content: Option<Value>,
}

/// Message content is a string or a list of parts; only text parts are read.
fn content_text(content: &Option<Value>) -> AppResult<String> {
    match content {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for part in parts {
                match part.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        text.push_str(part.get("text").and_then(Value::as_str).unwrap_or_default())
                    }
                    other => {
                        return Err(AppError::BadRequest(format!(
                            "content parts of type {} are not supported; send text",
                            other.unwrap_or("(none)")
                        )));
                    }
                }
            }
            Ok(text)
        }
        Some(_) => Err(AppError::bad_request(
            "message content must be a string or a list of text parts",
        )),
    }
}

impl CompletionRequest {
    fn to_engine(&self, state: &AppState) -> AppResult<Request> {
        if self.messages.is_empty() {
            return Err(AppError::bad_request("messages must not be empty"));
        }
        if self.messages.len() > MAX_MESSAGES {
            return Err(AppError::BadRequest(format!(
                "at most {MAX_MESSAGES} messages per request"
            )));
        }
        if self.n.is_some_and(|n| n != 1) {
            return Err(AppError::bad_request("only n = 1 is supported"));
        }
        let mut messages = Vec::with_capacity(self.messages.len());
        for message in &self.messages {
            let role = match message.role.as_str() {
                "system" | "developer" => Role::System,
                "user" => Role::User,
                "assistant" => Role::Assistant,
                other => {
                    return Err(AppError::BadRequest(format!(
                        "role {other:?} is not supported; use system, user or assistant"
                    )));
                }
            };
            messages.push(Message::new(role, content_text(&message.content)?));
        }
        let settings = state.chat.assistant();
        let mut sampling = settings.sampling();
        if let Some(t) = self.temperature {
            if !(0.0..=2.0).contains(&t) {
                return Err(AppError::bad_request("temperature must be between 0 and 2"));
            }
            sampling.temperature = t;
        }
        if let Some(p) = self.top_p {
            if !(0.0..=1.0).contains(&p) {
                return Err(AppError::bad_request("top_p must be between 0 and 1"));
            }
            sampling.top_p = p.max(0.01);
        }
        if let Some(limit) = self.max_completion_tokens.or(self.max_tokens) {
            // An answer can never be longer than one conversation's context,
            // so a larger limit is refused rather than silently lowered.
            let most = settings.context_per_chat;
            if limit == 0 || limit > most {
                return Err(AppError::BadRequest(format!(
                    "max_tokens must be between 1 and {most} (the context of one conversation on this box)"
                )));
            }
            sampling.max_tokens = limit;
        }
        if self.frequency_penalty.is_some_and(|p| p != 0.0)
            || self.presence_penalty.is_some_and(|p| p != 0.0)
        {
            tracing::debug!("frequency and presence penalties are ignored");
        }
        sampling.seed = self.seed.map(|s| s as u32);
        sampling.ignore_eos = self.ignore_eos;
        // Without a system message, the office's own instructions apply.
        let request = if messages.first().is_some_and(|m| m.role == Role::System) {
            Request {
                messages,
                sampling,
                grammar: None,
            }
        } else {
            let mut request = settings.request(&state.auth.business_name(), messages);
            request.sampling = sampling;
            request
        };
        Ok(request)
    }
}

#[derive(Serialize)]
struct Usage {
    prompt_tokens: usize,
    completion_tokens: usize,
    total_tokens: usize,
}

fn usage(finished: &Finished) -> Usage {
    Usage {
        prompt_tokens: finished.prompt_tokens,
        completion_tokens: finished.completion_tokens,
        total_tokens: finished.prompt_tokens + finished.completion_tokens,
    }
}

fn finish_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop | FinishReason::Cancelled => "stop",
        FinishReason::Length => "length",
    }
}

fn completion_id() -> String {
    format!(
        "chatcmpl-{}",
        crate::auth::token::random_token(18).replace(['-', '_'], "x")
    )
}

/// Whether a client's `model` names the loaded model: its file name as
/// `/v1/models` lists it, or that name without `.gguf` (any case).
fn names_model(requested: &str, serving: &str) -> bool {
    let requested = requested.trim();
    let stem = serving.strip_suffix(".gguf").unwrap_or(serving);
    requested.eq_ignore_ascii_case(serving) || requested.eq_ignore_ascii_case(stem)
}

async fn chat_completions(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(body): Json<CompletionRequest>,
) -> AppResult<Response> {
    let mut model = crate::llm::model_name(&state.chat.engine.config().model_path);
    // Only a loaded model can be named wrongly; while none is, the engine
    // answers "unavailable" below.
    if let (Some(requested), EngineState::Ready { model }) =
        (body.model.as_deref(), state.chat.engine.state())
        && !names_model(requested, &model)
    {
        return Err(AppError::ModelNotFound {
            requested: requested.chars().take(100).collect(),
            serving: model,
        });
    }
    let request = body.to_engine(&state)?;
    let messages = request.messages.clone();
    // With the automatic cloud policy, what the local model cannot answer
    // (not loaded, queue full) goes to the cloud model, redacted, for
    // people allowed to use it; the answer says where it came from.
    let (generation, cloud) = match state.chat.engine.generate(request) {
        Ok(generation) => (generation, None),
        Err(err @ (crate::llm::EngineError::Busy | crate::llm::EngineError::Unavailable(_))) => {
            let settings = state.chat.cloud();
            if settings.policy != crate::cloud::Policy::Auto || !settings.permits(&user.user) {
                return Err(err.into());
            }
            let prepared = super::cloud::prepare_with(
                &state,
                &messages,
                body.max_tokens.unwrap_or(512) as usize,
                body.temperature.unwrap_or(0.7),
            )
            .await?;
            let generation = super::cloud::send(&state, &settings, prepared, &user.user, None);
            model = settings.model.clone();
            (generation, Some(settings.model))
        }
        Err(err) => return Err(err.into()),
    };
    let marking = cloud.as_ref().map(|m| {
        json!({ "source": "cloud", "model": m, "note": format!("answered by {m} in the cloud") })
    });
    let id = completion_id();
    let created = now();

    if !body.stream {
        let Completion { text, finished } = generation.collect().await?;
        let mut answer = json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": finished.model,
            "system_fingerprint": Value::Null,
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": text, "refusal": Value::Null },
                "logprobs": Value::Null,
                "finish_reason": finish_reason(finished.reason),
            }],
            "usage": usage(&finished),
        });
        if let Some(marking) = &marking {
            answer["hearth"] = marking.clone();
        }
        return Ok(Json(answer).into_response());
    }

    let include_usage = body
        .stream_options
        .as_ref()
        .is_some_and(|o| o.include_usage);
    let chunk = move |delta: Value, finish: Option<&str>| {
        let mut chunk = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": Value::Null,
            "choices": [{ "index": 0, "delta": delta, "logprobs": Value::Null, "finish_reason": finish }],
        });
        if let Some(marking) = &marking {
            chunk["hearth"] = marking.clone();
        }
        chunk
    };
    let first = chunk(json!({ "role": "assistant", "content": "" }), None);
    // The stream owns the generation: when the client disconnects, the
    // stream is dropped, and with it the generation, which stops it.
    let events = futures::stream::unfold(Some(generation), move |generation| {
        let chunk = chunk.clone();
        async move {
            let mut generation = generation?;
            loop {
                match generation.events.recv().await? {
                    Event::Text(piece) => {
                        return Some((vec![chunk(json!({ "content": piece }), None)], Some(generation)));
                    }
                    Event::Finished(finished) => {
                        let mut out = vec![chunk(json!({}), Some(finish_reason(finished.reason)))];
                        if include_usage {
                            let mut last = chunk(json!({}), None);
                            last["choices"] = json!([]);
                            last["usage"] = serde_json::to_value(usage(&finished)).unwrap_or_default();
                            out.push(last);
                        }
                        return Some((out, None));
                    }
                    Event::Failed(err) => {
                        let message = AppError::from(err).to_string();
                        return Some((vec![json!({ "error": { "message": message, "type": "server_error", "code": "unavailable" } })], None));
                    }
                    Event::Queued { .. } | Event::Started { .. } => {}
                }
            }
        }
    })
    .flat_map(futures::stream::iter);
    let stream = futures::stream::iter([first])
        .chain(events)
        .map(|value| Ok::<_, Infallible>(SseEvent::default().data(value.to_string())))
        .chain(futures::stream::iter([Ok(
            SseEvent::default().data("[DONE]")
        )]));
    Ok(Sse::new(stream).into_response())
}
