//! OneRoster 1.1 REST reader: pages through orgs, academicSessions, courses, classes, users,
//! enrollments and demographics under `{base}/ims/oneroster/v1p1/`, signed with OAuth 1.0a
//! (HMAC-SHA256 or HMAC-SHA1) or authorised with an OAuth2 client-credentials token, and
//! converts them to a canonical [`Roster`].
//!
//! Paging: `limit`/`offset` until `offset ≥ X-Total-Count`, a short page (without a total) or an
//! empty page; a server that repeats records or never ends is an `invalid_response` error.
//! Every page goes verbatim to the [`RawSink`] as `oneroster/<collection>/<nnnn>.json`.

pub mod model;
pub mod oauth;

pub use crate::clever_api::transport::{Clock, SystemClock};
pub use model::COLLECTIONS;
pub use oauth::SignatureMethod;

use crate::clever_api::transport::{self, Fetched, Pacer, Policy, exchange, json_error};
use crate::files::ids::{IdMap, IdSet};
use crate::{RawSink, SourceError};
use domain::{
    ClassType, Contact, ContactLink, Course, Coverage, Deletion, Email, Enrollment, EnrollmentRole,
    EntityKind, FeedMode, Grade, Issue, IssueCode, Location, Phone, Relationship, Roster, School,
    Section, SourceDistrict, SourceKind, Staff, StaffRole, Student, Term, parse_date,
};
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The REST base below the server root.
pub const API_PREFIX: &str = "/ims/oneroster/v1p1";

/// How requests are authorised.
#[derive(Clone)]
pub enum OneRosterAuth {
    /// One-legged OAuth 1.0a request signing.
    OAuth1 {
        key: String,
        secret: String,
        method: SignatureMethod,
    },
    /// OAuth2 client credentials: a bearer token from `token_url`.
    OAuth2 {
        client_id: String,
        client_secret: String,
        token_url: String,
        scope: Option<String>,
    },
}

impl fmt::Debug for OneRosterAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OAuth1 { method, .. } => f
                .debug_struct("OAuth1")
                .field("method", method)
                .finish_non_exhaustive(),
            Self::OAuth2 {
                token_url, scope, ..
            } => f
                .debug_struct("OAuth2")
                .field("token_url", token_url)
                .field("scope", scope)
                .finish_non_exhaustive(),
        }
    }
}

/// How to reach one OneRoster 1.1 server.
#[derive(Clone)]
pub struct OneRosterConfig {
    /// Server root; requests go to `{base_url}/ims/oneroster/v1p1/...`.
    pub base_url: String,
    pub auth: OneRosterAuth,
    /// Records per page (default 1000).
    pub page_limit: u32,
    /// Retries after a 429, 5xx or timeout before giving up.
    pub retries: u32,
    /// Per-request timeout.
    pub timeout: Duration,
    pub requests_per_minute: u32,
    /// First backoff after a 5xx or timeout (doubles each try).
    pub backoff_base: Duration,
    pub clock: Arc<dyn Clock>,
}

impl OneRosterConfig {
    pub fn new(base_url: impl Into<String>, auth: OneRosterAuth) -> Self {
        Self {
            base_url: base_url.into(),
            auth,
            page_limit: 1000,
            retries: 5,
            timeout: Duration::from_secs(60),
            requests_per_minute: 1200,
            backoff_base: Duration::from_millis(500),
            clock: transport::system_clock(),
        }
    }

    fn policy(&self) -> Policy {
        Policy {
            max_retries: self.retries,
            requests_per_minute: self.requests_per_minute,
            backoff_base: self.backoff_base,
            max_backoff: Duration::from_secs(30),
            default_rate_wait: Duration::from_secs(5),
            max_rate_wait: Duration::from_secs(120),
            clock: self.clock.clone(),
        }
    }
}

impl fmt::Debug for OneRosterConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OneRosterConfig")
            .field("base_url", &self.base_url)
            .field("auth", &self.auth)
            .field("page_limit", &self.page_limit)
            .field("retries", &self.retries)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// One fetched page of a collection.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub path: String,
    pub records: Vec<T>,
}

/// Every page of every collection, as fetched.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OneRosterPages {
    pub orgs: Vec<Page<model::Org>>,
    pub academic_sessions: Vec<Page<model::AcademicSession>>,
    pub courses: Vec<Page<model::Course>>,
    pub classes: Vec<Page<model::Class>>,
    pub users: Vec<Page<model::User>>,
    pub enrollments: Vec<Page<model::Enrollment>>,
    pub demographics: Vec<Page<model::Demographics>>,
}

/// Fetches every collection and converts the result to a canonical roster.
pub async fn fetch(cfg: &OneRosterConfig, raw: &mut dyn RawSink) -> Result<Roster, SourceError> {
    let pages = fetch_pages(cfg, raw).await?;
    from_pages(&pages)
}

/// Never read more pages than this from one collection.
pub const MAX_PAGES: usize = 100_000;

/// Fetches every page of every collection (stored verbatim in `raw`), without converting.
pub async fn fetch_pages(
    cfg: &OneRosterConfig,
    raw: &mut dyn RawSink,
) -> Result<OneRosterPages, SourceError> {
    let mut s = Client::new(cfg)?;
    Ok(OneRosterPages {
        orgs: s.collection("orgs", raw).await?,
        academic_sessions: s.collection("academicSessions", raw).await?,
        courses: s.collection("courses", raw).await?,
        classes: s.collection("classes", raw).await?,
        users: s.collection("users", raw).await?,
        enrollments: s.collection("enrollments", raw).await?,
        demographics: s.collection("demographics", raw).await?,
    })
}

