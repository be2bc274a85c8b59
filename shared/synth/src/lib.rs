//! Deterministic synthetic districts ([`generate`]) and writers for every source format
//! ([`write`], [`write_dirty`]), plus [`project`], which says exactly what each format keeps.
//!
//! # The district
//!
//! [`generate`] builds a canonical [`Roster`] from a [`Spec`]. The same spec always gives the
//! same roster (a private SplitMix64 PRNG; no hash-map order reaches the output), and a
//! different seed gives a different one. What is in it:
//!
//! - A district object (`spec.district_id`, a name, Clever state `success`).
//! - Schools by grade band: elementary KG–05 (~450 students each), middle 06–08 (~700), high
//!   09–12 (~1200). At least one school per band, so even 20 students give three schools.
//! - Three terms: the school year and its two semesters.
//! - Elementary homerooms (one teacher, ~22 students). Middle and high schools: 7 periods; each
//!   student takes 4 year-long core courses in a block of ~28 and 2–3 electives mixed across
//!   grades (6 or 7 periods). High schools run one elective period by semester, so their
//!   students have both year and semester sections. ~6% of core sections are co-taught (a
//!   second, non-primary teacher); a few sections have no teacher.
//! - Families of 1–4 children (siblings share 1–3 guardians; the third is usually an
//!   emergency contact). ~1.8% of secondary students attend a second school (two
//!   `school_ids`, one section there). A few teachers are also parents: the family's first
//!   contact has the teacher's name, email and mobile number.
//! - Administrators, counselors, office managers, specials teachers and aides without
//!   sections; a few aides at two schools.
//! - IDs are strings, many with leading zeros: schools `0101`, students `000123`, sections
//!   `0000042`, courses `00105`; staff `T00012`/`S00003`; contacts `G000042`. Some
//!   `student_number`s have leading zeros. Names include José, Zoë, Nguyễn, Søren, O'Brien and
//!   hyphenated names; no name contains a space.
//! - Emails are `first.last123@students.example.org` (students), `first.last@staff.example.org`
//!   (staff); phones are unique fictional `+1 AAA 555 LLLL` numbers.
//!
//! With `spec.dirty` (the default) the roster also has ~2% of students without an email, a
//! few without a birth date, ~1% of contacts with neither an email nor an SMS-capable phone,
//! ~1% of families without any contact and a few staff without an email. Without it, every
//! student has an email and every contact an email or a mobile number.
//!
//! # Dirty cells
//!
//! Invalid values (an email without `@`, the phone `call me`, the date `13/45/2012`) cannot
//! exist in a [`Roster`], so [`write_dirty`] injects them into the written files, **only into
//! cells whose canonical value is absent** (a student without an email gets a broken email, a
//! contact without any phone gets `call me`, a student without a birth date gets a broken
//! date). A reader must warn and drop them, which leaves exactly the absent value: the round
//! trip `read(write_dirty(r)) == project(r)` still holds, and the returned [`Injected`] list
//! says which warnings (code, file, line) the reader should report. A clean roster
//! (`dirty: false`) has no absent values of these kinds, so nothing is injected.
//!
//! # What each format carries
//!
//! `project(r, format)` is `r` with everything the format cannot carry dropped or rewritten
//! the way a faithful reader will read it back, so a round-trip test can assert
//! `normalise(read(write(r))) == normalise(project(r, format))`. In every projection
//! `source` is the format's [`SourceKind`], coverage is bulk, and warnings and deletions are
//! empty. Beyond that:
//!
//! **OneRoster 1.1 CSV** (`oneroster-csv`, `oneroster-csv-zip`): manifest, orgs, users,
//! classes, enrollments, academicSessions, courses, demographics; bulk.
//! - District: `id` and `name` only (an org of type `district`).
//! - Schools: `id`, `name`, `school_number` (= `identifier`); no sis/state/NCES id, no grades.
//! - Terms: all (academicSessions: a term spanning > 200 days is a `schoolYear`, the others
//!   `semester` with the school year as parent). Courses: all (`courseCode` = number).
//! - Sections (classes): everything but `sis_id`; `section_number` = `classCode`, `period` =
//!   `periods`, all `term_ids`.
//! - Students: everything but `home_language`. `identifier` = `student_number`, `userIds` =
//!   `{SIS:…},{stateID:…}`, `birthDate` in demographics.csv, `username`,
//!   `agentSourcedIds` = linked contacts.
//! - Staff: one role (`teacher`, `aide`, `proctor`; `administrator` for Administrator, Staff and
//!   DistrictAdmin; an empty role list is written as `teacher`); no `title`, no `language`;
//!   `sms`/`phone` kept; `identifier` = `staff_number`.
//! - Contacts: users with role `parent`/`guardian`/`relative` (from the relationship of their
//!   first link: Parent/none → parent, Guardian → guardian, anything else → relative), so
//!   **every link's relationship becomes that role** and `contact_type` is `None`;
//!   no `phone_type`, no `language`; `sms` and `phone` kept; `sis_id` via `{SIS:…}`.
//!   Contacts without links are kept (a user row with no agents).
//! - Enrollments: all, with `primary` and dates; `sourcedId` = `<class>-<user>`.
//!
//! **Clever SFTP CSV** (`clever-csv`): schools, students, teachers, sections, enrollments,
//! staff.
//! - No district. IDs become SIS ids: every school, section, student, staff member and
//!   contact gets `sis_id = Some(id)` (`School_id`, `Section_id`, `Student_id`,
//!   `Teacher_id`/`Staff_id`, `Contact_sis_id` are the only ids in the files).
//! - Terms and courses exist only through sections (`Term_name`/`Term_start`/`Term_end`,
//!   `Course_name`/`Course_number`): only those a section uses are kept, **a term's id becomes
//!   its name and a course's id its number** (its name when it has none), and each section
//!   keeps only its first term. Sections lose `class_type`.
//! - Students: everything (`Dob` is `M/D/YYYY`, `Grade` uses Clever names). A student at two
//!   schools has extra rows with the other `School_id` and no contact columns.
//! - Staff with the Teacher role go to teachers.csv (one row per school) as `[Teacher]`, with
//!   `Teacher_number`, `State_teacher_id`, middle name, email and title. Everyone else goes
//!   to staff.csv (one row per school) with their first role in `Role`
//!   (`administrator`, `aide`, `proctor`, `staff`, `district admin`): no middle name, number
//!   or state id. Nobody keeps `sms`, `phone` or `language`.
//! - Contacts: only those linked to a student (one students.csv row per student × contact).
//!   `Contact_name` is `First Last`, split back at the last space; one phone: the `sms` with
//!   `Cell` when there is one, else `phone` with its type (a `phone` typed `Cell` becomes the
//!   `sms`); no `language`. Relationship and contact type per link are kept.
//! - Enrollments: students from enrollments.csv, teachers from `Teacher_id` (primary) and
//!   `Teacher_2_id`… (not primary); other staff roles become teachers; no dates; students are
//!   never primary; a section keeps at most one primary teacher (its first).
//!
//! **Clever JSON** (`clever-json`): `districts.json`, `schools.json`, `users.json`,
//! `sections.json`, `terms.json`, `courses.json`, each one list envelope of API v3.0 records
//! (plus the v3.1 student `home_language`, which the reader accepts).
//! - District: `id`, `name`, `state`, `pause_start`, `pause_end`. Schools, terms, courses: all.
//! - Sections: `class_type` dropped, first term only (`term_id`); teachers and students from
//!   `teacher`/`teachers`/`students`, enrollments as for Clever CSV.
//! - Students: everything (`credentials.district_username` = `username`).
//! - Staff: roles become `teacher` (Teacher), `district_admin` (DistrictAdmin) and `staff`
//!   (all others, merged), in that order; `sis_id` and `state_id` only with the teacher role;
//!   `staff_number` is `teacher_number` or `staff_id`; no `sms`, `phone`, `language`.
//! - Contacts: full name in `name.last`, split back at the last space; one phone as for
//!   Clever CSV; no `language`; `sis_id` as is.
//!
//! Users are written in one id space per file (`users.csv`, `users.json`): a roster whose
//! students, staff and contacts share ids cannot round-trip. The generator never does that.

