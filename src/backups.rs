//! Admin → Backups, for the owner: the recovery passphrase (and its
//! printable recovery sheet), the plan (folder, nightly time, how many to
//! keep), "Back up now" with its progress, the last result, the archives in
//! the folder, and restoring one of them (or an uploaded one). The nightly
//! backup runs from [`run_nightly`]; the setup page's "restore from a
//! backup instead" uses [`stage_and_restart`] too.
//!
//! Restoring while Hearth runs: the archive is decrypted and checked
//! completely into the data directory (`backup::stage`), then Hearth
//! restarts itself and puts it in place before it opens the database
//! (`backup::apply_staged`), so nothing is replaced under a live
//! connection.

use std::sync::{Arc, Mutex};

use askama::Template;
use axum::Json;
use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::app::AppState;
use crate::audit::{self, Actor, Event, Target};
use crate::auth::OwnerUser;
use crate::backup::plan::{self, Archive, LastRun, Plan, Trigger};
use crate::backup::{self, Progress};
use crate::disk::{self, SpoolError};
use crate::error::{AppError, AppResult};
use crate::store::User;
use crate::web::layout::{Shell, redirect_with_flash, render, render_with_status};
use crate::web::middleware::ClientIp;
use crate::web::time::{Moment, Times};
use crate::web::{Access, Routes};

/// The backup being written, if one is, and the restart a restore asks for.
#[derive(Default)]
pub struct Backups {
    running: Mutex<Option<Running>>,
    /// Cancelled when Hearth should stop and start again (into a restored
    /// backup); `hearth serve` restarts itself in place.
    pub restart: CancellationToken,
}

#[derive(Clone)]
struct Running {
    progress: Arc<Progress>,
    started_at: i64,
}

impl Backups {
    fn running(&self) -> Option<Running> {
        self.running.lock().ok().and_then(|r| r.clone())
    }
}

pub fn routes() -> Routes {
    Routes::new()
        .get("/admin/backups", Access::Owner, page)
        .post("/admin/backups/run", Access::Owner, run_submit)
        .get("/admin/backups/progress", Access::Owner, progress)
        .post("/admin/backups/plan", Access::Owner, plan_submit)
        .post(
            "/admin/backups/passphrase",
            Access::Owner,
            passphrase_submit,
        )
        .get(
            "/admin/backups/recovery-sheet",
            Access::Owner,
            recovery_sheet,
        )
        .route_with_own_limit(
            axum::http::Method::POST,
            "/admin/backups/restore",
            Access::Owner,
            restore_submit,
        )
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Starts a backup in the background, unless one is running or nothing is
/// set up for it; the sentence to show when it cannot start.
pub fn start(state: &AppState, trigger: Trigger, by: Option<&User>) -> Result<(), String> {
    let Some(passphrase) = plan::passphrase_file(&state.config.data_dir).read() else {
        return Err("Set a recovery passphrase first: backups are encrypted with it.".into());
    };
    let progress = Arc::new(Progress::default());
    {
        let mut running = state
            .backups
            .running
            .lock()
            .map_err(|_| "The backup's bookkeeping failed; restart Hearth.".to_string())?;
        if running.is_some() {
            return Err("A backup is being written already; wait for it to finish.".into());
        }
        *running = Some(Running {
            progress: progress.clone(),
            started_at: now(),
        });
    }
    let state = state.clone();
    let by = by.cloned();
    tokio::spawn(async move {
        let plan = load_plan(&state)
            .await
            .unwrap_or_else(|_| Plan::from_stored(None, &state.config));
        let started_at = now();
        let config = state.config.clone();
        let work_plan = plan.clone();
        let work_progress = progress.clone();
        let outcome = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            if let Some(problem) = work_plan.problem(&config) {
                anyhow::bail!("{problem}");
            }
            let dir = work_plan.directory();
            let written = backup::write_with_progress(
                &config,
                &dir,
                &passphrase,
                jiff::Timestamp::now().as_second(),
                work_plan.include_models,
                &work_progress,
            )?;
            let removed = backup::prune(&dir, work_plan.retention())?;
            Ok((written, removed))
        })
        .await
        .map_err(|e| anyhow::anyhow!("the backup stopped unexpectedly: {e}"))
        .and_then(|r| r);
        let previous = LastRun::read(&state.config.data_dir);
        let nightly_day = match trigger {
            Trigger::Nightly => Some(office_now(&state).await.date().to_string()),
            Trigger::Manual => previous.and_then(|p| p.nightly_day),
        };
        let mut last = LastRun {
            started_at,
            finished_at: now(),
            trigger,
            by: by.as_ref().map(|u| u.username.clone()),
            ok: false,
            file: None,
            bytes: 0,
            message: String::new(),
            removed: Vec::new(),
            nightly_day,
        };
        let event = match &outcome {
            Ok((written, removed)) => {
                last.ok = true;
                last.file = written
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string());
                last.bytes = written.bytes;
                last.removed = removed.clone();
                last.message = format!(
                    "{} files, {}{}.",
                    written.files,
                    disk::human_size(written.bytes),
                    match removed.len() {
                        0 => String::new(),
                        1 => ", 1 older backup removed".to_string(),
                        n => format!(", {n} older backups removed"),
                    }
                );
                tracing::info!(file = ?last.file, bytes = written.bytes, "backup written");
                Event::ok("backup.created", Target::Nothing).detail(format!(
                    "{} into {} ({})",
                    last.file.clone().unwrap_or_default(),
                    plan.directory,
                    disk::human_size(written.bytes)
                ))
            }
            Err(err) => {
                last.message = format!("{err:#}");
                tracing::error!(error = %last.message, "backup failed");
                Event::failed("backup.created", Target::Nothing).detail(last.message.clone())
            }
        };
        if let Err(err) = last.write(&state.config.data_dir) {
            tracing::error!(error = %err, "cannot record how the backup went");
        }
        let actor = match &by {
            Some(user) => Actor::User(user),
            None => Actor::Console,
        };
        if let Err(err) = audit::record(&state.store, actor, "", event).await {
            tracing::warn!(error = %err, "cannot record the backup in the audit log");
        }
        if let Ok(mut running) = state.backups.running.lock() {
            *running = None;
        }
    });
    Ok(())
}