struct Token {
    value: String,
    /// Unix seconds after which the token is refreshed before use.
    refresh_at: Option<u64>,
}

/// One HTTP session with a OneRoster server: authorised GETs, paced and retried. [`fetch_pages`]
/// reads whole collections through it; a caller that pages on its own (the Lambda fetch that
/// checkpoints between invocations) uses [`Client::page_path`], [`Client::get`] and
/// [`Paging`], so both read the same pages and stop at the same place.
pub struct Client<'a> {
    cfg: &'a OneRosterConfig,
    base: String,
    client: reqwest::Client,
    pacer: Pacer,
    token: Option<Token>,
    limit: u32,
}

/// The paging rules of one collection, fed page by page: loop detection on `sourcedId`s and
/// the end of the collection.
#[derive(Debug, Default)]
pub struct Paging {
    /// Records read so far (the next page's offset).
    pub offset: u64,
    seen: HashSet<String>,
}

impl Paging {
    /// Takes in the records of a page read before (resuming a collection page by page), without
    /// the checks of [`Paging::page`].
    pub fn already_read(&mut self, records: &[serde_json::Value]) {
        self.offset += records.len() as u64;
        self.seen.extend(
            records
                .iter()
                .filter_map(|v| v.get("sourcedId").and_then(|i| i.as_str()))
                .filter(|id| !id.is_empty())
                .map(str::to_string),
        );
    }

    /// Takes in one page (`records`, read at `path` with `limit` and `fetched`'s headers).
    /// `Ok(true)`: the collection is complete. An error when the page only repeats records
    /// already read (a server that ignores `offset`).
    pub fn page(
        &mut self,
        path: &str,
        limit: u32,
        fetched: &Fetched,
        records: &[serde_json::Value],
    ) -> Result<bool, SourceError> {
        let total = fetched
            .headers
            .get("x-total-count")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let n = records.len();
        if n > 0 {
            let mut fresh = 0usize;
            for v in records {
                let id = v.get("sourcedId").and_then(|i| i.as_str()).unwrap_or("");
                if id.is_empty() || self.seen.insert(id.to_string()) {
                    fresh += 1;
                }
            }
            if fresh == 0 {
                return Err(invalid_response(
                    path,
                    "the page repeats records already read (the server ignores offset)",
                ));
            }
        }
        self.offset += n as u64;
        // A full page is never the last on the word of `X-Total-Count` alone (servers send
        // totals that are too low): the next page, empty or short, ends the collection. A
        // short page ends it unless the total says more is coming (a server capping `limit`).
        Ok(match total {
            _ if n == 0 => true,
            _ if n >= limit as usize => false,
            Some(t) => self.offset >= t,
            None => true,
        })
    }
}

impl<'a> Client<'a> {
    pub fn new(cfg: &'a OneRosterConfig) -> Result<Self, SourceError> {
        Ok(Self {
            cfg,
            base: cfg.base_url.trim_end_matches('/').to_string(),
            client: transport::client(cfg.timeout)?,
            pacer: Pacer::new(cfg.policy()),
            token: None,
            limit: cfg.page_limit.max(1),
        })
    }

    /// The page size asked for.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The request path of collection `name`'s page at `offset`.
    pub fn page_path(&self, name: &str, offset: u64) -> String {
        format!("{API_PREFIX}/{name}?limit={}&offset={offset}", self.limit)
    }

    async fn collection<T: DeserializeOwned>(
        &mut self,
        name: &str,
        raw: &mut dyn RawSink,
    ) -> Result<Vec<Page<T>>, SourceError> {
        let mut pages = Vec::new();
        let mut paging = Paging::default();
        loop {
            let path = self.page_path(name, paging.offset);
            if pages.len() >= MAX_PAGES {
                return Err(invalid_response(&path, "too many pages; giving up"));
            }
            let fetched = self.get(&path).await?;
            raw.put(
                format!("oneroster/{name}/{:04}.json", pages.len() + 1),
                fetched.body.clone(),
            )
            .await?;
            let values = parse_envelope(&path, name, &fetched.body)?;
            let done = paging.page(&path, self.limit, &fetched, &values)?;
            let mut typed = Vec::with_capacity(values.len());
            for (i, v) in values.into_iter().enumerate() {
                typed.push(serde_json::from_value(v).map_err(|e| {
                    SourceError::invalid(Issue::error(
                        IssueCode::InvalidResponse,
                        Location::api(format!("{path} {name}[{i}]")),
                        format!("record of unexpected shape: {}", shape_message(&e)),
                    ))
                })?);
            }
            pages.push(Page {
                path,
                records: typed,
            });
            if done {
                break;
            }
        }
        tracing::info!(
            collection = name,
            pages = pages.len(),
            records = paging.offset,
            "collection read"
        );
        Ok(pages)
    }

