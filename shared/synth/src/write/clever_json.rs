//! Clever Data API v3.0 JSON: one list envelope per endpoint
//! (`{"data":[{"data":{…}}…],"links":[{"rel":"self","uri":"/v3.0/<endpoint>"}]}`).

use super::{Sink, WriteError};
use crate::dirt::{Dirt, DirtKind, Injector};
use crate::project::{clever_contact_phone, clever_roles, contact_full_name};
use domain::{EnrollmentRole, Roster};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Write;

/// One envelope being streamed.
struct Envelope<'a> {
    w: Box<dyn Write + 'a>,
    file: &'static str,
    endpoint: &'static str,
    count: usize,
}

impl<'a> Envelope<'a> {
    fn create(
        sink: &'a mut Sink,
        file: &'static str,
        endpoint: &'static str,
    ) -> Result<Self, WriteError> {
        let mut e = Self {
            w: sink.file(file)?,
            file,
            endpoint,
            count: 0,
        };
        e.raw(b"{\"data\":[")?;
        Ok(e)
    }

    fn raw(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        self.w.write_all(bytes).map_err(|source| self.io(source))
    }

    fn io(&self, source: std::io::Error) -> WriteError {
        WriteError::Io {
            path: self.file.into(),
            source,
        }
    }

    fn item(&mut self, record: &Value) -> Result<(), WriteError> {
        if self.count > 0 {
            self.raw(b",")?;
        }
        self.raw(b"{\"data\":")?;
        serde_json::to_writer(&mut self.w, record).map_err(|source| WriteError::Json {
            file: self.file.to_string(),
            source,
        })?;
        self.raw(b"}")?;
        self.count += 1;
        Ok(())
    }

    fn finish(mut self) -> Result<(), WriteError> {
        let tail = format!(
            "],\"links\":[{{\"rel\":\"self\",\"uri\":\"/v3.0/{}\"}}]}}",
            self.endpoint
        );
        self.raw(tail.as_bytes())?;
        self.w.flush().map_err(|source| self.io(source))
    }
}

fn mdy(d: Option<chrono::NaiveDate>) -> Option<String> {
    d.map(|d| d.format("%m/%d/%Y").to_string())
}

fn iso(d: Option<chrono::NaiveDate>) -> Option<String> {
    d.map(|d| d.format("%Y-%m-%dT00:00:00.000Z").to_string())
}

pub(crate) fn write(r: &Roster, sink: &mut Sink, inj: &mut Injector<'_>) -> Result<(), WriteError> {
    let district = r.district.as_ref().map_or("", |d| d.id.as_str());

    let mut f = Envelope::create(sink, "districts.json", "districts")?;
    if let Some(d) = &r.district {
        f.item(&json!({
            "id": d.id,
            "name": d.name,
            "state": d.state,
            "pause_start": d.pause_start,
            "pause_end": d.pause_end,
            "sis_type": "sftp",
        }))?;
    }
    f.finish()?;

    let mut f = Envelope::create(sink, "schools.json", "schools")?;
    for s in &r.schools {
        f.item(&json!({
            "id": s.id,
            "district": district,
            "name": s.name,
            "sis_id": s.sis_id,
            "school_number": s.school_number,
            "state_id": s.state_id,
            "nces_id": s.nces_id,
            "low_grade": s.low_grade.map(|g| g.clever_name()),
            "high_grade": s.high_grade.map(|g| g.clever_name()),
        }))?;
    }
    f.finish()?;

    let mut f = Envelope::create(sink, "terms.json", "terms")?;
    for t in &r.terms {
        f.item(&json!({
            "id": t.id,
            "district": district,
            "name": t.name,
            "start_date": iso(t.start_date),
            "end_date": iso(t.end_date),
        }))?;
    }
    f.finish()?;

    let mut f = Envelope::create(sink, "courses.json", "courses")?;
    for c in &r.courses {
        f.item(&json!({
            "id": c.id,
            "district": district,
            "name": c.name,
            "number": c.number,
        }))?;
    }
    f.finish()?;

    write_users(r, sink, inj, district)?;

    // Members of each section: the first primary teacher, other teachers, students.
    #[derive(Default)]
    struct Members<'r> {
        primary: Option<&'r str>,
        teachers: Vec<&'r str>,
        students: Vec<&'r str>,
    }
    let mut members: HashMap<&str, Members<'_>> = HashMap::with_capacity(r.sections.len());
    for e in &r.enrollments {
        let m = members.entry(&e.section_id).or_default();
        if e.role == EnrollmentRole::Student {
            m.students.push(&e.user_id);
        } else {
            if e.primary && m.primary.is_none() {
                m.primary = Some(&e.user_id);
            }
            if !m.teachers.contains(&e.user_id.as_str()) {
                m.teachers.push(&e.user_id);
            }
        }
    }
    let mut f = Envelope::create(sink, "sections.json", "sections")?;
    let empty = Members::default();
    for s in &r.sections {
        let m = members.get(s.id.as_str()).unwrap_or(&empty);
        let teachers: Vec<&str> = m
            .primary
            .into_iter()
            .chain(m.teachers.iter().copied().filter(|t| Some(*t) != m.primary))
            .collect();
        f.item(&json!({
            "id": s.id,
            "district": district,
            "school": s.school_id,
            "name": s.name,
            "sis_id": s.sis_id,
            "section_number": s.section_number,
            "period": s.period,
            "subject": s.subject,
            "grade": s.grade.map(|g| g.clever_name()),
            "course": s.course_id,
            "term_id": s.term_ids.first(),
            "teacher": m.primary,
            "teachers": teachers,
            "students": m.students,
        }))?;
    }
    f.finish()
}

