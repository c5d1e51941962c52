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
