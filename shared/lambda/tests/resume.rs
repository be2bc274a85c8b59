//! Checkpoint and continue (`lambda::resume`, `lambda::fetch::handle_within`): a Clever and a
//! OneRoster REST fetch whose invocations have no time left (a deadline already past: one page
//! per invocation) go on through continuations on the function's queue, survive a duplicate
//! continuation and a retried scheduled event (a crash), and stage exactly what a one-shot
//! fetch stages: the same raw pages, the same manifest and shards.
//!
//! The fake servers are `testkit`'s; the ports are the in-memory adapters (the continuation
//! queue is a `MemoryQueue`, played as the SQS event source of the function).

use app::secrets::{MemorySecrets, SecretStore};
use chrono::{TimeZone, Utc};
use domain::district::SourceConfig;
use domain::report::Report;
use lambda::fetch::{Budget, FetchEvent, FetchOutput, handle_within};
use lambda::resume::Checkpoint;
use lambda::{Config, Deps};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use store::ObjectStore;
use store::memory::{ManualClock, MemoryDirectory, MemoryObjectStore, MemoryQueue, MemoryRuns};
use sync::pipeline::Ports;
use testkit::{CleverOptions, CleverServer, OneRosterOptions, OneRosterServer};

const D: &str = "d-resume";

fn ports() -> Ports {
    Ports {
        objects: Arc::new(MemoryObjectStore::new()),
        queue: Arc::new(MemoryQueue::new(5)),
        directory: Arc::new(MemoryDirectory::new()),
        runs: Arc::new(MemoryRuns::new()),
        clock: Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 11, 28, 2, 0, 0)
                .single()
                .unwrap(),
        )),
    }
}

async fn deps(source: &SourceConfig, secret: &str) -> Deps {
    let ports = ports();
    let secrets = Arc::new(MemorySecrets::default());
    app::admin::connect(
        ports.runs.as_ref(),
        secrets.as_ref() as &dyn SecretStore,
        D,
        source.clone(),
        Some(app::secrets::Secret::new(secret)),
    )
    .await
    .unwrap();
    Deps {
        ports,
        secrets,
        config: Config {
            aws: store_aws::AwsConfig {
                bucket: "unused".into(),
                queue_url: "unused".into(),
                dlq_url: "unused".into(),
                table: "unused".into(),
            },
            ssm_prefix: "/rostersync/".into(),
            max_receives: 3,
            fetch_queue_url: Some("memory".into()),
        },
        continuations: Some(Arc::new(MemoryQueue::new(5))),
    }
}

/// No time left at all: every invocation reads exactly one page.
fn exhausted() -> Budget {
    Budget {
        deadline: Some(SystemTime::UNIX_EPOCH),
        page_margin: Duration::from_secs(60),
        stage_margin: Duration::from_secs(600),
    }
}

fn scheduled() -> FetchEvent {
    FetchEvent {
        district: D.into(),
        dry_run: false,
        trigger: Some("schedule".into()),
        resume_run: None,
    }
}

/// Plays the function's SQS event source: delivers every continuation until the run is staged.
/// Delivers the third continuation twice, and at the fifth plays a crash (the invocation's
/// work is lost before its continuation was sent; the scheduler retries the original event).
/// Returns the final output and the number of invocations.
async fn drive(deps: &Deps) -> (FetchOutput, u32) {
    let queue = deps.continuations.clone().unwrap();
    let mut out = handle_within(deps, scheduled(), exhausted()).await.unwrap();
    let mut invocations = 1;
    while out.status == "fetching" {
        assert!(invocations < 500, "the fetch does not end: {out:?}");
        let batch = queue.receive(10, Duration::from_secs(30)).await.unwrap();
        assert_eq!(batch.len(), 1, "one continuation at a time: {out:?}");
        let d = &batch[0];
        queue.ack(&d.receipt).await.unwrap();
        let event: FetchEvent = serde_json::from_str(&d.body).unwrap();
        assert_eq!(event.resume_run, out.run_id);
        if invocations == 5 {
            // A crash: the continuation is lost; the retried scheduled event resumes the same
            // run from its checkpoint instead of starting another.
            out = handle_within(deps, scheduled(), exhausted()).await.unwrap();
            assert_eq!(
                out.run_id, event.resume_run,
                "a retried event resumes the run"
            );
        } else {
            out = handle_within(deps, event.clone(), exhausted())
                .await
                .unwrap();
        }
        invocations += 1;
        if invocations == 3 {
            // The same continuation again (SQS at-least-once): it finds the checkpoint past it
            // and reads the next page; the duplicate of its continuation is dropped below.
            let again = handle_within(deps, event, exhausted()).await.unwrap();
            assert_eq!(again.run_id, out.run_id);
            invocations += 1;
            if again.status == "fetching" {
                let extra = queue.receive(10, Duration::from_secs(30)).await.unwrap();
                assert_eq!(extra.len(), 2, "both continuations are queued");
                queue.ack(&extra[1].receipt).await.unwrap();
                queue.release(&extra[0].receipt).await.unwrap();
            }
        }
    }
    // A continuation delivered after staging changes nothing.
    let late = FetchEvent {
        resume_run: out.run_id.clone(),
        ..scheduled()
    };
    let again = handle_within(deps, late, exhausted()).await.unwrap();
    assert_eq!(again.status, out.status);
    assert!(
        queue
            .receive(10, Duration::from_secs(1))
            .await
            .unwrap()
            .is_empty()
    );
    (out, invocations)
}

