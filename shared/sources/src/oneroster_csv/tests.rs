//! Tests of the OneRoster CSV reader: a good bulk feed, a delta, the cut-down profile, and bad
//! inputs, each as a snapshot.

use super::read;
use crate::files::FileSet;
use crate::files::testutil::{mem, render, zip};
use expect_test::{Expect, expect};

fn check(files: &[(&str, &str)], expected: Expect) {
    expected.assert_eq(&render(read(&mem(files))));
}

const MANIFEST: &str = "propertyName,value
manifest.version,1.0
oneroster.version,1.1
file.orgs,bulk
file.users,bulk
file.classes,bulk
file.enrollments,bulk
file.academicSessions,bulk
file.courses,bulk
file.demographics,bulk
";
const ORGS: &str = "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId
d1,,,Springfield District,district,,
s1,,,Springfield Elementary,school,0042,d1
";
const SESSIONS: &str = "sourcedId,title,type,startDate,endDate,schoolYear
t1,Fall 2024,term,2024-08-20,2024-12-20,2025
";
const COURSES: &str = "sourcedId,title,courseCode,orgSourcedId
c1,Math 3,M3,s1
";
const USERS: &str = "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password
u1,,,true,s1,student,bart,\"{SIS:0123},{stateID:IL-9}\",Bart,Simpson,J,1001,bart@example.org,,,p1,03,
u2,,,false,s1,teacher,edna,,Edna,Krabappel,,T7,edna@example.org,555-123-4567,,,,
p1,,,true,s1,parent,marge,,Marge,Simpson,,,marge@example.org,(555) 222-3333,555-444-5555,,,
g1,,,true,s1,guardian,abe,,Abe,Simpson,,,,,,u1,,
a1,,,true,d1,administrator,super,,Gary,Chalmers,,,gary@example.org,,,,,
";
const DEMOGRAPHICS: &str = "sourcedId,birthDate,sex
u1,2015-04-01,male
";
const CLASSES: &str = "sourcedId,title,grades,courseSourcedId,classCode,classType,location,schoolSourcedId,termSourcedIds,subjects,periods
k1,Math 3A,\"03,04\",c1,M3A,scheduled,Room 1,s1,t1,Math,\"1,2\"
k2,Homeroom,03,c1,,homeroom,,s1,t1,,
";
const ENROLLMENTS: &str =
    "sourcedId,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate
e1,k1,s1,u1,student,false,2024-08-20,
e2,k1,s1,u2,teacher,true,,
e3,k2,s1,u1,student,,,
";

fn full() -> Vec<(&'static str, &'static str)> {
    vec![
        ("manifest.csv", MANIFEST),
        ("orgs.csv", ORGS),
        ("academicSessions.csv", SESSIONS),
        ("courses.csv", COURSES),
        ("users.csv", USERS),
        ("demographics.csv", DEMOGRAPHICS),
        ("classes.csv", CLASSES),
        ("enrollments.csv", ENROLLMENTS),
    ]
}

fn with(replace: &str, body: &'static str) -> Vec<(&'static str, &'static str)> {
    full()
        .into_iter()
        .map(|(n, b)| (n, if n == replace { body } else { b }))
        .collect()
}

