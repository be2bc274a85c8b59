//! Tests of the Clever CSV reader: a good feed (contacts, co-teachers, multi-school teachers,
//! staff merged by email) and bad inputs, each as a snapshot.

use super::read;
use crate::files::testutil::{mem, render};
use expect_test::{Expect, expect};

fn check(files: &[(&str, &str)], expected: Expect) {
    expected.assert_eq(&render(read(&mem(files))));
}

const SCHOOLS: &str = "School_id,School_name,School_number,State_id,Low_grade,High_grade
s1,Springfield Elementary,0042,IL-1,Kindergarten,5
s2,Springfield Middle,0043,,6,8
";
const STUDENTS: &str = "School_id,Student_id,Student_number,Last_name,First_name,Grade,DOB,Student_email,Contact_type,Contact_name,Contact_relationship,Contact_phone,Contact_phone_type,Contact_email,Contact_sis_id
s1,st1,1001,Simpson,Bart,3,4/1/15,bart@example.org,Parent/Guardian,Marge Simpson,Parent,5552223333,Cell,marge@example.org,
s1,st1,1001,Simpson,Bart,3,4/1/15,bart@example.org,Emergency,\"Simpson, Abe\",Grandparent,5559990000,Home,,C77
s1,st2,1002,Simpson,Lisa,2,2016-05-09,,Parent/Guardian,marge  SIMPSON,Parent,,,MARGE@example.org,
s2,st3,2001,Van Houten,Milhouse,7,12/31/12,,,,,,,,
";
const TEACHERS: &str =
    "School_id,Teacher_id,Teacher_number,Last_name,First_name,Teacher_email,Title
s1,t1,T1,Krabappel,Edna,edna@example.org,Ms.
s2,t1,T1,Krabappel,Edna,edna@example.org,Ms.
s1,t2,T2,Hoover,Elizabeth,hoover@example.org,
";
const SECTIONS: &str = "School_id,Section_id,Teacher_id,Teacher_2_id,Teacher_3_id,Name,Section_number,Grade,Course_name,Course_number,Period,Subject,Term_name,Term_start,Term_end
s1,sec1,t1,t2,,Math 3A,A,3,Math 3,M3,1,math,Fall,8/20/2024,12/20/2024
s1,sec2,t2,,t1,,,2,Art,,2,arts,Fall,8/20/2024,12/20/2024
";
const ENROLLMENTS: &str = "School_id,Section_id,Student_id
s1,sec1,st1
s1,sec2,st2
s1,sec2,st1
";
const STAFF: &str = "School_id,Staff_id,Staff_email,First_name,Last_name,Title,Role
s1,x9,EDNA@example.org,Edna,Krabappel,Assistant Principal,School Admin
s2,x10,willie@example.org,Willie,MacDougal,Groundskeeper,
";

fn good() -> Vec<(&'static str, &'static str)> {
    vec![
        ("schools.csv", SCHOOLS),
        ("students.csv", STUDENTS),
        ("teachers.csv", TEACHERS),
        ("sections.csv", SECTIONS),
        ("enrollments.csv", ENROLLMENTS),
        ("staff.csv", STAFF),
    ]
}

fn with(replace: &str, body: &'static str) -> Vec<(&'static str, &'static str)> {
    good()
        .into_iter()
        .map(|(n, b)| (n, if n == replace { body } else { b }))
        .collect()
}

