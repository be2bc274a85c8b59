//! Clever Data API v3.0/v3.1 reader: pages through `/districts`, `/schools`, `/users`,
//! `/sections`, `/terms` and `/courses` with a district-app bearer token and converts the
//! envelopes to a canonical [`Roster`]. Also reads a folder of one JSON envelope per endpoint
//! (`rostersync generate --format clever-json`).
//!
//! Every page goes verbatim to the [`RawSink`] as `clever/<endpoint>/<nnnn>.json`. Logs carry
//! paths, counts and statuses only.

pub mod model;
pub mod transport;

pub use transport::{Clock, SystemClock};

use crate::files::ids::IdSet;
use crate::files::table::FastSet;
use crate::{RawSink, SourceError};
use domain::{
    Contact, ContactLink, ContactType, Course, Coverage, Email, Enrollment, EnrollmentRole,
    FeedMode, Grade, Issue, IssueCode, Location, Phone, PhoneType, Relationship, Roster, School,
    Section, SourceDistrict, SourceKind, Staff, StaffRole, Student, Term, parse_date,
};
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use transport::{Fetched, Pacer, Policy, exchange, json_error};

/// The endpoints read, in fetch order.
pub const ENDPOINTS: [&str; 6] = [
    "districts",
    "schools",
    "users",
    "sections",
    "terms",
    "courses",
];

/// Clever accepts at most this `limit` (more answers 413).
pub const MAX_PAGE_LIMIT: u32 = 10_000;

/// Never follow more pages than this for one endpoint.
pub const MAX_PAGES: usize = 100_000;

/// How to reach one district's Clever data.
#[derive(Clone)]
pub struct CleverConfig {
    /// Server root, default `https://api.clever.com`.
    pub base_url: String,
    /// `v3.0` or `v3.1`.
    pub version: String,
    /// District-app bearer token. Never logged.
    pub token: String,
    /// Records per page (1..=10000, default 1000).
    pub page_limit: u32,
    /// Client-side budget (Clever allows 1200 per token and minute).
    pub requests_per_minute: u32,
    /// Retries after a 429, 5xx or timeout before giving up.
    pub max_retries: u32,
    pub request_timeout: Duration,
    /// First backoff after a 5xx or timeout (doubles each try).
    pub backoff_base: Duration,
    /// Time source for waits; tests inject a fake one.
    pub clock: Arc<dyn Clock>,
}

impl CleverConfig {
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            token: token.into(),
            ..Self::default()
        }
    }

    fn policy(&self) -> Policy {
        Policy {
            max_retries: self.max_retries,
            requests_per_minute: self.requests_per_minute,
            backoff_base: self.backoff_base,
            max_backoff: Duration::from_secs(30),
            default_rate_wait: Duration::from_secs(5),
            max_rate_wait: Duration::from_secs(120),
            clock: self.clock.clone(),
        }
    }
}

impl Default for CleverConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.clever.com".to_string(),
            version: "v3.0".to_string(),
            token: String::new(),
            page_limit: 1000,
            requests_per_minute: 1200,
            max_retries: 5,
            request_timeout: Duration::from_secs(60),
            backoff_base: Duration::from_millis(500),
            clock: transport::system_clock(),
        }
    }
}

impl fmt::Debug for CleverConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CleverConfig")
            .field("base_url", &self.base_url)
            .field("version", &self.version)
            .field("token", &"<redacted>")
            .field("page_limit", &self.page_limit)
            .field("requests_per_minute", &self.requests_per_minute)
            .field("max_retries", &self.max_retries)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

/// One fetched page: the request path (or file name) it came from and its envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub path: String,
    pub body: model::ListResponse<T>,
}

/// Every page of every endpoint, as fetched.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CleverPages {
    pub districts: Vec<Page<model::District>>,
    pub schools: Vec<Page<model::School>>,
    pub users: Vec<Page<model::User>>,
    pub sections: Vec<Page<model::Section>>,
    pub terms: Vec<Page<model::Term>>,
    pub courses: Vec<Page<model::Course>>,
}

/// Fetches every endpoint and converts the result to a canonical roster.
pub async fn fetch(cfg: &CleverConfig, raw: &mut dyn RawSink) -> Result<Roster, SourceError> {
    let pages = fetch_pages(cfg, raw).await?;
    from_pages(&pages)
}

/// Fetches every page of every endpoint (stored verbatim in `raw`), without converting.
pub async fn fetch_pages(
    cfg: &CleverConfig,
    raw: &mut dyn RawSink,
) -> Result<CleverPages, SourceError> {
    let mut client = Client::new(cfg)?;
    Ok(CleverPages {
        districts: client.endpoint("districts", raw).await?,
        schools: client.endpoint("schools", raw).await?,
        users: client.endpoint("users", raw).await?,
        sections: client.endpoint("sections", raw).await?,
        terms: client.endpoint("terms", raw).await?,
        courses: client.endpoint("courses", raw).await?,
    })
}