mod churn;
mod dirt;
mod generate;
mod names;
mod project;
mod rng;
mod write;

#[cfg(test)]
mod tests;

pub use churn::{Churn, Expected, ExpectedCounts, NextNight, next_night};
pub use dirt::{Dirt, DirtKind, Injected};
pub use generate::{SCHOOL_YEAR_END, generate};
pub use project::project;
pub use write::{WriteError, write, write_dirty};

use domain::{Roster, SourceKind};
use std::fmt;
use std::str::FromStr;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// Number of students (0 is allowed: schools and staff, no students).
    pub students: usize,
    pub seed: u64,
    /// The district's source id (Clever `district`, the OneRoster district org).
    pub district_id: String,
    /// Add realistic gaps (missing emails, contacts without credentials...). See the crate docs.
    pub dirty: bool,
}

impl Default for Spec {
    fn default() -> Self {
        Self {
            students: 1000,
            seed: 1,
            district_id: "d1".into(),
            dirty: true,
        }
    }
}

impl Spec {
    /// `students` students from `seed`, other fields default.
    pub fn new(students: usize, seed: u64) -> Self {
        Self {
            students,
            seed,
            ..Self::default()
        }
    }
}

/// A file format a district can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// OneRoster 1.1 CSV files in the `out` directory.
    OneRosterCsv,
    /// The same files in one ZIP: `out` is the ZIP file when it ends in `.zip`, otherwise a
    /// directory in which `oneroster.zip` is written.
    OneRosterCsvZip,
    /// Clever SFTP CSV files in the `out` directory.
    CleverCsv,
    /// One Clever API v3.0 list envelope per endpoint in the `out` directory.
    CleverJson,
}

