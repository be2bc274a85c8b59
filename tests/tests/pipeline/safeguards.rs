//! Safeguards end to end on the local pipeline: a feed that drops too many people holds the run
//! (creates and updates applied, nothing archived) until an admin approves it; broken feeds and
//! missing matched schools fail the run before any directory write.

use domain::directory::{ArchiveReason, PersonKind, Record};
use domain::report::RunStatus;
use domain::{EntityKind, FailureReason, Roster};
use integration::{D, TestEnv, assert_same_dump, district, nonzero_totals, ok, write_feed};
use std::collections::BTreeSet;
use synth::Format;

/// `roster` without `gone` students (their enrollments and contact links too).
fn without_students(roster: &Roster, gone: &BTreeSet<String>) -> Roster {
    let mut r = roster.clone();
    r.students.retain(|s| !gone.contains(&s.id));
    r.enrollments.retain(|e| !gone.contains(&e.user_id));
    for c in &mut r.contacts {
        c.links.retain(|l| !gone.contains(&l.student_id));
    }
    r
}

/// `roster` without school `id` and everything only it holds.
fn without_school(roster: &Roster, id: &str) -> Roster {
    let mut r = roster.clone();
    r.schools.retain(|s| s.id != id);
    r.sections.retain(|s| s.school_id != id);
    r.enrollments.retain(|e| e.school_id != id);
    for s in &mut r.students {
        s.school_ids.retain(|x| x != id);
    }
    let gone: BTreeSet<String> = r
        .students
        .iter()
        .filter(|s| s.school_ids.is_empty())
        .map(|s| s.id.clone())
        .collect();
    let mut r = without_students(&r, &gone);
    for s in &mut r.staff {
        s.school_ids.retain(|x| x != id);
    }
    r.staff.retain(|s| !s.school_ids.is_empty());
    let staff: BTreeSet<&str> = r.staff.iter().map(|s| s.id.as_str()).collect();
    let students: BTreeSet<&str> = r.students.iter().map(|s| s.id.as_str()).collect();
    r.enrollments
        .retain(|e| staff.contains(e.user_id.as_str()) || students.contains(e.user_id.as_str()));
    r
}

