//! The pure planner: from one school's staged shard and the directory records that concern it,
//! the list of changes a run would make. No I/O, no clock, no randomness: the same inputs give
//! the same plan, in the same order.
//!
//! People are district-level: each person is planned by exactly one school shard (its owner,
//! computed at staging by [`stage_shards`]); other shards only resolve the person's directory
//! id (for enrollments and guardian links), with the same deterministic matching.

mod matching;
mod prepare;
mod stage;
mod view;

#[cfg(test)]
pub(crate) mod tests;

pub use matching::{FeedKeys, Resolution, Resolved, resolve_person};
pub use prepare::{StagedSchool, owners, prepare_roster, stage_shards};
pub use stage::{StageFailure, Staged, stage_roster};

pub use view::DirectoryView;

use chrono::{DateTime, Utc};
use domain::directory::{
    ArchiveReason, Archived, Classroom, Enrollment, GuardianLink, IndexKey, Managed, MemberRole,
    Person, PersonKind, Record, RecordKey, School,
};
use domain::plan::{Action, Change, Plan};
use domain::settings::{ArchivedStudents, SyncSettings};
use domain::{
    Contact, ContactLink, Coverage, EnrollmentRole, EntityKind, FeedMode, Issue, IssueCode,
    Location, SchoolShard, SourceKind, Staff, Student,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;

/// Everything a school plan depends on besides the shard and the directory: the run, the
/// district-wide facts computed at staging, and what this shard owns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanContext {
    pub district: String,
    pub run_id: String,
    pub source: SourceKind,
    /// Archive timestamps. The pipeline passes the run's start so a re-plan is identical.
    pub now: DateTime<Utc>,
    /// In-scope source school id → directory school id (several source schools may feed one).
    pub school_map: BTreeMap<String, String>,
    pub coverage: Coverage,
    /// Source ids of every person in the whole (prepared) feed, all schools together.
    pub feed_person_ids: BTreeSet<String>,
    /// Section ids of the whole feed, all schools together.
    pub feed_section_ids: BTreeSet<String>,
    /// Source ids of the people this shard plans (it is their owner school).
    #[serde(default)]
    pub owned: BTreeSet<String>,
    /// Contact source id → staff source id of the same person (name, email and SMS agree).
    #[serde(default)]
    pub contact_staff: BTreeMap<String, String>,
}

impl PlanContext {
    /// The directory schools the sync speaks for.
    fn mapped_directory_schools(&self) -> BTreeSet<&str> {
        self.school_map.values().map(String::as_str).collect()
    }

    /// Directory schools of a person, from its source school ids (in-scope ones only).
    fn directory_schools(&self, source_ids: &[String]) -> BTreeSet<String> {
        source_ids
            .iter()
            .filter_map(|s| self.school_map.get(s).cloned())
            .collect()
    }

    fn in_scope(&self, source_ids: &[String]) -> bool {
        source_ids.iter().any(|s| self.school_map.contains_key(s))
    }

    /// True when `source_school` is the first (smallest) source school of its directory school:
    /// that shard plans the school record and archives the directory school's classrooms.
    fn is_primary_source(&self, source_school: &str) -> bool {
        let Some(dir) = self.school_map.get(source_school) else {
            return false;
        };
        self.school_map
            .iter()
            .find(|(_, d)| *d == dir)
            .is_some_and(|(s, _)| s == source_school)
    }

    fn managed(&self, source_id: &str, previous: Option<&Managed>) -> Managed {
        Managed {
            source: self.source,
            source_id: source_id.to_string(),
            last_seen_run: previous
                .map(|m| m.last_seen_run.clone())
                .unwrap_or_else(|| self.run_id.clone()),
        }
    }

    fn archived_now(&self) -> Archived {
        Archived {
            reason: ArchiveReason::NotInFeed,
            at: self.now,
            run_id: Some(self.run_id.clone()),
        }
    }
}

/// The people of the whole feed, for the district step.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FeedPeople {
    /// Source ids of every person in the feed.
    pub ids: BTreeSet<String>,
    /// Explicit deletions of a delta feed (person source ids).
    pub deleted: BTreeSet<String>,
    /// Directory ids the school plans already account for (matched, re-keyed): never archived.
    pub claimed: BTreeSet<String>,
    /// Person kinds the sync manages in this run (entity toggles, guardian management).
    pub kinds: BTreeSet<PersonKind>,
}

/// Field names that differ between two records (never values), `version` excluded.
pub fn changed_fields(old: &Record, new: &Record) -> Vec<String> {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(old), serde_json::to_value(new))
    else {
        return vec!["record".to_string()];
    };
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| k.as_str() != "version" && a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

