//! Clean-up on demo-like data: manual students that duplicate feed students are found, merged
//! (their linked records follow), never resurrected by later syncs, and unmerged back to the
//! exact prior directory; "archive students not part of the sync" archives exactly the manual
//! ones.

use app::import::DirectoryExport;
use cleanup::{FindOptions, MergeOptions, Scope};
use domain::directory::{
    ArchiveReason, Classroom, Enrollment, LinkedKind, LinkedRecord, MemberRole, Person, PersonKind,
    Record, School,
};
use domain::{EntityKind, Roster};
use integration::{D, TestEnv, assert_same_dump, district, ok, write_feed};
use std::collections::BTreeSet;
use synth::Format;

const DUPLICATES: usize = 6;

fn manual_student(id: &str, first: &str, last: &str, s: Option<&domain::Student>) -> Person {
    Person {
        id: id.into(),
        kind: PersonKind::Student,
        first_name: first.into(),
        middle_name: None,
        last_name: last.into(),
        email: None,
        sms: None,
        phone: None,
        language: None,
        grade: s.and_then(|s| s.grade),
        dob: s.and_then(|s| s.dob),
        sis_id: None,
        student_number: None,
        state_id: None,
        staff_roles: Vec::new(),
        title: None,
        school_ids: ["school-1".to_string()].into(),
        external_ids: BTreeSet::new(),
        active: false,
        same_person_as: None,
        managed: None,
        archived: None,
        version: 0,
    }
}

/// What `rostersync demo` imports: the product's own schools (no external ids), a classroom,
/// manual students duplicating feed students of the first school (same name and birth date,
/// with an enrollment and four linked records each) and three who have left.
fn demo_directory(roster: &Roster) -> (DirectoryExport, Vec<(String, String)>) {
    let mut export = DirectoryExport::default();
    for (i, s) in roster.schools.iter().enumerate() {
        export.schools.push(School {
            id: format!("school-{}", i + 1),
            name: s.name.clone(),
            external_ids: BTreeSet::new(),
            school_number: s.school_number.clone(),
            nces_id: None,
            managed: None,
            archived: None,
            version: 0,
        });
    }
    export.classrooms.push(Classroom {
        id: "room-1".into(),
        school_id: "school-1".into(),
        name: "Main Office Announcements".into(),
        grade: None,
        section_ids: BTreeSet::new(),
        managed: None,
        archived: None,
        version: 0,
    });
    let first = &roster.schools[0].id;
    let mut pairs = Vec::new();
    let feed: Vec<&domain::Student> = roster
        .students
        .iter()
        .filter(|s| s.school_ids.first() == Some(first) && s.dob.is_some())
        .take(DUPLICATES)
        .collect();
    assert_eq!(feed.len(), DUPLICATES);
    for (i, s) in feed.into_iter().enumerate() {
        let id = format!("manual-student-{}", i + 1);
        export
            .students
            .push(manual_student(&id, &s.first_name, &s.last_name, Some(s)));
        export.enrollments.push(Enrollment {
            classroom_id: "room-1".into(),
            person_id: id.clone(),
            role: MemberRole::Student,
            primary: false,
            managed: false,
            version: 0,
        });
        for (k, kind) in [
            LinkedKind::Announcement,
            LinkedKind::Backpack,
            LinkedKind::InteractionLog,
            LinkedKind::StudentAttribute,
        ]
        .into_iter()
        .enumerate()
        {
            export.linked_records.push(LinkedRecord {
                id: format!("{id}-rec-{k}"),
                kind,
                student_id: id.clone(),
                data: serde_json::json!({ "note": "kept from before the sync" }),
                version: 0,
            });
        }
        pairs.push((id, s.id.clone()));
    }
    for (i, first) in ["Avery", "Jordan", "Riley"].into_iter().enumerate() {
        export.students.push(manual_student(
            &format!("manual-left-{}", i + 1),
            first,
            "Formerstudent",
            None,
        ));
    }
    (export, pairs)
}

