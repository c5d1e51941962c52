//! Startup wiring: [`AppState`] (cheap-to-clone handles on everything a
//! request may need), [`router`] (every capability's routes in one visible
//! place), and [`run`] (serve on a listener until shutdown), which tests call
//! with their own listener.

use std::future::Future;
use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::FromRef;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::llm::{Engine, EngineConfig};
use crate::store::Store;
use crate::web::middleware::HostAllowlist;
use crate::web::{Access, RouteSpec, Routes, assets};
use crate::{admin, api, auth, backups, chat, docs, pages, schedule};

/// Everything a request may need: cheap-to-clone handles, each
/// capability's state in its own struct (which handlers can also take on
/// its own, through `FromRef`).
#[derive(Clone, FromRef)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub hosts: Arc<HostAllowlist>,
    pub auth: auth::AuthState,
    pub chat: chat::ChatState,
    /// The search index, once open (or why not).
    pub search: crate::search::IndexSlot,
    /// Documents: the ingestion workers' bell and the extraction binary.
    pub docs: docs::Docs,
    /// The name the box answers to on the office network.
    pub lan: crate::appliance::lan::Lan,
    /// The audit log's signing key and checkpoints.
    pub ledger: crate::audit::chain::Ledger,
    /// The one way out of the box, logged.
    pub egress: crate::egress::Egress,
    /// The backup being written, and the restart a restore asks for.
    pub backups: Arc<backups::Backups>,
    /// The last day's CPU, memory, queue and speed, for Admin → System.
    pub health: Arc<crate::appliance::health::History>,
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
        chat::models::download::install_tls_provider();
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
        let hosts = HostAllowlist::for_this_machine(
            &config.server.allowed_hosts,
            config.server.listen,
            &config.appliance.name,
        );
        let ledger = crate::audit::chain::Ledger::open(&config.data_dir)
            .context("cannot open the audit log's checkpoint key")?;
        Ok(AppState {
            ledger,
            egress: crate::egress::Egress::new(store.clone()),
            auth: auth::AuthState::load(&config, &store).await?,
            chat: chat::ChatState::load(&config, &store, start).await?,
            config: Arc::new(config),
            store,
            hosts: Arc::new(hosts),
            search: crate::search::IndexSlot::default(),
            docs: docs::Docs::new(),
            lan: crate::appliance::lan::Lan::default(),
            backups: Arc::default(),
            health: Arc::default(),
        })
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
        .merge(schedule::routes())
        .merge(admin::routes())
        .merge(backups::routes())
        .merge(crate::changes::routes())
        .merge(crate::metrics::routes())
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

/// A random name for this run of Hearth, sent with `/readyz`: a page
/// waiting for a restart knows the new run from the old one.
pub fn instance_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| crate::auth::token::random_token(12))
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
        Ok(()) => (
            [(
                axum::http::HeaderName::from_static("x-hearth-instance"),
                instance_id(),
            )],
            "ready\n",
        )
            .into_response(),
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
    run_with_https(listener, None, state, shutdown).await
}

