//! The schema, as an append-only list of migrations. Entry `i` moves the
//! database from `PRAGMA user_version = i` to `i + 1`. Never edit a released
//! entry: add a new one.

pub const MIGRATIONS: &[&str] = &[
    // 1: accounts, sessions, API keys, versioned settings, the audit log.
    r#"
    CREATE TABLE users (
        id             INTEGER PRIMARY KEY,
        username       TEXT NOT NULL UNIQUE COLLATE NOCASE,
        display_name   TEXT NOT NULL,
        role           TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'staff')),
        password_hash  TEXT NOT NULL,
        disabled       INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
        created_at     INTEGER NOT NULL,
        updated_at     INTEGER NOT NULL,
        last_login_at  INTEGER
    ) STRICT;

    -- AUTOINCREMENT: ids of ended sessions and revoked keys are never
    -- reused, so a stale id can never name someone's new session or key.
    CREATE TABLE sessions (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        token_hash    BLOB NOT NULL UNIQUE,
        user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        csrf_token    TEXT NOT NULL,
        created_at    INTEGER NOT NULL,
        last_seen_at  INTEGER NOT NULL,
        ip            TEXT NOT NULL DEFAULT '',
        user_agent    TEXT NOT NULL DEFAULT ''
    ) STRICT;
    CREATE INDEX sessions_by_user ON sessions(user_id);

    CREATE TABLE api_keys (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        name          TEXT NOT NULL,
        key_hash      BLOB NOT NULL UNIQUE,
        prefix        TEXT NOT NULL,
        created_at    INTEGER NOT NULL,
        last_used_at  INTEGER,
        revoked_at    INTEGER
    ) STRICT;
    CREATE INDEX api_keys_by_user ON api_keys(user_id);

    CREATE TABLE settings (
        key         TEXT PRIMARY KEY,
        value       TEXT NOT NULL,
        version     INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        updated_by  INTEGER
    ) STRICT;

    -- Every value a setting ever had, so that changes can be reviewed and rolled back.
    CREATE TABLE settings_history (
        id          INTEGER PRIMARY KEY,
        key         TEXT NOT NULL,
        version     INTEGER NOT NULL,
        value       TEXT NOT NULL,
        changed_at  INTEGER NOT NULL,
        changed_by  INTEGER,
        UNIQUE (key, version)
    ) STRICT;

    -- Append-only: the triggers refuse UPDATE and DELETE. actor is the
    -- username at the time (or 'console', 'anonymous'), so entries stay
    -- readable whatever later happens to the account.
    CREATE TABLE audit_log (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        at        INTEGER NOT NULL,
        actor_id  INTEGER,
        actor     TEXT NOT NULL,
        action    TEXT NOT NULL,
        target    TEXT NOT NULL DEFAULT '',
        outcome   TEXT NOT NULL DEFAULT 'ok' CHECK (outcome IN ('ok', 'failed', 'denied')),
        ip        TEXT NOT NULL DEFAULT '',
        detail    TEXT NOT NULL DEFAULT ''
    ) STRICT;
    CREATE INDEX audit_by_time ON audit_log(at);
    CREATE INDEX audit_by_action ON audit_log(action);
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    "#,
    // 2: conversations with the assistant.
    r#"
    CREATE TABLE conversations (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id       INTEGER NOT NULL REFERENCES users(id),
        title         TEXT NOT NULL DEFAULT '',
        -- 1 while the title is the automatic one; a rename makes it 0.
        title_is_auto INTEGER NOT NULL DEFAULT 1 CHECK (title_is_auto IN (0, 1)),
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX conversations_by_user ON conversations(user_id, updated_at DESC);

    CREATE TABLE messages (
        id                INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation_id   INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        role              TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
        content           TEXT NOT NULL,
        -- done | stopped (someone pressed Stop) | length (hit the limit) | failed
        status            TEXT NOT NULL DEFAULT 'done' CHECK (status IN ('done', 'stopped', 'length', 'failed')),
        -- Where an answer came from, e.g. 'local:SmolLM2-135M-Instruct.Q4_1.gguf'.
        source            TEXT NOT NULL DEFAULT '',
        prompt_tokens     INTEGER,
        completion_tokens INTEGER,
        tokens_per_second REAL,
        -- Older messages the model could not see for this answer.
        dropped_messages  INTEGER NOT NULL DEFAULT 0,
        created_at        INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX messages_by_conversation ON messages(conversation_id, id);
    "#,
];
