//! `hearth bench --backup`: a data directory with `--backup-gb` GB of stored
//! documents (default 5) and `--backup-chunks` chunks of searchable text
//! (default 100,000), backed up while searches (and, with a model, chats)
//! run over loopback HTTP, then restored onto a fresh directory. Reports
//! MB/s for each, and search latency and chat speed during the backup
//! against the same mix when idle (target: search p99 during a backup at
//! most 3× idle). The files are incompressible, as scans and PDFs mostly
//! are.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::app::AppState;
use crate::search::bench::percentile;

const QUERIES: usize = 300;
const PASSPHRASE: &str = "bench-passphrase-not-secret";

pub async fn run(gb: f64, chunks: usize, model: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    println!("Hearth backup benchmark\n");
    let dir = super::tempfile_dir()?;
    let mut config = super::docs::state_config(&dir);
    let model = model.filter(|m| m.is_file());
    if let Some(model) = &model {
        config.llm.model = model.to_string_lossy().to_string();
    }
    let state = AppState::for_console(config.clone()).await?;
    let queries = super::docs::store_corpus(&state, chunks, QUERIES).await?;
    drop(state);

    // The stored originals: incompressible files of 100 MB.
    let started = Instant::now();
    let files_dir = dir.join("documents").join("files").join("bench");
    std::fs::create_dir_all(&files_dir)?;
    let total = (gb * 1e9) as u64;
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut written = 0u64;
    let mut n = 0;
    let mut block = vec![0u8; 1 << 20];
    while written < total {
        let mut file = std::io::BufWriter::new(std::fs::File::create(
            files_dir.join(format!("scan-{n:04}.bin")),
        )?);
        for _ in 0..100 {
            if written >= total {
                break;
            }
            for word in block.chunks_exact_mut(8) {
                // xorshift64: fast, and not compressible.
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                word.copy_from_slice(&seed.to_le_bytes());
            }
            file.write_all(&block)?;
            written += block.len() as u64;
        }
        file.flush()?;
        n += 1;
    }
    println!(
        "data: {:.1} GB of documents in {n} files, {chunks} chunks (made in {:.0} s)",
        written as f64 / 1e9,
        started.elapsed().as_secs_f64()
    );

    // Served, with its index rebuilt at start.
    let state = AppState::new(config.clone()).await?;
    let key = super::bench_user(&state).await?;
    let (base, stop, server) = super::docs::serve(&state).await?;
    super::docs::wait_for_index(&state).await?;
    let client = crate::egress::loopback_client(None);
    let search = |query: String| {
        let client = client.clone();
        let base = base.clone();
        let key = key.clone();
        async move {
            let started = Instant::now();
            let response = client
                .get(format!("{base}/api/v1/search"))
                .bearer_auth(&key)
                .query(&[("q", query.as_str())])
                .send()
                .await?;
            let _ = response.bytes().await?;
            anyhow::Ok(started.elapsed())
        }
    };
    state
        .chat
        .engine
        .wait_until_settled(Duration::from_secs(120))
        .await;
    let http = super::Http {
        client: &client,
        base: &base,
        key: &key,
    };
    // Warm up, then the mix of searches (and chats) idle.
    for query in queries.iter().take(40) {
        search(query.clone()).await?;
    }
    let chats = model.is_some();
    let done = std::sync::atomic::AtomicBool::new(false);
    if chats {
        // The first chat evaluates the system prompt cold; later ones reuse it.
        http.chat(vec![super::user(super::PROMPT)], 8).await?;
    }
    // As long as a backup of this size takes, give or take: 20 s.
    let idle_for = Duration::from_secs(20);
    let searches = async {
        let started = Instant::now();
        let mut took = Vec::new();
        let mut i = 0;
        while i < queries.len() || started.elapsed() < idle_for {
            took.push(search(queries[i % queries.len()].clone()).await?);
            i += 1;
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        anyhow::Ok(took)
    };
    let (idle, idle_chats) = tokio::join!(searches, chat_loop(&http, chats, &done));
    let (mut idle, idle_chats) = (idle?, idle_chats?);

    // The backup, with the same mix over and over while it runs.
    let usb = dir.join("usb");
    let progress = std::sync::Arc::new(crate::backup::Progress::default());
    let job = {
        let config = config.clone();
        let usb = usb.clone();
        let progress = progress.clone();
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let written = crate::backup::write_with_progress(
                &config,
                &usb,
                PASSPHRASE,
                jiff::Timestamp::now().as_second(),
                false,
                &progress,
            )?;
            anyhow::Ok((written, started.elapsed()))
        })
    };
    let done = std::sync::atomic::AtomicBool::new(false);
    let searches = async {
        let mut took = Vec::new();
        let mut i = 0;
        while !job.is_finished() {
            took.push(search(queries[i % queries.len()].clone()).await?);
            i += 1;
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        anyhow::Ok(took)
    };
    let (during, during_chats) = tokio::join!(searches, chat_loop(&http, chats, &done));
    let (mut during, during_chats) = (during?, during_chats?);
    let (archive, backup_time) = job.await??;
    let input = progress.total.load(std::sync::atomic::Ordering::Relaxed);
    let _ = stop.send(());
    let _ = server.await;
    drop(state);

    // Restored onto a fresh directory.
    let fresh = dir.join("fresh");
    std::fs::create_dir_all(&fresh)?;
    let fresh_config = super::docs::state_config(&fresh);
    let started = Instant::now();
    let archive_path = archive.path.clone();
    let restored = tokio::task::spawn_blocking(move || {
        crate::backup::restore(&fresh_config, &archive_path, PASSPHRASE, false)
    })
    .await??;
    let restore_time = started.elapsed();

    idle.sort();
    during.sort();
    let chat_figures = |runs: &[super::HttpRun]| {
        let ttft = super::median(
            runs.iter()
                .map(|r| r.time_to_first_token.as_secs_f64() * 1e3)
                .collect(),
        );
        let speed = super::median(
            runs.iter()
                .map(|r| {
                    r.completion_tokens.saturating_sub(1) as f64
                        / r.generation_time.as_secs_f64().max(1e-9)
                })
                .collect(),
        );
        (ttft, speed)
    };
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (idle50, idle99) = (percentile(&idle, 50.0), percentile(&idle, 99.0));
    let (during50, during99) = (percentile(&during, 50.0), percentile(&during, 99.0));
    let ratio = ms(during99) / ms(idle99).max(1e-6);
    println!("\n| measure | value |");
    println!("|---|---|");
    println!(
        "| backup: {:.2} GB read, {:.2} GB written | {:.1} s, {:.0} MB/s |",
        input as f64 / 1e9,
        archive.bytes as f64 / 1e9,
        backup_time.as_secs_f64(),
        input as f64 / 1e6 / backup_time.as_secs_f64().max(1e-9)
    );
    println!(
        "| restore: {} files | {:.1} s, {:.0} MB/s |",
        restored.files,
        restore_time.as_secs_f64(),
        archive.bytes as f64 / 1e6 / restore_time.as_secs_f64().max(1e-9)
    );
    println!(
        "| search idle ({} queries in 20 s) | p50 {:.1} ms, p99 {:.1} ms |",
        idle.len(),
        ms(idle50),
        ms(idle99)
    );
    println!(
        "| search during the backup ({} queries) | p50 {:.1} ms, p99 {:.1} ms |",
        during.len(),
        ms(during50),
        ms(during99)
    );
    println!(
        "| p99 during / idle | {ratio:.2} (target ≤ 3) {} |",
        if ratio <= 3.0 { "✓" } else { "✗" }
    );
    if chats && !idle_chats.is_empty() && !during_chats.is_empty() {
        let (idle_ttft, idle_speed) = chat_figures(&idle_chats);
        let (ttft, speed) = chat_figures(&during_chats);
        println!(
            "| chat idle ({} chats of 32 tokens, beside the searches) | TTFT {idle_ttft:.0} ms, {idle_speed:.1} tokens/s |",
            idle_chats.len()
        );
        println!(
            "| chat during the backup ({} chats) | TTFT {ttft:.0} ms ({:.2}× idle), {speed:.1} tokens/s ({:.2}× idle) |",
            during_chats.len(),
            ttft / idle_ttft.max(1e-9),
            speed / idle_speed.max(1e-9)
        );
    } else {
        println!("| chat | not measured: no model (pass --model) |");
    }
    println!(
        "\nmachine: {} logical CPUs; CPU: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        crate::llm::hardware::cpu_flags_summary()
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Chats of 32 tokens one after another, while `chats`, until `done`.
async fn chat_loop(
    http: &super::Http<'_>,
    chats: bool,
    done: &std::sync::atomic::AtomicBool,
) -> anyhow::Result<Vec<super::HttpRun>> {
    let mut runs = Vec::new();
    while chats && !done.load(std::sync::atomic::Ordering::Relaxed) {
        runs.push(http.chat(vec![super::user(super::PROMPT)], 32).await?);
    }
    Ok(runs)
}
