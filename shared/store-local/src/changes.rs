//! A run's stored change lists, in chunks: one row holds a run of consecutive changes of one
//! school that share entity, action and `school_id` (up to [`CHUNK_BYTES`] of JSON). Those three
//! are columns, so every filter of [`ChangeFilter`] is still answered by SQL; a page decodes only
//! the chunks it returns. A 50,000-student first sync or no-change run stores about 1,400 rows
//! instead of 430,000 (the planner emits a school's changes grouped by entity and action).

use crate::db::{json_err, sql_err};
use crate::sqlite::i64_of;
use domain::EntityKind;
use domain::directory::{Record, RecordKey};
use domain::plan::{Action, Change};
use rusqlite::{Connection, Transaction, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use store::{ChangeFilter, Result, StoreError};

/// Largest JSON body of one chunk (a chunk holds at least one change).
const CHUNK_BYTES: usize = 64 * 1024;

/// One change without the fields its chunk's columns carry.
#[derive(Serialize)]
struct EntryRef<'a> {
    k: &'a RecordKey,
    #[serde(skip_serializing_if = "Option::is_none")]
    s: Option<&'a String>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    f: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    v: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    a: Option<&'a Record>,
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<&'a String>,
}

#[derive(Deserialize)]
struct Entry {
    k: RecordKey,
    #[serde(default)]
    s: Option<String>,
    #[serde(default)]
    f: Vec<String>,
    #[serde(default)]
    v: Option<u64>,
    #[serde(default)]
    a: Option<Record>,
    #[serde(default)]
    n: Option<String>,
}

/// The columns a chunk's changes share.
struct Group {
    entity: EntityKind,
    action: Action,
    school_id: Option<String>,
}

impl Group {
    fn of(c: &Change) -> Self {
        Self {
            entity: c.entity,
            action: c.action,
            school_id: c.school_id.clone(),
        }
    }

    fn holds(&self, c: &Change) -> bool {
        self.entity == c.entity
            && self.action == c.action
            && self.school_id.as_deref() == c.school_id.as_deref()
    }
}

/// A chunk ready to insert: its first position, how many changes, their shared columns and
/// the JSON array of the rest.
pub(crate) struct Chunk {
    first: usize,
    n: usize,
    group: Group,
    body: String,
}

/// Encodes a school's change list as chunks, in order. Done before entering the database
/// thread, so the change list itself is never copied.
pub(crate) fn chunks(changes: &[Change]) -> Result<Vec<Chunk>> {
    let mut out: Vec<Chunk> = Vec::new();
    for (pos, c) in changes.iter().enumerate() {
        let json = serde_json::to_string(&EntryRef {
            k: &c.key,
            s: c.source_id.as_ref(),
            f: &c.fields,
            v: c.expected_version,
            a: c.after.as_ref(),
            n: c.note.as_ref(),
        })
        .map_err(|e| json_err("change", e))?;
        match out.last_mut() {
            Some(ch) if ch.group.holds(c) && ch.body.len() + json.len() + 2 <= CHUNK_BYTES => {
                ch.body.push(',');
                ch.body.push_str(&json);
                ch.n += 1;
            }
            _ => out.push(Chunk {
                first: pos,
                n: 1,
                group: Group::of(c),
                body: format!("[{json}"),
            }),
        }
    }
    for ch in &mut out {
        ch.body.push(']');
    }
    Ok(out)
}

/// Replaces a school's changes of a run (after dropping the change lists older than the TTL).
pub(crate) fn put(
    conn: &mut Connection,
    district: &str,
    run_id: &str,
    school: &str,
    chunks: &[Chunk],
    ttl_secs: i64,
) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql_err)?;
    // Retention: the change lists of runs that started more than the TTL before this one.
    tx.prepare_cached(
        "DELETE FROM change_chunks WHERE district = ?1 AND run_id IN (
           SELECT old.run_id FROM runs old, runs cur
           WHERE old.district = ?1 AND cur.district = ?1 AND cur.run_id = ?2
             AND old.started_secs < cur.started_secs - ?3)",
    )
    .map_err(sql_err)?
    .execute(params![district, run_id, ttl_secs])
    .map_err(sql_err)?;
    insert(&tx, district, run_id, school, chunks)?;
    tx.commit().map_err(sql_err)
}

