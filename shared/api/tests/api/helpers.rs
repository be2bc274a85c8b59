//! `spawn_app`: the real router over the in-memory adapters, with two seeded districts, their
//! tokens, and a [`FakeControl`] standing in for the sync pipeline.

use api::{ApiState, ControlError, RunControl, create_token, router};
use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use chrono::{DateTime, TimeZone, Utc};
use domain::directory::{Classroom, Record, RecordKey, School};
use domain::district::{District, Run};
use domain::plan::{Action, Change};
use domain::report::{Report, ReportIssue, RunStatus, SchoolReport, Totals};
use domain::settings::SyncSettings;
use domain::{EntityKind, FailureReason, IssueCode};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use store::memory::{MemoryDirectory, MemoryObjectStore, MemoryRuns};
use store::{Directory, ObjectStore, Runs, Write};
use tower::ServiceExt;

pub struct TestApp {
    pub router: Router,
    pub runs: Arc<MemoryRuns>,
    pub objects: Arc<MemoryObjectStore>,
    /// Admin and read-only tokens of d1 and d2.
    pub d1_admin: String,
    pub d1_read: String,
    pub d2_admin: String,
    pub report: Report,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl TestApp {
    pub async fn call(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let body = match body {
            Some(v) => {
                req = req.header("content-type", "application/json");
                Body::from(serde_json::to_vec(&v).unwrap())
            }
            None => Body::empty(),
        };
        self.send(req.body(body).unwrap()).await
    }

    pub async fn send(&self, req: Request<Body>) -> Reply {
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, uri: &str, token: &str) -> Reply {
        self.call(Method::GET, uri, Some(token), None).await
    }
}

pub fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 9, 1, 2, minute, 0).unwrap()
}

pub fn run(district: &str, id: &str, status: RunStatus, minute: u32) -> Run {
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

pub fn change(entity: EntityKind, action: Action, key: &str, school: &str) -> Change {
    Change {
        entity,
        action,
        key: RecordKey(key.into()),
        school_id: Some(school.into()),
        source_id: Some(format!("src-{key}")),
        fields: Vec::new(),
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
    Record::Person(Box::new(domain::directory::Person {
        id: id.into(),
        kind: domain::directory::PersonKind::Student,
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

/// Starts, approves and dismisses runs on the run records directly.
pub struct FakeControl {
    pub runs: Arc<MemoryRuns>,
}

#[async_trait]
impl RunControl for FakeControl {
    async fn start(&self, district: &str, dry_run: bool) -> Result<Run, ControlError> {
        let n = self
            .runs
            .list_runs(district, None, 1000)
            .await
            .map_err(|e| ControlError::Unexpected(e.into()))?
            .len();
        let mut r = run(district, &format!("new-{n}"), RunStatus::Planning, 50);
        r.dry_run = dry_run;
        r.finished_at = None;
        self.runs
            .create_run(&r)
            .await
            .map_err(|e| ControlError::Unexpected(e.into()))?;
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
            .map_err(|e| ControlError::Unexpected(e.into()))?
            .ok_or(ControlError::NotFound)?;
        if r.status != RunStatus::Held {
            return Err(ControlError::Conflict("the run is not held".into()));
        }
        r.status = to;
        self.runs
            .update_run(&r)
            .await
            .map_err(|e| ControlError::Unexpected(e.into()))?;
        r.version += 1;
        Ok(r)
    }
}

pub async fn spawn_app() -> TestApp {
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
    // d1: two schools (one matched), a classroom; three runs.
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
    let mut tried = BTreeMap::new();
    tried.insert(EntityKind::Students, 0);
    let report = Report {
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
        tried_to_archive: tried,
        warnings: vec![ReportIssue {
            code: IssueCode::DuplicateId,
            message: "duplicate id".into(),
            location: "users.csv:17:1".into(),
        }],
        errors: Vec::new(),
    };
    runs.put_report(&report).await.unwrap();

    let mut evil = change(EntityKind::Students, Action::Updated, "person#p1", "s2");
    evil.source_id = Some("=HYPERLINK(\"http://x\",\"y\")".into());
    evil.fields = vec!["first_name".into(), "-grade".into()];
    evil.note = Some("+cmd|' /C calc'!A0".into());
    let s2_changes = vec![
        change(EntityKind::Students, Action::Created, "person#p2", "s2"),
        evil,
        change(EntityKind::Students, Action::Unchanged, "person#p3", "s2"),
        change(
            EntityKind::Classrooms,
            Action::Created,
            "classroom#c9",
            "s2",
        ),
        change(EntityKind::Staff, Action::Archived, "person#t1", "s2"),
    ];
    runs.put_changes("d1", "r2", "s2", &s2_changes)
        .await
        .unwrap();
    runs.put_changes(
        "d1",
        "r2",
        "s1",
        &[change(
            EntityKind::Students,
            Action::Created,
            "person#p4",
            "s1",
        )],
    )
    .await
    .unwrap();

    // The feed staged by r2, for suggestions.
    objects
        .put(
            "districts/d1/runs/r2/staged/manifest.json",
            br#"{"schools":[{"school":{"id":"feed-lincoln","name":"Lincoln Elementary School"}},{"school":{"id":"feed-adams","name":"Adams Middle"}}]}"#.to_vec(),
        )
        .await
        .unwrap();

    let d1_admin = create_token(objects.as_ref(), "d1", false).await.unwrap();
    let d1_read = create_token(objects.as_ref(), "d1", true).await.unwrap();
    let d2_admin = create_token(objects.as_ref(), "d2", false).await.unwrap();

    let control = Arc::new(FakeControl { runs: runs.clone() });
    let state = ApiState::new(
        runs.clone(),
        directory.clone(),
        objects.clone(),
        control.clone(),
    );
    TestApp {
        router: router(state),
        runs,
        objects,
        d1_admin,
        d1_read,
        d2_admin,
        report,
    }
}
