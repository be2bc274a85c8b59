//! The AWS adapters against real stand-ins: the shared `store::conformance` suite on moto
//! (S3, SQS) and DynamoDB Local, plus what only this backend has (injected DynamoDB throttling
//! and unprocessed batch items, items too big for DynamoDB, the request meter).
//!
//! These tests need the services, so they run only when `ROSTERSYNC_AWS_TESTS=1`:
//!
//! ```text
//! bash .ci/services.sh cargo test -p store-aws      # .ci/services.sh sets it
//! ```
//!
//! Without it each test prints a notice and returns, so a plain `cargo test` stays usable for
//! newcomers; `.ci/run` runs the tests under `.ci/services.sh`, where they must pass. With it
//! set but no endpoints in the environment, the tests fail saying so (never a silent skip).

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use domain::EntityKind;
use domain::directory::{IndexKey, LinkedKind, LinkedRecord, Record, RecordKey};
use domain::plan::{Action, Change};
use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use store::{ChangeFilter, Directory, Runs, StoreError, Write, WriteOutcome};
use store_aws::{AwsClients, AwsConfig, ResourceSpec, clients_from_env, create_resources};

const GATE: &str = "ROSTERSYNC_AWS_TESTS";

/// Clients and fresh resources, or `None` (with a notice) when the AWS tests are not enabled.
async fn setup(label: &str, max_receives: u32) -> Option<(AwsClients, AwsConfig)> {
    if std::env::var(GATE).as_deref() != Ok("1") {
        eprintln!(
            "NOTICE: skipping AWS adapter test `{label}`: set {GATE}=1 and run under \
             `bash .ci/services.sh cargo test -p store-aws` (it starts moto and DynamoDB Local)"
        );
        return None;
    }
    for var in ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"] {
        assert!(
            std::env::var(var).is_ok_and(|v| !v.is_empty()),
            "{GATE}=1 but {var} is not set: run the AWS tests under \
             `bash .ci/services.sh cargo test -p store-aws`, which starts moto (S3, SQS) and \
             DynamoDB Local and exports their endpoints"
        );
    }
    let clients = clients_from_env().await;
    let spec = ResourceSpec::unique(label).with_max_receives(max_receives);
    let cfg = match create_resources(&clients, &spec).await {
        Ok(cfg) => cfg,
        Err(e) => panic!("creating test resources on the local stand-ins: {e}"),
    };
    Some((clients, cfg))
}

async fn teardown(clients: &AwsClients, cfg: &AwsConfig) {
    if let Err(e) = store_aws::delete_resources(clients, cfg).await {
        eprintln!("clean-up of {}: {e}", cfg.table);
    }
}

#[tokio::test]
async fn s3_object_store_conforms() {
    let Some((clients, cfg)) = setup("objects", 2).await else {
        return;
    };
    store::conformance::object_store(&clients.object_store(&cfg)).await;
    assert!(
        clients.meter.snapshot().s3_requests > 0,
        "S3 requests are metered"
    );
    teardown(&clients, &cfg).await;
}

#[tokio::test]
async fn sqs_queue_conforms() {
    let Some((clients, cfg)) = setup("queue", 3).await else {
        return;
    };
    let q = clients.queue(&cfg);
    // Real time: SQS visibility is whole seconds, so advance by sleeping.
    store::conformance::queue(&q, 3, Duration::from_secs(1), |d| tokio::time::sleep(d)).await;
    let m = clients.meter.snapshot();
    assert!(
        m.sqs_requests > 0 && m.sqs_messages > 0,
        "SQS is metered: {m:?}"
    );
    teardown(&clients, &cfg).await;
}

#[tokio::test]
async fn dynamo_directory_conforms() {
    let Some((clients, cfg)) = setup("directory", 2).await else {
        return;
    };
    let d = clients.directory(&cfg);
    store::conformance::directory(&d).await;
    let m = clients.meter.snapshot();
    assert!(d.writes_count() > 0, "writes are counted");
    assert!(
        m.dynamodb_wcu > 0.0 && m.dynamodb_rcu > 0.0,
        "consumed capacity is metered: {m:?}"
    );
    teardown(&clients, &cfg).await;
}

#[tokio::test]
async fn dynamo_runs_conforms() {
    let Some((clients, cfg)) = setup("runs", 2).await else {
        return;
    };
    store::conformance::runs(&clients.runs(&cfg)).await;
    teardown(&clients, &cfg).await;
}

fn student_change(i: usize, school: &str) -> Change {
    Change {
        entity: EntityKind::Students,
        action: if i.is_multiple_of(3) {
            Action::Unchanged
        } else {
            Action::Created
        },
        key: RecordKey::person(&format!("p{i:05}")),
        school_id: Some(school.to_owned()),
        source_id: Some(format!("src-{i}")),
        fields: Vec::new(),
        expected_version: None,
        after: None,
        note: Some("x".repeat(300)),
    }
}

