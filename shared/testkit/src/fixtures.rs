//! Small hand-built rosters that the Clever and OneRoster wire formats carry without loss, for
//! round-trip tests (until `synth` rosters with wire projections are available).

use chrono::NaiveDate;
use domain::{
    ClassType, Contact, ContactLink, ContactType, Course, Email, Enrollment, EnrollmentRole, Grade,
    Phone, PhoneType, Relationship, Roster, School, Section, SourceDistrict, SourceKind, Staff,
    StaffRole, Student, Term,
};

fn date(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d)
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

fn enrol(
    section: &Roster,
    sec: &str,
    user: &str,
    role: EnrollmentRole,
    primary: bool,
) -> Enrollment {
    let school_id = section
        .sections
        .iter()
        .find(|x| x.id == sec)
        .map(|x| x.school_id.clone())
        .unwrap_or_default();
    Enrollment {
        section_id: sec.to_string(),
        school_id,
        user_id: user.to_string(),
        role,
        primary,
        begin_date: None,
        end_date: None,
    }
}

fn student(id: &str, school: &str, n: u32) -> Student {
    Student {
        id: id.to_string(),
        school_ids: vec![school.to_string()],
        first_name: format!("First{n}"),
        middle_name: n.is_multiple_of(2).then(|| "M".to_string()),
        last_name: format!("Last{n}"),
        grade: Grade::from_ordinal((n % 13) as i8),
        dob: date(2012, 1 + n % 12, 1 + n % 28),
        sis_id: Some(format!("0{n}")),
        student_number: Some(format!("00{n}")),
        state_id: n.is_multiple_of(3).then(|| format!("ST{n}")),
        email: Email::parse(&format!("s{n}@school.example")),
        username: Some(format!("s{n}")),
        home_language: None,
    }
}

/// A district Clever carries losslessly (v3.0 and v3.1): two schools, three sections, six
/// students (one at two schools), a teacher, a teacher who is also staff and district admin,
/// a staff member, two contacts.
pub fn clever_roster() -> Roster {
    let mut r = Roster {
        source: Some(SourceKind::Clever),
        district: Some(SourceDistrict {
            id: "d1".into(),
            name: s("Example USD"),
            state: s("running"),
            pause_start: s("2025-06-01T00:00:00.000Z"),
            pause_end: None,
        }),
        ..Roster::default()
    };
    r.schools = vec![
        School {
            id: "sch1".into(),
            name: "North Elementary".into(),
            sis_id: s("101"),
            school_number: s("0101"),
            state_id: s("ST-101"),
            nces_id: s("123456"),
            low_grade: Some(Grade::Kindergarten),
            high_grade: Some(Grade::G5),
        },
        School {
            id: "sch2".into(),
            name: "South Middle".into(),
            sis_id: s("102"),
            school_number: s("0102"),
            state_id: None,
            nces_id: None,
            low_grade: Some(Grade::G6),
            high_grade: Some(Grade::G8),
        },
    ];
    r.terms = vec![Term {
        id: "t1".into(),
        name: "Fall".into(),
        start_date: date(2024, 8, 20),
        end_date: date(2024, 12, 20),
    }];
    r.courses = vec![Course {
        id: "c1".into(),
        name: "Math 6".into(),
        number: s("M6"),
    }];
    r.sections = vec![
        Section {
            id: "sec1".into(),
            school_id: "sch1".into(),
            name: "Homeroom K".into(),
            sis_id: s("S1"),
            section_number: s("1"),
            period: s("1"),
            grade: Some(Grade::Kindergarten),
            subject: s("homeroom/advisory"),
            course_id: None,
            term_ids: vec!["t1".into()],
            class_type: None,
        },
        Section {
            id: "sec2".into(),
            school_id: "sch2".into(),
            name: "Math 6 - Smith - 2".into(),
            sis_id: s("S2"),
            section_number: None,
            period: s("2"),
            grade: Some(Grade::G6),
            subject: s("math"),
            course_id: s("c1"),
            term_ids: vec!["t1".into()],
            class_type: None,
        },
        Section {
            id: "sec3".into(),
            school_id: "sch2".into(),
            name: "Study hall".into(),
            sis_id: None,
            section_number: None,
            period: None,
            grade: None,
            subject: None,
            course_id: None,
            term_ids: vec![],
            class_type: None,
        },
    ];
    r.students = (1..=6)
        .map(|n| student(&format!("stu{n}"), if n <= 3 { "sch1" } else { "sch2" }, n))
        .collect();
    r.students[3].school_ids.push("sch1".into());
    r.students[4].email = None;
    r.staff = vec![
        Staff {
            id: "tea1".into(),
            school_ids: vec!["sch1".into()],
            first_name: "Ann".into(),
            middle_name: None,
            last_name: "Lee".into(),
            email: Email::parse("ann.lee@school.example"),
            sis_id: s("T1"),
            staff_number: s("0T1"),
            state_id: s("STT1"),
            title: s("Teacher"),
            roles: vec![StaffRole::Teacher],
            sms: None,
            phone: None,
            language: None,
        },
        Staff {
            id: "tea2".into(),
            school_ids: vec!["sch2".into(), "sch1".into()],
            first_name: "Bob".into(),
            middle_name: s("J"),
            last_name: "Smith".into(),
            email: Email::parse("bob@school.example"),
            sis_id: s("T2"),
            staff_number: s("T2"),
            state_id: None,
            title: s("Principal"),
            roles: vec![
                StaffRole::Teacher,
                StaffRole::Staff,
                StaffRole::DistrictAdmin,
            ],
            sms: None,
            phone: None,
            language: None,
        },
        Staff {
            id: "stf1".into(),
            school_ids: vec!["sch2".into()],
            first_name: "Cy".into(),
            middle_name: None,
            last_name: "Ng".into(),
            email: Email::parse("cy@school.example"),
            sis_id: None,
            staff_number: s("E77"),
            state_id: None,
            title: s("Counselor"),
            roles: vec![StaffRole::Staff],
            sms: None,
            phone: None,
            language: None,
        },
    ];
    r.contacts = vec![
        Contact {
            id: "con1".into(),
            first_name: "Mary Ann".into(),
            last_name: "Parker".into(),
            sis_id: s("P1"),
            email: Email::parse("mary@home.example"),
            sms: Phone::parse("555-123-4567"),
            phone: None,
            phone_type: Some(PhoneType::Cell),
            language: None,
            links: vec![
                ContactLink {
                    student_id: "stu1".into(),
                    relationship: Some(Relationship::Parent),
                    contact_type: Some(ContactType::ParentGuardian),
                },
                ContactLink {
                    student_id: "stu4".into(),
                    relationship: Some(Relationship::AuntUncle),
                    contact_type: Some(ContactType::Emergency),
                },
            ],
        },
        Contact {
            id: "con2".into(),
            first_name: "Joe".into(),
            last_name: "Roe".into(),
            sis_id: None,
            email: None,
            sms: None,
            phone: Phone::parse("(555) 987-6543"),
            phone_type: Some(PhoneType::Home),
            language: None,
            links: vec![ContactLink {
                student_id: "stu2".into(),
                relationship: None,
                contact_type: Some(ContactType::Primary),
            }],
        },
    ];
    let mut e = Vec::new();
    for (sec, user, role, primary) in [
        ("sec1", "tea1", EnrollmentRole::Teacher, true),
        ("sec1", "stu1", EnrollmentRole::Student, false),
        ("sec1", "stu2", EnrollmentRole::Student, false),
        ("sec1", "stu3", EnrollmentRole::Student, false),
        ("sec2", "tea2", EnrollmentRole::Teacher, true),
        ("sec2", "tea1", EnrollmentRole::Teacher, false),
        ("sec2", "stu4", EnrollmentRole::Student, false),
        ("sec2", "stu5", EnrollmentRole::Student, false),
        ("sec3", "tea2", EnrollmentRole::Teacher, false),
        ("sec3", "stu6", EnrollmentRole::Student, false),
        ("sec3", "stu4", EnrollmentRole::Student, false),
    ] {
        e.push(enrol(&r, sec, user, role, primary));
    }
    r.enrollments = e;
    r
}

