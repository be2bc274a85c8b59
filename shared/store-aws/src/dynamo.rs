//! DynamoDB plumbing shared by [`DynamoDirectory`] and [`DynamoRuns`]: item bodies (JSON in a
//! string attribute, or in S3 behind a pointer when too big for an item), batched reads and
//! writes with unprocessed-item retry and backoff, capacity metering.

mod directory;
mod runs;

pub use directory::DynamoDirectory;
pub use runs::{DEFAULT_CHANGES_TTL, DynamoRuns};

use crate::error::{self, Failure};
use crate::keys::{BODY, PK, PTR, SK};
use crate::{AwsClients, AwsConfig, AwsMeter, S3ObjectStore};
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, ReturnConsumedCapacity, WriteRequest,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use store::{ObjectStore, Result, StoreError};

pub(crate) type Item = HashMap<String, AttributeValue>;

/// Bodies bigger than this go to S3 and the item keeps a pointer: DynamoDB items are limited
/// to 400 KB including attribute names and the other attributes.
pub const MAX_ITEM_BYTES: usize = 350 * 1024;
/// BatchWriteItem takes at most 25 requests, BatchGetItem at most 100 keys.
const BATCH_WRITE_MAX: usize = 25;
const BATCH_GET_MAX: usize = 100;
/// Retries of unprocessed batch items and throttled batch calls (on top of the SDK's own
/// retries): 50 ms doubling up to 3.2 s, about 10 s in all before giving up as `Transient`.
const BATCH_ATTEMPTS: u32 = 10;

/// One table, its overflow bucket and the meter.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub client: aws_sdk_dynamodb::Client,
    pub name: String,
    pub overflow: S3ObjectStore,
    pub meter: Arc<AwsMeter>,
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(crate) fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

pub(crate) fn get_u64(item: &Item, name: &str) -> Option<u64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

pub(crate) fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}

pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(50u64 << attempt.min(6))
}

impl Table {
    pub(crate) fn new(clients: &AwsClients, cfg: &AwsConfig) -> Self {
        Self {
            client: clients.dynamodb.clone(),
            name: cfg.table.clone(),
            overflow: S3ObjectStore::new(clients, &cfg.bucket),
            meter: clients.meter.clone(),
        }
    }

    pub(crate) fn what(&self, op: &str, pk: &str) -> String {
        format!("DynamoDB {op} {}/{pk}", self.name)
    }

    /// Puts `body` into `item`: inline as `body`, or in S3 (`districts/{d}/overflow/...`,
    /// content-addressed with the item key) with `ptr` naming it.
    pub(crate) async fn set_body(
        &self,
        district: &str,
        item: &mut Item,
        body: String,
    ) -> Result<()> {
        if body.len() <= MAX_ITEM_BYTES {
            item.insert(BODY.into(), s(body));
            return Ok(());
        }
        let mut h = Sha256::new();
        h.update(get_s(item, PK).unwrap_or_default().as_bytes());
        h.update([0]);
        h.update(get_s(item, SK).unwrap_or_default().as_bytes());
        h.update([0]);
        h.update(body.as_bytes());
        let digest = h.finalize();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let key = format!("districts/{district}/overflow/{hex}.json");
        self.overflow.put(&key, body.into_bytes()).await?;
        self.meter.overflow();
        item.insert(PTR.into(), s(key));
        Ok(())
    }

    /// The JSON body of an item, fetched from S3 when the item holds a pointer.
    pub(crate) async fn body(&self, item: &Item) -> Result<String> {
        if let Some(b) = get_s(item, BODY) {
            return Ok(b.to_owned());
        }
        let Some(ptr) = get_s(item, PTR) else {
            return Err(StoreError::Permanent(format!(
                "DynamoDB item {} in {} has neither body nor ptr",
                get_s(item, PK).unwrap_or("?"),
                self.name
            )));
        };
        let bytes = self.overflow.get(ptr).await?;
        String::from_utf8(bytes)
            .map_err(|_| StoreError::Permanent(format!("overflow object {ptr} is not UTF-8")))
    }

    pub(crate) async fn decode<T: serde::de::DeserializeOwned>(&self, item: &Item) -> Result<T> {
        let body = self.body(item).await?;
        serde_json::from_str(&body).map_err(|e| {
            error::permanent(
                format!(
                    "decoding {} in {}",
                    get_s(item, PK).unwrap_or("?"),
                    self.name
                ),
                e,
            )
        })
    }

    /// Best-effort removal of the overflow object an old item pointed to.
    pub(crate) async fn drop_overflow(&self, item: &Item) {
        if let Some(ptr) = get_s(item, PTR)
            && let Err(e) = self.overflow.delete(ptr).await
        {
            tracing::warn!(key = ptr, error = %e, "could not delete an overflow object");
        }
    }

