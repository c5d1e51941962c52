//! The model catalog on Admin → Models: a short, curated list of GGUF chat
//! models that run on a CPU box, each with where to download it, its
//! SHA-256, licence and what it is good at, and, for this box, the memory it
//! needs, whether that fits and how fast it is likely to write.
//!
//! The built-in entries are pinned: each URL names a Hugging Face commit
//! (`resolve/<commit>/…`) whose file page showed the SHA-256 given here, so a
//! later re-upload cannot change what is fetched; where only an unpinned URL
//! had a published checksum (Gemma 3 4B, Mistral 7B v0.3, from LocalAI's
//! model gallery) a changed file is refused by the checksum, never used.
//! Sizes are as Hugging Face lists them (three figures); the server's
//! Content-Length gives the exact total during a download. The config's
//! `[[models.catalog]]` entries add to the list or replace an entry with the
//! same id (an office's own mirror; the tests' local server).
//!
//! Speed is estimated from this box's measured memory bandwidth: generating
//! a token reads every weight once, so tokens/s ≈ bandwidth × efficiency ÷
//! model bytes. The bandwidth is measured once (a 256 MiB streaming read,
//! [`hardware::measure_memory_bandwidth`]) on the blocking pool and cached.

use crate::app::AppState;
use crate::chat::ChatState;
use crate::config::{CatalogSource, Config, DEFAULT_MODEL_FILE};
use crate::llm::hardware;

/// How much of the measured bandwidth llama.cpp turns into tokens. Measured
/// on the development box (2 cores): the default model, 98 MB, writes about
/// 80 tokens/s (BENCHMARKS.md: 79–86 at 2 threads), i.e. 7.8 GB/s of weights,
/// against 16.7 GB/s from [`hardware::measure_memory_bandwidth`]: 0.47. Big
/// models usually do a little better (less fixed cost per token), so the
/// estimates err on the slow side.
pub const EFFICIENCY: f64 = 0.47;

/// Below this many tokens/s an answer is slower than people read (about
/// four to five words a second), so such a model is not recommended.
pub const READABLE_TOKENS_PER_SECOND: f64 = 5.0;

/// Memory beyond weights and KV cache: llama.cpp's compute buffers, the
/// logits of a batch, and Hearth itself.
const OVERHEAD_BYTES: u64 = 300_000_000;

/// One entry as the page shows it.
#[derive(Debug, Clone)]
pub struct CatalogEntry {
    pub source: CatalogSource,
    /// Not for commercial use (the Qwen research licence): never recommended.
    pub research_only: bool,
}

/// One entry judged for this box.
#[derive(Debug, Clone)]
pub struct Judged {
    pub entry: CatalogEntry,
    /// Bytes of memory the model needs at the configured context.
    pub needed: u64,
    pub fits: bool,
    /// Estimated tokens per second, when the bandwidth is known.
    pub tokens_per_second: Option<f64>,
    /// The file is already in `models/`.
    pub on_box: bool,
    /// The quantization its file name gives ("Q4_K_M").
    pub quantization: Option<&'static str>,
    /// llama.cpp rearranges that quantization for this CPU when the model
    /// loads: the fastest per byte here ([`hardware::CpuFeatures`]).
    pub suits_cpu: bool,
    pub recommended: bool,
}

impl Judged {
    /// The anchor of this entry on the Models page.
    pub fn anchor(&self) -> String {
        format!("catalog-{}", self.entry.source.id)
    }
}

/// What other pages show of the recommendation: the model's name and a link
/// to its entry on Admin → Models.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recommendation {
    pub id: String,
    pub name: String,
    /// `/admin/models#catalog-<id>`.
    pub href: String,
    /// The file is already in `models/`.
    pub on_box: bool,
}

