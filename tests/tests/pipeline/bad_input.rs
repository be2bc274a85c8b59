//! The bad-input corpus (issue 8, item 1): broken, hostile and sloppy inputs in every format
//! (OneRoster CSV, Clever CSV, Clever JSON, the Clever API, OneRoster REST) and at the HTTP API.
//! Each case names the exact `code` and `location` it must produce and what it may do to the
//! directory: an error leaves it exactly as it was (full dumps compared), a warning drops only
//! the bad record or field (the dropped thing is absent, a good sibling is present).
//!
//! The table of cases is in each submodule, one driver per format; `tests/BAD_INPUT.md` lists
//! them for `RELIABILITY.md`.

mod api;
mod files;
mod http;

use domain::Roster;
use domain::directory::{Classroom, Person, Record};
use domain::report::Report;
use integration::{D, TestEnv, dump, first_difference};
use synth::Spec;

/// A small clean district (no injected dirt: a clean feed syncs without warnings, so every
/// warning a case expects is the one it caused).
pub fn clean_district(seed: u64) -> Roster {
    synth::generate(&Spec {
        students: 20,
        seed,
        district_id: D.into(),
        dirty: false,
    })
}

/// What a case must produce.
#[derive(Debug, Clone)]
pub enum Expect {
    /// The run fails before any write with `reason`; every error has `code` at `location` (a
    /// file can miss several columns, all at `file:1`). The directory is unchanged.
    Error {
        reason: &'static str,
        code: &'static str,
        location: &'static str,
    },
    /// The run completes with exactly these warnings (code, location); `check` looks at the
    /// directory (the dropped thing absent, a good sibling present).
    Warnings {
        warnings: Vec<(&'static str, String)>,
        check: Check,
    },
}

/// A check of the directory after a run with warnings.
pub type Check = fn(&Ctx, &[Record]) -> Result<(), String>;

/// What a case's check may need: the clean district it was made from.
#[derive(Debug)]
pub struct Ctx {
    pub roster: Roster,
}

pub fn error(reason: &'static str, code: &'static str, location: &'static str) -> Expect {
    Expect::Error {
        reason,
        code,
        location,
    }
}

pub fn warnings(list: &[(&'static str, &str)], check: Check) -> Expect {
    Expect::Warnings {
        warnings: list.iter().map(|(c, l)| (*c, l.to_string())).collect(),
        check,
    }
}

/// Accepted without any warning.
pub fn clean(check: Check) -> Expect {
    warnings(&[], check)
}

/// The live person known by source id `id`.
pub fn person<'a>(dump: &'a [Record], id: &str) -> Option<&'a Person> {
    dump.iter().find_map(|r| match r {
        Record::Person(p) if p.archived.is_none() && p.external_ids.contains(id) => Some(&**p),
        _ => None,
    })
}

/// The live classroom linked to section `section`.
pub fn classroom<'a>(dump: &'a [Record], section: &str) -> Option<&'a Classroom> {
    dump.iter().find_map(|r| match r {
        Record::Classroom(c) if c.archived.is_none() && c.section_ids.contains(section) => {
            Some(&**c)
        }
        _ => None,
    })
}

/// True when the person of source id `user` is a member of the classroom of `section`.
pub fn enrolled(dump: &[Record], section: &str, user: &str) -> bool {
    let (Some(c), Some(p)) = (classroom(dump, section), person(dump, user)) else {
        return false;
    };
    dump.iter().any(
        |r| matches!(r, Record::Enrollment(e) if e.classroom_id == c.id && e.person_id == p.id),
    )
}

pub fn ensure(ok: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what()) }
}

/// The first student of the district with a section: (student id, section id).
pub fn enrolled_student(roster: &Roster) -> (String, String) {
    roster
        .enrollments
        .iter()
        .find(|e| e.role == domain::EnrollmentRole::Student)
        .map(|e| (e.user_id.clone(), e.section_id.clone()))
        .expect("a student enrollment")
}

/// Checks a finished run against `expect`, comparing `before` (the directory before the run) for
/// errors. Returns a description of every mismatch.
pub async fn verify(
    env: &TestEnv,
    ctx: &Ctx,
    report: &Report,
    expect: &Expect,
    before: &[Record],
) -> Result<(), String> {
    let after = dump(env.directory(), D).await;
    let got_w: Vec<(String, String)> = report
        .warnings
        .iter()
        .map(|w| (w.code.as_str().to_string(), w.location.clone()))
        .collect();
    let got_e: Vec<(String, String)> = report
        .errors
        .iter()
        .map(|w| (w.code.as_str().to_string(), w.location.clone()))
        .collect();
    match expect {
        Expect::Error {
            reason,
            code,
            location,
        } => {
            let r = report.reason.map(|r| r.as_str());
            ensure(
                report.status.as_str() == "failed" && r == Some(*reason),
                || {
                    format!(
                        "status {} reason {r:?}, expected failed {reason}",
                        report.status.as_str()
                    )
                },
            )?;
            ensure(
                !got_e.is_empty() && got_e.iter().all(|(c, l)| c == code && l == location),
                || format!("errors {got_e:?}, expected {code} at {location}"),
            )?;
            if let Some(d) = first_difference(before, &after) {
                return Err(format!("the directory changed: {d}"));
            }
            Ok(())
        }
        Expect::Warnings { warnings, check } => {
            let status = report.status.as_str();
            let want_status = if warnings.is_empty() {
                "succeeded"
            } else {
                "completed_with_warnings"
            };
            ensure(status == want_status, || {
                format!("status {status} (errors {got_e:?}), expected {want_status}")
            })?;
            let mut got = got_w.clone();
            let mut want: Vec<(String, String)> = warnings
                .iter()
                .map(|(c, l)| (c.to_string(), l.clone()))
                .collect();
            got.sort();
            want.sort();
            ensure(got == want, || {
                format!("warnings {got:?}, expected {want:?}")
            })?;
            check(ctx, &after)
        }
    }
}

/// Runs every case, then fails once listing every case that failed.
pub fn report_failures(what: &str, failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} {what} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
