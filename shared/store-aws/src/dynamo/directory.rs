//! [`Directory`] on DynamoDB. A record is one item under its own partition
//! (`D#{d}#R#{record_key}`), so a district's people spread over many partitions; each of its
//! index keys is one small item (`D#{d}#I#{index_key}` / `{record_key}`). A write puts the
//! record and adds/removes exactly the index items that changed, in one TransactWriteItems
//! conditional on the record's version (a plain conditional PutItem when no index key changes).
//! On a lost condition the stored record is read back: equal content is `AlreadyApplied`
//! (a redelivered write), anything else `Conflict`.

use super::{Item, Table, get_s, get_u64, key, n, s};
use crate::error::{self, Failure};
use crate::keys::{self, IKEYS, KIND, PK, RECORD_SK, SK, VERSION};
use crate::{AwsClients, AwsConfig};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnConsumedCapacity, TransactWriteItem,
};
use domain::directory::{IndexKey, Record, RecordKey};
use futures_util::{StreamExt, stream};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use store::{Directory, Result, StoreError, Write, WriteOutcome};

/// TransactWriteItems takes at most 100 actions: the record and 99 index changes.
const MAX_TRANSACT: usize = 100;
/// Writes of one `write` call in flight at once (distinct keys only).
const WRITE_CONCURRENCY: usize = 8;
/// Index partitions of one `query_many` call queried at once.
const QUERY_CONCURRENCY: usize = 8;

#[derive(Debug)]
pub struct DynamoDirectory {
    table: Table,
    writes: AtomicU64,
}

/// A stored record with what its item says about it.
struct Stored {
    record: Record,
    version: u64,
    ikeys: BTreeSet<String>,
    item: Item,
}

impl DynamoDirectory {
    pub fn new(clients: &AwsClients, cfg: &AwsConfig) -> Self {
        Self {
            table: Table::new(clients, cfg),
            writes: AtomicU64::new(0),
        }
    }

    async fn stored(&self, item: Item) -> Result<Stored> {
        let record: Record = self.table.decode(&item).await?;
        let version = get_u64(&item, VERSION).unwrap_or_else(|| record.version());
        let ikeys = item
            .get(IKEYS)
            .and_then(|v| v.as_l().ok())
            .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
            .unwrap_or_else(|| record.index_keys().into_iter().map(|k| k.0).collect());
        Ok(Stored {
            record,
            version,
            ikeys,
            item,
        })
    }

    async fn load(&self, district: &str, rk: &RecordKey) -> Result<Option<Stored>> {
        match self
            .table
            .get(&keys::record_pk(district, rk), RECORD_SK)
            .await?
        {
            Some(item) => Ok(Some(self.stored(item).await?)),
            None => Ok(None),
        }
    }

    /// Items of `keys` (distinct), keyed by record pk.
    async fn load_many(
        &self,
        district: &str,
        rks: &[RecordKey],
    ) -> Result<HashMap<String, Stored>> {
        let mut seen = HashSet::new();
        let item_keys: Vec<Item> = rks
            .iter()
            .map(|k| keys::record_pk(district, k))
            .filter(|pk| seen.insert(pk.clone()))
            .map(|pk| key(pk, RECORD_SK))
            .collect();
        let mut out = HashMap::new();
        for item in self.table.batch_get(item_keys).await? {
            let pk = get_s(&item, PK).unwrap_or_default().to_owned();
            out.insert(pk, self.stored(item).await?);
        }
        Ok(out)
    }

    /// The record keys of every item of one index partition, in key order (index items only,
    /// following pages; no record reads).
    async fn index_entries(&self, district: &str, index: &IndexKey) -> Result<Vec<RecordKey>> {
        let pk = keys::index_pk(district, index);
        let items = self.table.query_all(&pk, None).await?;
        Ok(items
            .iter()
            .filter_map(|i| get_s(i, SK))
            .map(|k| RecordKey(k.to_owned()))
            .collect())
    }

