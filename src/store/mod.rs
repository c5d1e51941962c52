//! The database: the only module that imports `rusqlite`.
//!
//! One SQLite file (`hearth.db`) in WAL mode with `synchronous=FULL` and
//! foreign keys on. Writes go through one writer connection, so they queue
//! here instead of spinning on SQLite's lock; reads use a small pool. Every
//! call runs on tokio's blocking pool, never on the async runtime.
//!
//! The rest of Hearth sees typed functions (`create_user`, `append_audit`, ...)
//! and [`StoreError`], never SQL or connections.

mod api_keys;
mod appointments;
mod audit;
mod chain;
mod clock;
mod collections;
mod conversations;
mod counts;
mod customers;
mod documents;
mod egress;
mod kinds;
mod migrations;
mod reviews;
mod schedule;
mod sessions;
mod settings;
mod sources;
mod two_factor;
mod users;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use rusqlite::{Connection, OpenFlags};

pub use api_keys::{ApiKey, ApiKeyId};
pub use appointments::{
    Appointment, AppointmentFields, AppointmentFilter, AppointmentId, AppointmentUpdate, Changes,
    Feed, FeedId, NewAppointment, NewSeries, Proposal, ProposalId, Series, SeriesId, Written,
};
pub use audit::{AuditFilter, AuditNames, AuditPage, AuditRecord, NewAuditRecord};
pub use chain::{ChainLink, GENESIS, Log, link_hash};
pub use clock::Clock;
pub use collections::{
    Collection, CollectionAccess, CollectionId, PERSONAL_COLLECTION_NAME, Viewer,
};
pub use conversations::{
    Conversation, ConversationId, MessageId, NewAnswer, StoredMessage, TitleBy,
};
pub use counts::Counts;
pub use customers::{Customer, CustomerChange, CustomerId};
pub use documents::{
    Added, DocumentFilter, DocumentId, DocumentPage, DocumentRecord, NewDocument, Processed,
    StoredChunk,
};
pub use egress::{EgressPage, EgressRecord, NewEgress};
pub use kinds::{
    AnswerSource, AppointmentStatus, AuditOutcome, DocumentSource, DocumentStatus, DocumentsMode,
    EgressOutcome, EgressPurpose, FeedScope, FlagRating, FlagStatus, MessageRole, MessageStatus,
    ProposalAction, ProposalStatus,
};
pub use reviews::{Flag, FlagId, NewFlag};
pub use schedule::{
    Closure, ClosureId, Resource, ResourceChange, ResourceId, Service, ServiceChange, ServiceId,
    StaffChange, StaffId, StaffMember, TimeOff, TimeOffId,
};
pub use sessions::{NewSession, SessionId, SessionInfo, SessionRecord};
pub use settings::{SettingChange, SettingVersion};
pub use sources::MessageSource;
pub use two_factor::TwoFactor;
pub use users::{NewUser, Role, User, UserChange, UserId, UserWithHash};

/// The schema version this binary writes.
pub const SCHEMA_VERSION: usize = migrations::MIGRATIONS.len();

/// How many read connections are kept open between calls.
const READ_POOL_SIZE: usize = 4;

/// Errors callers branch on; anything else is `Other`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken; the message names it for people.
    #[error("{0}")]
    Conflict(String),
    /// The disk is full: nothing was written.
    #[error("the disk is full")]
    DiskFull,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        match err {
            rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
            rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::DiskFull => {
                StoreError::DiskFull
            }
            other => StoreError::Other(anyhow::Error::new(other)),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A cheap-to-clone handle on the database.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    reserve: Reserve,
    /// What "now" is for every timestamp this store writes, and for the
    /// decisions made by comparing with them.
    clock: Clock,
}

/// Room set aside on the database's disk: a preallocated file that is given
/// up when a write finds the disk full, so the small writes that get people
/// out of trouble (signing in, deleting documents to make room) still fit.
/// Without it a full disk locked everyone out. Uploads never reach it: they
/// are refused at the free-space floor, long before.
struct Reserve {
    path: PathBuf,
    bytes: u64,
}

