//! HTTP plumbing: host checks, security headers, error pages and JSON
//! errors, assets, compression, limits, health probes.

use reqwest::StatusCode;

use crate::common::*;

#[tokio::test]
async fn unknown_host_names_are_refused() {
    let (server, _owner) = TestServer::with_owner().await;
    let http = reqwest::Client::new();
    for host in [
        "evil.example",
        "hearth.local.evil.example",
        "10.66.66.66:8080",
    ] {
        let response = http
            .get(format!("{}/login", server.base))
            .header("host", host)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::MISDIRECTED_REQUEST, "{host}");
    }
    for host in ["hearth.local", "localhost:8080", "127.0.0.1"] {
        let response = http
            .get(format!("{}/login", server.base))
            .header("host", host)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{host}");
    }
    let extra =
        TestServer::start_with(|c| c.server.allowed_hosts = vec!["frontdesk.sunny.example".into()])
            .await;
    let response = http
        .get(format!("{}/setup", extra.base))
        .header("host", "frontdesk.sunny.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let (server, owner) = TestServer::with_owner().await;
    for path in ["/login", "/chat", "/nope", "/api/v1/me", "/healthz"] {
        let response = if path == "/login" {
            server.client().get(path).await
        } else {
            owner.get(path).await
        };
        let headers = response.headers();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "same-origin", "{path}");
        assert!(headers.contains_key("x-request-id"), "{path}");
    }
}

#[tokio::test]
async fn errors_are_pages_for_people_and_json_for_programs() {
    let (server, owner) = TestServer::with_owner().await;
    let (status, html) = owner.page("/no/such/page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(select_text(&html, "h1"), "Page not found");
    assert_eq!(
        select_text(&html, ".brand-name"),
        "Sunny Dental",
        "the error page keeps the frame"
    );

    let response = owner.get("/api/v1/nothing").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");

    let response = owner.http.put(owner.url("/chat")).send().await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "CSRF is checked before routing"
    );
    let token = owner.csrf().await;
    let response = owner
        .http
        .put(owner.url("/chat"))
        .header("x-csrf-token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);

    // Malformed JSON gets a JSON error, never a panic.
    let api = ApiClient::new(&server.base, &owner.api_key("k").await);
    let response = api
        .request(reqwest::Method::POST, "/api/v1/users")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_request");
}

#[tokio::test]
async fn request_bodies_are_limited() {
    let server = TestServer::start_with(|c| c.server.max_request_bytes = 8 * 1024).await;
    let owner = server.client();
    owner.setup(&server.setup_code(), "olivia").await;
    let big = "x".repeat(20 * 1024);
    let response = owner
        .post_form(
            "/admin/users",
            &[
                ("display_name", &big),
                ("username", "sam"),
                ("role", "staff"),
                ("password", GOOD_PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let html = scraper::Html::parse_document(&response.text().await.unwrap());
    assert_eq!(select_text(&html, "h1"), "Too large");
    let api = ApiClient::new(&server.base, &owner.api_key("k").await);
    let response = api
        .request(reqwest::Method::POST, "/api/v1/users")
        .json(&serde_json::json!({"username": big}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large");
    assert_eq!(server.state.store.users().await.unwrap().len(), 1);
}

#[tokio::test]
async fn assets_are_hashed_cached_and_compressed() {
    let (server, owner) = TestServer::with_owner().await;
    let (_, html) = owner.page("/chat").await;
    let css = select_attr(&html, "link[rel=stylesheet]", "href");
    assert!(
        css.starts_with("/static/") && css.ends_with("/app.css"),
        "{css}"
    );
    let response = reqwest::Client::new()
        .get(format!("{}{css}", server.base))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(response.headers()["content-type"], "text/css");
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let stale = owner.get("/static/0000/app.css").await;
    assert_eq!(stale.headers()["cache-control"], "no-cache");
    assert_eq!(
        owner.get("/static/0/../Cargo.toml").await.status(),
        StatusCode::NOT_FOUND
    );
    let script = select_attr(&html, "script", "src");
    assert_eq!(owner.get(&script).await.status(), StatusCode::OK);
    let scripts = scraper::Selector::parse("script").unwrap();
    for script in html.select(&scripts) {
        let src = script.value().attr("src").unwrap_or_default();
        assert!(src.starts_with("/static/"), "no inline scripts");
        assert!(
            script.text().collect::<String>().trim().is_empty(),
            "no inline scripts"
        );
    }
}

#[tokio::test]
async fn health_and_readiness() {
    let server = TestServer::start().await;
    let client = server.client();
    assert_eq!(client.get("/healthz").await.text().await.unwrap(), "ok\n");
    assert_eq!(client.get("/readyz").await.status(), StatusCode::OK);
    server.stop().await;
}
