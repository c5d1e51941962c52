//! Downloading a model into `models/` (Admin → Models): from a catalog
//! entry, or from an http(s) URL an owner or admin pastes. This is the only
//! place Hearth reaches the internet, and only when Download is pressed.
//!
//! A download is a background task of the server, not of the browser:
//! closing the tab does not stop it, and the page shows its progress when it
//! is opened again (`GET /admin/models/download` as JSON for models.js). One
//! runs at a time per data directory. The bytes go to
//! `models/<name>.partial` (the URL it came from beside it, in
//! `<name>.partial.json`); a broken connection is resumed from the partial's
//! length with an HTTP Range request, up to `models.download_retries` times,
//! and pressing Download again later resumes the same way. A server that
//! ignores Range is read again from the start, cleanly. The SHA-256 is
//! computed while the bytes arrive (over a resumed partial too: its bytes
//! are read back first) and checked against the catalog before the file is
//! moved into `models/`; the first bytes must be GGUF's magic (an HTML error
//! page is refused at once) and the whole header passes `llm::gguf` before
//! the move. Every outcome is audited (`model.downloaded`) and logged.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use super::catalog;
use crate::app::AppState;
use crate::audit::{self, Actor, Event, Target};
use crate::disk;
use crate::error::{AppError, AppResult};
use crate::llm::gguf;
use crate::llm::hardware::format_bytes;
use crate::store::{EgressOutcome, EgressPurpose, User};

/// Where a download comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A catalog entry, by id.
    Catalog(String),
    /// A URL an owner or admin pasted.
    Url(String),
}

/// How far a download has come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Connecting,
    Downloading,
    /// The connection broke; resuming after a pause.
    Retrying,
    /// Every byte is here; checking the checksum and the header.
    Verifying,
    Done,
    Failed,
    Cancelled,
}

impl Phase {
    pub fn running(&self) -> bool {
        matches!(
            self,
            Phase::Connecting | Phase::Downloading | Phase::Retrying | Phase::Verifying
        )
    }
}

/// One download, shared by its task and the pages that show it.
pub struct Job {
    /// The file's name in `models/`.
    pub name: String,
    /// What people see: the catalog name or the file name.
    pub label: String,
    pub url: String,
    /// The catalog's SHA-256, when there is one.
    pub expected_sha256: Option<String>,
    received: AtomicU64,
    /// 0 while unknown.
    total: AtomicU64,
    /// Bytes and time when the current connection began, for the speed.
    connection: Mutex<(u64, Instant)>,
    state: Mutex<(Phase, String, Option<String>)>,
    cancel: CancellationToken,
}

/// A download as the page and models.js see it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Progress {
    /// `idle` when nothing was downloaded since the server started,
    /// otherwise the phase: connecting, downloading, retrying, verifying,
    /// done, failed, cancelled.
    pub state: String,
    pub running: bool,
    pub name: String,
    pub label: String,
    pub received: u64,
    /// 0 while unknown.
    pub total: u64,
    pub percent: u32,
    pub bytes_per_second: u64,
    /// Seconds left at the current speed, when known.
    pub eta_seconds: Option<u64>,
    /// What happened, in a sentence (errors included).
    pub message: String,
    /// The file's SHA-256, once it is complete.
    pub sha256: Option<String>,
    /// The file had no checksum to check against (a pasted URL).
    pub unchecked: bool,
    /// Bytes, speed and time left in words ([`Progress::summary`]).
    pub summary: String,
}

impl Progress {
    fn idle() -> Progress {
        Progress {
            state: "idle".into(),
            running: false,
            name: String::new(),
            label: String::new(),
            received: 0,
            total: 0,
            percent: 0,
            bytes_per_second: 0,
            eta_seconds: None,
            message: String::new(),
            sha256: None,
            unchecked: false,
            summary: String::new(),
        }
    }

    /// "1.2 GB of 4.7 GB · 11 MB/s · about 5 min left".
    pub fn summary(&self) -> String {
        let mut parts = vec![if self.total > 0 {
            format!(
                "{} of {}",
                format_bytes(self.received),
                format_bytes(self.total)
            )
        } else {
            format_bytes(self.received)
        }];
        if self.running && self.bytes_per_second > 0 {
            parts.push(format!("{}/s", format_bytes(self.bytes_per_second)));
        }
        if let Some(eta) = self.eta_seconds.filter(|_| self.running) {
            parts.push(match eta {
                0..60 => format!("about {eta} s left"),
                60..7200 => format!("about {} min left", eta.div_ceil(60)),
                _ => format!("about {} h left", eta / 3600),
            });
        }
        parts.join(" · ")
    }
}

