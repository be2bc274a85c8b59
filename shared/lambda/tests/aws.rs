//! The Lambda handlers end to end on the AWS adapters: moto (S3, SQS, SSM) and DynamoDB Local.
//! Events are built by hand as AWS sends them and given to the real handler functions; the
//! test plays the SQS event source mapping (receive a batch, call the worker, delete what it
//! did not report as failed, leave the rest to the visibility timeout and the redrive policy).
//!
//! These tests need the services, so they run only when `ROSTERSYNC_AWS_TESTS=1`:
//!
//! ```text
//! bash .ci/services.sh cargo test -p lambda      # .ci/services.sh sets it
//! ```
//!
//! Without it each test prints a notice and returns; with it set but no endpoints in the
//! environment, the tests fail saying so.

use app::secrets::{MemorySecrets, Secret, SecretError, SecretStore};
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use chrono::{TimeZone, Utc};
use domain::directory::{IndexKey, Record};
use domain::district::SourceConfig;
use domain::report::{Report, RunStatus};
use lambda::fetch::FetchEvent;
use lambda::{Config, Deps, SsmSecrets, drops, fetch, worker};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use store::memory::{ManualClock, MemoryDirectory, MemoryObjectStore, MemoryQueue, MemoryRuns};
use store::{Clock, Directory};
use store_aws::{AwsClients, AwsConfig, ResourceSpec, clients_from_env, create_resources};
use sync::pipeline::Ports;
use tower::ServiceExt;

const GATE: &str = "ROSTERSYNC_AWS_TESTS";
/// Visibility of a received batch: a failed message comes back after this.
const VISIBILITY: Duration = Duration::from_secs(2);

struct Env {
    clients: AwsClients,
    cfg: AwsConfig,
    deps: Deps,
    dir: tempfile::TempDir,
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 28, 2, 0, 0)
            .single()
            .unwrap(),
    ))
}

/// Fresh resources and handler deps, or `None` (with a notice) when the AWS tests are off.
async fn setup(label: &str, max_receives: u32) -> Option<Env> {
    if std::env::var(GATE).as_deref() != Ok("1") {
        eprintln!(
            "NOTICE: skipping Lambda end-to-end test `{label}`: set {GATE}=1 and run under \
             `bash .ci/services.sh cargo test -p lambda` (it starts moto and DynamoDB Local)"
        );
        return None;
    }
    for var in ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"] {
        assert!(
            std::env::var(var).is_ok_and(|v| !v.is_empty()),
            "{GATE}=1 but {var} is not set: run `bash .ci/services.sh cargo test -p lambda`"
        );
    }
    lambda::init_tracing();
    let clients = clients_from_env().await;
    let spec = ResourceSpec::unique(label).with_max_receives(max_receives);
    let cfg = create_resources(&clients, &spec)
        .await
        .unwrap_or_else(|e| panic!("creating test resources: {e}"));
    let config = Config {
        aws: cfg.clone(),
        ssm_prefix: format!("/{}/", spec.name),
        max_receives,
        fetch_queue_url: None,
    };
    let mut deps = Deps::new(&clients, lambda::ssm_client().await, config);
    deps.ports.clock = clock();
    Some(Env {
        clients,
        cfg,
        deps,
        dir: tempfile::tempdir().unwrap(),
    })
}

async fn teardown(env: &Env) {
    if let Err(e) = store_aws::delete_resources(&env.clients, &env.cfg).await {
        eprintln!("clean-up of {}: {e}", env.cfg.table);
    }
}

/// A synthetic district written as OneRoster CSV under `dir`.
fn write_district(dir: &Path, district: &str) -> std::path::PathBuf {
    let out = dir.join(district);
    let spec = synth::Spec {
        students: 60,
        seed: 11,
        district_id: district.to_string(),
        dirty: true,
    };
    synth::generate_to(&spec, synth::Format::OneRosterCsv, &out).unwrap();
    out
}

async fn connect(ports: &Ports, secrets: &dyn SecretStore, district: &str, path: &Path) {
    app::admin::connect(
        ports.runs.as_ref(),
        secrets,
        district,
        SourceConfig::OnerosterCsv {
            path: path.display().to_string(),
        },
        None,
    )
    .await
    .unwrap();
}

