//! `hearth bench`: measures the assistant through Hearth's real HTTP API and
//! compares each figure with a reference measured in the same run: the bare
//! llama.cpp decode loop on the same model and threads ([`crate::llm::bench`]).
//!
//! Figures: prompt and generation tokens/s and time to first token of one
//! chat; aggregate tokens/s with 1, 2, 4 and 8 concurrent chats; time to
//! first token of a follow-up turn in a 2,000-token conversation; a chat's
//! generation speed while 200 documents are imported, against the same chat
//! alone; the cost per token of an answer constrained by a grammar, against
//! free decoding ([`grammar`], also alone with `--grammar`); and the resident
//! memory of an idle server without a model.

pub mod assistant;
pub mod backup;
pub mod docs;
pub mod grammar;
pub mod redaction;
pub mod schedule;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::config::Config;
use crate::llm::{Message, Role};

/// What to measure with.
pub struct BenchOptions {
    pub model: PathBuf,
    pub threads: u32,
    /// Answer tokens per measured chat.
    pub tokens: usize,
    /// Repetitions of the single-chat measurements.
    pub runs: usize,
}

const SYSTEM: &str =
    "You are the helpful assistant of a dental office. Answer clearly and briefly.";
const PROMPT: &str = "Our dental office opens at 8 and closes at 17 on weekdays. A patient asks whether they can book a cleaning on Saturday, what to bring to a first visit, and how to cancel an appointment. Write a friendly, complete answer.";

/// One HTTP chat, as a client sees it.
struct HttpRun {
    prompt_tokens: usize,
    completion_tokens: usize,
    time_to_first_token: Duration,
    /// From the first content chunk to the last.
    generation_time: Duration,
    total: Duration,
}

