//! What each format can carry: [`project`] drops or rewrites the rest exactly as a faithful
//! reader reads it back. The writers use the same helpers, so writer and projection agree.

use crate::Format;
use domain::{
    Contact, ContactLink, Coverage, Enrollment, EnrollmentRole, FeedMode, Phone, PhoneType,
    Relationship, Roster, SourceDistrict, Staff, StaffRole,
};
use std::collections::{HashMap, HashSet};

/// `roster` as a reader of `format` will return it (see the crate docs for the rules). Compare
/// after [`Roster::normalise`] on both sides.
pub fn project(roster: &Roster, format: Format) -> Roster {
    let mut r = roster.clone();
    r.source = Some(format.source_kind());
    r.coverage = Coverage {
        schools: FeedMode::Bulk,
        sections: FeedMode::Bulk,
        users: FeedMode::Bulk,
        enrollments: FeedMode::Bulk,
    };
    r.warnings.clear();
    r.deletions.clear();
    match format {
        Format::OneRosterCsv | Format::OneRosterCsvZip => oneroster(&mut r),
        Format::CleverCsv => clever_csv(&mut r),
        Format::CleverJson => clever_json(&mut r),
    }
    r
}

fn oneroster(r: &mut Roster) {
    r.district = r.district.take().map(|d| SourceDistrict {
        id: d.id,
        name: d.name,
        ..SourceDistrict::default()
    });
    for s in &mut r.schools {
        s.sis_id = None;
        s.state_id = None;
        s.nces_id = None;
        s.low_grade = None;
        s.high_grade = None;
    }
    for s in &mut r.sections {
        s.sis_id = None;
    }
    for s in &mut r.students {
        s.home_language = None;
    }
    for s in &mut r.staff {
        s.roles = vec![oneroster_staff_role(s).1];
        s.title = None;
        s.language = None;
    }
    let students = student_ids(r);
    for c in &mut r.contacts {
        let rel = oneroster_contact_role(c).1;
        c.phone_type = None;
        c.language = None;
        c.links.retain(|l| students.contains(l.student_id.as_str()));
        dedup_links(&mut c.links);
        for l in &mut c.links {
            l.relationship = Some(rel);
            l.contact_type = None;
        }
    }
    drop_dangling_enrollments(r);
}

fn clever_csv(r: &mut Roster) {
    r.district = None;
    for s in &mut r.schools {
        s.sis_id = Some(s.id.clone());
    }
    // Terms and courses only through sections: id = name / number.
    let terms: HashMap<&str, &domain::Term> = r.terms.iter().map(|t| (t.id.as_str(), t)).collect();
    let courses: HashMap<&str, &domain::Course> =
        r.courses.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut new_terms: Vec<domain::Term> = Vec::new();
    let mut new_courses: Vec<domain::Course> = Vec::new();
    let mut seen_terms = HashSet::new();
    let mut seen_courses = HashSet::new();
    let mut sections = std::mem::take(&mut r.sections);
    for s in &mut sections {
        s.sis_id = Some(s.id.clone());
        s.class_type = None;
        s.term_ids = match s.term_ids.first().and_then(|t| terms.get(t.as_str())) {
            Some(t) => {
                if seen_terms.insert(t.name.clone()) {
                    new_terms.push(domain::Term {
                        id: t.name.clone(),
                        ..(*t).clone()
                    });
                }
                vec![t.name.clone()]
            }
            None => Vec::new(),
        };
        s.course_id = match s.course_id.as_deref().and_then(|c| courses.get(c)) {
            Some(c) => {
                let id = clever_course_key(c).to_string();
                if seen_courses.insert(id.clone()) {
                    new_courses.push(domain::Course {
                        id: id.clone(),
                        ..(*c).clone()
                    });
                }
                Some(id)
            }
            None => None,
        };
    }
    r.sections = sections;
    r.terms = new_terms;
    r.courses = new_courses;
    for s in &mut r.students {
        s.sis_id = Some(s.id.clone());
    }
    for s in &mut r.staff {
        s.sis_id = Some(s.id.clone());
        s.sms = None;
        s.phone = None;
        s.language = None;
        if s.roles.contains(&StaffRole::Teacher) {
            s.roles = vec![StaffRole::Teacher];
        } else {
            s.roles = vec![clever_csv_staff_role(s).1];
            s.middle_name = None;
            s.staff_number = None;
            s.state_id = None;
        }
    }
    let students = student_ids(r);
    r.contacts.retain_mut(|c| {
        c.links.retain(|l| students.contains(l.student_id.as_str()));
        dedup_links(&mut c.links);
        c.sis_id = Some(c.id.clone());
        clever_contact(c);
        !c.links.is_empty()
    });
    let teachers: HashSet<String> = r
        .staff
        .iter()
        .filter(|s| s.roles.contains(&StaffRole::Teacher))
        .map(|s| s.id.clone())
        .collect();
    clever_enrollments(r, &teachers);
}