async fn all_changes(r: &dyn Runs, district: &str, run: &str, page: usize) -> Vec<Change> {
    let filter = ChangeFilter {
        include_unchanged: true,
        ..ChangeFilter::default()
    };
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let (batch, next) = match r
            .list_changes(district, run, &filter, cursor.as_deref(), page)
            .await
        {
            Ok(v) => v,
            Err(e) => panic!("list_changes: {e}"),
        };
        out.extend(batch);
        match next {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

/// Many changes span several chunks (and so several BatchWriteItem calls); paging crosses
/// chunk boundaries; replacing them removes the old chunks.
#[tokio::test]
async fn changes_span_chunks_and_pages() {
    let Some((clients, cfg)) = setup("chunks", 2).await else {
        return;
    };
    let runs = clients.runs(&cfg);
    let changes: Vec<Change> = (0..1500).map(|i| student_change(i, "s1")).collect();
    runs.put_changes("d1", "r1", "s1", &changes)
        .await
        .unwrap_or_else(|e| panic!("put_changes: {e}"));
    assert_eq!(all_changes(&runs, "d1", "r1", 137).await, changes);
    let fewer: Vec<Change> = changes[..10].to_vec();
    runs.put_changes("d1", "r1", "s1", &fewer)
        .await
        .unwrap_or_else(|e| panic!("put_changes: {e}"));
    assert_eq!(all_changes(&runs, "d1", "r1", 3).await, fewer);
    let chunks = clients
        .dynamodb
        .scan()
        .table_name(&cfg.table)
        .filter_expression("begins_with(pk, :p)")
        .expression_attribute_values(
            ":p",
            aws_sdk_dynamodb::types::AttributeValue::S("D#d1#RUN#r1#CH#".into()),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("scan: {e}"));
    assert_eq!(chunks.count(), 1, "replaced chunks are deleted");
    teardown(&clients, &cfg).await;
}

/// A record, report or changes chunk too big for a DynamoDB item goes to S3 behind a pointer.
#[tokio::test]
async fn oversized_items_overflow_to_s3() {
    let Some((clients, cfg)) = setup("overflow", 2).await else {
        return;
    };
    let dir = clients.directory(&cfg);
    let big = Record::from(LinkedRecord {
        id: "l1".into(),
        kind: LinkedKind::Backpack,
        student_id: "p1".into(),
        data: serde_json::json!({ "blob": "y".repeat(500 * 1024) }),
        version: 0,
    });
    let out = dir
        .write(
            "d1",
            &[Write::Put {
                record: big.clone(),
                expected: None,
            }],
        )
        .await
        .unwrap_or_else(|e| panic!("write: {e}"));
    assert_eq!(out, vec![WriteOutcome::Written]);
    let mut want = big.clone();
    want.set_version(1);
    let got = dir
        .get("d1", &big.key())
        .await
        .unwrap_or_else(|e| panic!("get: {e}"));
    assert_eq!(got, Some(want.clone()));
    // Redelivery of the same big write compares content read back from S3.
    let again = dir
        .write(
            "d1",
            &[Write::Put {
                record: big.clone(),
                expected: None,
            }],
        )
        .await
        .unwrap_or_else(|e| panic!("write: {e}"));
    assert_eq!(again, vec![WriteOutcome::AlreadyApplied]);

    let runs = clients.runs(&cfg);
    let mut huge = student_change(1, "s1");
    huge.after = Some(big);
    runs.put_changes("d1", "r1", "s1", &[huge.clone()])
        .await
        .unwrap_or_else(|e| panic!("put_changes: {e}"));
    assert_eq!(all_changes(&runs, "d1", "r1", 10).await, vec![huge]);
    assert!(clients.meter.snapshot().s3_overflow_objects >= 2);
    teardown(&clients, &cfg).await;
}

/// Fault injection for DynamoDB: the first attempt of every other distinct request is turned
/// into a throttle (`ProvisionedThroughputExceededException`), and the first attempt of every
/// distinct BatchWriteItem / BatchGetItem into "everything unprocessed". The request is
/// re-targeted to an unknown operation before signing, so the server applies nothing, as with
/// a real throttle.
#[derive(Debug, Default)]
struct InjectFaults {
    seen: Mutex<HashSet<u64>>,
    calls: AtomicU32,
    throttled: AtomicU32,
    unprocessed: AtomicU32,
    /// Throttle every attempt (to see retries give up).
    always: bool,
}

/// This attempt's injected fault and the original request body.
#[derive(Debug, Clone)]
struct Injected(Option<(&'static str, Vec<u8>)>);

impl aws_smithy_types::config_bag::Storable for Injected {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl Intercept for InjectFaults {
    fn name(&self) -> &'static str {
        "InjectFaults"
    }

    fn modify_before_signing(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let req = ctx.request_mut();
        let target = req
            .headers()
            .get("x-amz-target")
            .unwrap_or_default()
            .to_owned();
        let body = req.body().bytes().unwrap_or_default().to_vec();
        let hash = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            target.hash(&mut h);
            // Canonical JSON: a retry may serialise the same maps in another order.
            match serde_json::from_slice::<serde_json::Value>(&body) {
                Ok(v) => v.to_string().hash(&mut h),
                Err(_) => body.hash(&mut h),
            }
            h.finish()
        };
        let first = self
            .seen
            .lock()
            .map(|mut s| s.insert(hash))
            .unwrap_or(false);
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        let batch = target.ends_with(".BatchWriteItem") || target.ends_with(".BatchGetItem");
        let kind = if self.always {
            Some("throttle")
        } else if first && batch {
            Some("unprocessed")
        } else if first && n.is_multiple_of(2) {
            Some("throttle")
        } else {
            None
        };
        // The bag outlives the attempt: record this attempt's decision either way.
        cfg.interceptor_state()
            .store_put(Injected(kind.map(|k| (k, body))));
        if kind.is_some() {
            req.headers_mut()
                .insert("x-amz-target", "DynamoDB_20120810.InjectedFault");
        }
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        ctx: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Injected(Some((kind, body)))) = cfg.load::<Injected>() else {
            return Ok(());
        };
        let kind = *kind;
        let request: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let (status, body) = if kind == "throttle" {
            self.throttled.fetch_add(1, Ordering::Relaxed);
            (
                400u16,
                serde_json::json!({
                    "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                    "message": "injected throttle"
                }),
            )
        } else {
            self.unprocessed.fetch_add(1, Ordering::Relaxed);
            let items = request["RequestItems"].clone();
            (
                200u16,
                serde_json::json!({
                    "UnprocessedItems": items,
                    "UnprocessedKeys": items,
                    "Responses": {},
                }),
            )
        };
        let resp = ctx.response_mut();
        *resp.status_mut() = status.try_into()?;
        resp.headers_mut().remove("content-length");
        resp.headers_mut().remove("x-amz-crc32");
        resp.headers_mut()
            .insert("content-type", "application/x-amz-json-1.0");
        *resp.body_mut() = body.to_string().into();
        Ok(())
    }
}

fn with_faults(clients: &AwsClients, faults: std::sync::Arc<InjectFaults>) -> AwsClients {
    let conf = clients
        .dynamodb
        .config()
        .to_builder()
        .interceptor(SharedFaults(faults))
        // The SDK's own retry of throttles (standard mode, 3 attempts) with a short first
        // backoff so the test is quick; production keeps the SDK default.
        .retry_config(
            aws_sdk_dynamodb::config::retry::RetryConfig::standard()
                .with_initial_backoff(Duration::from_millis(5)),
        )
        .build();
    AwsClients {
        dynamodb: aws_sdk_dynamodb::Client::from_conf(conf),
        ..clients.clone()
    }
}

#[derive(Debug)]
struct SharedFaults(std::sync::Arc<InjectFaults>);

impl Intercept for SharedFaults {
    fn name(&self) -> &'static str {
        "SharedFaults"
    }
    fn modify_before_signing(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.modify_before_signing(ctx, rc, cfg)
    }
    fn modify_before_deserialization(
        &self,
        ctx: &mut BeforeDeserializationInterceptorContextMut<'_>,
        rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.modify_before_deserialization(ctx, rc, cfg)
    }
}

/// Throttled requests and unprocessed batch items are retried, and nothing is lost: the whole
/// directory and runs suites pass through the fault injector.
#[tokio::test]
async fn throttled_dynamodb_is_retried_without_loss() {
    let Some((clients, cfg)) = setup("throttle", 2).await else {
        return;
    };
    let faults = std::sync::Arc::new(InjectFaults::default());
    let faulty = with_faults(&clients, faults.clone());
    store::conformance::directory(&faulty.directory(&cfg)).await;
    store::conformance::runs(&faulty.runs(&cfg)).await;
    let runs = faulty.runs(&cfg);
    let changes: Vec<Change> = (0..400).map(|i| student_change(i, "s1")).collect();
    runs.put_changes("d1", "r1", "s1", &changes)
        .await
        .unwrap_or_else(|e| panic!("put_changes: {e}"));
    assert_eq!(all_changes(&runs, "d1", "r1", 50).await, changes);

    let throttled = faults.throttled.load(Ordering::Relaxed);
    let unprocessed = faults.unprocessed.load(Ordering::Relaxed);
    eprintln!(
        "injected {throttled} throttles and {unprocessed} unprocessed batches in {} requests",
        faults.calls.load(Ordering::Relaxed)
    );
    assert!(throttled > 10, "throttles were injected: {throttled}");
    assert!(
        unprocessed > 2,
        "unprocessed batches were injected: {unprocessed}"
    );
    assert!(
        faulty.meter.snapshot().dynamodb_throttled >= u64::from(unprocessed),
        "retried batches are metered"
    );
    teardown(&clients, &cfg).await;
}

/// When throttling outlasts the retries, the error is `Transient` (the worker retries the
/// message), never `Conflict` or `Permanent`.
#[tokio::test]
async fn persistent_throttling_is_transient() {
    let Some((clients, cfg)) = setup("throttled", 2).await else {
        return;
    };
    let faults = std::sync::Arc::new(InjectFaults {
        always: true,
        ..InjectFaults::default()
    });
    let conf = clients
        .dynamodb
        .config()
        .to_builder()
        .interceptor(SharedFaults(faults))
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::standard().with_max_attempts(2))
        .build();
    let faulty = AwsClients {
        dynamodb: aws_sdk_dynamodb::Client::from_conf(conf),
        ..clients.clone()
    };
    match faulty
        .directory(&cfg)
        .get("d1", &RecordKey::person("p1"))
        .await
    {
        Err(StoreError::Transient(msg)) => {
            assert!(msg.contains("ProvisionedThroughputExceeded"), "{msg}")
        }
        other => panic!("a throttled read must be Transient, got {other:?}"),
    }
    match faulty
        .runs(&cfg)
        .school_done("d1", "r1", "plan", "s1")
        .await
    {
        Err(StoreError::Transient(_)) => {}
        other => panic!("a throttled update must be Transient, got {other:?}"),
    }
    teardown(&clients, &cfg).await;
}

