//! Feeds written by hand in the shapes SIS exports take (`tests/fixtures/independent/`), not by
//! our generator, so the readers are held to the formats as specified rather than to what our
//! own writers produce:
//!
//! - `oneroster-sis-export`: OneRoster 1.1 CSV as SIS exporters write it: every field and header
//!   quoted, CRLF, `status` and `dateLastModified` blank (bulk), a full manifest with `absent`
//!   files and `source.*` rows, a district and a department among the orgs, a class in two
//!   terms, `userIds` of several types, a teacher in two schools, `parent`, `guardian` and
//!   `relative` users, an aide enrollment, demographics, a district administrator listed under
//!   the district only (synced in the district office).
//! - `clever-sis-export`: Clever SFTP CSV as a district's export script writes it: `Students.csv`
//!   capitalised, its header in the script's own case (`Student_Street`, `IEP_status`) and order
//!   with an extra `Active` column, every value quoted, CRLF and no final newline, ISO birth
//!   dates; terms in `MM/DD/YYYY` and `M/D/YY`; a co-teacher; siblings in two schools sharing a
//!   contact; a contact with only a home phone.
//!
//! Each is synced, checked field by field, and synced again without a write.

use domain::EntityKind;
use domain::directory::{MemberRole, Person, Record};
use domain::report::{Report, RunStatus};
use integration::TestEnv;
use std::collections::BTreeSet;
use std::path::PathBuf;
use synth::Format;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/independent")
        .join(name)
}

