//! `fetch` Lambda: a scheduled or on-demand run of one district. Wiring only; the handler is
//! `lambda::fetch::handle`.

use lambda::{Function, cold_start, fetch};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let deps = &cold_start(Function::Fetch).await?;
    lambda_runtime::run(service_fn(
        move |e: LambdaEvent<fetch::FetchEvent>| async move { fetch::handle(deps, e.payload).await },
    ))
    .await
}
