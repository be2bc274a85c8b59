//! Step 9a: archive the students who are not part of the sync.
//!
//! A sync-managed student is never archived by hand (the sync archives it when it leaves the
//! feed), so "archive every student in scope" archives exactly the unmanaged ones. Archives made
//! here have reason [`ArchiveReason::Manual`] and are the only ones [`unarchive`] undoes.

use crate::{CleanupError, Result, load};
use domain::directory::{
    ArchiveReason, Archived, IndexKey, Person, PersonKind, Record, RecordKey, School,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use store::{Clock, Directory, Write, WriteOutcome};

/// Which students an action covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "ids")]
pub enum Scope {
    /// Every student of the district.
    District,
    /// Students whose `school_ids` contain this directory school.
    School(String),
    /// Students in any of these directory schools.
    Schools(Vec<String>),
}

/// What [`archive_unsynced`] did (or, on a dry run, would do). Counts are over the students in
/// scope: each is counted once, in exactly one of the three counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveOutcome {
    pub dry_run: bool,
    /// Unmanaged, non-archived students archived (reason manual).
    pub archived: u64,
    /// Non-archived sync-managed students, left alone.
    pub skipped_managed: u64,
    /// Students already archived (any reason), left alone.
    pub already_archived: u64,
    /// Students that changed while the action ran and were left alone; running again picks
    /// them up.
    pub conflicts: u64,
    /// Ids of the students archived, in id order.
    pub ids: Vec<String>,
}

/// The scope "archive students not part of the sync" uses when the admin names none, from the
/// district's synced schools (non-archived schools with at least one external id, step 3):
///
/// - every school is synced → [`Scope::District`];
/// - exactly one school is synced → [`Scope::School`] of it;
/// - some schools are synced → [`Scope::Schools`] of those, so students of schools that do not
///   sync are never touched;
/// - no school is synced → [`CleanupError::NoSyncedSchools`] (nothing can be "not part of the
///   sync" yet).
pub async fn default_scope(dir: &dyn Directory, district: &str) -> Result<Scope> {
    let schools: Vec<School> = load::all(dir, district, &IndexKey::kind("school"))
        .await?
        .into_iter()
        .filter_map(|r| match r {
            Record::School(s) if s.archived.is_none() => Some(*s),
            _ => None,
        })
        .collect();
    let synced: Vec<String> = schools
        .iter()
        .filter(|s| !s.external_ids.is_empty())
        .map(|s| s.id.clone())
        .collect();
    Ok(match synced.len() {
        0 => {
            return Err(CleanupError::NoSyncedSchools {
                district: district.to_string(),
            });
        }
        n if n == schools.len() => Scope::District,
        1 => Scope::School(synced.into_iter().next().unwrap_or_default()),
        _ => Scope::Schools(synced),
    })
}

/// The students in scope, by id.
async fn students_in(
    dir: &dyn Directory,
    district: &str,
    scope: &Scope,
) -> Result<BTreeMap<String, Person>> {
    let indexes = match scope {
        Scope::District => vec![IndexKey::kind(PersonKind::Student.as_str())],
        Scope::School(s) => vec![IndexKey::in_school(s)],
        Scope::Schools(ss) => ss.iter().map(|s| IndexKey::in_school(s)).collect(),
    };
    let mut out = BTreeMap::new();
    for index in &indexes {
        for r in load::all(dir, district, index).await? {
            match r {
                Record::Person(p) if p.kind == PersonKind::Student => {
                    out.insert(p.id.clone(), *p);
                }
                _ => {}
            }
        }
    }
    Ok(out)
}

fn manual_archive(p: &Person, clock: &dyn Clock) -> Person {
    let mut next = p.clone();
    next.archived = Some(Archived {
        reason: ArchiveReason::Manual,
        at: clock.now(),
        run_id: None,
    });
    next
}