/// One HTTP session with the Clever API: bearer-authorised GETs, paced and retried.
/// [`fetch_pages`] reads whole endpoints through it; a caller that pages on its own (the
/// Lambda fetch that checkpoints between invocations) uses [`Client::first_path`],
/// [`Client::get`] and [`Client::next_path`], so both read the same pages and stop at the same
/// place.
pub struct Client<'a> {
    cfg: &'a CleverConfig,
    base: String,
    client: reqwest::Client,
    pacer: Pacer,
    limit: u32,
}

impl<'a> Client<'a> {
    /// A session; an unsupported API version is an error before any request.
    pub fn new(cfg: &'a CleverConfig) -> Result<Self, SourceError> {
        if cfg.version != "v3.0" && cfg.version != "v3.1" {
            return Err(SourceError::invalid(Issue::error(
                IssueCode::InvalidResponse,
                Location::api(&cfg.base_url),
                format!(
                    "unsupported Clever API version {:?} (use v3.0 or v3.1)",
                    cfg.version
                ),
            )));
        }
        Ok(Self {
            cfg,
            base: cfg.base_url.trim_end_matches('/').to_string(),
            client: transport::client(cfg.request_timeout)?,
            pacer: Pacer::new(cfg.policy()),
            limit: cfg.page_limit.clamp(1, MAX_PAGE_LIMIT),
        })
    }

    /// The request path of `endpoint`'s first page.
    pub fn first_path(&self, endpoint: &str) -> String {
        format!("/{}/{endpoint}?limit={}", self.cfg.version, self.limit)
    }

    /// One GET of `path` (below the server root) with the bearer token.
    pub async fn get(&mut self, path: &str) -> Result<Fetched, SourceError> {
        let url = format!("{}{path}", self.base);
        let (client, token) = (&self.client, &self.cfg.token);
        self.pacer
            .run(path, || exchange(client.get(&url).bearer_auth(token)))
            .await
    }

    /// The path of the page after `page` (read at `path`): `None` when `page` is the last (no
    /// records, or no `next` link). An error when the link leaves the base URL or points to a
    /// page already read (`seen`, which the new path joins).
    pub fn next_path<T>(
        &self,
        path: &str,
        page: &model::ListResponse<T>,
        seen: &mut HashSet<String>,
    ) -> Result<Option<String>, SourceError> {
        let Some(uri) = page.next_uri().filter(|_| !page.data.is_empty()) else {
            return Ok(None);
        };
        let rel = self.relative(path, uri)?;
        if !seen.insert(rel.clone()) {
            return Err(invalid_response(
                path,
                "the next link points to a page already read (paging loop)",
            ));
        }
        Ok(Some(rel))
    }

    async fn endpoint<T: DeserializeOwned>(
        &mut self,
        endpoint: &str,
        raw: &mut dyn RawSink,
    ) -> Result<Vec<Page<T>>, SourceError> {
        let first = self.first_path(endpoint);
        let mut seen: HashSet<String> = HashSet::from([first.clone()]);
        let mut next = Some(first);
        let mut pages = Vec::new();
        let mut records = 0usize;
        while let Some(path) = next.take() {
            if pages.len() >= MAX_PAGES {
                return Err(invalid_response(&path, "too many pages; giving up"));
            }
            let fetched = self.get(&path).await?;
            raw.put(
                format!("clever/{endpoint}/{:04}.json", pages.len() + 1),
                fetched.body.clone(),
            )
            .await?;
            let body: model::ListResponse<T> = parse_page(&path, &fetched.body)?;
            records += body.data.len();
            next = self.next_path(&path, &body, &mut seen)?;
            pages.push(Page { path, body });
        }
        tracing::info!(endpoint, pages = pages.len(), records, "endpoint read");
        Ok(pages)
    }

    /// A `next` link as a path below the base URL; absolute links must stay on the base URL
    /// (the bearer token is never sent elsewhere).
    fn relative(&self, path: &str, uri: &str) -> Result<String, SourceError> {
        if let Some(rest) = uri.strip_prefix(&self.base)
            && rest.starts_with('/')
        {
            return Ok(rest.to_string());
        }
        if uri.starts_with('/') && !uri.starts_with("//") {
            return Ok(uri.to_string());
        }
        Err(invalid_response(
            path,
            "the next link is neither relative nor on the configured base URL",
        ))
    }
}

fn invalid_response(path: &str, msg: &str) -> SourceError {
    SourceError::invalid(Issue::error(
        IssueCode::InvalidResponse,
        Location::api(path),
        msg,
    ))
}

