//! The SQLite file shared by [`crate::SqliteStore`] and [`crate::SqliteQueue`]: opening it (WAL,
//! busy timeout), the versioned schema (`PRAGMA user_version`), error mapping, and running the
//! blocking work off the async executor.

use rusqlite::{Connection, ErrorCode, TransactionBehavior};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use store::{Result, StoreError};

/// The database file's name in the data directory.
pub const DB_FILE: &str = "rostersync.db";

/// The schema version this build writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 4;

pub(crate) const SCHEMA_V1: &str = "
-- Version 3 makes this a rowid table (crate::sqlite::migrate_v3).
CREATE TABLE records (
    district TEXT NOT NULL,
    key      TEXT NOT NULL,
    kind     TEXT NOT NULL,
    version  INTEGER NOT NULL,
    body     TEXT NOT NULL,
    PRIMARY KEY (district, key)
) WITHOUT ROWID;
-- One row per index key of every record (Record::index_keys); the primary key is the paging order.
CREATE TABLE idx (
    district TEXT NOT NULL,
    ikey     TEXT NOT NULL,
    key      TEXT NOT NULL,
    PRIMARY KEY (district, ikey, key)
) WITHOUT ROWID;
CREATE TABLE districts (
    id      TEXT NOT NULL PRIMARY KEY,
    version INTEGER NOT NULL,
    body    TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE runs (
    district      TEXT NOT NULL,
    run_id        TEXT NOT NULL,
    started_secs  INTEGER NOT NULL,
    started_nanos INTEGER NOT NULL,
    version       INTEGER NOT NULL,
    body          TEXT NOT NULL,
    PRIMARY KEY (district, run_id)
) WITHOUT ROWID;
CREATE INDEX runs_newest ON runs (district, started_secs DESC, started_nanos DESC, run_id DESC);
CREATE TABLE school_done (
    district TEXT NOT NULL,
    run_id   TEXT NOT NULL,
    phase    TEXT NOT NULL,
    school   TEXT NOT NULL,
    PRIMARY KEY (district, run_id, phase, school)
) WITHOUT ROWID;
CREATE TABLE reports (
    district TEXT NOT NULL,
    run_id   TEXT NOT NULL,
    body     TEXT NOT NULL,
    PRIMARY KEY (district, run_id)
) WITHOUT ROWID;
-- Replaced by change_chunks in version 2 (crate::changes::migrate_v2).
CREATE TABLE changes (
    district  TEXT NOT NULL,
    run_id    TEXT NOT NULL,
    school    TEXT NOT NULL,
    pos       INTEGER NOT NULL,
    entity    TEXT NOT NULL,
    action    TEXT NOT NULL,
    school_id TEXT,
    body      TEXT NOT NULL,
    PRIMARY KEY (district, run_id, school, pos)
) WITHOUT ROWID;
CREATE TABLE queue_messages (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    queue         TEXT NOT NULL,
    body          TEXT NOT NULL,
    receive_count INTEGER NOT NULL,
    -- microseconds since the Unix epoch
    visible_at    INTEGER NOT NULL,
    receipt       TEXT
);
CREATE INDEX queue_visible ON queue_messages (queue, visible_at, seq);
CREATE TABLE queue_dead (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    queue      TEXT NOT NULL,
    message_id TEXT NOT NULL,
    body       TEXT NOT NULL,
    dead_at    INTEGER NOT NULL
);
CREATE INDEX queue_dead_by_queue ON queue_dead (queue, seq);
";

/// Version 4: index changes are appended to a log in the transaction of their records and
/// merged into `idx` in key order later (`crate::sqlite::fold_pending`), so that a sync's
/// transactions append instead of rewriting index pages all over the `idx` B-tree each time.
/// `present` is 1 for a row to insert, 0 for one to delete; for one row the latest `seq` wins.
pub(crate) const SCHEMA_V4: &str = "
CREATE TABLE idx_pending (
    seq      INTEGER PRIMARY KEY,
    district TEXT NOT NULL,
    ikey     TEXT NOT NULL,
    key      TEXT NOT NULL,
    present  INTEGER NOT NULL
);
";

/// Maps a SQLite error: busy/locked can succeed on retry, the rest will not.
pub(crate) fn sql_err(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StoreError::Transient(format!("sqlite: {e}"))
        }
        _ => StoreError::Permanent(format!("sqlite: {e}")),
    }
}

pub(crate) fn json_err(what: &str, e: serde_json::Error) -> StoreError {
    StoreError::Permanent(format!("corrupt or unencodable {what}: {e}"))
}

/// Opens (creating if needed) the database file, in WAL mode, and brings its schema up to date.
pub(crate) fn open(path: &Path) -> Result<Connection> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| {
            StoreError::Permanent(format!("cannot create {}: {e}", parent.display()))
        })?;
    }
    let mut conn = Connection::open(path).map_err(sql_err)?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(sql_err)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(sql_err)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(sql_err)?;
    // 64 MiB of page cache: a first sync's index B-trees outgrow the 2 MiB default quickly.
    conn.pragma_update(None, "cache_size", -65_536)
        .map_err(sql_err)?;
    conn.pragma_update(None, "temp_store", "MEMORY")
        .map_err(sql_err)?;
    // Checkpoint the WAL every 64k pages (256 MiB) rather than every 1000: a sync rewrites the
    // same hot index pages in every transaction, and each checkpoint copies them again. After
    // a checkpoint the file is cut back to 64 MiB, so the WAL does not keep its largest size.
    conn.pragma_update(None, "wal_autocheckpoint", 65_536)
        .map_err(sql_err)?;
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)
        .map_err(sql_err)?;
    conn.set_prepared_statement_cache_capacity(64);
    migrate(&mut conn)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql_err)?;
    let version: i64 = tx
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(sql_err)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Permanent(format!(
            "database schema version {version} is newer than this build's ({SCHEMA_VERSION})"
        )));
    }
    // Each step brings the schema one version up; a new file runs them all.
    if version < 1 {
        tx.execute_batch(SCHEMA_V1).map_err(sql_err)?;
    }
    if version < 2 {
        crate::changes::migrate_v2(&tx)?;
    }
    if version < 3 {
        crate::sqlite::migrate_v3(&tx)?;
    }
    if version < 4 {
        tx.execute_batch(SCHEMA_V4).map_err(sql_err)?;
    }
    if version < SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(sql_err)?;
    }
    tx.commit().map_err(sql_err)
}

/// A connection shared by the clones of an adapter.
pub(crate) type Shared = Arc<Mutex<Connection>>;

pub(crate) fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding the lock rolls back its open transaction (drop), so the
    // connection is still consistent.
    conn.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `f` with the connection on tokio's blocking pool.
pub(crate) async fn with_conn<T, F>(conn: &Shared, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
{
    let conn = conn.clone();
    tokio::task::spawn_blocking(move || f(&mut lock(&conn)))
        .await
        .map_err(|e| StoreError::Permanent(format!("storage task failed: {e}")))?
}