/// The same district synced by the local pipeline on the in-memory adapters.
async fn local_sync(path: &Path, district: &str) -> (Report, Vec<Record>) {
    let ports = Ports {
        objects: Arc::new(MemoryObjectStore::new()),
        queue: Arc::new(MemoryQueue::new(5)),
        directory: Arc::new(MemoryDirectory::new()),
        runs: Arc::new(MemoryRuns::new()),
        clock: clock(),
    };
    let secrets = MemorySecrets::default();
    connect(&ports, &secrets, district, path).await;
    let report = app::runs::sync_once(&ports, &secrets, district, false)
        .await
        .unwrap();
    (report, dump(ports.directory.as_ref(), district).await)
}

/// Every record of the district, versions zeroed, in key order.
async fn dump(dir: &dyn Directory, district: &str) -> Vec<Record> {
    let mut out = Vec::new();
    for kind in [
        "school",
        "classroom",
        "person",
        "enrollment",
        "guardian_link",
    ] {
        for mut r in sync::pipeline::query_all(dir, district, &IndexKey::kind(kind))
            .await
            .unwrap()
        {
            r.set_version(0);
            out.push(r);
        }
    }
    out.sort_by_key(|r| r.key());
    out
}

fn sqs_event(batch: &[store::Delivery]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = batch
        .iter()
        .map(|d| {
            let mut m = SqsMessage::default();
            m.message_id = Some(d.message_id.clone());
            m.receipt_handle = Some(d.receipt.clone());
            m.body = Some(d.body.clone());
            m.attributes = HashMap::from([(
                "ApproximateReceiveCount".to_string(),
                d.receive_count.to_string(),
            )]);
            m.event_source = Some("aws:sqs".into());
            m
        })
        .collect();
    event
}

/// Plays the SQS event source mapping until `done` says stop: receive a batch, hand it to the
/// worker (with `duplicate`, hand the same batch again reversed before acknowledging),
/// delete the messages it did not report as failed.
async fn drive(env: &Env, duplicate: bool, mut done: impl AsyncFnMut() -> bool) -> usize {
    let queue = env.deps.ports.queue.clone();
    let mut handled = 0;
    for _ in 0..400 {
        if done().await {
            return handled;
        }
        let batch = queue.receive(5, VISIBILITY).await.unwrap();
        if batch.is_empty() {
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        }
        handled += batch.len();
        let response = worker::handle(&env.deps, sqs_event(&batch)).await;
        let mut failed: BTreeSet<String> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        if duplicate {
            let mut reversed = batch.clone();
            reversed.reverse();
            let again = worker::handle(&env.deps, sqs_event(&reversed)).await;
            failed.extend(
                again
                    .batch_item_failures
                    .into_iter()
                    .map(|f| f.item_identifier),
            );
        }
        for d in &batch {
            if !failed.contains(&d.message_id) {
                // A receipt that expired meanwhile is redelivered and handled again: harmless.
                let _ = queue.ack(&d.receipt).await;
            }
        }
    }
    panic!("the queue did not settle");
}

/// The report and the directory of the AWS run `aws` equal the local pipeline's on the same
/// input (run ids aside); returns the AWS directory dump.
async fn assert_same_as_local(env: &Env, path: &Path, district: &str, aws: &Report) -> Vec<Record> {
    let (mut local, local_dump) = local_sync(path, district).await;
    let local_run = local.run_id.clone();
    local.run_id.clone_from(&aws.run_id);
    local.started_at = aws.started_at;
    local.finished_at = aws.finished_at;
    assert_eq!(
        aws, &local,
        "the AWS run reports what the local pipeline reports"
    );
    let aws_dump = dump(env.deps.ports.directory.as_ref(), district).await;
    assert_eq!(aws_dump.len(), local_dump.len());
    assert_eq!(
        serde_json::to_value(&aws_dump)
            .unwrap()
            .to_string()
            .replace(&aws.run_id, "RUN"),
        serde_json::to_value(&local_dump)
            .unwrap()
            .to_string()
            .replace(&local_run, "RUN"),
        "same directory"
    );
    aws_dump
}

async fn run_status(env: &Env, district: &str, run_id: &str) -> RunStatus {
    env.deps
        .ports
        .runs
        .get_run(district, run_id)
        .await
        .unwrap()
        .unwrap()
        .status
}

async fn report(env: &Env, district: &str, run_id: &str) -> Report {
    env.deps
        .ports
        .runs
        .get_report(district, run_id)
        .await
        .unwrap()
        .unwrap()
}

