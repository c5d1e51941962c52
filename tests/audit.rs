//! The audit log's proof against tampering (issue 14): an entry edited,
//! removed, the tail cut off, or the whole chain rebuilt and signed with
//! another key is each caught by `hearth audit verify`, the API and the
//! admin page, which name the first altered or missing entry.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::common::*;

/// A box with an owner and a few entries, a signed checkpoint of them, and
/// an API key to check with.
async fn box_with_history() -> (TestServer, Client, ApiClient) {
    let (server, owner) = TestServer::with_owner().await;
    for name in ["tom", "sam"] {
        server.user(&owner, name, "staff").await;
    }
    let key = owner.api_key("audit").await;
    let api = ApiClient::new(&server.base, &key);
    checkpoint(&server).await;
    (server, owner, api)
}

async fn checkpoint(server: &TestServer) {
    server
        .state
        .ledger
        .checkpoint(&server.state.store)
        .await
        .unwrap();
}

async fn verify(api: &ApiClient) -> Value {
    let response = api
        .request(Method::POST, "/api/v1/audit/verify")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// Changes the database the way someone with the file would: the
/// append-only triggers dropped first.
fn tamper(server: &TestServer, sql: &str) {
    let conn = rusqlite::Connection::open(server.db_path()).unwrap();
    conn.execute_batch(&format!(
        "DROP TRIGGER IF EXISTS audit_log_no_update;
         DROP TRIGGER IF EXISTS audit_log_no_delete;
         {sql}"
    ))
    .unwrap();
}

fn problems(verdict: &Value) -> Vec<Value> {
    verdict["problems"].as_array().unwrap().clone()
}

#[tokio::test]
async fn an_untouched_log_is_intact_and_agrees_with_its_checkpoints() {
    let (server, owner, api) = box_with_history().await;
    let verdict = verify(&api).await;
    assert_eq!(problems(&verdict), Vec::<Value>::new(), "{verdict}");
    assert!(verdict["entries"].as_u64().unwrap() >= 4, "{verdict}");
    assert!(verdict["checkpoints"].as_u64().unwrap() >= 1, "{verdict}");
    // The check is itself in the log, and the log still verifies after it.
    let checks = server.audit_of("audit.verified").await;
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].outcome, hearth::store::AuditOutcome::Ok);
    assert_eq!(problems(&verify(&api).await), Vec::<Value>::new());

    // The page's button says the same, and the checkpoints download.
    let response = owner.post_form("/admin/audit/verify", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = scraper::Html::parse_document(&response.text().await.unwrap());
    assert!(
        select_text(&html, "#audit-verdict").contains("The log is intact"),
        "{}",
        select_text(&html, "#audit-verdict")
    );
    let download = owner.get("/admin/audit/checkpoints").await;
    assert_eq!(download.status(), StatusCode::OK);
    let text = download.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for log in ["audit", "egress"] {
        assert!(
            lines
                .iter()
                .any(|c| c["log"] == log && c["key"] == server.state.ledger.public_key()),
            "{text}"
        );
    }
}

#[tokio::test]
async fn an_edited_entry_is_named() {
    let (server, _owner, api) = box_with_history().await;
    tamper(
        &server,
        "UPDATE audit_log SET actor = 'nobody' WHERE id = 2;",
    );
    let verdict = verify(&api).await;
    let found = problems(&verdict);
    assert_eq!(found[0]["kind"], "altered", "{verdict}");
    assert_eq!(found[0]["id"], 2, "{verdict}");
    assert_eq!(found.len(), 1, "only the edited entry: {verdict}");
    assert!(
        verdict["sentences"][0]
            .as_str()
            .unwrap()
            .contains("entry 2 was changed")
    );
    // The finding is recorded as a failed check.
    let checks = server.audit_of("audit.verified").await;
    assert_eq!(checks[0].outcome, hearth::store::AuditOutcome::Failed);
    assert!(checks[0].detail.contains("entry 2"), "{}", checks[0].detail);
}

