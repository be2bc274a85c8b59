//! A fake Clever Data API (v3.0 and v3.1) serving a roster: `/v3.x/{districts,schools,users,
//! sections,terms,courses}` with `limit`/`starting_after` cursor paging, relative `links`,
//! bearer-token checks and `X-RateLimit-*` headers, plus the faults in [`Faults`].

use crate::faults::Faults;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use domain::{EnrollmentRole, PhoneType, Roster, StaffRole};
use serde::Serialize;
use sources::clever_api::model;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// A roster in Clever's wire form: one record list per endpoint.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CleverWire {
    pub districts: Vec<model::District>,
    pub schools: Vec<model::School>,
    pub users: Vec<model::User>,
    pub sections: Vec<model::Section>,
    pub terms: Vec<model::Term>,
    pub courses: Vec<model::Course>,
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

/// Converts a roster to what Clever would serve. `version` is `v3.0` or `v3.1` (only v3.1
/// carries `home_language`). Contacts get their full name in `name.last`, as Clever does.
pub fn roster_to_clever(roster: &Roster, version: &str) -> CleverWire {
    let district = roster.district.as_ref().map(|d| d.id.clone());
    let mut w = CleverWire::default();
    if let Some(d) = &roster.district {
        w.districts.push(model::District {
            id: s(&d.id),
            name: d.name.clone(),
            state: d.state.clone(),
            pause_start: d.pause_start.clone(),
            pause_end: d.pause_end.clone(),
            ..model::District::default()
        });
    }
    for x in &roster.schools {
        w.schools.push(model::School {
            id: s(&x.id),
            district: district.clone(),
            name: s(&x.name),
            sis_id: x.sis_id.clone(),
            school_number: x.school_number.clone(),
            state_id: x.state_id.clone(),
            nces_id: x.nces_id.clone(),
            low_grade: x.low_grade.map(|g| g.clever_name().to_string()),
            high_grade: x.high_grade.map(|g| g.clever_name().to_string()),
            ..model::School::default()
        });
    }
    for t in &roster.terms {
        w.terms.push(model::Term {
            id: s(&t.id),
            district: district.clone(),
            name: s(&t.name),
            start_date: t.start_date.map(|d| format!("{d}T00:00:00.000Z")),
            end_date: t.end_date.map(|d| format!("{d}T00:00:00.000Z")),
        });
    }
    for c in &roster.courses {
        w.courses.push(model::Course {
            id: s(&c.id),
            district: district.clone(),
            name: s(&c.name),
            number: c.number.clone(),
        });
    }
    for sec in &roster.sections {
        let members = roster.enrollments.iter().filter(|e| e.section_id == sec.id);
        let mut primary = None;
        let mut teachers = Vec::new();
        let mut students = Vec::new();
        for e in members {
            match e.role {
                EnrollmentRole::Student => students.push(e.user_id.clone()),
                _ => {
                    if e.primary && primary.is_none() {
                        primary = Some(e.user_id.clone());
                    } else {
                        teachers.push(e.user_id.clone());
                    }
                }
            }
        }
        if let Some(p) = &primary {
            teachers.insert(0, p.clone());
        }
        w.sections.push(model::Section {
            id: s(&sec.id),
            district: district.clone(),
            school: s(&sec.school_id),
            name: s(&sec.name),
            sis_id: sec.sis_id.clone(),
            section_number: sec.section_number.clone(),
            period: sec.period.clone(),
            subject: sec.subject.clone(),
            grade: sec.grade.map(|g| g.clever_name().to_string()),
            course: sec.course_id.clone(),
            term_id: sec.term_ids.first().cloned(),
            teacher: primary,
            teachers,
            students,
            ..model::Section::default()
        });
    }
    let v31 = version == "v3.1";
    for st in &roster.students {
        w.users.push(model::User {
            id: s(&st.id),
            district: district.clone(),
            email: st.email.as_ref().map(|e| e.to_string()),
            name: Some(model::Name {
                first: s(&st.first_name),
                middle: st.middle_name.clone(),
                last: s(&st.last_name),
            }),
            roles: Some(model::Roles {
                student: Some(model::StudentRole {
                    sis_id: st.sis_id.clone(),
                    student_number: st.student_number.clone(),
                    state_id: st.state_id.clone(),
                    school: st.school_ids.first().cloned(),
                    schools: st.school_ids.clone(),
                    credentials: st.username.as_ref().map(|u| model::Credentials {
                        district_username: Some(u.clone()),
                    }),
                    dob: st.dob.map(|d| d.format("%m/%d/%Y").to_string()),
                    grade: st.grade.map(|g| g.clever_name().to_string()),
                    home_language: if v31 { st.home_language.clone() } else { None },
                    ..model::StudentRole::default()
                }),
                ..model::Roles::default()
            }),
            ..model::User::default()
        });
    }
    for sf in &roster.staff {
        let mut roles = model::Roles::default();
        let has = |r: StaffRole| sf.roles.contains(&r);
        if has(StaffRole::Teacher) {
            roles.teacher = Some(model::TeacherRole {
                sis_id: sf.sis_id.clone(),
                teacher_number: sf.staff_number.clone(),
                state_id: sf.state_id.clone(),
                title: sf.title.clone(),
                school: sf.school_ids.first().cloned(),
                schools: sf.school_ids.clone(),
                district: district.clone(),
                ..model::TeacherRole::default()
            });
        }
        let other_staff = sf.roles.is_empty()
            || sf.roles.iter().any(|r| {
                matches!(
                    r,
                    StaffRole::Staff
                        | StaffRole::Aide
                        | StaffRole::Proctor
                        | StaffRole::Administrator
                )
            });
        if other_staff {
            roles.staff = Some(model::StaffRole {
                staff_id: sf.staff_number.clone(),
                title: sf.title.clone(),
                schools: sf.school_ids.clone(),
                ..model::StaffRole::default()
            });
        }
        if has(StaffRole::DistrictAdmin) {
            roles.district_admin = Some(model::DistrictAdminRole {
                title: sf.title.clone(),
                ..model::DistrictAdminRole::default()
            });
        }
        w.users.push(model::User {
            id: s(&sf.id),
            district: district.clone(),
            email: sf.email.as_ref().map(|e| e.to_string()),
            name: Some(model::Name {
                first: s(&sf.first_name),
                middle: sf.middle_name.clone(),
                last: s(&sf.last_name),
            }),
            roles: Some(roles),
            ..model::User::default()
        });
    }
    for c in &roster.contacts {
        let full = format!("{} {}", c.first_name, c.last_name)
            .trim()
            .to_string();
        let (phone, phone_type) = match (&c.sms, &c.phone) {
            (Some(sms), _) => (Some(sms.to_string()), Some(PhoneType::Cell)),
            (None, Some(p)) => (Some(p.to_string()), c.phone_type),
            (None, None) => (None, c.phone_type),
        };
        w.users.push(model::User {
            id: s(&c.id),
            district: district.clone(),
            email: c.email.as_ref().map(|e| e.to_string()),
            name: Some(model::Name {
                first: None,
                middle: None,
                last: Some(full),
            }),
            roles: Some(model::Roles {
                contact: Some(model::ContactRole {
                    sis_id: c.sis_id.clone(),
                    phone,
                    phone_type: phone_type.map(|t| t.as_str().to_string()),
                    student_relationships: c
                        .links
                        .iter()
                        .map(|l| model::StudentRelationship {
                            student: s(&l.student_id),
                            relationship: l.relationship.map(|r| r.as_str().to_string()),
                            contact_type: l.contact_type.map(|t| t.as_str().to_string()),
                        })
                        .collect(),
                    ..model::ContactRole::default()
                }),
                ..model::Roles::default()
            }),
            ..model::User::default()
        });
    }
    w
}

