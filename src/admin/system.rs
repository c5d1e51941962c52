//! Admin → System: the box itself, for its owner. Its name on the network
//! (and why it is `hearth-2.local` when another device took `hearth.local`),
//! its addresses, the system's version, and updates: upload a bundle, watch
//! it being installed, and read how the last one ended (including "the box
//! went back to the previous version").
//!
//! The page never waits on the updater: it shows what the updater last
//! wrote, says so plainly when the updater has gone quiet for
//! `[appliance] update_stall_secs`, and its script reconnects after the
//! restart by itself.

use askama::Template;
use axum::Json;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::appliance::lan::LanName;
use crate::appliance::ssh::{SshFiles, SshSettings, SshState, parse_keys};
use crate::appliance::status;
use crate::appliance::tls::TlsFiles;
use crate::appliance::update::boot::Slot;
use crate::appliance::update::bundle::Bundle;
use crate::appliance::update::fetch;
use crate::appliance::update::{
    Outcome, OutcomeKind, Phase, Progress, Release, Request, UpdateFiles, now, write_json,
};
use crate::audit::{self, Actor, Event, Target};
use crate::auth::OwnerUser;
use crate::disk::{self, SpoolError};
use crate::error::{AppError, AppResult};
use crate::store::{Store, User};
use crate::web::layout::{Shell, redirect_with_flash, render_with_status};
use crate::web::middleware::ClientIp;
use crate::web::{Access, Routes};

pub fn routes() -> Routes {
    Routes::new()
        .get("/admin/system", Access::Owner, page)
        .route_with_own_limit(
            axum::http::Method::POST,
            "/admin/system/update",
            Access::Owner,
            upload,
        )
        .get("/admin/system/update/progress", Access::Owner, progress)
        .get("/admin/system/certificate", Access::Owner, certificate)
        .post("/admin/system/ssh", Access::Owner, ssh_submit)
        .post("/admin/system/update/check", Access::Owner, check_online)
        .post("/admin/system/metrics", Access::Owner, metrics_submit)
}

#[derive(Deserialize)]
struct MetricsForm {
    /// `new` makes a token (replacing any), `off` removes it.
    action: String,
}

/// Turns `/metrics` on with a new token (shown once) or off; audited.
async fn metrics_submit(
    State(state): State<AppState>,
    shell: Shell,
    OwnerUser(owner): OwnerUser,
    ClientIp(ip): ClientIp,
    axum::Form(form): axum::Form<MetricsForm>,
) -> AppResult<Response> {
    let (detail, token) = match form.action.as_str() {
        "new" => (
            "a new monitoring token was made; the old one no longer works",
            Some(crate::metrics::new_token(&state, &owner.user).await?),
        ),
        "off" => {
            crate::metrics::remove_token(&state, &owner.user).await?;
            ("monitoring turned off: /metrics answers no one", None)
        }
        _ => return Err(AppError::bad_request("Unknown action.")),
    };
    audit::record(
        &state.store,
        Actor::User(&owner.user),
        &ip,
        Event::ok(
            "settings.changed",
            Target::Setting(crate::metrics::TOKEN_SETTING),
        )
        .detail(detail),
    )
    .await?;
    let mut page = build(&state, shell, None).await;
    page.new_metrics_token = token;
    Ok(render_with_status(StatusCode::OK, &page))
}

/// HTTPS on the box, as the page shows it.
#[derive(Clone, Debug)]
pub struct HttpsView {
    /// `https://hearth.local` (with the port when not 443).
    pub url: String,
    /// The certificate's SHA-256 fingerprint.
    pub fingerprint: String,
}

/// The updater's progress as the page shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ProgressView {
    pub phase: Phase,
    pub percent: u64,
    pub message: String,
    pub to_version: String,
    /// The updater has said nothing for `update_stall_secs`.
    pub stalled: bool,
    /// Whether the page should keep asking.
    pub active: bool,
}

