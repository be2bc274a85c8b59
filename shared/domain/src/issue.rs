//! Warnings and errors found in a source, each with a stable code and a precise location.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where in a source a problem was found: `file:line:column`, or an API path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Location {
    /// File name (as delivered, e.g. `users.csv`) or API path (e.g. `/v3.0/users?limit=100`).
    pub source: String,
    /// 1-based line (CSV record line, header = 1). `None` for API paths.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub line: Option<u64>,
    /// 1-based column (field index in the record). `None` when the problem concerns a whole row.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub column: Option<u64>,
}

impl Location {
    pub fn file(name: impl Into<String>) -> Self {
        Self {
            source: name.into(),
            line: None,
            column: None,
        }
    }
    pub fn at(name: impl Into<String>, line: u64, column: Option<u64>) -> Self {
        Self {
            source: name.into(),
            line: Some(line),
            column,
        }
    }
    pub fn api(path: impl Into<String>) -> Self {
        Self {
            source: path.into(),
            line: None,
            column: None,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        Ok(())
    }
}

/// Stable machine-readable codes. Their string forms are part of the report contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueCode {
    // errors: nothing is staged
    MissingFile,
    MissingColumn,
    InvalidUtf8,
    MalformedCsv,
    MalformedJson,
    EmptyFeed,
    UnreadableArchive,
    UnsafeArchive,
    MissingManifest,
    WrongCredentials,
    SourceUnavailable,
    SourcePaused,
    InvalidResponse,
    // warnings: the record or field is dropped, the rest goes on
    DuplicateId,
    DanglingReference,
    UnknownEnumValue,
    MalformedDate,
    InvalidEmail,
    UnusablePhone,
    MissingValue,
    FieldTooLong,
    GuardianWithoutCredential,
    TooManyGuardians,
    UnknownColumn,
    SchoolNotFound,
    // planner warnings
    AmbiguousMatch,
    MergedIdReappeared,
    /// A school's plan could not be applied: the directory kept changing under it.
    ApplyConflict,
    /// A school's pipeline message failed on every delivery and went to the dead-letter queue;
    /// its run ends `failed` with this error naming the message and the school.
    DeadLetter,
}

impl IssueCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingFile => "missing_file",
            Self::MissingColumn => "missing_column",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::MalformedCsv => "malformed_csv",
            Self::MalformedJson => "malformed_json",
            Self::EmptyFeed => "empty_feed",
            Self::UnreadableArchive => "unreadable_archive",
            Self::UnsafeArchive => "unsafe_archive",
            Self::MissingManifest => "missing_manifest",
            Self::WrongCredentials => "wrong_credentials",
            Self::SourceUnavailable => "source_unavailable",
            Self::SourcePaused => "source_paused",
            Self::InvalidResponse => "invalid_response",
            Self::DuplicateId => "duplicate_id",
            Self::DanglingReference => "dangling_reference",
            Self::UnknownEnumValue => "unknown_enum_value",
            Self::MalformedDate => "malformed_date",
            Self::InvalidEmail => "invalid_email",
            Self::UnusablePhone => "unusable_phone",
            Self::MissingValue => "missing_value",
            Self::FieldTooLong => "field_too_long",
            Self::GuardianWithoutCredential => "guardian_without_credential",
            Self::TooManyGuardians => "too_many_guardians",
            Self::UnknownColumn => "unknown_column",
            Self::SchoolNotFound => "school_not_found",
            Self::AmbiguousMatch => "ambiguous_match",
            Self::MergedIdReappeared => "merged_id_reappeared",
            Self::ApplyConflict => "apply_conflict",
            Self::DeadLetter => "dead_letter",
        }
    }
}

impl fmt::Display for IssueCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Error,
}

/// One problem found in a source. Messages name fields and expectations, never personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    pub code: IssueCode,
    pub severity: Severity,
    pub message: String,
    pub location: Location,
}

impl Issue {
    pub fn warning(code: IssueCode, location: Location, message: impl Into<String>) -> Self {
        Self {
            code,
            severity: Severity::Warning,
            message: message.into(),
            location,
        }
    }
    pub fn error(code: IssueCode, location: Location, message: impl Into<String>) -> Self {
        Self {
            code,
            severity: Severity::Error,
            message: message.into(),
            location,
        }
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.location, self.message, self.code)
    }
}
