//! The API router on one fuzzed HTTP request, over the in-memory adapters with two seeded
//! districts (fresh for every input, so a crash always reproduces from its input alone).
//!
//! Input: byte 0 picks the `Authorization` header (none, d1 admin, d1 read-only, d2 admin, a
//! malformed one, or whatever the request's own headers say); then text, read like HTTP/1.1:
//!
//! ```text
//! METHOD URI\n
//! Header: value\n        (any number)
//! \n
//! body
//! ```
//!
//! Requests that `http` itself refuses to build (bad method, URI or header) are skipped: they
//! never reach the router. The router must never answer 5xx (the memory stores do not fail),
//! and a JSON response (other than to HEAD, which has no body) must be valid JSON.
#![no_main]

use api::{ApiState, ControlError, RunControl, TokenRecord, router};
use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::Request;
use domain::directory::{Classroom, Person, PersonKind, Record, School};
use domain::district::{District, Run};
use domain::plan::{Action, Change};
use domain::report::{Report, ReportIssue, RunStatus, SchoolReport, Totals};
use domain::settings::SyncSettings;
use domain::{EntityKind, FailureReason, IssueCode};
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use store::memory::{MemoryDirectory, MemoryObjectStore, MemoryRuns};
use store::{Directory, ObjectStore, Runs, Write};
use tower::ServiceExt;

const D1_ADMIN: &str = "rs_fuzz-d1-admin";
const D1_READ: &str = "rs_fuzz-d1-read";
const D2_ADMIN: &str = "rs_fuzz-d2-admin";

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    })
}

fn at(minute: u32) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    chrono::Utc
        .with_ymd_and_hms(2025, 9, 1, 2, minute, 0)
        .unwrap()
}

fn run(district: &str, id: &str, status: RunStatus, minute: u32) -> Run {
    Run {
        district: district.into(),
        run_id: id.into(),
        status,
        reason: (status == RunStatus::Held).then_some(FailureReason::Threshold),
        dry_run: false,
        source: Some(domain::SourceKind::OnerosterCsv),
        started_at: at(minute),
        finished_at: status.is_final().then(|| at(minute + 1)),
        schools_total: 2,
        schools_done: 2,
        version: 0,
    }
}

fn change(entity: EntityKind, action: Action, key: &str, school: &str) -> Change {
    Change {
        entity,
        action,
        key: domain::directory::RecordKey(key.into()),
        school_id: Some(school.into()),
        source_id: Some(format!("src-{key}")),
        fields: vec!["first_name".into()],
        expected_version: None,
        after: None,
        note: None,
    }
}

fn school(id: &str, name: &str, external: Option<&str>) -> Record {
    Record::from(School {
        id: id.into(),
        name: name.into(),
        external_ids: external.into_iter().map(String::from).collect(),
        school_number: None,
        nces_id: None,
        managed: None,
        archived: None,
        version: 0,
    })
}

fn student(id: &str, number: &str) -> Record {
    Record::Person(Box::new(Person {
        id: id.into(),
        kind: PersonKind::Student,
        first_name: "Ada".into(),
        middle_name: None,
        last_name: "Lovelace".into(),
        email: None,
        sms: None,
        phone: None,
        language: None,
        grade: Some(domain::Grade::G3),
        dob: None,
        sis_id: None,
        student_number: Some(number.into()),
        state_id: None,
        staff_roles: Vec::new(),
        title: None,
        school_ids: ["s2".to_string()].into_iter().collect(),
        external_ids: Default::default(),
        active: false,
        same_person_as: None,
        managed: None,
        archived: None,
        version: 0,
    }))
}

fn classroom(id: &str, school: &str, name: &str) -> Record {
    Record::from(Classroom {
        id: id.into(),
        school_id: school.into(),
        name: name.into(),
        grade: Some(domain::Grade::G3),
        section_ids: Default::default(),
        managed: None,
        archived: None,
        version: 0,
    })
}

/// Starts, approves and dismisses runs on the run records directly; never fails unexpectedly.
struct FakeControl {
    runs: Arc<MemoryRuns>,
}

#[async_trait]
impl RunControl for FakeControl {
    async fn start(&self, district: &str, dry_run: bool) -> Result<Run, ControlError> {
        let mut r = run(district, "new", RunStatus::Planning, 50);
        r.dry_run = dry_run;
        r.finished_at = None;
        self.runs
            .create_run(&r)
            .await
            .map_err(|_| ControlError::Conflict("a run is in progress".into()))?;
        Ok(r)
    }

    async fn approve(&self, district: &str, run: &str) -> Result<Run, ControlError> {
        self.close(district, run, RunStatus::Succeeded).await
    }

    async fn dismiss(&self, district: &str, run: &str) -> Result<Run, ControlError> {
        self.close(district, run, RunStatus::CompletedWithWarnings)
            .await
    }
}

impl FakeControl {
    async fn close(&self, district: &str, id: &str, to: RunStatus) -> Result<Run, ControlError> {
        let mut r = self
            .runs
            .get_run(district, id)
            .await
            .map_err(|_| ControlError::NotFound)?
            .ok_or(ControlError::NotFound)?;
        if r.status != RunStatus::Held {
            return Err(ControlError::Conflict("the run is not held".into()));
        }
        r.status = to;
        self.runs
            .update_run(&r)
            .await
            .map_err(|_| ControlError::Conflict("the run changed".into()))?;
        r.version += 1;
        Ok(r)
    }
}

async fn put_token(objects: &MemoryObjectStore, token: &str, district: &str, read_only: bool) {
    let record = TokenRecord {
        district: district.into(),
        scope: if read_only {
            api::Scope::ReadOnly
        } else {
            api::Scope::Admin
        },
        created_at: at(0),
    };
    objects
        .put(
            &api::auth::token_key(token),
            serde_json::to_vec(&record).unwrap(),
        )
        .await
        .unwrap();
}

