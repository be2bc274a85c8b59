//! Merging a duplicate person into a survivor, and undoing it.
//!
//! A merge re-points every record hanging off the duplicate to the survivor (linked records,
//! classroom memberships, guardian links), unites the external and secondary ids on the survivor,
//! and archives the duplicate as `merged_into(survivor)` with no external or secondary ids left,
//! so a later sync finds the survivor by any id either was known by and never resurrects the
//! duplicate. A [`MergeRecord`] keeps the exact prior state of every record changed or deleted
//! and the keys created, which is what [`unmerge`] restores.
//!
//! # Atomicity
//!
//! The directory port makes each write atomic on its own, not a batch, so a merge is made safe in
//! two ways:
//!
//! 1. **Journal first.** The merge record (with every before-image) is written before anything
//!    else, conditionally (it must not exist). Whatever happens afterwards, the directory holds
//!    what is needed to restore the prior state.
//! 2. **Conditional writes, rolled back on conflict.** Every write carries the version the plan was
//!    computed from. Writes go in phases: creates, then updates, then deletes. If any write does
//!    not apply (someone changed that record since it was read), the writes already made are
//!    rolled back from the before-images (each roll-back write is itself conditional on the
//!    record still holding what the merge wrote), the journal is deleted and the merge fails with
//!    [`CleanupError::Conflict`]: nothing is left half-applied and the caller may retry.
//!    If a roll-back write itself loses a race, or the process dies mid-merge, the journal stays
//!    and the error is [`CleanupError::PartiallyApplied`]; [`unmerge`] of that merge converges to
//!    the prior state (it compares contents, so it restores a partly applied merge too).
//!
//! [`unmerge`] is convergent rather than rolled back: it puts every before-image back (skipping
//! records that already hold it), deletes what the merge created, then marks the merge undone.
//! If it is interrupted or loses a race, running it again finishes the job.

use crate::detect::{all_candidates, merged_away};
use crate::{CleanupError, Result, load};
use domain::directory::{
    ArchiveReason, Archived, Enrollment, GuardianLink, IndexKey, MergeRecord, Person, PersonKind,
    Record, RecordKey, derived_id,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, HashSet};
use store::{Clock, Directory, Write, WriteOutcome};

/// Picks the survivor of a pair: the sync-managed one (it carries the feed's id and stays in
/// step with the SIS); otherwise, or if both are managed, the one with the lower id (the older
/// record). Returns `(survivor, duplicate)`.
pub fn choose_survivor<'a>(a: &'a Person, b: &'a Person) -> (&'a Person, &'a Person) {
    match (a.managed.is_some(), b.managed.is_some()) {
        (true, false) => (a, b),
        (false, true) => (b, a),
        _ if a.id <= b.id => (a, b),
        _ => (b, a),
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeOptions {
    /// Compute and report; write nothing.
    pub dry_run: bool,
    /// Allow merging two people managed by the same sync source (the feed lists them as two
    /// people; the next sync keeps both source ids pointing at the survivor).
    pub force: bool,
}

/// What a merge did (or, on a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeOutcome {
    pub dry_run: bool,
    /// The merge record's id (on a dry run, the id it would have had).
    pub merge_id: String,
    pub kind: Option<PersonKind>,
    pub survivor_id: String,
    pub duplicate_id: String,
    /// Announcements, backpacks, interaction logs, attributes re-pointed.
    pub linked_moved: u64,
    pub enrollments_moved: u64,
    /// Memberships of the duplicate dropped because the survivor already had that classroom.
    pub enrollments_dropped: u64,
    pub guardian_links_moved: u64,
    /// Guardian links of the duplicate dropped because the survivor already had that link.
    pub guardian_links_dropped: u64,
    /// External ids the survivor gained.
    pub external_ids_moved: u64,
    /// Records created, updated and deleted (the merge record not counted).
    pub records_written: u64,
}

/// The writes of one merge, computed from one read of the directory.
struct Plan {
    creates: Vec<Record>,
    /// (new content, before-image)
    updates: Vec<(Record, Record)>,
    deletes: Vec<Record>,
    outcome: MergeOutcome,
}

