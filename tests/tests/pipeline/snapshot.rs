//! `run_local` plans from a whole-district snapshot read in place and handles messages on every
//! core; the Lambda worker plans from per-school index look-ups, one message at a time. Both
//! must decide exactly the same: same report, same change list, same directory, for a first
//! sync (over pre-existing manual data), the next night's churn (changes, removals, additions,
//! moves) and a re-run of the same night.

use domain::report::Report;
use domain::{Roster, plan::Change};
use integration::{TestEnv, assert_same_dump, district, read_back, write_feed};
use store::ChangeFilter;
use sync::pipeline::drain;
use synth::{Format, NextNight};

const STUDENTS: usize = 200;
const SEED: u64 = 77;

async fn env() -> TestEnv {
    let t = TestEnv::new();
    // Connected to a path that is never read: rosters are staged directly.
    t.connect_files(Format::OneRosterCsv, &t.feed_dir("unused"))
        .await;
    t
}

/// Runs `run_id` to the end the way a Lambda worker does: no snapshot, one message at a time.
async fn finish_without_snapshot(t: &TestEnv, run_id: &str) -> Report {
    let ports = t.ports();
    for _ in 0..50 {
        drain(&ports, None).await.expect("drain");
        let run = ports
            .runs
            .get_run(integration::D, run_id)
            .await
            .expect("run")
            .expect("run exists");
        if run.status.is_final() {
            return ports
                .runs
                .get_report(integration::D, run_id)
                .await
                .expect("report")
                .expect("report exists");
        }
    }
    panic!("run {run_id} did not finish");
}

async fn changes(t: &TestEnv, run_id: &str) -> Vec<Change> {
    let filter = ChangeFilter {
        include_unchanged: true,
        ..ChangeFilter::default()
    };
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let (page, next) = t
            .ports()
            .runs
            .list_changes(integration::D, run_id, &filter, cursor.as_deref(), 1000)
            .await
            .expect("changes");
        out.extend(page);
        match next {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

fn decisions(r: &Report) -> String {
    format!(
        "{} {:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        r.status.as_str(),
        r.reason,
        r.totals,
        r.schools,
        r.tried_to_archive,
        r.warnings,
        r.errors
    )
}

fn read(roster: &Roster) -> Roster {
    let dir = tempfile::tempdir().expect("temp dir");
    write_feed(roster, Format::OneRosterCsv, dir.path());
    read_back(Format::OneRosterCsv, dir.path()).expect("read feed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_planning_decides_exactly_as_per_school_look_ups() {
    let roster = district(STUDENTS, SEED);
    let churn = synth::next_night(&roster, &NextNight::default());
    let nights = [
        ("run-1", read(&roster)),
        ("run-2", read(&churn.roster)),
        ("run-3", read(&churn.roster)),
    ];
    let (a, b) = (env().await, env().await);
    for (run_id, feed) in nights {
        a.stage(run_id, feed.clone()).await.expect("staged");
        let with = a.finish(run_id).await;
        b.stage(run_id, feed).await.expect("staged");
        let without = finish_without_snapshot(&b, run_id).await;
        assert!(
            with.totals.0.values().any(|c| *c != Default::default()),
            "{run_id}: the report counts something"
        );
        assert_eq!(
            decisions(&with),
            decisions(&without),
            "{run_id}: the reports differ"
        );
        assert_eq!(
            changes(&a, run_id).await,
            changes(&b, run_id).await,
            "{run_id}: the change lists differ"
        );
        assert_same_dump(&a.dump().await, &b.dump().await, run_id);
    }
    let night = churn.expected.mismatches(
        &a.ports()
            .runs
            .get_report(integration::D, "run-2")
            .await
            .expect("report")
            .expect("exists")
            .totals,
    );
    assert!(
        night.is_empty(),
        "next night differs from the churn: {night:?}"
    );
}
