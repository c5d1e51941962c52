//! Every route's access, proven for every role. A new route must be added to
//! `EXPECTED` with its role, or `every_route_is_in_the_access_table` fails.

use std::collections::BTreeSet;

use reqwest::StatusCode;

use crate::common::*;

/// (method, path, who may use it). Keep in the order of the route table.
const EXPECTED: &[(&str, &str, &str)] = &[
    ("GET", "/healthz", "public"),
    ("GET", "/readyz", "public"),
    ("GET", "/static/{hash}/{*name}", "public"),
    ("GET", "/favicon.ico", "public"),
    ("GET", "/setup", "public"),
    ("POST", "/setup", "public"),
    ("POST", "/setup/restore", "public"),
    ("POST", "/api/v1/setup", "public"),
    ("GET", "/login", "public"),
    ("POST", "/login", "public"),
    ("POST", "/logout", "staff"),
    ("GET", "/profile", "staff"),
    ("POST", "/profile/password", "staff"),
    ("POST", "/profile/api-keys", "staff"),
    ("POST", "/profile/api-keys/{id}/revoke", "staff"),
    ("POST", "/profile/sessions/{id}/revoke", "staff"),
    ("GET", "/api/v1/me", "staff"),
    ("POST", "/api/v1/me/password", "staff"),
    ("GET", "/api/v1/me/api-keys", "staff"),
    ("POST", "/api/v1/me/api-keys", "staff"),
    ("DELETE", "/api/v1/me/api-keys/{id}", "staff"),
    ("GET", "/api/v1/me/sessions", "staff"),
    ("DELETE", "/api/v1/me/sessions/{id}", "staff"),
    ("POST", "/login/two-factor", "public"),
    ("GET", "/profile/two-factor", "staff"),
    ("POST", "/profile/two-factor/enable", "staff"),
    ("POST", "/profile/two-factor/recovery-codes", "staff"),
    ("POST", "/profile/two-factor/disable", "staff"),
    ("POST", "/admin/two-factor/policy", "owner"),
    ("GET", "/", "staff"),
    ("POST", "/checklist/hide", "admin"),
    ("POST", "/checklist/show", "admin"),
    ("GET", "/chat", "staff"),
    ("POST", "/chat/new", "staff"),
    ("GET", "/chat/{id}", "staff"),
    ("POST", "/chat/{id}/messages", "staff"),
    ("GET", "/chat/{id}/stream", "staff"),
    ("POST", "/chat/{id}/messages/{message}/regenerate", "staff"),
    ("POST", "/chat/{id}/messages/{message}/edit", "staff"),
    ("POST", "/chat/{id}/messages/{message}/continue", "staff"),
    ("POST", "/chat/{id}/stop", "staff"),
    ("POST", "/chat/{id}/rename", "staff"),
    ("POST", "/chat/{id}/delete", "staff"),
    ("GET", "/api/v1/conversations", "staff"),
    ("POST", "/api/v1/conversations", "staff"),
    ("GET", "/api/v1/conversations/{id}", "staff"),
    ("PATCH", "/api/v1/conversations/{id}", "staff"),
    ("DELETE", "/api/v1/conversations/{id}", "staff"),
    ("POST", "/api/v1/conversations/{id}/messages", "staff"),
    ("POST", "/api/v1/conversations/{id}/stop", "staff"),
    ("GET", "/v1/models", "staff"),
    ("POST", "/v1/chat/completions", "staff"),
    ("GET", "/documents", "staff"),
    ("POST", "/documents", "staff"),
    ("GET", "/documents/{id}", "staff"),
    ("GET", "/documents/{id}/download", "staff"),
    ("POST", "/documents/{id}/move", "staff"),
    ("POST", "/documents/{id}/reprocess", "staff"),
    ("POST", "/documents/{id}/delete", "staff"),
    ("GET", "/search", "staff"),
    ("GET", "/api/v1/search", "staff"),
    ("GET", "/collections", "staff"),
    ("POST", "/collections", "staff"),
    ("GET", "/admin/collections", "admin"),
    ("POST", "/admin/collections", "admin"),
    ("GET", "/admin/collections/{id}", "admin"),
    ("POST", "/admin/collections/{id}", "admin"),
    ("POST", "/admin/collections/{id}/delete", "admin"),
    ("POST", "/admin/search/rebuild", "admin"),
    ("GET", "/admin/access", "admin"),
    ("POST", "/admin/access/settings", "owner"),
    ("GET", "/api/v1/documents", "staff"),
    ("POST", "/api/v1/documents", "staff"),
    ("GET", "/api/v1/documents/{id}", "staff"),
    ("DELETE", "/api/v1/documents/{id}", "staff"),
    ("POST", "/api/v1/documents/{id}/move", "staff"),
    ("POST", "/api/v1/documents/{id}/reprocess", "staff"),
    ("GET", "/api/v1/collections", "staff"),
    ("GET", "/admin/reviews", "admin"),
    ("POST", "/admin/reviews/{id}/dismiss", "admin"),
    ("POST", "/admin/reviews/{id}/fact", "admin"),
    ("GET", "/api/v1/reviews", "admin"),
    ("POST", "/api/v1/reviews/{id}/dismiss", "admin"),
    ("POST", "/api/v1/reviews/{id}/fact", "admin"),
    ("GET", "/schedule", "staff"),
    ("POST", "/schedule/book", "staff"),
    ("GET", "/schedule/find", "staff"),
    ("GET", "/schedule/sheet", "staff"),
    ("GET", "/schedule/appointments/{id}", "staff"),
    ("POST", "/schedule/appointments/{id}", "staff"),
    ("POST", "/schedule/appointments/{id}/status", "staff"),
    ("GET", "/schedule/assistant", "staff"),
    ("POST", "/schedule/assistant", "staff"),
    ("POST", "/schedule/assistant/refine", "staff"),
    ("POST", "/schedule/proposals/{id}/confirm", "staff"),
    ("POST", "/schedule/proposals/{id}/dismiss", "staff"),
    ("POST", "/api/v1/schedule/assistant", "staff"),
    ("POST", "/api/v1/schedule/proposals", "staff"),
    ("GET", "/api/v1/proposals/{id}", "staff"),
    ("POST", "/api/v1/proposals/{id}/confirm", "staff"),
    ("POST", "/api/v1/proposals/{id}/dismiss", "staff"),
    ("GET", "/admin/schedule", "admin"),
    ("POST", "/admin/schedule/settings", "admin"),
    ("POST", "/admin/schedule/closures", "admin"),
    ("POST", "/admin/schedule/closures/{id}/delete", "admin"),
    ("GET", "/admin/schedule/staff", "admin"),
    ("POST", "/admin/schedule/staff", "admin"),
    ("GET", "/admin/schedule/staff/{id}", "admin"),
    ("POST", "/admin/schedule/staff/{id}", "admin"),
    ("POST", "/admin/schedule/staff/{id}/time-off", "admin"),
    ("POST", "/admin/schedule/time-off/{id}/delete", "admin"),
    ("GET", "/admin/schedule/services", "admin"),
    ("POST", "/admin/schedule/services", "admin"),
    ("GET", "/admin/schedule/services/{id}", "admin"),
    ("POST", "/admin/schedule/services/{id}", "admin"),
    ("GET", "/admin/schedule/resources", "admin"),
    ("POST", "/admin/schedule/resources", "admin"),
    ("GET", "/admin/schedule/resources/{id}", "admin"),
    ("POST", "/admin/schedule/resources/{id}", "admin"),
    ("GET", "/schedule/customers", "staff"),
    ("POST", "/schedule/customers", "staff"),
    ("GET", "/schedule/customers/{id}", "staff"),
    ("POST", "/schedule/customers/{id}", "staff"),
    ("GET", "/schedule/calendar.ics", "staff"),
    ("GET", "/schedule/feeds", "staff"),
    ("POST", "/schedule/feeds", "staff"),
    ("POST", "/schedule/feeds/{id}/revoke", "staff"),
    ("GET", "/ics/{token}", "public"),
    ("GET", "/schedule/import", "staff"),
    ("POST", "/schedule/import", "staff"),
    ("POST", "/schedule/import/confirm", "staff"),
    ("GET", "/api/v1/appointments", "staff"),
    ("POST", "/api/v1/appointments", "staff"),
    ("GET", "/api/v1/appointments/{id}", "staff"),
    ("PATCH", "/api/v1/appointments/{id}", "staff"),
    ("POST", "/api/v1/appointments/{id}/status", "staff"),
    ("GET", "/api/v1/availability", "staff"),
    ("GET", "/api/v1/staff", "staff"),
    ("POST", "/api/v1/staff", "admin"),
    ("PATCH", "/api/v1/staff/{id}", "admin"),
    ("GET", "/api/v1/services", "staff"),
    ("POST", "/api/v1/services", "admin"),
    ("PATCH", "/api/v1/services/{id}", "admin"),
    ("GET", "/api/v1/resources", "staff"),
    ("POST", "/api/v1/resources", "admin"),
    ("PATCH", "/api/v1/resources/{id}", "admin"),
    ("GET", "/api/v1/schedule/settings", "staff"),
    ("PUT", "/api/v1/schedule/settings", "admin"),
    ("GET", "/api/v1/closures", "staff"),
    ("POST", "/api/v1/closures", "admin"),
    ("DELETE", "/api/v1/closures/{id}", "admin"),
    ("GET", "/api/v1/time-off", "staff"),
    ("POST", "/api/v1/time-off", "admin"),
    ("DELETE", "/api/v1/time-off/{id}", "admin"),
    ("GET", "/api/v1/customers", "staff"),
    ("POST", "/api/v1/customers", "staff"),
    ("GET", "/api/v1/customers/{id}", "staff"),
    ("PATCH", "/api/v1/customers/{id}", "staff"),
    ("GET", "/admin", "admin"),
    ("GET", "/admin/business", "owner"),
    ("POST", "/admin/business", "owner"),
    ("GET", "/admin/system", "owner"),
    ("POST", "/admin/system/update", "owner"),
    ("GET", "/admin/system/update/progress", "owner"),
    ("GET", "/admin/system/certificate", "owner"),
    ("POST", "/admin/system/ssh", "owner"),
    ("POST", "/admin/system/update/check", "owner"),
    ("POST", "/admin/system/metrics", "owner"),
    ("GET", "/admin/backups", "owner"),
    ("POST", "/admin/backups/run", "owner"),
    ("GET", "/admin/backups/progress", "owner"),
    ("POST", "/admin/backups/plan", "owner"),
    ("POST", "/admin/backups/passphrase", "owner"),
    ("GET", "/admin/backups/recovery-sheet", "owner"),
    ("POST", "/admin/backups/restore", "owner"),
    ("GET", "/admin/users", "admin"),
    ("POST", "/admin/users", "admin"),
    ("GET", "/admin/users/{id}", "admin"),
    ("POST", "/admin/users/{id}", "admin"),
    ("POST", "/admin/users/{id}/password", "admin"),
    ("POST", "/admin/users/{id}/disable", "admin"),
    ("POST", "/admin/users/{id}/enable", "admin"),
    ("POST", "/admin/users/{id}/two-factor/reset", "admin"),
    ("GET", "/api/v1/users", "admin"),
    ("POST", "/api/v1/users", "admin"),
    ("GET", "/api/v1/users/{id}", "admin"),
    ("PATCH", "/api/v1/users/{id}", "admin"),
    ("POST", "/api/v1/users/{id}/password", "admin"),
    ("GET", "/admin/assistant", "admin"),
    ("POST", "/admin/assistant", "admin"),
    ("POST", "/admin/assistant/restore/{version}", "admin"),
    ("POST", "/admin/assistant/factory", "admin"),
    ("GET", "/api/v1/assistant", "admin"),
    ("PATCH", "/api/v1/assistant", "admin"),
    ("GET", "/admin/cloud", "owner"),
    ("POST", "/admin/cloud", "owner"),
    ("POST", "/admin/cloud/test", "owner"),
    ("POST", "/admin/cloud/restore/{version}", "owner"),
    ("GET", "/api/v1/cloud", "owner"),
    ("PATCH", "/api/v1/cloud", "owner"),
    ("GET", "/chat/{id}/cloud", "staff"),
    ("POST", "/chat/{id}/cloud", "staff"),
    ("POST", "/chat/{id}/messages/{message}/flag", "staff"),
    (
        "POST",
        "/api/v1/conversations/{id}/messages/{message}/flag",
        "staff",
    ),
    ("GET", "/admin/models", "admin"),
    ("POST", "/admin/models/{name}/activate", "admin"),
    ("POST", "/admin/models/{name}/delete", "admin"),
    ("POST", "/admin/models/try", "admin"),
    ("GET", "/admin/models/upload", "admin"),
    ("PUT", "/admin/models/upload", "admin"),
    ("DELETE", "/admin/models/upload", "admin"),
    ("POST", "/admin/models/upload", "admin"),
    ("GET", "/admin/models/download", "admin"),
    ("POST", "/admin/models/download", "admin"),
    ("POST", "/admin/models/download/cancel", "admin"),
    ("GET", "/admin/audit", "admin"),
    ("POST", "/admin/audit/verify", "admin"),
    ("GET", "/admin/audit/checkpoints", "admin"),
    ("GET", "/api/v1/audit", "admin"),
    ("POST", "/api/v1/audit/verify", "admin"),
    ("GET", "/api/v1/audit/checkpoints", "admin"),
    ("GET", "/admin/egress", "admin"),
    ("GET", "/api/v1/egress", "admin"),
    ("GET", "/admin/changes", "admin"),
    ("POST", "/admin/changes/{key}/{version}/restore", "admin"),
    ("GET", "/api/v1/changes", "admin"),
    ("POST", "/api/v1/changes/{key}/{version}/restore", "admin"),
    ("GET", "/metrics", "public"),
    ("GET", "/api/v1/openapi.json", "public"),
];

