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
//! ## The 15-minute limit: checkpoint and continue
//!
//! A Lambda invocation lasts at most 15 minutes. A Clever or OneRoster REST district is read
//! page by page against a checkpoint ([`crate::resume`]): every page goes to `raw/` as it
//! arrives, then the checkpoint object records where the fetch stands. Before each page the
//! handler compares the time left (the invocation's deadline, `LambdaEvent::context.deadline`)
//! with [`Budget::page_margin`]; when it runs short it sends a continuation
//! (`{"district": "d1", "resume_run": "<run>"}`) to its own queue (`ROSTERSYNC_FETCH_QUEUE_URL`,
//! an event source of this function) and ends. The next invocation resumes at the checkpoint.
//! Staging starts only when every endpoint is complete, and only with at least
//! [`Budget::stage_margin`] left (or in an invocation that read no page, which has its whole
//! 15 minutes); otherwise it continues once more.
//!
//! Idempotence: a continuation delivered twice, or after the run was staged, does nothing (the
//! run exists). An invocation killed mid-fetch is redelivered by SQS (or retried by Lambda for
//! a scheduled event) and resumes from the checkpoint: a scheduled event finds the district's
//! unfinished fetch through `districts/{d}/fetch/current.json` (same `dry_run`, started less
//! than a day ago) instead of starting a second run. Nothing touches the directory before
//! staging, so a fetch abandoned for good leaves only `raw/` objects and a checkpoint.
//! File and drop sources (CSV, SFTP) are read in one invocation, as before.

use crate::resume::{self, Api, Checkpoint};
use crate::{Deps, HandlerError};
use app::fetch::{ApiSource, FetchError};
use app::runs::{RunError, Started};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use domain::district::{District, SourceConfig};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};
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
    /// A continuation: the run whose checkpointed fetch goes on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_run: Option<String>,
}

/// How much of the invocation a fetch may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// The invocation's deadline (`None`: no limit, e.g. a test or a local call).
    pub deadline: Option<SystemTime>,
    /// No new page is requested with less than this left.
    pub page_margin: Duration,
    /// Staging starts only with at least this left (or in an invocation that read no page).
    pub stage_margin: Duration,
}

impl Budget {
    /// No deadline: the whole fetch in this call.
    pub const UNLIMITED: Self = Self {
        deadline: None,
        page_margin: Duration::ZERO,
        stage_margin: Duration::ZERO,
    };

    /// The budget of a Lambda invocation ending at `deadline_ms` (milliseconds since the
    /// epoch, as `lambda_runtime::Context::deadline`): a page may take a minute and a half
    /// (retries and backoff included), staging a large district several minutes.
    pub fn lambda(deadline_ms: u64) -> Self {
        Self {
            deadline: Some(SystemTime::UNIX_EPOCH + Duration::from_millis(deadline_ms)),
            page_margin: Duration::from_secs(90),
            stage_margin: Duration::from_secs(600),
        }
    }

    fn left_above(&self, margin: Duration) -> bool {
        self.deadline.is_none_or(|d| SystemTime::now() + margin < d)
    }
}

/// The unfinished fetch of a district, so a retried scheduled event resumes it.
#[derive(Debug, Serialize, Deserialize)]
struct Current {
    run_id: String,
}

