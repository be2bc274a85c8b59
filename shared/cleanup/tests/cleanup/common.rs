//! Builders and helpers shared by the clean-up tests: records, a seeded in-memory directory and
//! version-blind dumps.

#![allow(dead_code)]

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use domain::SourceKind;
use domain::directory::{
    ArchiveReason, Archived, Enrollment, GuardianLink, LinkedKind, LinkedRecord, Managed,
    MemberRole, Person, PersonKind, Record, School,
};
use domain::{Email, Grade, Phone};
use std::collections::BTreeSet;
use store::memory::{ManualClock, MemoryDirectory};
use store::{Directory, Write};

pub const D: &str = "d1";

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 8, 1, 12, 0, 0)
        .single()
        .expect("valid time")
}

pub fn clock() -> ManualClock {
    ManualClock::new(t0())
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

pub fn person(id: &str, kind: PersonKind, first: &str, last: &str) -> Person {
    Person {
        id: id.into(),
        kind,
        first_name: first.into(),
        middle_name: None,
        last_name: last.into(),
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

pub fn student(id: &str, first: &str, last: &str) -> Person {
    person(id, PersonKind::Student, first, last)
}

pub fn managed(mut p: Person, source_id: &str) -> Person {
    p.managed = Some(Managed {
        source: SourceKind::Clever,
        source_id: source_id.into(),
        last_seen_run: "run1".into(),
    });
    p.external_ids.insert(source_id.into());
    p
}

pub fn archived(mut p: Person, reason: ArchiveReason) -> Person {
    p.archived = Some(Archived {
        reason,
        at: t0(),
        run_id: None,
    });
    p
}

pub fn in_schools(mut p: Person, schools: &[&str]) -> Person {
    p.school_ids = schools.iter().map(|s| s.to_string()).collect();
    p
}

pub fn grade(mut p: Person, n: i8) -> Person {
    p.grade = Grade::from_ordinal(n);
    p
}

pub fn dob(mut p: Person, y: i32, m: u32, d: u32) -> Person {
    p.dob = NaiveDate::from_ymd_opt(y, m, d);
    p
}

pub fn email(mut p: Person, e: &str) -> Person {
    p.email = Email::parse(e);
    p
}

pub fn sms(mut p: Person, s: &str) -> Person {
    p.sms = Phone::parse(s);
    p
}

pub fn school(id: &str, external: &[&str]) -> Record {
    Record::from(School {
        id: id.into(),
        name: format!("School {id}"),
        external_ids: external.iter().map(|s| s.to_string()).collect(),
        school_number: None,
        nces_id: None,
        managed: None,
        archived: None,
        version: 0,
    })
}

pub fn enrollment(classroom: &str, person: &str) -> Record {
    Record::Enrollment(Enrollment {
        classroom_id: classroom.into(),
        person_id: person.into(),
        role: MemberRole::Student,
        primary: false,
        managed: false,
        version: 0,
    })
}

pub fn glink(student: &str, guardian: &str) -> Record {
    Record::GuardianLink(GuardianLink {
        student_id: student.into(),
        guardian_id: guardian.into(),
        relationship: None,
        contact_type: None,
        managed: false,
        version: 0,
    })
}

pub fn linked(id: &str, student: &str) -> Record {
    Record::from(LinkedRecord {
        id: id.into(),
        kind: LinkedKind::Backpack,
        student_id: student.into(),
        data: serde_json::json!({ "n": id }),
        version: 0,
    })
}

/// A memory directory holding `records` (district [`D`]).
pub async fn seeded(records: Vec<Record>) -> MemoryDirectory {
    let dir = MemoryDirectory::new();
    let writes: Vec<Write> = records
        .into_iter()
        .map(|record| Write::Put {
            record,
            expected: None,
        })
        .collect();
    dir.write(D, &writes).await.expect("seed");
    dir
}

/// Every record with versions zeroed, merge records left out when `without_merges`.
pub fn dump(dir: &MemoryDirectory, without_merges: bool) -> Vec<Record> {
    dir.snapshot(D)
        .into_iter()
        .filter(|r| !(without_merges && matches!(r, Record::Merge(_))))
        .map(|mut r| {
            r.set_version(0);
            r
        })
        .collect()
}

pub fn get_person(dir: &MemoryDirectory, id: &str) -> Person {
    dir.snapshot(D)
        .into_iter()
        .find_map(|r| match r {
            Record::Person(p) if p.id == id => Some(*p),
            _ => None,
        })
        .expect("person exists")
}
