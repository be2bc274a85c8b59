//! Checkpoint and continue: a Clever or OneRoster REST fetch that outlives one Lambda invocation.
//!
//! The reader pages through the API endpoint by endpoint, exactly as
//! `sources::{clever_api, oneroster_api}::fetch` do (same requests, same loop and truncation
//! checks, same errors), but one page at a time against a [`Checkpoint`]:
//!
//! 1. each page goes verbatim to the run's `raw/` prefix under the name the one-shot fetch
//!    uses (`clever/users/0003.json`, `oneroster/users/0003.json`);
//! 2. then the checkpoint (`districts/{d}/runs/{run}/fetch/checkpoint.json`: endpoint, the
//!    request path of every page read, the next page's link or offset) is written;
//! 3. before each page the caller's budget is asked whether time is left; when it is not (and
//!    at least one page was read, so every invocation makes progress), [`advance`] returns
//!    `false` and the caller enqueues a continuation.
//!
//! When every endpoint is complete, [`assemble`] reads the pages back from `raw/` and converts
//! them with the sources crate's own `from_pages`, so the roster is the one-shot fetch's.
//! A crash between (1) and (2) re-reads the same page into the same object name; a duplicate
//! continuation finds the checkpoint already past its page or the run already staged.

use app::fetch::{ApiSource, FetchError};
use chrono::{DateTime, Utc};
use domain::{Issue, IssueCode, Location, Roster};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sources::SourceError;
use sources::clever_api::transport::{Fetched, Pacer, Policy, exchange, json_error};
use sources::clever_api::{self, CleverConfig, model as cm};
use sources::oneroster_api::{self, OneRosterAuth, OneRosterConfig, model as om, oauth};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use store::{ObjectStore, StoreError};

/// OneRoster collections, in the one-shot fetch's order.
pub const ONEROSTER_COLLECTIONS: [&str; 7] = [
    "orgs",
    "academicSessions",
    "courses",
    "classes",
    "users",
    "enrollments",
    "demographics",
];

/// Never follow more pages than this for one endpoint (as the sources crate).
const MAX_PAGES: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Api {
    Clever,
    Oneroster,
}

impl Api {
    pub fn of(source: &ApiSource) -> Self {
        match source {
            ApiSource::Clever(_) => Self::Clever,
            ApiSource::OneRoster(_) => Self::Oneroster,
        }
    }
    fn endpoints(self) -> &'static [&'static str] {
        match self {
            Self::Clever => &clever_api::ENDPOINTS,
            Self::Oneroster => &ONEROSTER_COLLECTIONS,
        }
    }
    fn raw_dir(self) -> &'static str {
        match self {
            Self::Clever => "clever",
            Self::Oneroster => "oneroster",
        }
    }
}

/// Where a fetch stands. Small: one request path per page read, no records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub district: String,
    pub run_id: String,
    pub dry_run: bool,
    pub started_at: DateTime<Utc>,
    pub api: Api,
    /// Index of the endpoint being read; the number of endpoints once all are read.
    pub endpoint: usize,
    /// Request path of every page read, per endpoint (page `n` is `raw/{api}/{endpoint}/{n:04}.json`).
    pub paths: Vec<Vec<String>>,
    /// Clever: the current endpoint's next page (`None`: its first page).
    pub next: Option<String>,
    /// OneRoster: offset of the current collection's next page.
    pub offset: u64,
    /// Invocations that worked on this fetch so far.
    pub invocations: u32,
}

impl Checkpoint {
    pub fn new(api: Api, district: &str, run_id: &str, dry_run: bool, now: DateTime<Utc>) -> Self {
        Self {
            district: district.to_string(),
            run_id: run_id.to_string(),
            dry_run,
            started_at: now,
            api,
            endpoint: 0,
            paths: vec![Vec::new(); api.endpoints().len()],
            next: None,
            offset: 0,
            invocations: 0,
        }
    }

    /// The checkpoint object of a run.
    pub fn key(district: &str, run_id: &str) -> String {
        format!("districts/{district}/runs/{run_id}/fetch/checkpoint.json")
    }

    pub fn is_complete(&self) -> bool {
        self.endpoint >= self.api.endpoints().len()
    }

    /// Pages read so far, every endpoint together.
    pub fn pages(&self) -> usize {
        self.paths.iter().map(Vec::len).sum()
    }