fn current_key(district: &str) -> String {
    format!("districts/{district}/fetch/current.json")
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

/// Starts one run of `event.district` with no time limit (the whole fetch in this call).
pub async fn handle(deps: &Deps, event: FetchEvent) -> Result<FetchOutput, HandlerError> {
    handle_within(deps, event, Budget::UNLIMITED).await
}

/// Starts (or continues, with `resume_run`) one run of `event.district` within `budget`.
pub async fn handle_within(
    deps: &Deps,
    event: FetchEvent,
    budget: Budget,
) -> Result<FetchOutput, HandlerError> {
    if event.district.trim().is_empty() {
        return Err(HandlerError::BadEvent(
            "`district` is empty; send {\"district\": \"<id>\", \"dry_run\": false}".into(),
        ));
    }
    let span = tracing::info_span!("fetch", district = %event.district, dry_run = event.dry_run);
    async {
        let district = app::admin::district(deps.ports.runs.as_ref(), &event.district)
            .await
            .map_err(RunError::from)?;
        match district.source {
            Some(SourceConfig::Clever { .. } | SourceConfig::OnerosterApi { .. }) => {
                resumable(deps, &district, event, budget).await
            }
            _ => start(deps, event).await,
        }
    }
    .instrument(span)
    .await
}

/// What the `fetch` function receives: its own continuation queue's SQS batch (answered with
/// partial batch failures), or a schedule / on-demand [`FetchEvent`].
pub async fn handle_any(
    deps: &Deps,
    event: serde_json::Value,
    budget: Budget,
) -> Result<serde_json::Value, HandlerError> {
    if event.get("Records").is_some() {
        let batch: SqsEvent = serde_json::from_value(event)
            .map_err(|e| HandlerError::BadEvent(format!("not an SQS batch: {e}")))?;
        return Ok(json(&handle_continuations(deps, batch, budget).await));
    }
    let event: FetchEvent = serde_json::from_value(event).map_err(|e| {
        HandlerError::BadEvent(format!(
            "{e}; send {{\"district\": \"<id>\", \"dry_run\": false}}"
        ))
    })?;
    Ok(json(&handle_within(deps, event, budget).await?))
}

fn json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// Continuations from the fetch queue, one after the other; a message that fails with a
/// retryable error comes back (SQS redelivers it and the fetch resumes from its checkpoint),
/// one that cannot succeed is logged and dropped.
pub async fn handle_continuations(
    deps: &Deps,
    batch: SqsEvent,
    budget: Budget,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in batch.records {
        let id = record.message_id.clone().unwrap_or_default();
        let body = record.body.as_deref().unwrap_or_default();
        let outcome = match serde_json::from_str::<FetchEvent>(body) {
            Ok(event) => handle_within(deps, event, budget).await.map(drop),
            Err(e) => Err(HandlerError::BadEvent(format!("continuation message: {e}"))),
        };
        match outcome {
            Ok(()) => {}
            Err(e) if e.is_retryable() => {
                tracing::warn!(message_id = %id, error = %e, "continuation failed; it comes back");
                response.add_failure(id);
            }
            Err(e) => tracing::error!(message_id = %id, error = %e, "continuation dropped"),
        }
    }
    response
}

fn ended(report: &domain::report::Report, district: &str) -> FetchOutput {
    tracing::warn!(
        run_id = %report.run_id,
        status = report.status.as_str(),
        reason = report.reason.map(|r| r.as_str()).unwrap_or("-"),
        "run ended before any write"
    );
    FetchOutput {
        district: district.to_string(),
        run_id: Some(report.run_id.clone()),
        status: report.status.as_str().to_string(),
        message: report.errors.first().map(|e| e.message.clone()),
    }
}

/// The checkpoint to work on: the continuation's, the district's unfinished fetch (a retried
/// scheduled event), or a new one. `Err(output)` when there is nothing to do.
async fn checkpoint_for(
    deps: &Deps,
    district: &District,
    event: &FetchEvent,
    api: Api,
) -> Result<Result<Checkpoint, FetchOutput>, HandlerError> {
    let (objects, runs) = (deps.ports.objects.as_ref(), deps.ports.runs.as_ref());
    let d = district.id.as_str();
    let now = deps.ports.clock.now();
    let candidate = match &event.resume_run {
        Some(run_id) => Some(run_id.clone()),
        None => match objects.get(&current_key(d)).await {
            Ok(bytes) => serde_json::from_slice::<Current>(&bytes)
                .ok()
                .map(|c| c.run_id),
            Err(store::StoreError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        },
    };
    if let Some(run_id) = candidate {
        if let Some(run) = runs.get_run(d, &run_id).await? {
            if event.resume_run.is_some() {
                tracing::info!(run_id = %run_id, status = run.status.as_str(), "already staged or ended; nothing to continue");
                return Ok(Err(FetchOutput {
                    district: d.to_string(),
                    run_id: Some(run_id),
                    status: run.status.as_str().to_string(),
                    message: Some("the fetch of this run is already over".into()),
                }));
            }
        } else if let Some(cp) = Checkpoint::load(objects, d, &run_id).await? {
            let fresh = now - cp.started_at < chrono::Duration::hours(24);
            if event.resume_run.is_some() || (fresh && cp.dry_run == event.dry_run && cp.api == api)
            {
                tracing::info!(run_id = %run_id, pages = cp.pages(), "resuming the fetch at its checkpoint");
                return Ok(Ok(cp));
            }
        } else if event.resume_run.is_some() {
            return Err(HandlerError::BadEvent(format!(
                "run {run_id} of district {d} has no fetch checkpoint"
            )));
        }
    }
    let run = app::runs::new_run(district, event.dry_run, now);
    let cp = Checkpoint::new(api, d, &run.run_id, event.dry_run, now);
    let current = serde_json::to_vec(&Current {
        run_id: run.run_id.clone(),
    })
    .unwrap_or_default();
    objects.put(&current_key(d), current).await?;
    Ok(Ok(cp))
}

/// A Clever or OneRoster REST fetch, checkpointed page by page (see the module docs).
async fn resumable(
    deps: &Deps,
    district: &District,
    event: FetchEvent,
    budget: Budget,
) -> Result<FetchOutput, HandlerError> {
    let ports = &deps.ports;
    let source: Result<ApiSource, FetchError> =
        app::fetch::api_source(district, deps.secrets.as_ref()).await;
    let api = match &source {
        Ok(s) => Api::of(s),
        Err(_) => match district.source {
            Some(SourceConfig::Clever { .. }) => Api::Clever,
            _ => Api::Oneroster,
        },
    };
    let mut cp = match checkpoint_for(deps, district, &event, api).await? {
        Ok(cp) => cp,
        Err(out) => return Ok(out),
    };
    let mut run = app::runs::new_run(district, cp.dry_run, cp.started_at);
    run.run_id = cp.run_id.clone();
    let span = tracing::info_span!("run", run_id = %run.run_id);
    let _g = span.enter();
    let fetched = match source {
        Ok(source) => {
            let before = cp.pages();
            match resume::advance(ports.objects.as_ref(), &source, &mut cp, || {
                budget.left_above(budget.page_margin)
            })
            .await
            {
                Ok(true) if cp.pages() > before && !budget.left_above(budget.stage_margin) => {
                    Ok(false)
                }
                other => other,
            }
        }
        Err(e) => Err(e),
    };
    let outcome = match fetched {
        Ok(false) => return continue_later(deps, &cp).await,
        Ok(true) => resume::assemble(ports.objects.as_ref(), &cp).await,
        Err(e) => Err(e),
    };
    let started = match outcome {
        Ok(roster) => {
            tracing::info!(
                pages = cp.pages(),
                invocations = cp.invocations,
                "fetch complete; staging"
            );
            app::runs::stage_roster(ports, district, run, roster).await?
        }
        Err(e) => {
            tracing::warn!(reason = %e.reason(), "source could not be read; run failed before any write");
            Started::Ended(Box::new(app::runs::fail_run(ports, run, &e).await?))
        }
    };
    // The fetch is over: a retried scheduled event starts a new run from now on.
    let _ = ports.objects.delete(&current_key(&district.id)).await;
    Ok(match started {
        Started::Staged(run) => {
            tracing::info!("staged; workers take over");
            FetchOutput {
                district: district.id.clone(),
                run_id: Some(run.run_id),
                status: run.status.as_str().to_string(),
                message: None,
            }
        }
        Started::Ended(report) => ended(&report, &district.id),
    })
}

/// Sends the continuation of `cp`'s fetch to the function's own queue.
async fn continue_later(deps: &Deps, cp: &Checkpoint) -> Result<FetchOutput, HandlerError> {
    let Some(queue) = deps.continuations.as_ref() else {
        return Err(HandlerError::Config(crate::ConfigError {
            problems: vec![format!(
                "{} is not set: the fetch cannot continue in another invocation",
                crate::config::ENV_FETCH_QUEUE_URL
            )],
        }));
    };
    let next = FetchEvent {
        district: cp.district.clone(),
        dry_run: cp.dry_run,
        trigger: Some("continuation".into()),
        resume_run: Some(cp.run_id.clone()),
    };
    let body = serde_json::to_string(&next).unwrap_or_default();
    queue.send(&body).await?;
    tracing::info!(
        pages = cp.pages(),
        invocations = cp.invocations,
        "continuation sent"
    );
    Ok(FetchOutput {
        district: cp.district.clone(),
        run_id: Some(cp.run_id.clone()),
        status: "fetching".into(),
        message: Some(format!(
            "{} pages read in {} invocation(s); continuing",
            cp.pages(),
            cp.invocations
        )),
    })
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
        Ok(Started::Ended(report)) => ended(&report, &event.district),
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