/// The built-in catalog. Sources of the checksums: the Hugging Face file page
/// of the pinned commit ("Git LFS Details: SHA256"); Qwen2.5 0.5B and 1.5B,
/// Gemma 3 4B and Mistral 7B also from mudler/LocalAI's gallery/index.yaml.
/// KV bytes per token: 2 (K and V) × layers × KV heads × head size × 2 (f16).
fn builtin() -> Vec<CatalogEntry> {
    let entry = |id: &str,
                 name: &str,
                 url: &str,
                 sha256: &str,
                 size_bytes: u64,
                 license: &str,
                 good_at: &str,
                 context_length: u64,
                 kv_bytes_per_token: u64| CatalogEntry {
        source: CatalogSource {
            id: id.into(),
            name: name.into(),
            file: url.rsplit('/').next().unwrap_or_default().into(),
            url: url.into(),
            sha256: sha256.into(),
            size_bytes,
            license: license.into(),
            good_at: good_at.into(),
            context_length,
            kv_bytes_per_token,
        },
        research_only: false,
    };
    let mut qwen_3b = entry(
        "qwen2.5-3b",
        "Qwen2.5 3B Instruct",
        "https://huggingface.co/bartowski/Qwen2.5-3B-Instruct-GGUF/resolve/e118764d9e73c6ee4b87fe7a367df84a985a99fc/Qwen2.5-3B-Instruct-Q4_K_M.gguf",
        "9c9f56a391a3abbd5b89d0245bf6106081bcc3173119d4229235dd9d23253f94",
        1_930_000_000,
        "Qwen Research Licence (not for commercial use)",
        "Noticeably better than 1.5B at following instructions and summarising; the licence rules out use in a business.",
        32_768,
        // 36 layers × 2 KV heads × 128.
        2 * 36 * 2 * 128 * 2,
    );
    qwen_3b.research_only = true;
    vec![
        entry(
            "qwen2.5-0.5b",
            "Qwen2.5 0.5B Instruct",
            "https://huggingface.co/bartowski/Qwen2.5-0.5B-Instruct-GGUF/resolve/b26a58accf53b1a19fbc555d52fdb224bec473f5/Qwen2.5-0.5B-Instruct-Q4_K_M.gguf",
            "6eb923e7d26e9cea28811e1a8e852009b21242fb157b26149d3b188f3a8c8653",
            398_000_000,
            "Apache-2.0",
            "Very fast short answers and rewording on the smallest boxes; still weak at arithmetic and facts.",
            32_768,
            2 * 24 * 2 * 64 * 2,
        ),
        entry(
            "qwen2.5-1.5b",
            "Qwen2.5 1.5B Instruct",
            "https://huggingface.co/bartowski/Qwen2.5-1.5B-Instruct-GGUF/resolve/85553858e3522ce5b531285b2202bdb40fab1624/Qwen2.5-1.5B-Instruct-Q4_K_M.gguf",
            "50961d9b7d3b89e46be230528fc66d38bbdda8ac3748323dd34f129a714124fc",
            986_000_000,
            "Apache-2.0",
            "Everyday office questions, short emails and summaries, in many languages, at a good pace on a small CPU.",
            32_768,
            2 * 28 * 2 * 128 * 2,
        ),
        qwen_3b,
        entry(
            "llama-3.2-3b",
            "Llama 3.2 3B Instruct",
            "https://huggingface.co/bartowski/Llama-3.2-3B-Instruct-GGUF/resolve/c346bfc2029e79ba6d7edf026cf01fe44242db0d/Llama-3.2-3B-Instruct-Q4_K_M.gguf",
            "6c1a2b41161032677be168d354123594c0e6e67d2b9227c84f296ad037c728ff",
            2_020_000_000,
            "Llama 3.2 Community Licence",
            "Clear, friendly English writing and summaries; good at following a system prompt.",
            131_072,
            2 * 28 * 8 * 128 * 2,
        ),
        entry(
            "gemma-3-4b",
            "Gemma 3 4B it",
            "https://huggingface.co/lmstudio-community/gemma-3-4b-it-GGUF/resolve/main/gemma-3-4b-it-Q4_K_M.gguf",
            "be49949e48422e4547b00af14179a193d3777eea7fbbd7d6e1b0861304628a01",
            2_490_000_000,
            "Gemma Terms of Use",
            "Well-written answers and reasoning for its size, in over 140 languages.",
            131_072,
            2 * 34 * 4 * 256 * 2,
        ),
        entry(
            "qwen2.5-7b",
            "Qwen2.5 7B Instruct",
            "https://huggingface.co/bartowski/Qwen2.5-7B-Instruct-GGUF/resolve/f4b6063c19a94c15fe9031d8afbbb9df7ec8b93f/Qwen2.5-7B-Instruct-Q4_K_M.gguf",
            "65b8fcd92af6b4fefa935c625d1ac27ea29dcb6ee14589c55a8f115ceaaa1423",
            4_680_000_000,
            "Apache-2.0",
            "The most capable here: arithmetic, longer documents, tables and careful instructions, if the box is fast enough.",
            32_768,
            2 * 28 * 4 * 128 * 2,
        ),
        entry(
            "mistral-7b-v0.3",
            "Mistral 7B Instruct v0.3",
            "https://huggingface.co/MaziyarPanahi/Mistral-7B-Instruct-v0.3-GGUF/resolve/main/Mistral-7B-Instruct-v0.3.Q4_K_M.gguf",
            "14850c84ff9f06e9b51d505d64815d5cc0cea0257380353ac0b3d21b21f6e024",
            4_370_000_000,
            "Apache-2.0",
            "Solid general writing and European languages; a well-known, permissively licensed 7B.",
            32_768,
            2 * 32 * 8 * 128 * 2,
        ),
    ]
}

