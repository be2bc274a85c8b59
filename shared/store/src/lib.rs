//! Storage ports: narrow async traits in domain types. Every adapter (in-memory, local
//! folder/SQLite, AWS S3/SQS/DynamoDB) implements them with the semantics documented here, and
//! passes the [`conformance`] suite that checks those semantics.

pub mod conformance;
pub mod memory;
pub mod snapshot;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::directory::{IndexKey, Record, RecordKey};
use domain::district::{District, Run};
use domain::plan::Change;
use domain::report::Report;
use std::time::Duration;

/// What a caller can act on, whichever backend failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found: {0}")]
    NotFound(String),
    /// A conditional write lost: the record or object changed (or exists) since it was read.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Throttling, timeouts, connection loss: trying again can help.
    #[error("transient storage error: {0}")]
    Transient(String),
    /// Anything else (bad configuration, corrupt data): retrying will not help.
    #[error("storage error: {0}")]
    Permanent(String),
}

impl StoreError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
}

/// A flat key → bytes store (S3, a local folder). Keys are `/`-separated relative paths.
/// `put` replaces atomically: a reader sees the old or the new object, never a partial one.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<()>;
    /// Fails with `Conflict` when the key exists.
    async fn put_if_absent(&self, key: &str, body: Vec<u8>) -> Result<()>;
    /// `NotFound` when absent.
    async fn get(&self, key: &str) -> Result<Vec<u8>>;
    /// Every object whose key starts with `prefix`, sorted by key.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>>;
    /// Deleting an absent key succeeds.
    async fn delete(&self, key: &str) -> Result<()>;
}

/// One received message. `receipt` acknowledges this delivery only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub message_id: String,
    pub receipt: String,
    pub body: String,
    /// 1 on the first delivery.
    pub receive_count: u32,
}

/// An at-least-once queue (SQS, the SQLite queue). A received message is invisible for the
/// visibility timeout, then delivered again unless acknowledged; after `max_receives`
/// deliveries it moves to the dead-letter queue instead.
#[async_trait]
pub trait Queue: Send + Sync {
    async fn send(&self, body: &str) -> Result<String>;
    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Delivery>>;
    async fn ack(&self, receipt: &str) -> Result<()>;
    /// Makes a delivery visible again at once (a failed attempt).
    async fn release(&self, receipt: &str) -> Result<()>;
    /// Bodies in the dead-letter queue.
    async fn dead_letters(&self) -> Result<Vec<String>>;
}

/// One conditional write of a directory record.
// Puts dominate batches, so boxing the record would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Store `record` with version `expected + 1`; `expected = None` means "must not exist".
    Put {
        record: Record,
        expected: Option<u64>,
    },
    /// Delete the record at `key` if it still has version `expected`.
    Delete { key: RecordKey, expected: u64 },
}

impl Write {
    pub fn key(&self) -> RecordKey {
        match self {
            Self::Put { record, .. } => record.key(),
            Self::Delete { key, .. } => key.clone(),
        }
    }
}

/// Per-write outcome of [`Directory::write`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Written,
    /// The record already holds exactly this content (a redelivered write): nothing done.
    AlreadyApplied,
    /// The version did not match and the content differs: the caller must re-plan.
    Conflict,
}

/// The page size of the default [`Directory::query_many`].
pub const QUERY_MANY_PAGE: usize = 500;

