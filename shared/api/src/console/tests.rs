//! The console over the real router, the in-memory stores and the real sync pipeline, on a
//! generated OneRoster CSV district with a pre-existing product directory: sign-in, cookie
//! flags, CSRF, district isolation, read-only tokens, and every step's page with real data.

use crate::{ApiState, ControlError, RunControl, create_token, router};
use app::import::DirectoryExport;
use app::secrets::MemorySecrets;
use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use domain::directory::{Classroom, Person, PersonKind, School};
use domain::district::{District, Run};
use std::sync::Arc;
use store::memory::{MemoryDirectory, MemoryObjectStore, MemoryQueue, MemoryRuns};
use store::{Runs, SystemClock};
use sync::pipeline::Ports;
use tower::ServiceExt;

/// Runs the whole pipeline in-process before answering (the port's contract allows finishing
/// early; `serve` finishes in the background).
struct PipelineControl {
    ports: Ports,
    secrets: Arc<MemorySecrets>,
}

async fn run_of(ports: &Ports, d: &str, r: &str) -> Result<Run, ControlError> {
    ports
        .runs
        .get_run(d, r)
        .await
        .map_err(|e| ControlError::Unexpected(e.into()))?
        .ok_or(ControlError::NotFound)
}

#[async_trait]
impl RunControl for PipelineControl {
    async fn start(&self, district: &str, dry_run: bool) -> Result<Run, ControlError> {
        let report = app::runs::sync_once(&self.ports, self.secrets.as_ref(), district, dry_run)
            .await
            .map_err(|e| ControlError::Invalid(e.to_string()))?;
        run_of(&self.ports, district, &report.run_id).await
    }
    async fn approve(&self, district: &str, run: &str) -> Result<Run, ControlError> {
        sync::pipeline::approve(&self.ports, district, run)
            .await
            .map_err(|e| ControlError::Conflict(e.to_string()))?;
        run_of(&self.ports, district, run).await
    }
    async fn dismiss(&self, district: &str, run: &str) -> Result<Run, ControlError> {
        sync::pipeline::dismiss(&self.ports, district, run)
            .await
            .map_err(|e| ControlError::Conflict(e.to_string()))?;
        run_of(&self.ports, district, run).await
    }
}

struct World {
    router: Router,
    runs: Arc<MemoryRuns>,
    feed: tempfile::TempDir,
    roster: domain::Roster,
    d1_admin: String,
    d1_read: String,
    d2_admin: String,
}

fn district(id: &str) -> District {
    District {
        id: id.into(),
        name: id.into(),
        settings: Default::default(),
        source: None,
        version: 0,
    }
}

/// The product's directory before the sync: the feed's schools under shorter names (no ids),
/// one manual classroom per school, and three manual students the feed also has.
fn directory(roster: &domain::Roster) -> DirectoryExport {
    let mut export = DirectoryExport::default();
    for (i, s) in roster.schools.iter().enumerate() {
        export.schools.push(School {
            id: format!("school-{}", i + 1),
            name: s.name.replace("School", "").trim().to_string(),
            external_ids: Default::default(),
            school_number: None,
            nces_id: None,
            managed: None,
            archived: None,
            version: 0,
        });
        export.classrooms.push(Classroom {
            id: format!("room-{}", i + 1),
            school_id: format!("school-{}", i + 1),
            name: "Homeroom".into(),
            grade: None,
            section_ids: Default::default(),
            managed: None,
            archived: None,
            version: 0,
        });
    }
    let first = &roster.schools[0].id;
    for (i, s) in roster
        .students
        .iter()
        .filter(|s| s.school_ids.first() == Some(first))
        .take(3)
        .enumerate()
    {
        export.students.push(Person {
            id: format!("manual-{}", i + 1),
            kind: PersonKind::Student,
            first_name: s.first_name.clone(),
            middle_name: None,
            last_name: s.last_name.clone(),
            email: None,
            sms: None,
            phone: None,
            language: None,
            grade: s.grade,
            dob: s.dob,
            sis_id: None,
            student_number: None,
            state_id: None,
            staff_roles: Vec::new(),
            title: None,
            school_ids: ["school-1".to_string()].into(),
            external_ids: Default::default(),
            active: false,
            same_person_as: None,
            managed: None,
            archived: None,
            version: 0,
        });
    }
    export
}

