//! A fake OneRoster 1.1 REST server serving a roster under `/ims/oneroster/v1p1/` with
//! `limit`/`offset` paging and `X-Total-Count`, OAuth 1.0a signature verification (HMAC-SHA1
//! and HMAC-SHA256, timestamp window, nonce replay) and an OAuth2 client-credentials token
//! endpoint at `/token`, plus the faults in [`Faults`].

use crate::clever::{body_bytes, common_faults, now, query_pairs};
use crate::faults::Faults;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use domain::{EnrollmentRole, Relationship, Roster, StaffRole};
use serde::Serialize;
use sources::oneroster_api::model::{self, FlexBool, GuidRef, UserId};
use sources::oneroster_api::oauth;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// A roster in OneRoster's REST form: one record list per collection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OneRosterWire {
    pub orgs: Vec<model::Org>,
    pub academic_sessions: Vec<model::AcademicSession>,
    pub courses: Vec<model::Course>,
    pub classes: Vec<model::Class>,
    pub users: Vec<model::User>,
    pub enrollments: Vec<model::Enrollment>,
    pub demographics: Vec<model::Demographics>,
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

fn active() -> Option<String> {
    s("active")
}

fn user_ids(sis: &Option<String>, state: &Option<String>) -> Vec<UserId> {
    let mut v = Vec::new();
    if let Some(x) = sis {
        v.push(UserId {
            id_type: s("SIS"),
            identifier: Some(x.clone()),
        });
    }
    if let Some(x) = state {
        v.push(UserId {
            id_type: s("state"),
            identifier: Some(x.clone()),
        });
    }
    v
}

