//! In-memory adapters of every port: fast, thread-safe (one `std::sync::Mutex` each), with the
//! exact semantics of the durable adapters, for unit tests of the sync engine and the API.
//!
//! [`ManualClock`] is a [`Clock`] that moves only when told to, so that queue visibility timeouts
//! can be tested without sleeping.

use crate::{
    ChangeFilter, Clock, Delivery, Directory, ObjectMeta, ObjectStore, Queue, Result, Runs,
    StoreError, SystemClock, Write, WriteOutcome,
};
use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use domain::directory::{IndexKey, Record, RecordKey};
use domain::district::{District, Run};
use domain::plan::{Action, Change};
use domain::report::Report;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Locks, recovering the data of a poisoned mutex: every mutation below leaves the state
/// consistent before it can panic, so a panic elsewhere never corrupts it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `at + d`, saturating at the latest representable time.
pub(crate) fn add_std(at: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(d)
        .ok()
        .and_then(|d| at.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

// ---------------------------------------------------------------------------------------------
// Clock

/// A clock that only moves when told to. Share it (`Arc`) between an adapter and its test.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        let mut now = lock(&self.now);
        *now = add_std(*now, d);
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *lock(&self.now) = at;
    }
}

impl Default for ManualClock {
    /// Starts at the real current time.
    fn default() -> Self {
        Self::new(Utc::now())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *lock(&self.now)
    }
}

// ---------------------------------------------------------------------------------------------
// Object store

/// A key → bytes map.
#[derive(Debug, Default)]
pub struct MemoryObjectStore {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryObjectStore {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl ObjectStore for MemoryObjectStore {
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<()> {
        lock(&self.objects).insert(key.to_string(), body);
        Ok(())
    }

    async fn put_if_absent(&self, key: &str, body: Vec<u8>) -> Result<()> {
        let mut objects = lock(&self.objects);
        if objects.contains_key(key) {
            return Err(StoreError::Conflict(format!("object {key} exists")));
        }
        objects.insert(key.to_string(), body);
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>> {
        lock(&self.objects)
            .get(key)
            .cloned()
            .ok_or_else(|| StoreError::NotFound(format!("object {key}")))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        let objects = lock(&self.objects);
        Ok(objects
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| ObjectMeta {
                key: k.clone(),
                size: v.len() as u64,
            })
            .collect())
    }

    async fn delete(&self, key: &str) -> Result<()> {
        lock(&self.objects).remove(key);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Queue

#[derive(Debug)]
struct Message {
    id: String,
    body: String,
    receive_count: u32,
    visible_at: DateTime<Utc>,
    /// Receipt of the current delivery, while one is outstanding.
    receipt: Option<String>,
}

#[derive(Debug, Default)]
struct QueueState {
    next_seq: u64,
    /// In send order.
    messages: BTreeMap<u64, Message>,
    dead: Vec<String>,
}

/// An at-least-once queue with a visibility timeout measured on an injectable [`Clock`], and a
/// dead-letter list for messages received `max_receives` times without an ack.
pub struct MemoryQueue {
    clock: Arc<dyn Clock>,
    max_receives: u32,
    state: Mutex<QueueState>,
}

impl std::fmt::Debug for MemoryQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryQueue")
            .field("max_receives", &self.max_receives)
            .finish_non_exhaustive()
    }
}

impl MemoryQueue {
    /// A queue on the system clock. `max_receives` is at least 1.
    pub fn new(max_receives: u32) -> Self {
        Self::with_clock(max_receives, Arc::new(SystemClock))
    }

    /// A queue whose visibility timeouts are measured on `clock` (a [`ManualClock`] in tests).
    pub fn with_clock(max_receives: u32, clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            max_receives: max_receives.max(1),
            state: Mutex::new(QueueState::default()),
        }
    }

