//! Source readers: each turns one kind of district source into a canonical [`domain::Roster`]
//! plus warnings, or fails with a [`SourceError`] before anything is staged.

pub mod clever_api;
pub mod clever_csv;
pub mod files;
pub mod oneroster_api;
pub mod oneroster_csv;

use domain::{FailureReason, Issue};

/// Why a source could not be read. Every variant maps to a run failure reason, and says
/// whether trying again later can help.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The feed itself is broken (missing file or column, invalid UTF-8, empty feed...).
    /// `issues` holds every error found, each with its location.
    #[error("the feed is invalid: {}", .issues.first().map(ToString::to_string).unwrap_or_default())]
    Invalid { issues: Vec<Issue> },
    /// 401/403 from the source: the token or key no longer works.
    #[error("the source refused the credentials at {path} (HTTP {status})")]
    WrongCredentials { path: String, status: u16 },
    /// The source could not be reached or kept failing (5xx, timeouts) after retries.
    #[error("the source is unavailable at {path}: {detail}")]
    Unavailable { path: String, detail: String },
    /// Local I/O while reading files.
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl SourceError {
    pub fn invalid(issue: Issue) -> Self {
        Self::Invalid {
            issues: vec![issue],
        }
    }

    pub fn reason(&self) -> FailureReason {
        match self {
            Self::Invalid { .. } => FailureReason::InvalidInput,
            Self::WrongCredentials { .. } => FailureReason::WrongCredentials,
            Self::Unavailable { .. } | Self::Io { .. } => FailureReason::SourceUnavailable,
        }
    }

    /// True when the same fetch may succeed later without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Io { .. })
    }
}

/// Where verbatim source material (API pages, files) goes for audit and replay (`raw/`).
#[async_trait::async_trait]
pub trait RawSink: Send {
    /// Stores one raw page or file under `name` (a relative path such as `users/0003.json`).
    async fn put(&mut self, name: String, body: Vec<u8>) -> Result<(), SourceError>;
}

/// A sink that keeps nothing (tests, benchmarks).
#[derive(Debug, Default)]
pub struct NoRaw;

#[async_trait::async_trait]
impl RawSink for NoRaw {
    async fn put(&mut self, _name: String, _body: Vec<u8>) -> Result<(), SourceError> {
        Ok(())
    }
}
