//! Tests: determinism, realism invariants, exact headers, dirt injection and projections.

use crate::*;
use chrono::{Datelike, NaiveDate};
use domain::{ClassType, EnrollmentRole, Grade, Roster, StaffRole};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;

fn district(n: usize, seed: u64) -> Roster {
    generate(&Spec::new(n, seed))
}

#[test]
fn same_seed_same_roster_other_seed_other_roster() {
    let a = district(1500, 7);
    assert_eq!(a, district(1500, 7));
    let b = district(1500, 8);
    assert_ne!(a.students, b.students);
    assert_ne!(a.contacts, b.contacts);
}

#[test]
fn tiny_districts_still_have_schools_in_every_band() {
    for n in [0, 1, 20] {
        let r = district(n, 3);
        assert!(r.schools.len() >= 3, "{n}: {}", r.schools.len());
        assert_eq!(r.students.len(), n);
    }
}

#[test]
fn school_count_scales_with_students() {
    let r = district(20_000, 1);
    // ~9.4k elementary / 450, ~4.6k middle / 700, ~5.9k high / 1200.
    let by_low: BTreeMap<Option<Grade>, usize> =
        r.schools.iter().fold(BTreeMap::new(), |mut m, s| {
            *m.entry(s.low_grade).or_default() += 1;
            m
        });
    assert_eq!(by_low.get(&Some(Grade::Kindergarten)), Some(&21));
    assert_eq!(by_low.get(&Some(Grade::G6)), Some(&7));
    assert_eq!(by_low.get(&Some(Grade::G9)), Some(&5));
}

#[test]
fn references_are_consistent_and_ids_unique() {
    let r = district(3000, 42);
    let sections: HashMap<&str, &domain::Section> =
        r.sections.iter().map(|s| (s.id.as_str(), s)).collect();
    let schools: HashSet<&str> = r.schools.iter().map(|s| s.id.as_str()).collect();
    let students: HashSet<&str> = r.students.iter().map(|s| s.id.as_str()).collect();
    let staff: HashSet<&str> = r.staff.iter().map(|s| s.id.as_str()).collect();
    let terms: HashSet<&str> = r.terms.iter().map(|t| t.id.as_str()).collect();
    let courses: HashSet<&str> = r.courses.iter().map(|c| c.id.as_str()).collect();
    let mut users = HashSet::new();
    for id in r
        .students
        .iter()
        .map(|s| &s.id)
        .chain(r.staff.iter().map(|s| &s.id))
        .chain(r.contacts.iter().map(|c| &c.id))
    {
        assert!(users.insert(id.as_str()), "duplicate user id {id}");
    }
    assert_eq!(sections.len(), r.sections.len());
    assert_eq!(courses.len(), r.courses.len());
    let mut keys = HashSet::new();
    for e in &r.enrollments {
        let s = sections[e.section_id.as_str()];
        assert_eq!(e.school_id, s.school_id);
        assert!(schools.contains(e.school_id.as_str()));
        match e.role {
            EnrollmentRole::Student => assert!(students.contains(e.user_id.as_str())),
            _ => assert!(staff.contains(e.user_id.as_str())),
        }
        assert!(keys.insert(format!("{}-{}", e.section_id, e.user_id)));
    }
    for s in &r.sections {
        assert!(schools.contains(s.school_id.as_str()));
        assert!(s.term_ids.iter().all(|t| terms.contains(t.as_str())));
        assert!(courses.contains(s.course_id.as_deref().unwrap_or("?")));
    }
    for st in r
        .students
        .iter()
        .map(|s| &s.school_ids)
        .chain(r.staff.iter().map(|s| &s.school_ids))
    {
        assert!(!st.is_empty() && st.iter().all(|s| schools.contains(s.as_str())));
    }
    for c in &r.contacts {
        assert!(
            c.links
                .iter()
                .all(|l| students.contains(l.student_id.as_str()))
        );
    }
    // Every course and every section is used.
    let used: HashSet<&str> = r
        .sections
        .iter()
        .filter_map(|s| s.course_id.as_deref())
        .collect();
    assert_eq!(used.len(), r.courses.len());
    let with_students: HashSet<&str> = r
        .enrollments
        .iter()
        .filter(|e| e.role == EnrollmentRole::Student)
        .map(|e| e.section_id.as_str())
        .collect();
    assert_eq!(
        with_students.len(),
        r.sections.len(),
        "a section without students"
    );
}

