//! [`Runs`] on DynamoDB: districts, runs (listed newest first through the `by_started` local
//! secondary index), reports, per-phase school counters (a string set grown with `ADD`, so a
//! repeated school does not count twice) and stored changes.
//!
//! Changes of one school are chunks of about 64 KB under their own partition, written with
//! BatchWriteItem under a fresh generation id; a small head item (`CH#{school}` in the run's
//! partition) names the current generation. Replacing a school's changes writes the new chunks,
//! switches the head (conditional on the generation it read), then deletes the old chunks, so a
//! reader sees the old set or the new one, never a mix. Chunks and heads carry `expires_at`
//! (TTL) so run details age out.

use super::{Item, Table, get_s, key, n, s};
use crate::error;
use crate::keys::{
    self, COUNT, GEN, LSI_STARTED, LSI1_SK, PK, SCHOOL, SCHOOL_IDS, SCHOOLS, SK, TTL_ATTR, VERSION,
};
use crate::{AwsClients, AwsConfig};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, PutRequest, ReturnConsumedCapacity, ReturnValue, WriteRequest,
};
use domain::district::{District, Run};
use domain::plan::{Action, Change};
use domain::report::Report;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use store::{ChangeFilter, Clock, Result, Runs, StoreError, SystemClock};

/// Target size of one changes chunk: a page of a report reads one or two chunks.
const CHUNK_BYTES: usize = 64 * 1024;
/// Default lifetime of run details (changes).
pub const DEFAULT_CHANGES_TTL: Duration = Duration::from_secs(90 * 24 * 60 * 60);
/// Attempts to switch a changes head when concurrent writers race.
const HEAD_ATTEMPTS: u32 = 5;

pub struct DynamoRuns {
    table: Table,
    clock: Arc<dyn Clock>,
    changes_ttl: Duration,
}

impl std::fmt::Debug for DynamoRuns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoRuns")
            .field("table", &self.table.name)
            .field("changes_ttl", &self.changes_ttl)
            .finish_non_exhaustive()
    }
}

/// A school's current changes: which generation of chunks, and the `school_id`s its changes
/// name (the school filter matches those too).
struct Head {
    gen_id: String,
    school_ids: Vec<String>,
}

impl Head {
    fn of(item: &Item) -> Option<Head> {
        Some(Head {
            gen_id: get_s(item, GEN)?.to_owned(),
            school_ids: item
                .get(SCHOOL_IDS)
                .and_then(|v| v.as_ss().ok())
                .cloned()
                .unwrap_or_default(),
        })
    }
}

impl DynamoRuns {
    pub fn new(clients: &AwsClients, cfg: &AwsConfig) -> Self {
        Self {
            table: Table::new(clients, cfg),
            clock: Arc::new(SystemClock),
            changes_ttl: DEFAULT_CHANGES_TTL,
        }
    }

    /// The clock that stamps `expires_at`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How long stored changes live (DynamoDB TTL on `expires_at`); default 90 days.
    pub fn with_changes_ttl(mut self, ttl: Duration) -> Self {
        self.changes_ttl = ttl;
        self
    }

    fn expires_at(&self) -> AttributeValue {
        let secs = self.clock.now().timestamp() + self.changes_ttl.as_secs() as i64;
        n(secs)
    }

    fn encode<T: serde::Serialize>(&self, pk: &str, v: &T) -> Result<String> {
        serde_json::to_string(v).map_err(|e| error::permanent(self.table.what("encoding", pk), e))
    }

    async fn head(&self, district: &str, run_id: &str, school: &str) -> Result<Option<Head>> {
        let item = self
            .table
            .get(
                &keys::run_pk(district, run_id),
                &keys::changes_head_sk(school),
            )
            .await?;
        Ok(item.as_ref().and_then(Head::of))
    }