/// Replaces a school's chunks within `tx`.
fn insert(
    tx: &Transaction<'_>,
    district: &str,
    run_id: &str,
    school: &str,
    chunks: &[Chunk],
) -> Result<()> {
    tx.prepare_cached(
        "DELETE FROM change_chunks WHERE district = ?1 AND run_id = ?2 AND school = ?3",
    )
    .map_err(sql_err)?
    .execute(params![district, run_id, school])
    .map_err(sql_err)?;
    let mut ins = tx
        .prepare_cached(
            "INSERT INTO change_chunks
               (district, run_id, school, first_pos, n, entity, action, school_id, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .map_err(sql_err)?;
    for ch in chunks {
        ins.execute(params![
            district,
            run_id,
            school,
            i64_of(ch.first as u64),
            i64_of(ch.n as u64),
            ch.group.entity.as_str(),
            ch.group.action.as_str(),
            ch.group.school_id,
            ch.body
        ])
        .map_err(sql_err)?;
    }
    Ok(())
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Permanent(format!("corrupt stored change chunk: {what}"))
}

/// A page of a run's changes in (school, position) order after `cursor`.
pub(crate) fn list(
    conn: &Connection,
    district: &str,
    run_id: &str,
    filter: &ChangeFilter,
    cursor: Option<&str>,
    limit: usize,
) -> Result<(Vec<Change>, Option<String>)> {
    let (after_school, after_pos) = match cursor {
        Some(c) => {
            let (school, pos) = store::parse_change_cursor(c)?;
            (school, i64::try_from(pos).unwrap_or(i64::MAX))
        }
        None => (String::new(), -1),
    };
    let mut stmt = conn
        .prepare_cached(
            "SELECT school, first_pos, entity, action, school_id, body FROM change_chunks
             WHERE district = ?1 AND run_id = ?2 AND school >= ?3
               AND (school > ?3 OR first_pos + n - 1 > ?4)
               AND (?5 IS NULL OR entity = ?5)
               AND (?6 IS NULL OR action = ?6)
               AND (?7 OR action <> 'unchanged')
               AND (?8 IS NULL OR school = ?8 OR school_id = ?8)
             ORDER BY school, first_pos",
        )
        .map_err(sql_err)?;
    let mut rows = stmt
        .query(params![
            district,
            run_id,
            after_school,
            after_pos,
            filter.entity.map(|e| e.as_str()),
            filter.action.map(Action::as_str),
            filter.include_unchanged,
            filter.school,
        ])
        .map_err(sql_err)?;
    let mut out = Vec::new();
    let mut last = None;
    while let Some(r) = rows.next().map_err(sql_err)? {
        let school: String = r.get(0).map_err(sql_err)?;
        let first: i64 = r.get(1).map_err(sql_err)?;
        let entity: String = r.get(2).map_err(sql_err)?;
        let action: String = r.get(3).map_err(sql_err)?;
        let entity = EntityKind::parse(&entity)
            .ok_or_else(|| corrupt(&format!("unknown entity {entity:?}")))?;
        let action =
            Action::parse(&action).ok_or_else(|| corrupt(&format!("unknown action {action:?}")))?;
        let school_id: Option<String> = r.get(4).map_err(sql_err)?;
        let body: String = r.get(5).map_err(sql_err)?;
        let entries: Vec<Entry> =
            serde_json::from_str(&body).map_err(|e| json_err("change chunk", e))?;
        for (pos, e) in (first..).zip(entries) {
            if school == after_school && pos <= after_pos {
                continue;
            }
            if out.len() == limit {
                return Ok((out, last));
            }
            out.push(Change {
                entity,
                action,
                key: e.k,
                school_id: school_id.clone(),
                source_id: e.s,
                fields: e.f,
                expected_version: e.v,
                after: e.a,
                note: e.n,
            });
            last = Some(store::change_cursor(
                &school,
                u64::try_from(pos).unwrap_or(0),
            ));
        }
    }
    Ok((out, None))
}

/// Schema 1 → 2: the one-row-per-change table becomes chunks (same order, same cursors).
pub(crate) fn migrate_v2(tx: &Transaction<'_>) -> Result<()> {
    tx.execute_batch(
        "CREATE TABLE change_chunks (
            district  TEXT NOT NULL,
            run_id    TEXT NOT NULL,
            school    TEXT NOT NULL,
            first_pos INTEGER NOT NULL,
            n         INTEGER NOT NULL,
            entity    TEXT NOT NULL,
            action    TEXT NOT NULL,
            school_id TEXT,
            body      TEXT NOT NULL,
            PRIMARY KEY (district, run_id, school, first_pos)
        ) WITHOUT ROWID;",
    )
    .map_err(sql_err)?;
    let mut current: Option<(String, String, String)> = None;
    let mut batch: Vec<Change> = Vec::new();
    {
        let mut stmt = tx
            .prepare("SELECT district, run_id, school, body FROM changes ORDER BY district, run_id, school, pos")
            .map_err(sql_err)?;
        let mut rows = stmt.query([]).map_err(sql_err)?;
        while let Some(r) = rows.next().map_err(sql_err)? {
            let id: (String, String, String) = (
                r.get(0).map_err(sql_err)?,
                r.get(1).map_err(sql_err)?,
                r.get(2).map_err(sql_err)?,
            );
            let body: String = r.get(3).map_err(sql_err)?;
            if current.as_ref() != Some(&id) {
                if let Some((d, run, s)) = current.take() {
                    insert(tx, &d, &run, &s, &chunks(&std::mem::take(&mut batch))?)?;
                }
                current = Some(id);
            }
            batch.push(serde_json::from_str(&body).map_err(|e| json_err("change", e))?);
        }
    }
    if let Some((d, run, s)) = current {
        insert(tx, &d, &run, &s, &chunks(&batch)?)?;
    }
    tx.execute_batch("DROP TABLE changes;").map_err(sql_err)
}