/// Runs the benchmark and prints the report.
///
/// The measurements run in rounds, each one taking the reference and the
/// HTTP figure side by side, and the report gives the median of the
/// per-round ratios: the speed of a shared or throttled machine drifts by
/// 10–20 % within a minute, which a best-of over separate phases mistakes
/// for overhead.
pub async fn run(options: BenchOptions) -> anyhow::Result<()> {
    if !options.model.is_file() {
        bail!("no model at {}; pass --model", options.model.display());
    }
    println!(
        "Hearth benchmark: {} on {} threads ({} answer tokens per chat, {} interleaved rounds)\n",
        crate::llm::model_name(&options.model),
        options.threads,
        options.tokens,
        options.runs
    );

    // The reference: the bare loop, loaded once, run between HTTP requests.
    let bare = {
        let model = options.model.clone();
        let threads = options.threads;
        tokio::task::spawn_blocking(move || crate::llm::bench::BareLoop::start(&model, threads))
            .await?
            .map_err(|e| anyhow::anyhow!(e))?
    };
    let bare = std::sync::Arc::new(bare);

    // A real server on loopback with the same model and threads.
    let data_dir = tempfile_dir()?;
    let mut config = Config {
        data_dir: data_dir.clone(),
        ..Config::default()
    };
    config.llm.model = options.model.to_string_lossy().to_string();
    config.llm.threads = options.threads;
    config.llm.context_per_chat = 4096;
    config.llm.parallel = 4;
    config.llm.max_queue = 64;
    let state = AppState::new(config).await?;
    state
        .chat
        .engine
        .wait_until_settled(Duration::from_secs(120))
        .await;
    let key = bench_user(&state).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::app::run(listener, state.clone(), async {
        let _ = stopped.await;
    }));
    let client = crate::egress::loopback_client(None);
    let http = Http {
        client: &client,
        base: &base,
        key: &key,
    };
    // What the server puts before a request without a system message; the
    // bare loop's concurrent runs get the same conversations.
    let system = crate::chat::assistant::AssistantSettings::default()
        .request(&state.auth.business_name(), Vec::new())
        .messages;
    // Warm up the HTTP path once.
    http.chat(vec![user(PROMPT)], 8).await?;

    let mut rounds = Vec::new();
    for _ in 0..options.runs {
        rounds.push(measure_round(&http, &bare, &system, options.tokens).await?);
    }

    // Follow-up in a long conversation: about 2,000 tokens of history.
    let mut history = Vec::new();
    let note = "The patient called about an invoice from March, a crown on the lower left molar, and their insurance number. ";
    for turn in 0..14 {
        history.push(user(&format!("Turn {turn}: {}", note.repeat(3))));
        history.push(json!({"role": "assistant", "content": format!("Noted for turn {turn}: {}", note.repeat(2))}));
    }
    let mut first_turn = history.clone();
    first_turn.push(user("Summarise the calls so far."));
    let first = http.chat(first_turn.clone(), 16).await?;
    let mut longer = first_turn;
    longer.push(json!({"role": "assistant", "content": "The patient called about an invoice, a crown and their insurance."}));
    longer.push(user("And what should we do next?"));
    let follow = http.chat(longer, 16).await?;

    // What a grammar costs, on the bare loop while it is still loaded.
    let constrained = {
        let (bare, runs) = (bare.clone(), options.runs);
        tokio::task::spawn_blocking(move || grammar::measure(&bare, runs)).await??
    };

    // Chat while the box imports documents; the reference is no longer
    // needed, and its threads must not compete with the server's.
    drop(bare);
    let import = chat_during_import(&http, &state, options.tokens).await?;

    let _ = stop.send(());
    let _ = server.await;
    state.chat.engine.shutdown();
    let _ = std::fs::remove_dir_all(&data_dir);

    // Idle memory of a server without a model.
    let idle_rss = idle_server_rss().await.ok();

    let median_of = |f: &dyn Fn(&Round) -> f64| median(rounds.iter().map(f).collect());
    println!("| figure | Hearth (HTTP) | reference | ratio | target |");
    println!("|---|---|---|---|---|");
    let prompt_ratio = median_of(&|r| r.http_prompt / r.bare_prompt);
    println!(
        "| prompt tokens/s (cold, {} tokens) | {:.0} | {:.0} (bare loop) | {prompt_ratio:.2} | |",
        rounds[0].prompt_tokens,
        median_of(&|r| r.http_prompt),
        median_of(&|r| r.bare_prompt),
    );
    let generation_ratio = median_of(&|r| r.http_generation / r.bare_generation);
    println!(
        "| generation tokens/s (1 chat) | {:.1} | {:.1} (bare loop) | {generation_ratio:.2} | ≥ 0.95 {} |",
        median_of(&|r| r.http_generation),
        median_of(&|r| r.bare_generation),
        verdict(generation_ratio >= 0.95)
    );
    let ttft_gap = median_of(&|r| r.http_ttft_ms - r.bare_ttft_ms);
    println!(
        "| time to first token, ms | {:.0} | {:.0} (bare loop) | {ttft_gap:+.0} ms | ≤ +15 ms {} |",
        median_of(&|r| r.http_ttft_ms),
        median_of(&|r| r.bare_ttft_ms),
        verdict(ttft_gap <= 15.0)
    );
    println!("{}", constrained.rows());
    let single = median_of(&|r| r.aggregate[0]);
    for (i, concurrency) in CONCURRENCY.iter().enumerate() {
        let ratio = median_of(&|r| r.aggregate_ratio[i]);
        let target = if *concurrency == 4 {
            format!("≥ 1.5 {}", verdict(ratio >= 1.5))
        } else {
            String::new()
        };
        println!(
            "| aggregate tokens/s, {concurrency} chat{} | {:.1} | {single:.1} (1 chat) | {ratio:.2} | {target} |",
            if *concurrency == 1 { "" } else { "s" },
            median_of(&|r| r.aggregate[i]),
        );
    }
    let bare_single = median_of(&|r| r.bare_aggregate[0]);
    for (i, concurrency) in TOGETHER.iter().enumerate().skip(1) {
        println!(
            "| bare loop aggregate tokens/s, {concurrency} sequences (llama.cpp's ceiling) | | {:.1} vs {bare_single:.1} (1 sequence) | {:.2} | |",
            median_of(&|r| r.bare_aggregate[i]),
            median_of(&|r| r.bare_ratio[i]),
        );
    }
    let ratio = follow.time_to_first_token.as_secs_f64()
        / first.time_to_first_token.as_secs_f64().max(1e-9);
    println!(
        "| follow-up TTFT in a {}-token conversation, ms | {:.0} | {:.0} (first turn) | {:.2} | ≤ 0.25 {} |",
        follow.prompt_tokens,
        follow.time_to_first_token.as_secs_f64() * 1e3,
        first.time_to_first_token.as_secs_f64() * 1e3,
        ratio,
        verdict(ratio <= 0.25)
    );
    println!(
        "| generation tokens/s while {} documents are imported | {:.1} ({} chats) | {:.1} (alone) | {:.2} | ≥ 0.6 {} |",
        import.documents,
        import.during,
        import.chats,
        import.alone,
        import.during / import.alone.max(1e-9),
        verdict(import.during / import.alone.max(1e-9) >= 0.6)
    );
    match idle_rss {
        Some(kib) => println!(
            "| idle server RSS without a model, MB | {:.1} | 40 | {:.2} | < 40 MB {} |",
            kib as f64 / 1024.0,
            kib as f64 / 1024.0 / 40.0,
            verdict(kib < 40 * 1024)
        ),
        None => println!("| idle server RSS without a model | not measured | | | |"),
    }
    println!(
        "\nper round (generation ratio, TTFT gap ms, 2- and 4-chat ratios, bare 2- and 4-sequence ratios):"
    );
    for (n, r) in rounds.iter().enumerate() {
        println!(
            "  {}: {:.2}, {:+.0}, {:.2}, {:.2}, {:.2}, {:.2}",
            n + 1,
            r.http_generation / r.bare_generation,
            r.http_ttft_ms - r.bare_ttft_ms,
            r.aggregate_ratio[1],
            r.aggregate_ratio[2],
            r.bare_ratio[1],
            r.bare_ratio[2]
        );
    }
    println!("\n{}", constrained.notes());
    println!(
        "\nmachine: {} logical CPUs, {} physical cores used for {} threads; {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        crate::llm::hardware::physical_cores(),
        options.threads,
        grammar::cpu_features()
    );
    let _ = (first.total, follow.total);
    Ok(())
}

