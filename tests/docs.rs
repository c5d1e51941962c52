//! Office documents with real parts: uploads over HTTP, extraction in the
//! real child process (`hearth extract-file`), a real tantivy index on disk,
//! SQLite. Every fixture format ends indexed or failed with its reason;
//! search finds stems, phrases, exclusions and either spelling of a word
//! (British or American), suggests corrections only from what the reader
//! may see, and shows the titles documents give themselves; an index of
//! another layout is rebuilt at start; collections keep content
//! from people who may not see it (search, counts, previews, downloads,
//! API, answers); ingestion resumes after a restart without duplicates;
//! the console import and the inbox work.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/docs")
        .join(name)
}

/// Uploads files through the API into `collection` (or the uploader's own).
async fn upload(api: &ApiClient, collection: Option<i64>, files: &[(&str, Vec<u8>)]) -> Vec<Value> {
    let mut form = reqwest::multipart::Form::new();
    if let Some(c) = collection {
        form = form.text("collection", c.to_string());
    }
    for (name, bytes) in files {
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(bytes.clone()).file_name(name.to_string()),
        );
    }
    let response = api
        .request(Method::POST, "/api/v1/documents")
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["results"].as_array().unwrap().clone()
}

async fn upload_fixtures(api: &ApiClient, collection: Option<i64>, names: &[&str]) -> Vec<Value> {
    let files: Vec<(&str, Vec<u8>)> = names
        .iter()
        .map(|n| (*n, std::fs::read(fixture(n)).unwrap()))
        .collect();
    upload(api, collection, &files).await
}

