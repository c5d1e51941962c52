//! Admin → Users and Admin → Audit: who may change whom, disabling, resets,
//! and the audit log's filters and paging.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

async fn user_id(server: &TestServer, username: &str) -> i64 {
    server
        .state
        .store
        .user_by_username(username)
        .await
        .unwrap()
        .unwrap()
        .user
        .id
        .0
}

#[tokio::test]
async fn adding_users_validates_and_reports_clearly() {
    let (server, owner) = TestServer::with_owner().await;
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[
                ("display_name", "Sam"),
                ("username", "sam staff"),
                ("role", "staff"),
                ("password", GOOD_PASSWORD),
            ],
            "A username has 1 to 32",
        ),
        (
            &[
                ("display_name", "Sam"),
                ("username", "sam"),
                ("role", "staff"),
                ("password", "qwerty123456"),
            ],
            "most common",
        ),
        (
            &[
                ("display_name", ""),
                ("username", "sam"),
                ("role", "staff"),
                ("password", GOOD_PASSWORD),
            ],
            "Give a name",
        ),
        (
            &[
                ("display_name", "Olivia Two"),
                ("username", "Olivia"),
                ("role", "staff"),
                ("password", GOOD_PASSWORD),
            ],
            "already taken",
        ),
    ];
    for (fields, message) in cases {
        let response = owner.post_form("/admin/users", fields).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{message}");
        let html = scraper::Html::parse_document(&response.text().await.unwrap());
        assert!(
            select_text(&html, "#add-user .error").contains(message),
            "{message}"
        );
        assert_eq!(
            select_attr(&html, "#add-user #password", "value"),
            "",
            "the password is not echoed"
        );
    }
    let response = owner
        .post_form(
            "/admin/users",
            &[
                ("display_name", "Sam Staff"),
                ("username", "sam"),
                ("role", "staff"),
                ("password", GOOD_PASSWORD),
            ],
        )
        .await;
    assert_eq!(location(&response), "/admin/users");
    let (_, html) = owner.page("/admin/users").await;
    assert_eq!(
        select_text(&html, ".flash"),
        "Sam Staff (sam) was added as Staff."
    );
    assert!(select_all_text(&html, "#users td").contains(&"sam".to_string()));
    assert_eq!(server.state.store.users().await.unwrap().len(), 2);
}