/// Parses one list envelope; a record of the wrong shape is an `invalid_response` error at
/// `path data[i]`.
pub fn parse_page<T: DeserializeOwned>(
    path: &str,
    body: &[u8],
) -> Result<model::ListResponse<T>, SourceError> {
    // Straight into the records: no `serde_json::Value` tree (several times the page's size).
    // A page that does not parse this way is parsed again below, record by record, so that
    // what is reported (and any record `Value` parsing accepts) is exactly as before.
    if let Ok(page) = serde_json::from_slice::<model::ListResponse<T>>(body) {
        return Ok(page);
    }
    parse_page_by_record(path, body)
}

/// [`parse_page`] through `serde_json::Value`: envelope errors first, then the first record of
/// the wrong shape, with its index.
fn parse_page_by_record<T: DeserializeOwned>(
    path: &str,
    body: &[u8],
) -> Result<model::ListResponse<T>, SourceError> {
    let page: model::ListResponse<serde_json::Value> =
        serde_json::from_slice(body).map_err(|e| json_error(path, &e))?;
    let mut data = Vec::with_capacity(page.data.len());
    for (i, item) in page.data.into_iter().enumerate() {
        let rec = serde_json::from_value(item.data).map_err(|e| {
            SourceError::invalid(Issue::error(
                IssueCode::InvalidResponse,
                Location::api(format!("{path} data[{i}]")),
                format!("record of unexpected shape: {}", shape_message(&e)),
            ))
        })?;
        data.push(model::Item { data: rec });
    }
    Ok(model::ListResponse {
        data,
        links: page.links,
    })
}

/// serde's message names the field and expected type; it never holds the value itself for
/// type mismatches on strings, but keep only its first sentence to be safe.
fn shape_message(e: &serde_json::Error) -> String {
    let s = e.to_string();
    s.split(" at line")
        .next()
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect()
}

/// The files of a `clever-json` folder, one API envelope each.
pub const JSON_FILES: [&str; 6] = [
    "districts.json",
    "schools.json",
    "users.json",
    "sections.json",
    "terms.json",
    "courses.json",
];

/// Reads a folder holding one JSON envelope per endpoint (`schools.json`, `users.json`,
/// `sections.json` required; `districts.json`, `terms.json`, `courses.json` optional).
/// `files` returns a file's bytes by name, `None` when absent.
///
/// The same as [`from_pages`] over every file, but the users are converted and dropped before
/// `sections.json` is parsed, so the parsed users never sit beside the parsed sections. Errors
/// are those of the first bad file in the order districts, schools, users, sections, terms,
/// courses, as when every file is parsed first.
pub fn read_json_dir(files: impl Fn(&str) -> Option<Vec<u8>>) -> Result<Roster, SourceError> {
    fn one<T: DeserializeOwned>(
        files: &impl Fn(&str) -> Option<Vec<u8>>,
        name: &str,
        required: bool,
    ) -> Result<Vec<Page<T>>, SourceError> {
        match files(name) {
            Some(bytes) => Ok(vec![Page {
                path: name.to_string(),
                body: parse_page(name, &bytes)?,
            }]),
            None if required => Err(SourceError::invalid(Issue::error(
                IssueCode::MissingFile,
                Location::file(name),
                format!("{name} is missing"),
            ))),
            None => Ok(Vec::new()),
        }
    }
    let districts = one::<model::District>(&files, "districts.json", false)?;
    let schools = one::<model::School>(&files, "schools.json", true)?;
    // Small files, read early; their errors rank after those of users and sections.
    let terms = one::<model::Term>(&files, "terms.json", false);
    let courses = one::<model::Course>(&files, "courses.json", false);
    let users = one::<model::User>(&files, "users.json", true)?;
    let (terms, courses) = match (terms, courses) {
        (Ok(t), Ok(k)) => (t, k),
        (terms, courses) => {
            one::<model::Section>(&files, "sections.json", true)?;
            let ((Err(e), _) | (_, Err(e))) = (terms, courses) else {
                return Err(invalid_response("courses.json", "unreadable"));
            };
            return Err(e);
        }
    };
    let mut b = Build::default();
    b.districts(&districts);
    b.schools(&schools);
    b.terms(&terms);
    b.courses(&courses);
    b.users(&users);
    drop(users);
    let sections = one::<model::Section>(&files, "sections.json", true)?;
    b.sections(&sections);
    Ok(b.finish())
}

/// Converts fetched envelopes to a canonical roster. Bad values become warnings and are
/// dropped; records without an id are skipped with a warning.
pub fn from_pages(pages: &CleverPages) -> Result<Roster, SourceError> {
    let mut b = Build::default();
    b.districts(&pages.districts);
    b.schools(&pages.schools);
    b.terms(&pages.terms);
    b.courses(&pages.courses);
    b.users(&pages.users);
    b.sections(&pages.sections);
    Ok(b.finish())
}