    /// One authorised GET of `path` (below the server root), with one token refresh on 401.
    pub async fn get(&mut self, path: &str) -> Result<Fetched, SourceError> {
        let url = url::Url::parse(&format!("{}{path}", self.base)).map_err(|_| {
            SourceError::invalid(Issue::error(
                IssueCode::InvalidResponse,
                Location::api(path),
                "the base URL does not form a valid URL",
            ))
        })?;
        match self.cfg.auth.clone() {
            OneRosterAuth::OAuth1 {
                key,
                secret,
                method,
            } => {
                let (client, clock) = (&self.client, self.cfg.clock.clone());
                self.pacer
                    .run(path, || {
                        let header = oauth::authorization(
                            "GET",
                            &url,
                            &key,
                            &secret,
                            method,
                            clock.now_unix(),
                            &oauth::nonce(),
                        );
                        exchange(
                            client
                                .get(url.clone())
                                .header(reqwest::header::AUTHORIZATION, header),
                        )
                    })
                    .await
            }
            OneRosterAuth::OAuth2 { .. } => {
                let mut refreshed = false;
                loop {
                    let now = self.cfg.clock.now_unix();
                    let stale = match &self.token {
                        None => true,
                        Some(t) => t.refresh_at.is_some_and(|at| now >= at),
                    };
                    if stale {
                        self.token = Some(self.fetch_token().await?);
                    }
                    let bearer = self
                        .token
                        .as_ref()
                        .map(|t| t.value.clone())
                        .unwrap_or_default();
                    let client = &self.client;
                    let res = self
                        .pacer
                        .run(path, || {
                            exchange(client.get(url.clone()).bearer_auth(&bearer))
                        })
                        .await;
                    match res {
                        Err(SourceError::WrongCredentials { status: 401, .. }) if !refreshed => {
                            tracing::info!(path, "401 with a cached token; fetching a new one");
                            refreshed = true;
                            self.token = None;
                        }
                        other => return other,
                    }
                }
            }
        }
    }

    async fn fetch_token(&mut self) -> Result<Token, SourceError> {
        let OneRosterAuth::OAuth2 {
            client_id,
            client_secret,
            token_url,
            scope,
        } = self.cfg.auth.clone()
        else {
            return Err(invalid_response("", "no OAuth2 configuration"));
        };
        let mut form: Vec<(&str, String)> = vec![("grant_type", "client_credentials".into())];
        if let Some(s) = scope.filter(|s| !s.is_empty()) {
            form.push(("scope", s));
        }
        let client = &self.client;
        let fetched = self
            .pacer
            .run_with(
                &token_url,
                || {
                    exchange(
                        client
                            .post(&token_url)
                            .basic_auth(&client_id, Some(&client_secret))
                            .form(&form),
                    )
                },
                &[400, 401, 403],
            )
            .await?;
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            access_token: String,
            expires_in: Option<u64>,
        }
        let t: TokenResponse =
            serde_json::from_slice(&fetched.body).map_err(|e| json_error(&token_url, &e))?;
        tracing::info!(expires_in = t.expires_in, "OAuth2 token obtained");
        let now = self.cfg.clock.now_unix();
        Ok(Token {
            value: t.access_token,
            refresh_at: t.expires_in.map(|s| now + s.saturating_sub(30)),
        })
    }
}

fn invalid_response(path: &str, msg: &str) -> SourceError {
    SourceError::invalid(Issue::error(
        IssueCode::InvalidResponse,
        Location::api(path),
        msg,
    ))
}

fn shape_message(e: &serde_json::Error) -> String {
    let s = e.to_string();
    s.split(" at line")
        .next()
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect()
}

/// The records under `key` in `{"<key>": [...]}`.
fn parse_envelope(
    path: &str,
    key: &str,
    body: &[u8],
) -> Result<Vec<serde_json::Value>, SourceError> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| json_error(path, &e))?;
    match v.get(key) {
        Some(serde_json::Value::Array(a)) => Ok(a.clone()),
        Some(serde_json::Value::Null) => Ok(Vec::new()),
        _ => Err(invalid_response(
            path,
            &format!("the response has no \"{key}\" list"),
        )),
    }
}

/// Parses one collection envelope (for tests and replay of stored pages).
pub fn parse_page<T: DeserializeOwned>(
    path: &str,
    key: &str,
    body: &[u8],
) -> Result<Page<T>, SourceError> {
    let values = parse_envelope(path, key, body)?;
    let mut records = Vec::with_capacity(values.len());
    for (i, v) in values.into_iter().enumerate() {
        records.push(serde_json::from_value(v).map_err(|e| {
            SourceError::invalid(Issue::error(
                IssueCode::InvalidResponse,
                Location::api(format!("{path} {key}[{i}]")),
                format!("record of unexpected shape: {}", shape_message(&e)),
            ))
        })?);
    }
    Ok(Page {
        path: path.to_string(),
        records,
    })
}

struct At<'a> {
    path: &'a str,
    key: &'static str,
    index: usize,
}

impl At<'_> {
    fn field(&self, f: &str) -> Location {
        Location::api(format!("{} {}[{}].{f}", self.path, self.key, self.index))
    }
}

fn records<'a, T>(
    pages: &'a [Page<T>],
    key: &'static str,
) -> impl Iterator<Item = (At<'a>, &'a T)> {
    pages.iter().flat_map(move |p| {
        p.records.iter().enumerate().map(move |(index, r)| {
            (
                At {
                    path: &p.path,
                    key,
                    index,
                },
                r,
            )
        })
    })
}

fn nonempty(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|s| !s.is_empty())
}

