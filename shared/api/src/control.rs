//! The port through which the API starts, approves and dismisses runs. The CLI's `serve` and the
//! Lambda implement it over the sync pipeline; the API never runs a sync itself.

use async_trait::async_trait;
use domain::district::Run;

/// What went wrong, split by what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The district or the run does not exist (answers 404).
    #[error("not found")]
    NotFound,
    /// The request clashes with the run's state: another run in progress, a run that is not
    /// held (answers 409). The message is shown to the caller: no internals in it.
    #[error("{0}")]
    Conflict(String),
    /// The district cannot sync as configured, e.g. no source connected (answers 422). Shown to
    /// the caller.
    #[error("{0}")]
    Invalid(String),
    /// Anything else (answers 500; logged, never shown).
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

#[async_trait]
pub trait RunControl: Send + Sync {
    /// Starts a run of `district` (a dry run plans only) and returns its record at once; the run
    /// goes on in the background.
    async fn start(&self, district: &str, dry_run: bool) -> Result<Run, ControlError>;
    /// Applies the archives a `held` run tried to make.
    async fn approve(&self, district: &str, run: &str) -> Result<Run, ControlError>;
    /// Closes a `held` run without applying its archives.
    async fn dismiss(&self, district: &str, run: &str) -> Result<Run, ControlError>;
}
