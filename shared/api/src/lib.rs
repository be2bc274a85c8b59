//! The report and admin HTTP API of `INTERFACES.md`: one axum [`Router`] that `rostersync serve`
//! runs locally and the Lambda runs behind API Gateway (`lambda_http::run(router(state))`).
//!
//! - Every `/v1/districts/{d}/...` route takes a bearer token scoped to one district
//!   ([`auth`]): no or unknown token → 401, another district → 404, read-only token on an
//!   admin action → 403.
//! - Errors are JSON `{ "code", "message" }` ([`error::ApiError`]); storage failures answer
//!   `500 {"code":"internal"}` and are logged without personal data.
//! - `GET /openapi.json` is generated from the handlers and DTOs ([`openapi::ApiDoc`]).
//!
//! The API starts, approves and dismisses runs through the [`RunControl`] port, which the CLI's
//! `serve` and the Lambda implement over the sync pipeline.

pub mod auth;
pub mod console;
pub mod control;
pub mod csv_out;
pub mod dto;
pub mod error;
mod feed;
pub mod openapi;
mod routes;
pub mod students;

pub use auth::{Scope, TokenRecord, create_token};
pub use control::{ControlError, RunControl};
pub use error::ApiError;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use std::sync::Arc;
use store::{Clock, Directory, ObjectStore, Runs, SystemClock};

/// Largest request body accepted; larger ones answer 413 `{"code":"payload_too_large"}`.
pub const BODY_LIMIT: usize = 256 * 1024;

/// What the handlers need, built once per process (per Lambda cold start).
///
/// Build it with [`ApiState::new`]; optional parts (the clock, and any future capability) are
/// set with `with_*` methods, so adding one never breaks existing callers.
#[derive(Clone)]
#[non_exhaustive]
pub struct ApiState {
    pub runs: Arc<dyn Runs>,
    pub directory: Arc<dyn Directory>,
    pub objects: Arc<dyn ObjectStore>,
    pub control: Arc<dyn RunControl>,
    /// Time for the clean-up actions (archive and merge dates); the system clock by default.
    pub clock: Arc<dyn Clock>,
    /// Where the console's "connect a source" form stores secrets and reads them back to show
    /// what the source shares. `None`: the console connects file sources only.
    pub secrets: Option<Arc<dyn app::secrets::SecretStore>>,
}

impl ApiState {
    pub fn new(
        runs: Arc<dyn Runs>,
        directory: Arc<dyn Directory>,
        objects: Arc<dyn ObjectStore>,
        control: Arc<dyn RunControl>,
    ) -> Self {
        Self {
            runs,
            directory,
            objects,
            control,
            clock: Arc::new(SystemClock),
            secrets: None,
        }
    }

    /// The same state with a secret store for the console (see [`ApiState::secrets`]).
    pub fn with_secrets(mut self, secrets: Arc<dyn app::secrets::SecretStore>) -> Self {
        self.secrets = Some(secrets);
        self
    }

    /// The same state with another clock (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

/// The whole API: `/v1/...`, `/openapi.json` and `/health`, and the admin console under
/// `/console` (HTML, not in the OpenAPI document).
pub fn router(state: ApiState) -> Router {
    routes::routes()
        .merge(console::routes())
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}
