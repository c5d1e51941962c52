//! llama.cpp behind the scheduler's [`Backend`]: loading a GGUF model, one
//! context with a KV stream per slot, the chat template, tokenizing with
//! control-token text defused, and the sampler chain. Compiled with the
//! `llama` cargo feature (on by default); with [`super::bench`], the only
//! code that calls llama.cpp.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::OnceLock;
use std::sync::mpsc::Receiver;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use super::policy::defuse_specials;
use super::scheduler::{Backend, BatchEntry, Scheduler, batch_size};
use super::worker::{Next, Runtime, check_model_file};
use super::{
    Command, EngineConfig, EngineError, Job, Message, Request, Sampling, Shared, model_name,
};

/// llama.cpp's backend may be initialised once per process.
static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();

pub(super) fn backend() -> Result<&'static LlamaBackend, String> {
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(
                llama_cpp_2::LogOptions::default().with_logs_enabled(
                    tracing::enabled!(target: "llama_cpp", tracing::Level::DEBUG),
                ),
            );
            LlamaBackend::init().map_err(|e| format!("cannot start llama.cpp: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Models loaded and served through llama.cpp.
pub(super) struct Llama;

impl Runtime for Llama {
    type Model = LlamaModel;

    /// Checks the file, then loads it.
    fn load(&self, config: &EngineConfig) -> Result<LlamaModel, String> {
        check_model_file(config)?;
        let path = &config.model_path;
        let params = LlamaModelParams::default();
        LlamaModel::load_from_file(backend()?, path, &params)
            .map_err(|e| format!("llama.cpp could not load {}: {e}", model_name(path)))
    }

    fn serve(
        &self,
        model: &LlamaModel,
        config: &EngineConfig,
        commands: &Receiver<Command>,
        shared: &Shared,
        waiting: &mut VecDeque<Box<Job>>,
    ) -> Result<Next, String> {
        let context = Context::new(model, config)?;
        Scheduler::new(context, config, shared, waiting).run(commands)
    }
}

/// A loaded model with its context: what the scheduler runs on.
struct Context<'m> {
    model: &'m LlamaModel,
    params: LlamaContextParams,
    /// Always there, except while [`Backend::reset`] makes a new one (the
    /// old one goes first: a context can take gigabytes).
    ctx: Option<LlamaContext<'m>>,
    batch: LlamaBatch<'static>,
    template: LlamaChatTemplate,
    specials: Vec<String>,
}

impl<'m> Context<'m> {
    fn new(model: &'m LlamaModel, config: &EngineConfig) -> Result<Self, String> {
        let parallel = config.parallel.max(1);
        let n_ctx = config.context_per_chat.saturating_mul(parallel);
        let batch_size = batch_size(config) as u32;
        let threads = config.threads.max(1) as i32;
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_ctx))
            .with_n_batch(batch_size)
            .with_n_ubatch(batch_size.min(512))
            .with_n_seq_max(parallel)
            // One KV stream per slot. A unified cache would make prefix sharing
            // free, but its cells scatter over the whole cache as conversations
            // come and go, and every step then attends over all of it (measured:
            // 12x slower prompts after a few hundred requests). Separate streams
            // bound each step's work by the slots' own lengths.
            .with_kv_unified(false)
            .with_n_threads(threads)
            .with_n_threads_batch(threads)
            .with_no_perf(false);
        let ctx = new_context(model, &params)?;
        let template = model
            .chat_template(None)
            .or_else(|_| LlamaChatTemplate::new("chatml"))
            .map_err(|e| format!("no usable chat template: {e}"))?;
        Ok(Context {
            model,
            params,
            ctx: Some(ctx),
            batch: LlamaBatch::new(batch_size as usize, 1),
            template,
            specials: control_texts(model),
        })
    }

    fn ctx(&mut self) -> &mut LlamaContext<'m> {
        self.ctx
            .as_mut()
            .expect("a context exists outside Backend::reset")
    }
}

fn new_context<'m>(
    model: &'m LlamaModel,
    params: &LlamaContextParams,
) -> Result<LlamaContext<'m>, String> {
    let n_ctx = params.n_ctx().map_or(0, NonZeroU32::get);
    model
        .new_context(backend()?, params.clone())
        .map_err(|e| format!("cannot create a context of {n_ctx} tokens: {e}"))
}

