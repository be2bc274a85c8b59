//! The handlers: plain async fns over [`ApiState`], each taking [`ReadAccess`] or
//! [`AdminAccess`] so that no handler can forget the district check.

use crate::ApiState;
use crate::auth::{AdminAccess, ReadAccess};
use crate::dto::{
    self, ChangeDto, ChangesPage, ChangesQuery, ClassroomDto, ClassroomsPage, ClassroomsQuery,
    ErrorBody, FeedSchoolDto, Health, PageQuery, RunDoc, RunView, RunsPage, SchoolDto,
    SchoolSuggestionDto, SchoolsPage, SettingsDoc, StartRunRequest, SuggestionsDto,
};
use crate::error::ApiError;
use crate::openapi::ApiDoc;
use app::admin::{self, AdminError};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::{ACCEPT, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::settings::{FieldError, SyncSettings};
use sha2::{Digest, Sha256};
use store::ChangeFilter;
use utoipa::OpenApi;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(openapi))
        .route("/v1/districts/{d}/runs", get(list_runs).post(start_run))
        .route("/v1/districts/{d}/runs/{run}", get(get_run))
        .route("/v1/districts/{d}/runs/{run}/changes", get(list_changes))
        .route("/v1/districts/{d}/runs/{run}/approve", post(approve_run))
        .route("/v1/districts/{d}/runs/{run}/dismiss", post(dismiss_run))
        .route(
            "/v1/districts/{d}/settings",
            get(get_settings).put(put_settings),
        )
        .route("/v1/districts/{d}/schools", get(list_schools))
        .route(
            "/v1/districts/{d}/schools/suggestions",
            get(suggest_schools),
        )
        .route(
            "/v1/districts/{d}/schools/{school}/external-ids/{external_id}",
            put(match_school),
        )
        .route("/v1/districts/{d}/classrooms", get(list_classrooms))
        .route(
            "/v1/districts/{d}/classrooms/{classroom}/sections/{section}",
            put(link_classroom),
        )
        .route(
            "/v1/districts/{d}/students/archive-unsynced",
            post(crate::students::archive_unsynced),
        )
        .route(
            "/v1/districts/{d}/students/duplicates",
            get(crate::students::find_duplicates),
        )
        .route(
            "/v1/districts/{d}/students/merge",
            post(crate::students::merge),
        )
        .route(
            "/v1/districts/{d}/students/merges/{merge}/unmerge",
            post(crate::students::unmerge),
        )
        .fallback(not_found)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("route")
}

// ---------------------------------------------------------------------------------------------
// Open endpoints

#[utoipa::path(get, path = "/health", tag = "meta", security(()),
    responses((status = 200, description = "The service is up", body = Health)))]
pub(crate) async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

#[utoipa::path(get, path = "/openapi.json", tag = "meta", security(()),
    responses((status = 200, description = "This document (OpenAPI 3.1)", content_type = "application/json")))]
pub(crate) async fn openapi() -> Response {
    Json(ApiDoc::openapi()).into_response()
}

// ---------------------------------------------------------------------------------------------
// Runs

pub(crate) fn page_limit(limit: Option<u32>, default: u32, max: u32) -> Result<usize, ApiError> {
    match limit {
        None => Ok(default as usize),
        Some(n) if (1..=max).contains(&n) => Ok(n as usize),
        Some(_) => Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be from 1 to {max}"),
        )),
    }
}

/// Cursors are opaque to callers: the store's cursor with a check, so a made-up or another
/// listing's cursor answers 400 instead of reaching the store.
pub(crate) fn seal_cursor(scope: &str, inner: &str) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(inner),
        cursor_check(scope, inner)
    )
}

pub(crate) fn open_cursor(scope: &str, cursor: &str) -> Result<String, ApiError> {
    let bad = || ApiError::bad_request("invalid_cursor", "the cursor is not one this API gave");
    let (body, check) = cursor.split_once('.').ok_or_else(bad)?;
    let inner = URL_SAFE_NO_PAD
        .decode(body)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(bad)?;
    if cursor_check(scope, &inner) != check {
        return Err(bad());
    }
    Ok(inner)
}

