//! Backups (issue 15): `hearth backup` while the server runs, then the data
//! directory gone, `hearth restore` on a fresh one, and the same database
//! (a canonical dump of every table that matters) and the same search
//! results come back, with every session ended; a wrong passphrase, a
//! flipped byte and a cut-off archive are each refused without changing
//! anything; a box with accounts is not overwritten unless asked.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

const PASSPHRASE: &str = "lantern copper meadow river";

/// Every row of the tables a restore must bring back, as text, ordered;
/// the audit log without the backup's own entries (written after the copy
/// was taken, and by the restore).
pub fn dump(db: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut out = Vec::new();
    for (table, filter) in [
        ("users", ""),
        ("api_keys", ""),
        ("collections", ""),
        ("documents", ""),
        ("chunks", ""),
        ("conversations", ""),
        ("messages", ""),
        ("settings", ""),
        ("settings_history", ""),
        ("egress_log", ""),
        ("customers", ""),
        ("appointments", ""),
        (
            "audit_log",
            "WHERE action NOT IN ('backup.created', 'backup.restored')",
        ),
    ] {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM {table} {filter} ORDER BY 1, 2"))
            .unwrap();
        let columns = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                let mut row = Vec::new();
                for i in 0..columns {
                    row.push(format!("{:?}", r.get_ref(i)?));
                }
                Ok(format!("{table}: {}", row.join(" | ")))
            })
            .unwrap();
        out.extend(rows.map(Result::unwrap));
    }
    out
}

async fn search_ids(api: &ApiClient, query: &str) -> Vec<i64> {
    let response = api
        .request(Method::GET, "/api/v1/search")
        .query(&[("q", query)])
        .send()
        .await
        .unwrap();
    // While the restored box rebuilds its index, search says so.
    if response.status() == StatusCode::SERVICE_UNAVAILABLE {
        return Vec::new();
    }
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .filter_map(|h| h["document_id"].as_i64())
        .collect()
}

fn only_archive(dir: &std::path::Path) -> std::path::PathBuf {
    let archives: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "hearthbackup"))
        .collect();
    assert_eq!(archives.len(), 1, "{archives:?}");
    archives[0].clone()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

