//! The shared harness: a real Hearth on 127.0.0.1 with its own temporary data
//! directory (real SQLite file), and [`Client`], a cookie-keeping HTTP client
//! that behaves like a browser tab (follows no redirects, so tests see them).

#![allow(dead_code)]

use std::path::PathBuf;

use hearth::AppState;
use hearth::config::Config;
use hearth::llm::{Engine, EngineConfig, FakeScript};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use scraper::{Html, Selector};
use tokio::sync::oneshot;

/// A passphrase that passes the password policy.
pub const GOOD_PASSWORD: &str = "correct horse battery staple";

pub struct TestServer {
    pub base: String,
    pub state: AppState,
    pub data_dir: tempfile::TempDir,
    /// The model is the scripted engine ([`Engine::fake`]).
    scripted: bool,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    /// A fresh box: no owner yet.
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    /// A fresh box with configuration changes.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config {
            data_dir: data_dir.path().to_path_buf(),
            ..Config::default()
        };
        adjust(&mut config);
        TestServer::start_in(config, data_dir).await
    }

    pub async fn start_in(config: Config, data_dir: tempfile::TempDir) -> TestServer {
        TestServer::launch(config, data_dir, None::<fn(EngineConfig) -> Engine>).await
    }

    /// Like [`TestServer::start_in`], with the engine `start` makes (tests
    /// pass [`Engine::fake`]).
    pub async fn start_with_engine(
        config: Config,
        data_dir: tempfile::TempDir,
        start: impl FnOnce(EngineConfig) -> Engine,
    ) -> TestServer {
        TestServer::launch(config, data_dir, Some(start)).await
    }

    async fn launch(
        config: Config,
        data_dir: tempfile::TempDir,
        start: Option<impl FnOnce(EngineConfig) -> Engine>,
    ) -> TestServer {
        // HEARTH_TEST_LOG=debug (a tracing filter) shows the servers' logs.
        if let Ok(filter) = std::env::var("HEARTH_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
        // Text extraction re-invokes the hearth binary, not this test binary.
        hearth::docs::use_extractor_binary(PathBuf::from(env!("CARGO_BIN_EXE_hearth")));
        let scripted = start.is_some();
        let state = match start {
            Some(start) => AppState::with_engine(config, start).await,
            None => AppState::new(config).await,
        }
        .expect("state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(hearth::run(listener, state.clone(), async {
            let _ = rx.await;
        }));
        TestServer {
            base,
            state,
            data_dir,
            scripted,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// A box set up by its owner `olivia`; returns the owner's signed-in client.
    pub async fn with_owner() -> (TestServer, Client) {
        let server = TestServer::start().await;
        let owner = server.client();
        owner.setup(&server.setup_code(), "olivia").await;
        (server, owner)
    }

    pub fn setup_code(&self) -> String {
        self.state
            .auth
            .setup
            .code()
            .expect("a fresh box has a setup code")
            .to_string()
    }

    /// The audit log's records of one action, newest first.
    pub async fn audit_of(&self, action: &str) -> Vec<hearth::store::AuditRecord> {
        self.state
            .store
            .audit(hearth::store::AuditFilter {
                action: Some(action.into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap()
            .records
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.path().join("hearth.db")
    }

    pub fn client(&self) -> Client {
        Client::new(&self.base)
    }

    /// Adds a user through the owner's API key-less session and returns a
    /// client signed in as them.
    pub async fn user(&self, owner: &Client, username: &str, role: &str) -> Client {
        let response = owner
            .post_form(
                "/admin/users",
                &[
                    ("display_name", &format!("{username} Tester")),
                    ("username", username),
                    ("role", role),
                    ("password", GOOD_PASSWORD),
                ],
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "adding {username}"
        );
        let client = self.client();
        client.login(username, GOOD_PASSWORD).await;
        client
    }

    /// Stops the server and waits for it, keeping its data directory.
    pub async fn stop_keeping_data(mut self) -> (Config, tempfile::TempDir) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server ran");
        }
        let config = (*self.state.config).clone();
        let dir = std::mem::replace(&mut self.data_dir, tempfile::tempdir().expect("temp dir"));
        (config, dir)
    }

    /// Stops the server and waits for it, as a SIGTERM would.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server ran");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// One browser: a cookie jar and a base URL.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
}

impl Client {
    pub fn new(base: &str) -> Client {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Client {
            base: base.to_string(),
            http,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    /// GET and parse the HTML.
    pub async fn page(&self, path: &str) -> (StatusCode, Html) {
        let response = self.get(path).await;
        let status = response.status();
        (
            status,
            Html::parse_document(&response.text().await.unwrap()),
        )
    }

    /// The CSRF token the pages of this client carry.
    pub async fn csrf(&self) -> String {
        // Whichever of these pages renders for this client carries the token.
        for path in ["/login", "/setup", "/profile", "/profile/two-factor"] {
            let (_, html) = self.page(path).await;
            let token = select_attr(&html, "meta[name=csrf-token]", "content");
            if !token.is_empty() {
                return token;
            }
        }
        panic!("no page carried a CSRF token")
    }

    /// POSTs a form with this client's CSRF token added.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let token = self.csrf().await;
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf", &token));
        self.http
            .post(self.url(path))
            .form(&all)
            .send()
            .await
            .unwrap()
    }

    /// POSTs a form exactly as given (no CSRF token added).
    pub async fn post_form_raw(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        headers: HeaderMap,
    ) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .headers(headers)
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    /// Completes setup as owner `username` with the server's code.
    pub async fn setup(&self, code: &str, username: &str) {
        let response = self
            .post_form(
                "/setup",
                &[
                    ("setup_code", code),
                    ("business_name", "Sunny Dental"),
                    ("display_name", "Olivia Owner"),
                    ("username", username),
                    ("password", GOOD_PASSWORD),
                    ("password_confirm", GOOD_PASSWORD),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "setup");
    }

    pub async fn login(&self, username: &str, password: &str) -> reqwest::Response {
        let response = self
            .post_form("/login", &[("username", username), ("password", password)])
            .await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "login as {username}"
        );
        response
    }

    pub async fn try_login(&self, username: &str, password: &str) -> reqwest::Response {
        self.post_form("/login", &[("username", username), ("password", password)])
            .await
    }

    /// Creates an API key on the profile page and returns it.
    pub async fn api_key(&self, name: &str) -> String {
        let response = self.post_form("/profile/api-keys", &[("name", name)]).await;
        assert_eq!(response.status(), StatusCode::OK);
        let html = Html::parse_document(&response.text().await.unwrap());
        let key = select_text(&html, "#new-key-value");
        assert!(key.starts_with("hth_"), "{key}");
        key
    }
}

/// A bearer-key client for the JSON API.
pub struct ApiClient {
    pub base: String,
    pub key: String,
    pub http: reqwest::Client,
}

impl ApiClient {
    pub fn new(base: &str, key: &str) -> ApiClient {
        ApiClient {
            base: base.to_string(),
            key: key.to_string(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(&self.key)
    }

    pub async fn get_json(&self, path: &str) -> (StatusCode, serde_json::Value) {
        let response = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    /// Uploads `text` as the file `name` (into `collection`, or the
    /// uploader's own) and waits until it is indexed; its id.
    pub async fn upload_indexed(&self, collection: Option<i64>, name: &str, text: &str) -> i64 {
        let mut form = reqwest::multipart::Form::new();
        if let Some(c) = collection {
            form = form.text("collection", c.to_string());
        }
        let form = form.part(
            "file",
            reqwest::multipart::Part::bytes(text.as_bytes().to_vec()).file_name(name.to_string()),
        );
        let response = self
            .request(reqwest::Method::POST, "/api/v1/documents")
            .multipart(form)
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = response.json().await.unwrap();
        let id = body["results"][0]["document"]["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("{body}"));
        for _ in 0..600 {
            let (_, page) = self.get_json(&format!("/api/v1/documents?ids={id}")).await;
            if page["documents"][0]["status"] == "indexed" {
                return id;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("{name} was not indexed");
    }

    /// Starts a conversation; its id.
    pub async fn new_conversation(&self) -> i64 {
        let response = self
            .request(reqwest::Method::POST, "/api/v1/conversations")
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = response.json().await.unwrap();
        body["id"].as_i64().unwrap_or_else(|| panic!("{body}"))
    }
}

pub fn select_attr(html: &Html, selector: &str, attr: &str) -> String {
    let selector = Selector::parse(selector).unwrap();
    html.select(&selector)
        .next()
        .and_then(|e| e.value().attr(attr))
        .unwrap_or_default()
        .to_string()
}

pub fn select_text(html: &Html, selector: &str) -> String {
    let selector = Selector::parse(selector).unwrap();
    html.select(&selector)
        .next()
        .map(|e| e.text().collect::<String>().trim().to_string())
        .unwrap_or_default()
}

pub fn select_all_text(html: &Html, selector: &str) -> Vec<String> {
    let selector = Selector::parse(selector).unwrap();
    html.select(&selector)
        .map(|e| e.text().collect::<String>().trim().to_string())
        .collect()
}

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Waits until `condition` holds, looking every 20 ms; fails the test,
/// saying it was waiting until `what`, if it does not within `timeout`.
/// For "until the server has done this" in place of a sleep that is
/// usually long enough: it returns as soon as the event happened, and a
/// slow machine gets the whole `timeout`.
pub async fn eventually(
    what: &str,
    timeout: std::time::Duration,
    mut condition: impl AsyncFnMut() -> bool,
) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if condition().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited {timeout:?} until {what}, in vain"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The model file `HEARTH_TEST_MODEL` names (the README's test command and
/// CI set it), if any.
pub fn model_file() -> Option<PathBuf> {
    match std::env::var_os("HEARTH_TEST_MODEL") {
        Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ => None,
    }
}

/// The model for the few tests that need the real one (llama.cpp's own
/// behaviour, a real GGUF file, a `hearth serve` process). Without
/// `HEARTH_TEST_MODEL` the calling test is reported skipped, with `why`.
#[track_caller]
pub fn test_model(why: &str) -> Option<PathBuf> {
    let model = model_file();
    if model.is_none() {
        skipped(&format!("{why}; set HEARTH_TEST_MODEL to run it"));
    }
    model
}

/// Reports that the calling test did not run, and why, on the test
/// binary's own stderr: libtest captures `eprintln!` of passing tests, and a
/// skip must show in every run, never pass as a silent green.
#[track_caller]
pub fn skipped(why: &str) {
    use std::io::Write;
    let at = std::panic::Location::caller();
    let thread = std::thread::current();
    let test = match thread.name() {
        Some(name) if name != "main" => name.to_string(),
        _ => "a test".to_string(),
    };
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test} ({}:{}): {why}",
        at.file(),
        at.line()
    );
}

/// An engine with `config`'s settings on its own: the test model (in place
/// of `config.model_path`) when `HEARTH_TEST_MODEL` names it, otherwise the
/// scripted engine under `config`'s model name.
pub fn test_engine(config: EngineConfig) -> Engine {
    match model_file() {
        Some(model) => Engine::start(EngineConfig {
            model_path: model,
            ..config
        }),
        None => Engine::fake(config, FakeScript::default()),
    }
}

impl TestServer {
    /// A box with an owner and a model, configured by `adjust`: the test
    /// model when `HEARTH_TEST_MODEL` names it, otherwise the scripted engine
    /// ([`Engine::fake`] with its default script) under the default model's
    /// name, so chat runs in the fast loop too. [`TestServer::real_model`]
    /// says which, for the few checks that depend on a real model's text.
    pub async fn with_model(adjust: impl FnOnce(&mut Config)) -> (TestServer, Client) {
        let model = model_file();
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config {
            data_dir: data_dir.path().to_path_buf(),
            ..Config::default()
        };
        config.llm.threads = 2;
        if let Some(model) = &model {
            config.llm.model = model.to_string_lossy().to_string();
        }
        adjust(&mut config);
        let server = match model {
            Some(_) => TestServer::start_in(config, data_dir).await,
            None => {
                TestServer::start_with_engine(config, data_dir, |c| {
                    Engine::fake(c, FakeScript::default())
                })
                .await
            }
        };
        let state = server
            .state
            .chat
            .engine
            .wait_until_settled(std::time::Duration::from_secs(60))
            .await;
        assert!(
            matches!(state, hearth::llm::EngineState::Ready { .. }),
            "model did not load: {state:?}"
        );
        let owner = server.client();
        owner.setup(&server.setup_code(), "olivia").await;
        (server, owner)
    }

    /// Whether the model is the real one, not the scripted engine.
    pub fn real_model(&self) -> bool {
        !self.scripted
    }
}

/// Server-sent events read from a response: (event name, data).
pub struct EventReader {
    response: reqwest::Response,
    buffer: String,
}

impl EventReader {
    pub fn new(response: reqwest::Response) -> EventReader {
        EventReader {
            response,
            buffer: String::new(),
        }
    }

    /// The next event, or `None` at the end of the stream.
    pub async fn next(&mut self) -> Option<(String, String)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = "message".to_string();
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(rest) = line.strip_prefix("event:") {
                        name = rest.trim().to_string();
                    } else if let Some(rest) = line.strip_prefix("data:") {
                        data.push(rest.strip_prefix(' ').unwrap_or(rest).to_string());
                    }
                }
                if data.is_empty() {
                    continue;
                }
                return Some((name, data.join("\n")));
            }
            let chunk = self.response.chunk().await.ok()??;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Reads to the end; returns every event.
    pub async fn all(mut self) -> Vec<(String, String)> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            events.push(event);
        }
        events
    }
}

/// A real `hearth serve` process, for what needs a process boundary: a
/// crash (kill -9) and what the next start makes of it, signals, and
/// connection-level behaviour.
pub struct ChildServer {
    pub child: std::process::Child,
    pub base: String,
    pub addr: std::net::SocketAddr,
    pub data_dir: PathBuf,
    config: PathBuf,
}

impl ChildServer {
    /// Runs a console command against `data_dir`, with `stdin` as input.
    pub fn console(data_dir: &std::path::Path, args: &[&str], stdin: &str) -> std::process::Output {
        use std::io::Write;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hearth"))
            .args(args)
            .env("HEARTH_DATA_DIR", data_dir)
            .env("HEARTH_CONFIG", data_dir.join("test.toml"))
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("hearth runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// Prepares `data_dir` with `config` (TOML) and an owner `olivia`;
    /// returns her API key.
    pub fn prepare(data_dir: &std::path::Path, config: &str) -> String {
        std::fs::create_dir_all(data_dir).unwrap();
        std::fs::write(data_dir.join("test.toml"), config).unwrap();
        let added = ChildServer::console(
            data_dir,
            &[
                "user", "add", "olivia", "--role", "owner", "--name", "Olivia",
            ],
            &format!("{GOOD_PASSWORD}\n"),
        );
        assert!(added.status.success(), "{added:?}");
        let key = ChildServer::console(data_dir, &["user", "api-key", "olivia"], "");
        assert!(key.status.success(), "{key:?}");
        String::from_utf8_lossy(&key.stdout).trim().to_string()
    }

    /// Starts `hearth serve` on a free loopback port and waits until it answers.
    pub async fn start(data_dir: &std::path::Path) -> ChildServer {
        ChildServer::start_with_env(data_dir, &[]).await
    }

    /// [`ChildServer::start`] with these environment variables set too.
    pub async fn start_with_env(data_dir: &std::path::Path, env: &[(&str, &str)]) -> ChildServer {
        // The readiness check below is an HTTP client.
        hearth::chat::models::download::install_tls_provider();
        let addr = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap()
        };
        let log = std::fs::File::create(data_dir.join("server.log")).unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_hearth"))
            .args(["serve", "--listen", &addr.to_string()])
            .env("HEARTH_DATA_DIR", data_dir)
            .env("HEARTH_CONFIG", data_dir.join("test.toml"))
            .envs(env.iter().copied())
            .env_remove("RUST_LOG")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("hearth serve runs");
        let server = ChildServer {
            child,
            base: format!("http://{addr}"),
            addr,
            data_dir: data_dir.to_path_buf(),
            config: data_dir.join("test.toml"),
        };
        let client = reqwest::Client::new();
        for _ in 0..600 {
            if let Ok(response) = client.get(format!("{}/healthz", server.base)).send().await
                && response.status().is_success()
            {
                return server;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("hearth serve did not start: {}", server.log());
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("server.log")).unwrap_or_default()
    }

    /// kill -9: no shutdown, no flushing, as in a power cut.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, as systemd stops the service; returns how long it took to exit.
    pub fn terminate(&mut self, patience: std::time::Duration) -> Option<std::time::Duration> {
        let started = std::time::Instant::now();
        // SAFETY: sends a signal to our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        while started.elapsed() < patience {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Some(started.elapsed());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small file system of its own (tmpfs), for what happens when the data
/// directory's disk fills up. Mounting needs root, which CI has; elsewhere
/// the test fails with a message saying so.
pub struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    pub fn mount(bytes: u64) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={bytes}"))
            .arg("tmpfs")
            .arg(dir.path())
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "cannot mount a {bytes}-byte tmpfs at {}: the full-disk tests need root (CI runs them as root)",
            dir.path().display()
        );
        SmallDisk { dir }
    }

    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// A new temporary directory on this disk, for a server's data.
    pub fn data_dir(&self) -> tempfile::TempDir {
        tempfile::tempdir_in(self.dir.path()).unwrap()
    }

    /// Fills the disk to the last byte with a file it returns; delete it to
    /// make room again.
    pub fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.dir.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
        let small = [0u8; 512];
        while file.write_all(&small).is_ok() {}
        let _ = file.sync_all();
        path
    }

    pub fn free(&self) -> u64 {
        hearth::disk::space(self.dir.path()).unwrap().free
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}
