//! A district as rostersync knows it: its settings, its source connection (never the secret),
//! and the run record that drives the pipeline.

use crate::report::RunStatus;
use crate::roster::SourceKind;
use crate::run::FailureReason;
use crate::settings::SyncSettings;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How to reach a district's source. Secrets are not here: `secret_ref` names where the secret
/// lives (a local credentials file entry, or an SSM / Secrets Manager name on AWS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SourceConfig {
    Clever {
        base_url: String,
        #[serde(default)]
        version: Option<String>,
        secret_ref: String,
    },
    OnerosterApi {
        base_url: String,
        client_id: String,
        /// `oauth1` or `oauth2`.
        auth: String,
        #[serde(default)]
        token_url: Option<String>,
        /// `hmac-sha256` or `hmac-sha1` (OAuth 1.0a).
        #[serde(default)]
        signature: Option<String>,
        secret_ref: String,
    },
    OnerosterCsv {
        path: String,
    },
    CleverCsv {
        path: String,
    },
    Sftp {
        host: String,
        port: u16,
        user: String,
        host_key: String,
        path: String,
        #[serde(default)]
        format: Option<String>,
        /// `key` or `password`.
        auth: String,
        secret_ref: String,
    },
}

impl SourceConfig {
    pub fn kind_name(&self) -> &'static str {
        match self {
            Self::Clever { .. } => "clever",
            Self::OnerosterApi { .. } => "oneroster-api",
            Self::OnerosterCsv { .. } => "oneroster-csv",
            Self::CleverCsv { .. } => "clever-csv",
            Self::Sftp { .. } => "sftp",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct District {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub settings: SyncSettings,
    #[serde(default)]
    pub source: Option<SourceConfig>,
    #[serde(default)]
    pub version: u64,
}

/// The run record: the state machine `planning → planned → applying → final`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    pub district: String,
    pub run_id: String,
    pub status: RunStatus,
    pub reason: Option<FailureReason>,
    pub dry_run: bool,
    pub source: Option<SourceKind>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Schools fanned out, and how many have finished the current phase.
    pub schools_total: u64,
    pub schools_done: u64,
    #[serde(default)]
    pub version: u64,
}
