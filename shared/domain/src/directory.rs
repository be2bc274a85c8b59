//! The product's directory: schools, classrooms, people (students, staff, guardians),
//! memberships, guardian links and student-linked records, with provenance and archive state.
//!
//! Every record is stored under a [`RecordKey`] and carries a `version` for conditional writes.
//! Records expose their secondary index keys ([`Record::index_keys`]); both storage backends
//! index exactly those, so lookups mean the same thing everywhere.

use crate::roster::{ContactType, EntityKind, Relationship, SourceKind, StaffRole};
use crate::values::{Email, Grade, Phone};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Why and when a record was archived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Archived {
    pub reason: ArchiveReason,
    pub at: DateTime<Utc>,
    /// The run that archived it (sync archives), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum ArchiveReason {
    /// Absent from every school's feed.
    NotInFeed,
    /// Archived by an admin (including "archive students not part of the sync").
    Manual,
    /// Folded into another record by a merge; the id is the survivor.
    MergedInto(String),
}

/// Set on records the active sync owns. A managed record cannot be archived by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Managed {
    pub source: SourceKind,
    /// The source's id of this record (Clever id, OneRoster sourcedId, Clever CSV id).
    pub source_id: String,
    pub last_seen_run: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct School {
    pub id: String,
    pub name: String,
    /// Source school ids matched to this school by an admin (step 3). Several source schools may
    /// feed one directory school.
    #[serde(default)]
    pub external_ids: BTreeSet<String>,
    #[serde(default)]
    pub school_number: Option<String>,
    #[serde(default)]
    pub nces_id: Option<String>,
    #[serde(default)]
    pub managed: Option<Managed>,
    #[serde(default)]
    pub archived: Option<Archived>,
    #[serde(default)]
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classroom {
    pub id: String,
    pub school_id: String,
    pub name: String,
    #[serde(default)]
    pub grade: Option<Grade>,
    /// Section ids linked to this classroom: by an admin (step 4) or by the sync that created it.
    #[serde(default)]
    pub section_ids: BTreeSet<String>,
    #[serde(default)]
    pub managed: Option<Managed>,
    #[serde(default)]
    pub archived: Option<Archived>,
    #[serde(default)]
    pub version: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonKind {
    Student,
    Staff,
    Guardian,
}

impl PersonKind {
    pub fn entity(self) -> EntityKind {
        match self {
            Self::Student => EntityKind::Students,
            Self::Staff => EntityKind::Staff,
            Self::Guardian => EntityKind::Guardians,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Student => "student",
            Self::Staff => "staff",
            Self::Guardian => "guardian",
        }
    }
}

/// A district-level person. Students belong to schools through `school_ids`; a transfer moves
/// the membership. A staff member who is also a guardian is two records linked by
/// `same_person_as` (one login), made only when name, email and phone agree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub id: String,
    pub kind: PersonKind,
    pub first_name: String,
    #[serde(default)]
    pub middle_name: Option<String>,
    pub last_name: String,
    #[serde(default)]
    pub email: Option<Email>,
    #[serde(default)]
    pub sms: Option<Phone>,
    #[serde(default)]
    pub phone: Option<Phone>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub grade: Option<Grade>,
    #[serde(default)]
    pub dob: Option<NaiveDate>,
    #[serde(default)]
    pub sis_id: Option<String>,
    #[serde(default)]
    pub student_number: Option<String>,
    #[serde(default)]
    pub state_id: Option<String>,
    #[serde(default)]
    pub staff_roles: Vec<StaffRole>,
    #[serde(default)]
    pub title: Option<String>,
    /// Directory school ids.
    #[serde(default)]
    pub school_ids: BTreeSet<String>,
    /// Every source id this person has been known by (united by merges; re-keys add to it).
    #[serde(default)]
    pub external_ids: BTreeSet<String>,
    /// Has logged in: contact details then belong to the user unless "update active users" is on.
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub same_person_as: Option<String>,
    #[serde(default)]
    pub managed: Option<Managed>,
    #[serde(default)]
    pub archived: Option<Archived>,
    #[serde(default)]
    pub version: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    Student,
    Teacher,
}

/// A person's membership of a classroom. Keyed by (classroom, person).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrollment {
    pub classroom_id: String,
    pub person_id: String,
    pub role: MemberRole,
    #[serde(default)]
    pub primary: bool,
    /// Created by the sync (removed by it when the feed drops it); manual ones are left alone.
    #[serde(default)]
    pub managed: bool,
    #[serde(default)]
    pub version: u64,
}

