//! The next night of a district ([`next_night`]): a deterministic churn of a generated roster
//! with the exact directory changes a sync of it must report.
//!
//! From a roster and a [`NextNight`] spec (percentages of the students, a seed), it returns the
//! changed roster and [`Expected`]: per entity kind, how many records a sync of the new roster
//! creates, updates and archives after a sync of the old one. The churn is built so that each
//! change has exactly one, unambiguous effect on the directory:
//!
//! - **changed** students (5%): one of last name, grade (within the same school band) or email
//!   (students without an email get a grade change instead). One student updated each.
//! - **removed** students (1%), whole families: the student, its enrollments and the contacts
//!   linked to it leave the feed. One student archived, each distinct section it was enrolled in
//!   an enrollment archived, each credentialed contact a guardian archived. The guardian links
//!   of an archived student are not archived: the district step archives people, and a link
//!   stays with the archived student and guardian (an unarchive finds the family whole). They
//!   are counted in [`Churn::links_of_removed`].
//! - **added** students (1%): a new student (new id, name, email, numbers) in the grade and the
//!   sections of a peer at the same school, with one or two new contacts (each with an email).
//!   One student, one enrollment per section, one guardian and one guardian link per contact
//!   created.
//! - **moved** students (0.5%) to another school (of the same band when the district has one,
//!   else any other school, taking the grade of a peer there): all their enrollments move to
//!   the peer's sections. One student updated, the old enrollments archived, the new ones
//!   created, and each credentialed contact a guardian updated (its schools follow the child).
//! - **contact changes** (1% of the number of students): contacts with an email get a new one.
//!   One guardian updated each.
//!
//! Removed and moved students are chosen among *simple families*: one child attending one
//! school, whose contacts link to no other student, do not share a credential with another
//! contact or a staff member (teacher-parents), so the guardians' fate follows the child alone.
//! Changed contacts are chosen outside the removed and moved families with the same care. No
//! student or contact is touched twice. Counts are rounded to the nearest whole number, at
//! least one each when the percentage is not zero.

use crate::rng::Rng;
use domain::{
    Contact, ContactLink, ContactType, Email, EnrollmentRole, EntityKind, Grade, Relationship,
    Roster, Student,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// How much changes overnight, in percent of the students.
#[derive(Debug, Clone, PartialEq)]
pub struct NextNight {
    pub seed: u64,
    /// Students with a changed name, grade or email.
    pub changed_pct: f64,
    /// Students (with their families) removed.
    pub removed_pct: f64,
    /// New students (with new contacts).
    pub added_pct: f64,
    /// Students moved to another school.
    pub moved_pct: f64,
    /// Contacts with a new email, as a percentage of the number of students.
    pub contacts_changed_pct: f64,
}

impl Default for NextNight {
    /// The night: 5% changed, 1% removed, 1% added, 0.5% moved, 1% contact changes.
    fn default() -> Self {
        Self {
            seed: 2,
            changed_pct: 5.0,
            removed_pct: 1.0,
            added_pct: 1.0,
            moved_pct: 0.5,
            contacts_changed_pct: 1.0,
        }
    }
}

/// Records of one entity kind a sync of the next night creates, updates and archives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct ExpectedCounts {
    pub created: u64,
    pub updated: u64,
    pub archived: u64,
}

/// The exact directory changes of a next-night sync, every entity kind present (zeros included).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Expected(pub BTreeMap<EntityKind, ExpectedCounts>);

impl Default for Expected {
    fn default() -> Self {
        Self(
            EntityKind::ALL
                .into_iter()
                .map(|e| (e, ExpectedCounts::default()))
                .collect(),
        )
    }
}

impl Expected {
    pub fn get(&self, entity: EntityKind) -> ExpectedCounts {
        self.0.get(&entity).copied().unwrap_or_default()
    }
    fn at(&mut self, entity: EntityKind) -> &mut ExpectedCounts {
        self.0.entry(entity).or_default()
    }
    /// Where a sync report's totals differ from the expectation, as `entity action: expected
    /// N, reported M` lines (empty when created, updated and archived all agree exactly).
    pub fn mismatches(&self, totals: &domain::report::Totals) -> Vec<String> {
        let mut out = Vec::new();
        for e in EntityKind::ALL {
            let (want, got) = (self.get(e), totals.get(e));
            for (action, w, g) in [
                ("created", want.created, got.created),
                ("updated", want.updated, got.updated),
                ("archived", want.archived, got.archived),
            ] {
                if w != g {
                    out.push(format!(
                        "{} {action}: expected {w}, reported {g}",
                        e.as_str()
                    ));
                }
            }
        }
        out
    }