#[tokio::test]
async fn admins_manage_staff_and_admins_but_not_owners() {
    let (server, owner) = TestServer::with_owner().await;
    let admin = server.user(&owner, "alex", "admin").await;
    server.user(&owner, "sam", "staff").await;
    let olivia = user_id(&server, "olivia").await;
    let sam = user_id(&server, "sam").await;

    let (_, html) = admin.page("/admin/users").await;
    assert_eq!(
        select_all_text(&html, "#role option"),
        ["Staff", "Admin"],
        "admins cannot hand out ownership"
    );
    let response = admin
        .post_form(
            "/admin/users",
            &[
                ("display_name", "Eve"),
                ("username", "eve"),
                ("role", "owner"),
                ("password", GOOD_PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    for path in [
        format!("/admin/users/{olivia}/disable"),
        format!("/admin/users/{olivia}/password"),
    ] {
        let response = admin
            .post_form(
                &path,
                &[
                    ("password", "another long passphrase"),
                    ("password_confirm", "another long passphrase"),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let (_, html) = admin.page(&format!("/admin/users/{olivia}")).await;
    assert!(html.html().contains("Only an owner can change an owner"));

    let response = admin
        .post_form(
            &format!("/admin/users/{sam}"),
            &[("display_name", "Samuel Staff"), ("role", "admin")],
        )
        .await;
    assert_eq!(location(&response), format!("/admin/users/{sam}"));
    let sam_user = server
        .state
        .store
        .user(hearth::store::UserId(sam))
        .await
        .unwrap();
    assert_eq!(
        (sam_user.display_name.as_str(), sam_user.role.as_str()),
        ("Samuel Staff", "admin")
    );
    let response = admin
        .post_form(
            &format!("/admin/users/{sam}"),
            &[("display_name", "Samuel Staff"), ("role", "owner")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn nobody_disables_themselves_and_the_last_owner_stays() {
    let (server, owner) = TestServer::with_owner().await;
    let olivia = user_id(&server, "olivia").await;
    let response = owner
        .post_form(&format!("/admin/users/{olivia}/disable"), &[])
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("cannot change your own role or disable your own account")
    );

    // A second owner cannot demote the only other... until two owners exist.
    let second = server.user(&owner, "otto", "owner").await;
    let response = second
        .post_form(
            &format!("/admin/users/{olivia}"),
            &[("display_name", "Olivia Owner"), ("role", "admin")],
        )
        .await;
    assert_eq!(location(&response), format!("/admin/users/{olivia}"));
    let otto = user_id(&server, "otto").await;
    // Now otto is the last owner; olivia (admin) cannot touch him, and he cannot demote himself.
    let response = second
        .post_form(
            &format!("/admin/users/{otto}"),
            &[("display_name", "Otto"), ("role", "staff")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let outcome = hearth::admin::users::update_user(
        &server.state,
        hearth::admin::users::Manager::Console,
        hearth::store::UserId(otto),
        &hearth::admin::users::UserUpdate {
            disabled: Some(true),
            ..Default::default()
        },
        "",
    )
    .await;
    assert!(
        matches!(outcome, Err(hearth::error::AppError::Conflict(ref m)) if m.contains("only owner")),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn disabling_ends_sessions_and_api_keys_at_once() {
    let (server, owner) = TestServer::with_owner().await;
    let sam = server.user(&owner, "sam", "staff").await;
    let key = sam.api_key("sam's script").await;
    let api = ApiClient::new(&server.base, &key);
    assert_eq!(api.get_json("/api/v1/me").await.0, StatusCode::OK);
    let sam_id = user_id(&server, "sam").await;

    let response = owner
        .post_form(&format!("/admin/users/{sam_id}/disable"), &[])
        .await;
    assert_eq!(location(&response), format!("/admin/users/{sam_id}"));
    assert_eq!(sam.get("/chat").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(api.get_json("/api/v1/me").await.0, StatusCode::UNAUTHORIZED);
    let response = server.client().try_login("sam", GOOD_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("This account is disabled")
    );

    owner
        .post_form(&format!("/admin/users/{sam_id}/enable"), &[])
        .await;
    assert_eq!(
        api.get_json("/api/v1/me").await.0,
        StatusCode::OK,
        "keys work again once enabled"
    );
    sam.login("sam", GOOD_PASSWORD).await;

    let audit = server
        .state
        .store
        .audit(hearth::store::AuditFilter {
            action: Some("user".into()),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    let actions: Vec<_> = audit.records.iter().map(|r| r.action.as_str()).collect();
    assert!(
        actions.contains(&"user.disabled") && actions.contains(&"user.enabled"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn admin_resets_a_password_and_the_user_is_signed_out() {
    let (server, owner) = TestServer::with_owner().await;
    let sam = server.user(&owner, "sam", "staff").await;
    let sam_id = user_id(&server, "sam").await;
    let fresh = "a fresh long passphrase";
    let response = owner
        .post_form(
            &format!("/admin/users/{sam_id}/password"),
            &[("password", fresh), ("password_confirm", "different")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = owner
        .post_form(
            &format!("/admin/users/{sam_id}/password"),
            &[("password", fresh), ("password_confirm", fresh)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(sam.get("/chat").await.status(), StatusCode::SEE_OTHER);
    sam.login("sam", fresh).await;
}

#[tokio::test]
async fn users_api_mirrors_the_pages() {
    let (server, owner) = TestServer::with_owner().await;
    let api = ApiClient::new(&server.base, &owner.api_key("admin script").await);
    let response = api
        .request(Method::POST, "/api/v1/users")
        .json(&json!({"username": "sam", "display_name": "Sam", "password": GOOD_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let sam: serde_json::Value = response.json().await.unwrap();
    assert_eq!(sam["role"], "staff");
    assert!(sam.get("password_hash").is_none());
    let id = sam["id"].as_i64().unwrap();

    let response = api
        .request(Method::POST, "/api/v1/users")
        .json(&json!({"username": "sam", "display_name": "Sam", "password": GOOD_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "conflict");

    let response = api
        .request(Method::PATCH, &format!("/api/v1/users/{id}"))
        .json(&json!({"role": "admin", "disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let updated: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        (updated["role"].as_str(), updated["disabled"].as_bool()),
        (Some("admin"), Some(true))
    );

    let response = api
        .request(Method::PATCH, &format!("/api/v1/users/{id}"))
        .json(&json!({"role": "emperor"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_request");

    let (status, list) = api.get_json("/api/v1/users").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(
        api.get_json("/api/v1/users/424242").await.0,
        StatusCode::NOT_FOUND
    );

    let response = api
        .request(Method::POST, &format!("/api/v1/users/{id}/password"))
        .json(&json!({"password": "short"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn audit_log_filters_and_pages() {
    let (server, owner) = TestServer::with_owner().await;
    let stranger = server.client();
    for _ in 0..3 {
        stranger.try_login("mallory", "not a real password").await;
    }
    for n in 0..55 {
        server
            .state
            .store
            .append_audit(hearth::store::NewAuditRecord {
                at: hearth::store::now(),
                actor_id: None,
                actor: "console".into(),
                action: "test.filler".into(),
                target: format!("#{n}"),
                outcome: hearth::store::AuditOutcome::Ok,
                ip: String::new(),
                detail: String::new(),
            })
            .await
            .unwrap();
    }
    let (status, html) = owner.page("/admin/audit?actor=mallory").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(select_text(&html, "#audit-count"), "3 entries");
    assert!(select_all_text(&html, "#audit td").contains(&"auth.login".to_string()));

    let (_, html) = owner.page("/admin/audit?action=test").await;
    assert_eq!(select_text(&html, "#audit-count"), "55 entries");
    assert_eq!(select_all_text(&html, "#audit tbody tr").len(), 50);
    assert_eq!(select_text(&html, ".pager span"), "Page 1 of 2");
    let next = select_attr(&html, ".pager a[rel=next]", "href");
    let (_, html) = owner.page(&format!("/admin/audit{next}")).await;
    assert_eq!(select_all_text(&html, "#audit tbody tr").len(), 5);

    let (status, html) = owner.page("/admin/audit?since=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(select_text(&html, ".error").contains("is not a date"));
    let today = jiff::Zoned::now().date().to_string();
    let (_, html) = owner
        .page(&format!(
            "/admin/audit?since={today}&until={today}&outcome=failed"
        ))
        .await;
    assert_eq!(select_text(&html, "#audit-count"), "3 entries");

    let api = ApiClient::new(&server.base, &owner.api_key("audit reader").await);
    let (status, page) = api
        .get_json("/api/v1/audit?action=auth.login&outcome=failed")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["total"], 3);
    assert_eq!(page["records"][0]["actor"], "mallory");
}
