//! The sync report of `INTERFACES.md`: status, reason, totals for every entity and action (zeros
//! included), per school, tried-to-archive, warnings and errors.

use crate::issue::{Issue, IssueCode};
use crate::plan::{Action, Change};
use crate::roster::EntityKind;
use crate::run::FailureReason;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Planning,
    Planned,
    Applying,
    Succeeded,
    CompletedWithWarnings,
    Held,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Planning => "planning",
            Self::Planned => "planned",
            Self::Applying => "applying",
            Self::Succeeded => "succeeded",
            Self::CompletedWithWarnings => "completed_with_warnings",
            Self::Held => "held",
            Self::Failed => "failed",
        }
    }
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::CompletedWithWarnings | Self::Held | Self::Failed
        )
    }
}

/// Counts per action for one entity kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counts {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub archived: u64,
    pub unarchived: u64,
    pub skipped: u64,
}

impl Counts {
    pub fn add(&mut self, action: Action, n: u64) {
        match action {
            Action::Created => self.created += n,
            Action::Updated => self.updated += n,
            Action::Unchanged => self.unchanged += n,
            Action::Archived => self.archived += n,
            Action::Unarchived => self.unarchived += n,
            Action::Skipped => self.skipped += n,
        }
    }
    pub fn get(&self, action: Action) -> u64 {
        match action {
            Action::Created => self.created,
            Action::Updated => self.updated,
            Action::Unchanged => self.unchanged,
            Action::Archived => self.archived,
            Action::Unarchived => self.unarchived,
            Action::Skipped => self.skipped,
        }
    }
    pub fn merge(&mut self, other: &Counts) {
        for a in Action::ALL {
            self.add(a, other.get(a));
        }
    }
}

/// Totals for every entity kind, zeros included (serialised as an object keyed by entity).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals(pub BTreeMap<EntityKind, Counts>);

impl Default for Totals {
    fn default() -> Self {
        Self(
            EntityKind::ALL
                .into_iter()
                .map(|e| (e, Counts::default()))
                .collect(),
        )
    }
}

impl Totals {
    pub fn add(&mut self, entity: EntityKind, action: Action, n: u64) {
        self.0.entry(entity).or_default().add(action, n);
    }
    pub fn merge(&mut self, other: &Totals) {
        for (e, c) in &other.0 {
            self.0.entry(*e).or_default().merge(c);
        }
    }
    pub fn of(changes: &[Change]) -> Self {
        let mut t = Self::default();
        for c in changes {
            t.add(c.entity, c.action, 1);
        }
        t
    }
    pub fn get(&self, entity: EntityKind) -> Counts {
        self.0.get(&entity).copied().unwrap_or_default()
    }
}

/// A warning or error as reported: location rendered as `file:line:column` or an API path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportIssue {
    pub code: IssueCode,
    pub message: String,
    pub location: String,
}

impl From<&Issue> for ReportIssue {
    fn from(i: &Issue) -> Self {
        Self {
            code: i.code,
            message: i.message.clone(),
            location: i.location.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchoolReport {
    pub school_id: String,
    pub external_id: String,
    pub status: RunStatus,
    pub totals: Totals,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub district: String,
    pub run_id: String,
    pub status: RunStatus,
    pub reason: Option<FailureReason>,
    pub dry_run: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub totals: Totals,
    pub schools: Vec<SchoolReport>,
    pub tried_to_archive: BTreeMap<EntityKind, u64>,
    pub warnings: Vec<ReportIssue>,
    pub errors: Vec<ReportIssue>,
}
