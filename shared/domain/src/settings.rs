//! Sync settings (domain.md §1.3): schedule, deletion threshold, student id source, guardian and
//! contact filters, school scope and entity toggles. Parsed and validated with field errors.

use crate::roster::{ContactType, PhoneType, Relationship};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Schedule {
    /// `HH:MM`, 24-hour, in `timezone`.
    pub start_time: String,
    /// IANA name (`America/Chicago`) or `UTC`.
    pub timezone: String,
    pub enabled: bool,
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            start_time: "02:00".into(),
            timezone: "UTC".into(),
            enabled: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StudentIdSource {
    #[default]
    SisId,
    StudentNumber,
}

/// What happens to an archived student who reappears in the feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ArchivedStudents {
    /// Unarchive students the sync archived (not those an admin archived by hand).
    #[default]
    UnarchiveSyncArchived,
    /// Unarchive every reappearing student.
    UnarchiveAll,
    /// Leave archived students archived.
    KeepArchived,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PhoneColumn {
    /// The source's SMS/cell number becomes the mobile (login) number.
    #[default]
    Sms,
    /// The source's phone column becomes the mobile number.
    Phone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchoolScope {
    /// Only schools an admin matched by external id.
    Matched,
    /// Every school in the feed; unmatched ones are created.
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EntityToggles {
    pub classrooms: bool,
    pub students: bool,
    pub staff: bool,
    pub guardians: bool,
    pub enrollments: bool,
}

impl Default for EntityToggles {
    fn default() -> Self {
        Self {
            classrooms: true,
            students: true,
            staff: true,
            guardians: true,
            enrollments: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyncSettings {
    pub schedule: Schedule,
    /// Max % of sync-managed records of one entity kind a run may archive (0–100).
    pub deletion_threshold_pct: u8,
    pub student_id_source: StudentIdSource,
    pub archived_students: ArchivedStudents,
    pub manage_guardians: bool,
    pub unarchive_classrooms: bool,
    pub update_active_users: bool,
    pub update_language: bool,
    pub phone_column: PhoneColumn,
    /// Empty set = all values.
    pub contact_types: BTreeSet<ContactType>,
    pub relationships: BTreeSet<Relationship>,
    pub phone_types: BTreeSet<PhoneType>,
    /// `None`: matched schools if the directory has any school, else all.
    pub school_scope: Option<SchoolScope>,
    pub entities: EntityToggles,
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            schedule: Schedule::default(),
            deletion_threshold_pct: 10,
            student_id_source: StudentIdSource::SisId,
            archived_students: ArchivedStudents::default(),
            manage_guardians: true,
            unarchive_classrooms: false,
            update_active_users: false,
            update_language: true,
            phone_column: PhoneColumn::Sms,
            contact_types: BTreeSet::new(),
            relationships: BTreeSet::new(),
            phone_types: BTreeSet::new(),
            school_scope: None,
            entities: EntityToggles::default(),
        }
    }
}

/// One invalid setting: which field, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// The keys `settings set` accepts, with what each expects.
pub const SETTING_KEYS: &[(&str, &str)] = &[
    ("schedule.start_time", "HH:MM (24-hour)"),
    (
        "schedule.timezone",
        "an IANA time zone such as America/Chicago, or UTC",
    ),
    ("schedule.enabled", "true or false"),
    ("deletion_threshold_pct", "a whole number from 0 to 100"),
    ("student_id_source", "sis_id or student_number"),
    (
        "archived_students",
        "unarchive_sync_archived, unarchive_all or keep_archived",
    ),
    ("manage_guardians", "true or false"),
    ("unarchive_classrooms", "true or false"),
    ("update_active_users", "true or false"),
    ("update_language", "true or false"),
    ("phone_column", "sms or phone"),
    (
        "contact_types",
        "comma list of Parent/Guardian, Emergency, Primary, Secondary, Family, Other (empty = all)",
    ),
    (
        "relationships",
        "comma list of Parent, Grandparent, Self, Aunt/Uncle, Sibling, Guardian, Relative, Other (empty = all)",
    ),
    (
        "phone_types",
        "comma list of Cell, Home, Work, Other (empty = all)",
    ),
    ("school_scope", "matched, all or auto"),
    ("entities.classrooms", "true or false"),
    ("entities.students", "true or false"),
    ("entities.staff", "true or false"),
    ("entities.guardians", "true or false"),
    ("entities.enrollments", "true or false"),
];

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "1" => Some(true),
        "false" | "off" | "no" | "0" => Some(false),
        _ => None,
    }
}

fn parse_set<T: Ord>(v: &str, parse: impl Fn(&str) -> Option<T>) -> Option<BTreeSet<T>> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(parse)
        .collect()
}

fn valid_time(v: &str) -> bool {
    let Some((h, m)) = v.split_once(':') else {
        return false;
    };
    h.len() == 2
        && m.len() == 2
        && h.parse::<u8>().is_ok_and(|h| h < 24)
        && m.parse::<u8>().is_ok_and(|m| m < 60)
}

fn valid_timezone(v: &str) -> bool {
    v == "UTC"
        || (v.contains('/')
            && v.split('/').all(|p| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_-+".contains(c))
            }))
}

