//! Two-factor sign-in (issue 15): enrolment with an authenticator app's
//! code, sign-in asking for a code after the password, wrong and replayed
//! codes refused, a recovery code working exactly once, turning it off, and
//! the owner requiring it for owners and admins (their sessions lead to
//! enrolment first; the API says `two_factor_required`).

use reqwest::StatusCode;
use scraper::Html;
use totp_rs::{Algorithm, Builder, Secret};

use crate::common::*;

fn code_at(secret: &str, unix: i64) -> String {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_secret(Secret::try_from_base32(secret).unwrap())
        .build()
        .unwrap()
        .generate(unix as u64)
        .to_string()
}

/// Moves the server's clock to the next 30-second step and returns the
/// code for it (a code works once, so each use needs a new step).
fn next_code(server: &TestServer, secret: &str) -> String {
    server
        .state
        .store
        .clock()
        .advance(std::time::Duration::from_secs(30));
    code_at(secret, server.state.store.now())
}

/// Turns two-factor sign-in on for `client`; returns the secret and the
/// recovery codes shown.
async fn enrol(server: &TestServer, client: &Client) -> (String, Vec<String>) {
    let (status, html) = client.page("/profile/two-factor").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.html().contains("<svg"), "a QR code to scan");
    let secret = select_text(&html, "#secret").replace(' ', "");
    assert_eq!(secret.len(), 32, "160 bits in base32");
    // A wrong code does not turn it on.
    let response = client
        .post_form("/profile/two-factor/enable", &[("code", "000000")])
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let code = next_code(server, &secret);
    let response = client
        .post_form("/profile/two-factor/enable", &[("code", &code)])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = Html::parse_document(&response.text().await.unwrap());
    let codes: Vec<String> = html
        .select(&scraper::Selector::parse("#recovery-codes li code").unwrap())
        .map(|e| e.text().collect())
        .collect();
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

/// Signs in with the password; returns the pending sign-in's token from the
/// code page.
async fn password_step(client: &Client, username: &str) -> String {
    let response = client.try_login(username, GOOD_PASSWORD).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the code page, no session yet"
    );
    let html = Html::parse_document(&response.text().await.unwrap());
    let pending = select_attr(&html, "#code-form input[name=pending]", "value");
    assert!(!pending.is_empty());
    pending
}

async fn code_step(client: &Client, pending: &str, code: &str) -> reqwest::Response {
    client
        .post_form("/login/two-factor", &[("pending", pending), ("code", code)])
        .await
}