/// Directory state of every district: records under [`RecordKey`]s, found through the
/// [`IndexKey`]s they declare ([`Record::index_keys`]).
#[async_trait]
pub trait Directory: Send + Sync {
    async fn get(&self, district: &str, key: &RecordKey) -> Result<Option<Record>>;
    async fn get_many(&self, district: &str, keys: &[RecordKey]) -> Result<Vec<Record>>;
    /// Records carrying `index`, in key order, paged: up to `limit` after `after`.
    async fn query(
        &self,
        district: &str,
        index: &IndexKey,
        after: Option<&RecordKey>,
        limit: usize,
    ) -> Result<Vec<Record>>;
    /// Every record carrying at least one of `indexes`, each once, in key order (not paged:
    /// callers bound the key count, adapters batch it however suits the backend). The default
    /// pages through [`Directory::query`] once per key.
    async fn query_many(&self, district: &str, indexes: &[IndexKey]) -> Result<Vec<Record>> {
        let mut out: std::collections::BTreeMap<RecordKey, Record> = Default::default();
        for index in indexes {
            let mut after: Option<RecordKey> = None;
            loop {
                let page = self
                    .query(district, index, after.as_ref(), QUERY_MANY_PAGE)
                    .await?;
                let n = page.len();
                after = page.last().map(Record::key);
                for r in page {
                    out.insert(r.key(), r);
                }
                if n < QUERY_MANY_PAGE {
                    break;
                }
            }
        }
        Ok(out.into_values().collect())
    }
    /// Every record of the district, each once, in key order. The default pages through the
    /// `kind` index of every record kind; adapters with a cheaper full read override it.
    async fn scan(&self, district: &str) -> Result<Vec<Record>> {
        let kinds: Vec<IndexKey> = Record::KIND_NAMES.into_iter().map(IndexKey::kind).collect();
        self.query_many(district, &kinds).await
    }
    /// How many records the district holds, when the adapter can tell cheaply.
    async fn count(&self, _district: &str) -> Result<Option<u64>> {
        Ok(None)
    }
    /// A read-only in-memory copy of the district that callers may read in place, when this
    /// adapter keeps one ([`snapshot::Snapshot`]); `None` otherwise.
    async fn frozen(&self, _district: &str) -> Result<Option<std::sync::Arc<snapshot::Frozen>>> {
        Ok(None)
    }
    /// Conditional writes, each atomic on its own (not as a batch). A `Put` whose version does
    /// not match but whose stored content equals the record is `AlreadyApplied`.
    async fn write(&self, district: &str, writes: &[Write]) -> Result<Vec<WriteOutcome>>;
    /// Writes counted since the adapter was built (benchmarks).
    fn writes_count(&self) -> u64 {
        0
    }
    /// Finishes any index upkeep the adapter deferred to batch it (SQLite logs a run's index
    /// changes and merges them in key order). Reads never depend on it (an adapter that defers
    /// catches up before it answers); a run calls it when its writes are done, so the next
    /// reader does not pay for them.
    async fn settle(&self) -> Result<()> {
        Ok(())
    }
}

/// Districts, runs, reports and stored changes.
#[async_trait]
pub trait Runs: Send + Sync {
    async fn get_district(&self, id: &str) -> Result<Option<District>>;
    /// Conditional on `district.version` (0 = create); stores version + 1.
    async fn put_district(&self, district: &District) -> Result<()>;
    async fn list_districts(&self) -> Result<Vec<District>>;

    /// Fails with `Conflict` if the run id exists.
    async fn create_run(&self, run: &Run) -> Result<()>;
    async fn get_run(&self, district: &str, run_id: &str) -> Result<Option<Run>>;
    /// Conditional on `run.version`; stores version + 1.
    async fn update_run(&self, run: &Run) -> Result<()>;
    /// Newest first; `cursor` is the last run id of the previous page.
    async fn list_runs(
        &self,
        district: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Run>>;
    /// Atomically records that `school` finished `phase`; returns how many distinct schools have
    /// finished it (a repeated call for the same school does not count twice).
    async fn school_done(
        &self,
        district: &str,
        run_id: &str,
        phase: &str,
        school: &str,
    ) -> Result<u64>;

    async fn put_report(&self, report: &Report) -> Result<()>;
    async fn get_report(&self, district: &str, run_id: &str) -> Result<Option<Report>>;

    /// Stores a school's (or the district step's, `school = "_district"`) changes of a run,
    /// replacing any earlier ones for that school.
    async fn put_changes(
        &self,
        district: &str,
        run_id: &str,
        school: &str,
        changes: &[Change],
    ) -> Result<()>;
    /// Changes of a run in (school, position) order, paged by an opaque cursor.
    async fn list_changes(
        &self,
        district: &str,
        run_id: &str,
        filter: &ChangeFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Change>, Option<String>)>;
}

/// Cursor of [`Runs::list_changes`] pages: the last returned `(school, position)`.
pub fn change_cursor(school: &str, pos: u64) -> String {
    format!("{pos}:{school}")
}

pub fn parse_change_cursor(cursor: &str) -> Result<(String, u64)> {
    cursor
        .split_once(':')
        .and_then(|(p, s)| Some((s.to_string(), p.parse().ok()?)))
        .ok_or_else(|| StoreError::Permanent(format!("malformed changes cursor {cursor:?}")))
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeFilter {
    pub entity: Option<domain::EntityKind>,
    pub action: Option<domain::plan::Action>,
    pub school: Option<String>,
    /// Include `unchanged` entries (off by default: they are the bulk of a re-sync).
    pub include_unchanged: bool,
}

/// Time as an input, so tests never sleep.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
