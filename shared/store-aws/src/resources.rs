//! Creates (and removes) the bucket, queue + dead-letter queue and table the adapters use, for
//! tests and local runs against moto / DynamoDB Local. Production resources come from
//! `infra/template.yaml`, which declares the same table (keys, `by_started` LSI, TTL) and the
//! same redrive policy.

use crate::error;
use crate::keys::{LSI_STARTED, LSI1_SK, PK, SK, TTL_ATTR};
use crate::{AwsClients, AwsConfig};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, LocalSecondaryIndex, Projection,
    ProjectionType, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
};
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use aws_sdk_sqs::types::QueueAttributeName;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use store::{Result, StoreError};

/// What to create. Names derive from `name`: bucket `name`, queues `name` and `name-dlq`,
/// table `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceSpec {
    pub name: String,
    /// Deliveries before SQS moves a message to the DLQ (the redrive `maxReceiveCount`).
    pub max_receives: u32,
    /// The queue's default visibility timeout.
    pub visibility: Duration,
}

impl ResourceSpec {
    /// A name no other test in this or a parallel process uses: `rs-{label}-{pid}-{time}-{n}`,
    /// lower-case and short enough for a bucket name.
    pub fn unique(label: &str) -> Self {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let label: String = label
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .take(20)
            .collect();
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() % 1_000_000_000)
            .unwrap_or(0);
        Self {
            name: format!(
                "rs-{label}-{}-{t}-{}",
                std::process::id(),
                SEQ.fetch_add(1, Ordering::Relaxed)
            ),
            max_receives: 5,
            visibility: Duration::from_secs(30),
        }
    }

    pub fn with_max_receives(mut self, n: u32) -> Self {
        self.max_receives = n;
        self
    }
}

/// Creates the bucket, the DLQ, the queue (redrive to the DLQ after `max_receives`) and the
/// table (PAY_PER_REQUEST, `by_started` LSI, TTL on `expires_at`), and waits until the table
/// is active.
pub async fn create_resources(clients: &AwsClients, spec: &ResourceSpec) -> Result<AwsConfig> {
    let name = &spec.name;

    let mut bucket = clients.s3.create_bucket().bucket(name);
    let region = clients.s3.config().region().map(|r| r.as_ref().to_owned());
    if let Some(region) = region.filter(|r| r != "us-east-1") {
        bucket = bucket.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region.as_str()))
                .build(),
        );
    }
    bucket
        .send()
        .await
        .map_err(|e| error::map(e, format!("S3 CreateBucket {name}")))?;

    let dlq_name = format!("{name}-dlq");
    let dlq_url = clients
        .sqs
        .create_queue()
        .queue_name(&dlq_name)
        .send()
        .await
        .map_err(|e| error::map(e, format!("SQS CreateQueue {dlq_name}")))?
        .queue_url
        .ok_or_else(|| StoreError::Permanent(format!("SQS CreateQueue {dlq_name}: no URL")))?;
    let dlq_arn = clients
        .sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| error::map(e, format!("SQS GetQueueAttributes {dlq_url}")))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| StoreError::Permanent(format!("SQS {dlq_url}: no QueueArn")))?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": spec.max_receives.to_string(),
    })
    .to_string();
    let queue_url = clients
        .sqs
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            spec.visibility.as_secs().to_string(),
        )
        .send()
        .await
        .map_err(|e| error::map(e, format!("SQS CreateQueue {name}")))?
        .queue_url
        .ok_or_else(|| StoreError::Permanent(format!("SQS CreateQueue {name}: no URL")))?;

    create_table(clients, name).await?;

    Ok(AwsConfig {
        bucket: name.clone(),
        queue_url,
        dlq_url,
        table: name.clone(),
    })
}

fn build_err(what: &str) -> impl Fn(aws_sdk_dynamodb::error::BuildError) -> StoreError + '_ {
    move |e| error::permanent(what, e)
}

async fn create_table(clients: &AwsClients, table: &str) -> Result<()> {
    let what = format!("DynamoDB CreateTable {table}");
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(build_err(&what))
    };
    let key = |name: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(t)
            .build()
            .map_err(build_err(&what))
    };
    let lsi = LocalSecondaryIndex::builder()
        .index_name(LSI_STARTED)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(LSI1_SK, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .map_err(build_err(&what))?;
    clients
        .dynamodb
        .create_table()
        .table_name(table)
        .attribute_definitions(attr(PK)?)
        .attribute_definitions(attr(SK)?)
        .attribute_definitions(attr(LSI1_SK)?)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?)
        .local_secondary_indexes(lsi)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .map_err(|e| error::map(e, &what))?;

    // Poll instead of `wait_until_table_exists`, whose first delay is 20 s.
    for _ in 0..300 {
        let status = clients
            .dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| error::map(e, format!("DynamoDB DescribeTable {table}")))?
            .table
            .and_then(|t| t.table_status);
        if status == Some(TableStatus::Active) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    clients
        .dynamodb
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(TTL_ATTR)
                .enabled(true)
                .build()
                .map_err(build_err(&what))?,
        )
        .send()
        .await
        .map_err(|e| error::map(e, format!("DynamoDB UpdateTimeToLive {table}")))?;
    Ok(())
}

/// Removes what [`create_resources`] made (objects, bucket, queues, table); best effort, for
/// test clean-up: the first failure is returned after trying everything.
pub async fn delete_resources(clients: &AwsClients, cfg: &AwsConfig) -> Result<()> {
    let mut first: Option<StoreError> = None;
    let mut keep = |r: Result<()>| {
        if let Err(e) = r {
            first.get_or_insert(e);
        }
    };
    let objects = {
        use store::ObjectStore;
        clients.object_store(cfg).list("").await
    };
    match objects {
        Ok(objects) => {
            for o in objects {
                keep(
                    clients
                        .s3
                        .delete_object()
                        .bucket(&cfg.bucket)
                        .key(&o.key)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| error::map(e, format!("S3 DeleteObject {}", o.key))),
                );
            }
        }
        Err(e) => keep(Err(e)),
    }
    keep(
        clients
            .s3
            .delete_bucket()
            .bucket(&cfg.bucket)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| error::map(e, format!("S3 DeleteBucket {}", cfg.bucket))),
    );
    for url in [&cfg.queue_url, &cfg.dlq_url] {
        keep(
            clients
                .sqs
                .delete_queue()
                .queue_url(url)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| error::map(e, format!("SQS DeleteQueue {url}"))),
        );
    }
    keep(
        clients
            .dynamodb
            .delete_table()
            .table_name(&cfg.table)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| error::map(e, format!("DynamoDB DeleteTable {}", cfg.table))),
    );
    match first {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
