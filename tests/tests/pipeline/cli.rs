//! The `rostersync` binary's contract (INTERFACES.md): exit 0 when done, 1 when a sync ends
//! held or failed, 2 for bad usage; `demo` twice reports everything unchanged the second time.

use integration::{D, cli, district, write_feed};
use std::collections::BTreeSet;
use synth::Format;

const ENTITIES: [&str; 6] = [
    "schools",
    "classrooms",
    "students",
    "staff",
    "guardians",
    "enrollments",
];

#[test]
fn bad_usage_exits_2() {
    let dir = integration::temp_dir();
    let data = dir.path().join("data");
    for args in [
        vec!["sync"],
        vec!["no-such-command"],
        vec![
            "generate",
            "--students",
            "many",
            "--format",
            "oneroster-csv",
            "--out",
            "x",
        ],
        vec![
            "sync",
            "--district",
            D,
            "--source",
            "no-such-source",
            "--path",
            "x",
        ],
    ] {
        let run = cli(&data, &args, &[]);
        assert_eq!(run.code, 2, "{args:?}: stderr {}", run.stderr);
        assert!(run.stdout.is_empty(), "{args:?}: nothing on stdout");
    }
}

#[test]
fn demo_twice_reports_everything_unchanged_the_second_time() {
    let dir = integration::temp_dir();
    let data = dir.path().join("data");
    let first = cli(&data, &["--json", "demo", "--students", "60"], &[]);
    assert_eq!(first.code, 0, "stderr: {}", first.stderr);
    let first = first.json();
    assert!(
        first["totals"]["students"]["created"].as_u64() > Some(0),
        "{first}"
    );
    let second = cli(&data, &["--json", "demo", "--students", "60"], &[]);
    assert_eq!(second.code, 0, "stderr: {}", second.stderr);
    let second = second.json();
    for e in ENTITIES {
        let c = &second["totals"][e];
        for a in ["created", "updated", "archived", "unarchived"] {
            assert_eq!(
                c[a].as_u64(),
                Some(0),
                "second demo: {e}.{a}: {}",
                second["totals"]
            );
        }
    }
    assert!(second["totals"]["students"]["unchanged"].as_u64() > Some(0));
}

#[test]
fn a_held_sync_exits_1_and_approving_it_exits_0() {
    let dir = integration::temp_dir();
    let data = dir.path().join("data");
    let feed = dir.path().join("feed");
    let roster = district(60, 71);
    write_feed(&roster, Format::OneRosterCsv, &feed);
    let path = feed.display().to_string();
    let sync = [
        "--json",
        "sync",
        "--district",
        D,
        "--source",
        "oneroster-csv",
        "--path",
        &path,
    ];
    let run = cli(&data, &sync, &[]);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);

    let gone: BTreeSet<&str> = roster
        .students
        .iter()
        .step_by(3)
        .map(|s| s.id.as_str())
        .collect();
    let mut next = roster.clone();
    next.students.retain(|s| !gone.contains(s.id.as_str()));
    next.enrollments
        .retain(|e| !gone.contains(e.user_id.as_str()));
    for c in &mut next.contacts {
        c.links.retain(|l| !gone.contains(l.student_id.as_str()));
    }
    write_feed(&next, Format::OneRosterCsv, &feed);
    let held = cli(&data, &["--json", "sync", "--district", D], &[]);
    assert_eq!(held.code, 1, "a held run exits 1; stderr: {}", held.stderr);
    let report = held.json();
    assert_eq!(report["status"], "held", "{report}");
    assert_eq!(report["reason"], "threshold");
    let run_id = report["run_id"].as_str().expect("run id").to_string();

    let approved = cli(
        &data,
        &[
            "--json",
            "runs",
            "approve",
            "--district",
            D,
            "--run",
            &run_id,
        ],
        &[],
    );
    assert_eq!(approved.code, 0, "stderr: {}", approved.stderr);
    assert_eq!(
        approved.json()["totals"]["students"]["archived"].as_u64(),
        Some(gone.len() as u64)
    );

    // A broken feed fails the run: exit 1 as well.
    std::fs::write(feed.join("users.csv"), "sourcedId\n").expect("write");
    let failed = cli(&data, &["--json", "sync", "--district", D], &[]);
    assert_eq!(failed.code, 1, "stderr: {}", failed.stderr);
    assert_eq!(failed.json()["status"], "failed");
}
