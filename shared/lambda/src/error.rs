//! [`HandlerError`]: what a handler returns to the runtime, mapped to a
//! `lambda_runtime::Diagnostic` whose `errorType` says whether invoking again can help
//! (`Retryable`) or not (`NonRetryable`), as in the runtime's `basic-error-thiserror` example.
//! The message never holds personal data or secrets (store and pipeline errors name keys and
//! ids only).

use app::runs::RunError;
use lambda_runtime::Diagnostic;
use sync::pipeline::PipelineError;

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The event is not what this function expects (wrong trigger or a hand-made payload).
    #[error("unexpected event: {0}")]
    BadEvent(String),
    #[error(transparent)]
    Config(#[from] crate::ConfigError),
    #[error(transparent)]
    Run(#[from] RunError),
}

impl From<PipelineError> for HandlerError {
    fn from(e: PipelineError) -> Self {
        Self::Run(RunError::Pipeline(e))
    }
}

impl From<store::StoreError> for HandlerError {
    fn from(e: store::StoreError) -> Self {
        Self::Run(RunError::Store(e))
    }
}

impl HandlerError {
    /// True when the same invocation may succeed later (throttling, timeouts, a lost race).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::BadEvent(_) | Self::Config(_) => false,
            Self::Run(e) => run_error_is_transient(e),
        }
    }
}

/// Whether a run use case failed for a reason a retry can fix.
pub fn run_error_is_transient(e: &RunError) -> bool {
    match e {
        RunError::Pipeline(p) => p.is_transient(),
        RunError::Store(s) => s.is_transient() || matches!(s, store::StoreError::Conflict(_)),
        RunError::Admin(app::admin::AdminError::Store(s)) => s.is_transient(),
        RunError::Admin(app::admin::AdminError::Conflict) => true,
        _ => false,
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Self {
        Diagnostic {
            error_type: if e.is_retryable() {
                "Retryable"
            } else {
                "NonRetryable"
            }
            .to_string(),
            error_message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostics_say_whether_a_retry_helps() {
        let d = Diagnostic::from(HandlerError::from(store::StoreError::Transient(
            "DynamoDB throttled".into(),
        )));
        assert_eq!(d.error_type, "Retryable");
        let d = Diagnostic::from(HandlerError::BadEvent("no district".into()));
        assert_eq!(d.error_type, "NonRetryable");
        assert_eq!(d.error_message, "unexpected event: no district");
        let d = Diagnostic::from(HandlerError::from(RunError::Admin(
            app::admin::AdminError::UnknownDistrict("d9".into()),
        )));
        assert_eq!(d.error_type, "NonRetryable");
    }
}
