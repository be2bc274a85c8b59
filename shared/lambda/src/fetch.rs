//! The `fetch` (and `sftp-pull`) handler: start one run of a district.
//!
//! Event (EventBridge Scheduler's input, or `aws lambda invoke --payload`):
//! `{"district": "d1", "dry_run": false, "trigger": "schedule"}` (`dry_run` and `trigger` are
//! optional). The handler calls [`app::runs::start`]: fetch the source (every page or file is
//! copied verbatim under `districts/{d}/runs/{run}/raw/`), validate, stage the shards and the
//! manifest, and send one `plan` message per school; the worker does the rest. A source that
//! cannot be read ends the run `failed` with its report, which is a normal outcome (the
//! invocation succeeds). An SFTP district pulls its server (in `sftp-pull`, built with the
//! `sftp` feature) and ingests its next complete drop instead.
//!
//! ## The 15-minute limit and re-invocation
//!
//! A Lambda invocation lasts at most 15 minutes (the template gives `fetch` all of it). The
//! fetch and staging of one district happen inside it; a district whose source needs longer
//! (a very slow API, hundreds of thousands of records) does not fit, and there is no
//! checkpoint to resume a half-read source from today: the next invocation starts over.
//! What makes that safe is the pipeline's order: nothing touches the directory until every
//! school is planned and the district step has passed the safeguards. An invocation killed at
//! any point (during the fetch, or between sending `plan` messages) therefore leaves at most
//! raw objects and a run stuck in `planning`, never a partial directory change; the
//! scheduler's retry or the next night's run starts a fresh run. Stuck `planning` runs are
//! visible in `GET /v1/districts/{d}/runs`. If districts outgrow the limit, the next step is
//! to split the fetch per endpoint (one invocation per endpoint writing `raw/` pages and a
//! checkpoint object, a final one reading them back), which the raw layout already allows.

use crate::{Deps, HandlerError};
use app::runs::{RunError, Started};
use serde::{Deserialize, Serialize};
use tracing::Instrument;

/// What EventBridge Scheduler (or an operator) sends.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct FetchEvent {
    pub district: String,
    #[serde(default)]
    pub dry_run: bool,
    /// Free text for the logs (`schedule`, `manual`...).
    #[serde(default)]
    pub trigger: Option<String>,
}

/// The invocation's result (shown by `aws lambda invoke`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchOutput {
    pub district: String,
    /// The run started, if any.
    pub run_id: Option<String>,
    /// `planning` (staged: the workers take over), a final status (the run ended before any
    /// write, e.g. `failed`), or `nothing_new` (a drop-fed district without a new drop).
    pub status: String,
    pub message: Option<String>,
}

/// Starts one run of `event.district`.
pub async fn handle(deps: &Deps, event: FetchEvent) -> Result<FetchOutput, HandlerError> {
    if event.district.trim().is_empty() {
        return Err(HandlerError::BadEvent(
            "`district` is empty; send {\"district\": \"<id>\", \"dry_run\": false}".into(),
        ));
    }
    let span = tracing::info_span!("fetch", district = %event.district, dry_run = event.dry_run);
    start(deps, event).instrument(span).await
}

async fn start(deps: &Deps, event: FetchEvent) -> Result<FetchOutput, HandlerError> {
    tracing::info!(
        trigger = event.trigger.as_deref().unwrap_or("-"),
        "starting a run"
    );
    let started = app::runs::start(
        &deps.ports,
        deps.secrets.as_ref(),
        &event.district,
        event.dry_run,
    )
    .await;
    let out = match started {
        Ok(Started::Staged(run)) => {
            tracing::info!(run_id = %run.run_id, "staged; workers take over");
            FetchOutput {
                district: event.district,
                run_id: Some(run.run_id),
                status: run.status.as_str().to_string(),
                message: None,
            }
        }
        Ok(Started::Ended(report)) => {
            tracing::warn!(
                run_id = %report.run_id,
                status = report.status.as_str(),
                reason = report.reason.map(|r| r.as_str()).unwrap_or("-"),
                "run ended before any write"
            );
            FetchOutput {
                district: event.district,
                run_id: Some(report.run_id.clone()),
                status: report.status.as_str().to_string(),
                message: report.errors.first().map(|e| e.message.clone()),
            }
        }
        Err(RunError::NothingNew(why)) => {
            tracing::info!(why = %why, "nothing new to sync");
            FetchOutput {
                district: event.district,
                run_id: None,
                status: "nothing_new".into(),
                message: Some(why),
            }
        }
        Err(e) => {
            let e = HandlerError::from(e);
            tracing::error!(error = %e, retryable = e.is_retryable(), "run not started");
            return Err(e);
        }
    };
    Ok(out)
}
