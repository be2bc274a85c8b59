//! The directory records one school plan reads, indexed by the same keys the stores index.

use domain::directory::{IndexKey, Record, RecordKey};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use store::snapshot::Frozen;

/// A read-only slice of the directory: the school, its classrooms and their memberships, the
/// people the shard can match (by source id or secondary key) and their guardian links.
/// Extra records are harmless: the planner only looks up what concerns the shard (by key, or
/// by an index key the shard's records carry), so a whole-district [`Frozen`] copy, read in
/// place, plans exactly as the slice loaded for the school does.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectoryView(Inner);

#[derive(Debug, Clone, PartialEq)]
enum Inner {
    Owned {
        records: BTreeMap<RecordKey, Record>,
        index: BTreeMap<IndexKey, BTreeSet<RecordKey>>,
    },
    Shared(Arc<Frozen>),
}

impl Default for DirectoryView {
    fn default() -> Self {
        Self(Inner::Owned {
            records: BTreeMap::new(),
            index: BTreeMap::new(),
        })
    }
}

impl DirectoryView {
    pub fn new(records: impl IntoIterator<Item = Record>) -> Self {
        let mut recs: BTreeMap<RecordKey, Record> = BTreeMap::new();
        for r in records {
            recs.insert(r.key(), r);
        }
        let mut index: BTreeMap<IndexKey, BTreeSet<RecordKey>> = BTreeMap::new();
        for (key, r) in &recs {
            for k in r.index_keys() {
                index.entry(k).or_default().insert(key.clone());
            }
        }
        Self(Inner::Owned {
            records: recs,
            index,
        })
    }

    /// A view that reads a whole-district copy in place (nothing copied).
    pub fn shared(frozen: Arc<Frozen>) -> Self {
        Self(Inner::Shared(frozen))
    }

    pub fn get(&self, key: &RecordKey) -> Option<&Record> {
        match &self.0 {
            Inner::Owned { records, .. } => records.get(key),
            Inner::Shared(f) => f.get(key),
        }
    }

    pub fn contains(&self, key: &RecordKey) -> bool {
        self.get(key).is_some()
    }

    /// Records carrying `index`, in key order.
    pub fn by_index<'a>(&'a self, index: &IndexKey) -> Box<dyn Iterator<Item = &'a Record> + 'a> {
        match &self.0 {
            Inner::Owned { records, index: ix } => Box::new(
                ix.get(index)
                    .into_iter()
                    .flatten()
                    .filter_map(|k| records.get(k)),
            ),
            Inner::Shared(f) => Box::new(f.by_index(index)),
        }
    }

    /// Every record, in key order.
    pub fn records(&self) -> Box<dyn Iterator<Item = &Record> + '_> {
        match &self.0 {
            Inner::Owned { records, .. } => Box::new(records.values()),
            Inner::Shared(f) => Box::new(f.records().iter()),
        }
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            Inner::Owned { records, .. } => records.len(),
            Inner::Shared(f) => f.records().len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
