//! Pipeline tests on the in-memory adapters: whole runs, refused feeds, held runs approved and
//! dismissed, redelivery and crash-and-resume properties.

use crate::pipeline::*;
use crate::planner::tests::{base_directory, base_roster, enr, now, section, student};
use domain::directory::{IndexKey, Record};
use domain::district::{District, Run};
use domain::report::{Report, RunStatus};
use domain::settings::SyncSettings;
use domain::{EnrollmentRole, EntityKind, Roster};
use proptest::prelude::*;
use std::sync::Arc;
use store::memory::{ManualClock, MemoryDirectory, MemoryObjectStore, MemoryQueue, MemoryRuns};
use store::{Directory, Queue, Write};

struct Env {
    ports: Ports,
    dir: Arc<MemoryDirectory>,
    queue: Arc<MemoryQueue>,
}

async fn env(seed: Vec<Record>) -> Env {
    let clock = Arc::new(ManualClock::new(now()));
    let dir = Arc::new(MemoryDirectory::new());
    let queue = Arc::new(MemoryQueue::with_clock(5, clock.clone()));
    let writes: Vec<Write> = seed
        .into_iter()
        .map(|record| Write::Put {
            record,
            expected: None,
        })
        .collect();
    dir.write("d1", &writes).await.unwrap();
    Env {
        ports: Ports {
            objects: Arc::new(MemoryObjectStore::new()),
            queue: queue.clone(),
            directory: dir.clone(),
            runs: Arc::new(MemoryRuns::new()),
            clock,
        },
        dir,
        queue,
    }
}

fn district(settings: SyncSettings) -> District {
    District {
        id: "d1".into(),
        name: "District".into(),
        settings,
        source: None,
        version: 0,
    }
}

fn new_run(run_id: &str, dry_run: bool) -> Run {
    Run {
        district: "d1".into(),
        run_id: run_id.into(),
        status: RunStatus::Planning,
        reason: None,
        dry_run,
        source: None,
        started_at: now(),
        finished_at: None,
        schools_total: 0,
        schools_done: 0,
        version: 0,
    }
}

async fn sync(e: &Env, settings: &SyncSettings, run_id: &str, roster: Roster, dry: bool) -> Report {
    match stage(
        &e.ports,
        &district(settings.clone()),
        &new_run(run_id, dry),
        roster,
    )
    .await
    .unwrap()
    {
        StageOutcome::Staged { .. } => run_local(&e.ports, "d1", run_id).await.unwrap(),
        StageOutcome::Failed(r) => *r,
    }
}

/// Stages `roster` as run `run_id` without draining the queue (to step through the run).
async fn stage_only(e: &Env, settings: SyncSettings, run_id: &str, roster: Roster) {
    let outcome = stage(
        &e.ports,
        &district(settings),
        &new_run(run_id, false),
        roster,
    )
    .await
    .unwrap();
    assert!(
        matches!(outcome, StageOutcome::Staged { .. }),
        "staging failed"
    );
}

/// A school plan's stored bytes and its stored digest.
async fn stored_plan(e: &Env, run_id: &str, school: &str) -> (Vec<u8>, crate::report::PlanDigest) {
    let objects = &e.ports.objects;
    let plan = objects.get(&plan_key("d1", run_id, school)).await.unwrap();
    let digest = objects
        .get(&digest_key("d1", run_id, school))
        .await
        .unwrap();
    (plan, serde_json::from_slice(&digest).unwrap())
}

/// Every record of the district, versions zeroed, through the port's kind index.
async fn dump(dir: &dyn Directory) -> Vec<Record> {
    let mut out = Vec::new();
    for kind in [
        "school",
        "classroom",
        "person",
        "enrollment",
        "guardian_link",
    ] {
        for mut r in query_all(dir, "d1", &IndexKey::kind(kind)).await.unwrap() {
            r.set_version(0);
            out.push(r);
        }
    }
    out
}

fn summary(r: &Report) -> String {
    let mut s = format!(
        "{} {:?} dry_run={}\n",
        r.status.as_str(),
        r.reason.map(|x| x.as_str()),
        r.dry_run
    );
    for (e, c) in &r.totals.0 {
        if *c != Default::default() {
            s.push_str(&format!(
                "{} c{} u{} n{} a{} ua{} s{}\n",
                e.as_str(),
                c.created,
                c.updated,
                c.unchanged,
                c.archived,
                c.unarchived,
                c.skipped
            ));
        }
    }
    for (e, n) in &r.tried_to_archive {
        if *n > 0 {
            s.push_str(&format!("tried {} {n}\n", e.as_str()));
        }
    }
    for w in r.warnings.iter().chain(&r.errors) {
        s.push_str(&format!("issue {} {}\n", w.code, w.location));
    }
    s
}