#[test]
fn schedules_look_like_schools() {
    let r = district(3000, 42);
    let sections: HashMap<&str, &domain::Section> =
        r.sections.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut per_student: HashMap<&str, Vec<&domain::Section>> = HashMap::new();
    let mut per_section: HashMap<&str, (usize, usize)> = HashMap::new();
    for e in &r.enrollments {
        let s = sections[e.section_id.as_str()];
        let counts = per_section.entry(&e.section_id).or_default();
        if e.role == EnrollmentRole::Student {
            per_student.entry(&e.user_id).or_default().push(s);
            counts.0 += 1;
        } else {
            counts.1 += 1;
        }
    }
    for st in &r.students {
        let secs = &per_student[st.id.as_str()];
        let ordinal = st.grade.map_or(0, Grade::ordinal);
        if ordinal <= 5 {
            assert_eq!(secs.len(), 1);
            assert_eq!(secs[0].class_type, Some(ClassType::Homeroom));
        } else {
            let periods: BTreeSet<&str> = secs.iter().filter_map(|s| s.period.as_deref()).collect();
            assert!((6..=7).contains(&periods.len()), "{}: {periods:?}", st.id);
        }
    }
    let homerooms: Vec<usize> = r
        .sections
        .iter()
        .filter(|s| s.class_type == Some(ClassType::Homeroom))
        .map(|s| per_section[s.id.as_str()].0)
        .collect();
    let avg = homerooms.iter().sum::<usize>() as f64 / homerooms.len() as f64;
    assert!((15.0..=23.0).contains(&avg), "homeroom size {avg}");
    assert!(homerooms.iter().all(|&n| n <= 22));
    assert!(
        per_section.values().any(|c| c.1 == 2),
        "no co-taught section"
    );
    assert!(
        per_section.values().any(|c| c.1 == 0),
        "every section has a teacher"
    );
    let terms: BTreeSet<&str> = r
        .sections
        .iter()
        .flat_map(|s| &s.term_ids)
        .map(String::as_str)
        .collect();
    assert_eq!(terms.len(), 3, "year and both semesters in use");
    // Staff without sections: administrators, aides, specials.
    let teaching: HashSet<&str> = r
        .enrollments
        .iter()
        .filter(|e| e.role != EnrollmentRole::Student)
        .map(|e| e.user_id.as_str())
        .collect();
    let idle: Vec<&domain::Staff> = r
        .staff
        .iter()
        .filter(|s| !teaching.contains(s.id.as_str()))
        .collect();
    assert!(idle.iter().any(|s| s.roles == [StaffRole::Administrator]));
    assert!(idle.iter().any(|s| s.roles == [StaffRole::Aide]));
    assert!(idle.iter().any(|s| s.roles == [StaffRole::Staff]));
}

#[test]
fn families_share_guardians() {
    let r = district(3000, 42);
    let mut contacts_of: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for c in &r.contacts {
        for l in &c.links {
            contacts_of.entry(&l.student_id).or_default().insert(&c.id);
        }
    }
    assert!(contacts_of.values().all(|c| (1..=3).contains(&c.len())));
    let mut families: HashMap<&BTreeSet<&str>, usize> = HashMap::new();
    for set in contacts_of.values() {
        *families.entry(set).or_default() += 1;
    }
    let max = families.values().copied().max().unwrap_or(0);
    assert!((2..=4).contains(&max), "largest family {max}");
    assert!(families.values().filter(|&&n| n >= 2).count() > 100);
    // Guardians per student: 1, 2 and 3 all occur; a few students have none (dirty).
    for k in 1..=3 {
        assert!(contacts_of.values().any(|c| c.len() == k));
    }
    let without = r.students.len() - contacts_of.len();
    assert!(without > 0 && without < r.students.len() / 20, "{without}");
    assert!(r.contacts.iter().any(|c| {
        c.links
            .iter()
            .any(|l| l.contact_type == Some(domain::ContactType::Emergency))
    }));
}

