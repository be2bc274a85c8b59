//! The integration-test binary: the whole pipeline on the local adapters (SQLite, folder object
//! store, SQLite queue), from generated feeds in every format to reports, crashes, safeguards,
//! clean-up, privacy of logs and the CLI.

mod bad_input;
mod cleanup;
mod cli;
mod crash;
mod independent_feeds;
mod local_sync;
mod next_night;
mod privacy;
mod round_trip;
mod safeguards;
mod snapshot;
