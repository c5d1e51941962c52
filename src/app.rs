//! Startup wiring: [`AppState`] (cheap-to-clone handles on everything a
//! request may need), [`router`] (every capability's routes in one visible
//! place), and [`run`] (serve on a listener until shutdown), which tests call
//! with their own listener.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;

use crate::auth::SetupCode;
use crate::auth::throttle::Throttle;
use crate::chat::Running;
use crate::chat::assistant::{self, AssistantSettings};
use crate::config::Config;
use crate::llm::{Engine, EngineConfig};
use crate::store::{Store, StoreResult};
use crate::web::middleware::HostAllowlist;
use crate::web::{Access, RouteSpec, Routes, assets};
use crate::{admin, api, auth, chat, docs, pages};

/// Setting key of the business name shown in the header.
pub const BUSINESS_NAME_SETTING: &str = "business_name";

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub throttle: Arc<Throttle>,
    pub hosts: Arc<HostAllowlist>,
    pub setup: Arc<SetupCode>,
    /// Set once an owner exists; until then every request checks the database.
    set_up: Arc<AtomicBool>,
    business_name: Arc<RwLock<String>>,
    /// The local model.
    pub engine: Engine,
    /// Answers being written now, so Stop can find them.
    pub running: Arc<Running>,
    assistant: Arc<RwLock<AssistantSettings>>,
    /// The search index, once open (or why not).
    pub search: crate::search::IndexSlot,
    /// Documents: the ingestion workers' bell and the extraction binary.
    pub docs: docs::Docs,
}

impl AppState {
    /// Opens the data directory and database, prepares shared state and
    /// starts loading the model.
    pub async fn new(config: Config) -> anyhow::Result<AppState> {
        AppState::build(config, Some(Engine::start)).await
    }

    /// Like [`AppState::new`], without the model: for console commands.
    pub async fn for_console(config: Config) -> anyhow::Result<AppState> {
        AppState::build(config, None::<fn(EngineConfig) -> Engine>).await
    }

    /// Like [`AppState::new`], with the engine `start` makes from the
    /// configured engine settings: tests pass [`Engine::fake`].
    pub async fn with_engine(
        config: Config,
        start: impl FnOnce(EngineConfig) -> Engine,
    ) -> anyhow::Result<AppState> {
        AppState::build(config, Some(start)).await
    }

    async fn build(
        config: Config,
        start: Option<impl FnOnce(EngineConfig) -> Engine>,
    ) -> anyhow::Result<AppState> {
        prepare_data_dir(&config)?;
        std::fs::create_dir_all(config.models_dir()).with_context(|| {
            format!(
                "cannot create the models directory {}",
                config.models_dir().display()
            )
        })?;
        let store = Store::open_with_reserve(
            &config.database_path(),
            config.storage.reserve_mb * 1024 * 1024,
        )?;
        let set_up = store.owner_exists().await?;
        let business_name = store
            .setting(BUSINESS_NAME_SETTING)
            .await?
            .unwrap_or_else(|| "Hearth".to_string());
        let setup = SetupCode::new(!set_up);
        let throttle = Throttle::new(
            config.auth.login_free_failures,
            Duration::from_secs(config.auth.login_max_delay_secs),
            store.clock().clone(),
        );
        let hosts =
            HostAllowlist::for_this_machine(&config.server.allowed_hosts, config.server.listen);
        let settings = match store.setting(assistant::SETTING_KEY).await? {
            Some(json) => serde_json::from_str(&json).unwrap_or_else(|err| {
                tracing::warn!(error = %err, "stored assistant settings unreadable; using defaults");
                AssistantSettings::defaults(&config)
            }),
            None => AssistantSettings::defaults(&config),
        };
        let model_path = match store.setting(assistant::MODEL_SETTING_KEY).await? {
            Some(file) => config.models_dir().join(file),
            None => config.configured_model(),
        };
        let engine_config = settings.engine_config(&config, model_path);
        let engine = if let Some(start) = start {
            // Answers that were being written when the server last stopped
            // (a crash, a power cut) keep their text and say so.
            match store.interrupt_unfinished_answers().await? {
                0 => {}
                n => tracing::warn!(
                    answers = n,
                    "answers interrupted by the last stop are marked"
                ),
            }
            start(engine_config)
        } else {
            Engine::stopped(engine_config)
        };
        Ok(AppState {
            config: Arc::new(config),
            store,
            throttle: Arc::new(throttle),
            hosts: Arc::new(hosts),
            setup: Arc::new(setup),
            set_up: Arc::new(AtomicBool::new(set_up)),
            business_name: Arc::new(RwLock::new(business_name)),
            engine,
            running: Arc::new(Running::default()),
            assistant: Arc::new(RwLock::new(settings)),
            search: crate::search::IndexSlot::default(),
            docs: docs::Docs::new(),
        })
    }