/// A guardian's link to a student. Keyed by (student, guardian).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardianLink {
    pub student_id: String,
    pub guardian_id: String,
    #[serde(default)]
    pub relationship: Option<Relationship>,
    #[serde(default)]
    pub contact_type: Option<ContactType>,
    #[serde(default)]
    pub managed: bool,
    #[serde(default)]
    pub version: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkedKind {
    Announcement,
    Backpack,
    InteractionLog,
    StudentAttribute,
}

/// A record that hangs off one student (announcement, backpack, interaction log, attribute).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkedRecord {
    pub id: String,
    pub kind: LinkedKind,
    pub student_id: String,
    /// Product data, opaque to the sync.
    #[serde(default)]
    pub data: serde_json::Value,
    #[serde(default)]
    pub version: u64,
}

/// A merge of a duplicate person into a survivor: who, when, and the exact prior state of every
/// record it touched, so that unmerge restores it. Keyed by its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeRecord {
    pub id: String,
    pub kind: PersonKind,
    pub survivor_id: String,
    pub duplicate_id: String,
    pub at: DateTime<Utc>,
    /// Who asked for it (an admin name or token id; never a student's data).
    pub by: String,
    /// Every record the merge changed or deleted, as it was before.
    pub before: Vec<Record>,
    /// Keys of records the merge created.
    #[serde(default)]
    pub created: Vec<RecordKey>,
    #[serde(default)]
    pub undone_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub version: u64,
}

/// An admin's decision that two people are not duplicates. Keyed by the ordered pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotDuplicate {
    pub kind: PersonKind,
    /// Lower id first.
    pub a: String,
    pub b: String,
    pub at: DateTime<Utc>,
    pub by: String,
    #[serde(default)]
    pub version: u64,
}

/// Any directory record.
// Every variant larger than an enrollment or a guardian link (64 bytes) is boxed: a district's
// records are mostly those two, and the planning snapshot holds every record of a district, so
// the enum's size is paid per record (72 bytes; unboxed, a school made it 248).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    School(Box<School>),
    Classroom(Box<Classroom>),
    Person(Box<Person>),
    Enrollment(Enrollment),
    GuardianLink(GuardianLink),
    Linked(Box<LinkedRecord>),
    Merge(Box<MergeRecord>),
    NotDuplicate(Box<NotDuplicate>),
}

/// `Record::from(x)` boxes `x` into its variant.
macro_rules! boxed_record_from {
    ($($variant:ident($ty:ty)),+ $(,)?) => {$(
        impl From<$ty> for Record {
            fn from(v: $ty) -> Self {
                Self::$variant(Box::new(v))
            }
        }
    )+};
}

boxed_record_from!(
    School(School),
    Classroom(Classroom),
    Person(Person),
    Linked(LinkedRecord),
    Merge(MergeRecord),
    NotDuplicate(NotDuplicate),
);

/// The storage key of a record, unique within a district.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RecordKey(pub String);