    /// Messages sent and not yet acknowledged nor dead-lettered (visible or in flight).
    pub fn len(&self) -> usize {
        lock(&self.state).messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Receipts are `{seq}.{receive_count}`: unique per delivery, and they name their message.
fn receipt_seq(receipt: &str) -> Option<u64> {
    receipt.split_once('.').and_then(|(s, _)| s.parse().ok())
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn send(&self, body: &str) -> Result<String> {
        let now = self.clock.now();
        let mut st = lock(&self.state);
        let seq = st.next_seq;
        st.next_seq += 1;
        let id = format!("m{seq}");
        st.messages.insert(
            seq,
            Message {
                id: id.clone(),
                body: body.to_string(),
                receive_count: 0,
                visible_at: now,
                receipt: None,
            },
        );
        Ok(id)
    }

    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Delivery>> {
        let now = self.clock.now();
        let mut st = lock(&self.state);
        let mut out = Vec::new();
        let mut dead = Vec::new();
        for (seq, m) in st.messages.iter_mut() {
            if out.len() >= max {
                break;
            }
            if m.visible_at > now {
                continue;
            }
            if m.receive_count >= self.max_receives {
                dead.push(*seq);
                continue;
            }
            m.receive_count += 1;
            m.visible_at = add_std(now, visibility);
            let receipt = format!("{seq}.{}", m.receive_count);
            m.receipt = Some(receipt.clone());
            out.push(Delivery {
                message_id: m.id.clone(),
                receipt,
                body: m.body.clone(),
                receive_count: m.receive_count,
            });
        }
        for seq in dead {
            if let Some(m) = st.messages.remove(&seq) {
                st.dead.push(m.body);
            }
        }
        Ok(out)
    }

    async fn ack(&self, receipt: &str) -> Result<()> {
        let mut st = lock(&self.state);
        if let Some(seq) = receipt_seq(receipt) {
            let current = st
                .messages
                .get(&seq)
                .is_some_and(|m| m.receipt.as_deref() == Some(receipt));
            if current {
                st.messages.remove(&seq);
            }
        }
        Ok(())
    }

    async fn release(&self, receipt: &str) -> Result<()> {
        let now = self.clock.now();
        let mut st = lock(&self.state);
        let current = receipt_seq(receipt)
            .and_then(|seq| st.messages.get_mut(&seq))
            .filter(|m| m.receipt.as_deref() == Some(receipt));
        if let Some(m) = current {
            m.visible_at = now;
            m.receipt = None;
        }
        Ok(())
    }

    async fn dead_letters(&self) -> Result<Vec<String>> {
        Ok(lock(&self.state).dead.clone())
    }
}

// ---------------------------------------------------------------------------------------------
// Directory

#[derive(Debug, Default)]
struct DistrictRecords {
    records: BTreeMap<RecordKey, Record>,
    /// (index key, record key) for every index key of every stored record.
    index: BTreeSet<(IndexKey, RecordKey)>,
}

impl DistrictRecords {
    fn unindex(&mut self, record: &Record) {
        let key = record.key();
        for ik in record.index_keys() {
            self.index.remove(&(ik, key.clone()));
        }
    }

    fn store(&mut self, mut record: Record, version: u64) {
        record.set_version(version);
        let key = record.key();
        if let Some(old) = self.records.remove(&key) {
            self.unindex(&old);
        }
        for ik in record.index_keys() {
            self.index.insert((ik, key.clone()));
        }
        self.records.insert(key, record);
    }

    fn remove(&mut self, key: &RecordKey) {
        if let Some(old) = self.records.remove(key) {
            self.unindex(&old);
        }
    }

    fn apply(&mut self, w: &Write) -> WriteOutcome {
        match w {
            Write::Put { record, expected } => {
                let key = record.key();
                match (self.records.get(&key), expected) {
                    (None, None) => {
                        self.store(record.clone(), 1);
                        WriteOutcome::Written
                    }
                    (Some(stored), Some(v)) if stored.version() == *v => {
                        self.store(record.clone(), v.saturating_add(1));
                        WriteOutcome::Written
                    }
                    (Some(stored), _) if stored.content_eq(record) => WriteOutcome::AlreadyApplied,
                    _ => WriteOutcome::Conflict,
                }
            }
            Write::Delete { key, expected } => match self.records.get(key) {
                None => WriteOutcome::AlreadyApplied,
                Some(stored) if stored.version() == *expected => {
                    self.remove(key);
                    WriteOutcome::Written
                }
                Some(_) => WriteOutcome::Conflict,
            },
        }
    }
}

/// Directory records of every district, with their secondary indexes.
#[derive(Debug, Default)]
pub struct MemoryDirectory {
    districts: Mutex<HashMap<String, DistrictRecords>>,
    writes: AtomicU64,
}

impl MemoryDirectory {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every record of a district, in key order (tests and debugging).
    pub fn snapshot(&self, district: &str) -> Vec<Record> {
        lock(&self.districts)
            .get(district)
            .map(|d| d.records.values().cloned().collect())
            .unwrap_or_default()
    }
}

#[async_trait]
impl Directory for MemoryDirectory {
    async fn get(&self, district: &str, key: &RecordKey) -> Result<Option<Record>> {
        Ok(lock(&self.districts)
            .get(district)
            .and_then(|d| d.records.get(key).cloned()))
    }

    async fn get_many(&self, district: &str, keys: &[RecordKey]) -> Result<Vec<Record>> {
        let districts = lock(&self.districts);
        let Some(d) = districts.get(district) else {
            return Ok(Vec::new());
        };
        Ok(keys
            .iter()
            .filter_map(|k| d.records.get(k).cloned())
            .collect())
    }

    async fn query(
        &self,
        district: &str,
        index: &IndexKey,
        after: Option<&RecordKey>,
        limit: usize,
    ) -> Result<Vec<Record>> {
        let districts = lock(&self.districts);
        let Some(d) = districts.get(district) else {
            return Ok(Vec::new());
        };
        let start = match after {
            Some(a) => Bound::Excluded((index.clone(), a.clone())),
            None => Bound::Included((index.clone(), RecordKey(String::new()))),
        };
        Ok(d.index
            .range((start, Bound::Unbounded))
            .take_while(|(ik, _)| ik == index)
            .take(limit)
            .filter_map(|(_, k)| d.records.get(k).cloned())
            .collect())
    }

    async fn query_many(&self, district: &str, indexes: &[IndexKey]) -> Result<Vec<Record>> {
        let districts = lock(&self.districts);
        let Some(d) = districts.get(district) else {
            return Ok(Vec::new());
        };
        let mut keys: BTreeSet<&RecordKey> = BTreeSet::new();
        for index in indexes {
            let start = Bound::Included((index.clone(), RecordKey(String::new())));
            keys.extend(
                d.index
                    .range((start, Bound::Unbounded))
                    .take_while(|(ik, _)| ik == index)
                    .map(|(_, k)| k),
            );
        }
        Ok(keys
            .into_iter()
            .filter_map(|k| d.records.get(k).cloned())
            .collect())
    }

    async fn write(&self, district: &str, writes: &[Write]) -> Result<Vec<WriteOutcome>> {
        let mut districts = lock(&self.districts);
        let d = districts.entry(district.to_string()).or_default();
        let outcomes: Vec<WriteOutcome> = writes.iter().map(|w| d.apply(w)).collect();
        let written = outcomes
            .iter()
            .filter(|o| **o == WriteOutcome::Written)
            .count();
        self.writes.fetch_add(written as u64, Ordering::Relaxed);
        Ok(outcomes)
    }

    async fn count(&self, district: &str) -> Result<Option<u64>> {
        Ok(Some(
            lock(&self.districts)
                .get(district)
                .map_or(0, |d| d.records.len() as u64),
        ))
    }

    fn writes_count(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }
}

// ---------------------------------------------------------------------------------------------
// Runs

/// True when `change`, stored under `school`, passes `filter`. The school filter matches the
/// school the changes were stored under or the change's own `school_id`.
pub fn change_matches(filter: &ChangeFilter, school: &str, change: &Change) -> bool {
    (filter.include_unchanged || change.action != Action::Unchanged)
        && filter.entity.is_none_or(|e| e == change.entity)
        && filter.action.is_none_or(|a| a == change.action)
        && filter
            .school
            .as_deref()
            .is_none_or(|s| s == school || change.school_id.as_deref() == Some(s))
}

#[derive(Debug, Default)]
struct RunsState {
    districts: BTreeMap<String, District>,
    /// (district, run id) → run.
    runs: BTreeMap<(String, String), Run>,
    /// (district, run id, phase) → schools done.
    done: HashMap<(String, String, String), BTreeSet<String>>,
    reports: HashMap<(String, String), Report>,
    /// (district, run id) → school → changes in position order.
    changes: HashMap<(String, String), BTreeMap<String, Vec<Change>>>,
}

/// Districts, runs, reports and stored changes.
#[derive(Debug, Default)]
pub struct MemoryRuns {
    state: Mutex<RunsState>,
}

impl MemoryRuns {
    pub fn new() -> Self {
        Self::default()
    }
}

fn key2(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

#[async_trait]
impl Runs for MemoryRuns {
    async fn get_district(&self, id: &str) -> Result<Option<District>> {
        Ok(lock(&self.state).districts.get(id).cloned())
    }

    async fn put_district(&self, district: &District) -> Result<()> {
        let mut st = lock(&self.state);
        let stored = st.districts.get(&district.id).map(|d| d.version);
        let ok = match stored {
            None => district.version == 0,
            Some(v) => district.version != 0 && v == district.version,
        };
        if !ok {
            return Err(StoreError::Conflict(format!(
                "district {} changed (expected version {}, stored {stored:?})",
                district.id, district.version
            )));
        }
        let mut d = district.clone();
        d.version = district.version.saturating_add(1);
        st.districts.insert(d.id.clone(), d);
        Ok(())
    }

    async fn list_districts(&self) -> Result<Vec<District>> {
        Ok(lock(&self.state).districts.values().cloned().collect())
    }

    async fn create_run(&self, run: &Run) -> Result<()> {
        let mut st = lock(&self.state);
        let k = key2(&run.district, &run.run_id);
        if st.runs.contains_key(&k) {
            return Err(StoreError::Conflict(format!(
                "run {} of {} exists",
                run.run_id, run.district
            )));
        }
        let mut r = run.clone();
        r.version = 1;
        st.runs.insert(k, r);
        Ok(())
    }

    async fn get_run(&self, district: &str, run_id: &str) -> Result<Option<Run>> {
        Ok(lock(&self.state).runs.get(&key2(district, run_id)).cloned())
    }

    async fn update_run(&self, run: &Run) -> Result<()> {
        let mut st = lock(&self.state);
        let k = key2(&run.district, &run.run_id);
        let Some(stored) = st.runs.get_mut(&k) else {
            return Err(StoreError::NotFound(format!(
                "run {} of {}",
                run.run_id, run.district
            )));
        };
        if stored.version != run.version {
            return Err(StoreError::Conflict(format!(
                "run {} changed (expected version {}, stored {})",
                run.run_id, run.version, stored.version
            )));
        }
        let mut r = run.clone();
        r.version = run.version.saturating_add(1);
        *stored = r;
        Ok(())
    }

    async fn list_runs(
        &self,
        district: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Run>> {
        let st = lock(&self.state);
        let mut runs: Vec<&Run> = st
            .runs
            .range(key2(district, "")..)
            .take_while(|((d, _), _)| d == district)
            .map(|(_, r)| r)
            .collect();
        runs.sort_by(|a, b| {
            b.started_at
                .cmp(&a.started_at)
                .then_with(|| b.run_id.cmp(&a.run_id))
        });
        let start = match cursor {
            None => 0,
            Some(c) => match runs.iter().position(|r| r.run_id == c) {
                Some(i) => i + 1,
                None => return Ok(Vec::new()),
            },
        };
        Ok(runs.into_iter().skip(start).take(limit).cloned().collect())
    }

    async fn school_done(
        &self,
        district: &str,
        run_id: &str,
        phase: &str,
        school: &str,
    ) -> Result<u64> {
        let mut st = lock(&self.state);
        let set = st
            .done
            .entry((district.to_string(), run_id.to_string(), phase.to_string()))
            .or_default();
        set.insert(school.to_string());
        Ok(set.len() as u64)
    }

    async fn put_report(&self, report: &Report) -> Result<()> {
        lock(&self.state)
            .reports
            .insert(key2(&report.district, &report.run_id), report.clone());
        Ok(())
    }

    async fn get_report(&self, district: &str, run_id: &str) -> Result<Option<Report>> {
        Ok(lock(&self.state)
            .reports
            .get(&key2(district, run_id))
            .cloned())
    }

    async fn put_changes(
        &self,
        district: &str,
        run_id: &str,
        school: &str,
        changes: &[Change],
    ) -> Result<()> {
        lock(&self.state)
            .changes
            .entry(key2(district, run_id))
            .or_default()
            .insert(school.to_string(), changes.to_vec());
        Ok(())
    }

    async fn list_changes(
        &self,
        district: &str,
        run_id: &str,
        filter: &ChangeFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Change>, Option<String>)> {
        let after = cursor.map(crate::parse_change_cursor).transpose()?;
        let st = lock(&self.state);
        let Some(schools) = st.changes.get(&key2(district, run_id)) else {
            return Ok((Vec::new(), None));
        };
        let mut page = Vec::new();
        let mut last = None;
        for (school, changes) in schools {
            for (pos, c) in changes.iter().enumerate() {
                let pos = pos as u64;
                let seen = after
                    .as_ref()
                    .is_some_and(|(s, p)| (school.as_str(), pos) <= (s.as_str(), *p));
                if seen {
                    continue;
                }
                if !change_matches(filter, school, c) {
                    continue;
                }
                if page.len() == limit {
                    return Ok((page, last));
                }
                page.push(c.clone());
                last = Some(crate::change_cursor(school, pos));
            }
        }
        Ok((page, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance;

    #[tokio::test]
    async fn object_store_conforms() {
        conformance::object_store(&MemoryObjectStore::new()).await;
    }

    #[tokio::test]
    async fn queue_conforms() {
        let clock = Arc::new(ManualClock::default());
        let q = MemoryQueue::with_clock(3, clock.clone());
        conformance::queue(&q, 3, Duration::from_secs(30), |d| {
            clock.advance(d);
            std::future::ready(())
        })
        .await;
    }

    #[tokio::test]
    async fn directory_conforms() {
        let d = MemoryDirectory::new();
        conformance::directory(&d).await;
        assert!(d.writes_count() > 0);
    }

    #[tokio::test]
    async fn runs_conforms() {
        conformance::runs(&MemoryRuns::new()).await;
    }

    #[tokio::test]
    async fn suites_can_share_one_backend() {
        let d = MemoryDirectory::new();
        let r = MemoryRuns::new();
        let o = MemoryObjectStore::new();
        tokio::join!(
            conformance::directory(&d),
            conformance::directory(&d),
            conformance::runs(&r),
            conformance::runs(&r),
            conformance::object_store(&o),
            conformance::object_store(&o),
        );
    }

    #[tokio::test]
    async fn stale_receipts_do_nothing() {
        let clock = Arc::new(ManualClock::default());
        let q = MemoryQueue::with_clock(5, clock.clone());
        q.send("a").await.unwrap();
        let first = q.receive(1, Duration::from_secs(10)).await.unwrap();
        clock.advance(Duration::from_secs(11));
        let second = q.receive(1, Duration::from_secs(10)).await.unwrap();
        assert_eq!(second[0].receive_count, 2);
        q.ack(&first[0].receipt).await.unwrap();
        q.release(&first[0].receipt).await.unwrap();
        assert_eq!(q.len(), 1, "a stale receipt must not ack");
        assert!(
            q.receive(1, Duration::from_secs(10))
                .await
                .unwrap()
                .is_empty()
        );
        q.ack(&second[0].receipt).await.unwrap();
        assert!(q.is_empty());
        q.ack("garbage").await.unwrap();
    }
}