/// Converts a roster to what a OneRoster 1.1 server would serve. Students carry their
/// contacts as `agents` and contacts their students; a contact's role comes from its first
/// link's relationship (none or `Parent` → parent, `Guardian` → guardian, any other → relative).
pub fn roster_to_oneroster(roster: &Roster) -> OneRosterWire {
    let mut w = OneRosterWire::default();
    let district = roster.district.as_ref().map(|d| d.id.clone());
    if let Some(d) = &roster.district {
        w.orgs.push(model::Org {
            sourced_id: s(&d.id),
            status: active(),
            name: d.name.clone(),
            org_type: s("district"),
            identifier: None,
            ..model::Org::default()
        });
    }
    for x in &roster.schools {
        w.orgs.push(model::Org {
            sourced_id: s(&x.id),
            status: active(),
            name: s(&x.name),
            org_type: s("school"),
            identifier: x.school_number.clone(),
            parent: district.as_deref().map(|d| GuidRef::to("org", d)),
            ..model::Org::default()
        });
    }
    for t in &roster.terms {
        w.academic_sessions.push(model::AcademicSession {
            sourced_id: s(&t.id),
            status: active(),
            title: s(&t.name),
            start_date: t.start_date.map(|d| d.to_string()),
            end_date: t.end_date.map(|d| d.to_string()),
            session_type: s("term"),
            school_year: t.end_date.map(|d| d.format("%Y").to_string()),
            ..model::AcademicSession::default()
        });
    }
    let owner = district
        .clone()
        .or_else(|| roster.schools.first().map(|x| x.id.clone()));
    for c in &roster.courses {
        w.courses.push(model::Course {
            sourced_id: s(&c.id),
            status: active(),
            title: s(&c.name),
            course_code: c.number.clone(),
            org: owner.as_deref().map(|o| GuidRef::to("org", o)),
            ..model::Course::default()
        });
    }
    for k in &roster.sections {
        w.classes.push(model::Class {
            sourced_id: s(&k.id),
            status: active(),
            title: s(&k.name),
            class_code: k.section_number.clone(),
            class_type: k.class_type.map(|t| {
                match t {
                    domain::ClassType::Homeroom => "homeroom",
                    domain::ClassType::Scheduled => "scheduled",
                }
                .to_string()
            }),
            grades: k.grade.map(|g| g.code().to_string()).into_iter().collect(),
            subjects: k.subject.clone().into_iter().collect(),
            periods: k
                .period
                .as_deref()
                .map(|p| p.split(',').map(str::to_string).collect())
                .unwrap_or_default(),
            course: k.course_id.as_deref().map(|c| GuidRef::to("course", c)),
            school: Some(GuidRef::to("org", &k.school_id)),
            terms: k
                .term_ids
                .iter()
                .map(|t| GuidRef::to("academicSession", t))
                .collect(),
            ..model::Class::default()
        });
    }
    let mut agents_of_student: HashMap<&str, Vec<&str>> = HashMap::new();
    for c in &roster.contacts {
        for l in &c.links {
            agents_of_student
                .entry(l.student_id.as_str())
                .or_default()
                .push(c.id.as_str());
        }
    }
    let orgs = |ids: &[String]| ids.iter().map(|o| GuidRef::to("org", o)).collect();
    for st in &roster.students {
        w.users.push(model::User {
            sourced_id: s(&st.id),
            status: active(),
            username: st.username.clone(),
            user_ids: user_ids(&st.sis_id, &st.state_id),
            enabled_user: Some(FlexBool::Text("true".into())),
            given_name: s(&st.first_name),
            family_name: s(&st.last_name),
            middle_name: st.middle_name.clone(),
            role: s("student"),
            identifier: st.student_number.clone(),
            email: st.email.as_ref().map(|e| e.to_string()),
            agents: agents_of_student
                .get(st.id.as_str())
                .map(|a| a.iter().map(|c| GuidRef::to("user", c)).collect())
                .unwrap_or_default(),
            orgs: orgs(&st.school_ids),
            grades: st.grade.map(|g| g.code().to_string()).into_iter().collect(),
            ..model::User::default()
        });
        if let Some(dob) = st.dob {
            w.demographics.push(model::Demographics {
                sourced_id: s(&st.id),
                status: active(),
                birth_date: Some(dob.to_string()),
                ..model::Demographics::default()
            });
        }
    }
    for sf in &roster.staff {
        let role = match sf.roles.first() {
            None | Some(StaffRole::Teacher) => "teacher",
            Some(StaffRole::Aide) => "aide",
            Some(StaffRole::Proctor) => "proctor",
            _ => "administrator",
        };
        w.users.push(model::User {
            sourced_id: s(&sf.id),
            status: active(),
            user_ids: user_ids(&sf.sis_id, &sf.state_id),
            enabled_user: Some(FlexBool::Bool(true)),
            given_name: s(&sf.first_name),
            family_name: s(&sf.last_name),
            middle_name: sf.middle_name.clone(),
            role: s(role),
            identifier: sf.staff_number.clone(),
            email: sf.email.as_ref().map(|e| e.to_string()),
            sms: sf.sms.as_ref().map(|p| p.to_string()),
            phone: sf.phone.as_ref().map(|p| p.to_string()),
            orgs: orgs(&sf.school_ids),
            ..model::User::default()
        });
    }
    for c in &roster.contacts {
        // OneRoster's contact roles: parent, guardian and relative, which covers every other
        // relationship (grandparent, aunt/uncle, sibling…), as the synth writers say.
        let role = match c.links.first().and_then(|l| l.relationship) {
            None | Some(Relationship::Parent) => "parent",
            Some(Relationship::Guardian) => "guardian",
            Some(_) => "relative",
        };
        w.users.push(model::User {
            sourced_id: s(&c.id),
            status: active(),
            user_ids: user_ids(&c.sis_id, &None),
            enabled_user: Some(FlexBool::Bool(true)),
            given_name: s(&c.first_name),
            family_name: s(&c.last_name),
            role: s(role),
            email: c.email.as_ref().map(|e| e.to_string()),
            sms: c.sms.as_ref().map(|p| p.to_string()),
            phone: c.phone.as_ref().map(|p| p.to_string()),
            agents: c
                .links
                .iter()
                .map(|l| GuidRef::to("user", &l.student_id))
                .collect(),
            ..model::User::default()
        });
    }
    for e in &roster.enrollments {
        let role = match e.role {
            EnrollmentRole::Student => "student",
            EnrollmentRole::Teacher => "teacher",
            EnrollmentRole::Aide => "aide",
            EnrollmentRole::Administrator => "administrator",
            EnrollmentRole::Proctor => "proctor",
        };
        w.enrollments.push(model::Enrollment {
            sourced_id: Some(format!("{}-{}-{role}", e.section_id, e.user_id)),
            status: active(),
            user: Some(GuidRef::to("user", &e.user_id)),
            class: Some(GuidRef::to("class", &e.section_id)),
            school: Some(GuidRef::to("org", &e.school_id)),
            role: s(role),
            primary: Some(FlexBool::Bool(e.primary)),
            begin_date: e.begin_date.map(|d| d.to_string()),
            end_date: e.end_date.map(|d| d.to_string()),
            ..model::Enrollment::default()
        });
    }
    w
}