    /// Schools with stored changes in a run, in school order.
    async fn heads(&self, district: &str, run_id: &str) -> Result<Vec<(String, Head)>> {
        let items = self
            .table
            .query_all(
                &keys::run_pk(district, run_id),
                Some(keys::CHANGES_HEAD_PREFIX),
            )
            .await?;
        Ok(items
            .iter()
            .filter_map(|i| Some((get_s(i, SCHOOL)?.to_owned(), Head::of(i)?)))
            .collect())
    }

    async fn chunk_keys(
        &self,
        district: &str,
        run_id: &str,
        school: &str,
        gen_id: &str,
    ) -> Result<Vec<Item>> {
        let pk = keys::changes_chunk_pk(district, run_id, school);
        let items = self
            .table
            .query_all(&pk, Some(&format!("{gen_id}#")))
            .await?;
        Ok(items)
    }

    /// Chunks of one generation whose changes include positions ≥ `from`, in order:
    /// the chunk holding `from` (found with one reverse query) and all after it.
    async fn chunks_from(
        &self,
        district: &str,
        run_id: &str,
        school: &str,
        gen_id: &str,
        from: usize,
    ) -> Result<Vec<Item>> {
        let pk = keys::changes_chunk_pk(district, run_id, school);
        let mut start = keys::changes_chunk_sk(gen_id, 0);
        if from > 0 {
            let out = self
                .table
                .client
                .query()
                .table_name(&self.table.name)
                .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
                .expression_attribute_values(":pk", s(pk.clone()))
                .expression_attribute_values(":lo", s(keys::changes_chunk_sk(gen_id, 0)))
                .expression_attribute_values(":hi", s(keys::changes_chunk_sk(gen_id, from)))
                .scan_index_forward(false)
                .limit(1)
                .projection_expression("pk, sk")
                .consistent_read(true)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(|e| error::map(e, self.table.what("Query", &pk)))?;
            self.table.meter.read_units(out.consumed_capacity());
            if let Some(sk) = out.items().first().and_then(|i| get_s(i, SK)) {
                start = sk.to_owned();
            }
        }
        let mut items = Vec::new();
        let mut exclusive: Option<Item> = None;
        loop {
            let page = self
                .table
                .client
                .query()
                .table_name(&self.table.name)
                .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
                .expression_attribute_values(":pk", s(pk.clone()))
                .expression_attribute_values(":lo", s(start.clone()))
                // '$' sorts right after '#': the end of this generation's keys.
                .expression_attribute_values(":hi", s(format!("{gen_id}$")))
                .consistent_read(true)
                .set_exclusive_start_key(exclusive.take())
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(|e| error::map(e, self.table.what("Query", &pk)))?;
            self.table.meter.read_units(page.consumed_capacity());
            items.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => exclusive = Some(k),
                _ => break,
            }
        }
        Ok(items)
    }
}