/// [`run`], and the same application over HTTPS on a second listener.
pub async fn run_with_https(
    listener: TcpListener,
    https: Option<(TcpListener, tokio_rustls::TlsAcceptor)>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    crate::metrics::mark_start();
    let purge = tokio::spawn(purge_sessions_periodically(state.clone()));
    let checkpoints = tokio::spawn(checkpoint_periodically(state.clone()));
    let disk = tokio::spawn(watch_disk(state.clone()));
    let nightly = tokio::spawn(backups::run_nightly(state.clone()));
    let health = tokio::spawn(crate::appliance::health::keep(state.clone()));
    let stop_documents = tokio_util::sync::CancellationToken::new();
    let documents = tokio::spawn(docs::run_background(state.clone(), stop_documents.clone()));
    let engine = state.chat.engine.clone();
    let server = &state.config.server;
    let limits = crate::web::serve::Limits {
        header_timeout: Duration::from_secs(server.header_timeout_secs),
        max_connections_per_ip: server.max_connections_per_ip,
        shutdown_timeout: Duration::from_secs(server.shutdown_timeout_secs),
    };
    let state_for_shutdown = state.clone();
    let app = router(state);
    let stop = tokio_util::sync::CancellationToken::new();
    let https = https.map(|(listener, acceptor)| {
        tokio::spawn(crate::web::serve::serve(
            listener,
            app.clone(),
            limits,
            Some(acceptor),
            stop.clone().cancelled_owned(),
        ))
    });
    let stop_https = stop.clone();
    let shutdown = async move {
        shutdown.await;
        stop_https.cancel();
    };
    crate::web::serve::serve(listener, app, limits, None, shutdown).await;
    if let Some(https) = https {
        let _ = https.await;
    }
    purge.abort();
    disk.abort();
    nightly.abort();
    health.abort();
    checkpoints.abort();
    // The last entries (the shutdown's own) are signed too.
    if let Err(err) = state_for_shutdown
        .ledger
        .checkpoint(&state_for_shutdown.store)
        .await
    {
        tracing::warn!(error = %format!("{err:#}"), "could not sign the audit log's last checkpoint");
    }
    // A document being processed is left queued; the next start resumes it.
    stop_documents.cancel();
    let _ = documents.await;
    engine.shutdown();
    Ok(())
}

/// Signs a checkpoint of the audit log every `[audit] checkpoint_minutes`
/// while it grows (none when nothing was recorded since); the one written
/// at the last stop covers the time before the first. Not at once at
/// start: on a nearly full disk the first minutes belong to what people do.
async fn checkpoint_periodically(state: AppState) {
    let minutes = state.config.audit.checkpoint_minutes.max(1);
    let period = Duration::from_secs(minutes * 60);
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        interval.tick().await;
        match state.ledger.checkpoint(&state.store).await {
            Ok(signed) => {
                for c in signed {
                    tracing::debug!(log = %c.log, seq = c.seq, "checkpoint signed");
                }
            }
            Err(err) => tracing::warn!(
                error = %format!("{err:#}"),
                "could not sign a checkpoint of the audit log"
            ),
        }
    }
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

/// `hearth serve`: binds the configured address, announces the box on the
/// network and the setup code if the box is new, tells systemd it is ready,
/// and serves until SIGINT or SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    use crate::appliance::{notify, status};
    let listen = config.server.listen;
    // A backup checked before a restart (Admin → Backups, the setup page)
    // goes in place before anything opens the database.
    let restored = crate::backup::apply_staged(&config)
        .context("a checked backup was waiting, and putting it in place failed; the data directory is as the backup left it so far: run `hearth restore` with the backup again")?;
    let state = AppState::new(config).await?;
    if let Some(restored) = &restored {
        tracing::warn!(files = restored.files, "a backup was put in place");
        backups::record_restored(&state, restored).await;
    }
    let updates = crate::appliance::update::UpdateFiles::new(&state.config.data_dir);
    if let Err(err) = admin::system::record_update_outcome(&state.store, &updates).await {
        tracing::warn!(error = %format!("{err:#}"), "cannot record how the last update ended");
    }
    let listener = TcpListener::bind(listen).await.with_context(|| {
        format!(
            "cannot listen on {listen}; is another program using it? Choose another with --listen"
        )
    })?;
    let local = listener.local_addr()?;
    tracing::info!(address = %local, data_dir = %state.config.data_dir.display(), "Hearth is listening");
    let appliance = &state.config.appliance;
    let mdns_host = appliance.announces(local).then(|| {
        if let Err(err) = state.lan.announce(&appliance.name, local.port()) {
            state.lan.failed(&appliance.name, &err);
        }
        format!("{}.local", appliance.name)
    });
    if let Some(code) = state.auth.setup.code() {
        announce_setup(local, mdns_host.as_deref(), code);
    }
    let status_file = appliance.status_file.clone();
    let keep_status = status_file
        .clone()
        .map(|path| tokio::spawn(status::keep(state.clone(), path, local.port())));
    let watchdog = tokio::spawn(notify::keep_watchdog(state.store.clone()));
    notify::ready(&format!("serving on {local}"));
    let https = listen_https(&state).await;
    let lan = state.lan.clone();
    let restart = state.backups.restart.clone();
    let shutdown_restart = restart.clone();
    let shutdown = async move {
        tokio::select! {
            () = shutdown_signal() => notify::stopping(),
            () = shutdown_restart.cancelled() => notify::reloading(),
        }
        watchdog.abort();
        if let (Some(task), Some(path)) = (keep_status, &status_file) {
            task.abort();
            status::mark_stopping(path);
        }
        lan.stop();
    };
    run_with_https(listener, https, state, shutdown).await?;
    if restart.is_cancelled() {
        tracing::warn!("Hearth restarts");
        return Err(restart_in_place());
    }
    tracing::info!("Hearth stopped");
    Ok(())
}

