//! The schema, as an append-only list of migrations. Entry `i` moves the
//! database from `PRAGMA user_version = i` to `i + 1`. Never edit a released
//! entry: add a new one.

/// The migration (its 1-based number) that made the audit log a hash chain.
pub const AUDIT_CHAIN: usize = 8;

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
    // 3: office documents, their collections and access, the ingestion
    // queue (a document's status is its place in the queue), the text
    // chunks the search index is rebuilt from, and the sources of answers.
    r#"
    CREATE TABLE collections (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        name        TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        -- Set for a person's own "My documents": only they see it.
        personal_of INTEGER UNIQUE REFERENCES users(id),
        created_by  INTEGER REFERENCES users(id),
        created_at  INTEGER NOT NULL
    ) STRICT;
    CREATE UNIQUE INDEX collections_shared_names ON collections(name COLLATE NOCASE)
        WHERE personal_of IS NULL;

    -- Who may see a shared collection: every person with one of these roles,
    -- and these people by name.
    CREATE TABLE collection_roles (
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        role          TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'staff')),
        PRIMARY KEY (collection_id, role)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE collection_users (
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        user_id       INTEGER NOT NULL REFERENCES users(id),
        PRIMARY KEY (collection_id, user_id)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE documents (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        collection_id INTEGER NOT NULL REFERENCES collections(id),
        title         TEXT NOT NULL,
        -- The uploaded name, for people only: files are stored as stored_as.
        file_name     TEXT NOT NULL,
        -- Detected from the content by extraction (pdf, docx, ...).
        format        TEXT,
        size          INTEGER NOT NULL,
        sha256        TEXT NOT NULL,
        stored_as     TEXT NOT NULL UNIQUE,
        status        TEXT NOT NULL CHECK (status IN ('queued', 'processing', 'indexed', 'failed')),
        error_code    TEXT,
        error_reason  TEXT,
        pages         INTEGER,
        chunk_count   INTEGER NOT NULL DEFAULT 0,
        text_bytes    INTEGER NOT NULL DEFAULT 0,
        attempts      INTEGER NOT NULL DEFAULT 0,
        source        TEXT NOT NULL CHECK (source IN ('upload', 'inbox', 'import', 'api')),
        uploaded_by   INTEGER REFERENCES users(id),
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL,
        indexed_at    INTEGER
    ) STRICT;
    CREATE INDEX documents_by_collection ON documents(collection_id, updated_at DESC);
    CREATE INDEX documents_by_status ON documents(status, id);
    CREATE UNIQUE INDEX documents_by_content ON documents(collection_id, sha256);

    CREATE TABLE chunks (
        document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        ord         INTEGER NOT NULL,
        page        INTEGER,
        heading     TEXT,
        text        TEXT NOT NULL,
        PRIMARY KEY (document_id, ord)
    ) STRICT, WITHOUT ROWID;

    -- Whether a conversation answers from documents, and from which
    -- collections (none listed: every collection its owner may see).
    ALTER TABLE conversations ADD COLUMN use_documents INTEGER NOT NULL DEFAULT 1
        CHECK (use_documents IN (0, 1));
    CREATE TABLE conversation_collections (
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        collection_id   INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        PRIMARY KEY (conversation_id, collection_id)
    ) STRICT, WITHOUT ROWID;

    -- The passages an answer was given, numbered as the answer cites them.
    CREATE TABLE message_sources (
        message_id  INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        n           INTEGER NOT NULL,
        document_id INTEGER REFERENCES documents(id) ON DELETE SET NULL,
        chunk_ord   INTEGER NOT NULL,
        page        INTEGER,
        title       TEXT NOT NULL,
        excerpt     TEXT NOT NULL,
        PRIMARY KEY (message_id, n)
    ) STRICT;
    "#,
    // 4: answers are saved while they are written ('writing'), so a crash
    // keeps what was streamed; at the next start they become 'interrupted'.
    // SQLite cannot change a CHECK constraint in place, so the table is
    // rebuilt (foreign keys are off during migrations, so nothing cascades).
    // Documents remember how many pages were read by OCR; names lose
    // bidirectional controls.
    r#"
    CREATE TABLE messages_new (
        id                INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation_id   INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        role              TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
        content           TEXT NOT NULL,
        -- done | stopped (someone pressed Stop) | length (hit the limit) | failed
        -- | writing (being written now) | interrupted (the box stopped while writing)
        status            TEXT NOT NULL DEFAULT 'done' CHECK (status IN
                              ('done', 'stopped', 'length', 'failed', 'writing', 'interrupted')),
        -- Where an answer came from, e.g. 'local:SmolLM2-135M-Instruct.Q4_1.gguf'.
        source            TEXT NOT NULL DEFAULT '',
        prompt_tokens     INTEGER,
        completion_tokens INTEGER,
        tokens_per_second REAL,
        -- Older messages the model could not see for this answer.
        dropped_messages  INTEGER NOT NULL DEFAULT 0,
        created_at        INTEGER NOT NULL
    ) STRICT;
    INSERT INTO messages_new SELECT id, conversation_id, role, content, status, source,
        prompt_tokens, completion_tokens, tokens_per_second, dropped_messages, created_at
        FROM messages;
    DROP TABLE messages;
    ALTER TABLE messages_new RENAME TO messages;
    CREATE INDEX messages_by_conversation ON messages(conversation_id, id);

    ALTER TABLE documents ADD COLUMN ocr_pages INTEGER NOT NULL DEFAULT 0;

    -- Names stored before bidirectional controls were removed at input
    -- (text::clean_name) lose them now: U+202A-202E, U+2066-2069, U+200E,
    -- U+200F, U+061C. A collection whose cleaned name is taken keeps its own.
    UPDATE documents SET file_name = replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(file_name, char(8234), ''), char(8235), ''), char(8236), ''), char(8237), ''), char(8238), ''), char(8294), ''), char(8295), ''), char(8296), ''), char(8297), ''), char(8206), ''), char(8207), ''), char(1564), '');
    UPDATE documents SET title = replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(title, char(8234), ''), char(8235), ''), char(8236), ''), char(8237), ''), char(8238), ''), char(8294), ''), char(8295), ''), char(8296), ''), char(8297), ''), char(8206), ''), char(8207), ''), char(1564), '');
    UPDATE OR IGNORE collections SET name = replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(name, char(8234), ''), char(8235), ''), char(8236), ''), char(8237), ''), char(8238), ''), char(8294), ''), char(8295), ''), char(8296), ''), char(8297), ''), char(8206), ''), char(8207), ''), char(1564), '');
    UPDATE users SET display_name = replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(display_name, char(8234), ''), char(8235), ''), char(8236), ''), char(8237), ''), char(8238), ''), char(8294), ''), char(8295), ''), char(8296), ''), char(8297), ''), char(8206), ''), char(8207), ''), char(1564), '');
    UPDATE conversations SET title = replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(title, char(8234), ''), char(8235), ''), char(8236), ''), char(8237), ''), char(8238), ''), char(8294), ''), char(8295), ''), char(8296), ''), char(8297), ''), char(8206), ''), char(8207), ''), char(1564), '');
    UPDATE collections SET description = replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(description, char(8234), ''), char(8235), ''), char(8236), ''), char(8237), ''), char(8238), ''), char(8294), ''), char(8295), ''), char(8296), ''), char(8297), ''), char(8206), ''), char(8207), ''), char(1564), '');
    UPDATE api_keys SET name = replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(name, char(8234), ''), char(8235), ''), char(8236), ''), char(8237), ''), char(8238), ''), char(8294), ''), char(8295), ''), char(8296), ''), char(8297), ''), char(8206), ''), char(8207), ''), char(1564), '');
    UPDATE settings SET value = replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(value, char(8234), ''), char(8235), ''), char(8236), ''), char(8237), ''), char(8238), ''), char(8294), ''), char(8295), ''), char(8296), ''), char(8297), ''), char(8206), ''), char(8207), ''), char(1564), '') WHERE key = 'business_name';
    "#,
    // 5: scheduling. Staff (linked to an account or not), resources (rooms,
    // chairs, vans), services and who and what they need, closures, time
    // off, customers, appointments (several services each; occurrences of a
    // recurring series are stored one row each, so availability and
    // conflicts read one table), calendar subscriptions and the assistant's
    // proposals. Instants are Unix seconds (UTC); days that belong to the
    // business's calendar (closures) are civil dates 'YYYY-MM-DD'. The
    // business's time zone and opening hours are versioned settings.
    r#"
    CREATE TABLE staff (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE COLLATE NOCASE,
        user_id     INTEGER UNIQUE REFERENCES users(id) ON DELETE SET NULL,
        -- Working hours as JSON (the week's intervals per weekday); '' means
        -- the business's opening hours.
        hours       TEXT NOT NULL DEFAULT '',
        active      INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE resources (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE COLLATE NOCASE,
        kind        TEXT NOT NULL DEFAULT '',
        active      INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE services (
        id                 INTEGER PRIMARY KEY,
        name               TEXT NOT NULL UNIQUE COLLATE NOCASE,
        duration_minutes   INTEGER NOT NULL CHECK (duration_minutes BETWEEN 1 AND 1440),
        buffer_before      INTEGER NOT NULL DEFAULT 0 CHECK (buffer_before BETWEEN 0 AND 720),
        buffer_after       INTEGER NOT NULL DEFAULT 0 CHECK (buffer_after BETWEEN 0 AND 720),
        price_cents        INTEGER CHECK (price_cents IS NULL OR price_cents >= 0),
        -- How many customers one slot holds (group services: > 1).
        capacity           INTEGER NOT NULL DEFAULT 1 CHECK (capacity BETWEEN 1 AND 1000),
        active             INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
        created_at         INTEGER NOT NULL,
        updated_at         INTEGER NOT NULL
    ) STRICT;

    -- Who can do a service; none listed means anyone.
    CREATE TABLE service_staff (
        service_id  INTEGER NOT NULL REFERENCES services(id) ON DELETE CASCADE,
        staff_id    INTEGER NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
        PRIMARY KEY (service_id, staff_id)
    ) STRICT, WITHOUT ROWID;

    -- The resources a service can use, any one of them; none listed means
    -- it needs none.
    CREATE TABLE service_resources (
        service_id   INTEGER NOT NULL REFERENCES services(id) ON DELETE CASCADE,
        resource_id  INTEGER NOT NULL REFERENCES resources(id) ON DELETE CASCADE,
        PRIMARY KEY (service_id, resource_id)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE closures (
        id          INTEGER PRIMARY KEY,
        first_day   TEXT NOT NULL,
        last_day    TEXT NOT NULL CHECK (last_day >= first_day),
        reason      TEXT NOT NULL DEFAULT '',
        created_at  INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE time_off (
        id          INTEGER PRIMARY KEY,
        staff_id    INTEGER NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
        starts_at   INTEGER NOT NULL,
        ends_at     INTEGER NOT NULL CHECK (ends_at > starts_at),
        reason      TEXT NOT NULL DEFAULT '',
        created_at  INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX time_off_by_staff ON time_off(staff_id, starts_at);

    CREATE TABLE customers (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL,
        phone       TEXT NOT NULL DEFAULT '',
        email       TEXT NOT NULL DEFAULT '',
        notes       TEXT NOT NULL DEFAULT '',
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX customers_by_name ON customers(name COLLATE NOCASE);

    -- A recurring series: the rule (RFC 5545 RRULE, expanded in the
    -- business's zone on local wall-clock times), its first start as a local
    -- date-time, and dates taken out of it.
    CREATE TABLE series (
        id           INTEGER PRIMARY KEY,
        rule         TEXT NOT NULL,
        first_local  TEXT NOT NULL,
        time_zone    TEXT NOT NULL,
        exdates      TEXT NOT NULL DEFAULT '',
        created_at   INTEGER NOT NULL,
        updated_at   INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE appointments (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        -- Stable identity in calendar files (UID).
        uid             TEXT NOT NULL UNIQUE,
        customer_id     INTEGER REFERENCES customers(id) ON DELETE SET NULL,
        staff_id        INTEGER NOT NULL REFERENCES staff(id),
        resource_id     INTEGER REFERENCES resources(id),
        title           TEXT NOT NULL DEFAULT '',
        starts_at       INTEGER NOT NULL,
        ends_at         INTEGER NOT NULL CHECK (ends_at > starts_at),
        -- The time the staff member and the resource are held: the
        -- appointment and its buffers.
        busy_from       INTEGER NOT NULL CHECK (busy_from <= starts_at),
        busy_until      INTEGER NOT NULL CHECK (busy_until >= ends_at),
        status          TEXT NOT NULL DEFAULT 'booked'
                            CHECK (status IN ('booked', 'cancelled', 'done', 'no_show')),
        notes           TEXT NOT NULL DEFAULT '',
        series_id       INTEGER REFERENCES series(id) ON DELETE SET NULL,
        -- The occurrence's original start in its series (RECURRENCE-ID).
        recurrence_id   INTEGER,
        -- Changed on its own, apart from its series.
        detached        INTEGER NOT NULL DEFAULT 0 CHECK (detached IN (0, 1)),
        -- Why conflicts were overridden, and by whom; NULL when none were.
        override_reason TEXT,
        sequence        INTEGER NOT NULL DEFAULT 0,
        created_by      INTEGER REFERENCES users(id) ON DELETE SET NULL,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX appointments_by_time ON appointments(busy_from);
    CREATE INDEX appointments_by_staff ON appointments(staff_id, busy_from);
    CREATE INDEX appointments_by_resource ON appointments(resource_id, busy_from);
    CREATE INDEX appointments_by_customer ON appointments(customer_id, starts_at);
    CREATE INDEX appointments_by_series ON appointments(series_id, recurrence_id);

    CREATE TABLE appointment_services (
        appointment_id  INTEGER NOT NULL REFERENCES appointments(id) ON DELETE CASCADE,
        position        INTEGER NOT NULL,
        service_id      INTEGER NOT NULL REFERENCES services(id),
        PRIMARY KEY (appointment_id, position)
    ) STRICT, WITHOUT ROWID;

    -- Secret subscription addresses for calendar apps: only a SHA-256 of
    -- the token is kept.
    CREATE TABLE calendar_feeds (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        token_hash  BLOB NOT NULL UNIQUE,
        scope       TEXT NOT NULL CHECK (scope IN ('office', 'staff', 'resource')),
        scope_id    INTEGER,
        created_by  INTEGER REFERENCES users(id) ON DELETE SET NULL,
        created_at  INTEGER NOT NULL,
        revoked_at  INTEGER
    ) STRICT;
    -- What the assistant proposed (a booking, a move, a cancellation), kept
    -- until a person confirms or dismisses it: nothing is written before.
    CREATE TABLE proposals (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        created_by  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        request     TEXT NOT NULL,
        action      TEXT NOT NULL CHECK (action IN ('book', 'move', 'cancel')),
        -- The change to make, as JSON.
        payload     TEXT NOT NULL,
        status      TEXT NOT NULL DEFAULT 'open'
                        CHECK (status IN ('open', 'confirmed', 'dismissed')),
        decided_by  INTEGER REFERENCES users(id) ON DELETE SET NULL,
        decided_at  INTEGER,
        created_at  INTEGER NOT NULL
    ) STRICT;
    "#,
    // 6: a conversation answers from documents automatically (when the
    // question finds good passages), only from documents, or not at all;
    // the old on/off column stays (SQLite cannot drop it cheaply) and is no
    // longer read. "On" becomes automatic: the old forced mode answered
    // ordinary questions with "I found nothing in the documents".
    r#"
    ALTER TABLE conversations ADD COLUMN documents_mode TEXT NOT NULL DEFAULT 'auto'
        CHECK (documents_mode IN ('auto', 'only', 'off'));
    UPDATE conversations SET documents_mode = 'off' WHERE use_documents = 0;
    "#,
    // 7: the audit log reads as sentences: the name of what an entry is
    // about as it was at the time (kept for when it is gone), and the
    // collection a document was in (so a reader who may not see it is not
    // told its name); reads and refusals are recorded once per person and
    // thing within a window, which the index on the actor finds.
    r#"
    ALTER TABLE audit_log ADD COLUMN target_name TEXT NOT NULL DEFAULT '';
    ALTER TABLE audit_log ADD COLUMN target_collection INTEGER;
    CREATE INDEX audit_by_actor ON audit_log(actor_id, at);
    "#,
    // 8: the audit log is a hash chain: each entry carries the SHA-256 of
    // the one before and of itself (see `store::audit::link_hash`), so an
    // entry altered, removed or put in afterwards shows, and signed
    // checkpoints outside the database (`audit::chain`) pin its head. The
    // entries written before this version are sealed once, in order, when
    // the database is opened; the trigger lets exactly that through: a
    // missing hash set, nothing else changed.
    r#"
    ALTER TABLE audit_log ADD COLUMN hash BLOB;
    DROP TRIGGER audit_log_no_update;
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        WHEN NOT (OLD.hash IS NULL AND NEW.hash IS NOT NULL
                  AND NEW.id IS OLD.id AND NEW.at IS OLD.at
                  AND NEW.actor_id IS OLD.actor_id AND NEW.actor IS OLD.actor
                  AND NEW.action IS OLD.action AND NEW.target IS OLD.target
                  AND NEW.outcome IS OLD.outcome AND NEW.ip IS OLD.ip
                  AND NEW.detail IS OLD.detail AND NEW.target_name IS OLD.target_name
                  AND NEW.target_collection IS OLD.target_collection)
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    "#,
    // 9: the egress log: every request that left the box or tried to,
    // written before it is sent (outcome 'sending'), and a second row when
    // it ended (request_id: the first row), both hash-chained like the
    // audit log (`store::chain`), so an interrupted request still has its
    // entry and none can be rewritten unseen.
    r#"
    CREATE TABLE egress_log (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        at              INTEGER NOT NULL,
        request_id      INTEGER,
        purpose         TEXT NOT NULL CHECK (purpose IN
                            ('cloud_chat', 'cloud_test', 'model_download', 'update_check', 'update_download')),
        actor_id        INTEGER,
        actor           TEXT NOT NULL,
        endpoint        TEXT NOT NULL,
        model           TEXT NOT NULL DEFAULT '',
        conversation_id INTEGER,
        bytes_sent      INTEGER NOT NULL DEFAULT 0,
        bytes_received  INTEGER NOT NULL DEFAULT 0,
        -- Counts by kind, JSON: {"email": 2, "person": 1}.
        redactions      TEXT NOT NULL DEFAULT '{}',
        outcome         TEXT NOT NULL CHECK (outcome IN
                            ('sending', 'ok', 'failed', 'interrupted', 'refused')),
        detail          TEXT NOT NULL DEFAULT '',
        hash            BLOB
    ) STRICT;
    CREATE INDEX egress_by_time ON egress_log(at);
    CREATE INDEX egress_by_request ON egress_log(request_id);
    CREATE TRIGGER egress_log_no_update BEFORE UPDATE ON egress_log
        BEGIN SELECT RAISE(ABORT, 'the egress log is append-only'); END;
    CREATE TRIGGER egress_log_no_delete BEFORE DELETE ON egress_log
        BEGIN SELECT RAISE(ABORT, 'the egress log is append-only'); END;
    "#,
    // 10: a collection can be kept on the box: with cloud fallback on, no
    // passage from it, and no answer drawn from it, is ever sent.
    r#"
    ALTER TABLE collections ADD COLUMN local_only INTEGER NOT NULL DEFAULT 0
        CHECK (local_only IN (0, 1));
    "#,
    // 11: people flag answers (good, or wrong with a correction); owners
    // and admins review the flags, and a correction can become a house fact
    // (a document retrieval uses). A flag copies the question, answer and
    // sources as they were, so deleting the conversation does not empty the
    // review queue.
    r#"
    CREATE TABLE answer_flags (
        id               INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id       INTEGER REFERENCES messages(id) ON DELETE SET NULL,
        conversation_id  INTEGER REFERENCES conversations(id) ON DELETE SET NULL,
        user_id          INTEGER REFERENCES users(id) ON DELETE SET NULL,
        flagged_by       TEXT NOT NULL,
        rating           TEXT NOT NULL CHECK (rating IN ('up', 'down')),
        correction       TEXT NOT NULL DEFAULT '',
        question         TEXT NOT NULL,
        answer           TEXT NOT NULL,
        sources          TEXT NOT NULL DEFAULT '[]',
        answer_source    TEXT NOT NULL DEFAULT '',
        status           TEXT NOT NULL DEFAULT 'open'
                             CHECK (status IN ('open', 'accepted', 'dismissed')),
        reviewed_by      INTEGER REFERENCES users(id) ON DELETE SET NULL,
        reviewed_at      INTEGER,
        review_note      TEXT NOT NULL DEFAULT '',
        fact_document_id INTEGER REFERENCES documents(id) ON DELETE SET NULL,
        created_at       INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX flags_by_status ON answer_flags(status, id);
    CREATE INDEX flags_by_message ON answer_flags(message_id);
    "#,
    // 12: two-factor sign-in (TOTP). `enabled_at` is NULL while the person
    // is still scanning the code; `last_step` is the newest 30-second step a
    // code was accepted for, so a code works once. Recovery codes are kept
    // as SHA-256 digests (they are long random strings) and used once.
    r#"
    CREATE TABLE two_factor (
        user_id    INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
        secret     TEXT NOT NULL,
        enabled_at INTEGER,
        last_step  INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE recovery_codes (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        code_hash TEXT NOT NULL,
        used_at   INTEGER
    ) STRICT;
    CREATE INDEX recovery_codes_by_user ON recovery_codes(user_id, code_hash);
    "#,
];
