//! `hearth bench --docs 10000,100000`: documents measured through Hearth.
//!
//! - Ingestion: real files (text, Markdown, HTML, CSV) through the whole
//!   pipeline (storage, the extraction child process, chunking, the index,
//!   SQLite): documents/s and MB of text/s.
//! - Search at each size: the synthetic office corpus of `search::bench`
//!   stored as real documents (SQLite chunks, rebuilt into the index by the
//!   server's own start-up path), then the same query mix through
//!   `GET /api/v1/search` over loopback HTTP and as raw in-process tantivy
//!   queries on the same index with the same access filter: p50/p99 and
//!   the ratio.

use std::time::{Duration, Instant};

use anyhow::Context;

use crate::app::AppState;
use crate::config::Config;
use crate::search::SearchRequest;
use crate::search::bench::{CORPUS_COLLECTIONS, corpus, percentile};
use crate::store::{
    CollectionAccess, CollectionId, DocumentSource, NewDocument, Processed, StoredChunk,
};

const QUERIES: usize = 400;
const WARMUP: usize = 40;

pub async fn run(sizes: Vec<usize>) -> anyhow::Result<()> {
    println!("Hearth documents benchmark\n");
    ingest().await?;
    println!(
        "\n| chunks | documents | search p50 HTTP | p50 raw | p99 HTTP | p99 raw | p99 ratio | target |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for size in sizes {
        search_at(size).await?;
    }
    println!(
        "\nmachine: {} logical CPUs; targets: p99 < 50 ms at 100k chunks, HTTP ≤ 2× raw tantivy",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    Ok(())
}

pub(super) fn state_config(dir: &std::path::Path) -> Config {
    let mut config = Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    config.llm.model = "/nonexistent/no-model.gguf".into();
    config
}

pub(super) async fn serve(
    state: &AppState,
) -> anyhow::Result<(
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::app::run(listener, state.clone(), async {
        let _ = stopped.await;
    }));
    Ok((base, stop, server))
}