fn people(dump: &[Record], kind: PersonKind) -> Vec<&domain::directory::Person> {
    dump.iter()
        .filter_map(|r| match r {
            Record::Person(p) if p.kind == kind => Some(&**p),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_feed_dropping_30_percent_of_students_is_held_until_approved() {
    let roster = district(120, 31);
    let t = TestEnv::new();
    let feed = t.feed_dir("feed");
    let path = write_feed(&roster, Format::OneRosterCsv, &feed);
    t.connect_files(Format::OneRosterCsv, &path).await;
    assert!(ok(&t.sync().await));

    // 30% of the students leave; three others are renamed; one new student arrives.
    let gone: BTreeSet<String> = roster
        .students
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 10 < 3)
        .map(|(_, s)| s.id.clone())
        .collect();
    let mut next = without_students(&roster, &gone);
    let renamed: Vec<String> = next.students.iter().take(3).map(|s| s.id.clone()).collect();
    for s in next.students.iter_mut().take(3) {
        s.last_name = format!("{}-Renamed", s.last_name);
    }
    let mut newcomer = next.students[3].clone();
    newcomer.id = "999001".into();
    newcomer.sis_id = Some("999001".into());
    newcomer.student_number = Some("999001".into());
    newcomer.state_id = None;
    newcomer.email = None;
    newcomer.username = None;
    newcomer.first_name = "Newcomer".into();
    next.students.push(newcomer);
    write_feed(&next, Format::OneRosterCsv, &feed);

    let held = t.sync().await;
    assert_eq!(held.status, RunStatus::Held, "{:?}", nonzero_totals(&held));
    assert_eq!(held.reason, Some(FailureReason::Threshold));
    for e in EntityKind::ALL {
        assert_eq!(
            held.totals.get(e).archived,
            0,
            "{}: nothing archived",
            e.as_str()
        );
    }
    let students = held.totals.get(EntityKind::Students);
    assert_eq!(students.created, 1, "{:?}", nonzero_totals(&held));
    assert_eq!(students.updated, 3, "{:?}", nonzero_totals(&held));
    assert_eq!(
        held.tried_to_archive[&EntityKind::Students],
        gone.len() as u64
    );
    let dump = t.dump().await;
    let students_now = people(&dump, PersonKind::Student);
    assert!(
        students_now.iter().all(|p| p.archived.is_none()),
        "a held run archives nobody"
    );
    assert!(students_now.iter().any(|p| p.first_name == "Newcomer"));
    let renamed_now = students_now
        .iter()
        .filter(|p| p.last_name.ends_with("-Renamed"))
        .count();
    assert_eq!(renamed_now, renamed.len(), "updates applied");

    let approved = sync::pipeline::approve(&t.ports(), D, &held.run_id)
        .await
        .expect("approve");
    assert!(ok(&approved), "{approved:?}");
    let dump = t.dump().await;
    let archived: BTreeSet<String> = people(&dump, PersonKind::Student)
        .into_iter()
        .filter(|p| {
            p.archived
                .as_ref()
                .is_some_and(|a| a.reason == ArchiveReason::NotInFeed)
        })
        .filter_map(|p| p.managed.as_ref().map(|m| m.source_id.clone()))
        .collect();
    assert_eq!(
        archived, gone,
        "approving archives exactly the students who left"
    );

    // The feed as it is now: nothing left to do.
    let again = t.sync().await;
    assert!(ok(&again));
    assert_eq!(again.totals.get(EntityKind::Students).archived, 0);
    assert_eq!(again.totals.get(EntityKind::Students).created, 0);
}

#[tokio::test]
async fn broken_feeds_fail_before_any_write() {
    let roster = district(60, 32);
    let t = TestEnv::new();
    let feed = t.feed_dir("feed");
    let path = write_feed(&roster, Format::OneRosterCsv, &feed);
    t.connect_files(Format::OneRosterCsv, &path).await;
    assert!(ok(&t.sync().await));
    let before = t.dump().await;
    let writes = t.writes();

    // users.csv with its header only.
    let users = feed.join("users.csv");
    let full = std::fs::read_to_string(&users).expect("users.csv");
    let header = full.lines().next().expect("header").to_string();
    std::fs::write(&users, format!("{header}\n")).expect("write");
    let r = t.sync().await;
    assert_eq!(r.status, RunStatus::Failed, "headers-only users.csv: {r:?}");
    assert_eq!(r.reason, Some(FailureReason::InvalidInput));
    assert!(!r.errors.is_empty(), "the report says why");

    // A feed with nothing at all in it (schools only).
    let empty = synth::generate(&synth::Spec {
        students: 0,
        seed: 32,
        district_id: D.into(),
        dirty: false,
    });
    let mut empty = empty;
    empty.staff.clear();
    empty.sections.clear();
    empty.enrollments.clear();
    empty.contacts.clear();
    write_feed(&empty, Format::OneRosterCsv, &feed);
    let r = t.sync().await;
    assert_eq!(r.status, RunStatus::Failed, "empty feed: {r:?}");
    assert_eq!(r.reason, Some(FailureReason::InvalidInput));

    assert_eq!(t.writes(), writes, "no directory write");
    assert_same_dump(&before, &t.dump().await, "after failed runs");

    // The full feed again: nothing to do.
    write_feed(&roster, Format::OneRosterCsv, &feed);
    let r = t.sync().await;
    assert!(ok(&r));
    assert_eq!(t.writes(), writes, "the directory never changed");
}

#[tokio::test]
async fn a_matched_school_missing_from_the_feed_fails_the_run() {
    let roster = district(60, 33);
    let t = TestEnv::new();
    let feed = t.feed_dir("feed");
    let path = write_feed(&roster, Format::OneRosterCsv, &feed);
    t.connect_files(Format::OneRosterCsv, &path).await;
    // The product's own school, matched by an admin to the feed's first school (step 3).
    let school = domain::directory::School {
        id: "school-1".into(),
        name: "Our School".into(),
        external_ids: BTreeSet::new(),
        school_number: None,
        nces_id: None,
        managed: None,
        archived: None,
        version: 0,
    };
    app::import::import(
        t.directory(),
        D,
        "directory.json",
        app::import::DirectoryExport {
            schools: vec![school],
            ..Default::default()
        },
    )
    .await
    .expect("import");
    let matched = &roster.schools[0].id;
    app::admin::match_school(t.directory(), D, "school-1", matched)
        .await
        .expect("match");
    let first = t.sync().await;
    assert!(ok(&first), "{first:?}");
    assert!(first.totals.get(EntityKind::Students).created > 0);
    let before = t.dump().await;
    let writes = t.writes();

    write_feed(
        &without_school(&roster, matched),
        Format::OneRosterCsv,
        &feed,
    );
    let r = t.sync().await;
    assert_eq!(r.status, RunStatus::Failed, "{r:?}");
    assert_eq!(r.reason, Some(FailureReason::SchoolsNotFound));
    assert_eq!(t.writes(), writes, "no directory write");
    assert_same_dump(&before, &t.dump().await, "after schools_not_found");
}