fn clever_json(r: &mut Roster) {
    for s in &mut r.sections {
        s.class_type = None;
        s.term_ids.truncate(1);
    }
    for s in &mut r.staff {
        let (t, st, da) = clever_roles(s);
        let mut roles = Vec::new();
        if t {
            roles.push(StaffRole::Teacher);
        }
        if st {
            roles.push(StaffRole::Staff);
        }
        if da {
            roles.push(StaffRole::DistrictAdmin);
        }
        s.roles = roles;
        if !t {
            s.sis_id = None;
            s.state_id = None;
        }
        s.sms = None;
        s.phone = None;
        s.language = None;
    }
    let students = student_ids(r);
    for c in &mut r.contacts {
        c.links.retain(|l| students.contains(l.student_id.as_str()));
        dedup_links(&mut c.links);
        clever_contact(c);
    }
    let staff: HashSet<String> = r.staff.iter().map(|s| s.id.clone()).collect();
    clever_enrollments(r, &staff);
}

fn student_ids(r: &Roster) -> HashSet<String> {
    r.students.iter().map(|s| s.id.clone()).collect()
}

fn dedup_links(links: &mut Vec<ContactLink>) {
    let mut seen = HashSet::new();
    links.retain(|l| seen.insert(l.student_id.clone()));
}

fn drop_dangling_enrollments(r: &mut Roster) {
    let sections: HashSet<&str> = r.sections.iter().map(|s| s.id.as_str()).collect();
    let users: HashSet<&str> = r
        .students
        .iter()
        .map(|s| s.id.as_str())
        .chain(r.staff.iter().map(|s| s.id.as_str()))
        .collect();
    r.enrollments
        .retain(|e| sections.contains(e.section_id.as_str()) && users.contains(e.user_id.as_str()));
}

/// Clever enrollments: students (never primary) and teachers (at most one primary, the first
/// one marked so); other roles become teachers; no dates; school = the section's.
fn clever_enrollments(r: &mut Roster, teachers: &HashSet<String>) {
    let students = student_ids(r);
    let sections: HashMap<&str, &str> = r
        .sections
        .iter()
        .map(|s| (s.id.as_str(), s.school_id.as_str()))
        .collect();
    let mut has_primary: HashSet<String> = HashSet::new();
    let mut seen: HashSet<(String, String, EnrollmentRole)> = HashSet::new();
    let mut out = Vec::with_capacity(r.enrollments.len());
    // Primary teachers first, as Clever lists them (`teacher`, then `teachers`).
    let (primaries, others): (Vec<&Enrollment>, Vec<&Enrollment>) = r
        .enrollments
        .iter()
        .partition(|e| e.role != EnrollmentRole::Student && e.primary);
    for e in primaries.into_iter().chain(others) {
        let Some(school) = sections.get(e.section_id.as_str()) else {
            continue;
        };
        let student = e.role == EnrollmentRole::Student;
        let known = if student {
            students.contains(&e.user_id)
        } else {
            teachers.contains(&e.user_id)
        };
        let role = if student {
            EnrollmentRole::Student
        } else {
            EnrollmentRole::Teacher
        };
        if !known || !seen.insert((e.section_id.clone(), e.user_id.clone(), role)) {
            continue;
        }
        let primary = !student && e.primary && has_primary.insert(e.section_id.clone());
        out.push(Enrollment {
            section_id: e.section_id.clone(),
            school_id: (*school).to_string(),
            user_id: e.user_id.clone(),
            role,
            primary,
            begin_date: None,
            end_date: None,
        });
    }
    r.enrollments = out;
}

