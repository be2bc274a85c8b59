//! API errors: what the caller can fix (with a stable `code` and a message) versus
//! [`ApiError::Unexpected`], which answers `500 {"code":"internal"}` and keeps the detail in the
//! logs only.

use crate::control::ControlError;
use crate::dto::{ErrorBody, FieldErrorDto};
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::settings::FieldError;
use store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("a valid bearer token is required")]
    Unauthorized,
    #[error("this token is read-only")]
    Forbidden,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("the request body is larger than {} KiB", crate::BODY_LIMIT / 1024)]
    PayloadTooLarge,
    #[error("{message}")]
    Unprocessable {
        code: &'static str,
        message: String,
        fields: Vec<FieldError>,
    },
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Unprocessable {
            code: "invalid",
            message: message.into(),
            fields: Vec::new(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::BadRequest { code, .. } | Self::Unprocessable { code, .. } => code,
            Self::PayloadTooLarge => "payload_too_large",
            Self::Conflict(_) => "conflict",
            Self::Unexpected(_) => "internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let code = self.code().to_string();
        let message = match &self {
            Self::Unexpected(e) => {
                // Store and pipeline errors name keys and ids, never personal data or tokens.
                tracing::error!(error = format!("{e:#}"), "request failed");
                "internal error".to_string()
            }
            other => other.to_string(),
        };
        let fields = match self {
            Self::Unprocessable { fields, .. } if !fields.is_empty() => Some(
                fields
                    .into_iter()
                    .map(|f| FieldErrorDto {
                        field: f.field,
                        message: f.message,
                    })
                    .collect(),
            ),
            _ => None,
        };
        let body = ErrorBody {
            code,
            message,
            fields,
        };
        (status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(_) => {
                Self::Conflict("the record changed while it was being updated; try again".into())
            }
            other => Self::Unexpected(anyhow::Error::new(other)),
        }
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        match e {
            ControlError::NotFound => Self::NotFound("run"),
            ControlError::Conflict(m) => Self::Conflict(m),
            ControlError::Invalid(m) => Self::invalid(m),
            ControlError::Unexpected(e) => Self::Unexpected(e),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::bad_request(
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            ),
            StatusCode::UNPROCESSABLE_ENTITY => Self::Unprocessable {
                code: "invalid_body",
                message: r.body_text(),
                fields: Vec::new(),
            },
            _ => Self::bad_request("invalid_json", r.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::bad_request("invalid_query", r.body_text())
    }
}