#[test]
fn realistic_variety() {
    let r = district(3000, 42);
    let n = r.students.len() as f64;
    let two = r
        .students
        .iter()
        .filter(|s| s.school_ids.len() == 2)
        .count() as f64;
    assert!((0.003..=0.02).contains(&(two / n)), "two schools: {two}");
    assert!(
        r.students
            .iter()
            .all(|s| s.id.starts_with('0') || s.id.len() > 6)
    );
    assert!(r.students.iter().any(|s| {
        s.student_number
            .as_deref()
            .is_some_and(|x| x.starts_with("00"))
    }));
    assert!(r.sections.iter().all(|s| s.id.starts_with('0')));
    let names: String = r
        .students
        .iter()
        .flat_map(|s| [s.first_name.as_str(), s.last_name.as_str()])
        .chain(
            r.contacts
                .iter()
                .flat_map(|c| [c.first_name.as_str(), c.last_name.as_str()]),
        )
        .collect::<Vec<_>>()
        .join(" ");
    for probe in ["é", "ễ", "ø", "'", "-"] {
        assert!(names.contains(probe), "no name with {probe}");
    }
    assert!(!names.contains("  "));
    // Staff who are also parents.
    let staff: HashSet<(&str, &str, Option<&str>)> = r
        .staff
        .iter()
        .map(|s| {
            (
                s.first_name.as_str(),
                s.last_name.as_str(),
                s.email.as_ref().map(|e| e.as_str()),
            )
        })
        .collect();
    assert!(r.contacts.iter().any(|c| c.email.is_some()
        && staff.contains(&(
            c.first_name.as_str(),
            c.last_name.as_str(),
            c.email.as_ref().map(|e| e.as_str())
        ))));
    // Birth dates fit the grade (age on 1 September).
    let sept = NaiveDate::from_ymd_opt(SCHOOL_YEAR_END - 1, 9, 1).unwrap();
    for s in &r.students {
        if let (Some(d), Some(g)) = (s.dob, s.grade) {
            let age = sept.year() - d.year() - i32::from((d.month(), d.day()) > (9, 1));
            let expected = 5 + i32::from(g.ordinal());
            assert!(
                (expected - 1..=expected + 1).contains(&age),
                "{} {g} {d}",
                s.id
            );
        }
    }
    let languages: BTreeSet<&str> = r
        .students
        .iter()
        .filter_map(|s| s.home_language.as_deref())
        .collect();
    assert!(languages.contains("English") && languages.contains("Spanish") && languages.len() > 4);
    let english = r
        .students
        .iter()
        .filter(|s| s.home_language.as_deref() == Some("English"))
        .count();
    assert!(english as f64 > n * 0.6);
    assert!(r.staff.iter().any(|s| s.sms.is_some()));
    assert!(
        r.students
            .iter()
            .all(|s| s.username.is_some() && s.sis_id.as_ref() == Some(&s.id))
    );
}

#[test]
fn dirty_and_clean_districts() {
    let dirty = district(5000, 9);
    let missing = dirty.students.iter().filter(|s| s.email.is_none()).count();
    assert!((50..=150).contains(&missing), "{missing}");
    assert!(
        dirty
            .contacts
            .iter()
            .any(|c| c.email.is_none() && c.sms.is_none())
    );
    let clean = generate(&Spec {
        dirty: false,
        ..Spec::new(5000, 9)
    });
    assert!(
        clean
            .students
            .iter()
            .all(|s| s.email.is_some() && s.dob.is_some())
    );
    assert!(
        clean
            .contacts
            .iter()
            .all(|c| c.email.is_some() || c.sms.is_some())
    );
    assert!(clean.staff.iter().all(|s| s.email.is_some()));
}

#[test]
fn formats_parse_from_cli_names() {
    for f in Format::ALL {
        assert_eq!(f.as_str().parse::<Format>(), Ok(f));
    }
    assert!("csv".parse::<Format>().is_err());
}

fn first_line(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().next().unwrap().to_string()
}

