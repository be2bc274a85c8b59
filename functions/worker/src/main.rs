//! `worker` Lambda: SQS batches of pipeline messages, answered with partial batch failures.
//! Wiring only; the handler is `lambda::worker::handle`.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda::{Function, HandlerError, cold_start, worker};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let deps = &cold_start(Function::Worker).await?;
    lambda_runtime::run(service_fn(move |e: LambdaEvent<SqsEvent>| async move {
        Ok::<_, HandlerError>(worker::handle(deps, e.payload).await)
    }))
    .await
}
