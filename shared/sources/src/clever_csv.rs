//! Clever SFTP CSV reader: `schools.csv`, `students.csv` (with contact columns, one row per
//! student × contact), `teachers.csv` (one row per teacher × school), `sections.csv`,
//! `enrollments.csv` and the optional `staff.csv` (and `admins.csv`, the file Clever deprecated
//! for it, read the same way), into a canonical [`Roster`].
//!
//! - File names and headers are matched ignoring ASCII case (`Dob` = `DOB`); column order is free.
//! - Contacts are deduplicated by `Contact_sis_id`, else by normalised name plus email (or phone);
//!   without either, a contact is never shared between students. Derived ids look like
//!   `contact:3f2a…`. Terms (from `Term_name/start/end`) are known by their name (a second term
//!   of that name with other dates by `name (start – end)`), courses by `Course_number`, else by
//!   `Course_name`.
//! - A staff row whose email equals a teacher's is the same person: roles and schools merge.
//! - The files are full snapshots, so every coverage is bulk.

use crate::SourceError;
use crate::files::FileSet;
use crate::files::ids::{IdMap, IdSet};
use crate::files::table::{Col, FastSet, Row, Table, derived_id, error};
use domain::{
    Contact, ContactLink, ContactType, Course, Coverage, Email, Enrollment, EnrollmentRole,
    FeedMode, Issue, IssueCode, Location, PhoneType, Relationship, Roster, School, Section,
    SourceKind, Staff, StaffRole, Student, Term,
};

const SCHOOLS: &str = "schools.csv";
const STUDENTS: &str = "students.csv";
const TEACHERS: &str = "teachers.csv";
const SECTIONS: &str = "sections.csv";
const ENROLLMENTS: &str = "enrollments.csv";
const STAFF: &str = "staff.csv";
/// Deprecated by Clever for staff.csv (`Admin_email`, `Admin_title`); older exports still send it.
const ADMINS: &str = "admins.csv";

