//! [`SqliteQueue`]: a durable at-least-once queue in the SQLite file. A receive marks messages
//! invisible until `now + visibility` in one transaction; an ack deletes the delivery's message;
//! a release makes it visible again; a message received `max_receives` times moves to the
//! dead-letter table on its next receive. Time comes from an injectable [`Clock`].

use crate::db::{self, Shared, sql_err, with_conn};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, TransactionBehavior, params};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::{Clock, Delivery, Queue, Result, SystemClock};

/// One named queue in a SQLite file. Several queues (and a [`crate::SqliteStore`]) may share the
/// file. Cheap to clone: clones share one connection.
#[derive(Clone)]
pub struct SqliteQueue {
    conn: Shared,
    name: String,
    max_receives: u32,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SqliteQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteQueue")
            .field("name", &self.name)
            .field("max_receives", &self.max_receives)
            .finish_non_exhaustive()
    }
}

impl SqliteQueue {
    /// Opens (creating if needed) queue `name` in the database file at `path`, on the system
    /// clock. `max_receives` is at least 1.
    pub fn open(path: impl AsRef<Path>, name: &str, max_receives: u32) -> Result<Self> {
        Self::open_with_clock(path, name, max_receives, Arc::new(SystemClock))
    }

    /// As [`SqliteQueue::open`], measuring visibility timeouts on `clock`.
    pub fn open_with_clock(
        path: impl AsRef<Path>,
        name: &str,
        max_receives: u32,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let conn = db::open(path.as_ref())?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            name: name.to_string(),
            max_receives: max_receives.max(1),
            clock,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Messages not yet acknowledged nor dead-lettered (visible or in flight).
    pub async fn len(&self) -> Result<u64> {
        let name = self.name.clone();
        with_conn(&self.conn, move |c| {
            let n: i64 = c
                .prepare_cached("SELECT COUNT(*) FROM queue_messages WHERE queue = ?1")
                .map_err(sql_err)?
                .query_row(params![name], |r| r.get(0))
                .map_err(sql_err)?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }
}

/// `at + d`, saturating at the latest representable time.
fn add(at: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::TimeDelta::from_std(d)
        .ok()
        .and_then(|d| at.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// Receipts are `{seq}.{receive_count}`: unique per delivery, and they name their message.
fn receipt_seq(receipt: &str) -> Option<i64> {
    receipt.split_once('.').and_then(|(s, _)| s.parse().ok())
}

fn receive(
    c: &mut Connection,
    queue: &str,
    max: usize,
    max_receives: u32,
    now: i64,
    until: i64,
) -> Result<Vec<Delivery>> {
    let tx = c
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql_err)?;
    let mut out = Vec::new();
    loop {
        let want = max - out.len();
        if want == 0 {
            break;
        }
        let rows: Vec<(i64, String, u32)> = {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT seq, body, receive_count FROM queue_messages
                     WHERE queue = ?1 AND visible_at <= ?2 ORDER BY visible_at, seq LIMIT ?3",
                )
                .map_err(sql_err)?;
            let rows = stmt
                .query_map(
                    params![queue, now, i64::try_from(want).unwrap_or(i64::MAX)],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .map_err(sql_err)?;
            rows.collect::<rusqlite::Result<_>>().map_err(sql_err)?
        };
        if rows.is_empty() {
            break;
        }
        let mut dead_lettered = false;
        for (seq, body, count) in rows {
            if count >= max_receives {
                tx.prepare_cached(
                    "INSERT INTO queue_dead (queue, message_id, body, dead_at)
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(sql_err)?
                .execute(params![queue, seq.to_string(), body, now])
                .map_err(sql_err)?;
                tx.prepare_cached("DELETE FROM queue_messages WHERE seq = ?1")
                    .map_err(sql_err)?
                    .execute(params![seq])
                    .map_err(sql_err)?;
                dead_lettered = true;
                continue;
            }
            let count = count + 1;
            let receipt = format!("{seq}.{count}");
            tx.prepare_cached(
                "UPDATE queue_messages SET receive_count = ?2, visible_at = ?3, receipt = ?4
                 WHERE seq = ?1",
            )
            .map_err(sql_err)?
            .execute(params![seq, count, until, receipt])
            .map_err(sql_err)?;
            out.push(Delivery {
                message_id: seq.to_string(),
                receipt,
                body,
                receive_count: count,
            });
        }
        // Dead-lettered rows left room in the batch: look again.
        if !dead_lettered {
            break;
        }
    }
    tx.commit().map_err(sql_err)?;
    Ok(out)
}

#[async_trait]
impl Queue for SqliteQueue {
    async fn send(&self, body: &str) -> Result<String> {
        let (name, body) = (self.name.clone(), body.to_string());
        let now = micros(self.clock.now());
        with_conn(&self.conn, move |c| {
            c.prepare_cached(
                "INSERT INTO queue_messages (queue, body, receive_count, visible_at)
                 VALUES (?1, ?2, 0, ?3)",
            )
            .map_err(sql_err)?
            .execute(params![name, body, now])
            .map_err(sql_err)?;
            Ok(c.last_insert_rowid().to_string())
        })
        .await
    }

    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Delivery>> {
        let now_t = self.clock.now();
        let now = micros(now_t);
        let until = micros(add(now_t, visibility));
        let name = self.name.clone();
        let max_receives = self.max_receives;
        with_conn(&self.conn, move |c| {
            receive(c, &name, max, max_receives, now, until)
        })
        .await
    }

    async fn ack(&self, receipt: &str) -> Result<()> {
        let Some(seq) = receipt_seq(receipt) else {
            return Ok(());
        };
        let receipt = receipt.to_string();
        with_conn(&self.conn, move |c| {
            c.prepare_cached("DELETE FROM queue_messages WHERE seq = ?1 AND receipt = ?2")
                .map_err(sql_err)?
                .execute(params![seq, receipt])
                .map_err(sql_err)?;
            Ok(())
        })
        .await
    }

    async fn release(&self, receipt: &str) -> Result<()> {
        let Some(seq) = receipt_seq(receipt) else {
            return Ok(());
        };
        let receipt = receipt.to_string();
        let now = micros(self.clock.now());
        with_conn(&self.conn, move |c| {
            c.prepare_cached(
                "UPDATE queue_messages SET visible_at = ?3, receipt = NULL
                 WHERE seq = ?1 AND receipt = ?2",
            )
            .map_err(sql_err)?
            .execute(params![seq, receipt, now])
            .map_err(sql_err)?;
            Ok(())
        })
        .await
    }

    async fn dead_letters(&self) -> Result<Vec<String>> {
        let name = self.name.clone();
        with_conn(&self.conn, move |c| {
            let mut stmt = c
                .prepare_cached("SELECT body FROM queue_dead WHERE queue = ?1 ORDER BY seq")
                .map_err(sql_err)?;
            let rows = stmt
                .query_map(params![name], |r| r.get(0))
                .map_err(sql_err)?;
            rows.collect::<rusqlite::Result<_>>().map_err(sql_err)
        })
        .await
    }
}