impl ProgressView {
    fn of(progress: Progress, stall_secs: u64) -> ProgressView {
        let quiet = now() - progress.updated_at;
        let stalled = !progress.phase.is_final() && quiet > stall_secs as i64;
        let message = if stalled {
            format!(
                "The update stopped responding: nothing happened for {} minutes. The box still runs the version it ran before, with all its data. Restart the box and upload the bundle again; if it stops again, the bundle may not fit this box.",
                quiet / 60
            )
        } else {
            progress.message.clone()
        };
        ProgressView {
            phase: progress.phase,
            percent: progress.percent(),
            message,
            to_version: progress.to_version,
            stalled,
            active: !stalled && progress.phase != Phase::Failed,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/system.html")]
pub struct SystemPage {
    shell: Shell,
    name: LanName,
    addresses: Vec<String>,
    hearth_version: &'static str,
    /// `None`: not the appliance image, so no updates.
    release: Option<Release>,
    /// The root partition the system runs from ("A" or "B").
    slot: Option<&'static str>,
    progress: Option<ProgressView>,
    outcome: Option<Outcome>,
    max_bundle: String,
    /// Where "Check for updates" asks.
    update_url: Option<String>,
    https: Option<HttpsView>,
    ssh: SshSettings,
    ssh_state: Option<SshState>,
    /// The keys as the form shows them (what was typed, after an error).
    ssh_keys: String,
    ssh_error: Option<String>,
    error: Option<String>,
    /// Whether `/metrics` has a token (is on).
    metrics_on: bool,
    /// A token just made, shown this once.
    new_metrics_token: Option<String>,
    health: HealthView,
}

/// The box's health as the page shows it.
#[derive(Debug, Clone)]
pub struct HealthView {
    uptime: String,
    cpus: usize,
    /// Hearth's memory, and the machine's available and total.
    memory: String,
    memory_available: String,
    memory_total: String,
    disk_free: String,
    disk_total: String,
    disk_floor: String,
    disk_low: bool,
    /// The model's state in words ("Ready: SmolLM2-…").
    model: String,
    model_ok: bool,
    queued: usize,
    active: usize,
    parallel: u32,
    charts: Vec<crate::appliance::health::Chart>,
    /// The CPU's vector extensions and those the engine uses.
    cpu: String,
    /// How the last backup went, in words; `None` before the first.
    last_backup: Option<(bool, String)>,
}

fn health_view(state: &AppState, times: &crate::web::time::Times) -> HealthView {
    use crate::llm::EngineState;
    let human = crate::disk::human_size;
    let uptime = crate::metrics::uptime_secs();
    let (_, rss) = crate::metrics::process_usage();
    let disk = state.config.disk().status();
    let engine = state.chat.engine.status();
    let (model, model_ok) = match &engine.state {
        EngineState::Loading { model } => (format!("Loading {model}"), true),
        EngineState::Ready { model } => (format!("Ready: {model}"), true),
        EngineState::Failed { model, error } => (format!("{model} failed: {error}"), false),
        EngineState::Stopped => ("Stopped".to_string(), false),
    };
    let last_backup = crate::backup::plan::LastRun::read(&state.config.data_dir).map(|last| {
        let when = times.at(last.finished_at).full;
        if last.ok {
            (true, format!("{when}: {}", last.message))
        } else {
            (false, format!("{when}: failed: {}", last.message))
        }
    });
    HealthView {
        uptime: crate::appliance::health::duration_words(uptime),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory: human(rss as u64),
        memory_available: crate::llm::hardware::available_memory()
            .map_or_else(|| "?".into(), human),
        memory_total: crate::llm::hardware::total_memory().map_or_else(|| "?".into(), human),
        disk_free: human(disk.free),
        disk_total: human(disk.total),
        disk_floor: human(disk.floor),
        disk_low: disk.low(),
        model,
        model_ok,
        queued: engine.queued,
        active: engine.active,
        parallel: engine.parallel,
        charts: crate::appliance::health::charts(&state.health.samples(), state.store.now()),
        cpu: crate::llm::hardware::CpuFeatures::detect().sentence(),
        last_backup,
    }
}

impl SystemPage {
    fn outcome_class(&self) -> &'static str {
        match self.outcome.as_ref().map(|o| o.kind) {
            Some(OutcomeKind::Updated) => "notice success",
            _ => "notice warning",
        }
    }
}

async fn build(state: &AppState, shell: Shell, error: Option<String>) -> SystemPage {
    let appliance = &state.config.appliance;
    let files = UpdateFiles::new(&state.config.data_dir);
    let port = state.config.server.listen.port();
    let ssh_files = SshFiles::new(&state.config.data_dir);
    let ssh = ssh_files.settings();
    SystemPage {
        shell,
        name: state.lan.name(),
        addresses: status::address_urls(&status::interface_addresses(), port),
        hearth_version: env!("CARGO_PKG_VERSION"),
        release: Release::read(&appliance.release_file),
        slot: std::fs::read_to_string("/proc/cmdline")
            .ok()
            .and_then(|line| Slot::running(&line))
            .map(|slot| match slot {
                Slot::A => "A",
                Slot::B => "B",
            }),
        progress: Progress::read(&files)
            .map(|p| ProgressView::of(p, appliance.update_stall_secs))
            // An update that failed long ago is told by its outcome.
            .filter(|p| p.active || p.stalled || p.phase == Phase::Failed),
        outcome: Outcome::read(&files),
        max_bundle: disk::human_size(appliance.max_bundle_bytes),
        update_url: appliance.update_url.clone(),
        https: https_view(state),
        ssh_keys: ssh.keys.join("\n"),
        ssh_state: ssh_files.state(),
        ssh,
        ssh_error: None,
        error,
        metrics_on: crate::metrics::has_token(state).await.unwrap_or(false),
        new_metrics_token: None,
        health: health_view(
            state,
            &crate::web::time::Times::load(state)
                .await
                .unwrap_or_else(|_| {
                    crate::web::time::Times::new(jiff::tz::TimeZone::UTC, jiff::Timestamp::now())
                }),
        ),
    }
}

fn https_view(state: &AppState) -> Option<HttpsView> {
    let address = state.config.server.https_listen?;
    let fingerprint = TlsFiles::new(&state.config.data_dir).fingerprint()?;
    let host = state
        .lan
        .name()
        .announced
        .unwrap_or_else(|| "localhost".to_string());
    let url = match address.port() {
        443 => format!("https://{host}"),
        port => format!("https://{host}:{port}"),
    };
    Some(HttpsView { url, fingerprint })
}

/// The box's HTTPS certificate, to install on the office's devices.
async fn certificate(State(state): State<AppState>, _: OwnerUser) -> AppResult<Response> {
    let files = TlsFiles::new(&state.config.data_dir);
    let pem = tokio::fs::read(&files.cert)
        .await
        .map_err(|_| AppError::NotFound)?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "application/x-pem-file"),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"hearth.crt\"",
            ),
        ],
        pem,
    )
        .into_response())
}