impl Backend for Context<'_> {
    type Token = LlamaToken;
    type Sampler = LlamaSampler;

    fn tokenize(&mut self, messages: &[&Message]) -> Result<Vec<LlamaToken>, EngineError> {
        tokenize_chat(self.model, &self.template, &self.specials, messages)
    }

    fn sampler(&mut self, request: &Request) -> LlamaSampler {
        sampler(&request.sampling, self.model.n_vocab())
    }

    fn clear_sequence(&mut self, seq: i32, from: Option<usize>) -> bool {
        let from = from.map(|p| p as u32);
        self.ctx()
            .clear_kv_cache_seq(Some(seq as u32), from, None)
            .unwrap_or(false)
    }

    fn copy_sequence(&mut self, from: i32, to: i32) {
        let _ = self.ctx().copy_kv_cache_seq(from, to, None, None);
    }

    fn decode(&mut self, batch: &[BatchEntry<LlamaToken>]) -> Result<(), String> {
        self.batch.clear();
        for entry in batch {
            self.batch
                .add(
                    entry.token,
                    entry.position as i32,
                    &[entry.seq],
                    entry.logits,
                )
                .map_err(|e| format!("batch full: {e}"))?;
        }
        let ctx = self
            .ctx
            .as_mut()
            .expect("a context exists outside Backend::reset");
        ctx.decode(&mut self.batch).map_err(|e| e.to_string())
    }

    fn sample(&mut self, sampler: &mut LlamaSampler, index: usize) -> LlamaToken {
        sampler.sample(self.ctx(), index as i32)
    }

    fn is_end(&self, token: LlamaToken) -> bool {
        self.model.vocab().is_eog(token)
    }

    fn piece(&self, token: LlamaToken) -> Vec<u8> {
        self.model.vocab().token_to_piece(token, false, None)
    }

    fn reset(&mut self) -> Result<(), String> {
        self.ctx = None;
        self.ctx = Some(new_context(self.model, &self.params)?);
        Ok(())
    }
}

pub(super) fn tokenize_chat(
    model: &LlamaModel,
    template: &LlamaChatTemplate,
    specials: &[String],
    messages: &[&Message],
) -> Result<Vec<LlamaToken>, EngineError> {
    let chat: Vec<LlamaChatMessage> = messages
        .iter()
        .map(|m| {
            LlamaChatMessage::new(
                m.role.as_str().to_string(),
                defuse_specials(&m.content.replace('\0', ""), specials),
            )
        })
        .collect::<Result<_, _>>()
        .map_err(|e| EngineError::Failed(format!("message not usable: {e}")))?;
    let text = model
        .apply_chat_template(template, &chat, true)
        .map_err(|e| EngineError::Failed(format!("the chat template failed: {e}")))?;
    let vocab = model.vocab();
    Ok(vocab.tokenize(text.as_bytes(), vocab.should_add_bos(), true))
}

/// The text of the model's control tokens (`<|im_start|>`, `</s>`,
/// `<start_of_turn>`, ...), longest first, for [`defuse_specials`].
fn control_texts(model: &LlamaModel) -> Vec<String> {
    let vocab = model.vocab();
    let mut texts: Vec<String> = vocab
        .tokens()
        .filter(|t| vocab.is_control(*t))
        .filter_map(|t| String::from_utf8(vocab.token_to_piece(t, true, None)).ok())
        .filter(|text| text.chars().count() >= 2)
        .collect();
    // Longest first, so a marker that contains another is defused whole.
    texts.sort_by_key(|t| std::cmp::Reverse(t.len()));
    texts.dedup();
    texts
}

/// The sampler chain for these settings: penalties, then top-k, top-p and
/// min-p, then temperature and a random draw; greedy at temperature 0.
fn sampler(sampling: &Sampling, n_vocab: i32) -> LlamaSampler {
    let penalties =
        LlamaSampler::penalties(n_vocab, 64, sampling.repeat_penalty.max(0.01), 0.0, 0.0);
    if sampling.temperature <= 0.0 {
        return LlamaSampler::chain_simple([penalties, LlamaSampler::greedy()]);
    }
    let seed = sampling.seed.unwrap_or_else(rand_seed);
    LlamaSampler::chain_simple([
        penalties,
        LlamaSampler::top_k(sampling.top_k.max(1)),
        LlamaSampler::top_p(sampling.top_p.clamp(0.01, 1.0), 1),
        LlamaSampler::min_p(sampling.min_p.clamp(0.0, 1.0), 1),
        LlamaSampler::temp(sampling.temperature),
        LlamaSampler::dist(seed),
    ])
}

fn rand_seed() -> u32 {
    let mut bytes = [0u8; 4];
    let _ = getrandom::fill(&mut bytes);
    u32::from_le_bytes(bytes)
}