    /// Whether an owner exists. Once true it stays true for the process, so
    /// the check costs nothing after setup; an owner created from the console
    /// while the server runs is noticed on the next request.
    pub async fn is_set_up(&self) -> StoreResult<bool> {
        if self.set_up.load(Ordering::Acquire) {
            return Ok(true);
        }
        let exists = self.store.owner_exists().await?;
        if exists {
            self.set_up.store(true, Ordering::Release);
            if let Ok(Some(name)) = self.store.setting(BUSINESS_NAME_SETTING).await {
                self.set_business_name(name);
            }
        }
        Ok(exists)
    }

    pub fn business_name(&self) -> String {
        self.business_name
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The assistant's current settings.
    pub fn assistant(&self) -> AssistantSettings {
        self.assistant
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_assistant(&self, settings: AssistantSettings) {
        *self.assistant.write().unwrap_or_else(|p| p.into_inner()) = settings;
    }

    pub fn set_business_name(&self, name: String) {
        *self
            .business_name
            .write()
            .unwrap_or_else(|p| p.into_inner()) = name;
    }
}

fn prepare_data_dir(config: &Config) -> anyhow::Result<()> {
    let dir = &config.data_dir;
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "cannot create the data directory {}; create it and make it writable by the user running Hearth, or choose another with --data-dir",
            dir.display()
        )
    })?;
    let probe = dir.join(".write-test");
    match std::fs::write(&probe, b"ok") {
        Ok(()) => {}
        // A full disk is not a reason to stay down: people must still be
        // able to sign in and delete things to make room.
        Err(err) if crate::disk::is_full(&err) => {
            tracing::error!(dir = %dir.display(), "the data directory's disk is full");
        }
        Err(err) => {
            return Err(err).with_context(|| {
                format!(
                    "the data directory {} is not writable; fix its owner or permissions, or choose another with --data-dir",
                    dir.display()
                )
            });
        }
    }
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Every route of Hearth, with its access. New capabilities add their
/// `routes()` here.
fn all_routes() -> Routes {
    Routes::new()
        .get("/healthz", Access::Public, healthz)
        .get("/readyz", Access::Public, readyz)
        .get("/static/{hash}/{*name}", Access::Public, assets::serve)
        .get("/favicon.ico", Access::Public, assets::favicon)
        .merge(auth::routes())
        .merge(pages::routes())
        .merge(chat::routes())
        .merge(docs::routes())
        .merge(admin::routes())
        .merge(api::routes())
}

/// The application with all middleware, ready to serve.
pub fn router(state: AppState) -> Router {
    let (router, _) = all_routes().into_parts();
    crate::web::finish(router, state)
}

/// Every route's method, path and access, for the role-access test and docs.
pub fn route_table() -> Vec<RouteSpec> {
    all_routes().into_parts().1
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready when the database answers and the data directory's disk has room
/// above its floor; otherwise 503 with what is wrong.
async fn readyz(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let unready = |why: String| {
        let mut response = (axum::http::StatusCode::SERVICE_UNAVAILABLE, why).into_response();
        response
            .extensions_mut()
            .insert(crate::web::middleware::AsWritten);
        response
    };
    let disk = state.config.disk().status();
    if disk.low() {
        return unready(format!(
            "disk full: {} free, below the floor of {}\n",
            crate::disk::human_size(disk.free),
            crate::disk::human_size(disk.floor)
        ));
    }
    match state.store.ping().await {
        Ok(()) => "ready\n".into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "not ready: database check failed");
            unready("database unavailable\n".into())
        }
    }
}

