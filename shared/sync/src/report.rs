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
    /// The stored plan this digest was made from: [`plan_hash`] of its bytes, and how many of
    /// its changes write. An apply whose plan bytes hash to `plan_hash` and whose `writes` is 0
    /// has nothing to do and need not decode the plan (a no-change night's plans are most of
    /// its stored bytes). Absent in digests of older builds, which are then not trusted for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<StoredPlan>,
}

/// See [`PlanDigest::plan`]. `hash` is [`plan_hash`] of the stored bytes when `writes` is 0,
/// and 0 otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPlan {
    pub hash: u64,
    pub writes: u64,
}

impl PlanDigest {
    pub fn of(plan: &Plan) -> Self {
        Self {
            totals: Totals::of(&plan.changes),
            warnings: plan.warnings.clone(),
            claimed: crate::planner::claimed_people([plan]),
            plan: None,
        }
    }

    /// The digest of `plan`, stored as `bytes`. Only a plan that writes nothing gets its bytes
    /// hashed (the hash serves only to skip such a plan); a writing plan's `hash` is 0.
    pub fn of_stored(plan: &Plan, bytes: &[u8]) -> Self {
        let writes = plan.changes.iter().filter(|c| c.writes()).count() as u64;
        Self {
            plan: Some(StoredPlan {
                hash: if writes == 0 { plan_hash(bytes) } else { 0 },
                writes,
            }),
            ..Self::of(plan)
        }
    }

    /// True when this digest was made from exactly `bytes` and that plan writes nothing.
    pub fn writes_nothing(&self, bytes: &[u8]) -> bool {
        self.plan
            .is_some_and(|p| p.writes == 0 && p.hash == plan_hash(bytes))
    }
}

/// A 64-bit hash of a stored plan's bytes (the standard library's SipHash with its fixed
/// keys: precompiled with optimisations, so debug builds hash at release speed). Its algorithm
/// may change between Rust releases; then a digest written by an older build simply does not
/// match, and the apply decodes the plan as it would without the digest. Not cryptographic: it
/// tells apart two plans of one school within one run, which is all
/// [`PlanDigest::writes_nothing`] asks of it.
pub fn plan_hash(bytes: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = std::hash::DefaultHasher::new();
    h.write(bytes);
    h.finish()
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

#[cfg(test)]
mod digest_tests {
    use super::*;

    /// The same bytes hash the same (in one build; across builds a mismatch only costs the
    /// skip), and a one-bit change shows.
    #[test]
    fn plan_hash_is_stable_and_tells_bytes_apart() {
        assert_eq!(
            plan_hash(br#"{"changes":[],"warnings":[]}"#),
            plan_hash(br#"{"changes":[],"warnings":[]}"#)
        );
        let a = br#"{"changes":[{"entity":"students","action":"unchanged"}],"warnings":[]}"#;
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..a.len() {
            let mut b = a.to_vec();
            b[i] ^= 0x01;
            assert!(
                seen.insert(plan_hash(&b)),
                "one flipped bit at {i} collides"
            );
        }
        assert!(!seen.contains(&plan_hash(a)));
        assert_ne!(plan_hash(b"\0"), plan_hash(b""), "length counts");
    }

    #[test]
    fn only_a_digest_of_these_bytes_with_no_writes_says_nothing_is_written() {
        let plan = Plan::default();
        let bytes = serde_json::to_vec(&plan).unwrap();
        let d = PlanDigest::of_stored(&plan, &bytes);
        assert!(d.writes_nothing(&bytes));
        assert!(!d.writes_nothing(b"{}"), "other bytes");
        assert!(
            !PlanDigest::of(&plan).writes_nothing(&bytes),
            "a digest without the stored plan's hash (older builds)"
        );
        let writing = PlanDigest {
            plan: Some(StoredPlan {
                hash: plan_hash(&bytes),
                writes: 1,
            }),
            ..d
        };
        assert!(!writing.writes_nothing(&bytes));
    }
}