/// A district OneRoster 1.1 REST carries losslessly with this crate's mapping (no phone or
/// contact type: OneRoster has neither).
pub fn oneroster_roster() -> Roster {
    let mut r = clever_roster();
    r.source = Some(SourceKind::OnerosterApi);
    if let Some(d) = &mut r.district {
        d.state = None;
        d.pause_start = None;
        d.pause_end = None;
    }
    for x in &mut r.schools {
        x.sis_id = None;
        x.state_id = None;
        x.nces_id = None;
        x.low_grade = None;
        x.high_grade = None;
    }
    r.terms.push(Term {
        id: "t2".into(),
        name: "Spring".into(),
        start_date: date(2025, 1, 6),
        end_date: date(2025, 5, 30),
    });
    for k in &mut r.sections {
        k.sis_id = None;
    }
    r.sections[0].class_type = Some(ClassType::Homeroom);
    r.sections[1].class_type = Some(ClassType::Scheduled);
    r.sections[1].period = s("2,3");
    r.sections[1].term_ids = vec!["t1".into(), "t2".into()];
    for st in &mut r.staff {
        st.title = None;
        st.roles.truncate(1);
    }
    r.staff[1].roles = vec![StaffRole::Administrator];
    r.staff[2].roles = vec![StaffRole::Aide];
    r.staff[2].sms = Phone::parse("555-222-3333");
    r.staff[0].phone = Phone::parse("555-222-4444");
    r.contacts[0].links = vec![
        ContactLink {
            student_id: "stu1".into(),
            relationship: Some(Relationship::Parent),
            contact_type: None,
        },
        ContactLink {
            student_id: "stu4".into(),
            relationship: Some(Relationship::Parent),
            contact_type: None,
        },
    ];
    // OneRoster carries neither a phone type nor a contact type.
    r.contacts[0].phone_type = None;
    r.contacts[1].phone_type = None;
    r.contacts[1].links = vec![ContactLink {
        student_id: "stu2".into(),
        relationship: Some(Relationship::Guardian),
        contact_type: None,
    }];
    r.enrollments[1].begin_date = date(2024, 8, 20);
    r.enrollments[1].end_date = date(2024, 12, 21);
    r
}
