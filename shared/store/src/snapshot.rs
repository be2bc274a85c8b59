//! [`Snapshot`]: a [`Directory`] that answers reads from one in-memory copy of a district,
//! loaded with a single [`Directory::scan`], until the next write.
//!
//! Planning a run reads the directory school by school: each school's people by every source
//! id, sis id, email and phone they carry, its classrooms' enrollments and its students'
//! guardian links, hundreds of thousands of index look-ups for a large district. Against SQLite
//! each is a B-tree descent through the index table and another through the records; against
//! the snapshot it is a hash look-up. The planning phase writes nothing, so one scan serves every
//! school plan and the district step of a run.
//!
//! Writes go to the inner directory and drop the district's copy (before and after the write),
//! so a read never sees a state older than this process's last write: an apply that conflicts
//! re-plans from fresh reads. Writers in other processes are caught, as without the snapshot,
//! by the conditional writes (a stale version is a conflict, never a lost update).

use crate::{Directory, Result, Write, WriteOutcome};
use async_trait::async_trait;
use domain::directory::{IndexKey, Record, RecordKey};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// One district's records in key order, with every index key's record positions (ascending):
/// what a [`Snapshot`] answers from, and what a planner can read in place.
#[derive(Debug, Default)]
pub struct Frozen {
    keys: Vec<RecordKey>,
    records: Vec<Record>,
    index: HashMap<IndexKey, Vec<u32>>,
}

impl PartialEq for Frozen {
    fn eq(&self, other: &Self) -> bool {
        self.records == other.records
    }
}

impl Frozen {
    /// Indexes `records` (sorted by key first unless they already are; a repeated key keeps
    /// the first record).
    pub fn new(mut records: Vec<Record>) -> Self {
        let mut keys: Vec<RecordKey> = records.iter().map(Record::key).collect();
        if !keys.windows(2).all(|w| w[0] < w[1]) {
            // Sorted through a permutation applied in place: no second copy of the records
            // (a district's worth of them) while they are put in order.
            let mut order: Vec<u32> = (0..u32::try_from(keys.len()).unwrap_or(u32::MAX)).collect();
            order
                .sort_unstable_by(|&a, &b| keys[a as usize].cmp(&keys[b as usize]).then(a.cmp(&b)));
            permute(&mut order, &mut keys, &mut records);
            // A repeated key keeps its first record (the sort kept input order among equals).
            let mut write = 0;
            for read in 0..keys.len() {
                if write > 0 && keys[read] == keys[write - 1] {
                    continue;
                }
                keys.swap(write, read);
                records.swap(write, read);
                write += 1;
            }
            keys.truncate(write);
            records.truncate(write);
        }
        // Index keys a record's own key answers (`kind#…`, an enrollment's classroom) are not
        // stored: [`Frozen::positions`] finds them in the sorted keys.
        let mut index: HashMap<IndexKey, Vec<u32>> = HashMap::new();
        for (i, (k, r)) in keys.iter().zip(&records).enumerate() {
            let pos = u32::try_from(i).unwrap_or(u32::MAX);
            for ik in r.index_keys() {
                if !ik.answered_by_key(k.as_str()) {
                    index.entry(ik).or_default().push(pos);
                }
            }
        }
        Self {
            keys,
            records,
            index,
        }
    }

    fn position(&self, key: &RecordKey) -> Option<usize> {
        self.keys.binary_search(key).ok()
    }

    /// Positions of the records carrying `index`, ascending: the stored entries, merged with
    /// the records in the key range of `index`'s key prefix that carry it (an id may contain
    /// `#`, so a key in the range need not carry it).
    fn positions(&self, index: &IndexKey) -> Cow<'_, [u32]> {
        let stored = self.index.get(index).map(Vec::as_slice).unwrap_or_default();
        let Some(prefix) = index.key_prefix() else {
            return Cow::Borrowed(stored);
        };
        // Every record of kind K carries `kind#K`; a `classroom#…` key is checked.
        let every = index.as_str().starts_with("kind#");
        let start = self.keys.partition_point(|k| k.as_str() < prefix.as_str());
        let mut out: Vec<u32> = self.keys[start..]
            .iter()
            .take_while(|k| k.as_str().starts_with(prefix.as_str()))
            .enumerate()
            .filter(|&(i, _)| every || self.records[start + i].index_keys().contains(index))
            .map(|(i, _)| u32::try_from(start + i).unwrap_or(u32::MAX))
            .collect();
        if !stored.is_empty() {
            out.extend_from_slice(stored);
            out.sort_unstable();
            out.dedup();
        }
        Cow::Owned(out)
    }

    pub fn get(&self, key: &RecordKey) -> Option<&Record> {
        self.position(key).map(|i| &self.records[i])
    }

    /// Records carrying `index`, in key order.
    pub fn by_index<'a>(&'a self, index: &IndexKey) -> impl Iterator<Item = &'a Record> + use<'a> {
        let positions = self.positions(index);
        (0..positions.len()).map(move |i| &self.records[positions[i] as usize])
    }

    /// Every record, in key order.
    pub fn records(&self) -> &[Record] {
        &self.records
    }
}

