//! rostersync's domain: the canonical roster every source converts to, the values it is built of,
//! and the issues (warnings and errors) a reader reports. No I/O, no async, no SDKs.

pub mod issue;
pub mod roster;
pub mod run;
pub mod values;

pub use issue::{Issue, IssueCode, Location, Severity};
pub use roster::*;
pub use run::FailureReason;
pub use values::{Email, Grade, Phone, parse_date};
