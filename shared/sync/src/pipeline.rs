//! The run pipeline over the storage ports: stage a roster, then handle queue messages
//! (plan each school → district step and safeguards → apply each school → finish with the
//! report), approve or dismiss a held run, and drain the queue in-process for local mode.
//!
//! Every handler is idempotent: it checks the run's status first, recomputes deterministic
//! outputs, and applies plans with conditional writes, so a redelivered or late message changes
//! nothing.

use crate::apply::{archive_writes, writes_for};
use crate::planner::{
    DirectoryView, FeedPeople, PlanContext, StagedSchool, archive_absent_schools, plan_district,
    plan_shard, stage_roster,
};
use crate::report::{ApplyResult, PlanDigest, build_report};
use crate::safeguards::{Held, safeguards};
use domain::directory::{ArchiveReason, IndexKey, Person, PersonKind, Record, RecordKey, School};
use domain::district::{District, Run};
use domain::plan::{Action, Change, Plan};
use domain::report::{Report, ReportIssue, RunStatus, Totals};
use domain::settings::{SchoolScope, SyncSettings};
use domain::{EntityKind, FailureReason, Issue, IssueCode, Location, Roster};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use store::{Clock, Directory, ObjectStore, Queue, Runs, StoreError, WriteOutcome};
use tracing::Instrument;

/// The schema version of [`Message`] bodies.
pub const MESSAGE_VERSION: u32 = 1;
/// The pseudo-school of the district step's plan and apply.
pub const DISTRICT_PLAN: &str = "_district";
const PAGE: usize = 500;
/// Writes per `Directory::write` call: large enough that an SQLite transaction amortises its
/// WAL page writes (a first sync's index rows land all over the index B-tree, so each
/// transaction rewrites thousands of pages; 10,000 rather than 2,000, with larger WAL
/// checkpoints, made a 50k first sync about 8% faster), small enough to bound one call's
/// duration.
const WRITE_CHUNK: usize = 10_000;
/// How long a received message stays invisible while `run_local` handles it.
const VISIBILITY: Duration = Duration::from_secs(300);
/// Local attempts of a message that keeps failing transiently before `run_local` gives up.
const LOCAL_ATTEMPTS: u32 = 5;

/// The ports a pipeline runs on.
#[derive(Clone)]
pub struct Ports {
    pub objects: Arc<dyn ObjectStore>,
    pub queue: Arc<dyn Queue>,
    pub directory: Arc<dyn Directory>,
    pub runs: Arc<dyn Runs>,
    pub clock: Arc<dyn Clock>,
}

/// A queue message: small JSON, `{"type":"plan","v":1,"district":"d1","run_id":"r1","school":"k1"}`.
/// `school` is a source school id, or `_district` for the district step's apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    Plan {
        v: u32,
        district: String,
        run_id: String,
        school: String,
    },
    District {
        v: u32,
        district: String,
        run_id: String,
    },
    Apply {
        v: u32,
        district: String,
        run_id: String,
        school: String,
    },
    Finish {
        v: u32,
        district: String,
        run_id: String,
    },
}

impl Message {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn parse(body: &str) -> Result<Self> {
        let m: Message =
            serde_json::from_str(body).map_err(|e| PipelineError::BadMessage(e.to_string()))?;
        if m.version() != MESSAGE_VERSION {
            return Err(PipelineError::BadMessage(format!(
                "unsupported message version {}",
                m.version()
            )));
        }
        Ok(m)
    }

    pub fn version(&self) -> u32 {
        match self {
            Self::Plan { v, .. }
            | Self::District { v, .. }
            | Self::Apply { v, .. }
            | Self::Finish { v, .. } => *v,
        }
    }

    pub fn run(&self) -> (&str, &str) {
        match self {
            Self::Plan {
                district, run_id, ..
            }
            | Self::District {
                district, run_id, ..
            }
            | Self::Apply {
                district, run_id, ..
            }
            | Self::Finish {
                district, run_id, ..
            } => (district, run_id),
        }
    }
}

/// What went wrong handling a message or a use case, and whether a retry can help.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("invalid message: {0}")]
    BadMessage(String),
    #[error("run {district}/{run_id} not found")]
    RunNotFound { district: String, run_id: String },
    #[error("staged object {0} is missing")]
    Missing(String),
    #[error("object {key} is not readable: {message}")]
    Corrupt { key: String, message: String },
    /// The run has not reached the phase this message belongs to yet (retry later).
    #[error("not ready: {0}")]
    NotReady(String),
    #[error("run {run_id} is {status}: {message}")]
    InvalidState {
        run_id: String,
        status: &'static str,
        message: String,
    },
    /// `run_local` found the queue empty before the run ended.
    #[error("run {0} stalled: the queue is empty and the run is not finished")]
    Stalled(String),
}

impl PipelineError {
    /// True when redelivering the message can succeed; false sends it to the dead-letter queue.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Store(e) => e.is_transient() || matches!(e, StoreError::Conflict(_)),
            Self::NotReady(_) => true,
            _ => false,
        }
    }
}

type Result<T> = std::result::Result<T, PipelineError>;

/// What staging did.
#[derive(Debug, Clone, PartialEq)]
pub enum StageOutcome {
    /// The run is planning: one `plan` message per school is on the queue.
    Staged { schools: u64 },
    /// The feed was refused before any write; the run ended `failed` with this report.
    Failed(Box<Report>),
}

/// The run's staging decisions (`staged/manifest.json`); the shards are stored beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub v: u32,
    pub dry_run: bool,
    /// The settings in force when the run was staged (later edits do not change a run).
    pub settings: SyncSettings,
    pub context: PlanContext,
    pub scope: SchoolScope,
    /// Staged source school ids, in order.
    pub schools: Vec<String>,
    pub feed_people: FeedPeople,
    pub feed_school_ids: BTreeSet<String>,
    /// The reader's warnings.
    pub warnings: Vec<Issue>,
    pub counts: BTreeMap<String, u64>,
}