/// A roster being converted from envelopes, endpoint by endpoint (in [`from_pages`] order).
struct Build {
    c: Convert,
    roster: Roster,
    /// The path of the first users page, for the dangling-links warning.
    users_path: String,
    /// Ids of the students and staff read, once every user is.
    students: IdSet,
    staff: IdSet,
}

impl Default for Build {
    fn default() -> Self {
        Self {
            c: Convert::default(),
            roster: Roster {
                source: Some(SourceKind::Clever),
                coverage: Coverage {
                    schools: FeedMode::Bulk,
                    sections: FeedMode::Bulk,
                    users: FeedMode::Bulk,
                    enrollments: FeedMode::Bulk,
                },
                ..Roster::default()
            },
            users_path: String::new(),
            students: IdSet::default(),
            staff: IdSet::default(),
        }
    }
}

impl Build {
    fn districts(&mut self, pages: &[Page<model::District>]) {
        for (at, d) in records(pages) {
            let Some(id) = self.c.id(&at, d.id.as_deref()) else {
                continue;
            };
            if self.roster.district.is_some() {
                continue;
            }
            let state = nonempty(d.state.as_deref());
            if let Some(s) = state
                && !model::DISTRICT_STATES.contains(&s)
            {
                self.c.warn(
                    IssueCode::UnknownEnumValue,
                    at.field("state"),
                    format!("unknown district state {:?}", clip(s)),
                );
            }
            self.roster.district = Some(SourceDistrict {
                id,
                name: nonempty(d.name.as_deref()).map(str::to_string),
                state: state.map(str::to_string),
                pause_start: nonempty(d.pause_start.as_deref()).map(str::to_string),
                pause_end: nonempty(d.pause_end.as_deref()).map(str::to_string),
            });
        }
    }

    fn schools(&mut self, pages: &[Page<model::School>]) {
        let mut seen = IdSet::default();
        for (at, s) in records(pages) {
            let Some(id) = self.c.first_id(&mut seen, &at, s.id.as_deref()) else {
                continue;
            };
            self.roster.schools.push(School {
                id,
                name: s.name.clone().unwrap_or_default(),
                sis_id: owned(s.sis_id.as_deref()),
                school_number: owned(s.school_number.as_deref()),
                state_id: owned(s.state_id.as_deref()),
                nces_id: owned(s.nces_id.as_deref()),
                low_grade: self.c.grade(&at, "low_grade", s.low_grade.as_deref()),
                high_grade: self.c.grade(&at, "high_grade", s.high_grade.as_deref()),
            });
        }
    }

    fn terms(&mut self, pages: &[Page<model::Term>]) {
        let mut seen = IdSet::default();
        for (at, t) in records(pages) {
            let Some(id) = self.c.first_id(&mut seen, &at, t.id.as_deref()) else {
                continue;
            };
            self.roster.terms.push(Term {
                id,
                name: t.name.clone().unwrap_or_default(),
                start_date: self.c.date(&at, "start_date", t.start_date.as_deref()),
                end_date: self.c.date(&at, "end_date", t.end_date.as_deref()),
            });
        }
    }

    fn courses(&mut self, pages: &[Page<model::Course>]) {
        let mut seen = IdSet::default();
        for (at, k) in records(pages) {
            let Some(id) = self.c.first_id(&mut seen, &at, k.id.as_deref()) else {
                continue;
            };
            self.roster.courses.push(Course {
                id,
                name: k.name.clone().unwrap_or_default(),
                number: owned(k.number.as_deref()),
            });
        }
    }

    fn users(&mut self, pages: &[Page<model::User>]) {
        if let Some(p) = pages.first() {
            self.users_path.clone_from(&p.path);
        }
        let mut seen = IdSet::default();
        for (at, u) in records(pages) {
            let Some(id) = self.c.first_id(&mut seen, &at, u.id.as_deref()) else {
                continue;
            };
            self.c.user(&at, id, u, &mut self.roster);
        }
        for s in &self.roster.students {
            self.students.insert(&s.id);
        }
        for s in &self.roster.staff {
            self.staff.insert(&s.id);
        }
    }