    /// Strongly consistent GetItem.
    pub(crate) async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| error::map(e, self.what("GetItem", pk)))?;
        self.meter.read_units(out.consumed_capacity());
        Ok(out.item)
    }

    /// Unconditional PutItem.
    pub(crate) async fn put(&self, item: Item) -> Result<()> {
        let pk = get_s(&item, PK).unwrap_or_default().to_owned();
        let out = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| error::map(e, self.what("PutItem", &pk)))?;
        self.meter.write_units(out.consumed_capacity());
        Ok(())
    }

    /// PutItem under a condition; a lost condition is `Conflict`.
    pub(crate) async fn put_if(
        &self,
        item: Item,
        condition: &str,
        values: Option<HashMap<String, AttributeValue>>,
    ) -> Result<()> {
        let pk = get_s(&item, PK).unwrap_or_default().to_owned();
        let out = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_values(values)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match out {
            Ok(out) => {
                self.meter.write_units(out.consumed_capacity());
                Ok(())
            }
            Err(e) => Err(Failure::of(&e).into_store(self.what("PutItem", &pk))),
        }
    }

    /// Every item of a partition (optionally `begins_with(sk, prefix)`), in sort-key order,
    /// strongly consistent, following pages.
    pub(crate) async fn query_all(&self, pk: &str, sk_prefix: Option<&str>) -> Result<Vec<Item>> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut values = HashMap::from([(":pk".to_owned(), s(pk))]);
            let cond = match sk_prefix {
                Some(p) => {
                    values.insert(":p".into(), s(p));
                    "pk = :pk AND begins_with(sk, :p)"
                }
                None => "pk = :pk",
            };
            let page = self
                .client
                .query()
                .table_name(&self.name)
                .key_condition_expression(cond)
                .set_expression_attribute_values(Some(values))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(|e| error::map(e, self.what("Query", pk)))?;
            self.meter.read_units(page.consumed_capacity());
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(out)
    }

    /// BatchGetItem (strongly consistent) in chunks of 100, retrying unprocessed keys with
    /// backoff. Keys must be distinct. Returns the items found, in no particular order.
    pub(crate) async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET_MAX) {
            let mut pending = chunk.to_vec();
            let mut attempt = 0;
            while !pending.is_empty() {
                let ka = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| error::permanent(self.what("BatchGetItem", "-"), e))?;
                let res = self
                    .client
                    .batch_get_item()
                    .request_items(&self.name, ka.clone())
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await;
                let out = match res {
                    Ok(out) => out,
                    Err(e) => {
                        let f = Failure::of(&e);
                        if f.is_transient() && attempt + 1 < BATCH_ATTEMPTS {
                            self.meter.throttled(1);
                            tokio::time::sleep(backoff(attempt)).await;
                            attempt += 1;
                            pending = ka.keys;
                            continue;
                        }
                        return Err(f.into_store(self.what("BatchGetItem", "-")));
                    }
                };
                self.meter.read_units(out.consumed_capacity());
                if let Some(mut r) = out.responses {
                    found.extend(r.remove(&self.name).unwrap_or_default());
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.name))
                    .map(|k| k.keys)
                    .unwrap_or_default();
                if !pending.is_empty() {
                    if attempt + 1 >= BATCH_ATTEMPTS {
                        return Err(StoreError::Transient(format!(
                            "{}: {} keys still unprocessed after {BATCH_ATTEMPTS} attempts",
                            self.what("BatchGetItem", "-"),
                            pending.len()
                        )));
                    }
                    self.meter.throttled(pending.len());
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
            }
        }
        Ok(found)
    }

    /// Unconditional BatchWriteItem in chunks of 25, retrying unprocessed items (and throttled
    /// calls) with exponential backoff; `Transient` when they are still unprocessed after
    /// [`BATCH_ATTEMPTS`]. Puts and deletes are idempotent, so a retry never duplicates.
    pub(crate) async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<()> {
        for chunk in requests.chunks(BATCH_WRITE_MAX) {
            let mut pending = chunk.to_vec();
            let mut attempt = 0;
            while !pending.is_empty() {
                let res = self
                    .client
                    .batch_write_item()
                    .request_items(&self.name, pending.clone())
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await;
                let out = match res {
                    Ok(out) => out,
                    Err(e) => {
                        let f = Failure::of(&e);
                        if f.is_transient() && attempt + 1 < BATCH_ATTEMPTS {
                            self.meter.throttled(1);
                            tokio::time::sleep(backoff(attempt)).await;
                            attempt += 1;
                            continue;
                        }
                        return Err(f.into_store(self.what("BatchWriteItem", "-")));
                    }
                };
                self.meter.write_units(out.consumed_capacity());
                pending = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.name))
                    .unwrap_or_default();
                if !pending.is_empty() {
                    if attempt + 1 >= BATCH_ATTEMPTS {
                        return Err(StoreError::Transient(format!(
                            "{}: {} items still unprocessed after {BATCH_ATTEMPTS} attempts",
                            self.what("BatchWriteItem", "-"),
                            pending.len()
                        )));
                    }
                    self.meter.throttled(pending.len());
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
            }
        }
        Ok(())
    }
}