/// Everything that hangs off `id`: memberships, guardian links, linked records (merge and
/// not-duplicate records too; callers pick).
async fn links_of(dir: &dyn Directory, district: &str, id: &str) -> Result<Vec<Record>> {
    load::all(dir, district, &IndexKey::of_person(id)).await
}

fn fill<T: Clone>(target: &mut Option<T>, from: &Option<T>) {
    if target.is_none() {
        target.clone_from(from);
    }
}

fn refuse_pair(kind: PersonKind, s: &Person, d: &Person, force: bool) -> Result<()> {
    if s.id == d.id {
        return Err(CleanupError::Refused(format!(
            "cannot merge {} into itself",
            s.id
        )));
    }
    if s.kind != d.kind {
        return Err(CleanupError::Refused(format!(
            "{} is a {} and {} is a {}; only people of one kind merge",
            s.id,
            s.kind.as_str(),
            d.id,
            d.kind.as_str()
        )));
    }
    if s.kind != kind {
        return Err(CleanupError::WrongKind {
            id: s.id.clone(),
            expected: kind.as_str(),
            actual: s.kind.as_str(),
        });
    }
    if let Some(Archived {
        reason: ArchiveReason::MergedInto(into),
        ..
    }) = &d.archived
    {
        return Err(CleanupError::Refused(format!(
            "{} is already merged into {into}",
            d.id
        )));
    }
    if let Some(Archived {
        reason: ArchiveReason::MergedInto(into),
        ..
    }) = &s.archived
    {
        return Err(CleanupError::Refused(format!(
            "{} was merged into {into}; merge into {into} instead",
            s.id
        )));
    }
    match (&s.managed, &d.managed) {
        (Some(ms), Some(md)) if ms.source == md.source && !force => {
            return Err(CleanupError::Refused(format!(
                "{} and {} are both managed by the sync (source {}, ids {} and {}); the feed lists them as two people (twins?); use force to merge anyway",
                s.id,
                d.id,
                ms.source.as_str(),
                ms.source_id,
                md.source_id
            )));
        }
        _ => {}
    }
    Ok(())
}

