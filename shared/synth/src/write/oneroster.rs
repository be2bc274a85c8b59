//! OneRoster 1.1 CSV in bulk mode: headers exactly in spec order, `status` and
//! `dateLastModified` blank, multi-values as quoted comma lists, dates `YYYY-MM-DD`.

use super::{CsvFile, Sink, WriteError, join, opt};
use crate::dirt::{Dirt, DirtKind, Injector};
use crate::project::{oneroster_contact_role, oneroster_staff_role};
use domain::{EnrollmentRole, Roster, Term};
use std::collections::HashMap;

pub(crate) const MANIFEST: &[&str] = &["propertyName", "value"];
pub(crate) const ORGS: &[&str] = &[
    "sourcedId",
    "status",
    "dateLastModified",
    "name",
    "type",
    "identifier",
    "parentSourcedId",
];
pub(crate) const USERS: &[&str] = &[
    "sourcedId",
    "status",
    "dateLastModified",
    "enabledUser",
    "orgSourcedIds",
    "role",
    "username",
    "userIds",
    "givenName",
    "familyName",
    "middleName",
    "identifier",
    "email",
    "sms",
    "phone",
    "agentSourcedIds",
    "grades",
    "password",
];
pub(crate) const CLASSES: &[&str] = &[
    "sourcedId",
    "status",
    "dateLastModified",
    "title",
    "grades",
    "courseSourcedId",
    "classCode",
    "classType",
    "location",
    "schoolSourcedId",
    "termSourcedIds",
    "subjects",
    "subjectCodes",
    "periods",
];
pub(crate) const ENROLLMENTS: &[&str] = &[
    "sourcedId",
    "status",
    "dateLastModified",
    "classSourcedId",
    "schoolSourcedId",
    "userSourcedId",
    "role",
    "primary",
    "beginDate",
    "endDate",
];
pub(crate) const ACADEMIC_SESSIONS: &[&str] = &[
    "sourcedId",
    "status",
    "dateLastModified",
    "title",
    "type",
    "startDate",
    "endDate",
    "parentSourcedId",
    "schoolYear",
];
pub(crate) const COURSES: &[&str] = &[
    "sourcedId",
    "status",
    "dateLastModified",
    "schoolYearSourcedId",
    "title",
    "courseCode",
    "grades",
    "orgSourcedId",
    "subjects",
    "subjectCodes",
];
pub(crate) const DEMOGRAPHICS: &[&str] = &[
    "sourcedId",
    "status",
    "dateLastModified",
    "birthDate",
    "sex",
    "americanIndianOrAlaskaNative",
    "asian",
    "blackOrAfricanAmerican",
    "nativeHawaiianOrOtherPacificIslander",
    "white",
    "demographicRaceTwoOrMoreRaces",
    "hispanicOrLatinoEthnicity",
    "countryOfBirthCode",
    "stateOfBirthAbbreviation",
    "cityOfBirth",
    "publicSchoolResidenceStatus",
];

/// The 13 data files of the binding, in manifest order, and whether we write them.
const FILES: [(&str, bool); 13] = [
    ("academicSessions", true),
    ("categories", false),
    ("classes", true),
    ("classResources", false),
    ("courses", true),
    ("courseResources", false),
    ("demographics", true),
    ("enrollments", true),
    ("lineItems", false),
    ("orgs", true),
    ("resources", false),
    ("results", false),
    ("users", true),
];

