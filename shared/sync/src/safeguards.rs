//! The deletion threshold over the whole plan of a run (DESIGN.md "Safeguards").

use domain::EntityKind;
use domain::report::Totals;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The entity kinds the threshold guards (memberships and links follow their classrooms and
/// people, and are not counted on their own).
pub const GUARDED: [EntityKind; 5] = [
    EntityKind::Schools,
    EntityKind::Classrooms,
    EntityKind::Students,
    EntityKind::Staff,
    EntityKind::Guardians,
];

/// A run the threshold stopped: creates and updates apply, every archive is skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// Archives (and membership removals) the run planned but did not apply, per entity.
    pub tried_to_archive: BTreeMap<EntityKind, u64>,
}

/// Holds the run when, for any guarded entity kind, the plan archives more than
/// `threshold_pct` % of the records the sync managed before the run.
pub fn safeguards(
    totals: &Totals,
    managed_counts: &BTreeMap<EntityKind, u64>,
    threshold_pct: u8,
) -> Option<Held> {
    let tripped = GUARDED.into_iter().any(|e| {
        let archived = totals.get(e).archived;
        let managed = managed_counts.get(&e).copied().unwrap_or(0);
        archived > 0 && archived * 100 > u64::from(threshold_pct) * managed
    });
    tripped.then(|| Held {
        tried_to_archive: EntityKind::ALL
            .into_iter()
            .map(|e| (e, totals.get(e).archived))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::plan::Action;

    #[test]
    fn threshold_is_per_entity_and_strict() {
        let mut t = Totals::default();
        t.add(EntityKind::Students, Action::Archived, 50);
        t.add(EntityKind::Enrollments, Action::Archived, 900);
        let managed = BTreeMap::from([(EntityKind::Students, 501)]);
        // 501 × 10 % → at most 50 archived (domain.md §1.3).
        assert!(safeguards(&t, &managed, 10).is_none());
        t.add(EntityKind::Students, Action::Archived, 1);
        let held = safeguards(&t, &managed, 10).unwrap();
        assert_eq!(held.tried_to_archive[&EntityKind::Students], 51);
        assert_eq!(held.tried_to_archive[&EntityKind::Enrollments], 900);
        assert!(safeguards(&Totals::default(), &managed, 0).is_none());
    }
}