/// A fresh generation id for a school's changes: unique per process and call.
fn new_gen_id(now_nanos: i64) -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    format!(
        "g{now_nanos:x}-{:x}-{:x}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// Splits changes into chunks of about [`CHUNK_BYTES`] of JSON each: `(first position, json)`.
fn chunk_changes(changes: &[Change]) -> Result<Vec<(usize, String)>> {
    let mut chunks = Vec::new();
    let mut first = 0;
    let mut buf = String::from("[");
    for (i, c) in changes.iter().enumerate() {
        let json =
            serde_json::to_string(c).map_err(|e| error::permanent("encoding a change", e))?;
        if buf.len() > 1 && buf.len() + json.len() + 1 > CHUNK_BYTES {
            buf.push(']');
            chunks.push((first, std::mem::replace(&mut buf, String::from("["))));
            first = i;
        }
        if buf.len() > 1 {
            buf.push(',');
        }
        buf.push_str(&json);
    }
    if buf.len() > 1 {
        buf.push(']');
        chunks.push((first, buf));
    }
    Ok(chunks)
}

fn matches(filter: &ChangeFilter, stored_under: &str, c: &Change) -> bool {
    (filter.include_unchanged || c.action != Action::Unchanged)
        && filter
            .school
            .as_ref()
            .is_none_or(|s| s == stored_under || c.school_id.as_ref() == Some(s))
        && filter.entity.is_none_or(|e| e == c.entity)
        && filter.action.is_none_or(|a| a == c.action)
}

#[async_trait]
impl Runs for DynamoRuns {
    async fn get_district(&self, id: &str) -> Result<Option<District>> {
        match self.table.get(keys::DISTRICTS_PK, id).await? {
            Some(item) => Ok(Some(self.table.decode(&item).await?)),
            None => Ok(None),
        }
    }

    async fn put_district(&self, district: &District) -> Result<()> {
        let mut stored = district.clone();
        stored.version = district.version + 1;
        let mut item = key(keys::DISTRICTS_PK, &district.id);
        item.insert(VERSION.into(), n(stored.version));
        let body = self.encode(keys::DISTRICTS_PK, &stored)?;
        self.table.set_body(&district.id, &mut item, body).await?;
        let res = if district.version == 0 {
            self.table
                .put_if(item, "attribute_not_exists(pk)", None)
                .await
        } else {
            self.table
                .put_if(
                    item,
                    "version = :v",
                    Some(HashMap::from([(":v".to_owned(), n(district.version))])),
                )
                .await
        };
        res.map_err(|e| match e {
            StoreError::Conflict(_) => StoreError::Conflict(format!(
                "district {} changed since version {}",
                district.id, district.version
            )),
            e => e,
        })
    }

    async fn list_districts(&self) -> Result<Vec<District>> {
        let mut out = Vec::new();
        for item in self.table.query_all(keys::DISTRICTS_PK, None).await? {
            out.push(self.table.decode(&item).await?);
        }
        Ok(out)
    }

    async fn create_run(&self, run: &Run) -> Result<()> {
        let pk = keys::runs_pk(&run.district);
        let stored = Run {
            version: 1,
            ..run.clone()
        };
        let mut item = key(pk.clone(), keys::run_sk(&run.run_id));
        item.insert(
            LSI1_SK.into(),
            s(keys::run_lsi_sk(run.started_at, &run.run_id)),
        );
        item.insert(VERSION.into(), n(stored.version));
        let body = self.encode(&pk, &stored)?;
        self.table.set_body(&run.district, &mut item, body).await?;
        self.table
            .put_if(item, "attribute_not_exists(pk)", None)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => {
                    StoreError::Conflict(format!("run {} exists in {}", run.run_id, run.district))
                }
                e => e,
            })
    }

    async fn get_run(&self, district: &str, run_id: &str) -> Result<Option<Run>> {
        match self
            .table
            .get(&keys::runs_pk(district), &keys::run_sk(run_id))
            .await?
        {
            Some(item) => Ok(Some(self.table.decode(&item).await?)),
            None => Ok(None),
        }
    }

    async fn update_run(&self, run: &Run) -> Result<()> {
        let pk = keys::runs_pk(&run.district);
        let mut stored = run.clone();
        stored.version = run.version + 1;
        let mut item = key(pk.clone(), keys::run_sk(&run.run_id));
        item.insert(
            LSI1_SK.into(),
            s(keys::run_lsi_sk(run.started_at, &run.run_id)),
        );
        item.insert(VERSION.into(), n(stored.version));
        let body = self.encode(&pk, &stored)?;
        self.table.set_body(&run.district, &mut item, body).await?;
        self.table
            .put_if(
                item,
                "version = :v",
                Some(HashMap::from([(":v".to_owned(), n(run.version))])),
            )
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => StoreError::Conflict(format!(
                    "run {} of {} changed since version {} (or does not exist)",
                    run.run_id, run.district, run.version
                )),
                e => e,
            })
    }

    async fn list_runs(
        &self,
        district: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Run>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let pk = keys::runs_pk(district);
        let mut start: Option<Item> = None;
        if let Some(c) = cursor {
            let Some(item) = self.table.get(&pk, &keys::run_sk(c)).await? else {
                return Ok(Vec::new());
            };
            let mut k = key(pk.clone(), keys::run_sk(c));
            if let Some(v) = item.get(LSI1_SK) {
                k.insert(LSI1_SK.into(), v.clone());
            }
            start = Some(k);
        }
        let mut out = Vec::new();
        while out.len() < limit {
            let page = self
                .table
                .client
                .query()
                .table_name(&self.table.name)
                .index_name(LSI_STARTED)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(pk.clone()))
                .scan_index_forward(false)
                .limit((limit - out.len()).min(1000) as i32)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(|e| error::map(e, self.table.what("Query", &pk)))?;
            self.table.meter.read_units(page.consumed_capacity());
            for item in page.items() {
                out.push(self.table.decode(item).await?);
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    async fn school_done(
        &self,
        district: &str,
        run_id: &str,
        phase: &str,
        school: &str,
    ) -> Result<u64> {
        let pk = keys::run_pk(district, run_id);
        let out = self
            .table
            .client
            .update_item()
            .table_name(&self.table.name)
            .set_key(Some(key(pk.clone(), keys::done_sk(phase))))
            .update_expression("ADD #schools :s")
            .expression_attribute_names("#schools", SCHOOLS)
            .expression_attribute_values(":s", AttributeValue::Ss(vec![school.to_owned()]))
            .return_values(ReturnValue::UpdatedNew)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| error::map(e, self.table.what("UpdateItem", &pk)))?;
        self.table.meter.write_units(out.consumed_capacity());
        let count = out
            .attributes()
            .and_then(|a| a.get(SCHOOLS))
            .and_then(|v| v.as_ss().ok())
            .map_or(0, Vec::len);
        Ok(count as u64)
    }

    async fn put_report(&self, report: &Report) -> Result<()> {
        let pk = keys::run_pk(&report.district, &report.run_id);
        let mut item = key(pk.clone(), keys::REPORT_SK);
        let body = self.encode(&pk, report)?;
        self.table
            .set_body(&report.district, &mut item, body)
            .await?;
        let old = self.table.get(&pk, keys::REPORT_SK).await?;
        self.table.put(item.clone()).await?;
        if let Some(old) = old
            && get_s(&old, keys::PTR) != get_s(&item, keys::PTR)
        {
            self.table.drop_overflow(&old).await;
        }
        Ok(())
    }

    async fn get_report(&self, district: &str, run_id: &str) -> Result<Option<Report>> {
        match self
            .table
            .get(&keys::run_pk(district, run_id), keys::REPORT_SK)
            .await?
        {
            Some(item) => Ok(Some(self.table.decode(&item).await?)),
            None => Ok(None),
        }
    }

    async fn put_changes(
        &self,
        district: &str,
        run_id: &str,
        school: &str,
        changes: &[Change],
    ) -> Result<()> {
        let run_pk = keys::run_pk(district, run_id);
        let chunk_pk = keys::changes_chunk_pk(district, run_id, school);
        let gen_id = new_gen_id(self.clock.now().timestamp_nanos_opt().unwrap_or_default());
        let expires = self.expires_at();
        let school_ids: BTreeSet<String> =
            changes.iter().filter_map(|c| c.school_id.clone()).collect();

        let mut puts = Vec::new();
        for (first, json) in chunk_changes(changes)? {
            let mut item = key(chunk_pk.clone(), keys::changes_chunk_sk(&gen_id, first));
            item.insert(TTL_ATTR.into(), expires.clone());
            self.table.set_body(district, &mut item, json).await?;
            puts.push(
                WriteRequest::builder()
                    .put_request(PutRequest::builder().set_item(Some(item)).build().map_err(
                        |e| error::permanent(self.table.what("BatchWriteItem", &chunk_pk), e),
                    )?)
                    .build(),
            );
        }
        self.table.batch_write(puts).await?;

        // Switch the head to the new generation, conditional on the one we read.
        let mut old = None;
        let mut switched = false;
        for _ in 0..HEAD_ATTEMPTS {
            old = self.head(district, run_id, school).await?;
            let mut head = key(run_pk.clone(), keys::changes_head_sk(school));
            head.insert(SCHOOL.into(), s(school));
            head.insert(GEN.into(), s(gen_id.clone()));
            head.insert(COUNT.into(), n(changes.len()));
            if !school_ids.is_empty() {
                head.insert(
                    SCHOOL_IDS.into(),
                    AttributeValue::Ss(school_ids.iter().cloned().collect()),
                );
            }
            head.insert(TTL_ATTR.into(), expires.clone());
            let res = match &old {
                None => {
                    self.table
                        .put_if(head, "attribute_not_exists(pk)", None)
                        .await
                }
                Some(h) => {
                    self.table
                        .put_if(
                            head,
                            "cgen = :g",
                            Some(HashMap::from([(":g".to_owned(), s(h.gen_id.clone()))])),
                        )
                        .await
                }
            };
            match res {
                Ok(()) => {
                    switched = true;
                    break;
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        if !switched {
            return Err(StoreError::Transient(format!(
                "changes of {district}/{run_id}/{school}: concurrent writers kept replacing them"
            )));
        }
        if let Some(old) = old {
            self.delete_generation(district, run_id, school, &old.gen_id)
                .await?;
        }
        Ok(())
    }

    async fn list_changes(
        &self,
        district: &str,
        run_id: &str,
        filter: &ChangeFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Change>, Option<String>)> {
        let after = cursor
            .map(store::parse_change_cursor)
            .transpose()?
            .map(|(s, p)| (s, usize::try_from(p).unwrap_or(usize::MAX)));
        // The school filter matches changes stored under the school or naming it as
        // `school_id` (the district step's): heads list the school ids their changes name.
        let schools: Vec<(String, Head)> = self
            .heads(district, run_id)
            .await?
            .into_iter()
            .filter(|(school, head)| {
                filter
                    .school
                    .as_ref()
                    .is_none_or(|f| f == school || head.school_ids.contains(f))
            })
            .collect();
        let mut out: Vec<Change> = Vec::new();
        let mut last: Option<(String, usize)> = None;
        for (school, head) in schools {
            let from = match &after {
                Some((s, _)) if school < *s => continue,
                Some((s, p)) if school == *s => p + 1,
                _ => 0,
            };
            for item in self
                .chunks_from(district, run_id, &school, &head.gen_id, from)
                .await?
            {
                let first = get_s(&item, SK)
                    .and_then(|sk| sk.rsplit_once('#'))
                    .and_then(|(_, p)| p.parse::<usize>().ok())
                    .unwrap_or(0);
                let chunk: Vec<Change> = self.table.decode(&item).await?;
                for (i, c) in chunk.into_iter().enumerate() {
                    let pos = first + i;
                    if pos < from || !matches(filter, &school, &c) {
                        continue;
                    }
                    if out.len() == limit {
                        // One more match exists: the page ends at the last one returned.
                        let cursor = last.map(|(s, p)| store::change_cursor(&s, p as u64));
                        return Ok((out, cursor));
                    }
                    out.push(c);
                    last = Some((school.clone(), pos));
                }
            }
        }
        Ok((out, None))
    }
}

impl DynamoRuns {
    async fn delete_generation(
        &self,
        district: &str,
        run_id: &str,
        school: &str,
        gen_id: &str,
    ) -> Result<()> {
        let items = self.chunk_keys(district, run_id, school, gen_id).await?;
        let mut deletes = Vec::with_capacity(items.len());
        for item in &items {
            let (Some(pk), Some(sk)) = (get_s(item, PK), get_s(item, SK)) else {
                continue;
            };
            deletes.push(
                WriteRequest::builder()
                    .delete_request(
                        DeleteRequest::builder()
                            .set_key(Some(key(pk, sk)))
                            .build()
                            .map_err(|e| {
                                error::permanent(self.table.what("BatchWriteItem", pk), e)
                            })?,
                    )
                    .build(),
            );
        }
        self.table.batch_write(deletes).await?;
        for item in &items {
            self.table.drop_overflow(item).await;
        }
        Ok(())
    }
}