/// Puts `keys[order[i]]` and `records[order[i]]` at `i`, in place, following the cycles of
/// `order` (left as the identity).
fn permute(order: &mut [u32], keys: &mut [RecordKey], records: &mut [Record]) {
    for start in 0..order.len() {
        let mut at = start;
        while order[at] as usize != start {
            let from = order[at] as usize;
            keys.swap(at, from);
            records.swap(at, from);
            order[at] = at as u32;
            at = from;
        }
        order[at] = at as u32;
    }
}

/// A read snapshot over `inner` (see the module docs). Build one per run; it holds at most one
/// copy of each district it was asked about, and none of a district with more records than its
/// budget (or whose size the adapter cannot tell): reads of that one go to `inner`.
pub struct Snapshot {
    inner: Arc<dyn Directory>,
    max_records: u64,
    /// `None`: the district is over budget (reads go to `inner`).
    loaded: Mutex<HashMap<String, Option<Arc<Frozen>>>>,
    /// Incremented by every write: a copy loaded across a write is not kept.
    generation: AtomicU64,
    /// Held while loading, so readers arriving together share one scan.
    loading: tokio::sync::Mutex<()>,
}

impl Snapshot {
    /// A snapshot that copies districts of up to `max_records` records.
    pub fn new(inner: Arc<dyn Directory>, max_records: u64) -> Self {
        Self {
            inner,
            max_records,
            loaded: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            loading: tokio::sync::Mutex::new(()),
        }
    }

    fn cached(&self, district: &str) -> Option<Option<Arc<Frozen>>> {
        self.loaded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(district)
            .cloned()
    }

    /// The district's copy, loading it on first use; `None` when it is over budget.
    async fn load(&self, district: &str) -> Result<Option<Arc<Frozen>>> {
        if let Some(l) = self.cached(district) {
            return Ok(l);
        }
        let _loading = self.loading.lock().await;
        if let Some(l) = self.cached(district) {
            return Ok(l);
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let fits = matches!(self.inner.count(district).await?, Some(n) if n <= self.max_records);
        let loaded = if fits {
            Some(Arc::new(Frozen::new(self.inner.scan(district).await?)))
        } else {
            None
        };
        if self.generation.load(Ordering::SeqCst) == generation {
            self.loaded
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(district.to_string(), loaded.clone());
        }
        Ok(loaded)
    }

    /// Loads `district`'s copy now (a no-op when loaded or over budget), so that a caller can
    /// overlap the scan with other work; an error is left for the first read to report.
    pub async fn prefetch(&self, district: &str) {
        // A failed load caches nothing: the first read tries again and reports the error.
        let _ = self.load(district).await;
    }

    /// Drops every loaded copy, freeing them on a thread of their own: a large district's
    /// hundreds of thousands of records take a noticeable part of a second to free, which the
    /// caller (a finished run) need not wait for. Later reads load again.
    pub fn release(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        let loaded =
            std::mem::take(&mut *self.loaded.lock().unwrap_or_else(PoisonError::into_inner));
        if !loaded.is_empty() {
            // When no thread can be started, spawn drops the closure, freeing them here.
            let _ = std::thread::Builder::new()
                .name("snapshot-free".into())
                .spawn(move || drop(loaded));
        }
    }

    fn invalidate(&self, district: &str) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.loaded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(district);
    }
}

#[async_trait]
impl Directory for Snapshot {
    async fn get(&self, district: &str, key: &RecordKey) -> Result<Option<Record>> {
        let Some(l) = self.load(district).await? else {
            return self.inner.get(district, key).await;
        };
        Ok(l.get(key).cloned())
    }

    async fn get_many(&self, district: &str, keys: &[RecordKey]) -> Result<Vec<Record>> {
        let Some(l) = self.load(district).await? else {
            return self.inner.get_many(district, keys).await;
        };
        Ok(keys.iter().filter_map(|k| l.get(k).cloned()).collect())
    }

    async fn query(
        &self,
        district: &str,
        index: &IndexKey,
        after: Option<&RecordKey>,
        limit: usize,
    ) -> Result<Vec<Record>> {
        let Some(l) = self.load(district).await? else {
            return self.inner.query(district, index, after, limit).await;
        };
        let positions = l.positions(index);
        let start = match after {
            Some(a) => positions.partition_point(|&p| l.keys[p as usize] <= *a),
            None => 0,
        };
        Ok(positions[start..]
            .iter()
            .take(limit)
            .map(|&p| l.records[p as usize].clone())
            .collect())
    }

    async fn query_many(&self, district: &str, indexes: &[IndexKey]) -> Result<Vec<Record>> {
        let Some(l) = self.load(district).await? else {
            return self.inner.query_many(district, indexes).await;
        };
        let mut positions: Vec<u32> = Vec::new();
        for ik in indexes {
            positions.extend_from_slice(&l.positions(ik));
        }
        positions.sort_unstable();
        positions.dedup();
        Ok(positions
            .into_iter()
            .map(|p| l.records[p as usize].clone())
            .collect())
    }