#[test]
fn every_route_is_in_the_access_table() {
    let actual: BTreeSet<(String, String, String)> = hearth::app::route_table()
        .into_iter()
        .map(|r| {
            let access = serde_json::to_value(r.access)
                .unwrap()
                .as_str()
                .unwrap()
                .to_string();
            (r.method, r.path.to_string(), access)
        })
        .collect();
    let expected: BTreeSet<(String, String, String)> = EXPECTED
        .iter()
        .map(|(m, p, a)| (m.to_string(), p.to_string(), a.to_string()))
        .collect();
    let missing: Vec<_> = actual.difference(&expected).collect();
    let stale: Vec<_> = expected.difference(&actual).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "routes without an expectation in tests/access.rs: {missing:#?}\nexpectations without a route (or with another role): {stale:#?}"
    );
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Allowed,
    Unauthenticated,
    Forbidden,
}

async fn attempt(client: &Client, method: &str, path: &str) -> Outcome {
    let token = client.csrf().await;
    let request = client
        .http
        .request(method.parse().unwrap(), client.url(path))
        .header("x-csrf-token", token);
    let request = if method == "GET" {
        request
    } else if path.starts_with("/api/") {
        request.json(&serde_json::json!({}))
    } else {
        request.form(&[("unused", "")])
    };
    let response = request.send().await.unwrap();
    let status = response.status();
    let to_login = location(&response).starts_with("/login?next=");
    match status {
        StatusCode::UNAUTHORIZED => Outcome::Unauthenticated,
        StatusCode::SEE_OTHER if to_login => Outcome::Unauthenticated,
        StatusCode::FORBIDDEN => {
            let text = response.text().await.unwrap();
            assert!(
                !text.contains("csrf_failed") && !text.contains("form has expired"),
                "{method} {path}: CSRF, not role"
            );
            Outcome::Forbidden
        }
        _ => Outcome::Allowed,
    }
}