/// Whether a write may use the reserve (see [`Store::write_essential`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Urgency {
    Ordinary,
    Essential,
}

/// Under this much free space, the reserve is given up before a write.
const RESERVE_LOW_WATER: u64 = 4 * 1024 * 1024;

impl Reserve {
    fn exists(&self) -> bool {
        self.bytes > 0 && self.path.exists()
    }

    /// Sets the room aside, if there is room for it and a margin.
    fn ensure(&self) {
        if self.bytes == 0 || self.path.exists() {
            return;
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let Ok(space) = crate::disk::space(dir) else {
            return;
        };
        if space.free < self.bytes.saturating_mul(4) {
            return;
        }
        if let Err(err) = preallocate(&self.path, self.bytes) {
            tracing::warn!(error = %err, "cannot set aside room on the disk");
            let _ = std::fs::remove_file(&self.path);
        }
    }

    /// Gives the room up when the disk is nearly full; true if it did.
    fn release_if_low(&self) -> bool {
        if !self.exists() {
            return false;
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        match crate::disk::space(dir) {
            Ok(space) if space.free < RESERVE_LOW_WATER => self.release(),
            _ => false,
        }
    }

    fn release(&self) -> bool {
        let released = std::fs::remove_file(&self.path).is_ok();
        if released {
            tracing::error!(
                bytes = self.bytes,
                "the disk is full: released the room set aside so people can still sign in and delete"
            );
        }
        released
    }
}

/// Allocates `bytes` of real disk blocks for a new file at `path`.
fn preallocate(path: &Path, bytes: u64) -> std::io::Result<()> {
    use std::os::unix::io::AsRawFd;
    let file = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .open(path)?;
    // SAFETY: fallocate on a file descriptor we own.
    let result = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, bytes as libc::off_t) };
    if result != 0 {
        // File systems without fallocate get real zeros instead.
        use std::io::Write;
        let zeros = vec![0u8; 1024 * 1024];
        let mut file = &file;
        let mut left = bytes;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            file.write_all(&zeros[..n])?;
            left -= n as u64;
        }
    }
    file.sync_all()
}

impl Store {
    /// Opens (creating if needed) the database and brings its schema up to
    /// date in one transaction. A database written by a newer Hearth is
    /// refused rather than misread.
    pub fn open(path: &Path) -> anyhow::Result<Store> {
        Store::open_with_reserve(path, 0)
    }

