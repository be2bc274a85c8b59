//! Change plans: what a run will do to the directory, per entity and action, computed before
//! anything is written and applied exactly as stored.

use crate::directory::{Record, RecordKey};
use crate::issue::Issue;
use crate::roster::EntityKind;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Created,
    Updated,
    Unchanged,
    Archived,
    Unarchived,
    Skipped,
}

impl Action {
    pub const ALL: [Action; 6] = [
        Action::Created,
        Action::Updated,
        Action::Unchanged,
        Action::Archived,
        Action::Unarchived,
        Action::Skipped,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
            Self::Archived => "archived",
            Self::Unarchived => "unarchived",
            Self::Skipped => "skipped",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
    /// True for the destructive actions the deletion threshold guards.
    pub fn is_archive(self) -> bool {
        self == Action::Archived
    }
}

/// One planned change. `after` is the full record to write (`None` deletes a membership or link);
/// `expected_version` is the version the record had when planned (`None`: must not exist).
/// `Unchanged` and `Skipped` entries carry no write and exist for the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub entity: EntityKind,
    pub action: Action,
    pub key: RecordKey,
    /// Directory school this change belongs to (for per-school totals and filters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school_id: Option<String>,
    /// Source id of the record, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    /// Names of the fields that change (updates), for the report. Never values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_version: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Record>,
    /// Why a change was skipped (a setting, a missing credential...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Change {
    /// True when applying this change writes something.
    pub fn writes(&self) -> bool {
        !matches!(self.action, Action::Unchanged | Action::Skipped)
    }
}

/// A plan for one school (or the district step), with the planner's warnings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Plan {
    pub changes: Vec<Change>,
    pub warnings: Vec<Issue>,
}
