//! rostersync's domain: the canonical roster every source converts to, the directory it is
//! reconciled into, change plans, runs, reports and settings. No I/O, no async, no SDKs.

pub mod directory;
pub mod district;
pub mod issue;
pub mod plan;
pub mod report;
pub mod roster;
pub mod run;
pub mod settings;
pub mod values;

pub use issue::{Issue, IssueCode, Location, Severity};
pub use roster::*;
pub use run::FailureReason;
pub use values::{Email, Grade, Phone, parse_date};
