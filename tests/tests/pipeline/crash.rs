//! Crash convergence on SQLite: a run interrupted at a seeded message (handled but never
//! acknowledged), or between staging and the first message, then finished by a new process on
//! the same data directory, leaves exactly the directory an uninterrupted run leaves.

use domain::Roster;
use domain::directory::Record;
use domain::report::Report;
use integration::{TestEnv, assert_same_dump, district, read_back, write_feed};
use sync::pipeline::{Drained, drain};
use synth::Format;

const STUDENTS: usize = 40;

/// A small deterministic PRNG (SplitMix64) for crash points.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The feed, read once from generated OneRoster CSV, and a changed second feed: a few students
/// gone, a few renamed, one moved to another grade.
fn feeds() -> (Roster, Roster) {
    let dir = tempfile::tempdir().expect("temp dir");
    let roster = district(STUDENTS, 2024);
    write_feed(&roster, Format::OneRosterCsv, dir.path());
    let first = read_back(Format::OneRosterCsv, dir.path()).expect("read feed");
    let mut second = roster.clone();
    let gone: Vec<String> = second
        .students
        .iter()
        .step_by(13)
        .map(|s| s.id.clone())
        .collect();
    second.students.retain(|s| !gone.contains(&s.id));
    second.enrollments.retain(|e| !gone.contains(&e.user_id));
    for c in &mut second.contacts {
        c.links.retain(|l| !gone.contains(&l.student_id));
    }
    for s in second.students.iter_mut().step_by(7) {
        s.last_name.push_str("-Smith");
    }
    let dir2 = tempfile::tempdir().expect("temp dir");
    write_feed(&second, Format::OneRosterCsv, dir2.path());
    let second = read_back(Format::OneRosterCsv, dir2.path()).expect("read feed");
    (first, second)
}

async fn new_env() -> TestEnv {
    let t = TestEnv::new();
    // Connected to a path that is never read: rosters are staged directly.
    t.connect_files(Format::OneRosterCsv, &t.feed_dir("unused"))
        .await;
    t.set(&[("deletion_threshold_pct", "100")]).await;
    t
}

/// What a finished run leaves: its report and the directory.
struct Outcome {
    report: Report,
    dump: Vec<Record>,
    messages: usize,
}

/// The uninterrupted reference: `runs` staged and drained one after the other.
async fn reference(runs: &[(&str, &Roster)]) -> Vec<Outcome> {
    let t = new_env().await;
    let mut out = Vec::new();
    for (run_id, roster) in runs {
        t.stage(run_id, (*roster).clone()).await.expect("staged");
        let mut messages = 0;
        loop {
            let d = drain(&t.ports(), None).await.expect("drain");
            messages += d.handled;
            if d.handled == 0 {
                break;
            }
        }
        let report = t.finish(run_id).await;
        out.push(Outcome {
            report,
            dump: t.dump().await,
            messages,
        });
    }
    out
}

/// Stages `run_id`, crashes at each point of `crashes` (0 = right after staging; n = after
/// handling the n-th message of that process, unacknowledged), re-opening the data directory
/// after each, and finishes in the last process. Leftover redeliveries are drained too.
async fn crashed_run(mut t: TestEnv, run_id: &str, roster: &Roster, crashes: &[usize]) -> TestEnv {
    t.stage(run_id, roster.clone()).await.expect("staged");
    for &n in crashes {
        if n > 0 {
            let d = drain(&t.ports(), Some(n)).await.expect("drain");
            assert!(
                d == Drained {
                    handled: n,
                    crashed: true
                } || !d.crashed,
                "{d:?}"
            );
        }
        t = t.reopen();
    }
    t.finish(run_id).await;
    drain(&t.ports(), None).await.expect("leftovers");
    t
}

fn assert_same_outcome(t_report: &Report, expected: &Outcome, what: &str) {
    assert_eq!(t_report.status, expected.report.status, "{what}: status");
    assert_eq!(t_report.totals, expected.report.totals, "{what}: totals");
    assert_eq!(
        t_report.warnings, expected.report.warnings,
        "{what}: warnings"
    );
    assert_eq!(t_report.errors, expected.report.errors, "{what}: errors");
}

fn crash_points(rng: &mut Rng, messages: usize) -> Vec<usize> {
    let crashes = 1 + rng.below(3) as usize;
    (0..crashes)
        .map(|_| match rng.below(8) {
            0 => 0,
            _ => 1 + rng.below(messages as u64) as usize,
        })
        .collect()
}

#[tokio::test]
async fn interrupted_first_syncs_converge_to_the_uninterrupted_directory() {
    let (first, _) = feeds();
    let expected = reference(&[("run-1", &first)]).await;
    let expected = &expected[0];
    assert!(expected.messages > 3, "{} messages", expected.messages);
    let mut rng = Rng(7);
    for trial in 0..150 {
        let crashes = crash_points(&mut rng, expected.messages);
        let t = crashed_run(new_env().await, "run-1", &first, &crashes).await;
        let report = t
            .env
            .runs
            .get_report(integration::D, "run-1")
            .await
            .expect("report")
            .expect("a report");
        let what = format!(
            "trial {trial}, crashes at {crashes:?} of {}",
            expected.messages
        );
        assert_same_outcome(&report, expected, &what);
        assert_same_dump(&t.dump().await, &expected.dump, &what);
    }
}

#[tokio::test]
async fn interrupted_update_syncs_converge_to_the_uninterrupted_directory() {
    let (first, second) = feeds();
    let expected = reference(&[("run-1", &first), ("run-2", &second)]).await;
    let (base, expected) = (&expected[0], &expected[1]);
    let students = expected.report.totals.get(domain::EntityKind::Students);
    assert!(
        students.archived > 0 && students.updated > 0,
        "{students:?}"
    );
    let mut rng = Rng(11);
    for trial in 0..60 {
        let t = new_env().await;
        t.stage("run-1", first.clone()).await.expect("staged");
        t.finish("run-1").await;
        assert_same_dump(&t.dump().await, &base.dump, "base run");
        let crashes = crash_points(&mut rng, expected.messages);
        let t = crashed_run(t, "run-2", &second, &crashes).await;
        let report = t
            .env
            .runs
            .get_report(integration::D, "run-2")
            .await
            .expect("report")
            .expect("a report");
        let what = format!(
            "update trial {trial}, crashes at {crashes:?} of {}",
            expected.messages
        );
        assert_same_outcome(&report, expected, &what);
        assert_same_dump(&t.dump().await, &expected.dump, &what);
    }
}