/// The owner's plan as stored (or the default one).
pub async fn load_plan(state: &AppState) -> AppResult<Plan> {
    let stored = state.store.setting(plan::SETTING_KEY).await?;
    Ok(Plan::from_stored(stored.as_deref(), &state.config))
}

/// The office's local time now (the box's zone if the office's cannot be read).
async fn office_now(state: &AppState) -> jiff::civil::DateTime {
    let zone = crate::calendar::office::Settings::load(&state.store)
        .await
        .map(|s| s.zone)
        .unwrap_or_else(|_| jiff::tz::TimeZone::system());
    jiff::Timestamp::now().to_zoned(zone).datetime()
}

/// Starts the nightly backup when it is due; checks once a minute.
pub async fn run_nightly(state: AppState) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Ok(plan) = load_plan(&state).await else {
            continue;
        };
        if plan.nightly().is_none() {
            continue;
        }
        let local = office_now(&state).await;
        let last_day = LastRun::read(&state.config.data_dir).and_then(|l| l.nightly_day());
        if plan.nightly_due(local, last_day)
            && let Err(reason) = start(&state, Trigger::Nightly, None)
        {
            // Recorded as a failed run, so the owner sees it.
            tracing::warn!(reason, "the nightly backup cannot start");
            if state.backups.running().is_none() {
                let failed = LastRun {
                    started_at: now(),
                    finished_at: now(),
                    trigger: Trigger::Nightly,
                    by: None,
                    ok: false,
                    file: None,
                    bytes: 0,
                    message: reason,
                    removed: Vec::new(),
                    nightly_day: Some(local.date().to_string()),
                };
                let _ = failed.write(&state.config.data_dir);
            }
        }
    }
}

/// What owners are told on the home page when the last backup failed.
pub fn failure_notice(state: &AppState) -> Option<String> {
    let last = LastRun::read(&state.config.data_dir)?;
    (!last.ok).then(|| {
        format!(
            "The last backup failed: {}.",
            last.message.trim_end_matches('.')
        )
    })
}

