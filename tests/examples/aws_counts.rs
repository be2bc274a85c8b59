//! The bench scenarios on the AWS adapters at a chosen size, with a monthly cost estimate:
//!
//! ```text
//! bash .ci/services.sh cargo run --release -p integration --example aws_counts -- 50000
//! ```
//!
//! Prints S3 requests by kind, SQS requests and messages, DynamoDB requests and read/write
//! units and directory writes for first sync, next night and no change (add `--json` for JSON),
//! then the dollars of 30 nightly runs at us-east-1 list prices. Fails when the next night does
//! not write exactly what the churn changed or the no-change run writes anything.

#[path = "../tests/aws_counts/counts.rs"]
mod counts;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let students: usize = match args.iter().find(|a| !a.starts_with("--")) {
        Some(n) => n
            .parse()
            .map_err(|_| anyhow::anyhow!("students: expected a whole number, got {n:?}"))?,
        None => 5_000,
    };
    for var in ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"] {
        anyhow::ensure!(
            std::env::var(var).is_ok_and(|v| !v.is_empty()),
            "{var} is not set: run under `bash .ci/services.sh` (moto and DynamoDB Local)"
        );
    }
    let work = tempfile::tempdir()?;
    let out = counts::run(students, work.path()).await?;
    let month = |i: usize| 30.0 * counts::run_cost(&out.scenarios[i]);
    if json {
        println!(
            "{}",
            serde_json::json!({
                "students": students,
                "next_night_expected": out.churn.expected,
                "scenarios": out.scenarios,
                "dollars_per_run": out.scenarios.iter().map(counts::run_cost).collect::<Vec<_>>(),
                "dollars_30_next_nights": month(1),
                "dollars_30_no_change": month(2),
            })
        );
    } else {
        print!("{}", counts::table(&out.scenarios));
        println!(
            "next night: {} records changed by the churn, {} written (checked)",
            out.churn.expected.writes(),
            out.scenarios[1].directory_writes
        );
        println!(
            "30 nightly runs: ${:.4} as next nights, ${:.4} with no change; first sync ${:.4} once \
             (S3, SQS and DynamoDB requests at us-east-1 list prices; no storage, no Lambda)",
            month(1),
            month(2),
            counts::run_cost(&out.scenarios[0])
        );
    }
    Ok(())
}
