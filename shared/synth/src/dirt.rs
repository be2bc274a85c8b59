//! Dirty cells injected into written files: values a reader must report and drop.

use domain::{IssueCode, Roster};
use std::collections::HashSet;

/// How many records of each kind get an invalid value written. Injections go only where the
/// canonical value is absent (see the crate docs), in roster order, so they never change what
/// a faithful reader reads back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dirt {
    /// Students without an email get `student.example.org` (no `@`) as their email.
    pub bad_emails: usize,
    /// Contacts with neither `sms` nor `phone` get `call me` as their phone.
    pub bad_phones: usize,
    /// Students without a birth date get an impossible date (`13/45/2012`, `2012-13-45`).
    pub bad_dates: usize,
}

impl Dirt {
    pub const BAD_EMAIL: &'static str = "student.example.org";
    pub const BAD_PHONE: &'static str = "call me";

    /// Nothing injected: the files say exactly what the roster says.
    pub fn none() -> Self {
        Self {
            bad_emails: 0,
            bad_phones: 0,
            bad_dates: 0,
        }
    }

    /// A handful of each kind.
    pub fn typical() -> Self {
        Self {
            bad_emails: 5,
            bad_phones: 5,
            bad_dates: 3,
        }
    }
}

impl Default for Dirt {
    fn default() -> Self {
        Self::none()
    }
}

/// The kind of invalid value injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DirtKind {
    BadEmail,
    BadPhone,
    BadDate,
}

impl DirtKind {
    /// The warning a reader should report for it.
    pub fn code(self) -> IssueCode {
        match self {
            Self::BadEmail => IssueCode::InvalidEmail,
            Self::BadPhone => IssueCode::UnusablePhone,
            Self::BadDate => IssueCode::MalformedDate,
        }
    }
}

/// One invalid cell written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injected {
    pub kind: DirtKind,
    /// File name as written (`users.csv`, `users.json`).
    pub file: String,
    /// CSV line (header = 1); `None` in JSON.
    pub line: Option<u64>,
    /// The column header (CSV) or field path (JSON, e.g. `roles.contact.phone`).
    pub field: String,
    /// The student's or contact's id.
    pub record_id: String,
    /// The raw value written.
    pub value: String,
}

/// Which records get dirt, and what was injected so far.
pub(crate) struct Injector<'r> {
    emails: HashSet<&'r str>,
    phones: HashSet<&'r str>,
    dates: HashSet<&'r str>,
    pub(crate) injected: Vec<Injected>,
}

impl<'r> Injector<'r> {
    pub(crate) fn new(roster: &'r Roster, dirt: &Dirt) -> Self {
        Self {
            emails: roster
                .students
                .iter()
                .filter(|s| s.email.is_none())
                .take(dirt.bad_emails)
                .map(|s| s.id.as_str())
                .collect(),
            phones: roster
                .contacts
                .iter()
                .filter(|c| c.sms.is_none() && c.phone.is_none())
                .take(dirt.bad_phones)
                .map(|c| c.id.as_str())
                .collect(),
            dates: roster
                .students
                .iter()
                .filter(|s| s.dob.is_none())
                .take(dirt.bad_dates)
                .map(|s| s.id.as_str())
                .collect(),
            injected: Vec::new(),
        }
    }

    /// The raw value to write for `kind` on record `id`, recording the injection; `None` when
    /// the record gets no dirt (then write the canonical value).
    pub(crate) fn take(
        &mut self,
        kind: DirtKind,
        id: &str,
        value: &'static str,
        file: &str,
        line: Option<u64>,
        field: &str,
    ) -> Option<&'static str> {
        let set = match kind {
            DirtKind::BadEmail => &self.emails,
            DirtKind::BadPhone => &self.phones,
            DirtKind::BadDate => &self.dates,
        };
        if !set.contains(id) {
            return None;
        }
        self.injected.push(Injected {
            kind,
            file: file.to_string(),
            line,
            field: field.to_string(),
            record_id: id.to_string(),
            value: value.to_string(),
        });
        Some(value)
    }
}