/// Reads a Clever SFTP CSV set. Errors (nothing usable) are returned; record-level problems
/// become warnings in [`Roster::warnings`].
pub fn read(files: &FileSet) -> Result<Roster, SourceError> {
    let mut errors = Vec::new();
    let mut names = [""; 7];
    for (slot, want) in names.iter_mut().zip([
        SCHOOLS,
        STUDENTS,
        TEACHERS,
        SECTIONS,
        ENROLLMENTS,
        STAFF,
        ADMINS,
    ]) {
        match files.find_ignore_case(want) {
            Some(found) => *slot = found,
            None if want == STAFF || want == ADMINS => {}
            None => errors.push(Issue::error(
                IssueCode::MissingFile,
                Location::file(want),
                format!("`{want}` is required in a Clever CSV set"),
            )),
        }
    }
    if !errors.is_empty() {
        return Err(SourceError::Invalid { issues: errors });
    }
    let [
        schools_n,
        students_n,
        teachers_n,
        sections_n,
        enrol_n,
        staff_n,
        admins_n,
    ] = names;
    let schools_b = files.bytes(schools_n)?;
    let students_b = files.bytes(students_n)?;
    let teachers_b = files.bytes(teachers_n)?;
    let sections_b = files.bytes(sections_n)?;
    let enrol_b = files.bytes(enrol_n)?;
    let optional = |name: &str| -> Result<_, SourceError> {
        Ok(if name.is_empty() {
            None
        } else {
            Some(files.bytes(name)?)
        })
    };
    let staff_b = optional(staff_n)?;
    let admins_b = optional(admins_n)?;
    let mut schools_t = Table::open(schools_n, &schools_b)?;
    let mut students_t = Table::open(students_n, &students_b)?;
    let mut teachers_t = Table::open(teachers_n, &teachers_b)?;
    let mut sections_t = Table::open(sections_n, &sections_b)?;
    let mut enrol_t = Table::open(enrol_n, &enrol_b)?;
    let mut staff_t = staff_b
        .as_deref()
        .map(|b| Table::open(staff_n, b))
        .transpose()?;
    let mut admins_t = admins_b
        .as_deref()
        .map(|b| Table::open(admins_n, b))
        .transpose()?;
    if students_t.has_no_header() && teachers_t.has_no_header() {
        return Err(empty_feed(students_n));
    }

    let mut w = Vec::new();
    let schools_c = SchoolCols::new(&schools_t, &mut errors, &mut w);
    let students_c = StudentCols::new(&students_t, &mut errors, &mut w);
    let teachers_c = TeacherCols::new(&teachers_t, &mut errors, &mut w);
    let sections_c = SectionCols::new(&sections_t, &mut errors, &mut w);
    let enrol_c = EnrolCols::new(&enrol_t, &mut errors, &mut w);
    let staff_c = staff_t
        .as_ref()
        .map(|t| StaffCols::new(t, StaffFile::Staff, &mut errors, &mut w));
    let admins_c = admins_t
        .as_ref()
        .map(|t| StaffCols::new(t, StaffFile::Admins, &mut errors, &mut w));
    if !errors.is_empty() {
        return Err(SourceError::Invalid { issues: errors });
    }

    let mut r = Reader {
        roster: Roster {
            source: Some(SourceKind::CleverCsv),
            coverage: Coverage {
                schools: FeedMode::Bulk,
                sections: FeedMode::Bulk,
                users: FeedMode::Bulk,
                enrollments: FeedMode::Bulk,
            },
            ..Roster::default()
        },
        w,
        schools: IdSet::default(),
        students: IdMap::default(),
        staff: IdMap::default(),
        staff_by_email: IdMap::default(),
        contacts: IdMap::default(),
        sections: IdMap::default(),
        terms: IdMap::default(),
        courses: IdSet::default(),
    };
    r.read_schools(&mut schools_t, &schools_c)?;
    r.read_students(&mut students_t, &students_c)?;
    r.read_teachers(&mut teachers_t, &teachers_c)?;
    if let (Some(t), Some(c)) = (staff_t.as_mut(), staff_c) {
        r.read_staff(t, &c)?;
    }
    if let (Some(t), Some(c)) = (admins_t.as_mut(), admins_c) {
        r.read_staff(t, &c)?;
    }
    if r.roster.students.is_empty() && r.roster.staff.is_empty() {
        return Err(empty_feed(students_n));
    }
    r.read_sections(&mut sections_t, &sections_c)?;
    r.read_enrollments(&mut enrol_t, &enrol_c)?;
    let mut roster = r.roster;
    roster.warnings = r.w;
    Ok(roster)
}

fn empty_feed(file: &str) -> SourceError {
    error(
        IssueCode::EmptyFeed,
        Location::file(file),
        "the feed holds no students and no teachers: refusing a feed that would empty the roster",
    )
}

struct SchoolCols {
    id: Col,
    name: Col,
    number: Col,
    state_id: Col,
    nces_id: Col,
    low: Col,
    high: Col,
}

impl SchoolCols {
    fn new(t: &Table<'_>, e: &mut Vec<Issue>, w: &mut Vec<Issue>) -> Self {
        let mut c = t.columns(true);
        let s = Self {
            id: c.req("School_id"),
            name: c.req("School_name"),
            number: c.req("School_number"),
            state_id: c.opt("State_id"),
            nces_id: c.opt("Nces_id"),
            low: c.opt("Low_grade"),
            high: c.opt("High_grade"),
        };
        c.finish(e, w);
        s
    }
}

struct StudentCols {
    school: Col,
    id: Col,
    number: Col,
    state_id: Col,
    last: Col,
    middle: Col,
    first: Col,
    grade: Col,
    dob: Col,
    language: Col,
    email: Col,
    username: Col,
    contact_type: Col,
    contact_name: Col,
    contact_rel: Col,
    contact_phone: Col,
    contact_phone_type: Col,
    contact_email: Col,
    contact_sis_id: Col,
}

