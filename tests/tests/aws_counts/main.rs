//! The bench scenarios on the AWS adapters (moto for S3 and SQS, DynamoDB Local), counted:
//! a no-change run writes no directory item and the next night writes exactly the records the
//! churn changed (checked in `counts::run`), with the requests and capacity units each took.
//!
//! Needs the services, so it runs only when `ROSTERSYNC_AWS_TESTS=1`
//! (`bash .ci/services.sh cargo test -p integration --test aws_counts`); otherwise it prints a
//! notice and returns. Larger sizes and the cost estimate: the `aws_counts` example.

mod counts;

const GATE: &str = "ROSTERSYNC_AWS_TESTS";

#[tokio::test]
async fn aws_next_night_writes_only_the_churn() {
    if std::env::var(GATE).as_deref() != Ok("1") {
        eprintln!(
            "NOTICE: skipping the AWS counts test: set {GATE}=1 and run under \
             `bash .ci/services.sh cargo test -p integration --test aws_counts`"
        );
        return;
    }
    for var in ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"] {
        assert!(
            std::env::var(var).is_ok_and(|v| !v.is_empty()),
            "{GATE}=1 but {var} is not set: run under `bash .ci/services.sh`"
        );
    }
    let work = tempfile::tempdir().expect("temp dir");
    let out = counts::run(200, work.path()).await.expect("AWS scenarios");
    eprintln!("{}", counts::table(&out.scenarios));
    let [first, night, again] = &out.scenarios[..] else {
        panic!("three scenarios expected");
    };
    assert!(first.directory_writes > 0 && first.dynamodb_wcu > 0.0);
    assert_eq!(night.directory_writes, out.churn.expected.writes());
    assert_eq!(again.directory_writes, 0, "no change writes no item");
    // Capacity follows the writes: the next night costs a fraction of the first sync, and a
    // no-change run consumes no more write units than the next night.
    assert!(
        night.dynamodb_wcu < first.dynamodb_wcu / 4.0,
        "{night:?} vs {first:?}"
    );
    assert!(
        again.dynamodb_wcu <= night.dynamodb_wcu,
        "{again:?} vs {night:?}"
    );
    for c in &out.scenarios {
        assert!(c.sqs_messages > 0 && c.s3_put > 0, "{c:?}");
    }
}
