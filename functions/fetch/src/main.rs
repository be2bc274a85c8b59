//! `fetch` Lambda: a scheduled or on-demand run of one district, and the continuations of a
//! long Clever / OneRoster fetch from its own SQS queue. Wiring only; the handler is
//! `lambda::fetch::handle_any`, given the invocation's deadline.

use lambda::fetch::{self, Budget};
use lambda::{Function, cold_start};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let deps = &cold_start(Function::Fetch).await?;
    lambda_runtime::run(service_fn(
        move |e: LambdaEvent<serde_json::Value>| async move {
            fetch::handle_any(deps, e.payload, Budget::lambda(e.context.deadline)).await
        },
    ))
    .await
}