    /// Like [`Store::open`], keeping `reserve_bytes` of the disk set aside
    /// (see `Reserve`) in a file next to the database.
    pub fn open_with_reserve(path: &Path, reserve_bytes: u64) -> anyhow::Result<Store> {
        let reserve = Reserve {
            path: reserve_path(path),
            bytes: reserve_bytes,
        };
        // A full disk must not stop the box from starting: the reserve is
        // given up first, so the migration check and sessions still fit.
        reserve.release_if_low();
        let mut writer = open_connection(path)
            .with_context(|| format!("cannot open the database {}", path.display()))?;
        writer
            .pragma_update(None, "journal_mode", "WAL")
            .context("cannot switch the database to WAL mode")?;
        migrate(&mut writer)?;
        reserve.ensure();
        Ok(Store {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
                reserve,
                clock: Clock::system(),
            }),
        })
    }

    /// Sets the reserved room aside again once the disk has room (called
    /// periodically); true if the reserve is in place.
    pub async fn ensure_reserve(&self) -> bool {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            inner.reserve.ensure();
            inner.reserve.exists()
        })
        .await
        .unwrap_or(false)
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The clock this store stamps its timestamps with. Whatever compares
    /// time with them (session expiry, purges, login delays) reads it too.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// Seconds since the Unix epoch by [`Store::clock`].
    pub fn now(&self) -> i64 {
        self.inner.clock.now()
    }

    /// Runs `f` with the writer connection inside a transaction, off the
    /// async runtime. The transaction commits only if `f` succeeds.
    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: Fn(&rusqlite::Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.write_with(Urgency::Ordinary, f).await
    }

    /// Like [`Store::write`], for the writes that get people out of a full
    /// disk (signing in and out, deleting, the audit record of those): when
    /// the disk is full, the reserve is given up and `f` runs once more.
    /// Ordinary writes never touch the reserve, so uploads and indexing
    /// cannot use up the room kept for these.
    async fn write_essential<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: Fn(&rusqlite::Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.write_with(Urgency::Essential, f).await
    }

    async fn write_with<T, F>(&self, urgency: Urgency, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: Fn(&rusqlite::Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = inner.writer.lock().unwrap_or_else(|p| p.into_inner());
            let mut attempt = || {
                let tx =
                    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let value = f(&tx)?;
                tx.commit()?;
                Ok(value)
            };
            let result = attempt();
            // The disk is full: give up the room set aside and try once
            // more, so this write (a sign-in, a deletion) still happens.
            if urgency == Urgency::Essential
                && matches!(result, Err(StoreError::DiskFull))
                && inner.reserve.release()
            {
                return attempt();
            }
            result
        })
        .await
        .context("database task failed")?
    }

    /// Runs `f` with a pooled read connection, off the async runtime.
    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = inner
                .readers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop();
            let conn = match pooled {
                Some(conn) => conn,
                None => open_connection(&inner.path)?,
            };
            let result = f(&conn);
            let mut readers = inner.readers.lock().unwrap_or_else(|p| p.into_inner());
            if readers.len() < READ_POOL_SIZE {
                readers.push(conn);
            }
            result
        })
        .await
        .context("database task failed")?
    }

    /// `SELECT 1` through both kinds of connection: the readiness probe.
    pub async fn ping(&self) -> StoreResult<()> {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await?;
        self.write(|_| Ok(())).await
    }
}

/// The reserve file beside the database: `hearth.db` → `hearth.db-reserve`.
fn reserve_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push("-reserve");
    db.with_file_name(name)
}

fn open_connection(path: &Path) -> anyhow::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let current = current as usize;
    let known = migrations::MIGRATIONS.len();
    if current > known {
        anyhow::bail!(
            "the database has schema version {current}, but this Hearth knows only up to {known}: \
             it was written by a newer Hearth. Install that version again, or restore a backup \
             made by this one"
        );
    }
    if current == known {
        return Ok(());
    }
    // Foreign keys are off while the schema changes (SQLite's documented
    // procedure for rebuilding a table: with them on, dropping the old copy
    // would cascade into every table that refers to it), and every reference
    // is checked before the migration commits.
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    let migrated = (|| -> anyhow::Result<()> {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)?;
        for (index, sql) in migrations::MIGRATIONS.iter().enumerate().skip(current) {
            tx.execute_batch(sql)
                .with_context(|| format!("migration {} failed", index + 1))?;
            tx.pragma_update(None, "user_version", (index + 1) as i64)?;
        }
        if current < migrations::AUDIT_CHAIN {
            chain::seal_unchained(&tx, chain::Log::Audit)
                .context("cannot seal the audit log's older entries")?;
        }
        let broken: i64 =
            tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })?;
        if broken > 0 {
            anyhow::bail!("the migration left {broken} broken references; nothing was changed");
        }
        tx.commit()?;
        Ok(())
    })();
    conn.pragma_update(None, "foreign_keys", "ON")?;
    migrated?;
    tracing::info!(from = current, to = known, "database schema migrated");
    Ok(())
}