fn owned(v: Option<&str>) -> Option<String> {
    nonempty(v).map(str::to_string)
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

fn deleted(status: Option<&str>) -> bool {
    nonempty(status).is_some_and(|s| s.eq_ignore_ascii_case("tobedeleted"))
}

/// The `userIds` identifier of one of the given types (case-insensitive).
fn user_id_of(u: &model::User, types: &[&str]) -> Option<String> {
    u.user_ids.iter().find_map(|x| {
        let t = x.id_type.as_deref()?.trim().to_ascii_lowercase();
        types
            .contains(&t.as_str())
            .then(|| owned(x.identifier.as_deref()))
            .flatten()
    })
}

const SIS_TYPES: [&str; 3] = ["sis", "sis_id", "sisid"];
const STATE_TYPES: [&str; 3] = ["state", "state_id", "stateid"];

enum Kind {
    Student,
    Staff(StaffRole),
    Contact(Relationship),
}

fn user_kind(role: &str) -> Option<Kind> {
    Some(match role.trim().to_ascii_lowercase().as_str() {
        "student" => Kind::Student,
        "teacher" => Kind::Staff(StaffRole::Teacher),
        "aide" => Kind::Staff(StaffRole::Aide),
        "proctor" => Kind::Staff(StaffRole::Proctor),
        "administrator" => Kind::Staff(StaffRole::Administrator),
        "parent" => Kind::Contact(Relationship::Parent),
        "guardian" => Kind::Contact(Relationship::Guardian),
        "relative" => Kind::Contact(Relationship::Relative),
        _ => return None,
    })
}

fn enrollment_role(role: &str) -> Option<EnrollmentRole> {
    Some(match role.trim().to_ascii_lowercase().as_str() {
        "student" => EnrollmentRole::Student,
        "teacher" => EnrollmentRole::Teacher,
        "aide" => EnrollmentRole::Aide,
        "administrator" => EnrollmentRole::Administrator,
        "proctor" => EnrollmentRole::Proctor,
        _ => return None,
    })
}

/// What an org id names, for the records that name their school.
#[derive(Clone, Copy)]
enum OrgRef {
    School,
    /// A school org that is `tobedeleted`.
    Gone,
    /// An org of another type (district, department…).
    Other,
}

impl OrgRef {
    /// Why an org reference does not name a live school, or `None` when it does.
    fn not_a_school(r: Option<&OrgRef>) -> Option<&'static str> {
        match r {
            Some(OrgRef::School) => None,
            Some(OrgRef::Gone) => Some("is a school to be deleted (tobedeleted)"),
            Some(OrgRef::Other) => Some("is an org that is not a school"),
            None => Some("is not among the orgs"),
        }
    }
}

#[derive(Default)]
struct Convert {
    warnings: Vec<Issue>,
}

impl Convert {
    fn warn(&mut self, code: IssueCode, loc: Location, msg: impl Into<String>) {
        self.warnings.push(Issue::warning(code, loc, msg));
    }

    fn id(&mut self, at: &At<'_>, id: Option<&str>) -> Option<String> {
        let id = owned(id);
        if id.is_none() {
            self.warn(
                IssueCode::MissingValue,
                at.field("sourcedId"),
                "record without a sourcedId; skipped",
            );
        }
        id
    }

    /// The record's id when it is the first of its collection with that id; a repeat (the same
    /// record on two pages, e.g. shifted by offset paging while records were added or removed)
    /// is skipped with a warning: the first wins.
    fn first_id(&mut self, seen: &mut IdSet, at: &At<'_>, id: Option<&str>) -> Option<String> {
        let id = self.id(at, id)?;
        seen.first(
            id,
            "sourcedId",
            || at.field("sourcedId"),
            &mut self.warnings,
        )
    }

    fn grade(&mut self, at: &At<'_>, field: &str, grades: &[String]) -> Option<Grade> {
        let (i, v) = grades
            .iter()
            .enumerate()
            .find(|(_, g)| !g.trim().is_empty())?;
        let g = Grade::parse(v);
        if g.is_none() {
            self.warn(
                IssueCode::UnknownEnumValue,
                at.field(&format!("{field}[{i}]")),
                format!("unknown grade {:?}", clip(v)),
            );
        }
        g
    }

    fn date(&mut self, at: &At<'_>, field: &str, raw: Option<&str>) -> Option<chrono::NaiveDate> {
        let v = nonempty(raw)?;
        let d = parse_date(v);
        if d.is_none() {
            self.warn(
                IssueCode::MalformedDate,
                at.field(field),
                "not a date (expected YYYY-MM-DD); dropped",
            );
        }
        d
    }

    fn email(&mut self, at: &At<'_>, raw: Option<&str>) -> Option<Email> {
        let v = nonempty(raw)?;
        let e = Email::parse(v);
        if e.is_none() {
            self.warn(
                IssueCode::InvalidEmail,
                at.field("email"),
                "not an email address (local@domain); dropped",
            );
        }
        e
    }

    fn phone(&mut self, at: &At<'_>, field: &str, raw: Option<&str>) -> Option<Phone> {
        let v = nonempty(raw)?;
        let p = Phone::parse(v);
        if p.is_none() {
            self.warn(
                IssueCode::UnusablePhone,
                at.field(field),
                "not a usable phone number; dropped",
            );
        }
        p
    }
}

