//! The `worker` handler: an SQS batch of pipeline messages (`plan` / `district` / `apply` /
//! `finish`, schema v1), each handled by [`sync::pipeline::handle_body`], answered with
//! `batchItemFailures` (the event source mapping has `ReportBatchItemFailures`), so only the
//! failed messages come back.
//!
//! - Success: the message is acknowledged (Lambda deletes it). Handlers are idempotent, so a
//!   duplicate or late delivery, in any order, changes nothing.
//! - Transient failure (throttling, a lost conditional write, a run not ready for this message
//!   yet): reported as a failure; SQS redelivers it after the visibility timeout.
//! - Permanent failure (bad JSON, an unknown schema version, a missing staged object): also
//!   reported as a failure, never acknowledged, so the queue's redrive policy moves the message
//!   to the dead-letter queue (where the alarm and an operator see it) after `maxReceiveCount`
//!   deliveries. Its visibility is reset to 0 so those deliveries follow at once instead of one
//!   visibility timeout (6 x the worker timeout) apart.
//! - The last delivery (`ApproximateReceiveCount` >= `ROSTERSYNC_MAX_RECEIVES`) of a message
//!   that still fails, whatever the cause, first ends its run `failed` (reason `invalid_input`)
//!   with a `dead_letter` error naming the message and its school, so the report shows it and the run does not wait
//!   forever for a school that never finishes. Every later message of that run is a no-op.
//!   A message too broken to name its run (not JSON, no `district` / `run_id`) is only logged.

use crate::Deps;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use domain::report::{Report, ReportIssue, RunStatus, Totals};
use domain::{FailureReason, Issue, IssueCode, Location};
use store::StoreError;
use sync::pipeline::{PipelineError, Ports};
use tracing::Instrument;

/// The SQS system attribute Lambda passes in every record.
const RECEIVE_COUNT: &str = "ApproximateReceiveCount";

/// Handles every record of the batch (one after the other: a batch is at most a few schools of
/// one or more runs) and returns the ids of the messages to deliver again.
pub async fn handle(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in &event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let receives = receive_count(record);
        let span = tracing::info_span!("message", message_id = %id, receive_count = receives);
        let failed = handle_record(&deps.ports, deps.config.max_receives, record, receives)
            .instrument(span)
            .await;
        if failed {
            response.add_failure(id);
        }
    }
    response
}

fn receive_count(record: &SqsMessage) -> u32 {
    record
        .attributes
        .get(RECEIVE_COUNT)
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// Returns true when the message must come back (or go on to the dead-letter queue).
async fn handle_record(
    ports: &Ports,
    max_receives: u32,
    record: &SqsMessage,
    receives: u32,
) -> bool {
    let body = record.body.as_deref().unwrap_or_default();
    let error = match sync::pipeline::handle_body(ports, body).await {
        Ok(()) => return false,
        Err(e) => e,
    };
    let last = receives >= max_receives;
    if error.is_transient() && !last {
        tracing::warn!(error = %error, "transient failure; the message will be delivered again");
        return true;
    }
    if last {
        tracing::error!(
            error = %error,
            transient = error.is_transient(),
            "message failed on its last delivery; it goes to the dead-letter queue and its run fails"
        );
        let id = record.message_id.as_deref().unwrap_or_default();
        if let Err(e) = fail_run_of(ports, body, id, receives, &error).await {
            tracing::error!(error = %e, "could not mark the run failed");
        }
    } else {
        tracing::warn!(
            error = %error,
            "permanent failure; the message is redelivered at once until the dead-letter queue takes it"
        );
        if let Some(receipt) = record.receipt_handle.as_deref()
            && let Err(e) = ports.queue.release(receipt).await
        {
            tracing::warn!(error = %e, "could not make the message visible again");
        }
    }
    true
}

/// `district` and `run_id` of a message body, read leniently (a message with an unknown schema
/// version still names its run).
fn run_of(body: &str) -> Option<(String, String)> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let field = |name: &str| {
        v.get(name)
            .and_then(|x| x.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    Some((field("district")?, field("run_id")?))
}

fn kind_of(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let kind = v.get("type")?.as_str()?.to_string();
            Some(match v.get("school").and_then(|s| s.as_str()) {
                Some(school) => format!("{kind} message of school {school}"),
                None => format!("{kind} message"),
            })
        })
        .unwrap_or_else(|| "message".to_string())
}

/// Ends the run the message belongs to `failed`, with an error saying which message failed and
/// why, unless the run is already final. Retries a lost race on the run's version.
pub async fn fail_run_of(
    ports: &Ports,
    body: &str,
    message_id: &str,
    receives: u32,
    error: &PipelineError,
) -> Result<(), StoreError> {
    let Some((district, run_id)) = run_of(body) else {
        tracing::error!("the message names no run; nothing to mark failed");
        return Ok(());
    };
    let issue = Issue::error(
        IssueCode::DeadLetter,
        Location::api(format!("queue/message/{message_id}")),
        format!(
            "the {} failed {receives} deliveries and was moved to the dead-letter queue: {error}",
            kind_of(body)
        ),
    );
    for _ in 0..5 {
        let Some(mut run) = ports.runs.get_run(&district, &run_id).await? else {
            tracing::error!(%district, %run_id, "the message's run does not exist");
            return Ok(());
        };
        if run.status.is_final() {
            tracing::info!(%district, %run_id, status = run.status.as_str(), "run already final");
            return Ok(());
        }
        let now = ports.clock.now();
        let mut report = match ports.runs.get_report(&district, &run_id).await? {
            Some(r) => r,
            None => Report {
                district: district.clone(),
                run_id: run_id.clone(),
                status: RunStatus::Failed,
                reason: None,
                dry_run: run.dry_run,
                started_at: run.started_at,
                finished_at: None,
                totals: Totals::default(),
                schools: Vec::new(),
                tried_to_archive: Default::default(),
                warnings: Vec::new(),
                errors: Vec::new(),
            },
        };
        report.status = RunStatus::Failed;
        report.reason = Some(FailureReason::InvalidInput);
        report.finished_at = Some(now);
        let entry = ReportIssue::from(&issue);
        if !report.errors.contains(&entry) {
            report.errors.push(entry);
        }
        // Report first, then the run (as the pipeline does): a reader never sees a final run
        // without its report.
        ports.runs.put_report(&report).await?;
        run.status = RunStatus::Failed;
        run.reason = Some(FailureReason::InvalidInput);
        run.finished_at = Some(now);
        match ports.runs.update_run(&run).await {
            Ok(()) => {
                tracing::warn!(%district, %run_id, "run marked failed");
                return Ok(());
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Transient(format!(
        "run {district}/{run_id} kept changing while being marked failed"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_of_another_schema_version_still_names_its_run() {
        let body = r#"{"type":"plan","v":2,"district":"d1","run_id":"r1","school":"k1"}"#;
        assert_eq!(run_of(body), Some(("d1".into(), "r1".into())));
        assert_eq!(kind_of(body), "plan message of school k1");
        assert_eq!(run_of("not json"), None);
        assert_eq!(run_of(r#"{"type":"finish","district":"d1"}"#), None);
        assert_eq!(kind_of("{"), "message");
    }
}
