//! OneRoster 1.1 CSV reader: a folder or ZIP of `manifest.csv` plus data files, or the cut-down
//! profile (`users.csv`, `classes.csv`, `enrollments.csv`, no manifest, no `orgs.csv`), into a
//! canonical [`Roster`].
//!
//! - Header names are exact and case-sensitive (a UTF-8 BOM is skipped); order is free; a
//!   missing required column is an error. Unknown columns (`metadata.*`...) are ignored.
//! - The manifest's `file.<name> = bulk|delta|absent` sets [`Roster::coverage`]. In delta files,
//!   `status=tobedeleted` rows become [`Deletion`]s and are not returned as live records; in bulk
//!   files such rows are skipped. An enrollment deletion's id is `<classSourcedId>/<userSourcedId>`
//!   because canonical enrollments have no id of their own.
//! - References are checked only against bulk files (a delta may refer to records sent earlier).
//! - Cut-down profile: `users.csv` may say `sourceId` and `enrollments.csv` `schoolSourcedID`;
//!   schools are the distinct `orgSourcedIds` of users and `schoolSourcedId` of classes, named by
//!   their id. They are derived, so `coverage.schools` is `Absent` (nothing may be archived or
//!   renamed from them).

use crate::SourceError;
use crate::files::FileSet;
use crate::files::ids::{IdMap, IdSet};
use crate::files::table::{Col, FastSet, Row, Table, bool_word, error, list};
use domain::{
    ClassType, Contact, ContactLink, Course, Coverage, Deletion, Enrollment, EnrollmentRole,
    EntityKind, FeedMode, Issue, IssueCode, Location, Relationship, Roster, School, Section,
    SourceDistrict, SourceKind, Staff, StaffRole, Student, Term,
};
use std::borrow::Cow;
use std::hash::BuildHasher;

/// Reads a OneRoster 1.1 CSV set. Errors (nothing usable) are returned; record-level problems
/// become warnings in [`Roster::warnings`].
pub fn read(files: &FileSet) -> Result<Roster, SourceError> {
    let profile = if files.contains(MANIFEST) {
        Profile::Full
    } else if files.contains(USERS) && !files.contains(ORGS) {
        Profile::CutDown
    } else {
        return Err(error(
            IssueCode::MissingManifest,
            Location::file(MANIFEST),
            "`manifest.csv` is required (only a set of users.csv, classes.csv and enrollments.csv without orgs.csv may omit it)",
        ));
    };
    let mut warnings = Vec::new();
    let modes = match profile {
        Profile::Full => read_manifest(files, &mut warnings)?,
        Profile::CutDown => Modes::cut_down(files),
    };

    // Every file the manifest promises must be there.
    let mut errors = Vec::new();
    for (name, mode) in modes.all() {
        if mode != FeedMode::Absent && !files.contains(name) {
            errors.push(Issue::error(
                IssueCode::MissingFile,
                Location::file(name),
                format!("the manifest lists `{name}` as bulk or delta but the file is missing"),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(SourceError::Invalid { issues: errors });
    }
    let load = |name: &str, mode: FeedMode| -> Result<Option<Cow<'_, [u8]>>, SourceError> {
        if mode == FeedMode::Absent {
            Ok(None)
        } else {
            files.bytes(name).map(Some)
        }
    };
    let orgs_b = load(ORGS, modes.orgs)?;
    let sessions_b = load(SESSIONS, modes.sessions)?;
    let courses_b = load(COURSES, modes.courses)?;
    let users_b = load(USERS, modes.users)?;
    let demo_b = load(DEMOGRAPHICS, modes.demographics)?;
    let classes_b = load(CLASSES, modes.classes)?;
    let enrol_b = load(ENROLLMENTS, modes.enrollments)?;

    let mut orgs_t = open(ORGS, &orgs_b)?;
    let mut sessions_t = open(SESSIONS, &sessions_b)?;
    let mut courses_t = open(COURSES, &courses_b)?;
    let mut users_t = open(USERS, &users_b)?;
    let mut demo_t = open(DEMOGRAPHICS, &demo_b)?;
    let mut classes_t = open(CLASSES, &classes_b)?;
    let mut enrol_t = open(ENROLLMENTS, &enrol_b)?;

    if modes.users == FeedMode::Bulk && users_t.as_ref().is_some_and(Table::has_no_header) {
        return Err(empty_feed());
    }

    // Resolve every header before reading any row, so all missing columns are reported at once.
    let full = profile == Profile::Full;
    let orgs_c = orgs_t
        .as_ref()
        .map(|t| OrgCols::new(t, modes.orgs, &mut errors, &mut warnings));
    let sessions_c = sessions_t
        .as_ref()
        .map(|t| SessionCols::new(t, modes.sessions, &mut errors, &mut warnings));
    let courses_c = courses_t
        .as_ref()
        .map(|t| CourseCols::new(t, modes.courses, &mut errors, &mut warnings));
    let users_c = users_t
        .as_ref()
        .map(|t| UserCols::new(t, full, modes.users, &mut errors, &mut warnings));
    let demo_c = demo_t
        .as_ref()
        .map(|t| DemoCols::new(t, modes.demographics, &mut errors, &mut warnings));
    let classes_c = classes_t
        .as_ref()
        .map(|t| ClassCols::new(t, full, modes.classes, &mut errors, &mut warnings));
    let enrol_c = enrol_t
        .as_ref()
        .map(|t| EnrolCols::new(t, full, modes.enrollments, &mut errors, &mut warnings));
    if !errors.is_empty() {
        return Err(SourceError::Invalid { issues: errors });
    }

    let mut r = Reader {
        profile,
        modes,
        roster: Roster {
            source: Some(SourceKind::OnerosterCsv),
            coverage: modes.coverage(profile),
            ..Roster::default()
        },
        w: warnings,
        orgs: IdMap::default(),
        terms: IdSet::default(),
        courses: IdSet::default(),
        users: IdMap::default(),
        contact_rel: Vec::new(),
        classes: IdMap::default(),
        derived_schools: IdSet::default(),
    };
    if let (Some(t), Some(c)) = (orgs_t.as_mut(), orgs_c) {
        r.read_orgs(t, &c)?;
    }
    if let (Some(t), Some(c)) = (sessions_t.as_mut(), sessions_c) {
        r.read_sessions(t, &c)?;
    }
    if let (Some(t), Some(c)) = (courses_t.as_mut(), courses_c) {
        r.read_courses(t, &c)?;
    }
    let mut deleted_users = 0;
    if let (Some(t), Some(c)) = (users_t.as_mut(), users_c) {
        deleted_users = r.read_users(t, &c)?;
    }
    let people = r.roster.students.len() + r.roster.staff.len() + r.roster.contacts.len();
    if r.modes.users == FeedMode::Bulk && people == 0 && deleted_users == 0 {
        return Err(empty_feed());
    }
    if let (Some(t), Some(c)) = (demo_t.as_mut(), demo_c) {
        r.read_demographics(t, &c)?;
    }
    if let (Some(t), Some(c)) = (classes_t.as_mut(), classes_c) {
        r.read_classes(t, &c)?;
    }
    if let (Some(t), Some(c)) = (enrol_t.as_mut(), enrol_c) {
        r.read_enrollments(t, &c)?;
    }
    let mut roster = r.roster;
    roster.warnings = r.w;
    Ok(roster)
}

const MANIFEST: &str = "manifest.csv";
const ORGS: &str = "orgs.csv";
const SESSIONS: &str = "academicSessions.csv";
const COURSES: &str = "courses.csv";
const USERS: &str = "users.csv";
const DEMOGRAPHICS: &str = "demographics.csv";
const CLASSES: &str = "classes.csv";
const ENROLLMENTS: &str = "enrollments.csv";

fn open<'a>(
    name: &'a str,
    bytes: &'a Option<Cow<'_, [u8]>>,
) -> Result<Option<Table<'a>>, SourceError> {
    bytes.as_deref().map(|b| Table::open(name, b)).transpose()
}

