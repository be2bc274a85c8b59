//! `rostersync directory import`: loads pre-existing product data (schools, classrooms, people,
//! memberships, guardian links, student-linked records) from a JSON export, so that matching,
//! archive and merge have something real to act on. All or nothing: the whole file is checked
//! before the first write, and a re-import of the same file changes nothing.

use domain::directory::{
    Classroom, Enrollment, GuardianLink, LinkedRecord, MemberRole, Person, PersonKind, Record,
    School,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use store::{Directory, Write, WriteOutcome};

/// The export format. Every collection is optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryExport {
    #[serde(default)]
    pub schools: Vec<School>,
    #[serde(default)]
    pub classrooms: Vec<Classroom>,
    #[serde(default)]
    pub students: Vec<Person>,
    #[serde(default)]
    pub staff: Vec<Person>,
    #[serde(default)]
    pub guardians: Vec<Person>,
    #[serde(default)]
    pub enrollments: Vec<Enrollment>,
    #[serde(default)]
    pub guardian_links: Vec<GuardianLink>,
    #[serde(default)]
    pub linked_records: Vec<LinkedRecord>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{file}: not a directory export: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: {path}: {message}")]
    Invalid {
        file: String,
        path: String,
        message: String,
    },
    #[error("{0}")]
    Store(#[from] store::StoreError),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    pub written: u64,
    pub unchanged: u64,
    pub conflicts: u64,
}

/// Parses an export; errors name the file and the JSON line and column.
pub fn parse(file: &str, bytes: &[u8]) -> Result<DirectoryExport, ImportError> {
    serde_json::from_slice(bytes).map_err(|e| ImportError::Parse {
        file: file.to_string(),
        message: format!("{e} (line {}, column {})", e.line(), e.column()),
    })
}

fn check_kind(
    file: &str,
    list: &str,
    people: &[Person],
    kind: PersonKind,
) -> Result<(), ImportError> {
    for (i, p) in people.iter().enumerate() {
        if p.kind != kind {
            return Err(ImportError::Invalid {
                file: file.into(),
                path: format!("{list}[{i}].kind"),
                message: format!("expected \"{}\"", kind.as_str()),
            });
        }
    }
    Ok(())
}

/// Checks references inside the export and against the directory, then writes every record as
/// a create (`expected = None`): an identical record already there counts as unchanged, a
/// different one as a conflict (reported, not overwritten).
pub async fn import(
    directory: &dyn Directory,
    district: &str,
    file: &str,
    export: DirectoryExport,
) -> Result<ImportSummary, ImportError> {
    check_kind(file, "students", &export.students, PersonKind::Student)?;
    check_kind(file, "staff", &export.staff, PersonKind::Staff)?;
    check_kind(file, "guardians", &export.guardians, PersonKind::Guardian)?;

    let invalid = |path: String, message: String| ImportError::Invalid {
        file: file.into(),
        path,
        message,
    };
    let schools: BTreeSet<&str> = export.schools.iter().map(|s| s.id.as_str()).collect();
    let classrooms: BTreeSet<&str> = export.classrooms.iter().map(|c| c.id.as_str()).collect();
    let people = || {
        export
            .students
            .iter()
            .chain(&export.staff)
            .chain(&export.guardians)
    };
    let person_ids: BTreeSet<&str> = people().map(|p| p.id.as_str()).collect();
    let students: BTreeSet<&str> = export.students.iter().map(|p| p.id.as_str()).collect();
    let guardians: BTreeSet<&str> = export.guardians.iter().map(|p| p.id.as_str()).collect();

    // A referenced school may also exist in the directory already.
    let mut known_schools: BTreeSet<String> = schools.iter().map(|s| s.to_string()).collect();
    let referenced: BTreeSet<&str> = export
        .classrooms
        .iter()
        .map(|c| c.school_id.as_str())
        .chain(people().flat_map(|p| p.school_ids.iter().map(String::as_str)))
        .filter(|s| !schools.contains(s))
        .collect();
    for s in referenced {
        if directory
            .get(district, &domain::directory::RecordKey::school(s))
            .await?
            .is_some()
        {
            known_schools.insert(s.to_string());
        }
    }
    for (i, c) in export.classrooms.iter().enumerate() {
        if !known_schools.contains(&c.school_id) {
            return Err(invalid(
                format!("classrooms[{i}].school_id"),
                "expected the id of a school in this file or the directory".into(),
            ));
        }
    }
    for (list, ps) in [
        ("students", &export.students),
        ("staff", &export.staff),
        ("guardians", &export.guardians),
    ] {
        for (i, p) in ps.iter().enumerate() {
            if let Some(s) = p.school_ids.iter().find(|s| !known_schools.contains(*s)) {
                let _ = s;
                return Err(invalid(
                    format!("{list}[{i}].school_ids"),
                    "expected ids of schools in this file or the directory".into(),
                ));
            }
        }
    }
    for (i, e) in export.enrollments.iter().enumerate() {
        if !classrooms.contains(e.classroom_id.as_str()) {
            return Err(invalid(
                format!("enrollments[{i}].classroom_id"),
                "expected the id of a classroom in this file".into(),
            ));
        }
        if !person_ids.contains(e.person_id.as_str()) {
            return Err(invalid(
                format!("enrollments[{i}].person_id"),
                "expected the id of a person in this file".into(),
            ));
        }
        if e.role == MemberRole::Student && !students.contains(e.person_id.as_str()) {
            return Err(invalid(
                format!("enrollments[{i}].role"),
                "a student membership must name a student".into(),
            ));
        }
    }
    for (i, g) in export.guardian_links.iter().enumerate() {
        if !students.contains(g.student_id.as_str()) {
            return Err(invalid(
                format!("guardian_links[{i}].student_id"),
                "expected the id of a student in this file".into(),
            ));
        }
        if !guardians.contains(g.guardian_id.as_str()) {
            return Err(invalid(
                format!("guardian_links[{i}].guardian_id"),
                "expected the id of a guardian in this file".into(),
            ));
        }
    }
    for (i, l) in export.linked_records.iter().enumerate() {
        if !students.contains(l.student_id.as_str()) {
            return Err(invalid(
                format!("linked_records[{i}].student_id"),
                "expected the id of a student in this file".into(),
            ));
        }
    }

    let records: Vec<Record> = export
        .schools
        .into_iter()
        .map(Record::from)
        .chain(export.classrooms.into_iter().map(Record::from))
        .chain(export.students.into_iter().map(Record::from))
        .chain(export.staff.into_iter().map(Record::from))
        .chain(export.guardians.into_iter().map(Record::from))
        .chain(export.enrollments.into_iter().map(Record::Enrollment))
        .chain(export.guardian_links.into_iter().map(Record::GuardianLink))
        .chain(export.linked_records.into_iter().map(Record::from))
        .collect();
    let mut summary = ImportSummary::default();
    for chunk in records.chunks(500) {
        let writes: Vec<Write> = chunk
            .iter()
            .map(|r| Write::Put {
                record: r.clone(),
                expected: None,
            })
            .collect();
        for outcome in directory.write(district, &writes).await? {
            match outcome {
                WriteOutcome::Written => summary.written += 1,
                WriteOutcome::AlreadyApplied => summary.unchanged += 1,
                WriteOutcome::Conflict => summary.conflicts += 1,
            }
        }
    }
    Ok(summary)
}
