//! `api` Lambda: the report and admin API (the axum router of `shared/api`) behind API Gateway
//! HTTP API. Wiring only; the router is built by `lambda::http::router`.

use lambda::{Function, cold_start};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let deps = cold_start(Function::Api).await?;
    lambda_http::run(lambda::http::router(&deps)).await
}