/// Chat speed alone and while documents are imported.
struct ImportFigures {
    documents: usize,
    /// Median generation tokens/s of chats alone, and during the import.
    alone: f64,
    during: f64,
    chats: usize,
}

/// Documents imported while chats are measured.
const IMPORTED: usize = 200;

/// One person chatting while another imports [`IMPORTED`] documents: the
/// chat's generation speed against the same chat alone, just before. The
/// import (uploads, then extraction in child processes, chunking and the
/// index) runs at a lower CPU priority than the model, so the target is
/// that chat keeps at least 0.6 of its speed.
async fn chat_during_import(
    http: &Http<'_>,
    state: &AppState,
    tokens: usize,
) -> anyhow::Result<ImportFigures> {
    let speed = |run: &HttpRun| {
        run.completion_tokens.saturating_sub(1) as f64 / run.generation_time.as_secs_f64().max(1e-9)
    };
    let question = || vec![user(PROMPT)];
    let mut alone = Vec::new();
    for _ in 0..3 {
        alone.push(speed(&http.chat(question(), tokens).await?));
    }
    let client = crate::egress::loopback_client(None);
    let (base, key) = (http.base.to_string(), http.key.to_string());
    let uploads =
        tokio::spawn(async move { docs::upload_corpus(&client, &base, &key, IMPORTED).await });
    // Every chat counted starts while the import is still going.
    let mut during = Vec::new();
    while !uploads.is_finished() || state.store.documents_pending().await? > 0 {
        during.push(speed(&http.chat(question(), tokens).await?));
    }
    let (documents, _) = uploads.await??;
    anyhow::ensure!(
        !during.is_empty(),
        "the import ended before a chat could be measured"
    );
    Ok(ImportFigures {
        documents,
        alone: median(alone),
        chats: during.len(),
        during: median(during),
    })
}

/// Chats measured together in the aggregate figures.
const CONCURRENCY: [usize; 4] = [1, 2, 4, 8];
/// Answer tokens of each chat in the aggregate figures.
const AGGREGATE_TOKENS: usize = 96;

/// One round: each HTTP figure next to its reference, taken back to back.
struct Round {
    prompt_tokens: usize,
    bare_prompt: f64,
    bare_generation: f64,
    bare_ttft_ms: f64,
    http_prompt: f64,
    http_generation: f64,
    http_ttft_ms: f64,
    /// Aggregate answer tokens per second for each of [`CONCURRENCY`] (for
    /// one chat: the median of the 1-chat runs between the others).
    aggregate: Vec<f64>,
    /// Each aggregate over the 1-chat runs just before and after it.
    aggregate_ratio: Vec<f64>,
    /// The bare loop's aggregate for each of [`TOGETHER`].
    bare_aggregate: Vec<f64>,
    bare_ratio: Vec<f64>,
}

