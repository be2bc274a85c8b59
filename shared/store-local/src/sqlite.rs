//! [`SqliteStore`]: the directory, districts, runs, reports and stored changes in one SQLite
//! file. A `Directory::write` call is one transaction of per-write conditional updates, with
//! the index rows kept exactly equal to each record's `index_keys()`.

use crate::db::{self, Shared, json_err, sql_err, with_conn};
use async_trait::async_trait;
use domain::directory::{IndexKey, Record, RecordKey};
use domain::district::{District, Run};
use domain::plan::Change;
use domain::report::Report;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use store::{ChangeFilter, Directory, Result, Runs, StoreError, Write, WriteOutcome};

/// Directory and runs in one SQLite file (see [`crate::DB_FILE`]). Cheap to clone: clones
/// share one connection.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    conn: Shared,
    path: PathBuf,
    writes: Arc<AtomicU64>,
    changes_ttl_secs: i64,
}

/// How long a run's change list is kept (the report is kept for good), as on AWS.
pub const DEFAULT_CHANGES_TTL_DAYS: u64 = 90;

impl SqliteStore {
    /// Opens or creates the database file at `path` (creating its folder).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let conn = db::open(&path)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path,
            writes: Arc::new(AtomicU64::new(0)),
            changes_ttl_secs: days_secs(DEFAULT_CHANGES_TTL_DAYS),
        })
    }

    /// Keeps change lists `days` days (counted between runs' start times): storing a run's
    /// changes deletes those of the district's runs that started longer ago.
    pub fn with_changes_ttl_days(mut self, days: u64) -> Self {
        self.changes_ttl_secs = days_secs(days.max(1));
        self
    }

    /// Opens or creates `data_dir/rostersync.db`.
    pub fn open_dir(data_dir: impl AsRef<Path>) -> Result<Self> {
        Self::open(data_dir.as_ref().join(crate::DB_FILE))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn days_secs(days: u64) -> i64 {
    i64_of(days.saturating_mul(24 * 60 * 60))
}

pub(crate) fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_json<T: serde::Serialize>(what: &str, v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| json_err(what, e))
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| json_err(what, e))
}

fn record_of(body: &str, version: i64) -> Result<Record> {
    let mut r: Record = from_json("record", body)?;
    r.set_version(u64::try_from(version).unwrap_or(0));
    Ok(r)
}

/// The records of `rows` (key, JSON body, version), in their order, decoded on every core;
/// each row's strings are freed once decoded.
fn decode_records(mut rows: Vec<(String, String, i64)>) -> Result<Vec<Record>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = rows.len().div_ceil(threads).max(4096);
    let mut chunks = Vec::new();
    while rows.len() > per {
        chunks.push(rows.split_off(rows.len() - per));
    }
    chunks.push(rows);
    chunks.reverse();
    let decoded: Vec<Result<Vec<Record>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .into_iter()
                        .map(|(_, body, version)| record_of(&body, version))
                        .collect::<Result<Vec<Record>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(StoreError::Permanent("record decoding panicked".into()))
                })
            })
            .collect()
    });
    let parts = decoded.into_iter().collect::<Result<Vec<_>>>()?;
    let mut out = Vec::with_capacity(parts.iter().map(Vec::len).sum());
    for part in parts {
        out.extend(part);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Directory

fn stored_record(tx: &Transaction<'_>, district: &str, key: &str) -> Result<Option<Record>> {
    let row: Option<(String, i64)> = tx
        .prepare_cached("SELECT body, version FROM records WHERE district = ?1 AND key = ?2")
        .map_err(sql_err)?
        .query_row(params![district, key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(sql_err)?;
    row.map(|(body, v)| record_of(&body, v)).transpose()
}

/// Index rows to delete and insert, `(ikey, key)`, collected over a batch of writes and
/// appended to `idx_pending` in the batch's transaction ([`IdxOps::flush`]); [`fold_pending`]
/// merges them into `idx` later, in key order. Appending touches the log's last pages only,
/// where inserting into `idx` directly rewrote pages all over its B-tree in every transaction.
#[derive(Default)]
struct IdxOps {
    del: Vec<(String, String)>,
    ins: Vec<(String, String)>,
}

impl IdxOps {
    fn flush(&mut self, tx: &Transaction<'_>, district: &str) -> Result<()> {
        if self.del.is_empty() && self.ins.is_empty() {
            return Ok(());
        }
        let mut log = tx
            .prepare_cached(
                "INSERT INTO idx_pending (district, ikey, key, present) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(sql_err)?;
        // Deletions first: within one flush a row is never both deleted and inserted (they
        // are differences of one record's old and new keys), so the order is only tidy.
        for (present, rows) in [(0, &mut self.del), (1, &mut self.ins)] {
            for (ik, key) in rows.drain(..) {
                log.execute(params![district, ik, key, present])
                    .map_err(sql_err)?;
            }
        }
        Ok(())
    }
}

/// Log rows merged per step of [`fold_pending`]: bounds its memory (a 500,000-student first
/// sync logs about 12 million rows).
const FOLD_CHUNK: i64 = 200_000;

fn pending_exists(conn: &Connection) -> Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM idx_pending)")
        .map_err(sql_err)?
        .query_row([], |r| r.get(0))
        .map_err(sql_err)
}

/// Merges `idx_pending` into `idx` and empties it, in one transaction.
pub(crate) fn fold_pending(conn: &mut Connection) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql_err)?;
    let only_inserts: bool = tx
        .query_row(
            "SELECT NOT EXISTS (SELECT 1 FROM idx_pending WHERE present = 0)",
            [],
            |r| r.get(0),
        )
        .map_err(sql_err)?;
    if only_inserts {
        copy_insertions(&tx)?;
    } else {
        merge_latest(&tx)?;
    }
    tx.execute("DELETE FROM idx_pending", []).map_err(sql_err)?;
    tx.commit().map_err(sql_err)
}

