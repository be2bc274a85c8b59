//! [`SqliteStore`]: the directory, districts, runs, reports and stored changes in one SQLite
//! file. A `Directory::write` call is one transaction of per-write conditional updates, with
//! the index rows kept exactly equal to each record's `index_keys()`.

use crate::db::{self, Shared, json_err, sql_err, with_conn};
use async_trait::async_trait;
use domain::directory::{IndexKey, Record, RecordKey};
use domain::district::{District, Run};
use domain::plan::{Action, Change};
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

fn i64_of(v: u64) -> i64 {
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

/// Index rows to delete and insert, `(ikey, key)`. A batch of writes to distinct records
/// collects them all and runs them in key order at the end ([`IdxOps::flush`]): B-tree
/// inserts in order touch each page once instead of hopping across the index.
#[derive(Default)]
struct IdxOps {
    del: Vec<(String, String)>,
    ins: Vec<(String, String)>,
}

impl IdxOps {
    fn flush(&mut self, tx: &Transaction<'_>, district: &str) -> Result<()> {
        if !self.del.is_empty() {
            self.del.sort_unstable();
            let mut del = tx
                .prepare_cached("DELETE FROM idx WHERE district = ?1 AND ikey = ?2 AND key = ?3")
                .map_err(sql_err)?;
            for (ik, key) in self.del.drain(..) {
                del.execute(params![district, ik, key]).map_err(sql_err)?;
            }
        }
        if !self.ins.is_empty() {
            self.ins.sort_unstable();
            let mut ins = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO idx (district, ikey, key) VALUES (?1, ?2, ?3)",
                )
                .map_err(sql_err)?;
            for (ik, key) in self.ins.drain(..) {
                ins.execute(params![district, ik, key]).map_err(sql_err)?;
            }
        }
        Ok(())
    }
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
    let new_keys: BTreeSet<IndexKey> = r.index_keys().into_iter().collect();
    let old_keys: BTreeSet<IndexKey> = old
        .map(|o| o.index_keys().into_iter().collect())
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
    ops.del
        .extend(old.index_keys().into_iter().map(|ik| (ik.0, key.0.clone())));
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
    found
        .into_values()
        .map(|(body, v)| record_of(&body, v))
        .collect()
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
        let index = index.0.clone();
        let after = after.map(|a| a.0.clone());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        with_conn(&self.conn, move |c| {
            // Two statements rather than one with `?3 IS NULL`: a bound parameter the planner
            // folds makes SQLite re-prepare the statement on every rebind.
            let mut out = Vec::new();
            let mut push = |r: &rusqlite::Row<'_>| -> Result<()> {
                let body: String = r.get(0).map_err(sql_err)?;
                let v: i64 = r.get(1).map_err(sql_err)?;
                out.push(record_of(&body, v)?);
                Ok(())
            };
            match after {
                Some(after) => {
                    let mut stmt = c
                        .prepare_cached(
                            "SELECT r.body, r.version FROM idx i
                             JOIN records r ON r.district = i.district AND r.key = i.key
                             WHERE i.district = ?1 AND i.ikey = ?2 AND i.key > ?3
                             ORDER BY i.key LIMIT ?4",
                        )
                        .map_err(sql_err)?;
                    let mut rows = stmt
                        .query(params![district, index, after, limit])
                        .map_err(sql_err)?;
                    while let Some(r) = rows.next().map_err(sql_err)? {
                        push(r)?;
                    }
                }
                None => {
                    let mut stmt = c
                        .prepare_cached(
                            "SELECT r.body, r.version FROM idx i
                             JOIN records r ON r.district = i.district AND r.key = i.key
                             WHERE i.district = ?1 AND i.ikey = ?2
                             ORDER BY i.key LIMIT ?3",
                        )
                        .map_err(sql_err)?;
                    let mut rows = stmt
                        .query(params![district, index, limit])
                        .map_err(sql_err)?;
                    while let Some(r) = rows.next().map_err(sql_err)? {
                        push(r)?;
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    async fn query_many(&self, district: &str, indexes: &[IndexKey]) -> Result<Vec<Record>> {
        if indexes.is_empty() {
            return Ok(Vec::new());
        }
        let district = district.to_string();
        let indexes: Vec<String> = indexes.iter().map(|k| k.0.clone()).collect();
        with_conn(&self.conn, move |c| query_many(c, &district, &indexes)).await
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

    /// One pass over the records table in primary-key order (no index look-ups).
    async fn scan(&self, district: &str) -> Result<Vec<Record>> {
        let district = district.to_string();
        with_conn(&self.conn, move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT body, version FROM records WHERE district = ?1 ORDER BY key",
                )
                .map_err(sql_err)?;
            let mut out = Vec::new();
            let mut rows = stmt.query(params![district]).map_err(sql_err)?;
            while let Some(r) = rows.next().map_err(sql_err)? {
                let body: String = r.get(0).map_err(sql_err)?;
                out.push(record_of(&body, r.get(1).map_err(sql_err)?)?);
            }
            Ok(out)
        })
        .await
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
}

// ---------------------------------------------------------------------------------------------
// Runs

fn run_of(body: &str, version: i64) -> Result<Run> {
    let mut r: Run = from_json("run", body)?;
    r.version = u64::try_from(version).unwrap_or(0);
    Ok(r)
}

fn change_cursor(school: &str, pos: i64) -> String {
    format!("{pos}:{school}")
}

fn parse_change_cursor(cursor: &str) -> Result<(String, i64)> {
    cursor
        .split_once(':')
        .and_then(|(p, s)| Some((s.to_string(), p.parse().ok()?)))
        .ok_or_else(|| StoreError::Permanent(format!("malformed changes cursor {cursor:?}")))
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

fn put_changes(
    conn: &mut Connection,
    district: &str,
    run_id: &str,
    school: &str,
    changes: &[Change],
    ttl_secs: i64,
) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql_err)?;
    // Retention: the change lists of runs that started more than the TTL before this one.
    tx.prepare_cached(
        "DELETE FROM changes WHERE district = ?1 AND run_id IN (
           SELECT old.run_id FROM runs old, runs cur
           WHERE old.district = ?1 AND cur.district = ?1 AND cur.run_id = ?2
             AND old.started_secs < cur.started_secs - ?3)",
    )
    .map_err(sql_err)?
    .execute(params![district, run_id, ttl_secs])
    .map_err(sql_err)?;
    tx.prepare_cached("DELETE FROM changes WHERE district = ?1 AND run_id = ?2 AND school = ?3")
        .map_err(sql_err)?
        .execute(params![district, run_id, school])
        .map_err(sql_err)?;
    {
        let mut ins = tx
            .prepare_cached(
                "INSERT INTO changes (district, run_id, school, pos, entity, action, school_id, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .map_err(sql_err)?;
        for (pos, c) in changes.iter().enumerate() {
            ins.execute(params![
                district,
                run_id,
                school,
                i64::try_from(pos).unwrap_or(i64::MAX),
                c.entity.as_str(),
                c.action.as_str(),
                c.school_id,
                to_json("change", c)?
            ])
            .map_err(sql_err)?;
        }
    }
    tx.commit().map_err(sql_err)
}

fn list_changes(
    conn: &Connection,
    district: &str,
    run_id: &str,
    filter: &ChangeFilter,
    cursor: Option<&str>,
    limit: usize,
) -> Result<(Vec<Change>, Option<String>)> {
    let (after_school, after_pos) = match cursor {
        Some(c) => parse_change_cursor(c)?,
        None => (String::new(), -1),
    };
    let mut stmt = conn
        .prepare_cached(
            "SELECT school, pos, body FROM changes
             WHERE district = ?1 AND run_id = ?2 AND (school, pos) > (?3, ?4)
               AND (?5 IS NULL OR entity = ?5)
               AND (?6 IS NULL OR action = ?6)
               AND (?7 OR action <> 'unchanged')
               AND (?8 IS NULL OR school = ?8 OR school_id = ?8)
             ORDER BY school, pos LIMIT ?9",
        )
        .map_err(sql_err)?;
    let fetch = i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1;
    let mut q = stmt
        .query(params![
            district,
            run_id,
            after_school,
            after_pos,
            filter.entity.map(|e| e.as_str()),
            filter.action.map(Action::as_str),
            filter.include_unchanged,
            filter.school,
            fetch
        ])
        .map_err(sql_err)?;
    let mut out = Vec::new();
    let mut last = None;
    while let Some(r) = q.next().map_err(sql_err)? {
        if out.len() == limit {
            return Ok((out, last));
        }
        let school: String = r.get(0).map_err(sql_err)?;
        let pos: i64 = r.get(1).map_err(sql_err)?;
        let body: String = r.get(2).map_err(sql_err)?;
        out.push(from_json::<Change>("change", &body)?);
        last = Some(change_cursor(&school, pos));
    }
    Ok((out, None))
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
        let changes = changes.to_vec();
        let ttl = self.changes_ttl_secs;
        with_conn(&self.conn, move |c| {
            put_changes(c, &args[0], &args[1], &args[2], &changes, ttl)
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
            list_changes(c, &district, &run_id, &filter, cursor.as_deref(), limit)
        })
        .await
    }
}
