//! Clever SFTP CSV: schools, students (one row per student × contact), teachers and staff (one
//! row per person × school), sections (`Teacher_id`, `Teacher_2_id`…), enrollments.

use super::{CsvFile, Sink, WriteError, opt};
use crate::dirt::{Dirt, DirtKind, Injector};
use crate::project::{
    clever_contact_phone, clever_course_key, clever_csv_staff_role, contact_full_name,
};
use domain::{Contact, ContactLink, EnrollmentRole, Roster, StaffRole};
use std::collections::HashMap;

pub(crate) const SCHOOLS: &[&str] = &[
    "School_id",
    "School_name",
    "School_number",
    "State_id",
    "Nces_id",
    "Low_grade",
    "High_grade",
    "Principal",
    "Principal_email",
    "School_address",
    "School_city",
    "School_state",
    "School_zip",
    "School_phone",
];
pub(crate) const STUDENTS: &[&str] = &[
    "School_id",
    "Student_id",
    "Student_number",
    "State_id",
    "Last_name",
    "Middle_name",
    "First_name",
    "Grade",
    "Gender",
    "Dob",
    "Race",
    "Hispanic_Latino",
    "Home_language",
    "Ell_status",
    "Frl_status",
    "Iep_status",
    "Student_street",
    "Student_city",
    "Student_state",
    "Student_zip",
    "Student_email",
    "Username",
    "Password",
    "Contact_type",
    "Contact_name",
    "Contact_relationship",
    "Contact_phone",
    "Contact_phone_type",
    "Contact_email",
    "Contact_sis_id",
];
pub(crate) const TEACHERS: &[&str] = &[
    "School_id",
    "Teacher_id",
    "Teacher_number",
    "State_teacher_id",
    "Last_name",
    "Middle_name",
    "First_name",
    "Teacher_email",
    "Title",
    "Username",
    "Password",
];
/// The fixed part of sections.csv; `Teacher_id`, `Teacher_2_id`… follow `Section_id`.
pub(crate) const SECTIONS_TAIL: &[&str] = &[
    "Name",
    "Section_number",
    "Grade",
    "Course_name",
    "Course_number",
    "Course_description",
    "Period",
    "Subject",
    "Term_name",
    "Term_start",
    "Term_end",
];
pub(crate) const ENROLLMENTS: &[&str] = &["School_id", "Section_id", "Student_id"];
pub(crate) const STAFF: &[&str] = &[
    "School_id",
    "Staff_id",
    "Staff_email",
    "First_name",
    "Last_name",
    "Department",
    "Title",
    "Username",
    "Password",
    "Role",
];

/// `M/D/YYYY`.
fn mdy(d: Option<chrono::NaiveDate>) -> String {
    d.map(|d| d.format("%-m/%-d/%Y").to_string())
        .unwrap_or_default()
}

/// Clever's phone form: digits only, without the `+1` of North American numbers.
fn digits(p: &domain::Phone) -> &str {
    let s = p.as_str();
    s.strip_prefix("+1").unwrap_or(s.trim_start_matches('+'))
}