#[test]
fn good_feed() {
    check(
        &good(),
        expect![[r#"
            coverage {"enrollments":"bulk","schools":"bulk","sections":"bulk","users":"bulk"}
            school {"high_grade":"05","id":"s1","low_grade":"KG","name":"Springfield Elementary","school_number":"0042","sis_id":"s1","state_id":"IL-1"}
            school {"high_grade":"08","id":"s2","low_grade":"06","name":"Springfield Middle","school_number":"0043","sis_id":"s2"}
            term {"end_date":"2024-12-20","id":"Fall","name":"Fall","start_date":"2024-08-20"}
            course {"id":"Art","name":"Art"}
            course {"id":"M3","name":"Math 3","number":"M3"}
            section {"course_id":"M3","grade":"03","id":"sec1","name":"Math 3A","period":"1","school_id":"s1","section_number":"A","sis_id":"sec1","subject":"math","term_ids":["Fall"]}
            section {"course_id":"Art","grade":"02","id":"sec2","name":"Art","period":"2","school_id":"s1","sis_id":"sec2","subject":"arts","term_ids":["Fall"]}
            student {"dob":"2015-04-01","email":"bart@example.org","first_name":"Bart","grade":"03","id":"st1","last_name":"Simpson","school_ids":["s1"],"sis_id":"st1","student_number":"1001"}
            student {"dob":"2016-05-09","first_name":"Lisa","grade":"02","id":"st2","last_name":"Simpson","school_ids":["s1"],"sis_id":"st2","student_number":"1002"}
            student {"dob":"2012-12-31","first_name":"Milhouse","grade":"07","id":"st3","last_name":"Van Houten","school_ids":["s2"],"sis_id":"st3","student_number":"2001"}
            staff {"email":"edna@example.org","first_name":"Edna","id":"t1","last_name":"Krabappel","roles":["teacher","administrator"],"school_ids":["s1","s2"],"sis_id":"t1","staff_number":"T1","title":"Ms."}
            staff {"email":"hoover@example.org","first_name":"Elizabeth","id":"t2","last_name":"Hoover","roles":["teacher"],"school_ids":["s1"],"sis_id":"t2","staff_number":"T2"}
            staff {"email":"willie@example.org","first_name":"Willie","id":"x10","last_name":"MacDougal","roles":["staff"],"school_ids":["s2"],"sis_id":"x10","title":"Groundskeeper"}
            contact {"first_name":"Abe","id":"C77","last_name":"Simpson","links":[{"contact_type":"Emergency","relationship":"Grandparent","student_id":"st1"}],"phone":"+15559990000","phone_type":"Home","sis_id":"C77"}
            contact {"email":"marge@example.org","first_name":"Marge","id":"contact:1a0b5228c9888fea","last_name":"Simpson","links":[{"contact_type":"Parent/Guardian","relationship":"Parent","student_id":"st1"},{"contact_type":"Parent/Guardian","relationship":"Parent","student_id":"st2"}],"phone_type":"Cell","sms":"+15552223333"}
            enrollment {"role":"student","school_id":"s1","section_id":"sec1","user_id":"st1"}
            enrollment {"primary":true,"role":"teacher","school_id":"s1","section_id":"sec1","user_id":"t1"}
            enrollment {"role":"teacher","school_id":"s1","section_id":"sec1","user_id":"t2"}
            enrollment {"role":"student","school_id":"s1","section_id":"sec2","user_id":"st1"}
            enrollment {"role":"student","school_id":"s1","section_id":"sec2","user_id":"st2"}
            enrollment {"role":"teacher","school_id":"s1","section_id":"sec2","user_id":"t1"}
            enrollment {"primary":true,"role":"teacher","school_id":"s1","section_id":"sec2","user_id":"t2"}
        "#]],
    );
}

#[test]
fn header_and_file_name_case_is_ignored() {
    let students =
        "school_id,STUDENT_ID,last_name,first_name,Dob\ns1,st1,Simpson,Bart,2015-04-01\n";
    let mut files = with("students.csv", students);
    files.retain(|(n, _)| *n != "staff.csv");
    let files: Vec<_> = files
        .into_iter()
        .map(|(n, b)| {
            if n == "schools.csv" {
                ("Schools.CSV", b)
            } else {
                (n, b)
            }
        })
        .collect();
    check(
        &files,
        expect![[r#"
            coverage {"enrollments":"bulk","schools":"bulk","sections":"bulk","users":"bulk"}
            school {"high_grade":"05","id":"s1","low_grade":"KG","name":"Springfield Elementary","school_number":"0042","sis_id":"s1","state_id":"IL-1"}
            school {"high_grade":"08","id":"s2","low_grade":"06","name":"Springfield Middle","school_number":"0043","sis_id":"s2"}
            term {"end_date":"2024-12-20","id":"Fall","name":"Fall","start_date":"2024-08-20"}
            course {"id":"Art","name":"Art"}
            course {"id":"M3","name":"Math 3","number":"M3"}
            section {"course_id":"M3","grade":"03","id":"sec1","name":"Math 3A","period":"1","school_id":"s1","section_number":"A","sis_id":"sec1","subject":"math","term_ids":["Fall"]}
            section {"course_id":"Art","grade":"02","id":"sec2","name":"Art","period":"2","school_id":"s1","sis_id":"sec2","subject":"arts","term_ids":["Fall"]}
            student {"dob":"2015-04-01","first_name":"Bart","id":"st1","last_name":"Simpson","school_ids":["s1"],"sis_id":"st1"}
            staff {"email":"edna@example.org","first_name":"Edna","id":"t1","last_name":"Krabappel","roles":["teacher"],"school_ids":["s1","s2"],"sis_id":"t1","staff_number":"T1","title":"Ms."}
            staff {"email":"hoover@example.org","first_name":"Elizabeth","id":"t2","last_name":"Hoover","roles":["teacher"],"school_ids":["s1"],"sis_id":"t2","staff_number":"T2"}
            enrollment {"role":"student","school_id":"s1","section_id":"sec1","user_id":"st1"}
            enrollment {"primary":true,"role":"teacher","school_id":"s1","section_id":"sec1","user_id":"t1"}
            enrollment {"role":"teacher","school_id":"s1","section_id":"sec1","user_id":"t2"}
            enrollment {"role":"student","school_id":"s1","section_id":"sec2","user_id":"st1"}
            enrollment {"role":"teacher","school_id":"s1","section_id":"sec2","user_id":"t1"}
            enrollment {"primary":true,"role":"teacher","school_id":"s1","section_id":"sec2","user_id":"t2"}
            warning dangling_reference enrollments.csv:3:3 `Student_id` names no student of students.csv; the row is ignored
        "#]],
    );
}

#[test]
fn missing_files_and_columns_are_errors() {
    check(
        &[("schools.csv", SCHOOLS), ("students.csv", STUDENTS)],
        expect![[r#"
        error missing_file teachers.csv `teachers.csv` is required in a Clever CSV set
        error missing_file sections.csv `sections.csv` is required in a Clever CSV set
        error missing_file enrollments.csv `enrollments.csv` is required in a Clever CSV set
    "#]],
    );
    check(
        &with(
            "teachers.csv",
            "School_id,Teacher_id,First_name\ns1,t1,Edna\n",
        ),
        expect![[r#"
            error missing_column teachers.csv:1 required column `Last_name` is missing from the header
        "#]],
    );
}

#[test]
fn record_level_problems_are_warnings() {
    let students = "School_id,Student_id,Last_name,First_name,Grade,Dob,Student_email,Contact_name,Contact_type,Contact_phone
s1,st1,Simpson,Bart,Grade 3,13/45/2015,bart,Marge Simpson,Mom,123
s9,st2,Simpson,Lisa,,,,,,
s1,st3,,Maggie,,,,,,
";
    let sections = "School_id,Section_id,Teacher_id
s1,sec1,t404
s1,sec1,t1
";
    let enrollments = "School_id,Section_id,Student_id
s1,sec1,st1
s1,sec1,st1
s1,sec404,st1
s1,sec1,st404
";
    let files: Vec<_> = with("students.csv", students)
        .into_iter()
        .map(|(n, b)| match n {
            "sections.csv" => (n, sections),
            "enrollments.csv" => (n, enrollments),
            _ => (n, b),
        })
        .collect();
    check(
        &files,
        expect![[r#"
        coverage {"enrollments":"bulk","schools":"bulk","sections":"bulk","users":"bulk"}
        school {"high_grade":"05","id":"s1","low_grade":"KG","name":"Springfield Elementary","school_number":"0042","sis_id":"s1","state_id":"IL-1"}
        school {"high_grade":"08","id":"s2","low_grade":"06","name":"Springfield Middle","school_number":"0043","sis_id":"s2"}
        section {"id":"sec1","name":"sec1","school_id":"s1","sis_id":"sec1"}
        student {"first_name":"Bart","id":"st1","last_name":"Simpson","school_ids":["s1"],"sis_id":"st1"}
        student {"first_name":"Maggie","id":"st3","last_name":"","school_ids":["s1"],"sis_id":"st3"}
        staff {"email":"edna@example.org","first_name":"Edna","id":"t1","last_name":"Krabappel","roles":["teacher","administrator"],"school_ids":["s1","s2"],"sis_id":"t1","staff_number":"T1","title":"Ms."}
        staff {"email":"hoover@example.org","first_name":"Elizabeth","id":"t2","last_name":"Hoover","roles":["teacher"],"school_ids":["s1"],"sis_id":"t2","staff_number":"T2"}
        staff {"email":"willie@example.org","first_name":"Willie","id":"x10","last_name":"MacDougal","roles":["staff"],"school_ids":["s2"],"sis_id":"x10","title":"Groundskeeper"}
        contact {"first_name":"Marge","id":"contact:365490a91e311514","last_name":"Simpson","links":[{"student_id":"st1"}]}
        enrollment {"role":"student","school_id":"s1","section_id":"sec1","user_id":"st1"}
        warning unknown_enum_value students.csv:2:5 `Grade` is not a known grade (a CEDS code such as KG or 01); the value is ignored
        warning malformed_date students.csv:2:6 `Dob` is not a date (expected YYYY-MM-DD, M/D/YYYY or M/D/YY); the value is ignored
        warning invalid_email students.csv:2:7 `Student_email` is not an email address (expected local@domain); the value is ignored
        warning unusable_phone students.csv:2:10 `Contact_phone` is not a usable phone number (expected 10 digits, or + and 8 to 15 digits); the value is ignored
        warning unknown_enum_value students.csv:2:9 `Contact_type` is not one of Primary, Secondary, Parent/Guardian, Emergency, Family, Other; the value is ignored
        warning dangling_reference students.csv:3:1 `School_id` names no school of schools.csv; the row is ignored
        warning missing_value students.csv:4:3 `Last_name` is empty; the name is left blank
        warning dangling_reference sections.csv:2:3 `Teacher_id` names no teacher of teachers.csv; that teacher is not enrolled
        warning duplicate_id sections.csv:3:2 `Section_id` repeats an earlier row; this row is ignored (the first wins)
        warning duplicate_id enrollments.csv:3:3 `Student_id` is already enrolled in this section; the row is ignored
        warning dangling_reference enrollments.csv:4:2 `Section_id` names no section of sections.csv; the row is ignored
        warning dangling_reference enrollments.csv:5:3 `Student_id` names no student of students.csv; the row is ignored
    "#]],
    );
}

#[test]
fn empty_feed_is_an_error() {
    check(
        &with(
            "students.csv",
            "School_id,Student_id,Last_name,First_name\n",
        )
        .into_iter()
        .map(|(n, b)| match n {
            "teachers.csv" => (n, "School_id,Teacher_id,Last_name,First_name\n"),
            "staff.csv" => (n, "School_id,Staff_id,Staff_email\n"),
            _ => (n, b),
        })
        .collect::<Vec<_>>(),
        expect![[r#"
            error empty_feed students.csv the feed holds no students and no teachers: refusing a feed that would empty the roster
        "#]],
    );
}

#[test]
fn malformed_csv_is_an_error() {
    check(
        &with(
            "enrollments.csv",
            "School_id,Section_id,Student_id\ns1,sec1,\"st1\ns1,sec2,st2\n",
        ),
        expect![[r#"
            error malformed_csv enrollments.csv:2 a quoted field is not closed properly (an unterminated quote, or text after a closing quote)
        "#]],
    );
}

/// Terms are known by their name (as the Clever JSON reader's projection knows them); a second
/// term of the same name with other dates is told apart by its dates, not merged.
#[test]
fn terms_are_known_by_name_and_told_apart_by_dates() {
    const SECTIONS: &str = "School_id,Section_id,Teacher_id,Name,Term_name,Term_start,Term_end
s1,sec1,t1,Math,Fall,8/20/2024,12/20/2024
s1,sec2,t1,Art,Fall,2024-08-20,2024-12-20
s2,sec3,t1,Music,Fall,9/1/2024,12/20/2024
s2,sec4,t1,Band,,9/1/2024,12/20/2024
";
    let r = read(&mem(&with("sections.csv", SECTIONS))).unwrap();
    let terms: Vec<(&str, &str)> = r
        .terms
        .iter()
        .map(|t| (t.id.as_str(), t.name.as_str()))
        .collect();
    assert_eq!(
        terms,
        [
            ("Fall", "Fall"),
            ("Fall (2024-09-01 – 2024-12-20)", "Fall"),
            ("2024-09-01 – 2024-12-20", "2024-09-01 – 2024-12-20"),
        ]
    );
    let of: Vec<&[String]> = r.sections.iter().map(|s| s.term_ids.as_slice()).collect();
    assert_eq!(
        of,
        [
            &["Fall".to_string()][..],
            &["Fall".to_string()],
            &["Fall (2024-09-01 – 2024-12-20)".to_string()],
            &["2024-09-01 – 2024-12-20".to_string()],
        ]
    );
}

/// Clever's spec (SFTP instructions v2.1.1): staff.csv's `School_id` may be
/// `DEFAULT DISTRICT OFFICE` (Clever's auto-generated office for district staff), and a section's
/// `Grade` may be a range (`9-12`), read as its lower bound.
#[test]
fn district_office_staff_and_grade_ranges() {
    let staff = "School_id,Staff_id,Staff_email,First_name,Last_name,Title
DEFAULT DISTRICT OFFICE,x1,super@example.org,Sue,Perintendent,Superintendent
s1,x2,skinner@example.org,Seymour,Skinner,Principal
DEFAULT DISTRICT OFFICE,x2,skinner@example.org,Seymour,Skinner,Principal
";
    let sections = "School_id,Section_id,Teacher_id,Name,Grade
s1,sec1,t1,Math,9-12
s1,sec2,t2,Art,Kindergarten - 2
s1,sec3,t2,Gym,12-9x
";
    let mut files = with("staff.csv", staff);
    for f in &mut files {
        if f.0 == "sections.csv" {
            f.1 = sections;
        }
    }
    check(
        &files,
        expect![[r#"
        coverage {"enrollments":"bulk","schools":"bulk","sections":"bulk","users":"bulk"}
        school {"id":"DEFAULT DISTRICT OFFICE","name":"Default District Office"}
        school {"high_grade":"05","id":"s1","low_grade":"KG","name":"Springfield Elementary","school_number":"0042","sis_id":"s1","state_id":"IL-1"}
        school {"high_grade":"08","id":"s2","low_grade":"06","name":"Springfield Middle","school_number":"0043","sis_id":"s2"}
        section {"grade":"09","id":"sec1","name":"Math","school_id":"s1","sis_id":"sec1"}
        section {"grade":"KG","id":"sec2","name":"Art","school_id":"s1","sis_id":"sec2"}
        section {"id":"sec3","name":"Gym","school_id":"s1","sis_id":"sec3"}
        student {"dob":"2015-04-01","email":"bart@example.org","first_name":"Bart","grade":"03","id":"st1","last_name":"Simpson","school_ids":["s1"],"sis_id":"st1","student_number":"1001"}
        student {"dob":"2016-05-09","first_name":"Lisa","grade":"02","id":"st2","last_name":"Simpson","school_ids":["s1"],"sis_id":"st2","student_number":"1002"}
        student {"dob":"2012-12-31","first_name":"Milhouse","grade":"07","id":"st3","last_name":"Van Houten","school_ids":["s2"],"sis_id":"st3","student_number":"2001"}
        staff {"email":"edna@example.org","first_name":"Edna","id":"t1","last_name":"Krabappel","roles":["teacher"],"school_ids":["s1","s2"],"sis_id":"t1","staff_number":"T1","title":"Ms."}
        staff {"email":"hoover@example.org","first_name":"Elizabeth","id":"t2","last_name":"Hoover","roles":["teacher"],"school_ids":["s1"],"sis_id":"t2","staff_number":"T2"}
        staff {"email":"super@example.org","first_name":"Sue","id":"x1","last_name":"Perintendent","roles":["staff"],"school_ids":["DEFAULT DISTRICT OFFICE"],"sis_id":"x1","title":"Superintendent"}
        staff {"email":"skinner@example.org","first_name":"Seymour","id":"x2","last_name":"Skinner","roles":["administrator"],"school_ids":["s1","DEFAULT DISTRICT OFFICE"],"sis_id":"x2","title":"Principal"}
        contact {"first_name":"Abe","id":"C77","last_name":"Simpson","links":[{"contact_type":"Emergency","relationship":"Grandparent","student_id":"st1"}],"phone":"+15559990000","phone_type":"Home","sis_id":"C77"}
        contact {"email":"marge@example.org","first_name":"Marge","id":"contact:1a0b5228c9888fea","last_name":"Simpson","links":[{"contact_type":"Parent/Guardian","relationship":"Parent","student_id":"st1"},{"contact_type":"Parent/Guardian","relationship":"Parent","student_id":"st2"}],"phone_type":"Cell","sms":"+15552223333"}
        enrollment {"role":"student","school_id":"s1","section_id":"sec1","user_id":"st1"}
        enrollment {"primary":true,"role":"teacher","school_id":"s1","section_id":"sec1","user_id":"t1"}
        enrollment {"role":"student","school_id":"s1","section_id":"sec2","user_id":"st1"}
        enrollment {"role":"student","school_id":"s1","section_id":"sec2","user_id":"st2"}
        enrollment {"primary":true,"role":"teacher","school_id":"s1","section_id":"sec2","user_id":"t2"}
        enrollment {"primary":true,"role":"teacher","school_id":"s1","section_id":"sec3","user_id":"t2"}
        warning unknown_enum_value sections.csv:4:5 `Grade` is not a known grade (a CEDS code such as KG or 01); the value is ignored
    "#]],
    );
}

/// admins.csv, the file Clever deprecated for staff.csv, is still read (older exports send it):
/// `Admin_email` and `Admin_title`, merged with a teacher of the same email like staff.csv.
#[test]
fn deprecated_admins_file_is_read_as_staff() {
    let mut files = good();
    files.retain(|(n, _)| *n != "staff.csv");
    files.push((
        "admins.csv",
        "School_id,Staff_id,Admin_email,First_name,Last_name,Admin_title
s2,a1,chalmers@example.org,Gary,Chalmers,Superintendent
s1,a2,EDNA@example.org,Edna,Krabappel,Assistant Principal
",
    ));
    let roster = read(&mem(&files)).unwrap();
    let staff: Vec<String> = roster
        .staff
        .iter()
        .map(|s| format!("{} {:?} {:?} {:?}", s.id, s.school_ids, s.roles, s.title))
        .collect();
    expect![[r#"
        [
            "t1 [\"s1\", \"s2\"] [Teacher, Administrator] Some(\"Ms.\")",
            "t2 [\"s1\"] [Teacher] None",
            "a1 [\"s2\"] [Staff] Some(\"Superintendent\")",
        ]
    "#]]
    .assert_debug_eq(&staff);
    assert!(roster.warnings.is_empty(), "{:?}", roster.warnings);
}