#[derive(Template)]
#[template(path = "admin/backups.html")]
pub struct BackupsPage {
    shell: Shell,
    times: Times,
    plan: Plan,
    on_data_disk: bool,
    passphrase_set: Option<i64>,
    suggested: String,
    last: Option<LastRun>,
    running: Option<u64>,
    archives: Vec<Archive>,
    max_upload: String,
    error: Option<String>,
    restore_error: Option<String>,
}

impl BackupsPage {
    fn time(&self, unix: &i64) -> Moment {
        self.times.at(*unix)
    }

    fn size(&self, bytes: &u64) -> String {
        disk::human_size(*bytes)
    }

    fn nightly_value(&self) -> String {
        self.plan.nightly_at.clone().unwrap_or_default()
    }
}

async fn build(state: &AppState, shell: Shell, times: Times) -> AppResult<BackupsPage> {
    let plan = load_plan(state).await?;
    let passphrase = plan::passphrase_file(&state.config.data_dir);
    Ok(BackupsPage {
        shell,
        times,
        on_data_disk: plan.on_data_disk(&state.config),
        archives: plan::archives(&plan.directory()),
        plan,
        passphrase_set: passphrase.read().and(passphrase.modified()),
        suggested: plan::suggest_passphrase(),
        last: LastRun::read(&state.config.data_dir),
        running: state.backups.running().map(|r| r.progress.percent()),
        max_upload: disk::human_size(state.config.storage.max_restore_upload_bytes),
        error: None,
        restore_error: None,
    })
}

async fn page(
    State(state): State<AppState>,
    shell: Shell,
    times: Times,
    _: OwnerUser,
) -> AppResult<Response> {
    render(&build(&state, shell, times).await?)
}

async fn run_submit(
    State(state): State<AppState>,
    OwnerUser(owner): OwnerUser,
) -> AppResult<Response> {
    match start(&state, Trigger::Manual, Some(&owner.user)) {
        Ok(()) => Ok(redirect_with_flash(
            &state,
            "/admin/backups",
            "The backup is being written.",
        )),
        Err(reason) => Ok(redirect_with_flash(&state, "/admin/backups", &reason)),
    }
}

/// The running backup, for the page's script.
#[derive(Serialize)]
struct ProgressView {
    running: bool,
    percent: u64,
    started_at: Option<i64>,
    /// How the last one ended, once it has.
    last_ok: Option<bool>,
    last_message: Option<String>,
}

async fn progress(State(state): State<AppState>, _: OwnerUser) -> Json<ProgressView> {
    let running = state.backups.running();
    let last = LastRun::read(&state.config.data_dir);
    Json(ProgressView {
        running: running.is_some(),
        percent: running.as_ref().map_or(0, |r| r.progress.percent()),
        started_at: running.map(|r| r.started_at),
        last_ok: last.as_ref().map(|l| l.ok),
        last_message: last.map(|l| l.message),
    })
}

#[derive(Deserialize)]
struct PlanForm {
    directory: String,
    #[serde(default)]
    nightly: Option<String>,
    #[serde(default)]
    nightly_at: String,
    keep_daily: String,
    keep_weekly: String,
    #[serde(default)]
    include_models: Option<String>,
}

