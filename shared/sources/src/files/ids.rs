//! Maps and sets keyed by record ids, for the CSV readers' cross-references.
//!
//! Ids of up to [`INLINE`] bytes (nearly all: SIS numbers, Clever's 24-hex ids) are stored
//! inline in the table as four words, so a look-up hashes and compares integers and never
//! follows a pointer to a separately allocated `String` (that cache miss, and the `memcmp`
//! after it, was most of the cost of the readers' look-ups). Longer ids go to a side map.

use crate::files::table::FastMap;
use domain::{Issue, IssueCode, Location};

/// The longest id stored inline (the 32nd byte holds the length).
pub(crate) const INLINE: usize = 31;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Inline([u64; 4]);

impl Inline {
    #[inline]
    fn new(id: &str) -> Option<Self> {
        let b = id.as_bytes();
        if b.len() > INLINE {
            return None;
        }
        let mut buf = [0u8; 32];
        buf[..b.len()].copy_from_slice(b);
        buf[INLINE] = b.len() as u8;
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&buf[i * 8..i * 8 + 8]);
            u64::from_le_bytes(w)
        };
        Some(Self([word(0), word(1), word(2), word(3)]))
    }
}

/// A hash map from id to `V`.
pub(crate) struct IdMap<V> {
    inline: FastMap<Inline, V>,
    long: FastMap<Box<str>, V>,
}

impl<V> Default for IdMap<V> {
    fn default() -> Self {
        Self {
            inline: FastMap::default(),
            long: FastMap::default(),
        }
    }
}

impl<V> IdMap<V> {
    /// Makes room for `n` more ids.
    pub(crate) fn reserve(&mut self, n: usize) {
        self.inline.reserve(n);
    }

    #[inline]
    pub(crate) fn get(&self, id: &str) -> Option<&V> {
        match Inline::new(id) {
            Some(k) => self.inline.get(&k),
            None => self.long.get(id),
        }
    }

    #[inline]
    pub(crate) fn contains_key(&self, id: &str) -> bool {
        self.get(id).is_some()
    }

    /// Inserts or replaces; returns the previous value.
    #[inline]
    pub(crate) fn insert(&mut self, id: &str, v: V) -> Option<V> {
        match Inline::new(id) {
            Some(k) => self.inline.insert(k, v),
            None => self.long.insert(id.into(), v),
        }
    }

    /// The value of `id`, inserting `v` first when there is none.
    #[inline]
    pub(crate) fn or_insert(&mut self, id: &str, v: V) -> &mut V {
        match Inline::new(id) {
            Some(k) => self.inline.entry(k).or_insert(v),
            None => self.long.entry(id.into()).or_insert(v),
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.inline.len() + self.long.len()
    }
}

/// A hash set of ids.
#[derive(Default)]
pub(crate) struct IdSet(IdMap<()>);

impl IdSet {
    /// Adds `id`; false when it was already there.
    #[inline]
    pub(crate) fn insert(&mut self, id: &str) -> bool {
        self.0.insert(id, ()).is_none()
    }

    #[inline]
    pub(crate) fn contains(&self, id: &str) -> bool {
        self.0.contains_key(id)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// `id` when it is the first with that id (the API readers' repeat check: the same record
    /// on two pages, or twice in a file); a repeat gets a `duplicate_id` warning at `field`
    /// (the first wins).
    pub(crate) fn first(
        &mut self,
        id: String,
        field: &str,
        at: impl FnOnce() -> Location,
        warnings: &mut Vec<Issue>,
    ) -> Option<String> {
        if self.insert(&id) {
            return Some(id);
        }
        warnings.push(Issue::warning(
            IssueCode::DuplicateId,
            at(),
            format!(
                "the {field} repeats an earlier record; this record is ignored (the first wins)"
            ),
        ));
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_and_long_ids() {
        let long = "x".repeat(INLINE + 1);
        let edge = "y".repeat(INLINE);
        let mut m = IdMap::default();
        for (i, id) in ["", "a", "a\0", "ab", &edge, &long].iter().enumerate() {
            assert_eq!(m.insert(id, i), None, "{id:?}");
        }
        assert_eq!(m.len(), 6);
        assert_eq!(m.get("a"), Some(&1));
        assert_eq!(m.get("a\0"), Some(&2));
        assert_eq!(m.get(&edge), Some(&4));
        assert_eq!(m.get(&long), Some(&5));
        assert_eq!(m.get("abc"), None);
        assert_eq!(*m.or_insert("ab", 9), 3);
        assert_eq!(*m.or_insert(&format!("{long}z"), 9), 9);
        let mut s = IdSet::default();
        assert!(s.insert("k") && !s.insert("k") && s.contains("k") && !s.contains("K"));
        assert_eq!(s.len(), 1);
    }
}
