//! The `api` function: the same axum router `rostersync serve` runs (`api::router`), on the
//! AWS adapters, with [`PipelineControl`] starting, approving and dismissing runs. `main.rs`
//! hands [`router`] to `lambda_http::run` (API Gateway HTTP API, payload 2.0), as in the
//! runtime's `http-axum` example; bearer tokens are checked by the router itself.

use crate::Deps;
use api::{ApiState, ControlError, RunControl};
use app::runs::{RunError, Started};
use app::secrets::SecretStore;
use async_trait::async_trait;
use domain::district::Run;
use std::sync::Arc;
use sync::pipeline::{PipelineError, Ports};

/// The whole API over the function's ports.
pub fn router(deps: &Deps) -> axum::Router {
    let control = Arc::new(PipelineControl::new(
        deps.ports.clone(),
        deps.secrets.clone(),
    ));
    api::router(ApiState::new(
        deps.ports.runs.clone(),
        deps.ports.directory.clone(),
        deps.ports.objects.clone(),
        control,
    ))
}

/// [`RunControl`] over the queued pipeline:
/// - `start` fetches and stages inline ([`app::runs::start`]) and returns the `planning` run;
///   the workers finish it from the queue. The fetch therefore has to fit API Gateway's
///   30-second integration timeout: a district whose source takes longer is started with the
///   `fetch` function (schedule or `aws lambda invoke`) instead (see `docs/deploy-aws.md`).
/// - `approve` applies a held run's archives directly ([`sync::pipeline::approve`]: the archive
///   writes of the stored plans, conditional on the planned versions), which is what the
///   pipeline offers; `dismiss` closes it without them.
pub struct PipelineControl {
    ports: Ports,
    secrets: Arc<dyn SecretStore>,
}

impl PipelineControl {
    pub fn new(ports: Ports, secrets: Arc<dyn SecretStore>) -> Self {
        Self { ports, secrets }
    }

    async fn run(&self, district: &str, run: &str) -> Result<Run, ControlError> {
        self.ports
            .runs
            .get_run(district, run)
            .await
            .map_err(|e| ControlError::Unexpected(e.into()))?
            .ok_or(ControlError::NotFound)
    }
}

fn control_error(e: RunError) -> ControlError {
    match e {
        RunError::Admin(app::admin::AdminError::UnknownDistrict(_)) => ControlError::NotFound,
        RunError::Pipeline(PipelineError::RunNotFound { .. }) => ControlError::NotFound,
        RunError::Pipeline(PipelineError::InvalidState { message, .. }) => {
            ControlError::Conflict(message)
        }
        RunError::NothingNew(why) => ControlError::Conflict(format!("nothing new to sync: {why}")),
        e => ControlError::Unexpected(anyhow::Error::new(e)),
    }
}

#[async_trait]
impl RunControl for PipelineControl {
    async fn start(&self, district: &str, dry_run: bool) -> Result<Run, ControlError> {
        let d = app::admin::district(self.ports.runs.as_ref(), district)
            .await
            .map_err(|e| control_error(e.into()))?;
        if d.source.is_none() {
            return Err(ControlError::Invalid(
                "the district has no source connected".into(),
            ));
        }
        match app::runs::start(&self.ports, self.secrets.as_ref(), district, dry_run)
            .await
            .map_err(control_error)?
        {
            Started::Staged(run) => {
                tracing::info!(%district, run_id = %run.run_id, "run staged from the API; workers take over");
                self.run(district, &run.run_id).await
            }
            Started::Ended(report) => self.run(district, &report.run_id).await,
        }
    }

    async fn approve(&self, district: &str, run: &str) -> Result<Run, ControlError> {
        sync::pipeline::approve(&self.ports, district, run)
            .await
            .map_err(|e| control_error(e.into()))?;
        self.run(district, run).await
    }

    async fn dismiss(&self, district: &str, run: &str) -> Result<Run, ControlError> {
        sync::pipeline::dismiss(&self.ports, district, run)
            .await
            .map_err(|e| control_error(e.into()))?;
        self.run(district, run).await
    }
}
