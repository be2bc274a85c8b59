//! Run vocabulary shared by every layer: statuses and failure reasons of a sync run.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a run was held or failed. The string forms are part of the report contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    Threshold,
    WrongCredentials,
    SchoolsNotFound,
    InvalidInput,
    SourceUnavailable,
}

impl FailureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Threshold => "threshold",
            Self::WrongCredentials => "wrong_credentials",
            Self::SchoolsNotFound => "schools_not_found",
            Self::InvalidInput => "invalid_input",
            Self::SourceUnavailable => "source_unavailable",
        }
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