    /// Directory records written: every created, updated and archived record.
    pub fn writes(&self) -> u64 {
        self.0
            .values()
            .map(|c| c.created + c.updated + c.archived)
            .sum()
    }
}

/// The next night: the new roster, what changed (source ids) and the expected sync counts.
#[derive(Debug, Clone)]
pub struct Churn {
    pub roster: Roster,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    pub added: Vec<String>,
    pub moved: Vec<String>,
    pub contacts_changed: Vec<String>,
    /// Guardian links of removed students (kept with the archived student, not archived).
    pub links_of_removed: u64,
    pub expected: Expected,
}

fn count(students: usize, pct: f64) -> usize {
    if pct <= 0.0 || students == 0 {
        return 0;
    }
    ((students as f64 * pct / 100.0).round() as usize).max(1)
}

fn band(g: Option<Grade>) -> i8 {
    match g.map(Grade::ordinal) {
        Some(o) if o <= 5 => 0,
        Some(o) if o <= 8 => 1,
        Some(_) => 2,
        None => -1,
    }
}

fn credential(c: &Contact) -> Option<String> {
    c.email
        .as_ref()
        .map(|e| format!("email:{}", e.key()))
        .or_else(|| c.sms.as_ref().map(|p| format!("sms:{}", p.as_str())))
}

/// The facts the selection needs, computed once over the old roster.
struct Facts {
    /// Student id → indexes of the contacts linked to it.
    contacts_of: HashMap<String, Vec<usize>>,
    /// Contacts that share a credential with another contact or a staff member.
    shared: BTreeSet<usize>,
    /// Student id → its student enrollments (indexes), one per distinct section.
    enrolled: HashMap<String, Vec<usize>>,
}

impl Facts {
    fn new(roster: &Roster) -> Self {
        let mut contacts_of: HashMap<String, Vec<usize>> = HashMap::new();
        let mut creds: HashMap<String, usize> = HashMap::new();
        for (i, c) in roster.contacts.iter().enumerate() {
            let linked: BTreeSet<&str> = c.links.iter().map(|l| l.student_id.as_str()).collect();
            for s in linked {
                contacts_of.entry(s.to_string()).or_default().push(i);
            }
            for k in [
                c.email.as_ref().map(|e| format!("email:{}", e.key())),
                c.sms.as_ref().map(|p| format!("sms:{}", p.as_str())),
            ]
            .into_iter()
            .flatten()
            {
                *creds.entry(k).or_default() += 1;
            }
        }
        for s in &roster.staff {
            if let Some(e) = &s.email {
                *creds.entry(format!("email:{}", e.key())).or_default() += 1;
            }
            if let Some(p) = &s.sms {
                *creds.entry(format!("sms:{}", p.as_str())).or_default() += 1;
            }
        }
        let shared = roster
            .contacts
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                [
                    c.email.as_ref().map(|e| format!("email:{}", e.key())),
                    c.sms.as_ref().map(|p| format!("sms:{}", p.as_str())),
                ]
                .into_iter()
                .flatten()
                .any(|k| creds.get(&k).copied().unwrap_or(0) > 1)
            })
            .map(|(i, _)| i)
            .collect();
        let mut enrolled: HashMap<String, Vec<usize>> = HashMap::new();
        let mut seen: BTreeSet<(&str, &str)> = BTreeSet::new();
        for (i, e) in roster.enrollments.iter().enumerate() {
            if e.role == EnrollmentRole::Student
                && seen.insert((e.user_id.as_str(), e.section_id.as_str()))
            {
                enrolled.entry(e.user_id.clone()).or_default().push(i);
            }
        }
        Self {
            contacts_of,
            shared,
            enrolled,
        }
    }

    /// Distinct sections a student is enrolled in as a student.
    fn sections(&self, student: &str) -> u64 {
        self.enrolled.get(student).map_or(0, Vec::len) as u64
    }

    /// The student enrollments of `from`, for `to`.
    fn copy_enrollments(&self, roster: &Roster, from: &str, to: &str) -> Vec<domain::Enrollment> {
        self.enrolled
            .get(from)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|&i| domain::Enrollment {
                user_id: to.to_string(),
                ..roster.enrollments[i].clone()
            })
            .collect()
    }

    fn contacts(&self, student: &str) -> &[usize] {
        self.contacts_of
            .get(student)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// One child at one school, with contacts of its own only.
    fn simple(&self, roster: &Roster, s: &Student) -> bool {
        s.school_ids.len() == 1
            && self.enrolled.contains_key(&s.id)
            && self.contacts(&s.id).iter().all(|&c| {
                !self.shared.contains(&c)
                    && roster.contacts[c]
                        .links
                        .iter()
                        .all(|l| l.student_id == s.id)
            })
    }
}