impl Job {
    fn new(name: String, label: String, url: String, expected_sha256: Option<String>) -> Job {
        Job {
            name,
            label,
            url,
            expected_sha256,
            received: AtomicU64::new(0),
            total: AtomicU64::new(0),
            connection: Mutex::new((0, Instant::now())),
            state: Mutex::new((Phase::Connecting, String::new(), None)),
            cancel: CancellationToken::new(),
        }
    }

    fn set(&self, phase: Phase, message: impl Into<String>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.0 = phase;
        state.1 = message.into();
    }

    fn finish(&self, phase: Phase, message: impl Into<String>, sha256: Option<String>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        *state = (phase, message.into(), sha256);
    }

    fn phase(&self) -> Phase {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .clone()
    }

    /// Asks the task to stop; it removes the partial file.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    pub fn progress(&self) -> Progress {
        let (phase, message, sha256) = self.state.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let received = self.received.load(Ordering::Relaxed);
        let total = self.total.load(Ordering::Relaxed);
        let (from, since) = *self.connection.lock().unwrap_or_else(|p| p.into_inner());
        let seconds = since.elapsed().as_secs_f64();
        let bytes_per_second = if seconds > 0.5 && received > from {
            ((received - from) as f64 / seconds) as u64
        } else {
            0
        };
        let mut progress = Progress {
            state: serde_json::to_value(&phase)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            running: phase.running(),
            name: self.name.clone(),
            label: self.label.clone(),
            received,
            total,
            percent: (received.min(total) * 100).checked_div(total).unwrap_or(0) as u32,
            bytes_per_second,
            eta_seconds: (total > received && bytes_per_second > 0)
                .then(|| (total - received) / bytes_per_second),
            message,
            sha256,
            unchecked: self.expected_sha256.is_none(),
            summary: String::new(),
        };
        progress.summary = progress.summary();
        progress
    }
}

/// The latest download of each data directory (keyed by its `models/`):
/// the one running, or the last one, whose outcome the page still shows.
static JOBS: Mutex<Option<HashMap<PathBuf, Arc<Job>>>> = Mutex::new(None);

fn latest(models: &Path) -> Option<Arc<Job>> {
    JOBS.lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .and_then(|jobs| jobs.get(models).cloned())
}

/// The latest download's progress, or `idle`.
pub fn progress(state: &AppState) -> Progress {
    latest(&state.config.models_dir()).map_or_else(Progress::idle, |job| job.progress())
}

/// Cancels the running download. `false` when none runs.
pub fn cancel(state: &AppState) -> bool {
    match latest(&state.config.models_dir()) {
        Some(job) if job.phase().running() => {
            job.cancel();
            true
        }
        _ => false,
    }
}

/// The file name a URL's last path segment gives, if it is a valid model name.
fn name_from_url(url: &reqwest::Url) -> AppResult<String> {
    let last = url
        .path_segments()
        .and_then(|mut segments| segments.next_back())
        .unwrap_or_default();
    super::valid_model_name(last).map_err(|_| {
        AppError::BadRequest(
            "The URL must end in the model's file name: letters, digits, '.', '_' or '-', ending in .gguf.".into(),
        )
    })
}

/// Starts downloading `source` in the background, for `by`. Refused when a
/// download is already running, when the file is already in `models/`, or
/// when the source is not a catalog entry or an http(s) URL of a .gguf file.
pub fn start(state: &AppState, by: &User, ip: &str, source: Source) -> AppResult<Arc<Job>> {
    let job = match source {
        Source::Catalog(id) => {
            let entry = catalog::find(state, &id).ok_or(AppError::NotFound)?;
            let s = entry.source;
            Job::new(s.file, s.name, s.url, Some(s.sha256.to_lowercase()))
        }
        Source::Url(text) => {
            let text = text.trim();
            let url = reqwest::Url::parse(text)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
                .ok_or_else(|| {
                    AppError::BadRequest(
                        "Paste an http:// or https:// address of a .gguf file.".into(),
                    )
                })?;
            let name = name_from_url(&url)?;
            Job::new(name.clone(), name, url.to_string(), None)
        }
    };
    let models = state.config.models_dir();
    if models.join(&job.name).exists() {
        return Err(AppError::Conflict(format!(
            "{} is already on this box.",
            job.name
        )));
    }
    let job = Arc::new(job);
    {
        let mut jobs = JOBS.lock().unwrap_or_else(|p| p.into_inner());
        let jobs = jobs.get_or_insert_with(HashMap::new);
        if let Some(running) = jobs.get(&models).filter(|j| j.phase().running()) {
            return Err(AppError::Conflict(format!(
                "A download is already running ({}); wait for it to finish or cancel it first.",
                running.label
            )));
        }
        jobs.insert(models, job.clone());
    }
    tracing::info!(model = %job.name, url = %job.url, "model download started");
    let task = Task {
        state: state.clone(),
        job: job.clone(),
        by: by.clone(),
        ip: ip.to_string(),
    };
    tokio::spawn(task.run());
    Ok(job)
}