async fn start(env: &Env, district: &str) -> String {
    let out = fetch::handle(
        &env.deps,
        FetchEvent {
            district: district.into(),
            dry_run: false,
            trigger: Some("test".into()),
            resume_run: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(out.status, "planning", "{out:?}");
    out.run_id.unwrap()
}

#[tokio::test]
async fn fetch_then_worker_batches_match_the_local_pipeline_and_the_api_serves_the_report() {
    let Some(env) = setup("e2e", 5).await else {
        return;
    };
    let path = write_district(env.dir.path(), "d1");
    connect(&env.deps.ports, env.deps.secrets.as_ref(), "d1", &path).await;

    let run_id = start(&env, "d1").await;
    // Every batch is handed over twice (the second time reversed) before it is acknowledged.
    let handled = drive(&env, true, async || {
        run_status(&env, "d1", &run_id).await.is_final()
    })
    .await;
    assert!(
        handled > 3,
        "plan, district, apply and finish messages: {handled}"
    );

    let aws = report(&env, "d1", &run_id).await;
    assert!(
        matches!(
            aws.status,
            RunStatus::Succeeded | RunStatus::CompletedWithWarnings
        ),
        "{aws:?}"
    );
    assert!(aws.totals.0.values().any(|c| c.created > 0), "{aws:?}");
    let aws_dump = assert_same_as_local(&env, &path, "d1", &aws).await;

    // Late duplicates of the whole run change nothing.
    for body in [
        format!(r#"{{"type":"district","v":1,"district":"d1","run_id":"{run_id}"}}"#),
        format!(r#"{{"type":"finish","v":1,"district":"d1","run_id":"{run_id}"}}"#),
    ] {
        env.deps.ports.queue.send(&body).await.unwrap();
    }
    // Drain what is left (finish messages re-sent by duplicate applies, and the two above),
    // each batch twice, reversed the second time: no failure, nothing changes.
    let queue = env.deps.ports.queue.clone();
    let mut late = 0;
    let mut empty = 0;
    while empty < 3 {
        let mut batch = queue.receive(10, VISIBILITY).await.unwrap();
        if batch.is_empty() {
            empty += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        late += batch.len();
        for _ in 0..2 {
            batch.reverse();
            let response = worker::handle(&env.deps, sqs_event(&batch)).await;
            assert!(response.batch_item_failures.is_empty(), "{response:?}");
        }
        for d in &batch {
            let _ = queue.ack(&d.receipt).await;
        }
    }
    assert!(late >= 2, "{late}");
    assert_eq!(report(&env, "d1", &run_id).await, aws);
    assert_eq!(
        dump(env.deps.ports.directory.as_ref(), "d1").await,
        aws_dump
    );

    // The api function: the report with a valid token, 401 without.
    let token = api::create_token(env.deps.ports.objects.as_ref(), "d1", true)
        .await
        .unwrap();
    let router = lambda::http::router(&env.deps);
    let path = format!("/v1/districts/d1/runs/{run_id}");
    let (status, body) = call_api(&router, &path, Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    let served: Report = serde_json::from_str(&body).unwrap();
    assert_eq!(served, aws);
    let (status, body) = call_api(&router, &path, None).await;
    assert_eq!(status, 401, "{body}");
    let (status, _) = call_api(&router, &path, Some("rs_not-a-token")).await;
    assert_eq!(status, 401);

    teardown(&env).await;
}

/// An API Gateway HTTP API (payload 2.0) request as AWS sends it, through `lambda_http`'s own
/// conversion, to the router.
async fn call_api(router: &axum::Router, path: &str, token: Option<&str>) -> (u16, String) {
    let mut headers = serde_json::json!({
        "accept": "application/json",
        "host": "abc123.execute-api.us-east-1.amazonaws.com",
        "user-agent": "curl/8.5.0",
    });
    if let Some(t) = token {
        headers["authorization"] = format!("Bearer {t}").into();
    }
    let event = serde_json::json!({
        "version": "2.0",
        "routeKey": "ANY /{proxy+}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": "GET",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "curl/8.5.0"
            },
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "routeKey": "ANY /{proxy+}",
            "stage": "$default",
            "time": "28/Nov/2026:02:00:00 +0000",
            "timeEpoch": 1795831200000u64
        },
        "pathParameters": {"proxy": path.trim_start_matches('/')},
        "isBase64Encoded": false
    });
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 10 << 20)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn poison_messages_reach_the_dead_letter_queue_and_fail_their_run() {
    let max_receives = 2;
    let Some(env) = setup("poison", max_receives).await else {
        return;
    };
    let path = write_district(env.dir.path(), "d2");
    connect(&env.deps.ports, env.deps.secrets.as_ref(), "d2", &path).await;
    let run_id = start(&env, "d2").await;
    let bad_version =
        format!(r#"{{"type":"plan","v":99,"district":"d2","run_id":"{run_id}","school":"k9"}}"#);
    let queue = env.deps.ports.queue.clone();
    queue.send(&bad_version).await.unwrap();
    queue.send("{not json").await.unwrap();

    drive(&env, false, async || {
        run_status(&env, "d2", &run_id).await.is_final()
            && queue.dead_letters().await.unwrap().len() == 2
    })
    .await;

    let mut dead = queue.dead_letters().await.unwrap();
    dead.sort();
    assert_eq!(dead, vec![bad_version, "{not json".to_string()]);
    let report = report(&env, "d2", &run_id).await;
    assert_eq!(report.status, RunStatus::Failed, "{report:?}");
    assert_eq!(report.reason, Some(domain::FailureReason::InvalidInput));
    let error = report
        .errors
        .iter()
        .find(|e| e.code == domain::IssueCode::DeadLetter)
        .unwrap_or_else(|| panic!("no dead-letter error in {:?}", report.errors));
    assert!(
        error.message.contains("plan message of school k9"),
        "{error:?}"
    );
    assert!(
        error.message.contains("unsupported message version 99"),
        "{error:?}"
    );
    teardown(&env).await;
}

#[tokio::test]
async fn a_drop_event_delivered_twice_is_ingested_once() {
    let Some(env) = setup("drop", 5).await else {
        return;
    };
    let path = write_district(env.dir.path(), "d3");
    connect(&env.deps.ports, env.deps.secrets.as_ref(), "d3", &path).await;
    let objects = env.deps.ports.objects.clone();
    let prefix = "districts/d3/drops/2026-11-28 0200/";
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&path).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let body = std::fs::read(entry.path()).unwrap();
        files.push(serde_json::json!({"name": name, "size": body.len()}));
        objects
            .put(&format!("{prefix}files/{name}"), body)
            .await
            .unwrap();
    }
    let marker = serde_json::json!({
        "v": 1, "district": "d3", "drop_id": "2026-11-28 0200", "kind": "roster",
        "format": "oneroster-csv", "remote": "/outbox", "files": files,
        "fetched_at": "2026-11-28T02:00:00Z"
    });
    objects
        .put(
            &format!("{prefix}_complete.json"),
            marker.to_string().into_bytes(),
        )
        .await
        .unwrap();

    // As S3 sends it: URL-encoded, `+` for the space.
    let key = "districts/d3/drops/2026-11-28+0200/_complete.json";
    let bucket = env.cfg.bucket.clone();
    let eventbridge = serde_json::json!({
        "version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created", "source": "aws.s3", "account": "123456789012",
        "time": "2026-11-28T02:00:01Z", "region": "us-east-1",
        "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": {
            "version": "0", "bucket": {"name": bucket},
            "object": {"key": key, "size": 420, "etag": "b1946ac92492d2347c6235b4d2611184", "sequencer": "00617F08299329D189"},
            "request-id": "N4N7GDK58NMKJ12R", "requester": "123456789012",
            "source-ip-address": "192.0.2.1", "reason": "PutObject"
        }
    });
    let notification = serde_json::json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-28T02:00:01.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "192.0.2.1"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8"},
        "s3": {
            "s3SchemaVersion": "1.0", "configurationId": "drops",
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": "A3NL1KOZZKExample"}, "arn": format!("arn:aws:s3:::{bucket}")},
            "object": {"key": key, "size": 420, "eTag": "b1946ac92492d2347c6235b4d2611184", "sequencer": "0055AED6DCD90281E5"}
        }
    }]});

    let first = drops::handle(&env.deps, eventbridge.clone()).await.unwrap();
    assert_eq!(first.objects.len(), 1, "{first:?}");
    assert_eq!(first.objects[0].outcome, "started", "{first:?}");
    assert_eq!(
        first.objects[0].key,
        "districts/d3/drops/2026-11-28 0200/_complete.json"
    );
    let run_id = first.objects[0].run_id.clone().unwrap();
    for again in [eventbridge, notification] {
        let out = drops::handle(&env.deps, again).await.unwrap();
        assert_eq!(out.objects[0].outcome, "duplicate", "{out:?}");
        assert_eq!(out.objects[0].run_id.as_deref(), Some(run_id.as_str()));
    }
    // A drop's own files and markers are not drops.
    let file_event = serde_json::json!({"detail-type": "Object Created", "detail": {
        "bucket": {"name": env.cfg.bucket}, "object": {"key": "districts/d3/drops/2026-11-28+0200/ingested.json"}}});
    let out = drops::handle(&env.deps, file_event).await.unwrap();
    assert_eq!(out.objects[0].outcome, "ignored");

    drive(&env, false, async || {
        run_status(&env, "d3", &run_id).await.is_final()
    })
    .await;
    let runs = env.deps.ports.runs.list_runs("d3", None, 10).await.unwrap();
    assert_eq!(runs.len(), 1, "one run for the drop: {runs:?}");
    let report = report(&env, "d3", &run_id).await;
    assert!(
        matches!(
            report.status,
            RunStatus::Succeeded | RunStatus::CompletedWithWarnings
        ),
        "{report:?}"
    );
    teardown(&env).await;
}

