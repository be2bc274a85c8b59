//! `rostersync serve`: the report and admin API on the embedded store. Runs started over HTTP
//! are staged at once and finished by a background task draining the local queue.

use crate::args::ServeArgs;
use crate::output::Out;
use anyhow::Context;
use api::{ControlError, RunControl};
use app::local::LocalEnv;
use app::runs::{RunError, Started};
use async_trait::async_trait;
use domain::district::Run;
use std::sync::Arc;
use sync::pipeline::{PipelineError, Ports};

/// Starts, approves and dismisses runs over the local pipeline.
struct LocalControl {
    ports: Ports,
    secrets: Arc<app::secrets::FileSecrets>,
    /// One drain at a time: the queue is shared by every run of this data directory.
    draining: Arc<tokio::sync::Mutex<()>>,
}

fn control_error(e: RunError) -> ControlError {
    match e {
        RunError::Admin(app::admin::AdminError::UnknownDistrict(_)) => ControlError::NotFound,
        RunError::Pipeline(PipelineError::RunNotFound { .. }) => ControlError::NotFound,
        RunError::Pipeline(PipelineError::InvalidState { message, .. }) => {
            ControlError::Conflict(message)
        }
        e => ControlError::Unexpected(anyhow::Error::new(e)),
    }
}

async fn run_of(ports: &Ports, district: &str, run: &str) -> Result<Run, ControlError> {
    ports
        .runs
        .get_run(district, run)
        .await
        .map_err(|e| ControlError::Unexpected(e.into()))?
        .ok_or(ControlError::NotFound)
}

#[async_trait]
impl RunControl for LocalControl {
    async fn start(&self, district: &str, dry_run: bool) -> Result<Run, ControlError> {
        let d = app::admin::district(self.ports.runs.as_ref(), district)
            .await
            .map_err(|_| ControlError::NotFound)?;
        if d.source.is_none() {
            return Err(ControlError::Invalid(
                "the district has no source connected".into(),
            ));
        }
        match app::runs::start(&self.ports, self.secrets.as_ref(), district, dry_run)
            .await
            .map_err(control_error)?
        {
            Started::Ended(report) => run_of(&self.ports, district, &report.run_id).await,
            Started::Staged(run) => {
                let ports = self.ports.clone();
                let lock = self.draining.clone();
                let (d, r) = (run.district.clone(), run.run_id.clone());
                tokio::spawn(async move {
                    let _g = lock.lock().await;
                    if let Err(e) = sync::pipeline::run_local(&ports, &d, &r).await {
                        tracing::error!(district = %d, run_id = %r, error = %e, "background run failed");
                    }
                });
                Ok(run)
            }
        }
    }

    async fn approve(&self, district: &str, run: &str) -> Result<Run, ControlError> {
        let _g = self.draining.lock().await;
        sync::pipeline::approve(&self.ports, district, run)
            .await
            .map_err(|e| control_error(e.into()))?;
        run_of(&self.ports, district, run).await
    }

    async fn dismiss(&self, district: &str, run: &str) -> Result<Run, ControlError> {
        sync::pipeline::dismiss(&self.ports, district, run)
            .await
            .map_err(|e| control_error(e.into()))?;
        run_of(&self.ports, district, run).await
    }
}

pub async fn serve(out: Out, env: &LocalEnv, a: ServeArgs) -> anyhow::Result<()> {
    let control = Arc::new(LocalControl {
        ports: env.ports(),
        secrets: env.secrets.clone(),
        draining: Arc::new(tokio::sync::Mutex::new(())),
    });
    let state = api::ApiState::new(
        env.runs.clone(),
        env.directory.clone(),
        env.objects.clone(),
        control,
    )
    .with_secrets(env.secrets.clone());
    let app = api::router(state);
    let addr = format!("{}:{}", a.bind, a.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    out.say(format!(
        "Serving the rostersync API on http://{local} (data: {}). Admin console: http://{local}/console. OpenAPI: http://{local}/openapi.json. Create a token: rostersync tokens create --district D",
        env.data_dir.display()
    ));
    axum::serve(listener, app)
        .await
        .context("the API server stopped")?;
    Ok(())
}
