//! The canonical roster: what every source (Clever API, OneRoster REST and CSV, Clever CSV)
//! converts to, and what the planner reconciles against the directory.
//!
//! IDs are the source's own opaque strings (leading zeros kept, never parsed as numbers).
//! Values that failed to parse were dropped by the reader with a warning, so every field here is
//! usable as is.

use crate::issue::{Issue, IssueCode, Location};
use crate::values::{Email, Grade, Phone};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which kind of source produced a roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    Clever,
    OnerosterApi,
    OnerosterCsv,
    CleverCsv,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clever => "clever",
            Self::OnerosterApi => "oneroster-api",
            Self::OnerosterCsv => "oneroster-csv",
            Self::CleverCsv => "clever-csv",
        }
    }
}

/// Whether a file or endpoint carried a full snapshot, only changes, or nothing.
/// Only `Bulk` data lets the planner archive what is absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FeedMode {
    #[default]
    Bulk,
    Delta,
    Absent,
}

/// Per entity kind, how complete the feed is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Coverage {
    pub schools: FeedMode,
    pub sections: FeedMode,
    pub users: FeedMode,
    pub enrollments: FeedMode,
}

/// The district as the source describes it, including its sync state (Clever `state`,
/// `pause_start`, `pause_end`), so that a paused source never archives anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SourceDistrict {
    pub id: String,
    pub name: Option<String>,
    /// Clever: `running|pending|error|paused|success`.
    pub state: Option<String>,
    pub pause_start: Option<String>,
    pub pause_end: Option<String>,
}

