//! The logic of the Lambda functions, so each `functions/<name>/src/main.rs` is a few lines of
//! wiring (the `aws-lambda-rust-runtime` examples' shape):
//!
//! | function | event | handler |
//! |---|---|---|
//! | `fetch` | EventBridge Scheduler / `aws lambda invoke`: `{"district":"d1","dry_run":false}` | [`fetch::handle`] |
//! | `sftp-pull` | the same event, for an SFTP district (built with the `sftp` feature) | [`fetch::handle`] |
//! | `worker` | SQS batch (`ReportBatchItemFailures`) | [`worker::handle`] |
//! | `ingest-drop` | S3 `Object Created` via EventBridge, or an S3 notification | [`drops::handle`] |
//! | `api` | API Gateway HTTP API (payload 2.0) | [`http::router`] run by `lambda_http::run` |
//!
//! Handlers are plain async fns over injected [`Deps`] (ports + secrets + config), testable
//! without the Lambda runtime. [`Deps::from_env`] runs once per cold start: it validates the
//! environment ([`Config`], one error naming every missing variable) and builds the SDK clients.
//! Errors leave a handler as [`HandlerError`], whose `lambda_runtime::Diagnostic` type is
//! `Retryable` or `NonRetryable`. Logs are JSON lines ([`init_tracing`]) carrying district,
//! run, school and message ids, never names, emails, phone numbers, tokens or secrets.

pub mod config;
pub mod drops;
pub mod error;
pub mod fetch;
pub mod http;
pub mod resume;
pub mod secrets;
pub mod worker;

pub use config::{Config, ConfigError, Function};
pub use error::HandlerError;
pub use secrets::SsmSecrets;

use app::secrets::SecretStore;
use std::sync::Arc;
use store_aws::AwsClients;
use sync::pipeline::Ports;

/// What every handler runs on, built once per cold start and shared by every invocation.
#[derive(Clone)]
pub struct Deps {
    pub ports: Ports,
    pub secrets: Arc<dyn SecretStore>,
    pub config: Config,
    /// The `fetch` function's continuation queue, when configured.
    pub continuations: Option<Arc<dyn store::Queue>>,
}

impl Deps {
    /// Reads and validates the environment for `function`, then builds the AWS clients
    /// (`aws_config` defaults: the Lambda role, region and any `AWS_ENDPOINT_URL*` override).
    pub async fn from_env(function: Function) -> Result<Self, ConfigError> {
        let config = Config::from_env(function)?;
        let clients = store_aws::clients_from_env().await;
        let ssm = ssm_client().await;
        Ok(Self::new(&clients, ssm, config))
    }

    /// Deps over existing clients (tests build them against moto and DynamoDB Local).
    pub fn new(clients: &AwsClients, ssm: aws_sdk_ssm::Client, config: Config) -> Self {
        let aws = &config.aws;
        let ports = Ports {
            objects: Arc::new(clients.object_store(aws)),
            queue: Arc::new(clients.queue(aws)),
            directory: Arc::new(clients.directory(aws)),
            runs: Arc::new(clients.runs(aws)),
            clock: Arc::new(store::SystemClock),
        };
        let secrets = Arc::new(SsmSecrets::new(ssm, &config.ssm_prefix));
        let continuations = config.fetch_queue_url.as_ref().map(|url| {
            let queue = store_aws::AwsConfig {
                queue_url: url.clone(),
                ..aws.clone()
            };
            Arc::new(clients.queue(&queue)) as Arc<dyn store::Queue>
        });
        Self {
            ports,
            secrets,
            config,
            continuations,
        }
    }
}

/// A function's cold start: JSON logs, then [`Deps::from_env`]; a configuration error is
/// logged (the whole list) before it is returned, and the function fails its first invocation.
pub async fn cold_start(function: Function) -> Result<Deps, ConfigError> {
    init_tracing();
    Deps::from_env(function).await.inspect_err(|e| {
        tracing::error!(function = ?function, error = %e, "cannot start");
    })
}

/// The SSM client from the standard AWS environment.
pub async fn ssm_client() -> aws_sdk_ssm::Client {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    aws_sdk_ssm::Client::new(&sdk)
}

/// JSON log lines on stdout (CloudWatch keeps them as they are; the template sets
/// `LogFormat: JSON`), filtered by `RUST_LOG` (default `info`). Without ANSI colours or the
/// current time (Lambda stamps every line). Safe to call twice (tests): the second call does
/// nothing.
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .try_init();
}