/// The district step's decision (`plans/_summary.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub held: Option<Held>,
    pub managed_counts: BTreeMap<EntityKind, u64>,
}

fn base(district: &str, run_id: &str) -> String {
    format!("districts/{district}/runs/{run_id}")
}
fn manifest_key(d: &str, r: &str) -> String {
    format!("{}/staged/manifest.json", base(d, r))
}
fn shard_key(d: &str, r: &str, school: &str) -> String {
    format!("{}/staged/schools/{school}.json", base(d, r))
}
pub(crate) fn plan_key(d: &str, r: &str, school: &str) -> String {
    format!("{}/plans/{school}.json", base(d, r))
}
fn apply_key(d: &str, r: &str, school: &str) -> String {
    format!("{}/plans/{school}.apply.json", base(d, r))
}
pub(crate) fn digest_key(d: &str, r: &str, school: &str) -> String {
    format!("{}/plans/{school}.digest.json", base(d, r))
}
fn summary_key(d: &str, r: &str) -> String {
    format!("{}/plans/_summary.json", base(d, r))
}

fn encode<T: Serialize>(key: &str, v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| PipelineError::Corrupt {
        key: key.to_string(),
        message: e.to_string(),
    })
}

async fn put_json<T: Serialize>(ports: &Ports, key: &str, v: &T) -> Result<()> {
    ports.objects.put(key, encode(key, v)?).await?;
    Ok(())
}

/// Stores a plan; a school's, then its digest (made from the stored bytes, see
/// [`PlanDigest::of_stored`]). The district step's plan has no digest.
async fn put_plan(ports: &Ports, d: &str, r: &str, school: &str, plan: &Plan) -> Result<()> {
    let key = plan_key(d, r, school);
    let body = encode(&key, plan)?;
    let digest = (school != DISTRICT_PLAN).then(|| PlanDigest::of_stored(plan, &body));
    ports.objects.put(&key, body).await?;
    match digest {
        Some(g) => put_json(ports, &digest_key(d, r, school), &g).await,
        None => Ok(()),
    }
}

async fn get_bytes(ports: &Ports, key: &str) -> Result<Vec<u8>> {
    match ports.objects.get(key).await {
        Ok(b) => Ok(b),
        Err(StoreError::NotFound(_)) => Err(PipelineError::Missing(key.to_string())),
        Err(e) => Err(e.into()),
    }
}

fn decode<T: for<'de> Deserialize<'de>>(key: &str, body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| PipelineError::Corrupt {
        key: key.to_string(),
        message: e.to_string(),
    })
}

async fn get_json<T: for<'de> Deserialize<'de>>(ports: &Ports, key: &str) -> Result<T> {
    decode(key, &get_bytes(ports, key).await?)
}

