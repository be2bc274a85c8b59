//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations and the
//! DTOs in [`crate::dto`]. Served at `GET /openapi.json`; schemathesis (`.ci/schemathesis.sh`)
//! checks the running API against it.

use crate::dto::*;
use crate::routes;
use crate::students::{self, *};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "rostersync API",
        description = "Sync reports and admin steps for one district. Every `/v1/districts/{d}` route takes `Authorization: Bearer <token>` from `rostersync tokens create --district D [--read-only]`; a token answers 404 for any other district."
    ),
    paths(
        routes::health,
        routes::openapi,
        routes::list_runs,
        routes::start_run,
        routes::get_run,
        routes::list_changes,
        routes::approve_run,
        routes::dismiss_run,
        routes::get_settings,
        routes::put_settings,
        routes::list_schools,
        routes::suggest_schools,
        routes::match_school,
        routes::list_classrooms,
        routes::link_classroom,
        students::archive_unsynced,
        students::find_duplicates,
        students::merge,
        students::unmerge,
    ),
    components(schemas(
        ErrorBody, FieldErrorDto, Health, EntityName, ActionName, RunStatusDoc, FailureReasonDoc,
        SourceKindDoc, RunDoc, CountsDoc, ReportIssueDoc, SchoolReportDoc, ReportDoc, RunView,
        RunsPage, StartRunRequest, ChangeDto, ChangesPage, SettingsDoc, ScheduleDoc,
        StudentIdSourceDoc, ArchivedStudentsDoc, PhoneColumnDoc, SchoolScopeDoc, ContactTypeDoc,
        RelationshipDoc, PhoneTypeDoc, EntityTogglesDoc, SchoolDto, SchoolsPage, ClassroomDto,
        ClassroomsPage, SchoolSuggestionDto, FeedSchoolDto, SuggestionsDto, ArchiveUnsyncedRequest, ArchiveOutcomeDto,
        DuplicateSort, DuplicateDto, DuplicatesPage, MergeRequest, MergeOutcomeDto, UnmergeOutcomeDto,
    )),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "runs", description = "Runs, reports, changes, held runs"),
        (name = "settings", description = "Sync settings"),
        (name = "schools", description = "Step 3: match schools"),
        (name = "classrooms", description = "Step 4: link classrooms"),
        (name = "students", description = "Step 9: archive unsynced students, duplicates, merge"),
        (name = "meta", description = "Health and this document"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A district token (`rs_...`)"))
                    .build(),
            ),
        );
    }
}