impl StudentCols {
    fn new(t: &Table<'_>, e: &mut Vec<Issue>, w: &mut Vec<Issue>) -> Self {
        let mut c = t.columns(true);
        let s = Self {
            school: c.req("School_id"),
            id: c.req("Student_id"),
            number: c.opt("Student_number"),
            state_id: c.opt("State_id"),
            last: c.req("Last_name"),
            middle: c.opt("Middle_name"),
            first: c.req("First_name"),
            grade: c.opt("Grade"),
            dob: c.opt("Dob"),
            language: c.opt("Home_language"),
            email: c.opt("Student_email"),
            username: c.opt("Username"),
            contact_type: c.opt("Contact_type"),
            contact_name: c.opt("Contact_name"),
            contact_rel: c.opt("Contact_relationship"),
            contact_phone: c.opt("Contact_phone"),
            contact_phone_type: c.opt("Contact_phone_type"),
            contact_email: c.opt("Contact_email"),
            contact_sis_id: c.opt("Contact_sis_id"),
        };
        c.finish(e, w);
        s
    }
}

struct TeacherCols {
    school: Col,
    id: Col,
    number: Col,
    state_id: Col,
    last: Col,
    middle: Col,
    first: Col,
    email: Col,
    title: Col,
}

impl TeacherCols {
    fn new(t: &Table<'_>, e: &mut Vec<Issue>, w: &mut Vec<Issue>) -> Self {
        let mut c = t.columns(true);
        let s = Self {
            school: c.req("School_id"),
            id: c.req("Teacher_id"),
            number: c.opt("Teacher_number"),
            state_id: c.opt("State_teacher_id"),
            last: c.req("Last_name"),
            middle: c.opt("Middle_name"),
            first: c.req("First_name"),
            email: c.opt("Teacher_email"),
            title: c.opt("Title"),
        };
        c.finish(e, w);
        s
    }
}

struct StaffCols {
    school: Col,
    id: Col,
    email: Col,
    first: Col,
    last: Col,
    title: Col,
    role: Col,
}

/// staff.csv, or the deprecated admins.csv: the same columns but two.
#[derive(Clone, Copy, PartialEq, Eq)]
enum StaffFile {
    Staff,
    Admins,
}

impl StaffCols {
    fn new(t: &Table<'_>, file: StaffFile, e: &mut Vec<Issue>, w: &mut Vec<Issue>) -> Self {
        let (email, title) = match file {
            StaffFile::Staff => ("Staff_email", "Title"),
            StaffFile::Admins => ("Admin_email", "Admin_title"),
        };
        let mut c = t.columns(true);
        let s = Self {
            school: c.req("School_id"),
            id: c.req("Staff_id"),
            email: c.req(email),
            first: c.opt("First_name"),
            last: c.opt("Last_name"),
            title: c.opt(title),
            role: c.opt("Role"),
        };
        c.finish(e, w);
        s
    }
}

struct SectionCols {
    school: Col,
    id: Col,
    teacher: Col,
    co_teachers: Vec<usize>,
    name: Col,
    number: Col,
    grade: Col,
    course_name: Col,
    course_number: Col,
    period: Col,
    subject: Col,
    term_name: Col,
    term_start: Col,
    term_end: Col,
}

impl SectionCols {
    fn new(t: &Table<'_>, e: &mut Vec<Issue>, w: &mut Vec<Issue>) -> Self {
        let mut c = t.columns(true);
        let s = Self {
            school: c.req("School_id"),
            id: c.req("Section_id"),
            teacher: c.req("Teacher_id"),
            co_teachers: c.matching(co_teacher_rank),
            name: c.opt("Name"),
            number: c.opt("Section_number"),
            grade: c.opt("Grade"),
            course_name: c.opt("Course_name"),
            course_number: c.opt("Course_number"),
            period: c.opt("Period"),
            subject: c.opt("Subject"),
            term_name: c.opt("Term_name"),
            term_start: c.opt("Term_start"),
            term_end: c.opt("Term_end"),
        };
        c.opt("Course_description");
        c.finish(e, w);
        s
    }
}

/// `Teacher_<n>_id` (n ≥ 2) → n.
fn co_teacher_rank(header: &str) -> Option<u32> {
    let lower = header.to_ascii_lowercase();
    let n = lower.strip_prefix("teacher_")?.strip_suffix("_id")?;
    n.parse().ok().filter(|n| *n >= 2)
}

struct EnrolCols {
    school: Col,
    section: Col,
    student: Col,
}