async fn plan(
    dir: &dyn Directory,
    district: &str,
    kind: PersonKind,
    s: &Person,
    d: &Person,
    clock: &dyn Clock,
) -> Result<Plan> {
    let mut out = MergeOutcome {
        kind: Some(kind),
        survivor_id: s.id.clone(),
        duplicate_id: d.id.clone(),
        ..MergeOutcome::default()
    };
    let survivor_links = links_of(dir, district, &s.id).await?;
    let dup_links = links_of(dir, district, &d.id).await?;

    // What the survivor already has.
    let mut s_classrooms: HashSet<String> = HashSet::new();
    let mut s_link_others: HashSet<String> = HashSet::new();
    for r in &survivor_links {
        match r {
            Record::Enrollment(e) if e.person_id == s.id => {
                s_classrooms.insert(e.classroom_id.clone());
            }
            Record::GuardianLink(g) if g.student_id == s.id => {
                s_link_others.insert(g.guardian_id.clone());
            }
            Record::GuardianLink(g) if g.guardian_id == s.id => {
                s_link_others.insert(g.student_id.clone());
            }
            _ => {}
        }
    }

    let mut creates = Vec::new();
    let mut updates = Vec::new();
    let mut deletes = Vec::new();
    for r in dup_links {
        match &r {
            Record::Linked(l) if l.student_id == d.id => {
                let mut moved = l.clone();
                moved.student_id = s.id.clone();
                out.linked_moved += 1;
                updates.push((Record::Linked(moved), r));
            }
            Record::Enrollment(e) if e.person_id == d.id => {
                if s_classrooms.insert(e.classroom_id.clone()) {
                    creates.push(Record::Enrollment(Enrollment {
                        person_id: s.id.clone(),
                        version: 0,
                        ..e.clone()
                    }));
                    out.enrollments_moved += 1;
                } else {
                    out.enrollments_dropped += 1;
                }
                deletes.push(r);
            }
            Record::GuardianLink(g) if g.student_id == d.id || g.guardian_id == d.id => {
                let moved = if g.student_id == d.id {
                    GuardianLink {
                        student_id: s.id.clone(),
                        version: 0,
                        ..g.clone()
                    }
                } else {
                    GuardianLink {
                        guardian_id: s.id.clone(),
                        version: 0,
                        ..g.clone()
                    }
                };
                let other = if g.student_id == d.id {
                    &g.guardian_id
                } else {
                    &g.student_id
                };
                if s_link_others.insert(other.clone()) {
                    creates.push(Record::GuardianLink(moved));
                    out.guardian_links_moved += 1;
                } else {
                    out.guardian_links_dropped += 1;
                }
                deletes.push(r);
            }
            _ => {}
        }
    }

    // The survivor gains every id and membership the duplicate had.
    let mut s2 = s.clone();
    out.external_ids_moved = d.external_ids.difference(&s.external_ids).count() as u64;
    s2.external_ids.extend(d.external_ids.iter().cloned());
    s2.school_ids.extend(d.school_ids.iter().cloned());
    fill(&mut s2.sis_id, &d.sis_id);
    fill(&mut s2.student_number, &d.student_number);
    fill(&mut s2.state_id, &d.state_id);
    fill(&mut s2.dob, &d.dob);
    fill(&mut s2.email, &d.email);
    fill(&mut s2.sms, &d.sms);
    fill(&mut s2.phone, &d.phone);
    fill(&mut s2.language, &d.language);
    fill(&mut s2.grade, &d.grade);
    fill(&mut s2.middle_name, &d.middle_name);
    fill(&mut s2.same_person_as, &d.same_person_as);
    fill(&mut s2.managed, &d.managed);
    s2.active = s.active || d.active;

    // The duplicate keeps nothing a sync or a lookup could find it by.
    let mut d2 = d.clone();
    d2.external_ids = BTreeSet::new();
    d2.sis_id = None;
    d2.student_number = None;
    d2.state_id = None;
    d2.email = None;
    d2.sms = None;
    d2.managed = None;
    d2.archived = Some(Archived {
        reason: ArchiveReason::MergedInto(s.id.clone()),
        at: clock.now(),
        run_id: None,
    });
    updates.push((
        Record::Person(Box::new(s2)),
        Record::Person(Box::new(s.clone())),
    ));
    updates.push((
        Record::Person(Box::new(d2)),
        Record::Person(Box::new(d.clone())),
    ));

    out.records_written = (creates.len() + updates.len() + deletes.len()) as u64;
    Ok(Plan {
        creates,
        updates,
        deletes,
        outcome: out,
    })
}

