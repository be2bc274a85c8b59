//! Embedded adapters, the local default: a folder as the object store ([`LocalObjectStore`]),
//! one SQLite file for the directory, districts, runs, reports and changes ([`SqliteStore`]),
//! and a durable queue in the same file ([`SqliteQueue`]). All pass `store::conformance`.

mod changes;
mod db;
mod fs;
mod queue;
mod sqlite;

pub use db::{DB_FILE, SCHEMA_VERSION};
pub use fs::LocalObjectStore;
pub use queue::SqliteQueue;
pub use sqlite::SqliteStore;

#[cfg(test)]
mod tests;