fn is_archived(r: &Record) -> bool {
    match r {
        Record::School(s) => s.archived.is_some(),
        Record::Classroom(c) => c.archived.is_some(),
        Record::Person(p) => p.archived.is_some(),
        _ => false,
    }
}

fn touch(r: &mut Record, run_id: &str) {
    let m = match r {
        Record::School(s) => s.managed.as_mut(),
        Record::Classroom(c) => c.managed.as_mut(),
        Record::Person(p) => p.managed.as_mut(),
        _ => None,
    };
    if let Some(m) = m {
        m.last_seen_run = run_id.to_string();
    }
}

/// Turns "the record as it should be" into a change against the stored record.
fn change_for(
    ctx: &PlanContext,
    entity: EntityKind,
    school_id: Option<&str>,
    source_id: Option<&str>,
    old: Option<&Record>,
    mut new: Record,
) -> Change {
    let mut c = Change {
        entity,
        action: Action::Unchanged,
        key: new.key(),
        school_id: school_id.map(str::to_string),
        source_id: source_id.map(str::to_string),
        fields: Vec::new(),
        expected_version: None,
        after: None,
        note: None,
    };
    match old {
        None => {
            new.set_version(0);
            touch(&mut new, &ctx.run_id);
            c.action = Action::Created;
            c.after = Some(new);
        }
        Some(o) => {
            new.set_version(o.version());
            c.expected_version = Some(o.version());
            // Equal records (the bulk of a re-sync) have no changed fields: skip the JSON diff.
            let fields = if *o == new {
                Vec::new()
            } else {
                changed_fields(o, &new)
            };
            if !fields.is_empty() {
                touch(&mut new, &ctx.run_id);
                c.action = match (is_archived(o), is_archived(&new)) {
                    (true, false) => Action::Unarchived,
                    (false, true) => Action::Archived,
                    _ => Action::Updated,
                };
                c.fields = fields;
                c.after = Some(new);
            }
        }
    }
    c
}

fn removal(entity: EntityKind, school_id: &str, old: &Record) -> Change {
    Change {
        entity,
        action: Action::Archived,
        key: old.key(),
        school_id: Some(school_id.to_string()),
        source_id: None,
        fields: Vec::new(),
        expected_version: Some(old.version()),
        after: None,
        note: None,
    }
}

fn skipped(
    entity: EntityKind,
    key: RecordKey,
    school_id: &str,
    source_id: &str,
    note: &str,
) -> Change {
    Change {
        entity,
        action: Action::Skipped,
        key,
        school_id: Some(school_id.to_string()),
        source_id: Some(source_id.to_string()),
        fields: Vec::new(),
        expected_version: None,
        after: None,
        note: Some(note.to_string()),
    }
}

fn blank_person(id: String, kind: PersonKind) -> Person {
    Person {
        id,
        kind,
        first_name: String::new(),
        middle_name: None,
        last_name: String::new(),
        email: None,
        sms: None,
        phone: None,
        language: None,
        grade: None,
        dob: None,
        sis_id: None,
        student_number: None,
        state_id: None,
        staff_roles: Vec::new(),
        title: None,
        school_ids: BTreeSet::new(),
        external_ids: BTreeSet::new(),
        active: false,
        same_person_as: None,
        managed: None,
        archived: None,
        version: 0,
    }
}

