//! [`Queue`] on SQS. Redelivery after the visibility timeout and the move to the dead-letter
//! queue after `maxReceiveCount` deliveries are SQS's own (the redrive policy is set on the queue
//! by `infra/template.yaml` or [`crate::create_resources`]); `ack` deletes the message and
//! `release` sets its visibility to 0.

use crate::error::{self, Failure};
use crate::{AwsClients, AwsMeter};
use async_trait::async_trait;
use aws_sdk_sqs::types::{ChangeMessageVisibilityBatchRequestEntry, MessageSystemAttributeName};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use store::{Delivery, Queue, Result, StoreError};

/// SQS returns at most 10 messages per ReceiveMessage.
const MAX_BATCH: usize = 10;
/// SQS accepts visibility timeouts up to 12 hours.
const MAX_VISIBILITY_SECS: u64 = 12 * 60 * 60;

#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    dlq_url: String,
    wait: Duration,
    meter: Arc<AwsMeter>,
}

impl SqsQueue {
    pub fn new(clients: &AwsClients, queue_url: &str, dlq_url: &str) -> Self {
        Self {
            client: clients.sqs.clone(),
            queue_url: queue_url.to_owned(),
            dlq_url: dlq_url.to_owned(),
            wait: Duration::ZERO,
            meter: clients.meter.clone(),
        }
    }

    /// Long polling for `receive` (up to 20 s). The default, 0, is a short poll: it answers at
    /// once, which tests and the CLI want, but on real SQS it samples only some servers and may
    /// return nothing while messages wait. (On Lambda the event source mapping receives instead.)
    pub fn with_wait(mut self, wait: Duration) -> Self {
        self.wait = wait.min(Duration::from_secs(20));
        self
    }

    async fn receive_from(
        &self,
        url: &str,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<Delivery>> {
        let visibility = secs_ceil(visibility).min(MAX_VISIBILITY_SECS) as i32;
        let mut out = Vec::new();
        while out.len() < max {
            let want = (max - out.len()).min(MAX_BATCH) as i32;
            let res = self
                .client
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(want)
                .visibility_timeout(visibility)
                .wait_time_seconds(wait.as_secs() as i32)
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .send()
                .await
                .map_err(|e| error::map(e, format!("SQS ReceiveMessage {url}")))?;
            let got = res.messages();
            self.meter.sqs_messages(got.len());
            if got.is_empty() {
                break;
            }
            for m in got {
                let (Some(id), Some(receipt)) = (m.message_id(), m.receipt_handle()) else {
                    continue;
                };
                let receive_count = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                out.push(Delivery {
                    message_id: id.to_owned(),
                    receipt: receipt.to_owned(),
                    body: m.body().unwrap_or_default().to_owned(),
                    receive_count,
                });
            }
            if (got.len() as i32) < want {
                break;
            }
        }
        Ok(out)
    }
}

fn secs_ceil(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, body: &str) -> Result<String> {
        let out = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| error::map(e, format!("SQS SendMessage {}", self.queue_url)))?;
        self.meter.sqs_messages(1);
        out.message_id().map(str::to_owned).ok_or_else(|| {
            StoreError::Permanent(format!("SQS SendMessage {}: no message id", self.queue_url))
        })
    }

    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Delivery>> {
        self.receive_from(&self.queue_url, max, visibility, self.wait)
            .await
    }

    async fn ack(&self, receipt: &str) -> Result<()> {
        let res = self
            .client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .send()
            .await;
        self.meter.sqs_messages(1);
        res.map(|_| ())
            .map_err(|e| receipt_error(e, "DeleteMessage", &self.queue_url))
    }

    async fn release(&self, receipt: &str) -> Result<()> {
        let res = self
            .client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(0)
            .send()
            .await;
        res.map(|_| ())
            .map_err(|e| receipt_error(e, "ChangeMessageVisibility", &self.queue_url))
    }

    /// Reads the whole DLQ without consuming it: receives batches with a short visibility (so
    /// the next batch returns other messages), then makes them visible again at once.
    async fn dead_letters(&self) -> Result<Vec<String>> {
        let mut seen = HashSet::new();
        let mut held = Vec::new();
        let mut bodies = Vec::new();
        loop {
            let batch = self
                .receive_from(
                    &self.dlq_url,
                    MAX_BATCH,
                    Duration::from_secs(30),
                    Duration::ZERO,
                )
                .await?;
            if batch.is_empty() {
                break;
            }
            let mut fresh = 0;
            for d in batch {
                if seen.insert(d.message_id.clone()) {
                    fresh += 1;
                    bodies.push(d.body);
                }
                held.push(d.receipt);
            }
            if fresh == 0 {
                break;
            }
        }
        for chunk in held.chunks(MAX_BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, r)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(r)
                        .visibility_timeout(0)
                        .build()
                        .ok()
                })
                .collect::<Vec<_>>();
            self.client
                .change_message_visibility_batch()
                .queue_url(&self.dlq_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| {
                    error::map(
                        e,
                        format!("SQS ChangeMessageVisibilityBatch {}", self.dlq_url),
                    )
                })?;
        }
        Ok(bodies)
    }
}

/// A receipt SQS no longer knows (the message was deleted, or the receipt is malformed) is
/// `NotFound`; the rest maps as usual.
fn receipt_error<E>(
    e: aws_sdk_sqs::error::SdkError<E, aws_sdk_sqs::config::http::HttpResponse>,
    op: &str,
    url: &str,
) -> StoreError
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata,
{
    let f = Failure::of(&e);
    let what = format!("SQS {op} {url}");
    if f.is_code("ReceiptHandleIsInvalid")
        || f.is_code("InvalidParameterValue")
        || f.is_code("MessageNotInflight")
        || f.is_code("AWS.SimpleQueueService.MessageNotInflight")
    {
        StoreError::NotFound(format!("{what}: unknown or expired receipt"))
    } else {
        f.into_store(what)
    }
}