/// A log of insertions only (a first sync's, mostly): the order of its rows does not matter,
/// so SQLite copies each chunk across in key order itself, without a round trip through owned
/// strings per row.
fn copy_insertions(tx: &Transaction<'_>) -> Result<()> {
    let (first, last): (Option<i64>, Option<i64>) = tx
        .query_row("SELECT MIN(seq), MAX(seq) FROM idx_pending", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .map_err(sql_err)?;
    let (Some(first), Some(last)) = (first, last) else {
        return Ok(());
    };
    let mut copy = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO idx (district, ikey, key)
             SELECT district, ikey, key FROM idx_pending
             WHERE seq >= ?1 AND seq < ?2 ORDER BY district, ikey, key",
        )
        .map_err(sql_err)?;
    let mut from = first;
    while from <= last {
        copy.execute(params![from, from + FOLD_CHUNK])
            .map_err(sql_err)?;
        from += FOLD_CHUNK;
    }
    Ok(())
}

/// A log with deletions: read in order in chunks, each reduced to the last operation per row
/// and applied in key order. Chunks are applied in log order, so a row's latest operation wins
/// across chunks too.
fn merge_latest(tx: &Transaction<'_>) -> Result<()> {
    let mut after = 0i64;
    loop {
        let mut last: std::collections::BTreeMap<(String, String, String), bool> =
            std::collections::BTreeMap::new();
        {
            let mut read = tx
                .prepare_cached(
                    "SELECT seq, district, ikey, key, present FROM idx_pending
                     WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                )
                .map_err(sql_err)?;
            let mut rows = read.query(params![after, FOLD_CHUNK]).map_err(sql_err)?;
            while let Some(r) = rows.next().map_err(sql_err)? {
                after = r.get(0).map_err(sql_err)?;
                let row = (
                    r.get(1).map_err(sql_err)?,
                    r.get(2).map_err(sql_err)?,
                    r.get(3).map_err(sql_err)?,
                );
                last.insert(row, r.get::<_, i64>(4).map_err(sql_err)? != 0);
            }
        }
        if last.is_empty() {
            return Ok(());
        }
        let mut ins = tx
            .prepare_cached("INSERT OR IGNORE INTO idx (district, ikey, key) VALUES (?1, ?2, ?3)")
            .map_err(sql_err)?;
        let mut del = tx
            .prepare_cached("DELETE FROM idx WHERE district = ?1 AND ikey = ?2 AND key = ?3")
            .map_err(sql_err)?;
        for ((d, ik, key), present) in &last {
            let stmt = if *present { &mut ins } else { &mut del };
            stmt.execute(params![d, ik, key]).map_err(sql_err)?;
        }
    }
}