/// Which feed record a person source id refers to, within one shard.
#[derive(Clone, Copy)]
enum FeedRef<'a> {
    Student(&'a Student),
    Staff(&'a Staff),
    Contact(&'a Contact),
}

/// Lookups over one shard, built once per plan: the planner looks feed records up by id for
/// every person, enrollment and guardian link. Where ids repeat, the first record wins (as a
/// scan would find it).
struct ShardIndex<'a> {
    students: HashMap<&'a str, &'a Student>,
    staff: HashMap<&'a str, &'a Staff>,
    contacts: HashMap<&'a str, &'a Contact>,
    /// Section id → its enrollments, in shard order.
    enrollments: HashMap<&'a str, Vec<&'a domain::Enrollment>>,
    /// Student source id → the credentialed contacts linked to it (in contact id order), each
    /// with its first link to that student.
    guardians: HashMap<&'a str, Vec<(&'a Contact, &'a ContactLink)>>,
}

impl<'a> ShardIndex<'a> {
    fn new(shard: &'a SchoolShard) -> Self {
        let mut students = HashMap::with_capacity(shard.students.len());
        for s in &shard.students {
            students.entry(s.id.as_str()).or_insert(s);
        }
        let mut staff = HashMap::with_capacity(shard.staff.len());
        for s in &shard.staff {
            staff.entry(s.id.as_str()).or_insert(s);
        }
        let mut contacts = HashMap::with_capacity(shard.contacts.len());
        for c in &shard.contacts {
            contacts.entry(c.id.as_str()).or_insert(c);
        }
        let mut enrollments: HashMap<&str, Vec<&domain::Enrollment>> = HashMap::new();
        for e in &shard.enrollments {
            enrollments
                .entry(e.section_id.as_str())
                .or_default()
                .push(e);
        }
        let mut sorted: Vec<&Contact> = shard
            .contacts
            .iter()
            .filter(|c| has_credential(c))
            .collect();
        sorted.sort_by(|a, b| a.id.cmp(&b.id));
        let mut guardians: HashMap<&str, Vec<(&Contact, &ContactLink)>> = HashMap::new();
        for c in sorted {
            let mut seen: BTreeSet<&str> = BTreeSet::new();
            for l in &c.links {
                if seen.insert(l.student_id.as_str()) {
                    guardians
                        .entry(l.student_id.as_str())
                        .or_default()
                        .push((c, l));
                }
            }
        }
        Self {
            students,
            staff,
            contacts,
            enrollments,
            guardians,
        }
    }
}

/// The working state of one school plan.
struct SchoolPlanner<'a> {
    ctx: &'a PlanContext,
    shard: &'a SchoolShard,
    index: ShardIndex<'a>,
    /// `ctx.mapped_directory_schools()`, computed once.
    mapped: BTreeSet<&'a str>,
    view: &'a DirectoryView,
    settings: &'a SyncSettings,
    dir_school: String,
    /// The shard's `owned` and `contact_staff` (see [`PlanContext`]).
    owned: &'a BTreeSet<String>,
    contact_staff: &'a BTreeMap<String, String>,
    /// Memoised [`SchoolPlanner::resolve`] answers per person kind (student, staff, guardian),
    /// shared: every enrollment and guardian link asks again.
    resolved: [HashMap<String, Rc<Resolution>>; 3],
    changes: Vec<Change>,
    warnings: Vec<Issue>,
}

/// Plans one school shard against the directory. See the module docs and `DESIGN.md`.
pub fn plan_school(
    ctx: &PlanContext,
    shard: &SchoolShard,
    view: &DirectoryView,
    settings: &SyncSettings,
) -> Plan {
    plan_shard(ctx, &ctx.owned, &ctx.contact_staff, shard, view, settings)
}

/// [`plan_school`] with the shard's `owned` and `contact_staff` given apart from the
/// district-wide context (so a caller planning many shards does not copy the context).
pub fn plan_shard(
    ctx: &PlanContext,
    owned: &BTreeSet<String>,
    contact_staff: &BTreeMap<String, String>,
    shard: &SchoolShard,
    view: &DirectoryView,
    settings: &SyncSettings,
) -> Plan {
    let Some(dir_school) = ctx.school_map.get(&shard.school.id).cloned() else {
        return Plan::default();
    };
    let mut p = SchoolPlanner {
        ctx,
        shard,
        index: ShardIndex::new(shard),
        mapped: ctx.mapped_directory_schools(),
        view,
        settings,
        dir_school,
        owned,
        contact_staff,
        resolved: Default::default(),
        changes: Vec::new(),
        warnings: Vec::new(),
    };
    p.plan_school_record();
    let classrooms = if settings.entities.classrooms {
        p.plan_classrooms()
    } else {
        BTreeMap::new()
    };
    p.plan_people();
    if settings.entities.classrooms && settings.entities.enrollments {
        p.plan_enrollments(&classrooms);
    }
    if guardians_on(settings) && settings.entities.students {
        p.plan_guardian_links();
    }
    let mut changes = p.changes;
    changes.sort_by(|a, b| (a.entity, &a.key, a.action).cmp(&(b.entity, &b.key, b.action)));
    let mut warnings = p.warnings;
    warnings.sort_by(|a, b| {
        (&a.location.source, a.code, &a.message).cmp(&(&b.location.source, b.code, &b.message))
    });
    warnings.dedup();
    Plan { changes, warnings }
}

fn collection(kind: PersonKind) -> &'static str {
    match kind {
        PersonKind::Student => "students",
        PersonKind::Staff => "staff",
        PersonKind::Guardian => "contacts",
    }
}

fn guardians_on(settings: &SyncSettings) -> bool {
    settings.manage_guardians && settings.entities.guardians
}

/// A contact can become a guardian only with a credential: an email or an SMS-capable phone.
fn has_credential(c: &Contact) -> bool {
    c.email.is_some() || c.sms.is_some()
}

fn member_role(role: EnrollmentRole) -> Option<MemberRole> {
    match role {
        EnrollmentRole::Student => Some(MemberRole::Student),
        EnrollmentRole::Teacher | EnrollmentRole::Aide => Some(MemberRole::Teacher),
        EnrollmentRole::Administrator | EnrollmentRole::Proctor => None,
    }
}