#[test]
fn oneroster_headers_are_exact() {
    let r = district(300, 5);
    let dir = tempfile::tempdir().unwrap();
    write(&r, Format::OneRosterCsv, dir.path()).unwrap();
    let expected = [
        (
            "orgs.csv",
            "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId",
        ),
        (
            "users.csv",
            "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password",
        ),
        (
            "classes.csv",
            "sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods",
        ),
        (
            "enrollments.csv",
            "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate",
        ),
        (
            "academicSessions.csv",
            "sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear",
        ),
        (
            "courses.csv",
            "sourcedId,status,dateLastModified,schoolYearSourcedId,title,courseCode,grades,orgSourcedId,subjects,subjectCodes",
        ),
        (
            "demographics.csv",
            "sourcedId,status,dateLastModified,birthDate,sex,americanIndianOrAlaskaNative,asian,blackOrAfricanAmerican,nativeHawaiianOrOtherPacificIslander,white,demographicRaceTwoOrMoreRaces,hispanicOrLatinoEthnicity,countryOfBirthCode,stateOfBirthAbbreviation,cityOfBirth,publicSchoolResidenceStatus",
        ),
    ];
    for (file, header) in expected {
        assert_eq!(first_line(&dir.path().join(file)), header, "{file}");
    }
    let manifest = std::fs::read_to_string(dir.path().join("manifest.csv")).unwrap();
    assert!(
        manifest.starts_with("propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\n")
    );
    assert_eq!(manifest.matches("file.").count(), 13);
    for f in [
        "academicSessions",
        "classes",
        "courses",
        "demographics",
        "enrollments",
        "orgs",
        "users",
    ] {
        assert!(manifest.contains(&format!("file.{f},bulk\n")), "{f}");
    }
    assert!(manifest.contains("file.results,absent\n"));
    // Bulk: status and dateLastModified blank; multi-values quoted; dates ISO.
    let users = std::fs::read_to_string(dir.path().join("users.csv")).unwrap();
    let two_schools = r.students.iter().find(|s| s.school_ids.len() == 2);
    if let Some(s) = two_schools {
        assert!(users.contains(&format!(
            "{},,,true,\"{},{}\",student",
            s.id, s.school_ids[0], s.school_ids[1]
        )));
    }
    assert!(users.contains("\"{SIS:"));
    let demo = std::fs::read_to_string(dir.path().join("demographics.csv")).unwrap();
    let s = &r.students[0];
    if let Some(d) = s.dob {
        assert!(demo.contains(&format!("{},,,{}", s.id, d.format("%Y-%m-%d"))));
    }
    // Enrollment ids are unique.
    let text = std::fs::read_to_string(dir.path().join("enrollments.csv")).unwrap();
    let ids: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());
    assert_eq!(ids.len(), r.enrollments.len());
}

#[test]
fn oneroster_zip_holds_the_same_files() {
    let r = district(100, 5);
    let dir = tempfile::tempdir().unwrap();
    write(&r, Format::OneRosterCsvZip, dir.path()).unwrap();
    let zip_path = dir.path().join("oneroster.zip");
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    let mut names: Vec<String> = zip.file_names().map(str::to_string).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "academicSessions.csv",
            "classes.csv",
            "courses.csv",
            "demographics.csv",
            "enrollments.csv",
            "manifest.csv",
            "orgs.csv",
            "users.csv"
        ]
    );
    let plain = tempfile::tempdir().unwrap();
    write(&r, Format::OneRosterCsv, plain.path()).unwrap();
    let mut users = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("users.csv").unwrap(), &mut users).unwrap();
    assert_eq!(
        users,
        std::fs::read_to_string(plain.path().join("users.csv")).unwrap()
    );
    // An explicit .zip path is used as is.
    let explicit = dir.path().join("nested/district.zip");
    write(&r, Format::OneRosterCsvZip, &explicit).unwrap();
    assert!(explicit.is_file());
}

