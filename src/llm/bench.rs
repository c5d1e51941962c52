//! The engine's ceiling for `hearth bench`: a bare decode loop through
//! llama.cpp on the same model, threads and prompt as the HTTP measurements,
//! with no server, scheduler or channels around it. One sequence, the whole
//! prompt in one batch, greedy sampling, a fixed number of answer tokens.
//! For the aggregate figures it also runs several conversations at once, one
//! sequence each, every step one batch: llama.cpp's own ceiling for
//! concurrent chats on this machine.
//!
//! The loop lives on its own thread with the model loaded for the whole
//! benchmark, so `hearth bench` can interleave reference runs with HTTP runs:
//! on a shared or thermally throttled machine the speed drifts by 10–20 %
//! over a minute, and only measurements taken side by side compare fairly.
//!
//! Without the `llama` feature there is nothing to measure: [`BareLoop::start`]
//! says so.

use std::time::Duration;

/// One run of the bare loop.
#[derive(Debug, Clone)]
pub struct BareRun {
    pub prompt_tokens: usize,
    /// Evaluating the prompt (one decode of the whole batch).
    pub prompt_time: Duration,
    /// From before templating and tokenizing to the first sampled token.
    pub time_to_first_token: Duration,
    pub generated: usize,
    /// From the first sampled token to the last.
    pub generation_time: Duration,
}

impl BareRun {
    pub fn prompt_tokens_per_second(&self) -> f64 {
        self.prompt_tokens as f64 / self.prompt_time.as_secs_f64().max(1e-9)
    }

    pub fn generation_tokens_per_second(&self) -> f64 {
        self.generated.saturating_sub(1) as f64 / self.generation_time.as_secs_f64().max(1e-9)
    }
}

/// Several conversations run together by the bare loop.
#[derive(Debug, Clone)]
pub struct BareParallelRun {
    /// Answer tokens of all conversations together.
    pub generated: usize,
    /// From before tokenizing to the last token of the last conversation.
    pub total_time: Duration,
}

impl BareParallelRun {
    pub fn tokens_per_second(&self) -> f64 {
        self.generated as f64 / self.total_time.as_secs_f64().max(1e-9)
    }
}

#[cfg(feature = "llama")]
pub use with_llama::BareLoop;

/// A build without llama.cpp has no bare loop to measure.
#[cfg(not(feature = "llama"))]
pub struct BareLoop {
    never: std::convert::Infallible,
}

#[cfg(not(feature = "llama"))]
impl BareLoop {
    pub fn start(_model: &std::path::Path, _threads: u32) -> Result<BareLoop, String> {
        Err(super::WITHOUT_LLAMA.into())
    }

    pub fn run(&self, _messages: &[super::Message], _tokens: usize) -> Result<BareRun, String> {
        match self.never {}
    }

    pub fn run_together(
        &self,
        _conversations: Vec<Vec<super::Message>>,
        _tokens: usize,
    ) -> Result<BareParallelRun, String> {
        match self.never {}
    }
}

#[cfg(feature = "llama")]
mod with_llama {
    use std::num::NonZeroU32;
    use std::path::{Path, PathBuf};
    use std::sync::mpsc;
    use std::time::Instant;

    use llama_cpp_2::context::LlamaContext;
    use llama_cpp_2::context::params::LlamaContextParams;
    use llama_cpp_2::llama_batch::LlamaBatch;
    use llama_cpp_2::model::params::LlamaModelParams;
    use llama_cpp_2::model::{LlamaChatTemplate, LlamaModel};
    use llama_cpp_2::sampling::LlamaSampler;

    use super::super::llama::{backend, tokenize_chat};
    use super::super::{Message, Role};
    use super::{BareParallelRun, BareRun};

    enum RunRequest {
        One(Vec<Message>, usize, mpsc::Sender<Result<BareRun, String>>),
        Together(
            Vec<Vec<Message>>,
            usize,
            mpsc::Sender<Result<BareParallelRun, String>>,
        ),
    }