impl EnrolCols {
    fn new(t: &Table<'_>, e: &mut Vec<Issue>, w: &mut Vec<Issue>) -> Self {
        let mut c = t.columns(true);
        let s = Self {
            school: c.req("School_id"),
            section: c.req("Section_id"),
            student: c.req("Student_id"),
        };
        c.finish(e, w);
        s
    }
}

/// The `School_id` of staff.csv rows for Clever's auto-generated district office, and its name.
const DISTRICT_OFFICE_ID: &str = "DEFAULT DISTRICT OFFICE";
const DISTRICT_OFFICE_NAME: &str = "Default District Office";

struct Reader {
    roster: Roster,
    w: Vec<Issue>,
    schools: IdSet,
    /// Student index by id.
    students: IdMap<usize>,
    /// Staff index by teacher or staff id.
    staff: IdMap<usize>,
    /// Staff index by lower-cased email, to merge staff.csv rows into teachers.
    staff_by_email: IdMap<usize>,
    /// Contact index by dedup key.
    contacts: IdMap<usize>,
    /// Section index by id.
    sections: IdMap<usize>,
    /// Term index by id.
    terms: IdMap<usize>,
    courses: IdSet,
}

/// Checks a row's `School_id` against schools.csv; `None` (with a warning) when unknown.
fn school_of<'r>(
    row: &Row<'r>,
    col: Col,
    schools: &IdSet,
    w: &mut Vec<Issue>,
    consequence: &str,
) -> Option<&'r str> {
    let s = row.need(col, w, consequence)?;
    if schools.contains(s) {
        Some(s)
    } else {
        row.dangling(col, w, "school of schools.csv", consequence);
        None
    }
}

impl Reader {
    fn read_schools(&mut self, t: &mut Table<'_>, c: &SchoolCols) -> Result<(), SourceError> {
        let w = &mut self.w;
        while let Some(row) = t.next_row()? {
            let Some(id) = row.need(c.id, w, "the row is ignored") else {
                continue;
            };
            if !self.schools.insert(id) {
                row.duplicate(c.id, w);
                continue;
            }
            let name = row
                .need(c.name, w, "the school is named by its id")
                .unwrap_or(id);
            self.roster.schools.push(School {
                id: id.to_string(),
                name: name.to_string(),
                sis_id: Some(id.to_string()),
                school_number: row.get(c.number, w).map(str::to_string),
                state_id: row.get(c.state_id, w).map(str::to_string),
                nces_id: row.get(c.nces_id, w).map(str::to_string),
                low_grade: row.grade(c.low, w),
                high_grade: row.grade(c.high, w),
            });
        }
        Ok(())
    }

    fn read_students(&mut self, t: &mut Table<'_>, c: &StudentCols) -> Result<(), SourceError> {
        // Room for a student and a contact per row: only the part used is ever touched.
        let rows = t.rows_hint();
        self.students.reserve(rows);
        self.roster.students.reserve(rows);
        self.roster.contacts.reserve(rows);
        let w = &mut self.w;
        while let Some(row) = t.next_row()? {
            let Some(id) = row.need(c.id, w, "the row is ignored") else {
                continue;
            };
            let school = school_of(&row, c.school, &self.schools, w, "the row is ignored");
            let index = match self.students.get(id) {
                Some(&i) => {
                    // A further row of the same student (one per contact, or another school).
                    if let (Some(s), Some(st)) = (school, self.roster.students.get_mut(i))
                        && !st.school_ids.iter().any(|x| x == s)
                    {
                        st.school_ids.push(s.to_string());
                    }
                    i
                }
                None => {
                    let Some(school) = school else {
                        continue;
                    };
                    let first_name = row
                        .need(c.first, w, "the name is left blank")
                        .unwrap_or_default();
                    let last_name = row
                        .need(c.last, w, "the name is left blank")
                        .unwrap_or_default();
                    self.roster.students.push(Student {
                        id: id.to_string(),
                        school_ids: vec![school.to_string()],
                        first_name: first_name.to_string(),
                        middle_name: row.get(c.middle, w).map(str::to_string),
                        last_name: last_name.to_string(),
                        grade: row.grade(c.grade, w),
                        dob: row.date(c.dob, w),
                        sis_id: Some(id.to_string()),
                        student_number: row.get(c.number, w).map(str::to_string),
                        state_id: row.get(c.state_id, w).map(str::to_string),
                        email: row.email(c.email, w),
                        username: row.get(c.username, w).map(str::to_string),
                        home_language: row.get(c.language, w).map(str::to_string),
                    });
                    let i = self.roster.students.len() - 1;
                    self.students.insert(id, i);
                    i
                }
            };
            let student_id = self
                .roster
                .students
                .get(index)
                .map(|s| s.id.clone())
                .unwrap_or_default();
            read_contact(
                &row,
                c,
                student_id,
                &mut self.roster.contacts,
                &mut self.contacts,
                w,
            );
        }
        Ok(())
    }

