//! The owner's first hour: the home page's checklist ticks each item off as
//! the box's state changes (staff never see it), Admin → Business renames
//! the business and sets its time zone (owners only, versioned, audited),
//! an owner created from the console is led to name the business, pages
//! show times in the business's zone, and sessions name their browser.

use std::time::Duration;

use hearth::config::Config;
use hearth::llm::{Engine, EngineConfig, EngineState, FakeScript};
use reqwest::{Method, StatusCode};
use scraper::{Html, Selector};
use serde_json::Value;

use crate::common::*;

/// Each item's id and whether it is ticked, in order.
fn items(html: &Html) -> Vec<(String, bool)> {
    let selector = Selector::parse("#checklist .checklist-item").unwrap();
    html.select(&selector)
        .map(|li| {
            let id = li.value().attr("id").unwrap_or_default().to_string();
            let done = li.value().attr("data-done") == Some("true");
            (id, done)
        })
        .collect()
}

fn ticked(html: &Html) -> Vec<&'static str> {
    let ids = ["business", "staff", "documents", "model", "backups"];
    items(html)
        .into_iter()
        .filter(|(_, done)| *done)
        .map(|(id, _)| {
            *ids.iter()
                .find(|i| id == format!("check-{i}"))
                .expect("a known item")
        })
        .collect()
}

async fn home(client: &Client) -> Html {
    let (status, html) = client.page("/").await;
    assert_eq!(status, StatusCode::OK);
    html
}

/// A box with the scripted engine loading `model` (a file name in
/// `models/`, or empty for the demonstration model), set up by `olivia`.
async fn owner_box(model: &str) -> (TestServer, Client) {
    let data_dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: data_dir.path().to_path_buf(),
        ..Config::default()
    };
    config.llm.model = model.to_string();
    let server =
        TestServer::start_with_engine(config, data_dir, |c| Engine::fake(c, FakeScript::default()))
            .await;
    let owner = server.client();
    owner.setup(&server.setup_code(), "olivia").await;
    (server, owner)
}

