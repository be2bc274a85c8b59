//! Builds a realistic district: schools by grade band, families with shared guardians,
//! elementary homerooms, secondary schedules with core blocks and mixed electives, staff.
//!
//! Everything is drawn from [`Rng`] streams derived from the seed, and every collection is built
//! in a fixed order (no hash-map iteration reaches the output), so a seed fully determines the
//! roster.

use crate::Spec;
use crate::names::{self, ORIGINS, Origin};
use crate::rng::Rng;
use chrono::{Days, NaiveDate};
use domain::{
    ClassType, Contact, ContactLink, ContactType, Course, Coverage, Email, Enrollment,
    EnrollmentRole, Grade, Phone, PhoneType, Relationship, Roster, School, Section, SourceDistrict,
    Staff, StaffRole, Student, Term,
};
use std::collections::{BTreeMap, HashSet};

/// The school year every synthetic district is in (it ends in 2026).
pub const SCHOOL_YEAR_END: i32 = 2026;

const ELEMENTARY_SIZE: usize = 450;
const MIDDLE_SIZE: usize = 700;
const HIGH_SIZE: usize = 1200;
const HOMEROOM_SIZE: usize = 22;
const BLOCK_SIZE: usize = 28;
const ELECTIVE_SIZE: usize = 30;
const PERIODS: u8 = 7;
/// Sections a secondary teacher teaches (of [`PERIODS`]).
const TEACHER_LOAD: u8 = 5;

/// Relative sizes of grades KG..12.
const GRADE_WEIGHTS: [u32; 13] = [100, 100, 100, 99, 99, 98, 98, 97, 97, 100, 96, 92, 88];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Band {
    Elementary,
    Middle,
    High,
}

impl Band {
    fn of(grade: u8) -> Self {
        match grade {
            0..=5 => Self::Elementary,
            6..=8 => Self::Middle,
            _ => Self::High,
        }
    }
    fn index(self) -> usize {
        self as usize
    }
    fn grades(self) -> std::ops::RangeInclusive<u8> {
        match self {
            Self::Elementary => 0..=5,
            Self::Middle => 6..=8,
            Self::High => 9..=12,
        }
    }
    fn target_size(self) -> usize {
        match self {
            Self::Elementary => ELEMENTARY_SIZE,
            Self::Middle => MIDDLE_SIZE,
            Self::High => HIGH_SIZE,
        }
    }
    fn suffix(self) -> &'static str {
        match self {
            Self::Elementary => "Elementary School",
            Self::Middle => "Middle School",
            Self::High => "High School",
        }
    }
}

fn grade(ordinal: u8) -> Grade {
    Grade::from_ordinal(ordinal as i8).unwrap_or(Grade::Ungraded)
}

/// A course in the built-in catalogue: `(subject, name, number, semester-long)`.
type CatalogEntry = (&'static str, &'static str, &'static str, bool);

const MIDDLE_ELECTIVES: &[CatalogEntry] = &[
    ("PE and health", "Physical Education", "PE-MS", false),
    ("arts and music", "Art", "ART-MS", false),
    ("arts and music", "Band", "BAND-MS", false),
    ("arts and music", "Choir", "CHOIR-MS", false),
    ("language", "Spanish", "SPAN-MS", false),
    (
        "technology and engineering",
        "Computer Science",
        "CS-MS",
        false,
    ),
    (
        "interventions/online learning",
        "Reading Intervention",
        "READ-MS",
        false,
    ),
];

const HIGH_YEAR_ELECTIVES: &[CatalogEntry] = &[
    ("PE and health", "PE & Health", "PE-HS", false),
    ("language", "Spanish I", "SPAN1", false),
    ("language", "Spanish II", "SPAN2", false),
    ("language", "French I", "FREN1", false),
    ("arts and music", "Concert Band", "BAND-HS", false),
    ("arts and music", "Studio Art", "ART-HS", false),
    (
        "technology and engineering",
        "AP Computer Science",
        "APCS",
        false,
    ),
    (
        "technology and engineering",
        "Engineering Design",
        "ENGR1",
        false,
    ),
];

const HIGH_SEMESTER_ELECTIVES: &[CatalogEntry] = &[
    ("social studies", "Psychology", "PSYCH", true),
    ("english/language arts", "Creative Writing", "CRWRI", true),
    ("arts and music", "Photography", "PHOTO", true),
    ("technology and engineering", "Web Design", "WEBD", true),
    ("other", "Financial Literacy", "FINLIT", true),
    ("math", "Statistics", "STATS", true),
];

const CORE_SUBJECTS: [&str; 4] = ["english/language arts", "math", "science", "social studies"];

/// The core course of `subject_index` for a secondary grade: `(name, number)`.
fn core_course(subject_index: usize, grade: u8) -> (String, String) {
    let high = |names: [&str; 4]| names[usize::from(grade.saturating_sub(9)).min(3)].to_string();
    let (name, prefix) = match (subject_index, grade >= 9) {
        (0, false) => (format!("English {grade}"), "ELA"),
        (1, false) => (format!("Math {grade}"), "MTH"),
        (2, false) => (format!("Science {grade}"), "SCI"),
        (_, false) => (format!("Social Studies {grade}"), "SS"),
        (0, true) => (format!("English {grade}"), "ENG"),
        (1, true) => (
            high(["Algebra I", "Geometry", "Algebra II", "Pre-Calculus"]),
            "MTH",
        ),
        (2, true) => (
            high(["Biology", "Chemistry", "Physics", "Environmental Science"]),
            "SCI",
        ),
        (_, true) => (
            high(["World History", "U.S. History", "Government", "Economics"]),
            "SS",
        ),
    };
    (name, format!("{prefix}{grade:02}"))
}

fn date(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d)
}