impl<'a> SchoolPlanner<'a> {
    fn plan_school_record(&mut self) {
        if !self.ctx.is_primary_source(&self.shard.school.id) {
            return;
        }
        let src = &self.shard.school;
        let old = self.view.get(&RecordKey::school(&self.dir_school));
        let new = match old {
            Some(Record::School(s)) if s.managed.is_none() => {
                // Matched by an admin: the school is the admin's; the sync only reads it.
                Record::School(s.clone())
            }
            Some(Record::School(s)) => {
                let mut n = s.clone();
                n.name = src.name.clone();
                n.school_number = src.school_number.clone();
                n.nces_id = src.nces_id.clone();
                n.external_ids.insert(src.id.clone());
                n.archived = None;
                n.managed = Some(self.ctx.managed(&src.id, s.managed.as_ref()));
                Record::School(n)
            }
            _ => Record::from(School {
                id: self.dir_school.clone(),
                name: src.name.clone(),
                external_ids: BTreeSet::from([src.id.clone()]),
                school_number: src.school_number.clone(),
                nces_id: src.nces_id.clone(),
                managed: Some(self.ctx.managed(&src.id, None)),
                archived: None,
                version: 0,
            }),
        };
        let c = change_for(
            self.ctx,
            EntityKind::Schools,
            Some(&self.dir_school),
            Some(&src.id),
            old,
            new,
        );
        self.changes.push(c);
    }

    /// Plans classrooms; returns section id → classroom id for the sections whose memberships
    /// the sync manages (not those of classrooms kept archived).
    fn plan_classrooms(&mut self) -> BTreeMap<String, String> {
        let school_classrooms: Vec<&Classroom> = self
            .view
            .by_index(&IndexKey::in_school(&self.dir_school))
            .filter_map(|r| match r {
                Record::Classroom(c) if c.school_id == self.dir_school => Some(&**c),
                _ => None,
            })
            .collect();
        let mut by_section: HashMap<&str, Vec<&Classroom>> = HashMap::new();
        for c in &school_classrooms {
            for sid in &c.section_ids {
                by_section.entry(sid.as_str()).or_default().push(c);
            }
        }
        let mut sections: Vec<&domain::Section> = self.shard.sections.iter().collect();
        sections.sort_by(|a, b| a.id.cmp(&b.id));
        let mut out = BTreeMap::new();
        for s in sections {
            let mut matches: Vec<&Classroom> =
                by_section.get(s.id.as_str()).cloned().unwrap_or_default();
            matches.sort_by_key(|c| (c.archived.is_some(), c.id.clone()));
            let old = matches.first().map(|c| (*c).clone());
            let id = old
                .as_ref()
                .map(|c| c.id.clone())
                .unwrap_or_else(|| domain::directory::derived_id("cls", &self.ctx.district, &s.id));
            if let Some(c) = &old
                && c.archived.is_some()
                && !self.settings.unarchive_classrooms
            {
                self.changes.push(skipped(
                    EntityKind::Classrooms,
                    RecordKey::classroom(&c.id),
                    &self.dir_school,
                    &s.id,
                    "archived_classroom",
                ));
                continue;
            }
            let mut new = old.clone().unwrap_or_else(|| Classroom {
                id: id.clone(),
                school_id: self.dir_school.clone(),
                name: String::new(),
                grade: None,
                section_ids: BTreeSet::new(),
                managed: None,
                archived: None,
                version: 0,
            });
            new.name = s.name.clone();
            new.grade = s.grade;
            new.section_ids.insert(s.id.clone());
            new.archived = None;
            new.managed = Some(
                self.ctx
                    .managed(&s.id, old.as_ref().and_then(|c| c.managed.as_ref())),
            );
            let old_rec = old.map(Record::from);
            let c = change_for(
                self.ctx,
                EntityKind::Classrooms,
                Some(&self.dir_school),
                Some(&s.id),
                old_rec.as_ref(),
                Record::from(new),
            );
            self.changes.push(c);
            out.insert(s.id.clone(), id);
        }
        if self.ctx.coverage.sections == FeedMode::Bulk
            && self.ctx.is_primary_source(&self.shard.school.id)
        {
            for c in school_classrooms {
                if c.managed.is_some()
                    && c.archived.is_none()
                    && c.section_ids.is_disjoint(&self.ctx.feed_section_ids)
                {
                    let mut n = c.clone();
                    n.archived = Some(self.ctx.archived_now());
                    let source = c.managed.as_ref().map(|m| m.source_id.clone());
                    let old = Record::from(c.clone());
                    let ch = change_for(
                        self.ctx,
                        EntityKind::Classrooms,
                        Some(&self.dir_school),
                        source.as_deref(),
                        Some(&old),
                        Record::from(n),
                    );
                    self.changes.push(ch);
                }
            }
        }
        out
    }