/// Why a download stopped.
enum Failure {
    Cancelled,
    /// The connection broke, retries spent: the partial stays for a resume.
    Broken(String),
    /// Refused: the partial is removed.
    Refused(String),
}

/// What one connection ended with.
enum Attempt {
    /// Worth resuming.
    Broken(String),
    Stop(Failure),
}

struct Task {
    state: AppState,
    job: Arc<Job>,
    by: User,
    ip: String,
}

impl Task {
    async fn run(self) {
        let models = self.state.config.models_dir();
        let partial = models.join(format!("{}.partial", self.job.name));
        let source_file = models.join(format!("{}.partial.json", self.job.name));
        let outcome = self.download(&models, &partial, &source_file).await;
        let name = &self.job.name;
        let event = match outcome {
            Ok(sha256) => {
                let message = match &self.job.expected_sha256 {
                    Some(_) => format!(
                        "{name} was downloaded, its checksum matches the catalog, and it is ready to use."
                    ),
                    None => format!(
                        "{name} was downloaded and is ready to use. Its SHA-256 is {sha256}: compare it with the one its publisher gives."
                    ),
                };
                tracing::info!(model = %name, sha256 = %sha256, "model downloaded");
                let detail = format!("from {}, sha256 {sha256}", self.job.url);
                self.job.finish(Phase::Done, message, Some(sha256));
                Event::ok("model.downloaded", Target::Model(name)).detail(detail)
            }
            Err(failure) => {
                let (phase, message) = match failure {
                    Failure::Cancelled => {
                        remove(&partial, &source_file).await;
                        (
                            Phase::Cancelled,
                            format!("The download of {name} was cancelled; nothing was kept."),
                        )
                    }
                    Failure::Broken(message) => (Phase::Failed, message),
                    Failure::Refused(message) => {
                        remove(&partial, &source_file).await;
                        (Phase::Failed, message)
                    }
                };
                tracing::warn!(model = %name, url = %self.job.url, "model download stopped: {message}");
                let detail = message.clone();
                self.job.finish(phase, message, None);
                Event::failed("model.downloaded", Target::Model(name)).detail(detail)
            }
        };
        if let Err(err) =
            audit::record(&self.state.store, Actor::User(&self.by), &self.ip, event).await
        {
            tracing::error!(error = %err, "cannot audit a model download");
        }
    }