/// Concurrent chats the bare loop also runs (up to the server's slots).
const TOGETHER: [usize; 3] = [1, 2, 4];

async fn measure_round(
    http: &Http<'_>,
    bare: &std::sync::Arc<crate::llm::bench::BareLoop>,
    system: &[Message],
    tokens: usize,
) -> anyhow::Result<Round> {
    // A system prompt no slot has seen, so both sides evaluate it all.
    let fresh_system = || {
        format!(
            "Reference {}. {SYSTEM}",
            crate::auth::token::random_token(6)
        )
    };
    let messages = vec![
        Message::new(Role::System, fresh_system()),
        Message::new(Role::User, PROMPT),
    ];
    let reference = {
        let bare = bare.clone();
        tokio::task::spawn_blocking(move || bare.run(&messages, tokens))
            .await?
            .map_err(|e| anyhow::anyhow!(e))?
    };
    let cold = http
        .chat(
            vec![
                json!({"role": "system", "content": fresh_system()}),
                user(PROMPT),
            ],
            tokens,
        )
        .await?;

    // Each figure for several chats is taken between two 1-chat runs and
    // compared with their mean: the machine's speed drifts within seconds.
    let mut aggregate = vec![0.0];
    let mut aggregate_ratio = vec![1.0];
    let mut bare_aggregate = vec![0.0];
    let mut bare_ratio = vec![1.0];
    let mut single = http_aggregate(http, 1).await?;
    let mut bare_single = bare_aggregate_run(bare, system, 1).await?;
    let (mut singles, mut bare_singles) = (vec![single], vec![bare_single]);
    for concurrency in CONCURRENCY.into_iter().skip(1) {
        let together = http_aggregate(http, concurrency).await?;
        let after = http_aggregate(http, 1).await?;
        aggregate.push(together);
        aggregate_ratio.push(together / ((single + after) / 2.0));
        singles.push(after);
        single = after;
        if TOGETHER.contains(&concurrency) {
            let together = bare_aggregate_run(bare, system, concurrency).await?;
            let after = bare_aggregate_run(bare, system, 1).await?;
            bare_aggregate.push(together);
            bare_ratio.push(together / ((bare_single + after) / 2.0));
            bare_singles.push(after);
            bare_single = after;
        }
    }
    aggregate[0] = median(singles);
    bare_aggregate[0] = median(bare_singles);

    Ok(Round {
        prompt_tokens: cold.prompt_tokens,
        bare_prompt: reference.prompt_tokens_per_second(),
        bare_generation: reference.generation_tokens_per_second(),
        bare_ttft_ms: reference.time_to_first_token.as_secs_f64() * 1e3,
        http_prompt: cold.prompt_tokens as f64 / cold.time_to_first_token.as_secs_f64().max(1e-9),
        http_generation: cold.completion_tokens.saturating_sub(1) as f64
            / cold.generation_time.as_secs_f64().max(1e-9),
        http_ttft_ms: cold.time_to_first_token.as_secs_f64() * 1e3,
        aggregate,
        aggregate_ratio,
        bare_aggregate,
        bare_ratio,
    })
}

/// A chat's user message, different for every chat.
fn visitor(n: usize) -> String {
    format!(
        "Visitor {n} ({}). {PROMPT}",
        crate::auth::token::random_token(6)
    )
}

/// Answer tokens per second of `concurrency` chats sent at once over HTTP.
async fn http_aggregate(http: &Http<'_>, concurrency: usize) -> anyhow::Result<f64> {
    let started = Instant::now();
    let chats = (0..concurrency).map(|n| http.chat(vec![user(&visitor(n))], AGGREGATE_TOKENS));
    let mut answered = 0;
    for run in futures::future::join_all(chats).await {
        answered += run?.completion_tokens;
    }
    Ok(answered as f64 / started.elapsed().as_secs_f64())
}