#[tokio::test]
async fn a_second_factor_guards_sign_in_and_each_code_works_once() {
    let (server, owner) = TestServer::with_owner().await;
    let sam = server.user(&owner, "sam", "staff").await;
    let (secret, recovery) = enrol(&server, &sam).await;
    assert_eq!(server.audit_of("auth.two_factor_enabled").await.len(), 1);
    let (_, html) = sam.page("/profile").await;
    assert!(select_text(&html, "#two-factor-summary").starts_with("On"));

    // Sign in again: the password alone is not enough.
    let phone = Client::new(&server.base);
    let pending = password_step(&phone, "sam").await;
    assert_eq!(
        phone.get("/chat").await.status(),
        StatusCode::SEE_OTHER,
        "not signed in yet"
    );
    let response = code_step(&phone, &pending, "123456").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let html = Html::parse_document(&response.text().await.unwrap());
    assert!(select_text(&html, "#code-error").contains("not right"));
    let code = next_code(&server, &secret);
    let response = code_step(&phone, &pending, &code).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(phone.get("/chat").await.status(), StatusCode::OK);
    let logins = server.audit_of("auth.login").await;
    assert_eq!(logins[0].detail, "with a two-factor code");

    // The same code again (same step): refused as used.
    let laptop = Client::new(&server.base);
    let pending = password_step(&laptop, "sam").await;
    let response = code_step(&laptop, &pending, &code).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let html = Html::parse_document(&response.text().await.unwrap());
    assert!(select_text(&html, "#code-error").contains("already used"));

    // A recovery code works, once.
    let response = code_step(&laptop, &pending, &recovery[0].to_uppercase()).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let logins = server.audit_of("auth.login").await;
    assert_eq!(logins[0].detail, "with a recovery code (9 left)");
    let tablet = Client::new(&server.base);
    let pending = password_step(&tablet, "sam").await;
    let response = code_step(&tablet, &pending, &recovery[0]).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // A sign-in left waiting too long must start again.
    server
        .state
        .store
        .clock()
        .advance(std::time::Duration::from_secs(600));
    let response = code_step(&tablet, &pending, &next_code(&server, &secret)).await;
    assert_eq!(location(&response), "/login", "sign in again");

    // New recovery codes need a current code; the old ones stop working.
    let response = sam
        .post_form(
            "/profile/two-factor/recovery-codes",
            &[("code", &next_code(&server, &secret))],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = Html::parse_document(&response.text().await.unwrap());
    assert_eq!(
        html.select(&scraper::Selector::parse("#recovery-codes li").unwrap())
            .count(),
        10
    );
    let pending = password_step(&tablet, "sam").await;
    let response = code_step(&tablet, &pending, &recovery[1]).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Turning it off needs the password; then the password alone signs in.
    let response = sam
        .post_form("/profile/two-factor/disable", &[("password", "wrong one")])
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = sam
        .post_form(
            "/profile/two-factor/disable",
            &[("password", GOOD_PASSWORD)],
        )
        .await;
    assert_eq!(location(&response), "/profile");
    assert_eq!(server.audit_of("auth.two_factor_disabled").await.len(), 1);
    let again = Client::new(&server.base);
    again.login("sam", GOOD_PASSWORD).await;

    // An admin turns it off for someone who lost phone and codes.
    enrol(&server, &sam).await;
    let sam_id = server
        .state
        .store
        .user_by_username("sam")
        .await
        .unwrap()
        .unwrap()
        .user
        .id
        .0;
    let (_, html) = owner.page(&format!("/admin/users/{sam_id}")).await;
    assert!(!select_text(&html, "#two-factor-reset").is_empty());
    let response = owner
        .post_form(&format!("/admin/users/{sam_id}/two-factor/reset"), &[])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let reset = server.audit_of("auth.two_factor_disabled").await;
    assert_eq!(reset[0].actor, "olivia");
    Client::new(&server.base).login("sam", GOOD_PASSWORD).await;
}

#[tokio::test]
async fn the_owner_can_require_it_for_owners_and_admins() {
    let (server, owner) = TestServer::with_owner().await;
    let alex = server.user(&owner, "alex", "admin").await;
    let sam = server.user(&owner, "sam", "staff").await;
    let key = alex.api_key("scripts").await;

    // Only the owner sets the policy.
    let response = alex
        .post_form("/admin/two-factor/policy", &[("required", "on")])
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = owner
        .post_form("/admin/two-factor/policy", &[("required", "on")])
        .await;
    assert_eq!(location(&response), "/admin/users");
    assert_eq!(
        server
            .state
            .store
            .setting("auth.two_factor_required")
            .await
            .unwrap()
            .as_deref(),
        Some("admins")
    );

    // Admins and owners without it are led to enrolment; staff are not.
    let response = alex.get("/chat").await;
    assert_eq!(location(&response), "/profile/two-factor");
    let response = owner.get("/admin/users").await;
    assert_eq!(location(&response), "/profile/two-factor");
    assert_eq!(sam.get("/chat").await.status(), StatusCode::OK);
    let (status, html) = alex.page("/profile/two-factor").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!select_text(&html, "#two-factor-required").is_empty());
    // The session's API calls say why; an API key is not a sign-in.
    let token = alex.csrf().await;
    let response = alex
        .http
        .get(alex.url("/api/v1/me"))
        .header("x-csrf-token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "two_factor_required");
    let api = ApiClient::new(&server.base, &key);
    assert_eq!(
        api.request(reqwest::Method::GET, "/api/v1/me")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    // Once enrolled, everything opens; turning it off is refused.
    enrol(&server, &alex).await;
    assert_eq!(alex.get("/chat").await.status(), StatusCode::OK);
    let response = alex
        .post_form(
            "/profile/two-factor/disable",
            &[("password", GOOD_PASSWORD)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // The policy is a versioned setting: Admin → Changes can put it back.
    enrol(&server, &owner).await;
    let response = owner.post_form("/admin/two-factor/policy", &[]).await;
    assert_eq!(location(&response), "/admin/users");
    assert!(!server.state.auth.two_factor_required());
    let response = owner
        .post_form("/admin/changes/auth.two_factor_required/1/restore", &[])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(server.state.auth.two_factor_required());
}