/// Builds the next night of `roster` (see the module docs). Deterministic: the same roster and
/// spec give the same churn.
pub fn next_night(roster: &Roster, spec: &NextNight) -> Churn {
    let n = roster.students.len();
    let facts = Facts::new(roster);
    let mut rng = Rng::new(spec.seed, 0xC4A1);
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
    let mut out = roster.clone();
    let mut expected = Expected::default();
    let mut taken: BTreeSet<usize> = BTreeSet::new();
    let mut touched_contacts: BTreeSet<usize> = BTreeSet::new();

    // Removed and moved students: simple families only.
    let pick_simple = |want: usize, taken: &mut BTreeSet<usize>| -> Vec<usize> {
        let mut v = Vec::new();
        for &i in &order {
            if v.len() == want {
                break;
            }
            if !taken.contains(&i) && facts.simple(roster, &roster.students[i]) {
                taken.insert(i);
                v.push(i);
            }
        }
        v
    };
    let removed = pick_simple(count(n, spec.removed_pct), &mut taken);
    let moved = pick_simple(count(n, spec.moved_pct), &mut taken);
    let changed: Vec<usize> = order
        .iter()
        .copied()
        .filter(|i| !taken.contains(i))
        .take(count(n, spec.changed_pct))
        .collect();
    taken.extend(&changed);

    // Changed students: last name, grade or email.
    let mut changed_ids = Vec::new();
    for &i in &changed {
        let s = &mut out.students[i];
        changed_ids.push(s.id.clone());
        let what = rng.below(3);
        if what == 0 {
            let other = &roster.students[order[rng.below(n)]].last_name;
            s.last_name = if *other == s.last_name {
                format!("{}-{}", s.last_name, other)
            } else {
                other.clone()
            };
        } else if what == 2 && s.email.is_some() {
            s.email = Email::parse(&format!("student{}.new@students.example.org", s.id));
        } else {
            let o = s.grade.map(Grade::ordinal).unwrap_or(3);
            let up = Grade::from_ordinal(o + 1).filter(|g| band(Some(*g)) == band(s.grade));
            s.grade = up.or_else(|| Grade::from_ordinal(o - 1));
        }
        expected.at(EntityKind::Students).updated += 1;
    }

    // Removed students with their enrollments and contacts.
    let mut removed_ids = BTreeSet::new();
    let mut removed_contacts = BTreeSet::new();
    let mut links_of_removed = 0;
    for &i in &removed {
        let s = &roster.students[i];
        removed_ids.insert(s.id.clone());
        expected.at(EntityKind::Students).archived += 1;
        expected.at(EntityKind::Enrollments).archived += facts.sections(&s.id);
        for &c in facts.contacts(&s.id) {
            removed_contacts.insert(c);
            touched_contacts.insert(c);
            if credential(&roster.contacts[c]).is_some() {
                expected.at(EntityKind::Guardians).archived += 1;
                links_of_removed += 1;
            }
        }
    }

    // Moved students: a peer at another school gives the grade and the sections.
    let peers = peers(roster, &facts);
    let mut by_band: BTreeMap<i8, Vec<&Student>> = BTreeMap::new();
    for p in &peers {
        by_band.entry(band(p.grade)).or_default().push(p);
    }
    let mut moved_ids = Vec::new();
    let mut moved_enrollments: BTreeMap<String, Vec<domain::Enrollment>> = BTreeMap::new();
    for &i in &moved {
        let s = &roster.students[i];
        let here = &s.school_ids[0];
        let elsewhere = |p: &&Student| &p.school_ids[0] != here;
        let same_band = by_band
            .get(&band(s.grade))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let Some(peer) = pick_where(&mut rng, same_band, elsewhere)
            .or_else(|| pick_where(&mut rng, &peers, elsewhere))
        else {
            continue;
        };
        let st = &mut out.students[i];
        st.school_ids = peer.school_ids.clone();
        st.grade = peer.grade;
        moved_ids.push(st.id.clone());
        moved_enrollments.insert(
            st.id.clone(),
            facts.copy_enrollments(roster, &peer.id, &st.id),
        );
        expected.at(EntityKind::Students).updated += 1;
        expected.at(EntityKind::Enrollments).archived += facts.sections(&s.id);
        expected.at(EntityKind::Enrollments).created += facts.sections(&peer.id);
        for &c in facts.contacts(&s.id) {
            touched_contacts.insert(c);
            if credential(&roster.contacts[c]).is_some() {
                expected.at(EntityKind::Guardians).updated += 1;
            }
        }
    }

    // Contact changes: a new email for contacts outside the touched families.
    let mut contacts_changed = Vec::new();
    let want = count(n, spec.contacts_changed_pct);
    let mut corder: Vec<usize> = (0..roster.contacts.len()).collect();
    for i in (1..corder.len()).rev() {
        corder.swap(i, rng.below(i + 1));
    }
    for c in corder {
        if contacts_changed.len() == want {
            break;
        }
        let contact = &roster.contacts[c];
        if contact.email.is_none()
            || contact.links.is_empty()
            || facts.shared.contains(&c)
            || touched_contacts.contains(&c)
        {
            continue;
        }
        touched_contacts.insert(c);
        out.contacts[c].email =
            Email::parse(&format!("{}.new@example.net", contact.id.to_lowercase()));
        contacts_changed.push(contact.id.clone());
        expected.at(EntityKind::Guardians).updated += 1;
    }

    // Apply removals and moves to the feed.
    out.students.retain(|s| !removed_ids.contains(&s.id));
    out.enrollments.retain(|e| {
        !(removed_ids.contains(&e.user_id)
            || (moved_enrollments.contains_key(&e.user_id) && e.role == EnrollmentRole::Student))
    });
    out.enrollments
        .extend(moved_enrollments.into_values().flatten());
    let mut k = 0usize;
    out.contacts.retain(|_| {
        k += 1;
        !removed_contacts.contains(&(k - 1))
    });

    // Added students, each with one or two new contacts.
    let added = add_students(roster, &mut out, count(n, spec.added_pct), &mut rng, &facts);
    for (_, sections, contacts) in &added {
        expected.at(EntityKind::Students).created += 1;
        expected.at(EntityKind::Enrollments).created += *sections;
        expected.at(EntityKind::Guardians).created += *contacts;
        expected.at(EntityKind::GuardianLinks).created += *contacts;
    }

    out.normalise();
    Churn {
        roster: out,
        changed: changed_ids,
        removed: removed_ids.into_iter().collect(),
        added: added.into_iter().map(|(id, _, _)| id).collect(),
        moved: moved_ids,
        contacts_changed,
        links_of_removed,
        expected,
    }
}