fn empty_feed() -> SourceError {
    error(
        IssueCode::EmptyFeed,
        Location::file(USERS),
        "`users.csv` holds no users: refusing a feed that would empty the roster",
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Profile {
    Full,
    CutDown,
}

/// The feed mode of each data file this reader uses.
#[derive(Debug, Clone, Copy)]
struct Modes {
    orgs: FeedMode,
    sessions: FeedMode,
    courses: FeedMode,
    users: FeedMode,
    demographics: FeedMode,
    classes: FeedMode,
    enrollments: FeedMode,
}

impl Modes {
    fn present(files: &FileSet, name: &str) -> FeedMode {
        if files.contains(name) {
            FeedMode::Bulk
        } else {
            FeedMode::Absent
        }
    }

    fn cut_down(files: &FileSet) -> Self {
        Self {
            orgs: FeedMode::Absent,
            sessions: FeedMode::Absent,
            courses: FeedMode::Absent,
            users: FeedMode::Bulk,
            demographics: FeedMode::Absent,
            classes: Self::present(files, CLASSES),
            enrollments: Self::present(files, ENROLLMENTS),
        }
    }

    fn all(&self) -> [(&'static str, FeedMode); 7] {
        [
            (ORGS, self.orgs),
            (SESSIONS, self.sessions),
            (COURSES, self.courses),
            (USERS, self.users),
            (DEMOGRAPHICS, self.demographics),
            (CLASSES, self.classes),
            (ENROLLMENTS, self.enrollments),
        ]
    }

    fn slot(&mut self, file: &str) -> Option<&mut FeedMode> {
        Some(match file {
            "orgs" => &mut self.orgs,
            "academicSessions" => &mut self.sessions,
            "courses" => &mut self.courses,
            "users" => &mut self.users,
            "demographics" => &mut self.demographics,
            "classes" => &mut self.classes,
            "enrollments" => &mut self.enrollments,
            _ => return None,
        })
    }

    fn coverage(&self, profile: Profile) -> Coverage {
        Coverage {
            schools: match profile {
                Profile::Full => self.orgs,
                Profile::CutDown => FeedMode::Absent,
            },
            sections: self.classes,
            users: self.users,
            enrollments: self.enrollments,
        }
    }
}

fn read_manifest(files: &FileSet, w: &mut Vec<Issue>) -> Result<Modes, SourceError> {
    // Files the manifest does not mention count as bulk when present.
    let mut modes = Modes {
        orgs: Modes::present(files, ORGS),
        sessions: Modes::present(files, SESSIONS),
        courses: Modes::present(files, COURSES),
        users: Modes::present(files, USERS),
        demographics: Modes::present(files, DEMOGRAPHICS),
        classes: Modes::present(files, CLASSES),
        enrollments: Modes::present(files, ENROLLMENTS),
    };
    let bytes = files.bytes(MANIFEST)?;
    let mut t = Table::open(MANIFEST, &bytes)?;
    let mut errors = Vec::new();
    let mut c = t.columns(false);
    let name_c = c.req("propertyName");
    let value_c = c.req("value");
    c.finish(&mut errors, w);
    if !errors.is_empty() {
        return Err(SourceError::Invalid { issues: errors });
    }
    while let Some(row) = t.next_row()? {
        let Some(file) = row.get(name_c, w).and_then(|p| p.strip_prefix("file.")) else {
            continue;
        };
        let Some(slot) = modes.slot(file) else {
            continue;
        };
        *slot = match row.get(value_c, w) {
            Some(v) if v.eq_ignore_ascii_case("bulk") => FeedMode::Bulk,
            Some(v) if v.eq_ignore_ascii_case("delta") => FeedMode::Delta,
            Some(v) if v.eq_ignore_ascii_case("absent") => FeedMode::Absent,
            _ => {
                row.bad_enum(
                    value_c,
                    w,
                    "bulk, delta, absent",
                    "the file is read as delta (nothing is archived from it)",
                );
                FeedMode::Delta
            }
        };
    }
    Ok(modes)
}

/// `status` of a row: live, or to be deleted.
fn is_deleted(row: &Row<'_>, col: Col, w: &mut Vec<Issue>) -> bool {
    match row.get(col, w) {
        None => false,
        Some(s) if s.eq_ignore_ascii_case("tobedeleted") => true,
        Some(s) if s.eq_ignore_ascii_case("active") || s.eq_ignore_ascii_case("inactive") => false,
        Some(_) => {
            row.bad_enum(
                col,
                w,
                "active, tobedeleted",
                "the record is read as active",
            );
            false
        }
    }
}

/// The `status` column: required in delta files, where deletions are explicit.
fn status_col(c: &mut crate::files::table::Columns<'_>, mode: FeedMode) -> Col {
    if mode == FeedMode::Delta {
        c.req("status")
    } else {
        c.opt("status")
    }
}

struct OrgCols {
    id: Col,
    status: Col,
    name: Col,
    kind: Col,
    identifier: Col,
}

impl OrgCols {
    fn new(t: &Table<'_>, mode: FeedMode, e: &mut Vec<Issue>, w: &mut Vec<Issue>) -> Self {
        let mut c = t.columns(false);
        let s = Self {
            id: c.req("sourcedId"),
            status: status_col(&mut c, mode),
            name: c.req("name"),
            kind: c.req("type"),
            identifier: c.opt("identifier"),
        };
        c.finish(e, w);
        s
    }
}

struct SessionCols {
    id: Col,
    status: Col,
    title: Col,
    start: Col,
    end: Col,
}

impl SessionCols {
    fn new(t: &Table<'_>, mode: FeedMode, e: &mut Vec<Issue>, w: &mut Vec<Issue>) -> Self {
        let mut c = t.columns(false);
        let s = Self {
            id: c.req("sourcedId"),
            status: status_col(&mut c, mode),
            title: c.req("title"),
            start: c.req("startDate"),
            end: c.req("endDate"),
        };
        c.req("type");
        c.req("schoolYear");
        c.finish(e, w);
        s
    }
}

struct CourseCols {
    id: Col,
    status: Col,
    title: Col,
    code: Col,
}

impl CourseCols {
    fn new(t: &Table<'_>, mode: FeedMode, e: &mut Vec<Issue>, w: &mut Vec<Issue>) -> Self {
        let mut c = t.columns(false);
        let s = Self {
            id: c.req("sourcedId"),
            status: status_col(&mut c, mode),
            title: c.req("title"),
            code: c.opt("courseCode"),
        };
        c.req("orgSourcedId");
        c.finish(e, w);
        s
    }
}

struct UserCols {
    id: Col,
    status: Col,
    enabled: Col,
    orgs: Col,
    role: Col,
    username: Col,
    user_ids: Col,
    given: Col,
    family: Col,
    middle: Col,
    identifier: Col,
    email: Col,
    sms: Col,
    phone: Col,
    agents: Col,
    grades: Col,
    language: Col,
}

impl UserCols {
    fn new(
        t: &Table<'_>,
        full: bool,
        mode: FeedMode,
        e: &mut Vec<Issue>,
        w: &mut Vec<Issue>,
    ) -> Self {
        let mut c = t.columns(false);
        let s = if full {
            Self {
                id: c.req("sourcedId"),
                status: status_col(&mut c, mode),
                enabled: c.req("enabledUser"),
                orgs: c.req("orgSourcedIds"),
                role: c.req("role"),
                username: c.req("username"),
                user_ids: c.opt("userIds"),
                given: c.req("givenName"),
                family: c.req("familyName"),
                middle: c.opt("middleName"),
                identifier: c.opt("identifier"),
                email: c.opt("email"),
                sms: c.opt("sms"),
                phone: c.opt("phone"),
                agents: c.opt("agentSourcedIds"),
                grades: c.opt("grades"),
                language: c.opt_any(&["preferredLanguage", "metadata.preferredLanguage"]),
            }
        } else {
            Self {
                id: c.req_any(&["sourcedId", "sourceId"]),
                status: c.opt("status"),
                enabled: c.opt("enabledUser"),
                orgs: c.opt("orgSourcedIds"),
                role: c.req("role"),
                username: c.opt("username"),
                user_ids: c.opt("userIds"),
                given: c.req("givenName"),
                family: c.req("familyName"),
                middle: c.opt("middleName"),
                identifier: c.opt("identifier"),
                email: c.opt("email"),
                sms: c.opt("sms"),
                phone: c.opt("phone"),
                agents: c.opt("agentSourcedIds"),
                grades: c.opt("grades"),
                language: c.opt_any(&["language", "preferredLanguage"]),
            }
        };
        c.finish(e, w);
        s
    }
}

struct DemoCols {
    id: Col,
    status: Col,
    birth: Col,
}

impl DemoCols {
    fn new(t: &Table<'_>, mode: FeedMode, e: &mut Vec<Issue>, w: &mut Vec<Issue>) -> Self {
        let mut c = t.columns(false);
        let s = Self {
            id: c.req_any(&["sourcedId", "userSourcedId"]),
            status: status_col(&mut c, mode),
            birth: c.opt("birthDate"),
        };
        c.finish(e, w);
        s
    }
}

struct ClassCols {
    id: Col,
    status: Col,
    title: Col,
    grades: Col,
    course: Col,
    code: Col,
    kind: Col,
    school: Col,
    terms: Col,
    subjects: Col,
    periods: Col,
}

impl ClassCols {
    fn new(
        t: &Table<'_>,
        full: bool,
        mode: FeedMode,
        e: &mut Vec<Issue>,
        w: &mut Vec<Issue>,
    ) -> Self {
        let mut c = t.columns(false);
        let s = if full {
            Self {
                id: c.req("sourcedId"),
                status: status_col(&mut c, mode),
                title: c.req("title"),
                grades: c.opt("grades"),
                course: c.req("courseSourcedId"),
                code: c.opt("classCode"),
                kind: c.req("classType"),
                school: c.req("schoolSourcedId"),
                terms: c.req("termSourcedIds"),
                subjects: c.opt("subjects"),
                periods: c.opt("periods"),
            }
        } else {
            Self {
                id: c.req("sourcedId"),
                status: c.opt("status"),
                title: c.req("title"),
                grades: c.req("grades"),
                course: c.opt("courseSourcedId"),
                code: c.opt("classCode"),
                kind: c.opt("classType"),
                school: c.opt("schoolSourcedId"),
                terms: c.opt("termSourcedIds"),
                subjects: c.opt("subjects"),
                periods: c.opt("periods"),
            }
        };
        c.opt("location");
        c.finish(e, w);
        s
    }
}

struct EnrolCols {
    id: Col,
    status: Col,
    class: Col,
    school: Col,
    user: Col,
    role: Col,
    primary: Col,
    begin: Col,
    end: Col,
}

impl EnrolCols {
    fn new(
        t: &Table<'_>,
        full: bool,
        mode: FeedMode,
        e: &mut Vec<Issue>,
        w: &mut Vec<Issue>,
    ) -> Self {
        let mut c = t.columns(false);
        let s = Self {
            id: if full {
                c.req("sourcedId")
            } else {
                c.opt("sourcedId")
            },
            status: status_col(&mut c, mode),
            class: c.req("classSourcedId"),
            school: if full {
                c.req("schoolSourcedId")
            } else {
                c.req_any(&["schoolSourcedId", "schoolSourcedID"])
            },
            user: c.req("userSourcedId"),
            role: c.req("role"),
            primary: c.opt("primary"),
            begin: c.opt("beginDate"),
            end: c.opt("endDate"),
        };
        c.finish(e, w);
        s
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OrgKind {
    School,
    District,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UserRef {
    Student(usize),
    Staff(usize),
    Contact(usize),
    /// Deleted in this delta, or dropped: known, but not linkable.
    Gone,
}

/// An `agentSourcedIds` entry waiting for every user to be read.
struct Agent {
    /// The user whose row carried the entry.
    from: UserRef,
    /// Where the named id sits in the shared text of all entries.
    target: std::ops::Range<usize>,
    line: u64,
}

struct Reader {
    profile: Profile,
    modes: Modes,
    roster: Roster,
    w: Vec<Issue>,
    /// Orgs read from `orgs.csv` (empty when it was not sent).
    orgs: IdMap<OrgKind>,
    terms: IdSet,
    courses: IdSet,
    users: IdMap<UserRef>,
    /// The relationship of each contact, by index in `roster.contacts`.
    contact_rel: Vec<Relationship>,
    /// Section index by class id.
    classes: IdMap<usize>,
    derived_schools: IdSet,
}

impl Reader {
    fn read_orgs(&mut self, t: &mut Table<'_>, c: &OrgCols) -> Result<(), SourceError> {
        let delta = self.modes.orgs == FeedMode::Delta;
        let w = &mut self.w;
        while let Some(row) = t.next_row()? {
            let Some(id) = row.need(c.id, w, "the row is ignored") else {
                continue;
            };
            if self.orgs.contains_key(id) {
                row.duplicate(c.id, w);
                continue;
            }
            let kind = match row.get(c.kind, w) {
                Some("school") => OrgKind::School,
                Some("district") => OrgKind::District,
                Some("department" | "local" | "state" | "national") => OrgKind::Other,
                _ => {
                    row.bad_enum(
                        c.kind,
                        w,
                        "school, district, department, local, state, national",
                        "the org is not read as a school",
                    );
                    OrgKind::Other
                }
            };
            self.orgs.insert(id, kind);
            if is_deleted(&row, c.status, w) {
                if delta && kind == OrgKind::School {
                    self.roster.deletions.push(Deletion {
                        entity: EntityKind::Schools,
                        id: id.to_string(),
                    });
                }
                continue;
            }
            let name = row.get(c.name, w);
            match kind {
                OrgKind::School => {
                    let name = name.unwrap_or_else(|| {
                        row.need(c.name, w, "the school is named by its id");
                        id
                    });
                    self.roster.schools.push(School {
                        id: id.to_string(),
                        name: name.to_string(),
                        sis_id: None,
                        school_number: row.get(c.identifier, w).map(str::to_string),
                        state_id: None,
                        nces_id: None,
                        low_grade: None,
                        high_grade: None,
                    });
                }
                OrgKind::District if self.roster.district.is_none() => {
                    self.roster.district = Some(SourceDistrict {
                        id: id.to_string(),
                        name: name.map(str::to_string),
                        ..SourceDistrict::default()
                    });
                }
                OrgKind::District | OrgKind::Other => {}
            }
        }
        Ok(())
    }

    fn read_sessions(&mut self, t: &mut Table<'_>, c: &SessionCols) -> Result<(), SourceError> {
        let w = &mut self.w;
        while let Some(row) = t.next_row()? {
            let Some(id) = row.need(c.id, w, "the row is ignored") else {
                continue;
            };
            if !self.terms.insert(id) {
                row.duplicate(c.id, w);
                continue;
            }
            if is_deleted(&row, c.status, w) {
                continue;
            }
            self.roster.terms.push(Term {
                id: id.to_string(),
                name: row.get(c.title, w).unwrap_or(id).to_string(),
                start_date: row.date(c.start, w),
                end_date: row.date(c.end, w),
            });
        }
        Ok(())
    }

    fn read_courses(&mut self, t: &mut Table<'_>, c: &CourseCols) -> Result<(), SourceError> {
        let w = &mut self.w;
        while let Some(row) = t.next_row()? {
            let Some(id) = row.need(c.id, w, "the row is ignored") else {
                continue;
            };
            if !self.courses.insert(id) {
                row.duplicate(c.id, w);
                continue;
            }
            if is_deleted(&row, c.status, w) {
                continue;
            }
            self.roster.courses.push(Course {
                id: id.to_string(),
                name: row.get(c.title, w).unwrap_or(id).to_string(),
                number: row.get(c.code, w).map(str::to_string),
            });
        }
        Ok(())
    }

    /// School ids of an org list, keeping only schools; unknown ids of a bulk `orgs.csv` are
    /// dangling. Also says whether a district org was listed.
    fn schools_of(&mut self, row: &Row<'_>, col: Col) -> (Vec<String>, bool) {
        let mut out = Vec::new();
        let mut district = false;
        for org in list(row.get(col, &mut self.w)) {
            match self.orgs.get(org) {
                Some(OrgKind::School) => out.push(org.to_string()),
                Some(OrgKind::District) => district = true,
                Some(OrgKind::Other) => {}
                None if self.modes.orgs == FeedMode::Bulk => {
                    row.dangling(
                        col,
                        &mut self.w,
                        "org of orgs.csv",
                        "that school is ignored for this user",
                    );
                }
                None => {
                    if self.profile == Profile::CutDown && !self.derived_schools.contains(org) {
                        self.derive_school(org);
                    }
                    out.push(org.to_string());
                }
            }
        }
        out.dedup();
        (out, district)
    }

    fn derive_school(&mut self, id: &str) {
        if self.derived_schools.insert(id) {
            self.roster.schools.push(School::named(id, id));
        }
    }

    /// Reads users; returns how many were deleted (delta).
    fn read_users(&mut self, t: &mut Table<'_>, c: &UserCols) -> Result<usize, SourceError> {
        let delta = self.modes.users == FeedMode::Delta;
        let mut deleted = 0;
        let mut agents: Vec<Agent> = Vec::new();
        let mut agent_ids = String::new();
        // Room for every row in each list: only the part used is ever touched (the rest stays
        // virtual), and growing lists of big records by copying is a good part of the cost.
        let rows = t.rows_hint();
        self.users.reserve(rows);
        self.roster.students.reserve(rows);
        self.roster.staff.reserve(rows);
        self.roster.contacts.reserve(rows);
        self.contact_rel.reserve(rows);
        while let Some(row) = t.next_row()? {
            let w = &mut self.w;
            let Some(id) = row.need(c.id, w, "the row is ignored") else {
                continue;
            };
            if self.users.contains_key(id) {
                row.duplicate(c.id, w);
                continue;
            }
            let Some(role) = Role::parse(row.get(c.role, w)) else {
                row.bad_enum(
                    c.role,
                    w,
                    "student, teacher, aide, proctor, administrator, parent, guardian, relative",
                    "the row is ignored",
                );
                self.users.insert(id, UserRef::Gone);
                continue;
            };
            if is_deleted(&row, c.status, w) {
                self.users.insert(id, UserRef::Gone);
                deleted += 1;
                if delta {
                    self.roster.deletions.push(Deletion {
                        entity: role.entity(),
                        id: id.to_string(),
                    });
                }
                continue;
            }
            if let Some(v) = row.get(c.enabled, w)
                && bool_word(v).is_none()
            {
                row.bad_enum(c.enabled, w, "true, false", "the value is ignored");
            }
            let first_name = name_part(&row, c.given, w);
            let last_name = name_part(&row, c.family, w);
            let middle_name = row.get(c.middle, w).map(str::to_string);
            let (sis, state) = user_ids(row.get(c.user_ids, w));
            // OneRoster's SIS id is the `{SIS:…}` entry of `userIds` (the sourcedId is the
            // source id, not a SIS id), as the REST reader reads it.
            let sis_id = sis.map(str::to_string);
            let state_id = state.map(str::to_string);
            let email = row.email(c.email, w);
            let language = row.get(c.language, w).map(str::to_string);
            let (school_ids, district) = self.schools_of(&row, c.orgs);
            let w = &mut self.w;
            let me = match role {
                Role::Student => {
                    let s = Student {
                        id: id.to_string(),
                        school_ids,
                        first_name,
                        middle_name,
                        last_name,
                        grade: row.grade(c.grades, w),
                        dob: None,
                        sis_id,
                        student_number: row.get(c.identifier, w).map(str::to_string),
                        state_id,
                        email,
                        username: row.get(c.username, w).map(str::to_string),
                        home_language: language,
                    };
                    self.roster.students.push(s);
                    UserRef::Student(self.roster.students.len() - 1)
                }
                Role::Staff(r) => {
                    let district_only = school_ids.is_empty() && district;
                    let (r, school_ids) = self.roster.place_staff(r, school_ids, district_only);
                    self.roster.staff.push(Staff {
                        id: id.to_string(),
                        school_ids,
                        first_name,
                        middle_name,
                        last_name,
                        email,
                        sis_id,
                        staff_number: row.get(c.identifier, w).map(str::to_string),
                        state_id,
                        title: None,
                        roles: vec![r],
                        sms: row.phone(c.sms, w),
                        phone: row.phone(c.phone, w),
                        language,
                    });
                    UserRef::Staff(self.roster.staff.len() - 1)
                }
                Role::Contact(rel) => {
                    self.roster.contacts.push(Contact {
                        id: id.to_string(),
                        first_name,
                        last_name,
                        sis_id: sis_id.or_else(|| row.get(c.identifier, w).map(str::to_string)),
                        email,
                        sms: row.phone(c.sms, w),
                        phone: row.phone(c.phone, w),
                        phone_type: None,
                        language,
                        links: Vec::new(),
                    });
                    self.contact_rel.push(rel);
                    UserRef::Contact(self.roster.contacts.len() - 1)
                }
            };
            self.users.insert(id, me);
            if matches!(me, UserRef::Student(_) | UserRef::Contact(_)) {
                for target in list(row.get(c.agents, w)) {
                    let start = agent_ids.len();
                    agent_ids.push_str(target);
                    agents.push(Agent {
                        from: me,
                        target: start..agent_ids.len(),
                        line: row.line,
                    });
                }
            }
        }
        self.link_agents(&agents, &agent_ids, c.agents);
        Ok(deleted)
    }

    /// Links contacts and students named in each other's `agentSourcedIds`.
    fn link_agents(&mut self, agents: &[Agent], ids: &str, col: Col) {
        let col_no = col.map(|c| c as u64 + 1);
        // (contact, student) pairs already linked: both sides may name each other.
        let mut linked: FastSet<(usize, usize)> =
            FastSet::with_capacity_and_hasher(agents.len(), Default::default());
        for a in agents {
            let target = ids
                .get(a.target.clone())
                .and_then(|t| self.users.get(t))
                .copied();
            let (contact, student) = match (a.from, target) {
                (UserRef::Student(s), Some(UserRef::Contact(c)))
                | (UserRef::Contact(c), Some(UserRef::Student(s))) => (c, s),
                (_, Some(UserRef::Gone)) => continue,
                (_, None) if self.modes.users != FeedMode::Bulk => continue,
                (from, other) => {
                    let what = match (from, other) {
                        (_, None) => "user of users.csv",
                        (UserRef::Student(_), _) => "parent, guardian or relative",
                        _ => "student",
                    };
                    self.w.push(Issue::warning(
                        IssueCode::DanglingReference,
                        Location::at(USERS, a.line, col_no),
                        format!("`agentSourcedIds` names no {what}; that link is ignored"),
                    ));
                    continue;
                }
            };
            let (Some(cont), Some(st)) = (
                self.roster.contacts.get_mut(contact),
                self.roster.students.get(student),
            ) else {
                continue;
            };
            if linked.insert((contact, student)) {
                cont.links.push(ContactLink {
                    student_id: st.id.clone(),
                    relationship: self.contact_rel.get(contact).copied(),
                    // OneRoster has no contact type (only the role: parent, guardian, relative).
                    contact_type: None,
                });
            }
        }
    }

    fn read_demographics(&mut self, t: &mut Table<'_>, c: &DemoCols) -> Result<(), SourceError> {
        let w = &mut self.w;
        let mut seen: FastSet<usize> = FastSet::default();
        while let Some(row) = t.next_row()? {
            let Some(id) = row.need(c.id, w, "the row is ignored") else {
                continue;
            };
            if is_deleted(&row, c.status, w) {
                continue;
            }
            match self.users.get(id) {
                Some(UserRef::Student(i)) => {
                    if !seen.insert(*i) {
                        row.duplicate(c.id, w);
                        continue;
                    }
                    let dob = row.date(c.birth, w);
                    if let Some(s) = self.roster.students.get_mut(*i) {
                        s.dob = dob;
                    }
                }
                Some(_) => {}
                None if self.modes.users == FeedMode::Bulk => {
                    row.dangling(c.id, w, "user of users.csv", "the row is ignored");
                }
                None => {}
            }
        }
        Ok(())
    }

    fn read_classes(&mut self, t: &mut Table<'_>, c: &ClassCols) -> Result<(), SourceError> {
        let delta = self.modes.classes == FeedMode::Delta;
        self.classes.reserve(t.rows_hint());
        self.roster.sections.reserve(t.rows_hint());
        while let Some(row) = t.next_row()? {
            let w = &mut self.w;
            let Some(id) = row.need(c.id, w, "the row is ignored") else {
                continue;
            };
            if self.classes.contains_key(id) {
                row.duplicate(c.id, w);
                continue;
            }
            if is_deleted(&row, c.status, w) {
                self.classes.insert(id, usize::MAX);
                if delta {
                    self.roster.deletions.push(Deletion {
                        entity: EntityKind::Classrooms,
                        id: id.to_string(),
                    });
                }
                continue;
            }
            let Some(school) = row.need(c.school, w, "the class is ignored") else {
                continue;
            };
            match self.orgs.get(school) {
                Some(OrgKind::School) => {}
                Some(_) => {
                    row.dangling(c.school, w, "school", "the class is ignored");
                    continue;
                }
                None if self.modes.orgs == FeedMode::Bulk => {
                    row.dangling(c.school, w, "school of orgs.csv", "the class is ignored");
                    continue;
                }
                None => {
                    if self.profile == Profile::CutDown {
                        self.derive_school(school);
                    }
                }
            }
            let w = &mut self.w;
            let mut term_ids = Vec::new();
            for term in list(row.get(c.terms, w)) {
                if self.modes.sessions == FeedMode::Bulk && !self.terms.contains(term) {
                    row.dangling(
                        c.terms,
                        w,
                        "academic session of academicSessions.csv",
                        "that term is ignored",
                    );
                } else {
                    term_ids.push(term.to_string());
                }
            }
            let course_id = match row.get(c.course, w) {
                Some(course)
                    if self.modes.courses == FeedMode::Bulk && !self.courses.contains(course) =>
                {
                    row.dangling(c.course, w, "course of courses.csv", "the value is ignored");
                    None
                }
                other => other.map(str::to_string),
            };
            let class_type = match row.get(c.kind, w) {
                None => None,
                Some(k) if k.eq_ignore_ascii_case("homeroom") => Some(ClassType::Homeroom),
                Some(k) if k.eq_ignore_ascii_case("scheduled") => Some(ClassType::Scheduled),
                Some(_) => {
                    row.bad_enum(c.kind, w, "homeroom, scheduled", "the value is ignored");
                    None
                }
            };
            let name = row
                .need(c.title, w, "the class is named by its id")
                .unwrap_or(id);
            self.roster.sections.push(Section {
                id: id.to_string(),
                school_id: school.to_string(),
                name: name.to_string(),
                sis_id: None,
                section_number: row.get(c.code, w).map(str::to_string),
                period: row.get(c.periods, w).map(str::to_string),
                grade: row.grade(c.grades, w),
                subject: list(row.get(c.subjects, w)).next().map(str::to_string),
                course_id,
                term_ids,
                class_type,
            });
            self.classes.insert(id, self.roster.sections.len() - 1);
        }
        Ok(())
    }

    fn read_enrollments(&mut self, t: &mut Table<'_>, c: &EnrolCols) -> Result<(), SourceError> {
        let delta = self.modes.enrollments == FeedMode::Delta;
        let classes_checked = self.modes.classes == FeedMode::Bulk;
        let users_checked = self.modes.users == FeedMode::Bulk;
        let orgs_checked = self.modes.orgs == FeedMode::Bulk;
        let rows = t.rows_hint();
        let mut ids: FastSet<u64> = FastSet::with_capacity_and_hasher(rows, Default::default());
        let hasher = std::collections::hash_map::RandomState::new();
        let mut pairs: FastSet<(usize, usize, EnrollmentRole)> =
            FastSet::with_capacity_and_hasher(rows, Default::default());
        self.roster.enrollments.reserve(rows);
        let w = &mut self.w;
        while let Some(row) = t.next_row()? {
            if let Some(id) = row.get(c.id, w) {
                if !ids.insert(hasher.hash_one(id)) {
                    row.duplicate(c.id, w);
                    continue;
                }
            } else if self.profile == Profile::Full {
                row.need(c.id, w, "the row is ignored");
                continue;
            }
            let Some(class) = row.need(c.class, w, "the row is ignored") else {
                continue;
            };
            let Some(user) = row.need(c.user, w, "the row is ignored") else {
                continue;
            };
            if is_deleted(&row, c.status, w) {
                if delta {
                    self.roster.deletions.push(Deletion {
                        entity: EntityKind::Enrollments,
                        id: format!("{class}/{user}"),
                    });
                }
                continue;
            }
            let role = match row.get(c.role, w) {
                Some("student") => EnrollmentRole::Student,
                Some("teacher") => EnrollmentRole::Teacher,
                Some("aide") => EnrollmentRole::Aide,
                Some("administrator") => EnrollmentRole::Administrator,
                Some("proctor") => EnrollmentRole::Proctor,
                _ => {
                    row.bad_enum(
                        c.role,
                        w,
                        "student, teacher, aide, administrator, proctor",
                        "the row is ignored",
                    );
                    continue;
                }
            };
            let section = match self.classes.get(class) {
                Some(&usize::MAX) => continue, // deleted in this delta
                Some(&i) => Some(i),
                None if classes_checked => {
                    row.dangling(c.class, w, "class of classes.csv", "the row is ignored");
                    continue;
                }
                None => None,
            };
            let person = match self.users.get(user) {
                Some(UserRef::Gone) => continue,
                Some(UserRef::Student(i)) => Some(*i),
                Some(UserRef::Staff(i)) => Some(usize::MAX / 2 + *i),
                Some(UserRef::Contact(_)) => {
                    row.dangling(c.user, w, "student or staff member", "the row is ignored");
                    continue;
                }
                None if users_checked => {
                    row.dangling(c.user, w, "user of users.csv", "the row is ignored");
                    continue;
                }
                None => None,
            };
            let class_school = section.and_then(|i| self.roster.sections.get(i));
            let school = match row.get(c.school, w) {
                Some(s) if orgs_checked && self.orgs.get(s) != Some(&OrgKind::School) => {
                    row.dangling(c.school, w, "school of orgs.csv", "the row is ignored");
                    continue;
                }
                Some(s) => s,
                None => match class_school {
                    Some(sec) => sec.school_id.as_str(),
                    None => {
                        row.need(c.school, w, "the row is ignored");
                        continue;
                    }
                },
            };
            if let (Some(s), Some(p)) = (section, person)
                && !pairs.insert((s, p, role))
            {
                let h = row.header(c.user);
                row.warn(
                    w,
                    IssueCode::DuplicateId,
                    c.user,
                    format!(
                        "`{h}` is already enrolled in this class with this role; the row is ignored"
                    ),
                );
                continue;
            }
            let primary = match row.get(c.primary, w).map(|p| (p, bool_word(p))) {
                None => false,
                Some((_, Some(p))) => p,
                Some((_, None)) => {
                    row.bad_enum(c.primary, w, "true, false", "it is read as false");
                    false
                }
            };
            self.roster.enrollments.push(Enrollment {
                section_id: class.to_string(),
                school_id: school.to_string(),
                user_id: user.to_string(),
                role,
                primary,
                begin_date: row.date(c.begin, w),
                end_date: row.date(c.end, w),
            });
        }
        Ok(())
    }
}

/// A name part; empty names are kept (as "") with a `missing_value` warning.
fn name_part(row: &Row<'_>, col: Col, w: &mut Vec<Issue>) -> String {
    row.need(col, w, "the name is left blank")
        .unwrap_or_default()
        .to_string()
}

#[derive(Debug, Clone, Copy)]
enum Role {
    Student,
    Staff(StaffRole),
    Contact(Relationship),
}

impl Role {
    fn parse(raw: Option<&str>) -> Option<Self> {
        Some(match raw? {
            "student" => Self::Student,
            "teacher" => Self::Staff(StaffRole::Teacher),
            "aide" => Self::Staff(StaffRole::Aide),
            "proctor" => Self::Staff(StaffRole::Proctor),
            "administrator" => Self::Staff(StaffRole::Administrator),
            "parent" => Self::Contact(Relationship::Parent),
            "guardian" => Self::Contact(Relationship::Guardian),
            "relative" => Self::Contact(Relationship::Relative),
            _ => return None,
        })
    }

    fn entity(self) -> EntityKind {
        match self {
            Self::Student => EntityKind::Students,
            Self::Staff(_) => EntityKind::Staff,
            Self::Contact(_) => EntityKind::Guardians,
        }
    }
}

/// The SIS and state ids in a `userIds` list such as `{SIS:123},{stateID:CA-9}`.
fn user_ids(raw: Option<&str>) -> (Option<&str>, Option<&str>) {
    let (mut sis, mut state) = (None, None);
    for item in list(raw) {
        let item = item.trim_start_matches('{').trim_end_matches('}');
        let Some((kind, id)) = item.split_once(':') else {
            continue;
        };
        let id = id.trim();
        if id.is_empty() {
            continue;
        }
        // The kind's ASCII letters and digits, lower-cased (no allocation: the known kinds are
        // short, so a longer one is none of them).
        let mut buf = [0u8; 16];
        let mut n = 0;
        for c in kind.bytes().filter(u8::is_ascii_alphanumeric) {
            if n == buf.len() {
                n = 0;
                break;
            }
            buf[n] = c.to_ascii_lowercase();
            n += 1;
        }
        match &buf[..n] {
            b"sis" | b"sisid" => {
                sis.get_or_insert(id);
            }
            b"state" | b"stateid" | b"ssid" | b"statestudentid" => {
                state.get_or_insert(id);
            }
            _ => {}
        }
    }
    (sis, state)
}

#[cfg(test)]
mod tests;