pub(super) async fn wait_for_index(state: &AppState) -> anyhow::Result<()> {
    for _ in 0..36_000 {
        if state.search.index().is_some() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the search index did not open")
}

/// Real files through the real pipeline.
async fn ingest() -> anyhow::Result<()> {
    let dir = super::tempfile_dir()?;
    let state = AppState::new(state_config(&dir)).await?;
    let key = super::bench_user(&state).await?;
    let (base, stop, server) = serve(&state).await?;
    wait_for_index(&state).await?;
    let client = crate::egress::loopback_client(None);
    let started = Instant::now();
    let (count, text_bytes) = upload_corpus(&client, &base, &key, 200).await?;
    loop {
        if state.store.documents_pending().await? == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = started.elapsed().as_secs_f64();
    println!(
        "ingestion (upload, extraction child, chunking, index, SQLite): {count} documents, {:.1} MB of text in {took:.1} s: {:.1} documents/s, {:.2} MB/s",
        text_bytes as f64 / 1e6,
        count as f64 / took,
        text_bytes as f64 / 1e6 / took
    );
    let _ = stop.send(());
    let _ = server.await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Uploads `n` office documents (text, Markdown, HTML and CSV, about 15 KB
/// of text each) one after another through `POST /api/v1/documents`, as a
/// person importing a folder would; returns how many and their text bytes.
pub(crate) async fn upload_corpus(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    n: usize,
) -> anyhow::Result<(usize, usize)> {
    let (documents, _) = corpus(2_000, 0);
    let mut text_bytes = 0usize;
    let mut count = 0usize;
    for (i, document) in documents.iter().take(n).enumerate() {
        let text: String = document
            .chunks
            .iter()
            .map(|c| c.text.as_str())
            .collect::<Vec<_>>()
            .join("\n\n");
        let (name, body) = match i % 4 {
            0 => (format!("doc-{i}.txt"), text.clone()),
            1 => (
                format!("doc-{i}.md"),
                format!("# {}\n\n{text}", document.title),
            ),
            2 => (
                format!("doc-{i}.html"),
                format!(
                    "<html><body><h1>{}</h1><p>{}</p></body></html>",
                    document.title,
                    text.replace("\n\n", "</p><p>")
                ),
            ),
            _ => (
                format!("doc-{i}.csv"),
                text.split(". ")
                    .map(|s| format!("\"{}\"", s.replace('"', "")))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        };
        text_bytes += text.len();
        count += 1;
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(body.into_bytes()).file_name(name),
        );
        let response = client
            .post(format!("{base}/api/v1/documents"))
            .bearer_auth(key)
            .multipart(form)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "upload failed: {}",
            response.status()
        );
    }
    Ok((count, text_bytes))
}

/// Stores the synthetic corpus of `n_chunks` chunks as indexed documents,
/// as processing would have; returns `n_queries` queries for it.
pub(super) async fn store_corpus(
    state: &AppState,
    n_chunks: usize,
    n_queries: usize,
) -> anyhow::Result<Vec<String>> {
    let owner_role = crate::store::Role::Owner;
    for n in 1..=CORPUS_COLLECTIONS {
        state
            .store
            .create_collection(
                CollectionAccess {
                    name: format!("Collection {n}"),
                    description: String::new(),
                    roles: vec![owner_role],
                    users: Vec::new(),
                },
                None,
            )
            .await?;
    }
    let (documents, queries) = corpus(n_chunks, n_queries);
    for document in documents {
        let stored_as = format!("bench-{}", document.doc_id);
        state
            .store
            .add_document(NewDocument {
                collection_id: CollectionId(document.collection_id),
                title: document.title.clone(),
                file_name: document.file_name.clone(),
                size: 0,
                sha256: format!("{:064x}", document.doc_id),
                stored_as,
                source: DocumentSource::Import,
                uploaded_by: None,
            })
            .await?;
        let claimed = state
            .store
            .claim_next_document()
            .await?
            .context("no queued document")?;
        state
            .store
            .finish_document(
                claimed.id,
                claimed.sha256,
                Processed::Indexed {
                    title: document.title.clone(),
                    format: document.format.clone(),
                    pages: None,
                    ocr_pages: 0,
                    text_bytes: document.chunks.iter().map(|c| c.text.len() as i64).sum(),
                    chunks: document
                        .chunks
                        .into_iter()
                        .map(|c| StoredChunk {
                            ord: c.ord,
                            page: c.page,
                            heading: c.heading,
                            text: c.text,
                        })
                        .collect(),
                },
            )
            .await?;
    }
    Ok(queries)
}

async fn search_at(n_chunks: usize) -> anyhow::Result<()> {
    let dir = super::tempfile_dir()?;
    let config = state_config(&dir);
    let state = AppState::for_console(config.clone()).await?;
    let queries = store_corpus(&state, n_chunks, QUERIES + WARMUP).await?;
    let count = state
        .store
        .counts()
        .await?
        .documents
        .iter()
        .map(|(_, n)| *n)
        .sum::<i64>();
    drop(state);
    // The server's start-up finds the index out of step and rebuilds it.
    let state = AppState::new(config).await?;
    let key = super::bench_user(&state).await?;
    let started = Instant::now();
    let (base, stop, server) = serve(&state).await?;
    wait_for_index(&state).await?;
    let rebuild = started.elapsed();
    let index = state.search.index().context("no index")?.clone();
    let client = crate::egress::loopback_client(None);
    let allowed: Vec<i64> = (1..=CORPUS_COLLECTIONS).collect();
    let mut http = Vec::new();
    let mut raw = Vec::new();
    for (i, query) in queries.iter().enumerate() {
        let started = Instant::now();
        let response = client
            .get(format!("{base}/api/v1/search"))
            .bearer_auth(&key)
            .query(&[("q", query.as_str())])
            .send()
            .await?;
        let status = response.status();
        let _ = response.bytes().await?;
        let took_http = started.elapsed();
        anyhow::ensure!(
            status.is_success() || status.as_u16() == 400,
            "search answered {status}"
        );
        let request = SearchRequest {
            query: query.clone(),
            allowed_collections: allowed.clone(),
            limit: 10,
            ..SearchRequest::default()
        };
        let index = index.clone();
        let took_raw = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let _ = index.search(&request);
            started.elapsed()
        })
        .await?;
        if i >= WARMUP {
            http.push(took_http);
            raw.push(took_raw);
        }
    }
    http.sort();
    raw.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (p50h, p99h, p50r, p99r) = (
        percentile(&http, 50.0),
        percentile(&http, 99.0),
        percentile(&raw, 50.0),
        percentile(&raw, 99.0),
    );
    let ratio = ms(p99h) / ms(p99r).max(1e-6);
    let ok = ms(p99h) < 50.0 && ratio <= 2.0;
    println!(
        "| {n_chunks} | {count} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {ratio:.2} | {} |",
        ms(p50h),
        ms(p50r),
        ms(p99h),
        ms(p99r),
        if ok { "✓" } else { "✗" }
    );
    println!(
        "  (index rebuilt from the database at start-up in {:.1} s: {:.0} chunks/s)",
        rebuild.as_secs_f64(),
        n_chunks as f64 / rebuild.as_secs_f64().max(1e-9)
    );
    let _ = stop.send(());
    let _ = server.await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