/// Waits until none of the documents is queued or processing; returns them.
async fn settled(api: &ApiClient, ids: &[i64]) -> Vec<Value> {
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let mut last = Vec::new();
    for _ in 0..600 {
        let page: Value = api
            .request(Method::GET, &format!("/api/v1/documents?ids={list}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let documents = page["documents"].as_array().unwrap().clone();
        last = documents
            .iter()
            .map(|d| format!("{}:{}", d["id"], d["status"]))
            .collect();
        if documents
            .iter()
            .all(|d| d["status"] == "indexed" || d["status"] == "failed")
        {
            return documents;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("documents were not processed in time: {last:?}");
}

fn ids_of(results: &[Value]) -> Vec<i64> {
    results
        .iter()
        .filter_map(|r| r["document"]["id"].as_i64())
        .collect()
}

async fn search(api: &ApiClient, query: &str) -> Value {
    let response = api
        .request(Method::GET, "/api/v1/search")
        .query(&[("q", query)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "search {query}");
    response.json().await.unwrap()
}

async fn owner_api(server: &TestServer, owner: &Client) -> ApiClient {
    ApiClient::new(&server.base, &owner.api_key("docs tests").await)
}

/// A shared collection created by the owner, visible to these roles.
async fn collection(api: &ApiClient, owner: &Client, name: &str, roles: &[&str]) -> i64 {
    let mut fields = vec![("name", name)];
    for role in roles {
        fields.push(("role", role));
    }
    let response = owner.post_form("/collections", &fields).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "create {name}");
    let list: Value = api
        .request(Method::GET, "/api/v1/collections")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()["id"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn every_format_ends_indexed_or_with_its_reason() {
    let (server, owner) = TestServer::with_owner().await;
    let api = owner_api(&server, &owner).await;
    let good = [
        "sample.pdf",
        "sample.docx",
        "sample.odt",
        "sample.xlsx",
        "sample.ods",
        "sample.pptx",
        "sample.html",
        "sample.md",
        "sample.txt",
        "sample.csv",
        "sample.eml",
        "scanned.pdf",
    ];
    let broken = [
        ("truncated.pdf", "corrupt"),
        ("zipbomb.docx", "too_large"),
        ("encrypted.pdf", "encrypted"),
        ("junk.pdf", "unsupported"),
        ("unknown.bin", "unsupported"),
    ];
    let mut names: Vec<&str> = good.to_vec();
    names.extend(broken.iter().map(|(n, _)| *n));
    let results = upload_fixtures(&api, None, &names).await;
    assert_eq!(results.len(), names.len());
    let documents = settled(&api, &ids_of(&results)).await;
    for name in good {
        let d = documents.iter().find(|d| d["file_name"] == name).unwrap();
        assert_eq!(d["status"], "indexed", "{name}: {d}");
        assert!(d["chunk_count"].as_i64().unwrap() >= 1, "{name}");
    }
    for (name, code) in broken {
        let d = documents.iter().find(|d| d["file_name"] == name).unwrap();
        assert_eq!(d["status"], "failed", "{name}: {d}");
        assert_eq!(d["error_code"], code, "{name}: {d}");
        assert!(
            d["error_reason"].as_str().unwrap().len() > 10,
            "{name}: {d}"
        );
    }
    let encrypted = documents
        .iter()
        .find(|d| d["file_name"] == "encrypted.pdf")
        .unwrap();
    assert!(
        encrypted["error_reason"]
            .as_str()
            .unwrap()
            .contains("password"),
        "{encrypted}"
    );
    // The known sentence is found in every good format.
    let found = search(&api, "\"quarterly budget review\"").await;
    let titles: std::collections::BTreeSet<&str> = found["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["file_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        found["total"].as_u64().unwrap(),
        good.len() as u64,
        "{found}"
    );
    assert_eq!(
        titles.len(),
        10,
        "one hit per document, ten to a page: {titles:?}"
    );
    // PDFs report the page of the passage.
    let page_two: Value = api
        .request(Method::GET, "/api/v1/search")
        .query(&[("q", "budget"), ("type", "pdf")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        page_two["hits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["format"] == "pdf" && h["page"].as_u64().is_some()),
        "{page_two}"
    );
    // The page lists each failure with its reason.
    let (status, html) = owner.page("/documents?status=failed").await;
    assert_eq!(status, StatusCode::OK);
    assert!(select_text(&html, "#documents").contains("password"));
    // An empty file is refused at upload with a reason; the batch goes on.
    let results = upload(
        &api,
        None,
        &[
            ("empty.txt", Vec::new()),
            ("again.txt", b"Plain words about the garden shed.".to_vec()),
        ],
    )
    .await;
    assert_eq!(results[0]["outcome"], "rejected");
    assert_eq!(results[1]["outcome"], "queued");
}

#[tokio::test]
async fn search_understands_stems_phrases_exclusion_and_prefixes() {
    let (server, owner) = TestServer::with_owner().await;
    let api = owner_api(&server, &owner).await;
    let results = upload(
        &api,
        None,
        &[
            ("holidays.txt", b"Staff members take their holidays in summer. Holiday requests go to the office manager two weeks ahead.".to_vec()),
            ("invoices.txt", b"Invoices are paid within thirty days. Late invoices receive a friendly reminder.".to_vec()),
            ("draft.txt", b"Draft: invoices policy for the new year, not yet approved.".to_vec()),
        ],
    )
    .await;
    settled(&api, &ids_of(&results)).await;
    let titles = |v: &Value| -> Vec<String> {
        v["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["title"].as_str().unwrap().to_string())
            .collect()
    };
    // Stemming: "holiday request" finds "Holiday requests" / "holidays".
    assert_eq!(titles(&search(&api, "holiday request").await), ["holidays"]);
    // A phrase.
    assert_eq!(
        titles(&search(&api, "\"paid within thirty days\"").await),
        ["invoices"]
    );
    // Exclusion.
    assert_eq!(titles(&search(&api, "invoices -draft").await), ["invoices"]);
    // Prefix.
    assert_eq!(titles(&search(&api, "remind*").await), ["invoices"]);
    // OR.
    let either = titles(&search(&api, "summer OR approved").await);
    assert!(
        either.contains(&"holidays".to_string()) && either.contains(&"draft".to_string()),
        "{either:?}"
    );
    // Snippets highlight and escape.
    let hit = &search(&api, "reminder").await["hits"][0];
    assert!(
        hit["snippet_html"].as_str().unwrap().contains("<mark>"),
        "{hit}"
    );
    // Broken syntax is repaired or explained, never a server error.
    for query in [
        "\"unbalanced",
        "AND AND",
        "-",
        "*",
        "((",
        "title:",
        "10:30 error:",
    ] {
        let response = api
            .request(Method::GET, "/api/v1/search")
            .query(&[("q", query)])
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        match status {
            StatusCode::OK => {}
            StatusCode::BAD_REQUEST => {
                assert_eq!(body["error"]["code"], "bad_request", "{query}: {body}");
                assert!(body["error"]["message"].as_str().unwrap().len() > 10);
            }
            other => panic!("{query}: {other} {body}"),
        }
    }
    // The search page renders results and an empty state.
    let (status, html) = owner.page("/search?q=holiday").await;
    assert_eq!(status, StatusCode::OK);
    assert!(select_text(&html, "#result-count").contains("1 document"));
    let (_, html) = owner.page("/search?q=xylophone").await;
    assert!(select_text(&html, "#no-results").contains("Nothing found"));
}

#[tokio::test]
async fn staff_without_access_cannot_reach_hr_content_anywhere() {
    let (server, owner) = TestServer::with_owner().await;
    let api = owner_api(&server, &owner).await;
    let staff = server.user(&owner, "sam", "staff").await;
    let staff_api = ApiClient::new(&server.base, &staff.api_key("sam").await);
    let hr = collection(&api, &owner, "HR", &["owner", "admin"]).await;
    let policies = collection(&api, &owner, "Policies", &["owner", "admin", "staff"]).await;
    let secret = upload(
        &api,
        Some(hr),
        &[(
            "salaries.txt",
            b"Confidential: the zebracorn salary band for managers is secret.".to_vec(),
        )],
    )
    .await;
    let public = upload(
        &api,
        Some(policies),
        &[(
            "parking.txt",
            b"Parking spaces behind the building are for patients. Zebracorn stickers are welcome."
                .to_vec(),
        )],
    )
    .await;
    let secret_id = ids_of(&secret)[0];
    settled(&api, &[secret_id, ids_of(&public)[0]]).await;

    // The owner finds both; staff only the public one, and the count agrees.
    assert_eq!(search(&api, "zebracorn").await["total"], 2);
    let found = search(&staff_api, "zebracorn").await;
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["hits"][0]["title"], "parking");
    assert!(!found.to_string().contains("salary"));
    // Filtering by the hidden collection reveals nothing either.
    let filtered: Value = staff_api
        .request(Method::GET, "/api/v1/search")
        .query(&[("q", "zebracorn"), ("collection", &hr.to_string())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(filtered["total"], 0);
    // Lists, status, preview, download and actions: as if it did not exist.
    let list: Value = staff_api
        .request(Method::GET, "/api/v1/documents")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 1, "{list}");
    let by_id: Value = staff_api
        .request(Method::GET, &format!("/api/v1/documents?ids={secret_id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_id["total"], 0);
    for path in [
        format!("/api/v1/documents/{secret_id}"),
        format!("/documents/{secret_id}"),
        format!("/documents/{secret_id}/download"),
    ] {
        let response = staff_api.request(Method::GET, &path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let response = staff_api
        .request(Method::DELETE, &format!("/api/v1/documents/{secret_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let collections: Value = staff_api
        .request(Method::GET, "/api/v1/collections")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!collections.to_string().contains("\"HR\""));
    // The search page shows no HR count or snippet.
    let (_, html) = staff.page("/search?q=salary").await;
    assert!(!html.html().contains("zebracorn salary"));
    assert!(select_text(&html, "#no-results").contains("Nothing found"));
    // Admin → Access shows exactly what each person sees.
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
    let (_, html) = owner.page(&format!("/admin/access?user={sam_id}")).await;
    let summary = select_text(&html, "#access-summary");
    assert!(
        summary.contains("Policies") && !summary.contains("HR"),
        "{summary}"
    );
    // Granting Sam by name opens it; the owner still sees it.
    let response = owner
        .post_form(
            &format!("/admin/collections/{hr}"),
            &[
                ("name", "HR"),
                ("role", "owner"),
                ("role", "admin"),
                ("user", &sam_id.to_string()),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(search(&staff_api, "zebracorn").await["total"], 2);
    let download = staff_api
        .request(Method::GET, &format!("/documents/{secret_id}/download"))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    assert!(
        download.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert_eq!(
        download.bytes().await.unwrap().as_ref(),
        b"Confidential: the zebracorn salary band for managers is secret."
    );
}

#[tokio::test]
async fn personal_collections_are_private_and_staff_cannot_create_shared_ones_by_default() {
    let (server, owner) = TestServer::with_owner().await;
    let api = owner_api(&server, &owner).await;
    let staff = server.user(&owner, "sam", "staff").await;
    let staff_api = ApiClient::new(&server.base, &staff.api_key("sam").await);
    let mine = upload(
        &staff_api,
        None,
        &[("notes.txt", b"My private quokka notes.".to_vec())],
    )
    .await;
    assert_eq!(mine[0]["document"]["collection_name"], "My documents");
    settled(&staff_api, &ids_of(&mine)).await;
    assert_eq!(search(&staff_api, "quokka").await["total"], 1);
    // Not even the owner sees someone's own documents.
    assert_eq!(search(&api, "quokka").await["total"], 0);
    // Staff cannot create shared collections until the owner allows it.
    let response = staff
        .post_form("/collections", &[("name", "Team"), ("role", "staff")])
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = owner
        .post_form(
            "/admin/access/settings",
            &[("staff_create_collections", "on")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let response = staff
        .post_form("/collections", &[("name", "Team"), ("role", "staff")])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    // Staff cannot upload into a shared collection they did not create.
    let policies = collection(&api, &owner, "Policies", &["owner", "admin", "staff"]).await;
    let mut form = reqwest::multipart::Form::new().text("collection", policies.to_string());
    form = form.part(
        "file",
        reqwest::multipart::Part::bytes(b"x y z".to_vec()).file_name("x.txt"),
    );
    let response = staff_api
        .request(Method::POST, "/api/v1/documents")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn duplicates_versions_move_reprocess_and_delete() {
    let (server, owner) = TestServer::with_owner().await;
    let api = owner_api(&server, &owner).await;
    let first = upload(
        &api,
        None,
        &[("rota.txt", b"Monday: Alice opens the office.".to_vec())],
    )
    .await;
    let id = ids_of(&first)[0];
    settled(&api, &[id]).await;
    // The same content again: nothing changes.
    let again = upload(
        &api,
        None,
        &[("copy.txt", b"Monday: Alice opens the office.".to_vec())],
    )
    .await;
    assert_eq!(again[0]["outcome"], "duplicate");
    // A changed file under the same name replaces the old version.
    let changed = upload(
        &api,
        None,
        &[("rota.txt", b"Monday: Bob opens the office.".to_vec())],
    )
    .await;
    assert_eq!(changed[0]["outcome"], "replaced");
    assert_eq!(ids_of(&changed)[0], id);
    settled(&api, &[id]).await;
    assert_eq!(search(&api, "Alice").await["total"], 0);
    assert_eq!(search(&api, "Bob").await["total"], 1);
    // Move into a shared collection; the index follows.
    let archive = collection(&api, &owner, "Archive", &["owner"]).await;
    let moved: Value = api
        .request(Method::POST, &format!("/api/v1/documents/{id}/move"))
        .json(&json!({"collection": archive}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(moved["collection_name"], "Archive");
    let in_archive: Value = api
        .request(Method::GET, "/api/v1/search")
        .query(&[("q", "Bob"), ("collection", &archive.to_string())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(in_archive["total"], 1);
    // Re-process.
    let response = api
        .request(Method::POST, &format!("/api/v1/documents/{id}/reprocess"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    settled(&api, &[id]).await;
    // Delete: file, text and index entries go; the audit log says who.
    let stored: Vec<_> = std::fs::read_dir(server.data_dir.path().join("documents/files"))
        .unwrap()
        .collect();
    assert_eq!(stored.len(), 1);
    let response = api
        .request(Method::DELETE, &format!("/api/v1/documents/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(search(&api, "Bob").await["total"], 0);
    assert_eq!(
        std::fs::read_dir(server.data_dir.path().join("documents/files"))
            .unwrap()
            .count(),
        0
    );
    let audit: Value = api
        .request(Method::GET, "/api/v1/audit")
        .query(&[("action", "docs")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions = audit.to_string();
    for action in [
        "docs.uploaded",
        "docs.moved",
        "docs.reprocessed",
        "docs.deleted",
    ] {
        assert!(actions.contains(action), "{action} missing: {actions}");
    }
}

#[tokio::test]
async fn search_forgives_spelling_suggests_without_leaks_and_shows_documents_own_titles() {
    let (server, owner) = TestServer::with_owner().await;
    let api = owner_api(&server, &owner).await;
    let staff = server.user(&owner, "sam", "staff").await;
    let staff_api = ApiClient::new(&server.base, &staff.api_key("sam").await);
    let hr = collection(&api, &owner, "HR", &["owner", "admin"]).await;
    let policies = collection(&api, &owner, "Policies", &["owner", "admin", "staff"]).await;
    let shared = upload(
        &api,
        Some(policies),
        &[
            (
                "infection-control-v3.md",
                b"Read this first.\n\n# Infection control policy\n\nInstruments go through sterilisation after every use.\n".to_vec(),
            ),
            (
                "cleaning.html",
                b"<html><head><title>Microsoft Word - cleaning.docx</title></head><body>\
                  <h1>Cleaning rota</h1><p>The sterilization room is cleaned daily.</p></body></html>"
                    .to_vec(),
            ),
            ("parking notes.txt", b"Parking is behind the building.".to_vec()),
        ],
    )
    .await;
    let secret = upload(
        &api,
        Some(hr),
        &[(
            "restructuring.txt",
            b"The redundancies stay confidential until March.".to_vec(),
        )],
    )
    .await;
    let ids: Vec<i64> = ids_of(&shared).into_iter().chain(ids_of(&secret)).collect();
    settled(&api, &ids).await;

    // Either spelling finds both; titles come from the documents, file
    // names stay beside them.
    for query in ["sterilization", "sterilisation"] {
        let found = search(&staff_api, query).await;
        assert_eq!(found["total"], 2, "{query}: {found}");
        let mut named: Vec<(String, String)> = found["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h["title"].as_str().unwrap().to_string(),
                    h["file_name"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        named.sort();
        assert_eq!(
            named,
            [
                ("Cleaning rota".to_string(), "cleaning.html".to_string()),
                (
                    "Infection control policy".to_string(),
                    "infection-control-v3.md".to_string()
                ),
            ]
        );
        assert!(found["did_you_mean"].is_null(), "{found}");
    }
    let found = search(&staff_api, "sterilization").await;
    let snippets = found["hits"].to_string();
    assert!(
        snippets.contains("<mark>sterilisation</mark>"),
        "{snippets}"
    );
    assert!(
        snippets.contains("<mark>sterilization</mark>"),
        "{snippets}"
    );
    let documents: Value = staff_api
        .get_json(&format!("/api/v1/documents?ids={}", ids_of(&shared)[2]))
        .await
        .1;
    assert_eq!(documents["documents"][0]["title"], "parking notes");
    let (_, html) = staff.page("/documents").await;
    let titles = select_all_text(&html, "table a");
    assert!(
        titles.iter().any(|t| t == "Infection control policy"),
        "{titles:?}"
    );
    let (_, html) = staff.page("/search?q=sterilization").await;
    assert!(
        select_all_text(&html, ".result-file").contains(&"infection-control-v3.md".to_string()),
        "the file name shows beside a title taken from the document"
    );

    // A misspelt word: the closest word of the reader's documents.
    let found = search(&staff_api, "sterlisation").await;
    assert_eq!(found["total"], 0);
    assert_eq!(found["did_you_mean"], "sterilisation", "{found}");
    let (_, html) = staff.page("/search?q=Sterlisation+rota").await;
    assert_eq!(select_text(&html, "#did-you-mean a"), "Sterilisation rota");
    let link = select_attr(&html, "#did-you-mean a", "href");
    assert!(link.starts_with("/search?q=Sterilisation+rota"), "{link}");
    let (_, html) = staff.page(&link).await;
    assert!(select_text(&html, "#result-count").contains("1 document"));
    // No leaks: HR's word is suggested to the owner, never to staff.
    assert_eq!(
        search(&api, "redundansies").await["did_you_mean"],
        "redundancies"
    );
    let found = search(&staff_api, "redundansies").await;
    assert!(found["did_you_mean"].is_null(), "{found}");
    let (_, html) = staff.page("/search?q=redundansies").await;
    assert!(select_all_text(&html, "#did-you-mean").is_empty());
    assert!(!html.html().contains("redundancies"));
}

#[tokio::test]
async fn an_index_of_another_layout_is_rebuilt_from_the_database_at_start() {
    let (server, owner) = TestServer::with_owner().await;
    let api = owner_api(&server, &owner).await;
    let results = upload(
        &api,
        None,
        &[(
            "colours.txt",
            b"The colour chart of the waiting room.".to_vec(),
        )],
    )
    .await;
    settled(&api, &ids_of(&results)).await;
    let (config, dir) = server.stop_keeping_data().await;
    // What an older Hearth left behind: an index whose analysers differ
    // (here another language's; an older layout version is refused the same
    // way, see search::tests).
    let other = hearth::search::SearchConfig {
        language: "german".to_string(),
        ..hearth::search::SearchConfig::default()
    };
    drop(hearth::search::SearchIndex::recreate(&config.index_dir(), &other).unwrap());
    let server = TestServer::start_in(config, dir).await;
    let owner = server.client();
    owner.login("olivia", GOOD_PASSWORD).await;
    let api = owner_api(&server, &owner).await;
    let found = eventually_found(&api, "color").await;
    assert_eq!(found["total"], 1, "{found}");
}

/// Searches until the index is open (it is rebuilt in the background).
async fn eventually_found(api: &ApiClient, query: &str) -> Value {
    for _ in 0..300 {
        let response = api
            .request(Method::GET, "/api/v1/search")
            .query(&[("q", query)])
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::OK {
            let body: Value = response.json().await.unwrap();
            if body["total"] != 0 {
                return body;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{query} was never found");
}

#[tokio::test]
async fn ingestion_resumes_after_a_restart_without_indexing_twice() {
    let (server, owner) = TestServer::with_owner().await;
    let api = owner_api(&server, &owner).await;
    let files: Vec<(String, Vec<u8>)> = (0..12)
        .map(|i| {
            (
                format!("memo-{i}.txt"),
                format!("Memo {i}: the narwhal budget line {i} is approved.").into_bytes(),
            )
        })
        .collect();
    let named: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let results = upload(&api, None, &named).await;
    let ids = ids_of(&results);
    // Stop at once, with most of the queue unprocessed.
    let (config, dir) = server.stop_keeping_data().await;
    let server = TestServer::start_in(config, dir).await;
    let owner = server.client();
    owner.login("olivia", GOOD_PASSWORD).await;
    let api = owner_api(&server, &owner).await;
    let documents = settled(&api, &ids).await;
    assert!(
        documents.iter().all(|d| d["status"] == "indexed"),
        "{documents:?}"
    );
    let found = search(&api, "narwhal").await;
    assert_eq!(found["total"], 12, "each memo exactly once: {found}");
}

#[tokio::test]
async fn console_import_works_with_and_without_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let usb = tempfile::tempdir().unwrap();
    std::fs::create_dir(usb.path().join("old")).unwrap();
    std::fs::write(
        usb.path().join("letter.txt"),
        "A letter about the walrus contract.",
    )
    .unwrap();
    std::fs::write(
        usb.path().join("old/minutes.md"),
        "# Minutes\n\nThe walrus committee met on Tuesday.",
    )
    .unwrap();
    std::fs::copy(fixture("junk.pdf"), usb.path().join("broken.pdf")).unwrap();
    std::fs::write(usb.path().join(".hidden"), "skip me").unwrap();
    // No server: the import processes the files itself.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["docs", "import"])
        .arg(usb.path())
        .args(["--collection", "Old files", "--data-dir"])
        .arg(dir.path())
        .env("HEARTH_CONFIG", write_empty_config(dir.path()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "a file failed: {stdout}");
    assert!(stdout.contains("2 indexed"), "{stdout}");
    assert!(stdout.contains("broken.pdf"), "{stdout}");

    // With a server running on the same data directory, the import queues
    // and the server processes; the new documents appear in search.
    let config = hearth::config::Config {
        data_dir: dir.path().to_path_buf(),
        ..hearth::config::Config::default()
    };
    let server = TestServer::start_in(config, dir).await;
    let owner = server.client();
    owner.setup(&server.setup_code(), "olivia").await;
    let api = owner_api(&server, &owner).await;
    assert_eq!(search(&api, "walrus").await["total"], 2);
    let more = tempfile::tempdir().unwrap();
    std::fs::write(
        more.path().join("later.txt"),
        "The walrus budget was approved later.",
    )
    .unwrap();
    let data_dir = server.data_dir.path().to_path_buf();
    let path = more.path().to_path_buf();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_hearth"))
            .args(["docs", "import"])
            .arg(&path)
            .args(["--collection", "Old files", "--data-dir"])
            .arg(&data_dir)
            .env("HEARTH_CONFIG", write_empty_config(&data_dir))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("1 indexed"), "{stdout}");
    assert_eq!(search(&api, "walrus").await["total"], 3);
}

fn write_empty_config(dir: &Path) -> PathBuf {
    let path = dir.join("test-config.toml");
    std::fs::write(&path, "").unwrap();
    path
}

#[tokio::test]
async fn files_dropped_into_the_inbox_are_imported() {
    let server = TestServer::start_with(|c| c.documents.inbox_poll_secs = 1).await;
    let owner = server.client();
    owner.setup(&server.setup_code(), "olivia").await;
    let api = owner_api(&server, &owner).await;
    let inbox = server.data_dir.path().join("inbox");
    std::fs::create_dir_all(inbox.join("Clients")).unwrap();
    std::fs::write(
        inbox.join("Clients/acme.txt"),
        "Acme Ltd pays by the platypus invoice scheme.",
    )
    .unwrap();
    std::fs::write(inbox.join("loose.txt"), "A loose note about the platypus.").unwrap();
    for _ in 0..300 {
        if search(&api, "platypus").await["total"] == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let found = search(&api, "platypus").await;
    assert_eq!(found["total"], 2, "{found}");
    let collections: Vec<&str> = found["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["collection"].as_str().unwrap())
        .collect();
    assert!(
        collections.contains(&"Clients") && collections.contains(&"Inbox"),
        "{collections:?}"
    );
    assert!(!inbox.join("loose.txt").exists());
}

#[tokio::test]
async fn answers_from_documents_cite_passages_and_admit_when_nothing_matches() {
    let (server, owner) = TestServer::with_model(|_| {}).await;
    let api = owner_api(&server, &owner).await;
    let results = upload(&api, None, &[("opening-hours.txt", b"Opening hours: the dental practice opens at 8 and closes at 17 on weekdays. On Saturdays it is closed.".to_vec())]).await;
    settled(&api, &ids_of(&results)).await;
    let conversation: Value = api
        .request(Method::POST, "/api/v1/conversations")
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = conversation["id"].as_i64().unwrap();
    let answer: Value = api
        .request(
            Method::POST,
            &format!("/api/v1/conversations/{id}/messages"),
        )
        .json(&json!({"content": "When does the dental practice open on weekdays?"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        answer["source"]
            .as_str()
            .unwrap()
            .starts_with("documents+local:"),
        "{answer}"
    );
    // The page shows the passages used, linked to the document.
    let (_, html) = owner.page(&format!("/chat/{id}")).await;
    let sources = select_text(&html, ".sources");
    assert!(sources.contains("opening-hours"), "{sources}");
    assert!(html.html().contains("/documents/"));
    // Nothing relevant: the assistant says so instead of inventing.
    let answer: Value = api
        .request(
            Method::POST,
            &format!("/api/v1/conversations/{id}/messages"),
        )
        .json(&json!({"content": "What colour is the xylophone quarantine?", "documents": "only"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["source"], "documents:none", "{answer}");
    assert!(
        answer["content"]
            .as_str()
            .unwrap()
            .contains("found nothing")
    );
}

/// Issue 12: with documents on by default, ordinary questions got "I found
/// nothing about this in the documents". Automatic mode (the default) uses
/// documents only when the question finds good passages.
#[tokio::test]
async fn automatic_mode_uses_documents_only_when_they_match() {
    let (server, owner) = TestServer::with_model(|_| {}).await;
    let api = owner_api(&server, &owner).await;
    let results = upload(&api, None, &[("opening-hours.txt", b"Opening hours: the dental practice opens at 8 and closes at 17 on weekdays. On Saturdays it is closed. Invoices are sent monthly.".to_vec())]).await;
    settled(&api, &ids_of(&results)).await;
    let id = api
        .request(Method::POST, "/api/v1/conversations")
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let ask = async |content: &str, documents: Option<&str>| -> Value {
        let mut body = json!({ "content": content });
        if let Some(mode) = documents {
            body["documents"] = json!(mode);
        }
        api.request(
            Method::POST,
            &format!("/api/v1/conversations/{id}/messages"),
        )
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
    };
    let source = |answer: &Value| answer["source"].as_str().unwrap().to_string();
    // The default is automatic: a question the documents answer uses them.
    let answer = ask("When does the dental practice open on weekdays?", None).await;
    assert!(source(&answer).starts_with("documents+local:"), "{answer}");
    // An ordinary question (one shared word is not enough) gets an ordinary answer.
    let answer = ask(
        "How do I write a polite reminder for an unpaid invoice?",
        None,
    )
    .await;
    assert!(source(&answer).starts_with("local:"), "{answer}");
    let answer = ask("What is 15 % of 2,340?", None).await;
    assert!(source(&answer).starts_with("local:"), "{answer}");
    // Off: never documents, even when they match.
    let answer = ask(
        "When does the dental practice open on weekdays?",
        Some("off"),
    )
    .await;
    assert!(source(&answer).starts_with("local:"), "{answer}");
    // The choice sticks to the conversation, and the page shows it.
    let (_, html) = owner.page(&format!("/chat/{id}")).await;
    assert_eq!(
        select_attr(&html, "#documents-mode option[selected]", "value"),
        "off"
    );
    // No internal label anywhere on the page.
    for label in ["documents:none", "documents+local:", "local:"] {
        assert!(!select_text(&html, "#messages").contains(label), "{label}");
    }
}

/// Text of about `bytes` bytes in words that do not repeat much (so it
/// compresses as real text does), with `marker` at the start.
fn wordy_text(marker: &str, bytes: usize, seed: u64) -> Vec<u8> {
    const SYLLABLES: [&str; 16] = [
        "ka", "lo", "mi", "ren", "tu", "sa", "vel", "dor", "pi", "qua", "ne", "zo", "bri", "fen",
        "gal", "hu",
    ];
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut text = format!("{marker}\n\n");
    while text.len() < bytes {
        for _ in 0..12 {
            let mut word = String::new();
            for _ in 0..3 {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                word.push_str(SYLLABLES[(state >> 60) as usize]);
            }
            text.push_str(&word);
            text.push(' ');
        }
        text.push_str(".\n");
    }
    text.into_bytes()
}

async fn upload_one(api: &ApiClient, name: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
    );
    let response = api
        .request(Method::POST, "/api/v1/documents")
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn document_status(api: &ApiClient, id: i64) -> String {
    let (_, document) = api.get_json(&format!("/api/v1/documents/{id}")).await;
    document["status"].as_str().unwrap_or_default().to_string()
}

/// Issue 9: with the data directory on a small file system, 22 of 45
/// uploads answered "queued" were stored as empty files; sign-in and
/// deleting answered 500 on the full disk; and after a failed index commit
/// documents said "indexed" while search could not find them.
#[tokio::test]
async fn a_full_disk_loses_nothing_acknowledged_and_keeps_the_way_out_open() {
    let disk = SmallDisk::mount(40 * 1024 * 1024);
    let data_dir = disk.data_dir();
    let config = hearth::config::Config {
        data_dir: data_dir.path().to_path_buf(),
        storage: hearth::config::StorageConfig {
            min_free_mb: 0,
            min_free_percent: 0,
            reserve_mb: 2,
            ..hearth::config::StorageConfig::default()
        },
        ..hearth::config::Config::default()
    };
    let server = TestServer::start_in(config, data_dir).await;
    let owner = server.client();
    owner.setup(&server.setup_code(), "olivia").await;
    let api = owner_api(&server, &owner).await;

    // Upload until the disk is full: every upload answered "queued" must be
    // stored whole; the first that does not fit is told the disk is full.
    let mut acknowledged: Vec<(i64, String, Vec<u8>)> = Vec::new();
    let mut refused = None;
    for i in 0..80u64 {
        let marker = format!("zqmarker{i}");
        let bytes = wordy_text(&marker, 1_000_000, i);
        let (status, body) = upload_one(&api, &format!("file{i}.txt"), bytes.clone()).await;
        match status {
            StatusCode::CREATED => {
                let id = body["results"][0]["document"]["id"].as_i64().unwrap();
                acknowledged.push((id, marker, bytes));
            }
            StatusCode::INSUFFICIENT_STORAGE => {
                refused = Some(body);
                break;
            }
            other => panic!("upload {i}: {other} {body}"),
        }
    }
    let refused = refused.expect("the disk filled up");
    assert_eq!(refused["error"]["code"], "disk_full", "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("disk is full")
    );
    assert!(acknowledged.len() >= 3, "some uploads fit first");
    let partial = server.data_dir.path().join("documents/partial");
    let leftovers = std::fs::read_dir(&partial).map_or(0, |d| d.count());
    assert_eq!(leftovers, 0, "nothing half-written stays behind");
    for (id, _, bytes) in &acknowledged {
        let response = owner.get(&format!("/documents/{id}/download")).await;
        assert_eq!(response.status(), StatusCode::OK, "document {id}");
        let stored = response.bytes().await.unwrap();
        assert!(stored == bytes[..], "document {id} is stored whole");
    }

    // The way out stays open on the full disk: signing in, then deleting.
    let other = server.client();
    let signed_in = other.login("olivia", GOOD_PASSWORD).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER, "sign-in works");
    let (gone, _, _) = acknowledged.remove(0);
    let response = api
        .request(Method::DELETE, &format!("/api/v1/documents/{gone}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT, "deleting works");
    // Make room for what is left to be indexed (each 1 MB file takes about
    // 3 MB once its text is stored and indexed).
    let keep = acknowledged.len() - 3;
    for (id, _, _) in acknowledged.drain(..keep) {
        let response = api
            .request(Method::DELETE, &format!("/api/v1/documents/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }

    // A commit that fails leaves the document queued, not "indexed".
    let everything_settled = settled(
        &api,
        &acknowledged
            .iter()
            .map(|(id, _, _)| *id)
            .collect::<Vec<_>>(),
    )
    .await;
    let (reprocessed, marker, _) = acknowledged
        .iter()
        .zip(&everything_settled)
        .find(|(_, d)| d["status"] == "indexed")
        .map(|(a, _)| a.clone())
        .expect("an indexed document");
    let filler = {
        // Leave room for the database's small writes, not for an index commit.
        let path = disk.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        use std::io::Write;
        let block = vec![0u8; 64 * 1024];
        while disk.free() > 384 * 1024 && file.write_all(&block).is_ok() {}
        file.sync_all().unwrap();
        path
    };
    let response = api
        .request(
            Method::POST,
            &format!("/api/v1/documents/{reprocessed}/reprocess"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // The worker takes it up again and its commit fails: back to the queue.
    let mut seen: Vec<String> = Vec::new();
    eventually(
        "the document was processed and put back in the queue",
        Duration::from_secs(120),
        async || {
            let status = document_status(&api, reprocessed).await;
            assert_ne!(
                status, "indexed",
                "not indexed while the index cannot be committed"
            );
            if seen.last() != Some(&status) {
                seen.push(status);
            }
            seen.ends_with(&["processing".to_string(), "queued".to_string()])
        },
    )
    .await;

    // Room again: everything converges, and the index agrees with the database.
    std::fs::remove_file(filler).unwrap();
    acknowledged.retain(|(id, _, _)| *id != reprocessed);
    let (status, body) = upload_one(&api, "after.txt", wordy_text("zqafter", 200_000, 999)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let after = body["results"][0]["document"]["id"].as_i64().unwrap();
    let mut ids: Vec<i64> = acknowledged.iter().map(|(id, _, _)| *id).collect();
    ids.extend([reprocessed, after]);
    let documents = settled(&api, &ids).await;
    assert!(
        documents.iter().all(|d| d["status"] == "indexed"),
        "{documents:?}"
    );
    let found = search(&api, &marker).await;
    assert_eq!(found["total"], 1, "the re-processed document is searchable");
    assert_eq!(search(&api, "zqafter").await["total"], 1);
    // Deletions the full disk kept out of the index are put right too.
    let index = server.state.search.index().unwrap();
    let (_, listing) = api
        .get_json("/api/v1/documents?status=indexed&limit=500")
        .await;
    let indexed = listing["total"].as_i64().unwrap();
    let mut in_index = 0;
    for _ in 0..100 {
        in_index = index.counts().0 as i64;
        if in_index == indexed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(in_index, indexed, "the index and the database agree");
}

/// Issue 9: under the free-space floor, uploads are refused before they
/// start, the pages say why, and /readyz reports it.
#[tokio::test]
async fn uploads_are_refused_under_the_free_space_floor() {
    let disk = SmallDisk::mount(24 * 1024 * 1024);
    let data_dir = disk.data_dir();
    let config = hearth::config::Config {
        data_dir: data_dir.path().to_path_buf(),
        storage: hearth::config::StorageConfig {
            min_free_mb: 8,
            min_free_percent: 50,
            reserve_mb: 1,
            ..hearth::config::StorageConfig::default()
        },
        ..hearth::config::Config::default()
    };
    let server = TestServer::start_in(config, data_dir).await;
    let owner = server.client();
    owner.setup(&server.setup_code(), "olivia").await;
    let api = owner_api(&server, &owner).await;
    let ready = reqwest::get(format!("{}/readyz", server.base))
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);

    let filler = disk.path().join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    use std::io::Write;
    while disk.free() > 4 * 1024 * 1024 {
        file.write_all(&vec![0u8; 256 * 1024]).unwrap();
    }
    file.sync_all().unwrap();
    drop(file);
    let (status, body) = upload_one(&api, "small.txt", b"a small file".to_vec()).await;
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{body}");
    assert_eq!(body["error"]["code"], "disk_full");
    let ready = reqwest::get(format!("{}/readyz", server.base))
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(ready.text().await.unwrap().contains("disk full"));
    let (_, html) = owner.page("/documents").await;
    assert!(select_text(&html, "#disk-full").contains("uploads are paused"));
    assert!(select_text(&html, "#disk-warning").contains("nearly full"));

    std::fs::remove_file(filler).unwrap();
    let (status, body) = upload_one(&api, "small.txt", b"a small file".to_vec()).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{body} with {} free",
        disk.free()
    );
}

/// Issue 9: an upload in which every file was rejected answered 201, and
/// one request could carry any number of large files.
#[tokio::test]
async fn uploads_that_take_nothing_are_refused_and_requests_have_a_total_limit() {
    let server = TestServer::start_with(|c| {
        c.documents.max_upload_bytes = 64 * 1024;
        c.documents.max_request_bytes = 100 * 1024;
    })
    .await;
    let owner = server.client();
    owner.setup(&server.setup_code(), "olivia").await;
    let api = owner_api(&server, &owner).await;

    let (status, body) = upload_one(&api, "empty.txt", Vec::new()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["results"][0]["outcome"], "rejected");
    assert!(
        body["results"][0]["error"]
            .as_str()
            .unwrap()
            .contains("empty")
    );

    let (status, body) = upload_one(&api, "big.txt", vec![b'a'; 80 * 1024]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large");
    assert!(
        body["results"][0]["error"]
            .as_str()
            .unwrap()
            .contains("larger than the limit")
    );

    // Two files of 60 KB are each fine, but not together.
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(vec![b'a'; 60 * 1024]).file_name("one.txt"),
        )
        .part(
            "file",
            reqwest::multipart::Part::bytes(vec![b'b'; 60 * 1024]).file_name("two.txt"),
        );
    let response = api
        .request(Method::POST, "/api/v1/documents")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // One good file among bad ones: 201, with each file's result.
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(Vec::new()).file_name("empty.txt"),
        )
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"hello there".to_vec()).file_name("good.txt"),
        );
    let response = api
        .request(Method::POST, "/api/v1/documents")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["results"][0]["outcome"], "rejected");
    assert_eq!(body["results"][1]["outcome"], "queued");
}

/// Issue 9: a collection named like a Markdown link planted a clickable
/// link in the "nothing found" answer for everyone who sees it.
#[tokio::test]
async fn collection_names_are_text_in_answers() {
    let (server, owner) = TestServer::with_owner().await;
    let api = owner_api(&server, &owner).await;
    let name = "Policies [Reset your password](http://evil.example/reset) <b>now</b>";
    collection(&api, &owner, name, &["owner", "admin", "staff"]).await;
    for _ in 0..600 {
        if server.state.search.index().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let response = api
        .request(Method::POST, "/api/v1/conversations")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let response = api
        .request(
            Method::POST,
            &format!("/api/v1/conversations/{id}/messages"),
        )
        .json(&json!({ "content": "What does the parking policy say?", "documents": "only" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["source"], "documents:none", "{answer}");
    let (_, html) = owner.page(&format!("/chat/{id}")).await;
    let links = select_all_text(&html, ".from-assistant a");
    assert!(links.is_empty(), "no link in the answer: {links:?}");
    let bubble = html
        .select(&scraper::Selector::parse(".from-assistant").unwrap())
        .next()
        .unwrap()
        .html();
    assert!(!bubble.contains("href=\"http://evil.example"), "{bubble}");
    assert!(!bubble.contains("<b>"), "{bubble}");
    assert!(
        select_text(&html, ".from-assistant")
            .contains("[Reset your password](http://evil.example/reset)"),
        "the name is shown as it was typed"
    );
}

/// Issue 9: `invoice-<U+202E>txt.exe` was listed as "invoice-exe.txt".
/// Bidirectional controls leave every name people type or upload.
#[tokio::test]
async fn names_lose_bidirectional_controls() {
    let (server, owner) = TestServer::with_owner().await;
    let api = owner_api(&server, &owner).await;
    let results = upload(
        &api,
        None,
        &[("invoice-\u{202E}txt.exe", b"An invoice.".to_vec())],
    )
    .await;
    assert_eq!(results[0]["file_name"], "invoice-txt.exe");
    assert_eq!(results[0]["document"]["file_name"], "invoice-txt.exe");
    let (_, html) = owner.page("/documents").await;
    assert!(!html.html().contains('\u{202E}'));

    let name = "Quality \u{2066}team\u{2069}";
    collection(&api, &owner, "Quality team", &["owner"]).await;
    let response = owner
        .post_form("/collections", &[("name", name), ("role", "owner")])
        .await;
    // The cleaned name is taken already: refused as a duplicate, not stored twice.
    assert_ne!(response.status(), StatusCode::SEE_OTHER);

    let response = owner
        .post_form(
            "/admin/users",
            &[
                ("display_name", "Mallory \u{202E}rotartsinimdA"),
                ("username", "mallory"),
                ("role", "staff"),
                ("password", GOOD_PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, users) = api.get_json("/api/v1/users").await;
    let mallory = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "mallory")
        .unwrap();
    assert_eq!(mallory["display_name"], "Mallory rotartsinimdA");

    let response = api
        .request(Method::POST, "/api/v1/conversations")
        .json(&json!({ "title": "Budget \u{202E}2026" }))
        .send()
        .await
        .unwrap();
    let conversation: Value = response.json().await.unwrap();
    assert_eq!(conversation["title"], "Budget 2026");
}

/// Scans are read by OCR: a word on a scanned page is found with its page
/// number, a photo of text is indexed, the document says it was read by
/// OCR, and a picture too large for OCR fails with a reason.
#[tokio::test]
async fn scanned_documents_are_read_by_ocr_and_say_so() {
    let (server, owner) = TestServer::with_owner().await;
    let api = owner_api(&server, &owner).await;
    let results = upload_fixtures(&api, None, &["scanned.pdf", "scan.png", "huge.png"]).await;
    let documents = settled(&api, &ids_of(&results)).await;
    let by_name = |name: &str| documents.iter().find(|d| d["file_name"] == name).unwrap();
    let scanned = by_name("scanned.pdf");
    assert_eq!(scanned["status"], "indexed", "{scanned}");
    assert_eq!(scanned["ocr_pages"], 2, "{scanned}");
    assert_eq!(by_name("scan.png")["ocr_pages"], 1);
    let huge = by_name("huge.png");
    assert_eq!(huge["error_code"], "too_large", "{huge}");
    assert!(
        huge["error_reason"].as_str().unwrap().contains("pixels"),
        "{huge}"
    );

    let found = search(&api, "summer party").await;
    let hit = &found["hits"][0];
    assert_eq!(hit["file_name"], "scanned.pdf", "{found}");
    assert_eq!(hit["page"], 1, "{found}");
    let found = search(&api, "copier").await;
    assert_eq!(found["hits"][0]["file_name"], "scan.png", "{found}");

    let id = scanned["id"].as_i64().unwrap();
    let (status, html) = owner.page(&format!("/documents/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(select_text(&html, "#document-ocr"), "Read by OCR (2 pages)");
    assert!(select_text(&html, "#page-2").contains("quarterly budget review"));
}

/// Issue 9: one 2.2 MB deeply nested HTML file held up processing for
/// everyone for about two minutes (a colleague's 23-byte file waited 125 s).
#[tokio::test]
async fn a_hostile_file_does_not_hold_up_a_colleagues_small_one() {
    let (server, owner) = TestServer::with_owner().await;
    let api = owner_api(&server, &owner).await;
    let colleague = server.user(&owner, "sam", "staff").await;
    let colleague_api = ApiClient::new(&server.base, &colleague.api_key("sam").await);
    let depth = 100_000;
    let bomb = format!(
        "<html><body>{}deep text{}</body></html>",
        "<div>".repeat(depth),
        "</div>".repeat(depth)
    );
    let bombs = upload(
        &api,
        None,
        &[
            ("nested.html", bomb.clone().into_bytes()),
            ("nested-2.html", format!("{bomb} ").into_bytes()),
        ],
    )
    .await;
    let started = std::time::Instant::now();
    let small = upload(
        &colleague_api,
        None,
        &[("note.txt", b"Lunch at noon.".to_vec())],
    )
    .await;
    let small = ids_of(&small);
    let documents = settled(&colleague_api, &small).await;
    assert_eq!(documents[0]["status"], "indexed");
    // Before: 125 s behind one such file. The bound leaves room for a
    // two-core machine running the whole suite with extraction at nice 19.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the small file waited {:?}",
        started.elapsed()
    );
    let hostile = settled(&api, &ids_of(&bombs)).await;
    assert!(
        hostile.iter().all(|d| d["status"] == "indexed"),
        "{hostile:?}"
    );
}

/// Issue 9: half-written uploads left by a crash in `documents/partial/`
/// were never removed.
#[tokio::test]
async fn half_written_uploads_are_removed_at_start() {
    let data_dir = tempfile::tempdir().unwrap();
    let partial = data_dir.path().join("documents/partial");
    std::fs::create_dir_all(&partial).unwrap();
    std::fs::write(partial.join("leftover"), b"half a file").unwrap();
    let config = hearth::config::Config {
        data_dir: data_dir.path().to_path_buf(),
        ..hearth::config::Config::default()
    };
    let server = TestServer::start_in(config, data_dir).await;
    for _ in 0..600 {
        if server.state.search.index().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!partial.join("leftover").exists());
}

/// Issue 10: `GET /documents?page=4294967295` panicked a debug build. Every
/// list clamps its page number.
#[tokio::test]
async fn huge_page_numbers_are_clamped_everywhere() {
    let (_server, owner) = TestServer::with_owner().await;
    for path in [
        "/documents?page=4294967295",
        "/documents?page=18446744073709551615",
        "/search?q=budget&page=4294967295",
        "/admin/audit?page=18446744073709551615",
    ] {
        let response = owner.get(path).await;
        assert!(
            response.status() == StatusCode::OK
                || response.status() == StatusCode::SERVICE_UNAVAILABLE,
            "{path}: {}",
            response.status()
        );
    }
}

#[tokio::test]
async fn move_to_starts_at_the_current_collection_and_moving_there_changes_nothing() {
    let (server, owner) = TestServer::with_owner().await;
    let api = owner_api(&server, &owner).await;
    let front = collection(&api, &owner, "Front desk", &["owner", "admin", "staff"]).await;
    collection(&api, &owner, "Archive", &["owner", "admin"]).await;
    let results = upload(&api, Some(front), &[("Fees 2026.txt", b"Fees.".to_vec())]).await;
    let id = ids_of(&results)[0];
    let (_, html) = owner.page(&format!("/documents/{id}")).await;
    assert_eq!(
        select_attr(&html, "#move-to option[selected]", "value"),
        front.to_string(),
        "the private collection is not the default"
    );
    assert!(select_all_text(&html, "#move-to option").len() >= 3);
    let response = owner
        .post_form(
            &format!("/documents/{id}/move"),
            &[("collection", &front.to_string())],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = owner.page(&location(&response)).await;
    assert_eq!(
        select_text(&html, ".flash"),
        "Fees 2026.txt is already in Front desk; nothing was moved."
    );
    let audit = server
        .state
        .store
        .audit(hearth::store::AuditFilter {
            action: Some("docs.moved".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.total, 0, "a no-op is not recorded as a move");
    // The API answers the document as it is.
    let moved: Value = api
        .request(Method::POST, &format!("/api/v1/documents/{id}/move"))
        .json(&serde_json::json!({ "collection": front }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(moved["collection_id"], front);
}

#[tokio::test]
async fn collections_admin_is_a_list_with_a_page_each_and_one_place_to_create() {
    let (server, owner) = TestServer::with_owner().await;
    let api = owner_api(&server, &owner).await;
    // Created on the Collections page; an admin lands on its own page.
    let response = owner
        .post_form(
            "/collections",
            &[("name", "Front desk"), ("role", "owner"), ("role", "staff")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let edit = location(&response);
    assert!(edit.starts_with("/admin/collections/"), "{edit}");
    // The admin area's old form posts there too (308 keeps the form).
    let response = owner
        .post_form("/admin/collections", &[("name", "Old form")])
        .await;
    assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(location(&response), "/collections");
    let (_, html) = owner.page("/collections").await;
    assert_eq!(
        select_attr(&html, "#new-collection form", "action"),
        "/collections"
    );
    let (_, html) = owner.page("/admin/collections").await;
    assert!(
        html.select(&scraper::Selector::parse("#new-collection form").unwrap())
            .next()
            .is_none(),
        "no second form"
    );
    assert_eq!(
        select_attr(&html, "#new-collection-link", "href"),
        "/collections#new-collection"
    );

    for n in 0..30 {
        collection(&api, &owner, &format!("Client {n:02}"), &["owner"]).await;
    }
    let front = collection(&api, &owner, "Front desk 2", &["owner", "admin"]).await;
    let (status, html) = owner.page("/admin/collections").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        select_text(&html, "#collections-list h2"),
        "32 shared collections"
    );
    assert_eq!(
        select_all_text(&html, "#collections-admin tbody tr").len(),
        25
    );
    assert_eq!(select_text(&html, ".pager span"), "Page 1 of 2");
    assert!(
        html.select(&scraper::Selector::parse("#collections-admin form").unwrap())
            .next()
            .is_none(),
        "a list, not open forms"
    );
    let (_, html) = owner.page("/admin/collections?page=2").await;
    let names = select_all_text(&html, "#collections-admin .collection-name");
    assert_eq!(names.len(), 7, "{names:?}");
    assert!(
        names.ends_with(&["Front desk".to_string(), "Front desk 2".to_string()]),
        "by name: {names:?}"
    );
    let row = select_text(&html, &format!("#collection-{front}"));
    assert!(
        row.contains("Owners and admins") && row.contains("Olivia Owner") && row.contains("Empty"),
        "{row}"
    );

    // Its page: the form, a rename that clashes keeps what was typed.
    let (status, html) = owner.page(&format!("/admin/collections/{front}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(select_attr(&html, "#c-name", "value"), "Front desk 2");
    assert_eq!(
        select_attr(&html, "#collection-settings form", "data-current-name"),
        "Front desk 2"
    );
    let response = owner
        .post_form(
            &format!("/admin/collections/{front}"),
            &[
                ("name", "Front desk"),
                ("description", "typed"),
                ("role", "owner"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let html = scraper::Html::parse_document(&response.text().await.unwrap());
    assert_eq!(
        select_text(&html, "#collection-error"),
        "A collection with this name already exists."
    );
    assert_eq!(select_attr(&html, "#c-description", "value"), "typed");
    let response = owner
        .post_form(
            &format!("/admin/collections/{front}"),
            &[("name", "Reception"), ("role", "owner"), ("role", "admin")],
        )
        .await;
    assert_eq!(location(&response), format!("/admin/collections/{front}"));
    // Deleting one that holds documents says why not; an empty one goes.
    upload(&api, Some(front), &[("a.txt", b"alpha".to_vec())]).await;
    let response = owner
        .post_form(&format!("/admin/collections/{front}/delete"), &[])
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let html = scraper::Html::parse_document(&response.text().await.unwrap());
    assert!(select_text(&html, "#collection-error").contains("still holds 1 document"));
    let empty = collection(&api, &owner, "Temporary", &["owner"]).await;
    let response = owner
        .post_form(&format!("/admin/collections/{empty}/delete"), &[])
        .await;
    assert_eq!(location(&response), "/admin/collections");
    assert_eq!(
        owner
            .get(&format!("/admin/collections/{empty}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let mine = server
        .state
        .store
        .personal_collection(hearth::store::UserId(1))
        .await
        .unwrap();
    assert_eq!(
        owner
            .get(&format!("/admin/collections/{}", mine.id.0))
            .await
            .status(),
        StatusCode::NOT_FOUND,
        "personal collections are not managed here"
    );

    let audit = server
        .state
        .store
        .audit(hearth::store::AuditFilter {
            action: Some("collection".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let actions: Vec<_> = audit.records.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        &actions[..2],
        ["collection.deleted", "collection.created"],
        "{actions:?}"
    );
    assert!(actions.contains(&"collection.renamed"), "{actions:?}");
}