#[tokio::test]
async fn first_sync_then_resync_writes_nothing() {
    let e = env(base_directory()).await;
    let settings = SyncSettings::default();
    let r1 = sync(&e, &settings, "r1", base_roster(), false).await;
    expect_test::expect![[r#"
        completed_with_warnings None dry_run=false
        schools c0 u0 n1 a0 ua0 s0
        classrooms c2 u0 n0 a0 ua0 s0
        students c2 u0 n0 a0 ua0 s0
        staff c1 u0 n0 a0 ua0 s0
        guardians c2 u0 n0 a0 ua0 s1
        enrollments c4 u0 n0 a0 ua0 s0
        guardian_links c3 u0 n0 a0 ua0 s0
        issue guardian_without_credential contacts/c2
    "#]]
    .assert_eq(&summary(&r1));
    assert_eq!(r1.schools.len(), 1);
    assert_eq!(r1.schools[0].school_id, "SCH1");
    let before = e.dir.writes_count();
    let r2 = sync(&e, &settings, "r2", base_roster(), false).await;
    assert_eq!(e.dir.writes_count(), before, "a re-sync writes nothing");
    assert_eq!(r2.totals.get(EntityKind::Students).unchanged, 2);
    assert!(e.queue.is_empty());
}

#[tokio::test]
async fn dry_run_writes_nothing_and_shows_the_plan() {
    let e = env(base_directory()).await;
    let before = dump(e.dir.as_ref()).await;
    let r = sync(&e, &SyncSettings::default(), "r1", base_roster(), true).await;
    assert!(r.dry_run);
    assert_eq!(r.totals.get(EntityKind::Students).created, 2);
    assert_eq!(dump(e.dir.as_ref()).await, before);
}

#[tokio::test]
async fn empty_feed_fails_before_any_write() {
    let e = env(base_directory()).await;
    let before = e.dir.writes_count();
    let mut roster = base_roster();
    roster.students.clear();
    roster.staff.clear();
    let r = sync(&e, &SyncSettings::default(), "r1", roster, false).await;
    expect_test::expect![[r#"
        failed Some("invalid_input") dry_run=false
        issue empty_feed roster
    "#]]
    .assert_eq(&summary(&r));
    assert_eq!(e.dir.writes_count(), before);
    assert!(e.queue.is_empty());
    let run = e.ports.runs.get_run("d1", "r1").await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Failed);
}

fn roster_with(n: usize) -> Roster {
    let mut r = base_roster();
    r.contacts.clear();
    r.students = (0..n)
        .map(|i| student(&format!("x{i:03}"), &["k1"], &format!("9{i:03}")))
        .collect();
    r.enrollments = (0..n)
        .map(|i| enr("sec1", "k1", &format!("x{i:03}"), EnrollmentRole::Student))
        .collect();
    r
}

#[tokio::test]
async fn threshold_holds_then_approve_applies_the_archives() {
    let e = env(base_directory()).await;
    let settings = SyncSettings::default();
    sync(&e, &settings, "r1", roster_with(20), false).await;
    let r = sync(&e, &settings, "r2", roster_with(16), false).await;
    expect_test::expect![[r#"
        held Some("threshold") dry_run=false
        schools c0 u0 n1 a0 ua0 s0
        classrooms c0 u0 n2 a0 ua0 s0
        students c0 u0 n16 a0 ua0 s0
        staff c0 u0 n1 a0 ua0 s0
        enrollments c0 u0 n16 a0 ua0 s0
        tried students 4
        tried enrollments 4
    "#]]
    .assert_eq(&summary(&r));
    let archived = |d: &[Record]| {
        d.iter()
            .filter(|r| matches!(r, Record::Person(p) if p.archived.is_some()))
            .count()
    };
    assert_eq!(
        archived(&dump(e.dir.as_ref()).await),
        0,
        "held: nothing archived"
    );
    let approved = approve(&e.ports, "d1", "r2").await.unwrap();
    assert_eq!(approved.status, RunStatus::Succeeded);
    assert_eq!(approved.totals.get(EntityKind::Students).archived, 4);
    assert_eq!(archived(&dump(e.dir.as_ref()).await), 4);
    assert!(
        approve(&e.ports, "d1", "r2").await.is_err(),
        "approve twice"
    );
    // Another drop, dismissed this time.
    let r = sync(&e, &settings, "r3", roster_with(12), false).await;
    assert_eq!(r.status, RunStatus::Held);
    let dismissed = dismiss(&e.ports, "d1", "r3").await.unwrap();
    assert_eq!(dismissed.status, RunStatus::Failed);
    assert_eq!(dismissed.tried_to_archive[&EntityKind::Students], 4);
    assert_eq!(archived(&dump(e.dir.as_ref()).await), 4);
}

#[tokio::test]
async fn schools_not_found_fails() {
    let mut d = base_directory();
    d.push(crate::planner::tests::dir_school("SCH9", &["k9"]));
    let e = env(d).await;
    let r = sync(&e, &SyncSettings::default(), "r1", base_roster(), false).await;
    assert_eq!(r.status, RunStatus::Failed);
    assert_eq!(r.reason, Some(domain::FailureReason::SchoolsNotFound));
}

/// A small generated district: two schools, `n` students spread over them and their sections.
fn generated(n: usize, moves: &[bool]) -> Roster {
    let mut r = base_roster();
    r.schools.push(crate::planner::tests::school("k2"));
    r.sections.push(section("sec3", "k2"));
    for i in 0..n {
        let school = if moves.get(i).copied().unwrap_or(false) {
            "k2"
        } else {
            "k1"
        };
        let sec = if school == "k2" { "sec3" } else { "sec2" };
        let id = format!("g{i}");
        r.students.push(student(&id, &[school], &format!("7{i}")));
        r.enrollments
            .push(enr(sec, school, &id, EnrollmentRole::Student));
    }
    r
}

fn two_school_directory() -> Vec<Record> {
    let mut d = base_directory();
    d.push(crate::planner::tests::dir_school("SCH2", &["k2"]));
    d
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

/// Runs r1 fully, then r2 with a crash after `crash_at` handled messages (resumed by
/// `run_local`); returns the final dump and report summary.
async fn run_with_crash(
    first: Roster,
    second: Roster,
    crash_at: Option<usize>,
) -> (Vec<Record>, String) {
    let e = env(two_school_directory()).await;
    let settings = SyncSettings {
        deletion_threshold_pct: 100,
        ..SyncSettings::default()
    };
    sync(&e, &settings, "r1", first, false).await;
    stage_only(&e, settings, "r2", second).await;
    if let Some(n) = crash_at {
        let d = drain(&e.ports, Some(n)).await.unwrap();
        let _ = d;
    }
    let report = run_local(&e.ports, "d1", "r2").await.unwrap();
    (dump(e.dir.as_ref()).await, summary(&report))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// A crash after any handled message, then `run_local` again, ends in the same directory
    /// and the same report as an uninterrupted run.
    #[test]
    fn crash_and_resume_converges(
        n in 1usize..5,
        moves1 in proptest::collection::vec(any::<bool>(), 5),
        moves2 in proptest::collection::vec(any::<bool>(), 5),
        drop_last in any::<bool>(),
        crash_at in 1usize..8,
    ) {
        let first = generated(n, &moves1);
        let mut second = generated(n, &moves2);
        if drop_last {
            second.students.pop();
        }
        let (clean, clean_report) = block_on(run_with_crash(first.clone(), second.clone(), None));
        let (crashed, crashed_report) = block_on(run_with_crash(first, second, Some(crash_at)));
        prop_assert_eq!(clean, crashed);
        prop_assert_eq!(clean_report, crashed_report);
    }

    /// Applying a plan then planning again finds nothing to do.
    #[test]
    fn apply_then_replan_is_unchanged(n in 1usize..5, moves in proptest::collection::vec(any::<bool>(), 5)) {
        let roster = generated(n, &moves);
        let settings = SyncSettings::default();
        let mut dir = crate::planner::tests::dir_of(two_school_directory());
        let o = crate::planner::tests::plan_run(roster.clone(), &dir, &settings).unwrap();
        crate::planner::tests::apply_mem(&mut dir, &o, false);
        let again = crate::planner::tests::plan_run(roster.clone(), &dir, &settings).unwrap();
        prop_assert!(again.all_changes().all(|c| !c.writes()));
        // Planning is deterministic.
        let twice = crate::planner::tests::plan_run(roster, &dir, &settings).unwrap();
        prop_assert_eq!(crate::planner::tests::render(&again), crate::planner::tests::render(&twice));
    }
}

/// The next message of the queue, if any (one at a time, to step through a run).
async fn receive_one(e: &Env) -> Option<store::Delivery> {
    let batch = e
        .queue
        .receive(1, std::time::Duration::from_secs(60))
        .await
        .unwrap();
    batch.into_iter().next()
}

#[tokio::test]
async fn redelivering_every_message_changes_nothing() {
    let e = env(two_school_directory()).await;
    let settings = SyncSettings::default();
    let roster = generated(3, &[true, false, true]);
    // Record every body the pipeline sends by draining one message at a time.
    stage_only(&e, settings, "r1", roster).await;
    let mut bodies = Vec::new();
    loop {
        let Some(d) = receive_one(&e).await else {
            break;
        };
        handle_body(&e.ports, &d.body).await.unwrap();
        e.queue.ack(&d.receipt).await.unwrap();
        bodies.push(d.body);
    }
    let report = e.ports.runs.get_report("d1", "r1").await.unwrap().unwrap();
    assert!(report.status.is_final());
    let before = dump(e.dir.as_ref()).await;
    let writes = e.dir.writes_count();
    for b in bodies.iter().rev().chain(bodies.iter()) {
        handle_body(&e.ports, b).await.unwrap();
    }
    assert_eq!(dump(e.dir.as_ref()).await, before);
    assert_eq!(e.dir.writes_count(), writes);
    let again = e.ports.runs.get_report("d1", "r1").await.unwrap().unwrap();
    assert_eq!(again, report);
    // Stray messages are permanent errors.
    assert!(
        !Message::parse(
            "{\"type\":\"plan\",\"v\":9,\"district\":\"d1\",\"run_id\":\"r1\",\"school\":\"k1\"}"
        )
        .unwrap_err()
        .is_transient()
    );
}

/// An apply trusts a digest's "writes nothing" only for the plan bytes it was made from: a
/// digest from another attempt (a crash between storing a re-plan and its digest) that says
/// nothing is written does not stop the plan's writes, and is replaced by the right one.
#[tokio::test]
async fn a_digest_of_other_plan_bytes_does_not_skip_the_writes() {
    use crate::report::{StoredPlan, plan_hash};
    let settings = SyncSettings::default();
    let roster = generated(3, &[true, false, true]);
    let clean = env(two_school_directory()).await;
    sync(&clean, &settings, "r1", roster.clone(), false).await;

    let e = env(two_school_directory()).await;
    stage_only(&e, settings, "r1", roster).await;
    let mut tampered = Vec::new();
    loop {
        let Some(d) = receive_one(&e).await else {
            break;
        };
        if let Message::Apply { school, .. } = Message::parse(&d.body).unwrap()
            && school != DISTRICT_PLAN
        {
            let (_, mut digest) = stored_plan(&e, "r1", &school).await;
            assert!(
                digest.plan.is_some_and(|p| p.writes > 0),
                "a first sync writes"
            );
            digest.plan = Some(StoredPlan {
                hash: plan_hash(b"another attempt's plan"),
                writes: 0,
            });
            e.ports
                .objects
                .put(
                    &digest_key("d1", "r1", &school),
                    serde_json::to_vec(&digest).unwrap(),
                )
                .await
                .unwrap();
            tampered.push(school);
        }
        handle_body(&e.ports, &d.body).await.unwrap();
        e.queue.ack(&d.receipt).await.unwrap();
    }
    assert!(!tampered.is_empty());
    assert_eq!(dump(e.dir.as_ref()).await, dump(clean.dir.as_ref()).await);
    for school in tampered {
        let (plan, digest) = stored_plan(&e, "r1", &school).await;
        assert_eq!(
            digest.plan,
            Some(StoredPlan {
                hash: 0,
                writes: digest.plan.map_or(0, |p| p.writes),
            }),
            "the digest was made again from the stored plan (a writing plan's bytes are not hashed)"
        );
        assert!(digest.plan.is_some_and(|p| p.writes > 0));
        assert!(!digest.writes_nothing(&plan));
    }
    // Re-synced, every school's plan writes nothing and its digest says so for its bytes.
    let report = sync(
        &e,
        &SyncSettings::default(),
        "r2",
        generated(3, &[true, false, true]),
        false,
    )
    .await;
    assert!(report.status.is_final());
    let schools: Vec<String> = e
        .ports
        .objects
        .list("districts/d1/runs/r2/plans/")
        .await
        .unwrap()
        .into_iter()
        .filter_map(|o| {
            let name = o.key.rsplit('/').next()?;
            name.strip_suffix(".digest.json").map(str::to_string)
        })
        .collect();
    assert!(!schools.is_empty());
    for k in schools {
        let (plan, digest) = stored_plan(&e, "r2", &k).await;
        assert!(
            digest.writes_nothing(&plan),
            "{k}: no change writes nothing"
        );
    }
}