fn cursor_check(scope: &str, inner: &str) -> String {
    let digest = Sha256::digest(format!("rostersync-cursor\n{scope}\n{inner}").as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..9])
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(t)| t).map_err(ApiError::from)
}

#[utoipa::path(get, path = "/v1/districts/{d}/runs", tag = "runs",
    params(("d" = String, Path, description = "District id"), PageQuery),
    responses(
        (status = 200, description = "Runs, newest first", body = RunsPage),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "No such district for this token", body = ErrorBody)))]
pub(crate) async fn list_runs(
    access: ReadAccess,
    State(st): State<ApiState>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<RunsPage>, ApiError> {
    let q = query(q)?;
    let limit = page_limit(q.limit, 50, 500)?;
    let scope = format!("runs/{}", access.district);
    let cursor = q.cursor.map(|c| open_cursor(&scope, &c)).transpose()?;
    let runs = st
        .runs
        .list_runs(&access.district, cursor.as_deref(), limit)
        .await?;
    let next_cursor = (runs.len() == limit)
        .then(|| runs.last().map(|r| seal_cursor(&scope, &r.run_id)))
        .flatten();
    let runs = runs.iter().map(mirror).collect::<Result<_, _>>()?;
    Ok(Json(RunsPage { runs, next_cursor }))
}

/// Converts a domain value to its documented mirror through its JSON form (exactly what the
/// domain serialises).
fn mirror<A: serde::Serialize, B: serde::de::DeserializeOwned>(a: &A) -> Result<B, ApiError> {
    serde_json::to_value(a)
        .and_then(serde_json::from_value)
        .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("wire mapping: {e}")))
}

#[utoipa::path(post, path = "/v1/districts/{d}/runs", tag = "runs",
    params(("d" = String, Path, description = "District id")),
    request_body = StartRunRequest,
    responses(
        (status = 202, description = "Run started; poll GET .../runs/{run}", body = RunDoc),
        (status = 400, description = "Bad body", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Read-only token", body = ErrorBody),
        (status = 404, description = "No such district for this token", body = ErrorBody),
        (status = 409, description = "A run is already in progress", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "The district cannot sync as configured", body = ErrorBody)))]
pub(crate) async fn start_run(
    access: AdminAccess,
    State(st): State<ApiState>,
    body: Result<Json<StartRunRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<RunDoc>), ApiError> {
    let Json(body) = body?;
    let run = st.control.start(&access.district, body.dry_run).await?;
    tracing::info!(district = %access.district, run_id = %run.run_id, dry_run = body.dry_run, "run started through the API");
    Ok((StatusCode::ACCEPTED, Json(mirror(&run)?)))
}

#[utoipa::path(get, path = "/v1/districts/{d}/runs/{run}", tag = "runs",
    params(("d" = String, Path, description = "District id"), ("run" = String, Path, description = "Run id")),
    responses(
        (status = 200, description = "The report, or the run's status while it has none", body = RunView),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "No such run", body = ErrorBody)))]
pub(crate) async fn get_run(
    access: ReadAccess,
    State(st): State<ApiState>,
    Path((_, run_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let Some(run) = st.runs.get_run(&access.district, &run_id).await? else {
        return Err(ApiError::NotFound("run"));
    };
    Ok(match st.runs.get_report(&access.district, &run_id).await? {
        Some(report) => Json(report).into_response(),
        None => Json(run).into_response(),
    })
}

#[utoipa::path(get, path = "/v1/districts/{d}/runs/{run}/changes", tag = "runs",
    params(("d" = String, Path, description = "District id"), ("run" = String, Path, description = "Run id"), ChangesQuery),
    responses(
        (status = 200, description = "Changes in (school, position) order. With `Accept: text/csv`: CSV with columns entity, action, school_id, key, source_id, fields (`;`-separated), note; cells that a spreadsheet would run as a formula start with `'`; `X-Next-Cursor` names the next page when paged.",
            content((ChangesPage = "application/json"), (String = "text/csv"))),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "No such run", body = ErrorBody)))]
