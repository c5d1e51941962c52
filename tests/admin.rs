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
                target_name: String::new(),
                target_collection: None,
            })
            .await
            .unwrap();
    }
    let (status, html) = owner.page("/admin/audit?actor=mallory").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(select_text(&html, "#audit-count"), "3 entries");
    assert!(select_all_text(&html, "#audit code.audit-action").contains(&"auth.login".to_string()));

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

/// Every action name the code records (a dotted string literal whose first
/// part is a kind of action) is one `audit::Action` knows, so every action
/// has a sentence; and every action's sentence, for every outcome, names
/// who acted and neither a placeholder nor the dotted name.
#[test]
fn every_action_in_the_code_has_a_sentence() {
    use hearth::audit::{Action, KINDS, Names, sentence};
    use hearth::store::AuditOutcome;
    // Dotted strings with an action's prefix that are not actions.
    const NOT_ACTIONS: &[&str] = &[
        "chat.completion",
        "chat.completion.chunk",
        "schedule.time_zone",
        "schedule.opening_hours",
        "schedule.slot_minutes",
        // Setting keys.
        "auth.two_factor_required",
        "backup.settings",
    ];
    fn sources(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    let mut files = Vec::new();
    sources(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut seen = std::collections::BTreeSet::new();
    let mut unknown = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, literal) in text.split('"').enumerate().filter(|(n, _)| n % 2 == 1) {
            let _ = n;
            let Some((kind, rest)) = literal.split_once('.') else {
                continue;
            };
            let dotted = !rest.is_empty()
                && literal
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.');
            if !dotted || !KINDS.iter().any(|(k, _)| *k == kind) {
                continue;
            }
            if NOT_ACTIONS.contains(&literal) {
                continue;
            }
            match Action::parse(literal) {
                Some(action) => {
                    seen.insert(action.name());
                }
                None => unknown.push(format!("{}: {literal}", file.display())),
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "actions recorded without a sentence (add them to audit::Action): {unknown:#?}"
    );
    assert!(seen.len() >= 40, "the scan found the actions: {seen:?}");
    for action in Action::ALL {
        assert!(
            seen.contains(action.name()),
            "{} is in audit::Action but nothing records it",
            action.name()
        );
        for outcome in [AuditOutcome::Ok, AuditOutcome::Failed, AuditOutcome::Denied] {
            let said = sentence(
                Some(*action),
                action.name(),
                outcome,
                Names {
                    who: "Anna",
                    what: "Fees 2026.pdf",
                    place: "Front desk",
                },
            );
            assert!(said.starts_with("Anna "), "{}: {said}", action.name());
            assert!(
                !said.contains('{') && !said.contains(action.name()),
                "{}: {said}",
                action.name()
            );
        }
    }
}

async fn summaries(api: &ApiClient, query: &str) -> Vec<String> {
    let (status, page) = api.get_json(&format!("/api/v1/audit?{query}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["summary"].as_str().unwrap().to_string())
        .collect()
}

/// Uploads one text file through the API into `collection` and waits until
/// it is processed; its id.
async fn uploaded(api: &ApiClient, collection: Option<i64>, name: &str, text: &str) -> i64 {
    let mut form = reqwest::multipart::Form::new();
    if let Some(c) = collection {
        form = form.text("collection", c.to_string());
    }
    form = form.part(
        "file",
        reqwest::multipart::Part::bytes(text.as_bytes().to_vec()).file_name(name.to_string()),
    );
    let response = api
        .request(Method::POST, "/api/v1/documents")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: serde_json::Value = response.json().await.unwrap();
    body["results"][0]["document"]["id"].as_i64().unwrap()
}

async fn shared_collection(owner: &Client, api: &ApiClient, name: &str, roles: &[&str]) -> i64 {
    let mut fields = vec![("name", name)];
    for role in roles {
        fields.push(("role", role));
    }
    let response = owner.post_form("/collections", &fields).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, list) = api.get_json("/api/v1/collections").await;
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()["id"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn reads_downloads_and_refusals_are_sentences_for_their_reader() {
    let (server, owner) = TestServer::with_owner().await;
    let owner_api = ApiClient::new(&server.base, &owner.api_key("audit reader").await);
    let tom = server.user(&owner, "tom", "staff").await;
    let alex = server.user(&owner, "alex", "admin").await;
    let alex_api = ApiClient::new(&server.base, &alex.api_key("alex").await);
    let front = shared_collection(
        &owner,
        &owner_api,
        "Front desk",
        &["owner", "admin", "staff"],
    )
    .await;
    let hr = shared_collection(&owner, &owner_api, "HR", &["owner"]).await;
    let policy = uploaded(
        &owner_api,
        Some(front),
        "Refund policy.txt",
        "Refunds within 30 days.",
    )
    .await;
    let salaries = uploaded(&owner_api, Some(hr), "Salaries.txt", "The salary bands.").await;

    // Tom opens the policy three times (once from search, by a passage),
    // downloads it twice, and is refused the salaries and an admin page.
    for path in [
        format!("/documents/{policy}"),
        format!("/documents/{policy}?chunk=0"),
        format!("/documents/{policy}"),
    ] {
        assert_eq!(tom.get(&path).await.status(), StatusCode::OK);
    }
    for _ in 0..2 {
        let download = tom.get(&format!("/documents/{policy}/download")).await;
        assert_eq!(download.status(), StatusCode::OK);
    }
    for _ in 0..2 {
        let refused = tom.get(&format!("/documents/{salaries}")).await;
        assert_eq!(
            refused.status(),
            StatusCode::NOT_FOUND,
            "still not found, never forbidden"
        );
    }
    assert_eq!(
        tom.get(&format!("/documents/{salaries}/download"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        tom.get(&format!("/documents?collection={hr}"))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        tom.get("/admin/users").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        tom.get("/admin/audit").await.status(),
        StatusCode::FORBIDDEN,
        "the log is for admins"
    );
    // A document that does not exist is not a refusal.
    assert_eq!(
        tom.get("/documents/999999").await.status(),
        StatusCode::NOT_FOUND
    );

    let said = summaries(&owner_api, "actor=tom").await;
    assert_eq!(
        said,
        [
            "tom Tester was refused Admin → Audit log",
            "tom Tester was refused Admin → Users",
            "tom Tester was refused the collection HR",
            "tom Tester was refused the download of HR/Salaries.txt",
            "tom Tester was refused HR/Salaries.txt",
            "tom Tester downloaded Refund policy.txt",
            "tom Tester downloaded Refund policy.txt",
            "tom Tester opened Refund policy.txt",
            "tom Tester signed in",
        ],
        "views and refusals once within the window, every download"
    );
    // The API keeps its fields beside the sentence.
    let (_, page) = owner_api
        .get_json("/api/v1/audit?actor=tom&action=docs.viewed")
        .await;
    assert_eq!(page["total"], 2);
    let refused = &page["records"][0];
    assert_eq!(refused["action"], "docs.viewed");
    assert_eq!(refused["outcome"], "denied");
    assert_eq!(refused["target"], format!("document:{salaries}"));
    assert_eq!(refused["actor"], "tom");

    // Alex, an admin who may not see HR, is not told what Tom asked for.
    let alex_said = summaries(&alex_api, "actor=tom&action=docs").await;
    assert!(
        alex_said.contains(&"tom Tester was refused a document you cannot see".to_string())
            && alex_said.contains(&"tom Tester downloaded Refund policy.txt".to_string()),
        "{alex_said:?}"
    );
    let (_, page) = alex_api
        .get_json("/api/v1/audit?actor=tom&outcome=denied&action=docs")
        .await;
    for record in page["records"].as_array().unwrap() {
        assert_eq!(record["detail"], "", "details withheld too: {record}");
        assert!(!record.to_string().contains("Salaries"), "{record}");
    }

    // After the window, the same view is recorded again.
    server
        .state
        .store
        .clock()
        .advance(std::time::Duration::from_secs(11 * 60));
    tom.get(&format!("/documents/{policy}")).await;
    let (_, page) = owner_api
        .get_json("/api/v1/audit?actor=tom&action=docs.viewed&outcome=ok")
        .await;
    assert_eq!(page["total"], 2);

    // The page: sentences, the dotted name small beside, filters by person
    // and kind of action, and the window in its help.
    let (status, html) = owner
        .page("/admin/audit?actor=tom&action=docs.downloaded&outcome=ok")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(select_text(&html, "#audit-count"), "2 entries");
    assert_eq!(
        select_all_text(&html, "#audit .audit-sentence"),
        ["tom Tester downloaded Refund policy.txt"; 2]
    );
    assert_eq!(
        select_all_text(&html, "#audit code.audit-action"),
        ["docs.downloaded"; 2]
    );
    assert_eq!(
        select_attr(&html, "#actor option[selected]", "value"),
        "tom"
    );
    assert_eq!(
        select_attr(&html, "#action option[selected]", "value"),
        "docs.downloaded"
    );
    assert!(select_text(&html, "#audit-help").contains("within 10 minutes"));
    let (_, html) = owner.page("/admin/audit?action=access").await;
    assert_eq!(
        select_all_text(&html, "#audit .audit-sentence"),
        [
            "tom Tester was refused Admin → Audit log",
            "tom Tester was refused Admin → Users"
        ]
    );
}

#[tokio::test]
async fn changes_read_with_current_names_and_kept_names_once_gone() {
    let (server, owner) = TestServer::with_owner().await;
    let api = ApiClient::new(&server.base, &owner.api_key("reader").await);
    let sam = server.user(&owner, "sam", "staff").await;
    let sam_id = user_id(&server, "sam").await;
    let front = shared_collection(&owner, &api, "Front office", &["owner", "admin", "staff"]).await;
    let fees = uploaded(&api, Some(front), "Fees 2026.txt", "Fees for 2026.").await;
    let other = shared_collection(&owner, &api, "Archive", &["owner"]).await;
    let moved = owner
        .post_form(
            &format!("/documents/{fees}/move"),
            &[("collection", &other.to_string())],
        )
        .await;
    assert_eq!(moved.status(), StatusCode::SEE_OTHER);
    // Sam's display name changes; the log uses the name now.
    owner
        .post_form(
            &format!("/admin/users/{sam_id}"),
            &[("display_name", "Sam Smith"), ("role", "staff")],
        )
        .await;
    sam.post_form("/logout", &[]).await;
    owner
        .post_form(
            &format!("/admin/collections/{front}"),
            &[("name", "Front desk"), ("role", "owner"), ("role", "staff")],
        )
        .await;
    owner
        .post_form(&format!("/documents/{fees}/delete"), &[])
        .await;
    let said = summaries(&api, "").await;
    for expected in [
        "Olivia Owner created an account for Sam Smith".to_string(),
        "Sam Smith signed out".to_string(),
        "Olivia Owner moved Fees 2026.txt to Archive".to_string(),
        "Olivia Owner uploaded Fees 2026.txt to Front desk".to_string(),
        "Olivia Owner deleted Fees 2026.txt from Archive".to_string(),
        "Olivia Owner renamed a collection to Front desk".to_string(),
        "Olivia Owner changed who sees Front desk".to_string(),
        "Olivia Owner created the collection Front desk".to_string(),
        "Olivia Owner changed Sam Smith's account".to_string(),
    ] {
        assert!(said.contains(&expected), "{expected:?} in {said:#?}");
    }
}
