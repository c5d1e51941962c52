//! `hearth bench`: measures the assistant through Hearth's real HTTP API —
//! `hearth serve` in its own process, as it ships — and compares each figure
//! with references measured in the same interleaved rounds: the bare
//! llama.cpp decode loop on the same model and threads
//! ([`crate::llm::bench`], in this process), and, with `--peer-server
//! PATH`, llama.cpp's own `llama-server` with the same model, threads and
//! slots, through its OpenAI API.
//!
//! Figures: prompt and generation tokens/s and time to first token of one
//! chat; aggregate tokens/s with 1, 2, 4 and 8 concurrent chats; time to
//! first token of a follow-up turn in a 2,000-token conversation; a chat's
//! generation speed while 200 documents are imported, against the same chat
//! alone; the cost per token of an answer constrained by a grammar, against
//! free decoding ([`grammar`], also alone with `--grammar`); and the resident
//! memory of an idle server without a model. The CPU's model and flags are
//! printed with them.

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
    /// Chats the servers answer at once (their slots).
    pub parallel: u32,
    /// llama.cpp's own `llama-server`, measured beside Hearth.
    pub peer_server: Option<PathBuf>,
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
}

/// Runs the benchmark and prints the report.
///
/// Hearth is measured as it ships: `hearth serve` in a process of its own,
/// through its OpenAI-compatible API, as any client would. The reference
/// (the bare llama.cpp loop) runs in this process, and the peer
/// (`llama-server`, with `--peer-server`) in its own: no two llama.cpp thread
/// pools ever share a process, and only one side runs at a time. (The
/// earlier version served Hearth inside this process beside the bare loop;
/// their two OpenMP thread teams competed for the cores and both sides
/// measured at about half their speed.)
///
/// The measurements run in rounds, each taking every side's figure back to
/// back, and the report gives the median of the per-round ratios: the
/// speed of a shared or throttled machine drifts by 10–20 % within a
/// minute, which a best-of over separate phases mistakes for overhead.
pub async fn run(options: BenchOptions) -> anyhow::Result<()> {
    if !options.model.is_file() {
        bail!("no model at {}; pass --model", options.model.display());
    }
    let cpu = format!(
        "{}; engine kernels: {}",
        crate::llm::hardware::cpu_flags_summary(),
        crate::llm::hardware::engine_kernels_summary()
    );
    println!(
        "Hearth benchmark: {} on {} threads, {} slots ({} answer tokens per chat, {} interleaved rounds)\nCPU: {cpu}\n",
        crate::llm::model_name(&options.model),
        options.threads,
        options.parallel,
        options.tokens,
        options.runs
    );

    let hearth = Server::hearth(&options).await?;
    let peer = match &options.peer_server {
        Some(path) => Some(Server::peer(path, &options).await?),
        None => None,
    };
    let client = crate::egress::loopback_client(None);
    let targets: Vec<Http> = std::iter::once(&hearth)
        .chain(peer.as_ref())
        .map(|server| Http {
            client: &client,
            base: &server.base,
            key: &server.key,
        })
        .collect();
    // Warm up each side once (the first request of a process pays for
    // allocations and page faults).
    // Hearth answers 503 while its model loads.
    for http in &targets {
        let mut tries = 0;
        while let Err(err) = http.chat(vec![system(SYSTEM), user(PROMPT)], 8).await {
            tries += 1;
            if tries > 600 || !err.to_string().contains("503") {
                return Err(err);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // The reference: the bare loop, loaded once, in this process.
    let bare = {
        let model = options.model.clone();
        let threads = options.threads;
        tokio::task::spawn_blocking(move || crate::llm::bench::BareLoop::start(&model, threads))
            .await?
            .map_err(|e| anyhow::anyhow!(e))?
    };
    let bare = std::sync::Arc::new(bare);

    let mut rounds = Vec::new();
    for _ in 0..options.runs {
        rounds.push(measure_round(&targets, &bare, options.tokens).await?);
    }
    // What a grammar costs, on the bare loop while it is still loaded.
    let constrained = {
        let (bare, runs) = (bare.clone(), options.runs);
        tokio::task::spawn_blocking(move || grammar::measure(&bare, runs)).await??
    };
    drop(bare);

    // Follow-up in a long conversation: about 2,000 tokens of history.
    let mut follow_ups = Vec::new();
    for http in &targets {
        follow_ups.push(follow_up(http).await?);
    }
    // Chat while the box imports documents (Hearth only).
    let import = chat_during_import(&targets[0], options.tokens).await?;
    drop(targets);
    hearth.stop().await;
    if let Some(peer) = peer {
        peer.stop().await;
    }
    // Idle memory of a server without a model.
    let idle_rss = idle_server_rss().await.ok();

    report(
        &rounds,
        options.peer_server.is_some(),
        &follow_ups,
        &import,
        idle_rss,
        &constrained,
    );
    println!(
        "\nmachine: {} logical CPUs, {} physical cores used for {} threads; CPU: {cpu}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        crate::llm::hardware::physical_cores(),
        options.threads,
    );
    Ok(())
}

/// A server under test in its own process: Hearth or the peer.
struct Server {
    child: tokio::process::Child,
    base: String,
    /// Hearth's API key (the peer takes none).
    key: String,
    dir: PathBuf,
}

impl Server {
    /// `hearth serve` on loopback with the model, threads and slots, and an
    /// owner with an API key.
    async fn hearth(options: &BenchOptions) -> anyhow::Result<Server> {
        let dir = tempfile_dir()?;
        let config_path = dir.join("bench.toml");
        std::fs::write(
            &config_path,
            format!(
                "[llm]\nmodel = {:?}\nthreads = {}\nparallel = {}\ncontext_per_chat = 4096\nmax_queue = 64\n",
                options.model.to_string_lossy(),
                options.threads,
                options.parallel
            ),
        )?;
        let key = {
            let config = Config {
                data_dir: dir.clone(),
                ..Config::default()
            };
            let state = AppState::for_console(config).await?;
            bench_user(&state).await?
        };
        let port = free_port()?;
        let child = tokio::process::Command::new(std::env::current_exe()?)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("HEARTH_DATA_DIR", &dir)
            .env("HEARTH_CONFIG", &config_path)
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join("server.log"))?)
            .kill_on_drop(true)
            .spawn()
            .context("cannot start hearth serve")?;
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            key,
            dir,
        };
        server.wait_until_answering("/readyz").await?;
        Ok(server)
    }

    /// llama.cpp's own `llama-server` at `path`, with the same model,
    /// threads, slots and context per slot.
    async fn peer(path: &Path, options: &BenchOptions) -> anyhow::Result<Server> {
        let dir = tempfile_dir()?;
        let port = free_port()?;
        let threads = options.threads.to_string();
        let child = tokio::process::Command::new(path)
            .arg("-m")
            .arg(&options.model)
            .args(["-t", &threads, "-tb", &threads])
            .args(["-np", &options.parallel.to_string()])
            .args(["-c", &(4096 * options.parallel).to_string()])
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join("peer.log"))?)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", path.display()))?;
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            key: "none".into(),
            dir,
        };
        server.wait_until_answering("/health").await?;
        Ok(server)
    }

    async fn wait_until_answering(&self, path: &str) -> anyhow::Result<()> {
        let client = crate::egress::loopback_client(None);
        for _ in 0..1200 {
            if let Ok(r) = client.get(format!("{}{path}", self.base)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let log = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect::<String>();
        bail!("{} did not start: {log}", self.base)
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> anyhow::Result<u16> {
    let socket = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(socket.local_addr()?.port())
}

/// The follow-up figure: time to first token of a turn in a conversation of
/// about 2,000 tokens, against its first turn.
struct FollowUp {
    prompt_tokens: usize,
    first_ms: f64,
    follow_ms: f64,
}

async fn follow_up(http: &Http<'_>) -> anyhow::Result<FollowUp> {
    let mut history = vec![system(&format!(
        "Office notes {}. {SYSTEM}",
        crate::auth::token::random_token(6)
    ))];
    let note = "The patient called about an invoice from March, a crown on the lower left molar, and their insurance number. ";
    for turn in 0..14 {
        history.push(user(&format!("Turn {turn}: {}", note.repeat(3))));
        history.push(json!({"role": "assistant", "content": format!("Noted for turn {turn}: {}", note.repeat(2))}));
    }
    history.push(user("Summarise the calls so far."));
    let first = http.chat(history.clone(), 16).await?;
    history.push(json!({"role": "assistant", "content": "The patient called about an invoice, a crown and their insurance."}));
    history.push(user("And what should we do next?"));
    let follow = http.chat(history, 16).await?;
    Ok(FollowUp {
        prompt_tokens: follow.prompt_tokens,
        first_ms: first.time_to_first_token.as_secs_f64() * 1e3,
        follow_ms: follow.time_to_first_token.as_secs_f64() * 1e3,
    })
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
async fn chat_during_import(http: &Http<'_>, tokens: usize) -> anyhow::Result<ImportFigures> {
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
    while !uploads.is_finished() || http.documents_pending().await? > 0 {
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
/// Concurrent sequences the bare loop also runs (up to the server's slots).
const TOGETHER: [usize; 3] = [1, 2, 4];

/// One side's figures in one round.
#[derive(Default, Clone)]
struct Side {
    prompt: f64,
    generation: f64,
    ttft_ms: f64,
    /// Aggregate answer tokens per second for each of [`CONCURRENCY`] (for
    /// one chat: the median of the 1-chat runs between the others).
    aggregate: Vec<f64>,
    /// Each aggregate over the 1-chat runs just before and after it.
    aggregate_ratio: Vec<f64>,
}

/// One round: every side's figures, taken back to back.
struct Round {
    prompt_tokens: usize,
    bare: Side,
    /// Hearth first, then the peer if there is one.
    http: Vec<Side>,
}

async fn measure_round(
    targets: &[Http<'_>],
    bare: &std::sync::Arc<crate::llm::bench::BareLoop>,
    tokens: usize,
) -> anyhow::Result<Round> {
    // A system prompt no slot has seen, so every side evaluates it all.
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
    let mut prompt_tokens = 0;
    let mut sides = Vec::new();
    for http in targets {
        let cold = http
            .chat(vec![system(&fresh_system()), user(PROMPT)], tokens)
            .await?;
        prompt_tokens = prompt_tokens.max(cold.prompt_tokens);
        sides.push(Side {
            prompt: cold.prompt_tokens as f64 / cold.time_to_first_token.as_secs_f64().max(1e-9),
            generation: cold.completion_tokens.saturating_sub(1) as f64
                / cold.generation_time.as_secs_f64().max(1e-9),
            ttft_ms: cold.time_to_first_token.as_secs_f64() * 1e3,
            aggregate: vec![0.0],
            aggregate_ratio: vec![1.0],
        });
    }
    let mut bare_side = Side {
        prompt: reference.prompt_tokens_per_second(),
        generation: reference.generation_tokens_per_second(),
        ttft_ms: reference.time_to_first_token.as_secs_f64() * 1e3,
        aggregate: vec![0.0],
        aggregate_ratio: vec![1.0],
    };

    // Each figure for several chats is taken between two 1-chat runs and
    // compared with their mean: the machine's speed drifts within seconds.
    // The sides take turns at each concurrency.
    let mut singles: Vec<Vec<f64>> = Vec::new();
    for http in targets {
        singles.push(vec![http_aggregate(http, 1).await?]);
    }
    let mut bare_singles = vec![bare_aggregate_run(bare, 1).await?];
    for concurrency in CONCURRENCY.into_iter().skip(1) {
        for (i, http) in targets.iter().enumerate() {
            let together = http_aggregate(http, concurrency).await?;
            let after = http_aggregate(http, 1).await?;
            let before = *singles[i].last().unwrap_or(&after);
            sides[i].aggregate.push(together);
            sides[i]
                .aggregate_ratio
                .push(together / ((before + after) / 2.0));
            singles[i].push(after);
        }
        if TOGETHER.contains(&concurrency) {
            let together = bare_aggregate_run(bare, concurrency).await?;
            let after = bare_aggregate_run(bare, 1).await?;
            let before = *bare_singles.last().unwrap_or(&after);
            bare_side.aggregate.push(together);
            bare_side
                .aggregate_ratio
                .push(together / ((before + after) / 2.0));
            bare_singles.push(after);
        }
    }
    for (side, singles) in sides.iter_mut().zip(singles) {
        side.aggregate[0] = median(singles);
    }
    bare_side.aggregate[0] = median(bare_singles);
    Ok(Round {
        prompt_tokens,
        bare: bare_side,
        http: sides,
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
    let chats = (0..concurrency)
        .map(|n| http.chat(vec![system(SYSTEM), user(&visitor(n))], AGGREGATE_TOKENS));
    let mut answered = 0;
    for run in futures::future::join_all(chats).await {
        answered += run?.completion_tokens;
    }
    Ok(answered as f64 / started.elapsed().as_secs_f64())
}

/// The same through the bare loop: `concurrency` sequences, one batch a step.
async fn bare_aggregate_run(
    bare: &std::sync::Arc<crate::llm::bench::BareLoop>,
    concurrency: usize,
) -> anyhow::Result<f64> {
    let conversations = (0..concurrency)
        .map(|n| {
            vec![
                Message::new(Role::System, SYSTEM),
                Message::new(Role::User, visitor(n)),
            ]
        })
        .collect();
    let bare = bare.clone();
    let run =
        tokio::task::spawn_blocking(move || bare.run_together(conversations, AGGREGATE_TOKENS))
            .await?
            .map_err(|e| anyhow::anyhow!(e))?;
    Ok(run.tokens_per_second())
}

/// The report: Hearth against the peer (when measured) and the bare loop.
fn report(
    rounds: &[Round],
    with_peer: bool,
    follow_ups: &[FollowUp],
    import: &ImportFigures,
    idle_rss: Option<u64>,
    constrained: &grammar::GrammarFigures,
) {
    let med = |f: &dyn Fn(&Round) -> f64| median(rounds.iter().map(f).collect());
    let hearth = |f: fn(&Side) -> f64| move |r: &Round| f(&r.http[0]);
    let peer = |f: fn(&Side) -> f64| move |r: &Round| f(&r.http[1]);
    if with_peer {
        println!(
            "| figure | Hearth (HTTP) | llama-server (HTTP) | Hearth / llama-server | bare loop | target |"
        );
        println!("|---|---|---|---|---|---|");
    } else {
        println!("| figure | Hearth (HTTP) | bare loop | Hearth / bare loop | target |");
        println!("|---|---|---|---|---|");
    }
    let row = |name: &str, h: f64, p: Option<f64>, b: Option<f64>, ratio: f64, target: String| {
        let b = b.map_or(String::new(), |b| format!("{b:.1}"));
        match p {
            Some(p) if with_peer => {
                println!("| {name} | {h:.1} | {p:.1} | {ratio:.2} | {b} | {target} |")
            }
            _ => println!("| {name} | {h:.1} | {b} | {ratio:.2} | {target} |"),
        }
    };
    let versus = |f: fn(&Side) -> f64| {
        if with_peer {
            med(&|r| f(&r.http[0]) / f(&r.http[1]).max(1e-9))
        } else {
            med(&|r| f(&r.http[0]) / f(&r.bare).max(1e-9))
        }
    };
    let peer_value = |f: fn(&Side) -> f64| with_peer.then(|| med(&peer(f)));
    let prompt: fn(&Side) -> f64 = |s| s.prompt;
    row(
        &format!("prompt tokens/s (cold, {} tokens)", rounds[0].prompt_tokens),
        med(&hearth(prompt)),
        peer_value(prompt),
        Some(med(&|r| r.bare.prompt)),
        versus(prompt),
        String::new(),
    );
    let generation: fn(&Side) -> f64 = |s| s.generation;
    let ratio = versus(generation);
    row(
        "generation tokens/s (1 chat)",
        med(&hearth(generation)),
        peer_value(generation),
        Some(med(&|r| r.bare.generation)),
        ratio,
        format!("≥ 0.95 {}", verdict(ratio >= 0.95)),
    );
    let ttft: fn(&Side) -> f64 = |s| s.ttft_ms;
    let gap = if with_peer {
        med(&|r| r.http[0].ttft_ms - r.http[1].ttft_ms)
    } else {
        med(&|r| r.http[0].ttft_ms - r.bare.ttft_ms)
    };
    let b = med(&|r| r.bare.ttft_ms);
    let h = med(&hearth(ttft));
    match peer_value(ttft) {
        Some(p) => println!(
            "| time to first token, ms | {h:.0} | {p:.0} | {gap:+.0} ms | {b:.0} | ≤ +15 ms {} |",
            verdict(gap <= 15.0)
        ),
        None => println!(
            "| time to first token, ms | {h:.0} | {b:.0} | {gap:+.0} ms | ≤ +15 ms {} |",
            verdict(gap <= 15.0)
        ),
    }
    for (i, concurrency) in CONCURRENCY.iter().enumerate() {
        let chats = if *concurrency == 1 { "chat" } else { "chats" };
        let h = med(&|r| r.http[0].aggregate[i]);
        let b = TOGETHER
            .iter()
            .position(|t| t == concurrency)
            .map(|j| med(&|r| r.bare.aggregate[j]));
        if with_peer {
            let p = med(&|r| r.http[1].aggregate[i]);
            let ratio = med(&|r| r.http[0].aggregate[i] / r.http[1].aggregate[i].max(1e-9));
            let target = if *concurrency == 4 {
                format!("≥ 1.0 {}", verdict(ratio >= 1.0))
            } else {
                String::new()
            };
            row(
                &format!("aggregate tokens/s, {concurrency} {chats}"),
                h,
                Some(p),
                b,
                ratio,
                target,
            );
        } else {
            let ratio = med(&|r| r.http[0].aggregate_ratio[i]);
            println!(
                "| aggregate tokens/s, {concurrency} {chats} (× 1 chat) | {h:.1} | {} | {ratio:.2} × 1 chat | |",
                b.map_or(String::new(), |b| format!("{b:.1}"))
            );
        }
    }
    for (i, concurrency) in CONCURRENCY.iter().enumerate().skip(1) {
        let mut line = format!(
            "| scaling, {concurrency} chats over 1 | {:.2} |",
            med(&|r| r.http[0].aggregate_ratio[i])
        );
        if with_peer {
            line.push_str(&format!(
                " {:.2} | |",
                med(&|r| r.http[1].aggregate_ratio[i])
            ));
        }
        let bare = TOGETHER
            .iter()
            .position(|t| t == concurrency)
            .map(|j| format!("{:.2}", med(&|r| r.bare.aggregate_ratio[j])))
            .unwrap_or_default();
        line.push_str(&format!(" {bare} | |"));
        println!("{line}");
    }
    println!("{}", constrained.rows());
    for (n, follow) in follow_ups.iter().enumerate() {
        let ratio = follow.follow_ms / follow.first_ms.max(1e-9);
        println!(
            "| follow-up TTFT in a {}-token conversation, ms ({}) | {:.0} | first turn {:.0} | {ratio:.2} | ≤ 0.25 {} |",
            follow.prompt_tokens,
            if n == 0 { "Hearth" } else { "llama-server" },
            follow.follow_ms,
            follow.first_ms,
            verdict(ratio <= 0.25)
        );
    }
    println!(
        "| generation tokens/s while {} documents are imported | {:.1} ({} chats) | alone {:.1} | {:.2} | ≥ 0.6 {} |",
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
        "\nper round (Hearth's generation tokens/s, TTFT ms, 4-chat aggregate; then the same for llama-server and the bare loop):"
    );
    for (n, r) in rounds.iter().enumerate() {
        let side = |s: &Side| {
            format!(
                "{:.1}, {:.0}, {:.1}",
                s.generation,
                s.ttft_ms,
                s.aggregate.get(2).copied().unwrap_or(0.0)
            )
        };
        let peer = r.http.get(1).map(side).unwrap_or_else(|| "-".into());
        println!(
            "  {}: {} | {} | {}",
            n + 1,
            side(&r.http[0]),
            peer,
            side(&r.bare)
        );
    }
    println!("\n{}", constrained.notes());
}

fn system(content: &str) -> Value {
    json!({"role": "system", "content": content})
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
    /// Documents queued or being processed.
    async fn documents_pending(&self) -> anyhow::Result<i64> {
        let mut pending = 0;
        for status in ["queued", "processing"] {
            let page: Value = self
                .client
                .get(format!("{}/api/v1/documents", self.base))
                .bearer_auth(self.key)
                .query(&[("status", status), ("limit", "1")])
                .send()
                .await?
                .json()
                .await?;
            pending += page["total"].as_i64().unwrap_or(0);
        }
        Ok(pending)
    }

    /// Streams one chat completion and times it as a client.
    async fn chat(&self, messages: Vec<Value>, tokens: usize) -> anyhow::Result<HttpRun> {
        let (client, base, key) = (self.client, self.base, self.key);
        let body = json!({
            "messages": messages, "stream": true,
            "stream_options": {"include_usage": true},
            "max_tokens": tokens, "temperature": 0, "ignore_eos": true,
        });
        let mut started = Instant::now();
        let mut attempts = 0;
        let mut response = loop {
            match client
                .post(format!("{base}/v1/chat/completions"))
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
            {
                Ok(response) => break response,
                // llama-server closes a kept-alive connection now and then
                // just as the client reuses it: nothing was sent, so ask
                // again (on a fresh connection), timed from the new start.
                Err(err) if attempts < 3 && err.is_request() => {
                    attempts += 1;
                    started = Instant::now();
                }
                Err(err) => return Err(anyhow::Error::new(err).context("request failed")),
            }
        };
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
