//! API wire types and their OpenAPI schemas.
//!
//! Two kinds: DTOs built from domain types by explicit conversions (schools, classrooms,
//! changes, pages, errors), and *mirrors* (`*Doc`) that describe, for the OpenAPI document, a
//! domain type the API serialises unchanged (the report of `INTERFACES.md`, the run record,
//! the settings). A test round-trips each domain value through its mirror, so a field added to
//! the domain type without its mirror fails the build's tests rather than the schema.

use chrono::{DateTime, Utc};
use domain::directory::{Classroom, School};
use domain::plan::Change;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

// ---------------------------------------------------------------------------------------------
// Errors

/// Every error answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code: `unauthorized`, `forbidden`, `not_found`, `bad_request`,
    /// `invalid_json`, `invalid_query`, `invalid_body`, `invalid_settings`, `invalid`,
    /// `conflict`, `payload_too_large`, `internal`.
    pub code: String,
    pub message: String,
    /// Per-field problems (`invalid_settings`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<FieldErrorDto>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FieldErrorDto {
    /// Dotted setting name, e.g. `schedule.start_time`.
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
}

// ---------------------------------------------------------------------------------------------
// Vocabulary

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntityName {
    Schools,
    Classrooms,
    Students,
    Staff,
    Guardians,
    Enrollments,
    GuardianLinks,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionName {
    Created,
    Updated,
    Unchanged,
    Archived,
    Unarchived,
    Skipped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatusDoc {
    Planning,
    Planned,
    Applying,
    Succeeded,
    CompletedWithWarnings,
    Held,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureReasonDoc {
    Threshold,
    WrongCredentials,
    SchoolsNotFound,
    InvalidInput,
    SourceUnavailable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKindDoc {
    Clever,
    OnerosterApi,
    OnerosterCsv,
    CleverCsv,
}

// ---------------------------------------------------------------------------------------------
// Runs and reports (mirrors)

/// The run record (`domain::district::Run`), as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunDoc {
    pub district: String,
    pub run_id: String,
    pub status: RunStatusDoc,
    pub reason: Option<FailureReasonDoc>,
    pub dry_run: bool,
    pub source: Option<SourceKindDoc>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Schools fanned out, and how many have finished the current phase.
    pub schools_total: u64,
    pub schools_done: u64,
    pub version: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CountsDoc {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub archived: u64,
    pub unarchived: u64,
    pub skipped: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReportIssueDoc {
    /// Stable code, e.g. `dangling_reference`.
    pub code: String,
    pub message: String,
    /// `file:line:column` or an API path.
    pub location: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SchoolReportDoc {
    pub school_id: String,
    pub external_id: String,
    pub status: RunStatusDoc,
    /// Every entity, every action, zeros included.
    pub totals: BTreeMap<EntityName, CountsDoc>,
}

/// The sync report of `INTERFACES.md` (`domain::report::Report`), exactly as `sync --json`
/// prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReportDoc {
    pub district: String,
    pub run_id: String,
    pub status: RunStatusDoc,
    pub reason: Option<FailureReasonDoc>,
    pub dry_run: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Every entity, every action, zeros included.
    pub totals: BTreeMap<EntityName, CountsDoc>,
    pub schools: Vec<SchoolReportDoc>,
    /// Per entity, how many records a held run tried to archive.
    pub tried_to_archive: BTreeMap<EntityName, u64>,
    pub warnings: Vec<ReportIssueDoc>,
    pub errors: Vec<ReportIssueDoc>,
}

/// `GET .../runs/{run}`: the report once the run has one, else the run record (its status).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum RunView {
    Report(ReportDoc),
    Run(RunDoc),
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunsPage {
    /// Newest first.
    pub runs: Vec<RunDoc>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct StartRunRequest {
    /// Plan only (the self-check); nothing is written.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Opaque cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

// ---------------------------------------------------------------------------------------------
// Changes

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    pub entity: Option<EntityName>,
    /// `unchanged` lists the records a run left as they were (left out otherwise).
    pub action: Option<ActionName>,
    /// Directory school id.
    pub school: Option<String>,
    /// Opaque cursor from the previous page's `next_cursor` (or `X-Next-Cursor` for CSV).
    pub cursor: Option<String>,
    /// Page size, 1 to 1000 (default 100). CSV without `limit` and `cursor` exports every
    /// matching change.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// One planned or applied change. Field names only, never values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChangeDto {
    pub entity: EntityName,
    pub action: ActionName,
    pub school_id: Option<String>,
    /// Directory record key, e.g. `person#p1`.
    pub key: String,
    pub source_id: Option<String>,
    /// Names of the fields an update changes.
    pub fields: Vec<String>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChangesPage {
    pub changes: Vec<ChangeDto>,
    pub next_cursor: Option<String>,
}

impl From<&Change> for ChangeDto {
    fn from(c: &Change) -> Self {
        Self {
            entity: entity_name(c.entity),
            action: action_name(c.action),
            school_id: c.school_id.clone(),
            key: c.key.0.clone(),
            source_id: c.source_id.clone(),
            fields: c.fields.clone(),
            note: c.note.clone(),
        }
    }
}

pub fn entity_name(e: domain::EntityKind) -> EntityName {
    use domain::EntityKind as E;
    match e {
        E::Schools => EntityName::Schools,
        E::Classrooms => EntityName::Classrooms,
        E::Students => EntityName::Students,
        E::Staff => EntityName::Staff,
        E::Guardians => EntityName::Guardians,
        E::Enrollments => EntityName::Enrollments,
        E::GuardianLinks => EntityName::GuardianLinks,
    }
}

pub fn entity_kind(e: EntityName) -> domain::EntityKind {
    use domain::EntityKind as E;
    match e {
        EntityName::Schools => E::Schools,
        EntityName::Classrooms => E::Classrooms,
        EntityName::Students => E::Students,
        EntityName::Staff => E::Staff,
        EntityName::Guardians => E::Guardians,
        EntityName::Enrollments => E::Enrollments,
        EntityName::GuardianLinks => E::GuardianLinks,
    }
}

pub fn action_name(a: domain::plan::Action) -> ActionName {
    use domain::plan::Action as A;
    match a {
        A::Created => ActionName::Created,
        A::Updated => ActionName::Updated,
        A::Unchanged => ActionName::Unchanged,
        A::Archived => ActionName::Archived,
        A::Unarchived => ActionName::Unarchived,
        A::Skipped => ActionName::Skipped,
    }
}

pub fn action(a: ActionName) -> domain::plan::Action {
    use domain::plan::Action as A;
    match a {
        ActionName::Created => A::Created,
        ActionName::Updated => A::Updated,
        ActionName::Unchanged => A::Unchanged,
        ActionName::Archived => A::Archived,
        ActionName::Unarchived => A::Unarchived,
        ActionName::Skipped => A::Skipped,
    }
}

// ---------------------------------------------------------------------------------------------
// Settings (mirror of `domain::settings::SyncSettings`)

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScheduleDoc {
    /// `HH:MM`, 24-hour, in `timezone`.
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub start_time: String,
    /// IANA name (`America/Chicago`) or `UTC`.
    #[schema(pattern = "^(UTC|[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)+)$")]
    pub timezone: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StudentIdSourceDoc {
    SisId,
    StudentNumber,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ArchivedStudentsDoc {
    UnarchiveSyncArchived,
    UnarchiveAll,
    KeepArchived,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PhoneColumnDoc {
    Sms,
    Phone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SchoolScopeDoc {
    Matched,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum ContactTypeDoc {
    #[serde(rename = "Parent/Guardian")]
    ParentGuardian,
    Emergency,
    Primary,
    Secondary,
    Family,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum RelationshipDoc {
    Parent,
    Grandparent,
    #[serde(rename = "Self")]
    SelfRel,
    #[serde(rename = "Aunt/Uncle")]
    AuntUncle,
    Sibling,
    Guardian,
    Relative,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum PhoneTypeDoc {
    Cell,
    Home,
    Work,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EntityTogglesDoc {
    pub classrooms: bool,
    pub students: bool,
    pub staff: bool,
    pub guardians: bool,
    pub enrollments: bool,
}

/// A district's sync settings. In a `PUT`, omitted fields take their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SettingsDoc {
    pub schedule: ScheduleDoc,
    /// Max % of sync-managed records of one entity kind a run may archive.
    #[schema(minimum = 0, maximum = 100)]
    pub deletion_threshold_pct: u8,
    pub student_id_source: StudentIdSourceDoc,
    pub archived_students: ArchivedStudentsDoc,
    pub manage_guardians: bool,
    pub unarchive_classrooms: bool,
    pub update_active_users: bool,
    pub update_language: bool,
    pub phone_column: PhoneColumnDoc,
    /// Empty = all values.
    pub contact_types: Vec<ContactTypeDoc>,
    pub relationships: Vec<RelationshipDoc>,
    pub phone_types: Vec<PhoneTypeDoc>,
    /// `null`: matched schools if the directory has any school, else all.
    pub school_scope: Option<SchoolScopeDoc>,
    pub entities: EntityTogglesDoc,
}

// ---------------------------------------------------------------------------------------------
// Schools and classrooms

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SchoolDto {
    pub id: String,
    pub name: String,
    /// Source school ids matched to this school (step 3).
    pub external_ids: Vec<String>,
    pub school_number: Option<String>,
    pub nces_id: Option<String>,
    /// Owned by the sync.
    pub managed: bool,
    pub archived: bool,
}

impl From<&School> for SchoolDto {
    fn from(s: &School) -> Self {
        Self {
            id: s.id.clone(),
            name: s.name.clone(),
            external_ids: s.external_ids.iter().cloned().collect(),
            school_number: s.school_number.clone(),
            nces_id: s.nces_id.clone(),
            managed: s.managed.is_some(),
            archived: s.archived.is_some(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SchoolsPage {
    pub schools: Vec<SchoolDto>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClassroomDto {
    pub id: String,
    pub school_id: String,
    pub name: String,
    /// Grade code (`KG`, `01` ... `13`, `PK`...).
    pub grade: Option<String>,
    /// Section ids linked to this classroom (step 4).
    pub section_ids: Vec<String>,
    pub managed: bool,
    pub archived: bool,
}

impl From<&Classroom> for ClassroomDto {
    fn from(c: &Classroom) -> Self {
        Self {
            id: c.id.clone(),
            school_id: c.school_id.clone(),
            name: c.name.clone(),
            grade: c
                .grade
                .and_then(|g| serde_json::to_value(g).ok())
                .and_then(|v| v.as_str().map(str::to_string)),
            section_ids: c.section_ids.iter().cloned().collect(),
            managed: c.managed.is_some(),
            archived: c.archived.is_some(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClassroomsPage {
    pub classrooms: Vec<ClassroomDto>,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClassroomsQuery {
    /// Only this directory school's classrooms.
    pub school: Option<String>,
}

/// A suggested match between a directory school and a feed school.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SchoolSuggestionDto {
    pub school_id: String,
    pub school_name: String,
    pub external_id: String,
    pub feed_name: String,
    /// 0 to 1.
    pub score: f64,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FeedSchoolDto {
    pub id: String,
    pub name: String,
}

/// Step 3 help. Suggestions need the feed's schools: they come from the newest run that staged
/// a feed. Without one, `suggestions` and `feed_schools` are empty and `feed_run_id` is null;
/// `unmatched_schools` (directory schools with no external id) is always there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SuggestionsDto {
    pub suggestions: Vec<SchoolSuggestionDto>,
    pub unmatched_schools: Vec<SchoolDto>,
    /// Feed schools no directory school is matched to.
    pub feed_schools: Vec<FeedSchoolDto>,
    /// The run whose staged feed was used.
    pub feed_run_id: Option<String>,
}
