//! Merge examples: re-pointing, id hand-over, refusals, dry run, conflicts, unmerge, merge-all.

use crate::common::*;
use async_trait::async_trait;
use cleanup::{CleanupError, MergeOptions, merge, merge_all, unmerge};
use domain::directory::{ArchiveReason, IndexKey, PersonKind, Record, RecordKey};
use std::sync::Mutex;
use store::memory::MemoryDirectory;
use store::{Directory, Write, WriteOutcome};

/// The step 9 story: an old manual student (archived in 9a) and the new synced one.
async fn fixture() -> MemoryDirectory {
    let mut old = archived(
        dob(
            in_schools(student("old", "Ana", "Núñez"), &["sch1"]),
            2015,
            3,
            4,
        ),
        ArchiveReason::Manual,
    );
    old.student_number = Some("0042".into());
    old.external_ids.insert("legacy-7".into());
    let new = managed(
        dob(
            in_schools(student("new", "Ana", "Nunez"), &["sch2"]),
            2015,
            3,
            4,
        ),
        "cl-new",
    );
    seeded(vec![
        Record::Person(Box::new(old)),
        Record::Person(Box::new(new)),
        Record::Person(Box::new(person("g1", PersonKind::Guardian, "P", "Q"))),
        Record::Person(Box::new(person("g2", PersonKind::Guardian, "R", "S"))),
        enrollment("c1", "old"),
        enrollment("c2", "old"),
        enrollment("c2", "new"),
        glink("old", "g1"),
        glink("old", "g2"),
        glink("new", "g2"),
        linked("l1", "old"),
        linked("l2", "old"),
        linked("l3", "new"),
    ])
    .await
}

fn keys(dir: &MemoryDirectory) -> Vec<String> {
    dir.snapshot(D)
        .iter()
        .filter(|r| !matches!(r, Record::Merge(_) | Record::Person(_)))
        .map(|r| r.key().0)
        .collect()
}

#[tokio::test]
async fn merge_repoints_everything_and_hands_over_ids() {
    let dir = fixture().await;
    let before = dump(&dir, false);
    let c = clock();
    let out = merge(
        &dir,
        D,
        PersonKind::Student,
        "new",
        "old",
        MergeOptions::default(),
        "admin-1",
        &c,
    )
    .await
    .expect("merge");
    assert_eq!(
        (
            out.linked_moved,
            out.enrollments_moved,
            out.enrollments_dropped,
            out.guardian_links_moved,
            out.guardian_links_dropped,
            out.external_ids_moved
        ),
        (2, 1, 1, 1, 1, 1)
    );
    assert_eq!(
        keys(&dir),
        vec![
            "enrollment#c1#new",
            "enrollment#c2#new",
            "glink#new#g1",
            "glink#new#g2",
            "linked#l1",
            "linked#l2",
            "linked#l3",
        ]
    );
    for r in dir.snapshot(D) {
        if let Record::Linked(l) = r {
            assert_eq!(l.student_id, "new");
        }
    }
    let survivor = get_person(&dir, "new");
    assert!(survivor.external_ids.contains("legacy-7") && survivor.external_ids.contains("cl-new"));
    assert_eq!(survivor.student_number.as_deref(), Some("0042"));
    assert_eq!(survivor.school_ids.len(), 2);
    let dup = get_person(&dir, "old");
    assert_eq!(
        dup.archived.map(|a| a.reason),
        Some(ArchiveReason::MergedInto("new".into()))
    );
    assert!(dup.external_ids.is_empty() && dup.student_number.is_none() && dup.managed.is_none());
    // A later sync looking up either source id finds the survivor only.
    for ext in ["legacy-7", "cl-new"] {
        let found = dir
            .query(D, &IndexKey::external(ext), None, 10)
            .await
            .expect("query");
        assert_eq!(
            found.iter().map(|r| r.key().0).collect::<Vec<_>>(),
            vec!["person#new"]
        );
    }
    // Merging the duplicate again is refused.
    let again = merge(
        &dir,
        D,
        PersonKind::Student,
        "new",
        "old",
        MergeOptions::default(),
        "a",
        &c,
    )
    .await;
    assert!(matches!(again, Err(CleanupError::Refused(_))));

    let un = unmerge(&dir, D, &out.merge_id, &c).await.expect("unmerge");
    assert_eq!((un.restored, un.deleted, un.gone), (8, 2, 0));
    assert_eq!(dump(&dir, true), before);
    let Some(Record::Merge(m)) = dir
        .get(D, &RecordKey::merge(&out.merge_id))
        .await
        .expect("get")
    else {
        panic!("merge record kept");
    };
    assert!(m.undone_at.is_some());
    assert!(matches!(
        unmerge(&dir, D, &out.merge_id, &c).await,
        Err(CleanupError::Refused(_))
    ));
}

#[tokio::test]
async fn refusals() {
    let dir = fixture().await;
    let mut twin = managed(student("twin", "Ana", "Nunez"), "cl-twin");
    twin.student_number = Some("1".into());
    dir.write(
        D,
        &[Write::Put {
            record: Record::Person(Box::new(twin)),
            expected: None,
        }],
    )
    .await
    .expect("seed");
    let c = clock();
    let o = MergeOptions::default();
    for (s, d, kind) in [
        ("new", "new", PersonKind::Student),
        ("new", "g1", PersonKind::Student),
        ("new", "twin", PersonKind::Student),
    ] {
        let err = merge(&dir, D, kind, s, d, o, "a", &c).await.unwrap_err();
        assert!(matches!(err, CleanupError::Refused(_)), "{s} {d}: {err}");
    }
    assert!(matches!(
        merge(&dir, D, PersonKind::Guardian, "new", "old", o, "a", &c).await,
        Err(CleanupError::WrongKind { .. })
    ));
    let forced = MergeOptions { force: true, ..o };
    merge(&dir, D, PersonKind::Student, "new", "twin", forced, "a", &c)
        .await
        .expect("forced merge");
}