/// Runs the read `f` on a snapshot in which `idx` is complete: when the log holds rows, it is
/// folded first. The check and the read share one read transaction, so a write another process
/// commits in between cannot leave its records visible and its index rows still in the log.
fn with_index<T>(conn: &mut Connection, f: impl Fn(&Connection) -> Result<T>) -> Result<T> {
    loop {
        {
            let tx = conn.transaction().map_err(sql_err)?;
            if !pending_exists(&tx)? {
                let out = f(&tx)?;
                tx.commit().map_err(sql_err)?;
                return Ok(out);
            }
        }
        fold_pending(conn)?;
    }
}

/// The index keys of `record` that get an `idx` row: all but those its own key answers
/// ([`IndexKey::key_prefix`]), which [`query_index`] reads from the records' key order.
fn stored_index_keys(record: &Record, key: &str) -> BTreeSet<IndexKey> {
    record
        .index_keys()
        .into_iter()
        .filter(|ik| !ik.answered_by_key(key))
        .collect()
}

/// The first string after every string that starts with `prefix`.
fn prefix_end(prefix: &str) -> String {
    let mut end = prefix.to_string();
    match end.pop() {
        Some(c) => end.push(char::from_u32(u32::from(c) + 1).unwrap_or(char::MAX)),
        None => end.push(char::MAX),
    }
    end
}

/// Records of `district` whose key starts with `prefix` and that carry `index`, in key order,
/// after `after`, at most `limit`.
fn prefix_range(
    conn: &Connection,
    district: &str,
    index: &IndexKey,
    prefix: &str,
    after: &str,
    limit: usize,
) -> Result<Vec<(String, Record)>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT key, body, version FROM records
             WHERE district = ?1 AND key >= ?2 AND key < ?3 AND key > ?4 ORDER BY key",
        )
        .map_err(sql_err)?;
    let mut rows = stmt
        .query(params![district, prefix, prefix_end(prefix), after])
        .map_err(sql_err)?;
    let mut out = Vec::new();
    while out.len() < limit {
        let Some(r) = rows.next().map_err(sql_err)? else {
            break;
        };
        let key: String = r.get(0).map_err(sql_err)?;
        let body: String = r.get(1).map_err(sql_err)?;
        let record = record_of(&body, r.get(2).map_err(sql_err)?)?;
        if record.index_keys().contains(index) {
            out.push((key, record));
        }
    }
    Ok(out)
}