/// `query_many` (parallel index queries, then BatchGetItem of 100) against the same lookups one
/// key at a time (what the trait's default does: a Query and a BatchGetItem per key): the same
/// records, in fewer requests. Prints both counts and times.
#[tokio::test]
async fn query_many_reads_the_records_of_many_keys_in_few_requests() {
    let Some((clients, cfg)) = setup("qmany", 2).await else {
        return;
    };
    let dir = clients.directory(&cfg);
    const PEOPLE: usize = 300;
    let people: Vec<Write> = (0..PEOPLE)
        .map(|i| {
            let record: Record = serde_json::from_value(serde_json::json!({
                "type": "person", "id": format!("p{i:04}"), "kind": "student",
                "first_name": "S", "last_name": "T",
                "external_ids": [format!("ext-{i}")], "school_ids": ["sch1"], "version": 0
            }))
            .unwrap_or_else(|e| panic!("record: {e}"));
            Write::Put {
                record,
                expected: None,
            }
        })
        .collect();
    for chunk in people.chunks(100) {
        dir.write("d1", chunk)
            .await
            .unwrap_or_else(|e| panic!("write: {e}"));
    }
    let keys: Vec<IndexKey> = (0..PEOPLE + 100)
        .map(|i| IndexKey::external(&format!("ext-{i}")))
        .collect();

    let requests = || clients.meter.snapshot().dynamodb_requests;
    let (before, started) = (requests(), Instant::now());
    let many = dir
        .query_many("d1", &keys)
        .await
        .unwrap_or_else(|e| panic!("query_many: {e}"));
    let (many_requests, many_time) = (requests() - before, started.elapsed());

    let (before, started) = (requests(), Instant::now());
    let mut one_by_one = BTreeMap::new();
    for key in &keys {
        for r in dir
            .query("d1", key, None, 500)
            .await
            .unwrap_or_else(|e| panic!("query: {e}"))
        {
            one_by_one.insert(r.key(), r);
        }
    }
    let (one_requests, one_time) = (requests() - before, started.elapsed());

    assert_eq!(many.len(), PEOPLE);
    assert_eq!(many, one_by_one.into_values().collect::<Vec<_>>());
    eprintln!(
        "query_many of {} keys ({PEOPLE} found): {many_requests} DynamoDB requests in {:.2} s; \
         one key at a time: {one_requests} requests in {:.2} s",
        keys.len(),
        many_time.as_secs_f64(),
        one_time.as_secs_f64()
    );
    assert!(
        many_requests * 3 < one_requests * 2,
        "{many_requests} vs {one_requests}"
    );
    teardown(&clients, &cfg).await;
}
