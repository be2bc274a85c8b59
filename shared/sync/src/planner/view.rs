//! The directory records one school plan reads, indexed by the same keys the stores index.

use domain::directory::{IndexKey, Record, RecordKey};
use std::collections::{BTreeMap, BTreeSet};

/// A read-only slice of the directory: the school, its classrooms and their memberships, the
/// people the shard can match (by source id or secondary key) and their guardian links.
/// Extra records are harmless: the planner only looks at what concerns the shard.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DirectoryView {
    records: BTreeMap<RecordKey, Record>,
    index: BTreeMap<IndexKey, BTreeSet<RecordKey>>,
}

impl DirectoryView {
    pub fn new(records: impl IntoIterator<Item = Record>) -> Self {
        let mut v = Self::default();
        for r in records {
            v.insert(r);
        }
        v
    }

    /// Adds (or replaces) a record.
    pub fn insert(&mut self, r: Record) {
        let key = r.key();
        if let Some(old) = self.records.get(&key) {
            for k in old.index_keys() {
                if let Some(set) = self.index.get_mut(&k) {
                    set.remove(&key);
                }
            }
        }
        for k in r.index_keys() {
            self.index.entry(k).or_default().insert(key.clone());
        }
        self.records.insert(key, r);
    }

    pub fn get(&self, key: &RecordKey) -> Option<&Record> {
        self.records.get(key)
    }

    pub fn contains(&self, key: &RecordKey) -> bool {
        self.records.contains_key(key)
    }

    /// Records carrying `index`, in key order.
    pub fn by_index<'a>(&'a self, index: &IndexKey) -> impl Iterator<Item = &'a Record> + 'a {
        self.index
            .get(index)
            .into_iter()
            .flatten()
            .filter_map(|k| self.records.get(k))
    }

    /// Every record, in key order.
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.records.values()
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}