fn write_users(
    r: &Roster,
    sink: &mut Sink,
    inj: &mut Injector<'_>,
    district: &str,
) -> Result<(), WriteError> {
    let mut f = Envelope::create(sink, "users.json", "users")?;
    for s in &r.students {
        let email: Option<&str> = inj
            .take(
                DirtKind::BadEmail,
                &s.id,
                Dirt::BAD_EMAIL,
                f.file,
                None,
                "email",
            )
            .or(s.email.as_ref().map(|e| e.as_str()));
        let dob = match inj.take(
            DirtKind::BadDate,
            &s.id,
            "13/45/2012",
            f.file,
            None,
            "roles.student.dob",
        ) {
            Some(bad) => Some(bad.to_string()),
            None => mdy(s.dob),
        };
        f.item(&json!({
            "id": s.id,
            "district": district,
            "email": email,
            "name": { "first": s.first_name, "middle": s.middle_name, "last": s.last_name },
            "roles": { "student": {
                "sis_id": s.sis_id,
                "student_number": s.student_number,
                "state_id": s.state_id,
                "school": s.school_ids.first(),
                "schools": s.school_ids,
                "dob": dob,
                "grade": s.grade.map(|g| g.clever_name()),
                "credentials": { "district_username": s.username },
                "home_language": s.home_language,
            }},
        }))?;
    }
    for s in &r.staff {
        let (teacher, staff, da) = clever_roles(s);
        let mut roles = serde_json::Map::new();
        if teacher {
            roles.insert(
                "teacher".into(),
                json!({
                    "sis_id": s.sis_id,
                    "teacher_number": s.staff_number,
                    "state_id": s.state_id,
                    "title": s.title,
                    "school": s.school_ids.first(),
                    "schools": s.school_ids,
                    "district": district,
                }),
            );
        }
        if staff {
            let names: Vec<&str> = s
                .roles
                .iter()
                .map(|r| match r {
                    domain::StaffRole::Administrator => "School Administrator",
                    domain::StaffRole::Aide => "Aide",
                    domain::StaffRole::Proctor => "Proctor",
                    _ => "Staff",
                })
                .collect();
            roles.insert(
                "staff".into(),
                json!({
                    "staff_id": s.staff_number,
                    "title": s.title,
                    "roles": names,
                    "schools": s.school_ids,
                }),
            );
        }
        if da {
            roles.insert("district_admin".into(), json!({ "title": s.title }));
        }
        f.item(&json!({
            "id": s.id,
            "district": district,
            "email": s.email,
            "name": { "first": s.first_name, "middle": s.middle_name, "last": s.last_name },
            "roles": roles,
        }))?;
    }
    for c in &r.contacts {
        let (phone, kind) = clever_contact_phone(c);
        let phone = match inj.take(
            DirtKind::BadPhone,
            &c.id,
            Dirt::BAD_PHONE,
            f.file,
            None,
            "roles.contact.phone",
        ) {
            Some(bad) => Some(bad),
            None => phone.map(|p| p.as_str()),
        };
        let relationships: Vec<Value> = c
            .links
            .iter()
            .map(|l| {
                json!({
                    "student": l.student_id,
                    "relationship": l.relationship.map(|x| x.as_str()),
                    "type": l.contact_type.map(|x| x.as_str()),
                })
            })
            .collect();
        f.item(&json!({
            "id": c.id,
            "district": district,
            "email": c.email,
            "name": { "first": null, "middle": null, "last": contact_full_name(c) },
            "roles": { "contact": {
                "sis_id": c.sis_id,
                "phone": phone,
                "phone_type": kind.map(|k| k.as_str()),
                "student_relationships": relationships,
            }},
        }))?;
    }
    f.finish()
}
