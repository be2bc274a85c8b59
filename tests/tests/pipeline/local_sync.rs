//! The whole local pipeline on SQLite, from every source kind: a first sync creates the
//! district, a second one changes nothing (zero directory writes), the report has every entity
//! and action, and every source of the same roster leads to the same directory.

use domain::EntityKind;
use domain::district::SourceConfig;
use domain::report::Report;
use integration::{
    TestEnv, assert_same_dump, district, nonzero_totals, ok, without_run_ids, write_feed,
};
use synth::Format;
use testkit::{CleverOptions, CleverServer, OneRosterOptions, OneRosterServer};

const STUDENTS: usize = 300;
const SEED: u64 = 11;

const ACTIONS: [&str; 6] = [
    "created",
    "updated",
    "unchanged",
    "archived",
    "unarchived",
    "skipped",
];

/// The report contract (INTERFACES.md): every entity with every action, zeros included.
fn assert_report_shape(r: &Report) {
    let json = serde_json::to_value(r).expect("report json");
    for key in [
        "district",
        "run_id",
        "status",
        "reason",
        "dry_run",
        "started_at",
        "finished_at",
        "totals",
        "schools",
        "tried_to_archive",
        "warnings",
        "errors",
    ] {
        assert!(json.get(key).is_some(), "report has no `{key}`: {json}");
    }
    for entity in [
        "schools",
        "classrooms",
        "students",
        "staff",
        "guardians",
        "enrollments",
    ] {
        let counts = &json["totals"][entity];
        for action in ACTIONS {
            assert!(
                counts[action].is_u64(),
                "totals.{entity}.{action} missing: {}",
                json["totals"]
            );
        }
        assert!(
            json["tried_to_archive"][entity].is_u64(),
            "tried_to_archive.{entity} missing: {}",
            json["tried_to_archive"]
        );
    }
    for school in json["schools"].as_array().expect("schools") {
        for entity in ["students", "enrollments"] {
            for action in ACTIONS {
                assert!(
                    school["totals"][entity][action].is_u64(),
                    "schools[].totals.{entity}.{action} missing: {school}"
                );
            }
        }
    }
}

/// A second sync of an unchanged feed: nothing but `unchanged`, and no directory write at all.
async fn assert_second_sync_changes_nothing(t: &TestEnv, first: &Report) {
    let before = t.writes();
    let dump = t.dump().await;
    let second = t.sync().await;
    assert!(ok(&second), "second sync: {second:?}");
    assert_eq!(
        t.writes() - before,
        0,
        "the second sync wrote to the directory"
    );
    assert_report_shape(&second);
    for e in EntityKind::ALL {
        let (c1, c2) = (first.totals.get(e), second.totals.get(e));
        assert_eq!(
            (c2.created, c2.updated, c2.archived, c2.unarchived),
            (0, 0, 0, 0),
            "second sync changed {}: {:?}",
            e.as_str(),
            nonzero_totals(&second)
        );
        assert_eq!(
            c2.unchanged,
            c1.created + c1.updated + c1.unchanged + c1.unarchived,
            "{}: what the first sync left is unchanged",
            e.as_str()
        );
        assert_eq!(c2.skipped, c1.skipped, "{} skipped", e.as_str());
    }
    assert_eq!(second.warnings, first.warnings, "same feed, same warnings");
    assert_same_dump(&dump, &t.dump().await, "after an unchanged sync");
}

/// Connects and syncs a feed written in `format`; checks the first run's counts against the
/// roster and that a second run changes nothing. Returns the env for comparisons.
async fn sync_files(format: Format) -> (TestEnv, Report) {
    let roster = district(STUDENTS, SEED);
    let t = TestEnv::new();
    let path = write_feed(&roster, format, &t.feed_dir(format.as_str()));
    t.connect_files(format, &path).await;
    let first = t.sync().await;
    assert!(ok(&first), "{format}: first sync: {first:?}");
    assert_report_shape(&first);
    let students = first.totals.get(EntityKind::Students);
    assert_eq!(
        students.created + students.skipped,
        roster.students.len() as u64,
        "{format}: every student is created or skipped: {:?}",
        nonzero_totals(&first)
    );
    assert!(students.created > 0);
    assert_eq!(
        first.totals.get(EntityKind::Schools).created,
        roster.schools.len() as u64,
        "{format}: schools"
    );
    for e in EntityKind::ALL {
        let c = first.totals.get(e);
        assert_eq!(
            (c.updated, c.archived, c.unarchived),
            (0, 0, 0),
            "{format}: a first sync into an empty directory only creates: {:?}",
            nonzero_totals(&first)
        );
    }
    assert_second_sync_changes_nothing(&t, &first).await;
    (t, first)
}

