//! Building the sync report of a run from its stored plans.

use crate::pipeline::{DISTRICT_PLAN, Manifest};
use crate::safeguards::Held;
use chrono::{DateTime, Utc};
use domain::district::Run;
use domain::plan::Plan;
use domain::report::{Report, ReportIssue, RunStatus, SchoolReport, Totals};
use domain::{EntityKind, FailureReason, Issue, IssueCode, Location};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// How applying one school's plan went (`plans/{school}.apply.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyResult {
    /// The plan still conflicted after one re-plan: part of it was not applied.
    pub failed: bool,
    pub conflicts: u64,
}

/// What the district step and the report need of a school plan (`plans/{school}.digest.json`):
/// its totals, warnings and claimed people, a small fraction of the plan, so the district step
/// and the finish do not read every whole plan back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanDigest {
    pub totals: Totals,
    pub warnings: Vec<Issue>,
    /// Directory person ids the plan accounts for ([`crate::planner::claimed_people`]).
    pub claimed: BTreeSet<String>,
}

impl PlanDigest {
    pub fn of(plan: &Plan) -> Self {
        Self {
            totals: Totals::of(&plan.changes),
            warnings: plan.warnings.clone(),
            claimed: crate::planner::claimed_people([plan]),
        }
    }
}

fn without_archives(mut t: Totals) -> Totals {
    for c in t.0.values_mut() {
        c.archived = 0;
    }
    t
}

/// The report of a run: totals of every plan (archives of a held run are moved to
/// `tried_to_archive`), per-school totals, the reader's and planners' warnings, and an
/// `apply_conflict` error per school that could not be applied.
pub fn build_report(
    manifest: &Manifest,
    run: &Run,
    school_plans: &[(String, PlanDigest)],
    district_plan: &Plan,
    held: Option<&Held>,
    results: &BTreeMap<String, ApplyResult>,
    now: DateTime<Utc>,
) -> Report {
    let adjust = |t: Totals| {
        if held.is_some() {
            without_archives(t)
        } else {
            t
        }
    };
    let failed = |s: &str| results.get(s).is_some_and(|r| r.failed);
    let mut totals = Totals::default();
    let mut schools = Vec::new();
    let mut warnings: Vec<ReportIssue> = manifest.warnings.iter().map(ReportIssue::from).collect();
    for (school, plan) in school_plans {
        let t = adjust(plan.totals.clone());
        totals.merge(&t);
        warnings.extend(plan.warnings.iter().map(ReportIssue::from));
        let status = if failed(school) {
            RunStatus::Failed
        } else if held.is_some() {
            RunStatus::Held
        } else if plan.warnings.is_empty() {
            RunStatus::Succeeded
        } else {
            RunStatus::CompletedWithWarnings
        };
        schools.push(SchoolReport {
            school_id: manifest
                .context
                .school_map
                .get(school)
                .cloned()
                .unwrap_or_default(),
            external_id: school.clone(),
            status,
            totals: t,
        });
    }
    totals.merge(&adjust(Totals::of(&district_plan.changes)));
    warnings.extend(district_plan.warnings.iter().map(ReportIssue::from));
    let errors: Vec<ReportIssue> = school_plans
        .iter()
        .map(|(s, _)| s.as_str())
        .chain([DISTRICT_PLAN])
        .filter(|s| failed(s))
        .map(|s| {
            let conflicts = results.get(s).map(|r| r.conflicts).unwrap_or(0);
            ReportIssue::from(&Issue::error(
                IssueCode::ApplyConflict,
                Location::file(format!("plans/{s}")),
                format!("{conflicts} change(s) not applied: the directory kept changing; the next run retries"),
            ))
        })
        .collect();
    let (status, reason) = if !errors.is_empty() {
        (RunStatus::Failed, None)
    } else if held.is_some() {
        (RunStatus::Held, Some(FailureReason::Threshold))
    } else if warnings.is_empty() {
        (RunStatus::Succeeded, None)
    } else {
        (RunStatus::CompletedWithWarnings, None)
    };
    let tried_to_archive = EntityKind::ALL
        .into_iter()
        .map(|e| {
            (
                e,
                held.and_then(|h| h.tried_to_archive.get(&e).copied())
                    .unwrap_or(0),
            )
        })
        .collect();
    Report {
        district: run.district.clone(),
        run_id: run.run_id.clone(),
        status,
        reason,
        dry_run: run.dry_run,
        started_at: run.started_at,
        finished_at: Some(now),
        totals,
        schools,
        tried_to_archive,
        warnings,
        errors,
    }
}