    fn raw_key(&self, endpoint: usize, page: usize) -> String {
        format!(
            "districts/{}/runs/{}/raw/{}/{}/{page:04}.json",
            self.district,
            self.run_id,
            self.api.raw_dir(),
            self.api.endpoints()[endpoint]
        )
    }

    pub async fn load(
        objects: &dyn ObjectStore,
        district: &str,
        run_id: &str,
    ) -> Result<Option<Self>, StoreError> {
        match objects.get(&Self::key(district, run_id)).await {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                StoreError::Permanent(format!("fetch checkpoint of run {run_id}: {e}"))
            }),
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn save(&self, objects: &dyn ObjectStore) -> Result<(), StoreError> {
        let body = serde_json::to_vec(self)
            .map_err(|e| StoreError::Permanent(format!("fetch checkpoint: {e}")))?;
        objects
            .put(&Self::key(&self.district, &self.run_id), body)
            .await
    }
}

fn store_error(key: &str, e: StoreError) -> SourceError {
    SourceError::Unavailable {
        path: key.to_string(),
        detail: e.to_string(),
    }
}

fn invalid_response(path: &str, msg: &str) -> SourceError {
    SourceError::invalid(Issue::error(
        IssueCode::InvalidResponse,
        Location::api(path),
        msg,
    ))
}

/// Reads pages until the fetch is complete (`true`) or `time_left` says stop (`false`, the
/// checkpoint saved). At least one page is read per call. `source` must be the checkpoint's API.
pub async fn advance(
    objects: &dyn ObjectStore,
    source: &ApiSource,
    cp: &mut Checkpoint,
    mut time_left: impl FnMut() -> bool,
) -> Result<bool, FetchError> {
    if Api::of(source) != cp.api {
        return Err(FetchError::Unsupported(format!(
            "run {} was started on another source; start a new run",
            cp.run_id
        )));
    }
    let mut reader = Reader::new(source)?;
    cp.invocations += 1;
    let mut read = 0usize;
    while !cp.is_complete() {
        if read > 0 && !time_left() {
            tracing::info!(
                endpoint = cp.api.endpoints()[cp.endpoint],
                pages = cp.pages(),
                "time is running out; checkpoint saved"
            );
            return Ok(false);
        }
        reader.page(objects, cp).await?;
        read += 1;
        cp.save(objects)
            .await
            .map_err(|e| store_error(&Checkpoint::key(&cp.district, &cp.run_id), e))?;
    }
    Ok(true)
}

/// The roster of a complete fetch, from its stored pages.
pub async fn assemble(objects: &dyn ObjectStore, cp: &Checkpoint) -> Result<Roster, FetchError> {
    let roster = match cp.api {
        Api::Clever => {
            let pages = clever_api::CleverPages {
                districts: clever_pages(objects, cp, 0).await?,
                schools: clever_pages(objects, cp, 1).await?,
                users: clever_pages(objects, cp, 2).await?,
                sections: clever_pages(objects, cp, 3).await?,
                terms: clever_pages(objects, cp, 4).await?,
                courses: clever_pages(objects, cp, 5).await?,
            };
            clever_api::from_pages(&pages)?
        }
        Api::Oneroster => {
            let pages = oneroster_api::OneRosterPages {
                orgs: oneroster_pages(objects, cp, 0).await?,
                academic_sessions: oneroster_pages(objects, cp, 1).await?,
                courses: oneroster_pages(objects, cp, 2).await?,
                classes: oneroster_pages(objects, cp, 3).await?,
                users: oneroster_pages(objects, cp, 4).await?,
                enrollments: oneroster_pages(objects, cp, 5).await?,
                demographics: oneroster_pages(objects, cp, 6).await?,
            };
            oneroster_api::from_pages(&pages)?
        }
    };
    Ok(roster)
}

/// The stored pages of one endpoint: (request path, body), in order.
async fn stored(
    objects: &dyn ObjectStore,
    cp: &Checkpoint,
    endpoint: usize,
) -> Result<Vec<(String, Vec<u8>)>, SourceError> {
    let mut out = Vec::with_capacity(cp.paths[endpoint].len());
    for (i, path) in cp.paths[endpoint].iter().enumerate() {
        let key = cp.raw_key(endpoint, i + 1);
        let body = objects.get(&key).await.map_err(|e| store_error(&key, e))?;
        out.push((path.clone(), body));
    }
    Ok(out)
}