    async fn download(
        &self,
        models: &Path,
        partial: &Path,
        source_file: &Path,
    ) -> Result<String, Failure> {
        let config = &self.state.config.models;
        let job = &self.job;
        let io =
            |e: std::io::Error| Failure::Refused(format!("The model could not be written: {e}."));
        tokio::fs::create_dir_all(models).await.map_err(io)?;
        // A partial from another URL (a pasted file of the same name) is not resumed.
        let recorded = tokio::fs::read_to_string(source_file).await.ok();
        let same_source = recorded
            .and_then(|text| serde_json::from_str::<PartialSource>(&text).ok())
            .is_some_and(|s| s.url == job.url);
        if !same_source {
            let _ = tokio::fs::remove_file(partial).await;
            let text = serde_json::to_string(&PartialSource {
                url: job.url.clone(),
            })
            .unwrap_or_default();
            tokio::fs::write(source_file, text).await.map_err(io)?;
        }
        let (mut hasher, mut offset) = hash_existing(partial).await.map_err(io)?;
        if offset > 0 {
            tracing::info!(model = %job.name, offset, "resuming a model download");
        }
        job.received.store(offset, Ordering::Relaxed);
        let mut retries_left = config.download_retries;
        loop {
            match self.fetch(partial, &mut hasher, &mut offset).await {
                Ok(()) => break,
                Err(Attempt::Stop(failure)) => return Err(failure),
                Err(Attempt::Broken(why)) if retries_left > 0 => {
                    retries_left -= 1;
                    let attempt = config.download_retries - retries_left;
                    tracing::info!(model = %job.name, offset, attempt, "model download broke ({why}); resuming");
                    job.set(
                        Phase::Retrying,
                        format!(
                            "The connection broke ({why}); resuming (attempt {attempt} of {}).",
                            config.download_retries
                        ),
                    );
                    let pause = Duration::from_secs(u64::from(attempt).min(10));
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        () = job.cancel.cancelled() => return Err(Failure::Cancelled),
                    }
                }
                Err(Attempt::Broken(why)) => {
                    return Err(Failure::Broken(format!(
                        "The connection broke ({why}) after {}. What arrived is kept: press Download again to continue where it stopped.",
                        format_bytes(offset)
                    )));
                }
            }
        }
        job.set(Phase::Verifying, "Checking the file…");
        let sha256 = hex::encode(hasher.finalize());
        if let Some(expected) = &job.expected_sha256
            && *expected != sha256
        {
            return Err(Failure::Refused(format!(
                "{} was not added: its SHA-256 ({sha256}) is not the catalog's ({expected}). The file may have been damaged on the way or changed on the server; nothing was kept.",
                job.name
            )));
        }
        let check = partial.to_path_buf();
        let header = tokio::task::spawn_blocking(move || gguf::inspect(&check))
            .await
            .map_err(|e| Failure::Refused(format!("The model could not be checked: {e}.")))?;
        if let Err(err) = header {
            return Err(Failure::Refused(format!(
                "{} was not added: {err}. Nothing was kept.",
                job.name
            )));
        }
        disk::commit(partial, &models.join(&job.name))
            .await
            .map_err(io)?;
        let _ = tokio::fs::remove_file(source_file).await;
        Ok(sha256)
    }

    /// One connection: asks for what is missing and appends it. Each
    /// connection is one request in the egress log, with the bytes it
    /// brought and how it ended.
    async fn fetch(
        &self,
        partial: &Path,
        hasher: &mut Sha256,
        offset: &mut u64,
    ) -> Result<(), Attempt> {
        let before = *offset;
        let (result, ticket) = self.fetch_logged(partial, hasher, offset).await;
        if let Some(mut ticket) = ticket {
            ticket.received(offset.saturating_sub(before));
            let (outcome, detail) = match &result {
                Ok(()) => (EgressOutcome::Ok, String::new()),
                Err(Attempt::Stop(Failure::Cancelled)) => {
                    (EgressOutcome::Interrupted, "cancelled".to_string())
                }
                Err(Attempt::Broken(why)) => (EgressOutcome::Failed, why.clone()),
                Err(Attempt::Stop(Failure::Broken(why) | Failure::Refused(why))) => {
                    (EgressOutcome::Failed, why.clone())
                }
            };
            ticket.finish(outcome, &detail).await;
        }
        result
    }

    async fn fetch_logged(
        &self,
        partial: &Path,
        hasher: &mut Sha256,
        offset: &mut u64,
    ) -> (Result<(), Attempt>, Option<crate::egress::Ticket>) {
        let job = &self.job;
        let config = &self.state.config.models;
        job.set(Phase::Connecting, "Connecting…");
        let url = match reqwest::Url::parse(&job.url) {
            Ok(url) => url,
            Err(e) => return (Err(Attempt::Stop(Failure::Refused(e.to_string()))), None),
        };
        let mut headers = reqwest::header::HeaderMap::new();
        if *offset > 0
            && let Ok(range) = reqwest::header::HeaderValue::from_str(&format!("bytes={offset}-"))
        {
            headers.insert(reqwest::header::RANGE, range);
        }
        let outbound = crate::egress::Outbound {
            purpose: EgressPurpose::ModelDownload,
            sender: crate::egress::Sender::person(&self.by),
            method: reqwest::Method::GET,
            url,
            headers,
            body: None,
            model: job.name.clone(),
            conversation: None,
            redactions: Default::default(),
            // The owner chose the address: the internet, or a NAS in the office.
            reach: crate::egress::Reach::Lan,
            follow_redirects: true,
            connect_timeout: Duration::from_secs(config.connect_timeout_secs),
            read_timeout: Duration::from_secs(config.read_timeout_secs),
        };
        let sent = tokio::select! {
            sent = self.state.egress.send(outbound) => sent,
            () = job.cancel.cancelled() => return (Err(Attempt::Stop(Failure::Cancelled)), None),
        };
        let (response, ticket) = match sent {
            Ok(sent) => (sent.response, sent.ticket),
            Err(crate::egress::EgressError::Refused(why)) => {
                return (
                    Err(Attempt::Stop(Failure::Refused(format!(
                        "{} was not downloaded: {why}.",
                        job.url
                    )))),
                    None,
                );
            }
            Err(err) => return (Err(Attempt::Broken(err.to_string())), None),
        };
        let result = self.receive(response, partial, hasher, offset).await;
        (result, Some(ticket))
    }

    /// Appends what `response` brings to the partial file.
    async fn receive(
        &self,
        response: reqwest::Response,
        partial: &Path,
        hasher: &mut Sha256,
        offset: &mut u64,
    ) -> Result<(), Attempt> {
        let job = &self.job;
        let config = &self.state.config.models;
        let status = response.status();
        let resumed = status == reqwest::StatusCode::PARTIAL_CONTENT
            && content_range_start(&response) == Some(*offset);
        if *offset > 0 && !resumed {
            if status.is_success() {
                // The server ignored the Range request: start again, cleanly.
                tracing::info!(model = %job.name, %status, "the server does not resume; downloading from the start");
                *offset = 0;
                *hasher = Sha256::new();
                tokio::fs::write(partial, b"")
                    .await
                    .map_err(|e| Attempt::Stop(Failure::Refused(e.to_string())))?;
            } else if status == reqwest::StatusCode::RANGE_NOT_SATISFIABLE {
                *offset = 0;
                *hasher = Sha256::new();
                let _ = tokio::fs::write(partial, b"").await;
                return Err(Attempt::Broken("the server would not continue".into()));
            }
        }
        if !status.is_success() {
            return Err(Attempt::Stop(Failure::Refused(format!(
                "The server answered {status} for {}; nothing was downloaded.",
                job.url
            ))));
        }
        let total = response
            .content_length()
            .map(|length| length + *offset)
            .unwrap_or(0);
        if total > config.max_download_bytes {
            return Err(Attempt::Stop(Failure::Refused(format!(
                "The file is {}, more than the limit of {} (models.max_download_bytes).",
                format_bytes(total),
                format_bytes(config.max_download_bytes)
            ))));
        }
        if self
            .state
            .config
            .disk()
            .check_room(total.saturating_sub(*offset))
            .is_err()
        {
            return Err(Attempt::Stop(Failure::Refused(format!(
                "The box's disk has no room for {} more; free some space and try again.",
                format_bytes(total.saturating_sub(*offset))
            ))));
        }
        job.total.store(total, Ordering::Relaxed);
        job.received.store(*offset, Ordering::Relaxed);
        *job.connection.lock().unwrap_or_else(|p| p.into_inner()) = (*offset, Instant::now());
        job.set(Phase::Downloading, "");
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(partial)
            .await
            .map_err(|e| Attempt::Stop(Failure::Refused(write_error(&e))))?;
        let mut file = tokio::io::BufWriter::with_capacity(1024 * 1024, file);
        let mut head = Vec::new();
        let mut body = response.bytes_stream();
        let ended = loop {
            let piece = tokio::select! {
                piece = body.next() => piece,
                () = job.cancel.cancelled() => break Err(Attempt::Stop(Failure::Cancelled)),
            };
            let piece = match piece {
                None => break Ok(()),
                Some(Err(err)) => break Err(Attempt::Broken(describe(&err))),
                Some(Ok(piece)) => piece,
            };
            if *offset < 4 {
                // GGUF files begin with "GGUF": an error page is refused at once.
                head.extend_from_slice(&piece[..piece.len().min(4)]);
                if head.len() >= 4 && !head.starts_with(b"GGUF") {
                    let start: String = String::from_utf8_lossy(&piece[..piece.len().min(40)])
                        .chars()
                        .filter(|c| !c.is_control())
                        .collect();
                    break Err(Attempt::Stop(Failure::Refused(format!(
                        "The server did not send a GGUF model (it began with \"{start}\"; perhaps an error page). Nothing was kept."
                    ))));
                }
            }
            if *offset + piece.len() as u64 > config.max_download_bytes {
                break Err(Attempt::Stop(Failure::Refused(format!(
                    "The file is larger than the limit of {} (models.max_download_bytes).",
                    format_bytes(config.max_download_bytes)
                ))));
            }
            if let Err(err) = file.write_all(&piece).await {
                break Err(Attempt::Stop(Failure::Refused(write_error(&err))));
            }
            hasher.update(&piece);
            *offset += piece.len() as u64;
            job.received.store(*offset, Ordering::Relaxed);
        };
        // What arrived is kept whole, whatever ended the connection.
        let flushed = async {
            file.flush().await?;
            file.get_ref().sync_all().await
        }
        .await;
        ended?;
        flushed.map_err(|e| Attempt::Stop(Failure::Refused(write_error(&e))))?;
        if total > 0 && *offset < total {
            return Err(Attempt::Broken(format!(
                "the server stopped after {} of {}",
                format_bytes(*offset),
                format_bytes(total)
            )));
        }
        Ok(())
    }
}