    fn feed_ref(&self, kind: PersonKind, source_id: &str) -> Option<FeedRef<'a>> {
        match kind {
            PersonKind::Student => self
                .index
                .students
                .get(source_id)
                .map(|s| FeedRef::Student(s)),
            PersonKind::Staff => self.index.staff.get(source_id).map(|s| FeedRef::Staff(s)),
            PersonKind::Guardian => self
                .index
                .contacts
                .get(source_id)
                .map(|c| FeedRef::Contact(c)),
        }
    }

    /// The directory id a feed person maps to (memoised; the same answer in every shard).
    fn resolve(&mut self, kind: PersonKind, source_id: &str) -> Option<Rc<Resolution>> {
        let slot = match kind {
            PersonKind::Student => 0,
            PersonKind::Staff => 1,
            PersonKind::Guardian => 2,
        };
        if let Some(r) = self.resolved[slot].get(source_id) {
            return Some(r.clone());
        }
        let feed = self.feed_ref(kind, source_id)?;
        let r = resolve_person(
            self.ctx,
            self.view,
            self.settings,
            feed_keys(feed),
            kind,
            source_id,
        );
        let r = Rc::new(r);
        self.resolved[slot].insert(source_id.to_string(), r.clone());
        Some(r)
    }

    fn plan_people(&mut self) {
        let shard = self.shard;
        if self.settings.entities.students {
            let mut v: Vec<&Student> = shard
                .students
                .iter()
                .filter(|s| self.owned.contains(&s.id))
                .collect();
            v.sort_by(|a, b| a.id.cmp(&b.id));
            for s in v {
                self.plan_person(FeedRef::Student(s));
            }
        }
        if self.settings.entities.staff {
            let mut v: Vec<&Staff> = shard
                .staff
                .iter()
                .filter(|s| self.owned.contains(&s.id))
                .collect();
            v.sort_by(|a, b| a.id.cmp(&b.id));
            for s in v {
                self.plan_person(FeedRef::Staff(s));
            }
        }
        if guardians_on(self.settings) {
            let mut v: Vec<&Contact> = shard
                .contacts
                .iter()
                .filter(|s| self.owned.contains(&s.id))
                .collect();
            v.sort_by(|a, b| a.id.cmp(&b.id));
            for c in v {
                self.plan_person(FeedRef::Contact(c));
            }
        }
    }

    fn plan_person(&mut self, feed: FeedRef<'a>) {
        let (kind, source_id) = match feed {
            FeedRef::Student(s) => (PersonKind::Student, s.id.as_str()),
            FeedRef::Staff(s) => (PersonKind::Staff, s.id.as_str()),
            FeedRef::Contact(c) => (PersonKind::Guardian, c.id.as_str()),
        };
        let Some(res) = self.resolve(kind, source_id) else {
            return;
        };
        self.warnings.extend(res.warnings.iter().cloned());
        let dir_school = self.dir_school.clone();
        if let FeedRef::Contact(c) = feed
            && !has_credential(c)
        {
            self.warnings.push(Issue::warning(
                IssueCode::GuardianWithoutCredential,
                contact_location(kind, c),
                format!(
                    "contact of student {} has neither an email nor an SMS-capable phone; not \
                     synced until one appears",
                    linked_students(c)
                ),
            ));
            self.changes.push(skipped(
                EntityKind::Guardians,
                RecordKey::person(res.id()),
                &dir_school,
                source_id,
                "guardian_without_credential",
            ));
            return;
        }
        let old = match &res.target {
            Resolved::Existing(p) => Some((**p).clone()),
            Resolved::New(_) => None,
        };
        // Another feed record owns this person (a merge united two ids that are both still in
        // the feed): the merged-away id never updates or resurrects anything.
        if let Some(m) = old.as_ref().and_then(|p| p.managed.as_ref())
            && m.source_id != source_id
            && self.ctx.feed_person_ids.contains(&m.source_id)
        {
            if res.warnings.is_empty() {
                self.warnings.push(Issue::warning(
                    IssueCode::MergedIdReappeared,
                    Location::api(format!("{}/{source_id}", collection(kind))),
                    "source id maps to a record another source id of the feed owns (merged); not synced separately",
                ));
            }
            self.changes.push(skipped(
                kind.entity(),
                RecordKey::person(res.id()),
                &dir_school,
                source_id,
                "merged_id",
            ));
            return;
        }
        let mut p = old
            .clone()
            .unwrap_or_else(|| blank_person(res.id().to_string(), kind));
        let update_contact = !p.active || self.settings.update_active_users;
        let schools_of: Vec<String>;
        match feed {
            FeedRef::Student(s) => {
                p.first_name = s.first_name.clone();
                p.middle_name = s.middle_name.clone();
                p.last_name = s.last_name.clone();
                if update_contact {
                    p.email = s.email.clone();
                }
                p.grade = s.grade;
                p.dob = s.dob;
                p.sis_id = s.sis_id.clone();
                p.student_number = s.student_number.clone();
                p.state_id = s.state_id.clone();
                if self.settings.update_language {
                    p.language = s.home_language.clone();
                }
                schools_of = s.school_ids.clone();
            }
            FeedRef::Staff(s) => {
                p.first_name = s.first_name.clone();
                p.middle_name = s.middle_name.clone();
                p.last_name = s.last_name.clone();
                if update_contact {
                    p.email = s.email.clone();
                    p.sms = s.sms.clone();
                    p.phone = s.phone.clone();
                }
                p.sis_id = s.sis_id.clone();
                p.state_id = s.state_id.clone();
                let mut roles = s.roles.clone();
                roles.sort();
                roles.dedup();
                p.staff_roles = roles;
                p.title = s.title.clone();
                if self.settings.update_language {
                    p.language = s.language.clone();
                }
                schools_of = s.school_ids.clone();
            }
            FeedRef::Contact(c) => {
                p.first_name = c.first_name.clone();
                p.last_name = c.last_name.clone();
                if update_contact {
                    p.email = c.email.clone();
                    p.sms = c.sms.clone();
                    p.phone = c.phone.clone();
                }
                p.sis_id = c.sis_id.clone();
                if self.settings.update_language {
                    p.language = c.language.clone();
                }
                schools_of = self.contact_schools(c);
                if let Some(staff_src) = self.contact_staff.get(&c.id).cloned()
                    && let Some(r) = self.resolve(PersonKind::Staff, &staff_src)
                {
                    p.same_person_as = Some(r.id().to_string());
                }
            }
        }
        p.school_ids.retain(|s| !self.mapped.contains(s.as_str()));
        p.school_ids.extend(self.ctx.directory_schools(&schools_of));
        p.external_ids.insert(source_id.to_string());
        p.managed = Some(self.ctx.managed(source_id, p.managed.as_ref()));
        p.archived = match p.archived.take() {
            None => None,
            Some(a) => {
                let unarchive = match (&a.reason, kind) {
                    (ArchiveReason::MergedInto(_), _) => false,
                    (ArchiveReason::NotInFeed, PersonKind::Student) => {
                        self.settings.archived_students != ArchivedStudents::KeepArchived
                    }
                    (ArchiveReason::Manual, PersonKind::Student) => {
                        self.settings.archived_students == ArchivedStudents::UnarchiveAll
                    }
                    (ArchiveReason::NotInFeed, _) => true,
                    (ArchiveReason::Manual, _) => false,
                };
                if unarchive { None } else { Some(a) }
            }
        };
        let old_rec = old.map(|p| Record::Person(Box::new(p)));
        let c = change_for(
            self.ctx,
            kind.entity(),
            Some(&dir_school),
            Some(source_id),
            old_rec.as_ref(),
            Record::Person(Box::new(p)),
        );
        self.changes.push(c);
    }

    /// Source school ids of a contact: those of its linked students that the shard knows.
    fn contact_schools(&self, c: &Contact) -> Vec<String> {
        let mut out: Vec<String> = c
            .links
            .iter()
            .filter_map(|l| self.index.students.get(l.student_id.as_str()))
            .flat_map(|s| s.school_ids.iter().cloned())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Resolves an enrollment's user: a student or staff member known to the feed and in scope.
    fn resolve_member(&mut self, user_id: &str, role: MemberRole) -> Option<String> {
        let order = match role {
            MemberRole::Student => [PersonKind::Student, PersonKind::Staff],
            MemberRole::Teacher => [PersonKind::Staff, PersonKind::Student],
        };
        for kind in order {
            let (enabled, schools) = match kind {
                PersonKind::Student => (
                    self.settings.entities.students,
                    self.index.students.get(user_id).map(|s| &s.school_ids),
                ),
                _ => (
                    self.settings.entities.staff,
                    self.index.staff.get(user_id).map(|s| &s.school_ids),
                ),
            };
            let Some(schools) = schools else { continue };
            if !enabled || !self.ctx.in_scope(schools) {
                return None;
            }
            return self.resolve(kind, user_id).map(|r| r.id().to_string());
        }
        None
    }

    fn plan_enrollments(&mut self, classrooms: &BTreeMap<String, String>) {
        let dir_school = self.dir_school.clone();
        for (section_id, classroom_id) in classrooms {
            let mut desired: BTreeMap<String, (MemberRole, bool)> = BTreeMap::new();
            let mut feed: Vec<&domain::Enrollment> = self
                .index
                .enrollments
                .get(section_id.as_str())
                .cloned()
                .unwrap_or_default();
            // Teachers first so a person listed in both roles is a teacher.
            feed.sort_by_key(|e| (member_role(e.role) != Some(MemberRole::Teacher), &e.user_id));
            for e in feed {
                let Some(role) = member_role(e.role) else {
                    continue;
                };
                let Some(pid) = self.resolve_member(&e.user_id, role) else {
                    continue;
                };
                let entry = desired.entry(pid).or_insert((role, false));
                entry.1 |= e.primary && role == MemberRole::Teacher;
            }
            for (pid, (role, primary)) in &desired {
                let key = RecordKey::enrollment(classroom_id, pid);
                let old = self.view.get(&key);
                let new = Record::Enrollment(Enrollment {
                    classroom_id: classroom_id.clone(),
                    person_id: pid.clone(),
                    role: *role,
                    primary: *primary,
                    managed: true,
                    version: 0,
                });
                let c = change_for(
                    self.ctx,
                    EntityKind::Enrollments,
                    Some(&dir_school),
                    None,
                    old,
                    new,
                );
                self.changes.push(c);
            }
            if self.ctx.coverage.enrollments == FeedMode::Bulk {
                let stale: Vec<Record> = self
                    .view
                    .by_index(&IndexKey::of_classroom(classroom_id))
                    .filter(|r| match r {
                        Record::Enrollment(e) => {
                            &e.classroom_id == classroom_id
                                && e.managed
                                && !desired.contains_key(&e.person_id)
                        }
                        _ => false,
                    })
                    .cloned()
                    .collect();
                for r in stale {
                    self.changes
                        .push(removal(EntityKind::Enrollments, &dir_school, &r));
                }
            }
        }
    }

    fn plan_guardian_links(&mut self) {
        let shard = self.shard;
        let index_guardians = std::mem::take(&mut self.index.guardians);
        let dir_school = self.dir_school.clone();
        let mut students: Vec<&Student> = shard
            .students
            .iter()
            .filter(|s| self.owned.contains(&s.id))
            .collect();
        students.sort_by(|a, b| a.id.cmp(&b.id));
        for st in students {
            let Some(sid) = self
                .resolve(PersonKind::Student, &st.id)
                .map(|r| r.id().to_string())
            else {
                continue;
            };
            let mut desired: BTreeMap<String, GuardianLink> = BTreeMap::new();
            let contacts = index_guardians
                .get(st.id.as_str())
                .map(Vec::as_slice)
                .unwrap_or_default();
            for &(c, link) in contacts {
                let Some(gid) = self
                    .resolve(PersonKind::Guardian, &c.id)
                    .map(|r| r.id().to_string())
                else {
                    continue;
                };
                desired.entry(gid.clone()).or_insert(GuardianLink {
                    student_id: sid.clone(),
                    guardian_id: gid,
                    relationship: link.relationship,
                    contact_type: link.contact_type,
                    managed: true,
                    version: 0,
                });
            }
            for (gid, link) in &desired {
                let old = self.view.get(&RecordKey::guardian_link(&sid, gid));
                let c = change_for(
                    self.ctx,
                    EntityKind::GuardianLinks,
                    Some(&dir_school),
                    None,
                    old,
                    Record::GuardianLink(link.clone()),
                );
                self.changes.push(c);
            }
            if self.ctx.coverage.users == FeedMode::Bulk {
                let stale: Vec<Record> = self
                    .view
                    .by_index(&IndexKey::of_person(&sid))
                    .filter(|r| match r {
                        Record::GuardianLink(g) => {
                            g.student_id == sid
                                && g.managed
                                && !desired.contains_key(&g.guardian_id)
                        }
                        _ => false,
                    })
                    .cloned()
                    .collect();
                for r in stale {
                    self.changes
                        .push(removal(EntityKind::GuardianLinks, &dir_school, &r));
                }
            }
        }
    }
}