/// The catalog: the built-in entries with the config's added or replaced.
pub fn entries(state: &AppState) -> Vec<CatalogEntry> {
    entries_for(&state.config)
}

fn entries_for(config: &Config) -> Vec<CatalogEntry> {
    let mut entries = builtin();
    for source in &config.models.catalog {
        let entry = CatalogEntry {
            source: source.clone(),
            research_only: false,
        };
        match entries.iter_mut().find(|e| e.source.id == source.id) {
            Some(existing) => *existing = entry,
            None => entries.push(entry),
        }
    }
    entries
}

/// This box's memory bandwidth in bytes per second, measured on first use
/// (on the blocking pool, about half a second) and then remembered.
pub async fn bandwidth() -> Option<f64> {
    static MEASURED: tokio::sync::OnceCell<Option<f64>> = tokio::sync::OnceCell::const_new();
    *MEASURED
        .get_or_init(|| async {
            let measured = tokio::task::spawn_blocking(hardware::measure_memory_bandwidth)
                .await
                .ok()
                .flatten();
            match measured {
                Some(bytes) => tracing::info!(
                    gb_per_second = format!("{:.1}", bytes / 1e9),
                    "measured memory bandwidth"
                ),
                None => tracing::warn!("could not measure memory bandwidth"),
            }
            measured
        })
        .await
}

/// Expected generation speed of a model of `model_bytes` on a box streaming
/// `bandwidth` bytes per second.
pub fn tokens_per_second(bandwidth: f64, model_bytes: u64) -> f64 {
    bandwidth * EFFICIENCY / model_bytes.max(1) as f64
}

/// Memory a model needs: its weights, the KV cache for `context_tokens`
/// (every conversation's share together) and the fixed overhead. Without a
/// per-token figure the cache is estimated as a tenth of the file.
pub fn memory_needed(source: &CatalogSource, context_tokens: u64) -> u64 {
    let cache = if source.kv_bytes_per_token > 0 {
        source.kv_bytes_per_token.saturating_mul(context_tokens)
    } else {
        source.size_bytes / 10
    };
    source
        .size_bytes
        .saturating_add(cache)
        .saturating_add(OVERHEAD_BYTES)
}

/// The facts [`judge`] weighs, read from the box.
#[derive(Debug, Clone, Copy)]
pub struct BoxFacts {
    /// Memory free for a model: what is available plus what the model in
    /// use would give back.
    pub memory_for_model: Option<u64>,
    pub bandwidth: Option<f64>,
    /// Context tokens the engine allocates (per chat × conversations).
    pub context_tokens: u64,
    /// The quantizations that run best with the engine's kernels on this
    /// CPU ([`hardware::best_quantizations_for`]).
    pub best_quantizations: &'static [&'static str],
}