/// What the fake Clever accepts and how it misbehaves.
#[derive(Debug, Clone)]
pub struct CleverOptions {
    /// The only bearer token accepted.
    pub token: String,
    /// `X-RateLimit-Limit` (and the starting `X-RateLimit-Remaining`).
    pub rate_limit: u32,
    pub faults: Faults,
}

impl Default for CleverOptions {
    fn default() -> Self {
        Self {
            token: "test-token".to_string(),
            rate_limit: 1200,
            faults: Faults::default(),
        }
    }
}

/// Records of one endpoint as (id, JSON), sorted by id.
type Records = Vec<(String, serde_json::Value)>;

struct Shared {
    /// version → endpoint → records.
    data: BTreeMap<String, BTreeMap<&'static str, Records>>,
    opts: CleverOptions,
    counter: AtomicU32,
    rate_limited_left: AtomicU32,
    errors_left: AtomicU32,
    log: Mutex<Vec<String>>,
}

/// A running fake Clever; stops when dropped.
pub struct CleverServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl std::fmt::Debug for CleverServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CleverServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

fn sorted<T: Serialize>(records: &[T], id: impl Fn(&T) -> Option<String>) -> Records {
    let mut v: Vec<(String, serde_json::Value)> = records
        .iter()
        .map(|r| {
            (
                id(r).unwrap_or_default(),
                serde_json::to_value(r).unwrap_or(serde_json::Value::Null),
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn wire_map(w: &CleverWire) -> BTreeMap<&'static str, Records> {
    BTreeMap::from([
        ("districts", sorted(&w.districts, |r| r.id.clone())),
        ("schools", sorted(&w.schools, |r| r.id.clone())),
        ("users", sorted(&w.users, |r| r.id.clone())),
        ("sections", sorted(&w.sections, |r| r.id.clone())),
        ("terms", sorted(&w.terms, |r| r.id.clone())),
        ("courses", sorted(&w.courses, |r| r.id.clone())),
    ])
}

impl CleverServer {
    /// Starts serving `roster` on `127.0.0.1` (a free port).
    pub async fn start(roster: &Roster, opts: CleverOptions) -> std::io::Result<Self> {
        let data = ["v3.0", "v3.1"]
            .into_iter()
            .map(|v| (v.to_string(), wire_map(&roster_to_clever(roster, v))))
            .collect();
        let shared = Arc::new(Shared {
            data,
            counter: AtomicU32::new(0),
            rate_limited_left: AtomicU32::new(opts.faults.rate_limited),
            errors_left: AtomicU32::new(opts.faults.server_errors),
            log: Mutex::new(Vec::new()),
            opts,
        });
        let app = Router::new()
            .route("/{version}/{endpoint}", get(serve))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self {
            addr,
            shared,
            stop: Some(stop),
        })
    }

    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Path and query of every data request received, in order.
    pub fn requests(&self) -> Vec<String> {
        self.shared
            .log
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }
}

impl Drop for CleverServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn header(h: &mut HeaderMap, name: &'static str, v: impl ToString) {
    if let Ok(v) = HeaderValue::from_str(&v.to_string()) {
        h.insert(name, v);
    }
}

/// Common fault handling for a data request numbered `n`; `Some` is the faulty response.
pub(crate) async fn common_faults(
    faults: &Faults,
    n: u32,
    rate_limited_left: &AtomicU32,
    errors_left: &AtomicU32,
) -> Option<Response> {
    if n <= faults.slow_requests && !faults.delay.is_zero() {
        tokio::time::sleep(faults.delay).await;
    }
    if faults.unauthorized_at == Some(n) {
        return Some((StatusCode::UNAUTHORIZED, "{\"message\":\"unauthorized\"}").into_response());
    }
    let take = |c: &AtomicU32| {
        c.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
            .is_ok()
    };
    if take(rate_limited_left) {
        let mut h = HeaderMap::new();
        header(&mut h, "x-ratelimit-remaining", 0);
        header(&mut h, "x-ratelimit-reset", now() + faults.reset_after);
        return Some((StatusCode::TOO_MANY_REQUESTS, h).into_response());
    }
    if take(errors_left) {
        return Some(
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "{\"message\":\"try later\"}",
            )
                .into_response(),
        );
    }
    None
}

pub(crate) fn query_pairs(q: Option<&str>) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

pub(crate) fn body_bytes(value: &serde_json::Value, truncate: bool) -> Vec<u8> {
    let mut body = serde_json::to_vec(value).unwrap_or_default();
    if truncate {
        body.truncate(body.len() / 2);
    }
    body
}

async fn serve(
    State(sh): State<Arc<Shared>>,
    Path((version, endpoint)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let n = sh.counter.fetch_add(1, Ordering::SeqCst) + 1;
    let full = match &query {
        Some(q) => format!("/{version}/{endpoint}?{q}"),
        None => format!("/{version}/{endpoint}"),
    };
    if let Ok(mut l) = sh.log.lock() {
        l.push(full);
    }
    let faults = &sh.opts.faults;
    let expected = format!("Bearer {}", sh.opts.token);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return (StatusCode::UNAUTHORIZED, "{\"message\":\"invalid token\"}").into_response();
    }
    if let Some(r) = common_faults(faults, n, &sh.rate_limited_left, &sh.errors_left).await {
        return r;
    }
    let Some(records) = sh.data.get(&version).and_then(|m| m.get(endpoint.as_str())) else {
        return (StatusCode::NOT_FOUND, "{\"message\":\"not found\"}").into_response();
    };
    let q = query_pairs(query.as_deref());
    let limit: usize = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => 100,
        Some(Ok(l)) if (1..=10_000).contains(&l) => l,
        Some(Ok(_)) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
        Some(Err(_)) => return StatusCode::BAD_REQUEST.into_response(),
    };
    let after = q.get("starting_after");
    let start = match after {
        Some(a) => records.partition_point(|(id, _)| id <= a),
        None => 0,
    };
    let page: Vec<&(String, serde_json::Value)> = records.iter().skip(start).take(limit).collect();
    let mut links = vec![
        serde_json::json!({"rel": "self", "uri": format!("/{version}/{endpoint}?limit={limit}")}),
    ];
    let more = start + page.len() < records.len();
    if faults.loop_next && after.is_some() {
        links.push(serde_json::json!({"rel": "next", "uri": format!("/{version}/{endpoint}?limit={limit}")}));
    } else if more && let Some((last, _)) = page.last() {
        links.push(serde_json::json!({"rel": "next",
                "uri": format!("/{version}/{endpoint}?limit={limit}&starting_after={}",
                    url::form_urlencoded::byte_serialize(last.as_bytes()).collect::<String>())}));
    }
    let body = serde_json::json!({
        "data": page.iter().map(|(_, v)| serde_json::json!({"data": v})).collect::<Vec<_>>(),
        "links": links,
    });
    let mut h = HeaderMap::new();
    header(&mut h, "content-type", "application/json");
    header(&mut h, "x-ratelimit-limit", sh.opts.rate_limit);
    if faults.remaining_zero_at == Some(n) {
        header(&mut h, "x-ratelimit-remaining", 0);
        header(&mut h, "x-ratelimit-reset", now() + faults.reset_after);
    } else {
        header(
            &mut h,
            "x-ratelimit-remaining",
            sh.opts.rate_limit.saturating_sub(n),
        );
        header(&mut h, "x-ratelimit-reset", now() + 60);
    }
    (
        StatusCode::OK,
        h,
        body_bytes(&body, faults.truncate_at == Some(n)),
    )
        .into_response()
}
