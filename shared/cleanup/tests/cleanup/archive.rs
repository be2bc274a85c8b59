//! Step 9a examples: archive students not part of the sync, default scope, manual archive rules.

use crate::common::*;
use cleanup::{CleanupError, Scope, archive_student, archive_unsynced, default_scope, unarchive};
use domain::directory::{ArchiveReason, Record};

async fn fixture() -> store::memory::MemoryDirectory {
    seeded(vec![
        school("sch1", &["clever-sch1"]),
        school("sch2", &[]),
        Record::Person(Box::new(managed(
            in_schools(student("s1", "Ana", "Núñez"), &["sch1"]),
            "cl-1",
        ))),
        Record::Person(Box::new(in_schools(
            student("s2", "Ana", "Nunez"),
            &["sch1"],
        ))),
        Record::Person(Box::new(in_schools(student("s3", "Bo", "Li"), &["sch2"]))),
        Record::Person(Box::new(archived(
            in_schools(student("s4", "Cy", "Ng"), &["sch1"]),
            ArchiveReason::NotInFeed,
        ))),
    ])
    .await
}

#[tokio::test]
async fn archives_exactly_the_unmanaged_students_in_scope() {
    let dir = fixture().await;
    let c = clock();
    let out = archive_unsynced(&dir, D, &Scope::School("sch1".into()), false, &c)
        .await
        .expect("archive");
    assert_eq!(
        (out.archived, out.skipped_managed, out.already_archived),
        (1, 1, 1)
    );
    assert_eq!(out.ids, vec!["s2".to_string()]);
    let s2 = get_person(&dir, "s2");
    assert_eq!(s2.archived.map(|a| a.reason), Some(ArchiveReason::Manual));
    assert!(get_person(&dir, "s1").archived.is_none());
    assert!(
        get_person(&dir, "s3").archived.is_none(),
        "other school untouched"
    );

    // Running again archives nothing more.
    let again = archive_unsynced(&dir, D, &Scope::District, false, &c)
        .await
        .expect("archive");
    assert_eq!(
        (
            again.archived,
            again.skipped_managed,
            again.already_archived
        ),
        (1, 1, 2)
    );
    assert_eq!(again.ids, vec!["s3".to_string()]);
}

#[tokio::test]
async fn dry_run_counts_the_same_and_writes_nothing() {
    let dir = fixture().await;
    let before = dir.snapshot(D);
    let out = archive_unsynced(&dir, D, &Scope::District, true, &clock())
        .await
        .expect("dry run");
    assert_eq!(
        (out.archived, out.skipped_managed, out.already_archived),
        (2, 1, 1)
    );
    assert_eq!(dir.snapshot(D), before);
}

#[tokio::test]
async fn a_managed_student_cannot_be_archived_by_hand() {
    let dir = fixture().await;
    let err = archive_student(&dir, D, "s1", &clock()).await.unwrap_err();
    assert!(matches!(err, CleanupError::Managed { .. }));
    assert_eq!(
        err.to_string(),
        "student s1 is managed by the sync (source clever, id cl-1); it is archived by the sync when it leaves the feed"
    );
    let p = archive_student(&dir, D, "s2", &clock())
        .await
        .expect("archive");
    assert_eq!(p.archived.map(|a| a.reason), Some(ArchiveReason::Manual));
}

#[tokio::test]
async fn unarchive_undoes_manual_archives_only() {
    let dir = fixture().await;
    let c = clock();
    archive_student(&dir, D, "s2", &c).await.expect("archive");
    let p = unarchive(&dir, D, "s2", &c).await.expect("unarchive");
    assert!(p.archived.is_none());
    assert!(get_person(&dir, "s2").archived.is_none());
    let err = unarchive(&dir, D, "s4", &c).await.unwrap_err();
    assert!(
        matches!(err, CleanupError::NotManuallyArchived { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn default_scope_follows_the_synced_schools() {
    let one = fixture().await;
    assert_eq!(
        default_scope(&one, D).await.expect("scope"),
        Scope::School("sch1".into())
    );
    let all = seeded(vec![school("a", &["x"]), school("b", &["y"])]).await;
    assert_eq!(
        default_scope(&all, D).await.expect("scope"),
        Scope::District
    );
    let some = seeded(vec![
        school("a", &["x"]),
        school("b", &["y"]),
        school("c", &[]),
    ])
    .await;
    assert_eq!(
        default_scope(&some, D).await.expect("scope"),
        Scope::Schools(vec!["a".into(), "b".into()])
    );
    let none = seeded(vec![school("a", &[])]).await;
    assert!(matches!(
        default_scope(&none, D).await,
        Err(CleanupError::NoSyncedSchools { .. })
    ));
}