impl RecordKey {
    pub fn school(id: &str) -> Self {
        Self(format!("school#{id}"))
    }
    pub fn classroom(id: &str) -> Self {
        Self(format!("classroom#{id}"))
    }
    pub fn person(id: &str) -> Self {
        Self(format!("person#{id}"))
    }
    pub fn enrollment(classroom: &str, person: &str) -> Self {
        Self(format!("enrollment#{classroom}#{person}"))
    }
    pub fn guardian_link(student: &str, guardian: &str) -> Self {
        Self(format!("glink#{student}#{guardian}"))
    }
    pub fn linked(id: &str) -> Self {
        Self(format!("linked#{id}"))
    }
    pub fn merge(id: &str) -> Self {
        Self(format!("merge#{id}"))
    }
    pub fn not_duplicate(a: &str, b: &str) -> Self {
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        Self(format!("notdup#{a}#{b}"))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Secondary index keys. The string forms are what backends store and look up.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IndexKey(pub String);

impl IndexKey {
    /// Records of one kind: `kind#person`, `kind#classroom`...
    pub fn kind(kind: &str) -> Self {
        Self(format!("kind#{kind}"))
    }
    /// People by any source id they have been known by.
    pub fn external(source_id: &str) -> Self {
        Self(format!("ext#{source_id}"))
    }
    /// People by SIS id, student number, state id, email (lower-cased).
    pub fn sis(v: &str) -> Self {
        Self(format!("sis#{v}"))
    }
    pub fn student_number(v: &str) -> Self {
        Self(format!("num#{v}"))
    }
    pub fn state_id(v: &str) -> Self {
        Self(format!("state#{v}"))
    }
    pub fn email(v: &Email) -> Self {
        Self(format!("email#{}", v.key()))
    }
    pub fn sms(v: &Phone) -> Self {
        Self(format!("sms#{}", v.as_str()))
    }
    /// Members of a directory school (people, classrooms).
    pub fn in_school(school: &str) -> Self {
        Self(format!("school#{school}"))
    }
    /// Memberships of a classroom.
    pub fn of_classroom(classroom: &str) -> Self {
        Self(format!("classroom#{classroom}"))
    }
    /// Memberships, guardian links and linked records of a person.
    pub fn of_person(person: &str) -> Self {
        Self(format!("person#{person}"))
    }
    /// Sync-managed records of an entity kind (`managed#students`...).
    pub fn managed(entity: EntityKind) -> Self {
        Self(format!("managed#{}", entity.as_str()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A prefix of the key of every record that carries this index key, when there is one:
    /// `kind#enrollment` → `enrollment#`, `classroom#X` → `enrollment#X#`. A store may then
    /// answer the index from its key order instead of storing an entry per record, filtering
    /// what the prefix range holds by [`Record::index_keys`] (an id may itself contain `#`).
    /// `None` for the keys records of several kinds or key shapes share.
    pub fn key_prefix(&self) -> Option<String> {
        if let Some(kind) = self.0.strip_prefix("kind#") {
            return Record::key_prefix_of_kind(kind).map(str::to_string);
        }
        self.0
            .strip_prefix("classroom#")
            .map(|classroom| format!("enrollment#{classroom}#"))
    }

    /// True when a record with key `key` that carries this index key is found by
    /// [`IndexKey::key_prefix`] alone (a store need not keep an index entry for it).
    pub fn answered_by_key(&self, key: &str) -> bool {
        // `key.starts_with(&self.key_prefix())`, without building the prefix.
        if let Some(kind) = self.0.strip_prefix("kind#") {
            return Record::key_prefix_of_kind(kind).is_some_and(|p| key.starts_with(p));
        }
        self.0.strip_prefix("classroom#").is_some_and(|classroom| {
            key.strip_prefix("enrollment#")
                .and_then(|rest| rest.strip_prefix(classroom))
                .is_some_and(|rest| rest.starts_with('#'))
        })
    }
}

impl Record {
    /// The fixed start of [`Record::key`] for records of kind `kind` ([`Record::kind_name`]).
    pub fn key_prefix_of_kind(kind: &str) -> Option<&'static str> {
        Some(match kind {
            "school" => "school#",
            "classroom" => "classroom#",
            "person" => "person#",
            "enrollment" => "enrollment#",
            "guardian_link" => "glink#",
            "linked" => "linked#",
            "merge" => "merge#",
            "not_duplicate" => "notdup#",
            _ => return None,
        })
    }

    pub fn key(&self) -> RecordKey {
        match self {
            Self::School(s) => RecordKey::school(&s.id),
            Self::Classroom(c) => RecordKey::classroom(&c.id),
            Self::Person(p) => RecordKey::person(&p.id),
            Self::Enrollment(e) => RecordKey::enrollment(&e.classroom_id, &e.person_id),
            Self::GuardianLink(g) => RecordKey::guardian_link(&g.student_id, &g.guardian_id),
            Self::Linked(l) => RecordKey::linked(&l.id),
            Self::Merge(m) => RecordKey::merge(&m.id),
            Self::NotDuplicate(n) => RecordKey::not_duplicate(&n.a, &n.b),
        }
    }

    /// Every value [`Record::kind_name`] returns (each record carries `IndexKey::kind` of it).
    pub const KIND_NAMES: [&'static str; 8] = [
        "school",
        "classroom",
        "person",
        "enrollment",
        "guardian_link",
        "linked",
        "merge",
        "not_duplicate",
    ];

    pub fn kind_name(&self) -> &'static str {
        match self {
            Self::School(_) => "school",
            Self::Classroom(_) => "classroom",
            Self::Person(_) => "person",
            Self::Enrollment(_) => "enrollment",
            Self::GuardianLink(_) => "guardian_link",
            Self::Linked(_) => "linked",
            Self::Merge(_) => "merge",
            Self::NotDuplicate(_) => "not_duplicate",
        }
    }

    pub fn version(&self) -> u64 {
        match self {
            Self::School(r) => r.version,
            Self::Classroom(r) => r.version,
            Self::Person(r) => r.version,
            Self::Enrollment(r) => r.version,
            Self::GuardianLink(r) => r.version,
            Self::Linked(r) => r.version,
            Self::Merge(r) => r.version,
            Self::NotDuplicate(r) => r.version,
        }
    }

    pub fn set_version(&mut self, v: u64) {
        match self {
            Self::School(r) => r.version = v,
            Self::Classroom(r) => r.version = v,
            Self::Person(r) => r.version = v,
            Self::Enrollment(r) => r.version = v,
            Self::GuardianLink(r) => r.version = v,
            Self::Linked(r) => r.version = v,
            Self::Merge(r) => r.version = v,
            Self::NotDuplicate(r) => r.version = v,
        }
    }

    /// The secondary keys this record is found by. Archived people keep their keys so that a
    /// reappearing person is recognised and unarchived rather than created again.
    pub fn index_keys(&self) -> Vec<IndexKey> {
        let mut keys = vec![IndexKey::kind(self.kind_name())];
        match self {
            Self::School(s) => {
                keys.extend(s.external_ids.iter().map(|e| IndexKey::external(e)));
            }
            Self::Classroom(c) => {
                keys.push(IndexKey::in_school(&c.school_id));
                keys.extend(c.section_ids.iter().map(|e| IndexKey::external(e)));
                if c.managed.is_some() {
                    keys.push(IndexKey::managed(EntityKind::Classrooms));
                }
            }
            Self::Person(p) => {
                keys.extend(p.external_ids.iter().map(|e| IndexKey::external(e)));
                keys.extend(p.sis_id.iter().map(|v| IndexKey::sis(v)));
                keys.extend(p.student_number.iter().map(|v| IndexKey::student_number(v)));
                keys.extend(p.state_id.iter().map(|v| IndexKey::state_id(v)));
                keys.extend(p.email.iter().map(IndexKey::email));
                if p.kind == PersonKind::Guardian {
                    keys.extend(p.sms.iter().map(IndexKey::sms));
                }
                keys.extend(p.school_ids.iter().map(|s| IndexKey::in_school(s)));
                keys.push(IndexKey::kind(p.kind.as_str()));
                if p.managed.is_some() {
                    keys.push(IndexKey::managed(p.kind.entity()));
                }
            }
            Self::Enrollment(e) => {
                keys.push(IndexKey::of_classroom(&e.classroom_id));
                keys.push(IndexKey::of_person(&e.person_id));
            }
            Self::GuardianLink(g) => {
                keys.push(IndexKey::of_person(&g.student_id));
                keys.push(IndexKey::of_person(&g.guardian_id));
            }
            Self::Linked(l) => {
                keys.push(IndexKey::of_person(&l.student_id));
            }
            Self::Merge(m) => {
                keys.push(IndexKey::of_person(&m.survivor_id));
                keys.push(IndexKey::of_person(&m.duplicate_id));
            }
            Self::NotDuplicate(n) => {
                keys.push(IndexKey::of_person(&n.a));
                keys.push(IndexKey::of_person(&n.b));
            }
        }
        keys.sort();
        keys.dedup();
        keys
    }

    /// The same record with `version` zeroed: what "unchanged" compares.
    pub fn content_eq(&self, other: &Record) -> bool {
        let mut a = self.clone();
        let mut b = other.clone();
        a.set_version(0);
        b.set_version(0);
        a == b
    }
}

/// A stable directory id for a record the sync creates, derived from what identifies it in the
/// source, so that a re-run after a crash creates the same record, not a second one.
pub fn derived_id(prefix: &str, district: &str, source_id: &str) -> String {
    // FNV-1a 64, twice with different offsets, hex: short, stable, no dependency.
    fn fnv(seed: u64, parts: &[&str]) -> u64 {
        let mut h = seed;
        for p in parts {
            for b in p.bytes().chain(std::iter::once(0xff)) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
        h
    }
    let parts = [prefix, district, source_id];
    format!(
        "{prefix}_{:016x}{:08x}",
        fnv(0xcbf2_9ce4_8422_2325, &parts),
        fnv(0x8422_2325_cbf2_9ce4, &parts) as u32
    )
}

#[cfg(test)]
mod key_prefix_tests {
    use super::*;

    /// One record of every kind, with ids that contain the key separator.
    fn one_of_each() -> Vec<Record> {
        let at = "2026-11-29T00:00:00Z";
        [
            r#"{"type":"school","id":"s#1","name":"S","external_ids":["x#1"]}"#.to_string(),
            r#"{"type":"classroom","id":"c#1","school_id":"s#1","name":"C","section_ids":["sec#1"]}"#.to_string(),
            r#"{"type":"person","id":"p#1","kind":"student","first_name":"A","last_name":"B","school_ids":["s#1"],"external_ids":["u#1"],"sis_id":"9#9"}"#.to_string(),
            r#"{"type":"enrollment","classroom_id":"c#1","person_id":"p#1","role":"student"}"#.to_string(),
            r#"{"type":"guardian_link","student_id":"p#1","guardian_id":"g#1"}"#.to_string(),
            r#"{"type":"linked","id":"l#1","kind":"announcement","student_id":"p#1","data":{},"version":0}"#.to_string(),
            format!(r#"{{"type":"merge","id":"m#1","kind":"student","survivor_id":"p#1","duplicate_id":"p#2","at":"{at}","by":"t","before":[],"created":[],"undone_at":null,"version":0}}"#),
            format!(r#"{{"type":"not_duplicate","kind":"student","a":"p#1","b":"p#2","at":"{at}","by":"t","version":0}}"#),
        ]
        .iter()
        .map(|j| serde_json::from_str(j).unwrap_or_else(|e| panic!("{j}: {e}")))
        .collect()
    }

    #[test]
    fn every_index_key_with_a_key_prefix_is_a_prefix_of_its_records_key() {
        let records = one_of_each();
        let kinds: Vec<&str> = records.iter().map(Record::kind_name).collect();
        assert_eq!(kinds, Record::KIND_NAMES, "one record of every kind");
        for r in &records {
            let key = r.key();
            let own = Record::key_prefix_of_kind(r.kind_name()).expect("every kind has a prefix");
            assert!(key.as_str().starts_with(own), "{key:?} vs {own}");
            for ik in r.index_keys() {
                assert!(
                    ik.key_prefix().is_none() || ik.answered_by_key(key.as_str()),
                    "{ik:?} has a key prefix that {key:?} does not start with"
                );
            }
        }
        // No kind's prefix starts another's, so a kind's key range holds only that kind.
        for a in Record::KIND_NAMES {
            for b in Record::KIND_NAMES {
                let (pa, pb) = (
                    Record::key_prefix_of_kind(a).unwrap(),
                    Record::key_prefix_of_kind(b).unwrap(),
                );
                assert!(a == b || !pa.starts_with(pb), "{pa} / {pb}");
            }
        }
        assert_eq!(IndexKey::kind("student").key_prefix(), None);
        assert_eq!(IndexKey::in_school("s").key_prefix(), None);
        assert_eq!(IndexKey::of_person("p").key_prefix(), None);
    }
}

#[cfg(test)]
mod size_tests {
    /// The planning snapshot holds a district's records (about 9 per student) in a `Vec`:
    /// a variant that grows past an enrollment makes every one of them bigger. Box it instead.
    #[test]
    fn a_record_is_no_bigger_than_an_enrollment_and_its_tag() {
        assert!(std::mem::size_of::<super::Record>() <= 72);
    }
}
