//! Serves the API on 127.0.0.1 over the in-memory adapters with one seeded district (`demo`),
//! for trying the API and for `.ci/schemathesis.sh`:
//!
//! ```text
//! cargo run -p api --example serve_memory -- 8787     # prints an admin token for `demo`
//! bash .ci/schemathesis.sh http://127.0.0.1:8787 "$TOKEN"
//! ```

use api::{ApiState, ControlError, RunControl, create_token, router};
use async_trait::async_trait;
use chrono::Utc;
use domain::directory::{Record, School};
use domain::district::{District, Run};
use domain::report::RunStatus;
use std::sync::Arc;
use store::memory::{MemoryDirectory, MemoryObjectStore, MemoryRuns};
use store::{Directory, Runs, Write};

/// Records runs without syncing anything.
struct RecordOnly(Arc<MemoryRuns>);

#[async_trait]
impl RunControl for RecordOnly {
    async fn start(&self, district: &str, dry_run: bool) -> Result<Run, ControlError> {
        let run = Run {
            district: district.into(),
            run_id: format!("run-{}", Utc::now().timestamp_nanos_opt().unwrap_or(0)),
            status: RunStatus::Planning,
            reason: None,
            dry_run,
            source: None,
            started_at: Utc::now(),
            finished_at: None,
            schools_total: 0,
            schools_done: 0,
            version: 0,
        };
        self.0
            .create_run(&run)
            .await
            .map_err(|e| ControlError::Unexpected(e.into()))?;
        Ok(run)
    }
    async fn approve(&self, _: &str, _: &str) -> Result<Run, ControlError> {
        Err(ControlError::Conflict("the run is not held".into()))
    }
    async fn dismiss(&self, _: &str, _: &str) -> Result<Run, ControlError> {
        Err(ControlError::Conflict("the run is not held".into()))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .map(|p| p.parse())
        .transpose()?
        .unwrap_or(8787);
    let runs = Arc::new(MemoryRuns::new());
    let directory = Arc::new(MemoryDirectory::new());
    let objects = Arc::new(MemoryObjectStore::new());
    runs.put_district(&District {
        id: "demo".into(),
        name: "Demo".into(),
        settings: Default::default(),
        source: None,
        version: 0,
    })
    .await?;
    directory
        .write(
            "demo",
            &[Write::Put {
                record: Record::from(School {
                    id: "s1".into(),
                    name: "Lincoln Elementary".into(),
                    external_ids: Default::default(),
                    school_number: None,
                    nces_id: None,
                    managed: None,
                    archived: None,
                    version: 0,
                }),
                expected: None,
            }],
        )
        .await?;
    let token = create_token(objects.as_ref(), "demo", false).await?;
    let control = Arc::new(RecordOnly(runs.clone()));
    let app = router(ApiState::new(runs, directory, objects, control));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://127.0.0.1:{port}");
    println!("token for district demo: {token}");
    axum::serve(listener, app).await?;
    Ok(())
}
