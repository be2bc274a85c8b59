//! What the adapters spend, for the cost benchmark: requests per service (every attempt,
//! retries included, counted by an SDK interceptor), SQS messages, and DynamoDB capacity units
//! as DynamoDB reports them (`ReturnConsumedCapacity = TOTAL`).

use aws_sdk_dynamodb::types::ConsumedCapacity;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters shared by all clients of one [`crate::AwsClients`]. Capacity units are kept in
/// thousandths so that half units (eventually consistent reads) add up exactly.
#[derive(Debug, Default)]
pub struct AwsMeter {
    s3_requests: AtomicU64,
    sqs_requests: AtomicU64,
    sqs_messages: AtomicU64,
    dynamodb_requests: AtomicU64,
    dynamodb_read_milli: AtomicU64,
    dynamodb_write_milli: AtomicU64,
    dynamodb_throttled: AtomicU64,
    s3_overflow_objects: AtomicU64,
}

/// A point-in-time copy of an [`AwsMeter`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MeterSnapshot {
    pub s3_requests: u64,
    pub sqs_requests: u64,
    /// Messages sent, received and deleted (SQS bills per 64 KB chunk of each request).
    pub sqs_messages: u64,
    pub dynamodb_requests: u64,
    pub dynamodb_rcu: f64,
    pub dynamodb_wcu: f64,
    /// Batch calls and unprocessed batch items the adapter retried after throttling (the SDK's
    /// own retries of single-item calls show in `dynamodb_requests`).
    pub dynamodb_throttled: u64,
    /// Items too big for DynamoDB that went to S3 with a pointer.
    pub s3_overflow_objects: u64,
}

impl AwsMeter {
    pub fn snapshot(&self) -> MeterSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MeterSnapshot {
            s3_requests: get(&self.s3_requests),
            sqs_requests: get(&self.sqs_requests),
            sqs_messages: get(&self.sqs_messages),
            dynamodb_requests: get(&self.dynamodb_requests),
            dynamodb_rcu: get(&self.dynamodb_read_milli) as f64 / 1000.0,
            dynamodb_wcu: get(&self.dynamodb_write_milli) as f64 / 1000.0,
            dynamodb_throttled: get(&self.dynamodb_throttled),
            s3_overflow_objects: get(&self.s3_overflow_objects),
        }
    }

    pub(crate) fn sqs_messages(&self, n: usize) {
        self.sqs_messages.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn throttled(&self, n: usize) {
        self.dynamodb_throttled
            .fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn overflow(&self) {
        self.s3_overflow_objects.fetch_add(1, Ordering::Relaxed);
    }

    /// Capacity of a read operation (GetItem, BatchGetItem, Query).
    pub(crate) fn read_units<'a>(&self, consumed: impl IntoIterator<Item = &'a ConsumedCapacity>) {
        let units: f64 = consumed
            .into_iter()
            .map(|c| c.capacity_units.or(c.read_capacity_units).unwrap_or(0.0))
            .sum();
        self.dynamodb_read_milli
            .fetch_add(milli(units), Ordering::Relaxed);
    }

    /// Capacity of a write operation (PutItem, UpdateItem, BatchWriteItem, TransactWriteItems).
    /// The reads a condition or `ReturnValues` costs are included by DynamoDB in the total.
    pub(crate) fn write_units<'a>(&self, consumed: impl IntoIterator<Item = &'a ConsumedCapacity>) {
        let units: f64 = consumed
            .into_iter()
            .map(|c| c.capacity_units.or(c.write_capacity_units).unwrap_or(0.0))
            .sum();
        self.dynamodb_write_milli
            .fetch_add(milli(units), Ordering::Relaxed);
    }
}

fn milli(units: f64) -> u64 {
    (units * 1000.0).round().max(0.0) as u64
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Service {
    S3,
    Sqs,
    DynamoDb,
}

/// Counts every attempt a client transmits.
#[derive(Debug)]
pub(crate) struct CountRequests {
    meter: Arc<AwsMeter>,
    service: Service,
}

impl CountRequests {
    pub(crate) fn new(meter: Arc<AwsMeter>, service: Service) -> Self {
        Self { meter, service }
    }
}

// One `Intercept` trait (aws-smithy-runtime-api, re-exported by every SDK crate) serves all.
impl aws_sdk_dynamodb::config::Intercept for CountRequests {
    fn name(&self) -> &'static str {
        "rostersync::CountRequests"
    }
    fn read_before_transmit(
        &self,
        _ctx: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _rc: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let counter = match self.service {
            Service::S3 => &self.meter.s3_requests,
            Service::Sqs => &self.meter.sqs_requests,
            Service::DynamoDb => &self.meter.dynamodb_requests,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}