    async fn scan(&self, district: &str) -> Result<Vec<Record>> {
        match self.load(district).await? {
            Some(l) => Ok(l.records.clone()),
            None => self.inner.scan(district).await,
        }
    }

    async fn count(&self, district: &str) -> Result<Option<u64>> {
        self.inner.count(district).await
    }

    async fn settle(&self) -> Result<()> {
        self.inner.settle().await
    }

    async fn frozen(&self, district: &str) -> Result<Option<Arc<Frozen>>> {
        self.load(district).await
    }

    async fn write(&self, district: &str, writes: &[Write]) -> Result<Vec<WriteOutcome>> {
        self.invalidate(district);
        let out = self.inner.write(district, writes).await;
        self.invalidate(district);
        out
    }

    fn writes_count(&self) -> u64 {
        self.inner.writes_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance;
    use crate::memory::MemoryDirectory;

    #[tokio::test]
    async fn snapshot_passes_the_directory_conformance_suite() {
        let inner = Arc::new(MemoryDirectory::new());
        let d = Snapshot::new(inner.clone(), u64::MAX);
        conformance::directory(&d).await;
        assert!(d.writes_count() > 0);
    }

    #[tokio::test]
    async fn prefetch_loads_the_copy_and_release_drops_it_until_the_next_read() {
        let inner: Arc<dyn Directory> = Arc::new(MemoryDirectory::new());
        let e = conformance::student("p1", "s1", "x1");
        conformance::write1(inner.as_ref(), "d1", conformance::put(&e, None)).await;
        let d = Snapshot::new(inner.clone(), u64::MAX);
        d.prefetch("d1").await;
        assert!(d.cached("d1").is_some(), "prefetch loaded the copy");
        d.release();
        assert!(d.cached("d1").is_none(), "release dropped it");
        let again = d.frozen("d1").await.unwrap().expect("loaded again on read");
        assert_eq!(again.get(&e.key()).map(Record::key), Some(e.key()));
    }

    #[test]
    fn frozen_sorts_records_by_key_and_keeps_the_first_of_a_repeated_key() {
        // Unsorted, with repeats, long cycles and fixed points for the in-place permutation.
        let mut input = Vec::new();
        for i in [7, 3, 9, 3, 0, 5, 1, 9, 8, 2, 6, 4, 7] {
            let mut p = conformance::student(&format!("p{i}"), "s1", &format!("x{i}"));
            p.set_version(input.len() as u64);
            input.push(p);
        }
        let f = Frozen::new(input.clone());
        let keys: Vec<RecordKey> = f.records().iter().map(Record::key).collect();
        let mut want = keys.clone();
        want.sort();
        want.dedup();
        assert_eq!(keys, want, "sorted, one record per key");
        assert_eq!(keys.len(), 10);
        for r in f.records() {
            let first = input.iter().find(|i| i.key() == r.key()).unwrap();
            assert_eq!(
                r.version(),
                first.version(),
                "the first of a repeated key is kept"
            );
            assert_eq!(f.get(&r.key()), Some(r));
        }
        assert!(f.get(&RecordKey("person#nobody".into())).is_none());
        let by_external: Vec<_> = f.by_index(&IndexKey::external("x9")).collect();
        assert_eq!(by_external.len(), 1, "the index points at the kept record");
        assert_eq!(by_external[0].version(), 2);
    }

    #[tokio::test]
    async fn a_district_over_budget_is_read_through() {
        let inner = Arc::new(MemoryDirectory::new());
        let d = Snapshot::new(inner.clone(), 0);
        conformance::directory(&d).await;
        let some = d.scan("d0").await.unwrap();
        assert!(some.is_empty());
        let p = conformance::student("p1", "s1", "x1");
        conformance::write1(&d, "d1", conformance::put(&p, None)).await;
        assert!(
            d.frozen("d1").await.unwrap().is_none(),
            "over budget: no copy"
        );
        assert_eq!(
            d.scan("d1").await.unwrap().len(),
            1,
            "reads go to the directory"
        );
    }

    #[tokio::test]
    async fn reads_after_a_write_see_it_and_scan_is_the_whole_district() {
        let inner: Arc<dyn Directory> = Arc::new(MemoryDirectory::new());
        let d = Snapshot::new(inner.clone(), u64::MAX);
        let kinds = IndexKey::kind("person");
        assert!(d.query("d1", &kinds, None, 10).await.unwrap().is_empty());
        let e = conformance::student("p1", "s1", "x1");
        conformance::write1(&d, "d1", conformance::put(&e, None)).await;
        let got = d.query("d1", &kinds, None, 10).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].key(), e.key());
        assert_eq!(got[0].version(), 1);
        assert_eq!(d.scan("d1").await.unwrap(), inner.scan("d1").await.unwrap());
        // A write by someone else is not seen until this snapshot writes (documented).
        let p2 = conformance::student("p2", "s1", "x2");
        conformance::write1(inner.as_ref(), "d1", conformance::put(&p2, None)).await;
        assert_eq!(d.scan("d1").await.unwrap().len(), 1);
        assert_eq!(inner.scan("d1").await.unwrap().len(), 2);
    }
}
