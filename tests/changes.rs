//! One history for every setting the office changes (issue 14): the
//! assistant, cloud fallback, opening hours and a collection's access each
//! show up with a readable diff on Admin → Changes, can be rolled back, and
//! the rollback rolled back; owner-only settings refuse an admin's restore;
//! every step is audited; no API key is ever part of a version.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

async fn changes(api: &ApiClient) -> Vec<Value> {
    let (status, body) = api.get_json("/api/v1/changes").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().unwrap().clone()
}

fn find<'a>(list: &'a [Value], key: &str, version: i64) -> &'a Value {
    list.iter()
        .find(|c| c["key"] == key && c["version"] == version)
        .unwrap_or_else(|| panic!("{key} v{version} in {list:?}"))
}

#[tokio::test]
async fn every_setting_is_versioned_with_a_diff_and_can_be_rolled_back_twice() {
    let (server, owner) = TestServer::with_owner().await;
    let api = ApiClient::new(&server.base, &owner.api_key("k").await);

    // The assistant: two saves.
    for temperature in [0.3, 0.9] {
        let response = api
            .request(Method::PATCH, "/api/v1/assistant")
            .json(&json!({"temperature": temperature}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    // Cloud fallback, with a key that must never show.
    let response = api
        .request(Method::PATCH, "/api/v1/cloud")
        .json(
            &json!({"policy": "ask", "base_url": "https://api.example.com/v1", "model": "m1",
                      "allow_lan": false, "roles": ["owner"], "users": [], "timeout_secs": 60,
                      "api_key": "sk-never-shown-1"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // A collection, then its access changed on its page.
    let response = owner
        .post_form(
            "/collections",
            &[("name", "HR"), ("role", "owner"), ("role", "admin")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let hr = location(&response)
        .rsplit('/')
        .next()
        .unwrap()
        .parse::<i64>()
        .unwrap();
    let response = owner
        .post_form(
            &format!("/admin/collections/{hr}"),
            &[("name", "HR files"), ("role", "owner"), ("local_only", "1")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    let list = changes(&api).await;
    let assistant = find(&list, "assistant", 2);
    assert!(
        assistant["diff"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d[0] == "Temperature" && d[2] == "0.9"),
        "{assistant}"
    );
    let key = format!("collection:{hr}");
    let access = find(&list, &key, 2);
    let diff = access["diff"].to_string();
    assert!(
        diff.contains("HR files") && diff.contains("Local only"),
        "{diff}"
    );
    assert_eq!(access["what"], "Collection HR files");
    assert!(!serde_json::to_string(&list).unwrap().contains("sk-never"));

    // The page shows them, with a restore button on old versions only.
    let (status, html) = owner.page("/admin/changes").await;
    assert_eq!(status, StatusCode::OK);
    let anchor = format!("#change-collection-{hr}-2");
    assert!(select_text(&html, &anchor).contains("HR files"));
    assert_eq!(
        html.select(&scraper::Selector::parse(&format!("{anchor} form.restore")).unwrap())
            .count(),
        0,
        "the current version has nothing to restore"
    );

    // Roll the collection back to version 1, then roll that back.
    let response = owner
        .post_form(&format!("/admin/changes/{key}/1/restore"), &[])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let collection = server
        .state
        .store
        .collection(hearth::store::CollectionId(hr))
        .await
        .unwrap();
    assert_eq!(collection.name, "HR");
    assert!(!collection.local_only);
    assert_eq!(collection.roles.len(), 2);
    let response = api
        .request(Method::POST, &format!("/api/v1/changes/{key}/2/restore"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let collection = server
        .state
        .store
        .collection(hearth::store::CollectionId(hr))
        .await
        .unwrap();
    assert_eq!(collection.name, "HR files");
    assert!(collection.local_only);
    // Each restore is a version of its own.
    assert!(
        changes(&api)
            .await
            .iter()
            .any(|c| c["key"] == key.as_str() && c["version"] == 4)
    );

    // The assistant back to version 1.
    let response = api
        .request(Method::POST, "/api/v1/changes/assistant/1/restore")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!((server.state.chat.assistant().temperature - 0.3).abs() < 1e-6);

    // An admin may not restore the owner's settings.
    let admin = server.user(&owner, "ada", "admin").await;
    let admin_api = ApiClient::new(&server.base, &admin.api_key("a").await);
    let response = admin_api
        .request(Method::POST, "/api/v1/changes/cloud/1/restore")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let list = changes(&admin_api).await;
    assert_eq!(find(&list, "cloud", 1)["restorable"], false);

    let audited = server.audit_of("settings.changed").await;
    assert!(
        audited
            .iter()
            .any(|a| a.detail.contains("restored from version 1")),
        "{audited:?}"
    );
    let access_audits = server.audit_of("collection.access_changed").await;
    assert!(
        access_audits
            .iter()
            .any(|a| a.detail.contains("restored from version 1"))
    );
}
