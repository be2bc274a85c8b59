//! Shared by the fuzz targets: how one fuzz input becomes a set of named files, and the
//! invariants every reader's result must hold beyond "no panic".
//!
//! # Multi-file input format (`oneroster_csv`, `clever_csv`)
//!
//! ```text
//! byte 0      which of the target's file names are present (bit i = name i)
//! byte 1      flags (target-specific: folder wrapping, name case)
//! bytes 2..   the present files' bodies, in name order, separated by one NUL byte
//! ```
//!
//! A missing body (fewer NUL-separated chunks than bits set) is an empty file. `make-corpus.py`
//! writes seeds in this format.

use domain::{FeedMode, Roster, Severity};
use sources::SourceError;
use std::collections::HashSet;

/// Splits a multi-file input into `(name, body)` pairs for the names selected by byte 0.
/// `flags` (byte 1) is returned for the caller's own options.
pub fn split_files(names: &[&str], data: &[u8]) -> (u8, Vec<(String, Vec<u8>)>) {
    let mask = data.first().copied().unwrap_or(0);
    let flags = data.get(1).copied().unwrap_or(0);
    let rest = data.get(2..).unwrap_or(&[]);
    let mut chunks = rest.split(|b| *b == 0);
    let mut files = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if mask & (1 << i) != 0 {
            let body = chunks.next().unwrap_or(&[]).to_vec();
            files.push(((*name).to_string(), body));
        }
    }
    (flags, files)
}

/// Which optional invariants [`check_roster`] asserts.
#[derive(Debug, Clone, Copy)]
pub struct Checks {
    /// With bulk schools, every section names a school of the roster.
    pub sections_need_schools: bool,
    /// Ids are unique within each collection.
    pub unique_ids: bool,
}

impl Checks {
    pub const ALL: Self = Self {
        sections_need_schools: true,
        unique_ids: true,
    };
}

/// Asserts what a reader's successful result must always satisfy.
///
/// - every warning is a warning (errors are returned, not kept), with a message and a location;
/// - ids are non-empty and (with `unique_ids`) unique within each collection;
/// - no dangling references where the feed is complete: with bulk sections, every enrollment
///   names a section that is in the roster; with bulk users, every enrollment names a student
///   or staff member of the roster and every contact link a student of the roster;
/// - with `sections_need_schools` and bulk schools, every section's school is in the roster
///   (every reader drops such sections with a `dangling_reference` warning; `Roster::shards`
///   would report them as unplaced).
pub fn check_roster(roster: &Roster, checks: Checks) {
    let Checks {
        sections_need_schools,
        unique_ids,
    } = checks;
    assert!(roster.source.is_some(), "a roster says which source it is");
    for w in &roster.warnings {
        assert_eq!(
            w.severity,
            Severity::Warning,
            "a kept issue is an error: {w:?}"
        );
        assert!(
            !w.location.source.is_empty(),
            "warning without a location: {w:?}"
        );
        assert!(!w.message.is_empty(), "warning without a message: {w:?}");
    }
    fn unique<'a>(
        what: &str,
        strict: bool,
        ids: impl Iterator<Item = &'a str>,
    ) -> HashSet<&'a str> {
        let mut seen = HashSet::new();
        for id in ids {
            assert!(!id.is_empty(), "an empty {what} id");
            assert!(seen.insert(id) || !strict, "duplicate {what} id {id:?}");
        }
        seen
    }
    let schools = unique(
        "school",
        unique_ids,
        roster.schools.iter().map(|x| x.id.as_str()),
    );
    unique(
        "term",
        unique_ids,
        roster.terms.iter().map(|x| x.id.as_str()),
    );
    unique(
        "course",
        unique_ids,
        roster.courses.iter().map(|x| x.id.as_str()),
    );
    let sections = unique(
        "section",
        unique_ids,
        roster.sections.iter().map(|x| x.id.as_str()),
    );
    let students = unique(
        "student",
        unique_ids,
        roster.students.iter().map(|x| x.id.as_str()),
    );
    let staff = unique(
        "staff",
        unique_ids,
        roster.staff.iter().map(|x| x.id.as_str()),
    );
    unique(
        "contact",
        unique_ids,
        roster.contacts.iter().map(|x| x.id.as_str()),
    );

    let cov = &roster.coverage;
    if cov.sections == FeedMode::Bulk {
        for e in &roster.enrollments {
            assert!(
                sections.contains(e.section_id.as_str()),
                "dangling enrollment: section {:?} is not in the roster",
                e.section_id
            );
        }
    }
    if cov.users == FeedMode::Bulk {
        for e in &roster.enrollments {
            assert!(
                students.contains(e.user_id.as_str()) || staff.contains(e.user_id.as_str()),
                "dangling enrollment: user {:?} is not in the roster",
                e.user_id
            );
        }
        for c in &roster.contacts {
            for l in &c.links {
                assert!(
                    students.contains(l.student_id.as_str()),
                    "dangling contact link: student {:?} is not in the roster",
                    l.student_id
                );
            }
        }
    }
    if sections_need_schools && cov.schools == FeedMode::Bulk {
        for s in &roster.sections {
            assert!(
                schools.contains(s.school_id.as_str()),
                "dangling section: school {:?} is not in the roster",
                s.school_id
            );
        }
    }
}

/// Asserts what a reader's error must always satisfy: an invalid feed names at least one
/// problem, each an error with a message and a location.
pub fn check_error(err: &SourceError) {
    if let SourceError::Invalid { issues } = err {
        assert!(!issues.is_empty(), "an invalid feed without any issue");
        for i in issues {
            assert_eq!(
                i.severity,
                Severity::Error,
                "a returned issue is a warning: {i:?}"
            );
            assert!(
                !i.location.source.is_empty(),
                "error without a location: {i:?}"
            );
            assert!(!i.message.is_empty(), "error without a message: {i:?}");
        }
    }
}

/// Checks either outcome of a reader, with every roster invariant.
pub fn check(result: &Result<Roster, SourceError>) {
    match result {
        Ok(r) => check_roster(r, Checks::ALL),
        Err(e) => check_error(e),
    }
}