/// Where an admin finds a contact: its source id, or, for the ids a reader derives when the
/// source has none ([`Contact::has_derived_id`]), the contacts of its first student.
fn contact_location(kind: PersonKind, c: &Contact) -> Location {
    match c.links.first() {
        Some(l) if c.has_derived_id() => {
            Location::api(format!("students/{}/contacts", l.student_id))
        }
        _ => Location::api(format!("{}/{}", collection(kind), c.id)),
    }
}

/// The source ids of a contact's students, for messages (ids only, never names): at most
/// three, then how many more.
fn linked_students(c: &Contact) -> String {
    let ids: BTreeSet<&str> = c.links.iter().map(|l| l.student_id.as_str()).collect();
    let mut out = ids.iter().take(3).copied().collect::<Vec<_>>().join(", ");
    if ids.len() > 3 {
        out.push_str(&format!(" and {} more", ids.len() - 3));
    }
    out
}

/// The secondary keys of a feed person, in matching order, for [`resolve_person`].
fn feed_keys(feed: FeedRef<'_>) -> matching::FeedKeys {
    match feed {
        FeedRef::Student(s) => matching::FeedKeys {
            sis_id: s.sis_id.clone(),
            student_number: s.student_number.clone(),
            state_id: s.state_id.clone(),
            email: s.email.clone(),
            sms: None,
        },
        FeedRef::Staff(s) => matching::FeedKeys {
            sis_id: s.sis_id.clone(),
            student_number: None,
            state_id: None,
            email: s.email.clone(),
            sms: None,
        },
        FeedRef::Contact(c) => matching::FeedKeys {
            sis_id: None,
            student_number: None,
            state_id: None,
            email: c.email.clone(),
            sms: c.sms.clone(),
        },
    }
}