impl Format {
    pub const ALL: [Format; 4] = [
        Format::OneRosterCsv,
        Format::OneRosterCsvZip,
        Format::CleverCsv,
        Format::CleverJson,
    ];

    /// The CLI spelling (`oneroster-csv`, `oneroster-csv-zip`, `clever-csv`, `clever-json`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OneRosterCsv => "oneroster-csv",
            Self::OneRosterCsvZip => "oneroster-csv-zip",
            Self::CleverCsv => "clever-csv",
            Self::CleverJson => "clever-json",
        }
    }

    /// The kind of source a reader of this format reports.
    pub fn source_kind(self) -> SourceKind {
        match self {
            Self::OneRosterCsv | Self::OneRosterCsvZip => SourceKind::OnerosterCsv,
            Self::CleverCsv => SourceKind::CleverCsv,
            Self::CleverJson => SourceKind::Clever,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A format name that is not one of [`Format::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown format {0:?} (expected oneroster-csv, oneroster-csv-zip, clever-csv or clever-json)"
)]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == s.trim())
            .ok_or_else(|| UnknownFormat(s.to_string()))
    }
}

/// Generates and writes in one go (what `rostersync generate` does): with `spec.dirty`, the
/// files also get [`Dirt::typical`] injected. Returns the roster written and the injections.
pub fn generate_to(
    spec: &Spec,
    format: Format,
    out: &std::path::Path,
) -> Result<(Roster, Vec<Injected>), WriteError> {
    let roster = generate(spec);
    let dirt = if spec.dirty {
        Dirt::typical()
    } else {
        Dirt::none()
    };
    let injected = write_dirty(&roster, format, out, &dirt)?;
    Ok((roster, injected))
}
