//! Privacy of logs: everything logged at TRACE during whole local syncs (files, the Clever API,
//! OneRoster REST with OAuth 1.0a) and by the CLI with `-v` and `ROSTERSYNC_LOG=trace` holds
//! no name, email or phone number of the district, nor the source token or secret; the CLI's
//! JSON report holds no email or phone number either.

use domain::district::SourceConfig;
use integration::{D, LogBuffer, TestEnv, cli, district, leaks, ok, personal_data};
use synth::Format;
use testkit::{CleverOptions, CleverServer, OneRosterOptions, OneRosterServer};

const TOKEN: &str = "clever-token-4b9e0f7a2c";
const KEY: &str = "oneroster-key-77aa";
const SECRET: &str = "oneroster-secret-1c3d5e7f";

#[track_caller]
fn assert_no_leaks(what: &str, text: &str, secrets: &[String]) {
    assert!(!text.is_empty(), "{what}: nothing was captured");
    let found = leaks(text, secrets);
    if !found.is_empty() {
        let first = &found[0];
        let at = text.find(first.as_str()).unwrap_or(0);
        let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
        panic!(
            "{what}: {} personal values or secrets in the output, e.g. {first:?} in:\n{}",
            found.len(),
            &text[line_start..line_end]
        );
    }
}

#[tokio::test]
async fn a_whole_local_sync_logs_no_personal_data_or_secrets() {
    let roster = district(80, 51);
    let mut secrets = personal_data(&roster);
    secrets.extend([TOKEN.to_string(), SECRET.to_string()]);
    let clever = CleverServer::start(
        &roster,
        CleverOptions {
            token: TOKEN.into(),
            ..CleverOptions::default()
        },
    )
    .await
    .expect("clever");
    let oneroster = OneRosterServer::start(
        &synth::project(&roster, Format::OneRosterCsv),
        OneRosterOptions {
            oauth1: Some((KEY.into(), SECRET.into())),
            ..OneRosterOptions::default()
        },
    )
    .await
    .expect("oneroster");

    let logs = LogBuffer::default();
    let _guard = tracing::subscriber::set_default(logs.subscriber());
    // Files (with dirty cells, so that warnings are logged too), twice.
    let t = TestEnv::new();
    let dir = t.feed_dir("feed");
    synth::write_dirty(&roster, Format::OneRosterCsv, &dir, &synth::Dirt::typical()).expect("feed");
    t.connect_files(Format::OneRosterCsv, &dir).await;
    assert!(ok(&t.sync().await));
    assert!(ok(&t.sync().await));
    // The Clever API.
    let t = TestEnv::new();
    t.connect(
        SourceConfig::Clever {
            base_url: clever.base_url(),
            version: Some("v3.1".into()),
            secret_ref: app::admin::secret_name(D),
        },
        Some(TOKEN),
    )
    .await;
    assert!(ok(&t.sync().await));
    // OneRoster REST, OAuth 1.0a.
    let t = TestEnv::new();
    t.connect(
        SourceConfig::OnerosterApi {
            base_url: oneroster.base_url(),
            client_id: KEY.into(),
            auth: "oauth1".into(),
            token_url: None,
            signature: None,
            secret_ref: app::admin::secret_name(D),
        },
        Some(SECRET),
    )
    .await;
    assert!(ok(&t.sync().await));
    // A refused token is logged too.
    t.connect(
        SourceConfig::Clever {
            base_url: clever.base_url(),
            version: None,
            secret_ref: app::admin::secret_name(D),
        },
        Some("wrong-token-0000"),
    )
    .await;
    let refused = t.sync().await;
    assert_eq!(
        refused.reason,
        Some(domain::FailureReason::WrongCredentials)
    );
    drop(_guard);

    let text = logs.text();
    assert!(text.contains("TRACE") || text.contains("DEBUG") || text.contains("INFO"));
    assert!(text.contains("run_id"), "runs are logged with their ids");
    assert_no_leaks("tracing output of local syncs", &text, &secrets);
}

#[tokio::test]
async fn the_cli_logs_no_personal_data_and_its_report_holds_no_contact_details() {
    let roster = district(60, 52);
    let secrets = personal_data(&roster);
    let contact_details: Vec<String> = secrets
        .iter()
        .filter(|s| s.contains('@') || s.chars().filter(char::is_ascii_digit).count() >= 10)
        .cloned()
        .collect();
    let t = TestEnv::new();
    let feed = t.feed_dir("feed");
    synth::write_dirty(&roster, Format::CleverCsv, &feed, &synth::Dirt::typical()).expect("feed");
    let data = t.root.path().join("cli-data");
    let feed = feed.display().to_string();
    let run = tokio::task::spawn_blocking(move || {
        let args = [
            "--json",
            "-v",
            "sync",
            "--district",
            D,
            "--source",
            "clever-csv",
            "--path",
            &feed,
        ];
        cli(&data, &args, &[("ROSTERSYNC_LOG", "trace")])
    })
    .await
    .expect("cli");
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let report = run.json();
    assert!(report["run_id"].is_string());
    assert_no_leaks(
        "CLI stderr (-v, ROSTERSYNC_LOG=trace)",
        &run.stderr,
        &secrets,
    );
    assert_no_leaks("CLI JSON report", &run.stdout, &contact_details);
}