pub(crate) fn write(r: &Roster, sink: &mut Sink, inj: &mut Injector<'_>) -> Result<(), WriteError> {
    let mut principals: HashMap<&str, &domain::Staff> = HashMap::new();
    for s in &r.staff {
        if s.title.as_deref() == Some("Principal") {
            for sch in &s.school_ids {
                principals.entry(sch).or_insert(s);
            }
        }
    }
    let mut f = CsvFile::create(sink, "schools.csv", SCHOOLS)?;
    for s in &r.schools {
        let p = principals.get(s.id.as_str());
        let principal = p
            .map(|p| format!("{} {}", p.first_name, p.last_name))
            .unwrap_or_default();
        let mut row = [""; 14];
        row[0] = &s.id;
        row[1] = &s.name;
        row[2] = opt(&s.school_number);
        row[3] = opt(&s.state_id);
        row[4] = opt(&s.nces_id);
        row[5] = s.low_grade.map_or("", |g| g.clever_name());
        row[6] = s.high_grade.map_or("", |g| g.clever_name());
        row[7] = &principal;
        row[8] = p.and_then(|p| p.email.as_ref()).map_or("", |e| e.as_str());
        f.row(&row)?;
    }
    f.finish()?;

    write_students(r, sink, inj)?;

    let mut f = CsvFile::create(sink, "teachers.csv", TEACHERS)?;
    for s in r
        .staff
        .iter()
        .filter(|s| s.roles.contains(&StaffRole::Teacher))
    {
        for sch in &s.school_ids {
            f.row(&[
                sch,
                &s.id,
                opt(&s.staff_number),
                opt(&s.state_id),
                &s.last_name,
                opt(&s.middle_name),
                &s.first_name,
                s.email.as_ref().map_or("", |e| e.as_str()),
                opt(&s.title),
                "",
                "",
            ])?;
        }
    }
    f.finish()?;

    let mut f = CsvFile::create(sink, "staff.csv", STAFF)?;
    for s in r
        .staff
        .iter()
        .filter(|s| !s.roles.contains(&StaffRole::Teacher))
    {
        for sch in &s.school_ids {
            f.row(&[
                sch,
                &s.id,
                s.email.as_ref().map_or("", |e| e.as_str()),
                &s.first_name,
                &s.last_name,
                "",
                opt(&s.title),
                "",
                "",
                clever_csv_staff_role(s).0,
            ])?;
        }
    }
    f.finish()?;

    write_sections(r, sink)?;

    let mut f = CsvFile::create(sink, "enrollments.csv", ENROLLMENTS)?;
    for e in r
        .enrollments
        .iter()
        .filter(|e| e.role == EnrollmentRole::Student)
    {
        f.row(&[&e.school_id, &e.section_id, &e.user_id])?;
    }
    f.finish()
}

fn write_sections(r: &Roster, sink: &mut Sink) -> Result<(), WriteError> {
    // Teachers of each section: the first primary first, then the others in roster order.
    let mut teachers: HashMap<&str, Vec<&str>> = HashMap::with_capacity(r.sections.len());
    for e in r
        .enrollments
        .iter()
        .filter(|e| e.role != EnrollmentRole::Student)
    {
        let list = teachers.entry(&e.section_id).or_default();
        if list.contains(&e.user_id.as_str()) {
            continue;
        }
        list.push(&e.user_id);
    }
    let primaries: HashMap<&str, &str> = r
        .enrollments
        .iter()
        .rev()
        .filter(|e| e.role != EnrollmentRole::Student && e.primary)
        .map(|e| (e.section_id.as_str(), e.user_id.as_str()))
        .collect();
    let width = teachers.values().map(Vec::len).max().unwrap_or(1).max(2);
    let mut header: Vec<String> = vec!["School_id".into(), "Section_id".into()];
    header.push("Teacher_id".into());
    for k in 2..=width {
        header.push(format!("Teacher_{k}_id"));
    }
    header.extend(SECTIONS_TAIL.iter().map(|s| s.to_string()));
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let terms: HashMap<&str, &domain::Term> = r.terms.iter().map(|t| (t.id.as_str(), t)).collect();
    let courses: HashMap<&str, &domain::Course> =
        r.courses.iter().map(|c| (c.id.as_str(), c)).collect();

    let mut f = CsvFile::create(sink, "sections.csv", &header)?;
    let mut row: Vec<String> = Vec::with_capacity(header.len());
    for s in &r.sections {
        row.clear();
        row.push(s.school_id.clone());
        row.push(s.id.clone());
        let list = teachers.get(s.id.as_str()).map_or(&[][..], Vec::as_slice);
        let primary = primaries.get(s.id.as_str()).copied();
        // Without a primary teacher, Teacher_id stays empty and all go to Teacher_N_id.
        row.push(primary.unwrap_or("").to_string());
        let mut others = list.iter().filter(|t| Some(**t) != primary);
        for _ in 2..=width {
            row.push(others.next().map_or(String::new(), |t| t.to_string()));
        }
        let term = s.term_ids.first().and_then(|t| terms.get(t.as_str()));
        let course = s.course_id.as_deref().and_then(|c| courses.get(c));
        row.push(s.name.clone());
        row.push(opt(&s.section_number).to_string());
        row.push(s.grade.map_or("", |g| g.clever_name()).to_string());
        row.push(course.map_or(String::new(), |c| c.name.clone()));
        row.push(course.map_or(String::new(), |c| clever_course_key(c).to_string()));
        row.push(String::new());
        row.push(opt(&s.period).to_string());
        row.push(opt(&s.subject).to_string());
        row.push(term.map_or(String::new(), |t| t.name.clone()));
        row.push(term.map_or(String::new(), |t| mdy(t.start_date)));
        row.push(term.map_or(String::new(), |t| mdy(t.end_date)));
        let fields: Vec<&str> = row.iter().map(String::as_str).collect();
        f.row(&fields)?;
    }
    f.finish()
}