async fn clever_pages<T: DeserializeOwned>(
    objects: &dyn ObjectStore,
    cp: &Checkpoint,
    endpoint: usize,
) -> Result<Vec<clever_api::Page<T>>, SourceError> {
    let mut pages = Vec::new();
    for (path, body) in stored(objects, cp, endpoint).await? {
        let body = clever_api::parse_page(&path, &body)?;
        pages.push(clever_api::Page { path, body });
    }
    Ok(pages)
}

async fn oneroster_pages<T: DeserializeOwned>(
    objects: &dyn ObjectStore,
    cp: &Checkpoint,
    endpoint: usize,
) -> Result<Vec<oneroster_api::Page<T>>, SourceError> {
    let key = ONEROSTER_COLLECTIONS[endpoint];
    let mut pages = Vec::new();
    for (path, body) in stored(objects, cp, endpoint).await? {
        pages.push(oneroster_api::parse_page(&path, key, &body)?);
    }
    Ok(pages)
}

/// The `next` link of a Clever page whose records have the type of `endpoint` (the page is
/// parsed whole, so a bad record fails the fetch here, as in the one-shot fetch).
fn clever_next(endpoint: &str, path: &str, body: &[u8]) -> Result<Option<String>, SourceError> {
    fn next<T: DeserializeOwned>(path: &str, body: &[u8]) -> Result<Option<String>, SourceError> {
        let page: cm::ListResponse<T> = clever_api::parse_page(path, body)?;
        Ok(match page.data.is_empty() {
            true => None,
            false => page.next_uri().map(str::to_string),
        })
    }
    match endpoint {
        "districts" => next::<cm::District>(path, body),
        "schools" => next::<cm::School>(path, body),
        "users" => next::<cm::User>(path, body),
        "sections" => next::<cm::Section>(path, body),
        "terms" => next::<cm::Term>(path, body),
        _ => next::<cm::Course>(path, body),
    }
}

/// Checks every record of a OneRoster page against the type of its collection.
fn oneroster_check(name: &str, path: &str, body: &[u8]) -> Result<(), SourceError> {
    fn check<T: DeserializeOwned>(path: &str, key: &str, body: &[u8]) -> Result<(), SourceError> {
        oneroster_api::parse_page::<T>(path, key, body).map(drop)
    }
    match name {
        "orgs" => check::<om::Org>(path, name, body),
        "academicSessions" => check::<om::AcademicSession>(path, name, body),
        "courses" => check::<om::Course>(path, name, body),
        "classes" => check::<om::Class>(path, name, body),
        "users" => check::<om::User>(path, name, body),
        "enrollments" => check::<om::Enrollment>(path, name, body),
        _ => check::<om::Demographics>(path, name, body),
    }
}

fn policy(retries: u32, rpm: u32, backoff: Duration, clock: Arc<dyn clever_api::Clock>) -> Policy {
    Policy {
        max_retries: retries,
        requests_per_minute: rpm,
        backoff_base: backoff,
        max_backoff: Duration::from_secs(30),
        default_rate_wait: Duration::from_secs(5),
        max_rate_wait: Duration::from_secs(120),
        clock,
    }
}

struct Token {
    value: String,
    refresh_at: Option<u64>,
}

/// One invocation's HTTP session.
struct Reader<'a> {
    source: &'a ApiSource,
    base: String,
    client: reqwest::Client,
    pacer: Pacer,
    limit: u32,
    token: Option<Token>,
    /// OneRoster: the `sourcedId`s read so far in the current collection (loop detection).
    seen: Option<(usize, HashSet<String>)>,
}

impl<'a> Reader<'a> {
    fn new(source: &'a ApiSource) -> Result<Self, SourceError> {
        let (base, timeout, policy, limit) = match source {
            ApiSource::Clever(c) => {
                if c.version != "v3.0" && c.version != "v3.1" {
                    return Err(SourceError::invalid(Issue::error(
                        IssueCode::InvalidResponse,
                        Location::api(&c.base_url),
                        format!(
                            "unsupported Clever API version {:?} (use v3.0 or v3.1)",
                            c.version
                        ),
                    )));
                }
                let p = policy(
                    c.max_retries,
                    c.requests_per_minute,
                    c.backoff_base,
                    c.clock.clone(),
                );
                let limit = c.page_limit.clamp(1, clever_api::MAX_PAGE_LIMIT);
                (&c.base_url, c.request_timeout, p, limit)
            }
            ApiSource::OneRoster(o) => {
                let p = policy(
                    o.retries,
                    o.requests_per_minute,
                    o.backoff_base,
                    o.clock.clone(),
                );
                (&o.base_url, o.timeout, p, o.page_limit.max(1))
            }
        };
        Ok(Self {
            source,
            base: base.trim_end_matches('/').to_string(),
            client: sources::clever_api::transport::client(timeout)?,
            pacer: Pacer::new(policy),
            limit,
            token: None,
            seen: None,
        })
    }