/// Records carrying `index`, in key order, after `after`, at most `limit`: from the records'
/// key range when the index key has a key prefix, together with any `idx` rows.
fn query_index(
    conn: &Connection,
    district: &str,
    index: &IndexKey,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<Record>> {
    let after = after.unwrap_or("");
    let mut out: Vec<(String, Record)> = Vec::new();
    let mut stmt = conn
        .prepare_cached(
            "SELECT r.key, r.body, r.version FROM idx i
             JOIN records r ON r.district = i.district AND r.key = i.key
             WHERE i.district = ?1 AND i.ikey = ?2 AND i.key > ?3
             ORDER BY i.key LIMIT ?4",
        )
        .map_err(sql_err)?;
    let mut rows = stmt
        .query(params![
            district,
            index.as_str(),
            after,
            i64::try_from(limit).unwrap_or(i64::MAX)
        ])
        .map_err(sql_err)?;
    while let Some(r) = rows.next().map_err(sql_err)? {
        let body: String = r.get(1).map_err(sql_err)?;
        out.push((
            r.get(0).map_err(sql_err)?,
            record_of(&body, r.get(2).map_err(sql_err)?)?,
        ));
    }
    if let Some(prefix) = index.key_prefix() {
        out.extend(prefix_range(conn, district, index, &prefix, after, limit)?);
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.dedup_by(|a, b| a.0 == b.0);
        out.truncate(limit);
    }
    Ok(out.into_iter().map(|(_, r)| r).collect())
}

/// Stores `record` at `version`, moving its index rows from `old`'s keys to its own (queued
/// on `ops`).
fn store_record(
    tx: &Transaction<'_>,
    ops: &mut IdxOps,
    district: &str,
    old: Option<&Record>,
    record: &Record,
    version: u64,
) -> Result<()> {
    let mut r = record.clone();
    r.set_version(version);
    let key = r.key();
    let body = to_json("record", &r)?;
    tx.prepare_cached(
        "INSERT INTO records (district, key, kind, version, body) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (district, key) DO UPDATE
         SET kind = excluded.kind, version = excluded.version, body = excluded.body",
    )
    .map_err(sql_err)?
    .execute(params![
        district,
        key.as_str(),
        r.kind_name(),
        i64_of(version),
        body
    ])
    .map_err(sql_err)?;
    let new_keys = stored_index_keys(&r, key.as_str());
    let old_keys = old
        .map(|o| stored_index_keys(o, key.as_str()))
        .unwrap_or_default();
    ops.del.extend(
        old_keys
            .difference(&new_keys)
            .map(|ik| (ik.0.clone(), key.0.clone())),
    );
    ops.ins.extend(
        new_keys
            .difference(&old_keys)
            .map(|ik| (ik.0.clone(), key.0.clone())),
    );
    Ok(())
}

fn delete_record(
    tx: &Transaction<'_>,
    ops: &mut IdxOps,
    district: &str,
    old: &Record,
) -> Result<()> {
    let key = old.key();
    tx.prepare_cached("DELETE FROM records WHERE district = ?1 AND key = ?2")
        .map_err(sql_err)?
        .execute(params![district, key.as_str()])
        .map_err(sql_err)?;
    ops.del.extend(
        stored_index_keys(old, key.as_str())
            .into_iter()
            .map(|ik| (ik.0, key.0.clone())),
    );
    Ok(())
}

fn apply(
    tx: &Transaction<'_>,
    ops: &mut IdxOps,
    district: &str,
    w: &Write,
) -> Result<WriteOutcome> {
    let key = w.key();
    let stored = stored_record(tx, district, key.as_str())?;
    Ok(match (w, stored) {
        (Write::Put { record, expected }, stored) => match (stored, expected) {
            (None, None) => {
                store_record(tx, ops, district, None, record, 1)?;
                WriteOutcome::Written
            }
            (Some(s), Some(v)) if s.version() == *v => {
                store_record(tx, ops, district, Some(&s), record, v.saturating_add(1))?;
                WriteOutcome::Written
            }
            (Some(s), _) if s.content_eq(record) => WriteOutcome::AlreadyApplied,
            _ => WriteOutcome::Conflict,
        },
        (Write::Delete { .. }, None) => WriteOutcome::AlreadyApplied,
        (Write::Delete { expected, .. }, Some(s)) if s.version() == *expected => {
            delete_record(tx, ops, district, &s)?;
            WriteOutcome::Written
        }
        (Write::Delete { .. }, Some(_)) => WriteOutcome::Conflict,
    })
}

fn write_all(conn: &mut Connection, district: &str, writes: &[Write]) -> Result<Vec<WriteOutcome>> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql_err)?;
    // Index rows of a batch of distinct records are applied together, in order; a batch that
    // writes one record twice applies each write's rows before the next write reads them.
    let mut seen = std::collections::HashSet::with_capacity(writes.len());
    let distinct = writes.iter().all(|w| seen.insert(w.key()));
    let mut ops = IdxOps::default();
    let mut out = Vec::with_capacity(writes.len());
    for w in writes {
        out.push(apply(&tx, &mut ops, district, w)?);
        if !distinct {
            ops.flush(&tx, district)?;
        }
    }
    ops.flush(&tx, district)?;
    tx.commit().map_err(sql_err)?;
    Ok(out)
}