/// What the fake OneRoster server accepts and how it misbehaves.
#[derive(Debug, Clone, Default)]
pub struct OneRosterOptions {
    /// OAuth 1.0a consumer key and secret, when signing is accepted.
    pub oauth1: Option<(String, String)>,
    /// OAuth2 client id and secret, when the token endpoint is offered.
    pub oauth2: Option<(String, String)>,
    /// An OAuth2 token stops working after this many data requests.
    pub token_uses: Option<u32>,
    /// The server serves at most this many records per page, whatever `limit` says.
    pub max_limit: Option<usize>,
    /// `status: tobedeleted` records added to each collection (served, not in the roster).
    pub tobedeleted: OneRosterWire,
    pub faults: Faults,
}

struct Shared {
    data: BTreeMap<&'static str, Vec<serde_json::Value>>,
    opts: OneRosterOptions,
    counter: AtomicU32,
    rate_limited_left: AtomicU32,
    errors_left: AtomicU32,
    tokens: Mutex<HashMap<String, u32>>,
    issued: AtomicU32,
    nonces: Mutex<HashSet<String>>,
    log: Mutex<Vec<String>>,
}

/// A running fake OneRoster server; stops when dropped.
pub struct OneRosterServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl std::fmt::Debug for OneRosterServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneRosterServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

fn values<T: Serialize>(a: &[T], b: &[T]) -> Vec<serde_json::Value> {
    a.iter()
        .chain(b)
        .filter_map(|r| serde_json::to_value(r).ok())
        .collect()
}

impl OneRosterServer {
    /// Starts serving `roster` on `127.0.0.1` (a free port).
    pub async fn start(roster: &Roster, opts: OneRosterOptions) -> std::io::Result<Self> {
        let w = roster_to_oneroster(roster);
        let d = &opts.tobedeleted;
        let data = BTreeMap::from([
            ("orgs", values(&w.orgs, &d.orgs)),
            (
                "academicSessions",
                values(&w.academic_sessions, &d.academic_sessions),
            ),
            ("courses", values(&w.courses, &d.courses)),
            ("classes", values(&w.classes, &d.classes)),
            ("users", values(&w.users, &d.users)),
            ("enrollments", values(&w.enrollments, &d.enrollments)),
            ("demographics", values(&w.demographics, &d.demographics)),
        ]);
        let shared = Arc::new(Shared {
            data,
            counter: AtomicU32::new(0),
            rate_limited_left: AtomicU32::new(opts.faults.rate_limited),
            errors_left: AtomicU32::new(opts.faults.server_errors),
            tokens: Mutex::new(HashMap::new()),
            issued: AtomicU32::new(0),
            nonces: Mutex::new(HashSet::new()),
            log: Mutex::new(Vec::new()),
            opts,
        });
        let app = Router::new()
            .route("/ims/oneroster/v1p1/{collection}", get(serve))
            .route("/token", post(token))
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

    /// The server root, `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The OAuth2 token endpoint.
    pub fn token_url(&self) -> String {
        format!("{}/token", self.base_url())
    }

    /// Path and query of every data request received, in order.
    pub fn requests(&self) -> Vec<String> {
        self.shared
            .log
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    /// How many OAuth2 tokens were issued.
    pub fn tokens_issued(&self) -> u32 {
        self.shared.issued.load(Ordering::SeqCst)
    }
}

impl Drop for OneRosterServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

fn unauthorized(why: &str) -> Box<Response> {
    Box::new(
        (
            StatusCode::UNAUTHORIZED,
            serde_json::json!({"imsx_codeMajor": "failure", "imsx_description": why}).to_string(),
        )
            .into_response(),
    )
}

async fn token(State(sh): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some((id, secret)) = &sh.opts.oauth2 else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    if basic.as_deref() != Some(format!("{id}:{secret}").as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            "{\"error\":\"invalid_client\"}".to_string(),
        )
            .into_response();
    }
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return (
            StatusCode::BAD_REQUEST,
            "{\"error\":\"unsupported_grant_type\"}".to_string(),
        )
            .into_response();
    }
    let n = sh.issued.fetch_add(1, Ordering::SeqCst) + 1;
    let tok = format!("tok-{n}-{}", oauth::nonce());
    if let Ok(mut t) = sh.tokens.lock() {
        t.insert(tok.clone(), 0);
    }
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    (
        StatusCode::OK,
        h,
        serde_json::json!({"access_token": tok, "token_type": "bearer", "expires_in": 3600})
            .to_string(),
    )
        .into_response()
}