    fn read_teachers(&mut self, t: &mut Table<'_>, c: &TeacherCols) -> Result<(), SourceError> {
        let w = &mut self.w;
        while let Some(row) = t.next_row()? {
            let Some(id) = row.need(c.id, w, "the row is ignored") else {
                continue;
            };
            let Some(school) = school_of(&row, c.school, &self.schools, w, "the row is ignored")
            else {
                continue;
            };
            if let Some(&i) = self.staff.get(id) {
                // One row per school: merge.
                if let Some(st) = self.roster.staff.get_mut(i)
                    && !st.school_ids.iter().any(|x| x == school)
                {
                    st.school_ids.push(school.to_string());
                }
                continue;
            }
            let first = row
                .need(c.first, w, "the name is left blank")
                .unwrap_or_default();
            let last = row
                .need(c.last, w, "the name is left blank")
                .unwrap_or_default();
            let email = row.email(c.email, w);
            let i = self.roster.staff.len();
            if let Some(e) = &email {
                self.staff_by_email.or_insert(&e.key(), i);
            }
            self.roster.staff.push(Staff {
                id: id.to_string(),
                school_ids: vec![school.to_string()],
                first_name: first.to_string(),
                middle_name: row.get(c.middle, w).map(str::to_string),
                last_name: last.to_string(),
                email,
                sis_id: Some(id.to_string()),
                staff_number: row.get(c.number, w).map(str::to_string),
                state_id: row.get(c.state_id, w).map(str::to_string),
                title: row.get(c.title, w).map(str::to_string),
                roles: vec![StaffRole::Teacher],
                sms: None,
                phone: None,
                language: None,
            });
            self.staff.insert(id, i);
        }
        Ok(())
    }

    fn read_staff(&mut self, t: &mut Table<'_>, c: &StaffCols) -> Result<(), SourceError> {
        let w = &mut self.w;
        while let Some(row) = t.next_row()? {
            let Some(id) = row.need(c.id, w, "the row is ignored") else {
                continue;
            };
            // Clever's spec: `School_id` may be `DEFAULT DISTRICT OFFICE`, the office Clever
            // creates for district staff. It becomes a school of the roster like Clever's own,
            // so an admin matches (or scopes out) it as any other.
            if row.get(c.school, w) == Some(DISTRICT_OFFICE_ID)
                && self.schools.insert(DISTRICT_OFFICE_ID)
            {
                self.roster
                    .schools
                    .push(School::named(DISTRICT_OFFICE_ID, DISTRICT_OFFICE_NAME));
            }
            let Some(school) = school_of(&row, c.school, &self.schools, w, "the row is ignored")
            else {
                continue;
            };
            let email = row.email(c.email, w);
            let title = row.get(c.title, w);
            let role = staff_role(row.get(c.role, w).or(title));
            let existing = self.staff.get(id).copied().or_else(|| {
                email
                    .as_ref()
                    .and_then(|e| self.staff_by_email.get(&e.key()).copied())
            });
            if let Some(i) = existing {
                if let Some(st) = self.roster.staff.get_mut(i) {
                    if !st.school_ids.iter().any(|x| x == school) {
                        st.school_ids.push(school.to_string());
                    }
                    if !st.roles.contains(&role) {
                        st.roles.push(role);
                        st.roles.sort_unstable();
                    }
                    if st.title.is_none() {
                        st.title = title.map(str::to_string);
                    }
                }
                self.staff.or_insert(id, i);
                continue;
            }
            let i = self.roster.staff.len();
            if let Some(e) = &email {
                self.staff_by_email.or_insert(&e.key(), i);
            }
            self.roster.staff.push(Staff {
                id: id.to_string(),
                school_ids: vec![school.to_string()],
                first_name: row.get(c.first, w).unwrap_or_default().to_string(),
                middle_name: None,
                last_name: row.get(c.last, w).unwrap_or_default().to_string(),
                email,
                sis_id: Some(id.to_string()),
                staff_number: None,
                state_id: None,
                title: title.map(str::to_string),
                roles: vec![role],
                sms: None,
                phone: None,
                language: None,
            });
            self.staff.insert(id, i);
        }
        Ok(())
    }

