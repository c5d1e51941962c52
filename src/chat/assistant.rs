//! The assistant's settings (Admin → Assistant): system prompt, sampling,
//! answer length, context and parallel chats. Stored as one versioned
//! setting; a change applies to the next answer without a restart (context
//! and parallel chats reload the model once the answers in flight finish).
//!
//! Owners choose sampling by [`Preset`] (Precise, Balanced, Creative), whose
//! numbers are defined here and nowhere else; settings whose numbers match
//! no preset are "Custom". Each field's label, allowed range and help for
//! owners live in [`Field`], so the form, its help and its errors agree.

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
    /// The factory settings: what a new box uses, and what "Restore
    /// factory settings" goes back to.
    pub fn defaults(config: &Config) -> Self {
        let balanced = Preset::Balanced.sampling();
        AssistantSettings {
            system_prompt: DEFAULT_SYSTEM_PROMPT.to_string(),
            temperature: balanced.temperature,
            top_p: balanced.top_p,
            max_answer_tokens: 512,
            context_per_chat: config.llm.context_per_chat,
            parallel: config.llm.parallel,
        }
    }

    /// Why these settings cannot be used, naming the field and what it
    /// allows; `None` if fine.
    pub fn problem(&self) -> Option<Problem> {
        let prompt_chars = self.system_prompt.chars().count() as f64;
        let numbers = [
            (Field::SystemPrompt, prompt_chars),
            (Field::Temperature, f64::from(self.temperature)),
            (Field::TopP, f64::from(self.top_p)),
            (Field::MaxAnswerTokens, f64::from(self.max_answer_tokens)),
            (Field::ContextPerChat, f64::from(self.context_per_chat)),
            (Field::Parallel, f64::from(self.parallel)),
        ];
        for (field, value) in numbers {
            let (min, max) = field.allowed();
            if !(min..=max).contains(&value) {
                return Some(Problem::out_of_range(field));
            }
        }
        if self.max_answer_tokens > self.context_per_chat / 2 {
            return Some(Problem {
                field: Field::MaxAnswerTokens,
                message: format!(
                    "Longest answer may use at most half of the context: up to {} tokens with {} tokens of context per chat.",
                    number(f64::from(self.context_per_chat / 2)),
                    number(f64::from(self.context_per_chat)),
                ),
            });
        }
        None
    }

    /// The preset these settings' sampling matches, or `None` for custom
    /// numbers.
    pub fn preset(&self) -> Option<Preset> {
        Preset::ALL
            .into_iter()
            .find(|preset| preset.sampling().matches(self.temperature, self.top_p))
    }

    /// These settings with `preset`'s sampling; everything else stays.
    pub fn with_preset(self, preset: Preset) -> Self {
        let sampling = preset.sampling();
        AssistantSettings {
            temperature: sampling.temperature,
            top_p: sampling.top_p,
            ..self
        }
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

/// A named choice of sampling for people who do not think in temperatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    Precise,
    Balanced,
    Creative,
}

/// The sampling numbers behind a preset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PresetSampling {
    pub temperature: f32,
    pub top_p: f32,
}

impl PresetSampling {
    /// Whether `temperature` and `top_p` are this preset's. Numbers typed in
    /// a form ("0.20") or read back from JSON are the same `f32`, but a
    /// small tolerance keeps "matches" robust to any other rounding.
    fn matches(&self, temperature: f32, top_p: f32) -> bool {
        (self.temperature - temperature).abs() < 1e-4 && (self.top_p - top_p).abs() < 1e-4
    }
}

impl Preset {
    pub const ALL: [Preset; 3] = [Preset::Precise, Preset::Balanced, Preset::Creative];

    /// The one definition of each preset's numbers. Balanced is what a new
    /// box uses. Precise keeps to the likeliest words (low temperature, a
    /// narrower top-p), so the same question gets the same, sober answer;
    /// Creative lets less likely words through, for drafts and ideas, while
    /// staying well below the range where answers turn incoherent.
    pub fn sampling(self) -> PresetSampling {
        match self {
            Preset::Precise => PresetSampling {
                temperature: 0.2,
                top_p: 0.8,
            },
            Preset::Balanced => PresetSampling {
                temperature: 0.7,
                top_p: 0.9,
            },
            Preset::Creative => PresetSampling {
                temperature: 1.0,
                top_p: 0.95,
            },
        }
    }

    /// The form's value for this preset.
    pub fn key(self) -> &'static str {
        match self {
            Preset::Precise => "precise",
            Preset::Balanced => "balanced",
            Preset::Creative => "creative",
        }
    }

    pub fn from_key(key: &str) -> Option<Preset> {
        Preset::ALL.into_iter().find(|preset| preset.key() == key)
    }

    pub fn label(self) -> &'static str {
        match self {
            Preset::Precise => "Precise",
            Preset::Balanced => "Balanced",
            Preset::Creative => "Creative",
        }
    }

    /// One plain sentence: what answers are like, and what it is good for.
    pub fn description(self) -> &'static str {
        match self {
            Preset::Precise => {
                "Sticks to facts and the documents, and answers the same way each time; best for policies, numbers and letters."
            }
            Preset::Balanced => {
                "Clear answers with some variety in the wording; a good default for everyday questions."
            }
            Preset::Creative => {
                "More varied and imaginative wording; best for drafting ideas, slogans and social media posts, less for facts."
            }
        }
    }
}

/// The label of `preset` as the form and the history show it.
pub fn preset_label(preset: Option<Preset>) -> &'static str {
    preset.map_or("Custom", Preset::label)
}

