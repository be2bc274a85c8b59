//! AWS adapters of the storage ports: [`S3ObjectStore`], [`SqsQueue`], and [`DynamoDirectory`] +
//! [`DynamoRuns`] on one DynamoDB table (the key design is in `DYNAMODB.md` beside this crate's
//! `Cargo.toml`, and in [`keys`]).
//!
//! Clients are built once per cold start with [`clients_from_env`]: the standard AWS environment
//! (credentials, region, `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_DYNAMODB`...) decides everything,
//! so production code has no test-only branches apart from S3 path-style addressing, which is
//! switched on whenever an endpoint override is set. Resource names come from [`AwsConfig`].
//!
//! Every adapter maps SDK errors to [`store::StoreError`] (throttling, 5xx and timeouts are
//! `Transient`, lost conditions are `Conflict`) and counts what it spends in an [`AwsMeter`].

mod dynamo;
mod error;
pub mod keys;
mod meter;
mod resources;
mod s3;
mod sqs;

pub use dynamo::{DEFAULT_CHANGES_TTL, DynamoDirectory, DynamoRuns, MAX_ITEM_BYTES};
pub use meter::{AwsMeter, MeterSnapshot};
pub use resources::{ResourceSpec, create_resources, delete_resources};
pub use s3::S3ObjectStore;
pub use sqs::SqsQueue;

use aws_config::BehaviorVersion;
use std::sync::Arc;

/// Names of the resources the adapters use. On Lambda they come from the function's
/// environment (set by `infra/template.yaml`); tests get them from [`create_resources`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsConfig {
    pub bucket: String,
    pub queue_url: String,
    pub dlq_url: String,
    pub table: String,
}

/// Environment variables read by [`AwsConfig::from_env`].
pub const ENV_BUCKET: &str = "ROSTERSYNC_BUCKET";
pub const ENV_QUEUE_URL: &str = "ROSTERSYNC_QUEUE_URL";
pub const ENV_DLQ_URL: &str = "ROSTERSYNC_DLQ_URL";
pub const ENV_TABLE: &str = "ROSTERSYNC_TABLE";
/// Optional: days stored changes live (DynamoDB TTL), read by [`AwsClients::runs`].
pub const ENV_CHANGES_TTL_DAYS: &str = "ROSTERSYNC_CHANGES_TTL_DAYS";

impl AwsConfig {
    /// Reads `ROSTERSYNC_BUCKET`, `ROSTERSYNC_QUEUE_URL`, `ROSTERSYNC_DLQ_URL` and
    /// `ROSTERSYNC_TABLE`; names the first one missing.
    pub fn from_env() -> Result<Self, store::StoreError> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    store::StoreError::Permanent(format!("environment variable {name} is not set"))
                })
        };
        Ok(Self {
            bucket: var(ENV_BUCKET)?,
            queue_url: var(ENV_QUEUE_URL)?,
            dlq_url: var(ENV_DLQ_URL)?,
            table: var(ENV_TABLE)?,
        })
    }
}

/// The SDK clients, built once per cold start and shared (they are cheap `Arc` clones), and the
/// meter every adapter built from them reports to.
#[derive(Debug, Clone)]
pub struct AwsClients {
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub meter: Arc<AwsMeter>,
}

/// Clients from the standard AWS environment (`aws_config::load_defaults`), which honours
/// `AWS_ENDPOINT_URL` and the per-service `AWS_ENDPOINT_URL_S3` / `_SQS` / `_DYNAMODB`.
/// S3 uses path-style addressing when an endpoint override is set (local stand-ins cannot
/// resolve `bucket.localhost`).
pub async fn clients_from_env() -> AwsClients {
    let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let path_style = sdk.endpoint_url().is_some() || env_set("AWS_ENDPOINT_URL_S3");
    AwsClients::from_sdk_config(&sdk, path_style)
}

fn env_set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty())
}

impl AwsClients {
    /// Clients from an explicit SDK config; `s3_path_style` forces path-style S3 addressing.
    pub fn from_sdk_config(sdk: &aws_config::SdkConfig, s3_path_style: bool) -> Self {
        let meter = Arc::new(AwsMeter::default());
        let s3 = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(s3_path_style)
            .interceptor(meter::CountRequests::new(meter.clone(), meter::Service::S3))
            .build();
        let sqs = aws_sdk_sqs::config::Builder::from(sdk)
            .interceptor(meter::CountRequests::new(
                meter.clone(),
                meter::Service::Sqs,
            ))
            .build();
        let dynamodb = aws_sdk_dynamodb::config::Builder::from(sdk)
            .interceptor(meter::CountRequests::new(
                meter.clone(),
                meter::Service::DynamoDb,
            ))
            .build();
        Self {
            s3: aws_sdk_s3::Client::from_conf(s3),
            sqs: aws_sdk_sqs::Client::from_conf(sqs),
            dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb),
            meter,
        }
    }

    pub fn object_store(&self, cfg: &AwsConfig) -> S3ObjectStore {
        S3ObjectStore::new(self, &cfg.bucket)
    }
    pub fn queue(&self, cfg: &AwsConfig) -> SqsQueue {
        SqsQueue::new(self, &cfg.queue_url, &cfg.dlq_url)
    }
    pub fn directory(&self, cfg: &AwsConfig) -> DynamoDirectory {
        DynamoDirectory::new(self, cfg)
    }
    /// [`DynamoRuns`], with the changes TTL from `ROSTERSYNC_CHANGES_TTL_DAYS` when set.
    pub fn runs(&self, cfg: &AwsConfig) -> DynamoRuns {
        let runs = DynamoRuns::new(self, cfg);
        match std::env::var(ENV_CHANGES_TTL_DAYS)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            Some(days) if days > 0 => {
                runs.with_changes_ttl(std::time::Duration::from_secs(days * 24 * 60 * 60))
            }
            _ => runs,
        }
    }
}