/// Folds `duplicate` into `survivor` (see the module doc). Refused for a person into itself,
/// people of different kinds, a duplicate already merged, a survivor merged away, and two people
/// managed by the same sync source unless `opts.force`.
#[allow(clippy::too_many_arguments)]
pub async fn merge(
    dir: &dyn Directory,
    district: &str,
    kind: PersonKind,
    survivor: &str,
    duplicate: &str,
    opts: MergeOptions,
    by: &str,
    clock: &dyn Clock,
) -> Result<MergeOutcome> {
    if survivor == duplicate {
        return Err(CleanupError::Refused(format!(
            "cannot merge {survivor} into itself"
        )));
    }
    let s = load::person(dir, district, survivor).await?;
    let d = load::person(dir, district, duplicate).await?;
    refuse_pair(kind, &s, &d, opts.force)?;
    let now = clock.now();
    let merge_id = derived_id(
        "merge",
        district,
        &format!("{}#{}#{}#{}", s.id, d.id, d.version, now.to_rfc3339()),
    );
    let Plan {
        creates,
        updates,
        deletes,
        outcome,
    } = plan(dir, district, kind, &s, &d, clock).await?;
    let mut outcome = MergeOutcome {
        dry_run: opts.dry_run,
        merge_id: merge_id.clone(),
        ..outcome
    };
    if opts.dry_run {
        return Ok(outcome);
    }

    let record = MergeRecord {
        id: merge_id.clone(),
        kind,
        survivor_id: s.id.clone(),
        duplicate_id: d.id.clone(),
        at: now,
        by: by.to_string(),
        before: updates
            .iter()
            .map(|(_, before)| before.clone())
            .chain(deletes.iter().cloned())
            .collect(),
        created: creates.iter().map(Record::key).collect(),
        undone_at: None,
        version: 0,
    };
    let journal_key = RecordKey::merge(&merge_id);
    let journal = dir
        .write(
            district,
            &[Write::Put {
                record: Record::from(record),
                expected: None,
            }],
        )
        .await?;
    if journal.first() != Some(&WriteOutcome::Written) {
        return Err(CleanupError::Conflict(journal_key.as_str().to_string()));
    }

    let phases: [Vec<(Write, Applied)>; 3] = [
        creates
            .into_iter()
            .map(|r| {
                (
                    Write::Put {
                        record: r.clone(),
                        expected: None,
                    },
                    Applied::Created(r),
                )
            })
            .collect(),
        updates
            .into_iter()
            .map(|(after, before)| {
                (
                    Write::Put {
                        record: after.clone(),
                        expected: Some(before.version()),
                    },
                    Applied::Updated {
                        after: Box::new(after),
                        before: Box::new(before),
                    },
                )
            })
            .collect(),
        deletes
            .into_iter()
            .map(|before| {
                (
                    Write::Delete {
                        key: before.key(),
                        expected: before.version(),
                    },
                    Applied::Deleted(before),
                )
            })
            .collect(),
    ];
    let mut applied: Vec<Applied> = Vec::new();
    let mut conflict: Option<RecordKey> = None;
    for phase in phases {
        if phase.is_empty() {
            continue;
        }
        let writes: Vec<Write> = phase.iter().map(|(w, _)| w.clone()).collect();
        let outcomes = dir.write(district, &writes).await?;
        for ((w, a), o) in phase.into_iter().zip(outcomes) {
            if o == WriteOutcome::Written {
                applied.push(a);
            } else if conflict.is_none() {
                conflict = Some(w.key());
            }
        }
        if conflict.is_some() {
            break;
        }
    }
    if let Some(key) = conflict {
        tracing::warn!(district, merge = %merge_id, key = key.as_str(), "merge conflict; rolling back");
        let unrestored = roll_back(dir, district, applied).await?;
        if unrestored > 0 {
            return Err(CleanupError::PartiallyApplied {
                merge_id,
                unrestored,
            });
        }
        if let Some(j) = dir.get(district, &journal_key).await? {
            dir.write(
                district,
                &[Write::Delete {
                    key: journal_key,
                    expected: j.version(),
                }],
            )
            .await?;
        }
        return Err(CleanupError::Conflict(key.as_str().to_string()));
    }
    outcome.dry_run = false;
    tracing::info!(
        district,
        merge = %merge_id,
        kind = kind.as_str(),
        survivor = %s.id,
        duplicate = %d.id,
        linked = outcome.linked_moved,
        enrollments = outcome.enrollments_moved,
        guardian_links = outcome.guardian_links_moved,
        "merged"
    );
    Ok(outcome)
}

/// A write a merge made, with what roll-back needs.
enum Applied {
    Created(Record),
    Updated {
        after: Box<Record>,
        before: Box<Record>,
    },
    Deleted(Record),
}