fn get_one(conn: &Connection, district: &str, key: &str) -> Result<Option<Record>> {
    let row: Option<(String, i64)> = conn
        .prepare_cached("SELECT body, version FROM records WHERE district = ?1 AND key = ?2")
        .map_err(sql_err)?
        .query_row(params![district, key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(sql_err)?;
    row.map(|(body, v)| record_of(&body, v)).transpose()
}

/// Index keys per statement of [`query_many`] (SQLite binds at most 32766 parameters).
const QUERY_MANY_CHUNK: usize = 500;

/// One statement per chunk of keys (the last chunk padded with repeats, so every chunk runs the
/// same cached statement); rows are de-duplicated by key before any body is decoded.
fn query_many(conn: &Connection, district: &str, indexes: &[String]) -> Result<Vec<Record>> {
    let placeholders = (0..QUERY_MANY_CHUNK)
        .map(|i| format!("?{}", i + 2))
        .collect::<Vec<_>>()
        .join(",");
    let sql = format!(
        "SELECT r.key, r.body, r.version FROM records r
         WHERE r.district = ?1 AND r.key IN
           (SELECT i.key FROM idx i WHERE i.district = ?1 AND i.ikey IN ({placeholders}))"
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(sql_err)?;
    let mut found: std::collections::BTreeMap<String, (String, i64)> = Default::default();
    for chunk in indexes.chunks(QUERY_MANY_CHUNK) {
        let mut args: Vec<&str> = Vec::with_capacity(QUERY_MANY_CHUNK + 1);
        args.push(district);
        args.extend(chunk.iter().map(String::as_str));
        let pad = chunk.last().map(String::as_str).unwrap_or_default();
        args.resize(QUERY_MANY_CHUNK + 1, pad);
        let mut rows = stmt
            .query(rusqlite::params_from_iter(args))
            .map_err(sql_err)?;
        while let Some(r) = rows.next().map_err(sql_err)? {
            let key: String = r.get(0).map_err(sql_err)?;
            if let std::collections::btree_map::Entry::Vacant(e) = found.entry(key) {
                e.insert((r.get(1).map_err(sql_err)?, r.get(2).map_err(sql_err)?));
            }
        }
    }
    let mut records = found
        .into_iter()
        .map(|(key, (body, v))| Ok((key, record_of(&body, v)?)))
        .collect::<Result<std::collections::BTreeMap<String, Record>>>()?;
    for index in indexes {
        let index = IndexKey(index.clone());
        if let Some(prefix) = index.key_prefix() {
            records.extend(prefix_range(
                conn,
                district,
                &index,
                &prefix,
                "",
                usize::MAX,
            )?);
        }
    }
    Ok(records.into_values().collect())
}

#[async_trait]
impl Directory for SqliteStore {
    async fn get(&self, district: &str, key: &RecordKey) -> Result<Option<Record>> {
        let (district, key) = (district.to_string(), key.0.clone());
        with_conn(&self.conn, move |c| get_one(c, &district, &key)).await
    }

    async fn get_many(&self, district: &str, keys: &[RecordKey]) -> Result<Vec<Record>> {
        let district = district.to_string();
        let keys = keys.to_vec();
        with_conn(&self.conn, move |c| {
            let mut out = Vec::with_capacity(keys.len());
            for k in &keys {
                out.extend(get_one(c, &district, k.as_str())?);
            }
            Ok(out)
        })
        .await
    }

    async fn query(
        &self,
        district: &str,
        index: &IndexKey,
        after: Option<&RecordKey>,
        limit: usize,
    ) -> Result<Vec<Record>> {
        let district = district.to_string();
        let index = index.clone();
        let after = after.map(|a| a.0.clone());
        with_conn(&self.conn, move |c| {
            with_index(c, |c| {
                query_index(c, &district, &index, after.as_deref(), limit)
            })
        })
        .await
    }

    async fn query_many(&self, district: &str, indexes: &[IndexKey]) -> Result<Vec<Record>> {
        if indexes.is_empty() {
            return Ok(Vec::new());
        }
        let district = district.to_string();
        let indexes: Vec<String> = indexes.iter().map(|k| k.0.clone()).collect();
        with_conn(&self.conn, move |c| {
            with_index(c, |c| query_many(c, &district, &indexes))
        })
        .await
    }

    async fn count(&self, district: &str) -> Result<Option<u64>> {
        let district = district.to_string();
        with_conn(&self.conn, move |c| {
            let n: i64 = c
                .prepare_cached("SELECT COUNT(*) FROM records WHERE district = ?1")
                .map_err(sql_err)?
                .query_row(params![district], |r| r.get(0))
                .map_err(sql_err)?;
            Ok(Some(u64::try_from(n).unwrap_or(0)))
        })
        .await
    }

    /// One sequential pass over the records table in storage order (`+district` keeps SQLite
    /// off the key index, which would fetch each row at random), sorted by key in memory. No
    /// `COUNT(*)` to size it: `Snapshot` has just called `Directory::count`. The connection is
    /// held only to copy the rows out; their JSON is decoded after, on every core.
    async fn scan(&self, district: &str) -> Result<Vec<Record>> {
        let district = district.to_string();
        let mut rows = with_conn(&self.conn, move |c| {
            let mut stmt = c
                .prepare_cached("SELECT key, body, version FROM records WHERE +district = ?1")
                .map_err(sql_err)?;
            let mut out: Vec<(String, String, i64)> = Vec::new();
            let mut rows = stmt.query(params![district]).map_err(sql_err)?;
            while let Some(r) = rows.next().map_err(sql_err)? {
                out.push((
                    r.get(0).map_err(sql_err)?,
                    r.get(1).map_err(sql_err)?,
                    r.get(2).map_err(sql_err)?,
                ));
            }
            Ok(out)
        })
        .await?;
        tokio::task::spawn_blocking(move || {
            rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            decode_records(rows)
        })
        .await
        .map_err(|e| StoreError::Permanent(format!("storage task failed: {e}")))?
    }

    async fn write(&self, district: &str, writes: &[Write]) -> Result<Vec<WriteOutcome>> {
        let district = district.to_string();
        let writes = writes.to_vec();
        let out = with_conn(&self.conn, move |c| write_all(c, &district, &writes)).await?;
        let written = out.iter().filter(|o| **o == WriteOutcome::Written).count();
        self.writes.fetch_add(written as u64, Ordering::Relaxed);
        Ok(out)
    }

    fn writes_count(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    async fn settle(&self) -> Result<()> {
        with_conn(&self.conn, |c| {
            if pending_exists(c)? {
                fold_pending(c)?;
            }
            Ok(())
        })
        .await
    }
}

/// Schema 2 → 3. Records move to a rowid table with a unique (district, key) index: rows are
/// appended instead of inserted into a B-tree of whole bodies in random key order (a first
/// sync's record pages were each rewritten by many transactions). The `idx` rows that a
/// record's own key now answers ([`IndexKey::key_prefix`]) are dropped.
pub(crate) fn migrate_v3(tx: &Transaction<'_>) -> Result<()> {
    tx.execute_batch(
        "CREATE TABLE records_v3 (
            id       INTEGER PRIMARY KEY,
            district TEXT NOT NULL,
            key      TEXT NOT NULL,
            kind     TEXT NOT NULL,
            version  INTEGER NOT NULL,
            body     TEXT NOT NULL,
            UNIQUE (district, key)
        );
        INSERT INTO records_v3 (district, key, kind, version, body)
            SELECT district, key, kind, version, body FROM records ORDER BY district, key;
        DROP TABLE records;
        ALTER TABLE records_v3 RENAME TO records;",
    )
    .map_err(sql_err)?;
    let covered: Vec<(String, String, String)> = {
        let mut stmt = tx
            .prepare(
                "SELECT district, ikey, key FROM idx
                 WHERE (ikey >= 'classroom#' AND ikey < 'classroom$')
                    OR (ikey >= 'kind#' AND ikey < 'kind$')",
            )
            .map_err(sql_err)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(sql_err)?;
        let mut out = Vec::new();
        for row in rows {
            let (d, ik, key): (String, String, String) = row.map_err(sql_err)?;
            if IndexKey(ik.clone()).answered_by_key(&key) {
                out.push((d, ik, key));
            }
        }
        out
    };
    let mut del = tx
        .prepare("DELETE FROM idx WHERE district = ?1 AND ikey = ?2 AND key = ?3")
        .map_err(sql_err)?;
    for (d, ik, key) in covered {
        del.execute(params![d, ik, key]).map_err(sql_err)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Runs

fn run_of(body: &str, version: i64) -> Result<Run> {
    let mut r: Run = from_json("run", body)?;
    r.version = u64::try_from(version).unwrap_or(0);
    Ok(r)
}

fn put_district(conn: &mut Connection, d: &District) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql_err)?;
    let stored: Option<i64> = tx
        .prepare_cached("SELECT version FROM districts WHERE id = ?1")
        .map_err(sql_err)?
        .query_row(params![d.id], |r| r.get(0))
        .optional()
        .map_err(sql_err)?;
    let ok = match stored {
        None => d.version == 0,
        Some(v) => d.version != 0 && v == i64_of(d.version),
    };
    if !ok {
        return Err(StoreError::Conflict(format!(
            "district {} changed (expected version {}, stored {stored:?})",
            d.id, d.version
        )));
    }
    let mut d = d.clone();
    d.version = d.version.saturating_add(1);
    tx.prepare_cached(
        "INSERT INTO districts (id, version, body) VALUES (?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET version = excluded.version, body = excluded.body",
    )
    .map_err(sql_err)?
    .execute(params![d.id, i64_of(d.version), to_json("district", &d)?])
    .map_err(sql_err)?;
    tx.commit().map_err(sql_err)
}

fn list_runs(
    conn: &Connection,
    district: &str,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Vec<Run>> {
    let mut rows: Vec<(String, i64)> = Vec::new();
    let mut push = |r: &rusqlite::Row<'_>| -> rusqlite::Result<()> {
        rows.push((r.get(0)?, r.get(1)?));
        Ok(())
    };
    match cursor {
        None => {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT body, version FROM runs WHERE district = ?1
                     ORDER BY started_secs DESC, started_nanos DESC, run_id DESC LIMIT ?2",
                )
                .map_err(sql_err)?;
            let mut q = stmt.query(params![district, limit]).map_err(sql_err)?;
            while let Some(r) = q.next().map_err(sql_err)? {
                push(r).map_err(sql_err)?;
            }
        }
        Some(c) => {
            let at: Option<(i64, i64)> = conn
                .prepare_cached(
                    "SELECT started_secs, started_nanos FROM runs
                     WHERE district = ?1 AND run_id = ?2",
                )
                .map_err(sql_err)?
                .query_row(params![district, c], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(sql_err)?;
            let Some((secs, nanos)) = at else {
                return Ok(Vec::new());
            };
            let mut stmt = conn
                .prepare_cached(
                    "SELECT body, version FROM runs WHERE district = ?1
                     AND (started_secs, started_nanos, run_id) < (?2, ?3, ?4)
                     ORDER BY started_secs DESC, started_nanos DESC, run_id DESC LIMIT ?5",
                )
                .map_err(sql_err)?;
            let mut q = stmt
                .query(params![district, secs, nanos, c, limit])
                .map_err(sql_err)?;
            while let Some(r) = q.next().map_err(sql_err)? {
                push(r).map_err(sql_err)?;
            }
        }
    }
    rows.iter().map(|(b, v)| run_of(b, *v)).collect()
}

#[async_trait]
impl Runs for SqliteStore {
    async fn get_district(&self, id: &str) -> Result<Option<District>> {
        let id = id.to_string();
        with_conn(&self.conn, move |c| {
            let row: Option<(String, i64)> = c
                .prepare_cached("SELECT body, version FROM districts WHERE id = ?1")
                .map_err(sql_err)?
                .query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(sql_err)?;
            row.map(|(b, v)| {
                let mut d: District = from_json("district", &b)?;
                d.version = u64::try_from(v).unwrap_or(0);
                Ok(d)
            })
            .transpose()
        })
        .await
    }

    async fn put_district(&self, district: &District) -> Result<()> {
        let d = district.clone();
        with_conn(&self.conn, move |c| put_district(c, &d)).await
    }

    async fn list_districts(&self) -> Result<Vec<District>> {
        with_conn(&self.conn, move |c| {
            let mut stmt = c
                .prepare_cached("SELECT body, version FROM districts ORDER BY id")
                .map_err(sql_err)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .map_err(sql_err)?;
            let mut out = Vec::new();
            for row in rows {
                let (b, v) = row.map_err(sql_err)?;
                let mut d: District = from_json("district", &b)?;
                d.version = u64::try_from(v).unwrap_or(0);
                out.push(d);
            }
            Ok(out)
        })
        .await
    }

    async fn create_run(&self, run: &Run) -> Result<()> {
        let mut run = run.clone();
        run.version = 1;
        with_conn(&self.conn, move |c| {
            let n = c
                .prepare_cached(
                    "INSERT INTO runs (district, run_id, started_secs, started_nanos, version, body)
                     VALUES (?1, ?2, ?3, ?4, 1, ?5) ON CONFLICT DO NOTHING",
                )
                .map_err(sql_err)?
                .execute(params![
                    run.district,
                    run.run_id,
                    run.started_at.timestamp(),
                    run.started_at.timestamp_subsec_nanos(),
                    to_json("run", &run)?
                ])
                .map_err(sql_err)?;
            if n == 0 {
                return Err(StoreError::Conflict(format!(
                    "run {} of {} exists",
                    run.run_id, run.district
                )));
            }
            Ok(())
        })
        .await
    }

    async fn get_run(&self, district: &str, run_id: &str) -> Result<Option<Run>> {
        let (district, run_id) = (district.to_string(), run_id.to_string());
        with_conn(&self.conn, move |c| {
            let row: Option<(String, i64)> = c
                .prepare_cached(
                    "SELECT body, version FROM runs WHERE district = ?1 AND run_id = ?2",
                )
                .map_err(sql_err)?
                .query_row(params![district, run_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(sql_err)?;
            row.map(|(b, v)| run_of(&b, v)).transpose()
        })
        .await
    }

    async fn update_run(&self, run: &Run) -> Result<()> {
        let expected = run.version;
        let mut run = run.clone();
        run.version = expected.saturating_add(1);
        with_conn(&self.conn, move |c| {
            let n = c
                .prepare_cached(
                    "UPDATE runs SET started_secs = ?3, started_nanos = ?4, version = ?5, body = ?6
                     WHERE district = ?1 AND run_id = ?2 AND version = ?7",
                )
                .map_err(sql_err)?
                .execute(params![
                    run.district,
                    run.run_id,
                    run.started_at.timestamp(),
                    run.started_at.timestamp_subsec_nanos(),
                    i64_of(run.version),
                    to_json("run", &run)?,
                    i64_of(expected)
                ])
                .map_err(sql_err)?;
            if n == 1 {
                return Ok(());
            }
            let exists = c
                .prepare_cached("SELECT 1 FROM runs WHERE district = ?1 AND run_id = ?2")
                .map_err(sql_err)?
                .exists(params![run.district, run.run_id])
                .map_err(sql_err)?;
            Err(if exists {
                StoreError::Conflict(format!(
                    "run {} changed (expected version {expected})",
                    run.run_id
                ))
            } else {
                StoreError::NotFound(format!("run {} of {}", run.run_id, run.district))
            })
        })
        .await
    }

    async fn list_runs(
        &self,
        district: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Run>> {
        let district = district.to_string();
        let cursor = cursor.map(str::to_string);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        with_conn(&self.conn, move |c| {
            list_runs(c, &district, cursor.as_deref(), limit)
        })
        .await
    }

    async fn school_done(
        &self,
        district: &str,
        run_id: &str,
        phase: &str,
        school: &str,
    ) -> Result<u64> {
        let args = [district, run_id, phase, school].map(str::to_string);
        with_conn(&self.conn, move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql_err)?;
            tx.prepare_cached(
                "INSERT OR IGNORE INTO school_done (district, run_id, phase, school)
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(sql_err)?
            .execute(params![args[0], args[1], args[2], args[3]])
            .map_err(sql_err)?;
            let n: i64 = tx
                .prepare_cached(
                    "SELECT COUNT(*) FROM school_done
                     WHERE district = ?1 AND run_id = ?2 AND phase = ?3",
                )
                .map_err(sql_err)?
                .query_row(params![args[0], args[1], args[2]], |r| r.get(0))
                .map_err(sql_err)?;
            tx.commit().map_err(sql_err)?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    async fn put_report(&self, report: &Report) -> Result<()> {
        let body = to_json("report", report)?;
        let (district, run_id) = (report.district.clone(), report.run_id.clone());
        with_conn(&self.conn, move |c| {
            c.prepare_cached(
                "INSERT INTO reports (district, run_id, body) VALUES (?1, ?2, ?3)
                 ON CONFLICT (district, run_id) DO UPDATE SET body = excluded.body",
            )
            .map_err(sql_err)?
            .execute(params![district, run_id, body])
            .map_err(sql_err)?;
            Ok(())
        })
        .await
    }

    async fn get_report(&self, district: &str, run_id: &str) -> Result<Option<Report>> {
        let (district, run_id) = (district.to_string(), run_id.to_string());
        with_conn(&self.conn, move |c| {
            let body: Option<String> = c
                .prepare_cached("SELECT body FROM reports WHERE district = ?1 AND run_id = ?2")
                .map_err(sql_err)?
                .query_row(params![district, run_id], |r| r.get(0))
                .optional()
                .map_err(sql_err)?;
            body.map(|b| from_json("report", &b)).transpose()
        })
        .await
    }

    async fn put_changes(
        &self,
        district: &str,
        run_id: &str,
        school: &str,
        changes: &[Change],
    ) -> Result<()> {
        let args = [district, run_id, school].map(str::to_string);
        let chunks = crate::changes::chunks(changes)?;
        let ttl = self.changes_ttl_secs;
        with_conn(&self.conn, move |c| {
            crate::changes::put(c, &args[0], &args[1], &args[2], &chunks, ttl)
        })
        .await
    }

    async fn list_changes(
        &self,
        district: &str,
        run_id: &str,
        filter: &ChangeFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Change>, Option<String>)> {
        let (district, run_id) = (district.to_string(), run_id.to_string());
        let filter = filter.clone();
        let cursor = cursor.map(str::to_string);
        with_conn(&self.conn, move |c| {
            crate::changes::list(c, &district, &run_id, &filter, cursor.as_deref(), limit)
        })
        .await
    }
}