async fn get_json_opt<T: for<'de> Deserialize<'de>>(ports: &Ports, key: &str) -> Result<Option<T>> {
    match get_json(ports, key).await {
        Ok(v) => Ok(Some(v)),
        Err(PipelineError::Missing(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The last manifest this process parsed, with the exact bytes it was parsed from. Every
/// message of a run reads the manifest (its feed-wide id sets grow with the district); the
/// object is still read each time, and only the same bytes reuse the parsed value.
type ManifestCache = Option<(String, Vec<u8>, Arc<Manifest>)>;
static MANIFEST_CACHE: Mutex<ManifestCache> = Mutex::new(None);

async fn get_manifest(ports: &Ports, d: &str, r: &str) -> Result<Arc<Manifest>> {
    let key = manifest_key(d, r);
    let body = match ports.objects.get(&key).await {
        Ok(b) => b,
        Err(StoreError::NotFound(_)) => return Err(PipelineError::Missing(key)),
        Err(e) => return Err(e.into()),
    };
    {
        let cache = MANIFEST_CACHE
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((k, b, m)) = cache.as_ref()
            && *k == key
            && *b == body
        {
            return Ok(m.clone());
        }
    }
    let m: Arc<Manifest> =
        Arc::new(
            serde_json::from_slice(&body).map_err(|e| PipelineError::Corrupt {
                key: key.clone(),
                message: e.to_string(),
            })?,
        );
    *MANIFEST_CACHE
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = Some((key, body, m.clone()));
    Ok(m)
}

/// Stores a plan's changes in the run's change list without record values: the list shows
/// what changed (entity, action, key, field names), never the values, and so keeps no second
/// copy of personal data per run (the plan object keeps what apply needs).
async fn put_change_list(
    ports: &Ports,
    d: &str,
    r: &str,
    school: &str,
    changes: &[Change],
) -> Result<()> {
    let listed: Vec<Change> = changes
        .iter()
        .map(|c| Change {
            entity: c.entity,
            action: c.action,
            key: c.key.clone(),
            school_id: c.school_id.clone(),
            source_id: c.source_id.clone(),
            fields: c.fields.clone(),
            expected_version: None,
            after: None,
            note: c.note.clone(),
        })
        .collect();
    ports.runs.put_changes(d, r, school, &listed).await?;
    Ok(())
}

async fn send(ports: &Ports, m: &Message) -> Result<()> {
    ports.queue.send(&m.to_json()).await?;
    Ok(())
}

async fn load_run(ports: &Ports, district: &str, run_id: &str) -> Result<Run> {
    ports
        .runs
        .get_run(district, run_id)
        .await?
        .ok_or_else(|| PipelineError::RunNotFound {
            district: district.to_string(),
            run_id: run_id.to_string(),
        })
}

/// Every record carrying `index`, all pages.
pub async fn query_all(
    directory: &dyn Directory,
    district: &str,
    index: &IndexKey,
) -> std::result::Result<Vec<Record>, StoreError> {
    let mut out = Vec::new();
    let mut after: Option<RecordKey> = None;
    loop {
        let page = directory
            .query(district, index, after.as_ref(), PAGE)
            .await?;
        let n = page.len();
        after = page.last().map(Record::key);
        out.extend(page);
        if n < PAGE {
            return Ok(out);
        }
    }
}

fn empty_tried() -> BTreeMap<EntityKind, u64> {
    EntityKind::ALL.into_iter().map(|e| (e, 0)).collect()
}

/// Validates and stages a roster for `run`, then fans out one `plan` message per school.
/// A refused feed (empty, paused source, schools not found) ends the run `failed` before any
/// directory write.
pub async fn stage(
    ports: &Ports,
    district: &District,
    run: &Run,
    roster: Roster,
) -> Result<StageOutcome> {
    let span = tracing::info_span!("stage", district = %district.id, run_id = %run.run_id);
    async move {
        let mut run = match ports.runs.create_run(run).await {
            Ok(()) => load_run(ports, &run.district, &run.run_id).await?,
            Err(StoreError::Conflict(_)) => {
                let existing = load_run(ports, &run.district, &run.run_id).await?;
                if existing.status != RunStatus::Planning {
                    return Err(PipelineError::InvalidState {
                        run_id: run.run_id.clone(),
                        status: existing.status.as_str(),
                        message: "only a planning run can be staged".into(),
                    });
                }
                existing
            }
            Err(e) => return Err(e.into()),
        };
        let schools: Vec<School> =
            query_all(ports.directory.as_ref(), &district.id, &IndexKey::kind("school"))
                .await?
                .into_iter()
                .filter_map(|r| match r {
                    Record::School(s) => Some(*s),
                    _ => None,
                })
                .collect();
        let counts = BTreeMap::from([
            ("schools".to_string(), roster.schools.len() as u64),
            ("sections".to_string(), roster.sections.len() as u64),
            ("students".to_string(), roster.students.len() as u64),
            ("staff".to_string(), roster.staff.len() as u64),
            ("contacts".to_string(), roster.contacts.len() as u64),
            ("enrollments".to_string(), roster.enrollments.len() as u64),
        ]);
        let reader_warnings = roster.warnings.clone();
        let staged = match stage_roster(
            &district.id,
            &run.run_id,
            run.started_at,
            roster,
            &schools,
            &district.settings,
        ) {
            Ok(s) => s,
            Err(f) => {
                tracing::warn!(reason = %f.reason, code = %f.error.code, "feed refused before any write");
                let now = ports.clock.now();
                let report = Report {
                    district: district.id.clone(),
                    run_id: run.run_id.clone(),
                    status: RunStatus::Failed,
                    reason: Some(f.reason),
                    dry_run: run.dry_run,
                    started_at: run.started_at,
                    finished_at: Some(now),
                    totals: Totals::default(),
                    schools: Vec::new(),
                    tried_to_archive: empty_tried(),
                    warnings: reader_warnings.iter().map(ReportIssue::from).collect(),
                    errors: vec![ReportIssue::from(&f.error)],
                };
                ports.runs.put_report(&report).await?;
                run.status = RunStatus::Failed;
                run.reason = Some(f.reason);
                run.finished_at = Some(now);
                ports.runs.update_run(&run).await?;
                return Ok(StageOutcome::Failed(Box::new(report)));
            }
        };
        let d = &district.id;
        let r = &run.run_id;
        let schools: Vec<String> = staged
            .schools
            .iter()
            .map(|s| s.shard.school.id.clone())
            .collect();
        // Each shard is dropped once stored: staging does not hold the district twice over.
        for s in staged.schools {
            put_json(ports, &shard_key(d, r, &s.shard.school.id), &s).await?;
        }
        let manifest = Manifest {
            v: MESSAGE_VERSION,
            dry_run: run.dry_run,
            settings: district.settings.clone(),
            context: staged.context,
            scope: staged.scope,
            schools,
            feed_people: staged.feed_people.clone(),
            feed_school_ids: staged.feed_school_ids.clone(),
            warnings: staged.warnings.clone(),
            counts,
        };
        put_json(ports, &manifest_key(d, r), &manifest).await?;
        run.schools_total = manifest.schools.len() as u64;
        run.schools_done = 0;
        run.source = Some(manifest.context.source);
        ports.runs.update_run(&run).await?;
        for school in &manifest.schools {
            send(
                ports,
                &Message::Plan {
                    v: MESSAGE_VERSION,
                    district: d.clone(),
                    run_id: r.clone(),
                    school: school.clone(),
                },
            )
            .await?;
        }
        tracing::info!(schools = manifest.schools.len(), "staged");
        Ok(StageOutcome::Staged {
            schools: run.schools_total,
        })
    }
    .instrument(span)
    .await
}

/// Loads the directory records one school plan reads (see [`DirectoryView`]).
pub async fn load_view(
    ports: &Ports,
    district: &str,
    ctx: &PlanContext,
    staged: &StagedSchool,
) -> Result<DirectoryView> {
    let dir = ports.directory.as_ref();
    let mut records: BTreeMap<RecordKey, Record> = BTreeMap::new();
    let add = |rs: Vec<Record>, records: &mut BTreeMap<RecordKey, Record>| {
        for r in rs {
            records.insert(r.key(), r);
        }
    };
    let Some(dir_school) = ctx.school_map.get(&staged.shard.school.id) else {
        return Ok(DirectoryView::default());
    };
    if let Some(frozen) = dir.frozen(district).await? {
        return Ok(DirectoryView::shared(frozen));
    }
    if let Some(s) = dir.get(district, &RecordKey::school(dir_school)).await? {
        add(vec![s], &mut records);
    }
    add(
        query_all(dir, district, &IndexKey::in_school(dir_school)).await?,
        &mut records,
    );
    let mut lookups: BTreeSet<IndexKey> = BTreeSet::new();
    let shard = &staged.shard;
    for s in &shard.students {
        lookups.insert(IndexKey::external(&s.id));
        lookups.extend(s.sis_id.iter().map(|v| IndexKey::sis(v)));
        lookups.extend(s.student_number.iter().map(|v| IndexKey::student_number(v)));
        lookups.extend(s.state_id.iter().map(|v| IndexKey::state_id(v)));
    }
    for s in &shard.staff {
        lookups.insert(IndexKey::external(&s.id));
        lookups.extend(s.sis_id.iter().map(|v| IndexKey::sis(v)));
        lookups.extend(s.email.iter().map(IndexKey::email));
    }
    for c in &shard.contacts {
        lookups.insert(IndexKey::external(&c.id));
        lookups.extend(c.email.iter().map(IndexKey::email));
        lookups.extend(c.sms.iter().map(IndexKey::sms));
    }
    let lookups: Vec<IndexKey> = lookups.into_iter().collect();
    add(dir.query_many(district, &lookups).await?, &mut records);
    // Merge survivors of merged-away records (bounded chain).
    for _ in 0..4 {
        let missing: Vec<RecordKey> = records
            .values()
            .filter_map(|r| match r {
                Record::Person(p) => match p.archived.as_ref().map(|a| &a.reason) {
                    Some(ArchiveReason::MergedInto(x)) => Some(RecordKey::person(x)),
                    _ => None,
                },
                _ => None,
            })
            .filter(|k| !records.contains_key(k))
            .collect();
        if missing.is_empty() {
            break;
        }
        add(dir.get_many(district, &missing).await?, &mut records);
    }
    let classrooms: Vec<IndexKey> = records
        .values()
        .filter_map(|r| match r {
            Record::Classroom(c) if &c.school_id == dir_school => {
                Some(IndexKey::of_classroom(&c.id))
            }
            _ => None,
        })
        .collect();
    add(dir.query_many(district, &classrooms).await?, &mut records);
    let students: Vec<IndexKey> = records
        .values()
        .filter_map(|r| match r {
            Record::Person(p) if p.kind == PersonKind::Student => Some(IndexKey::of_person(&p.id)),
            _ => None,
        })
        .collect();
    // Only the students' guardian links: the people's other memberships stay out of the view.
    let links: Vec<Record> = dir
        .query_many(district, &students)
        .await?
        .into_iter()
        .filter(|r| matches!(r, Record::GuardianLink(_)))
        .collect();
    add(links, &mut records);
    Ok(DirectoryView::new(records.into_values()))
}

/// Handles one queue body (parse, then [`handle`]).
pub async fn handle_body(ports: &Ports, body: &str) -> Result<()> {
    let m = Message::parse(body)?;
    handle(ports, &m).await
}

/// The worker: handles one message. Safe to call again with the same message at any time.
pub async fn handle(ports: &Ports, msg: &Message) -> Result<()> {
    match msg {
        Message::Plan {
            district,
            run_id,
            school,
            ..
        } => {
            let span = tracing::info_span!("plan", %district, %run_id, school_id = %school);
            handle_plan(ports, district, run_id, school)
                .instrument(span)
                .await
        }
        Message::District {
            district, run_id, ..
        } => {
            let span = tracing::info_span!("district", %district, %run_id);
            handle_district(ports, district, run_id)
                .instrument(span)
                .await
        }
        Message::Apply {
            district,
            run_id,
            school,
            ..
        } => {
            let span = tracing::info_span!("apply", %district, %run_id, school_id = %school);
            handle_apply(ports, district, run_id, school)
                .instrument(span)
                .await
        }
        Message::Finish {
            district, run_id, ..
        } => {
            let span = tracing::info_span!("finish", %district, %run_id);
            handle_finish(ports, district, run_id)
                .instrument(span)
                .await
        }
    }
}

async fn plan_one_school(
    ports: &Ports,
    m: &Manifest,
    d: &str,
    r: &str,
    school: &str,
) -> Result<Plan> {
    let staged: StagedSchool = get_json(ports, &shard_key(d, r, school)).await?;
    let view = load_view(ports, d, &m.context, &staged).await?;
    Ok(plan_shard(
        &m.context,
        &staged.owned,
        &staged.contact_staff,
        &staged.shard,
        &view,
        &m.settings,
    ))
}

async fn handle_plan(ports: &Ports, d: &str, r: &str, school: &str) -> Result<()> {
    let run = load_run(ports, d, r).await?;
    if run.status != RunStatus::Planning {
        tracing::debug!(
            status = run.status.as_str(),
            "plan message for a run past planning; ignored"
        );
        return Ok(());
    }
    let m = get_manifest(ports, d, r).await?;
    let plan = plan_one_school(ports, &m, d, r, school).await?;
    put_plan(ports, d, r, school, &plan).await?;
    put_change_list(ports, d, r, school, &plan.changes).await?;
    let done = ports.runs.school_done(d, r, "plan", school).await?;
    tracing::info!(
        changes = plan.changes.len(),
        done,
        total = run.schools_total,
        "school planned"
    );
    if done >= run.schools_total {
        send(
            ports,
            &Message::District {
                v: MESSAGE_VERSION,
                district: d.to_string(),
                run_id: r.to_string(),
            },
        )
        .await?;
    }
    Ok(())
}

async fn load_school_plans(
    ports: &Ports,
    m: &Manifest,
    d: &str,
    r: &str,
) -> Result<Vec<(String, Plan)>> {
    let mut out = Vec::new();
    for s in &m.schools {
        match get_json::<Plan>(ports, &plan_key(d, r, s)).await {
            Ok(p) => out.push((s.clone(), p)),
            Err(PipelineError::Missing(k)) => {
                return Err(PipelineError::NotReady(format!("plan {k} not stored yet")));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// The digests of every school plan. A digest not stored (a run staged by an older build, or a
/// crash between storing a plan and its digest) is computed from the plan.
async fn load_school_digests(
    ports: &Ports,
    m: &Manifest,
    d: &str,
    r: &str,
) -> Result<Vec<(String, PlanDigest)>> {
    let mut out = Vec::with_capacity(m.schools.len());
    for s in &m.schools {
        let digest = match get_json_opt::<PlanDigest>(ports, &digest_key(d, r, s)).await? {
            Some(g) => g,
            None => match get_json::<Plan>(ports, &plan_key(d, r, s)).await {
                Ok(p) => PlanDigest::of(&p),
                Err(PipelineError::Missing(k)) => {
                    return Err(PipelineError::NotReady(format!("plan {k} not stored yet")));
                }
                Err(e) => return Err(e),
            },
        };
        out.push((s.clone(), digest));
    }
    Ok(out)
}

/// Stores the digest of the plan a school applies (stored as `bytes`) unless `stored` is it
/// already (a re-plan whose digest a crash kept from being written).
async fn ensure_digest(
    ports: &Ports,
    d: &str,
    r: &str,
    school: &str,
    stored: Option<&PlanDigest>,
    plan: &Plan,
    bytes: &[u8],
) -> Result<()> {
    let digest = PlanDigest::of_stored(plan, bytes);
    if stored != Some(&digest) {
        put_json(ports, &digest_key(d, r, school), &digest).await?;
    }
    Ok(())
}

/// The entity kinds of people the sync manages.
const PERSON_KINDS: [EntityKind; 3] = [
    EntityKind::Students,
    EntityKind::Staff,
    EntityKind::Guardians,
];

async fn managed_people(ports: &Ports, d: &str) -> Result<Vec<Person>> {
    let mut out = Vec::new();
    for e in PERSON_KINDS {
        for r in query_all(ports.directory.as_ref(), d, &IndexKey::managed(e)).await? {
            if let Record::Person(p) = r {
                out.push(*p);
            }
        }
    }
    Ok(out)
}

async fn plan_district_step(
    ports: &Ports,
    m: &Manifest,
    d: &str,
    school_plans: &[(String, PlanDigest)],
) -> Result<(Plan, BTreeMap<EntityKind, u64>)> {
    // Read in place from the run's snapshot when there is one (no copy of every managed
    // person); otherwise from the directory.
    let frozen = ports.directory.frozen(d).await?;
    let owned: Vec<Person>;
    let people: Vec<&Person> = match &frozen {
        Some(f) => PERSON_KINDS
            .iter()
            .flat_map(|e| f.by_index(&IndexKey::managed(*e)))
            .filter_map(|r| match r {
                Record::Person(p) => Some(&**p),
                _ => None,
            })
            .collect(),
        None => {
            owned = managed_people(ports, d).await?;
            owned.iter().collect()
        }
    };
    let mut managed_counts: BTreeMap<EntityKind, u64> = BTreeMap::new();
    for p in people.iter().filter(|p| p.archived.is_none()) {
        *managed_counts.entry(p.kind.entity()).or_default() += 1;
    }
    let classrooms = query_all(
        ports.directory.as_ref(),
        d,
        &IndexKey::managed(EntityKind::Classrooms),
    )
    .await?;
    let live_classrooms = classrooms
        .iter()
        .filter(|r| matches!(r, Record::Classroom(c) if c.archived.is_none()))
        .count() as u64;
    managed_counts.insert(EntityKind::Classrooms, live_classrooms);
    let schools: Vec<School> = query_all(ports.directory.as_ref(), d, &IndexKey::kind("school"))
        .await?
        .into_iter()
        .filter_map(|r| match r {
            Record::School(s) => Some(*s),
            _ => None,
        })
        .collect();
    managed_counts.insert(
        EntityKind::Schools,
        schools
            .iter()
            .filter(|s| s.managed.is_some() && s.archived.is_none())
            .count() as u64,
    );
    let mut feed = m.feed_people.clone();
    feed.claimed = school_plans
        .iter()
        .flat_map(|(_, g)| g.claimed.iter().cloned())
        .collect();
    let mut plan = plan_district(&m.context, &feed, people, m.context.coverage);
    plan.changes.extend(archive_absent_schools(
        &m.context,
        &m.feed_school_ids,
        schools,
        m.context.coverage,
    ));
    Ok((plan, managed_counts))
}

async fn handle_district(ports: &Ports, d: &str, r: &str) -> Result<()> {
    let mut run = load_run(ports, d, r).await?;
    let m = get_manifest(ports, d, r).await?;
    if run.status == RunStatus::Planning {
        let school_plans = load_school_digests(ports, &m, d, r).await?;
        let (plan, managed_counts) = plan_district_step(ports, &m, d, &school_plans).await?;
        put_plan(ports, d, r, DISTRICT_PLAN, &plan).await?;
        put_change_list(ports, d, r, DISTRICT_PLAN, &plan.changes).await?;
        let mut totals = Totals::default();
        for (_, g) in &school_plans {
            totals.merge(&g.totals);
        }
        totals.merge(&Totals::of(&plan.changes));
        let held = safeguards(&totals, &managed_counts, m.settings.deletion_threshold_pct);
        if held.is_some() {
            tracing::warn!(
                threshold = m.settings.deletion_threshold_pct,
                "deletion threshold exceeded; archives held"
            );
        }
        let summary = Summary {
            held,
            managed_counts,
        };
        put_json(ports, &summary_key(d, r), &summary).await?;
        if run.dry_run {
            let report = assemble_report(ports, &m, &run, d, r).await?;
            ports.runs.put_report(&report).await?;
            run.status = report.status;
            run.reason = report.reason;
            run.finished_at = report.finished_at;
            ports.runs.update_run(&run).await?;
            tracing::info!(status = run.status.as_str(), "dry run planned");
            return Ok(());
        }
        run.status = RunStatus::Applying;
        ports.runs.update_run(&run).await?;
    }
    if run.status == RunStatus::Applying {
        // Also on redelivery: the apply messages may not have been sent before a crash.
        for school in m.schools.iter().map(String::as_str).chain([DISTRICT_PLAN]) {
            send(
                ports,
                &Message::Apply {
                    v: MESSAGE_VERSION,
                    district: d.to_string(),
                    run_id: r.to_string(),
                    school: school.to_string(),
                },
            )
            .await?;
        }
    }
    Ok(())
}

async fn write_all(
    ports: &Ports,
    d: &str,
    writes: &[store::Write],
) -> Result<(BTreeSet<RecordKey>, u64)> {
    let mut done = BTreeSet::new();
    let mut conflicts = 0;
    for chunk in writes.chunks(WRITE_CHUNK) {
        let outcomes = ports.directory.write(d, chunk).await?;
        for (w, o) in chunk.iter().zip(outcomes) {
            match o {
                WriteOutcome::Written | WriteOutcome::AlreadyApplied => {
                    done.insert(w.key());
                }
                WriteOutcome::Conflict => conflicts += 1,
            }
        }
    }
    Ok((done, conflicts))
}

async fn handle_apply(ports: &Ports, d: &str, r: &str, school: &str) -> Result<()> {
    let run = load_run(ports, d, r).await?;
    match run.status {
        RunStatus::Applying => {}
        s if s.is_final() => return Ok(()),
        s => return Err(PipelineError::NotReady(format!("run is {}", s.as_str()))),
    }
    let m = get_manifest(ports, d, r).await?;
    let summary: Summary = get_json(ports, &summary_key(d, r)).await?;
    let held = summary.held.is_some();
    let key = plan_key(d, r, school);
    let bytes = get_bytes(ports, &key).await?;
    let digest = if school == DISTRICT_PLAN {
        None
    } else {
        get_json_opt::<PlanDigest>(ports, &digest_key(d, r, school)).await?
    };
    if digest.as_ref().is_some_and(|g| g.writes_nothing(&bytes)) {
        // The digest was made from exactly these bytes and they write nothing: a school with
        // no change. Its plan (every unchanged record) is not decoded.
        return finish_apply(ports, &run, d, r, school, ApplyResult::default()).await;
    }
    let plan: Plan = decode(&key, &bytes)?;
    if school != DISTRICT_PLAN {
        ensure_digest(ports, d, r, school, digest.as_ref(), &plan, &bytes).await?;
    }
    drop(bytes);
    let writes = writes_for(&plan.changes, held);
    let (done, conflicts) = write_all(ports, d, &writes).await?;
    let mut result = ApplyResult::default();
    if conflicts > 0 {
        tracing::warn!(
            conflicts,
            "directory changed since planning; re-planning the school once"
        );
        let mut replan = if school == DISTRICT_PLAN {
            let school_plans = load_school_digests(ports, &m, d, r).await?;
            plan_district_step(ports, &m, d, &school_plans).await?.0
        } else {
            plan_one_school(ports, &m, d, r, school).await?
        };
        // What the first attempt wrote shows as unchanged now: report it as first planned.
        let first: BTreeMap<&RecordKey, &Change> =
            plan.changes.iter().map(|c| (&c.key, c)).collect();
        for c in &mut replan.changes {
            if c.action == Action::Unchanged
                && done.contains(&c.key)
                && let Some(orig) = first.get(&c.key)
            {
                *c = (*orig).clone();
            }
        }
        put_plan(ports, d, r, school, &replan).await?;
        put_change_list(ports, d, r, school, &replan.changes).await?;
        let writes = writes_for(&replan.changes, held);
        let (_, again) = write_all(ports, d, &writes).await?;
        if again > 0 {
            tracing::error!(
                conflicts = again,
                "school plan still conflicts after re-planning; school failed"
            );
            result.failed = true;
            result.conflicts = again;
        }
    }
    finish_apply(ports, &run, d, r, school, result).await
}

/// Records how a school's apply went; the last apply of the run (the schools and the district
/// step) sends the finish.
async fn finish_apply(
    ports: &Ports,
    run: &Run,
    d: &str,
    r: &str,
    school: &str,
    result: ApplyResult,
) -> Result<()> {
    put_json(ports, &apply_key(d, r, school), &result).await?;
    let done_count = ports.runs.school_done(d, r, "apply", school).await?;
    if done_count > run.schools_total {
        send(
            ports,
            &Message::Finish {
                v: MESSAGE_VERSION,
                district: d.to_string(),
                run_id: r.to_string(),
            },
        )
        .await?;
    }
    Ok(())
}

async fn assemble_report(
    ports: &Ports,
    m: &Manifest,
    run: &Run,
    d: &str,
    r: &str,
) -> Result<Report> {
    let school_plans = load_school_digests(ports, m, d, r).await?;
    let district_plan: Plan = get_json(ports, &plan_key(d, r, DISTRICT_PLAN)).await?;
    let summary: Summary = get_json(ports, &summary_key(d, r)).await?;
    let mut results = BTreeMap::new();
    for s in m.schools.iter().map(String::as_str).chain([DISTRICT_PLAN]) {
        if let Some(a) = get_json_opt::<ApplyResult>(ports, &apply_key(d, r, s)).await? {
            results.insert(s.to_string(), a);
        }
    }
    Ok(build_report(
        m,
        run,
        &school_plans,
        &district_plan,
        summary.held.as_ref(),
        &results,
        ports.clock.now(),
    ))
}

async fn handle_finish(ports: &Ports, d: &str, r: &str) -> Result<()> {
    let mut run = load_run(ports, d, r).await?;
    match run.status {
        RunStatus::Applying => {}
        s if s.is_final() => return Ok(()),
        s => return Err(PipelineError::NotReady(format!("run is {}", s.as_str()))),
    }
    // Every apply is done: index upkeep the directory deferred is finished here, inside the
    // run, not by whoever reads the directory next.
    ports.directory.settle().await?;
    let m = get_manifest(ports, d, r).await?;
    let report = assemble_report(ports, &m, &run, d, r).await?;
    ports.runs.put_report(&report).await?;
    run.status = report.status;
    run.reason = report.reason;
    run.finished_at = report.finished_at;
    ports.runs.update_run(&run).await?;
    tracing::info!(status = run.status.as_str(), "run finished");
    Ok(())
}

async fn held_run(
    ports: &Ports,
    district: &str,
    run_id: &str,
    action: &str,
) -> Result<(Run, Report)> {
    let run = load_run(ports, district, run_id).await?;
    if run.status != RunStatus::Held || run.dry_run {
        return Err(PipelineError::InvalidState {
            run_id: run_id.to_string(),
            status: run.status.as_str(),
            message: format!("only a held (non dry-run) run can be {action}"),
        });
    }
    let report = ports
        .runs
        .get_report(district, run_id)
        .await?
        .ok_or_else(|| PipelineError::Missing(format!("report of run {run_id}")))?;
    Ok((run, report))
}

/// Applies the archives a held run skipped, and ends it `succeeded` (or
/// `completed_with_warnings`). Archives whose record changed since planning are not applied
/// and are listed as `apply_conflict` errors (the run then ends `failed`).
pub async fn approve(ports: &Ports, district: &str, run_id: &str) -> Result<Report> {
    let span = tracing::info_span!("approve", %district, %run_id);
    async move {
        let (mut run, mut report) = held_run(ports, district, run_id, "approved").await?;
        let m = get_manifest(ports, district, run_id).await?;
        let mut plans = load_school_plans(ports, &m, district, run_id).await?;
        let dp: Plan = get_json(ports, &plan_key(district, run_id, DISTRICT_PLAN)).await?;
        plans.push((DISTRICT_PLAN.to_string(), dp));
        let mut conflicts = 0;
        for (_, p) in &plans {
            let writes = archive_writes(&p.changes);
            conflicts += write_all(ports, district, &writes).await?.1;
        }
        let mut summary: Summary = get_json(ports, &summary_key(district, run_id)).await?;
        let tried = summary
            .held
            .take()
            .map(|h| h.tried_to_archive)
            .unwrap_or_default();
        put_json(ports, &summary_key(district, run_id), &summary).await?;
        for (e, n) in tried {
            report.totals.add(e, Action::Archived, n);
        }
        report.tried_to_archive = empty_tried();
        if conflicts > 0 {
            report.errors.push(ReportIssue::from(&Issue::error(
                IssueCode::ApplyConflict,
                Location::file("approve"),
                format!("{conflicts} archive(s) not applied: the record changed since planning"),
            )));
        }
        report.reason = None;
        report.status = if !report.errors.is_empty() {
            RunStatus::Failed
        } else if report.warnings.is_empty() {
            RunStatus::Succeeded
        } else {
            RunStatus::CompletedWithWarnings
        };
        report.finished_at = Some(ports.clock.now());
        ports.directory.settle().await?;
        ports.runs.put_report(&report).await?;
        run.status = report.status;
        run.reason = None;
        run.finished_at = report.finished_at;
        ports.runs.update_run(&run).await?;
        tracing::info!(conflicts, "held run approved");
        Ok(report)
    }
    .instrument(span)
    .await
}

/// Ends a held run without applying its archives: the run becomes `failed` with reason
/// `threshold` (final; `tried_to_archive` keeps what was not archived). The next run plans
/// afresh and holds again if the feed still drops that much.
pub async fn dismiss(ports: &Ports, district: &str, run_id: &str) -> Result<Report> {
    let span = tracing::info_span!("dismiss", %district, %run_id);
    async move {
        let (mut run, mut report) = held_run(ports, district, run_id, "dismissed").await?;
        report.status = RunStatus::Failed;
        report.reason = Some(FailureReason::Threshold);
        report.finished_at = Some(ports.clock.now());
        ports.runs.put_report(&report).await?;
        run.status = RunStatus::Failed;
        run.reason = Some(FailureReason::Threshold);
        run.finished_at = report.finished_at;
        ports.runs.update_run(&run).await?;
        tracing::info!("held run dismissed");
        Ok(report)
    }
    .instrument(span)
    .await
}

/// How a [`drain`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Messages handled (acknowledged, or the crashed one).
    pub handled: usize,
    /// True when `crash_after` stopped the drain (the last handled message was not acked).
    pub crashed: bool,
}

/// Receives and handles messages until the queue has none visible. With `crash_after = Some(n)`
/// it stops right after handling the n-th message *without acknowledging it* (as a process
/// that dies between doing the work and the ack), releasing it for redelivery.
pub async fn drain(ports: &Ports, crash_after: Option<usize>) -> Result<Drained> {
    let mut handled = 0;
    loop {
        let batch = ports.queue.receive(10, VISIBILITY).await?;
        if batch.is_empty() {
            return Ok(Drained {
                handled,
                crashed: false,
            });
        }
        let mut it = batch.into_iter();
        while let Some(delivery) = it.next() {
            let res = handle_body(ports, &delivery.body).await;
            handled += 1;
            match res {
                Ok(()) if crash_after == Some(handled) => {
                    ports.queue.release(&delivery.receipt).await?;
                    for rest in it {
                        ports.queue.release(&rest.receipt).await?;
                    }
                    return Ok(Drained {
                        handled,
                        crashed: true,
                    });
                }
                res => {
                    if let Err(e) = settle(ports, &delivery, res).await? {
                        for rest in it {
                            ports.queue.release(&rest.receipt).await?;
                        }
                        return Err(e);
                    }
                }
            }
        }
    }
}

/// Acknowledges a handled message, or releases it for redelivery; returns the error that
/// should stop the drain (a permanent failure, or a transient one out of local attempts).
async fn settle(
    ports: &Ports,
    delivery: &store::Delivery,
    res: Result<()>,
) -> Result<std::result::Result<(), PipelineError>> {
    match res {
        Ok(()) => ports.queue.ack(&delivery.receipt).await?,
        Err(e) if e.is_transient() && delivery.receive_count < LOCAL_ATTEMPTS => {
            tracing::debug!(error = %e, "transient failure; message released");
            ports.queue.release(&delivery.receipt).await?;
        }
        Err(e) => {
            tracing::error!(error = %e, "message failed");
            ports.queue.release(&delivery.receipt).await?;
            return Ok(Err(e));
        }
    }
    Ok(Ok(()))
}

/// Directory records a run copies into memory for planning (about 9 per student): beyond it,
/// planning reads the directory record by record (slower, and memory stays flat).
/// `ROSTERSYNC_SNAPSHOT_MAX_RECORDS` overrides it.
pub const SNAPSHOT_MAX_RECORDS: u64 = 1_000_000;

fn snapshot_max_records() -> u64 {
    std::env::var("ROSTERSYNC_SNAPSHOT_MAX_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SNAPSHOT_MAX_RECORDS)
}

/// Like [`drain`] without crash injection, handling the messages of each received batch at
/// the same time, `workers` at most (school plans and applies are independent; the ports
/// serialise what must be).
async fn drain_concurrent(ports: &Ports, workers: usize) -> Result<usize> {
    let mut handled = 0;
    let limit = Arc::new(tokio::sync::Semaphore::new(workers.max(1)));
    loop {
        let batch = ports.queue.receive(10, VISIBILITY).await?;
        if batch.is_empty() {
            return Ok(handled);
        }
        let mut tasks = Vec::with_capacity(batch.len());
        for delivery in batch {
            let ports = ports.clone();
            let limit = limit.clone();
            let span = tracing::Span::current();
            tasks.push(tokio::spawn(
                async move {
                    let _permit = limit.acquire_owned().await;
                    let res = handle_body(&ports, &delivery.body).await;
                    (delivery, res)
                }
                .instrument(span),
            ));
        }
        let mut failed = None;
        for task in tasks {
            let (delivery, res) = task
                .await
                .map_err(|e| PipelineError::NotReady(format!("worker task ended: {e}")))?;
            handled += 1;
            if let Err(e) = settle(ports, &delivery, res).await? {
                failed.get_or_insert(e);
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
    }
}

/// The ports a local run plans through: `ports` with the directory behind a per-run
/// [`store::snapshot::Snapshot`] of up to [`SNAPSHOT_MAX_RECORDS`] records (returned too, to
/// prefetch and release it).
pub fn snapshot_ports(ports: &Ports) -> (Ports, Arc<store::snapshot::Snapshot>) {
    let snapshot = Arc::new(store::snapshot::Snapshot::new(
        ports.directory.clone(),
        snapshot_max_records(),
    ));
    let ports = Ports {
        directory: snapshot.clone(),
        ..ports.clone()
    };
    (ports, snapshot)
}

/// The local pipeline: drains the queue in-process until the run is final, then returns its
/// report. Messages are handled on every core (see [`drain_concurrent`]).
///
/// Reads go through a [`store::snapshot::Snapshot`] of the directory: one scan serves every
/// school plan of the run instead of index look-ups per school (writes drop it), for districts
/// of up to [`SNAPSHOT_MAX_RECORDS`] records.
pub async fn run_local(ports: &Ports, district: &str, run_id: &str) -> Result<Report> {
    let (ports, snapshot) = snapshot_ports(ports);
    run_local_on(&ports, &snapshot, district, run_id).await
}

/// [`run_local`] on ports from [`snapshot_ports`] (whose snapshot the caller may have started
/// loading while the run was staged). The snapshot is released when the run ends.
pub async fn run_local_on(
    ports: &Ports,
    snapshot: &store::snapshot::Snapshot,
    district: &str,
    run_id: &str,
) -> Result<Report> {
    let out = drain_until_final(ports, district, run_id).await;
    snapshot.release();
    out
}

async fn drain_until_final(ports: &Ports, district: &str, run_id: &str) -> Result<Report> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    loop {
        let run = load_run(ports, district, run_id).await?;
        if run.status.is_final() {
            return ports
                .runs
                .get_report(district, run_id)
                .await?
                .ok_or_else(|| PipelineError::Missing(format!("report of run {run_id}")));
        }
        let handled = drain_concurrent(ports, workers).await?;
        if handled == 0 {
            let run = load_run(ports, district, run_id).await?;
            if !run.status.is_final() {
                return Err(PipelineError::Stalled(run_id.to_string()));
            }
        }
    }
}