impl SourceDistrict {
    /// True when the source says its data is frozen or broken.
    pub fn is_paused(&self) -> bool {
        matches!(self.state.as_deref(), Some("paused") | Some("error"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct School {
    pub id: String,
    pub name: String,
    pub sis_id: Option<String>,
    pub school_number: Option<String>,
    pub state_id: Option<String>,
    pub nces_id: Option<String>,
    pub low_grade: Option<Grade>,
    pub high_grade: Option<Grade>,
}

impl School {
    /// A school known only by its id and name (the other fields empty).
    pub fn named(id: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            sis_id: None,
            school_number: None,
            state_id: None,
            nces_id: None,
            low_grade: None,
            high_grade: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Term {
    pub id: String,
    pub name: String,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Course {
    pub id: String,
    pub name: String,
    pub number: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassType {
    Homeroom,
    Scheduled,
}

/// A section (Clever) or class (OneRoster): what becomes a classroom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    pub id: String,
    pub school_id: String,
    pub name: String,
    pub sis_id: Option<String>,
    pub section_number: Option<String>,
    pub period: Option<String>,
    pub grade: Option<Grade>,
    pub subject: Option<String>,
    pub course_id: Option<String>,
    pub term_ids: Vec<String>,
    pub class_type: Option<ClassType>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Student {
    pub id: String,
    /// Schools the student attends, primary first.
    pub school_ids: Vec<String>,
    pub first_name: String,
    pub middle_name: Option<String>,
    pub last_name: String,
    pub grade: Option<Grade>,
    pub dob: Option<NaiveDate>,
    pub sis_id: Option<String>,
    pub student_number: Option<String>,
    pub state_id: Option<String>,
    pub email: Option<Email>,
    pub username: Option<String>,
    /// Language as delivered (name or ISO 639 code).
    pub home_language: Option<String>,
}

/// Roles a staff member can hold at once (Clever merges employee roles by email).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    Teacher,
    Aide,
    Proctor,
    Staff,
    Administrator,
    DistrictAdmin,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Staff {
    pub id: String,
    pub school_ids: Vec<String>,
    pub first_name: String,
    pub middle_name: Option<String>,
    pub last_name: String,
    pub email: Option<Email>,
    pub sis_id: Option<String>,
    /// Clever `teacher_number` / `staff_id`; OneRoster `identifier`.
    pub staff_number: Option<String>,
    pub state_id: Option<String>,
    pub title: Option<String>,
    pub roles: Vec<StaffRole>,
    pub sms: Option<Phone>,
    pub phone: Option<Phone>,
    pub language: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ContactType {
    #[serde(rename = "Parent/Guardian")]
    ParentGuardian,
    Emergency,
    Primary,
    Secondary,
    Family,
    Other,
}

impl ContactType {
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw.trim().to_ascii_lowercase().as_str() {
            "parent/guardian" | "parent" | "guardian" => Self::ParentGuardian,
            "emergency" => Self::Emergency,
            "primary" => Self::Primary,
            "secondary" => Self::Secondary,
            "family" => Self::Family,
            "other" => Self::Other,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ParentGuardian => "Parent/Guardian",
            Self::Emergency => "Emergency",
            Self::Primary => "Primary",
            Self::Secondary => "Secondary",
            Self::Family => "Family",
            Self::Other => "Other",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Relationship {
    Parent,
    Grandparent,
    #[serde(rename = "Self")]
    SelfRel,
    #[serde(rename = "Aunt/Uncle")]
    AuntUncle,
    Sibling,
    /// OneRoster `guardian` role.
    Guardian,
    /// OneRoster `relative` role.
    Relative,
    Other,
}

impl Relationship {
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw.trim().to_ascii_lowercase().as_str() {
            "parent" | "mother" | "father" => Self::Parent,
            "grandparent" => Self::Grandparent,
            "self" => Self::SelfRel,
            "aunt/uncle" => Self::AuntUncle,
            "sibling" => Self::Sibling,
            "guardian" => Self::Guardian,
            "relative" => Self::Relative,
            "other" => Self::Other,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Parent => "Parent",
            Self::Grandparent => "Grandparent",
            Self::SelfRel => "Self",
            Self::AuntUncle => "Aunt/Uncle",
            Self::Sibling => "Sibling",
            Self::Guardian => "Guardian",
            Self::Relative => "Relative",
            Self::Other => "Other",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PhoneType {
    Cell,
    Home,
    Work,
    Other,
}

impl PhoneType {
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw.trim().to_ascii_lowercase().as_str() {
            "cell" | "mobile" => Self::Cell,
            "home" => Self::Home,
            "work" => Self::Work,
            "other" => Self::Other,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cell => "Cell",
            Self::Home => "Home",
            Self::Work => "Work",
            Self::Other => "Other",
        }
    }
}

/// A contact's link to one student.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactLink {
    pub student_id: String,
    pub relationship: Option<Relationship>,
    pub contact_type: Option<ContactType>,
}

/// A parent, guardian or other contact of one or more students.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub sis_id: Option<String>,
    pub email: Option<Email>,
    /// SMS-capable (mobile) number: login and messaging.
    pub sms: Option<Phone>,
    /// Home or other phone: kept on the record, not used for login.
    pub phone: Option<Phone>,
    pub phone_type: Option<PhoneType>,
    pub language: Option<String>,
    pub links: Vec<ContactLink>,
}

impl Contact {
    /// Kind part of the ids a reader derives for contacts the source gives no id (Clever CSV:
    /// `contact:3f2a…`).
    pub const DERIVED_ID_KIND: &'static str = "contact";

    /// True when the reader derived this contact's id (an admin cannot look it up in the
    /// source), false when the source gave it.
    pub fn has_derived_id(&self) -> bool {
        self.id
            .strip_prefix(Self::DERIVED_ID_KIND)
            .is_some_and(|rest| rest.starts_with(':'))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnrollmentRole {
    Student,
    Teacher,
    Aide,
    Administrator,
    Proctor,
}

/// A person's membership of a section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrollment {
    pub section_id: String,
    pub school_id: String,
    pub user_id: String,
    pub role: EnrollmentRole,
    pub primary: bool,
    pub begin_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
}

/// An explicit deletion from a delta feed (OneRoster `status=tobedeleted`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deletion {
    pub entity: EntityKind,
    pub id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Schools,
    Classrooms,
    Students,
    Staff,
    Guardians,
    Enrollments,
    /// Links between a guardian and a student (an extension of the report contract).
    GuardianLinks,
}

impl EntityKind {
    pub const ALL: [EntityKind; 7] = [
        EntityKind::Schools,
        EntityKind::Classrooms,
        EntityKind::Students,
        EntityKind::Staff,
        EntityKind::Guardians,
        EntityKind::Enrollments,
        EntityKind::GuardianLinks,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schools => "schools",
            Self::Classrooms => "classrooms",
            Self::Students => "students",
            Self::Staff => "staff",
            Self::Guardians => "guardians",
            Self::Enrollments => "enrollments",
            Self::GuardianLinks => "guardian_links",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// A whole district's roster, as read from one source, with the reader's warnings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Roster {
    pub source: Option<SourceKind>,
    pub district: Option<SourceDistrict>,
    pub coverage: Coverage,
    pub schools: Vec<School>,
    pub terms: Vec<Term>,
    pub courses: Vec<Course>,
    pub sections: Vec<Section>,
    pub students: Vec<Student>,
    pub staff: Vec<Staff>,
    pub contacts: Vec<Contact>,
    pub enrollments: Vec<Enrollment>,
    pub deletions: Vec<Deletion>,
    /// Warnings (never errors: a reader that finds an error returns it instead of a roster).
    pub warnings: Vec<Issue>,
}

impl Roster {
    /// The school of district-level staff (listed under the district and no school): the feed's
    /// district as a school of the roster, "<name> (district office)", added on first use, as
    /// Clever adds its "Default District Office". `None` when the feed names no district.
    pub fn district_office(&mut self) -> Option<String> {
        let d = self.district.as_ref()?;
        let id = d.id.clone();
        if !self.schools.iter().any(|s| s.id == id) {
            let name = format!("{} (district office)", d.name.as_deref().unwrap_or(&id));
            self.schools.push(School::named(id.clone(), name));
        }
        Some(id)
    }

    /// Where a staff member with `role` and `school_ids` goes, given whether the feed lists it
    /// under its district and no school (`district_only`): such a member is district-level
    /// staff, in the [`Roster::district_office`], and an administrator there is a district
    /// admin. Anyone else keeps its role and schools.
    pub fn place_staff(
        &mut self,
        role: StaffRole,
        school_ids: Vec<String>,
        district_only: bool,
    ) -> (StaffRole, Vec<String>) {
        if !district_only {
            return (role, school_ids);
        }
        let role = match role {
            StaffRole::Administrator => StaffRole::DistrictAdmin,
            r => r,
        };
        (role, self.district_office().into_iter().collect())
    }

    /// True when the feed carries no people at all: never archive on such a feed.
    pub fn is_empty_feed(&self) -> bool {
        self.students.is_empty() && self.staff.is_empty() && self.sections.is_empty()
    }

    /// Sorts every collection by id so two rosters can be compared regardless of read order.
    pub fn normalise(&mut self) {
        self.schools.sort_by(|a, b| a.id.cmp(&b.id));
        self.terms.sort_by(|a, b| a.id.cmp(&b.id));
        self.courses.sort_by(|a, b| a.id.cmp(&b.id));
        self.sections.sort_by(|a, b| a.id.cmp(&b.id));
        self.students.sort_by(|a, b| a.id.cmp(&b.id));
        self.staff.sort_by(|a, b| a.id.cmp(&b.id));
        self.contacts.sort_by(|a, b| a.id.cmp(&b.id));
        for c in &mut self.contacts {
            c.links.sort_by(|a, b| a.student_id.cmp(&b.student_id));
        }
        self.enrollments.sort_by(|a, b| {
            (&a.section_id, &a.user_id, a.role).cmp(&(&b.section_id, &b.user_id, b.role))
        });
    }

    /// Splits the roster into one shard per school. A person appears in the shard of every
    /// school they belong to; a contact in the shard of every school of a linked student.
    ///
    /// A section, person or enrollment naming a school that is not in the roster cannot be
    /// placed there: it is never dropped silently, each one is a `dangling_reference` warning
    /// in the second list (the readers drop such records with a warning of their own first, so
    /// these point at a reader that missed one).
    pub fn shards(&self) -> (Vec<SchoolShard>, Vec<Issue>) {
        let mut unplaced = Vec::new();
        let mut no_school = Vec::new();
        let mut not_placed = |what: &str, id: &str, school: &str, effect: &str| {
            unplaced.push(Issue::warning(
                IssueCode::DanglingReference,
                Location::file(format!("roster {what} {id}")),
                format!("its school {school} is not among the roster's schools; {effect}"),
            ));
        };
        let mut by_school: BTreeMap<&str, SchoolShard> = self
            .schools
            .iter()
            .map(|s| {
                (
                    s.id.as_str(),
                    SchoolShard {
                        school: s.clone(),
                        ..SchoolShard::default()
                    },
                )
            })
            .collect();
        for s in &self.sections {
            match by_school.get_mut(s.school_id.as_str()) {
                Some(sh) => sh.sections.push(s.clone()),
                None => not_placed("section", &s.id, &s.school_id, "the section is in no shard"),
            }
        }
        let mut student_schools: BTreeMap<&str, &[String]> = BTreeMap::new();
        for st in &self.students {
            student_schools.insert(&st.id, &st.school_ids);
            for sid in &st.school_ids {
                match by_school.get_mut(sid.as_str()) {
                    Some(sh) => sh.students.push(st.clone()),
                    None => not_placed("student", &st.id, sid, "the student is not in its shard"),
                }
            }
        }
        for st in &self.staff {
            if st.school_ids.is_empty() {
                // Staff with neither a school nor the district (readers put district-level staff
                // in the district office): in no shard, so say so rather than drop them.
                no_school.push(Issue::warning(
                    IssueCode::MissingValue,
                    Location::file(format!("roster staff {}", st.id)),
                    "the staff member belongs to no school of the feed nor to its district; \
                     the staff member is not synced",
                ));
            }
            for sid in &st.school_ids {
                match by_school.get_mut(sid.as_str()) {
                    Some(sh) => sh.staff.push(st.clone()),
                    None => {
                        not_placed("staff", &st.id, sid, "the staff member is not in its shard")
                    }
                }
            }
        }
        for c in &self.contacts {
            let mut schools: Vec<&str> = c
                .links
                .iter()
                .flat_map(|l| {
                    student_schools
                        .get(l.student_id.as_str())
                        .copied()
                        .unwrap_or_default()
                })
                .map(String::as_str)
                .collect();
            schools.sort_unstable();
            schools.dedup();
            for sid in schools {
                if let Some(sh) = by_school.get_mut(sid) {
                    sh.contacts.push(c.clone());
                }
            }
        }
        for e in &self.enrollments {
            match by_school.get_mut(e.school_id.as_str()) {
                Some(sh) => sh.enrollments.push(e.clone()),
                None => not_placed(
                    "enrollment",
                    &format!("{}/{}", e.section_id, e.user_id),
                    &e.school_id,
                    "the enrollment is in no shard",
                ),
            }
        }
        unplaced.extend(no_school);
        (by_school.into_values().collect(), unplaced)
    }
}

/// One school's part of a staged roster: what one worker plans against the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchoolShard {
    pub school: School,
    pub sections: Vec<Section>,
    pub students: Vec<Student>,
    pub staff: Vec<Staff>,
    pub contacts: Vec<Contact>,
    pub enrollments: Vec<Enrollment>,
}

impl Default for SchoolShard {
    fn default() -> Self {
        Self {
            school: School::named("", ""),
            sections: Vec::new(),
            students: Vec::new(),
            staff: Vec::new(),
            contacts: Vec::new(),
            enrollments: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn school(id: &str) -> School {
        School {
            id: id.into(),
            ..SchoolShard::default().school
        }
    }

    fn section(id: &str, school_id: &str) -> Section {
        Section {
            id: id.into(),
            school_id: school_id.into(),
            name: id.into(),
            sis_id: None,
            section_number: None,
            period: None,
            grade: None,
            subject: None,
            course_id: None,
            term_ids: Vec::new(),
            class_type: None,
        }
    }

    fn student(id: &str, schools: &[&str]) -> Student {
        Student {
            id: id.into(),
            school_ids: schools.iter().map(|s| s.to_string()).collect(),
            first_name: String::new(),
            middle_name: None,
            last_name: String::new(),
            grade: None,
            dob: None,
            sis_id: None,
            student_number: None,
            state_id: None,
            email: None,
            username: None,
            home_language: None,
        }
    }

    #[test]
    fn shards_never_drop_a_record_silently() {
        let r = Roster {
            schools: vec![school("s1")],
            sections: vec![section("c1", "s1"), section("c2", "s9")],
            students: vec![student("u1", &["s1", "s9"])],
            staff: vec![Staff {
                id: "a1".into(),
                school_ids: Vec::new(),
                first_name: String::new(),
                middle_name: None,
                last_name: String::new(),
                email: None,
                sis_id: None,
                staff_number: None,
                state_id: None,
                title: None,
                roles: vec![StaffRole::DistrictAdmin],
                sms: None,
                phone: None,
                language: None,
            }],
            enrollments: vec![Enrollment {
                section_id: "c2".into(),
                school_id: "s9".into(),
                user_id: "u1".into(),
                role: EnrollmentRole::Student,
                primary: false,
                begin_date: None,
                end_date: None,
            }],
            ..Roster::default()
        };
        let (shards, unplaced) = r.shards();
        assert_eq!(shards.len(), 1);
        assert_eq!(shards[0].sections, [section("c1", "s1")]);
        assert_eq!(shards[0].students.len(), 1);
        assert!(shards[0].enrollments.is_empty());
        let got: Vec<String> = unplaced.iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            [
                "roster section c2: its school s9 is not among the roster's schools; the section is in no shard (dangling_reference)",
                "roster student u1: its school s9 is not among the roster's schools; the student is not in its shard (dangling_reference)",
                "roster enrollment c2/u1: its school s9 is not among the roster's schools; the enrollment is in no shard (dangling_reference)",
                "roster staff a1: the staff member belongs to no school of the feed nor to its district; the staff member is not synced (missing_value)",
            ]
        );
        assert!(
            unplaced
                .iter()
                .all(|i| i.severity == crate::issue::Severity::Warning)
        );
    }
}