async fn world() -> World {
    let objects = Arc::new(MemoryObjectStore::new());
    let dir = Arc::new(MemoryDirectory::new());
    let runs = Arc::new(MemoryRuns::new());
    let secrets = Arc::new(MemorySecrets::default());
    let feed = tempfile::tempdir().unwrap();
    let spec = synth::Spec {
        students: 40,
        seed: 7,
        district_id: "d1".into(),
        dirty: true,
    };
    let (roster, _) = synth::generate_to(&spec, synth::Format::OneRosterCsv, feed.path()).unwrap();
    for d in ["d1", "d2"] {
        runs.put_district(&district(d)).await.unwrap();
    }
    app::import::import(dir.as_ref(), "d1", "dir.json", directory(&roster))
        .await
        .unwrap();
    let ports = Ports {
        objects: objects.clone(),
        queue: Arc::new(MemoryQueue::new(5)),
        directory: dir.clone(),
        runs: runs.clone(),
        clock: Arc::new(SystemClock),
    };
    let control = Arc::new(PipelineControl {
        ports,
        secrets: secrets.clone(),
    });
    let state = ApiState::new(runs.clone(), dir, objects.clone(), control).with_secrets(secrets);
    World {
        router: router(state),
        runs,
        roster,
        d1_admin: create_token(objects.as_ref(), "d1", false).await.unwrap(),
        d1_read: create_token(objects.as_ref(), "d1", true).await.unwrap(),
        d2_admin: create_token(objects.as_ref(), "d2", false).await.unwrap(),
        feed,
    }
}

struct Reply {
    status: StatusCode,
    location: String,
    cookies: Vec<String>,
    content_type: String,
    body: String,
}