    fn read_sections(&mut self, t: &mut Table<'_>, c: &SectionCols) -> Result<(), SourceError> {
        let w = &mut self.w;
        while let Some(row) = t.next_row()? {
            let Some(id) = row.need(c.id, w, "the row is ignored") else {
                continue;
            };
            if self.sections.contains_key(id) {
                row.duplicate(c.id, w);
                continue;
            }
            let Some(school) = school_of(&row, c.school, &self.schools, w, "the row is ignored")
            else {
                continue;
            };
            // Term and course, with derived ids.
            let term_name = row.get(c.term_name, w);
            let start = row.date(c.term_start, w);
            let end = row.date(c.term_end, w);
            let mut term_ids = Vec::new();
            if term_name.is_some() || start.is_some() || end.is_some() {
                let (s, e) = (
                    start.map(|d| d.to_string()).unwrap_or_default(),
                    end.map(|d| d.to_string()).unwrap_or_default(),
                );
                let name = match term_name {
                    Some(n) => n.to_string(),
                    None => format!("{s} – {e}"),
                };
                // The term's id is its name (what a reader of the same district's Clever
                // data can rely on); a term of that name with other dates is told apart by
                // its dates.
                let dated = |t: &Term| (t.start_date, t.end_date) == (start, end);
                let tid = match self.terms.get(&name).map(|&i| &self.roster.terms[i]) {
                    Some(t) if !dated(t) => format!("{name} ({s} – {e})"),
                    _ => name.clone(),
                };
                if !self.terms.contains_key(&tid) {
                    self.terms.insert(&tid, self.roster.terms.len());
                    self.roster.terms.push(Term {
                        id: tid.clone(),
                        name,
                        start_date: start,
                        end_date: end,
                    });
                }
                term_ids.push(tid);
            }
            let course_name = row.get(c.course_name, w);
            let course_number = row.get(c.course_number, w);
            let course_id = match (course_number, course_name) {
                (None, None) => None,
                (Some(n), _) => Some(n.to_string()),
                (None, Some(name)) => Some(name.to_string()),
            };
            if let Some(cid) = &course_id
                && self.courses.insert(cid)
            {
                self.roster.courses.push(Course {
                    id: cid.clone(),
                    name: course_name
                        .or(course_number)
                        .unwrap_or_default()
                        .to_string(),
                    number: course_number.map(str::to_string),
                });
            }
            let name = row.get(c.name, w).or(course_name).unwrap_or(id);
            self.roster.sections.push(Section {
                id: id.to_string(),
                school_id: school.to_string(),
                name: name.to_string(),
                sis_id: Some(id.to_string()),
                section_number: row.get(c.number, w).map(str::to_string),
                period: row.get(c.period, w).map(str::to_string),
                grade: row.grade(c.grade, w),
                subject: row.get(c.subject, w).map(str::to_string),
                course_id,
                term_ids,
                class_type: None,
            });
            self.sections.insert(id, self.roster.sections.len() - 1);
            // Teachers: the primary, then co-teachers in column order.
            let primary = row.need(c.teacher, w, "the section has no primary teacher");
            let mut teachers: Vec<(Col, Option<&str>)> = vec![(c.teacher, primary)];
            for &i in &c.co_teachers {
                teachers.push((Some(i), row.get(Some(i), w)));
            }
            let mut seen: Vec<&str> = Vec::new();
            for (col, teacher) in teachers {
                let Some(teacher) = teacher else { continue };
                if seen.contains(&teacher) {
                    continue;
                }
                seen.push(teacher);
                if !self.staff.contains_key(teacher) {
                    row.dangling(
                        col,
                        w,
                        "teacher of teachers.csv",
                        "that teacher is not enrolled",
                    );
                    continue;
                }
                self.roster.enrollments.push(Enrollment {
                    section_id: id.to_string(),
                    school_id: school.to_string(),
                    user_id: teacher.to_string(),
                    role: EnrollmentRole::Teacher,
                    primary: col == c.teacher,
                    begin_date: None,
                    end_date: None,
                });
            }
        }
        Ok(())
    }

