//! The `hearth-llm` thread: loads the chosen model (or the default one when
//! the chosen one cannot load), serves it with the [`Scheduler`] until a
//! reload or shutdown, and answers "unavailable" while no model is loaded.
//!
//! What a model is, is up to a [`Runtime`]: llama.cpp ([`super::llama`],
//! with the `llama` feature), a script ([`super::fake`], for tests), or
//! nothing at all in a build without llama.cpp, which still checks the
//! model file so the admin pages say what is wrong with it.
//!
//! [`Scheduler`]: super::scheduler::Scheduler

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;

use super::{
    Command, EngineConfig, EngineError, EngineState, Event, Job, Shared, gguf, hardware, model_name,
};

/// What ends serving one model.
pub(super) enum Next {
    Reconfigure(EngineConfig),
    Shutdown,
}

/// How the worker loads and serves models.
pub(super) trait Runtime: Send + 'static {
    type Model;
    /// Loads the model `config` names. Every failure is a sentence for the admin.
    fn load(&self, config: &EngineConfig) -> Result<Self::Model, String>;
    /// Serves `model` until a reload or shutdown. An error means the model
    /// stopped working; it is reported and no model answers until the next
    /// reload.
    fn serve(
        &self,
        model: &Self::Model,
        config: &EngineConfig,
        commands: &Receiver<Command>,
        shared: &Shared,
        waiting: &mut VecDeque<Box<Job>>,
    ) -> Result<Next, String>;
}

pub(super) fn run<R: Runtime>(
    runtime: R,
    mut config: EngineConfig,
    commands: Receiver<Command>,
    shared: Arc<Shared>,
) {
    let mut waiting: VecDeque<Box<Job>> = VecDeque::new();
    loop {
        // The chosen model, then the fallback if the chosen one cannot load.
        let mut candidates = vec![config.model_path.clone()];
        if let Some(fallback) = &config.fallback_model
            && *fallback != config.model_path
            && fallback.exists()
        {
            candidates.push(fallback.clone());
        }
        let mut failure: Option<String> = None;
        let mut outcome = None;
        for path in candidates {
            let attempt = EngineConfig {
                model_path: path,
                ..config.clone()
            };
            *shared.config.lock().unwrap_or_else(|p| p.into_inner()) = attempt.clone();
            let name = model_name(&attempt.model_path);
            shared.set_state(EngineState::Loading {
                model: name.clone(),
            });
            match runtime.load(&attempt) {
                Ok(model) => {
                    *shared.notice.lock().unwrap_or_else(|p| p.into_inner()) = failure
                        .take()
                        .map(|why| format!("{why}; the default model {name} answers instead"));
                    *shared.incident.lock().unwrap_or_else(|p| p.into_inner()) = None;
                    shared.set_state(EngineState::Ready {
                        model: name.clone(),
                    });
                    tracing::info!(
                        model = name,
                        threads = attempt.threads,
                        parallel = attempt.parallel,
                        "model loaded"
                    );
                    let served = runtime.serve(&model, &attempt, &commands, &shared, &mut waiting);
                    drop(model);
                    outcome = Some(match served {
                        Ok(next) => next,
                        Err(error) => {
                            tracing::error!(model = name, error, "the model stopped working");
                            shared.set_state(EngineState::Failed {
                                model: name.clone(),
                                error,
                            });
                            fail_until_reconfigured(&commands, &shared, &mut waiting)
                        }
                    });
                    break;
                }
                Err(error) => {
                    tracing::warn!(model = name, error, "model not loaded");
                    failure.get_or_insert(error);
                }
            }
        }
        let next = match outcome {
            Some(next) => next,
            None => {
                *shared.config.lock().unwrap_or_else(|p| p.into_inner()) = config.clone();
                *shared.notice.lock().unwrap_or_else(|p| p.into_inner()) = None;
                shared.set_state(EngineState::Failed {
                    model: model_name(&config.model_path),
                    error: failure.unwrap_or_else(|| "no model could be loaded".into()),
                });
                fail_until_reconfigured(&commands, &shared, &mut waiting)
            }
        };
        match next {
            Next::Reconfigure(new) => config = new,
            Next::Shutdown => {
                for job in waiting.drain(..) {
                    shared.waiting.fetch_sub(1, Ordering::AcqRel);
                    let _ = job.events.send(Event::Failed(EngineError::Unavailable(
                        "the server is shutting down".into(),
                    )));
                }
                shared.set_state(EngineState::Stopped);
                return;
            }
        }
    }
}

/// Checks the model file before llama.cpp sees it: that it exists, has a
/// GGUF header that makes sense, and fits in the free memory.
pub(super) fn check_model_file(config: &EngineConfig) -> Result<(), String> {
    let path = &config.model_path;
    if !path.exists() {
        return Err(format!("the model file {} does not exist", path.display()));
    }
    let info = gguf::inspect(path).map_err(|e| format!("{}: {e}", model_name(path)))?;
    if let Some(available) = hardware::available_memory() {
        // The weights are memory-mapped; they must fit next to everything else.
        if info.file_size > available {
            return Err(format!(
                "the model needs about {} of memory but only {} is free",
                hardware::format_bytes(info.file_size),
                hardware::format_bytes(available)
            ));
        }
    }
    Ok(())
}

/// Answers every request with "unavailable" until someone loads another model.
fn fail_until_reconfigured(
    commands: &Receiver<Command>,
    shared: &Shared,
    waiting: &mut VecDeque<Box<Job>>,
) -> Next {
    let message = match shared.state() {
        EngineState::Failed { error, .. } => error,
        _ => "no model is loaded".to_string(),
    };
    for job in waiting.drain(..) {
        shared.waiting.fetch_sub(1, Ordering::AcqRel);
        let _ = job
            .events
            .send(Event::Failed(EngineError::Unavailable(message.clone())));
    }
    loop {
        match commands.recv() {
            Ok(Command::Generate(job)) => {
                shared.waiting.fetch_sub(1, Ordering::AcqRel);
                let _ = job
                    .events
                    .send(Event::Failed(EngineError::Unavailable(message.clone())));
            }
            Ok(Command::Cancel(_)) => {}
            Ok(Command::Reconfigure(config)) => return Next::Reconfigure(config),
            Ok(Command::Shutdown) | Err(_) => return Next::Shutdown,
        }
    }
}

/// The runtime of a build without llama.cpp: model files are still checked,
/// so the admin pages say what is wrong with one, but none is ever loaded.
#[cfg(not(feature = "llama"))]
pub(super) struct WithoutLlama;

#[cfg(not(feature = "llama"))]
impl Runtime for WithoutLlama {
    type Model = std::convert::Infallible;

    fn load(&self, config: &EngineConfig) -> Result<Self::Model, String> {
        check_model_file(config)?;
        Err(super::WITHOUT_LLAMA.into())
    }

    fn serve(
        &self,
        model: &Self::Model,
        _: &EngineConfig,
        _: &Receiver<Command>,
        _: &Shared,
        _: &mut VecDeque<Box<Job>>,
    ) -> Result<Next, String> {
        match *model {}
    }
}