fn write_students(r: &Roster, sink: &mut Sink, inj: &mut Injector<'_>) -> Result<(), WriteError> {
    let mut contacts: HashMap<&str, Vec<(&Contact, &ContactLink)>> =
        HashMap::with_capacity(r.students.len());
    for c in &r.contacts {
        for l in &c.links {
            contacts.entry(&l.student_id).or_default().push((c, l));
        }
    }
    let mut f = CsvFile::create(sink, "students.csv", STUDENTS)?;
    for s in &r.students {
        let dob = mdy(s.dob);
        let none = Vec::new();
        let links = contacts.get(s.id.as_str()).unwrap_or(&none);
        let rows = links.len().max(1);
        for (k, school) in s.school_ids.iter().enumerate() {
            // Contacts go on the primary school's rows; other schools get one bare row.
            let n = if k == 0 { rows } else { 1 };
            for j in 0..n {
                let contact = if k == 0 { links.get(j) } else { None };
                let email = match inj.take(
                    DirtKind::BadEmail,
                    &s.id,
                    Dirt::BAD_EMAIL,
                    f.name,
                    Some(f.line),
                    "Student_email",
                ) {
                    Some(bad) => bad,
                    None => s.email.as_ref().map_or("", |e| e.as_str()),
                };
                let dob = match inj.take(
                    DirtKind::BadDate,
                    &s.id,
                    "13/45/2012",
                    f.name,
                    Some(f.line),
                    "Dob",
                ) {
                    Some(bad) => bad,
                    None => &dob,
                };
                let mut row: [&str; 30] = [""; 30];
                row[0] = school;
                row[1] = &s.id;
                row[2] = opt(&s.student_number);
                row[3] = opt(&s.state_id);
                row[4] = &s.last_name;
                row[5] = opt(&s.middle_name);
                row[6] = &s.first_name;
                row[7] = s.grade.map_or("", |g| g.clever_name());
                row[9] = dob;
                row[12] = opt(&s.home_language);
                row[20] = email;
                row[21] = opt(&s.username);
                let name;
                if let Some((c, l)) = contact {
                    name = contact_full_name(c);
                    let (phone, kind) = clever_contact_phone(c);
                    row[23] = l.contact_type.map_or("", |t| t.as_str());
                    row[24] = &name;
                    row[25] = l.relationship.map_or("", |t| t.as_str());
                    row[26] = match inj.take(
                        DirtKind::BadPhone,
                        &c.id,
                        Dirt::BAD_PHONE,
                        f.name,
                        Some(f.line),
                        "Contact_phone",
                    ) {
                        Some(bad) => bad,
                        None => phone.map_or("", digits),
                    };
                    row[27] = kind.map_or("", |t| t.as_str());
                    row[28] = c.email.as_ref().map_or("", |e| e.as_str());
                    row[29] = &c.id;
                }
                f.row(&row)?;
            }
        }
    }
    f.finish()
}