    async fn write_one(
        &self,
        district: &str,
        w: &Write,
        current: Option<Stored>,
    ) -> Result<WriteOutcome> {
        let outcome = match w {
            Write::Put { record, expected } => {
                let matches = match (&current, expected) {
                    (None, None) => true,
                    (Some(c), Some(e)) => c.version == *e,
                    _ => false,
                };
                if !matches {
                    return Ok(already_or_conflict(current.as_ref(), Some(record)));
                }
                self.put_record(district, record, *expected, current.as_ref())
                    .await?
            }
            Write::Delete { key: rk, expected } => match &current {
                None => return Ok(WriteOutcome::AlreadyApplied),
                Some(c) if c.version != *expected => return Ok(WriteOutcome::Conflict),
                Some(c) => self.delete_record(district, rk, *expected, c).await?,
            },
        };
        match outcome {
            Outcome::Written => {
                self.writes.fetch_add(1, Ordering::Relaxed);
                if let Some(c) = &current {
                    self.table.drop_overflow(&c.item).await;
                }
                Ok(WriteOutcome::Written)
            }
            Outcome::Lost => {
                // The record changed between our read and our write: look again.
                let now = self.load(district, &w.key()).await?;
                Ok(match w {
                    Write::Put { record, .. } => already_or_conflict(now.as_ref(), Some(record)),
                    Write::Delete { .. } => already_or_conflict(now.as_ref(), None),
                })
            }
        }
    }