pub(crate) async fn list_changes(
    access: ReadAccess,
    State(st): State<ApiState>,
    Path((_, run_id)): Path<(String, String)>,
    headers: HeaderMap,
    q: Result<Query<ChangesQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    if st.runs.get_run(&access.district, &run_id).await?.is_none() {
        return Err(ApiError::NotFound("run"));
    }
    let filter = ChangeFilter {
        entity: q.entity.map(dto::entity_kind),
        action: q.action.map(dto::action),
        school: q.school.clone(),
        include_unchanged: q.action == Some(dto::ActionName::Unchanged),
    };
    let scope = format!("changes/{}/{run_id}", access.district);
    let mut cursor = q.cursor.map(|c| open_cursor(&scope, &c)).transpose()?;
    let csv = wants_csv(&headers);
    let export_all = csv && q.limit.is_none() && cursor.is_none();
    let limit = if export_all {
        1000
    } else {
        page_limit(q.limit, 100, 1000)?
    };
    let mut changes = Vec::new();
    let next = loop {
        let (page, next) = st
            .runs
            .list_changes(&access.district, &run_id, &filter, cursor.as_deref(), limit)
            .await?;
        changes.extend(page.iter().map(ChangeDto::from));
        match next {
            Some(n) if export_all => cursor = Some(n),
            other => break other.map(|n| seal_cursor(&scope, &n)),
        }
    };
    if !csv {
        return Ok(Json(ChangesPage {
            changes,
            next_cursor: next,
        })
        .into_response());
    }
    let body = crate::csv_out::changes_csv(&changes)?;
    let mut resp = (
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"changes.csv\""),
            ),
        ],
        body,
    )
        .into_response();
    if let Some(n) = next.and_then(|n| HeaderValue::from_str(&n).ok()) {
        resp.headers_mut().insert("x-next-cursor", n);
    }
    Ok(resp)
}

/// True when the first of `text/csv` and `application/json` in `Accept` is CSV.
fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|m| {
            m.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .find(|m| m == "text/csv" || m == "application/json")
        .is_some_and(|m| m == "text/csv")
}

#[utoipa::path(post, path = "/v1/districts/{d}/runs/{run}/approve", tag = "runs",
    params(("d" = String, Path, description = "District id"), ("run" = String, Path, description = "Run id")),
    responses(
        (status = 200, description = "The held run's archives are being applied", body = RunDoc),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Read-only token", body = ErrorBody),
        (status = 404, description = "No such run", body = ErrorBody),
        (status = 409, description = "The run is not held", body = ErrorBody)))]
pub(crate) async fn approve_run(
    access: AdminAccess,
    State(st): State<ApiState>,
    Path((_, run_id)): Path<(String, String)>,
) -> Result<Json<RunDoc>, ApiError> {
    if st.runs.get_run(&access.district, &run_id).await?.is_none() {
        return Err(ApiError::NotFound("run"));
    }
    let run = st.control.approve(&access.district, &run_id).await?;
    tracing::info!(district = %access.district, run_id = %run_id, "held run approved through the API");
    Ok(Json(mirror(&run)?))
}

#[utoipa::path(post, path = "/v1/districts/{d}/runs/{run}/dismiss", tag = "runs",
    params(("d" = String, Path, description = "District id"), ("run" = String, Path, description = "Run id")),
    responses(
        (status = 200, description = "The held run is closed without archiving", body = RunDoc),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Read-only token", body = ErrorBody),
        (status = 404, description = "No such run", body = ErrorBody),
        (status = 409, description = "The run is not held", body = ErrorBody)))]
pub(crate) async fn dismiss_run(
    access: AdminAccess,
    State(st): State<ApiState>,
    Path((_, run_id)): Path<(String, String)>,
) -> Result<Json<RunDoc>, ApiError> {
    if st.runs.get_run(&access.district, &run_id).await?.is_none() {
        return Err(ApiError::NotFound("run"));
    }
    let run = st.control.dismiss(&access.district, &run_id).await?;
    tracing::info!(district = %access.district, run_id = %run_id, "held run dismissed through the API");
    Ok(Json(mirror(&run)?))
}

