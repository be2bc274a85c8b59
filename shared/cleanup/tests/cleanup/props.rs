//! Property tests over random small directories: merge re-points every link exactly once,
//! unmerge restores the exact prior state, dry runs write nothing, archive-unsynced never touches
//! a sync-managed student, and a "not duplicates" pair is never suggested again.

use crate::common::*;
use cleanup::{
    FindOptions, MergeOptions, Scope, archive_unsynced, find_duplicates, mark_not_duplicate, merge,
    unmerge,
};
use domain::directory::{ArchiveReason, PersonKind, Record};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use store::Directory;
use store::memory::MemoryDirectory;

const STUDENTS: usize = 5;
const GUARDIANS: usize = 3;

#[derive(Debug, Clone)]
struct World {
    managed: Vec<bool>,
    archived: Vec<bool>,
    enrollments: BTreeSet<(usize, usize)>,
    glinks: BTreeSet<(usize, usize)>,
    linked: Vec<usize>,
}

fn world() -> impl Strategy<Value = World> {
    (
        prop::collection::vec(any::<bool>(), STUDENTS),
        prop::collection::vec(any::<bool>(), STUDENTS),
        prop::collection::btree_set((0..3usize, 0..STUDENTS), 0..10),
        prop::collection::btree_set((0..STUDENTS, 0..GUARDIANS), 0..10),
        prop::collection::vec(0..STUDENTS, 0..8),
    )
        .prop_map(|(managed, archived, enrollments, glinks, linked)| World {
            managed,
            archived,
            enrollments,
            glinks,
            linked,
        })
}

fn sid(i: usize) -> String {
    format!("s{i}")
}
fn gid(i: usize) -> String {
    format!("g{i}")
}

fn records(w: &World) -> Vec<Record> {
    let mut out = Vec::new();
    for i in 0..STUDENTS {
        let mut p = in_schools(student(&sid(i), "Ann", "Lee"), &[["k0", "k1"][i % 2]]);
        if w.managed[i] {
            p = managed(p, &format!("cl-{i}"));
        } else {
            p.external_ids.insert(format!("old-{i}"));
        }
        if w.archived[i] {
            p = archived(p, ArchiveReason::Manual);
        }
        out.push(Record::Person(Box::new(p)));
    }
    for g in 0..GUARDIANS {
        let mut p = person(&gid(g), PersonKind::Guardian, "Pat", "Lee");
        p.external_ids.insert(format!("gx-{g}"));
        out.push(Record::Person(Box::new(p)));
    }
    for (c, s) in &w.enrollments {
        out.push(enrollment(&format!("c{c}"), &sid(*s)));
    }
    // Guardians are enrolled too (as members), so guardian merges move memberships as well.
    out.push(enrollment("c0", &gid(0)));
    for (s, g) in &w.glinks {
        out.push(glink(&sid(*s), &gid(*g)));
    }
    for (n, s) in w.linked.iter().enumerate() {
        out.push(linked(&format!("l{n}"), &sid(*s)));
    }
    out
}

type Edges = BTreeSet<(String, String)>;
/// Enrollments as (classroom, person), guardian links as (student, guardian), linked as id → students.
type Links = (
    Vec<(String, String)>,
    Vec<(String, String)>,
    BTreeMap<String, Vec<String>>,
);

fn links(dir: &MemoryDirectory) -> Links {
    let mut e = Vec::new();
    let mut g = Vec::new();
    let mut l: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in dir.snapshot(D) {
        match r {
            Record::Enrollment(x) => e.push((x.classroom_id, x.person_id)),
            Record::GuardianLink(x) => g.push((x.student_id, x.guardian_id)),
            Record::Linked(x) => l.entry(x.id).or_default().push(x.student_id),
            _ => {}
        }
    }
    (e, g, l)
}