/// Students who attend one school and have enrollments: the models of moves and additions.
fn peers<'a>(roster: &'a Roster, facts: &Facts) -> Vec<&'a Student> {
    roster
        .students
        .iter()
        .filter(|p| p.school_ids.len() == 1 && facts.enrolled.contains_key(&p.id))
        .collect()
}

/// A random element of `pool` satisfying `ok`: random draws first, then the first in order.
fn pick_where<'a>(
    rng: &mut Rng,
    pool: &[&'a Student],
    ok: impl Fn(&&'a Student) -> bool,
) -> Option<&'a Student> {
    if pool.is_empty() {
        return None;
    }
    for _ in 0..64 {
        let p = *rng.pick(pool);
        if ok(&p) {
            return Some(p);
        }
    }
    pool.iter().copied().find(|p| ok(p))
}

/// Adds `want` students modelled on peers; returns (id, sections, contacts) for each.
fn add_students(
    old: &Roster,
    out: &mut Roster,
    want: usize,
    rng: &mut Rng,
    facts: &Facts,
) -> Vec<(String, u64, u64)> {
    let peers = peers(old, facts);
    if peers.is_empty() {
        return Vec::new();
    }
    let width = old.students.iter().map(|s| s.id.len()).max().unwrap_or(6);
    let mut next_num = old
        .students
        .iter()
        .filter_map(|s| s.id.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    let mut next_contact = old
        .contacts
        .iter()
        .filter_map(|c| c.id.strip_prefix('G').and_then(|n| n.parse::<u64>().ok()))
        .max()
        .unwrap_or(0);
    let ids: BTreeSet<&str> = old
        .students
        .iter()
        .map(|s| s.id.as_str())
        .chain(old.staff.iter().map(|s| s.id.as_str()))
        .chain(old.contacts.iter().map(|c| c.id.as_str()))
        .collect();
    let mut added = Vec::new();
    while added.len() < want {
        next_num += 1;
        let id = format!("{next_num:0width$}");
        if ids.contains(id.as_str()) {
            continue;
        }
        let peer = *rng.pick(&peers);
        let namer = *rng.pick(&peers);
        let local = format!("new.student{next_num}");
        let student = Student {
            id: id.clone(),
            school_ids: peer.school_ids.clone(),
            first_name: namer.first_name.clone(),
            middle_name: None,
            last_name: peer.last_name.clone(),
            grade: peer.grade,
            dob: peer.dob,
            sis_id: Some(id.clone()),
            student_number: Some(format!("N{next_num:08}")),
            state_id: Some(format!("{}", 5_100_000_000u64 + next_num * 37)),
            email: Email::parse(&format!("{local}@students.example.org")),
            username: Some(local),
            home_language: peer.home_language.clone(),
        };
        let enrollments = facts.copy_enrollments(old, &peer.id, &id);
        let sections = enrollments.len() as u64;
        out.enrollments.extend(enrollments);
        let contacts = 1 + rng.below(2) as u64;
        for k in 0..contacts {
            let cid = loop {
                next_contact += 1;
                let cid = format!("G{next_contact:06}");
                if !ids.contains(cid.as_str()) {
                    break cid;
                }
            };
            let parent = *rng.pick(&peers);
            out.contacts.push(Contact {
                id: cid.clone(),
                first_name: parent.first_name.clone(),
                last_name: student.last_name.clone(),
                sis_id: Some(cid.clone()),
                email: Email::parse(&format!("{}.family@example.com", cid.to_lowercase())),
                sms: None,
                phone: None,
                phone_type: None,
                language: student.home_language.clone(),
                links: vec![ContactLink {
                    student_id: id.clone(),
                    relationship: Some(if k == 0 {
                        Relationship::Parent
                    } else {
                        Relationship::Guardian
                    }),
                    contact_type: Some(ContactType::ParentGuardian),
                }],
            });
        }
        out.students.push(student);
        added.push((id, sections, contacts));
    }
    added
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Spec, generate};

    fn night(students: usize, seed: u64) -> (Roster, Churn) {
        let old = generate(&Spec::new(students, seed));
        let churn = next_night(&old, &NextNight::default());
        (old, churn)
    }

    #[test]
    fn same_roster_and_spec_same_night() {
        let (old, a) = night(400, 5);
        let b = next_night(&old, &NextNight::default());
        assert_eq!(a.roster, b.roster);
        assert_eq!(a.expected, b.expected);
        let c = next_night(
            &old,
            &NextNight {
                seed: 9,
                ..NextNight::default()
            },
        );
        assert_ne!(a.changed, c.changed, "another seed, another night");
    }

    #[test]
    fn counts_are_the_percentages_and_disjoint() {
        let (old, c) = night(2000, 3);
        assert_eq!(
            (
                c.changed.len(),
                c.removed.len(),
                c.added.len(),
                c.moved.len(),
                c.contacts_changed.len()
            ),
            (100, 20, 20, 10, 20)
        );
        let all: BTreeSet<&String> = c
            .changed
            .iter()
            .chain(&c.removed)
            .chain(&c.added)
            .chain(&c.moved)
            .collect();
        assert_eq!(all.len(), 150, "no student is touched twice");
        assert_eq!(c.roster.students.len(), old.students.len());
        let ids: BTreeSet<&str> = c.roster.students.iter().map(|s| s.id.as_str()).collect();
        assert!(c.removed.iter().all(|r| !ids.contains(r.as_str())));
        assert!(c.added.iter().all(|a| ids.contains(a.as_str())));
        assert!(
            c.roster
                .enrollments
                .iter()
                .all(|e| !c.removed.contains(&e.user_id)),
            "removed students keep no enrollment"
        );
        assert!(
            c.roster
                .contacts
                .iter()
                .flat_map(|k| &k.links)
                .all(|l| ids.contains(l.student_id.as_str())),
            "every link names a student of the night"
        );
        let none = next_night(
            &old,
            &NextNight {
                changed_pct: 0.0,
                removed_pct: 0.0,
                added_pct: 0.0,
                moved_pct: 0.0,
                contacts_changed_pct: 0.0,
                seed: 1,
            },
        );
        assert_eq!(none.expected, Expected::default());
        assert_eq!(none.expected.writes(), 0);
    }

    #[test]
    fn moved_students_change_school_and_sections() {
        let (old, c) = night(3000, 7);
        let before: HashMap<&str, &Student> =
            old.students.iter().map(|s| (s.id.as_str(), s)).collect();
        let section_school: HashMap<&str, &str> = old
            .sections
            .iter()
            .map(|s| (s.id.as_str(), s.school_id.as_str()))
            .collect();
        for id in &c.moved {
            let now = c.roster.students.iter().find(|s| &s.id == id).unwrap();
            assert_ne!(now.school_ids, before[id.as_str()].school_ids);
            let schools: BTreeSet<&str> = c
                .roster
                .enrollments
                .iter()
                .filter(|e| &e.user_id == id)
                .map(|e| section_school[e.section_id.as_str()])
                .collect();
            assert_eq!(schools, BTreeSet::from([now.school_ids[0].as_str()]));
        }
    }

    #[test]
    fn expected_counts_follow_the_changes() {
        let (old, c) = night(2000, 3);
        let e = &c.expected;
        let students = e.get(EntityKind::Students);
        assert_eq!(students.created, c.added.len() as u64);
        assert_eq!(students.archived, c.removed.len() as u64);
        assert_eq!(students.updated, (c.changed.len() + c.moved.len()) as u64);
        for k in [
            EntityKind::Schools,
            EntityKind::Classrooms,
            EntityKind::Staff,
        ] {
            assert_eq!(e.get(k), ExpectedCounts::default(), "{}", k.as_str());
        }
        // Enrollment counts are the difference of the two rosters' student memberships.
        let pairs = |r: &Roster| -> BTreeSet<(String, String)> {
            r.enrollments
                .iter()
                .filter(|x| x.role == EnrollmentRole::Student)
                .map(|x| (x.section_id.clone(), x.user_id.clone()))
                .collect()
        };
        let (a, b) = (pairs(&old), pairs(&c.roster));
        let enr = e.get(EntityKind::Enrollments);
        assert_eq!(enr.created, b.difference(&a).count() as u64);
        assert_eq!(enr.archived, a.difference(&b).count() as u64);
        assert!(enr.created > 0 && enr.archived > 0);
        let guardians = e.get(EntityKind::Guardians);
        assert!(guardians.updated >= c.contacts_changed.len() as u64);
        assert!(guardians.archived > 0 && c.links_of_removed == guardians.archived);
        assert_eq!(
            e.get(EntityKind::GuardianLinks).created,
            guardians.created,
            "one link per new contact"
        );
        assert_eq!(
            e.writes(),
            e.0.values()
                .map(|x| x.created + x.updated + x.archived)
                .sum::<u64>()
        );
    }
}