    fn sections(&mut self, pages: &[Page<model::Section>]) {
        let mut enrollments = Vec::new();
        // Members already enrolled in the section at hand (cleared for each section).
        let mut seen: FastSet<(&str, EnrollmentRole)> = FastSet::default();
        let mut ids = IdSet::default();
        for (at, s) in records(pages) {
            let Some(id) = self.c.first_id(&mut ids, &at, s.id.as_deref()) else {
                continue;
            };
            let Some(school_id) = owned(s.school.as_deref()) else {
                self.c.warn(
                    IssueCode::MissingValue,
                    at.field("school"),
                    "section without a school; skipped",
                );
                continue;
            };
            let subject = match nonempty(s.subject.as_deref()) {
                Some(v) if model::SUBJECTS.iter().any(|k| k.eq_ignore_ascii_case(v)) => {
                    Some(v.to_string())
                }
                Some(v) => {
                    self.c.warn(
                        IssueCode::UnknownEnumValue,
                        at.field("subject"),
                        format!("unknown subject {:?}", clip(v)),
                    );
                    None
                }
                None => None,
            };
            seen.clear();
            let primary = nonempty(s.teacher.as_deref());
            // (id, primary, index in `teachers`; `None` for `teacher`)
            let teachers = primary.into_iter().map(|t| (t, true, None)).chain(
                s.teachers
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| Some(t.as_str()) != primary)
                    .map(|(j, t)| (t.as_str(), false, Some(j))),
            );
            for (uid, is_primary, index) in teachers {
                if uid.is_empty() || !seen.insert((uid, EnrollmentRole::Teacher)) {
                    continue;
                }
                if !self.staff.contains(uid) {
                    let field = match index {
                        Some(j) => format!("teachers[{j}]"),
                        None => "teacher".to_string(),
                    };
                    self.c.warn(
                        IssueCode::DanglingReference,
                        at.field(&field),
                        "teacher is not among the users read; membership dropped",
                    );
                    continue;
                }
                enrollments.push(Enrollment {
                    section_id: id.clone(),
                    school_id: school_id.clone(),
                    user_id: uid.to_string(),
                    role: EnrollmentRole::Teacher,
                    primary: is_primary,
                    begin_date: None,
                    end_date: None,
                });
            }
            for (j, uid) in s.students.iter().enumerate() {
                if uid.is_empty() || !seen.insert((uid, EnrollmentRole::Student)) {
                    continue;
                }
                if !self.students.contains(uid.as_str()) {
                    self.c.warn(
                        IssueCode::DanglingReference,
                        at.field(&format!("students[{j}]")),
                        "student is not among the users read; membership dropped",
                    );
                    continue;
                }
                enrollments.push(Enrollment {
                    section_id: id.clone(),
                    school_id: school_id.clone(),
                    user_id: uid.clone(),
                    role: EnrollmentRole::Student,
                    primary: false,
                    begin_date: None,
                    end_date: None,
                });
            }
            self.roster.sections.push(Section {
                id,
                school_id,
                name: s.name.clone().unwrap_or_default(),
                sis_id: owned(s.sis_id.as_deref()),
                section_number: owned(s.section_number.as_deref()),
                period: owned(s.period.as_deref()),
                grade: self.c.grade(&at, "grade", s.grade.as_deref()),
                subject,
                course_id: owned(s.course.as_deref()),
                term_ids: owned(s.term_id.as_deref()).into_iter().collect(),
                class_type: None,
            });
        }
        self.roster.enrollments.append(&mut enrollments);
    }

    fn finish(mut self) -> Roster {
        // Contact links to students that were not read cannot be used.
        let mut dangling = 0usize;
        for contact in &mut self.roster.contacts {
            contact.links.retain(|l| {
                let ok = self.students.contains(l.student_id.as_str());
                dangling += usize::from(!ok);
                ok
            });
        }
        if dangling > 0 {
            self.c.warn(
                IssueCode::DanglingReference,
                Location::api(self.users_path.clone()),
                format!("{dangling} contact links name students that were not read; dropped"),
            );
        }
        self.roster.warnings = self.c.warnings;
        tracing::info!(
            schools = self.roster.schools.len(),
            sections = self.roster.sections.len(),
            students = self.roster.students.len(),
            staff = self.roster.staff.len(),
            contacts = self.roster.contacts.len(),
            enrollments = self.roster.enrollments.len(),
            warnings = self.roster.warnings.len(),
            "clever roster converted"
        );
        self.roster
    }
}

/// Where a record sits: the page path and its index in `data`.
struct At<'a> {
    path: &'a str,
    index: usize,
}

impl At<'_> {
    fn field(&self, field: &str) -> Location {
        Location::api(format!("{} data[{}].{field}", self.path, self.index))
    }
}