#[test]
fn good_bulk_feed() {
    check(
        &full(),
        expect![[r#"
            coverage {"enrollments":"bulk","schools":"bulk","sections":"bulk","users":"bulk"}
            district {"id":"d1","name":"Springfield District"}
            school {"id":"d1","name":"Springfield District (district office)"}
            school {"id":"s1","name":"Springfield Elementary","school_number":"0042"}
            term {"end_date":"2024-12-20","id":"t1","name":"Fall 2024","start_date":"2024-08-20"}
            course {"id":"c1","name":"Math 3","number":"M3"}
            section {"class_type":"scheduled","course_id":"c1","grade":"03","id":"k1","name":"Math 3A","period":"1,2","school_id":"s1","section_number":"M3A","subject":"Math","term_ids":["t1"]}
            section {"class_type":"homeroom","course_id":"c1","grade":"03","id":"k2","name":"Homeroom","school_id":"s1","term_ids":["t1"]}
            student {"dob":"2015-04-01","email":"bart@example.org","first_name":"Bart","grade":"03","id":"u1","last_name":"Simpson","middle_name":"J","school_ids":["s1"],"sis_id":"0123","state_id":"IL-9","student_number":"1001","username":"bart"}
            staff {"email":"gary@example.org","first_name":"Gary","id":"a1","last_name":"Chalmers","roles":["district_admin"],"school_ids":["d1"]}
            staff {"email":"edna@example.org","first_name":"Edna","id":"u2","last_name":"Krabappel","roles":["teacher"],"school_ids":["s1"],"sms":"+15551234567","staff_number":"T7"}
            contact {"first_name":"Abe","id":"g1","last_name":"Simpson","links":[{"relationship":"Guardian","student_id":"u1"}]}
            contact {"email":"marge@example.org","first_name":"Marge","id":"p1","last_name":"Simpson","links":[{"relationship":"Parent","student_id":"u1"}],"phone":"+15554445555","sms":"+15552223333"}
            enrollment {"begin_date":"2024-08-20","role":"student","school_id":"s1","section_id":"k1","user_id":"u1"}
            enrollment {"primary":true,"role":"teacher","school_id":"s1","section_id":"k1","user_id":"u2"}
            enrollment {"role":"student","school_id":"s1","section_id":"k2","user_id":"u1"}
        "#]],
    );
}

#[test]
fn delta_feed_with_deletions() {
    check(
        &[
            (
                "manifest.csv",
                "propertyName,value\nfile.users,delta\nfile.enrollments,delta\nfile.orgs,absent\n",
            ),
            (
                "users.csv",
                "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,givenName,familyName,agentSourcedIds\n\
                 u1,tobedeleted,2024-09-01,true,s1,student,bart,Bart,Simpson,\n\
                 u2,active,2024-09-01,true,s1,teacher,edna,Edna,Krabappel,\n\
                 p9,tobedeleted,2024-09-01,true,s1,guardian,x,X,Y,\n\
                 u3,active,2024-09-01,true,s9,student,lisa,Lisa,Simpson,p77\n",
            ),
            (
                "enrollments.csv",
                "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role\n\
                 e1,tobedeleted,2024-09-01,k1,s1,u1,student\n\
                 e2,active,2024-09-01,k1,s1,u3,student\n",
            ),
            ("orgs.csv", "ignored because the manifest says absent"),
        ],
        expect![[r#"
            coverage {"enrollments":"delta","schools":"absent","sections":"absent","users":"delta"}
            student {"first_name":"Lisa","id":"u3","last_name":"Simpson","school_ids":["s9"],"username":"lisa"}
            staff {"first_name":"Edna","id":"u2","last_name":"Krabappel","roles":["teacher"],"school_ids":["s1"]}
            enrollment {"role":"student","school_id":"s1","section_id":"k1","user_id":"u3"}
            deletion {"entity":"students","id":"u1"}
            deletion {"entity":"guardians","id":"p9"}
            deletion {"entity":"enrollments","id":"k1/u1"}
        "#]],
    );
}

#[test]
fn cut_down_profile_without_manifest_or_orgs() {
    check(
        &[
            (
                "users.csv",
                "sourceId,orgSourcedIds,role,givenName,familyName,email,sms,phone,agentSourcedIds,grades\n\
                 007,\"A,B\",student,Ann,Lee,,,,P1,KG\n\
                 P1,A,guardian,Pat,Lee,pat@example.org,5551112222,,,\n\
                 T1,A,aide,Tom,Ray,tom@example.org,,,,\n",
            ),
            (
                "classes.csv",
                "sourcedId,title,grades,location,schoolSourcedId,periods\nC1,Kinder,KG,,A,\"1,2\"\nC2,Art,KG,,C,\n",
            ),
            (
                "enrollments.csv",
                "classSourcedId,schoolSourcedID,userSourcedId,role\nC1,A,007,student\nC1,A,T1,teacher\nC1,A,X,student\n",
            ),
        ],
        expect![[r#"
            coverage {"enrollments":"bulk","schools":"absent","sections":"bulk","users":"bulk"}
            school {"id":"A","name":"A"}
            school {"id":"B","name":"B"}
            school {"id":"C","name":"C"}
            section {"grade":"KG","id":"C1","name":"Kinder","period":"1,2","school_id":"A"}
            section {"grade":"KG","id":"C2","name":"Art","school_id":"C"}
            student {"first_name":"Ann","grade":"KG","id":"007","last_name":"Lee","school_ids":["A","B"]}
            staff {"email":"tom@example.org","first_name":"Tom","id":"T1","last_name":"Ray","roles":["aide"],"school_ids":["A"]}
            contact {"email":"pat@example.org","first_name":"Pat","id":"P1","last_name":"Lee","links":[{"relationship":"Guardian","student_id":"007"}],"sms":"+15551112222"}
            enrollment {"role":"student","school_id":"A","section_id":"C1","user_id":"007"}
            enrollment {"role":"teacher","school_id":"A","section_id":"C1","user_id":"T1"}
            warning dangling_reference enrollments.csv:4:3 `userSourcedId` names no user of users.csv; the row is ignored
        "#]],
    );
}

#[test]
fn record_level_problems_are_warnings() {
    let users = "sourcedId,enabledUser,orgSourcedIds,role,username,givenName,familyName,email,sms,grades,agentSourcedIds
u1,true,s1,student,a,Ann,Lee,not-an-email,12345,14,zz
u1,true,s1,student,b,Bob,Lee,,,,
u2,maybe,\"s1,s404\",wizard,c,Cy,Lee,,,,
u3,true,s1,teacher,d,Di,Lee,,,,
";
    let classes = "sourcedId,title,courseSourcedId,classType,schoolSourcedId,termSourcedIds
k1,Math,c1,lecture,s1,t404
k2,Art,c404,scheduled,s404,t1
";
    let enrollments =
        "sourcedId,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate
e1,k1,s1,u1,student,perhaps,2024-02-30
e1,k1,s1,u3,teacher,true,
e2,k9,s1,u1,student,,
e3,k1,s1,u1,student,,
e4,k1,s1,u1,guardian,,
";
    let mut files = with("users.csv", users);
    files.retain(|(n, _)| *n != "demographics.csv");
    files.push((
        "demographics.csv",
        "sourcedId,birthDate\nu1,yesterday\nu9,2015-01-01\n",
    ));
    let files: Vec<_> = files
        .into_iter()
        .map(|(n, b)| match n {
            "classes.csv" => (n, classes),
            "enrollments.csv" => (n, enrollments),
            _ => (n, b),
        })
        .collect();
    check(
        &files,
        expect![[r#"
            coverage {"enrollments":"bulk","schools":"bulk","sections":"bulk","users":"bulk"}
            district {"id":"d1","name":"Springfield District"}
            school {"id":"s1","name":"Springfield Elementary","school_number":"0042"}
            term {"end_date":"2024-12-20","id":"t1","name":"Fall 2024","start_date":"2024-08-20"}
            course {"id":"c1","name":"Math 3","number":"M3"}
            section {"course_id":"c1","id":"k1","name":"Math","school_id":"s1"}
            student {"first_name":"Ann","id":"u1","last_name":"Lee","school_ids":["s1"],"username":"a"}
            staff {"first_name":"Di","id":"u3","last_name":"Lee","roles":["teacher"],"school_ids":["s1"]}
            enrollment {"role":"student","school_id":"s1","section_id":"k1","user_id":"u1"}
            warning invalid_email users.csv:2:8 `email` is not an email address (expected local@domain); the value is ignored
            warning unknown_enum_value users.csv:2:10 `grades` is not a known grade (a CEDS code such as KG or 01); the value is ignored
            warning duplicate_id users.csv:3:1 `sourcedId` repeats an earlier row; this row is ignored (the first wins)
            warning unknown_enum_value users.csv:4:4 `role` is not one of student, teacher, aide, proctor, administrator, parent, guardian, relative; the row is ignored
            warning dangling_reference users.csv:2:11 `agentSourcedIds` names no user of users.csv; that link is ignored
            warning malformed_date demographics.csv:2:2 `birthDate` is not a date (expected YYYY-MM-DD, M/D/YYYY or M/D/YY); the value is ignored
            warning dangling_reference demographics.csv:3:1 `sourcedId` names no user of users.csv; the row is ignored
            warning dangling_reference classes.csv:2:6 `termSourcedIds` names no academic session of academicSessions.csv; that term is ignored
            warning unknown_enum_value classes.csv:2:4 `classType` is not one of homeroom, scheduled; the value is ignored
            warning dangling_reference classes.csv:3:5 `schoolSourcedId` names no school of orgs.csv; the class is ignored
            warning unknown_enum_value enrollments.csv:2:6 `primary` is not one of true, false; it is read as false
            warning malformed_date enrollments.csv:2:7 `beginDate` is not a date (expected YYYY-MM-DD, M/D/YYYY or M/D/YY); the value is ignored
            warning duplicate_id enrollments.csv:3:1 `sourcedId` repeats an earlier row; this row is ignored (the first wins)
            warning dangling_reference enrollments.csv:4:2 `classSourcedId` names no class of classes.csv; the row is ignored
            warning duplicate_id enrollments.csv:5:4 `userSourcedId` is already enrolled in this class with this role; the row is ignored
            warning unknown_enum_value enrollments.csv:6:5 `role` is not one of student, teacher, aide, administrator, proctor; the row is ignored
        "#]],
    );
}

#[test]
fn missing_manifest() {
    check(
        &[("users.csv", USERS), ("orgs.csv", ORGS)],
        expect![[r#"
            error missing_manifest manifest.csv `manifest.csv` is required (only a set of users.csv, classes.csv and enrollments.csv without orgs.csv may omit it)
        "#]],
    );
}

#[test]
fn missing_columns_and_wrong_header_case_are_errors() {
    check(
        &with(
            "users.csv",
            "SourcedId,enabledUser,orgSourcedIds,role,givenName,familyName,Email\nu1,true,s1,student,A,B,a@b.org\n",
        ),
        expect![[r#"
            error missing_column users.csv:1 required column `sourcedId` is missing (found `SourcedId`; header names are case-sensitive)
            error missing_column users.csv:1 required column `username` is missing from the header
        "#]],
    );
}

#[test]
fn bom_and_crlf_are_accepted() {
    check(
        &[(
            "users.csv",
            "\u{feff}sourceId,role,givenName,familyName\r\nu1,student,Ann,Lee\r\nu2,teacher,Tom,Ray\r\n",
        )],
        expect![[r#"
            coverage {"enrollments":"absent","schools":"absent","sections":"absent","users":"bulk"}
            student {"first_name":"Ann","id":"u1","last_name":"Lee"}
            staff {"first_name":"Tom","id":"u2","last_name":"Ray","roles":["teacher"]}
        "#]],
    );
}

#[test]
fn unterminated_quote_and_ragged_rows_are_errors() {
    check(
        &with(
            "classes.csv",
            "sourcedId,title,courseSourcedId,classType,schoolSourcedId,termSourcedIds\nk1,\"Math,c1,scheduled,s1,t1\nk2,Art,c1,scheduled,s1,t1\n",
        ),
        expect![[r#"
            error malformed_csv classes.csv:2 a quoted field is not closed properly (an unterminated quote, or text after a closing quote)
        "#]],
    );
    check(
        &with(
            "classes.csv",
            "sourcedId,title,courseSourcedId,classType,schoolSourcedId,termSourcedIds\nk1,Math,c1,scheduled,s1,t1\nk2,Art,c1,scheduled,s1\n",
        ),
        expect![[r#"
            error malformed_csv classes.csv:3 the row has 5 fields but the header has 6
        "#]],
    );
}

#[test]
fn invalid_utf8_is_an_error() {
    let mut users = USERS.as_bytes().to_vec();
    let at = users.iter().position(|&b| b == b'B').unwrap();
    users[at] = 0xff;
    let files = FileSet::from_memory(vec![
        ("manifest.csv".into(), MANIFEST.as_bytes().to_vec()),
        ("users.csv".into(), users),
    ]);
    expect![[r#"
        error missing_file orgs.csv the manifest lists `orgs.csv` as bulk or delta but the file is missing
        error missing_file academicSessions.csv the manifest lists `academicSessions.csv` as bulk or delta but the file is missing
        error missing_file courses.csv the manifest lists `courses.csv` as bulk or delta but the file is missing
        error missing_file demographics.csv the manifest lists `demographics.csv` as bulk or delta but the file is missing
        error missing_file classes.csv the manifest lists `classes.csv` as bulk or delta but the file is missing
        error missing_file enrollments.csv the manifest lists `enrollments.csv` as bulk or delta but the file is missing
    "#]]
    .assert_eq(&render(read(&files)));
    let files = FileSet::from_memory(vec![
        (
            "manifest.csv".into(),
            b"propertyName,value\nfile.users,bulk\n".to_vec(),
        ),
        ("users.csv".into(), users_with_bad_byte()),
    ]);
    expect![[r#"
        error invalid_utf8 users.csv:3:9 the field is not valid UTF-8 (save the file as UTF-8)
    "#]]
    .assert_eq(&render(read(&files)));
}

fn users_with_bad_byte() -> Vec<u8> {
    let mut users = USERS.as_bytes().to_vec();
    let line3 = users.iter().position(|&b| b == b'E').unwrap();
    users[line3] = 0xc3;
    users
}

#[test]
fn empty_feed_is_an_error() {
    check(
        &with(
            "users.csv",
            "sourcedId,enabledUser,orgSourcedIds,role,username,givenName,familyName\n",
        ),
        expect![[r#"
            error empty_feed users.csv `users.csv` holds no users: refusing a feed that would empty the roster
        "#]],
    );
    check(
        &[
            ("manifest.csv", "propertyName,value\nfile.users,bulk\n"),
            ("users.csv", ""),
        ],
        expect![[r#"
            error empty_feed users.csv `users.csv` holds no users: refusing a feed that would empty the roster
        "#]],
    );
    // A manifest-only package means "no updates", not an empty district.
    check(
        &[("manifest.csv", "propertyName,value\nfile.users,absent\n")],
        expect![[r#"
            coverage {"enrollments":"absent","schools":"absent","sections":"absent","users":"absent"}
        "#]],
    );
}

#[test]
fn oversized_fields_are_dropped() {
    let long = "x".repeat(70_000);
    let users = format!(
        "sourceId,role,givenName,familyName,email\nu1,student,Ann,Lee,{long}@example.org\n"
    );
    let files = FileSet::from_memory(vec![("users.csv".into(), users.into_bytes())]);
    expect![[r#"
        coverage {"enrollments":"absent","schools":"absent","sections":"absent","users":"bulk"}
        student {"first_name":"Ann","id":"u1","last_name":"Lee"}
        warning field_too_long users.csv:2:5 the value is longer than 65536 bytes; it is ignored
    "#]]
    .assert_eq(&render(read(&files)));
}

#[test]
fn zipped_feed_in_a_folder() {
    let bytes = zip(&[
        (
            "export/users.csv",
            b"sourceId,role,givenName,familyName\nu1,student,Ann,Lee\n",
        ),
        ("export/classes.csv", b"sourcedId,title,grades\n"),
    ]);
    let files =
        FileSet::from_zip_bytes("drop.zip", bytes, crate::files::Limits::default()).unwrap();
    expect![[r#"
        coverage {"enrollments":"absent","schools":"absent","sections":"bulk","users":"bulk"}
        student {"first_name":"Ann","id":"u1","last_name":"Lee"}
    "#]]
    .assert_eq(&render(read(&files)));
}

/// Exports write booleans as `TRUE`, `yes` or `1` as often as `true`: they are read as what they
/// say, with no warning; only a word that is no boolean is warned about.
#[test]
fn boolean_words_of_district_exports_are_read() {
    let users = "sourcedId,enabledUser,orgSourcedIds,role,username,givenName,familyName
u1,Yes,s1,student,a,Ann,Lee
u2,1,s1,teacher,b,Bo,Lee
u3,N,s1,teacher,c,Cy,Lee
";
    let enrollments = "sourcedId,classSourcedId,schoolSourcedId,userSourcedId,role,primary
e1,k1,s1,u2,teacher,YES
e2,k2,s1,u3,teacher,0
e3,k1,s1,u1,student,no
";
    let mut files = with("users.csv", users);
    files.retain(|(n, _)| *n != "enrollments.csv");
    files.push(("enrollments.csv", enrollments));
    check(
        &files,
        expect![[r#"
        coverage {"enrollments":"bulk","schools":"bulk","sections":"bulk","users":"bulk"}
        district {"id":"d1","name":"Springfield District"}
        school {"id":"s1","name":"Springfield Elementary","school_number":"0042"}
        term {"end_date":"2024-12-20","id":"t1","name":"Fall 2024","start_date":"2024-08-20"}
        course {"id":"c1","name":"Math 3","number":"M3"}
        section {"class_type":"scheduled","course_id":"c1","grade":"03","id":"k1","name":"Math 3A","period":"1,2","school_id":"s1","section_number":"M3A","subject":"Math","term_ids":["t1"]}
        section {"class_type":"homeroom","course_id":"c1","grade":"03","id":"k2","name":"Homeroom","school_id":"s1","term_ids":["t1"]}
        student {"dob":"2015-04-01","first_name":"Ann","id":"u1","last_name":"Lee","school_ids":["s1"],"username":"a"}
        staff {"first_name":"Bo","id":"u2","last_name":"Lee","roles":["teacher"],"school_ids":["s1"]}
        staff {"first_name":"Cy","id":"u3","last_name":"Lee","roles":["teacher"],"school_ids":["s1"]}
        enrollment {"role":"student","school_id":"s1","section_id":"k1","user_id":"u1"}
        enrollment {"primary":true,"role":"teacher","school_id":"s1","section_id":"k1","user_id":"u2"}
        enrollment {"role":"teacher","school_id":"s1","section_id":"k2","user_id":"u3"}
    "#]],
    );
}

/// A stray trailing comma adds an empty field after the last column: nothing is lost, so the
/// row is read. An extra field holding a value is still a malformed row (a column may have
/// shifted).
#[test]
fn trailing_empty_fields_are_read_and_extra_values_are_errors() {
    let classes = "sourcedId,title,courseSourcedId,classType,schoolSourcedId,termSourcedIds
k1,Math 3A,c1,scheduled,s1,t1,
k2,Homeroom,c1,homeroom,s1,t1, ,,
";
    let files: Vec<_> = with("classes.csv", classes)
        .into_iter()
        .filter(|(n, _)| *n != "enrollments.csv")
        .chain([(
            "enrollments.csv",
            "sourcedId,classSourcedId,schoolSourcedId,userSourcedId,role\n",
        )])
        .collect();
    let roster = read(&mem(&files)).unwrap();
    let ids: Vec<&str> = roster.sections.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["k1", "k2"]);
    assert!(
        roster
            .warnings
            .iter()
            .all(|w| w.location.source != "classes.csv")
    );
    check(
        &with(
            "classes.csv",
            "sourcedId,title,courseSourcedId,classType,schoolSourcedId,termSourcedIds\nk1,Math,c1,scheduled,s1,t1,x\n",
        ),
        expect![[r#"
            error malformed_csv classes.csv:2 the row has 7 fields but the header has 6
        "#]],
    );
}
