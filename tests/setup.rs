//! First-run setup: everything leads to /setup until an owner exists, and
//! only the printed setup code can claim the box.

use reqwest::StatusCode;

use crate::common::*;

#[tokio::test]
async fn every_page_leads_to_setup_until_an_owner_exists() {
    let server = TestServer::start().await;
    let client = server.client();
    for path in ["/", "/login", "/chat", "/admin/users", "/profile"] {
        let response = client.get(path).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&response), "/setup", "{path}");
    }
    let response = client.get("/api/v1/me").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "setup_required");
    assert_eq!(client.get("/healthz").await.status(), StatusCode::OK);
    let (status, html) = client.page("/setup").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(select_attr(&html, "input#setup_code", "name"), "setup_code");
}

#[tokio::test]
async fn wrong_setup_code_is_refused_and_right_one_creates_the_owner() {
    let server = TestServer::start().await;
    let client = server.client();
    let form = |code: &'static str| {
        [
            ("setup_code", code),
            ("business_name", "Sunny Dental"),
            ("display_name", "Olivia Owner"),
            ("username", "olivia"),
            ("password", GOOD_PASSWORD),
            ("password_confirm", GOOD_PASSWORD),
        ]
    };
    let response = client.post_form("/setup", &form("AAAA-BBBB-CCCC")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = scraper::Html::parse_document(&response.text().await.unwrap());
    assert!(select_text(&html, ".error").contains("setup code is not right"));
    // The typed fields survive, the secrets do not.
    assert_eq!(
        select_attr(&html, "#business_name", "value"),
        "Sunny Dental"
    );
    assert!(
        !server
            .state
            .auth
            .is_set_up(&server.state.store)
            .await
            .unwrap()
    );

    let code = server.setup_code().to_lowercase().replace('-', " ");
    let fields = [
        ("setup_code", code.as_str()),
        ("business_name", "Sunny Dental"),
        ("display_name", "Olivia Owner"),
        ("username", "olivia"),
        ("password", GOOD_PASSWORD),
        ("password_confirm", GOOD_PASSWORD),
    ];
    let response = client.post_form("/setup", &fields).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/");
    // Signed in as the owner, with the business name in the header.
    let (status, html) = client.page("/chat").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(select_text(&html, ".brand-name"), "Sunny Dental");
    assert_eq!(select_text(&html, ".account-name"), "Olivia Owner");

    // Setup is closed now, for pages and the API.
    let response = server.client().get("/setup").await;
    assert_eq!(location(&response), "/login");
    let response = client.post_form("/setup", &fields).await;
    assert_eq!(location(&response), "/login");

    let audit = server
        .state
        .store
        .audit(hearth::store::AuditFilter {
            action: Some("setup".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let outcomes: Vec<_> = audit.records.iter().map(|r| r.outcome.as_str()).collect();
    assert_eq!(outcomes, ["ok", "failed"]);
}

#[tokio::test]
async fn setup_checks_passwords_and_throttles_code_guessing() {
    let server = TestServer::start_with(|c| c.auth.login_free_failures = 2).await;
    let client = server.client();
    let code = server.setup_code();
    let mut fields = vec![
        ("setup_code", code.as_str()),
        ("business_name", "Sunny Dental"),
        ("display_name", "Olivia Owner"),
        ("username", "olivia"),
        ("password", "password1234"),
        ("password_confirm", "password1234"),
    ];
    let response = client.post_form("/setup", &fields).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("most common"));

    fields[4] = ("password", GOOD_PASSWORD);
    fields[5] = ("password_confirm", "something else entirely");
    let response = client.post_form("/setup", &fields).await;
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("The two passwords differ")
    );

    fields[0] = ("setup_code", "WRONG");
    fields[5] = ("password_confirm", GOOD_PASSWORD);
    for _ in 0..3 {
        client.post_form("/setup", &fields).await;
    }
    let response = client.post_form("/setup", &fields).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Too many wrong setup codes")
    );
}

#[tokio::test]
async fn setup_through_the_api() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/setup", server.base);
    let body = |code: &str| {
        serde_json::json!({
            "setup_code": code, "business_name": "Law & Co", "display_name": "Olivia Owner",
            "username": "olivia", "password": GOOD_PASSWORD
        })
    };
    // A script needs no cookie or token: the setup code is the secret.
    let response = http.post(&url).json(&body("nope")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // A form post from another site cannot pose as JSON.
    let response = http
        .post(&url)
        .header("content-type", "text/plain")
        .body(body("nope").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let response = http
        .post(&url)
        .json(&body(&server.setup_code()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let user: serde_json::Value = response.json().await.unwrap();
    assert_eq!(user["role"], "owner");
    assert_eq!(server.state.auth.business_name(), "Law & Co");
}