/// Archives (reason manual) exactly the unmanaged, non-archived students in `scope`. A dry run
/// returns the same counts and writes nothing. A student that changes concurrently is counted
/// in `conflicts` and left alone; running again converges.
pub async fn archive_unsynced(
    dir: &dyn Directory,
    district: &str,
    scope: &Scope,
    dry_run: bool,
    clock: &dyn Clock,
) -> Result<ArchiveOutcome> {
    let students = students_in(dir, district, scope).await?;
    let mut out = ArchiveOutcome {
        dry_run,
        ..ArchiveOutcome::default()
    };
    let mut writes = Vec::new();
    for p in students.values() {
        if p.archived.is_some() {
            out.already_archived += 1;
        } else if p.managed.is_some() {
            out.skipped_managed += 1;
        } else {
            writes.push(Write::Put {
                record: Record::Person(Box::new(manual_archive(p, clock))),
                expected: Some(p.version),
            });
        }
    }
    if dry_run {
        out.archived = writes.len() as u64;
        out.ids = writes
            .iter()
            .filter_map(|w| match w {
                Write::Put {
                    record: Record::Person(p),
                    ..
                } => Some(p.id.clone()),
                _ => None,
            })
            .collect();
    } else {
        for chunk in writes.chunks(100) {
            let outcomes = dir.write(district, chunk).await?;
            for (w, o) in chunk.iter().zip(outcomes) {
                let Write::Put {
                    record: Record::Person(p),
                    ..
                } = w
                else {
                    continue;
                };
                match o {
                    WriteOutcome::Written | WriteOutcome::AlreadyApplied => {
                        out.archived += 1;
                        out.ids.push(p.id.clone());
                    }
                    WriteOutcome::Conflict => out.conflicts += 1,
                }
            }
        }
    }
    tracing::info!(
        district,
        dry_run,
        archived = out.archived,
        skipped_managed = out.skipped_managed,
        already_archived = out.already_archived,
        conflicts = out.conflicts,
        "archive students not part of the sync"
    );
    Ok(out)
}

/// Archives one student by hand (reason manual). Refused for a sync-managed student; a student
/// already archived is returned unchanged.
pub async fn archive_student(
    dir: &dyn Directory,
    district: &str,
    id: &str,
    clock: &dyn Clock,
) -> Result<Person> {
    let p = load::person_of(dir, district, id, PersonKind::Student).await?;
    if let Some(m) = &p.managed {
        return Err(CleanupError::Managed {
            id: p.id.clone(),
            source_kind: m.source.as_str(),
            source_id: m.source_id.clone(),
        });
    }
    if p.archived.is_some() {
        return Ok(p);
    }
    put_person(dir, district, &p, manual_archive(&p, clock)).await
}

/// Undoes a manual archive of a person. Archives made by the sync (not in feed) are undone by the
/// sync when the person reappears; merged-away people are restored by `unmerge`. A person who is
/// not archived is returned unchanged.
pub async fn unarchive(
    dir: &dyn Directory,
    district: &str,
    id: &str,
    _clock: &dyn Clock,
) -> Result<Person> {
    let p = load::person(dir, district, id).await?;
    let why = match p.archived.as_ref().map(|a| &a.reason) {
        None => return Ok(p),
        Some(ArchiveReason::Manual) => None,
        Some(ArchiveReason::NotInFeed) => Some(
            "it was archived by the sync because it left the feed; the sync unarchives it when it reappears"
                .to_string(),
        ),
        Some(ArchiveReason::MergedInto(s)) => {
            Some(format!("it was merged into {s}; undo the merge instead (unmerge)"))
        }
    };
    if let Some(why) = why {
        return Err(CleanupError::NotManuallyArchived {
            id: p.id.clone(),
            why,
        });
    }
    let mut next = p.clone();
    next.archived = None;
    put_person(dir, district, &p, next).await
}

async fn put_person(
    dir: &dyn Directory,
    district: &str,
    before: &Person,
    mut next: Person,
) -> Result<Person> {
    let outcome = dir
        .write(
            district,
            &[Write::Put {
                record: Record::Person(Box::new(next.clone())),
                expected: Some(before.version),
            }],
        )
        .await?;
    match outcome.first() {
        Some(WriteOutcome::Written) | Some(WriteOutcome::AlreadyApplied) => {
            next.version = before.version + 1;
            tracing::info!(district, person = %next.id, "person archive state changed");
            Ok(next)
        }
        _ => Err(CleanupError::Conflict(
            RecordKey::person(&before.id).as_str().to_string(),
        )),
    }
}