    /// A model loaded on its own thread, ready to run the bare loop on request.
    pub struct BareLoop {
        requests: mpsc::Sender<RunRequest>,
    }

    impl BareLoop {
        /// Loads `model` with `threads` threads; returns once it is loaded and
        /// warmed up (one short run), or the reason it could not be.
        pub fn start(model: &Path, threads: u32) -> Result<BareLoop, String> {
            let (requests, receiver) = mpsc::channel::<RunRequest>();
            let (ready, loaded) = mpsc::channel();
            let model = model.to_path_buf();
            std::thread::Builder::new()
                .name("hearth-bench-bare".into())
                .spawn(move || serve(model, threads, receiver, ready))
                .map_err(|e| format!("cannot start the reference thread: {e}"))?;
            loaded
                .recv()
                .map_err(|_| "the reference thread ended while loading".to_string())??;
            Ok(BareLoop { requests })
        }

        /// Evaluates the conversation from an empty cache and generates exactly
        /// `tokens` answer tokens. Blocking.
        pub fn run(&self, messages: &[Message], tokens: usize) -> Result<BareRun, String> {
            let (reply, result) = mpsc::channel();
            self.send(RunRequest::One(messages.to_vec(), tokens, reply))?;
            result
                .recv()
                .map_err(|_| "the reference thread has ended".to_string())?
        }

        /// Runs the conversations together from an empty cache, one sequence
        /// each, all prompts in the first batch and then one token of every
        /// conversation per step, `tokens` answer tokens each. Blocking.
        pub fn run_together(
            &self,
            conversations: Vec<Vec<Message>>,
            tokens: usize,
        ) -> Result<BareParallelRun, String> {
            let (reply, result) = mpsc::channel();
            self.send(RunRequest::Together(conversations, tokens, reply))?;
            result
                .recv()
                .map_err(|_| "the reference thread has ended".to_string())?
        }

        fn send(&self, request: RunRequest) -> Result<(), String> {
            self.requests
                .send(request)
                .map_err(|_| "the reference thread has ended".to_string())
        }
    }