// ---------------------------------------------------------------------------------------------
// Settings, schools, classrooms

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::UnknownDistrict(_) => Self::NotFound("district"),
            AdminError::NotFound { kind, .. } => Self::NotFound(kind),
            AdminError::Invalid(m) => Self::invalid(m),
            AdminError::Settings(fields) => settings_error(fields),
            AdminError::Conflict => {
                Self::Conflict("the record changed while it was being updated; try again".into())
            }
            AdminError::Store(e) => e.into(),
            AdminError::Secret(e) => Self::Unexpected(anyhow::Error::new(e)),
        }
    }
}

fn settings_error(fields: Vec<FieldError>) -> ApiError {
    ApiError::Unprocessable {
        code: "invalid_settings",
        message: "some settings are invalid".into(),
        fields,
    }
}

#[utoipa::path(get, path = "/v1/districts/{d}/settings", tag = "settings",
    params(("d" = String, Path, description = "District id")),
    responses(
        (status = 200, description = "The district's sync settings", body = SettingsDoc),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "No such district for this token", body = ErrorBody)))]
pub(crate) async fn get_settings(
    access: ReadAccess,
    State(st): State<ApiState>,
) -> Result<Response, ApiError> {
    let d = admin::district(st.runs.as_ref(), &access.district).await?;
    Ok(Json(d.settings).into_response())
}

#[utoipa::path(put, path = "/v1/districts/{d}/settings", tag = "settings",
    params(("d" = String, Path, description = "District id")),
    request_body = SettingsDoc,
    responses(
        (status = 200, description = "The settings, replaced", body = SettingsDoc),
        (status = 400, description = "Not JSON", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Read-only token", body = ErrorBody),
        (status = 404, description = "No such district for this token", body = ErrorBody),
        (status = 409, description = "Changed concurrently; try again", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "`invalid_settings` with per-field messages", body = ErrorBody)))]
pub(crate) async fn put_settings(
    access: AdminAccess,
    State(st): State<ApiState>,
    body: Result<Json<SyncSettings>, JsonRejection>,
) -> Result<Response, ApiError> {
    let settings = match body {
        Ok(Json(s)) => s,
        Err(r) if r.status() == StatusCode::UNPROCESSABLE_ENTITY => {
            return Err(settings_error(vec![FieldError {
                field: "body".into(),
                message: r.body_text(),
            }]));
        }
        Err(r) => return Err(r.into()),
    };
    let d = admin::replace_settings(st.runs.as_ref(), &access.district, settings).await?;
    tracing::info!(district = %access.district, "settings replaced through the API");
    Ok(Json(d.settings).into_response())
}

#[utoipa::path(get, path = "/v1/districts/{d}/schools", tag = "schools",
    params(("d" = String, Path, description = "District id")),
    responses(
        (status = 200, description = "Directory schools", body = SchoolsPage),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "No such district for this token", body = ErrorBody)))]
pub(crate) async fn list_schools(
    access: ReadAccess,
    State(st): State<ApiState>,
) -> Result<Json<SchoolsPage>, ApiError> {
    let schools = admin::schools(st.directory.as_ref(), &access.district).await?;
    Ok(Json(SchoolsPage {
        schools: schools.iter().map(SchoolDto::from).collect(),
    }))
}

#[utoipa::path(get, path = "/v1/districts/{d}/schools/suggestions", tag = "schools",
    params(("d" = String, Path, description = "District id")),
    responses(
        (status = 200, description = "Suggested matches from the newest staged feed; see the schema", body = SuggestionsDto),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "No such district for this token", body = ErrorBody)))]