/// The district step: archives every managed person absent from the whole feed (a bulk feed),
/// or explicitly deleted (a delta feed). People the school plans matched are never archived.
pub fn plan_district<'a>(
    ctx: &PlanContext,
    feed_people: &FeedPeople,
    managed: impl IntoIterator<Item = &'a Person>,
    coverage: Coverage,
) -> Plan {
    let mut people: Vec<&Person> = managed.into_iter().collect();
    people.sort_by(|a, b| a.id.cmp(&b.id));
    people.dedup_by(|a, b| a.id == b.id);
    let mut changes = Vec::new();
    for p in people {
        if p.archived.is_some()
            || p.managed.is_none()
            || !feed_people.kinds.contains(&p.kind)
            || feed_people.claimed.contains(&p.id)
        {
            continue;
        }
        let in_feed = !p.external_ids.is_disjoint(&feed_people.ids);
        let gone = match coverage.users {
            FeedMode::Bulk => !in_feed,
            FeedMode::Delta => !in_feed && !p.external_ids.is_disjoint(&feed_people.deleted),
            FeedMode::Absent => false,
        };
        if !gone {
            continue;
        }
        let mut n = p.clone();
        n.archived = Some(ctx.archived_now());
        let school = p.school_ids.iter().next().cloned();
        let source = p.managed.as_ref().map(|m| m.source_id.clone());
        let entity = p.kind.entity();
        let old = Record::Person(Box::new(p.clone()));
        changes.push(change_for(
            ctx,
            entity,
            school.as_deref(),
            source.as_deref(),
            Some(&old),
            Record::Person(Box::new(n)),
        ));
    }
    Plan {
        changes,
        warnings: Vec::new(),
    }
}