/// One setting on Admin → Assistant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    SystemPrompt,
    Temperature,
    TopP,
    MaxAnswerTokens,
    ContextPerChat,
    Parallel,
}

impl Field {
    /// The numeric fields, in the form's order.
    pub const NUMBERS: [Field; 5] = [
        Field::Temperature,
        Field::TopP,
        Field::MaxAnswerTokens,
        Field::ContextPerChat,
        Field::Parallel,
    ];

    /// The form field's name (also the JSON key in the API).
    pub fn name(self) -> &'static str {
        match self {
            Field::SystemPrompt => "system_prompt",
            Field::Temperature => "temperature",
            Field::TopP => "top_p",
            Field::MaxAnswerTokens => "max_answer_tokens",
            Field::ContextPerChat => "context_per_chat",
            Field::Parallel => "parallel",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Field::SystemPrompt => "System prompt",
            Field::Temperature => "Temperature",
            Field::TopP => "Top-p",
            Field::MaxAnswerTokens => "Longest answer",
            Field::ContextPerChat => "Context per chat",
            Field::Parallel => "Chats answered at once",
        }
    }

    /// What the numbers count, after them; empty for plain numbers.
    pub fn unit(self) -> &'static str {
        match self {
            Field::SystemPrompt => " characters",
            Field::MaxAnswerTokens | Field::ContextPerChat => " tokens",
            Field::Temperature | Field::TopP | Field::Parallel => "",
        }
    }

    /// The smallest and largest value the assistant accepts (for the
    /// system prompt: its length in characters).
    pub fn allowed(self) -> (f64, f64) {
        match self {
            Field::SystemPrompt => (0.0, 8000.0),
            Field::Temperature => (0.0, 2.0),
            Field::TopP => (0.05, 1.0),
            Field::MaxAnswerTokens => (16.0, 8192.0),
            Field::ContextPerChat => (256.0, 131_072.0),
            Field::Parallel => (1.0, 64.0),
        }
    }

    /// The form's `step`: how finely the number can be set.
    pub fn step(self) -> &'static str {
        match self {
            Field::Temperature | Field::TopP => "0.05",
            Field::ContextPerChat => "256",
            Field::SystemPrompt | Field::MaxAnswerTokens | Field::Parallel => "1",
        }
    }

    /// The allowed range in words: "0 to 2", "16 to 8,192 tokens".
    pub fn allowed_range(self) -> String {
        let (min, max) = self.allowed();
        match self {
            Field::SystemPrompt => format!("up to {}{}", number(max), self.unit()),
            _ => format!("{} to {}{}", number(min), number(max), self.unit()),
        }
    }

    /// What it does and when to change it, for someone who has never heard
    /// of sampling.
    pub fn help(self) -> &'static str {
        match self {
            Field::SystemPrompt => {
                "What the assistant is told before every conversation: its role, tone and house rules. {business} becomes the business name. Change it to add rules such as \"always answer in German\" or \"sign letters with the office name\"; keep it short, because it is read before every answer."
            }
            Field::Temperature => {
                "How adventurous the wording is. Low values give the same careful answer every time; high values vary more and make things up more often. Lower it if answers invent facts; raise it for drafting ideas."
            }
            Field::TopP => {
                "How many alternative words the assistant considers at each step: 0.9 keeps only the likeliest words that together make up 90%. Rarely needs changing; lower it together with the temperature for stricter answers."
            }
            Field::MaxAnswerTokens => {
                "The most an answer may run, in tokens (a token is about three quarters of a word). An answer that reaches it stops mid-sentence: raise it if long letters get cut off. It may use at most half of the context."
            }
            Field::ContextPerChat => {
                "How much of a conversation, and of the documents an answer draws on, the assistant reads at once. More remembers longer conversations but needs more memory. Changing it reloads the model."
            }
            Field::Parallel => {
                "How many people the assistant answers at the same time; others wait their turn. Each one needs its own context in memory, and on a small box each answer gets slower. Changing it reloads the model."
            }
        }
    }

    /// The range that works well on an office box, in words.
    pub fn safe_range(self) -> &'static str {
        match self {
            Field::SystemPrompt => "a few sentences, up to about 2,000 characters",
            Field::Temperature => "0.1 to 1",
            Field::TopP => "0.8 to 1",
            Field::MaxAnswerTokens => "256 to 2,048 tokens",
            Field::ContextPerChat => "2,048 to 8,192 tokens",
            Field::Parallel => "1 to 4",
        }
    }
}

/// Why settings cannot be used: the field, and a sentence naming it and
/// what it allows.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub field: Field,
    pub message: String,
}

impl Problem {
    pub fn out_of_range(field: Field) -> Problem {
        let message = match field {
            Field::SystemPrompt => format!(
                "System prompt is limited to {} characters.",
                number(field.allowed().1)
            ),
            _ => format!(
                "{} must be between {}.",
                field.label(),
                field.allowed_range().replacen(" to ", " and ", 1)
            ),
        };
        Problem { field, message }
    }

    pub fn not_a_number(field: Field) -> Problem {
        Problem {
            field,
            message: format!(
                "{} must be a number from {}.",
                field.label(),
                field.allowed_range()
            ),
        }
    }
}

/// `n` as people write it: no needless decimals, thousands separated by
/// commas ("0.05", "2", "131,072").
pub fn number(n: f64) -> String {
    if n.fract() != 0.0 || n.abs() < 1000.0 {
        // Through f32, so 0.7 reads "0.7" and not "0.699999988079071".
        return format!("{}", n as f32);
    }
    let digits = format!("{}", n.abs() as u64);
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if n < 0.0 {
        format!("-{grouped}")
    } else {
        grouped
    }
}