    /// Reads the checkpoint's next page, stores it and moves the checkpoint past it.
    async fn page(
        &mut self,
        objects: &dyn ObjectStore,
        cp: &mut Checkpoint,
    ) -> Result<(), SourceError> {
        let e = cp.endpoint;
        match self.source {
            ApiSource::Clever(cfg) => self.clever_page(cfg, objects, cp, e).await,
            ApiSource::OneRoster(cfg) => self.oneroster_page(cfg, objects, cp, e).await,
        }
    }

    async fn put_raw(
        objects: &dyn ObjectStore,
        cp: &Checkpoint,
        e: usize,
        body: &[u8],
    ) -> Result<(), SourceError> {
        let key = cp.raw_key(e, cp.paths[e].len() + 1);
        objects
            .put(&key, body.to_vec())
            .await
            .map_err(|err| store_error(&key, err))
    }

    fn end_endpoint(cp: &mut Checkpoint) {
        tracing::info!(
            endpoint = cp.api.endpoints()[cp.endpoint],
            pages = cp.paths[cp.endpoint].len(),
            "endpoint read"
        );
        cp.endpoint += 1;
        cp.next = None;
        cp.offset = 0;
    }

    async fn clever_page(
        &mut self,
        cfg: &CleverConfig,
        objects: &dyn ObjectStore,
        cp: &mut Checkpoint,
        e: usize,
    ) -> Result<(), SourceError> {
        let name = clever_api::ENDPOINTS[e];
        let path = cp
            .next
            .clone()
            .unwrap_or_else(|| format!("/{}/{name}?limit={}", cfg.version, self.limit));
        if cp.paths[e].len() >= MAX_PAGES {
            return Err(invalid_response(&path, "too many pages; giving up"));
        }
        let url = format!("{}{path}", self.base);
        let (client, token) = (&self.client, &cfg.token);
        let fetched = self
            .pacer
            .run(&path, || exchange(client.get(&url).bearer_auth(token)))
            .await?;
        Self::put_raw(objects, cp, e, &fetched.body).await?;
        let next = match clever_next(name, &path, &fetched.body)? {
            Some(uri) => {
                let rel = self.relative(&path, &uri)?;
                if rel == path || cp.paths[e].contains(&rel) {
                    return Err(invalid_response(
                        &path,
                        "the next link points to a page already read (paging loop)",
                    ));
                }
                Some(rel)
            }
            None => None,
        };
        cp.paths[e].push(path);
        match next {
            Some(rel) => cp.next = Some(rel),
            None => Self::end_endpoint(cp),
        }
        Ok(())
    }

    /// A `next` link as a path below the base URL (the bearer token is never sent elsewhere).
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

    async fn oneroster_page(
        &mut self,
        cfg: &OneRosterConfig,
        objects: &dyn ObjectStore,
        cp: &mut Checkpoint,
        e: usize,
    ) -> Result<(), SourceError> {
        let name = ONEROSTER_COLLECTIONS[e];
        let path = format!(
            "{}/{name}?limit={}&offset={}",
            oneroster_api::API_PREFIX,
            self.limit,
            cp.offset
        );
        if cp.paths[e].len() >= MAX_PAGES {
            return Err(invalid_response(&path, "too many pages; giving up"));
        }
        let fetched = self.oneroster_get(cfg, &path).await?;
        Self::put_raw(objects, cp, e, &fetched.body).await?;
        let total = fetched
            .headers
            .get("x-total-count")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let page: oneroster_api::Page<serde_json::Value> =
            oneroster_api::parse_page(&path, name, &fetched.body)?;
        let n = page.records.len();
        if n > 0 {
            let seen = self.seen_ids(objects, cp, e).await?;
            let mut fresh = 0usize;
            for v in &page.records {
                let id = v.get("sourcedId").and_then(|i| i.as_str()).unwrap_or("");
                if id.is_empty() || seen.insert(id.to_string()) {
                    fresh += 1;
                }
            }
            if fresh == 0 {
                return Err(invalid_response(
                    &path,
                    "the page repeats records already read (the server ignores offset)",
                ));
            }
        }
        oneroster_check(name, &path, &fetched.body)?;
        cp.paths[e].push(path);
        cp.offset += n as u64;
        // As the one-shot fetch: a full page is never the last on `X-Total-Count` alone.
        let done = match total {
            _ if n == 0 => true,
            _ if n >= self.limit as usize => false,
            Some(t) => cp.offset >= t,
            None => true,
        };
        if done {
            Self::end_endpoint(cp);
        }
        Ok(())
    }