#[test]
fn clever_csv_headers_and_rows() {
    let r = district(600, 5);
    let dir = tempfile::tempdir().unwrap();
    write(&r, Format::CleverCsv, dir.path()).unwrap();
    let expected = [
        (
            "schools.csv",
            "School_id,School_name,School_number,State_id,Nces_id,Low_grade,High_grade,Principal,Principal_email,School_address,School_city,School_state,School_zip,School_phone",
        ),
        (
            "students.csv",
            "School_id,Student_id,Student_number,State_id,Last_name,Middle_name,First_name,Grade,Gender,Dob,Race,Hispanic_Latino,Home_language,Ell_status,Frl_status,Iep_status,Student_street,Student_city,Student_state,Student_zip,Student_email,Username,Password,Contact_type,Contact_name,Contact_relationship,Contact_phone,Contact_phone_type,Contact_email,Contact_sis_id",
        ),
        (
            "teachers.csv",
            "School_id,Teacher_id,Teacher_number,State_teacher_id,Last_name,Middle_name,First_name,Teacher_email,Title,Username,Password",
        ),
        (
            "sections.csv",
            "School_id,Section_id,Teacher_id,Teacher_2_id,Name,Section_number,Grade,Course_name,Course_number,Course_description,Period,Subject,Term_name,Term_start,Term_end",
        ),
        ("enrollments.csv", "School_id,Section_id,Student_id"),
        (
            "staff.csv",
            "School_id,Staff_id,Staff_email,First_name,Last_name,Department,Title,Username,Password,Role",
        ),
    ];
    for (file, header) in expected {
        assert_eq!(first_line(&dir.path().join(file)), header, "{file}");
    }
    // One row per student × contact (one row without contacts), plus a bare row per extra school.
    let mut contacts: HashMap<&str, usize> = HashMap::new();
    for c in &r.contacts {
        for l in &c.links {
            *contacts.entry(&l.student_id).or_default() += 1;
        }
    }
    let rows: usize = r
        .students
        .iter()
        .map(|s| contacts.get(s.id.as_str()).copied().unwrap_or(0).max(1) + s.school_ids.len() - 1)
        .sum();
    let mut reader = csv::Reader::from_path(dir.path().join("students.csv")).unwrap();
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), rows);
    let dob = records.iter().find(|r| !r[9].is_empty()).unwrap();
    assert!(domain::parse_date(&dob[9]).is_some() && dob[9].contains('/'));
    assert!(
        records
            .iter()
            .any(|r| !r[29].is_empty() && r[24].contains(' '))
    );
    let teachers = std::fs::read_to_string(dir.path().join("teachers.csv")).unwrap();
    let rows = r
        .staff
        .iter()
        .filter(|s| s.roles.contains(&StaffRole::Teacher))
        .map(|s| s.school_ids.len())
        .sum::<usize>();
    assert_eq!(teachers.lines().count() - 1, rows);
}

#[test]
fn clever_json_envelopes() {
    let r = district(400, 5);
    let dir = tempfile::tempdir().unwrap();
    write(&r, Format::CleverJson, dir.path()).unwrap();
    let mut counts = BTreeMap::new();
    for ep in [
        "districts",
        "schools",
        "users",
        "sections",
        "terms",
        "courses",
    ] {
        let text = std::fs::read_to_string(dir.path().join(format!("{ep}.json"))).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["links"][0]["rel"], "self");
        assert_eq!(v["links"][0]["uri"], format!("/v3.0/{ep}"));
        let data = v["data"].as_array().unwrap();
        assert!(data.iter().all(|d| d["data"]["id"].is_string()));
        counts.insert(ep, data.len());
        if ep == "users" {
            let contact = data
                .iter()
                .find(|d| d["data"]["roles"]["contact"].is_object())
                .unwrap();
            assert!(
                contact["data"]["name"]["last"]
                    .as_str()
                    .unwrap()
                    .contains(' ')
            );
            assert!(
                contact["data"]["roles"]["contact"]["student_relationships"][0]["student"]
                    .is_string()
            );
            let student = data
                .iter()
                .find(|d| d["data"]["roles"]["student"].is_object())
                .unwrap();
            assert!(
                student["data"]["roles"]["student"]["dob"]
                    .as_str()
                    .unwrap()
                    .contains('/')
            );
            assert!(
                data.iter()
                    .any(|d| d["data"]["roles"]["teacher"].is_object())
            );
            assert!(data.iter().any(|d| d["data"]["roles"]["staff"].is_object()));
        }
        if ep == "sections" {
            assert!(
                data.iter()
                    .any(|d| d["data"]["teachers"].as_array().unwrap().len() == 2
                        || r.students.len() < 1000)
            );
            assert!(
                data.iter()
                    .all(|d| !d["data"]["students"].as_array().unwrap().is_empty())
            );
        }
    }
    assert_eq!(counts["districts"], 1);
    assert_eq!(
        counts["users"],
        r.students.len() + r.staff.len() + r.contacts.len()
    );
    assert_eq!(counts["sections"], r.sections.len());
}