async fn plan_submit(
    State(state): State<AppState>,
    shell: Shell,
    times: Times,
    OwnerUser(owner): OwnerUser,
    ClientIp(ip): ClientIp,
    axum::Form(form): axum::Form<PlanForm>,
) -> AppResult<Response> {
    let number = |text: &str| text.trim().parse::<usize>().ok();
    let (Some(keep_daily), Some(keep_weekly)) =
        (number(&form.keep_daily), number(&form.keep_weekly))
    else {
        let mut page = build(&state, shell, times).await?;
        page.error = Some("Give how many backups to keep as whole numbers.".into());
        return Ok(render_with_status(StatusCode::BAD_REQUEST, &page));
    };
    let plan = Plan {
        directory: form.directory.trim().to_string(),
        nightly_at: form
            .nightly
            .is_some()
            .then(|| form.nightly_at.trim().to_string()),
        keep_daily,
        keep_weekly,
        include_models: form.include_models.is_some(),
    };
    let problem = plan.problem(&state.config).or_else(|| {
        let dir = plan.directory();
        std::fs::create_dir_all(&dir)
            .and_then(|_| {
                let probe = dir.join(".hearth-write-test");
                std::fs::write(&probe, b"ok")?;
                std::fs::remove_file(probe)
            })
            .err()
            .map(|err| {
                format!(
                    "Hearth cannot write to {}: {err}. Check that the drive or share is mounted and writable.",
                    plan.directory
                )
            })
    });
    if let Some(problem) = problem {
        let mut page = build(&state, shell, times).await?;
        page.plan = plan;
        page.error = Some(problem);
        return Ok(render_with_status(StatusCode::BAD_REQUEST, &page));
    }
    save_plan(&state, &owner.user, &ip, &plan, "").await?;
    Ok(redirect_with_flash(
        &state,
        "/admin/backups",
        "The backup plan is saved.",
    ))
}

/// Stores `plan` as a new version of the setting; audited. `note` ends the
/// audit entry's detail (", restored from version 3").
pub async fn save_plan(
    state: &AppState,
    by: &User,
    ip: &str,
    plan: &Plan,
    note: &str,
) -> AppResult<()> {
    let json = serde_json::to_string(plan).map_err(|e| AppError::Internal(e.into()))?;
    state
        .store
        .set_setting(plan::SETTING_KEY, json, Some(by.id))
        .await?;
    let schedule = match &plan.nightly_at {
        Some(at) => format!("nightly at {at}"),
        None => "no schedule".to_string(),
    };
    audit::setting_changed(
        &state.store,
        by,
        ip,
        plan::SETTING_KEY,
        format!(
            "backups into {}, {schedule}, keeping {} daily and {} weekly{}{note}",
            plan.directory,
            plan.keep_daily,
            plan.keep_weekly,
            if plan.include_models {
                ", with the model files"
            } else {
                ""
            }
        ),
    )
    .await?;
    Ok(())
}

#[derive(Deserialize)]
struct PassphraseForm {
    passphrase: String,
    passphrase_confirm: String,
}

async fn passphrase_submit(
    State(state): State<AppState>,
    shell: Shell,
    times: Times,
    OwnerUser(owner): OwnerUser,
    ClientIp(ip): ClientIp,
    axum::Form(form): axum::Form<PassphraseForm>,
) -> AppResult<Response> {
    let passphrase = form.passphrase.trim();
    let problem = if passphrase != form.passphrase_confirm.trim() {
        Some("The two passphrases differ.".to_string())
    } else {
        backup::passphrase_problem(passphrase)
    };
    if let Some(problem) = problem {
        let mut page = build(&state, shell, times).await?;
        page.error = Some(problem);
        return Ok(render_with_status(StatusCode::BAD_REQUEST, &page));
    }
    let file = plan::passphrase_file(&state.config.data_dir);
    let replaced = file.read().is_some();
    file.write(passphrase)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("cannot store the passphrase: {e}")))?;
    audit::record(
        &state.store,
        Actor::User(&owner.user),
        &ip,
        Event::ok("backup.passphrase_set", Target::Nothing).detail(if replaced {
            "replaced: older backups still open with the passphrase they were made with"
        } else {
            "set"
        }),
    )
    .await?;
    Ok(redirect_with_flash(
        &state,
        "/admin/backups/recovery-sheet",
        "The recovery passphrase is set. Print this sheet, or write the passphrase down, and keep it away from the box.",
    ))
}

#[derive(Template)]
#[template(path = "admin/recovery_sheet.html")]
struct RecoverySheet {
    shell: Shell,
    business: String,
    passphrase: String,
    set_at: Moment,
    printed_at: Moment,
    directory: String,
    box_name: String,
}

#[derive(Deserialize)]
struct SheetQuery {
    #[serde(default)]
    download: Option<String>,
}

