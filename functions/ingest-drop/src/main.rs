//! `ingest-drop` Lambda: S3 `Object Created` events (EventBridge or S3 notification) for drop
//! completion markers. Wiring only; the handler is `lambda::drops::handle`.

use lambda::{Function, cold_start, drops};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let deps = &cold_start(Function::IngestDrop).await?;
    lambda_runtime::run(service_fn(
        move |e: LambdaEvent<serde_json::Value>| async move { drops::handle(deps, e.payload).await },
    ))
    .await
}
