//! The bench scenarios on the AWS adapters (S3, SQS, DynamoDB; moto and DynamoDB Local): a
//! first sync of a generated OneRoster CSV district, the next night (`synth::next_night`) and
//! the same night again (no change), each with what it cost in requests, messages and capacity
//! units as the adapters count them (`store_aws::AwsMeter`), S3 requests by kind (counted at
//! the object-store port), and the directory writes. Shared by the gated integration test
//! (`tests/tests/aws_counts`) and the `aws_counts` example (larger sizes, cost estimate).

use app::secrets::MemorySecrets;
use async_trait::async_trait;
use domain::district::SourceConfig;
use domain::report::{Report, RunStatus};
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use store::{ObjectMeta, ObjectStore};
use store_aws::{MeterSnapshot, ResourceSpec, clients_from_env, create_resources};
use sync::pipeline::Ports;

/// Object-store calls by S3 request kind.
#[derive(Default)]
pub struct S3Kinds {
    put: AtomicU64,
    get: AtomicU64,
    list: AtomicU64,
    delete: AtomicU64,
}

/// An object store that counts its calls by kind, around the S3 adapter.
pub struct Counted<O> {
    inner: O,
    kinds: Arc<S3Kinds>,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

#[async_trait]
impl<O: ObjectStore> ObjectStore for Counted<O> {
    async fn put(&self, key: &str, body: Vec<u8>) -> store::Result<()> {
        bump(&self.kinds.put);
        self.inner.put(key, body).await
    }
    async fn put_if_absent(&self, key: &str, body: Vec<u8>) -> store::Result<()> {
        bump(&self.kinds.put);
        self.inner.put_if_absent(key, body).await
    }
    async fn get(&self, key: &str) -> store::Result<Vec<u8>> {
        bump(&self.kinds.get);
        self.inner.get(key).await
    }
    async fn list(&self, prefix: &str) -> store::Result<Vec<ObjectMeta>> {
        bump(&self.kinds.list);
        self.inner.list(prefix).await
    }
    async fn delete(&self, key: &str) -> store::Result<()> {
        bump(&self.kinds.delete);
        self.inner.delete(key).await
    }
}

/// What one scenario cost on AWS.
#[derive(Debug, Clone, Serialize)]
pub struct Counts {
    pub scenario: String,
    pub students: usize,
    /// S3 calls by kind at the port (a list of more than 1,000 keys is several requests).
    pub s3_put: u64,
    pub s3_get: u64,
    pub s3_list: u64,
    pub s3_delete: u64,
    /// S3 HTTP requests as the SDK sent them (retries and list pages included).
    pub s3_requests: u64,
    pub sqs_requests: u64,
    pub sqs_messages: u64,
    pub dynamodb_requests: u64,
    pub dynamodb_rcu: f64,
    pub dynamodb_wcu: f64,
    pub directory_writes: u64,
    pub seconds: f64,
    #[serde(skip)]
    pub report: Option<Report>,
}

/// The three scenarios and what the churn expected of the next night.
pub struct Outcome {
    pub scenarios: Vec<Counts>,
    pub churn: synth::Churn,
}

const DISTRICT: &str = "bench";

/// Runs first sync, next night and no change on fresh AWS resources (deleted afterwards), and
/// checks the next night against the churn and the no-change run against zero writes.
pub async fn run(students: usize, work: &Path) -> anyhow::Result<Outcome> {
    let roster = synth::generate(&synth::Spec {
        students,
        seed: 1,
        district_id: DISTRICT.into(),
        dirty: true,
    });
    let churn = synth::next_night(&roster, &synth::NextNight::default());
    let feed = work.join("feed");
    synth::write(&roster, synth::Format::OneRosterCsv, &feed)?;
    drop(roster);

    let clients = clients_from_env().await;
    let cfg = create_resources(&clients, &ResourceSpec::unique("bench"))
        .await
        .map_err(|e| anyhow::anyhow!("creating AWS resources: {e}"))?;
    let kinds = Arc::new(S3Kinds::default());
    let ports = Ports {
        objects: Arc::new(Counted {
            inner: clients.object_store(&cfg),
            kinds: kinds.clone(),
        }),
        queue: Arc::new(clients.queue(&cfg)),
        directory: Arc::new(clients.directory(&cfg)),
        runs: Arc::new(clients.runs(&cfg)),
        clock: Arc::new(store::SystemClock),
    };
    let secrets = MemorySecrets::default();
    let result = async {
        app::admin::connect(
            ports.runs.as_ref(),
            &secrets,
            DISTRICT,
            SourceConfig::OnerosterCsv {
                path: feed.display().to_string(),
            },
            None,
        )
        .await?;
        let mut scenarios = Vec::new();
        for scenario in ["first sync", "next night", "no change"] {
            if scenario == "next night" {
                std::fs::remove_dir_all(&feed)?;
                synth::write(&churn.roster, synth::Format::OneRosterCsv, &feed)?;
            }
            let (m0, k0, w0) = (
                clients.meter.snapshot(),
                snap(&kinds),
                ports.directory.writes_count(),
            );
            let started = std::time::Instant::now();
            let report = app::runs::sync_once(&ports, &secrets, DISTRICT, false).await?;
            let seconds = started.elapsed().as_secs_f64();
            if !matches!(
                report.status,
                RunStatus::Succeeded | RunStatus::CompletedWithWarnings
            ) {
                anyhow::bail!("{scenario}: the run ended {}", report.status.as_str());
            }
            let (m1, k1) = (clients.meter.snapshot(), snap(&kinds));
            scenarios.push(counts(
                scenario,
                students,
                (m0, m1),
                (k0, k1),
                ports.directory.writes_count() - w0,
                seconds,
                report,
            ));
        }
        anyhow::Ok(scenarios)
    }
    .await;
    if let Err(e) = store_aws::delete_resources(&clients, &cfg).await {
        eprintln!("clean-up of {}: {e}", cfg.table);
    }
    let scenarios = result?;
    check(&scenarios, &churn)?;
    Ok(Outcome { scenarios, churn })
}

fn snap(k: &S3Kinds) -> [u64; 4] {
    [&k.put, &k.get, &k.list, &k.delete].map(|c| c.load(Ordering::Relaxed))
}

fn counts(
    scenario: &str,
    students: usize,
    (m0, m1): (MeterSnapshot, MeterSnapshot),
    (k0, k1): ([u64; 4], [u64; 4]),
    directory_writes: u64,
    seconds: f64,
    report: Report,
) -> Counts {
    Counts {
        scenario: scenario.to_string(),
        students,
        s3_put: k1[0] - k0[0],
        s3_get: k1[1] - k0[1],
        s3_list: k1[2] - k0[2],
        s3_delete: k1[3] - k0[3],
        s3_requests: m1.s3_requests - m0.s3_requests,
        sqs_requests: m1.sqs_requests - m0.sqs_requests,
        sqs_messages: m1.sqs_messages - m0.sqs_messages,
        dynamodb_requests: m1.dynamodb_requests - m0.dynamodb_requests,
        dynamodb_rcu: m1.dynamodb_rcu - m0.dynamodb_rcu,
        dynamodb_wcu: m1.dynamodb_wcu - m0.dynamodb_wcu,
        directory_writes,
        seconds,
        report: Some(report),
    }
}

/// The next night reports and writes exactly the churn; the same night again writes nothing.
fn check(scenarios: &[Counts], churn: &synth::Churn) -> anyhow::Result<()> {
    let totals = |i: usize| {
        scenarios[i]
            .report
            .as_ref()
            .map(|r| r.totals.clone())
            .unwrap_or_default()
    };
    let wrong = churn.expected.mismatches(&totals(1));
    anyhow::ensure!(
        wrong.is_empty(),
        "AWS next night: the report differs from the churn: {}",
        wrong.join("; ")
    );
    anyhow::ensure!(
        scenarios[1].directory_writes == churn.expected.writes(),
        "AWS next night: {} directory writes, the churn changed {} records",
        scenarios[1].directory_writes,
        churn.expected.writes()
    );
    let wrong = synth::Expected::default().mismatches(&totals(2));
    anyhow::ensure!(
        wrong.is_empty() && scenarios[2].directory_writes == 0,
        "AWS no change: {} directory writes; {}",
        scenarios[2].directory_writes,
        wrong.join("; ")
    );
    Ok(())
}

/// AWS list prices, us-east-1, as published on the S3, SQS and DynamoDB pricing pages
/// (DynamoDB on-demand after the November 2024 reduction), in dollars; free tiers ignored.
pub mod price {
    /// S3 Standard PUT, COPY, POST, LIST: per request ($0.005 per 1,000).
    pub const S3_PUT_LIST: f64 = 0.005 / 1000.0;
    /// S3 Standard GET and others: per request ($0.0004 per 1,000). DELETE is free.
    pub const S3_GET: f64 = 0.0004 / 1000.0;
    /// SQS standard queue: per request, each 64 KB chunk of a request ($0.40 per million).
    pub const SQS_REQUEST: f64 = 0.40 / 1_000_000.0;
    /// DynamoDB on-demand write request unit ($0.625 per million).
    pub const DDB_WRU: f64 = 0.625 / 1_000_000.0;
    /// DynamoDB on-demand read request unit ($0.125 per million).
    pub const DDB_RRU: f64 = 0.125 / 1_000_000.0;
}

/// Dollars one run of a scenario costs in S3, SQS and DynamoDB requests (no storage, no
/// Lambda compute).
pub fn run_cost(c: &Counts) -> f64 {
    // S3 requests beyond the port calls (list pages, retries) are billed as LIST/PUT class.
    let extra = c
        .s3_requests
        .saturating_sub(c.s3_put + c.s3_get + c.s3_list + c.s3_delete);
    (c.s3_put + c.s3_list + extra) as f64 * price::S3_PUT_LIST
        + c.s3_get as f64 * price::S3_GET
        + c.sqs_requests as f64 * price::SQS_REQUEST
        + c.dynamodb_wcu * price::DDB_WRU
        + c.dynamodb_rcu * price::DDB_RRU
}

/// The counts as a table.
pub fn table(scenarios: &[Counts]) -> String {
    let mut s = format!(
        "{:<11} {:>8} {:>7} {:>7} {:>6} {:>6} {:>7} {:>8} {:>9} {:>10} {:>10} {:>8} {:>10}\n",
        "scenario",
        "students",
        "S3 put",
        "S3 get",
        "list",
        "delete",
        "S3 req",
        "SQS req",
        "DDB req",
        "DDB RCU",
        "DDB WCU",
        "writes",
        "$ per run"
    );
    for c in scenarios {
        s.push_str(&format!(
            "{:<11} {:>8} {:>7} {:>7} {:>6} {:>6} {:>7} {:>8} {:>9} {:>10.1} {:>10.1} {:>8} {:>10.5}\n",
            c.scenario,
            c.students,
            c.s3_put,
            c.s3_get,
            c.s3_list,
            c.s3_delete,
            c.s3_requests,
            c.sqs_requests,
            c.dynamodb_requests,
            c.dynamodb_rcu,
            c.dynamodb_wcu,
            c.directory_writes,
            run_cost(c)
        ));
    }
    s
}
