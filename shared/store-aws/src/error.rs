//! SDK errors → [`StoreError`]: what the caller can act on, with the operation and resource
//! named (bucket, key, table: never item contents).
//!
//! - no response (timeout, connection loss), HTTP 5xx / 429, throttling codes → `Transient`;
//! - `ConditionalCheckFailedException` → `Conflict`;
//! - `NoSuchKey` / 404 on reads → `NotFound`;
//! - everything else (access denied, missing table, validation) → `Permanent`.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use store::StoreError;

/// Error codes that mean "slow down or try again".
const TRANSIENT_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "Throttling",
    "RequestLimitExceeded",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "InternalServerError",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "RequestTimeout",
    "RequestTimeoutException",
    "TransactionInProgressException",
    "TransactionConflictException",
    "LimitExceededException",
    "AWS.SimpleQueueService.RequestThrottled",
];

/// Code and HTTP status of a failed SDK call, `None` status when no response arrived.
pub(crate) struct Failure {
    pub code: Option<String>,
    pub message: Option<String>,
    pub status: Option<u16>,
    pub no_response: bool,
    pub construction: bool,
}

impl Failure {
    pub(crate) fn of<E, R>(err: &SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata,
        R: HasStatus,
    {
        let (status, no_response, construction) = match err {
            SdkError::ConstructionFailure(_) => (None, false, true),
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => (None, true, false),
            SdkError::ResponseError(e) => (Some(e.raw().status_u16()), false, false),
            SdkError::ServiceError(e) => (Some(e.raw().status_u16()), false, false),
            _ => (None, true, false),
        };
        Self {
            code: err.code().map(str::to_owned),
            message: err.message().map(str::to_owned),
            status,
            no_response,
            construction,
        }
    }

    pub(crate) fn is_code(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    pub(crate) fn is_transient(&self) -> bool {
        if self.construction {
            return false;
        }
        self.no_response
            || self.status.is_some_and(|s| s >= 500 || s == 429)
            || self
                .code
                .as_deref()
                .is_some_and(|c| TRANSIENT_CODES.contains(&c))
    }

    /// The [`StoreError`] for this failure; `what` names the operation and resource.
    pub(crate) fn into_store(self, what: impl std::fmt::Display) -> StoreError {
        let detail = match (&self.code, &self.message, self.status) {
            (Some(c), Some(m), _) => format!("{c}: {m}"),
            (Some(c), None, _) => c.clone(),
            (None, _, Some(s)) => format!("HTTP {s}"),
            (None, _, None) if self.construction => "request could not be built".into(),
            (None, _, None) => "no response (timeout or connection failure)".into(),
        };
        let msg = format!("{what}: {detail}");
        if self.is_transient() {
            StoreError::Transient(msg)
        } else if self.is_code("ConditionalCheckFailedException") {
            StoreError::Conflict(msg)
        } else if self.is_code("NoSuchKey") || self.is_code("NotFound") {
            StoreError::NotFound(msg)
        } else {
            StoreError::Permanent(msg)
        }
    }
}

/// Maps any SDK error; `what` names the operation and resource (`"GetObject s3://b/k"`).
pub(crate) fn map<E, R>(err: SdkError<E, R>, what: impl std::fmt::Display) -> StoreError
where
    E: ProvideErrorMetadata,
    R: HasStatus,
{
    Failure::of(&err).into_store(what)
}

/// The raw HTTP response type of the SDK crates.
pub(crate) trait HasStatus {
    fn status_u16(&self) -> u16;
}

impl HasStatus for aws_sdk_dynamodb::config::http::HttpResponse {
    fn status_u16(&self) -> u16 {
        self.status().as_u16()
    }
}

pub(crate) fn permanent(what: impl std::fmt::Display, why: impl std::fmt::Display) -> StoreError {
    StoreError::Permanent(format!("{what}: {why}"))
}