    async fn put_record(
        &self,
        district: &str,
        record: &Record,
        expected: Option<u64>,
        current: Option<&Stored>,
    ) -> Result<Outcome> {
        let rk = record.key();
        let pk = keys::record_pk(district, &rk);
        let version = expected.map_or(1, |v| v + 1);
        let mut stored = record.clone();
        stored.set_version(version);
        let new_keys: BTreeSet<String> = stored.index_keys().into_iter().map(|k| k.0).collect();
        let body = serde_json::to_string(&stored)
            .map_err(|e| error::permanent(self.table.what("encoding", &pk), e))?;

        let mut item = key(pk.clone(), RECORD_SK);
        item.insert(VERSION.into(), n(version));
        item.insert(KIND.into(), s(stored.kind_name()));
        item.insert(
            IKEYS.into(),
            AttributeValue::L(new_keys.iter().map(|k| s(k.clone())).collect()),
        );
        self.table.set_body(district, &mut item, body).await?;

        let (condition, values) = match expected {
            None => ("attribute_not_exists(pk)", None),
            Some(v) => (
                "version = :v",
                Some(HashMap::from([(":v".to_owned(), n(v))])),
            ),
        };
        let old_keys = current.map(|c| c.ikeys.clone()).unwrap_or_default();
        let added: Vec<&String> = new_keys.difference(&old_keys).collect();
        let removed: Vec<&String> = old_keys.difference(&new_keys).collect();

        if added.is_empty() && removed.is_empty() {
            return match self.table.put_if(item, condition, values).await {
                Ok(()) => Ok(Outcome::Written),
                Err(StoreError::Conflict(_)) => Ok(Outcome::Lost),
                Err(e) => Err(e),
            };
        }

        let mut actions = Vec::with_capacity(1 + added.len() + removed.len());
        actions.push(
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.table.name)
                        .set_item(Some(item))
                        .condition_expression(condition)
                        .set_expression_attribute_values(values)
                        .build()
                        .map_err(|e| {
                            error::permanent(self.table.what("TransactWriteItems", &pk), e)
                        })?,
                )
                .build(),
        );
        for k in added {
            actions.push(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.table.name)
                            .set_item(Some(key(keys::index_pk_str(district, k), rk.as_str())))
                            .build()
                            .map_err(|e| {
                                error::permanent(self.table.what("TransactWriteItems", &pk), e)
                            })?,
                    )
                    .build(),
            );
        }
        for k in removed {
            actions.push(self.delete_index(district, k, &rk)?);
        }
        self.transact(&pk, actions).await
    }

    async fn delete_record(
        &self,
        district: &str,
        rk: &RecordKey,
        expected: u64,
        current: &Stored,
    ) -> Result<Outcome> {
        let pk = keys::record_pk(district, rk);
        let mut actions = Vec::with_capacity(1 + current.ikeys.len());
        actions.push(
            TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name(&self.table.name)
                        .set_key(Some(key(pk.clone(), RECORD_SK)))
                        .condition_expression("version = :v")
                        .expression_attribute_values(":v", n(expected))
                        .build()
                        .map_err(|e| {
                            error::permanent(self.table.what("TransactWriteItems", &pk), e)
                        })?,
                )
                .build(),
        );
        for k in &current.ikeys {
            actions.push(self.delete_index(district, k, rk)?);
        }
        self.transact(&pk, actions).await
    }

    fn delete_index(
        &self,
        district: &str,
        index: &str,
        rk: &RecordKey,
    ) -> Result<TransactWriteItem> {
        let pk = keys::index_pk_str(district, index);
        Ok(TransactWriteItem::builder()
            .delete(
                Delete::builder()
                    .table_name(&self.table.name)
                    .set_key(Some(key(pk.clone(), rk.as_str())))
                    .build()
                    .map_err(|e| error::permanent(self.table.what("TransactWriteItems", &pk), e))?,
            )
            .build())
    }

    /// One TransactWriteItems whose first action is the conditional record write.
    async fn transact(&self, pk: &str, actions: Vec<TransactWriteItem>) -> Result<Outcome> {
        if actions.len() > MAX_TRANSACT {
            return Err(StoreError::Permanent(format!(
                "{}: {} index changes in one write; at most {} fit one transaction",
                self.table.what("TransactWriteItems", pk),
                actions.len() - 1,
                MAX_TRANSACT - 1
            )));
        }
        let res = self
            .table
            .client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match res {
            Ok(out) => {
                self.table.meter.write_units(out.consumed_capacity());
                Ok(Outcome::Written)
            }
            Err(e) => {
                let record_condition_failed = e
                    .as_service_error()
                    .and_then(|se| match se {
                        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(tc) => Some(tc),
                        _ => None,
                    })
                    .is_some_and(|tc| {
                        tc.cancellation_reasons()
                            .first()
                            .and_then(|r| r.code())
                            == Some("ConditionalCheckFailed")
                    });
                if record_condition_failed {
                    return Ok(Outcome::Lost);
                }
                let f = Failure::of(&e);
                // Cancelled for throttling or a conflicting transaction: retryable.
                if f.is_code("TransactionCanceledException") {
                    return Err(StoreError::Transient(format!(
                        "{}: transaction cancelled ({})",
                        self.table.what("TransactWriteItems", pk),
                        f.message.as_deref().unwrap_or("no reason given")
                    )));
                }
                Err(f.into_store(self.table.what("TransactWriteItems", pk)))
            }
        }
    }
}

/// How a conditional write went: `Lost` = the condition failed, decide after reading again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Written,
    Lost,
}

/// What a write whose version did not match amounts to: a `Put` whose content is already
/// stored, or a `Delete` of a record that is gone, was applied before.
fn already_or_conflict(current: Option<&Stored>, put: Option<&Record>) -> WriteOutcome {
    match (current, put) {
        (Some(c), Some(r)) if c.record.content_eq(r) => WriteOutcome::AlreadyApplied,
        (None, None) => WriteOutcome::AlreadyApplied,
        _ => WriteOutcome::Conflict,
    }
}

#[async_trait]
impl Directory for DynamoDirectory {
    async fn get(&self, district: &str, key: &RecordKey) -> Result<Option<Record>> {
        Ok(self.load(district, key).await?.map(|s| s.record))
    }

    async fn get_many(&self, district: &str, keys: &[RecordKey]) -> Result<Vec<Record>> {
        let mut found = self.load_many(district, keys).await?;
        Ok(keys
            .iter()
            .filter_map(|k| found.remove(&keys::record_pk(district, k)))
            .map(|s| s.record)
            .collect())
    }

