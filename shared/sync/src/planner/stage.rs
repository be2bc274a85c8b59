//! Staging decisions, pure: validate the feed before anything is written, resolve which schools
//! are in scope, and build the inputs of every school plan and of the district step.

use super::{FeedPeople, PlanContext, StagedSchool, prepare_roster, stage_shards};
use chrono::{DateTime, Utc};
use domain::directory::{PersonKind, School, derived_id};
use domain::settings::{SchoolScope, SyncSettings};
use domain::{EntityKind, FailureReason, FeedMode, Issue, IssueCode, Location, Roster, SourceKind};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Why staging refused a feed: the run fails before any write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageFailure {
    pub reason: FailureReason,
    pub error: Issue,
}

/// Everything the school plans and the district step need, decided once per run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Staged {
    /// The district-wide context (`owned` and `contact_staff` empty; see [`Staged::context`]).
    pub context: PlanContext,
    pub scope: SchoolScope,
    pub schools: Vec<StagedSchool>,
    pub feed_people: FeedPeople,
    pub feed_school_ids: BTreeSet<String>,
    /// The reader's warnings.
    pub warnings: Vec<Issue>,
}

impl Staged {
    /// The context of one school plan.
    pub fn context(&self, school: &StagedSchool) -> PlanContext {
        let mut c = self.context.clone();
        c.owned = school.owned.clone();
        c.contact_staff = school.contact_staff.clone();
        c
    }
}

fn fail(reason: FailureReason, code: IssueCode, message: String) -> StageFailure {
    StageFailure {
        reason,
        error: Issue::error(code, Location::file("roster"), message),
    }
}

/// Validates a roster against the directory's schools and stages it.
pub fn stage_roster(
    district: &str,
    run_id: &str,
    now: DateTime<Utc>,
    roster: Roster,
    directory_schools: &[School],
    settings: &SyncSettings,
) -> Result<Staged, StageFailure> {
    if roster.district.as_ref().is_some_and(|d| d.is_paused()) {
        return Err(fail(
            FailureReason::SourceUnavailable,
            IssueCode::SourcePaused,
            "the source reports its sync as paused or in error; nothing was changed".into(),
        ));
    }
    if roster.is_empty_feed()
        || (roster.coverage.users == FeedMode::Bulk
            && roster.students.is_empty()
            && roster.staff.is_empty())
    {
        return Err(fail(
            FailureReason::InvalidInput,
            IssueCode::EmptyFeed,
            "the feed has no students and no staff; nothing was changed".into(),
        ));
    }
    let feed_school_ids: BTreeSet<String> = roster.schools.iter().map(|s| s.id.clone()).collect();
    let live: Vec<&School> = directory_schools
        .iter()
        .filter(|s| s.archived.is_none())
        .collect();
    let scope = settings.effective_scope(!live.is_empty());
    let mut school_map: BTreeMap<String, String> = BTreeMap::new();
    let mut not_found = Vec::new();
    let mut sorted = live.clone();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    for s in sorted {
        let present: Vec<&String> = s.external_ids.intersection(&feed_school_ids).collect();
        if present.is_empty() {
            if s.managed.is_none() && !s.external_ids.is_empty() {
                not_found.push(s.id.clone());
            }
            continue;
        }
        for x in present {
            school_map.entry(x.clone()).or_insert_with(|| s.id.clone());
        }
    }
    if !not_found.is_empty() {
        return Err(fail(
            FailureReason::SchoolsNotFound,
            IssueCode::SchoolNotFound,
            format!(
                "{} matched school(s) have no external id present in the feed: {}",
                not_found.len(),
                not_found.join(", ")
            ),
        ));
    }
    if scope == SchoolScope::All {
        for id in &feed_school_ids {
            school_map
                .entry(id.clone())
                .or_insert_with(|| derived_id("sch", district, id));
        }
    }
    if school_map.is_empty() {
        return Err(fail(
            FailureReason::SchoolsNotFound,
            IssueCode::SchoolNotFound,
            "no directory school is matched to a school of the feed".into(),
        ));
    }
    let source = roster.source.unwrap_or(SourceKind::OnerosterCsv);
    let coverage = roster.coverage;
    let mut warnings = roster.warnings.clone();
    let deleted: BTreeSet<String> = roster
        .deletions
        .iter()
        .filter(|d| {
            matches!(
                d.entity,
                EntityKind::Students | EntityKind::Staff | EntityKind::Guardians
            )
        })
        .map(|d| d.id.clone())
        .collect();
    let roster = prepare_roster(roster, settings);
    let feed_person_ids: BTreeSet<String> = roster
        .students
        .iter()
        .map(|s| s.id.clone())
        .chain(roster.staff.iter().map(|s| s.id.clone()))
        .chain(roster.contacts.iter().map(|c| c.id.clone()))
        .collect();
    let feed_section_ids = roster.sections.iter().map(|s| s.id.clone()).collect();
    let schools = stage_shards(&roster, &school_map, &mut warnings);
    let mut kinds = BTreeSet::new();
    if settings.entities.students {
        kinds.insert(PersonKind::Student);
    }
    if settings.entities.staff {
        kinds.insert(PersonKind::Staff);
    }
    if settings.manage_guardians && settings.entities.guardians {
        kinds.insert(PersonKind::Guardian);
    }
    Ok(Staged {
        context: PlanContext {
            district: district.to_string(),
            run_id: run_id.to_string(),
            source,
            now,
            school_map,
            coverage,
            feed_person_ids: feed_person_ids.clone(),
            feed_section_ids,
            owned: BTreeSet::new(),
            contact_staff: BTreeMap::new(),
        },
        scope,
        schools,
        feed_people: FeedPeople {
            ids: feed_person_ids,
            deleted,
            claimed: BTreeSet::new(),
            kinds,
        },
        feed_school_ids,
        warnings,
    })
}