#[tokio::test]
async fn a_removed_entry_is_named() {
    let (server, _owner, api) = box_with_history().await;
    tamper(&server, "DELETE FROM audit_log WHERE id = 3;");
    let verdict = verify(&api).await;
    let found = problems(&verdict);
    assert_eq!(found[0]["kind"], "missing", "{verdict}");
    assert_eq!(
        (found[0]["from"].as_i64(), found[0]["to"].as_i64()),
        (Some(3), Some(3))
    );
}

#[tokio::test]
async fn a_log_cut_short_is_caught_against_the_checkpoint() {
    let (server, _owner, api) = box_with_history().await;
    let (last, _) = server
        .state
        .store
        .chain_head(hearth::store::Log::Audit)
        .await
        .unwrap();
    // The newest entries removed and the counter wound back, so no gap shows
    // in the entries themselves.
    tamper(
        &server,
        &format!(
            "DELETE FROM audit_log WHERE id > {keep};
             UPDATE sqlite_sequence SET seq = {keep} WHERE name = 'audit_log';",
            keep = last - 2
        ),
    );
    let verdict = verify(&api).await;
    let found = problems(&verdict);
    assert_eq!(found[0]["kind"], "truncated", "{verdict}");
    assert_eq!(found[0]["entries"], last - 2);
    assert_eq!(found[0]["checkpoint_seq"], last);
}

/// Someone with the database rewrites an entry and recomputes every hash
/// after it, so the chain holds together again, then signs new checkpoints
/// with a key of their own: the box's own checkpoints no longer match, and
/// the new ones are not signed by the box.
#[tokio::test]
async fn a_chain_rebuilt_and_signed_with_another_key_is_caught() {
    let (server, _owner, api) = box_with_history().await;
    tamper(
        &server,
        "UPDATE audit_log SET actor = 'nobody' WHERE id = 2;",
    );
    let store = &server.state.store;
    let links = store
        .chain(hearth::store::Log::Audit, 0, 10_000)
        .await
        .unwrap();
    let conn = rusqlite::Connection::open(server.db_path()).unwrap();
    let mut prev = hearth::store::GENESIS;
    for link in &links {
        prev = hearth::store::link_hash(hearth::store::Log::Audit, &prev, &link.content);
        conn.execute(
            "UPDATE audit_log SET hash = ?1 WHERE id = ?2",
            rusqlite::params![prev.as_slice(), link.id],
        )
        .unwrap();
    }
    // The chain alone now holds.
    let dir = server.data_dir.path().join("audit");
    let forged = tempfile::tempdir().unwrap();
    let signer = hearth::audit::chain::Signer::load_or_create(forged.path()).unwrap();
    let checkpoints = hearth::audit::chain::Checkpoints::new(&dir);
    checkpoints.write(store, &signer).await.unwrap();

    let verdict = verify(&api).await;
    let kinds: Vec<String> = problems(&verdict)
        .iter()
        .map(|p| p["kind"].as_str().unwrap().to_string())
        .collect();
    assert!(kinds.iter().any(|k| k == "rewritten"), "{verdict}");
    assert!(kinds.iter().any(|k| k == "foreign_key"), "{verdict}");
    assert!(!kinds.iter().any(|k| k == "altered"), "{verdict}");

    // Even with the box's own checkpoints thrown away, the forged ones do
    // not count, and say so.
    std::fs::remove_file(checkpoints.path()).unwrap();
    checkpoints.write(store, &signer).await.unwrap();
    let verdict = verify(&api).await;
    assert_eq!(problems(&verdict)[0]["kind"], "foreign_key", "{verdict}");
    assert_eq!(verdict["checkpoints"], 0);
}