    async fn query(
        &self,
        district: &str,
        index: &IndexKey,
        after: Option<&RecordKey>,
        limit: usize,
    ) -> Result<Vec<Record>> {
        let pk = keys::index_pk(district, index);
        let mut out = Vec::new();
        let mut after = after.map(|k| k.as_str().to_owned());
        let mut exhausted = false;
        while out.len() < limit && !exhausted {
            let want = limit - out.len();
            let mut values = HashMap::from([(":pk".to_owned(), s(pk.clone()))]);
            let cond = match &after {
                Some(a) => {
                    values.insert(":a".into(), s(a.clone()));
                    "pk = :pk AND sk > :a"
                }
                None => "pk = :pk",
            };
            let page = self
                .table
                .client
                .query()
                .table_name(&self.table.name)
                .key_condition_expression(cond)
                .set_expression_attribute_values(Some(values))
                .consistent_read(true)
                .limit(want.min(1000) as i32)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(|e| error::map(e, self.table.what("Query", &pk)))?;
            self.table.meter.read_units(page.consumed_capacity());
            let rks: Vec<RecordKey> = page
                .items()
                .iter()
                .filter_map(|i| get_s(i, SK))
                .map(|k| RecordKey(k.to_owned()))
                .collect();
            exhausted = page.last_evaluated_key().is_none_or(|k| k.is_empty());
            let Some(last) = rks.last() else { break };
            after = Some(last.as_str().to_owned());
            let mut found = self.load_many(district, &rks).await?;
            // The index and the records are two reads: a record may have changed in between,
            // so keep only records that still carry the key.
            out.extend(
                rks.iter()
                    .filter_map(|k| found.remove(&keys::record_pk(district, k)))
                    .map(|s| s.record)
                    .filter(|r| r.index_keys().contains(index)),
            );
        }
        out.truncate(limit);
        Ok(out)
    }

    /// The index partitions are queried in parallel (keys only), then every distinct record is
    /// read once with BatchGetItem (100 keys a call), instead of one query-then-read round per
    /// index key and page.
    async fn query_many(&self, district: &str, indexes: &[IndexKey]) -> Result<Vec<Record>> {
        let jobs: Vec<_> = indexes
            .iter()
            .map(|index| self.index_entries(district, index))
            .collect();
        let lists: Vec<Result<Vec<RecordKey>>> = stream::iter(jobs)
            .buffer_unordered(QUERY_CONCURRENCY)
            .collect()
            .await;
        let mut rks = BTreeSet::new();
        for list in lists {
            rks.extend(list?);
        }
        let rks: Vec<RecordKey> = rks.into_iter().collect();
        let wanted: HashSet<&IndexKey> = indexes.iter().collect();
        let mut found = self.load_many(district, &rks).await?;
        // The index and the records are two reads: keep only records that still carry a key.
        Ok(rks
            .iter()
            .filter_map(|k| found.remove(&keys::record_pk(district, k)))
            .map(|s| s.record)
            .filter(|r| r.index_keys().iter().any(|k| wanted.contains(k)))
            .collect())
    }

    async fn write(&self, district: &str, writes: &[Write]) -> Result<Vec<WriteOutcome>> {
        let rks: Vec<RecordKey> = writes.iter().map(Write::key).collect();
        let distinct = rks.iter().collect::<HashSet<_>>().len() == rks.len();
        if !distinct {
            // Several writes to one key must see each other: one at a time, in order.
            let mut out = Vec::with_capacity(writes.len());
            for w in writes {
                let current = self.load(district, &w.key()).await?;
                out.push(self.write_one(district, w, current).await?);
            }
            return Ok(out);
        }
        let mut current = self.load_many(district, &rks).await?;
        let jobs: Vec<_> = writes
            .iter()
            .map(|w| {
                let cur = current.remove(&keys::record_pk(district, &w.key()));
                self.write_one(district, w, cur)
            })
            .collect();
        let results: Vec<Result<WriteOutcome>> = stream::iter(jobs)
            .buffered(WRITE_CONCURRENCY)
            .collect()
            .await;
        results.into_iter().collect()
    }

    fn writes_count(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }
}
