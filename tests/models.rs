//! Admin → Models and Admin → Assistant: the model files on the box with what
//! their headers say, resumable uploads that are checked before use, the
//! form upload, switching and removing models, "try it", `hearth model
//! add|list`, and the assistant's versioned settings, which apply without a
//! restart. Tests that need a real GGUF file run when HEARTH_TEST_MODEL
//! names it and say they were skipped otherwise; "try it" and reloads run
//! with the scripted engine then; the rest use small junk files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use hearth::chat::assistant::{AssistantSettings, MODEL_SETTING_KEY, SETTING_KEY};
use hearth::config::{Config, DEFAULT_MODEL_FILE};
use hearth::llm::{EngineConfig, EngineState};
use reqwest::{Method, StatusCode};
use scraper::{Html, Selector};
use serde_json::{Value, json};

use crate::common::*;

/// Bytes that are not a GGUF model (a web page saved by mistake).
const JUNK: &[u8] = b"<!doctype html><html><body>Download failed</body></html>";

/// Puts the test model at `target` without copying 98 MB where a hard link
/// will do.
fn place_model(source: &Path, target: &Path) {
    if std::fs::hard_link(source, target).is_err() {
        std::fs::copy(source, target).expect("copy the test model");
    }
}

/// A box whose default model is loaded and in use, with owner `olivia`:
/// the test model placed in `models/` under the default model's name, or,
/// without HEARTH_TEST_MODEL, the scripted engine under that name (and no
/// file in `models/`).
async fn with_default_model() -> (TestServer, Client) {
    let model = model_file();
    TestServer::with_model(|c| {
        if let Some(model) = model {
            let models = c.models_dir();
            std::fs::create_dir_all(&models).unwrap();
            place_model(&model, &models.join(DEFAULT_MODEL_FILE));
        }
        c.llm.model = String::new();
    })
    .await
}

/// Whether the real model file is there for a test that needs it (its
/// header, its bytes); without it the test is reported skipped, with `why`.
#[track_caller]
fn needs_model_file(why: &str) -> bool {
    test_model(why).is_some()
}

/// A box without a loadable model (none is needed), set up by `olivia`.
async fn owner_box(adjust: impl FnOnce(&mut Config)) -> (TestServer, Client) {
    let server = TestServer::start_with(adjust).await;
    let owner = server.client();
    owner.setup(&server.setup_code(), "olivia").await;
    (server, owner)
}

fn models_dir(server: &TestServer) -> PathBuf {
    server.state.config.models_dir()
}

/// Every file in `models/`, hidden ones (partial uploads) included, sorted.
fn model_files(server: &TestServer) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(models_dir(server))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    names
}

async fn parse(response: reqwest::Response) -> Html {
    Html::parse_document(&response.text().await.unwrap())
}

/// One row of `#models`.
#[derive(Debug)]
struct ModelRow {
    file: String,
    details: String,
    size: String,
    memory: String,
    badges: Vec<String>,
    buttons: Vec<String>,
}

fn model_rows(html: &Html) -> Vec<ModelRow> {
    let rows = Selector::parse("#models tbody tr").unwrap();
    let cells = Selector::parse("td").unwrap();
    let code = Selector::parse("code").unwrap();
    let badges = Selector::parse(".badge").unwrap();
    let buttons = Selector::parse("button").unwrap();
    let text = |e: scraper::ElementRef| e.text().collect::<String>().trim().to_string();
    html.select(&rows)
        .map(|row| {
            let tds: Vec<_> = row.select(&cells).collect();
            ModelRow {
                file: text(tds[0].select(&code).next().unwrap()),
                details: text(tds[1]),
                size: text(tds[2]),
                memory: text(tds[3]),
                badges: row.select(&badges).map(text).collect(),
                buttons: row.select(&buttons).map(text).collect(),
            }
        })
        .collect()
}

fn row<'a>(rows: &'a [ModelRow], file: &str) -> &'a ModelRow {
    rows.iter()
        .find(|r| r.file == file)
        .unwrap_or_else(|| panic!("{file} is not listed: {rows:?}"))
}