#[test]
fn dirt_goes_only_where_values_are_absent() {
    let r = district(3000, 11);
    for format in [Format::OneRosterCsv, Format::CleverCsv, Format::CleverJson] {
        let dir = tempfile::tempdir().unwrap();
        let injected = write_dirty(&r, format, dir.path(), &Dirt::typical()).unwrap();
        let kinds: BTreeSet<DirtKind> = injected.iter().map(|i| i.kind).collect();
        assert_eq!(kinds.len(), 3, "{format}: {injected:?}");
        for i in &injected {
            let text = std::fs::read_to_string(dir.path().join(&i.file)).unwrap();
            match i.line {
                Some(line) => {
                    let row = text.lines().nth(line as usize - 1).unwrap();
                    assert!(
                        row.contains(&i.value) && row.contains(&i.record_id),
                        "{format}: {i:?}"
                    );
                }
                None => assert!(text.contains(&format!("\"{}\"", i.value))),
            }
            match i.kind {
                DirtKind::BadEmail => assert!(
                    r.students
                        .iter()
                        .any(|s| s.id == i.record_id && s.email.is_none())
                ),
                DirtKind::BadDate => assert!(
                    r.students
                        .iter()
                        .any(|s| s.id == i.record_id && s.dob.is_none())
                ),
                DirtKind::BadPhone => assert!(
                    r.contacts
                        .iter()
                        .any(|c| c.id == i.record_id && c.sms.is_none() && c.phone.is_none())
                ),
            }
        }
        let clean = tempfile::tempdir().unwrap();
        write(&r, format, clean.path()).unwrap();
        let text = std::fs::read_to_string(clean.path().join(&injected[0].file)).unwrap();
        assert!(!text.contains(Dirt::BAD_PHONE) && !text.contains(Dirt::BAD_EMAIL));
    }
}

#[test]
fn projections_are_idempotent_and_drop_what_formats_cannot_carry() {
    let r = district(800, 2);
    for f in Format::ALL {
        let p = project(&r, f);
        assert_eq!(project(&p, f), p, "{f}");
        assert_eq!(p.source, Some(f.source_kind()));
        assert_eq!(p.students.len(), r.students.len());
    }
    let or = project(&r, Format::OneRosterCsv);
    assert!(
        or.contacts
            .iter()
            .all(|c| c.phone_type.is_none() && c.language.is_none())
    );
    assert!(or.students.iter().all(|s| s.home_language.is_none()));
    let cc = project(&r, Format::CleverCsv);
    assert!(cc.district.is_none());
    assert!(
        cc.terms
            .iter()
            .all(|t| cc.sections.iter().any(|s| s.term_ids == [t.name.clone()]))
    );
    assert!(
        cc.contacts
            .iter()
            .all(|c| c.language.is_none() && !(c.sms.is_some() && c.phone.is_some()))
    );
    let cj = project(&r, Format::CleverJson);
    assert!(
        cj.sections
            .iter()
            .all(|s| s.class_type.is_none() && s.term_ids.len() == 1)
    );
    assert!(cj.staff.iter().all(|s| s.sms.is_none()));
    assert_eq!(cj.enrollments.len(), r.enrollments.len());
}

#[test]
fn generate_to_writes_dirt_only_for_dirty_specs() {
    let dir = tempfile::tempdir().unwrap();
    let (r, injected) = generate_to(&Spec::new(2000, 4), Format::CleverJson, dir.path()).unwrap();
    assert!(!injected.is_empty());
    assert_eq!(r, district(2000, 4));
    let clean = Spec {
        dirty: false,
        ..Spec::new(200, 4)
    };
    let (_, injected) = generate_to(&clean, Format::CleverCsv, dir.path()).unwrap();
    assert!(injected.is_empty());
}
