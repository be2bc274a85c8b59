//! Application services: what the CLI, the API and the Lambdas share above the sync engine:
//! secrets, fetching a district's roster from its configured source, the admin steps (connect,
//! settings, schools, classrooms, directory import) and the embedded local environment.

pub mod admin;
pub mod console_support;
pub mod drops;
pub mod fetch;
pub mod import;
#[cfg(feature = "local")]
pub mod local;
pub mod runs;
pub mod secrets;