#[tokio::test]
async fn dry_run_writes_nothing() {
    let dir = fixture().await;
    let before = dir.snapshot(D);
    let writes = dir.writes_count();
    let out = merge(
        &dir,
        D,
        PersonKind::Student,
        "new",
        "old",
        MergeOptions {
            dry_run: true,
            force: false,
        },
        "a",
        &clock(),
    )
    .await
    .expect("dry run");
    assert!(out.dry_run);
    assert_eq!(out.linked_moved, 2);
    assert_eq!(dir.snapshot(D), before);
    assert_eq!(dir.writes_count(), writes);
}

/// A directory where someone else touches `target` (same content, new version) just before the
/// `at`-th call of `write`.
pub struct Interfering {
    pub inner: MemoryDirectory,
    pub at: usize,
    pub target: RecordKey,
    pub calls: Mutex<usize>,
}

#[async_trait]
impl Directory for Interfering {
    async fn get(&self, district: &str, key: &RecordKey) -> store::Result<Option<Record>> {
        self.inner.get(district, key).await
    }
    async fn get_many(&self, district: &str, keys: &[RecordKey]) -> store::Result<Vec<Record>> {
        self.inner.get_many(district, keys).await
    }
    async fn query(
        &self,
        district: &str,
        index: &IndexKey,
        after: Option<&RecordKey>,
        limit: usize,
    ) -> store::Result<Vec<Record>> {
        self.inner.query(district, index, after, limit).await
    }
    async fn write(&self, district: &str, writes: &[Write]) -> store::Result<Vec<WriteOutcome>> {
        let n = {
            let mut calls = self.calls.lock().expect("lock");
            *calls += 1;
            *calls
        };
        let touch = if n == self.at {
            self.inner.get(district, &self.target).await?
        } else {
            None
        };
        {
            if let Some(r) = touch {
                let v = r.version();
                self.inner
                    .write(
                        district,
                        &[Write::Put {
                            record: r,
                            expected: Some(v),
                        }],
                    )
                    .await?;
            }
        }
        self.inner.write(district, writes).await
    }
}

#[tokio::test]
async fn a_concurrent_change_rolls_the_merge_back() {
    // Write calls: 1 journal, 2 creates, 3 updates, 4 deletes.
    for (at, target) in [
        (3, RecordKey::linked("l2")),
        (3, RecordKey::person("old")),
        (4, RecordKey::enrollment("c1", "old")),
        (4, RecordKey::guardian_link("old", "g2")),
    ] {
        let dir = Interfering {
            inner: fixture().await,
            at,
            target: target.clone(),
            calls: Mutex::new(0),
        };
        let before = dump(&dir.inner, false);
        let err = merge(
            &dir,
            D,
            PersonKind::Student,
            "new",
            "old",
            MergeOptions::default(),
            "a",
            &clock(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, CleanupError::Conflict(_)),
            "{at} {target:?}: {err}"
        );
        assert_eq!(dump(&dir.inner, false), before, "{at} {target:?}");
    }
}

#[tokio::test]
async fn merge_all_merges_each_person_once() {
    let dir = seeded(vec![
        Record::Person(Box::new(dob(student("a", "Ann", "Lee"), 2015, 1, 1))),
        Record::Person(Box::new(managed(
            dob(student("b", "Ann", "Lee"), 2015, 1, 1),
            "cl-b",
        ))),
        Record::Person(Box::new(dob(student("c", "Ann", "Lee"), 2015, 1, 1))),
        Record::Person(Box::new(dob(student("x", "Bo", "Ray"), 2014, 1, 1))),
        Record::Person(Box::new(dob(student("y", "Bo", "Ray"), 2014, 1, 1))),
        linked("l1", "a"),
        linked("l2", "c"),
    ])
    .await;
    let c = clock();
    let dry = merge_all(
        &dir,
        D,
        PersonKind::Student,
        0.9,
        MergeOptions {
            dry_run: true,
            force: false,
        },
        "a",
        &c,
    )
    .await
    .expect("dry");
    assert_eq!(dry.merged.len(), 2);
    let out = merge_all(
        &dir,
        D,
        PersonKind::Student,
        0.9,
        MergeOptions::default(),
        "a",
        &c,
    )
    .await
    .expect("merge all");
    let pairs: Vec<(String, String)> = out
        .merged
        .iter()
        .map(|m| (m.survivor_id.clone(), m.duplicate_id.clone()))
        .collect();
    assert_eq!(
        pairs,
        vec![("b".into(), "a".into()), ("x".into(), "y".into())]
    );
    assert_eq!(out.skipped.len(), 2);
    // The next call picks up the rest.
    let next = merge_all(
        &dir,
        D,
        PersonKind::Student,
        0.9,
        MergeOptions::default(),
        "a",
        &c,
    )
    .await
    .expect("merge all");
    assert_eq!(next.merged.len(), 1);
    assert_eq!(
        (
            next.merged[0].survivor_id.as_str(),
            next.merged[0].duplicate_id.as_str()
        ),
        ("b", "c")
    );
    for r in dir.snapshot(D) {
        if let Record::Linked(l) = r {
            assert_eq!(l.student_id, "b");
        }
    }
}