/// The printable recovery sheet: the passphrase, where the backups are, and
/// how to restore. Opening it is audited (it shows the passphrase).
async fn recovery_sheet(
    State(state): State<AppState>,
    shell: Shell,
    times: Times,
    OwnerUser(owner): OwnerUser,
    ClientIp(ip): ClientIp,
    Query(query): Query<SheetQuery>,
) -> AppResult<Response> {
    let file = plan::passphrase_file(&state.config.data_dir);
    let Some(passphrase) = file.read() else {
        return Ok(redirect_with_flash(
            &state,
            "/admin/backups",
            "Set a recovery passphrase first.",
        ));
    };
    let plan = load_plan(&state).await?;
    audit::record(
        &state.store,
        Actor::User(&owner.user),
        &ip,
        Event::ok("backup.sheet_viewed", Target::Nothing),
    )
    .await?;
    let sheet = RecoverySheet {
        business: shell.business_name.clone(),
        shell,
        passphrase,
        set_at: times.at(file.modified().unwrap_or_else(now)),
        printed_at: times.at(now()),
        directory: plan.directory,
        box_name: state
            .lan
            .name()
            .announced
            .unwrap_or_else(|| state.config.appliance.name.clone()),
    };
    let mut response = render(&sheet)?;
    if query.download.is_some() {
        response.headers_mut().insert(
            axum::http::header::CONTENT_DISPOSITION,
            axum::http::HeaderValue::from_static(
                "attachment; filename=\"hearth-recovery-sheet.html\"",
            ),
        );
    }
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// What a restore form sent: the passphrase, and either an uploaded
/// archive (spooled into the data directory) or the name of one in the
/// backup folder.
pub struct RestoreRequest {
    pub fields: std::collections::HashMap<String, String>,
    pub uploaded: Option<std::path::PathBuf>,
}

/// Reads a restore form: its text fields, and the `archive` file (spooled,
/// within `[storage] max_restore_upload_bytes` and the disk's floor).
pub async fn read_restore_form(
    state: &AppState,
    mut multipart: Multipart,
) -> Result<RestoreRequest, String> {
    let mut fields = std::collections::HashMap::new();
    let mut uploaded = None;
    let partial = state
        .config
        .data_dir
        .join("tmp")
        .join("restore-upload.partial");
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| format!("The form could not be read: {e}"))?
    {
        let name = field.name().unwrap_or_default().to_string();
        if name == "archive" {
            if field.file_name().is_none_or(str::is_empty) {
                continue;
            }
            let _ = tokio::fs::create_dir_all(partial.parent().unwrap_or(&partial)).await;
            let disk = state.config.disk();
            let limit = state.config.storage.max_restore_upload_bytes;
            match disk::spool(
                disk::SpoolTarget {
                    disk: &disk,
                    partial: &partial,
                    limit,
                    append: false,
                },
                field,
            )
            .await
            {
                Ok(_) => uploaded = Some(partial.clone()),
                Err(SpoolError::TooLarge { limit }) => {
                    let _ = tokio::fs::remove_file(&partial).await;
                    return Err(format!(
                        "The backup is larger than {} and cannot be uploaded; copy it into the backup folder and restore it from the list, or use `hearth restore` on the console.",
                        disk::human_size(limit)
                    ));
                }
                Err(other) => {
                    let _ = tokio::fs::remove_file(&partial).await;
                    return Err(other.to_string());
                }
            }
        } else if name.len() <= 40 {
            let text = field
                .text()
                .await
                .map_err(|e| format!("The form could not be read: {e}"))?;
            fields.insert(name, text.chars().take(2000).collect());
        }
    }
    Ok(RestoreRequest { fields, uploaded })
}