    fn serve(
        path: PathBuf,
        threads: u32,
        requests: mpsc::Receiver<RunRequest>,
        ready: mpsc::Sender<Result<(), String>>,
    ) {
        let loaded = (|| {
            let backend = backend()?;
            let model = LlamaModel::load_from_file(backend, &path, &LlamaModelParams::default())
                .map_err(|e| format!("cannot load {}: {e}", path.display()))?;
            let template = model
                .chat_template(None)
                .or_else(|_| LlamaChatTemplate::new("chatml"))
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((model, template))
        })();
        let (model, template) = match loaded {
            Ok(loaded) => loaded,
            Err(err) => {
                let _ = ready.send(Err(err));
                return;
            }
        };
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(4096))
            .with_n_batch(512)
            .with_n_ubatch(512)
            .with_n_threads(threads as i32)
            .with_n_threads_batch(threads as i32);
        let mut ctx = match backend().and_then(|b| {
            model
                .new_context(b, params)
                .map_err(|e| format!("cannot create a context: {e}"))
        }) {
            Ok(ctx) => ctx,
            Err(err) => {
                let _ = ready.send(Err(err));
                return;
            }
        };
        let warm_up = [Message::new(Role::User, "Hello")];
        if let Err(err) = run_once(&model, &template, &mut ctx, &warm_up, 8) {
            let _ = ready.send(Err(err));
            return;
        }
        let _ = ready.send(Ok(()));
        for request in requests {
            match request {
                RunRequest::One(messages, tokens, reply) => {
                    let _ = reply.send(run_once(&model, &template, &mut ctx, &messages, tokens));
                }
                RunRequest::Together(conversations, tokens, reply) => {
                    let _ = reply.send(run_together(
                        &model,
                        &template,
                        threads,
                        &conversations,
                        tokens,
                    ));
                }
            }
        }
    }

    /// The context for [`run_together`]: one KV stream per conversation, as the
    /// engine has, so the figures compare like with like. Created outside the
    /// timed part.
    fn run_together(
        model: &LlamaModel,
        template: &LlamaChatTemplate,
        threads: u32,
        conversations: &[Vec<Message>],
        tokens: usize,
    ) -> Result<BareParallelRun, String> {
        let n = conversations.len().max(1) as u32;
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(4096 * n))
            .with_n_batch(4096)
            .with_n_ubatch(512)
            .with_n_seq_max(n)
            .with_kv_unified(false)
            .with_n_threads(threads as i32)
            .with_n_threads_batch(threads as i32);
        let mut ctx = model
            .new_context(backend()?, params)
            .map_err(|e| format!("cannot create a context: {e}"))?;
        let started = Instant::now();
        let mut prompts = Vec::new();
        for messages in conversations {
            let refs: Vec<&Message> = messages.iter().collect();
            prompts.push(tokenize_chat(model, template, &[], &refs).map_err(|e| e.to_string())?);
        }
        let total: usize = prompts.iter().map(Vec::len).sum();
        let mut batch = LlamaBatch::new(total.max(conversations.len()), 1);
        let mut logits = Vec::new();
        for (seq, prompt) in prompts.iter().enumerate() {
            for (i, token) in prompt.iter().enumerate() {
                let last = i + 1 == prompt.len();
                if last {
                    logits.push(batch.n_tokens());
                }
                batch
                    .add(*token, i as i32, &[seq as i32], last)
                    .map_err(|e| e.to_string())?;
            }
        }
        ctx.decode(&mut batch).map_err(|e| e.to_string())?;
        let mut sampler = LlamaSampler::greedy();
        let mut next: Vec<_> = logits.iter().map(|&i| sampler.sample(&ctx, i)).collect();
        for step in 0..tokens.saturating_sub(1) {
            batch.clear();
            for (seq, token) in next.iter().enumerate() {
                let position = (prompts[seq].len() + step) as i32;
                batch
                    .add(*token, position, &[seq as i32], true)
                    .map_err(|e| e.to_string())?;
            }
            ctx.decode(&mut batch).map_err(|e| e.to_string())?;
            for (seq, token) in next.iter_mut().enumerate() {
                *token = sampler.sample(&ctx, seq as i32);
            }
        }
        Ok(BareParallelRun {
            generated: tokens * conversations.len(),
            total_time: started.elapsed(),
        })
    }

    fn run_once(
        model: &LlamaModel,
        template: &LlamaChatTemplate,
        ctx: &mut LlamaContext<'_>,
        messages: &[Message],
        tokens: usize,
    ) -> Result<BareRun, String> {
        ctx.clear_kv_cache();
        let refs: Vec<&Message> = messages.iter().collect();
        let started = Instant::now();
        let prompt = tokenize_chat(model, template, &[], &refs).map_err(|e| e.to_string())?;
        let mut batch = LlamaBatch::new(prompt.len().max(1), 1);
        for (i, token) in prompt.iter().enumerate() {
            batch
                .add(*token, i as i32, &[0], i + 1 == prompt.len())
                .map_err(|e| e.to_string())?;
        }
        let prompt_start = Instant::now();
        ctx.decode(&mut batch).map_err(|e| e.to_string())?;
        let prompt_time = prompt_start.elapsed();
        let mut sampler = LlamaSampler::greedy();
        let mut token = sampler.sample(ctx, batch.n_tokens() - 1);
        let first = Instant::now();
        let time_to_first_token = first.duration_since(started);
        for position in prompt.len()..prompt.len() + tokens.saturating_sub(1) {
            batch.clear();
            batch
                .add(token, position as i32, &[0], true)
                .map_err(|e| e.to_string())?;
            ctx.decode(&mut batch).map_err(|e| e.to_string())?;
            token = sampler.sample(ctx, 0);
        }
        Ok(BareRun {
            prompt_tokens: prompt.len(),
            prompt_time,
            time_to_first_token,
            generated: tokens,
            generation_time: first.elapsed(),
        })
    }
}