    /// The ids already read in collection `e`, rebuilt from its stored pages after a resume.
    async fn seen_ids(
        &mut self,
        objects: &dyn ObjectStore,
        cp: &Checkpoint,
        e: usize,
    ) -> Result<&mut HashSet<String>, SourceError> {
        if self.seen.as_ref().map(|(i, _)| *i) != Some(e) {
            let mut ids = HashSet::new();
            for (path, body) in stored(objects, cp, e).await? {
                let page: oneroster_api::Page<serde_json::Value> =
                    oneroster_api::parse_page(&path, ONEROSTER_COLLECTIONS[e], &body)?;
                ids.extend(page.records.iter().filter_map(|v| {
                    v.get("sourcedId")
                        .and_then(|i| i.as_str())
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                }));
            }
            self.seen = Some((e, ids));
        }
        match &mut self.seen {
            Some((_, ids)) => Ok(ids),
            None => Err(invalid_response("", "no id set")),
        }
    }

    /// One authorised GET (OAuth 1.0a signature, or an OAuth2 bearer refreshed once on 401).
    async fn oneroster_get(
        &mut self,
        cfg: &OneRosterConfig,
        path: &str,
    ) -> Result<Fetched, SourceError> {
        let url = url::Url::parse(&format!("{}{path}", self.base))
            .map_err(|_| invalid_response(path, "the base URL does not form a valid URL"))?;
        match &cfg.auth {
            OneRosterAuth::OAuth1 {
                key,
                secret,
                method,
            } => {
                let (client, clock) = (&self.client, cfg.clock.clone());
                self.pacer
                    .run(path, || {
                        let header = oauth::authorization(
                            "GET",
                            &url,
                            key,
                            secret,
                            *method,
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
                    let now = cfg.clock.now_unix();
                    let stale = self
                        .token
                        .as_ref()
                        .is_none_or(|t| t.refresh_at.is_some_and(|at| now >= at));
                    if stale {
                        self.token = Some(self.oauth2_token(cfg).await?);
                    }
                    let bearer = self.token.as_ref().map(|t| t.value.clone());
                    let bearer = bearer.unwrap_or_default();
                    let client = &self.client;
                    let res = self
                        .pacer
                        .run(path, || {
                            exchange(client.get(url.clone()).bearer_auth(&bearer))
                        })
                        .await;
                    match res {
                        Err(SourceError::WrongCredentials { status: 401, .. }) if !refreshed => {
                            refreshed = true;
                            self.token = None;
                        }
                        other => return other,
                    }
                }
            }
        }
    }

    async fn oauth2_token(&mut self, cfg: &OneRosterConfig) -> Result<Token, SourceError> {
        let OneRosterAuth::OAuth2 {
            client_id,
            client_secret,
            token_url,
            scope,
        } = &cfg.auth
        else {
            return Err(invalid_response("", "no OAuth2 configuration"));
        };
        let mut form: Vec<(&str, String)> = vec![("grant_type", "client_credentials".into())];
        if let Some(s) = scope.as_ref().filter(|s| !s.is_empty()) {
            form.push(("scope", s.clone()));
        }
        let client = &self.client;
        let fetched = self
            .pacer
            .run_with(
                token_url,
                || {
                    let req = client
                        .post(token_url)
                        .basic_auth(client_id, Some(client_secret));
                    exchange(req.form(&form))
                },
                &[400, 401, 403],
            )
            .await?;
        #[derive(Deserialize)]
        struct Answer {
            access_token: String,
            expires_in: Option<u64>,
        }
        let t: Answer =
            serde_json::from_slice(&fetched.body).map_err(|e| json_error(token_url, &e))?;
        let now = cfg.clock.now_unix();
        Ok(Token {
            value: t.access_token,
            refresh_at: t.expires_in.map(|s| now + s.saturating_sub(30)),
        })
    }
}