#[tokio::test]
async fn ssm_secrets_round_trip_and_name_what_is_missing() {
    let Some(env) = setup("ssm", 2).await else {
        return;
    };
    let secrets = SsmSecrets::new(lambda::ssm_client().await, &env.deps.config.ssm_prefix);
    let name = app::admin::secret_name("d4");
    assert!(matches!(
        secrets.get(&name).await,
        Err(SecretError::Missing(p)) if p == format!("{}districts/d4/source", env.deps.config.ssm_prefix)
    ));
    secrets
        .put(&name, &Secret::new("s3cr3t-value"))
        .await
        .unwrap();
    secrets
        .put(&name, &Secret::new("s3cr3t-value-2"))
        .await
        .unwrap();
    assert_eq!(secrets.get(&name).await.unwrap().expose(), "s3cr3t-value-2");
    teardown(&env).await;
}

/// Two worker invocations at once on every batch (one in delivery order, one reversed), so
/// two workers race on the same school's plan, apply and finish messages; a copy of every
/// third message is held back and delivered again later (a delayed duplicate, after the run
/// has moved on or ended). The directory and the report are exactly the single local run's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_racing_on_each_school_converge_on_the_single_run_directory() {
    let Some(env) = setup("race", 10).await else {
        return;
    };
    let path = write_district(env.dir.path(), "d3");
    connect(&env.deps.ports, env.deps.secrets.as_ref(), "d3", &path).await;
    let run_id = start(&env, "d3").await;

    let queue = env.deps.ports.queue.clone();
    let mut delayed: Vec<String> = Vec::new();
    let (mut handled, mut raced_failures) = (0usize, 0usize);
    for round in 0.. {
        assert!(round < 400, "the queue did not settle");
        let final_run = run_status(&env, "d3", &run_id).await.is_final();
        let batch = queue.receive(5, VISIBILITY).await.unwrap();
        if batch.is_empty() {
            match delayed.pop() {
                Some(body) => {
                    queue.send(&body).await.unwrap();
                }
                None if final_run => break,
                None => tokio::time::sleep(Duration::from_millis(250)).await,
            }
            continue;
        }
        for (i, d) in batch.iter().enumerate() {
            if (handled + i) % 3 == 0 {
                delayed.push(d.body.clone());
            }
        }
        handled += batch.len();
        let mut reversed = batch.clone();
        reversed.reverse();
        let (a, b) = (env.deps.clone(), env.deps.clone());
        let (ea, eb) = (sqs_event(&batch), sqs_event(&reversed));
        let first = tokio::spawn(async move { worker::handle(&a, ea).await });
        let second = tokio::spawn(async move { worker::handle(&b, eb).await });
        let (first, second) = (first.await.unwrap(), second.await.unwrap());
        let failed: BTreeSet<String> = first
            .batch_item_failures
            .into_iter()
            .chain(second.batch_item_failures)
            .map(|f| f.item_identifier)
            .collect();
        raced_failures += failed.len();
        for d in &batch {
            if !failed.contains(&d.message_id) {
                let _ = queue.ack(&d.receipt).await;
            }
        }
    }
    eprintln!(
        "race: {handled} deliveries handled twice at once, {raced_failures} lost races retried"
    );
    assert!(handled > 6, "{handled}");
    assert!(queue.dead_letters().await.unwrap().is_empty());

    let aws = report(&env, "d3", &run_id).await;
    assert_same_as_local(&env, &path, "d3", &aws).await;
    teardown(&env).await;
}