/// Indices of the three terms in `roster.terms`.
const YEAR: usize = 0;
const SEMESTER_1: usize = 1;
const SEMESTER_2: usize = 2;

struct Family {
    /// First contact index and how many.
    contacts: (u32, u8),
}

/// One teacher in a school's department pool: staff index, busy periods, sections taught.
struct PoolTeacher {
    staff: usize,
    busy: u8,
    load: u8,
}

/// Builder state shared by the phases.
struct Gen<'a> {
    spec: &'a Spec,
    roster: Roster,
    /// School of each student (index into `roster.schools`), parallel to `roster.students`.
    home: Vec<u32>,
    /// Second school for the ~1% of students attending two (`u32::MAX` when none).
    second: Vec<u32>,
    bands: Vec<Band>,
    families: Vec<Family>,
    staff_emails: HashSet<String>,
    /// Course number → index in `roster.courses`.
    courses: BTreeMap<String, usize>,
    phone_seq: u64,
    section_seq: usize,
    teacher_seq: usize,
    other_staff_seq: usize,
    untaught: usize,
}

/// Generates the district described by `spec`. See the crate docs for what is in it.
pub fn generate(spec: &Spec) -> Roster {
    let mut g = Gen {
        spec,
        roster: Roster::default(),
        home: Vec::with_capacity(spec.students),
        second: Vec::new(),
        bands: Vec::new(),
        families: Vec::new(),
        staff_emails: HashSet::new(),
        courses: BTreeMap::new(),
        phone_seq: Rng::new(spec.seed, 99).next_u64() % 1_000_000,
        section_seq: 0,
        teacher_seq: 0,
        other_staff_seq: 0,
        untaught: 0,
    };
    g.district();
    g.schools();
    g.families();
    g.schedule();
    g.school_staff();
    g.staff_parents();
    g.finish()
}

