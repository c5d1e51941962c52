//! The database: migrations, refusal of a newer schema, the append-only
//! audit table.

use crate::common::*;

#[tokio::test]
async fn a_new_database_is_migrated_to_the_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hearth.db");
    let store = hearth::store::Store::open(&path).unwrap();
    assert!(!store.owner_exists().await.unwrap());
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version as usize, hearth::store::SCHEMA_VERSION);
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    // Opening again is a no-op.
    hearth::store::Store::open(&path).unwrap();
}

#[tokio::test]
async fn a_database_from_a_newer_hearth_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = hearth::config::Config {
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    hearth::store::Store::open(&config.database_path()).unwrap();
    hearth::store::force_schema_version(&config.database_path(), hearth::store::SCHEMA_VERSION + 1)
        .unwrap();
    let err = hearth::AppState::new(config).await.err().expect("refused");
    let message = format!("{err:#}");
    assert!(message.contains("written by a newer Hearth"), "{message}");
}

#[tokio::test]
async fn the_audit_log_cannot_be_rewritten() {
    let (server, _owner) = TestServer::with_owner().await;
    let conn = rusqlite::Connection::open(server.db_path()).unwrap();
    let update = conn.execute("UPDATE audit_log SET actor = 'someone else'", []);
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = conn.execute("DELETE FROM audit_log", []);
    assert!(delete.unwrap_err().to_string().contains("append-only"));
}

#[tokio::test]
async fn secrets_are_stored_hashed() {
    let (server, owner) = TestServer::with_owner().await;
    let key = owner.api_key("k").await;
    let conn = rusqlite::Connection::open(server.db_path()).unwrap();
    let hash: String = conn
        .query_row("SELECT password_hash FROM users", [], |r| r.get(0))
        .unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    let dump: Vec<u8> = std::fs::read(server.db_path()).unwrap();
    let wal = std::fs::read(server.db_path().with_extension("db-wal")).unwrap_or_default();
    for bytes in [&dump, &wal] {
        assert!(
            !bytes.windows(key.len()).any(|w| w == key.as_bytes()),
            "API key stored in clear"
        );
        assert!(
            !bytes
                .windows(GOOD_PASSWORD.len())
                .any(|w| w == GOOD_PASSWORD.as_bytes()),
            "password stored in clear"
        );
    }
}

/// Migration 4 rebuilds `messages` (new statuses): the answers' sources,
/// which refer to messages, must survive it, and stored names lose their
/// bidirectional controls.
#[tokio::test]
async fn migration_4_keeps_every_message_and_source() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hearth.db");
    hearth::store::create_at_version(&path, 3).unwrap();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "INSERT INTO users (id, username, display_name, role, password_hash, created_at, updated_at)
                 VALUES (1, 'olivia', 'Olivia \u{202E}reilliM', 'owner', 'x', 0, 0);
             INSERT INTO collections (id, name, created_at) VALUES (1, 'HR\u{2066} files', 0);
             INSERT INTO documents (id, collection_id, title, file_name, size, sha256, stored_as,
                 status, source, created_at, updated_at)
                 VALUES (1, 1, 'invoice', 'invoice-\u{202E}txt.exe', 1, 'abc', 'f1', 'indexed', 'upload', 0, 0);
             INSERT INTO conversations (id, user_id, title, created_at, updated_at) VALUES (1, 1, 'Leave', 0, 0);
             INSERT INTO messages (id, conversation_id, role, content, status, created_at)
                 VALUES (1, 1, 'user', 'How much leave?', 'done', 0),
                        (2, 1, 'assistant', 'Twenty days [1].', 'done', 0);
             INSERT INTO message_sources (message_id, n, document_id, chunk_ord, title, excerpt)
                 VALUES (2, 1, 1, 0, 'invoice', 'twenty days');",
        )
        .unwrap();
    }
    hearth::store::Store::open(&path).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(count("SELECT count(*) FROM messages"), 2);
    assert_eq!(count("SELECT count(*) FROM message_sources"), 1);
    assert_eq!(count("SELECT max(id) FROM messages"), 2);
    let text = |sql: &str| -> String { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(text("SELECT file_name FROM documents"), "invoice-txt.exe");
    assert_eq!(text("SELECT display_name FROM users"), "Olivia reilliM");
    assert_eq!(text("SELECT name FROM collections"), "HR files");
    // New ids keep counting up: AUTOINCREMENT survived the rebuild.
    conn.execute(
        "INSERT INTO messages (conversation_id, role, content, status, created_at) VALUES (1, 'assistant', '', 'writing', 0)",
        [],
    )
    .unwrap();
    assert_eq!(count("SELECT max(id) FROM messages"), 3);
}

/// Issue 9: the "N being processed" badge counted everyone's queue.
#[tokio::test]
async fn the_processing_count_covers_only_what_the_reader_may_see() {
    use hearth::store::Role;
    use hearth::store::{NewDocument, NewUser, Viewer};
    let dir = tempfile::tempdir().unwrap();
    let store = hearth::store::Store::open(&dir.path().join("hearth.db")).unwrap();
    let mut viewers = Vec::new();
    for name in ["ann", "bob"] {
        let user = store
            .create_user(NewUser {
                username: name.into(),
                display_name: name.into(),
                role: Role::Staff,
                password_hash: "x".into(),
            })
            .await
            .unwrap();
        viewers.push(Viewer {
            user: user.id,
            role: user.role,
        });
    }
    let mine = store.personal_collection(viewers[0].user).await.unwrap();
    store
        .add_document(NewDocument {
            collection_id: mine.id,
            title: "private".into(),
            file_name: "private.txt".into(),
            size: 1,
            sha256: "abc".into(),
            stored_as: "f1".into(),
            source: hearth::store::DocumentSource::Upload,
            uploaded_by: Some(viewers[0].user),
        })
        .await
        .unwrap();
    assert_eq!(
        store.visible_documents_pending(viewers[0]).await.unwrap(),
        1
    );
    assert_eq!(
        store.visible_documents_pending(viewers[1]).await.unwrap(),
        0
    );
}