fn person<'a>(dump: &'a [Record], source_id: &str) -> &'a Person {
    dump.iter()
        .find_map(|r| match r {
            Record::Person(p) if p.external_ids.contains(source_id) => Some(&**p),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no person with source id {source_id}"))
}

/// Directory school id of the school with source id `source_id`.
fn school(dump: &[Record], source_id: &str) -> String {
    dump.iter()
        .find_map(|r| match r {
            Record::School(s) if s.external_ids.contains(source_id) => Some(s.id.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no school with source id {source_id}"))
}

fn schools_of(p: &Person) -> BTreeSet<String> {
    p.school_ids.iter().cloned().collect()
}

fn children_of(dump: &[Record], guardian: &Person) -> BTreeSet<String> {
    dump.iter()
        .filter_map(|r| match r {
            Record::GuardianLink(g) if g.guardian_id == guardian.id => Some(g.student_id.clone()),
            _ => None,
        })
        .collect()
}

/// (entity, created, skipped) for every entity, in report order.
fn created(r: &Report) -> Vec<(&'static str, u64, u64)> {
    EntityKind::ALL
        .iter()
        .map(|e| {
            let c = r.totals.get(*e);
            (e.as_str(), c.created, c.skipped)
        })
        .collect()
}

async fn resync_writes_nothing(t: &TestEnv) {
    let before = t.writes();
    let again = t.sync().await;
    assert!(
        matches!(
            again.status,
            RunStatus::Succeeded | RunStatus::CompletedWithWarnings
        ),
        "second sync: {:?}",
        again.status
    );
    assert_eq!(t.writes(), before, "the second sync wrote to the directory");
    for e in EntityKind::ALL {
        let c = again.totals.get(e);
        assert_eq!(
            (c.created, c.updated, c.archived, c.unarchived),
            (0, 0, 0, 0),
            "second sync changed {}",
            e.as_str()
        );
    }
}

#[tokio::test]
async fn a_sis_export_of_oneroster_csv_syncs_as_the_spec_reads_it() {
    let t = TestEnv::new();
    t.connect_files(Format::OneRosterCsv, &fixture("oneroster-sis-export"))
        .await;
    let r = t.sync().await;
    assert_eq!(r.status, RunStatus::Succeeded, "{:?}", r.warnings);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(
        created(&r),
        [
            ("schools", 3, 0),
            ("classrooms", 3, 0),
            ("students", 3, 0),
            ("staff", 4, 0),
            ("guardians", 3, 0),
            ("enrollments", 7, 0),
            ("guardian_links", 4, 0),
        ]
    );
    let d = t.dump().await;
    let (lincoln, roosevelt) = (school(&d, "S100"), school(&d, "S200"));

    // userIds {SIS:…} and {StateID:…}, the identifier, demographics' birth date, leading zeros.
    let amelia = person(&d, "U-S1");
    assert_eq!(amelia.sis_id.as_deref(), Some("0012345"));
    assert_eq!(amelia.student_number.as_deref(), Some("0012345"));
    assert_eq!(amelia.state_id.as_deref(), Some("9876543210"));
    assert_eq!(
        amelia.dob.map(|d| d.to_string()).as_deref(),
        Some("2019-03-04")
    );
    assert_eq!(
        serde_json::to_value(amelia.grade).unwrap(),
        serde_json::json!("01")
    );
    assert_eq!(schools_of(amelia), BTreeSet::from([lincoln.clone()]));
    // No {SIS:…}: no SIS id is made up from the sourcedId.
    assert_eq!(person(&d, "U-S3").sis_id, None);

    // orgSourcedIds "S200,S100": a teacher in two schools; an administrator is staff.
    assert_eq!(
        schools_of(person(&d, "U-T2")),
        BTreeSet::from([lincoln.clone(), roosevelt.clone()])
    );
    assert_eq!(
        person(&d, "U-A1").staff_roles,
        [domain::StaffRole::Administrator]
    );
    // orgSourcedIds "D1" only: a district administrator, in the district office (the district
    // as a school).
    let office = school(&d, "D1");
    assert_eq!(
        person(&d, "U-A2").staff_roles,
        [domain::StaffRole::DistrictAdmin]
    );
    assert_eq!(schools_of(person(&d, "U-A2")), BTreeSet::from([office]));

    // A parent of children in both schools: one guardian, a member of both, linked to both.
    let linh = person(&d, "U-P1");
    assert_eq!(
        schools_of(linh),
        BTreeSet::from([lincoln.clone(), roosevelt.clone()])
    );
    assert_eq!(
        children_of(&d, linh),
        BTreeSet::from([amelia.id.clone(), person(&d, "U-S2").id.clone()])
    );
    assert_eq!(linh.sms.as_ref().map(|p| p.as_str()), Some("+15550103000"));
    // A guardian with only an SMS number is synced; a relative is a guardian too.
    assert_eq!(
        person(&d, "U-P2").sms.as_ref().map(|p| p.as_str()),
        Some("+15550104000")
    );
    assert_eq!(
        children_of(&d, person(&d, "U-R1")),
        BTreeSet::from([person(&d, "U-S2").id.clone()])
    );

    // The department is not a school; the class in two terms is one classroom.
    assert!(
        !d.iter()
            .any(|r| matches!(r, Record::School(s) if s.external_ids.contains("DEPT9")))
    );
    let science = d
        .iter()
        .find_map(|r| match r {
            Record::Classroom(c) if c.section_ids.contains("CL2") => Some(c.clone()),
            _ => None,
        })
        .expect("classroom of CL2");
    assert_eq!(science.school_id, roosevelt);
    let teacher = person(&d, "U-T2");
    assert!(d.iter().any(|r| matches!(r,
        Record::Enrollment(e) if e.classroom_id == science.id
            && e.person_id == teacher.id
            && e.role == MemberRole::Teacher
            && e.primary)));

    resync_writes_nothing(&t).await;
}

#[tokio::test]
async fn a_sis_export_script_for_clever_sftp_syncs_as_clever_reads_it() {
    let t = TestEnv::new();
    t.connect_files(Format::CleverCsv, &fixture("clever-sis-export"))
        .await;
    let r = t.sync().await;
    assert_eq!(r.status, RunStatus::CompletedWithWarnings);
    let warnings: Vec<(String, String)> = r
        .warnings
        .iter()
        .map(|w| (w.code.as_str().to_string(), w.location.clone()))
        .collect();
    // Tom O'Brien has a home phone only: skipped, named by the student whose row carries him.
    assert_eq!(
        warnings,
        [(
            "guardian_without_credential".to_string(),
            "students/001003/contacts".to_string()
        )]
    );
    assert!(r.warnings[0].message.contains("001003"));
    assert_eq!(
        created(&r),
        [
            ("schools", 2, 0),
            ("classrooms", 3, 0),
            ("students", 3, 0),
            ("staff", 2, 0),
            ("guardians", 1, 1),
            ("enrollments", 7, 0),
            ("guardian_links", 2, 0),
        ]
    );
    let d = t.dump().await;
    let (maple, oak) = (school(&d, "0101"), school(&d, "0201"));

    let leo = person(&d, "001002");
    assert_eq!(leo.sis_id.as_deref(), Some("001002"));
    assert_eq!(leo.student_number.as_deref(), Some("1002"));
    assert_eq!(leo.state_id.as_deref(), Some("1000001002"));
    assert_eq!(leo.middle_name.as_deref(), Some("James"));
    assert_eq!(
        leo.dob.map(|d| d.to_string()).as_deref(),
        Some("2013-09-30")
    );
    assert_eq!(
        leo.email.as_ref().map(|e| e.as_str()),
        Some("1002@d7.example.org")
    );
    assert_eq!(schools_of(leo), BTreeSet::from([oak.clone()]));

    // Rosa is on two students' rows (Ava at Maple, Leo at Oak): one guardian of both schools.
    let guardians: Vec<&Person> = d
        .iter()
        .filter_map(|r| match r {
            Record::Person(p) if p.kind == domain::directory::PersonKind::Guardian => Some(&**p),
            _ => None,
        })
        .collect();
    assert_eq!(guardians.len(), 1);
    let rosa = guardians[0];
    assert_eq!(
        rosa.email.as_ref().map(|e| e.as_str()),
        Some("rosa.m@mail.example.com")
    );
    assert_eq!(schools_of(rosa), BTreeSet::from([maple, oak]));
    assert_eq!(
        children_of(&d, rosa),
        BTreeSet::from([person(&d, "001001").id.clone(), leo.id.clone()])
    );

    // Teacher_2_id: Helen Kim co-teaches Science 7 at Oak, not as its primary teacher.
    let science7 = d
        .iter()
        .find_map(|r| match r {
            Record::Classroom(c) if c.section_ids.contains("S-2") => Some(c.id.clone()),
            _ => None,
        })
        .expect("classroom of S-2");
    let helen = person(&d, "T9001");
    assert!(d.iter().any(|r| matches!(r,
        Record::Enrollment(e) if e.classroom_id == science7
            && e.person_id == helen.id
            && e.role == MemberRole::Teacher
            && !e.primary)));

    resync_writes_nothing(&t).await;
}