/// Decrypts and checks `archive` into the data directory, then asks Hearth
/// to restart into it. `force`: the box may have accounts (the owner's own
/// restore). The sentence for people when it is refused.
pub async fn stage_and_restart(
    state: &AppState,
    archive: std::path::PathBuf,
    passphrase: String,
    force: bool,
) -> Result<(), String> {
    let config = state.config.clone();
    let staged = tokio::task::spawn_blocking(move || {
        backup::stage(&config, &archive, &passphrase, force).map_err(|e| format!("{e:#}"))
    })
    .await
    .map_err(|e| format!("The restore stopped unexpectedly: {e}"))?;
    staged?;
    tracing::warn!("a checked backup is ready; Hearth restarts to put it in place");
    // A moment first, so the page that says so (and its script, which
    // waits for the restart) reaches the browser from this run.
    let restart = state.backups.restart.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        restart.cancel();
    });
    Ok(())
}

#[derive(Template)]
#[template(path = "restarting.html")]
pub struct RestartingPage {
    pub shell: Shell,
    /// Where to go once Hearth answers again.
    pub next: &'static str,
    /// This run's name: the page waits for `/readyz` to give another.
    pub instance: &'static str,
}

async fn restore_submit(
    State(state): State<AppState>,
    shell: Shell,
    times: Times,
    OwnerUser(owner): OwnerUser,
    ClientIp(ip): ClientIp,
    multipart: Multipart,
) -> AppResult<Response> {
    let refuse = |message: String| {
        let state = state.clone();
        let shell = shell.clone();
        let times = times.clone();
        async move {
            tracing::warn!(reason = %message, "a restore was refused");
            let mut page = build(&state, shell, times).await?;
            page.restore_error = Some(message);
            Ok::<Response, AppError>(render_with_status(StatusCode::BAD_REQUEST, &page))
        }
    };
    let request = match read_restore_form(&state, multipart).await {
        Ok(r) => r,
        Err(message) => return refuse(message).await,
    };
    let field = |name: &str| request.fields.get(name).cloned().unwrap_or_default();
    if field("confirm") != "replace" {
        if let Some(path) = &request.uploaded {
            let _ = tokio::fs::remove_file(path).await;
        }
        return refuse(
            "Tick the box to confirm: restoring replaces everything on this box with the backup's contents."
                .into(),
        )
        .await;
    }
    let archive = match (&request.uploaded, field("existing")) {
        (Some(path), _) => path.clone(),
        (None, name) if !name.is_empty() => {
            let plan = load_plan(&state).await?;
            match plan::archives(&plan.directory())
                .into_iter()
                .find(|a| a.name == name)
            {
                Some(a) => plan.directory().join(a.name),
                None => {
                    return refuse(format!(
                        "There is no backup named {name} in the backup folder."
                    ))
                    .await;
                }
            }
        }
        _ => return refuse("Choose a backup from the list or upload one.".into()).await,
    };
    let outcome = stage_and_restart(&state, archive, field("passphrase"), true).await;
    if let Some(path) = &request.uploaded {
        let _ = tokio::fs::remove_file(path).await;
    }
    audit::record(
        &state.store,
        Actor::User(&owner.user),
        &ip,
        match &outcome {
            Ok(()) => Event::ok("backup.restored", Target::Nothing)
                .detail("checked; Hearth restarts to put it in place"),
            Err(reason) => Event::failed("backup.restored", Target::Nothing).detail(reason.clone()),
        },
    )
    .await?;
    match outcome {
        Ok(()) => Ok(render_with_status(
            StatusCode::OK,
            &RestartingPage {
                shell,
                next: "/login",
                instance: crate::app::instance_id(),
            },
        )),
        Err(reason) => refuse(reason).await,
    }
}

/// A restored box: the audit entry written after the restart, in the
/// restored log.
pub async fn record_restored(state: &AppState, restored: &backup::Restored) {
    let mut detail = format!(
        "{} files from the backup of {}",
        restored.files,
        jiff::Timestamp::from_second(restored.created_at)
            .map(|t| t.to_string())
            .unwrap_or_default()
    );
    if !restored.missing_models.is_empty() {
        detail.push_str(&format!(
            "; model files to add again: {}",
            restored.missing_models.join(", ")
        ));
    }
    let event = Event::ok("backup.restored", Target::Nothing).detail(detail);
    if let Err(err) = audit::record(&state.store, Actor::Console, "", event).await {
        tracing::warn!(error = %err, "cannot record the restore in the audit log");
    }
}
