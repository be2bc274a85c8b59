//! Planner snapshot tests: hand-built rosters and directories, the whole run planned (staging,
//! every school, the district step) and rendered one change per line.

use super::*;
use crate::safeguards::safeguards;
use chrono::TimeZone;
use domain::directory::{
    ArchiveReason, Archived, Classroom, PersonKind, Record, RecordKey, School as DirSchool,
};
use domain::plan::Action;
use domain::report::Totals;
use domain::settings::SyncSettings;
use domain::{
    ContactLink, ContactType, Email, EnrollmentRole, Phone, Relationship, Roster, School, Section,
    Staff, StaffRole, Student,
};
use expect_test::{Expect, expect};
use std::collections::BTreeMap;

pub(crate) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 9, 1, 2, 0, 0)
        .single()
        .unwrap_or_default()
}

pub(crate) fn school(id: &str) -> School {
    School::named(id, format!("School {id}"))
}

pub(crate) fn student(id: &str, schools: &[&str], sis: &str) -> Student {
    Student {
        id: id.into(),
        school_ids: schools.iter().map(|s| s.to_string()).collect(),
        first_name: format!("First{id}"),
        middle_name: None,
        last_name: format!("Last{id}"),
        grade: domain::Grade::parse("3"),
        dob: None,
        sis_id: Some(sis.into()),
        student_number: None,
        state_id: None,
        email: None,
        username: None,
        home_language: None,
    }
}

pub(crate) fn teacher(id: &str, schools: &[&str], email: &str) -> Staff {
    Staff {
        id: id.into(),
        school_ids: schools.iter().map(|s| s.to_string()).collect(),
        first_name: format!("First{id}"),
        middle_name: None,
        last_name: format!("Last{id}"),
        email: Email::parse(email),
        sis_id: None,
        staff_number: None,
        state_id: None,
        title: None,
        roles: vec![StaffRole::Teacher],
        sms: Phone::parse("5550000000"),
        phone: None,
        language: None,
    }
}

pub(crate) fn contact(
    id: &str,
    email: Option<&str>,
    sms: Option<&str>,
    links: &[(&str, ContactType)],
) -> domain::Contact {
    domain::Contact {
        id: id.into(),
        first_name: format!("First{id}"),
        last_name: format!("Last{id}"),
        sis_id: None,
        email: email.and_then(Email::parse),
        sms: sms.and_then(Phone::parse),
        phone: None,
        phone_type: None,
        language: None,
        links: links
            .iter()
            .map(|(s, t)| ContactLink {
                student_id: s.to_string(),
                relationship: Some(Relationship::Parent),
                contact_type: Some(*t),
            })
            .collect(),
    }
}

pub(crate) fn section(id: &str, school: &str) -> Section {
    Section {
        id: id.into(),
        school_id: school.into(),
        name: format!("Section {id}"),
        sis_id: None,
        section_number: None,
        period: None,
        grade: None,
        subject: None,
        course_id: None,
        term_ids: Vec::new(),
        class_type: None,
    }
}

pub(crate) fn enr(sec: &str, school: &str, user: &str, role: EnrollmentRole) -> domain::Enrollment {
    domain::Enrollment {
        section_id: sec.into(),
        school_id: school.into(),
        user_id: user.into(),
        role,
        primary: role == EnrollmentRole::Teacher,
        begin_date: None,
        end_date: None,
    }
}

pub(crate) fn dir_school(id: &str, ext: &[&str]) -> Record {
    Record::from(DirSchool {
        id: id.into(),
        name: format!("Dir {id}"),
        external_ids: ext.iter().map(|s| s.to_string()).collect(),
        school_number: None,
        nces_id: None,
        managed: None,
        archived: None,
        version: 1,
    })
}