/// The URL a partial file came from, kept beside it.
#[derive(Serialize, Deserialize)]
struct PartialSource {
    url: String,
}

/// Reads back what a partial file holds through a fresh hasher, so the
/// checksum of a resumed download covers every byte. Runs on the blocking pool.
async fn hash_existing(partial: &Path) -> std::io::Result<(Sha256, u64)> {
    let partial = partial.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut hasher = Sha256::new();
        let mut file = match std::fs::File::open(&partial) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok((hasher, 0)),
            Err(err) => return Err(err),
        };
        let length = std::io::copy(&mut file, &mut hasher)?;
        Ok((hasher, length))
    })
    .await
    .map_err(std::io::Error::other)?
}

async fn remove(partial: &Path, source_file: &Path) {
    let _ = tokio::fs::remove_file(partial).await;
    let _ = tokio::fs::remove_file(source_file).await;
}

fn write_error(err: &std::io::Error) -> String {
    if disk::is_full(err) {
        "The box's disk is full; the download stopped and nothing was kept.".into()
    } else {
        format!("The model could not be written: {err}.")
    }
}

/// Where a 206 answer's Content-Range says it starts.
fn content_range_start(response: &reqwest::Response) -> Option<u64> {
    let value = response
        .headers()
        .get(reqwest::header::CONTENT_RANGE)?
        .to_str()
        .ok()?;
    let range = value.strip_prefix("bytes ")?;
    range.split(['-', '/']).next()?.trim().parse().ok()
}

