//! Duplicate detection examples: each rule's reason and confidence, suppression, paging.

use crate::common::*;
use cleanup::{FindOptions, Reason, SortBy, find_duplicates, mark_not_duplicate};
use domain::directory::{ArchiveReason, PersonKind, Record};
use store::memory::MemoryDirectory;

async fn pairs(dir: &MemoryDirectory, kind: PersonKind) -> Vec<(String, String, f64, Vec<Reason>)> {
    let opts = FindOptions {
        min_confidence: 0.0,
        limit: 1000,
        ..FindOptions::default()
    };
    find_duplicates(dir, D, kind, &opts)
        .await
        .expect("find")
        .items
        .into_iter()
        .map(|c| (c.a, c.b, c.confidence, c.reasons))
        .collect()
}

fn p(a: &str, b: &str, c: f64, r: &[Reason]) -> (String, String, f64, Vec<Reason>) {
    (a.into(), b.into(), c, r.to_vec())
}

#[tokio::test]
async fn student_rules() {
    let mut num_a = student("n1", "Ann", "Smith");
    num_a.student_number = Some("00123".into());
    let mut num_b = student("n2", "Annie", "Smyth");
    num_b.student_number = Some("00123".into());
    let mut state_b = student("n3", "X", "Y");
    state_b.state_id = Some("ST9".into());
    let mut state_c = student("n4", "Z", "W");
    state_c.state_id = Some("ST9".into());
    let dir = seeded(vec![
        Record::Person(Box::new(num_a)),
        Record::Person(Box::new(num_b)),
        Record::Person(Box::new(state_b)),
        Record::Person(Box::new(state_c)),
        // Same folded name and dob.
        Record::Person(Box::new(dob(
            student("a1", "José-María", "O'Neil"),
            2015,
            3,
            4,
        ))),
        Record::Person(Box::new(dob(
            student("a2", "jose maria", "ONEIL"),
            2015,
            3,
            4,
        ))),
        // Same name, grade, school and guardian.
        Record::Person(Box::new(grade(
            in_schools(student("b1", "Kim", "Lee"), &["sch1"]),
            3,
        ))),
        Record::Person(Box::new(grade(
            in_schools(student("b2", "KIM", "Lee "), &["sch1"]),
            3,
        ))),
        Record::Person(Box::new(person("g1", PersonKind::Guardian, "Pat", "Lee"))),
        glink("b1", "g1"),
        glink("b2", "g1"),
        // Same name, school, grade one apart.
        Record::Person(Box::new(grade(
            in_schools(student("c1", "Max", "Roe"), &["sch2"]),
            4,
        ))),
        Record::Person(Box::new(grade(
            in_schools(student("c2", "Max", "Roe"), &["sch2"]),
            5,
        ))),
        // Same name, different dates of birth: two people.
        Record::Person(Box::new(dob(
            in_schools(student("e1", "Sam", "Poe"), &["sch1"]),
            2014,
            1,
            1,
        ))),
        Record::Person(Box::new(dob(
            in_schools(student("e2", "Sam", "Poe"), &["sch1"]),
            2016,
            1,
            1,
        ))),
        // Different names, nothing shared: never a pair.
        Record::Person(Box::new(student("z1", "Una", "One"))),
        Record::Person(Box::new(student("z2", "Dos", "Two"))),
    ])
    .await;
    let got = pairs(&dir, PersonKind::Student).await;
    assert_eq!(
        got,
        vec![
            p("n1", "n2", 0.95, &[Reason::SameStudentNumber]),
            p("n3", "n4", 0.95, &[Reason::SameStateId]),
            p("a1", "a2", 0.9, &[Reason::SameNameAndDob, Reason::SameName]),
            p(
                "b1",
                "b2",
                0.8,
                &[
                    Reason::SameNameGradeSchoolAndGuardian,
                    Reason::SameNameSchoolAndNearGrade,
                    Reason::SameName
                ]
            ),
            p(
                "c1",
                "c2",
                0.6,
                &[Reason::SameNameSchoolAndNearGrade, Reason::SameName]
            ),
        ]
    );
    // The default threshold (0.6) keeps them all.
    let page = find_duplicates(&dir, D, PersonKind::Student, &FindOptions::default())
        .await
        .expect("find");
    assert_eq!(page.total, 5);
}

#[tokio::test]
async fn managed_pairs_with_different_source_ids_need_more_than_0_9() {
    let mut a = managed(student("t1", "Ada", "Kay"), "cl-1");
    let mut b = managed(student("t2", "Ada", "Kay"), "cl-2");
    a = dob(a, 2015, 1, 1);
    b = dob(b, 2015, 1, 1);
    let mut c = managed(student("t3", "Eve", "Kay"), "cl-3");
    let mut d = managed(student("t4", "Evie", "Kay"), "cl-4");
    c.student_number = Some("77".into());
    d.student_number = Some("77".into());
    let dir = seeded(vec![
        Record::Person(Box::new(a)),
        Record::Person(Box::new(b)),
        Record::Person(Box::new(c)),
        Record::Person(Box::new(d)),
    ])
    .await;
    let got = pairs(&dir, PersonKind::Student).await;
    assert_eq!(got, vec![p("t3", "t4", 0.95, &[Reason::SameStudentNumber])]);
}