/// Judges every entry for a box; the recommended one is the largest that
/// fits and writes at least [`READABLE_TOKENS_PER_SECOND`], or, when none
/// does, the fastest that fits. Entries whose quantization suits this CPU
/// come first: a larger file in another quantization is passed over for
/// them. Research-only models are never recommended.
pub fn judge(entries: Vec<CatalogEntry>, facts: BoxFacts, on_box: &[String]) -> Vec<Judged> {
    let mut judged: Vec<Judged> = entries
        .into_iter()
        .map(|entry| {
            let needed = memory_needed(&entry.source, facts.context_tokens);
            let quantization = hardware::quantization_in_name(&entry.source.file);
            Judged {
                quantization,
                suits_cpu: quantization.is_some_and(|q| facts.best_quantizations.contains(&q)),
                fits: facts.memory_for_model.is_none_or(|free| needed <= free),
                tokens_per_second: facts
                    .bandwidth
                    .map(|b| tokens_per_second(b, entry.source.size_bytes)),
                on_box: on_box.contains(&entry.source.file),
                needed,
                entry,
                recommended: false,
            }
        })
        .collect();
    let candidates = || {
        judged
            .iter()
            .enumerate()
            .filter(|(_, j)| j.fits && !j.entry.research_only)
    };
    let readable = candidates()
        .filter(|(_, j)| {
            j.tokens_per_second
                .is_none_or(|t| t >= READABLE_TOKENS_PER_SECOND)
        })
        .max_by_key(|(_, j)| (j.suits_cpu, j.entry.source.size_bytes))
        .map(|(i, _)| i);
    let best = readable.or_else(|| {
        candidates()
            .min_by_key(|(_, j)| (!j.suits_cpu, j.entry.source.size_bytes))
            .map(|(i, _)| i)
    });
    if let Some(index) = best {
        judged[index].recommended = true;
    }
    judged
}

/// The catalog judged for this box as it is now.
pub async fn judged(state: &AppState) -> Vec<Judged> {
    judged_for(&state.config, &state.chat).await
}

async fn judged_for(config: &Config, chat: &ChatState) -> Vec<Judged> {
    let facts = box_facts(chat).await;
    let models = config.models_dir();
    let on_box: Vec<String> = std::fs::read_dir(&models)
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    judge(entries_for(config), facts, &on_box)
}

async fn box_facts(chat: &ChatState) -> BoxFacts {
    let settings = chat.assistant();
    let active = chat.engine.config().model_path;
    // The model in use gives its memory back when another is chosen.
    let active_bytes = std::fs::metadata(&active).map_or(0, |m| m.len());
    BoxFacts {
        memory_for_model: hardware::available_memory().map(|free| free + active_bytes),
        bandwidth: bandwidth().await,
        context_tokens: u64::from(settings.context_per_chat) * u64::from(settings.parallel),
        // Only the engine's kernels decide it: no need to read the CPU's.
        best_quantizations: hardware::best_quantizations_for(&crate::llm::engine_kernels().0),
    }
}

/// The catalog model recommended for this box, for pages beyond Admin →
/// Models (the home page's owner checklist): its name and a link to it.
pub async fn recommended(config: &Config, chat: &ChatState) -> Option<Recommendation> {
    judged_for(config, chat)
        .await
        .into_iter()
        .find(|j| j.recommended)
        .map(|j| Recommendation {
            href: format!("/admin/models#{}", j.anchor()),
            id: j.entry.source.id,
            name: j.entry.source.name,
            on_box: j.on_box,
        })
}

/// Whether the model in use is the small demonstration model.
pub fn demonstration_in_use(state: &AppState) -> bool {
    state
        .chat
        .engine
        .config()
        .model_path
        .file_name()
        .is_some_and(|name| name == DEFAULT_MODEL_FILE)
}