/// A transport error in a few plain words.
fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        "no data arrived in time".into()
    } else if err.is_connect() {
        "cannot connect to the server".into()
    } else if err.is_redirect() {
        "too many redirects".into()
    } else {
        use std::error::Error;
        let mut message = err.to_string();
        let mut source = err.source();
        while let Some(inner) = source {
            message = inner.to_string();
            source = inner.source();
        }
        message
    }
}

/// Makes ring the process's TLS provider. reqwest is built with rustls but
/// without a provider (its default, aws-lc-rs, is a C build several times
/// longer than ring's), and every reqwest client, the benchmarks' and tests'
/// plain-HTTP ones included, needs one installed before it is built. Called
/// when the app state is built; later calls change nothing.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_url() {
        let name = |url: &str| name_from_url(&reqwest::Url::parse(url).unwrap()).ok();
        assert_eq!(
            name("https://huggingface.co/a/b/resolve/main/Model-Q4_K_M.gguf?download=true")
                .as_deref(),
            Some("Model-Q4_K_M.gguf")
        );
        assert_eq!(name("https://example.com/"), None);
        assert_eq!(name("https://example.com/model.bin"), None);
        assert_eq!(name("https://example.com/a%20b.gguf"), None);
    }

    #[test]
    fn progress_reads_like_people_say_it() {
        let progress = Progress {
            state: "downloading".into(),
            running: true,
            received: 1_200_000_000,
            total: 4_700_000_000,
            bytes_per_second: 11_000_000,
            eta_seconds: Some(318),
            ..Progress::idle()
        };
        assert_eq!(
            progress.summary(),
            "1.2 GB of 4.7 GB · 11 MB/s · about 6 min left"
        );
    }
}