fn form_body(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", super::html::url(k), super::html::url(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The value of `name="..." value="..."` in a page.
fn hidden(html: &str, name: &str) -> String {
    let at = html
        .find(&format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no {name} field in: {html}"));
    let rest = &html[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_string()
}

impl World {
    async fn send(
        &self,
        method: Method,
        uri: &str,
        cookie: &str,
        form: Option<String>,
        extra: &[(&str, &str)],
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(uri);
        if !cookie.is_empty() {
            req = req.header("cookie", cookie);
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let body = match form {
            Some(f) => {
                req = req.header("content-type", "application/x-www-form-urlencoded");
                Body::from(f)
            }
            None => Body::empty(),
        };
        let resp = self
            .router
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let header = |n: &str| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let status = resp.status();
        let location = header("location");
        let content_type = header("content-type");
        let cookies = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        Reply {
            status,
            location,
            cookies,
            content_type,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    async fn get(&self, uri: &str, cookie: &str) -> Reply {
        self.send(Method::GET, uri, cookie, None, &[]).await
    }

    async fn post(&self, uri: &str, cookie: &str, pairs: &[(&str, &str)]) -> Reply {
        self.send(Method::POST, uri, cookie, Some(form_body(pairs)), &[])
            .await
    }

    /// Signs in and returns the `Cookie` header value and the CSRF token.
    async fn sign_in(&self, token: &str) -> (String, String) {
        let page = self.get("/console/sign-in", "").await;
        let pre = hidden(&page.body, "pre");
        let pre_cookie = page.cookies[0].split(';').next().unwrap().to_string();
        let r = self
            .post(
                "/console/sign-in",
                &pre_cookie,
                &[("pre", &pre), ("token", token)],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let cookie = r
            .cookies
            .iter()
            .find(|c| c.starts_with("rs_console=") && !c.starts_with("rs_console=;"))
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let home = self.get("/console", &cookie).await;
        assert_eq!(home.status, StatusCode::OK, "{}", home.body);
        (cookie.clone(), hidden(&home.body, "csrf"))
    }
}

#[tokio::test]
async fn sign_in_sets_a_strict_http_only_cookie_and_refuses_bad_tokens() {
    let w = world().await;
    // No session: every page sends to the sign-in page.
    let r = w.get("/console/settings", "").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location, "/console/sign-in");
    // A wrong token, and a sign-in form without its pre-session cookie, are refused.
    let page = w.get("/console/sign-in", "").await;
    let pre = hidden(&page.body, "pre");
    let pre_cookie = page.cookies[0].split(';').next().unwrap().to_string();
    let r = w
        .post(
            "/console/sign-in",
            &pre_cookie,
            &[("pre", &pre), ("token", "rs_nope")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(
        !r.body.contains("rs_nope"),
        "the typed token is never echoed"
    );
    let r = w
        .post(
            "/console/sign-in",
            "",
            &[("pre", &pre), ("token", &w.d1_admin)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Over plain HTTP: HttpOnly, SameSite=Strict, no Secure.
    let r = w
        .post(
            "/console/sign-in",
            &pre_cookie,
            &[("pre", &pre), ("token", &w.d1_admin)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let session = r
        .cookies
        .iter()
        .find(|c| c.starts_with("rs_console="))
        .unwrap();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
    assert!(
        session.contains("Path=/console") && !session.contains("Secure"),
        "{session}"
    );
    assert!(
        !session.contains(&w.d1_admin),
        "the cookie is not the token"
    );
    // Behind TLS (API Gateway, a proxy): Secure too.
    let r = w
        .send(
            Method::POST,
            "/console/sign-in",
            &pre_cookie,
            Some(form_body(&[("pre", &pre), ("token", &w.d1_admin)])),
            &[("x-forwarded-proto", "https")],
        )
        .await;
    let session = r
        .cookies
        .iter()
        .find(|c| c.starts_with("rs_console="))
        .unwrap();
    assert!(session.contains("; Secure"), "{session}");
    // Signing out ends the session.
    let (cookie, csrf) = w.sign_in(&w.d1_admin).await;
    let r = w
        .post("/console/sign-out", &cookie, &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        w.get("/console", &cookie).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn forms_without_the_csrf_token_or_from_read_only_tokens_change_nothing() {
    let w = world().await;
    let (cookie, csrf) = w.sign_in(&w.d1_admin).await;
    let before = w.runs.get_district("d1").await.unwrap().unwrap().settings;
    for pairs in [
        vec![("deletion_threshold_pct", "55")],
        vec![("csrf", "forged"), ("deletion_threshold_pct", "55")],
    ] {
        let r = w.post("/console/settings", &cookie, &pairs).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    }
    // Another session's CSRF token does not fit this session.
    let (_, other_csrf) = w.sign_in(&w.d1_admin).await;
    assert_ne!(other_csrf, csrf);
    let r = w
        .post(
            "/console/settings",
            &cookie,
            &[("csrf", &other_csrf), ("deletion_threshold_pct", "55")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // A read-only token sees the pages, with disabled buttons, and cannot post.
    let (ro_cookie, ro_csrf) = w.sign_in(&w.d1_read).await;
    let page = w.get("/console/settings", &ro_cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("(read-only)") && page.body.contains(" disabled>Save settings"));
    let r = w
        .post(
            "/console/settings",
            &ro_cookie,
            &[("csrf", &ro_csrf), ("deletion_threshold_pct", "55")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("read-only"));
    let after = w.runs.get_district("d1").await.unwrap().unwrap().settings;
    assert_eq!(before, after);
}

#[tokio::test]
async fn each_district_sees_only_its_own_data() {
    let w = world().await;
    let (c1, csrf1) = w.sign_in(&w.d1_admin).await;
    let (c2, _) = w.sign_in(&w.d2_admin).await;
    let path = w.feed.path().display().to_string();
    let r = w
        .post(
            "/console/source",
            &c1,
            &[("csrf", &csrf1), ("kind", "oneroster-csv"), ("path", &path)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = w.post("/console/check", &c1, &[("csrf", &csrf1)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let run_page = r.location.clone();
    assert_eq!(w.get(&run_page, &c1).await.status, StatusCode::OK);
    // d2's session: d1's run does not exist for it, and d1's schools are not listed.
    let r = w.get(&run_page, &c2).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = w.get(&format!("{run_page}/changes.csv"), &c2).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = w.get("/console/schools", &c2).await;
    assert!(!r.body.contains("school-1"), "{}", r.body);
    let r = w.get("/console/runs", &c2).await;
    assert!(!r.body.contains("self-check</td>"), "{}", r.body);
}

#[tokio::test]
async fn the_nine_steps_on_a_generated_district() {
    let w = world().await;
    let (cookie, csrf) = w.sign_in(&w.d1_admin).await;
    let path = w.feed.path().display().to_string();

    // 1. Connect: a bad path is named; a good one is saved.
    let r = w
        .post(
            "/console/source",
            &cookie,
            &[
                ("csrf", &csrf),
                ("kind", "oneroster-csv"),
                ("path", "/no/such/feed"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("/no/such/feed"));
    let r = w
        .post(
            "/console/source",
            &cookie,
            &[("csrf", &csrf), ("kind", "oneroster-csv"), ("path", &path)],
        )
        .await;
    assert_eq!(r.location, "/console/source?done=connected");
    assert!(
        w.get(&r.location, &cookie)
            .await
            .body
            .contains("OneRoster CSV files at")
    );

    // 2. What the source shares: the generated counts.
    let r = w.get("/console/shares", &cookie).await;
    assert_eq!(r.status, StatusCode::OK);
    let students = format!(
        "<span class=\"big\">{}</span> students",
        w.roster.students.len()
    );
    assert!(r.body.contains(&students), "{}", r.body);
    assert!(
        r.body
            .contains(&super::html::esc(&w.roster.schools[0].name))
    );

    // 3. Match schools: every directory school has a suggestion; accept them all.
    let r = w.get("/console/schools", &cookie).await;
    for (i, s) in w.roster.schools.iter().enumerate() {
        assert!(
            r.body.contains(&format!("value=\"{}\"", s.id)),
            "school {i}: {}",
            r.body
        );
    }
    for (i, s) in w.roster.schools.iter().enumerate() {
        let r = w
            .post(
                "/console/schools/match",
                &cookie,
                &[
                    ("csrf", &csrf),
                    ("school", &format!("school-{}", i + 1)),
                    ("external_id", &s.id),
                ],
            )
            .await;
        assert_eq!(r.location, "/console/schools?done=matched", "{}", r.body);
    }
    let r = w.get("/console/schools?done=matched", &cookie).await;
    assert!(r.body.contains("School matched"));
    assert!(!r.body.contains("not synced"), "every school matched");

    // 4. Link a classroom: search the feed's sections, link one.
    let section = w
        .roster
        .sections
        .iter()
        .find(|s| s.school_id == w.roster.schools[0].id)
        .unwrap();
    let r = w
        .get(
            &format!("/console/classrooms?q={}", super::html::url(&section.id)),
            &cookie,
        )
        .await;
    assert!(
        r.body
            .contains(&format!("name=\"section\" value=\"{}\"", section.id)),
        "{}",
        r.body
    );
    let r = w
        .post(
            "/console/classrooms/link",
            &cookie,
            &[
                ("csrf", &csrf),
                ("classroom", "room-1"),
                ("section", &section.id),
            ],
        )
        .await;
    assert_eq!(r.location, "/console/classrooms?done=linked", "{}", r.body);

    // 5. Settings: a bad value is shown beside its field and nothing is saved; then saved.
    let r = w
        .post(
            "/console/settings",
            &cookie,
            &[
                ("csrf", &csrf),
                ("deletion_threshold_pct", "250"),
                ("student_id_source", "sis_id"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body.contains("field-error") && r.body.contains("0 to 100"),
        "{}",
        r.body
    );
    let r = w
        .post(
            "/console/settings",
            &cookie,
            &[
                ("csrf", &csrf),
                ("deletion_threshold_pct", "40"),
                ("student_id_source", "sis_id"),
                ("archived_students", "unarchive_sync_archived"),
                ("manage_guardians", "false"),
                ("manage_guardians", "true"),
                ("phone_column", "sms"),
                ("contact_types", ""),
                ("contact_types", "Parent/Guardian"),
                ("contact_types", "Emergency"),
                ("school_scope", "matched"),
                ("entities.students", "true"),
                ("entities.staff", "false"),
            ],
        )
        .await;
    assert_eq!(r.location, "/console/settings?done=settings", "{}", r.body);
    let s = w.runs.get_district("d1").await.unwrap().unwrap().settings;
    assert_eq!(s.deletion_threshold_pct, 40);
    assert_eq!(s.contact_types.len(), 2);
    assert!(s.manage_guardians && !s.entities.staff);

    // 6. Self-check: a dry run with its report, chart and downloadable change list.
    let r = w.post("/console/check", &cookie, &[("csrf", &csrf)]).await;
    let run_page = r.location.clone();
    assert!(run_page.starts_with("/console/runs/"), "{}", r.body);
    let r = w.get(&run_page, &cookie).await;
    assert!(r.body.contains("self-check (dry run"), "{}", r.body);
    assert!(r.body.contains("<svg") && r.body.contains("Changes this self-check would make"));
    assert!(r.body.contains("Per school") && r.body.contains("Warnings by cause"));
    let csv = w.get(&format!("{run_page}/changes.csv"), &cookie).await;
    assert!(csv.content_type.starts_with("text/csv"));
    assert!(
        csv.body
            .starts_with("entity,action,school_id,key,source_id,fields,note")
    );
    assert!(
        csv.body.lines().count() > w.roster.students.len() / 2,
        "{}",
        csv.body
    );

    // 7. Nightly sync: a bad time is refused, a good one saved; then a real sync.
    let r = w
        .post(
            "/console/schedule",
            &cookie,
            &[
                ("csrf", &csrf),
                ("schedule.enabled", "true"),
                ("schedule.start_time", "25:00"),
                ("schedule.timezone", "America/Chicago"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = w
        .post(
            "/console/schedule",
            &cookie,
            &[
                ("csrf", &csrf),
                ("schedule.enabled", "false"),
                ("schedule.enabled", "true"),
                ("schedule.start_time", "03:30"),
                ("schedule.timezone", "America/Chicago"),
            ],
        )
        .await;
    assert_eq!(r.location, "/console/schedule?done=schedule");
    let s = w.runs.get_district("d1").await.unwrap().unwrap().settings;
    assert!(s.schedule.enabled && s.schedule.start_time == "03:30");
    let r = w.post("/console/sync", &cookie, &[("csrf", &csrf)]).await;
    let sync_page = r.location.clone();
    assert!(sync_page.starts_with("/console/runs/"), "{}", r.body);

    // 8. Reports: history with the trend chart, run detail, filtered changes.
    let r = w.get("/console/runs", &cookie).await;
    assert!(r.body.contains("Trend of the last runs") && r.body.contains("<polyline"));
    let r = w.get(&sync_page, &cookie).await;
    assert!(r.body.contains("Changes this run made"), "{}", r.body);
    let r = w
        .get(
            &format!("{sync_page}/changes?entity=students&action=created"),
            &cookie,
        )
        .await;
    assert!(
        r.body.contains("<td>students</td><td>created</td>"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("<td>staff</td>"));
    let r = w
        .get(&format!("{sync_page}/changes?entity=bogus"), &cookie)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // 9. Clean-up: the preview lists the manual students; duplicates carry their evidence;
    // merge, then undo it; archive the rest.
    let r = w.get("/console/cleanup", &cookie).await;
    assert!(r.body.contains("manual-1"), "{}", r.body);
    assert!(r.body.contains("same name and dob"), "{}", r.body);
    let survivor = hidden(
        &r.body[r.body.find("/console/cleanup/merge").unwrap() - 80..],
        "survivor",
    );
    let duplicate = hidden(
        &r.body[r.body.find("/console/cleanup/merge").unwrap() - 80..],
        "duplicate",
    );
    let r = w
        .post(
            "/console/cleanup/merge",
            &cookie,
            &[
                ("csrf", &csrf),
                ("survivor", &survivor),
                ("duplicate", &duplicate),
            ],
        )
        .await;
    assert!(
        r.location.starts_with("/console/cleanup?done=merged"),
        "{}",
        r.body
    );
    let r = w.get(&r.location, &cookie).await;
    assert!(r.body.contains("Students merged"));
    let merge_id = hidden(
        &r.body[r.body.find("/console/cleanup/unmerge").unwrap()..],
        "merge",
    );
    let r = w
        .post(
            "/console/cleanup/unmerge",
            &cookie,
            &[("csrf", &csrf), ("merge", &merge_id)],
        )
        .await;
    assert_eq!(r.location, "/console/cleanup?done=unmerged", "{}", r.body);
    let r = w
        .post("/console/cleanup/archive", &cookie, &[("csrf", &csrf)])
        .await;
    assert_eq!(r.location, "/console/cleanup?done=archived", "{}", r.body);
    let r = w.get("/console/cleanup", &cookie).await;
    assert!(
        r.body
            .contains("<strong>0</strong> students would be archived"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn the_console_is_not_in_the_openapi_document_and_its_assets_are_local() {
    let w = world().await;
    let doc = w.get("/openapi.json", "").await;
    assert!(!doc.body.contains("/console"));
    let css = w.get("/console/static/console.css", "").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.content_type.starts_with("text/css"));
    let (cookie, _) = w.sign_in(&w.d1_admin).await;
    let page = w.get("/console", &cookie).await;
    assert!(
        !page.body.contains("http://") && !page.body.contains("https://"),
        "no external asset"
    );
    assert!(!page.body.contains("<script"), "no script");
    assert!(
        page.body.contains("<html lang=\"en\">")
            && page.body.contains("<nav aria-label=\"Setup steps\">")
    );
}