/// The same through the bare loop: `concurrency` sequences, one batch a step.
async fn bare_aggregate_run(
    bare: &std::sync::Arc<crate::llm::bench::BareLoop>,
    system: &[Message],
    concurrency: usize,
) -> anyhow::Result<f64> {
    let conversations = (0..concurrency)
        .map(|n| {
            let mut messages = system.to_vec();
            messages.push(Message::new(Role::User, visitor(n)));
            messages
        })
        .collect();
    let bare = bare.clone();
    let run =
        tokio::task::spawn_blocking(move || bare.run_together(conversations, AGGREGATE_TOKENS))
            .await?
            .map_err(|e| anyhow::anyhow!(e))?;
    Ok(run.tokens_per_second())
}

fn user(content: &str) -> Value {
    json!({"role": "user", "content": content})
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok { "✓" } else { "✗" }
}

pub(crate) fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "hearth-bench-{}",
        crate::auth::token::random_token(6)
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// An owner account and an API key for it, straight through the admin code.
pub(crate) async fn bench_user(state: &AppState) -> anyhow::Result<String> {
    let input = crate::admin::users::NewUserInput {
        username: "bench".into(),
        display_name: "Benchmark".into(),
        role: Some(crate::store::Role::Owner),
        password: format!("measuring {}", crate::auth::token::random_token(12)),
    };
    let user =
        crate::admin::users::create_user(state, crate::admin::users::Manager::Console, &input, "")
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    let key = crate::auth::issue_api_key(state, &user, "bench", crate::audit::Actor::Console, "")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(key.key)
}

/// A client of the server under test.
struct Http<'a> {
    client: &'a reqwest::Client,
    base: &'a str,
    key: &'a str,
}

impl Http<'_> {
    /// Streams one chat completion and times it as a client.
    async fn chat(&self, messages: Vec<Value>, tokens: usize) -> anyhow::Result<HttpRun> {
        let (client, base, key) = (self.client, self.base, self.key);
        let body = json!({
            "messages": messages, "stream": true,
            "stream_options": {"include_usage": true},
            "max_tokens": tokens, "temperature": 0, "ignore_eos": true,
        });
        let started = Instant::now();
        let mut response = client
            .post(format!("{base}/v1/chat/completions"))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .context("request failed")?;
        if !response.status().is_success() {
            bail!(
                "the server answered {}: {}",
                response.status(),
                response.text().await.unwrap_or_default()
            );
        }
        let (mut first, mut last) = (None, None);
        let mut usage = (0, 0);
        let mut buffer = String::new();
        while let Some(chunk) = response.chunk().await? {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                let Some(data) = event.trim().strip_prefix("data: ") else {
                    continue;
                };
                if data == "[DONE]" {
                    continue;
                }
                let value: Value = serde_json::from_str(data)?;
                if value["choices"][0]["delta"]["content"]
                    .as_str()
                    .is_some_and(|c| !c.is_empty())
                {
                    let now = Instant::now();
                    first.get_or_insert(now);
                    last = Some(now);
                }
                if let Some(u) = value.get("usage") {
                    usage = (
                        u["prompt_tokens"].as_u64().unwrap_or(0) as usize,
                        u["completion_tokens"].as_u64().unwrap_or(0) as usize,
                    );
                }
            }
        }
        let first = first.context("no answer tokens arrived")?;
        Ok(HttpRun {
            prompt_tokens: usage.0,
            completion_tokens: usage.1,
            time_to_first_token: first.duration_since(started),
            generation_time: last.unwrap_or(first).duration_since(first),
            total: started.elapsed(),
        })
    }
}

/// Starts `hearth serve` with no model in a temporary directory and reads
/// its resident memory once it answers.
async fn idle_server_rss() -> anyhow::Result<u64> {
    let dir = tempfile_dir()?;
    let port = {
        let socket = std::net::TcpListener::bind("127.0.0.1:0")?;
        socket.local_addr()?.port()
    };
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .args(["serve", "--data-dir"])
        .arg(&dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("HEARTH_CONFIG", empty_config(&dir)?)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let client = crate::egress::loopback_client(None);
    for _ in 0..100 {
        if client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A few requests, as an idle office box would see.
    for path in ["/setup", "/healthz", "/static/0/app.css"] {
        let _ = client
            .get(format!("http://127.0.0.1:{port}{path}"))
            .send()
            .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = child.id().context("no pid")?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS")?;
    let _ = child.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(rss)
}

fn empty_config(dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join("bench.toml");
    std::fs::write(&path, "[llm]\nmodel = \"/nonexistent/no-model.gguf\"\n")?;
    Ok(path)
}
