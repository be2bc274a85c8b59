//! Checkpoint and continue: a Clever or OneRoster REST fetch that outlives one Lambda invocation.
//!
//! The reader pages through the API endpoint by endpoint with the sources crate's own clients
//! (`clever_api::Client`, `oneroster_api::Client` and `Paging`: the same requests, loop and
//! truncation checks and errors as the one-shot `fetch`), but one page at a time against a
//! [`Checkpoint`]:
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
use sources::clever_api::{self, model as cm};
use sources::oneroster_api::{self, model as om};
use std::collections::HashSet;
use store::{ObjectStore, StoreError};

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
            Self::Oneroster => &oneroster_api::COLLECTIONS,
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
    let key = oneroster_api::COLLECTIONS[endpoint];
    let mut pages = Vec::new();
    for (path, body) in stored(objects, cp, endpoint).await? {
        pages.push(oneroster_api::parse_page(&path, key, &body)?);
    }
    Ok(pages)
}

/// The `next` link of a Clever page whose records have the type of `endpoint` (the page is
/// parsed whole, so a bad record fails the fetch here, as in the one-shot fetch).
fn clever_next(
    client: &clever_api::Client<'_>,
    endpoint: &str,
    path: &str,
    body: &[u8],
    seen: &mut HashSet<String>,
) -> Result<Option<String>, SourceError> {
    fn next<T: DeserializeOwned>(
        client: &clever_api::Client<'_>,
        path: &str,
        body: &[u8],
        seen: &mut HashSet<String>,
    ) -> Result<Option<String>, SourceError> {
        let page: cm::ListResponse<T> = clever_api::parse_page(path, body)?;
        client.next_path(path, &page, seen)
    }
    match endpoint {
        "districts" => next::<cm::District>(client, path, body, seen),
        "schools" => next::<cm::School>(client, path, body, seen),
        "users" => next::<cm::User>(client, path, body, seen),
        "sections" => next::<cm::Section>(client, path, body, seen),
        "terms" => next::<cm::Term>(client, path, body, seen),
        _ => next::<cm::Course>(client, path, body, seen),
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

/// One invocation's HTTP session: the sources crate's own client, so every request (auth,
/// pacing, retries) is the one-shot fetch's.
enum Reader<'a> {
    Clever(clever_api::Client<'a>),
    OneRoster {
        client: oneroster_api::Client<'a>,
        /// The current collection's paging state (loop detection), rebuilt from its stored
        /// pages after a resume.
        paging: Option<(usize, oneroster_api::Paging)>,
    },
}

impl<'a> Reader<'a> {
    fn new(source: &'a ApiSource) -> Result<Self, SourceError> {
        Ok(match source {
            ApiSource::Clever(c) => Self::Clever(clever_api::Client::new(c)?),
            ApiSource::OneRoster(o) => Self::OneRoster {
                client: oneroster_api::Client::new(o)?,
                paging: None,
            },
        })
    }

    /// Reads the checkpoint's next page, stores it and moves the checkpoint past it.
    async fn page(
        &mut self,
        objects: &dyn ObjectStore,
        cp: &mut Checkpoint,
    ) -> Result<(), SourceError> {
        let e = cp.endpoint;
        match self {
            Self::Clever(client) => clever_page(client, objects, cp, e).await,
            Self::OneRoster { client, paging } => {
                oneroster_page(client, paging, objects, cp, e).await
            }
        }
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
    client: &mut clever_api::Client<'_>,
    objects: &dyn ObjectStore,
    cp: &mut Checkpoint,
    e: usize,
) -> Result<(), SourceError> {
    let name = clever_api::ENDPOINTS[e];
    let path = cp.next.clone().unwrap_or_else(|| client.first_path(name));
    if cp.paths[e].len() >= clever_api::MAX_PAGES {
        return Err(invalid_response(&path, "too many pages; giving up"));
    }
    let fetched = client.get(&path).await?;
    put_raw(objects, cp, e, &fetched.body).await?;
    let mut seen: HashSet<String> = cp.paths[e].iter().chain([&path]).cloned().collect();
    let next = clever_next(client, name, &path, &fetched.body, &mut seen)?;
    cp.paths[e].push(path);
    match next {
        Some(rel) => cp.next = Some(rel),
        None => end_endpoint(cp),
    }
    Ok(())
}

async fn oneroster_page(
    client: &mut oneroster_api::Client<'_>,
    paging: &mut Option<(usize, oneroster_api::Paging)>,
    objects: &dyn ObjectStore,
    cp: &mut Checkpoint,
    e: usize,
) -> Result<(), SourceError> {
    let name = oneroster_api::COLLECTIONS[e];
    let path = client.page_path(name, cp.offset);
    if cp.paths[e].len() >= oneroster_api::MAX_PAGES {
        return Err(invalid_response(&path, "too many pages; giving up"));
    }
    let fetched = client.get(&path).await?;
    put_raw(objects, cp, e, &fetched.body).await?;
    let page: oneroster_api::Page<serde_json::Value> =
        oneroster_api::parse_page(&path, name, &fetched.body)?;
    let state = match paging {
        Some((i, state)) if *i == e => state,
        _ => {
            // A resumed collection: the ids of its stored pages, one page at a time.
            let mut state = oneroster_api::Paging::default();
            for (i, p) in cp.paths[e].iter().enumerate() {
                let key = cp.raw_key(e, i + 1);
                let body = objects
                    .get(&key)
                    .await
                    .map_err(|err| store_error(&key, err))?;
                let read = oneroster_api::parse_page::<serde_json::Value>(p, name, &body)?;
                state.already_read(&read.records);
            }
            &mut paging.insert((e, state)).1
        }
    };
    let done = state.page(&path, client.limit(), &fetched, &page.records)?;
    oneroster_check(name, &path, &fetched.body)?;
    cp.paths[e].push(path);
    cp.offset = state.offset;
    if done {
        end_endpoint(cp);
    }
    Ok(())
}
