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

/// Reads from a raw connection until the server closes it or `patience`
/// runs out; returns what arrived and whether it was closed.
async fn read_until_closed(
    stream: &mut tokio::net::TcpStream,
    patience: std::time::Duration,
) -> (String, bool) {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&received).into(), true),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
            Err(_) => return (String::from_utf8_lossy(&received).into(), false),
        }
    }
}

/// Issue 9: connections that stalled in their headers were kept forever.
#[tokio::test]
async fn a_client_that_stalls_in_its_headers_is_dropped() {
    use tokio::io::AsyncWriteExt;
    let server = TestServer::start_with(|c| c.server.header_timeout_secs = 1).await;
    let address = server.base.trim_start_matches("http://").to_string();
    let mut stalled = tokio::net::TcpStream::connect(&address).await.unwrap();
    stalled
        .write_all(b"GET /login HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let (_, closed) = read_until_closed(&mut stalled, std::time::Duration::from_secs(5)).await;
    assert!(closed, "the stalled connection was closed");
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    // A silent connection too.
    let mut silent = tokio::net::TcpStream::connect(&address).await.unwrap();
    let (_, closed) = read_until_closed(&mut silent, std::time::Duration::from_secs(5)).await;
    assert!(closed, "a connection that sends nothing is closed");
    // Others are served as usual.
    let response = reqwest::get(format!("{}/healthz", server.base))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// Issue 9: one address could hold any number of connections open.
#[tokio::test]
async fn one_address_holds_a_bounded_number_of_connections() {
    use tokio::io::AsyncWriteExt;
    let server = TestServer::start_with(|c| {
        c.server.max_connections_per_ip = 3;
        c.server.header_timeout_secs = 30;
    })
    .await;
    let address = server.base.trim_start_matches("http://").to_string();
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\n")
            .await
            .unwrap();
        held.push(stream);
    }
    // The server accepts connections in the order they were made, so the
    // three are counted before it looks at this one.
    let mut extra = tokio::net::TcpStream::connect(&address).await.unwrap();
    let (_, closed) = read_until_closed(&mut extra, std::time::Duration::from_secs(2)).await;
    assert!(closed, "the connection over the limit is closed at once");
    held.pop();
    eventually(
        "there is room again once one closed",
        std::time::Duration::from_secs(5),
        async || {
            reqwest::get(format!("{}/healthz", server.base))
                .await
                .is_ok_and(|response| response.status() == StatusCode::OK)
        },
    )
    .await;
}

/// Issue 9: a stalled request body got 413 instead of 408.
#[tokio::test]
async fn a_stalled_body_is_a_timeout() {
    use tokio::io::AsyncWriteExt;
    let server = TestServer::start_with(|c| c.server.request_timeout_secs = 1).await;
    let owner = server.client();
    owner.setup(&server.setup_code(), "olivia").await;
    let key = owner.api_key("stall").await;
    let address = server.base.trim_start_matches("http://").to_string();
    for (path, content_type) in [
        ("/api/v1/conversations", "application/json"),
        ("/api/v1/documents", "multipart/form-data; boundary=XyZ"),
    ] {
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\n\
             Content-Type: {content_type}\r\nAccept: application/json\r\nContent-Length: 1000\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let start = if content_type.starts_with("multipart") {
            "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhello"
        } else {
            "{\"title\": \"hel"
        };
        stream.write_all(start.as_bytes()).await.unwrap();
        let (response, _) = read_until_closed(&mut stream, std::time::Duration::from_secs(5)).await;
        assert!(response.starts_with("HTTP/1.1 408"), "{path}: {response}");
        assert!(
            response.contains("\"code\":\"timeout\""),
            "{path}: {response}"
        );
    }
}

/// Issue 9: SIGTERM waited 90 s for a stalled client; stopping is bounded.
#[tokio::test]
async fn stopping_is_bounded_by_the_shutdown_timeout() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    ChildServer::prepare(
        dir.path(),
        "[server]\nshutdown_timeout_secs = 2\nrequest_timeout_secs = 120\nheader_timeout_secs = 120\n\
         [log]\nfilter = \"info,tower_http=debug\"\nformat = \"json\"\n",
    );
    let mut server = ChildServer::start(dir.path()).await;
    // A request whose body never finishes keeps a handler waiting.
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(
            b"POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 500\r\n\r\nusername=",
        )
        .await
        .unwrap();
    // Stop only once the request has reached the handlers (tower_http logs
    // its start at debug), or there is nothing in flight to wait for.
    eventually(
        "the stalled request is being handled",
        std::time::Duration::from_secs(10),
        async || {
            server.log().lines().any(|line| {
                line.contains("started processing request") && line.contains("\"path\":\"/login\"")
            })
        },
    )
    .await;
    let took = server.terminate(std::time::Duration::from_secs(15));
    let took = took.expect("the server stopped");
    assert!(
        took < std::time::Duration::from_secs(6),
        "stopped in {took:?}: {}",
        server.log()
    );
    assert!(
        server
            .log()
            .contains("requests still running at shutdown were cut off"),
        "the stalled request was in flight: {}",
        server.log()
    );
    drop(stream);
}