fn records<T>(pages: &[Page<T>]) -> impl Iterator<Item = (At<'_>, &T)> {
    pages.iter().flat_map(|p| {
        p.body.data.iter().enumerate().map(move |(index, item)| {
            (
                At {
                    path: &p.path,
                    index,
                },
                &item.data,
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

/// Enum values are not personal data, but cap them anyway.
fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Splits a contact's name. Clever puts the full name in `name.last`; `Last, First` and
/// `First … Last` are both understood. A given `name.first` is used as is.
pub fn split_contact_name(first: Option<&str>, last: Option<&str>) -> (String, String) {
    let last = nonempty(last).unwrap_or_default();
    if let Some(first) = nonempty(first) {
        return (first.to_string(), last.to_string());
    }
    if let Some((l, f)) = last.split_once(',') {
        return (f.trim().to_string(), l.trim().to_string());
    }
    match last.rsplit_once(char::is_whitespace) {
        Some((f, l)) => (f.trim().to_string(), l.trim().to_string()),
        None => (String::new(), last.to_string()),
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
                at.field("id"),
                "record without an id; skipped",
            );
        }
        id
    }

    /// The record's id when it is the first of this endpoint with that id; a repeat (the same
    /// record on two pages, or twice in a file) is skipped with a warning: the first wins.
    fn first_id(&mut self, seen: &mut IdSet, at: &At<'_>, id: Option<&str>) -> Option<String> {
        let id = self.id(at, id)?;
        seen.first(id, "id", || at.field("id"), &mut self.warnings)
    }

    fn grade(&mut self, at: &At<'_>, field: &str, raw: Option<&str>) -> Option<Grade> {
        let v = nonempty(raw)?;
        let g = Grade::parse(v);
        if g.is_none() {
            self.warn(
                IssueCode::UnknownEnumValue,
                at.field(field),
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
                "not a date (expected MM/DD/YYYY or YYYY-MM-DD); dropped",
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

    fn enum_value<T>(
        &mut self,
        at: &At<'_>,
        field: &str,
        raw: Option<&str>,
        parse: fn(&str) -> Option<T>,
    ) -> Option<T> {
        let v = nonempty(raw)?;
        let p = parse(v);
        if p.is_none() {
            self.warn(
                IssueCode::UnknownEnumValue,
                at.field(field),
                format!("unknown value {:?}", clip(v)),
            );
        }
        p
    }

    fn user(&mut self, at: &At<'_>, id: String, u: &model::User, roster: &mut Roster) {
        let empty_name = model::Name::default();
        let name = u.name.as_ref().unwrap_or(&empty_name);
        let Some(roles) = u.roles.as_ref() else {
            self.warn(
                IssueCode::MissingValue,
                at.field("roles"),
                "user without roles; skipped",
            );
            return;
        };
        let email = self.email(at, u.email.as_deref());
        let first = owned(name.first.as_deref()).unwrap_or_default();
        let middle = owned(name.middle.as_deref());
        let last = owned(name.last.as_deref()).unwrap_or_default();
        if let Some(st) = &roles.student {
            let school_ids = ordered_ids(st.school.as_deref(), [&st.schools]);
            roster.students.push(Student {
                id: id.clone(),
                school_ids,
                first_name: first.clone(),
                middle_name: middle.clone(),
                last_name: last.clone(),
                grade: self.grade(at, "roles.student.grade", st.grade.as_deref()),
                dob: self.date(at, "roles.student.dob", st.dob.as_deref()),
                sis_id: owned(st.sis_id.as_deref()),
                student_number: owned(st.student_number.as_deref()),
                state_id: owned(st.state_id.as_deref()),
                email: email.clone(),
                username: st
                    .credentials
                    .as_ref()
                    .and_then(|c| owned(c.district_username.as_deref())),
                home_language: owned(st.home_language.as_deref()),
            });
        }
        let (t, s, da) = (&roles.teacher, &roles.staff, &roles.district_admin);
        if t.is_some() || s.is_some() || da.is_some() {
            let mut staff_roles = Vec::new();
            if t.is_some() {
                staff_roles.push(StaffRole::Teacher);
            }
            if s.is_some() {
                staff_roles.push(StaffRole::Staff);
            }
            if da.is_some() {
                staff_roles.push(StaffRole::DistrictAdmin);
            }
            let empty = Vec::new();
            let mut school_ids = ordered_ids(
                t.as_ref().and_then(|t| t.school.as_deref()),
                [
                    t.as_ref().map_or(&empty, |t| &t.schools),
                    s.as_ref().map_or(&empty, |s| &s.schools),
                ],
            );
            if school_ids.is_empty() && (da.is_some() || s.is_some()) {
                // A district admin, or staff, with no school: district-level staff, in the
                // district office.
                school_ids.extend(roster.district_office());
            }
            let title = t
                .as_ref()
                .and_then(|t| owned(t.title.as_deref()))
                .or_else(|| s.as_ref().and_then(|s| owned(s.title.as_deref())))
                .or_else(|| da.as_ref().and_then(|d| owned(d.title.as_deref())));
            roster.staff.push(Staff {
                id: id.clone(),
                school_ids,
                first_name: first.clone(),
                middle_name: middle.clone(),
                last_name: last.clone(),
                email: email.clone(),
                sis_id: t.as_ref().and_then(|t| owned(t.sis_id.as_deref())),
                staff_number: t
                    .as_ref()
                    .and_then(|t| owned(t.teacher_number.as_deref()))
                    .or_else(|| s.as_ref().and_then(|s| owned(s.staff_id.as_deref()))),
                state_id: t.as_ref().and_then(|t| owned(t.state_id.as_deref())),
                title,
                roles: staff_roles,
                sms: None,
                phone: None,
                language: None,
            });
        }
        if let Some(ct) = &roles.contact {
            let (first_name, last_name) =
                split_contact_name(name.first.as_deref(), name.last.as_deref());
            let phone_type = self.enum_value(
                at,
                "roles.contact.phone_type",
                ct.phone_type.as_deref(),
                PhoneType::parse,
            );
            let number = nonempty(ct.phone.as_deref()).and_then(|p| {
                let parsed = Phone::parse(p);
                if parsed.is_none() {
                    self.warn(
                        IssueCode::UnusablePhone,
                        at.field("roles.contact.phone"),
                        "not a usable phone number; dropped",
                    );
                }
                parsed
            });
            let (sms, phone) = match phone_type {
                Some(PhoneType::Cell) => (number, None),
                _ => (None, number),
            };
            let mut links: Vec<ContactLink> = Vec::new();
            for (j, r) in ct.student_relationships.iter().enumerate() {
                let Some(student_id) = owned(r.student.as_deref()) else {
                    self.warn(
                        IssueCode::MissingValue,
                        at.field(&format!("roles.contact.student_relationships[{j}].student")),
                        "relationship without a student; skipped",
                    );
                    continue;
                };
                if links.iter().any(|l| l.student_id == student_id) {
                    continue;
                }
                links.push(ContactLink {
                    student_id,
                    relationship: self.enum_value(
                        at,
                        &format!("roles.contact.student_relationships[{j}].relationship"),
                        r.relationship.as_deref(),
                        Relationship::parse,
                    ),
                    contact_type: self.enum_value(
                        at,
                        &format!("roles.contact.student_relationships[{j}].type"),
                        r.contact_type.as_deref(),
                        ContactType::parse,
                    ),
                });
            }
            roster.contacts.push(Contact {
                id,
                first_name,
                last_name,
                sis_id: owned(ct.sis_id.as_deref()),
                email,
                sms,
                phone,
                phone_type,
                language: None,
                links,
            });
        }
    }
}

/// `primary` first, then the others in order, without blanks or repeats.
fn ordered_ids<'a>(
    primary: Option<&'a str>,
    lists: impl IntoIterator<Item = &'a Vec<String>>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for id in primary
        .into_iter()
        .chain(lists.into_iter().flatten().map(String::as_str))
    {
        let id = id.trim();
        // A person is in a handful of schools: a linear scan beats a set.
        if !id.is_empty() && !out.iter().any(|o| o == id) {
            out.push(id.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_names() {
        let s = |f: Option<&str>, l: Option<&str>| split_contact_name(f, l);
        assert_eq!(
            s(None, Some("Mary Ann Smith")),
            ("Mary Ann".into(), "Smith".into())
        );
        assert_eq!(
            s(None, Some("Smith, Mary")),
            ("Mary".into(), "Smith".into())
        );
        assert_eq!(s(None, Some("Cher")), (String::new(), "Cher".into()));
        assert_eq!(s(Some("Bo"), Some("Li")), ("Bo".into(), "Li".into()));
        assert_eq!(s(Some(""), None), (String::new(), String::new()));
    }

    /// Found by `cargo fuzz run clever_json`: a record repeated (on two pages, or twice in a
    /// `clever-json` file) came out twice, e.g. two contacts with one id.
    #[test]
    fn a_repeated_record_is_read_once_with_a_warning() {
        fn page<T: DeserializeOwned>(path: &str, body: &[u8]) -> Page<T> {
            Page {
                path: path.into(),
                body: parse_page(path, body).unwrap(),
            }
        }
        let contact = r#"{"data":{"id":"g1","name":{"last":"Ann Byron"},
            "roles":{"contact":{"student_relationships":[{"student":"u1","relationship":"Parent"}]}}}}"#;
        let student = r#"{"data":{"id":"u1","name":{"first":"A","last":"B"},
            "roles":{"student":{"school":"s1"}}}}"#;
        let users = format!(r#"{{"data":[{student},{contact}],"links":[]}}"#);
        let again = format!(r#"{{"data":[{contact},{student}],"links":[]}}"#);
        let school =
            br#"{"data":[{"data":{"id":"s1","name":"A"}},{"data":{"id":"s1","name":"B"}}]}"#;
        let pages = CleverPages {
            schools: vec![page("/v3.0/schools", school)],
            users: vec![
                page("/v3.0/users", users.as_bytes()),
                page("/v3.0/users?starting_after=g1", again.as_bytes()),
            ],
            ..CleverPages::default()
        };
        let r = from_pages(&pages).unwrap();
        assert_eq!(r.schools.len(), 1);
        assert_eq!(r.schools[0].name, "A");
        assert_eq!(r.students.len(), 1);
        assert_eq!(r.contacts.len(), 1);
        assert_eq!(r.contacts[0].links.len(), 1);
        let got: Vec<String> = r.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            [
                "/v3.0/schools data[1].id: the id repeats an earlier record; this record is ignored (the first wins) (duplicate_id)",
                "/v3.0/users?starting_after=g1 data[0].id: the id repeats an earlier record; this record is ignored (the first wins) (duplicate_id)",
                "/v3.0/users?starting_after=g1 data[1].id: the id repeats an earlier record; this record is ignored (the first wins) (duplicate_id)",
            ]
        );
    }

    #[test]
    fn unknown_enum_is_a_warning_with_a_pointer() {
        let body = br#"{"data":[{"data":{"id":"u1","name":{"first":"A","last":"B"},
            "roles":{"student":{"school":"s1","grade":"14","dob":"02/30/2010"}},"email":"nope"}}],
            "links":[]}"#;
        let pages = CleverPages {
            users: vec![Page {
                path: "/v3.0/users?limit=1000".into(),
                body: parse_page("/v3.0/users?limit=1000", body).unwrap(),
            }],
            ..CleverPages::default()
        };
        let r = from_pages(&pages).unwrap();
        let got: Vec<String> = r.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            [
                "/v3.0/users?limit=1000 data[0].email: not an email address (local@domain); dropped (invalid_email)",
                "/v3.0/users?limit=1000 data[0].roles.student.grade: unknown grade \"14\" (unknown_enum_value)",
                "/v3.0/users?limit=1000 data[0].roles.student.dob: not a date (expected MM/DD/YYYY or YYYY-MM-DD); dropped (malformed_date)",
            ]
        );
        assert_eq!(r.students[0].grade, None);
        assert_eq!(r.students[0].email, None);
    }

    #[test]
    fn null_and_blank_enums_are_none() {
        let body =
            br#"{"data":[{"data":{"id":"s1","name":"X","low_grade":"","high_grade":null}}]}"#;
        let p: model::ListResponse<model::School> = parse_page("p", body).unwrap();
        let r = from_pages(&CleverPages {
            schools: vec![Page {
                path: "p".into(),
                body: p,
            }],
            ..CleverPages::default()
        })
        .unwrap();
        assert!(r.warnings.is_empty());
        assert_eq!(r.schools[0].low_grade, None);
    }

    /// A Clever district admin (or staff member) with no school: district-level staff, in the
    /// district office (the district as a school of the roster), not left out of every shard.
    #[test]
    fn a_district_admin_belongs_to_the_district_office() {
        let files = |name: &str| -> Option<Vec<u8>> {
            let body: &[u8] = match name {
                "districts.json" => br#"{"data":[{"data":{"id":"d1","name":"Demo ISD"}}]}"#,
                "schools.json" => br#"{"data":[{"data":{"id":"s1","name":"North"}}]}"#,
                "users.json" => {
                    br#"{"data":[
                    {"data":{"id":"a1","name":{"first":"A","last":"B"},"email":"a@example.org",
                     "roles":{"district_admin":{"title":"Superintendent"}}}},
                    {"data":{"id":"f1","name":{"first":"G","last":"H"},
                     "roles":{"staff":{"schools":[],"title":"Finance"}}}},
                    {"data":{"id":"t1","name":{"first":"C","last":"D"},
                     "roles":{"teacher":{"school":"s1","schools":["s1"]}}}}]}"#
                }
                "sections.json" => br#"{"data":[]}"#,
                _ => return None,
            };
            Some(body.to_vec())
        };
        let r = read_json_dir(files).unwrap();
        let schools: Vec<(&str, &str)> = r
            .schools
            .iter()
            .map(|s| (s.id.as_str(), s.name.as_str()))
            .collect();
        assert_eq!(
            schools,
            [("s1", "North"), ("d1", "Demo ISD (district office)")]
        );
        let staff: Vec<(&str, &[String])> = r
            .staff
            .iter()
            .map(|s| (s.id.as_str(), s.school_ids.as_slice()))
            .collect();
        assert_eq!(
            staff,
            [
                ("a1", &["d1".to_string()][..]),
                ("f1", &["d1".to_string()][..]),
                ("t1", &["s1".to_string()][..])
            ]
        );
        assert!(r.shards().1.is_empty());
    }

    #[test]
    fn truncated_page_is_malformed_json() {
        let err = parse_page::<model::User>("/v3.0/users?limit=5", br#"{"data":[{"data":{"id":"#)
            .unwrap_err();
        let SourceError::Invalid { issues } = err else {
            panic!("{err}")
        };
        assert_eq!(issues[0].code, IssueCode::MalformedJson);
        assert_eq!(issues[0].location.source, "/v3.0/users?limit=5");
    }
}