/// Serves `state` on `listener` until `shutdown` completes, then lets requests
/// in flight finish.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let purge = tokio::spawn(purge_sessions_periodically(state.clone()));
    let disk = tokio::spawn(watch_disk(state.clone()));
    let stop_documents = tokio_util::sync::CancellationToken::new();
    let documents = tokio::spawn(docs::run_background(state.clone(), stop_documents.clone()));
    let engine = state.engine.clone();
    let server = &state.config.server;
    let limits = crate::web::serve::Limits {
        header_timeout: Duration::from_secs(server.header_timeout_secs),
        max_connections_per_ip: server.max_connections_per_ip,
        shutdown_timeout: Duration::from_secs(server.shutdown_timeout_secs),
    };
    let app = router(state);
    crate::web::serve::serve(listener, app, limits, shutdown).await;
    purge.abort();
    disk.abort();
    // A document being processed is left queued; the next start resumes it.
    stop_documents.cancel();
    let _ = documents.await;
    engine.shutdown();
    Ok(())
}

/// Deletes expired sessions every ten minutes, so the table does not grow
/// with every browser that ever signed in.
async fn purge_sessions_periodically(state: AppState) {
    let mut interval = tokio::time::interval(Duration::from_secs(600));
    loop {
        interval.tick().await;
        let auth = &state.config.auth;
        let at = state.store.now();
        let idle_cutoff = at - (auth.session_idle_minutes * 60) as i64;
        let absolute_cutoff = at - (auth.session_max_hours * 3600) as i64;
        match state
            .store
            .purge_sessions(idle_cutoff, absolute_cutoff)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "expired sessions removed"),
            Err(err) => tracing::warn!(error = %err, "could not remove expired sessions"),
        }
    }
}

/// Every half minute: looks at the data directory's disk (says so in the
/// log when free space falls under, or climbs back over, the floor, and
/// sets the database's reserved room aside again once there is space), and
/// hands memory freed since to the system (see [`crate::memory`]).
async fn watch_disk(state: AppState) {
    let disk = state.config.disk();
    let mut was_low = false;
    let mut interval = tokio::time::interval(Duration::from_secs(30));
    loop {
        interval.tick().await;
        let status = disk.status();
        if status.low() != was_low {
            was_low = status.low();
            if was_low {
                tracing::error!(
                    free = status.free,
                    floor = status.floor,
                    "the data directory's disk is nearly full: uploads are refused until there is room"
                );
            } else {
                tracing::info!(
                    free = status.free,
                    "the data directory's disk has room again"
                );
            }
        }
        if !was_low {
            state.store.ensure_reserve().await;
        }
        crate::memory::trim();
    }
}

/// `hearth serve`: binds the configured address, announces the setup code if
/// the box is new, and serves until SIGINT or SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let listen = config.server.listen;
    let state = AppState::new(config).await?;
    let listener = TcpListener::bind(listen).await.with_context(|| {
        format!(
            "cannot listen on {listen}; is another program using it? Choose another with --listen"
        )
    })?;
    let local = listener.local_addr()?;
    tracing::info!(address = %local, data_dir = %state.config.data_dir.display(), "Hearth is listening");
    if let Some(code) = state.setup.code() {
        announce_setup(local, code);
    }
    run(listener, state, shutdown_signal()).await?;
    tracing::info!("Hearth stopped");
    Ok(())
}

fn announce_setup(address: SocketAddr, code: &str) {
    let url = format!("http://{address}/setup");
    tracing::warn!(setup_code = code, %url, "this Hearth has no owner yet: finish setup in a browser");
    eprintln!(
        "\n  Welcome to Hearth. Open {url} (or http://hearth.local/setup)\n  and enter this one-time setup code: {code}\n"
    );
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down; finishing requests in flight");
}