/// Checks the request's credentials; `Err` is the 401 to send.
fn check_auth(
    sh: &Shared,
    headers: &HeaderMap,
    path: &str,
    query: Option<&str>,
) -> Result<(), Box<Response>> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if let Some(tok) = auth.strip_prefix("Bearer ") {
        let Ok(mut tokens) = sh.tokens.lock() else {
            return Err(unauthorized("token store"));
        };
        let Some(uses) = tokens.get_mut(tok) else {
            return Err(unauthorized("unknown token"));
        };
        *uses += 1;
        if sh.opts.token_uses.is_some_and(|max| *uses > max) {
            return Err(unauthorized("token expired"));
        }
        return Ok(());
    }
    let Some((key, secret)) = &sh.opts.oauth1 else {
        return Err(unauthorized("no credentials"));
    };
    let Some(pairs) = oauth::parse_authorization(auth) else {
        return Err(unauthorized("no OAuth header"));
    };
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if get("oauth_consumer_key") != Some(key.as_str()) {
        return Err(unauthorized("unknown consumer key"));
    }
    let Some(method) = get("oauth_signature_method").and_then(oauth::SignatureMethod::parse) else {
        return Err(unauthorized("unsupported signature method"));
    };
    let ts: u64 = get("oauth_timestamp")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let now = now();
    if ts + 600 < now || ts > now + 300 {
        return Err(unauthorized("timestamp out of window"));
    }
    let Some(nonce) = get("oauth_nonce") else {
        return Err(unauthorized("no nonce"));
    };
    if let Ok(mut seen) = sh.nonces.lock()
        && !seen.insert(format!("{ts}:{nonce}"))
    {
        return Err(unauthorized("nonce replayed"));
    }
    let Some(given) = get("oauth_signature") else {
        return Err(unauthorized("no signature"));
    };
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut params: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    params.extend(
        pairs
            .iter()
            .filter(|(k, _)| k != "oauth_signature" && k != "realm")
            .cloned(),
    );
    let base = oauth::base_string("GET", &format!("http://{host}{path}"), &params);
    if oauth::sign(method, &base, secret, "") != given {
        return Err(unauthorized("bad signature"));
    }
    Ok(())
}

async fn serve(
    State(sh): State<Arc<Shared>>,
    Path(collection): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let n = sh.counter.fetch_add(1, Ordering::SeqCst) + 1;
    let path = format!("/ims/oneroster/v1p1/{collection}");
    if let Ok(mut l) = sh.log.lock() {
        l.push(match &query {
            Some(q) => format!("{path}?{q}"),
            None => path.clone(),
        });
    }
    if let Err(r) = check_auth(&sh, &headers, &path, query.as_deref()) {
        return *r;
    }
    let faults = &sh.opts.faults;
    if let Some(r) = common_faults(faults, n, &sh.rate_limited_left, &sh.errors_left).await {
        return r;
    }
    let Some((key, records)) = sh.data.get_key_value(collection.as_str()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let q = query_pairs(query.as_deref());
    let mut limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(100);
    if let Some(max) = sh.opts.max_limit {
        limit = limit.min(max);
    }
    let offset: usize = q.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let page: Vec<&serde_json::Value> = records.iter().skip(offset).take(limit).collect();
    let body = serde_json::json!({ *key: page });
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    let total = faults.lying_total.unwrap_or(records.len() as u64);
    if let Ok(v) = HeaderValue::from_str(&total.to_string()) {
        h.insert("x-total-count", v);
    }
    (
        StatusCode::OK,
        h,
        body_bytes(&body, faults.truncate_at == Some(n)),
    )
        .into_response()
}