    fn read_enrollments(&mut self, t: &mut Table<'_>, c: &EnrolCols) -> Result<(), SourceError> {
        let rows = t.rows_hint();
        self.roster.enrollments.reserve(rows);
        let w = &mut self.w;
        let mut pairs: FastSet<(usize, usize)> =
            FastSet::with_capacity_and_hasher(rows, Default::default());
        while let Some(row) = t.next_row()? {
            let Some(section) = row.need(c.section, w, "the row is ignored") else {
                continue;
            };
            let Some(student) = row.need(c.student, w, "the row is ignored") else {
                continue;
            };
            let Some(&sec_i) = self.sections.get(section) else {
                row.dangling(
                    c.section,
                    w,
                    "section of sections.csv",
                    "the row is ignored",
                );
                continue;
            };
            let Some(&st_i) = self.students.get(student) else {
                row.dangling(
                    c.student,
                    w,
                    "student of students.csv",
                    "the row is ignored",
                );
                continue;
            };
            let school = match row.get(c.school, w) {
                Some(s) if self.schools.contains(s) => s,
                Some(_) => {
                    row.dangling(c.school, w, "school of schools.csv", "the row is ignored");
                    continue;
                }
                None => match self.roster.sections.get(sec_i) {
                    Some(s) => s.school_id.as_str(),
                    None => continue,
                },
            };
            if !pairs.insert((sec_i, st_i)) {
                let h = row.header(c.student);
                row.warn(
                    w,
                    IssueCode::DuplicateId,
                    c.student,
                    format!("`{h}` is already enrolled in this section; the row is ignored"),
                );
                continue;
            }
            self.roster.enrollments.push(Enrollment {
                section_id: section.to_string(),
                school_id: school.to_string(),
                user_id: student.to_string(),
                role: EnrollmentRole::Student,
                primary: false,
                begin_date: None,
                end_date: None,
            });
        }
        Ok(())
    }
}