fn person<'a>(dump: &'a [Record], id: &str) -> &'a Person {
    dump.iter()
        .find_map(|r| match r {
            Record::Person(p) if p.id == id => Some(p),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no person {id}"))
}

/// The directory id of the feed student with source id `source_id`.
fn managed_id(dump: &[Record], source_id: &str) -> String {
    dump.iter()
        .find_map(|r| match r {
            Record::Person(p) if p.managed.as_ref().is_some_and(|m| m.source_id == source_id) => {
                Some(p.id.clone())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no managed person for {source_id}"))
}

fn without_merges(dump: &[Record]) -> Vec<Record> {
    dump.iter()
        .filter(|r| !matches!(r, Record::Merge(_)))
        .cloned()
        .collect()
}

#[tokio::test]
async fn duplicates_are_merged_respected_by_syncs_unmerged_and_unsynced_archived() {
    let roster = district(80, 61);
    let t = TestEnv::new();
    let (export, pairs) = demo_directory(&roster);
    app::import::import(t.directory(), D, "demo-directory.json", export)
        .await
        .expect("import");
    let path = write_feed(&roster, Format::OneRosterCsv, &t.feed_dir("feed"));
    t.connect_files(Format::OneRosterCsv, &path).await;
    for (i, s) in roster.schools.iter().enumerate() {
        app::admin::match_school(t.directory(), D, &format!("school-{}", i + 1), &s.id)
            .await
            .expect("match");
    }
    let first = t.sync().await;
    assert!(ok(&first), "{first:?}");
    let synced = t.dump().await;
    // The first sync never takes over manual students: they stay, beside the feed's.
    for (manual, _) in &pairs {
        assert!(person(&synced, manual).managed.is_none());
    }
    let pairs: Vec<(String, String)> = pairs
        .into_iter()
        .map(|(manual, source)| (manual, managed_id(&synced, &source)))
        .collect();

    // Detection: every planted pair, by name and birth date, survivor the synced one.
    let found = cleanup::find_duplicates(
        t.directory(),
        D,
        PersonKind::Student,
        &FindOptions {
            limit: 500,
            ..FindOptions::default()
        },
    )
    .await
    .expect("duplicates");
    for (manual, synced_id) in &pairs {
        let c = found
            .items
            .iter()
            .find(|c| {
                (c.a.as_str(), c.b.as_str()) == (manual.as_str(), synced_id.as_str())
                    || (c.b.as_str(), c.a.as_str()) == (manual.as_str(), synced_id.as_str())
            })
            .unwrap_or_else(|| panic!("pair {manual} / {synced_id} not found: {:?}", found.items));
        assert!(
            c.reasons.contains(&cleanup::Reason::SameNameAndDob),
            "{c:?}"
        );
        assert_eq!(&c.survivor, synced_id, "the synced student survives");
    }
    let manual_ids: BTreeSet<&str> = pairs.iter().map(|(m, _)| m.as_str()).collect();
    for c in &found.items {
        if manual_ids.contains(c.a.as_str()) || manual_ids.contains(c.b.as_str()) {
            assert!(
                pairs
                    .iter()
                    .any(|(m, s)| [&c.a, &c.b].contains(&m) && [&c.a, &c.b].contains(&s)),
                "unexpected candidate {c:?}"
            );
        }
    }

    // Merge every pair.
    let mut merges = Vec::new();
    for (manual, synced_id) in &pairs {
        let out = cleanup::merge(
            t.directory(),
            D,
            PersonKind::Student,
            synced_id,
            manual,
            MergeOptions::default(),
            "admin@test",
            t.clock.as_ref(),
        )
        .await
        .expect("merge");
        assert_eq!(out.linked_moved, 4, "{out:?}");
        assert_eq!(
            out.enrollments_moved + out.enrollments_dropped,
            1,
            "{out:?}"
        );
        merges.push(out.merge_id);
    }
    let merged = t.dump().await;
    for (manual, synced_id) in &pairs {
        let dup = person(&merged, manual);
        assert_eq!(
            dup.archived.as_ref().map(|a| &a.reason),
            Some(&ArchiveReason::MergedInto(synced_id.clone()))
        );
        let moved = merged
            .iter()
            .filter(|r| matches!(r, Record::Linked(l) if &l.student_id == synced_id))
            .count();
        assert_eq!(
            moved, 4,
            "linked records of {manual} now hang off {synced_id}"
        );
        assert!(
            !merged
                .iter()
                .any(|r| matches!(r, Record::Linked(l) if &l.student_id == manual)),
            "nothing left on the merged-away student"
        );
    }

    // A re-sync respects the merges: no new student, nobody unarchived, nothing written.
    let writes = t.writes();
    let again = t.sync().await;
    assert!(ok(&again), "{again:?}");
    let students = again.totals.get(EntityKind::Students);
    assert_eq!(
        (students.created, students.unarchived, students.archived),
        (0, 0, 0),
        "{students:?}"
    );
    assert_eq!(t.writes(), writes, "a re-sync after merges writes nothing");
    assert_same_dump(&merged, &t.dump().await, "re-sync after merges");

    // Unmerge everything, newest first: the exact directory from before the merges.
    for id in merges.iter().rev() {
        cleanup::unmerge(t.directory(), D, id, t.clock.as_ref())
            .await
            .expect("unmerge");
    }
    assert_same_dump(
        &without_merges(&synced),
        &without_merges(&t.dump().await),
        "after unmerging",
    );

    // Archive every student not part of the sync: exactly the manual ones.
    let scope = cleanup::default_scope(t.directory(), D)
        .await
        .expect("scope");
    assert_eq!(scope, Scope::District);
    let dry = cleanup::archive_unsynced(t.directory(), D, &scope, true, t.clock.as_ref())
        .await
        .expect("dry run");
    let out = cleanup::archive_unsynced(t.directory(), D, &scope, false, t.clock.as_ref())
        .await
        .expect("archive");
    let mut expected: Vec<String> = pairs.iter().map(|(m, _)| m.clone()).collect();
    expected.extend((1..=3).map(|i| format!("manual-left-{i}")));
    expected.sort();
    assert_eq!(out.ids, expected);
    assert_eq!(dry.ids, expected, "a dry run says the same");
    assert_eq!(out.archived, expected.len() as u64);
    let after = t.dump().await;
    for p in after.iter().filter_map(|r| match r {
        Record::Person(p) if p.kind == PersonKind::Student => Some(p),
        _ => None,
    }) {
        let manual = expected.contains(&p.id);
        assert_eq!(
            p.archived.as_ref().map(|a| &a.reason),
            manual.then_some(&ArchiveReason::Manual),
            "{}",
            p.id
        );
    }
    // And a sync afterwards does not bring them back.
    let last = t.sync().await;
    assert!(ok(&last));
    assert_eq!(last.totals.get(EntityKind::Students).unarchived, 0);
}