/// Runs a fetch one page per invocation, each continuation delivered once and in order.
/// Returns the final output and the number of invocations.
async fn drive_in_order(deps: &Deps) -> (FetchOutput, u32) {
    let queue = deps.continuations.clone().unwrap();
    let mut out = handle_within(deps, scheduled(), exhausted()).await.unwrap();
    let mut invocations = 1;
    while out.status == "fetching" {
        let batch = queue.receive(1, Duration::from_secs(30)).await.unwrap();
        queue.ack(&batch[0].receipt).await.unwrap();
        let event: FetchEvent = serde_json::from_str(&batch[0].body).unwrap();
        out = handle_within(deps, event, exhausted()).await.unwrap();
        invocations += 1;
    }
    (out, invocations)
}

/// Every object of a run (checkpoint excepted), keyed relative to the run, run id replaced.
async fn run_objects(objects: &dyn ObjectStore, run_id: &str) -> Vec<(String, String)> {
    let prefix = format!("districts/{D}/runs/{run_id}/");
    let mut out = Vec::new();
    for meta in objects.list(&prefix).await.unwrap() {
        let rel = meta.key[prefix.len()..].to_string();
        if rel.starts_with("fetch/") {
            continue;
        }
        let body = objects.get(&meta.key).await.unwrap();
        let text = String::from_utf8_lossy(&body).replace(run_id, "RUN");
        out.push((rel, text));
    }
    out.sort();
    out
}

/// The checkpointed fetch and the one-shot fetch (`app::runs::start`) of the same server stage
/// the same run; returns the number of invocations the checkpointed one took.
async fn same_as_one_shot(source: SourceConfig, secret: &str) -> u32 {
    let one_shot = deps(&source, secret).await;
    let started = app::runs::start(&one_shot.ports, one_shot.secrets.as_ref(), D, false)
        .await
        .unwrap();
    let app::runs::Started::Staged(expected_run) = started else {
        panic!("one-shot fetch did not stage: {started:?}");
    };

    let resumed = deps(&source, secret).await;
    let (out, invocations) = drive(&resumed).await;
    assert_eq!(out.status, "planning", "{out:?}");
    let run_id = out.run_id.unwrap();
    let cp = Checkpoint::load(resumed.ports.objects.as_ref(), D, &run_id)
        .await
        .unwrap()
        .unwrap();
    assert!(cp.is_complete());
    assert!(cp.invocations >= 4, "{cp:?}");
    eprintln!(
        "resume: {:?} fetch of {} pages in {invocations} invocations ({} that read pages)",
        cp.api,
        cp.pages(),
        cp.invocations
    );

    let expected = run_objects(one_shot.ports.objects.as_ref(), &expected_run.run_id).await;
    let got = run_objects(resumed.ports.objects.as_ref(), &run_id).await;
    let names = |v: &[(String, String)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&got), names(&expected));
    assert!(got.iter().any(|(n, _)| n == "staged/manifest.json"));
    assert!(got.iter().filter(|(n, _)| n.starts_with("raw/")).count() >= 8);
    for ((name, a), (_, b)) in got.iter().zip(&expected) {
        assert!(a == b, "{name} differs from the one-shot fetch's");
    }
    // The district's pointer to its unfinished fetch is gone: the next event starts anew.
    assert!(
        resumed
            .ports
            .objects
            .get(&format!("districts/{D}/fetch/current.json"))
            .await
            .is_err()
    );
    invocations
}

fn district(students: usize) -> domain::Roster {
    synth::generate(&synth::Spec {
        students,
        seed: 7,
        district_id: D.into(),
        dirty: true,
    })
}