/// Adds the contact on a students.csv row (if any) to `contacts`, linked to `student_id`.
fn read_contact(
    row: &Row<'_>,
    c: &StudentCols,
    student_id: String,
    contacts: &mut Vec<Contact>,
    by_key: &mut IdMap<usize>,
    w: &mut Vec<Issue>,
) {
    let name = row.get(c.contact_name, w);
    let sis = row.get(c.contact_sis_id, w);
    let email = row.email(c.contact_email, w);
    let phone = row.phone(c.contact_phone, w);
    if name.is_none() && sis.is_none() && email.is_none() && phone.is_none() {
        return;
    }
    let contact_type = match row.get(c.contact_type, w) {
        None => None,
        Some(raw) => {
            let t = ContactType::parse(raw);
            if t.is_none() {
                row.bad_enum(
                    c.contact_type,
                    w,
                    "Primary, Secondary, Parent/Guardian, Emergency, Family, Other",
                    "the value is ignored",
                );
            }
            t
        }
    };
    let relationship = match row.get(c.contact_rel, w) {
        None => None,
        Some(raw) => {
            let r = Relationship::parse(raw);
            if r.is_none() {
                row.bad_enum(
                    c.contact_rel,
                    w,
                    "Parent, Grandparent, Self, Aunt/Uncle, Sibling, Other",
                    "the value is ignored",
                );
            }
            r
        }
    };
    let phone_type = match row.get(c.contact_phone_type, w) {
        None => None,
        Some(raw) => {
            let p = PhoneType::parse(raw);
            if p.is_none() {
                row.bad_enum(
                    c.contact_phone_type,
                    w,
                    "Cell, Home, Work, Other",
                    "the value is ignored",
                );
            }
            p
        }
    };
    let mut normalised = String::with_capacity(name.map_or(0, str::len));
    for word in name.unwrap_or_default().split_whitespace() {
        if !normalised.is_empty() {
            normalised.push(' ');
        }
        if word.is_ascii() {
            let from = normalised.len();
            normalised.push_str(word);
            normalised[from..].make_ascii_lowercase();
        } else {
            normalised.extend(word.chars().flat_map(char::to_lowercase));
        }
    }
    // The dedup key; the (hashed) id is only computed for a new contact.
    let mut key = String::with_capacity(normalised.len() + 40);
    let email_key = email.as_ref().map(Email::key);
    match (sis, &email_key, &phone) {
        (Some(sis), _, _) => {
            key.push_str("sis\u{1f}");
            key.push_str(sis);
        }
        (None, Some(e), _) => {
            key.push_str("ne\u{1f}");
            key.push_str(&normalised);
            key.push('\u{1f}');
            key.push_str(e);
        }
        (None, None, Some(p)) => {
            key.push_str("np\u{1f}");
            key.push_str(&normalised);
            key.push('\u{1f}');
            key.push_str(p.as_str());
        }
        (None, None, None) => {
            key.push_str("ns\u{1f}");
            key.push_str(&normalised);
            key.push('\u{1f}');
            key.push_str(&student_id);
        }
    }
    let new_id = (!by_key.contains_key(&key)).then(|| match (sis, &email_key, &phone) {
        (Some(sis), _, _) => sis.to_string(),
        (None, Some(e), _) => derived_id(Contact::DERIVED_ID_KIND, &[&normalised, e]),
        (None, None, Some(p)) => derived_id(Contact::DERIVED_ID_KIND, &[&normalised, p.as_str()]),
        (None, None, None) => derived_id(Contact::DERIVED_ID_KIND, &[&normalised, &student_id]),
    });
    let (sms, other_phone) = match phone_type {
        Some(PhoneType::Cell) => (phone, None),
        _ => (None, phone),
    };
    let link = ContactLink {
        student_id,
        relationship,
        contact_type,
    };
    let Some(id) = new_id else {
        let Some(&i) = by_key.get(&key) else {
            return;
        };
        if let Some(existing) = contacts.get_mut(i) {
            if existing.email.is_none() {
                existing.email = email;
            }
            if existing.sms.is_none() {
                existing.sms = sms;
            }
            if existing.phone.is_none() {
                existing.phone = other_phone;
                existing.phone_type = existing.phone_type.or(phone_type);
            }
            if !existing
                .links
                .iter()
                .any(|l| l.student_id == link.student_id)
            {
                existing.links.push(link);
            }
        }
        return;
    };
    let (first_name, last_name) = split_name(name.unwrap_or_default());
    by_key.insert(&key, contacts.len());
    contacts.push(Contact {
        id,
        first_name,
        last_name,
        sis_id: sis.map(str::to_string),
        email,
        sms,
        phone: other_phone,
        phone_type,
        language: None,
        links: vec![link],
    });
}

/// `Last, First` or `First Middle Last` → (first, last).
fn split_name(full: &str) -> (String, String) {
    if let Some((last, first)) = full.split_once(',') {
        return (first.trim().to_string(), last.trim().to_string());
    }
    match full.trim().rsplit_once(char::is_whitespace) {
        Some((first, last)) => (first.trim().to_string(), last.to_string()),
        None => (String::new(), full.trim().to_string()),
    }
}

/// A staff role from Clever's `Role` (or `Title` when no role is given).
fn staff_role(raw: Option<&str>) -> StaffRole {
    let lower = raw.unwrap_or_default().to_ascii_lowercase();
    if lower.contains("district") && lower.contains("admin") {
        StaffRole::DistrictAdmin
    } else if lower.contains("admin") || lower.contains("principal") {
        StaffRole::Administrator
    } else if lower.contains("aide") || lower.contains("para") {
        StaffRole::Aide
    } else if lower.contains("proctor") {
        StaffRole::Proctor
    } else if lower.contains("teacher") {
        StaffRole::Teacher
    } else {
        StaffRole::Staff
    }
}

#[cfg(test)]
mod tests;