fn ymd(d: Option<chrono::NaiveDate>) -> String {
    d.map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// A term spanning more than 200 days is the school year.
fn is_year(t: &Term) -> bool {
    match (t.start_date, t.end_date) {
        (Some(s), Some(e)) => (e - s).num_days() > 200,
        _ => false,
    }
}

pub(crate) fn write(r: &Roster, sink: &mut Sink, inj: &mut Injector<'_>) -> Result<(), WriteError> {
    let district = r.district.as_ref().map(|d| d.id.as_str());

    let mut f = CsvFile::create(sink, "manifest.csv", MANIFEST)?;
    f.row(&["manifest.version", "1.0"])?;
    f.row(&["oneroster.version", "1.1"])?;
    for (name, present) in FILES {
        let key = format!("file.{name}");
        f.row(&[&key, if present { "bulk" } else { "absent" }])?;
    }
    f.row(&["source.systemName", "rostersync synth"])?;
    f.finish()?;

    let mut f = CsvFile::create(sink, "orgs.csv", ORGS)?;
    if let Some(d) = &r.district {
        f.row(&[&d.id, "", "", opt(&d.name), "district", "", ""])?;
    }
    for s in &r.schools {
        f.row(&[
            &s.id,
            "",
            "",
            &s.name,
            "school",
            opt(&s.school_number),
            district.unwrap_or(""),
        ])?;
    }
    f.finish()?;

    let year = r.terms.iter().find(|t| is_year(t));
    let mut f = CsvFile::create(sink, "academicSessions.csv", ACADEMIC_SESSIONS)?;
    for t in &r.terms {
        let (kind, parent) = if is_year(t) {
            ("schoolYear", "")
        } else {
            ("semester", year.map_or("", |y| y.id.as_str()))
        };
        let school_year = t
            .end_date
            .or(t.start_date)
            .map(|d| chrono::Datelike::year(&d).to_string())
            .unwrap_or_default();
        f.row(&[
            &t.id,
            "",
            "",
            &t.name,
            kind,
            &ymd(t.start_date),
            &ymd(t.end_date),
            parent,
            &school_year,
        ])?;
    }
    f.finish()?;

    let mut f = CsvFile::create(sink, "courses.csv", COURSES)?;
    for c in &r.courses {
        f.row(&[
            &c.id,
            "",
            "",
            year.map_or("", |y| y.id.as_str()),
            &c.name,
            opt(&c.number),
            "",
            district.unwrap_or(""),
            "",
            "",
        ])?;
    }
    f.finish()?;

    let mut f = CsvFile::create(sink, "classes.csv", CLASSES)?;
    for s in &r.sections {
        let class_type = match s.class_type {
            Some(domain::ClassType::Homeroom) => "homeroom",
            Some(domain::ClassType::Scheduled) => "scheduled",
            None => "",
        };
        f.row(&[
            &s.id,
            "",
            "",
            &s.name,
            s.grade.map_or("", |g| g.code()),
            opt(&s.course_id),
            opt(&s.section_number),
            class_type,
            "",
            &s.school_id,
            &join(s.term_ids.iter().map(String::as_str)),
            opt(&s.subject),
            "",
            opt(&s.period),
        ])?;
    }
    f.finish()?;

    write_users(r, sink, inj)?;

    let mut f = CsvFile::create(sink, "enrollments.csv", ENROLLMENTS)?;
    for e in &r.enrollments {
        let role = match e.role {
            EnrollmentRole::Student => "student",
            EnrollmentRole::Teacher => "teacher",
            EnrollmentRole::Aide => "aide",
            EnrollmentRole::Administrator => "administrator",
            EnrollmentRole::Proctor => "proctor",
        };
        let id = format!("{}-{}", e.section_id, e.user_id);
        f.row(&[
            &id,
            "",
            "",
            &e.section_id,
            &e.school_id,
            &e.user_id,
            role,
            if e.primary { "true" } else { "false" },
            &ymd(e.begin_date),
            &ymd(e.end_date),
        ])?;
    }
    f.finish()?;

    let mut f = CsvFile::create(sink, "demographics.csv", DEMOGRAPHICS)?;
    for s in &r.students {
        let mut birth = ymd(s.dob);
        if let Some(bad) = inj.take(
            DirtKind::BadDate,
            &s.id,
            "2012-13-45",
            f.name,
            Some(f.line),
            "birthDate",
        ) {
            birth = bad.to_string();
        }
        let mut row = [""; 16];
        row[0] = &s.id;
        row[3] = &birth;
        f.row(&row)?;
    }
    f.finish()
}

fn user_ids(sis: &Option<String>, state: &Option<String>) -> String {
    let mut s = String::new();
    if let Some(v) = sis {
        s.push_str("{SIS:");
        s.push_str(v);
        s.push('}');
    }
    if let Some(v) = state {
        if !s.is_empty() {
            s.push(',');
        }
        s.push_str("{stateID:");
        s.push_str(v);
        s.push('}');
    }
    s
}

fn write_users(r: &Roster, sink: &mut Sink, inj: &mut Injector<'_>) -> Result<(), WriteError> {
    // Contacts of each student, and the schools of each student (for a contact's orgs).
    let mut agents: HashMap<&str, Vec<&str>> = HashMap::with_capacity(r.students.len());
    for c in &r.contacts {
        for l in &c.links {
            agents.entry(&l.student_id).or_default().push(&c.id);
        }
    }
    let schools: HashMap<&str, &[String]> = r
        .students
        .iter()
        .map(|s| (s.id.as_str(), s.school_ids.as_slice()))
        .collect();

    let mut f = CsvFile::create(sink, "users.csv", USERS)?;
    for s in &r.students {
        let email = match inj.take(
            DirtKind::BadEmail,
            &s.id,
            Dirt::BAD_EMAIL,
            f.name,
            Some(f.line),
            "email",
        ) {
            Some(bad) => bad,
            None => s.email.as_ref().map_or("", |e| e.as_str()),
        };
        let agents = agents
            .get(s.id.as_str())
            .map(|a| join(a.iter().copied()))
            .unwrap_or_default();
        f.row(&[
            &s.id,
            "",
            "",
            "true",
            &join(s.school_ids.iter().map(String::as_str)),
            "student",
            opt(&s.username),
            &user_ids(&s.sis_id, &s.state_id),
            &s.first_name,
            &s.last_name,
            opt(&s.middle_name),
            opt(&s.student_number),
            email,
            "",
            "",
            &agents,
            s.grade.map_or("", |g| g.code()),
            "",
        ])?;
    }
    for s in &r.staff {
        let email = s.email.as_ref().map_or("", |e| e.as_str());
        f.row(&[
            &s.id,
            "",
            "",
            "true",
            &join(s.school_ids.iter().map(String::as_str)),
            oneroster_staff_role(s).0,
            if email.is_empty() { &s.id } else { email },
            &user_ids(&s.sis_id, &s.state_id),
            &s.first_name,
            &s.last_name,
            opt(&s.middle_name),
            opt(&s.staff_number),
            email,
            s.sms.as_ref().map_or("", |p| p.as_str()),
            s.phone.as_ref().map_or("", |p| p.as_str()),
            "",
            "",
            "",
        ])?;
    }
    for c in &r.contacts {
        let mut orgs: Vec<&str> = c
            .links
            .iter()
            .flat_map(|l| schools.get(l.student_id.as_str()).copied().unwrap_or(&[]))
            .map(String::as_str)
            .collect();
        orgs.sort_unstable();
        orgs.dedup();
        let email = c.email.as_ref().map_or("", |e| e.as_str());
        let sms = match inj.take(
            DirtKind::BadPhone,
            &c.id,
            Dirt::BAD_PHONE,
            f.name,
            Some(f.line),
            "sms",
        ) {
            Some(bad) => bad,
            None => c.sms.as_ref().map_or("", |p| p.as_str()),
        };
        f.row(&[
            &c.id,
            "",
            "",
            "true",
            &join(orgs),
            oneroster_contact_role(c).0,
            if email.is_empty() { &c.id } else { email },
            &user_ids(&c.sis_id, &None),
            &c.first_name,
            &c.last_name,
            "",
            "",
            email,
            sms,
            c.phone.as_ref().map_or("", |p| p.as_str()),
            &join(c.links.iter().map(|l| l.student_id.as_str())),
            "",
            "",
        ])?;
    }
    f.finish()
}
