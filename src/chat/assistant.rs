//! The assistant's settings (Admin → Assistant): system prompt, sampling,
//! answer length, context and parallel chats. Stored as one versioned
//! setting; a change applies to the next answer without a restart (context
//! and parallel chats reload the model once the answers in flight finish).

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::llm::{EngineConfig, Message, Request, Role, Sampling};

/// Setting key under which [`AssistantSettings`] are stored as JSON.
pub const SETTING_KEY: &str = "assistant";
/// Setting key of the active model's file name in the models directory.
pub const MODEL_SETTING_KEY: &str = "llm.model";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct AssistantSettings {
    /// Instructions the model sees before every conversation. `{business}`
    /// is replaced by the business name.
    pub system_prompt: String,
    /// 0 answers the same way every time; higher is more varied (up to 2).
    pub temperature: f32,
    /// Nucleus sampling: only the most likely tokens that together reach this probability.
    pub top_p: f32,
    /// Longest answer, in tokens.
    pub max_answer_tokens: u32,
    /// Tokens of context per conversation.
    pub context_per_chat: u32,
    /// Conversations answered at the same time.
    pub parallel: u32,
}

pub const DEFAULT_SYSTEM_PROMPT: &str = "You are the helpful assistant of {business}. Answer clearly and briefly, in the language of the question. If you do not know something, say so instead of guessing.";

/// Missing fields in stored settings (written by an older Hearth) take the
/// built-in defaults.
impl Default for AssistantSettings {
    fn default() -> Self {
        AssistantSettings::defaults(&Config::default())
    }
}

impl AssistantSettings {
    pub fn defaults(config: &Config) -> Self {
        AssistantSettings {
            system_prompt: DEFAULT_SYSTEM_PROMPT.to_string(),
            temperature: 0.7,
            top_p: 0.9,
            max_answer_tokens: 512,
            context_per_chat: config.llm.context_per_chat,
            parallel: config.llm.parallel,
        }
    }

    /// Why these settings cannot be used, for the admin; `None` if fine.
    pub fn problem(&self) -> Option<String> {
        if self.system_prompt.chars().count() > 8000 {
            return Some("The system prompt is limited to 8,000 characters.".into());
        }
        if !(0.0..=2.0).contains(&self.temperature) {
            return Some("Temperature goes from 0 to 2.".into());
        }
        if !(0.05..=1.0).contains(&self.top_p) {
            return Some("Top-p goes from 0.05 to 1.".into());
        }
        if !(16..=8192).contains(&self.max_answer_tokens) {
            return Some("The longest answer must be between 16 and 8,192 tokens.".into());
        }
        if !(256..=131_072).contains(&self.context_per_chat) {
            return Some("The context must be between 256 and 131,072 tokens per chat.".into());
        }
        if self.max_answer_tokens > self.context_per_chat / 2 {
            return Some("The longest answer may use at most half of the context.".into());
        }
        if !(1..=64).contains(&self.parallel) {
            return Some("Parallel chats go from 1 to 64.".into());
        }
        None
    }

    pub fn sampling(&self) -> Sampling {
        Sampling {
            temperature: self.temperature,
            top_p: self.top_p,
            max_tokens: self.max_answer_tokens,
            ..Sampling::default()
        }
    }

    /// The request for answering `conversation` (oldest first).
    pub fn request(&self, business: &str, conversation: Vec<Message>) -> Request {
        let system = self.system_prompt.replace("{business}", business);
        let mut messages = Vec::with_capacity(conversation.len() + 1);
        if !system.trim().is_empty() {
            messages.push(Message::new(Role::System, system));
        }
        messages.extend(conversation);
        Request {
            messages,
            sampling: self.sampling(),
            grammar: None,
        }
    }

    /// The engine configuration for these settings and `model_path`.
    pub fn engine_config(&self, config: &Config, model_path: std::path::PathBuf) -> EngineConfig {
        let threads = if config.llm.threads == 0 {
            crate::llm::hardware::physical_cores()
        } else {
            config.llm.threads
        };
        EngineConfig {
            fallback_model: Some(config.models_dir().join(crate::config::DEFAULT_MODEL_FILE)),
            model_path,
            threads,
            parallel: self.parallel,
            context_per_chat: self.context_per_chat,
            batch: config.llm.batch,
            max_queue: config.llm.max_queue,
            max_wait: std::time::Duration::from_secs(config.llm.max_wait_secs),
        }
    }
}