/// One school, two sections (one without a teacher), siblings sharing a guardian, a teacher
/// who is also a parent, a contact without credentials.
pub(crate) fn base_roster() -> Roster {
    let mut t1 = teacher("t1", &["k1"], "t1@example.org");
    t1.first_name = "Pat".into();
    t1.last_name = "Doe".into();
    let mut staff_parent = contact(
        "c3",
        Some("T1@example.org"),
        Some("5550000000"),
        &[("s2", ContactType::ParentGuardian)],
    );
    staff_parent.first_name = "Pat".into();
    staff_parent.last_name = "Doe".into();
    Roster {
        source: Some(SourceKind::Clever),
        schools: vec![school("k1")],
        sections: vec![section("sec1", "k1"), section("sec2", "k1")],
        students: vec![student("s1", &["k1"], "100"), student("s2", &["k1"], "200")],
        staff: vec![t1],
        contacts: vec![
            contact(
                "c1",
                Some("parent@example.org"),
                None,
                &[
                    ("s1", ContactType::ParentGuardian),
                    ("s2", ContactType::ParentGuardian),
                ],
            ),
            contact("c2", None, None, &[("s1", ContactType::ParentGuardian)]),
            staff_parent,
        ],
        enrollments: vec![
            enr("sec1", "k1", "t1", EnrollmentRole::Teacher),
            enr("sec1", "k1", "s1", EnrollmentRole::Student),
            enr("sec1", "k1", "s2", EnrollmentRole::Student),
            enr("sec2", "k1", "s2", EnrollmentRole::Student),
        ],
        ..Roster::default()
    }
}

/// A manual student with the same SIS id as `s1`: the first sync leaves it alone.
pub(crate) fn base_directory() -> Vec<Record> {
    let mut manual = super::blank_person("manual1".into(), PersonKind::Student);
    manual.first_name = "Old".into();
    manual.sis_id = Some("100".into());
    manual.school_ids.insert("SCH1".into());
    manual.version = 3;
    vec![
        dir_school("SCH1", &["k1"]),
        Record::Person(Box::new(manual)),
    ]
}

pub(crate) struct Outcome {
    pub(crate) schools: Vec<(String, Plan)>,
    pub(crate) district: Plan,
}

impl Outcome {
    pub(crate) fn all_changes(&self) -> impl Iterator<Item = &Change> {
        self.schools
            .iter()
            .flat_map(|(_, p)| p.changes.iter())
            .chain(self.district.changes.iter())
    }
    pub(crate) fn totals(&self) -> Totals {
        let v: Vec<Change> = self.all_changes().cloned().collect();
        Totals::of(&v)
    }
}

/// Plans a whole run the way the pipeline does, against an in-memory directory.
pub(crate) fn plan_run(
    roster: Roster,
    dir: &BTreeMap<RecordKey, Record>,
    settings: &SyncSettings,
) -> Result<Outcome, StageFailure> {
    let schools: Vec<DirSchool> = dir
        .values()
        .filter_map(|r| match r {
            Record::School(s) => Some((**s).clone()),
            _ => None,
        })
        .collect();
    let staged = stage_roster("d1", "run1", now(), roster, &schools, settings)?;
    let view = DirectoryView::new(dir.values().cloned());
    let mut plans = Vec::new();
    for s in &staged.schools {
        let ctx = staged.context(s);
        plans.push((
            s.shard.school.id.clone(),
            plan_school(&ctx, &s.shard, &view, settings),
        ));
    }
    let mut feed = staged.feed_people.clone();
    feed.claimed = claimed_people(plans.iter().map(|(_, p)| p));
    let managed = dir.values().filter_map(|r| match r {
        Record::Person(p) if p.managed.is_some() => Some(&**p),
        _ => None,
    });
    let mut district = plan_district(&staged.context, &feed, managed, staged.context.coverage);
    district.changes.extend(archive_absent_schools(
        &staged.context,
        &staged.feed_school_ids,
        schools,
        staged.context.coverage,
    ));
    Ok(Outcome {
        schools: plans,
        district,
    })
}

/// Applies an outcome to an in-memory directory (the store's semantics, minus conflicts).
pub(crate) fn apply_mem(
    dir: &mut BTreeMap<RecordKey, Record>,
    o: &Outcome,
    skip_archives: bool,
) -> usize {
    let changes: Vec<Change> = o.all_changes().cloned().collect();
    let writes = crate::apply::writes_for(&changes, skip_archives);
    let n = writes.len();
    for w in writes {
        match w {
            store::Write::Put {
                mut record,
                expected,
            } => {
                record.set_version(expected.unwrap_or(0) + 1);
                dir.insert(record.key(), record);
            }
            store::Write::Delete { key, .. } => {
                dir.remove(&key);
            }
        }
    }
    n
}

pub(crate) fn dir_of(records: Vec<Record>) -> BTreeMap<RecordKey, Record> {
    records.into_iter().map(|r| (r.key(), r)).collect()
}