/// Replaces this process with a fresh `hearth` with the same arguments (the
/// same process to systemd and to whoever started it); returns only when
/// that fails.
fn restart_in_place() -> anyhow::Error {
    use std::os::unix::process::CommandExt;
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(err) => return anyhow::anyhow!("cannot find Hearth's program to restart it: {err}"),
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .exec();
    anyhow::anyhow!("cannot restart Hearth: {err}; start it again by hand")
}

/// The HTTPS listener and its certificate (made now if there is none),
/// when `[server] https_listen` asks for one. A box that cannot serve HTTPS
/// still serves HTTP: the problem goes to the log.
async fn listen_https(state: &AppState) -> Option<(TcpListener, tokio_rustls::TlsAcceptor)> {
    let address = state.config.server.https_listen?;
    let files = crate::appliance::tls::TlsFiles::new(&state.config.data_dir);
    let prepared = files
        .ensure(
            &state.config.appliance.name,
            &crate::appliance::status::interface_addresses(),
        )
        .and_then(|_| files.server_config());
    let config = match prepared {
        Ok(config) => config,
        Err(err) => {
            tracing::error!(error = %format!("{err:#}"), "HTTPS is off: the certificate is not usable");
            return None;
        }
    };
    match TcpListener::bind(address).await {
        Ok(listener) => {
            tracing::info!(address = %address, "Hearth is listening for HTTPS");
            Some((listener, tokio_rustls::TlsAcceptor::from(config)))
        }
        Err(err) => {
            tracing::error!(address = %address, error = %err, "HTTPS is off: cannot listen");
            None
        }
    }
}

/// Tells whoever installed the box how to finish setup: a log line, and a
/// framed banner on stderr (the console, and the journal under systemd)
/// with the addresses to open and the code. Colour only on a terminal that
/// has not asked for none (`NO_COLOR`), so a log file or `journalctl` shows
/// plain text.
fn announce_setup(address: SocketAddr, mdns_host: Option<&str>, code: &str) {
    let urls = setup_urls(
        address,
        mdns_host,
        &crate::appliance::status::interface_addresses(),
    );
    tracing::warn!(setup_code = code, url = %urls[0], "this Hearth has no owner yet: finish setup in a browser");
    let stderr = std::io::stderr();
    let colour = stderr.is_terminal() && std::env::var_os("NO_COLOR").is_none();
    eprintln!(
        "{}",
        setup_banner(code, &urls, address.ip().is_loopback(), colour)
    );
}

/// Where people can open the setup page: on a loopback address only that
/// one; on every interface, the name announced by multicast DNS first
/// (`hearth.local` on the appliance) and then each of the box's addresses
/// (for phones that do not resolve `.local`); otherwise the address Hearth
/// listens on.
fn setup_urls(listen: SocketAddr, mdns_host: Option<&str>, interfaces: &[IpAddr]) -> Vec<String> {
    let port = match listen.port() {
        80 => String::new(),
        port => format!(":{port}"),
    };
    let url = |host: &str| format!("http://{host}{port}/setup");
    let address = |ip: &IpAddr| match ip {
        IpAddr::V6(v6) => url(&format!("[{v6}]")),
        IpAddr::V4(v4) => url(&v4.to_string()),
    };
    if !listen.ip().is_unspecified() {
        return vec![address(&listen.ip())];
    }
    let mut urls: Vec<String> = mdns_host.map(url).into_iter().collect();
    urls.extend(interfaces.iter().take(4).map(address));
    if urls.is_empty() {
        urls.push(url("localhost"));
    }
    urls
}