/// Seconds since the Unix epoch by the system clock, for timestamps that are
/// neither stored nor compared with stored ones (an API answer's `created`).
/// Everything else reads [`Store::now`], which tests can advance.
pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// `text` with LIKE's wildcards escaped (for `LIKE ? ESCAPE '\'`), so a
/// search for "50%" or "a_b" means those characters.
fn like_escaped(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// `%text%` for a LIKE that finds `text` anywhere.
fn contains_pattern(text: &str) -> String {
    format!("%{}%", like_escaped(text.trim()))
}

/// Maps a unique-constraint failure to [`StoreError::Conflict`] with a message.
fn conflict_on_unique(err: rusqlite::Error, message: &str) -> StoreError {
    match &err {
        rusqlite::Error::SqliteFailure(e, _)
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
        {
            StoreError::Conflict(message.to_string())
        }
        _ => err.into(),
    }
}

/// Copies the database at `db` to `dest` as one consistent file, while
/// Hearth may be using it: `VACUUM INTO` reads in one read transaction (in
/// WAL mode writers carry on), so a busy box still gets its copy. SQLite's
/// online backup API, used before, starts over whenever another connection
/// writes, and a box that is chatting all day may never finish it.
/// `dest` is replaced whole: written beside it, then renamed.
pub fn snapshot(db: &Path, dest: &Path) -> anyhow::Result<()> {
    let source = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    source.busy_timeout(Duration::from_secs(30))?;
    let partial = dest.with_extension("partial");
    let _ = std::fs::remove_file(&partial);
    let target = partial
        .to_str()
        .context("the backup's work directory has a name SQLite cannot take")?;
    source.execute("VACUUM INTO ?1", [target])?;
    std::fs::File::open(&partial)?.sync_all()?;
    std::fs::rename(&partial, dest)?;
    Ok(())
}

/// Whether the database at `db` exists and has any account: a box that is
/// no longer fresh (restoring onto it would replace its data).
pub fn has_accounts(db: &Path) -> anyhow::Result<bool> {
    if !db.exists() {
        return Ok(false);
    }
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'users')",
        [],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(false);
    }
    Ok(conn.query_row("SELECT EXISTS (SELECT 1 FROM users)", [], |r| r.get(0))?)
}

/// Ends every session (after a restore: nobody stays signed in with a
/// session from the backup). Returns how many there were.
pub fn end_all_sessions(db: &Path) -> anyhow::Result<usize> {
    let conn = Connection::open(db)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    Ok(conn.execute("DELETE FROM sessions", [])?)
}

/// Puts a [`snapshot`] back as the database at `db`, while nothing has it
/// open: the snapshot is copied beside `db` and renamed over it, and the
/// old write-ahead log (which belongs to the database being replaced) is
/// removed, so SQLite does not replay it onto the snapshot.
pub fn restore_snapshot(snapshot: &Path, db: &Path) -> anyhow::Result<()> {
    let partial = db.with_extension("restoring");
    std::fs::copy(snapshot, &partial)?;
    std::fs::File::open(&partial)?.sync_all()?;
    for suffix in ["-wal", "-shm"] {
        let mut name = db.as_os_str().to_os_string();
        name.push(suffix);
        match std::fs::remove_file(std::path::PathBuf::from(name)) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(err.into()),
        }
    }
    std::fs::rename(&partial, db)?;
    Ok(())
}

/// Creates a database with the schema of an older version (the first
/// `version` migrations). Only for tests of later migrations.
#[doc(hidden)]
pub fn create_at_version(path: &Path, version: usize) -> anyhow::Result<()> {
    let conn = open_connection(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    for (index, sql) in migrations::MIGRATIONS.iter().enumerate().take(version) {
        conn.execute_batch(sql)?;
        conn.pragma_update(None, "user_version", (index + 1) as i64)?;
    }
    Ok(())
}

/// Sets `PRAGMA user_version` directly. Only for tests that need a database
/// "from the future".
#[doc(hidden)]
pub fn force_schema_version(path: &Path, version: usize) -> anyhow::Result<()> {
    let conn = open_connection(path)?;
    conn.pragma_update(None, "user_version", version as i64)?;
    Ok(())
}