/// A contact as Clever carries it: full name split at the last space, one phone, no language.
fn clever_contact(c: &mut Contact) {
    let full = contact_full_name(c);
    let (first, last) = split_full_name(&full);
    c.first_name = first;
    c.last_name = last;
    let (number, kind) = clever_contact_phone(c);
    let number = number.cloned();
    match kind {
        Some(PhoneType::Cell) => {
            c.sms = number;
            c.phone = None;
        }
        _ => {
            c.sms = None;
            c.phone = number;
        }
    }
    c.phone_type = kind;
    c.language = None;
}

/// `First Last` (either part may be empty).
pub(crate) fn contact_full_name(c: &Contact) -> String {
    match (c.first_name.trim(), c.last_name.trim()) {
        ("", l) => l.to_string(),
        (f, "") => f.to_string(),
        (f, l) => format!("{f} {l}"),
    }
}

/// The inverse readers apply: split at the last whitespace.
pub(crate) fn split_full_name(full: &str) -> (String, String) {
    let full = full.trim();
    match full.rsplit_once(char::is_whitespace) {
        Some((f, l)) => (f.trim().to_string(), l.trim().to_string()),
        None => (String::new(), full.to_string()),
    }
}

/// The one phone Clever carries and its type: the `sms` as `Cell` when present, else `phone`
/// with the contact's type.
pub(crate) fn clever_contact_phone(c: &Contact) -> (Option<&Phone>, Option<PhoneType>) {
    match (&c.sms, &c.phone) {
        (Some(s), _) => (Some(s), Some(PhoneType::Cell)),
        (None, Some(p)) => (Some(p), c.phone_type),
        (None, None) => (None, c.phone_type),
    }
}

/// OneRoster user role of a contact, and the relationship a reader derives from it.
pub(crate) fn oneroster_contact_role(c: &Contact) -> (&'static str, Relationship) {
    match c.links.first().and_then(|l| l.relationship) {
        None | Some(Relationship::Parent) => ("parent", Relationship::Parent),
        Some(Relationship::Guardian) => ("guardian", Relationship::Guardian),
        Some(_) => ("relative", Relationship::Relative),
    }
}

/// OneRoster user role of a staff member (one role per row), and the role read back.
pub(crate) fn oneroster_staff_role(s: &Staff) -> (&'static str, StaffRole) {
    match s.roles.first() {
        None | Some(StaffRole::Teacher) => ("teacher", StaffRole::Teacher),
        Some(StaffRole::Aide) => ("aide", StaffRole::Aide),
        Some(StaffRole::Proctor) => ("proctor", StaffRole::Proctor),
        Some(StaffRole::Administrator | StaffRole::Staff | StaffRole::DistrictAdmin) => {
            ("administrator", StaffRole::Administrator)
        }
    }
}

/// The `Role` column of Clever's staff.csv for a non-teacher, and the role read back.
pub(crate) fn clever_csv_staff_role(s: &Staff) -> (&'static str, StaffRole) {
    match s.roles.iter().find(|r| **r != StaffRole::Teacher) {
        Some(StaffRole::Administrator) => ("administrator", StaffRole::Administrator),
        Some(StaffRole::Aide) => ("aide", StaffRole::Aide),
        Some(StaffRole::Proctor) => ("proctor", StaffRole::Proctor),
        Some(StaffRole::DistrictAdmin) => ("district admin", StaffRole::DistrictAdmin),
        _ => ("staff", StaffRole::Staff),
    }
}

/// Which Clever role objects a staff member gets: `(teacher, staff, district_admin)`.
pub(crate) fn clever_roles(s: &Staff) -> (bool, bool, bool) {
    let teacher = s.roles.contains(&StaffRole::Teacher);
    let da = s.roles.contains(&StaffRole::DistrictAdmin);
    let staff = s
        .roles
        .iter()
        .any(|r| !matches!(r, StaffRole::Teacher | StaffRole::DistrictAdmin))
        || s.roles.is_empty();
    (teacher, staff, da)
}

/// The id a Clever CSV reader gives a course: its number, else its name.
pub(crate) fn clever_course_key(c: &domain::Course) -> &str {
    c.number
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or(&c.name)
}