#[tokio::test]
async fn oneroster_csv_creates_then_changes_nothing() {
    sync_files(Format::OneRosterCsv).await;
}

#[tokio::test]
async fn oneroster_zip_leads_to_the_same_directory_as_the_folder() {
    let (zip, zr) = sync_files(Format::OneRosterCsvZip).await;
    let (dir, dr) = sync_files(Format::OneRosterCsv).await;
    assert_eq!(zr.totals, dr.totals);
    assert_same_dump(
        &without_run_ids(zip.dump().await),
        &without_run_ids(dir.dump().await),
        "OneRoster ZIP vs folder",
    );
}

#[tokio::test]
async fn clever_csv_creates_then_changes_nothing() {
    sync_files(Format::CleverCsv).await;
}

#[tokio::test]
async fn clever_json_creates_then_changes_nothing() {
    sync_files(Format::CleverJson).await;
}

#[tokio::test]
async fn clever_api_leads_to_the_same_directory_as_clever_json_files() {
    let roster = district(STUDENTS, SEED);
    let token = "integration-clever-token-5f1c";
    let server = CleverServer::start(
        &roster,
        CleverOptions {
            token: token.into(),
            ..CleverOptions::default()
        },
    )
    .await
    .expect("clever server");
    let t = TestEnv::new();
    t.connect(
        SourceConfig::Clever {
            base_url: server.base_url(),
            // v3.0 has no `home_language`; the JSON files carry the v3.1 field.
            version: Some("v3.1".into()),
            secret_ref: app::admin::secret_name(integration::D),
        },
        Some(token),
    )
    .await;
    let first = t.sync().await;
    assert!(ok(&first), "clever api: {first:?}");
    assert!(!server.requests().is_empty());
    assert_second_sync_changes_nothing(&t, &first).await;

    let (files, files_first) = sync_files(Format::CleverJson).await;
    assert_eq!(first.totals, files_first.totals, "Clever API vs JSON files");
    assert_same_dump(
        &without_run_ids(t.dump().await),
        &without_run_ids(files.dump().await),
        "Clever API vs JSON files",
    );
}

#[tokio::test]
async fn oneroster_api_leads_to_the_same_directory_as_oneroster_csv() {
    let roster = district(STUDENTS, SEED);
    let (key, secret) = ("integration-key", "integration-oneroster-secret-9d2e");
    // The server is given what OneRoster carries: the CSV projection (its relationships are
    // already the OneRoster roles parent / guardian / relative).
    let server = OneRosterServer::start(
        &synth::project(&roster, Format::OneRosterCsv),
        OneRosterOptions {
            oauth1: Some((key.into(), secret.into())),
            ..OneRosterOptions::default()
        },
    )
    .await
    .expect("oneroster server");
    let t = TestEnv::new();
    t.connect(
        SourceConfig::OnerosterApi {
            base_url: server.base_url(),
            client_id: key.into(),
            auth: "oauth1".into(),
            token_url: None,
            signature: None,
            secret_ref: app::admin::secret_name(integration::D),
        },
        Some(secret),
    )
    .await;
    let first = t.sync().await;
    assert!(ok(&first), "oneroster api: {first:?}");
    assert!(!server.requests().is_empty());
    assert_second_sync_changes_nothing(&t, &first).await;

    let (files, files_first) = sync_files(Format::OneRosterCsv).await;
    assert_eq!(
        nonzero_totals(&first),
        nonzero_totals(&files_first),
        "OneRoster API vs CSV"
    );
    assert_same_dump(
        &without_run_ids(t.dump().await),
        &without_run_ids(files.dump().await),
        "OneRoster API vs CSV",
    );
}