pub(crate) async fn suggest_schools(
    access: ReadAccess,
    State(st): State<ApiState>,
) -> Result<Json<SuggestionsDto>, ApiError> {
    let schools = admin::schools(st.directory.as_ref(), &access.district).await?;
    let (feed_run_id, feed) = crate::feed::latest_feed_schools(&st, &access.district).await?;
    let suggestions = admin::suggest_schools(&schools, &feed);
    let taken: std::collections::BTreeSet<&str> = schools
        .iter()
        .flat_map(|s| s.external_ids.iter().map(String::as_str))
        .collect();
    Ok(Json(SuggestionsDto {
        suggestions: suggestions
            .into_iter()
            .map(|s| SchoolSuggestionDto {
                school_id: s.school_id,
                school_name: s.school_name,
                external_id: s.external_id,
                feed_name: s.feed_name,
                score: s.score,
                reasons: s.reasons,
            })
            .collect(),
        unmatched_schools: schools
            .iter()
            .filter(|s| s.external_ids.is_empty() && s.archived.is_none())
            .map(SchoolDto::from)
            .collect(),
        feed_schools: feed
            .iter()
            .filter(|f| !taken.contains(f.id.as_str()))
            .map(|f| FeedSchoolDto {
                id: f.id.clone(),
                name: f.name.clone(),
            })
            .collect(),
        feed_run_id,
    }))
}

#[utoipa::path(put, path = "/v1/districts/{d}/schools/{school}/external-ids/{external_id}", tag = "schools",
    params(("d" = String, Path, description = "District id"),
        ("school" = String, Path, description = "Directory school id"),
        ("external_id" = String, Path, description = "The source's school id")),
    responses(
        (status = 200, description = "Matched (idempotent)", body = SchoolDto),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Read-only token", body = ErrorBody),
        (status = 404, description = "No such school", body = ErrorBody),
        (status = 409, description = "Changed concurrently; try again", body = ErrorBody),
        (status = 422, description = "The external id is matched to another school", body = ErrorBody)))]
pub(crate) async fn match_school(
    access: AdminAccess,
    State(st): State<ApiState>,
    Path((_, school, external_id)): Path<(String, String, String)>,
) -> Result<Json<SchoolDto>, ApiError> {
    let s = admin::match_school(
        st.directory.as_ref(),
        &access.district,
        &school,
        &external_id,
    )
    .await?;
    tracing::info!(district = %access.district, school_id = %school, "school matched through the API");
    Ok(Json(SchoolDto::from(&s)))
}

#[utoipa::path(get, path = "/v1/districts/{d}/classrooms", tag = "classrooms",
    params(("d" = String, Path, description = "District id"), ClassroomsQuery),
    responses(
        (status = 200, description = "Directory classrooms", body = ClassroomsPage),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "No such district for this token", body = ErrorBody)))]
pub(crate) async fn list_classrooms(
    access: ReadAccess,
    State(st): State<ApiState>,
    q: Result<Query<ClassroomsQuery>, QueryRejection>,
) -> Result<Json<ClassroomsPage>, ApiError> {
    let q = query(q)?;
    let classrooms =
        admin::classrooms(st.directory.as_ref(), &access.district, q.school.as_deref()).await?;
    Ok(Json(ClassroomsPage {
        classrooms: classrooms.iter().map(ClassroomDto::from).collect(),
    }))
}

#[utoipa::path(put, path = "/v1/districts/{d}/classrooms/{classroom}/sections/{section}", tag = "classrooms",
    params(("d" = String, Path, description = "District id"),
        ("classroom" = String, Path, description = "Directory classroom id"),
        ("section" = String, Path, description = "Section id (Clever section id, OneRoster class sourcedId)")),
    responses(
        (status = 200, description = "Linked (idempotent)", body = ClassroomDto),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Read-only token", body = ErrorBody),
        (status = 404, description = "No such classroom", body = ErrorBody),
        (status = 409, description = "Changed concurrently; try again", body = ErrorBody),
        (status = 422, description = "The section is linked to another classroom", body = ErrorBody)))]
pub(crate) async fn link_classroom(
    access: AdminAccess,
    State(st): State<ApiState>,
    Path((_, classroom, section)): Path<(String, String, String)>,
) -> Result<Json<ClassroomDto>, ApiError> {
    let c = admin::link_classroom(
        st.directory.as_ref(),
        &access.district,
        &classroom,
        &section,
    )
    .await?;
    tracing::info!(district = %access.district, classroom_id = %classroom, "classroom linked through the API");
    Ok(Json(ClassroomDto::from(&c)))
}