/// The update being installed now, if one is (a new one must wait): one
/// that is under way and has not gone quiet, short of the restart.
fn update_underway(state: &AppState) -> Option<ProgressView> {
    let files = UpdateFiles::new(&state.config.data_dir);
    Progress::read(&files)
        .map(|p| ProgressView::of(p, state.config.appliance.update_stall_secs))
        .filter(|p| p.active && p.phase != Phase::Restarting)
}

async fn page(State(state): State<AppState>, shell: Shell, _: OwnerUser) -> Response {
    render_with_status(StatusCode::OK, &build(&state, shell, None).await)
}

/// The updater's progress, for the page's script.
async fn progress(State(state): State<AppState>, _: OwnerUser) -> Response {
    let files = UpdateFiles::new(&state.config.data_dir);
    let view = Progress::read(&files)
        .map(|p| ProgressView::of(p, state.config.appliance.update_stall_secs));
    Json(view).into_response()
}

/// Receives a bundle, checks it as the web process (so a wrong file is
/// refused at once, with the reason), and asks the root updater to
/// install it.
async fn upload(
    State(state): State<AppState>,
    shell: Shell,
    OwnerUser(owner): OwnerUser,
    ClientIp(ip): ClientIp,
    mut multipart: Multipart,
) -> AppResult<Response> {
    let appliance = &state.config.appliance;
    let refuse = |status: StatusCode, message: String| {
        let state = state.clone();
        let shell = shell.clone();
        async move {
            tracing::warn!(reason = %message, "an update bundle was refused");
            let page = build(&state, shell, Some(message)).await;
            Ok::<Response, AppError>(render_with_status(status, &page))
        }
    };
    let Some(release) = Release::read(&appliance.release_file) else {
        return refuse(
            StatusCode::CONFLICT,
            "Updates are for the Hearth appliance image; this Hearth is installed another way, so update it the way it was installed.".into(),
        )
        .await;
    };
    let files = UpdateFiles::new(&state.config.data_dir);
    if let Some(progress) = update_underway(&state) {
        return refuse(
            StatusCode::CONFLICT,
            format!(
                "An update to version {} is already being installed.",
                progress.to_version
            ),
        )
        .await;
    }
    let partial = files.partial_bundle();
    let mut received = false;
    while let Some(field) = multipart.next_field().await.map_err(AppError::from)? {
        if field.name() != Some("bundle") {
            continue;
        }
        let disk = state.config.disk();
        let spooled = disk::spool(
            disk::SpoolTarget {
                disk: &disk,
                partial: &partial,
                limit: appliance.max_bundle_bytes,
                append: false,
            },
            field,
        )
        .await;
        match spooled {
            Ok(_) => received = true,
            Err(SpoolError::TooLarge { limit }) => {
                let _ = tokio::fs::remove_file(&partial).await;
                let message = format!(
                    "The file is larger than the limit of {} for update bundles.",
                    disk::human_size(limit)
                );
                return refuse(StatusCode::PAYLOAD_TOO_LARGE, message).await;
            }
            Err(SpoolError::Empty) => {
                return refuse(StatusCode::BAD_REQUEST, "The file is empty.".into()).await;
            }
            Err(err) => {
                let _ = tokio::fs::remove_file(&partial).await;
                return Err(err.into());
            }
        }
        break;
    }
    if !received {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Choose an update bundle (a .bundle file) to upload.".into(),
        )
        .await;
    }
    match accept(&state, &owner.user, &ip, &release, &partial).await? {
        Ok(version) => Ok(redirect_with_flash(
            &state,
            "/admin/system",
            &format!(
                "The bundle for version {version} is genuine. Installing it; the box restarts when it is ready."
            ),
        )),
        Err(message) => refuse(StatusCode::BAD_REQUEST, message).await,
    }
}

