//! The clean-up crate's tests, one binary: example-based tests of archive, detection and merge,
//! and property tests over random small directories.

mod archive;
mod common;
mod detect;
mod merge;
mod props;