/// Entries written before the log was a chain are sealed when the database
/// is migrated, and verify afterwards.
#[tokio::test]
async fn entries_from_before_the_chain_are_sealed_by_the_migration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hearth.db");
    hearth::store::create_at_version(&path, 7).unwrap();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "INSERT INTO audit_log (at, actor, action, target) VALUES
                 (1, 'olivia', 'setup.completed', 'Dental'),
                 (2, 'olivia', 'auth.login', 'olivia'),
                 (3, 'tom', 'auth.login', 'tom');",
        )
        .unwrap();
    }
    let store = hearth::store::Store::open(&path).unwrap();
    let links = store
        .chain(hearth::store::Log::Audit, 0, 100)
        .await
        .unwrap();
    assert_eq!(links.len(), 3);
    assert!(links.iter().all(|l| l.hash.is_some()));
    let ledger = hearth::audit::chain::Ledger::open(dir.path()).unwrap();
    let verdict = ledger.verify(&store).await.unwrap();
    assert!(verdict.intact(), "{:?}", verdict.problems);
    assert_eq!(verdict.entries, 3);
    // New entries continue the chain.
    hearth::audit::record(
        &store,
        hearth::audit::Actor::Console,
        "",
        hearth::audit::Event::ok("auth.logout", hearth::audit::Target::Nothing),
    )
    .await
    .unwrap();
    assert!(ledger.verify(&store).await.unwrap().intact());
}

/// `hearth audit verify` at the console: exit status 1 and the first
/// altered entry named.
#[tokio::test]
async fn the_console_command_fails_on_a_tampered_log() {
    let dir = tempfile::tempdir().unwrap();
    ChildServer::prepare(dir.path(), "");
    let good = ChildServer::console(dir.path(), &["audit", "verify"], "");
    assert!(good.status.success(), "{good:?}");
    assert!(String::from_utf8_lossy(&good.stdout).contains("intact"));
    let conn = rusqlite::Connection::open(dir.path().join("hearth.db")).unwrap();
    conn.execute_batch(
        "DROP TRIGGER audit_log_no_update;
         UPDATE audit_log SET detail = 'changed' WHERE id = 1;",
    )
    .unwrap();
    let bad = ChildServer::console(dir.path(), &["audit", "verify"], "");
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(out.contains("entry 1 was changed"), "{out}");
}

/// The egress log is chained and checkpointed the same way: a request
/// edited in it is named.
#[tokio::test]
async fn an_edited_egress_entry_is_named() {
    let (server, _owner, api) = box_with_history().await;
    let store = &server.state.store;
    let id = store
        .egress_begin(hearth::store::NewEgress {
            at: store.now(),
            purpose: hearth::store::EgressPurpose::UpdateCheck,
            actor_id: None,
            actor: "hearth".into(),
            endpoint: "https://updates.example.com/latest.json".into(),
            model: String::new(),
            conversation: None,
            bytes_sent: 0,
            redactions: Default::default(),
            outcome: hearth::store::EgressOutcome::Sending,
            detail: String::new(),
        })
        .await
        .unwrap();
    store
        .egress_end(id, hearth::store::EgressOutcome::Ok, 120, String::new())
        .await
        .unwrap();
    checkpoint(&server).await;
    assert_eq!(problems(&verify(&api).await), Vec::<Value>::new());
    let conn = rusqlite::Connection::open(server.db_path()).unwrap();
    conn.execute_batch(
        "DROP TRIGGER egress_log_no_update;
         UPDATE egress_log SET bytes_sent = 0, endpoint = 'https://elsewhere.example/' WHERE id = 1;",
    )
    .unwrap();
    let verdict = verify(&api).await;
    let found = problems(&verdict);
    assert_eq!(found[0]["kind"], "altered", "{verdict}");
    assert_eq!(found[0]["log"], "egress", "{verdict}");
    assert_eq!(found[0]["id"], 1);
    assert!(
        verdict["sentences"][0]
            .as_str()
            .unwrap()
            .contains("egress log entry 1 was changed"),
        "{verdict}"
    );
}
