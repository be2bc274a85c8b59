//! The admin console: server-rendered HTML on the same router as the API, under `/console`,
//! walking the nine setup steps of `domain.md` §1 (connect, what the source shares, match
//! schools, link classrooms, settings, self-check, nightly sync, reports, clean-up).
//!
//! - Sign-in exchanges a district token for a session cookie ([`session`]); every page is
//!   scoped to the session's district, the same isolation as the API's tokens.
//! - Every state-changing form is a POST carrying the session's CSRF token; read-only tokens
//!   can look at everything and change nothing.
//! - No JavaScript, no CDN: one stylesheet served from the binary, charts as inline SVG
//!   ([`charts`]). The console is not part of the OpenAPI document.
//! - The handlers call the same use cases as the CLI and the API (`app::admin`,
//!   `app::console_support`, `cleanup`, the [`crate::RunControl`] port).

// A refused form or request is answered with a whole page, so `Result<_, Response>` is the
// natural shape here; the response is built once per request.
#![allow(clippy::result_large_err)]

pub mod charts;
mod cleanup_page;
pub mod html;
mod reports;
pub mod session;
mod steps;
#[cfg(test)]
mod tests;

use crate::ApiState;
use crate::error::ApiError;
use axum::Router;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{FromRequest, Query, Request};
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use html::{notice, page_with};
use session::Session;

const CSS: &str = include_str!("console.css");

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/console", get(steps::overview))
        .route("/console/", get(steps::overview))
        .route("/console/static/console.css", get(stylesheet))
        .route(
            "/console/sign-in",
            get(session::sign_in_get).post(session::sign_in_post),
        )
        .route("/console/sign-out", post(session::sign_out))
        .route(
            "/console/source",
            get(steps::source).post(steps::source_post),
        )
        .route("/console/shares", get(steps::shares))
        .route("/console/schools", get(steps::schools))
        .route("/console/schools/match", post(steps::schools_match))
        .route("/console/classrooms", get(steps::classrooms))
        .route("/console/classrooms/link", post(steps::classrooms_link))
        .route(
            "/console/settings",
            get(steps::settings).post(steps::settings_post),
        )
        .route("/console/check", get(steps::check).post(steps::check_post))
        .route(
            "/console/schedule",
            get(steps::schedule).post(steps::schedule_post),
        )
        .route("/console/sync", post(steps::sync_post))
        .route("/console/runs", get(reports::runs))
        .route("/console/runs/{run}", get(reports::run))
        .route("/console/runs/{run}/changes", get(reports::changes))
        .route("/console/runs/{run}/changes.csv", get(reports::changes_csv))
        .route("/console/runs/{run}/approve", post(reports::approve))
        .route("/console/runs/{run}/dismiss", post(reports::dismiss))
        .route("/console/cleanup", get(cleanup_page::cleanup))
        .route("/console/cleanup/archive", post(cleanup_page::archive))
        .route("/console/cleanup/merge", post(cleanup_page::merge))
        .route("/console/cleanup/unmerge", post(cleanup_page::unmerge))
}

async fn stylesheet() -> Response {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

/// A submitted `application/x-www-form-urlencoded` form, as ordered pairs (a name may repeat,
/// e.g. checkboxes).
#[derive(Debug, Clone, Default)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    /// The last value sent under `name` (so a hidden default followed by a checkbox reads as
    /// the checkbox when ticked), or "".
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// Every non-empty value sent under `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// The form body, or the page answering a body that is not a form.
pub struct FormBody(pub Result<Form, Response>);

impl FromRequest<ApiState> for FormBody {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: Request, st: &ApiState) -> Result<Self, Self::Rejection> {
        let r: Result<axum::Form<Vec<(String, String)>>, FormRejection> =
            axum::Form::from_request(req, st).await;
        Ok(Self(r.map(|axum::Form(v)| Form(v)).map_err(|e| {
            let status = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            error_page(
                status,
                "The form could not be read; go back and submit it again.",
            )
        })))
    }
}

/// A signed-in form submission, CSRF-checked and allowed to change things.
pub struct Checked {
    pub session: Session,
    pub form: Form,
}

/// Checks a POST: a session (else the sign-in page), a form, its CSRF token and an admin
/// scope.
pub fn checked(session: Session, body: FormBody) -> Result<Checked, Response> {
    let form = body.0?;
    session.check_form(&form)?;
    Ok(Checked { session, form })
}

fn error_page(status: StatusCode, message: &str) -> Response {
    page_with(
        status,
        "Something went wrong",
        0,
        None,
        &format!(
            "{}<p><a href=\"/console\">Back to the console</a></p>",
            notice("error", message)
        ),
        None,
    )
}

/// An unexpected failure: logged (ids only), answered with a generic page.
pub fn internal(e: anyhow::Error) -> Response {
    tracing::error!(error = format!("{e:#}"), "console request failed");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal error. Nothing was shown about it here; the server log has the details.",
    )
}

/// An [`ApiError`] as a page: what the admin can fix is said; anything else is
/// [`internal`].
pub fn fail(session: &Session, e: impl Into<ApiError>) -> Response {
    let e = e.into();
    match e {
        ApiError::Unexpected(inner) => internal(inner),
        other => page_with(
            other.status(),
            "That did not work",
            0,
            Some(session),
            &format!(
                "{}<p>Go back and correct it, or return to the <a href=\"/console\">overview</a>.</p>",
                notice("error", &other.to_string())
            ),
            None,
        ),
    }
}

/// A redirect after a successful POST (303, so a reload does not resubmit).
pub fn see_other(to: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(axum::http::header::LOCATION, to.to_string())],
    )
        .into_response()
}

/// The message for a `?done=` code set by a redirect after a POST. Codes only: nothing from the
/// query is echoed.
pub fn done_notice(code: Option<&str>) -> String {
    let text = match code.unwrap_or("") {
        "connected" => "Source saved. The secret is stored apart and will not be shown again.",
        "matched" => "School matched: it will take part in the sync.",
        "linked" => "Classroom linked: the next sync takes it over.",
        "settings" => "Settings saved.",
        "schedule" => "Nightly sync settings saved.",
        "approved" => "Held run approved: its archives were applied.",
        "dismissed" => "Held run dismissed: nothing was archived.",
        "archived" => "Unsynced students archived.",
        "merged" => "Students merged. You can undo it below.",
        "unmerged" => "Merge undone.",
        _ => return String::new(),
    };
    notice("ok", text)
}

/// The query string as a [`Form`]; an unreadable query reads as empty.
pub fn params(q: Result<Query<Vec<(String, String)>>, QueryRejection>) -> Form {
    q.map(|Query(v)| Form(v)).unwrap_or_default()
}
