//! Starting a run: fetch the district's source, stage it and fan out (what the `fetch` Lambda
//! and `rostersync sync` both do), and the local one-shot that then drains the queue.
//! A source that cannot be read ends the run `failed` with its reason before any write.

use crate::fetch::{FetchError, ObjectRaw, fetch_roster};
use crate::secrets::SecretStore;
use chrono::{DateTime, Utc};
use domain::district::{District, Run};
use domain::report::{Report, ReportIssue, RunStatus, Totals};
use domain::{Issue, IssueCode, Location, Roster};
use sync::pipeline::{PipelineError, Ports, StageOutcome};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Admin(#[from] crate::admin::AdminError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Drop(#[from] crate::drops::DropError),
    /// A drop-fed (SFTP) district has no new complete drop: no run was started.
    #[error("nothing new to sync: {0}")]
    NothingNew(String),
}

/// A run id that sorts by start time to the microsecond: `20261128T140501.123456Z-0000003f9a1c`.
/// The suffix is a per-process sequence number and a hash of the process id, so ids never
/// collide within a process (even under a frozen clock) and almost never across processes.
pub fn new_run_id(now: DateTime<Utc>) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed) & 0xff_ffff;
    let pid = std::process::id().wrapping_mul(2_654_435_761) & 0xff_ffff;
    format!("{}Z-{seq:06x}{pid:06x}", now.format("%Y%m%dT%H%M%S%.6f"))
}

pub fn new_run(district: &District, dry_run: bool, now: DateTime<Utc>) -> Run {
    Run {
        district: district.id.clone(),
        run_id: new_run_id(now),
        status: RunStatus::Planning,
        reason: None,
        dry_run,
        source: None,
        started_at: now,
        finished_at: None,
        schools_total: 0,
        schools_done: 0,
        version: 0,
    }
}

/// Records a run that failed before staging (the source could not be read) with its report.
pub async fn fail_run(ports: &Ports, mut run: Run, error: &FetchError) -> Result<Report, RunError> {
    let now = ports.clock.now();
    let mut issues = error.issues();
    if issues.is_empty() {
        let code = match error.reason() {
            domain::FailureReason::WrongCredentials => IssueCode::WrongCredentials,
            domain::FailureReason::SourceUnavailable => IssueCode::SourceUnavailable,
            _ => IssueCode::InvalidResponse,
        };
        // Name the request that failed (API path), not just "source".
        let at = match error {
            FetchError::Source(
                sources::SourceError::WrongCredentials { path, .. }
                | sources::SourceError::Unavailable { path, .. }
                | sources::SourceError::Io { path, .. },
            ) if !path.is_empty() => path.as_str(),
            _ => "source",
        };
        issues.push(Issue::error(code, Location::api(at), error.to_string()));
    }
    ports.runs.create_run(&run).await.or_else(|e| match e {
        store::StoreError::Conflict(_) => Ok(()),
        e => Err(e),
    })?;
    if let Some(stored) = ports.runs.get_run(&run.district, &run.run_id).await? {
        run.version = stored.version;
    }
    run.status = RunStatus::Failed;
    run.reason = Some(error.reason());
    run.finished_at = Some(now);
    ports.runs.update_run(&run).await?;
    let report = Report {
        district: run.district.clone(),
        run_id: run.run_id.clone(),
        status: RunStatus::Failed,
        reason: Some(error.reason()),
        dry_run: run.dry_run,
        started_at: run.started_at,
        finished_at: Some(now),
        totals: Totals::default(),
        schools: Vec::new(),
        tried_to_archive: Default::default(),
        warnings: Vec::new(),
        errors: issues.iter().map(ReportIssue::from).collect(),
    };
    ports.runs.put_report(&report).await?;
    Ok(report)
}

/// What starting a run led to.
#[derive(Debug)]
pub enum Started {
    /// Staged and fanned out: workers take it from here.
    Staged(Run),
    /// Ended before any write (unreadable or refused feed), with its report.
    Ended(Box<Report>),
}

/// Fetches the district's source and stages the run. A drop-fed (SFTP) district pulls and
/// ingests its next complete drop instead, or answers [`RunError::NothingNew`].
pub async fn start(
    ports: &Ports,
    secrets: &dyn SecretStore,
    district_id: &str,
    dry_run: bool,
) -> Result<Started, RunError> {
    let district = crate::admin::district(ports.runs.as_ref(), district_id).await?;
    if matches!(
        district.source,
        Some(domain::district::SourceConfig::Sftp { .. })
    ) {
        return crate::drops::pull_and_start(ports, secrets, &district, dry_run).await;
    }
    let run = new_run(&district, dry_run, ports.clock.now());
    let span = tracing::info_span!("run", district = %district.id, run_id = %run.run_id);
    let _g = span.enter();
    let mut raw = ObjectRaw::new(ports.objects.clone(), &district.id, &run.run_id);
    let roster = match fetch_roster(&district, secrets, &mut raw).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(reason = %e.reason(), "source could not be read; run failed before any write");
            return Ok(Started::Ended(Box::new(fail_run(ports, run, &e).await?)));
        }
    };
    stage_roster(ports, &district, run, roster).await
}

/// Stages an already-read roster (drops, tests).
pub async fn stage_roster(
    ports: &Ports,
    district: &District,
    mut run: Run,
    roster: Roster,
) -> Result<Started, RunError> {
    run.source = roster.source;
    match sync::pipeline::stage(ports, district, &run, roster).await? {
        StageOutcome::Staged { .. } => Ok(Started::Staged(run)),
        StageOutcome::Failed(report) => Ok(Started::Ended(report)),
    }
}

/// One whole run on this machine: fetch, stage, then drain the queue until the run ends.
pub async fn sync_once(
    ports: &Ports,
    secrets: &dyn SecretStore,
    district_id: &str,
    dry_run: bool,
) -> Result<Report, RunError> {
    let (snap_ports, snapshot) = sync::pipeline::snapshot_ports(ports);
    // Planning starts by copying the district's directory into memory: load it on another
    // core while the source is read and staged. Staging writes nothing to the directory, and
    // its one read (the district's schools) goes straight to it, not waiting for the copy.
    let prefetch = tokio::spawn({
        let snapshot = snapshot.clone();
        let district = district_id.to_string();
        async move { snapshot.prefetch(&district).await }
    });
    let started = start(ports, secrets, district_id, dry_run).await;
    if !matches!(started, Ok(Started::Staged(_))) {
        prefetch.abort();
        snapshot.release();
    }
    match started? {
        Started::Ended(report) => Ok(*report),
        // Planning's first read waits for the load under way (the snapshot loads once).
        Started::Staged(run) => {
            Ok(
                sync::pipeline::run_local_on(&snap_ports, &snapshot, &run.district, &run.run_id)
                    .await?,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::new_run_id;
    use chrono::TimeZone;

    #[test]
    fn run_ids_are_unique_under_a_frozen_clock_and_sort_by_time() {
        let t = chrono::Utc
            .with_ymd_and_hms(2026, 11, 28, 14, 5, 1)
            .unwrap();
        let ids: std::collections::BTreeSet<String> = (0..1000).map(|_| new_run_id(t)).collect();
        assert_eq!(ids.len(), 1000, "a frozen clock still gives distinct ids");
        assert!(
            ids.iter()
                .all(|id| id.starts_with("20261128T140501.000000Z-"))
        );
        let later = new_run_id(t + chrono::Duration::microseconds(1));
        assert!(
            ids.iter().all(|id| *id < later),
            "a later start sorts after"
        );
    }
}