impl SyncSettings {
    /// Applies one `key=value`; on error nothing changes.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), FieldError> {
        let expected = SETTING_KEYS
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, e)| *e);
        let Some(expected) = expected else {
            return Err(FieldError {
                field: key.to_string(),
                message: format!(
                    "unknown setting; known settings: {}",
                    SETTING_KEYS
                        .iter()
                        .map(|(k, _)| *k)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        };
        let err = || FieldError {
            field: key.to_string(),
            message: format!("expected {expected}"),
        };
        let b = || parse_bool(value).ok_or_else(err);
        match key {
            "schedule.start_time" => {
                if !valid_time(value) {
                    return Err(err());
                }
                self.schedule.start_time = value.to_string();
            }
            "schedule.timezone" => {
                if !valid_timezone(value) {
                    return Err(err());
                }
                self.schedule.timezone = value.to_string();
            }
            "schedule.enabled" => self.schedule.enabled = b()?,
            "deletion_threshold_pct" => {
                self.deletion_threshold_pct = value
                    .trim()
                    .parse::<u8>()
                    .ok()
                    .filter(|p| *p <= 100)
                    .ok_or_else(err)?
            }
            "student_id_source" => {
                self.student_id_source = match value {
                    "sis_id" => StudentIdSource::SisId,
                    "student_number" => StudentIdSource::StudentNumber,
                    _ => return Err(err()),
                }
            }
            "archived_students" => {
                self.archived_students = match value {
                    "unarchive_sync_archived" => ArchivedStudents::UnarchiveSyncArchived,
                    "unarchive_all" => ArchivedStudents::UnarchiveAll,
                    "keep_archived" => ArchivedStudents::KeepArchived,
                    _ => return Err(err()),
                }
            }
            "manage_guardians" => self.manage_guardians = b()?,
            "unarchive_classrooms" => self.unarchive_classrooms = b()?,
            "update_active_users" => self.update_active_users = b()?,
            "update_language" => self.update_language = b()?,
            "phone_column" => {
                self.phone_column = match value {
                    "sms" => PhoneColumn::Sms,
                    "phone" => PhoneColumn::Phone,
                    _ => return Err(err()),
                }
            }
            "contact_types" => {
                self.contact_types = parse_set(value, ContactType::parse).ok_or_else(err)?
            }
            "relationships" => {
                self.relationships = parse_set(value, Relationship::parse).ok_or_else(err)?
            }
            "phone_types" => {
                self.phone_types = parse_set(value, PhoneType::parse).ok_or_else(err)?
            }
            "school_scope" => {
                self.school_scope = match value {
                    "matched" => Some(SchoolScope::Matched),
                    "all" => Some(SchoolScope::All),
                    "auto" => None,
                    _ => return Err(err()),
                }
            }
            "entities.classrooms" => self.entities.classrooms = b()?,
            "entities.students" => self.entities.students = b()?,
            "entities.staff" => self.entities.staff = b()?,
            "entities.guardians" => self.entities.guardians = b()?,
            "entities.enrollments" => self.entities.enrollments = b()?,
            _ => return Err(err()),
        }
        Ok(())
    }

    /// Checks a whole settings document (as received over the API), listing every bad field.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errs = Vec::new();
        let fe = |field: &str, message: &str| FieldError {
            field: field.into(),
            message: message.into(),
        };
        if !valid_time(&self.schedule.start_time) {
            errs.push(fe("schedule.start_time", "expected HH:MM (24-hour)"));
        }
        if !valid_timezone(&self.schedule.timezone) {
            errs.push(fe(
                "schedule.timezone",
                "expected an IANA time zone such as America/Chicago, or UTC",
            ));
        }
        if self.deletion_threshold_pct > 100 {
            errs.push(fe(
                "deletion_threshold_pct",
                "expected a whole number from 0 to 100",
            ));
        }
        if errs.is_empty() { Ok(()) } else { Err(errs) }
    }

    /// The scope in force, given whether the directory already has schools.
    pub fn effective_scope(&self, directory_has_schools: bool) -> SchoolScope {
        self.school_scope.unwrap_or(if directory_has_schools {
            SchoolScope::Matched
        } else {
            SchoolScope::All
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_and_validate() {
        let mut s = SyncSettings::default();
        s.set("deletion_threshold_pct", "25").unwrap();
        s.set("contact_types", "Parent/Guardian, Primary").unwrap();
        s.set("schedule.timezone", "America/Chicago").unwrap();
        assert_eq!(s.deletion_threshold_pct, 25);
        assert_eq!(s.contact_types.len(), 2);
        let e = s.set("deletion_threshold_pct", "101").unwrap_err();
        assert_eq!(
            e.to_string(),
            "deletion_threshold_pct: expected a whole number from 0 to 100"
        );
        assert_eq!(s.deletion_threshold_pct, 25);
        assert!(
            s.set("nope", "1")
                .unwrap_err()
                .message
                .starts_with("unknown setting")
        );
        assert!(s.set("schedule.start_time", "25:00").is_err());
        assert!(s.validate().is_ok());
        s.schedule.start_time = "7pm".into();
        assert_eq!(s.validate().unwrap_err()[0].field, "schedule.start_time");
    }
}
