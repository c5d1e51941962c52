//! The chat capability's share of the server's state: the local model's
//! engine, the answers being written now, the assistant's settings (loaded
//! from the database at start, changed on Admin → Assistant) and the cloud
//! model's (Admin → Cloud).

use std::sync::{Arc, RwLock};

use super::Running;
use super::assistant::{self, AssistantSettings};
use crate::cloud::CloudSettings;
use crate::config::Config;
use crate::llm::{Engine, EngineConfig};
use crate::store::{Store, StoreResult};

/// Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct ChatState {
    /// The local model.
    pub engine: Engine,
    /// Answers being written now, so Stop can find them.
    pub running: Arc<Running>,
    assistant: Arc<RwLock<AssistantSettings>>,
    cloud: Arc<RwLock<CloudSettings>>,
}

impl ChatState {
    /// Loads the assistant's settings and chosen model from `store` and
    /// starts the engine with `start` (`Engine::start`, or a test's fake);
    /// without `start` (console commands) the engine stays stopped. A
    /// serving engine first marks answers the last stop interrupted.
    pub async fn load(
        config: &Config,
        store: &Store,
        start: Option<impl FnOnce(EngineConfig) -> Engine>,
    ) -> StoreResult<ChatState> {
        let settings = match store.setting(assistant::SETTING_KEY).await? {
            Some(json) => serde_json::from_str(&json).unwrap_or_else(|err| {
                tracing::warn!(error = %err, "stored assistant settings unreadable; using defaults");
                AssistantSettings::defaults(config)
            }),
            None => AssistantSettings::defaults(config),
        };
        let model_path = match store.setting(assistant::MODEL_SETTING_KEY).await? {
            Some(file) => config.models_dir().join(file),
            None => config.configured_model(),
        };
        let engine_config = settings.engine_config(config, model_path);
        let engine = match start {
            Some(start) => {
                // Answers that were being written when the server last
                // stopped (a crash, a power cut) keep their text and say so.
                match store.interrupt_unfinished_answers().await? {
                    0 => {}
                    n => tracing::warn!(
                        answers = n,
                        "answers interrupted by the last stop are marked"
                    ),
                }
                start(engine_config)
            }
            None => Engine::stopped(engine_config),
        };
        let cloud = match store.setting(crate::cloud::SETTING_KEY).await? {
            Some(json) => serde_json::from_str(&json).unwrap_or_else(|err| {
                // Unreadable settings must not open the door: off.
                tracing::warn!(error = %err, "stored cloud settings unreadable; the cloud model is off");
                CloudSettings::default()
            }),
            None => CloudSettings::default(),
        };
        Ok(ChatState {
            engine,
            running: Arc::new(Running::default()),
            assistant: Arc::new(RwLock::new(settings)),
            cloud: Arc::new(RwLock::new(cloud)),
        })
    }

    /// The assistant's current settings.
    pub fn assistant(&self) -> AssistantSettings {
        self.assistant
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The catalog model recommended for this box (Admin → Models marks
    /// it; the home page's owner checklist names it).
    pub async fn recommended_model(
        &self,
        config: &Config,
    ) -> Option<super::models::catalog::Recommendation> {
        super::models::catalog::recommended(config, self).await
    }

    /// The cloud model's current settings.
    pub fn cloud(&self) -> CloudSettings {
        self.cloud.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_cloud(&self, settings: CloudSettings) {
        *self.cloud.write().unwrap_or_else(|p| p.into_inner()) = settings;
    }

    pub fn set_assistant(&self, settings: AssistantSettings) {
        *self.assistant.write().unwrap_or_else(|p| p.into_inner()) = settings;
    }
}