#[tokio::test]
async fn each_role_gets_exactly_its_access_on_every_route() {
    let (server, owner) = TestServer::with_owner().await;
    let staff = server.user(&owner, "sam", "staff").await;
    let admin = server.user(&owner, "alex", "admin").await;
    // A user for the {id} routes to act on, so nobody above is changed.
    server.user(&owner, "tina", "staff").await;
    let target = server
        .state
        .store
        .user_by_username("tina")
        .await
        .unwrap()
        .unwrap()
        .user
        .id
        .0;
    let anonymous = server.client();
    // Creating shared collections is open to staff only when the owner
    // allows it; allow it so the route's declared role is what is tested.
    let response = owner
        .post_form(
            "/admin/access/settings",
            &[("staff_create_collections", "on")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    let roles: [(&str, &Client); 4] = [
        ("anonymous", &anonymous),
        ("staff", &staff),
        ("admin", &admin),
        ("owner", &owner),
    ];
    // Logout last, since it ends the session the other checks use.
    let mut routes: Vec<_> = EXPECTED.to_vec();
    routes.sort_by_key(|(_, p, _)| *p == "/logout");
    for (method, pattern, access) in routes {
        let path = pattern
            .replace("/users/{id}", &format!("/users/{target}"))
            .replace("{id}", "999999")
            .replace("{version}", "999999")
            .replace("{message}", "999999")
            .replace("{name}", "nothing-here.gguf")
            .replace("{hash}/{*name}", "0/app.css");
        for (role, client) in roles {
            let expected = match (access, role) {
                ("public", _) => Outcome::Allowed,
                (_, "anonymous") => Outcome::Unauthenticated,
                ("staff", _) => Outcome::Allowed,
                ("admin", "staff") => Outcome::Forbidden,
                ("admin", _) => Outcome::Allowed,
                ("owner", "owner") => Outcome::Allowed,
                ("owner", _) => Outcome::Forbidden,
                other => panic!("unknown access {other:?}"),
            };
            let outcome = attempt(client, method, &path).await;
            assert_eq!(outcome, expected, "{role} {method} {path}");
        }
    }
}

#[tokio::test]
async fn staff_see_no_admin_link_and_get_a_friendly_refusal() {
    let (server, owner) = TestServer::with_owner().await;
    let staff = server.user(&owner, "sam", "staff").await;
    let (_, html) = staff.page("/chat").await;
    let nav = select_all_text(&html, ".main-nav a");
    assert_eq!(nav, ["Chat", "Documents", "Search", "Schedule"]);
    let (status, html) = staff.page("/admin/users").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(select_text(&html, "h1"), "Not allowed");
    let (_, html) = owner.page("/chat").await;
    assert_eq!(
        select_all_text(&html, ".main-nav a"),
        ["Chat", "Documents", "Search", "Schedule", "Admin"]
    );
}

#[tokio::test]
async fn refused_pages_are_recorded_once_per_window() {
    let (server, owner) = TestServer::with_owner().await;
    let staff = server.user(&owner, "sam", "staff").await;
    let admin = server.user(&owner, "alex", "admin").await;
    for _ in 0..3 {
        assert_eq!(
            staff.get("/admin/users").await.status(),
            StatusCode::FORBIDDEN
        );
    }
    assert_eq!(
        staff.get("/admin/collections/1").await.status(),
        StatusCode::FORBIDDEN
    );
    let api = ApiClient::new(&server.base, &staff.api_key("sam").await);
    assert_eq!(api.get_json("/api/v1/audit").await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        admin
            .post_form("/admin/access/settings", &[])
            .await
            .status(),
        StatusCode::FORBIDDEN,
        "owner-only, refused to an admin"
    );
    let audit = server
        .state
        .store
        .audit(hearth::store::AuditFilter {
            action: Some("access.refused".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let refused: Vec<_> = audit
        .records
        .iter()
        .map(|r| (r.actor.as_str(), r.target.as_str(), r.outcome.as_str()))
        .collect();
    assert_eq!(
        refused,
        [
            ("alex", "/admin/access/settings", "denied"),
            ("sam", "/api/v1/audit", "denied"),
            ("sam", "/admin/collections/1", "denied"),
            ("sam", "/admin/users", "denied"),
        ]
    );
    // Anonymous visitors are sent to sign in: nothing to record.
    server.client().get("/admin/users").await;
    let after = server
        .state
        .store
        .audit(hearth::store::AuditFilter {
            action: Some("access".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(after.total, 4);
}