fn remap(edges: &[(String, String)], from: &str, to: &str) -> Edges {
    edges
        .iter()
        .map(|(a, b)| {
            let f = |x: &String| if x == from { to.to_string() } else { x.clone() };
            (f(a), f(b))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn merge_repoints_once_and_unmerge_restores(
        w in world(),
        pair in (0..STUDENTS, 0..STUDENTS),
        gpair in (0..GUARDIANS, 0..GUARDIANS),
        guardians in any::<bool>(),
    ) {
        let (kind, s, d) = if guardians {
            prop_assume!(gpair.0 != gpair.1);
            (PersonKind::Guardian, gid(gpair.0), gid(gpair.1))
        } else {
            prop_assume!(pair.0 != pair.1);
            (PersonKind::Student, sid(pair.0), sid(pair.1))
        };
        rt().block_on(async {
            let dir = seeded(records(&w)).await;
            let before = dump(&dir, false);
            let (e0, g0, l0) = links(&dir);
            let c = clock();
            let ext_before: BTreeSet<String> = get_person(&dir, &s).external_ids
                .union(&get_person(&dir, &d).external_ids).cloned().collect();

            let opts = MergeOptions { dry_run: false, force: true };
            let out = merge(&dir, D, kind, &s, &d, opts, "admin", &c).await.expect("merge");

            let (e1, g1, l1) = links(&dir);
            // Every linked record exists exactly once and hangs off the survivor if it hung
            // off either of the pair.
            prop_assert_eq!(l0.keys().collect::<Vec<_>>(), l1.keys().collect::<Vec<_>>());
            for (id, owners) in &l1 {
                prop_assert_eq!(owners.len(), 1);
                let was = &l0[id][0];
                let want = if *was == d { &s } else { was };
                prop_assert_eq!(&owners[0], want);
            }
            // Memberships and guardian links: the duplicate's are the survivor's now, no pair
            // twice, nobody else's touched.
            let e1s: Edges = e1.iter().cloned().collect();
            let g1s: Edges = g1.iter().cloned().collect();
            prop_assert_eq!(e1s.len(), e1.len());
            prop_assert_eq!(g1s.len(), g1.len());
            prop_assert_eq!(e1s, remap(&e0, &d, &s));
            prop_assert_eq!(g1s, remap(&g0, &d, &s));
            // Ids handed over; the duplicate is findable by none.
            let sp = get_person(&dir, &s);
            let dp = get_person(&dir, &d);
            prop_assert_eq!(&sp.external_ids, &ext_before);
            prop_assert!(dp.external_ids.is_empty());
            prop_assert_eq!(dp.archived.map(|a| a.reason), Some(ArchiveReason::MergedInto(s.clone())));

            unmerge(&dir, D, &out.merge_id, &c).await.expect("unmerge");
            prop_assert_eq!(dump(&dir, true), before);
            Ok(())
        })?;
    }

    #[test]
    fn merge_dry_run_writes_nothing(w in world(), pair in (0..STUDENTS, 0..STUDENTS)) {
        prop_assume!(pair.0 != pair.1);
        rt().block_on(async {
            let dir = seeded(records(&w)).await;
            let before = dir.snapshot(D);
            let writes = dir.writes_count();
            let opts = MergeOptions { dry_run: true, force: true };
            merge(&dir, D, PersonKind::Student, &sid(pair.0), &sid(pair.1), opts, "a", &clock())
                .await
                .expect("dry run");
            prop_assert_eq!(dir.snapshot(D), before);
            prop_assert_eq!(dir.writes_count(), writes);
            Ok(())
        })?;
    }

    #[test]
    fn archive_unsynced_never_touches_managed_students(
        people in prop::collection::vec((any::<bool>(), 0..4u8, 0..4u8), 1..12),
        scope in 0..4u8,
        dry_run in any::<bool>(),
    ) {
        let scope = match scope {
            0 => Scope::District,
            1 => Scope::School("k0".into()),
            2 => Scope::School("k1".into()),
            _ => Scope::Schools(vec!["k0".into(), "k1".into()]),
        };
        rt().block_on(async {
            let mut recs = Vec::new();
            for (i, (is_managed, arch, schools)) in people.iter().enumerate() {
                let sch: Vec<&str> = match schools {
                    0 => vec![],
                    1 => vec!["k0"],
                    2 => vec!["k1"],
                    _ => vec!["k0", "k1"],
                };
                let mut p = in_schools(student(&sid(i), "A", "B"), &sch);
                if *is_managed {
                    p = managed(p, &format!("cl-{i}"));
                }
                p = match arch {
                    1 => archived(p, ArchiveReason::Manual),
                    2 => archived(p, ArchiveReason::NotInFeed),
                    _ => p,
                };
                recs.push(Record::Person(Box::new(p)));
            }
            let dir = seeded(recs).await;
            let before = dir.snapshot(D);
            let out = archive_unsynced(&dir, D, &scope, dry_run, &clock()).await.expect("archive");
            let after = dir.snapshot(D);
            let in_scope = |r: &Record| match (r, &scope) {
                (Record::Person(_), Scope::District) => true,
                (Record::Person(p), Scope::School(s)) => p.school_ids.contains(s),
                (Record::Person(p), Scope::Schools(ss)) => ss.iter().any(|s| p.school_ids.contains(s)),
                _ => false,
            };
            let mut expected = Vec::new();
            for (b, a) in before.iter().zip(&after) {
                let Record::Person(bp) = b else { continue };
                let Record::Person(ap) = a else { continue };
                let should = in_scope(b) && bp.managed.is_none() && bp.archived.is_none();
                if should {
                    expected.push(bp.id.clone());
                }
                if bp.managed.is_some() || !should || dry_run {
                    prop_assert_eq!(b, a);
                } else {
                    prop_assert_eq!(ap.archived.as_ref().map(|x| &x.reason), Some(&ArchiveReason::Manual));
                }
            }
            prop_assert_eq!(out.ids, expected.clone());
            prop_assert_eq!(out.archived as usize, expected.len());
            let scoped = before.iter().filter(|r| in_scope(r)).count() as u64;
            prop_assert_eq!(out.archived + out.skipped_managed + out.already_archived, scoped);
            Ok(())
        })?;
    }

    #[test]
    fn a_not_duplicate_pair_is_never_suggested_again(
        people in prop::collection::vec((0..3usize, 0..3usize, any::<bool>()), 2..9),
        pick in any::<prop::sample::Index>(),
    ) {
        rt().block_on(async {
            let mut recs = Vec::new();
            for (i, (name, num, has_dob)) in people.iter().enumerate() {
                let mut p = student(&sid(i), ["Ann", "ANN", "Bo"][*name], "Lee");
                p.student_number = [None, Some("1".to_string()), Some("2".to_string())][*num].clone();
                if *has_dob {
                    p = dob(p, 2015, 1, 1);
                }
                recs.push(Record::Person(Box::new(p)));
            }
            let dir = seeded(recs).await;
            let opts = FindOptions { min_confidence: 0.0, limit: 1000, ..FindOptions::default() };
            let all = find_duplicates(&dir, D, PersonKind::Student, &opts).await.expect("find").items;
            if all.is_empty() {
                return Ok(());
            }
            let chosen = all[pick.index(all.len())].clone();
            mark_not_duplicate(&dir, D, PersonKind::Student, &chosen.b, &chosen.a, "admin", &clock())
                .await
                .expect("mark");
            let again = find_duplicates(&dir, D, PersonKind::Student, &opts).await.expect("find").items;
            let rest: Vec<_> = all.into_iter().filter(|c| (&c.a, &c.b) != (&chosen.a, &chosen.b)).collect();
            prop_assert_eq!(again, rest);
            Ok(())
        })?;
    }
}