/// Shortens derived ids (`stu_` + 24 hex digits) to 6 hex digits for readable snapshots.
fn short(s: &str) -> String {
    s.split('#')
        .map(|part| match part.split_once('_') {
            Some((p, h)) if p.len() == 3 && h.len() == 24 => format!("{p}_{}", &h[18..]),
            _ => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join("#")
}

pub(crate) fn render(o: &Outcome) -> String {
    let mut out = String::new();
    let sections = o
        .schools
        .iter()
        .map(|(s, p)| (format!("school {s}"), p))
        .chain(std::iter::once(("district".to_string(), &o.district)));
    for (title, plan) in sections {
        out.push_str(&format!("== {title}\n"));
        for c in &plan.changes {
            let mut line = format!(
                "{} {} {}",
                c.entity.as_str(),
                c.action.as_str(),
                short(c.key.as_str())
            );
            if !c.fields.is_empty() {
                line.push_str(&format!(" [{}]", c.fields.join(",")));
            }
            if let Some(n) = &c.note {
                line.push_str(&format!(" ({n})"));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        for w in &plan.warnings {
            out.push_str(&format!("warning {} {}\n", w.code, w.location));
        }
    }
    out
}

fn check(roster: Roster, dir: Vec<Record>, settings: &SyncSettings, expect: Expect) {
    let dir = dir_of(dir);
    match plan_run(roster, &dir, settings) {
        Ok(o) => expect.assert_eq(&render(&o)),
        Err(f) => expect.assert_eq(&format!(
            "failed {} {} {}\n",
            f.reason, f.error.code, f.error.message
        )),
    }
}

/// Runs the base fixture once and returns the synced directory.
fn synced(settings: &SyncSettings) -> BTreeMap<RecordKey, Record> {
    let mut dir = dir_of(base_directory());
    let o = plan_run(base_roster(), &dir, settings).unwrap();
    apply_mem(&mut dir, &o, false);
    dir
}

#[test]
fn first_sync() {
    check(
        base_roster(),
        base_directory(),
        &SyncSettings::default(),
        expect![[r#"
            == school k1
            schools unchanged school#SCH1
            classrooms created classroom#cls_e2dc98
            classrooms created classroom#cls_e6c56f
            students created person#stu_cfc1ad
            students created person#stu_d81632
            staff created person#stf_835f10
            guardians created person#gdn_c32e81
            guardians skipped person#gdn_cb8306 (guardian_without_credential)
            guardians created person#gdn_c79a2f
            enrollments created enrollment#cls_e2dc98#stf_835f10
            enrollments created enrollment#cls_e2dc98#stu_cfc1ad
            enrollments created enrollment#cls_e2dc98#stu_d81632
            enrollments created enrollment#cls_e6c56f#stu_cfc1ad
            guardian_links created glink#stu_cfc1ad#gdn_c32e81
            guardian_links created glink#stu_cfc1ad#gdn_c79a2f
            guardian_links created glink#stu_d81632#gdn_c32e81
            warning guardian_without_credential contacts/c2
            == district
        "#]],
    );
}

#[test]
fn first_sync_details() {
    let dir = synced(&SyncSettings::default());
    // The manual student with the same SIS id is left alone (domain.md §1.5).
    let Some(Record::Person(manual)) = dir.get(&RecordKey::person("manual1")) else {
        panic!("manual student missing");
    };
    assert!(manual.managed.is_none() && manual.version == 3);
    // The staff-parent's guardian record points at the staff record.
    let gid = derived_id_for("gdn", "c3");
    let Some(Record::Person(g)) = dir.get(&RecordKey::person(&gid)) else {
        panic!("staff-parent guardian missing");
    };
    assert_eq!(g.same_person_as, Some(derived_id_for("stf", "t1")));
    // The section without a teacher has only its student.
    let cls2 = derived_id_for("cls", "sec2");
    let members: Vec<&Record> = dir
        .values()
        .filter(|r| matches!(r, Record::Enrollment(e) if e.classroom_id == cls2))
        .collect();
    assert_eq!(members.len(), 1);
}

fn derived_id_for(prefix: &str, source: &str) -> String {
    domain::directory::derived_id(prefix, "d1", source)
}

#[test]
fn no_change_is_all_unchanged_and_writes_nothing() {
    let settings = SyncSettings::default();
    let dir = synced(&settings);
    let o = plan_run(base_roster(), &dir, &settings).unwrap();
    assert!(o.all_changes().all(|c| !c.writes()), "{}", render(&o));
    let mut d2 = dir.clone();
    assert_eq!(apply_mem(&mut d2, &o, false), 0);
    expect![[r#"
        == school k1
        schools unchanged school#SCH1
        classrooms unchanged classroom#cls_e2dc98
        classrooms unchanged classroom#cls_e6c56f
        students unchanged person#stu_cfc1ad
        students unchanged person#stu_d81632
        staff unchanged person#stf_835f10
        guardians unchanged person#gdn_c32e81
        guardians skipped person#gdn_cb8306 (guardian_without_credential)
        guardians unchanged person#gdn_c79a2f
        enrollments unchanged enrollment#cls_e2dc98#stf_835f10
        enrollments unchanged enrollment#cls_e2dc98#stu_cfc1ad
        enrollments unchanged enrollment#cls_e2dc98#stu_d81632
        enrollments unchanged enrollment#cls_e6c56f#stu_cfc1ad
        guardian_links unchanged glink#stu_cfc1ad#gdn_c32e81
        guardian_links unchanged glink#stu_cfc1ad#gdn_c79a2f
        guardian_links unchanged glink#stu_d81632#gdn_c32e81
        warning guardian_without_credential contacts/c2
        == district
    "#]]
    .assert_eq(&render(&o));
}

fn two_schools() -> (Roster, Vec<Record>) {
    let mut r = base_roster();
    r.schools.push(school("k2"));
    r.sections.push(section("sec3", "k2"));
    r.students.push(student("s3", &["k2"], "300"));
    r.enrollments
        .push(enr("sec3", "k2", "s3", EnrollmentRole::Student));
    let mut d = base_directory();
    d.push(dir_school("SCH2", &["k2"]));
    (r, d)
}

/// Siblings in two schools share a guardian: the guardian is a member of both schools (the
/// school that owns it plans it, knowing the other sibling's schools), planned once, and
/// linked to both children.
#[test]
fn a_guardian_of_children_in_two_schools_is_a_member_of_both() {
    let settings = SyncSettings::default();
    let (mut r, d) = two_schools();
    r.contacts[0].links.push(ContactLink {
        student_id: "s3".into(),
        relationship: Some(Relationship::Parent),
        contact_type: Some(ContactType::ParentGuardian),
    });
    let mut dir = dir_of(d);
    let o = plan_run(r.clone(), &dir, &settings).unwrap();
    let guardian_changes: Vec<&Change> = o
        .all_changes()
        .filter(|c| c.entity == EntityKind::Guardians && c.source_id.as_deref() == Some("c1"))
        .collect();
    assert_eq!(
        guardian_changes.len(),
        1,
        "planned once: {guardian_changes:?}"
    );
    apply_mem(&mut dir, &o, false);
    let guardian = dir
        .values()
        .find_map(|rec| match rec {
            Record::Person(p) if p.external_ids.contains("c1") => Some(p.clone()),
            _ => None,
        })
        .expect("guardian c1 synced");
    assert_eq!(
        guardian
            .school_ids
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["SCH1", "SCH2"]
    );
    let linked: BTreeSet<String> = dir
        .values()
        .filter_map(|rec| match rec {
            Record::GuardianLink(g) if g.guardian_id == guardian.id => Some(g.student_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(linked.len(), 3, "linked to s1, s2 and s3: {linked:?}");
    // Planned again from the same feed, nothing changes.
    let again = plan_run(r, &dir, &settings).unwrap();
    assert!(
        again.all_changes().all(|c| !c.writes()),
        "a re-plan writes nothing"
    );
}

#[test]
fn transfer_between_schools_is_a_membership_move() {
    let settings = SyncSettings::default();
    let (r, d) = two_schools();
    let mut dir = dir_of(d);
    let o = plan_run(r.clone(), &dir, &settings).unwrap();
    apply_mem(&mut dir, &o, false);
    // s1 moves from k1 to k2, and from sec1 to sec3.
    let mut r2 = r;
    r2.students[0].school_ids = vec!["k2".into()];
    r2.enrollments.retain(|e| e.user_id != "s1");
    r2.enrollments
        .push(enr("sec3", "k2", "s1", EnrollmentRole::Student));
    let o = plan_run(r2, &dir, &settings).unwrap();
    let lines: String = render(&o)
        .lines()
        .filter(|l| !l.contains("unchanged") && !l.contains("skipped"))
        .map(|l| format!("{l}\n"))
        .collect();
    // The siblings' guardian (owned by k1) now has a child in k2 too: it joins k2.
    expect![[r#"
        == school k1
        guardians updated person#gdn_c32e81 [school_ids]
        enrollments archived enrollment#cls_e2dc98#stu_d81632
        == school k2
        students updated person#stu_d81632 [school_ids]
        enrollments created enrollment#cls_eaae46#stu_d81632
        warning guardian_without_credential contacts/c2
        == district
    "#]]
    .assert_eq(&lines);
}

#[test]
fn rekeyed_clever_id_is_matched_by_sis_id() {
    let settings = SyncSettings::default();
    let mut dir = synced(&settings);
    let mut r = base_roster();
    r.students[0].id = "s1-new".into();
    for e in &mut r.enrollments {
        if e.user_id == "s1" {
            e.user_id = "s1-new".into();
        }
    }
    for c in &mut r.contacts {
        for l in &mut c.links {
            if l.student_id == "s1" {
                l.student_id = "s1-new".into();
            }
        }
    }
    let o = plan_run(r, &dir, &settings).unwrap();
    let changed: Vec<String> = o
        .all_changes()
        .filter(|c| c.writes())
        .map(|c| {
            format!(
                "{} {} {} {:?}",
                c.entity.as_str(),
                c.action.as_str(),
                short(c.key.as_str()),
                c.fields
            )
        })
        .collect();
    expect![[r#"
        [
            "students updated person#stu_d81632 [\"external_ids\", \"managed\"]",
        ]
    "#]]
    .assert_debug_eq(&changed);
    apply_mem(&mut dir, &o, false);
    let Some(Record::Person(p)) = dir.get(&RecordKey::person(&derived_id_for("stu", "s1"))) else {
        panic!("student missing");
    };
    assert!(p.external_ids.contains("s1") && p.external_ids.contains("s1-new"));
}

#[test]
fn reappearing_classroom_respects_the_unarchive_setting() {
    let mut settings = SyncSettings::default();
    let mut dir = synced(&settings);
    let key = RecordKey::classroom(&derived_id_for("cls", "sec2"));
    if let Some(Record::Classroom(c)) = dir.get_mut(&key) {
        c.archived = Some(Archived {
            reason: ArchiveReason::Manual,
            at: now(),
            run_id: None,
        });
    }
    let pick = |o: &Outcome| -> Vec<String> {
        o.all_changes()
            .filter(|c| c.key == key || c.key.as_str().contains(&key.as_str()[10..]))
            .map(|c| {
                format!(
                    "{} {} {:?} {:?}",
                    c.entity.as_str(),
                    c.action.as_str(),
                    c.fields,
                    c.note
                )
            })
            .collect()
    };
    let off = plan_run(base_roster(), &dir, &settings).unwrap();
    settings.unarchive_classrooms = true;
    let on = plan_run(base_roster(), &dir, &settings).unwrap();
    expect![[r#"
        [
            "classrooms skipped [] Some(\"archived_classroom\")",
        ]
    "#]]
    .assert_debug_eq(&pick(&off));
    expect![[r#"
        [
            "classrooms unarchived [\"archived\"] None",
            "enrollments unchanged [] None",
        ]
    "#]]
    .assert_debug_eq(&pick(&on));
}

fn many_students(n: usize) -> Roster {
    let mut r = base_roster();
    r.contacts.clear();
    r.students = (0..n)
        .map(|i| student(&format!("x{i:03}"), &["k1"], &format!("9{i:03}")))
        .collect();
    r.enrollments.retain(|e| e.role == EnrollmentRole::Teacher);
    r
}

#[test]
fn threshold_trips_on_a_large_drop() {
    let settings = SyncSettings::default();
    let mut dir = dir_of(base_directory());
    let o = plan_run(many_students(20), &dir, &settings).unwrap();
    apply_mem(&mut dir, &o, false);
    // 3 of 20 managed students absent = 15 % > 10 %.
    let o = plan_run(many_students(17), &dir, &settings).unwrap();
    let managed = BTreeMap::from([(EntityKind::Students, 20)]);
    let held = safeguards(&o.totals(), &managed, settings.deletion_threshold_pct).unwrap();
    assert_eq!(held.tried_to_archive[&EntityKind::Students], 3);
    let archived: Vec<String> = o
        .district
        .changes
        .iter()
        .map(|c| format!("{} {} {:?}", c.entity.as_str(), c.action.as_str(), c.fields))
        .collect();
    expect![[r#"
        [
            "students archived [\"archived\"]",
            "students archived [\"archived\"]",
            "students archived [\"archived\"]",
        ]
    "#]]
    .assert_debug_eq(&archived);
    // 1 of 20 = 5 %: not held.
    let o = plan_run(many_students(19), &dir, &settings).unwrap();
    assert!(safeguards(&o.totals(), &managed, 10).is_none());
}

#[test]
fn empty_feed_fails() {
    let mut r = base_roster();
    r.students.clear();
    r.staff.clear();
    check(
        r,
        base_directory(),
        &SyncSettings::default(),
        expect![[r#"
            failed invalid_input empty_feed the feed has no students and no staff; nothing was changed
        "#]],
    );
}

#[test]
fn paused_source_fails() {
    let mut r = base_roster();
    r.district = Some(domain::SourceDistrict {
        id: "cd".into(),
        state: Some("paused".into()),
        ..Default::default()
    });
    check(
        r,
        base_directory(),
        &SyncSettings::default(),
        expect![[r#"
            failed source_unavailable source_paused the source reports its sync as paused or in error; nothing was changed
        "#]],
    );
}

#[test]
fn school_not_found() {
    let mut d = base_directory();
    d.push(dir_school("SCH9", &["k9"]));
    check(
        base_roster(),
        d,
        &SyncSettings::default(),
        expect![[r#"
            failed schools_not_found school_not_found 1 matched school(s) have no external id present in the feed: SCH9
        "#]],
    );
    // Matched scope and nothing matches at all.
    let mut settings = SyncSettings::default();
    settings.school_scope = Some(domain::settings::SchoolScope::Matched);
    check(
        base_roster(),
        vec![],
        &settings,
        expect![[r#"
            failed schools_not_found school_not_found no directory school is matched to a school of the feed
        "#]],
    );
}

#[test]
fn contact_type_filter() {
    let settings = SyncSettings {
        contact_types: [ContactType::ParentGuardian].into(),
        ..SyncSettings::default()
    };
    let mut r = base_roster();
    r.contacts = vec![
        contact(
            "c1",
            Some("p@example.org"),
            None,
            &[("s1", ContactType::ParentGuardian)],
        ),
        contact(
            "c5",
            Some("e@example.org"),
            None,
            &[("s1", ContactType::Emergency)],
        ),
    ];
    let o = plan_run(r, &dir_of(base_directory()), &settings).unwrap();
    let g: Vec<String> = o
        .all_changes()
        .filter(|c| matches!(c.entity, EntityKind::Guardians | EntityKind::GuardianLinks))
        .map(|c| {
            format!(
                "{} {} {:?}",
                c.entity.as_str(),
                c.action.as_str(),
                c.source_id
            )
        })
        .collect();
    expect![[r#"
        [
            "guardians created Some(\"c1\")",
            "guardian_links created None",
        ]
    "#]]
    .assert_debug_eq(&g);
}

#[test]
fn all_scope_creates_schools_and_merged_ids_map_to_the_survivor() {
    let settings = SyncSettings::default();
    let mut dir = dir_of(vec![]);
    let o = plan_run(base_roster(), &dir, &settings).unwrap();
    assert_eq!(o.totals().get(EntityKind::Schools).created, 1);
    apply_mem(&mut dir, &o, false);
    // An admin merges s2 into s1: s2's record is archived as merged_into, s1 carries both ids.
    let s1 = derived_id_for("stu", "s1");
    let s2 = derived_id_for("stu", "s2");
    if let Some(Record::Person(p)) = dir.get_mut(&RecordKey::person(&s2)) {
        p.archived = Some(Archived {
            reason: ArchiveReason::MergedInto(s1.clone()),
            at: now(),
            run_id: None,
        });
        p.external_ids.clear();
        p.external_ids.insert("s2".into());
    }
    let o = plan_run(base_roster(), &dir, &settings).unwrap();
    let s2_changes: Vec<String> = o
        .all_changes()
        .filter(|c| c.source_id.as_deref() == Some("s2"))
        .map(|c| {
            format!(
                "{} {} {}",
                c.action.as_str(),
                short(c.key.as_str()),
                c.fields.join(",")
            )
        })
        .collect();
    expect![[r#"
        [
            "skipped person#stu_d81632 ",
        ]
    "#]]
    .assert_debug_eq(&s2_changes);
    assert!(
        o.schools[0]
            .1
            .warnings
            .iter()
            .any(|w| w.code == IssueCode::MergedIdReappeared)
    );
    let _ = Action::Created;
    let _ = Classroom::clone;
}
