//! A scripted model for tests, so everything around the model runs in the
//! fast loop (`cargo test --no-default-features` builds no llama.cpp):
//! [`Engine::fake`] starts the real worker thread and
//! [`Scheduler`](super::scheduler::Scheduler) (queue, `max_wait`, slots,
//! prefix reuse, cancel, reload, shutdown) on a [`Backend`] that answers from
//! a [`FakeScript`] instead of a model.
//!
//! Words are tokens: a prompt is one token per word plus one per message
//! (the template's markers) and one to start the answer, and an answer comes
//! one word per step, each step taking [`FakeScript::step`], so Stop and
//! dropped connections can be tested. The fake also keeps each sequence's
//! KV cache as a list of tokens and refuses a batch whose positions do not
//! continue it: a scheduler that lost track of what a cache holds fails its
//! answers instead of passing its tests.
//!
//! A request's [`Grammar`](super::Grammar) is checked as far as the fake
//! can: GBNF without a `root` rule fails the generation, as llama.cpp would
//! fail it; the scripted reply itself is not constrained.

use std::collections::{HashMap, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use super::scheduler::{Backend, BatchEntry, Sampled, Scheduler};
use super::worker::{Next, Runtime};
use super::{Command, Engine, EngineConfig, EngineError, Job, Message, Request, Role, Shared};

/// What the fake model answers and how.
#[derive(Clone)]
pub struct FakeScript {
    /// The answer to a request (cut at its `max_tokens`).
    pub reply: Arc<dyn Fn(&Request) -> String + Send + Sync>,
    /// How long each decode step takes.
    pub step: Duration,
    /// A request whose last message contains this text makes the model panic
    /// when it samples the answer's first token.
    pub panic_on: Option<String>,
    /// Whether a sequence's cache can be cut in the middle (recurrent models'
    /// cannot: llama.cpp refuses, and the whole sequence must go).
    pub partial_clear: bool,
}

impl Default for FakeScript {
    /// [`FakeScript::default_reply`], 5 ms a step, cuttable caches.
    fn default() -> Self {
        FakeScript {
            reply: Arc::new(FakeScript::default_reply),
            step: Duration::from_millis(5),
            panic_on: None,
            partial_clear: true,
        }
    }
}

impl FakeScript {
    /// Always answers `text`.
    pub fn replying(text: &str) -> FakeScript {
        let text = text.to_string();
        FakeScript {
            reply: Arc::new(move |_| text.clone()),
            ..FakeScript::default()
        }
    }

    /// A short answer that says how many words the question had, or a story
    /// of thousands of words when the question asks for a "long story" (so
    /// an answer runs until it is stopped or reaches its limit). Cites `[1]` when the
    /// system prompt asks for citations, as an answer from documents should.
    pub fn default_reply(request: &Request) -> String {
        let asked = request
            .messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map_or("", |m| m.content.as_str());
        let mut reply = if asked.to_lowercase().contains("long story") {
            "Once upon a time, a lighthouse keeper kept the light burning through every storm. "
                .repeat(300)
        } else {
            format!(
                "Hello from Hearth's test engine. Your message had {} words.",
                asked.split_whitespace().count()
            )
        };
        let cites = request
            .messages
            .iter()
            .any(|m| m.role == Role::System && m.content.contains("[1]"));
        if cites {
            reply.push_str(" [1]");
        }
        reply
    }
}

impl Engine {
    /// An engine whose model is the `script`, for tests: the real worker
    /// thread and scheduler with `config`'s slots, queue and waits; the
    /// model file is never read, and its name is `config`'s.
    pub fn fake(config: EngineConfig, script: FakeScript) -> Engine {
        Engine::spawn(config, Scripted(script))
    }
}

/// The runtime of [`Engine::fake`]: every model "loads".
struct Scripted(FakeScript);

impl Runtime for Scripted {
    type Model = ();

    fn load(&self, _: &EngineConfig) -> Result<(), String> {
        Ok(())
    }

    fn serve(
        &self,
        _: &(),
        config: &EngineConfig,
        commands: &Receiver<Command>,
        shared: &Shared,
        waiting: &mut VecDeque<Box<Job>>,
    ) -> Result<Next, String> {
        let model = FakeModel {
            script: self.0.clone(),
            sequences: vec![Vec::new(); config.parallel.max(1) as usize],
            pieces: HashMap::new(),
        };
        Scheduler::new(model, config, shared, waiting).run(commands)
    }
}

/// The token that ends an answer.
const END: u64 = 0;

/// The scripted model with its KV cache.
struct FakeModel {
    script: FakeScript,
    /// The tokens in each sequence's cache.
    sequences: Vec<Vec<u64>>,
    /// The text of every answer token handed out.
    pieces: HashMap<u64, String>,
}

/// An answer's remaining tokens.
struct FakeSampler {
    reply: VecDeque<u64>,
    panics: bool,
}

fn token(kind: &str, text: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    (kind, text).hash(&mut hasher);
    hasher.finish().max(END + 1)
}

impl Backend for FakeModel {
    type Token = u64;
    type Sampler = FakeSampler;

    fn tokenize(&mut self, messages: &[&Message]) -> Result<Vec<u64>, EngineError> {
        let mut tokens = Vec::new();
        for message in messages {
            tokens.push(token("marker", message.role.as_str()));
            tokens.extend(message.content.split_whitespace().map(|w| token("word", w)));
        }
        // The answer starts as an assistant message does, so a follow-up
        // turn's prompt continues this one's; a conversation that ends with
        // an answer is continued (as llama.rs does), without a new marker.
        if messages.last().is_none_or(|m| m.role != Role::Assistant) {
            tokens.push(token("marker", Role::Assistant.as_str()));
        }
        Ok(tokens)
    }

    fn sampler(&mut self, request: &Request) -> Result<FakeSampler, EngineError> {
        let gbnf = request.grammar.as_ref().and_then(|g| g.gbnf());
        if gbnf.is_some_and(|text| !text.contains("root ::=")) {
            return Err(EngineError::Failed(
                "the answer's grammar cannot be parsed: it has no `root` rule".into(),
            ));
        }
        let text = (self.script.reply)(request);
        let reply = text
            .split_inclusive(' ')
            .map(|piece| {
                let id = token("piece", piece);
                self.pieces.insert(id, piece.to_string());
                id
            })
            .collect();
        let panics = self.script.panic_on.as_ref().is_some_and(|trigger| {
            request
                .messages
                .last()
                .is_some_and(|m| m.content.contains(trigger.as_str()))
        });
        Ok(FakeSampler { reply, panics })
    }

    fn clear_sequence(&mut self, seq: i32, from: Option<usize>) -> bool {
        let cache = &mut self.sequences[seq as usize];
        match from {
            None | Some(0) => cache.clear(),
            Some(from) if from >= cache.len() => {}
            Some(_) if !self.script.partial_clear => return false,
            Some(from) => cache.truncate(from),
        }
        true
    }

    fn copy_sequence(&mut self, from: i32, to: i32) {
        self.sequences[to as usize] = self.sequences[from as usize].clone();
    }

    fn decode(&mut self, batch: &[BatchEntry<u64>]) -> Result<(), String> {
        std::thread::sleep(self.script.step);
        for entry in batch {
            let cache = &mut self.sequences[entry.seq as usize];
            if entry.position != cache.len() {
                return Err(format!(
                    "stale context: position {} in sequence {}, whose cache holds {} tokens",
                    entry.position,
                    entry.seq,
                    cache.len()
                ));
            }
            cache.push(entry.token);
        }
        Ok(())
    }

    fn sample(&mut self, sampler: &mut FakeSampler, _: usize) -> Result<Sampled<u64>, EngineError> {
        if sampler.panics {
            panic!("the fake model was scripted to panic");
        }
        Ok(Sampled {
            token: sampler.reply.pop_front().unwrap_or(END),
            completes: false,
        })
    }

    fn is_end(&self, token: u64) -> bool {
        token == END
    }

    fn piece(&self, token: u64) -> Vec<u8> {
        self.pieces
            .get(&token)
            .map(|p| p.as_bytes().to_vec())
            .unwrap_or_default()
    }

    fn reset(&mut self) -> Result<(), String> {
        for cache in &mut self.sequences {
            cache.clear();
        }
        Ok(())
    }
}
