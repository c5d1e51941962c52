//! Login, logout, sessions, throttling, CSRF and API keys.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};

use crate::common::*;

#[tokio::test]
async fn login_ok_and_failed_and_logout() {
    let (server, _owner) = TestServer::with_owner().await;
    let client = server.client();

    let response = client.try_login("olivia", "wrong password here").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let html = scraper::Html::parse_document(&response.text().await.unwrap());
    assert_eq!(select_text(&html, ".error"), "Wrong username or password.");
    assert_eq!(select_attr(&html, "#username", "value"), "olivia");

    let response = client.try_login("nobody", GOOD_PASSWORD).await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "unknown users get the same answer"
    );

    // A protected page sends an anonymous visitor to login, remembering where.
    let response = client.get("/admin/users?x=1").await;
    assert_eq!(location(&response), "/login?next=/admin/users%3Fx%3D1");

    let response = client
        .post_form(
            "/login",
            &[
                ("username", "OLIVIA"),
                ("password", GOOD_PASSWORD),
                ("next", "/admin/users"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/admin/users");
    let cookie = response
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("hearth_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert_eq!(client.get("/admin/users").await.status(), StatusCode::OK);

    // Off-site "next" targets are ignored.
    let other = server.client();
    let response = other
        .post_form(
            "/login",
            &[
                ("username", "olivia"),
                ("password", GOOD_PASSWORD),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(location(&response), "/");

    let response = client.post_form("/logout", &[]).await;
    assert_eq!(location(&response), "/login");
    let (_, html) = client.page("/login").await;
    assert_eq!(select_text(&html, ".flash"), "You are signed out.");
    assert_eq!(
        location(&client.get("/profile").await),
        "/login?next=/profile"
    );

    let audit = server
        .state
        .store
        .audit(hearth::store::AuditFilter {
            action: Some("auth".into()),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    let actions: Vec<_> = audit
        .records
        .iter()
        .map(|r| format!("{} {} {}", r.action, r.actor, r.outcome))
        .collect();
    assert!(
        actions.contains(&"auth.logout olivia ok".to_string()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"auth.login olivia failed".to_string()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"auth.login nobody failed".to_string()),
        "{actions:?}"
    );
}

#[tokio::test]
async fn session_id_rotates_at_login() {
    let (server, owner) = TestServer::with_owner().await;
    let before = server
        .state
        .store
        .sessions_of(hearth::store::UserId(1))
        .await
        .unwrap();
    let response = owner.login("olivia", GOOD_PASSWORD).await;
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    let after = server
        .state
        .store
        .sessions_of(hearth::store::UserId(1))
        .await
        .unwrap();
    assert_eq!(before.len(), 1);
    assert_eq!(after.len(), 1, "the old session was ended");
    assert_ne!(before[0].id, after[0].id, "session ids are never reused");
    assert!(
        cookie.starts_with("hearth_session="),
        "a new token was issued: {cookie}"
    );
}

#[tokio::test]
async fn repeated_failures_are_throttled_per_account_and_address() {
    let (server, _owner) = TestServer::with_owner().await;
    let attacker = server.client();
    for _ in 0..3 {
        assert_eq!(
            attacker
                .try_login("olivia", "not the password")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // The fourth failure imposes a delay; the next attempt is refused unchecked.
    assert_eq!(
        attacker
            .try_login("olivia", "not the password")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let response = attacker.try_login("olivia", GOOD_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Too many failed sign-in attempts")
    );
    let denied = server
        .state
        .store
        .audit(hearth::store::AuditFilter {
            outcome: Some(hearth::store::AuditOutcome::Denied),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(denied.total, 1);
    // After the delay, the right password works again.
    server.state.store.clock().advance(Duration::from_secs(1));
    assert_eq!(
        attacker.try_login("olivia", GOOD_PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn idle_and_old_sessions_expire() {
    let (server, owner) = TestServer::with_owner().await;
    let clock = server.state.store.clock();
    assert_eq!(owner.get("/profile").await.status(), StatusCode::OK);
    let idle = server.state.config.auth.session_idle_minutes * 60;
    clock.advance(Duration::from_secs(idle + 5));
    let response = owner.get("/profile").await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "idle session expired"
    );
    assert!(
        response
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("hearth_session=;")
    );

    // A session in use all along still ends at the absolute limit: visits
    // a minute short of the idle limit keep it alive until then.
    owner.login("olivia", GOOD_PASSWORD).await;
    let absolute = server.state.config.auth.session_max_hours * 3600;
    let step = idle - 60;
    let mut age = 0;
    while age + step <= absolute - 60 {
        clock.advance(Duration::from_secs(step));
        age += step;
        assert_eq!(
            owner.get("/profile").await.status(),
            StatusCode::OK,
            "an active session {age} s old is valid"
        );
    }
    clock.advance(Duration::from_secs(absolute + 5 - age));
    assert_eq!(
        owner.get("/profile").await.status(),
        StatusCode::SEE_OTHER,
        "old session expired"
    );
    assert!(
        server
            .state
            .store
            .sessions_of(hearth::store::UserId(1))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn state_changing_requests_need_the_csrf_token_and_our_origin() {
    let (server, owner) = TestServer::with_owner().await;
    let fields = [
        ("display_name", "Mallory"),
        ("username", "mallory"),
        ("role", "admin"),
        ("password", GOOD_PASSWORD),
    ];

    let response = owner
        .post_form_raw("/admin/users", &fields, HeaderMap::new())
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let html = response.text().await.unwrap();
    assert!(html.contains("form has expired"), "{html}");

    let mut with_bad_token: Vec<(&str, &str)> = fields.to_vec();
    with_bad_token.push(("csrf", "0123456789012345678901234567890123456789012"));
    assert_eq!(
        owner
            .post_form_raw("/admin/users", &with_bad_token, HeaderMap::new())
            .await
            .status(),
        StatusCode::FORBIDDEN
    );

    let token = owner.csrf().await;
    let mut with_token: Vec<(&str, &str)> = fields.to_vec();
    with_token.push(("csrf", &token));
    let mut cross_site = HeaderMap::new();
    cross_site.insert("origin", HeaderValue::from_static("http://evil.example"));
    assert_eq!(
        owner
            .post_form_raw("/admin/users", &with_token, cross_site)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let mut fetch_site = HeaderMap::new();
    fetch_site.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
    assert_eq!(
        owner
            .post_form_raw("/admin/users", &with_token, fetch_site)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        server.state.store.users().await.unwrap().len(),
        1,
        "nothing was created"
    );

    let mut same_origin = HeaderMap::new();
    same_origin.insert("origin", HeaderValue::from_str(&server.base).unwrap());
    same_origin.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
    assert_eq!(
        owner
            .post_form_raw("/admin/users", &with_token, same_origin)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );

    // JSON from the page's scripts carries the token in a header.
    let response = owner
        .http
        .delete(owner.url("/api/v1/me/sessions/999"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "csrf_failed");
    let response = owner
        .http
        .delete(owner.url("/api/v1/me/sessions/999"))
        .header("x-csrf-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // The login form is protected too (login CSRF).
    let anonymous = server.client();
    let response = anonymous
        .post_form_raw(
            "/login",
            &[("username", "olivia"), ("password", GOOD_PASSWORD)],
            HeaderMap::new(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn api_keys_authenticate_and_stop_when_revoked() {
    let (server, owner) = TestServer::with_owner().await;
    let key = owner.api_key("invoice script").await;
    let api = ApiClient::new(&server.base, &key);
    let (status, me) = api.get_json("/api/v1/me").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["username"], "olivia");

    // Listed with a prefix and last use, never the key itself.
    let (_, keys) = api.get_json("/api/v1/me/api-keys").await;
    assert_eq!(keys[0]["name"], "invoice script");
    assert!(keys[0]["last_used_at"].is_i64());
    assert!(!keys.to_string().contains(&key));

    // API-key requests need no CSRF token: they carry no ambient credential.
    let response = api
        .request(reqwest::Method::POST, "/api/v1/me/api-keys")
        .json(&serde_json::json!({"name": "second"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: serde_json::Value = response.json().await.unwrap();
    let second = created["key"].as_str().unwrap().to_string();
    let second_id = created["api_key"]["id"].as_i64().unwrap();

    for bad in ["hth_wrong", "", "Basic abc"] {
        let response = reqwest::Client::new()
            .get(format!("{}/api/v1/me", server.base))
            .header(
                "authorization",
                if bad.starts_with("Basic") {
                    bad.to_string()
                } else {
                    format!("Bearer {bad}")
                },
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{bad:?}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthenticated");
    }
    // No other way in: not a query parameter, not another header.
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/me?api_key={key}", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/me", server.base))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let response = api
        .request(
            reqwest::Method::DELETE,
            &format!("/api/v1/me/api-keys/{second_id}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        ApiClient::new(&server.base, &second)
            .get_json("/api/v1/me")
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    // Revoking from the profile page.
    let first_id = keys[0]["id"].as_i64().unwrap();
    let response = owner
        .post_form(&format!("/profile/api-keys/{first_id}/revoke"), &[])
        .await;
    assert_eq!(location(&response), "/profile");
    assert_eq!(api.get_json("/api/v1/me").await.0, StatusCode::UNAUTHORIZED);
    let (_, html) = owner.page("/profile").await;
    assert!(select_text(&html, ".flash").contains("was revoked"));
}

#[tokio::test]
async fn password_change_keeps_this_session_and_ends_others() {
    let (server, owner) = TestServer::with_owner().await;
    let laptop = server.client();
    laptop.login("olivia", GOOD_PASSWORD).await;
    let new_password = "a brand new passphrase for her";

    let response = owner
        .post_form(
            "/profile/password",
            &[
                ("current_password", "wrong wrong wrong"),
                ("new_password", new_password),
                ("new_password_confirm", new_password),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("current password is not right")
    );
    let response = owner
        .post_form(
            "/profile/password",
            &[
                ("current_password", GOOD_PASSWORD),
                ("new_password", "short"),
                ("new_password_confirm", "short"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let response = owner
        .post_form(
            "/profile/password",
            &[
                ("current_password", GOOD_PASSWORD),
                ("new_password", new_password),
                ("new_password_confirm", new_password),
            ],
        )
        .await;
    assert_eq!(location(&response), "/profile");
    assert_eq!(owner.get("/profile").await.status(), StatusCode::OK);
    assert_eq!(laptop.get("/profile").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        server
            .client()
            .try_login("olivia", GOOD_PASSWORD)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    server.client().login("olivia", new_password).await;
}

#[tokio::test]
async fn own_sessions_are_listed_and_can_be_ended() {
    let (server, owner) = TestServer::with_owner().await;
    let phone = server.client();
    phone.login("olivia", GOOD_PASSWORD).await;
    let (_, html) = owner.page("/profile").await;
    assert_eq!(select_all_text(&html, "#sessions tbody tr").len(), 2);
    assert_eq!(select_all_text(&html, "#sessions .badge"), ["This browser"]);
    let sessions = server
        .state
        .store
        .sessions_of(hearth::store::UserId(1))
        .await
        .unwrap();
    let phone_session = sessions.iter().map(|s| s.id.0).max().unwrap();
    let response = owner
        .post_form(&format!("/profile/sessions/{phone_session}/revoke"), &[])
        .await;
    assert_eq!(location(&response), "/profile");
    assert_eq!(phone.get("/profile").await.status(), StatusCode::SEE_OTHER);
}

/// A program with a wrong Bearer key gets a 401 it can read, on pages too:
/// a redirect to the sign-in page, where the same key is refused again,
/// looped for ever.
#[tokio::test]
async fn a_wrong_bearer_key_gets_a_401_not_a_redirect_loop() {
    let (server, _owner) = TestServer::with_owner().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .unwrap();
    for path in ["/chat", "/login", "/api/v1/me"] {
        let response = http
            .get(format!("{}{path}", server.base))
            .bearer_auth("hth_not_a_key")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body["error"]["code"].is_string(), "{path}: {body}");
    }
}
