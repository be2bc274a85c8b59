//! Step 9 over HTTP: archive students not part of the sync, find duplicate students, merge and
//! unmerge, through the `cleanup` crate's use cases.

use crate::ApiState;
use crate::auth::{AdminAccess, ReadAccess};
use crate::dto::ErrorBody;
use crate::error::ApiError;
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use cleanup::{CleanupError, FindOptions, MergeOptions, Scope, SortBy};
use domain::directory::PersonKind;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

impl From<CleanupError> for ApiError {
    fn from(e: CleanupError) -> Self {
        match e {
            CleanupError::NotFound { what, .. } => Self::NotFound(what),
            CleanupError::BadCursor => {
                Self::bad_request("invalid_cursor", "the cursor is not one this API gave")
            }
            CleanupError::Conflict(_) => Self::Conflict(e.to_string()),
            CleanupError::PartiallyApplied { .. } => Self::Conflict(e.to_string()),
            CleanupError::Store(s) => s.into(),
            // WrongKind, Managed, NotManuallyArchived, Refused, NoSyncedSchools: ids only.
            other => Self::invalid(other.to_string()),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ArchiveUnsyncedRequest {
    /// Report what would be archived; write nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Only this directory school's students. Default: every school that syncs.
    #[serde(default)]
    pub school: Option<String>,
}

/// What archiving did (or would do). Each student in scope is counted once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ArchiveOutcomeDto {
    pub dry_run: bool,
    pub archived: u64,
    /// Sync-managed students, left alone.
    pub skipped_managed: u64,
    pub already_archived: u64,
    /// Changed while the action ran and left alone; running again picks them up.
    pub conflicts: u64,
    /// Ids of the students archived.
    pub ids: Vec<String>,
}

#[utoipa::path(post, path = "/v1/districts/{d}/students/archive-unsynced", tag = "students",
    params(("d" = String, Path, description = "District id")),
    request_body = ArchiveUnsyncedRequest,
    responses(
        (status = 200, description = "Archived (reason manual) the unmanaged students in scope", body = ArchiveOutcomeDto),
        (status = 400, description = "Bad body", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Read-only token", body = ErrorBody),
        (status = 404, description = "No such district for this token", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "No school syncs yet (match schools first)", body = ErrorBody)))]
pub(crate) async fn archive_unsynced(
    access: AdminAccess,
    State(st): State<ApiState>,
    body: Result<Json<ArchiveUnsyncedRequest>, JsonRejection>,
) -> Result<Json<ArchiveOutcomeDto>, ApiError> {
    let Json(body) = body?;
    let dir = st.directory.as_ref();
    let scope = match body.school {
        Some(s) => Scope::School(s),
        None => cleanup::default_scope(dir, &access.district).await?,
    };
    let o = cleanup::archive_unsynced(
        dir,
        &access.district,
        &scope,
        body.dry_run,
        st.clock.as_ref(),
    )
    .await?;
    tracing::info!(district = %access.district, dry_run = o.dry_run, archived = o.archived, "archive-unsynced through the API");
    Ok(Json(ArchiveOutcomeDto {
        dry_run: o.dry_run,
        archived: o.archived,
        skipped_managed: o.skipped_managed,
        already_archived: o.already_archived,
        conflicts: o.conflicts,
        ids: o.ids,
    }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateSort {
    Confidence,
    Name,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DuplicatesQuery {
    /// Pairs below this confidence are left out (default 0.6).
    #[param(minimum = 0.0, maximum = 1.0)]
    pub min_confidence: Option<f64>,
    /// `confidence` (default) or `name`.
    pub sort: Option<DuplicateSort>,
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// A pair of students that may be one person. `a < b` by id.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DuplicateDto {
    pub a: String,
    pub b: String,
    /// 0 to 1: the strongest reason's confidence.
    pub confidence: f64,
    /// Every reason that matched, strongest first (e.g. `same_student_number`).
    pub reasons: Vec<String>,
    /// The student a merge would keep.
    pub survivor: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DuplicatesPage {
    pub duplicates: Vec<DuplicateDto>,
    pub next_cursor: Option<String>,
    /// Pairs over all pages.
    pub total: u64,
}

#[utoipa::path(get, path = "/v1/districts/{d}/students/duplicates", tag = "students",
    params(("d" = String, Path, description = "District id"), DuplicatesQuery),
    responses(
        (status = 200, description = "Duplicate candidates", body = DuplicatesPage),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "No such district for this token", body = ErrorBody)))]
pub(crate) async fn find_duplicates(
    access: ReadAccess,
    State(st): State<ApiState>,
    q: Result<Query<DuplicatesQuery>, QueryRejection>,
) -> Result<Json<DuplicatesPage>, ApiError> {
    let Query(q) = q?;
    let mut opts = FindOptions::default();
    if let Some(c) = q.min_confidence {
        if !(0.0..=1.0).contains(&c) {
            return Err(ApiError::bad_request(
                "invalid_query",
                "min_confidence must be from 0 to 1",
            ));
        }
        opts.min_confidence = c;
    }
    opts.sort = match q.sort {
        Some(DuplicateSort::Name) => SortBy::Name,
        _ => SortBy::Confidence,
    };
    opts.cursor = q.cursor;
    opts.limit = crate::routes::page_limit(q.limit, 50, 500)?;
    let page = cleanup::find_duplicates(
        st.directory.as_ref(),
        &access.district,
        PersonKind::Student,
        &opts,
    )
    .await?;
    Ok(Json(DuplicatesPage {
        duplicates: page
            .items
            .into_iter()
            .map(|c| DuplicateDto {
                a: c.a,
                b: c.b,
                confidence: c.confidence,
                reasons: c
                    .reasons
                    .iter()
                    .filter_map(|r| serde_json::to_value(r).ok())
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                survivor: c.survivor,
            })
            .collect(),
        next_cursor: page.next_cursor,
        total: page.total,
    }))
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct MergeRequest {
    /// The student kept.
    pub survivor: String,
    /// The student folded into the survivor.
    pub duplicate: String,
    /// Report what would happen; write nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Allow merging two students managed by the same sync source.
    #[serde(default)]
    pub force: bool,
}

/// What a merge did (or would do).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MergeOutcomeDto {
    pub dry_run: bool,
    /// Pass to `.../students/merges/{id}/unmerge` to undo.
    pub merge_id: String,
    pub survivor_id: String,
    pub duplicate_id: String,
    pub linked_moved: u64,
    pub enrollments_moved: u64,
    pub enrollments_dropped: u64,
    pub guardian_links_moved: u64,
    pub guardian_links_dropped: u64,
    pub external_ids_moved: u64,
    pub records_written: u64,
}

#[utoipa::path(post, path = "/v1/districts/{d}/students/merge", tag = "students",
    params(("d" = String, Path, description = "District id")),
    request_body = MergeRequest,
    responses(
        (status = 200, description = "Merged (reversibly)", body = MergeOutcomeDto),
        (status = 400, description = "Bad body", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Read-only token", body = ErrorBody),
        (status = 404, description = "No such student", body = ErrorBody),
        (status = 409, description = "Changed concurrently; nothing applied, try again", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Merge refused, with the reason", body = ErrorBody)))]
pub(crate) async fn merge(
    access: AdminAccess,
    State(st): State<ApiState>,
    body: Result<Json<MergeRequest>, JsonRejection>,
) -> Result<Json<MergeOutcomeDto>, ApiError> {
    let Json(body) = body?;
    let o = cleanup::merge(
        st.directory.as_ref(),
        &access.district,
        PersonKind::Student,
        &body.survivor,
        &body.duplicate,
        MergeOptions {
            dry_run: body.dry_run,
            force: body.force,
        },
        "api",
        st.clock.as_ref(),
    )
    .await?;
    tracing::info!(district = %access.district, merge_id = %o.merge_id, dry_run = o.dry_run, "merge through the API");
    Ok(Json(MergeOutcomeDto {
        dry_run: o.dry_run,
        merge_id: o.merge_id,
        survivor_id: o.survivor_id,
        duplicate_id: o.duplicate_id,
        linked_moved: o.linked_moved,
        enrollments_moved: o.enrollments_moved,
        enrollments_dropped: o.enrollments_dropped,
        guardian_links_moved: o.guardian_links_moved,
        guardian_links_dropped: o.guardian_links_dropped,
        external_ids_moved: o.external_ids_moved,
        records_written: o.records_written,
    }))
}

/// What an unmerge did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UnmergeOutcomeDto {
    pub merge_id: String,
    pub survivor_id: String,
    pub duplicate_id: String,
    /// Records put back as they were before the merge.
    pub restored: u64,
    /// Records the merge created, deleted again.
    pub deleted: u64,
    pub unchanged: u64,
    /// Records deleted since the merge; left deleted.
    pub gone: u64,
}

#[utoipa::path(post, path = "/v1/districts/{d}/students/merges/{merge}/unmerge", tag = "students",
    params(("d" = String, Path, description = "District id"), ("merge" = String, Path, description = "Merge id")),
    responses(
        (status = 200, description = "The merge is undone", body = UnmergeOutcomeDto),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Read-only token", body = ErrorBody),
        (status = 404, description = "No such merge", body = ErrorBody),
        (status = 409, description = "Changed concurrently; run it again", body = ErrorBody),
        (status = 422, description = "Already undone, or a later merge must be undone first", body = ErrorBody)))]
pub(crate) async fn unmerge(
    access: AdminAccess,
    State(st): State<ApiState>,
    Path((_, merge_id)): Path<(String, String)>,
) -> Result<Json<UnmergeOutcomeDto>, ApiError> {
    let o = cleanup::unmerge(
        st.directory.as_ref(),
        &access.district,
        &merge_id,
        st.clock.as_ref(),
    )
    .await?;
    tracing::info!(district = %access.district, merge_id = %merge_id, "unmerge through the API");
    Ok(Json(UnmergeOutcomeDto {
        merge_id: o.merge_id,
        survivor_id: o.survivor_id,
        duplicate_id: o.duplicate_id,
        restored: o.restored,
        deleted: o.deleted,
        unchanged: o.unchanged,
        gone: o.gone,
    }))
}