/// Undoes `applied` in reverse order, each write conditional on the record still holding what
/// the merge wrote. Returns how many could not be restored (changed again meanwhile).
async fn roll_back(dir: &dyn Directory, district: &str, applied: Vec<Applied>) -> Result<usize> {
    let mut unrestored = 0;
    for a in applied.into_iter().rev() {
        let key = match &a {
            Applied::Created(r) | Applied::Deleted(r) => r.key(),
            Applied::Updated { before, .. } => before.key(),
        };
        let current = dir.get(district, &key).await?;
        let write = match (&a, &current) {
            (Applied::Created(r), Some(cur)) if cur.content_eq(r) => Some(Write::Delete {
                key,
                expected: cur.version(),
            }),
            (Applied::Created(_), None) => None,
            (Applied::Updated { after, before }, Some(cur)) if cur.content_eq(after) => {
                Some(Write::Put {
                    record: (**before).clone(),
                    expected: Some(cur.version()),
                })
            }
            (Applied::Updated { before, .. }, Some(cur)) if cur.content_eq(before) => None,
            (Applied::Deleted(before), None) => Some(Write::Put {
                record: before.clone(),
                expected: None,
            }),
            (Applied::Deleted(before), Some(cur)) if cur.content_eq(before) => None,
            _ => {
                unrestored += 1;
                continue;
            }
        };
        if let Some(w) = write {
            let o = dir.write(district, &[w]).await?;
            if o.first() == Some(&WriteOutcome::Conflict) {
                unrestored += 1;
            }
        }
    }
    Ok(unrestored)
}

/// What [`unmerge`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmergeOutcome {
    pub merge_id: String,
    pub survivor_id: String,
    pub duplicate_id: String,
    /// Records put back to their before-image.
    pub restored: u64,
    /// Records the merge created, deleted again.
    pub deleted: u64,
    /// Records already holding their before-image.
    pub unchanged: u64,
    /// People or linked records the merge updated that were deleted since; left deleted.
    pub gone: u64,
}

/// Restores exactly the state before merge `merge_id` (records back to their before-images,
/// created records deleted) and marks the merge undone. Changes made since the merge to those
/// same records are overwritten (the next sync re-applies its own fields). Refused when the merge
/// was already undone or a later merge into the same survivor is still in place (undo that one
/// first). Convergent: if interrupted or it loses a race (`Conflict`), running it again finishes.
pub async fn unmerge(
    dir: &dyn Directory,
    district: &str,
    merge_id: &str,
    clock: &dyn Clock,
) -> Result<UnmergeOutcome> {
    let key = RecordKey::merge(merge_id);
    let Some(Record::Merge(m)) = dir.get(district, &key).await? else {
        return Err(CleanupError::NotFound {
            what: "merge",
            id: merge_id.to_string(),
        });
    };
    if m.undone_at.is_some() {
        return Err(CleanupError::Refused(format!(
            "merge {merge_id} was already undone"
        )));
    }
    let survivor = load::person(dir, district, &m.survivor_id).await.ok();
    if survivor.as_ref().is_some_and(merged_away) {
        return Err(CleanupError::Refused(format!(
            "{} was merged into another person since; undo that merge first",
            m.survivor_id
        )));
    }
    let later = links_of(dir, district, &m.survivor_id)
        .await?
        .into_iter()
        .find_map(|r| match r {
            Record::Merge(later)
                if later.id != m.id
                    && later.undone_at.is_none()
                    && later.survivor_id == m.survivor_id
                    && (later.at, &later.id) > (m.at, &m.id) =>
            {
                Some(later.id)
            }
            _ => None,
        });
    if let Some(later) = later {
        return Err(CleanupError::Refused(format!(
            "merge {later} into the same survivor came later; undo it first"
        )));
    }

    let mut out = UnmergeOutcome {
        merge_id: m.id.clone(),
        survivor_id: m.survivor_id.clone(),
        duplicate_id: m.duplicate_id.clone(),
        ..UnmergeOutcome::default()
    };
    let keys: Vec<RecordKey> = m
        .before
        .iter()
        .map(Record::key)
        .chain(m.created.iter().cloned())
        .collect();
    let current: HashMap<RecordKey, Record> = dir
        .get_many(district, &keys)
        .await?
        .into_iter()
        .map(|r| (r.key(), r))
        .collect();

    let mut restores = Vec::new();
    for before in &m.before {
        match current.get(&before.key()) {
            Some(cur) if cur.content_eq(before) => out.unchanged += 1,
            Some(cur) => restores.push(Write::Put {
                record: before.clone(),
                expected: Some(cur.version()),
            }),
            // Memberships and guardian links are what a merge deletes: put them back.
            None if matches!(before, Record::Enrollment(_) | Record::GuardianLink(_)) => restores
                .push(Write::Put {
                    record: before.clone(),
                    expected: None,
                }),
            None => out.gone += 1,
        }
    }
    let mut deletes = Vec::new();
    for k in &m.created {
        if let Some(cur) = current.get(k) {
            deletes.push(Write::Delete {
                key: k.clone(),
                expected: cur.version(),
            });
        }
    }
    for (batch, counter) in [(restores, 0usize), (deletes, 1usize)] {
        if batch.is_empty() {
            continue;
        }
        let outcomes = dir.write(district, &batch).await?;
        for (w, o) in batch.iter().zip(outcomes) {
            match o {
                WriteOutcome::Written | WriteOutcome::AlreadyApplied => {
                    if counter == 0 {
                        out.restored += 1;
                    } else {
                        out.deleted += 1;
                    }
                }
                WriteOutcome::Conflict => {
                    return Err(CleanupError::Conflict(w.key().as_str().to_string()));
                }
            }
        }
    }
    let mut done = m.clone();
    done.undone_at = Some(clock.now());
    let o = dir
        .write(
            district,
            &[Write::Put {
                record: Record::Merge(done),
                expected: Some(m.version),
            }],
        )
        .await?;
    if o.first() == Some(&WriteOutcome::Conflict) {
        return Err(CleanupError::Conflict(key.as_str().to_string()));
    }
    tracing::info!(
        district,
        merge = %m.id,
        restored = out.restored,
        deleted = out.deleted,
        gone = out.gone,
        "unmerged"
    );
    Ok(out)
}