/// Checks a received bundle (signature, checksums, newer than what runs),
/// moves it into place and asks the root updater to install it: the
/// version, or why the bundle was refused (and removed).
async fn accept(
    state: &AppState,
    owner: &User,
    ip: &str,
    release: &Release,
    partial: &std::path::Path,
) -> AppResult<Result<String, String>> {
    let files = UpdateFiles::new(&state.config.data_dir);
    let key = state.config.appliance.update_key.clone();
    let check = partial.to_path_buf();
    let opened = tokio::task::spawn_blocking(move || Bundle::open(&check, &key, |_, _| {}))
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    let bundle = match opened {
        Ok(bundle) => bundle,
        Err(err) => {
            let _ = tokio::fs::remove_file(partial).await;
            audit::record(
                &state.store,
                Actor::User(owner),
                ip,
                Event::failed("system.update_requested", Target::Version("?"))
                    .detail(err.to_string()),
            )
            .await?;
            return Ok(Err(format!("The bundle was refused: {err}.")));
        }
    };
    let manifest = bundle.manifest;
    if manifest.generation <= release.generation {
        let _ = tokio::fs::remove_file(partial).await;
        return Ok(Err(format!(
            "This box already runs version {} (build {}); the bundle holds version {} (build {}), which is not newer.",
            release.version, release.generation, manifest.version, manifest.generation
        )));
    }
    tokio::fs::rename(partial, files.bundle())
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    audit::record(
        &state.store,
        Actor::User(owner),
        ip,
        Event::ok(
            "system.update_requested",
            Target::Version(&manifest.version),
        )
        .detail(format!("from version {}", release.version)),
    )
    .await?;
    let queued = Progress {
        phase: Phase::Queued,
        done: 0,
        total: 0,
        to_version: manifest.version.clone(),
        message: "Waiting for the updater to start.".into(),
        started_at: now(),
        updated_at: now(),
    };
    let request = Request {
        requested_by: owner.username.clone(),
        to_version: manifest.version.clone(),
        at: now(),
    };
    let written = write_json(&files.progress(), &queued)
        .and_then(|()| write_json(&files.request(), &request));
    written.map_err(|e| AppError::Internal(e.into()))?;
    tracing::info!(version = %manifest.version, by = %owner.username, "update requested");
    Ok(Ok(manifest.version))
}