/// The entry with this id.
pub fn find(state: &AppState, id: &str) -> Option<CatalogEntry> {
    entries(state).into_iter().find(|e| e.source.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(memory_gb: f64, bandwidth_gb: f64) -> BoxFacts {
        BoxFacts {
            memory_for_model: Some((memory_gb * 1e9) as u64),
            bandwidth: Some(bandwidth_gb * 1e9),
            context_tokens: 8192,
            best_quantizations: &["Q4_K_M", "Q4_K_S", "Q4_0", "IQ4_NL", "MXFP4"],
        }
    }

    fn recommended_id(facts: BoxFacts) -> Option<String> {
        judge(builtin(), facts, &[])
            .into_iter()
            .find(|j| j.recommended)
            .map(|j| j.entry.source.id)
    }

    #[test]
    fn the_builtin_catalog_is_well_formed() {
        let entries = builtin();
        assert!(entries.len() >= 6);
        for entry in &entries {
            let s = &entry.source;
            assert_eq!(s.sha256.len(), 64, "{}", s.id);
            assert!(s.sha256.chars().all(|c| c.is_ascii_hexdigit()), "{}", s.id);
            assert!(s.url.starts_with("https://huggingface.co/"), "{}", s.id);
            assert!(
                s.url.ends_with(&s.file) && s.file.ends_with(".gguf"),
                "{}",
                s.id
            );
            assert!(s.file.contains("Q4_K_M"), "{}", s.id);
            assert!(s.kv_bytes_per_token > 0 && s.size_bytes > 0, "{}", s.id);
        }
        let mut ids: Vec<_> = entries.iter().map(|e| &e.source.id).collect();
        ids.dedup();
        assert_eq!(ids.len(), entries.len());
    }

    #[test]
    fn the_estimates_follow_the_measured_calibration() {
        // The calibration point itself: 98 MB at 16.7 GB/s gives about 80 tokens/s.
        let speed = tokens_per_second(16.7e9, 98_000_000);
        assert!((75.0..85.0).contains(&speed), "{speed}");
        let qwen_7b = &builtin()[5].source;
        // 4.68 GB of weights, 8192 tokens × 56 KiB of cache, overhead.
        assert_eq!(
            memory_needed(qwen_7b, 8192),
            4_680_000_000 + 8192 * 57_344 + 300_000_000
        );
    }

    #[test]
    fn the_recommendation_is_the_largest_readable_model_that_fits() {
        for (facts, expected) in [
            // This development box: 16.7 GB/s, 23 GB free.
            (facts(23.0, 16.7), Some("qwen2.5-1.5b")),
            // A fast desktop: the 7B models are readable; the largest is chosen.
            (facts(32.0, 60.0), Some("qwen2.5-7b")),
            // Fast but 4 GB free: the 7B models do not fit.
            (facts(4.0, 60.0), Some("gemma-3-4b")),
            // Slow memory: nothing is readable, so the fastest that fits.
            (facts(8.0, 2.0), Some("qwen2.5-0.5b")),
            // Not even the smallest fits.
            (facts(0.3, 16.7), None),
        ] {
            assert_eq!(recommended_id(facts).as_deref(), expected, "{facts:?}");
        }
    }

    #[test]
    fn quantizations_that_suit_the_cpu_are_preferred() {
        // An office mirror adds the 1.5B model in Q5_1: larger, still
        // readable at 16.7 GB/s, but without kernels rearranged for this CPU.
        let mut entries = builtin();
        let mut q5 = entries[1].clone();
        q5.source.id = "qwen2.5-1.5b-q5".into();
        q5.source.file = "Qwen2.5-1.5B-Instruct-Q5_1.gguf".into();
        q5.source.size_bytes = 1_200_000_000;
        entries.push(q5);
        let judged = judge(entries.clone(), facts(23.0, 16.7), &[]);
        let mirror = judged
            .iter()
            .find(|j| j.entry.source.id == "qwen2.5-1.5b-q5")
            .unwrap();
        assert_eq!(mirror.quantization, Some("Q5_1"));
        assert!(!mirror.suits_cpu);
        assert!(
            judged
                .iter()
                .filter(|j| j.entry.source.id != "qwen2.5-1.5b-q5")
                .all(|j| j.suits_cpu)
        );
        let chosen = judged.iter().find(|j| j.recommended).unwrap();
        assert_eq!(chosen.entry.source.id, "qwen2.5-1.5b");
        // A CPU without AVX2 has no favourite: the largest readable wins.
        let old_cpu = BoxFacts {
            best_quantizations: &[],
            ..facts(23.0, 16.7)
        };
        let judged = judge(entries, old_cpu, &[]);
        let chosen = judged.iter().find(|j| j.recommended).unwrap();
        assert_eq!(chosen.entry.source.id, "qwen2.5-1.5b-q5");
    }
}