impl Gen<'_> {
    fn district(&mut self) {
        let mut rng = Rng::new(self.spec.seed, 1);
        let name = format!("{} Unified School District", rng.pick(names::DISTRICTS));
        self.roster.district = Some(SourceDistrict {
            id: self.spec.district_id.clone(),
            name: Some(name),
            state: Some("success".into()),
            pause_start: None,
            pause_end: None,
        });
        self.roster.coverage = Coverage::default();
        let y = SCHOOL_YEAR_END;
        let prev = y - 1;
        self.roster.terms = vec![
            Term {
                id: format!("{y}-Y"),
                name: format!("{prev}-{y} School Year"),
                start_date: date(prev, 8, 18),
                end_date: date(y, 6, 5),
            },
            Term {
                id: format!("{y}-S1"),
                name: format!("{prev}-{y} Semester 1"),
                start_date: date(prev, 8, 18),
                end_date: date(y, 1, 16),
            },
            Term {
                id: format!("{y}-S2"),
                name: format!("{prev}-{y} Semester 2"),
                start_date: date(y, 1, 20),
                end_date: date(y, 6, 5),
            },
        ];
    }

    /// Schools per band from the expected number of students in the band.
    fn schools(&mut self) {
        let total: u32 = GRADE_WEIGHTS.iter().sum();
        let mut rng = Rng::new(self.spec.seed, 2);
        let offset = rng.below(names::PLACES.len());
        let mut n = 0usize;
        for band in [Band::Elementary, Band::Middle, Band::High] {
            let weight: u32 = band.grades().map(|g| GRADE_WEIGHTS[usize::from(g)]).sum();
            let expected = self.spec.students as f64 * f64::from(weight) / f64::from(total);
            let count = ((expected / band.target_size() as f64).round() as usize).max(1);
            for k in 0..count {
                let place = names::PLACES[(offset + n) % names::PLACES.len()];
                let round = (offset + n) / names::PLACES.len();
                let name = if round == 0 {
                    format!("{place} {}", band.suffix())
                } else {
                    format!("{place} {} {}", band.suffix(), round + 1)
                };
                let id = format!("{:04}", 101 + n);
                let (lo, hi) = (*band.grades().start(), *band.grades().end());
                self.roster.schools.push(School {
                    sis_id: Some(id.clone()),
                    id,
                    name,
                    school_number: Some(format!("{:03}", n + 1)),
                    state_id: Some(format!("ST-{:05}", 20_000 + n * 7 + k)),
                    nces_id: Some(format!("0612345{:05}", 100 + n)),
                    low_grade: Some(grade(lo)),
                    high_grade: Some(grade(hi)),
                });
                self.bands.push(band);
                n += 1;
            }
        }
    }

    fn schools_of(&self, band: Band) -> Vec<u32> {
        (0..self.bands.len() as u32)
            .filter(|&i| self.bands[i as usize] == band)
            .collect()
    }

    /// A fresh fictional number `+1 AAA 555 LLLL` (always `Some`: eleven digits parse).
    fn next_phone(&mut self) -> Option<Phone> {
        let k = self.phone_seq;
        self.phone_seq += 1;
        let area = 201 + (k / 10_000) % 780;
        let line = k % 10_000;
        Phone::parse(&format!("+1{area}555{line:04}"))
    }

    /// Families of 1–4 children, each with 1–3 guardians linked to every child.
    fn families(&mut self) {
        let n = self.spec.students;
        let dirty = self.spec.dirty;
        let mut rng = Rng::new(self.spec.seed, 3);
        let by_band: Vec<Vec<u32>> = [Band::Elementary, Band::Middle, Band::High]
            .into_iter()
            .map(|b| self.schools_of(b))
            .collect();
        let secondary: Vec<u32> = by_band[1].iter().chain(&by_band[2]).copied().collect();
        self.roster.students.reserve_exact(n);
        self.roster.contacts.reserve(n);
        // ~4.6 memberships per student on average (homerooms 1, secondary 7–9 with teachers).
        self.roster.enrollments.reserve(n * 47 / 10);
        self.second = vec![u32::MAX; n];
        // Student ids are a permutation of 1..=n so that siblings do not get adjacent ids.
        let mult = coprime_multiplier(n as u64);
        let shift = rng.next_u64() % (n as u64).max(1);
        let width = 6.max(n.to_string().len());
        let mut contact_seq = 0usize;
        let mut i = 0usize;
        let weights = origin_weights();
        while i < n {
            let origin = &ORIGINS[rng.weighted(&weights)];
            let family_last = *rng.pick(origin.last);
            let language = origin.languages[rng.weighted(&language_weights(origin))].0;
            let size = (rng.weighted(&[30, 40, 20, 10]) + 1).min(n - i);
            let zone = rng.next_u64();
            let first_student = i;
            for _ in 0..size {
                let num = (i as u64 * mult + shift) % n as u64 + 1;
                let id = format!("{num:0width$}");
                let g = rng.weighted(&GRADE_WEIGHTS) as u8;
                let band = Band::of(g);
                let schools = &by_band[band.index()];
                let home = schools[(zone % schools.len() as u64) as usize];
                let mut school_ids = vec![self.roster.schools[home as usize].id.clone()];
                if band != Band::Elementary && secondary.len() > 1 && rng.chance(0.018) {
                    let mut other = home;
                    while other == home {
                        other = *rng.pick(&secondary);
                    }
                    self.second[i] = other;
                    school_ids.push(self.roster.schools[other as usize].id.clone());
                }
                let first = *rng.pick(origin.first);
                let middle = rng
                    .chance(0.35)
                    .then(|| (*rng.pick(origin.first)).to_string());
                let last = if rng.chance(0.08) {
                    *rng.pick(origin.last)
                } else {
                    family_last
                };
                let mut local = String::with_capacity(32);
                names::ascii_slug(first, &mut local);
                local.push('.');
                names::ascii_slug(last, &mut local);
                local.push_str(&num.to_string());
                let email = if dirty && rng.chance(0.02) {
                    None
                } else {
                    Email::parse(&format!("{local}@students.example.org"))
                };
                let student_number = if rng.chance(0.3) {
                    format!("{num:08}")
                } else {
                    format!("{}{num:06}", SCHOOL_YEAR_END + 12 - i32::from(g))
                };
                let dob = if dirty && rng.chance(0.003) {
                    None
                } else {
                    dob(&mut rng, g)
                };
                let home_language = if language == "English" || rng.chance(0.85) {
                    language
                } else {
                    "English"
                };
                self.roster.students.push(Student {
                    sis_id: Some(id.clone()),
                    id,
                    school_ids,
                    first_name: first.to_string(),
                    middle_name: middle,
                    last_name: last.to_string(),
                    grade: Some(grade(g)),
                    dob,
                    student_number: Some(student_number),
                    state_id: Some(format!("{}", 4_100_000_000u64 + num * 37)),
                    email,
                    username: Some(local),
                    home_language: Some(home_language.to_string()),
                });
                self.home.push(home);
                i += 1;
            }
            let start = self.roster.contacts.len() as u32;
            let guardians = if dirty && rng.chance(0.01) {
                0
            } else {
                rng.weighted(&[22, 68, 10]) + 1
            };
            for k in 0..guardians {
                contact_seq += 1;
                let (relationship, contact_type) = match (k, guardians) {
                    (0, 1) if rng.chance(0.1) => {
                        (Relationship::Grandparent, ContactType::ParentGuardian)
                    }
                    (0 | 1, _) if rng.chance(0.04) => {
                        (Relationship::Guardian, ContactType::ParentGuardian)
                    }
                    (0 | 1, _) => (Relationship::Parent, ContactType::ParentGuardian),
                    _ => (
                        *rng.pick(&[
                            Relationship::Grandparent,
                            Relationship::AuntUncle,
                            Relationship::Other,
                        ]),
                        if rng.chance(0.8) {
                            ContactType::Emergency
                        } else {
                            ContactType::Family
                        },
                    ),
                };
                let links = (first_student..first_student + size)
                    .map(|s| ContactLink {
                        student_id: self.roster.students[s].id.clone(),
                        relationship: Some(relationship),
                        contact_type: Some(contact_type),
                    })
                    .collect();
                let contact =
                    self.contact(&mut rng, contact_seq, origin, family_last, language, links);
                self.roster.contacts.push(contact);
            }
            self.families.push(Family {
                contacts: (start, guardians as u8),
            });
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn contact(
        &mut self,
        rng: &mut Rng,
        seq: usize,
        origin: &Origin,
        family_last: &str,
        language: &str,
        links: Vec<ContactLink>,
    ) -> Contact {
        let id = format!("G{seq:06}");
        let first = *rng.pick(origin.first);
        let last = if rng.chance(0.85) {
            family_last
        } else {
            *rng.pick(origin.last)
        };
        let mut local = String::with_capacity(40);
        names::ascii_slug(first, &mut local);
        local.push('.');
        names::ascii_slug(last, &mut local);
        local.push_str(&seq.to_string());
        let domain = rng.pick(&["example.com", "example.net", "mail.example.org"]);
        let mut email = if rng.chance(0.85) {
            Email::parse(&format!("{local}@{domain}"))
        } else {
            None
        };
        let (mut sms, mut phone, phone_type) = match rng.weighted(&[80, 12, 5, 3]) {
            0 => {
                let home = if rng.chance(0.12) {
                    self.next_phone()
                } else {
                    None
                };
                (self.next_phone(), home, Some(PhoneType::Cell))
            }
            1 => (None, self.next_phone(), Some(PhoneType::Home)),
            2 => (None, self.next_phone(), Some(PhoneType::Work)),
            _ => (None, None, None),
        };
        if self.spec.dirty && rng.chance(0.01) {
            // Neither an email nor an SMS-capable phone: cannot log in.
            email = None;
            sms = None;
            if phone.is_none() && rng.chance(0.5) {
                phone = self.next_phone();
            }
        } else if sms.is_none() && email.is_none() {
            email = Email::parse(&format!("{local}@{domain}"));
        }
        Contact {
            sis_id: rng.chance(0.9).then(|| id.clone()),
            id,
            first_name: first.to_string(),
            last_name: last.to_string(),
            email,
            sms,
            phone_type: if phone_type.is_none() && phone.is_some() {
                Some(PhoneType::Home)
            } else {
                phone_type
            },
            phone,
            language: Some(language.to_string()),
            links,
        }
    }

    fn new_staff(&mut self, rng: &mut Rng, school: u32, role: StaffRole, title: &str) -> usize {
        let origin = &ORIGINS[rng.weighted(&origin_weights())];
        let first = *rng.pick(origin.first);
        let last = *rng.pick(origin.last);
        let (id, number) = if role == StaffRole::Teacher {
            self.teacher_seq += 1;
            (format!("T{:05}", self.teacher_seq), self.teacher_seq)
        } else {
            self.other_staff_seq += 1;
            (
                format!("S{:05}", self.other_staff_seq),
                50_000 + self.other_staff_seq,
            )
        };
        let mut local = String::with_capacity(32);
        names::ascii_slug(first, &mut local);
        local.push('.');
        names::ascii_slug(last, &mut local);
        let base = local.len();
        let mut k = 1;
        while !self.staff_emails.insert(local.clone()) {
            k += 1;
            local.truncate(base);
            local.push_str(&k.to_string());
        }
        let email = if self.spec.dirty && role != StaffRole::Teacher && rng.chance(0.02) {
            None
        } else {
            Email::parse(&format!("{local}@staff.example.org"))
        };
        let sms = if rng.chance(0.4) {
            self.next_phone()
        } else {
            None
        };
        let phone = if rng.chance(0.1) {
            self.next_phone()
        } else {
            None
        };
        self.roster.staff.push(Staff {
            sis_id: Some(id.clone()),
            id,
            school_ids: vec![self.roster.schools[school as usize].id.clone()],
            first_name: first.to_string(),
            middle_name: rng
                .chance(0.2)
                .then(|| (*rng.pick(origin.first)).to_string()),
            last_name: last.to_string(),
            email,
            staff_number: Some(format!("{number:06}")),
            state_id: (role == StaffRole::Teacher).then(|| format!("E{:08}", 31_000_000 + number)),
            title: Some(title.to_string()),
            roles: vec![role],
            sms,
            phone,
            language: None,
        });
        self.roster.staff.len() - 1
    }

    fn course(&mut self, subject: &str, name: &str, number: &str) -> (usize, String) {
        if let Some(&i) = self.courses.get(number) {
            return (i, self.roster.courses[i].id.clone());
        }
        let _ = subject;
        let i = self.roster.courses.len();
        let id = format!("{:05}", 100 + i);
        self.roster.courses.push(Course {
            id: id.clone(),
            name: name.to_string(),
            number: Some(number.to_string()),
        });
        self.courses.insert(number.to_string(), i);
        (i, id)
    }

    #[allow(clippy::too_many_arguments)]
    fn section(
        &mut self,
        school: u32,
        name: String,
        course_id: String,
        section_number: String,
        period: Option<u8>,
        grade_ordinal: Option<u8>,
        subject: &str,
        term: usize,
        class_type: ClassType,
    ) -> usize {
        self.section_seq += 1;
        let id = format!("{:07}", self.section_seq);
        self.roster.sections.push(Section {
            sis_id: Some(id.clone()),
            id,
            school_id: self.roster.schools[school as usize].id.clone(),
            name,
            section_number: Some(section_number),
            period: period.map(|p| p.to_string()),
            grade: grade_ordinal.map(grade),
            subject: Some(subject.to_string()),
            course_id: Some(course_id),
            term_ids: vec![self.roster.terms[term].id.clone()],
            class_type: Some(class_type),
        });
        self.roster.sections.len() - 1
    }

    fn enroll(&mut self, section: usize, user_id: String, role: EnrollmentRole, primary: bool) {
        let s = &self.roster.sections[section];
        self.roster.enrollments.push(Enrollment {
            section_id: s.id.clone(),
            school_id: s.school_id.clone(),
            user_id,
            role,
            primary,
            begin_date: None,
            end_date: None,
        });
    }

    fn enroll_students(&mut self, section: usize, students: &[u32]) {
        for &st in students {
            let id = self.roster.students[st as usize].id.clone();
            self.enroll(section, id, EnrollmentRole::Student, false);
        }
    }

    /// Gives a section its teacher(s) from the school's department pool and names it the way
    /// Clever does: "course - teacher last name - period".
    #[allow(clippy::too_many_arguments)]
    fn staff_section(
        &mut self,
        rng: &mut Rng,
        pools: &mut BTreeMap<&'static str, Vec<PoolTeacher>>,
        school: u32,
        section: usize,
        department: &'static str,
        period: u8,
        co_teach: bool,
    ) {
        let course = self.roster.sections[section].name.clone();
        // A few sections have no teacher yet (at least one in any district with ~100 sections).
        if rng.chance(0.006) || (self.untaught == 0 && self.section_seq >= 97) {
            self.untaught += 1;
            self.roster.sections[section].name = format!("{course} - {period}");
            return;
        }
        let mut teachers = Vec::with_capacity(2);
        for dept in [Some(department), co_teach.then_some("special education")]
            .into_iter()
            .flatten()
        {
            let bit = 1u8 << (period - 1);
            let pool = pools.entry(dept).or_default();
            let found = pool
                .iter()
                .position(|t| t.busy & bit == 0 && t.load < TEACHER_LOAD);
            let slot = match found {
                Some(j) => j,
                None => {
                    let title = if dept == "special education" {
                        "Special Education Teacher".to_string()
                    } else {
                        format!("Teacher ({dept})")
                    };
                    let staff = self.new_staff(rng, school, StaffRole::Teacher, &title);
                    let pool = pools.entry(dept).or_default();
                    pool.push(PoolTeacher {
                        staff,
                        busy: 0,
                        load: 0,
                    });
                    pool.len() - 1
                }
            };
            let pool = pools.entry(dept).or_default();
            pool[slot].busy |= bit;
            pool[slot].load += 1;
            teachers.push(pool[slot].staff);
        }
        let Some(&lead) = teachers.first() else {
            return;
        };
        let last = self.roster.staff[lead].last_name.clone();
        self.roster.sections[section].name = format!("{course} - {last} - {period}");
        for (k, t) in teachers.into_iter().enumerate() {
            let id = self.roster.staff[t].id.clone();
            self.enroll(section, id, EnrollmentRole::Teacher, k == 0);
        }
    }

    fn schedule(&mut self) {
        let mut rng = Rng::new(self.spec.seed, 4);
        let n_schools = self.roster.schools.len();
        // Students of each school by grade.
        let mut rosters: Vec<Vec<Vec<u32>>> = vec![vec![Vec::new(); 13]; n_schools];
        for (i, st) in self.roster.students.iter().enumerate() {
            let g = st.grade.map_or(0, |g| g.ordinal().clamp(0, 12) as usize);
            rosters[self.home[i] as usize][g].push(i as u32);
        }
        // Elective requests: (school, period, catalog entry index, term) -> students.
        let mut electives: BTreeMap<(u32, u8, usize, usize), Vec<u32>> = BTreeMap::new();
        let mut pools: Vec<BTreeMap<&'static str, Vec<PoolTeacher>>> =
            (0..n_schools).map(|_| BTreeMap::new()).collect();
        for school in 0..n_schools as u32 {
            let band = self.bands[school as usize];
            let by_grade = std::mem::take(&mut rosters[school as usize]);
            for g in band.grades() {
                let students = &by_grade[usize::from(g)];
                if students.is_empty() {
                    continue;
                }
                if band == Band::Elementary {
                    self.homerooms(&mut rng, school, g, students);
                    continue;
                }
                let blocks = students.len().div_ceil(BLOCK_SIZE);
                for b in 0..blocks {
                    let members: Vec<u32> =
                        students.iter().skip(b).step_by(blocks).copied().collect();
                    for (c, subject) in CORE_SUBJECTS.iter().enumerate() {
                        let period = ((b + c) % usize::from(PERIODS)) as u8 + 1;
                        let (course_name, number) = core_course(c, g);
                        let (_, course_id) = self.course(subject, &course_name, &number);
                        let sec = self.section(
                            school,
                            course_name,
                            course_id,
                            format!("{number}-{:02}", b + 1),
                            Some(period),
                            Some(g),
                            subject,
                            YEAR,
                            ClassType::Scheduled,
                        );
                        let co = rng.chance(0.06);
                        self.staff_section(
                            &mut rng,
                            &mut pools[school as usize],
                            school,
                            sec,
                            subject,
                            period,
                            co,
                        );
                        self.enroll_students(sec, &members);
                    }
                    // The other periods: electives, one of them maybe left free.
                    let core: Vec<u8> = (0..4)
                        .map(|c| ((b + c) % usize::from(PERIODS)) as u8 + 1)
                        .collect();
                    let free: Vec<u8> = (1..=PERIODS).filter(|p| !core.contains(p)).collect();
                    for &st in &members {
                        let dual = self.second[st as usize];
                        let skip = rng
                            .chance(0.15)
                            .then(|| *rng.pick(&free))
                            .filter(|&p| dual == u32::MAX || Some(&p) != free.last());
                        for (k, &p) in free.iter().enumerate() {
                            if Some(p) == skip {
                                continue;
                            }
                            // A student at two schools takes their last elective at the other one.
                            let at = if dual != u32::MAX && k + 1 == free.len() {
                                dual
                            } else {
                                school
                            };
                            let at_band = self.bands[at as usize];
                            if at_band == Band::High && k + 1 == free.len() {
                                for term in [SEMESTER_1, SEMESTER_2] {
                                    let e = rng.below(HIGH_SEMESTER_ELECTIVES.len());
                                    electives
                                        .entry((at, p, 100 + e, term))
                                        .or_default()
                                        .push(st);
                                }
                            } else {
                                let list = catalog(at_band);
                                let e = rng.below(list.len());
                                electives.entry((at, p, e, YEAR)).or_default().push(st);
                            }
                        }
                    }
                }
            }
        }
        for ((school, period, entry, term), students) in electives {
            let band = self.bands[school as usize];
            let (subject, name, number, _) = if entry >= 100 {
                HIGH_SEMESTER_ELECTIVES[entry - 100]
            } else {
                catalog(band)[entry]
            };
            let (_, course_id) = self.course(subject, name, number);
            let count = students.len().div_ceil(ELECTIVE_SIZE);
            for k in 0..count {
                let members: Vec<u32> = students.iter().skip(k).step_by(count).copied().collect();
                let sec = self.section(
                    school,
                    name.to_string(),
                    course_id.clone(),
                    format!("{number}-{period}{:02}", k + 1),
                    Some(period),
                    None,
                    subject,
                    term,
                    ClassType::Scheduled,
                );
                self.staff_section(
                    &mut rng,
                    &mut pools[school as usize],
                    school,
                    sec,
                    subject,
                    period,
                    false,
                );
                self.enroll_students(sec, &members);
            }
        }
    }

    fn homerooms(&mut self, rng: &mut Rng, school: u32, g: u8, students: &[u32]) {
        let count = students.len().div_ceil(HOMEROOM_SIZE);
        let grade_name = if g == 0 {
            "Kindergarten".to_string()
        } else {
            format!("Grade {g}")
        };
        let number = format!("HR-{}", grade(g).code());
        let (_, course_id) = self.course(
            "homeroom/advisory",
            &format!("{grade_name} Homeroom"),
            &number,
        );
        for k in 0..count {
            let teacher = self.new_staff(
                rng,
                school,
                StaffRole::Teacher,
                &format!("{grade_name} Teacher"),
            );
            let last = self.roster.staff[teacher].last_name.clone();
            let sec = self.section(
                school,
                format!("{grade_name} Homeroom - {last}"),
                course_id.clone(),
                format!("{number}-{:02}", k + 1),
                None,
                Some(g),
                "homeroom/advisory",
                YEAR,
                ClassType::Homeroom,
            );
            let tid = self.roster.staff[teacher].id.clone();
            self.enroll(sec, tid, EnrollmentRole::Teacher, true);
            let members: Vec<u32> = students.iter().skip(k).step_by(count).copied().collect();
            self.enroll_students(sec, &members);
        }
    }

    /// Administrators, office staff, specials teachers and aides: people without sections.
    fn school_staff(&mut self) {
        let mut rng = Rng::new(self.spec.seed, 5);
        for school in 0..self.roster.schools.len() as u32 {
            let band = self.bands[school as usize];
            self.new_staff(&mut rng, school, StaffRole::Administrator, "Principal");
            if band != Band::Elementary {
                self.new_staff(
                    &mut rng,
                    school,
                    StaffRole::Administrator,
                    "Assistant Principal",
                );
                self.new_staff(&mut rng, school, StaffRole::Staff, "Counselor");
            }
            self.new_staff(&mut rng, school, StaffRole::Staff, "Office Manager");
            if band == Band::Elementary {
                for title in ["PE Teacher", "Music Teacher", "Art Teacher"] {
                    self.new_staff(&mut rng, school, StaffRole::Teacher, title);
                }
            }
            for _ in 0..2 {
                self.new_staff(&mut rng, school, StaffRole::Aide, "Instructional Aide");
            }
        }
        // A few itinerant staff serve two schools.
        let n = self.roster.schools.len();
        if n > 1 {
            let count = (self.roster.staff.len() / 200).max(1);
            for _ in 0..count {
                let s = rng.below(self.roster.staff.len());
                let other = self.roster.schools[rng.below(n)].id.clone();
                let st = &mut self.roster.staff[s];
                if !st.school_ids.contains(&other) && st.roles == [StaffRole::Aide] {
                    st.school_ids.push(other);
                }
            }
        }
    }

    /// Some teachers are also parents: the family's first guardian gets the teacher's name,
    /// email and mobile number (a separate contact record, as in every source).
    fn staff_parents(&mut self) {
        let mut rng = Rng::new(self.spec.seed, 6);
        let families = self.families.len();
        if families == 0 || self.roster.staff.is_empty() {
            return;
        }
        let count = (self.roster.staff.len() / 40).max(1);
        for _ in 0..count {
            let s = rng.below(self.roster.staff.len());
            let f = rng.below(families);
            let (start, n) = self.families[f].contacts;
            if n == 0 {
                continue;
            }
            if self.roster.staff[s].sms.is_none() {
                self.roster.staff[s].sms = self.next_phone();
            }
            let st = &self.roster.staff[s];
            let (first, last, email, sms) = (
                st.first_name.clone(),
                st.last_name.clone(),
                st.email.clone(),
                st.sms.clone(),
            );
            let c = &mut self.roster.contacts[start as usize];
            c.first_name = first;
            c.last_name = last;
            if email.is_some() {
                c.email = email;
            }
            c.sms = sms;
            c.phone_type = Some(PhoneType::Cell);
        }
    }

    fn finish(mut self) -> Roster {
        // Only courses some section uses (every generated course is, but keep the invariant).
        let used: HashSet<&str> = self
            .roster
            .sections
            .iter()
            .filter_map(|s| s.course_id.as_deref())
            .collect();
        let keep: Vec<bool> = self
            .roster
            .courses
            .iter()
            .map(|c| used.contains(c.id.as_str()))
            .collect();
        let mut k = keep.iter();
        self.roster.courses.retain(|_| *k.next().unwrap_or(&true));
        self.roster
    }
}

fn catalog(band: Band) -> &'static [CatalogEntry] {
    match band {
        Band::High => HIGH_YEAR_ELECTIVES,
        _ => MIDDLE_ELECTIVES,
    }
}

fn origin_weights() -> Vec<u32> {
    ORIGINS.iter().map(|o| o.weight).collect()
}

fn language_weights(origin: &Origin) -> Vec<u32> {
    origin.languages.iter().map(|l| l.1).collect()
}

/// A birth date that fits the grade on 1 September of the school year (KG = 5 years old),
/// with a few students a year older or younger.
fn dob(rng: &mut Rng, g: u8) -> Option<NaiveDate> {
    let mut age = 5 + i32::from(g);
    if rng.chance(0.04) {
        age += if rng.chance(0.8) { 1 } else { -1 };
    }
    let start = date(SCHOOL_YEAR_END - 1 - age - 1, 9, 2)?;
    start.checked_add_days(Days::new(rng.below(365) as u64))
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// A multiplier coprime with `n`, so `i * m % n` permutes `0..n`.
fn coprime_multiplier(n: u64) -> u64 {
    if n <= 2 {
        return 1;
    }
    let mut m = (n / 2 + n / 7) | 1;
    while gcd(m, n) != 1 {
        m += 2;
    }
    m
}