#[tokio::test]
async fn guardians_and_staff_rules() {
    let dir = seeded(vec![
        Record::Person(Box::new(email(
            person("g1", PersonKind::Guardian, "A", "B"),
            "Pat@Example.org",
        ))),
        Record::Person(Box::new(email(
            person("g2", PersonKind::Guardian, "C", "D"),
            "pat@example.org",
        ))),
        Record::Person(Box::new(sms(
            person("g3", PersonKind::Guardian, "E", "F"),
            "(555) 123-4567",
        ))),
        Record::Person(Box::new(sms(
            person("g4", PersonKind::Guardian, "G", "H"),
            "+1 555 123 4567",
        ))),
        Record::Person(Box::new(email(
            person("f1", PersonKind::Staff, "Lu", "Po"),
            "lu@x.org",
        ))),
        Record::Person(Box::new(email(
            person("f2", PersonKind::Staff, "Other", "Name"),
            "LU@x.org",
        ))),
        Record::Person(Box::new(in_schools(
            person("f3", PersonKind::Staff, "Mo", "Ra"),
            &["s"],
        ))),
        Record::Person(Box::new(in_schools(
            person("f4", PersonKind::Staff, "mo", "ra"),
            &["s"],
        ))),
    ])
    .await;
    assert_eq!(
        pairs(&dir, PersonKind::Guardian).await,
        vec![
            p("g1", "g2", 0.95, &[Reason::SameEmail]),
            p("g3", "g4", 0.9, &[Reason::SameSms]),
        ]
    );
    assert_eq!(
        pairs(&dir, PersonKind::Staff).await,
        vec![
            p("f1", "f2", 0.95, &[Reason::SameEmail]),
            p("f3", "f4", 0.7, &[Reason::SameNameAndSchool]),
        ]
    );
}

#[tokio::test]
async fn not_duplicates_and_merged_people_are_never_suggested() {
    let dir = seeded(vec![
        Record::Person(Box::new(dob(student("a", "Ann", "Lee"), 2015, 1, 1))),
        Record::Person(Box::new(dob(student("b", "Ann", "Lee"), 2015, 1, 1))),
        Record::Person(Box::new(dob(student("c", "Ann", "Lee"), 2015, 1, 1))),
        Record::Person(Box::new(archived(
            dob(student("d", "Ann", "Lee"), 2015, 1, 1),
            ArchiveReason::MergedInto("a".into()),
        ))),
    ])
    .await;
    assert_eq!(pairs(&dir, PersonKind::Student).await.len(), 3);
    mark_not_duplicate(&dir, D, PersonKind::Student, "b", "a", "admin-1", &clock())
        .await
        .expect("mark");
    let ids: Vec<(String, String)> = pairs(&dir, PersonKind::Student)
        .await
        .into_iter()
        .map(|(a, b, _, _)| (a, b))
        .collect();
    assert_eq!(
        ids,
        vec![("a".into(), "c".into()), ("b".into(), "c".into())]
    );
}

#[tokio::test]
async fn pages_cover_every_candidate_once_in_either_sort() {
    let mut records = Vec::new();
    for i in 0..7 {
        let name = ["Ann", "Bo", "Cy"][i % 3];
        let mut s = in_schools(grade(student(&format!("s{i}"), name, "Lee"), 2), &["k"]);
        if i % 2 == 0 {
            s = dob(s, 2016, 1, 1);
        }
        records.push(Record::Person(Box::new(s)));
    }
    let dir = seeded(records).await;
    for sort in [SortBy::Confidence, SortBy::Name] {
        let all = find_duplicates(
            &dir,
            D,
            PersonKind::Student,
            &FindOptions {
                sort,
                limit: 100,
                ..FindOptions::default()
            },
        )
        .await
        .expect("find");
        let mut paged = Vec::new();
        let mut cursor = None;
        loop {
            let page = find_duplicates(
                &dir,
                D,
                PersonKind::Student,
                &FindOptions {
                    sort,
                    limit: 2,
                    cursor: cursor.clone(),
                    ..FindOptions::default()
                },
            )
            .await
            .expect("page");
            assert_eq!(page.total, all.total);
            paged.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(paged, all.items);
        if sort == SortBy::Confidence {
            assert!(paged.windows(2).all(|w| w[0].confidence >= w[1].confidence));
        }
    }
    let bad = FindOptions {
        cursor: Some("not-a-cursor".into()),
        ..FindOptions::default()
    };
    assert!(
        find_duplicates(&dir, D, PersonKind::Student, &bad)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn blocking_keeps_a_large_district_cheap() {
    // 20k students with distinct names (no pair shares a key) plus three planted duplicates:
    // all-pairs comparison would be 200M pairs; blocking compares three.
    let mut records = Vec::new();
    for i in 0..20_000u32 {
        let mut s = student(
            &format!("s{i:05}"),
            &format!("F{i}"),
            &format!("L{}", i * 7),
        );
        s.student_number = Some(format!("n{i}"));
        records.push(Record::Person(Box::new(s)));
    }
    for (i, of) in [(1u32, 10u32), (2, 20), (3, 30)] {
        let mut s = student(
            &format!("dup{i}"),
            &format!("f{of}"),
            &format!("l{}", of * 7),
        );
        s.student_number = Some(format!("n{of}"));
        records.push(Record::Person(Box::new(s)));
    }
    let dir = seeded(records).await;
    let started = std::time::Instant::now();
    let page = find_duplicates(&dir, D, PersonKind::Student, &FindOptions::default())
        .await
        .expect("find");
    assert_eq!(page.total, 3);
    assert!(page.items.iter().all(|c| c.confidence == 0.95));
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}
