//! The engine's ceiling for `hearth bench`: a bare decode loop through
//! llama.cpp on the same model, threads and prompt as the HTTP measurements,
//! with no server, scheduler or channels around it. One sequence, the whole
//! prompt in one batch, greedy sampling, a fixed number of answer tokens.

use std::num::NonZeroU32;
use std::path::Path;
use std::time::{Duration, Instant};

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;

use super::Message;
use super::worker::{backend, tokenize_chat};

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

/// Loads `model` and runs the conversation `runs` times (after one warm-up),
/// generating exactly `tokens` answer tokens each time.
pub fn bare_decode(
    model: &Path,
    threads: u32,
    messages: &[Message],
    tokens: usize,
    runs: usize,
) -> Result<Vec<BareRun>, String> {
    let backend = backend()?;
    let model = LlamaModel::load_from_file(backend, model, &LlamaModelParams::default())
        .map_err(|e| format!("cannot load {}: {e}", model.display()))?;
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(4096))
        .with_n_batch(512)
        .with_n_ubatch(512)
        .with_n_threads(threads as i32)
        .with_n_threads_batch(threads as i32);
    let mut ctx = model
        .new_context(backend, params)
        .map_err(|e| format!("cannot create a context: {e}"))?;
    let template = model
        .chat_template(None)
        .or_else(|_| LlamaChatTemplate::new("chatml"))
        .map_err(|e| e.to_string())?;
    let refs: Vec<&Message> = messages.iter().collect();
    let mut results = Vec::new();
    for run in 0..=runs {
        ctx.clear_kv_cache();
        let started = Instant::now();
        let prompt = tokenize_chat(&model, &template, &refs).map_err(|e| e.to_string())?;
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
        let mut token = sampler.sample(&ctx, batch.n_tokens() - 1);
        let first = Instant::now();
        let time_to_first_token = first.duration_since(started);
        for position in prompt.len()..prompt.len() + tokens.saturating_sub(1) {
            batch.clear();
            batch
                .add(token, position as i32, &[0], true)
                .map_err(|e| e.to_string())?;
            ctx.decode(&mut batch).map_err(|e| e.to_string())?;
            token = sampler.sample(&ctx, 0);
        }
        let generation_time = first.elapsed();
        if run > 0 {
            results.push(BareRun {
                prompt_tokens: prompt.len(),
                prompt_time,
                time_to_first_token,
                generated: tokens,
                generation_time,
            });
        }
    }
    Ok(results)
}