/// Converts fetched pages to a canonical roster. `tobedeleted` records are left out of the
/// live set and listed in `deletions`; bad values become warnings.
pub fn from_pages(pages: &OneRosterPages) -> Result<Roster, SourceError> {
    let mut c = Convert::default();
    let mut roster = Roster {
        source: Some(SourceKind::OnerosterApi),
        coverage: Coverage {
            schools: FeedMode::Bulk,
            sections: FeedMode::Bulk,
            users: FeedMode::Bulk,
            enrollments: FeedMode::Bulk,
        },
        ..Roster::default()
    };
    // What a class, a user or an enrollment may name as its school: a live school org.
    let mut orgs: IdMap<OrgRef> = IdMap::default();
    let mut seen = IdSet::default();
    for (at, o) in records(&pages.orgs, "orgs") {
        let Some(id) = c.first_id(&mut seen, &at, o.sourced_id.as_deref()) else {
            continue;
        };
        let kind = nonempty(o.org_type.as_deref()).map(str::to_ascii_lowercase);
        let is_school = kind.as_deref() == Some("school");
        if deleted(o.status.as_deref()) {
            orgs.insert(
                &id,
                if is_school {
                    OrgRef::Gone
                } else {
                    OrgRef::Other
                },
            );
            if kind.as_deref() == Some("school") {
                roster.deletions.push(Deletion {
                    entity: EntityKind::Schools,
                    id,
                });
            }
            continue;
        }
        orgs.insert(
            &id,
            if is_school {
                OrgRef::School
            } else {
                OrgRef::Other
            },
        );
        match kind.as_deref() {
            Some("school") => roster.schools.push(School {
                id,
                name: o.name.clone().unwrap_or_default(),
                sis_id: None,
                school_number: owned(o.identifier.as_deref()),
                state_id: None,
                nces_id: None,
                low_grade: None,
                high_grade: None,
            }),
            Some("district") => {
                if roster.district.is_none() {
                    roster.district = Some(SourceDistrict {
                        id,
                        name: owned(o.name.as_deref()),
                        state: None,
                        pause_start: None,
                        pause_end: None,
                    });
                }
            }
            Some("department" | "local" | "state" | "national") => {}
            Some(other) => c.warn(
                IssueCode::UnknownEnumValue,
                at.field("type"),
                format!("unknown org type {:?}", clip(other)),
            ),
            None => c.warn(
                IssueCode::MissingValue,
                at.field("type"),
                "org without a type; ignored",
            ),
        }
    }
    let mut seen = IdSet::default();
    for (at, t) in records(&pages.academic_sessions, "academicSessions") {
        let Some(id) = c.first_id(&mut seen, &at, t.sourced_id.as_deref()) else {
            continue;
        };
        if deleted(t.status.as_deref()) {
            continue;
        }
        roster.terms.push(Term {
            id,
            name: t.title.clone().unwrap_or_default(),
            start_date: c.date(&at, "startDate", t.start_date.as_deref()),
            end_date: c.date(&at, "endDate", t.end_date.as_deref()),
        });
    }
    let mut seen = IdSet::default();
    for (at, k) in records(&pages.courses, "courses") {
        let Some(id) = c.first_id(&mut seen, &at, k.sourced_id.as_deref()) else {
            continue;
        };
        if deleted(k.status.as_deref()) {
            continue;
        }
        roster.courses.push(Course {
            id,
            name: k.title.clone().unwrap_or_default(),
            number: owned(k.course_code.as_deref()),
        });
    }
    let mut section_school: BTreeMap<String, String> = BTreeMap::new();
    let mut seen = IdSet::default();
    for (at, k) in records(&pages.classes, "classes") {
        let Some(id) = c.first_id(&mut seen, &at, k.sourced_id.as_deref()) else {
            continue;
        };
        if deleted(k.status.as_deref()) {
            roster.deletions.push(Deletion {
                entity: EntityKind::Classrooms,
                id,
            });
            continue;
        }
        let Some(school_id) = k.school.as_ref().and_then(|s| s.id()).map(str::to_string) else {
            c.warn(
                IssueCode::MissingValue,
                at.field("school"),
                "class without a school; skipped",
            );
            continue;
        };
        if let Some(why) = OrgRef::not_a_school(orgs.get(&school_id)) {
            c.warn(
                IssueCode::DanglingReference,
                at.field("school"),
                format!("the class's school {why}; the class is ignored"),
            );
            continue;
        }
        let class_type = match nonempty(k.class_type.as_deref()) {
            None => None,
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "homeroom" => Some(ClassType::Homeroom),
                "scheduled" => Some(ClassType::Scheduled),
                _ => {
                    c.warn(
                        IssueCode::UnknownEnumValue,
                        at.field("classType"),
                        format!("unknown classType {:?}", clip(v)),
                    );
                    None
                }
            },
        };
        let periods: Vec<&str> = k
            .periods
            .iter()
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
            .collect();
        section_school.insert(id.clone(), school_id.clone());
        roster.sections.push(Section {
            id,
            school_id,
            name: k.title.clone().unwrap_or_default(),
            sis_id: None,
            section_number: owned(k.class_code.as_deref()),
            period: (!periods.is_empty()).then(|| periods.join(",")),
            grade: c.grade(&at, "grades", &k.grades),
            subject: k.subjects.iter().find_map(|s| owned(Some(s.as_str()))),
            course_id: k.course.as_ref().and_then(|r| r.id()).map(str::to_string),
            term_ids: k
                .terms
                .iter()
                .filter_map(|r| r.id())
                .map(str::to_string)
                .collect(),
            class_type,
        });
    }
    let mut dobs: BTreeMap<String, chrono::NaiveDate> = BTreeMap::new();
    let mut seen = IdSet::default();
    for (at, d) in records(&pages.demographics, "demographics") {
        let Some(id) = c.first_id(&mut seen, &at, d.sourced_id.as_deref()) else {
            continue;
        };
        if deleted(d.status.as_deref()) {
            continue;
        }
        if let Some(date) = c.date(&at, "birthDate", d.birth_date.as_deref()) {
            dobs.insert(id, date);
        }
    }
    // Links come from both sides: a contact's agents (students) and a student's agents
    // (contacts).
    let mut links: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut contact_index: BTreeMap<String, usize> = BTreeMap::new();
    let mut contact_kind: BTreeMap<String, Relationship> = BTreeMap::new();
    let mut seen = IdSet::default();
    for (at, u) in records(&pages.users, "users") {
        let Some(id) = c.first_id(&mut seen, &at, u.sourced_id.as_deref()) else {
            continue;
        };
        let Some(role) = nonempty(u.role.as_deref()) else {
            c.warn(
                IssueCode::MissingValue,
                at.field("role"),
                "user without a role; skipped",
            );
            continue;
        };
        let Some(kind) = user_kind(role) else {
            c.warn(
                IssueCode::UnknownEnumValue,
                at.field("role"),
                format!("unknown role {:?}; user skipped", clip(role)),
            );
            continue;
        };
        if deleted(u.status.as_deref()) {
            roster.deletions.push(Deletion {
                entity: match kind {
                    Kind::Student => EntityKind::Students,
                    Kind::Staff(_) => EntityKind::Staff,
                    Kind::Contact(..) => EntityKind::Guardians,
                },
                id,
            });
            continue;
        }
        let school_ids: Vec<String> = {
            let mut v: Vec<String> = Vec::new();
            for (j, r) in u.orgs.iter().enumerate() {
                let Some(o) = r.id() else { continue };
                match orgs.get(o) {
                    Some(OrgRef::School) => {
                        if !v.iter().any(|x| x == o) {
                            v.push(o.to_string());
                        }
                    }
                    Some(OrgRef::Other) => {}
                    ref_ => {
                        let why = OrgRef::not_a_school(ref_).unwrap_or_default();
                        c.warn(
                            IssueCode::DanglingReference,
                            at.field(&format!("orgs[{j}]")),
                            format!("the org {why}; that school is ignored for this user"),
                        );
                    }
                }
            }
            v
        };
        let email = c.email(&at, u.email.as_deref());
        let first_name = owned(u.given_name.as_deref()).unwrap_or_default();
        let last_name = owned(u.family_name.as_deref()).unwrap_or_default();
        let agents: Vec<String> = u
            .agents
            .iter()
            .filter_map(|a| a.id())
            .map(str::to_string)
            .collect();
        match kind {
            Kind::Student => {
                for a in agents {
                    links.entry(a).or_default().insert(id.clone());
                }
                roster.students.push(Student {
                    dob: dobs.get(&id).copied(),
                    id,
                    school_ids,
                    first_name,
                    middle_name: owned(u.middle_name.as_deref()),
                    last_name,
                    grade: c.grade(&at, "grades", &u.grades),
                    sis_id: user_id_of(u, &SIS_TYPES),
                    student_number: owned(u.identifier.as_deref()),
                    state_id: user_id_of(u, &STATE_TYPES),
                    email,
                    username: owned(u.username.as_deref()),
                    home_language: None,
                });
            }
            Kind::Staff(role) => {
                let sms = c.phone(&at, "sms", u.sms.as_deref());
                let phone = c.phone(&at, "phone", u.phone.as_deref());
                // Listed under the district and no school: district-level staff, in the
                // district office (as the CSV reader does).
                let district_only = school_ids.is_empty()
                    && roster
                        .district
                        .as_ref()
                        .is_some_and(|d| u.orgs.iter().any(|r| r.id() == Some(d.id.as_str())));
                let (role, school_ids) = roster.place_staff(role, school_ids, district_only);
                roster.staff.push(Staff {
                    id,
                    school_ids,
                    first_name,
                    middle_name: owned(u.middle_name.as_deref()),
                    last_name,
                    email,
                    sis_id: user_id_of(u, &SIS_TYPES),
                    staff_number: owned(u.identifier.as_deref()),
                    state_id: user_id_of(u, &STATE_TYPES),
                    title: None,
                    roles: vec![role],
                    sms,
                    phone,
                    language: None,
                });
            }
            Kind::Contact(rel) => {
                let sms = c.phone(&at, "sms", u.sms.as_deref());
                let phone = c.phone(&at, "phone", u.phone.as_deref());
                links.entry(id.clone()).or_default().extend(agents);
                contact_kind.insert(id.clone(), rel);
                contact_index.insert(id.clone(), roster.contacts.len());
                roster.contacts.push(Contact {
                    sis_id: user_id_of(u, &SIS_TYPES).or_else(|| owned(u.identifier.as_deref())),
                    id,
                    first_name,
                    last_name,
                    email,
                    // OneRoster gives no phone type (as the CSV reader reads it).
                    phone_type: None,
                    sms,
                    phone,
                    language: None,
                    links: Vec::new(),
                });
            }
        }
    }
    let students: BTreeSet<String> = roster.students.iter().map(|s| s.id.clone()).collect();
    let staff: BTreeSet<String> = roster.staff.iter().map(|s| s.id.clone()).collect();
    let mut dangling_links = 0usize;
    for (contact_id, student_ids) in links {
        // Entries keyed by a student's agent that is not a contact (e.g. a sibling student).
        let Some(&i) = contact_index.get(&contact_id) else {
            continue;
        };
        let rel = contact_kind[&contact_id];
        for sid in student_ids {
            if !students.contains(&sid) {
                dangling_links += 1;
                continue;
            }
            roster.contacts[i].links.push(ContactLink {
                student_id: sid,
                relationship: Some(rel),
                // OneRoster has no contact type (only the role: parent, guardian, relative).
                contact_type: None,
            });
        }
    }
    if dangling_links > 0 {
        c.warn(
            IssueCode::DanglingReference,
            Location::api(
                pages
                    .users
                    .first()
                    .map(|p| p.path.clone())
                    .unwrap_or_default(),
            ),
            format!(
                "{dangling_links} agent links name users that are not active students; dropped"
            ),
        );
    }
    let mut seen: HashSet<(String, String, EnrollmentRole)> = HashSet::new();
    let mut ids = IdSet::default();
    for (at, e) in records(&pages.enrollments, "enrollments") {
        let Some(id) = c.first_id(&mut ids, &at, e.sourced_id.as_deref()) else {
            continue;
        };
        if deleted(e.status.as_deref()) {
            roster.deletions.push(Deletion {
                entity: EntityKind::Enrollments,
                id,
            });
            continue;
        }
        let user = e.user.as_ref().and_then(|r| r.id());
        let class = e.class.as_ref().and_then(|r| r.id());
        let (Some(user), Some(class)) = (user, class) else {
            c.warn(
                IssueCode::MissingValue,
                at.field(if user.is_none() { "user" } else { "class" }),
                "enrollment without a user or class; skipped",
            );
            continue;
        };
        let Some(role_raw) = nonempty(e.role.as_deref()) else {
            c.warn(
                IssueCode::MissingValue,
                at.field("role"),
                "enrollment without a role; skipped",
            );
            continue;
        };
        let Some(role) = enrollment_role(role_raw) else {
            c.warn(
                IssueCode::UnknownEnumValue,
                at.field("role"),
                format!("enrollment role {:?} is not used; skipped", clip(role_raw)),
            );
            continue;
        };
        let Some(class_school) = section_school.get(class) else {
            c.warn(
                IssueCode::DanglingReference,
                at.field("class"),
                "enrollment in a class that was not read; skipped",
            );
            continue;
        };
        let school_id = match e.school.as_ref().and_then(|r| r.id()) {
            None => class_school.clone(),
            Some(s) => match OrgRef::not_a_school(orgs.get(s)) {
                None => s.to_string(),
                Some(why) => {
                    c.warn(
                        IssueCode::DanglingReference,
                        at.field("school"),
                        format!("the enrollment's school {why}; skipped"),
                    );
                    continue;
                }
            },
        };
        let known = match role {
            EnrollmentRole::Student => students.contains(user),
            _ => staff.contains(user),
        };
        if !known {
            c.warn(
                IssueCode::DanglingReference,
                at.field("user"),
                "enrollment of a user that was not read with that role; skipped",
            );
            continue;
        }
        if !seen.insert((class.to_string(), user.to_string(), role)) {
            c.warn(
                IssueCode::DuplicateId,
                at.field("user"),
                "the user is enrolled twice in this class with the same role; kept once",
            );
            continue;
        }
        let primary = match &e.primary {
            None => false,
            Some(p) => p.as_bool().unwrap_or_else(|| {
                c.warn(
                    IssueCode::UnknownEnumValue,
                    at.field("primary"),
                    "primary is neither true nor false; read as false",
                );
                false
            }),
        };
        roster.enrollments.push(Enrollment {
            section_id: class.to_string(),
            school_id,
            user_id: user.to_string(),
            role,
            primary,
            begin_date: c.date(&at, "beginDate", e.begin_date.as_deref()),
            end_date: c.date(&at, "endDate", e.end_date.as_deref()),
        });
    }
    roster.warnings = c.warnings;
    tracing::info!(
        schools = roster.schools.len(),
        sections = roster.sections.len(),
        students = roster.students.len(),
        staff = roster.staff.len(),
        contacts = roster.contacts.len(),
        enrollments = roster.enrollments.len(),
        deletions = roster.deletions.len(),
        warnings = roster.warnings.len(),
        "oneroster roster converted"
    );
    Ok(roster)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page<T: DeserializeOwned>(path: &str, key: &str, body: &str) -> Page<T> {
        parse_page(path, key, body.as_bytes()).unwrap()
    }

    fn warnings(r: &Roster) -> Vec<String> {
        r.warnings.iter().map(ToString::to_string).collect()
    }

    const ORGS: &str = r#"{"orgs":[{"sourcedId":"s1","name":"A","type":"school"},
        {"sourcedId":"d1","name":"D","type":"district"}]}"#;

    /// Found by `cargo fuzz run oneroster_json`: a record repeated on two pages (offset paging
    /// while records are added or removed shifts one onto the next page) came out twice.
    #[test]
    fn a_repeated_record_is_read_once_with_a_warning() {
        let class = r#"{"sourcedId":"c1","title":"Math","school":{"sourcedId":"s1"}}"#;
        let student = r#"{"sourcedId":"u1","role":"student","givenName":"A","familyName":"B",
            "orgs":[{"sourcedId":"s1"}]}"#;
        let parent = r#"{"sourcedId":"g1","role":"parent","givenName":"C","familyName":"D",
            "agents":[{"sourcedId":"u1"}]}"#;
        let pages = OneRosterPages {
            orgs: vec![page(
                "/orgs",
                "orgs",
                r#"{"orgs":[{"sourcedId":"s1","name":"A","type":"school"},
                    {"sourcedId":"s1","name":"B","type":"school"}]}"#,
            )],
            classes: vec![
                page(
                    "/classes?offset=0",
                    "classes",
                    &format!(r#"{{"classes":[{class}]}}"#),
                ),
                page(
                    "/classes?offset=1",
                    "classes",
                    &format!(r#"{{"classes":[{class}]}}"#),
                ),
            ],
            users: vec![
                page(
                    "/users?offset=0",
                    "users",
                    &format!(r#"{{"users":[{student},{parent}]}}"#),
                ),
                page(
                    "/users?offset=2",
                    "users",
                    &format!(r#"{{"users":[{parent},{student}]}}"#),
                ),
            ],
            ..OneRosterPages::default()
        };
        let r = from_pages(&pages).unwrap();
        assert_eq!(r.schools.len(), 1);
        assert_eq!(r.schools[0].name, "A");
        assert_eq!(r.sections.len(), 1);
        assert_eq!(r.students.len(), 1);
        assert_eq!(r.contacts.len(), 1);
        assert_eq!(r.contacts[0].links.len(), 1);
        let repeat = "the sourcedId repeats an earlier record; this record is ignored (the first wins) (duplicate_id)";
        assert_eq!(
            warnings(&r),
            [
                format!("/orgs orgs[1].sourcedId: {repeat}"),
                format!("/classes?offset=1 classes[0].sourcedId: {repeat}"),
                format!("/users?offset=2 users[0].sourcedId: {repeat}"),
                format!("/users?offset=2 users[1].sourcedId: {repeat}"),
            ]
        );
    }

    /// Like the CSV reader: staff listed under the district and no school are district-level
    /// (an administrator becomes a district admin) and belong to the district office, the
    /// district as a school of the roster; staff with a school stay where they are.
    #[test]
    fn district_level_staff_belong_to_the_district_office() {
        let pages = OneRosterPages {
            orgs: vec![page("/orgs", "orgs", ORGS)],
            users: vec![page(
                "/users",
                "users",
                r#"{"users":[
                    {"sourcedId":"a1","role":"administrator","givenName":"A","familyName":"B",
                     "orgs":[{"sourcedId":"d1","type":"org"}]},
                    {"sourcedId":"a2","role":"teacher","givenName":"C","familyName":"D",
                     "orgs":[{"sourcedId":"d1"}]},
                    {"sourcedId":"t1","role":"teacher","givenName":"E","familyName":"F",
                     "orgs":[{"sourcedId":"s1"},{"sourcedId":"d1"}]}]}"#,
            )],
            ..OneRosterPages::default()
        };
        let r = from_pages(&pages).unwrap();
        let schools: Vec<(&str, &str)> = r
            .schools
            .iter()
            .map(|s| (s.id.as_str(), s.name.as_str()))
            .collect();
        assert_eq!(schools, [("s1", "A"), ("d1", "D (district office)")]);
        let staff: Vec<(&str, &[String], &[StaffRole])> = r
            .staff
            .iter()
            .map(|s| (s.id.as_str(), s.school_ids.as_slice(), s.roles.as_slice()))
            .collect();
        assert_eq!(
            staff,
            [
                (
                    "a1",
                    &["d1".to_string()][..],
                    &[StaffRole::DistrictAdmin][..]
                ),
                ("a2", &["d1".to_string()][..], &[StaffRole::Teacher][..]),
                ("t1", &["s1".to_string()][..], &[StaffRole::Teacher][..]),
            ]
        );
        assert!(r.warnings.is_empty(), "{:?}", warnings(&r));
        let (shards, unplaced) = r.shards();
        assert!(unplaced.is_empty(), "{unplaced:?}");
        assert_eq!(shards.len(), 2);
    }

    /// Like the CSV reader: a class, a user's org or an enrollment's school that is not a
    /// school among the orgs is a dangling reference, dropped with a warning naming the path.
    #[test]
    fn a_class_whose_school_is_not_among_the_orgs_is_dropped_with_a_warning() {
        let pages = OneRosterPages {
            orgs: vec![page("/orgs", "orgs", ORGS)],
            classes: vec![page(
                "/classes",
                "classes",
                r#"{"classes":[{"sourcedId":"c1","title":"Math","school":{"sourcedId":"s1"}},
                    {"sourcedId":"c2","title":"Art","school":{"sourcedId":"s9"}},
                    {"sourcedId":"c3","title":"PE","school":{"sourcedId":"d1"}}]}"#,
            )],
            users: vec![page(
                "/users",
                "users",
                r#"{"users":[{"sourcedId":"u1","role":"student","givenName":"A","familyName":"B",
                    "orgs":[{"sourcedId":"s9"},{"sourcedId":"s1"},{"sourcedId":"d1"}]}]}"#,
            )],
            enrollments: vec![page(
                "/enrollments",
                "enrollments",
                r#"{"enrollments":[
                    {"sourcedId":"e1","role":"student","user":{"sourcedId":"u1"},"class":{"sourcedId":"c1"}},
                    {"sourcedId":"e2","role":"student","user":{"sourcedId":"u1"},"class":{"sourcedId":"c2"}},
                    {"sourcedId":"e3","role":"student","user":{"sourcedId":"u1"},"class":{"sourcedId":"c1"},
                     "school":{"sourcedId":"s9"}}]}"#,
            )],
            ..OneRosterPages::default()
        };
        let r = from_pages(&pages).unwrap();
        let ids: Vec<&str> = r.sections.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["c1"]);
        assert_eq!(r.students[0].school_ids, ["s1"]);
        assert_eq!(r.enrollments.len(), 1);
        assert_eq!(r.enrollments[0].school_id, "s1");
        assert_eq!(
            warnings(&r),
            [
                "/classes classes[1].school: the class's school is not among the orgs; the class is ignored (dangling_reference)",
                "/classes classes[2].school: the class's school is an org that is not a school; the class is ignored (dangling_reference)",
                "/users users[0].orgs[0]: the org is not among the orgs; that school is ignored for this user (dangling_reference)",
                "/enrollments enrollments[1].class: enrollment in a class that was not read; skipped (dangling_reference)",
                "/enrollments enrollments[2].school: the enrollment's school is not among the orgs; skipped (dangling_reference)",
            ]
        );
        // Every record left is placed in a shard: nothing is dropped there silently.
        let (shards, unplaced) = r.shards();
        assert!(unplaced.is_empty(), "{unplaced:?}");
        assert_eq!(shards.len(), 1);
        assert_eq!(shards[0].sections.len(), 1);
        assert_eq!(shards[0].enrollments.len(), 1);
    }
}