/// The banner itself, framed in plain ASCII (a serial console or an old
/// log viewer shows it too). Its line `setup code: ABCD-EFGH-JKMN` is what
/// scripts and the browser tests look for.
fn setup_banner(code: &str, urls: &[String], local_only: bool, colour: bool) -> String {
    let mut lines = vec![
        "Welcome to Hearth. This box has no owner yet.".to_string(),
        String::new(),
        if urls.len() == 1 {
            "1. In a web browser, open:".to_string()
        } else {
            "1. In a web browser in the office, open one of:".to_string()
        },
    ];
    lines.extend(urls.iter().map(|url| format!("     {url}")));
    if local_only {
        lines.push("   (Hearth listens on this computer only; see server.listen)".to_string());
    }
    lines.push(format!("2. Enter the one-time setup code: {code}"));
    lines.push("3. Create the owner's account; staff get theirs from the owner.".to_string());
    let width = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let rule = format!("  +{}+", "-".repeat(width + 4));
    let mut out = vec![String::new(), rule.clone()];
    for line in &lines {
        let padding = " ".repeat(width - line.chars().count());
        let line = match (colour, line.strip_suffix(code)) {
            // Bold, on a terminal only.
            (true, Some(before)) if !code.is_empty() => format!("{before}\x1b[1m{code}\x1b[0m"),
            _ => line.clone(),
        };
        out.push(format!("  |  {line}{padding}  |"));
    }
    out.push(rule);
    out.push(String::new());
    out.join("\n")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(listen: &str, mdns: Option<&str>, interfaces: &[&str], expected: &[&str]) {
        let interfaces: Vec<IpAddr> = interfaces.iter().map(|i| i.parse().unwrap()).collect();
        assert_eq!(
            setup_urls(listen.parse().unwrap(), mdns, &interfaces),
            expected,
            "{listen}"
        );
    }

    #[test]
    fn the_setup_page_is_offered_where_people_can_open_it() {
        check(
            "127.0.0.1:8080",
            None,
            &["192.168.1.20"],
            &["http://127.0.0.1:8080/setup"],
        );
        check(
            "0.0.0.0:80",
            Some("hearth.local"),
            &["192.168.1.20", "10.0.0.5"],
            &[
                "http://hearth.local/setup",
                "http://192.168.1.20/setup",
                "http://10.0.0.5/setup",
            ],
        );
        check(
            "0.0.0.0:8080",
            Some("front-desk.local"),
            &[],
            &["http://front-desk.local:8080/setup"],
        );
        check("0.0.0.0:8080", None, &[], &["http://localhost:8080/setup"]);
        check("192.168.1.20:80", None, &[], &["http://192.168.1.20/setup"]);
        check("[::1]:8080", None, &[], &["http://[::1]:8080/setup"]);
    }

    #[test]
    fn the_banner_is_framed_plain_text_unless_on_a_terminal() {
        let urls = vec![
            "http://hearth.local/setup".to_string(),
            "http://192.168.1.20/setup".to_string(),
        ];
        let banner = setup_banner("ABCD-EFGH-JKMN", &urls, false, false);
        assert!(!banner.contains('\x1b'), "{banner}");
        let lines: Vec<&str> = banner.lines().filter(|l| !l.is_empty()).collect();
        let width = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == width), "{banner}");
        assert!(lines[0].starts_with("  +-") && lines.last().unwrap().starts_with("  +-"));
        assert!(banner.contains("setup code: ABCD-EFGH-JKMN "), "{banner}");
        assert!(
            banner.contains("|       http://192.168.1.20/setup"),
            "{banner}"
        );
        let coloured = setup_banner("ABCD-EFGH-JKMN", &urls, true, true);
        assert!(
            coloured.contains("\x1b[1mABCD-EFGH-JKMN\x1b[0m"),
            "{coloured}"
        );
        assert!(coloured.contains("this computer only"));
    }
}