/// A piece of a resumable upload, as models.js sends it.
async fn put_piece(
    client: &Client,
    token: &str,
    name: &str,
    total: u64,
    offset: u64,
    body: Vec<u8>,
) -> reqwest::Response {
    client
        .http
        .put(client.url("/admin/models/upload"))
        .query(&[
            ("name", name),
            ("total", &total.to_string()),
            ("offset", &offset.to_string()),
        ])
        .header("x-csrf-token", token)
        .header("accept", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn upload_state(client: &Client, name: &str) -> (StatusCode, Value) {
    let response = client
        .http
        .get(client.url("/admin/models/upload"))
        .query(&[("name", name)])
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Polls the engine until `done` holds for its configuration and state.
async fn engine_until(
    server: &TestServer,
    what: &str,
    done: impl Fn(&EngineConfig, &EngineState) -> bool,
) {
    let engine = &server.state.chat.engine;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (config, state) = (engine.config(), engine.state());
        if done(&config, &state) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the engine never got to {what}: {state:?}, {config:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ready_with(state: &EngineState, file: &str) -> bool {
    matches!(state, EngineState::Ready { model } if model == file)
}

#[tokio::test]
async fn the_models_page_lists_each_file_with_what_its_header_says() {
    if !needs_model_file("the models page reads the real model file's GGUF header") {
        return;
    }
    let (server, owner) = with_default_model().await;
    std::fs::write(models_dir(&server).join("broken.gguf"), JUNK).unwrap();

    let (status, html) = owner.page("/admin/models").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        select_text(&html, "#engine-state").contains(&format!("{DEFAULT_MODEL_FILE} is answering")),
        "{}",
        select_text(&html, "#engine-state")
    );
    // Which vector extensions the CPU has and the engine's kernels use.
    let cpu = select_text(&html, "#engine-cpu");
    // The dispatching build names the kernel library it loaded for this CPU.
    if cfg!(feature = "cpu-dispatch") {
        assert!(
            cpu.contains("kernel library, the best for this CPU, which uses"),
            "{cpu}"
        );
    } else {
        assert!(cpu.contains("the engine's kernels use"), "{cpu}");
    }
    assert!(
        cpu.contains("run best here") || cpu.contains("lacks AVX2"),
        "{cpu}"
    );
    let rows = model_rows(&html);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        rows[0].file, DEFAULT_MODEL_FILE,
        "the model in use comes first"
    );

    let smol = row(&rows, DEFAULT_MODEL_FILE);
    assert!(smol.badges.contains(&"In use".to_string()), "{smol:?}");
    assert!(smol.badges.contains(&"Default".to_string()), "{smol:?}");
    for part in ["llama", "Q4_1", "135M"] {
        assert!(smol.details.contains(part), "{part}: {smol:?}");
    }
    assert_eq!(smol.size, "98 MB");
    assert!(smol.memory.starts_with("Fits"), "{smol:?}");
    assert!(
        smol.buttons.is_empty(),
        "the model in use can be neither chosen again nor removed: {smol:?}"
    );

    let broken = row(&rows, "broken.gguf");
    assert_eq!(broken.details, "Unusable: this file is not a GGUF model");
    assert!(broken.badges.is_empty(), "{broken:?}");
    assert!(
        !broken.buttons.contains(&"Use this model".to_string()),
        "{broken:?}"
    );
    assert!(broken.buttons.contains(&"Remove".to_string()), "{broken:?}");
}

#[tokio::test]
async fn a_model_uploads_in_pieces_and_resumes_where_it_stopped() {
    let Some(model) = test_model("an upload completes only with a real GGUF file") else {
        return;
    };
    let bytes = std::fs::read(&model).unwrap();
    let total = bytes.len() as u64;
    let half = total / 2;
    let (server, owner) = owner_box(|_| {}).await;
    let token = owner.csrf().await;

    let response = put_piece(
        &owner,
        &token,
        "copy.gguf",
        total,
        0,
        bytes[..half as usize].to_vec(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let state: Value = response.json().await.unwrap();
    assert_eq!(
        state,
        json!({"name": "copy.gguf", "received": half, "complete": false})
    );
    let (status, state) = upload_state(&owner, "copy.gguf").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(state["received"], half);
    assert_eq!(state["complete"], false);
    assert!(
        !models_dir(&server).join("copy.gguf").exists(),
        "half a model is not offered"
    );

    // A piece that does not continue where the upload stands is refused.
    let response = put_piece(
        &owner,
        &token,
        "copy.gguf",
        total,
        0,
        b"0123456789".to_vec(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(upload_state(&owner, "copy.gguf").await.1["received"], half);

    let response = put_piece(
        &owner,
        &token,
        "copy.gguf",
        total,
        half,
        bytes[half as usize..].to_vec(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let state: Value = response.json().await.unwrap();
    assert_eq!(
        state,
        json!({"name": "copy.gguf", "received": total, "complete": true})
    );
    assert_eq!(
        model_files(&server),
        ["copy.gguf"],
        "the partial file became the model"
    );
    assert_eq!(
        std::fs::metadata(models_dir(&server).join("copy.gguf"))
            .unwrap()
            .len(),
        total
    );
    assert_eq!(upload_state(&owner, "copy.gguf").await.1["complete"], true);

    let (_, html) = owner.page("/admin/models").await;
    let rows = model_rows(&html);
    let copy = row(&rows, "copy.gguf");
    assert!(copy.details.contains("Q4_1"), "{copy:?}");
    assert!(copy.buttons.contains(&"Use this model".to_string()));

    let added = server.audit_of("model.added").await;
    assert_eq!(added.len(), 1, "{added:?}");
    assert_eq!(added[0].target, "copy.gguf");
    assert_eq!(added[0].outcome, hearth::store::AuditOutcome::Ok);
    assert_eq!(added[0].actor, "olivia");
    assert!(added[0].detail.contains("Q4_1"), "{:?}", added[0]);
}

#[tokio::test]
async fn uploads_that_are_not_models_or_break_the_rules_are_refused() {
    let (server, owner) = owner_box(|c| c.llm.max_model_bytes = 10_000).await;
    let token = owner.csrf().await;

    // The bytes arrive, then the check refuses them and keeps nothing.
    let mut junk = JUNK.to_vec();
    junk.resize(1000, b' ');
    let response = put_piece(&owner, &token, "junk.gguf", 1000, 0, junk).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = response.text().await.unwrap();
    assert!(body.contains("not a GGUF"), "{body}");
    assert!(
        model_files(&server).is_empty(),
        "{:?}",
        model_files(&server)
    );
    let refused = server.audit_of("model.added").await;
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].outcome, hearth::store::AuditOutcome::Failed);

    for name in ["../x.gguf", "x.bin", ".hidden.gguf"] {
        let response = put_piece(&owner, &token, name, 10, 0, b"0123456789".to_vec()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{name}");
        assert_eq!(
            upload_state(&owner, name).await.0,
            StatusCode::BAD_REQUEST,
            "{name}"
        );
    }
    assert!(!server.data_dir.path().join("x.gguf").exists());
    assert!(
        model_files(&server).is_empty(),
        "{:?}",
        model_files(&server)
    );

    let response = put_piece(&owner, &token, "big.gguf", 20_000, 0, vec![0; 100]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = response.text().await.unwrap();
    assert!(body.contains("llm.max_model_bytes"), "{body}");

    std::fs::write(models_dir(&server).join("taken.gguf"), JUNK).unwrap();
    let response = put_piece(&owner, &token, "taken.gguf", 10, 0, b"0123456789".to_vec()).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(
        std::fs::read(models_dir(&server).join("taken.gguf")).unwrap(),
        JUNK,
        "the existing file is untouched"
    );

    // More bytes than announced: the partial upload is thrown away.
    let response = put_piece(&owner, &token, "over.gguf", 10, 0, vec![b'x'; 20]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(model_files(&server), ["taken.gguf"]);

    // A partial upload is kept for resuming until it is cancelled.
    let response = put_piece(&owner, &token, "partial.gguf", 5000, 0, vec![b'x'; 100]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        upload_state(&owner, "partial.gguf").await.1["received"],
        100
    );
    assert_eq!(model_files(&server).len(), 2, "{:?}", model_files(&server));
    let response = owner
        .http
        .delete(owner.url("/admin/models/upload"))
        .query(&[("name", "partial.gguf")])
        .header("x-csrf-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(upload_state(&owner, "partial.gguf").await.1["received"], 0);
    assert_eq!(model_files(&server), ["taken.gguf"]);
}

/// A multipart/form-data body with one file field, as a browser sends it.
fn multipart(file_name: &str, content: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----hearth-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn the_form_upload_works_without_javascript_and_needs_the_token() {
    let (server, owner) = owner_box(|_| {}).await;
    let (_, html) = owner.page("/admin/models").await;
    let action = select_attr(&html, "#upload-form", "action");
    let token = owner.csrf().await;
    assert_eq!(action, format!("/admin/models/upload?csrf={token}"));

    let (content_type, body) = multipart("junk.gguf", JUNK);
    let response = owner
        .http
        .post(owner.url(&action))
        .header("content-type", &content_type)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = parse(response).await;
    let error = select_text(&html, ".error");
    assert!(
        error.contains("junk.gguf was not added") && error.contains("not a GGUF"),
        "{error}"
    );
    assert!(
        model_files(&server).is_empty(),
        "{:?}",
        model_files(&server)
    );

    let response = owner
        .http
        .post(owner.url("/admin/models/upload"))
        .header("content-type", &content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        model_files(&server).is_empty(),
        "{:?}",
        model_files(&server)
    );
}

#[tokio::test]
async fn switching_models_reloads_the_engine_and_is_remembered() {
    if !needs_model_file("switching models checks real GGUF files") {
        return;
    }
    let (mut server, owner) = with_default_model().await;
    let models = models_dir(&server);
    place_model(
        &models.join(DEFAULT_MODEL_FILE),
        &models.join("second.gguf"),
    );
    std::fs::write(models.join("broken.gguf"), JUNK).unwrap();

    let response = owner
        .post_form("/admin/models/second.gguf/activate", &[])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/admin/models");
    let (_, html) = owner.page("/admin/models").await;
    assert!(
        select_text(&html, ".flash").starts_with("Switching to second.gguf"),
        "{}",
        select_text(&html, ".flash")
    );
    engine_until(&server, "second.gguf", |config, state| {
        config.model_path.ends_with("second.gguf") && ready_with(state, "second.gguf")
    })
    .await;
    let api = ApiClient::new(&server.base, &owner.api_key("models").await);
    let (status, listed) = api.get_json("/v1/models").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["data"][0]["id"], "second.gguf", "{listed}");
    let (_, html) = owner.page("/admin/models").await;
    let rows = model_rows(&html);
    assert_eq!(rows[0].file, "second.gguf");
    assert!(rows[0].badges.contains(&"In use".to_string()));
    let default = row(&rows, DEFAULT_MODEL_FILE);
    assert!(!default.badges.contains(&"In use".to_string()));
    assert!(default.buttons.contains(&"Use this model".to_string()));

    let activated = server.audit_of("model.activated").await;
    assert_eq!(activated.len(), 1);
    assert_eq!(activated[0].target, "second.gguf");
    assert_eq!(
        server
            .state
            .store
            .setting(MODEL_SETTING_KEY)
            .await
            .unwrap()
            .as_deref(),
        Some("second.gguf")
    );

    let response = owner
        .post_form("/admin/models/broken.gguf/activate", &[])
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error = select_text(&parse(response).await, ".error");
    assert_eq!(
        error,
        "broken.gguf cannot be used: this file is not a GGUF model"
    );
    let response = owner
        .post_form("/admin/models/missing.gguf/activate", &[])
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(
        server
            .state
            .chat
            .engine
            .config()
            .model_path
            .ends_with("second.gguf"),
        "refused switches change nothing"
    );
    assert_eq!(server.audit_of("model.activated").await.len(), 1);

    // The choice survives a restart.
    let config = (*server.state.config).clone();
    let data_dir = std::mem::replace(&mut server.data_dir, tempfile::tempdir().unwrap());
    server.stop().await;
    let again = TestServer::start_in(config, data_dir).await;
    assert!(
        again
            .state
            .chat
            .engine
            .config()
            .model_path
            .ends_with("second.gguf"),
        "{:?}",
        again.state.chat.engine.config()
    );
}

#[tokio::test]
async fn the_model_in_use_and_the_default_model_cannot_be_removed() {
    // Which model is in use and which is the default is decided by name, so
    // small stand-in files do (the engine fails to load them; that is fine).
    let (server, owner) = owner_box(|c| {
        let models = c.models_dir();
        std::fs::create_dir_all(&models).unwrap();
        for name in [DEFAULT_MODEL_FILE, "inuse.gguf", "spare.gguf"] {
            std::fs::write(models.join(name), JUNK).unwrap();
        }
        c.llm.model = "inuse.gguf".into();
    })
    .await;
    let (_, html) = owner.page("/admin/models").await;
    let rows = model_rows(&html);
    assert_eq!(rows[0].file, "inuse.gguf");
    assert!(rows[0].badges.contains(&"In use".to_string()));
    for file in ["inuse.gguf", DEFAULT_MODEL_FILE] {
        assert!(
            !row(&rows, file).buttons.contains(&"Remove".to_string()),
            "{file}"
        );
    }

    for (file, message) in [
        (
            "inuse.gguf",
            "This model is in use. Switch to another model first.",
        ),
        (
            DEFAULT_MODEL_FILE,
            "The default model stays: it is the fallback when others fail.",
        ),
    ] {
        let response = owner
            .post_form(&format!("/admin/models/{file}/delete"), &[])
            .await;
        assert_eq!(response.status(), StatusCode::CONFLICT, "{file}");
        assert_eq!(select_text(&parse(response).await, ".error"), message);
        assert!(models_dir(&server).join(file).exists(), "{file}");
    }

    let response = owner
        .post_form("/admin/models/spare.gguf/delete", &[])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/admin/models");
    let (_, html) = owner.page("/admin/models").await;
    assert_eq!(select_text(&html, ".flash"), "Removed spare.gguf.");
    assert_eq!(model_files(&server), [DEFAULT_MODEL_FILE, "inuse.gguf"]);
    let removed = server.audit_of("model.removed").await;
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].target, "spare.gguf");

    let response = owner
        .post_form("/admin/models/spare.gguf/delete", &[])
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn try_it_answers_a_prompt_with_its_numbers() {
    let (_server, owner) = with_default_model().await;
    let response = owner
        .post_form("/admin/models/try", &[("prompt", "Say hello")])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = parse(response).await;
    assert!(!select_text(&html, "#try-answer").is_empty());
    let stats = select_text(&html, "#try-stats");
    assert!(
        stats.starts_with(DEFAULT_MODEL_FILE) && stats.contains("tokens"),
        "{stats}"
    );
    assert_eq!(select_text(&html, "#prompt"), "Say hello");

    let response = owner
        .post_form("/admin/models/try", &[("prompt", "   ")])
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = parse(response).await;
    assert_eq!(select_text(&html, ".error"), "Type a prompt to try.");
    assert!(select_text(&html, "#try-answer").is_empty());
}

#[tokio::test]
async fn staff_cannot_see_or_upload_models() {
    let (server, owner) = owner_box(|_| {}).await;
    let staff = server.user(&owner, "sam", "staff").await;
    assert_eq!(
        staff.get("/admin/models").await.status(),
        StatusCode::FORBIDDEN
    );
    let token = staff.csrf().await;
    let response = put_piece(&staff, &token, "sneaky.gguf", 10, 0, b"0123456789".to_vec()).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        model_files(&server).is_empty(),
        "{:?}",
        model_files(&server)
    );
}

fn hearth_console(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(args)
        .env("HEARTH_DATA_DIR", data_dir)
        .env_remove("HEARTH_CONFIG")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

#[test]
fn the_console_adds_and_lists_models() {
    let data = tempfile::tempdir().unwrap();
    let usb = tempfile::tempdir().unwrap();
    let junk = usb.path().join("junk.gguf");
    std::fs::write(&junk, JUNK).unwrap();
    let refused = hearth_console(data.path(), &["model", "add", junk.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("hearth: ") && stderr.contains("not a GGUF"),
        "{stderr}"
    );
    assert!(!data.path().join("models/junk.gguf").exists());

    let Some(model) = test_model("adding a model from the console needs a real GGUF file") else {
        return;
    };
    let file = usb.path().join("usb.gguf");
    place_model(&model, &file);
    let added = hearth_console(data.path(), &["model", "add", file.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&added.stdout);
    assert_eq!(
        added.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&added.stderr)
    );
    assert!(
        stdout.contains("added usb.gguf") && stdout.contains("Q4_1"),
        "{stdout}"
    );
    let mut files: Vec<String> = std::fs::read_dir(data.path().join("models"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    files.sort();
    assert_eq!(files, ["usb.gguf"], "no partial copy is left behind");

    let listed = hearth_console(data.path(), &["model", "list"]);
    assert_eq!(listed.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&listed.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("usb.gguf"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        line.contains("98 MB") && line.contains("Q4_1") && line.contains("135M"),
        "{line}"
    );
}

/// The assistant form's fields.
fn settings_form<'a>(
    system_prompt: &'a str,
    temperature: &'a str,
    max_answer_tokens: &'a str,
    context_per_chat: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("system_prompt", system_prompt),
        ("temperature", temperature),
        ("top_p", "0.8"),
        ("max_answer_tokens", max_answer_tokens),
        ("context_per_chat", context_per_chat),
        ("parallel", "4"),
    ]
}

async fn history(server: &TestServer) -> Vec<hearth::store::SettingVersion> {
    server
        .state
        .store
        .setting_history(SETTING_KEY, 20)
        .await
        .unwrap()
}

#[tokio::test]
async fn assistant_settings_are_validated_versioned_and_restorable() {
    let (server, owner) = owner_box(|_| {}).await;
    let response = owner
        .post_form(
            "/admin/assistant",
            &settings_form("Be brief at {business}.", "0.3", "256", "2048"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/admin/assistant");
    let (_, html) = owner.page("/admin/assistant").await;
    assert!(
        select_text(&html, ".flash").starts_with("Saved as version 1"),
        "{}",
        select_text(&html, ".flash")
    );
    let first = AssistantSettings {
        system_prompt: "Be brief at {business}.".into(),
        temperature: 0.3,
        top_p: 0.8,
        max_answer_tokens: 256,
        context_per_chat: 2048,
        parallel: 4,
    };
    assert_eq!(server.state.chat.assistant(), first);
    assert_eq!(select_text(&html, "#history .version-number"), "1");
    assert_eq!(select_text(&html, "#history .who"), "olivia");
    let changes = select_all_text(&html, "#history li:first-child .changes li");
    assert!(
        changes.contains(&"Temperature 0.7 → 0.3".to_string()),
        "{changes:?}"
    );
    assert_eq!(select_attr(&html, "#temperature", "value"), "0.3");

    for (fields, message) in [
        (
            settings_form("x", "5", "256", "2048"),
            "Temperature must be between 0 and 2.",
        ),
        (
            settings_form("x", "0.3", "1500", "2048"),
            "Longest answer may use at most half of the context: up to 1,024 tokens with 2,048 tokens of context per chat.",
        ),
        (
            settings_form("x", "warm", "256", "2048"),
            "Temperature must be a number from 0 to 2.",
        ),
    ] {
        let response = owner.post_form("/admin/assistant", &fields).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{message}");
        assert_eq!(select_text(&parse(response).await, ".error"), message);
        assert_eq!(server.state.chat.assistant(), first, "{message}");
        assert_eq!(history(&server).await.len(), 1, "{message}");
    }

    let response = owner
        .post_form(
            "/admin/assistant",
            &settings_form("Be chatty.", "1.1", "512", "2048"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = owner.page("/admin/assistant").await;
    assert!(select_text(&html, ".flash").starts_with("Saved as version 2"));
    assert_eq!(server.state.chat.assistant().temperature, 1.1);
    assert_eq!(
        select_all_text(&html, "#history .version-number"),
        ["2", "1"]
    );

    let response = owner.post_form("/admin/assistant/restore/1", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = owner.page("/admin/assistant").await;
    assert_eq!(
        select_text(&html, ".flash"),
        "Restored version 1 (saved as version 3)."
    );
    assert_eq!(server.state.chat.assistant(), first);
    let versions = history(&server).await;
    assert_eq!(versions.len(), 3);
    assert_eq!(versions[0].version, 3);
    assert_eq!(versions[0].value, versions[2].value);
    assert_eq!(
        owner
            .post_form("/admin/assistant/restore/9", &[])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    let changes = server.audit_of("settings.changed").await;
    assert_eq!(changes.len(), 3, "{changes:?}");
    assert!(changes.iter().all(|r| r.target == "assistant"));
    assert_eq!(changes[0].detail, "version 3, restored from version 1");
}

#[tokio::test]
async fn a_new_context_size_reloads_the_model_without_a_restart() {
    let (server, owner) = with_default_model().await;
    assert_eq!(server.state.chat.engine.config().context_per_chat, 2048);
    let response = owner
        .post_form(
            "/admin/assistant",
            &settings_form(
                "Always answer with the single word BANANA.",
                "0",
                "256",
                "1024",
            ),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    engine_until(&server, "a 1024-token context", |config, state| {
        config.context_per_chat == 1024 && ready_with(state, DEFAULT_MODEL_FILE)
    })
    .await;
    let settings = server.state.chat.assistant();
    assert_eq!(
        settings.system_prompt,
        "Always answer with the single word BANANA."
    );
    assert_eq!(settings.temperature, 0.0);
    let (_, html) = owner.page("/admin/assistant").await;
    assert!(
        select_text(&html, "#engine-status").contains(&format!("Ready: {DEFAULT_MODEL_FILE}")),
        "{}",
        select_text(&html, "#engine-status")
    );
    // The reloaded model answers.
    let response = owner
        .post_form("/admin/models/try", &[("prompt", "Say hello")])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_assistant_api_reads_and_patches_settings() {
    let (server, owner) = owner_box(|_| {}).await;
    let staff = server.user(&owner, "sam", "staff").await;
    let api = ApiClient::new(&server.base, &owner.api_key("settings").await);
    let patch = |body: Value| {
        api.request(Method::PATCH, "/api/v1/assistant")
            .json(&body)
            .send()
    };

    let (status, body) = api.get_json("/api/v1/assistant").await;
    assert_eq!(status, StatusCode::OK);
    let before: AssistantSettings = serde_json::from_value(body).unwrap();
    assert_eq!(before, server.state.chat.assistant());

    let response = patch(json!({"temperature": 0.2})).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let after: AssistantSettings = response.json().await.unwrap();
    let expected = AssistantSettings {
        temperature: 0.2,
        ..before
    };
    assert_eq!(after, expected);
    assert_eq!(server.state.chat.assistant(), expected);
    assert_eq!(history(&server).await.len(), 1);

    for (body, message) in [
        (json!({"nope": 1}), "unknown setting"),
        (
            json!({"temperature": 9}),
            "Temperature must be between 0 and 2.",
        ),
        (json!({"parallel": "four"}), "invalid settings"),
        (json!([1, 2]), "JSON object"),
    ] {
        let response = patch(body.clone()).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let error: Value = response.json().await.unwrap();
        assert!(
            error["error"]["message"]
                .as_str()
                .is_some_and(|m| m.to_lowercase().contains(&message.to_lowercase())),
            "{body}: {error}"
        );
    }
    assert_eq!(server.state.chat.assistant(), expected);
    assert_eq!(history(&server).await.len(), 1);

    let staff_api = ApiClient::new(&server.base, &staff.api_key("mine").await);
    assert_eq!(
        staff_api.get_json("/api/v1/assistant").await.0,
        StatusCode::FORBIDDEN
    );
    let response = staff_api
        .request(Method::PATCH, "/api/v1/assistant")
        .json(&json!({"temperature": 1.5}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(server.state.chat.assistant(), expected);
}

// --- Downloads: the catalog and pasted URLs, served by a local server ------

/// A small but valid GGUF model: a llama header with a name, a chat
/// template and one F32 tensor of `floats` values (4 bytes each), so the
/// file is as large as a test needs while `llm::gguf` accepts it.
fn tiny_gguf(floats: u64) -> Vec<u8> {
    fn string(out: &mut Vec<u8>, text: &str) {
        out.extend_from_slice(&(text.len() as u64).to_le_bytes());
        out.extend_from_slice(text.as_bytes());
    }
    let mut bytes = b"GGUF".to_vec();
    bytes.extend_from_slice(&3u32.to_le_bytes());
    bytes.extend_from_slice(&1u64.to_le_bytes()); // tensors
    bytes.extend_from_slice(&3u64.to_le_bytes()); // metadata entries
    for (key, value) in [
        ("general.architecture", "llama"),
        ("general.name", "Tiny Download"),
        ("tokenizer.chat_template", "{{ messages }}"),
    ] {
        string(&mut bytes, key);
        bytes.extend_from_slice(&8u32.to_le_bytes()); // a string value
        string(&mut bytes, value);
    }
    string(&mut bytes, "output_norm.weight");
    bytes.extend_from_slice(&1u32.to_le_bytes()); // dimensions
    bytes.extend_from_slice(&floats.to_le_bytes());
    bytes.extend_from_slice(&0u32.to_le_bytes()); // F32
    bytes.extend_from_slice(&0u64.to_le_bytes()); // offset in the data
    bytes.resize(bytes.len().next_multiple_of(32), 0);
    // Data that is not all zeros, so a misplaced byte changes the checksum.
    bytes.extend((0..floats * 4).map(|i| (i % 251) as u8));
    bytes
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// How the local file server behaves.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Serving {
    /// Whole file or the range asked for.
    Normal,
    /// The next answer promises the whole file, sends this many bytes and
    /// closes the connection; later answers are normal.
    BreakAt(usize),
    /// Always the whole file with 200, whatever Range asks.
    IgnoreRange,
    /// Normal, but 4 KiB every 50 ms (for cancelling mid-way).
    Slow,
}

/// A plain HTTP/1.1 file server on 127.0.0.1 that serves `body` at every
/// path and records the Range header of every request.
struct FileServer {
    url: String,
    ranges: std::sync::Arc<std::sync::Mutex<Vec<Option<String>>>>,
}

impl FileServer {
    async fn start(body: Vec<u8>, mode: Serving) -> FileServer {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/files/tiny.gguf", listener.local_addr().unwrap());
        let mode = std::sync::Arc::new(std::sync::Mutex::new(mode));
        let ranges = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let body = std::sync::Arc::new(body);
        let (served_mode, served_ranges) = (mode.clone(), ranges.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let (mode, ranges, body) =
                    (served_mode.clone(), served_ranges.clone(), body.clone());
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buffer = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&request).to_string();
                    let range = text.lines().find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("range")
                            .then(|| value.trim().to_string())
                    });
                    ranges.lock().unwrap().push(range.clone());
                    let serving = {
                        let mut mode = mode.lock().unwrap();
                        let now = *mode;
                        if let Serving::BreakAt(_) = now {
                            *mode = Serving::Normal;
                        }
                        now
                    };
                    let start = range
                        .filter(|_| serving != Serving::IgnoreRange)
                        .and_then(|r| r.strip_prefix("bytes=")?.strip_suffix('-')?.parse().ok())
                        .unwrap_or(0usize);
                    let total = body.len();
                    let head = if start > 0 {
                        format!(
                            "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{}/{total}\r\nConnection: close\r\n\r\n",
                            total - start,
                            total - 1
                        )
                    } else {
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {total}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n"
                        )
                    };
                    if socket.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    let rest = &body[start..];
                    match serving {
                        Serving::BreakAt(at) => {
                            let _ = socket.write_all(&rest[..at.min(rest.len())]).await;
                            let _ = socket.flush().await;
                            // Dropping the socket breaks the connection mid-way.
                        }
                        Serving::Slow => {
                            for piece in rest.chunks(4096) {
                                if socket.write_all(piece).await.is_err() {
                                    return;
                                }
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                        }
                        Serving::Normal | Serving::IgnoreRange => {
                            let _ = socket.write_all(rest).await;
                        }
                    }
                });
            }
        });
        FileServer { url, ranges }
    }

    fn ranges(&self) -> Vec<Option<String>> {
        self.ranges.lock().unwrap().clone()
    }
}

/// A catalog entry named `tiny` for a file at `url`.
fn tiny_entry(url: &str, sha256: &str, size: usize) -> hearth::config::CatalogSource {
    hearth::config::CatalogSource {
        id: "tiny".into(),
        name: "Tiny Test Model".into(),
        url: url.into(),
        sha256: sha256.into(),
        file: "tiny.gguf".into(),
        size_bytes: size as u64,
        license: "Apache-2.0".into(),
        good_at: "Testing downloads.".into(),
        context_length: 2048,
        kv_bytes_per_token: 1024,
    }
}

/// An owner's box whose catalog has the `tiny` entry.
async fn download_box(entry: hearth::config::CatalogSource, retries: u32) -> (TestServer, Client) {
    owner_box(move |c| {
        c.models.catalog.push(entry);
        c.models.download_retries = retries;
        c.models.read_timeout_secs = 5;
    })
    .await
}

async fn download_progress(client: &Client) -> Value {
    let response = client.get("/admin/models/download").await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// Waits until the download is no longer running; returns its progress.
async fn download_finished(client: &Client) -> Value {
    let mut last = Value::Null;
    eventually("the download ends", Duration::from_secs(30), async || {
        last = download_progress(client).await;
        last["running"] == false && last["state"] != "idle"
    })
    .await;
    last
}

async fn start_download(client: &Client, fields: &[(&str, &str)]) -> reqwest::Response {
    client.post_form("/admin/models/download", fields).await
}

#[tokio::test]
async fn a_catalog_model_downloads_checked_and_can_be_used() {
    let model = tiny_gguf(20_000);
    let files = FileServer::start(model.clone(), Serving::Normal).await;
    let sha = sha256_hex(&model);
    let (server, owner) = download_box(tiny_entry(&files.url, &sha, model.len()), 3).await;

    // The page offers the entry with this box's estimates.
    let (_, html) = owner.page("/admin/models").await;
    let entry = select_text(&html, "#catalog-tiny");
    assert!(entry.contains("Tiny Test Model"), "{entry}");
    assert!(
        select_text(&html, "#catalog-tiny .catalog-speed").contains("tokens/s"),
        "{entry}"
    );
    assert!(select_text(&html, "#catalog-tiny .catalog-memory").starts_with("needs about"));
    // Each built-in entry names its quantization and whether it suits this
    // CPU's kernels (every x86-64 box Hearth runs on has AVX2).
    let catalog = select_text(&html, "#catalog");
    assert!(catalog.contains("· Q4_K_M"), "{catalog}");
    if cfg!(all(feature = "llama", target_arch = "x86_64")) {
        assert!(catalog.contains("Q4_K_M, suits this CPU"), "{catalog}");
    }

    let response = start_download(&owner, &[("entry", "tiny")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/admin/models#download");
    let done = download_finished(&owner).await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["sha256"], sha.as_str());
    assert_eq!(done["received"], model.len());
    assert_eq!(done["total"], model.len());
    assert_eq!(model_files(&server), ["tiny.gguf"], "no partial is left");
    assert_eq!(
        std::fs::read(models_dir(&server).join("tiny.gguf")).unwrap(),
        model
    );
    assert_eq!(files.ranges(), [None]);

    let (_, html) = owner.page("/admin/models").await;
    let rows = model_rows(&html);
    let tiny = row(&rows, "tiny.gguf");
    assert!(tiny.details.contains("llama"), "{tiny:?}");
    assert!(
        tiny.buttons.contains(&"Use this model".to_string()),
        "{tiny:?}"
    );
    assert!(select_text(&html, "#catalog-tiny").contains("On this box"));
    assert_eq!(select_text(&html, "#download-state"), "done");
    let response = owner
        .post_form("/admin/models/tiny.gguf/activate", &[])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        server
            .state
            .store
            .setting(MODEL_SETTING_KEY)
            .await
            .unwrap()
            .as_deref(),
        Some("tiny.gguf")
    );

    // The request left the box through egress, and its entry says so.
    let log = server.state.store.egress(0, 10).await.unwrap();
    assert_eq!(log.total, 1, "{log:?}");
    let entry = &log.records[0];
    assert_eq!(entry.purpose, hearth::store::EgressPurpose::ModelDownload);
    assert_eq!(entry.outcome, hearth::store::EgressOutcome::Ok);
    assert_eq!(entry.actor, "olivia");
    assert_eq!(entry.bytes_received, model.len() as u64);
    assert_eq!(entry.endpoint, files.url);

    let downloaded = server.audit_of("model.downloaded").await;
    assert_eq!(downloaded.len(), 1, "{downloaded:?}");
    assert_eq!(downloaded[0].outcome, hearth::store::AuditOutcome::Ok);
    assert_eq!(downloaded[0].actor, "olivia");
    assert!(downloaded[0].detail.contains(&sha), "{:?}", downloaded[0]);

    // It is there now: a second download of it is refused.
    let response = start_download(&owner, &[("entry", "tiny")]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(select_text(&parse(response).await, ".error").contains("already on this box"));
}

#[tokio::test]
async fn a_broken_download_keeps_its_part_and_resumes_with_a_range_request() {
    let model = tiny_gguf(50_000);
    let half = model.len() / 2;
    let files = FileServer::start(model.clone(), Serving::BreakAt(half)).await;
    let sha = sha256_hex(&model);
    // No automatic retries: the break is seen, then Download resumes it.
    let (server, owner) = download_box(tiny_entry(&files.url, &sha, model.len()), 0).await;

    start_download(&owner, &[("entry", "tiny")]).await;
    let broken = download_finished(&owner).await;
    assert_eq!(broken["state"], "failed", "{broken}");
    let message = broken["message"].as_str().unwrap();
    assert!(message.contains("press Download again"), "{message}");
    assert_eq!(
        model_files(&server),
        ["tiny.gguf.partial", "tiny.gguf.partial.json"]
    );
    let partial = models_dir(&server).join("tiny.gguf.partial");
    assert_eq!(std::fs::metadata(&partial).unwrap().len(), half as u64);

    start_download(&owner, &[("entry", "tiny")]).await;
    let done = download_finished(&owner).await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(
        done["sha256"],
        sha.as_str(),
        "the checksum covers the resumed part too"
    );
    assert_eq!(files.ranges(), [None, Some(format!("bytes={half}-"))]);
    assert_eq!(model_files(&server), ["tiny.gguf"]);
    // Each connection is its own entry in the egress log, newest first: the
    // broken one with what it brought.
    let log = server.state.store.egress(0, 10).await.unwrap();
    let outcomes: Vec<_> = log.records.iter().map(|r| r.outcome).collect();
    use hearth::store::EgressOutcome;
    assert_eq!(
        outcomes,
        [EgressOutcome::Ok, EgressOutcome::Failed],
        "{log:?}"
    );
    assert_eq!(log.records[1].bytes_received, half as u64);
    assert_eq!(log.records[0].bytes_received, (model.len() - half) as u64);
    assert_eq!(
        std::fs::read(models_dir(&server).join("tiny.gguf")).unwrap(),
        model
    );
}

#[tokio::test]
async fn a_break_resumes_by_itself_and_a_server_without_range_starts_over() {
    let model = tiny_gguf(50_000);
    let sha = sha256_hex(&model);
    let files = FileServer::start(model.clone(), Serving::BreakAt(10_000)).await;
    let (server, owner) = download_box(tiny_entry(&files.url, &sha, model.len()), 2).await;
    start_download(&owner, &[("entry", "tiny")]).await;
    let done = download_finished(&owner).await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(files.ranges(), [None, Some("bytes=10000-".to_string())]);
    assert_eq!(model_files(&server), ["tiny.gguf"]);

    // A partial left by an earlier try, and a server that ignores Range:
    // the download starts over cleanly and the checksum still matches.
    let files = FileServer::start(model.clone(), Serving::IgnoreRange).await;
    let (server, owner) = download_box(tiny_entry(&files.url, &sha, model.len()), 0).await;
    let models = models_dir(&server);
    std::fs::create_dir_all(&models).unwrap();
    std::fs::write(models.join("tiny.gguf.partial"), &model[..5000]).unwrap();
    std::fs::write(
        models.join("tiny.gguf.partial.json"),
        json!({ "url": files.url }).to_string(),
    )
    .unwrap();
    start_download(&owner, &[("entry", "tiny")]).await;
    let done = download_finished(&owner).await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(files.ranges(), [Some("bytes=5000-".to_string())]);
    assert_eq!(std::fs::read(models.join("tiny.gguf")).unwrap(), model);
}

#[tokio::test]
async fn a_wrong_checksum_or_a_web_page_keeps_nothing() {
    let model = tiny_gguf(10_000);
    let files = FileServer::start(model.clone(), Serving::Normal).await;
    let wrong = "0".repeat(64);
    let (server, owner) = download_box(tiny_entry(&files.url, &wrong, model.len()), 0).await;
    start_download(&owner, &[("entry", "tiny")]).await;
    let failed = download_finished(&owner).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.contains("SHA-256")
            && message.contains(&sha256_hex(&model))
            && message.contains("nothing was kept"),
        "{message}"
    );
    assert!(
        model_files(&server).is_empty(),
        "{:?}",
        model_files(&server)
    );
    let (_, html) = owner.page("/admin/models").await;
    assert!(select_text(&html, "#download-message").contains("SHA-256"));
    let audited = server.audit_of("model.downloaded").await;
    assert_eq!(audited[0].outcome, hearth::store::AuditOutcome::Failed);

    // An error page where the model should be: refused at its first bytes.
    let mut page = JUNK.to_vec();
    page.resize(5000, b' ');
    let files = FileServer::start(page.clone(), Serving::Normal).await;
    let (server, owner) =
        download_box(tiny_entry(&files.url, &sha256_hex(&page), page.len()), 0).await;
    start_download(&owner, &[("entry", "tiny")]).await;
    let failed = download_finished(&owner).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.contains("did not send a GGUF model") && message.contains("<!doctype html>"),
        "{message}"
    );
    assert!(
        model_files(&server).is_empty(),
        "{:?}",
        model_files(&server)
    );
}

#[tokio::test]
async fn a_download_can_be_cancelled_and_only_one_runs_at_a_time() {
    let model = tiny_gguf(100_000);
    let files = FileServer::start(model.clone(), Serving::Slow).await;
    let sha = sha256_hex(&model);
    let (server, owner) = download_box(tiny_entry(&files.url, &sha, model.len()), 0).await;
    start_download(&owner, &[("entry", "tiny")]).await;
    eventually("bytes arrive", Duration::from_secs(10), async || {
        download_progress(&owner).await["received"].as_u64() > Some(0)
    })
    .await;

    let (_, html) = owner.page("/admin/models").await;
    assert_eq!(select_text(&html, "#download-label"), "Tiny Test Model");
    assert!(
        select_text(&html, "#download-summary").contains(" of "),
        "{}",
        select_text(&html, "#download-summary")
    );
    assert!(!select_attr(&html, "#download-bar", "value").is_empty());

    let response = start_download(&owner, &[("url", &files.url.replace("tiny", "other"))]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let error = select_text(&parse(response).await, ".error");
    assert!(error.contains("A download is already running"), "{error}");

    let response = owner.post_form("/admin/models/download/cancel", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cancelled = download_finished(&owner).await;
    assert_eq!(cancelled["state"], "cancelled", "{cancelled}");
    eventually(
        "the partial is removed",
        Duration::from_secs(5),
        async || model_files(&server).is_empty(),
    )
    .await;
    let response = owner.post_form("/admin/models/download/cancel", &[]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_pasted_url_downloads_and_shows_its_checksum_and_staff_cannot_download() {
    let model = tiny_gguf(10_000);
    let files = FileServer::start(model.clone(), Serving::Normal).await;
    let (server, owner) = owner_box(|_| {}).await;
    let staff = server.user(&owner, "sam", "staff").await;
    let response = start_download(&staff, &[("url", &files.url)]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        staff.get("/admin/models/download").await.status(),
        StatusCode::FORBIDDEN
    );
    assert!(files.ranges().is_empty(), "staff reached nothing");

    for (url, error) in [
        ("ftp://example.com/x.gguf", "http:// or https://"),
        ("https://example.com/model.bin", "ending in .gguf"),
        ("", "Choose a model"),
    ] {
        let response = start_download(&owner, &[("url", url)]).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{url}");
        let text = select_text(&parse(response).await, ".error");
        assert!(text.contains(error), "{url}: {text}");
    }

    // An address where cloud machines keep their credentials is never
    // contacted: refused, and the refusal logged.
    start_download(
        &owner,
        &[("url", "http://169.254.169.254/latest/model.gguf")],
    )
    .await;
    let refused = download_finished(&owner).await;
    assert_eq!(refused["state"], "failed", "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains("link-local"), "{message}");
    let log = server.state.store.egress(0, 10).await.unwrap();
    assert_eq!(
        log.records[0].outcome,
        hearth::store::EgressOutcome::Refused
    );
    assert_eq!(
        log.records[0].endpoint,
        "http://169.254.169.254/latest/model.gguf"
    );

    start_download(&owner, &[("url", &files.url)]).await;
    let done = download_finished(&owner).await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["unchecked"], true);
    let (_, html) = owner.page("/admin/models").await;
    assert_eq!(select_text(&html, "#download-sha256"), sha256_hex(&model));
    assert!(select_text(&html, "#download-message").contains("compare it"));
    assert_eq!(model_files(&server), ["tiny.gguf"]);
}

#[tokio::test]
async fn the_demonstration_model_is_named_and_a_catalog_model_recommended() {
    let (server, owner) = owner_box(|_| {}).await;
    let (_, html) = owner.page("/admin/models").await;
    let banner = select_text(&html, "#demo-banner");
    assert!(
        banner.contains("running the small demonstration model") && banner.contains("often wrong"),
        "{banner}"
    );
    let entries = select_all_text(&html, "#catalog .catalog-entry");
    assert!(entries.len() >= 6, "{entries:?}");
    let recommended = select_all_text(&html, "#catalog .catalog-entry.recommended .catalog-name");
    let best = server
        .state
        .chat
        .recommended_model(&server.state.config)
        .await;
    match best {
        // A box with the memory for a catalog model: the banner offers it.
        Some(best) => {
            assert_eq!(recommended, std::slice::from_ref(&best.name));
            assert!(banner.contains(&best.name), "{banner}");
            assert!(banner.contains("Download"), "{banner}");
            assert_eq!(
                select_attr(&html, "#demo-banner input[name=entry]", "value"),
                best.id
            );
            assert!(best.href.starts_with("/admin/models#catalog-"));
        }
        None => assert!(recommended.is_empty()),
    }
    assert!(
        select_text(&html, "#download .help").contains("only when you press Download"),
        "{}",
        select_text(&html, "#download .help")
    );
}
