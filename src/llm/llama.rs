//! llama.cpp behind the scheduler's [`Backend`]: loading a GGUF model, one
//! context with a KV stream per slot, the chat template, tokenizing with
//! control-token text defused, picking tokens ([`Picker`]), and answers
//! constrained by a grammar ([`Constraint`]). Compiled with the `llama` cargo
//! feature (on by default); with [`super::bench`], the only code that calls
//! llama.cpp.

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
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;

use super::pick::{self, Recent};
use super::policy::defuse_specials;
use super::scheduler::{Backend, BatchEntry, Sampled, Scheduler, batch_size};
use super::worker::{Next, Runtime, check_model_file};
use super::{
    Command, EngineConfig, EngineError, Job, Message, Request, Role, Sampling, Shared, model_name,
};

/// llama.cpp's backend may be initialised once per process.
static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();

pub(super) fn backend() -> Result<&'static LlamaBackend, String> {
    BACKEND
        .get_or_init(|| {
            super::kernels::kernels()?;
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
    /// A token that ends generation, to ask a grammar whether it is complete.
    end: Option<LlamaToken>,
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
            end: end_token(model),
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

/// How one answer is sampled: by the request's settings, or under its
/// grammar.
pub(super) enum AnswerSampler {
    Free(Box<Picker>),
    Constrained(Box<Constraint>),
}

impl Backend for Context<'_> {
    type Token = LlamaToken;
    type Sampler = AnswerSampler;

    fn tokenize(&mut self, messages: &[&Message]) -> Result<Vec<LlamaToken>, EngineError> {
        tokenize_chat(self.model, &self.template, &self.specials, messages)
    }

    fn sampler(&mut self, request: &Request) -> Result<AnswerSampler, EngineError> {
        Ok(match request.grammar.as_ref().and_then(|g| g.gbnf()) {
            None => AnswerSampler::Free(Box::new(Picker::new(&request.sampling))),
            Some(gbnf) => AnswerSampler::Constrained(Box::new(Constraint::new(
                self.model,
                gbnf,
                &request.sampling,
                self.end,
            )?)),
        })
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

    fn sample(
        &mut self,
        sampler: &mut AnswerSampler,
        index: usize,
    ) -> Result<Sampled<LlamaToken>, EngineError> {
        let model = self.model;
        let ctx = self.ctx();
        match sampler {
            AnswerSampler::Free(picker) => {
                let token = picker.pick(ctx, index as i32)?;
                picker.accept(token);
                Ok(Sampled {
                    token,
                    completes: false,
                })
            }
            AnswerSampler::Constrained(constraint) => {
                constraint.sample(model, ctx, index as i32, Way::Shortlist)
            }
        }
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
    // A conversation that ends with an answer asks for more of that answer
    // (Continue): the template renders everything before it with the
    // assistant's turn opened, and the answer so far follows without its
    // end-of-turn marker, so the model writes on from its last word.
    let (messages, prefill) = match messages.split_last() {
        Some((last, earlier)) if last.role == Role::Assistant => (earlier, Some(*last)),
        _ => (messages, None),
    };
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
    let mut text = model
        .apply_chat_template(template, &chat, true)
        .map_err(|e| EngineError::Failed(format!("the chat template failed: {e}")))?;
    if let Some(answer) = prefill {
        text.push_str(&defuse_specials(
            &answer.content.replace('\0', ""),
            specials,
        ));
    }
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

/// Picks an answer's tokens as llama.cpp's chain would (the repeat penalty
/// over the last 64 tokens, then top-k, top-p, min-p, temperature and a
/// random draw; greedy at temperature 0), without building the array of the
/// whole vocabulary for each token (see [`pick`]).
pub(super) struct Picker {
    recent: Recent,
    /// llama.cpp's links that choose: greedy, or top-k … the draw.
    choose: LlamaSampler,
    /// The top-k of the chain; `None` when greedy.
    top_k: Option<usize>,
    /// The logits after the penalty, kept between tokens.
    logits: Vec<f32>,
    best: Vec<(i32, f32)>,
    candidates: LlamaTokenDataArray,
}

impl Picker {
    pub(super) fn new(sampling: &Sampling) -> Self {
        let greedy = sampling.temperature <= 0.0;
        Picker {
            recent: Recent::new(sampling.repeat_penalty.max(0.01)),
            choose: LlamaSampler::chain_simple(choosers(sampling)),
            top_k: (!greedy).then(|| sampling.top_k.max(1) as usize),
            logits: Vec::new(),
            best: Vec::new(),
            candidates: LlamaTokenDataArray::new(Vec::new(), false),
        }
    }

    /// The token to follow the logits at `index`; [`Picker::accept`] it
    /// once it is the answer's.
    pub(super) fn pick(
        &mut self,
        ctx: &LlamaContext<'_>,
        index: i32,
    ) -> Result<LlamaToken, EngineError> {
        self.logits.clear();
        self.logits.extend_from_slice(ctx.get_logits_ith(index));
        self.recent.apply(&mut self.logits);
        let chosen = match self.top_k {
            None => pick::greedy(&self.logits).map(|id| LlamaToken(id as i32)),
            Some(k) => {
                // The k best, best first, are all top-k would keep: the
                // chain's top-k link leaves them as they are.
                pick::best_k(&self.logits, k, &mut self.best);
                set_candidates(&mut self.candidates, &self.best, true);
                self.candidates.apply_sampler(&mut self.choose);
                self.candidates.selected_token()
            }
        };
        chosen.ok_or_else(|| EngineError::Failed("the sampler chose no token".into()))
    }

    /// Makes `token` part of the answer: the penalty's window moves on.
    pub(super) fn accept(&mut self, token: LlamaToken) {
        self.recent.accept(token.0);
        self.choose.accept(token);
    }

    /// The penalty on candidates that are the whole vocabulary in id order.
    fn penalise(&self, candidates: &mut LlamaTokenDataArray) {
        let data = &mut candidates.data;
        for id in self.recent.repeated(data.len()) {
            let logit = self.recent.penalised(data[id].logit());
            data[id].set_logit(logit);
        }
        candidates.sorted = false;
    }
}

/// Makes `best` (token id, logit) the candidates, none selected yet.
fn set_candidates(candidates: &mut LlamaTokenDataArray, best: &[(i32, f32)], sorted: bool) {
    candidates.data.clear();
    candidates.data.extend(
        best.iter()
            .map(|&(id, logit)| LlamaTokenData::new(LlamaToken(id), logit, 0.0)),
    );
    candidates.sorted = sorted;
    candidates.selected = None;
}

/// The links of the chain that pick the token, after the penalty.
fn choosers(sampling: &Sampling) -> Vec<LlamaSampler> {
    if sampling.temperature <= 0.0 {
        return vec![LlamaSampler::greedy()];
    }
    let seed = sampling.seed.unwrap_or_else(rand_seed);
    vec![
        LlamaSampler::top_k(sampling.top_k.max(1)),
        LlamaSampler::top_p(sampling.top_p.clamp(0.01, 1.0), 1),
        LlamaSampler::min_p(sampling.min_p.clamp(0.0, 1.0), 1),
        LlamaSampler::temp(sampling.temperature),
        LlamaSampler::dist(seed),
    ]
}

fn rand_seed() -> u32 {
    let mut bytes = [0u8; 4];
    let _ = getrandom::fill(&mut bytes);
    u32::from_le_bytes(bytes)
}

/// A JSON schema as GBNF, through llama.cpp's converter
/// (common/json-schema-to-grammar.cpp).
pub(super) fn json_schema_to_gbnf(schema: &str) -> Result<String, String> {
    llama_cpp_2::json_schema_to_grammar(schema).map_err(|e| e.to_string())
}

/// A token that ends generation: end of stream or end of turn.
pub(super) fn end_token(model: &LlamaModel) -> Option<LlamaToken> {
    let vocab = model.vocab();
    [vocab.eos(), vocab.eot()]
        .into_iter()
        .find(|t| t.0 >= 0 && t.0 < model.n_vocab() && vocab.is_eog(*t))
}

/// How a [`Constraint`] consults its grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Way {
    /// The grammar on the whole vocabulary for every token, then the chain.
    Naive,
    /// llama.cpp's own way (`common_sampler_sample`, common/sampling.cpp):
    /// the chain's free pick if the grammar allows it, otherwise the naive way.
    Rejection,
    /// The chain's free pick if the grammar allows it, otherwise the chain
    /// among the best [`SHORTLIST`] candidates the grammar allows, and the
    /// naive way only when it allows none of them.
    Shortlist,
}

/// Candidates the grammar checks when the model's own pick is refused, or
/// the chain's top-k if that is larger. The grammar's cost grows with the
/// candidates it checks: the whole vocabulary (49,152 tokens for SmolLM2)
/// takes 8–10 ms, about as much as decoding a token on two cores, and the
/// grammar refused the model's pick for one token in five of a booking (a
/// nested object where the schema has a value, a word of prose, a field out
/// of order); `hearth bench --grammar` measures all three ways.
const SHORTLIST: usize = 128;

/// A grammar an answer follows, consulted as little as possible: the chain
/// picks a token from the whole vocabulary as if there were no grammar, and
/// one check of that token usually suffices; when the grammar refuses it,
/// the grammar is applied to the best candidates only ([`Way::Shortlist`]).
///
/// Sampling greedily, every way picks the same tokens: the best token the
/// grammar allows is the chain's pick when allowed, and otherwise among the
/// best candidates whenever any of them is allowed (the shortlist is taken
/// after the repeat penalty, so no token outside it scores higher). At a
/// temperature, the chain's top-k is drawn from the shortlist's allowed
/// tokens instead of all allowed ones, leaving out only the least likely.
pub(super) struct Constraint {
    grammar: LlamaSampler,
    /// The free pick, and the penalty and links that pick among candidates
    /// the grammar allowed (the shortlist is taken after the penalty).
    picker: Picker,
    /// Candidates in the shortlist.
    shortlist: usize,
    /// The candidates, kept between tokens (about 600 kB for 49,152 tokens).
    candidates: LlamaTokenDataArray,
    /// A token that ends generation: the grammar allows it exactly when the
    /// answer is complete. Without one, completeness is never detected and
    /// the answer ends at its token limit.
    end: Option<LlamaToken>,
    /// Tokens the chain picked that the grammar refused.
    pub(super) refused: usize,
    /// Tokens for which the grammar checked the whole vocabulary.
    pub(super) whole_vocabulary: usize,
}

impl Constraint {
    /// Parses `gbnf` (start rule `root`) for `model`'s vocabulary.
    pub(super) fn new(
        model: &LlamaModel,
        gbnf: &str,
        sampling: &Sampling,
        end: Option<LlamaToken>,
    ) -> Result<Constraint, EngineError> {
        let grammar = LlamaSampler::grammar(model, gbnf, "root").map_err(|e| {
            EngineError::Failed(format!("the answer's grammar cannot be parsed ({e})"))
        })?;
        Ok(Constraint {
            grammar,
            picker: Picker::new(sampling),
            shortlist: SHORTLIST.max(sampling.top_k.max(1) as usize),
            candidates: LlamaTokenDataArray::new(Vec::new(), false),
            end,
            refused: 0,
            whole_vocabulary: 0,
        })
    }

    /// The next token from the logits at `index`, consulting the grammar
    /// `way`. The token is accepted by the chain and the grammar.
    pub(super) fn sample(
        &mut self,
        model: &LlamaModel,
        ctx: &LlamaContext<'_>,
        index: i32,
        way: Way,
    ) -> Result<Sampled<LlamaToken>, EngineError> {
        let token = match way {
            Way::Naive => self.pick_allowed(ctx, index, None)?,
            Way::Rejection | Way::Shortlist => {
                let free = self.picker.pick(ctx, index)?;
                if self.allows(free) {
                    free
                } else {
                    self.refused += 1;
                    let shortlist = (way == Way::Shortlist).then_some(self.shortlist);
                    self.pick_allowed(ctx, index, shortlist)?
                }
            }
        };
        self.accept(model, token)
    }

    /// The chain's pick among the tokens the grammar allows: among the best
    /// `shortlist` candidates if it allows any of them, otherwise among the
    /// whole vocabulary.
    fn pick_allowed(
        &mut self,
        ctx: &LlamaContext<'_>,
        index: i32,
        shortlist: Option<usize>,
    ) -> Result<LlamaToken, EngineError> {
        if let Some(best) = shortlist.filter(|n| *n < self.picker.logits.len()) {
            // The free pick (for this same index) left the penalised logits
            // in the picker.
            pick::best_k(&self.picker.logits, best, &mut self.picker.best);
            // Not marked sorted: the grammar turns refused logits to -inf.
            set_candidates(&mut self.candidates, &self.picker.best, false);
            self.candidates.apply_sampler(&mut self.grammar);
            if self.any_allowed() {
                self.candidates.apply_sampler(&mut self.picker.choose);
                return self.selected();
            }
        }
        self.fill(ctx, index);
        self.picker.penalise(&mut self.candidates);
        self.whole_vocabulary += 1;
        self.candidates.apply_sampler(&mut self.grammar);
        if !self.any_allowed() {
            return Err(EngineError::Failed(
                "the answer's grammar allows no token of this model here".into(),
            ));
        }
        self.candidates.apply_sampler(&mut self.picker.choose);
        self.selected()
    }

    fn any_allowed(&self) -> bool {
        self.candidates.data.iter().any(|c| c.logit().is_finite())
    }

    /// Whether the grammar allows `token` next: one candidate, checked alone.
    fn allows(&mut self, token: LlamaToken) -> bool {
        let mut one = LlamaTokenDataArray::new(vec![LlamaTokenData::new(token, 0.0, 0.0)], false);
        one.apply_sampler(&mut self.grammar);
        one.data.first().is_some_and(|c| c.logit().is_finite())
    }

    /// Feeds `token` to the picker (its penalty's window) and the grammar
    /// (its state), and says whether the grammar is now complete.
    fn accept(
        &mut self,
        model: &LlamaModel,
        token: LlamaToken,
    ) -> Result<Sampled<LlamaToken>, EngineError> {
        self.picker.accept(token);
        self.grammar.try_accept(token).map_err(|e| {
            EngineError::Failed(format!("the answer's grammar refused a token ({e})"))
        })?;
        let completes =
            !model.vocab().is_eog(token) && self.end.is_some_and(|end| self.allows(end));
        Ok(Sampled { token, completes })
    }

    /// The candidates: every token with its logit at `index`.
    fn fill(&mut self, ctx: &LlamaContext<'_>, index: i32) {
        let logits = ctx.get_logits_ith(index);
        let candidates = &mut self.candidates;
        candidates.data.clear();
        candidates.data.extend(
            (0_i32..)
                .zip(logits)
                .map(|(id, logit)| LlamaTokenData::new(LlamaToken(id), *logit, 0.0)),
        );
        candidates.selected = None;
        candidates.sorted = false;
    }

    fn selected(&self) -> Result<LlamaToken, EngineError> {
        self.candidates
            .selected_token()
            .ok_or_else(|| EngineError::Failed("the sampler chose no token".into()))
    }
}