/// A candidate pair [`merge_all`] did not merge, and why (ids only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeSkip {
    pub a: String,
    pub b: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeAllOutcome {
    pub dry_run: bool,
    pub merged: Vec<MergeOutcome>,
    pub skipped: Vec<MergeSkip>,
}

/// Merges every candidate pair of `kind` at or above `min_confidence`, strongest first, each
/// person in at most one merge per call (a pair touching someone already merged in this call is
/// skipped; the next call sees it again if it still applies). The survivor is
/// [`choose_survivor`]'s. Pairs a merge refuses (two people of the same source unless
/// `opts.force`) or that lose a race are listed in `skipped`.
pub async fn merge_all(
    dir: &dyn Directory,
    district: &str,
    kind: PersonKind,
    min_confidence: f64,
    opts: MergeOptions,
    by: &str,
    clock: &dyn Clock,
) -> Result<MergeAllOutcome> {
    let mut candidates = all_candidates(dir, district, kind, min_confidence).await?;
    candidates.sort_by(|x, y| {
        y.confidence
            .total_cmp(&x.confidence)
            .then(x.a.cmp(&y.a))
            .then(x.b.cmp(&y.b))
    });
    let mut out = MergeAllOutcome {
        dry_run: opts.dry_run,
        ..MergeAllOutcome::default()
    };
    let mut used: HashSet<String> = HashSet::new();
    for c in candidates {
        if used.contains(&c.a) || used.contains(&c.b) {
            out.skipped.push(MergeSkip {
                a: c.a,
                b: c.b,
                reason: "one of them is already in a merge of this call".into(),
            });
            continue;
        }
        let (survivor, duplicate) = if c.survivor == c.a {
            (c.a.clone(), c.b.clone())
        } else {
            (c.b.clone(), c.a.clone())
        };
        match merge(dir, district, kind, &survivor, &duplicate, opts, by, clock).await {
            Ok(m) => {
                used.insert(c.a);
                used.insert(c.b);
                out.merged.push(m);
            }
            Err(
                e @ (CleanupError::Refused(_)
                | CleanupError::Conflict(_)
                | CleanupError::NotFound { .. }
                | CleanupError::WrongKind { .. }),
            ) => out.skipped.push(MergeSkip {
                a: c.a,
                b: c.b,
                reason: e.to_string(),
            }),
            Err(e) => return Err(e),
        }
    }
    tracing::info!(
        district,
        kind = kind.as_str(),
        dry_run = opts.dry_run,
        merged = out.merged.len(),
        skipped = out.skipped.len(),
        "merge all"
    );
    Ok(out)
}