const TOKEN: &str = "resume-clever-token-8a1d";

/// A fake Clever serving a synthetic district of `students`, and the source pointing at it.
async fn clever(students: usize, faults: testkit::Faults) -> (CleverServer, SourceConfig) {
    let server = CleverServer::start(
        &district(students),
        CleverOptions {
            token: TOKEN.into(),
            faults,
            ..CleverOptions::default()
        },
    )
    .await
    .unwrap();
    let source = SourceConfig::Clever {
        base_url: server.base_url(),
        version: Some("v3.1".into()),
        secret_ref: app::admin::secret_name(D),
    };
    (server, source)
}

#[tokio::test]
async fn a_clever_fetch_continued_page_by_page_stages_what_a_one_shot_fetch_stages() {
    let (_server, source) = clever(2_200, testkit::Faults::default()).await;
    let invocations = same_as_one_shot(source, TOKEN).await;
    // Users span several pages of 1,000: continuations happened inside an endpoint too.
    assert!(invocations >= 9, "{invocations} invocations");
}

#[tokio::test]
async fn a_oneroster_fetch_continued_page_by_page_stages_what_a_one_shot_fetch_stages() {
    let (id, secret) = ("resume-client", "resume-oneroster-secret-41c7");
    let roster = synth::project(&district(300), synth::Format::OneRosterCsv);
    let server = OneRosterServer::start(
        &roster,
        OneRosterOptions {
            oauth2: Some((id.into(), secret.into())),
            // Short pages with X-Total-Count: the offset is carried across invocations.
            max_limit: Some(150),
            ..OneRosterOptions::default()
        },
    )
    .await
    .unwrap();
    let source = SourceConfig::OnerosterApi {
        base_url: server.base_url(),
        client_id: id.into(),
        auth: "oauth2".into(),
        token_url: Some(server.token_url()),
        signature: None,
        secret_ref: app::admin::secret_name(D),
    };
    let invocations = same_as_one_shot(source, secret).await;
    assert!(invocations >= 12, "{invocations} invocations");
}

#[tokio::test]
async fn a_fetch_with_time_left_stages_in_one_invocation() {
    let (_server, source) = clever(50, testkit::Faults::default()).await;
    let deps = deps(&source, TOKEN).await;
    let budget = Budget {
        deadline: Some(SystemTime::now() + Duration::from_secs(3600)),
        ..exhausted()
    };
    let out = handle_within(&deps, scheduled(), budget).await.unwrap();
    assert_eq!(out.status, "planning", "{out:?}");
    let queue = deps.continuations.clone().unwrap();
    assert!(
        queue
            .receive(10, Duration::from_secs(1))
            .await
            .unwrap()
            .is_empty()
    );
}

/// A page-by-page fetch of a fake Clever with `faults` that must fail: its report and the
/// number of invocations.
async fn failed_fetch(students: usize, faults: testkit::Faults) -> (Report, u32) {
    let (_server, source) = clever(students, faults).await;
    let deps = deps(&source, TOKEN).await;
    let (out, invocations) = drive_in_order(&deps).await;
    assert_eq!(out.status, "failed", "{out:?}");
    let report = deps
        .ports
        .runs
        .get_report(D, out.run_id.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    (report, invocations)
}

#[tokio::test]
async fn a_source_error_mid_fetch_fails_the_run_with_its_path() {
    let faults = testkit::Faults {
        unauthorized_at: Some(3),
        ..testkit::Faults::default()
    };
    let (report, _) = failed_fetch(50, faults).await;
    assert_eq!(report.reason, Some(domain::FailureReason::WrongCredentials));
    assert_eq!(report.errors[0].location, "/v3.1/users?limit=1000");
}

#[tokio::test]
async fn a_next_link_that_loops_fails_a_fetch_continued_page_by_page() {
    // More users than one page of 1000, so `users` has a second page that links back.
    let faults = testkit::Faults {
        loop_next: true,
        ..testkit::Faults::default()
    };
    let (report, invocations) = failed_fetch(1200, faults).await;
    assert!(invocations > 3, "one page per invocation: {invocations}");
    assert_eq!(report.reason, Some(domain::FailureReason::InvalidInput));
    assert_eq!(report.errors[0].code.as_str(), "invalid_response");
    assert!(
        report.errors[0]
            .location
            .starts_with("/v3.1/users?limit=1000&starting_after="),
        "{:?}",
        report.errors[0]
    );
    assert!(
        report.errors[0].message.contains("paging loop"),
        "{:?}",
        report.errors[0]
    );
}