/// Asks the publisher's server (`[appliance] update_url`) for the latest
/// version and, when it is newer, downloads and installs it in the
/// background; the page follows the download like any update. The box
/// reaches the internet only here, when the owner presses the button.
async fn check_online(
    State(state): State<AppState>,
    shell: Shell,
    OwnerUser(owner): OwnerUser,
    ClientIp(ip): ClientIp,
) -> AppResult<Response> {
    let appliance = &state.config.appliance;
    let refuse = |status: StatusCode, message: String| {
        let state = state.clone();
        let shell = shell.clone();
        async move {
            let page = build(&state, shell, Some(message)).await;
            Ok::<Response, AppError>(render_with_status(status, &page))
        }
    };
    let (Some(release), Some(url)) = (
        Release::read(&appliance.release_file),
        appliance.update_url.clone(),
    ) else {
        return refuse(
            StatusCode::CONFLICT,
            "This box has no update address ([appliance] update_url); upload a bundle instead."
                .into(),
        )
        .await;
    };
    let files = UpdateFiles::new(&state.config.data_dir);
    if update_underway(&state).is_some() {
        return refuse(
            StatusCode::CONFLICT,
            "An update is already being installed.".into(),
        )
        .await;
    }
    let sender = crate::egress::Sender::person(&owner.user);
    let latest = match fetch::latest(&state.config, &state.egress, &sender, &url).await {
        Ok(latest) => latest,
        Err(message) => return refuse(StatusCode::BAD_GATEWAY, message).await,
    };
    if latest.generation <= release.generation {
        return Ok(redirect_with_flash(
            &state,
            "/admin/system",
            &format!(
                "This box runs the latest version ({}); the update server offers {}.",
                release.version, latest.version
            ),
        ));
    }
    let downloading = Progress {
        phase: Phase::Downloading,
        done: 0,
        total: 0,
        to_version: latest.version.clone(),
        message: format!("Downloading version {}.", latest.version),
        started_at: now(),
        updated_at: now(),
    };
    write_json(&files.progress(), &downloading).map_err(|e| AppError::Internal(e.into()))?;
    tracing::info!(version = %latest.version, url = %latest.url, "downloading an update");
    let task_state = state.clone();
    tokio::spawn(async move {
        let files = UpdateFiles::new(&task_state.config.data_dir);
        let partial = files.partial_bundle();
        let mut progress = downloading;
        let mut last = std::time::Instant::now();
        let fetched = fetch::download(
            &task_state.config,
            &task_state.egress,
            &sender,
            &latest.url,
            &partial,
            |done, total| {
                if last.elapsed() >= std::time::Duration::from_secs(1) {
                    last = std::time::Instant::now();
                    progress.done = done;
                    progress.total = total.unwrap_or(0);
                    progress.updated_at = now();
                    let _ = write_json(&files.progress(), &progress);
                }
            },
        )
        .await;
        let outcome = match fetched {
            Ok(()) => accept(&task_state, &owner.user, &ip, &release, &partial)
                .await
                .unwrap_or_else(|err| Err(err.to_string())),
            Err(message) => {
                let _ = tokio::fs::remove_file(&partial).await;
                Err(message)
            }
        };
        if let Err(message) = outcome {
            tracing::warn!(reason = %message, "the downloaded update was not installed");
            progress.phase = Phase::Failed;
            progress.message = message;
            progress.updated_at = now();
            let _ = write_json(&files.progress(), &progress);
        }
    });
    Ok(redirect_with_flash(
        &state,
        "/admin/system",
        &format!("Version {} is available: downloading it.", latest.version),
    ))
}