#[tokio::test]
async fn the_checklist_ticks_itself_off_as_the_box_is_set_up() {
    let (server, owner) = owner_box("").await;
    let html = home(&owner).await;
    assert_eq!(
        items(&html).len(),
        5,
        "name and zone, staff, documents, model, backups"
    );
    // Setup named the business; the zone is the box's own until confirmed.
    assert!(ticked(&html).is_empty(), "{:?}", items(&html));
    assert_eq!(select_text(&html, "#checklist-progress"), "0 of 5 done");
    assert!(select_text(&html, "#check-model").contains("demonstration model"));
    assert_eq!(
        select_attr(&html, "#check-model a", "href"),
        "/admin/models#catalog"
    );
    assert_eq!(
        select_attr(&html, "#check-business a", "href"),
        "/admin/business"
    );

    // 1. The business's name and time zone, confirmed on Admin → Business.
    let response = owner
        .post_form(
            "/admin/business",
            &[
                ("business_name", "Sunny Dental"),
                ("time_zone", "Europe/Berlin"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let html = home(&owner).await;
    assert_eq!(ticked(&html), ["business"]);
    assert!(select_text(&html, "#check-business").contains("Europe/Berlin"));

    // 2. A staff member, who sees no checklist: `/` is their chat.
    let staff = server.user(&owner, "sam", "staff").await;
    let html = home(&owner).await;
    assert_eq!(ticked(&html), ["business", "staff"]);
    assert!(select_text(&html, "#check-staff").contains("2 people"));
    let response = staff.get("/").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/chat");

    // 3. A collection: not yet ticked while it is empty; then a document.
    let response = owner
        .post_form("/collections", &[("name", "Front desk"), ("role", "staff")])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let html = home(&owner).await;
    assert_eq!(ticked(&html), ["business", "staff"]);
    assert!(select_text(&html, "#check-documents").contains("“Front desk” has no documents"));
    assert_eq!(
        select_attr(&html, "#check-documents a", "href"),
        "/documents"
    );
    let api = ApiClient::new(&server.base, &owner.api_key("checklist").await);
    let collections: Value = api
        .request(Method::GET, "/api/v1/collections")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let front_desk = collections
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Front desk")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("collection", front_desk.to_string())
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"Opening hours: 8 to 17.".to_vec())
                .file_name("hours.txt"),
        );
    let response = api
        .request(Method::POST, "/api/v1/documents")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let html = home(&owner).await;
    assert_eq!(ticked(&html), ["business", "staff", "documents"]);
    assert!(select_text(&html, "#check-documents").contains("1 shared collection with 1 document"));

    // 4. Another model: ticked once the engine runs it, and not before.
    let engine = &server.state.chat.engine;
    let mut config: EngineConfig = engine.config();
    config.model_path = server.state.config.models_dir().join("qwen-1.5b.gguf");
    engine.reconfigure(config);
    let mut states = engine.watch_state();
    tokio::time::timeout(
        Duration::from_secs(30),
        states.wait_for(|s| matches!(s, EngineState::Ready { model } if model == "qwen-1.5b.gguf")),
    )
    .await
    .expect("the engine switched")
    .unwrap();
    let html = home(&owner).await;
    assert_eq!(ticked(&html), ["business", "staff", "documents", "model"]);
    assert_eq!(select_text(&html, "#checklist-progress"), "4 of 5 done");
    assert_eq!(
        select_attr(&html, "#check-backups a", "href"),
        "/admin/backups"
    );

    // 5. Nightly backups, with one written.
    let usb = tempfile::tempdir().unwrap();
    let passphrase = "willow-harbour-amber-ledge";
    owner
        .post_form(
            "/admin/backups/passphrase",
            &[
                ("passphrase", passphrase),
                ("passphrase_confirm", passphrase),
            ],
        )
        .await;
    let response = owner
        .post_form(
            "/admin/backups/plan",
            &[
                ("directory", usb.path().to_str().unwrap()),
                ("nightly", "on"),
                ("nightly_at", "03:00"),
                ("keep_daily", "7"),
                ("keep_weekly", "4"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    owner.post_form("/admin/backups/run", &[]).await;
    for _ in 0..600 {
        let progress: serde_json::Value = owner
            .get("/admin/backups/progress")
            .await
            .json()
            .await
            .unwrap();
        if progress["running"] == false && progress["last_ok"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let html = home(&owner).await;
    assert_eq!(
        ticked(&html),
        ["business", "staff", "documents", "model", "backups"]
    );
    assert_eq!(select_text(&html, "#checklist-progress"), "5 of 5 done");
    assert!(select_text(&html, "#checklist-title").ends_with("is ready"));
}

#[tokio::test]
async fn the_checklist_can_be_hidden_per_person_and_brought_back() {
    let (server, owner) = owner_box("qwen-1.5b.gguf").await;
    let admin = server.user(&owner, "alex", "admin").await;
    // Admins see it too, without the owner's business link.
    let html = home(&admin).await;
    assert_eq!(items(&html).len(), 5);
    assert!(ticked(&html).contains(&"model"), "{:?}", items(&html));
    assert_eq!(select_attr(&html, "#check-business a", "href"), "");
    assert!(select_text(&html, "#check-business").contains("Only the owner"));

    let response = owner.post_form("/checklist/hide", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let response = owner.get("/").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/chat");
    // Hidden for the owner only.
    home(&admin).await;
    // Without the token it changes nothing.
    let response = owner
        .post_form_raw("/checklist/show", &[], Default::default())
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (_, html) = owner.page("/admin/business").await;
    assert_eq!(
        select_attr(&html, "#checklist-again form", "action"),
        "/checklist/show"
    );
    let response = owner.post_form("/checklist/show", &[]).await;
    assert_eq!(location(&response), "/");
    home(&owner).await;
}

#[tokio::test]
async fn the_owner_renames_the_business_and_the_change_is_audited() {
    let (server, owner) = TestServer::with_owner().await;
    let admin = server.user(&owner, "alex", "admin").await;
    let (status, html) = owner.page("/admin/business").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        select_attr(&html, "#business_name", "value"),
        "Sunny Dental"
    );
    assert_eq!(
        select_all_text(&html, ".sub-nav a")
            .first()
            .map(String::as_str),
        Some("Business")
    );

    // Checked before anything is written.
    for (name, zone, error) in [
        ("", "Europe/Berlin", "1 to 100 characters"),
        (
            &"x".repeat(101) as &str,
            "Europe/Berlin",
            "1 to 100 characters",
        ),
        ("Smile Clinic", "Mars/Olympus", "not a time zone"),
    ] {
        let response = owner
            .post_form(
                "/admin/business",
                &[("business_name", name), ("time_zone", zone)],
            )
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let html = Html::parse_document(&response.text().await.unwrap());
        assert!(
            select_text(&html, ".error").contains(error),
            "{name} {zone}"
        );
    }
    assert!(server.audit_of("settings.changed").await.is_empty());

    let response = owner
        .post_form(
            "/admin/business",
            &[
                ("business_name", "  Smile\u{202E} Clinic "),
                ("time_zone", "America/New_York"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = admin.page("/chat").await;
    assert_eq!(select_text(&html, ".brand-name"), "Smile Clinic");
    let records = server.audit_of("settings.changed").await;
    let details: Vec<(String, String)> = records
        .iter()
        .map(|r| (r.target.clone(), r.detail.clone()))
        .collect();
    assert!(
        details.contains(&(
            "business_name".to_string(),
            "Sunny Dental → Smile Clinic".to_string()
        )),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|(t, d)| t == "schedule.time_zone" && d.ends_with("America/New_York")),
        "{details:?}"
    );
    assert!(records.iter().all(|r| r.actor == "olivia"));
    // The same setting Admin → Schedule edits.
    let (_, html) = owner.page("/admin/schedule").await;
    assert_eq!(
        select_attr(&html, "#time_zone option[selected]", "value"),
        "America/New_York"
    );
    // Versioned like every setting.
    let versions = server
        .state
        .store
        .setting_history(hearth::auth::BUSINESS_NAME_SETTING, 10)
        .await
        .unwrap();
    assert_eq!(versions.len(), 2);
    // Saving again changes nothing and records nothing.
    let response = owner
        .post_form(
            "/admin/business",
            &[
                ("business_name", "Smile Clinic"),
                ("time_zone", "America/New_York"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        server.audit_of("settings.changed").await.len(),
        records.len()
    );

    // Admins and staff cannot, and do not see the link.
    let (status, _) = admin.page("/admin/business").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let response = admin
        .post_form(
            "/admin/business",
            &[("business_name", "Hijacked"), ("time_zone", "UTC")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (_, html) = admin.page("/admin/users").await;
    assert!(!select_all_text(&html, ".sub-nav a").contains(&"Business".to_string()));
    let (_, html) = owner.page("/chat").await;
    assert_eq!(select_text(&html, ".brand-name"), "Smile Clinic");
}

#[tokio::test]
async fn an_owner_from_the_console_is_led_to_name_the_business() {
    let server = TestServer::start().await;
    let input = hearth::admin::users::NewUserInput {
        username: "olivia".into(),
        display_name: "Olivia Owner".into(),
        role: Some(hearth::store::Role::Owner),
        password: GOOD_PASSWORD.into(),
    };
    hearth::admin::users::create_user(
        &server.state,
        hearth::admin::users::Manager::Console,
        &input,
        "",
    )
    .await
    .unwrap();
    let owner = server.client();
    let response = owner.login("olivia", GOOD_PASSWORD).await;
    assert_eq!(location(&response), "/");
    let html = home(&owner).await;
    // Never an empty header: the product's name until the owner chooses.
    assert_eq!(select_text(&html, ".brand-name"), "Hearth");
    assert!(!ticked(&html).contains(&"business"));
    assert!(select_text(&html, "#check-business").contains("until the business has a name"));
    let (_, html) = owner.page("/admin/business").await;
    assert!(select_text(&html, "#unnamed").contains("no name yet"));
    assert_eq!(select_attr(&html, "#business_name", "value"), "");
    let response = owner
        .post_form(
            "/admin/business",
            &[("business_name", "Sunny Dental"), ("time_zone", "UTC")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let html = home(&owner).await;
    assert_eq!(select_text(&html, ".brand-name"), "Sunny Dental");
    assert!(ticked(&html).contains(&"business"));
    let records = server.audit_of("settings.changed").await;
    assert!(
        records
            .iter()
            .any(|r| r.target == "business_name" && r.detail == "named Sunny Dental")
    );
}

#[tokio::test]
async fn pages_show_times_in_the_business_zone_and_sessions_name_their_browser() {
    let (server, owner) = TestServer::with_owner().await;
    let response = owner
        .post_form(
            "/admin/business",
            &[
                ("business_name", "Sunny Dental"),
                ("time_zone", "Asia/Tokyo"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let firefox =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";
    let laptop = Client {
        base: server.base.clone(),
        http: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(firefox)
            .build()
            .unwrap(),
    };
    laptop.login("olivia", GOOD_PASSWORD).await;
    let (_, html) = laptop.page("/profile").await;
    let browsers = select_all_text(&html, "#sessions td.ua");
    assert!(
        browsers.iter().any(|b| b.starts_with("Firefox on Windows")),
        "{browsers:?}"
    );
    let selector = Selector::parse("#sessions td.ua").unwrap();
    assert!(
        html.select(&selector)
            .any(|td| td.value().attr("title") == Some(firefox)),
        "the whole user agent on hover"
    );

    // Every time on these pages is a <time> in Tokyo's offset, read as
    // "today HH:MM" (the clock of the store says when "now" is).
    for path in ["/profile", "/admin/users", "/admin/audit"] {
        let (status, html) = laptop.page(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let selector = Selector::parse("main time").unwrap();
        let times: Vec<_> = html.select(&selector).collect();
        assert!(!times.is_empty(), "{path} shows times");
        for time in times {
            let datetime = time.value().attr("datetime").unwrap();
            assert!(datetime.ends_with("+09:00"), "{path}: {datetime}");
            assert!(time.value().attr("title").unwrap().ends_with("JST"));
            let text = time.text().collect::<String>();
            assert!(text.starts_with("today "), "{path}: {text}");
        }
    }
    // Two days later (signed in again: the sessions have expired) the
    // account's creation reads by weekday, the new sign-in as today.
    server
        .state
        .store
        .clock()
        .advance(Duration::from_secs(2 * 24 * 3600));
    let again = server.client();
    again.login("olivia", GOOD_PASSWORD).await;
    let olivia = server
        .state
        .store
        .user_by_username("olivia")
        .await
        .unwrap()
        .unwrap()
        .user
        .id
        .0;
    let (_, html) = again.page(&format!("/admin/users/{olivia}")).await;
    let texts = select_all_text(&html, "main time");
    assert!(
        texts
            .iter()
            .any(|t| ["Mon ", "Tue ", "Wed ", "Thu ", "Fri ", "Sat ", "Sun "]
                .iter()
                .any(|d| t.starts_with(d))),
        "{texts:?}"
    );
    assert!(texts.iter().any(|t| t.starts_with("today ")), "{texts:?}");
}