/// The router over fresh in-memory stores: districts d1 (schools, classrooms, duplicate
/// students, runs r1..r3 with a report and changes for r2, a staged feed) and d2.
async fn app() -> Router {
    let runs = Arc::new(MemoryRuns::new());
    let directory = Arc::new(MemoryDirectory::new());
    let objects = Arc::new(MemoryObjectStore::new());
    for id in ["d1", "d2"] {
        runs.put_district(&District {
            id: id.into(),
            name: format!("District {id}"),
            settings: SyncSettings::default(),
            source: None,
            version: 0,
        })
        .await
        .unwrap();
    }
    let writes: Vec<Write> = [
        school("s1", "Lincoln Elementary", None),
        school("s2", "Adams Middle", Some("feed-adams")),
        classroom("c1", "s1", "Room 12"),
        classroom("c2", "s2", "Band"),
        student("p1", "1001"),
        student("p2", "1001"),
    ]
    .into_iter()
    .map(|record| Write::Put {
        record,
        expected: None,
    })
    .collect();
    directory.write("d1", &writes).await.unwrap();
    directory
        .write(
            "d2",
            &[Write::Put {
                record: school("x1", "Other District School", None),
                expected: None,
            }],
        )
        .await
        .unwrap();
    runs.create_run(&run("d1", "r1", RunStatus::Succeeded, 0))
        .await
        .unwrap();
    runs.create_run(&run("d1", "r2", RunStatus::CompletedWithWarnings, 10))
        .await
        .unwrap();
    runs.create_run(&run("d1", "r3", RunStatus::Held, 20))
        .await
        .unwrap();
    runs.create_run(&run("d2", "q1", RunStatus::Succeeded, 5))
        .await
        .unwrap();
    let mut totals = Totals::default();
    totals.add(EntityKind::Students, Action::Created, 2);
    runs.put_report(&Report {
        district: "d1".into(),
        run_id: "r2".into(),
        status: RunStatus::CompletedWithWarnings,
        reason: None,
        dry_run: false,
        started_at: at(10),
        finished_at: Some(at(11)),
        totals: totals.clone(),
        schools: vec![SchoolReport {
            school_id: "s2".into(),
            external_id: "feed-adams".into(),
            status: RunStatus::Succeeded,
            totals,
        }],
        tried_to_archive: Default::default(),
        warnings: vec![ReportIssue {
            code: IssueCode::DuplicateId,
            message: "duplicate id".into(),
            location: "users.csv:17:1".into(),
        }],
        errors: Vec::new(),
    })
    .await
    .unwrap();
    runs.put_changes(
        "d1",
        "r2",
        "s2",
        &[
            change(EntityKind::Students, Action::Created, "person#p2", "s2"),
            change(EntityKind::Students, Action::Updated, "person#p1", "s2"),
            change(
                EntityKind::Classrooms,
                Action::Created,
                "classroom#c9",
                "s2",
            ),
            change(EntityKind::Staff, Action::Archived, "person#t1", "s2"),
        ],
    )
    .await
    .unwrap();
    objects
        .put(
            "districts/d1/runs/r2/staged/manifest.json",
            br#"{"schools":[{"school":{"id":"feed-lincoln","name":"Lincoln Elementary School"}},{"school":{"id":"feed-adams","name":"Adams Middle"}}]}"#.to_vec(),
        )
        .await
        .unwrap();
    put_token(&objects, D1_ADMIN, "d1", false).await;
    put_token(&objects, D1_READ, "d1", true).await;
    put_token(&objects, D2_ADMIN, "d2", false).await;
    let control = Arc::new(FakeControl { runs: runs.clone() });
    router(ApiState::new(runs, directory, objects, control))
}

/// Builds the request, or `None` when `http` refuses its parts.
fn request(data: &[u8]) -> Option<Request<Body>> {
    let (&auth, rest) = data.split_first()?;
    let line_end = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
    let line = std::str::from_utf8(&rest[..line_end]).ok()?;
    let mut rest = rest.get(line_end + 1..).unwrap_or(&[]);
    let (method, uri) = line.split_once(' ').unwrap_or(("GET", line));
    let mut req = Request::builder().method(method).uri(uri);
    match auth % 6 {
        0 => {}
        1 => req = req.header("authorization", format!("Bearer {D1_ADMIN}")),
        2 => req = req.header("authorization", format!("Bearer {D1_READ}")),
        3 => req = req.header("authorization", format!("Bearer {D2_ADMIN}")),
        4 => req = req.header("authorization", "Bearer rs_"),
        _ => {}
    }
    loop {
        let end = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
        let header = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or(&[]);
        if header.is_empty() {
            break;
        }
        let colon = header.iter().position(|b| *b == b':')?;
        let value = header[colon + 1..].trim_ascii_start();
        req = req.header(&header[..colon], value);
    }
    req.body(Body::from(rest.to_vec())).ok()
}

fuzz_target!(|data: &[u8]| {
    let Some(req) = request(data) else {
        return;
    };
    runtime().block_on(async move {
        let method = req.method().clone();
        let uri = req.uri().clone();
        let resp = app().await.oneshot(req).await.unwrap();
        let status = resp.status();
        assert!(
            !status.is_server_error(),
            "{method} {uri} answered {status}"
        );
        let json = resp
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        // A HEAD answer carries the GET answer's headers without its body.
        if json && method != axum::http::Method::HEAD {
            serde_json::from_slice::<serde_json::Value>(&body)
                .unwrap_or_else(|e| panic!("{method} {uri} ({status}): JSON body is invalid: {e}"));
        }
    });
});