/// Sync-created schools whose source school left a bulk feed are archived (admin-matched
/// schools are never archived: their absence fails the run at staging instead).
pub fn archive_absent_schools(
    ctx: &PlanContext,
    feed_school_ids: &BTreeSet<String>,
    schools: impl IntoIterator<Item = School>,
    coverage: Coverage,
) -> Vec<Change> {
    if coverage.schools != FeedMode::Bulk {
        return Vec::new();
    }
    let mut v: Vec<School> = schools
        .into_iter()
        .filter(|s| {
            s.managed.is_some()
                && s.archived.is_none()
                && s.external_ids.is_disjoint(feed_school_ids)
        })
        .collect();
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v.into_iter()
        .map(|s| {
            let mut n = s.clone();
            n.archived = Some(ctx.archived_now());
            let id = s.id.clone();
            let source = s.managed.as_ref().map(|m| m.source_id.clone());
            change_for(
                ctx,
                EntityKind::Schools,
                Some(&id),
                source.as_deref(),
                Some(&Record::from(s)),
                Record::from(n),
            )
        })
        .collect()
}

/// Directory ids of the people the school plans account for (for [`FeedPeople::claimed`]).
pub fn claimed_people<'a>(plans: impl IntoIterator<Item = &'a Plan>) -> BTreeSet<String> {
    plans
        .into_iter()
        .flat_map(|p| p.changes.iter())
        .filter(|c| {
            matches!(
                c.entity,
                EntityKind::Students | EntityKind::Staff | EntityKind::Guardians
            )
        })
        .filter_map(|c| c.key.as_str().strip_prefix("person#").map(str::to_string))
        .collect()
}