/// Writes how the last update ended to the audit log, once (Hearth calls
/// this as it starts: the outcome was decided while it was not running).
pub async fn record_update_outcome(store: &Store, files: &UpdateFiles) -> anyhow::Result<()> {
    let Some(mut outcome) = Outcome::read(files) else {
        return Ok(());
    };
    if outcome.recorded {
        return Ok(());
    }
    let by = store.user_by_username(&outcome.requested_by).await?;
    let actor = match &by {
        Some(user) => Actor::User(&user.user),
        None => Actor::Console,
    };
    let event = match outcome.kind {
        OutcomeKind::Updated => Event::ok("system.updated", Target::Version(&outcome.to_version)),
        OutcomeKind::RolledBack | OutcomeKind::Interrupted => {
            Event::failed("system.updated", Target::Version(&outcome.to_version))
        }
    }
    .detail(outcome.sentence());
    audit::record(store, actor, "", event).await?;
    outcome.recorded = true;
    write_json(&files.last(), &outcome)?;
    Ok(())
}

#[derive(Debug, serde::Deserialize)]
struct SshForm {
    /// "on" when the box is ticked.
    #[serde(default)]
    enabled: Option<String>,
    #[serde(default)]
    keys: String,
}

/// Turns remote maintenance by SSH on or off, with the owner's keys.
async fn ssh_submit(
    State(state): State<AppState>,
    shell: Shell,
    OwnerUser(owner): OwnerUser,
    ClientIp(ip): ClientIp,
    axum::Form(form): axum::Form<SshForm>,
) -> AppResult<Response> {
    let enabled = form.enabled.is_some();
    let keys = match parse_keys(&form.keys) {
        Ok(keys) if enabled && keys.is_empty() => Err(
            "To turn SSH on, paste at least one public key (the line from your id_ed25519.pub file). Logging in with a password is not possible.".to_string(),
        ),
        other => other,
    };
    let keys = match keys {
        Ok(keys) => keys,
        Err(message) => {
            let mut page = build(&state, shell, None).await;
            page.ssh_keys = form.keys;
            page.ssh.enabled = enabled;
            page.ssh_error = Some(message);
            return Ok(render_with_status(StatusCode::BAD_REQUEST, &page));
        }
    };
    let files = SshFiles::new(&state.config.data_dir);
    let before = files.settings();
    if before.enabled == enabled && before.keys == keys {
        return Ok(redirect_with_flash(
            &state,
            "/admin/system",
            "Nothing changed.",
        ));
    }
    let settings = SshSettings {
        enabled,
        keys,
        changed_by: owner.user.username.clone(),
        at: now(),
    };
    files
        .save(&settings)
        .map_err(|e| AppError::Internal(e.into()))?;
    let detail = match (before.enabled, enabled) {
        (false, true) => format!("turned on with {} key(s)", settings.keys.len()),
        (true, false) => "turned off".to_string(),
        _ => format!("keys changed: {} now", settings.keys.len()),
    };
    audit::record(
        &state.store,
        Actor::User(&owner.user),
        &ip,
        Event::ok("system.ssh_changed", Target::Setting("ssh")).detail(detail),
    )
    .await?;
    let flash = if enabled {
        "SSH is being turned on; the box opens port 22 in a few seconds."
    } else {
        "SSH is being turned off; port 22 closes in a few seconds."
    };
    Ok(redirect_with_flash(&state, "/admin/system", flash))
}
