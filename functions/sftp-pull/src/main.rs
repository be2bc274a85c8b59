//! `sftp-pull` Lambda: pull a district's SFTP server into its drops folder and ingest the next
//! complete drop. The `fetch` handler built with SFTP support (`lambda/sftp`): for an SFTP
//! district `app::runs::start` pulls, then ingests exactly once.

use lambda::{Function, cold_start, fetch};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let deps = &cold_start(Function::SftpPull).await?;
    lambda_runtime::run(service_fn(
        move |e: LambdaEvent<fetch::FetchEvent>| async move { fetch::handle(deps, e.payload).await },
    ))
    .await
}