#[tokio::test]
async fn a_backup_restores_the_same_data_and_damaged_ones_are_refused() {
    // No in-process server here: the test's own HTTP client needs TLS set up.
    hearth::chat::models::download::install_tls_provider();
    let root = tempfile::tempdir().unwrap();
    let old = root.path().join("old");
    let key = ChildServer::prepare(&old, "");
    let mut server = ChildServer::start(&old).await;
    let api = ApiClient::new(&server.base, &key);
    let refund = api
        .upload_indexed(
            None,
            "refund.txt",
            "Refunds are given within 30 days of purchase.",
        )
        .await;
    api.upload_indexed(None, "parking.txt", "Staff park behind the building.")
        .await;
    let customer = api
        .request(Method::POST, "/api/v1/customers")
        .json(&json!({"name": "Rita Patient", "phone": "+44 20 7946 0011", "email": "rita@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(customer.status(), StatusCode::CREATED);
    let conversation = api.new_conversation().await;
    // No model here: the question is kept, unanswered.
    api.request(
        Method::POST,
        &format!("/api/v1/conversations/{conversation}/messages"),
    )
    .json(&json!({"content": "How long do refunds take?"}))
    .send()
    .await
    .unwrap();
    let before_search = search_ids(&api, "refunds").await;
    assert_eq!(before_search, [refund]);

    // Backed up while the server runs.
    let backups = root.path().join("usb");
    let made = ChildServer::console(
        &old,
        &["backup", "--to", backups.to_str().unwrap()],
        &format!("{PASSPHRASE}\n"),
    );
    assert!(made.status.success(), "{}", stderr(&made));
    let archive = only_archive(&backups);
    server.terminate(std::time::Duration::from_secs(10));
    let before = dump(&old.join("hearth.db"));
    let stored_files = std::fs::read_dir(old.join("documents/files"))
        .unwrap()
        .count();
    assert!(stored_files >= 2);
    // Nothing readable in the archive without the passphrase.
    let raw = std::fs::read(&archive).unwrap();
    assert!(
        !raw.windows(7).any(|w| w == b"Refunds"),
        "the archive is encrypted"
    );

    // A fresh box: damaged archives and a wrong passphrase change nothing.
    let fresh = root.path().join("fresh");
    std::fs::create_dir_all(&fresh).unwrap();
    std::fs::write(fresh.join("test.toml"), "").unwrap();
    let restore = |path: &std::path::Path, passphrase: &str| {
        ChildServer::console(
            &fresh,
            &["restore", path.to_str().unwrap()],
            &format!("{passphrase}\n"),
        )
    };
    let wrong = restore(&archive, "not the passphrase at all");
    assert!(!wrong.status.success());
    assert!(
        stderr(&wrong).contains("passphrase is wrong"),
        "{}",
        stderr(&wrong)
    );
    let mut flipped = raw.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    let flipped_path = root.path().join("flipped.hearthbackup");
    std::fs::write(&flipped_path, &flipped).unwrap();
    let out = restore(&flipped_path, PASSPHRASE);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("damaged"), "{}", stderr(&out));
    let cut_path = root.path().join("cut.hearthbackup");
    std::fs::write(&cut_path, &raw[..raw.len() - 100]).unwrap();
    let out = restore(&cut_path, PASSPHRASE);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("damaged or incomplete"),
        "{}",
        stderr(&out)
    );
    assert!(
        !fresh.join("hearth.db").exists()
            || !std::fs::read_dir(&fresh)
                .unwrap()
                .any(|e| e.unwrap().file_name() == "documents"),
        "a refused restore changed nothing"
    );

    // The real thing.
    let out = restore(&archive, PASSPHRASE);
    assert!(out.status.success(), "{}", stderr(&out));
    let after = dump(&fresh.join("hearth.db"));
    assert_eq!(before, after, "the database came back exactly");
    let conn = rusqlite::Connection::open(fresh.join("hearth.db")).unwrap();
    let sessions: i64 = conn
        .query_row("SELECT count(*) FROM sessions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sessions, 0, "everyone signs in again");
    drop(conn);
    assert_eq!(
        std::fs::read_dir(fresh.join("documents/files"))
            .unwrap()
            .count(),
        stored_files
    );

    // Served again: the same search results, the same key, the log intact.
    let restored = ChildServer::start(&fresh).await;
    let api = ApiClient::new(&restored.base, &key);
    let mut after_search = Vec::new();
    for _ in 0..100 {
        after_search = search_ids(&api, "refunds").await;
        if !after_search.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(after_search, before_search);
    let verdict = api
        .request(Method::POST, "/api/v1/audit/verify")
        .send()
        .await
        .unwrap();
    let verdict: Value = verdict.json().await.unwrap();
    assert_eq!(verdict["problems"], json!([]), "{verdict}");
    drop(restored);

    // Retention: older archives go, the new one and other files stay.
    for old_name in [
        "hearth-backup-20200101-020000.hearthbackup",
        "hearth-backup-20200102-020000.hearthbackup",
    ] {
        std::fs::write(backups.join(old_name), b"old").unwrap();
    }
    std::fs::write(backups.join("notes.txt"), b"mine").unwrap();
    // Archive names have whole seconds: the next one gets its own.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let made = ChildServer::console(
        &fresh,
        &[
            "backup",
            "--to",
            backups.to_str().unwrap(),
            "--keep-daily",
            "1",
        ],
        &format!("{PASSPHRASE}\n"),
    );
    assert!(made.status.success(), "{}", stderr(&made));
    let newest = only_archive(&backups);
    assert_ne!(newest, archive, "the new archive, not the first");
    assert!(backups.join("notes.txt").exists());

    // A box with accounts is not overwritten unless asked.
    let out = ChildServer::console(
        &old,
        &["restore", archive.to_str().unwrap()],
        &format!("{PASSPHRASE}\n"),
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("already has accounts"),
        "{}",
        stderr(&out)
    );
}

/// A backup taken while people upload documents and chat restores to a
/// consistent box: the database passes SQLite's integrity check, every
/// document it lists has its stored original, and the restored box serves
/// them.
#[tokio::test]
async fn a_backup_during_uploads_and_chats_restores_consistently() {
    hearth::chat::models::download::install_tls_provider();
    let root = tempfile::tempdir().unwrap();
    let old = root.path().join("busy");
    let key = ChildServer::prepare(&old, "");
    let mut server = ChildServer::start(&old).await;
    let base = server.base.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Uploads and chat messages, without pause, until told to stop.
    let busy = {
        let stop = stop.clone();
        let key = key.clone();
        tokio::spawn(async move {
            let api = ApiClient::new(&base, &key);
            let conversation = api.new_conversation().await;
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let form = reqwest::multipart::Form::new().part(
                    "file",
                    reqwest::multipart::Part::bytes(
                        format!("Note {n}: the boiler in room {n} was serviced.").into_bytes(),
                    )
                    .file_name(format!("note-{n}.txt")),
                );
                let response = api
                    .request(Method::POST, "/api/v1/documents")
                    .multipart(form)
                    .send()
                    .await
                    .unwrap();
                assert!(response.status().is_success(), "{}", response.status());
                api.request(
                    Method::POST,
                    &format!("/api/v1/conversations/{conversation}/messages"),
                )
                .json(&json!({"content": format!("Question {n}")}))
                .send()
                .await
                .unwrap();
                n += 1;
            }
            n
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let usb = root.path().join("usb");
    let made = ChildServer::console(
        &old,
        &["backup", "--to", usb.to_str().unwrap()],
        &format!("{PASSPHRASE}\n"),
    );
    assert!(made.status.success(), "{}", stderr(&made));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let uploaded = busy.await.unwrap();
    assert!(uploaded >= 2, "uploads ran during the backup ({uploaded})");
    server.terminate(std::time::Duration::from_secs(10));

    let fresh = root.path().join("fresh");
    std::fs::create_dir_all(&fresh).unwrap();
    std::fs::write(fresh.join("test.toml"), "").unwrap();
    let archive = only_archive(&usb);
    let out = ChildServer::console(
        &fresh,
        &["restore", archive.to_str().unwrap()],
        &format!("{PASSPHRASE}\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let conn = rusqlite::Connection::open(fresh.join("hearth.db")).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let stored: Vec<String> = conn
        .prepare("SELECT stored_as FROM documents")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(!stored.is_empty(), "documents were backed up");
    for name in &stored {
        assert!(
            fresh.join("documents/files").join(name).is_file(),
            "the original of {name} is in the backup"
        );
    }
    let messages: i64 = conn
        .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
        .unwrap();
    assert!(messages >= 1);
    drop(conn);
    let restored = ChildServer::start(&fresh).await;
    let api = ApiClient::new(&restored.base, &key);
    let (_, listed) = api.get_json("/api/v1/documents").await;
    assert_eq!(
        listed["total"].as_i64(),
        Some(stored.len() as i64),
        "the restored box lists every document: {listed}"
    );
}
