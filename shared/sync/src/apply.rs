//! From stored changes to conditional directory writes.

use domain::plan::{Action, Change};
use store::Write;

/// The writes that carry out `changes` (in order). `Unchanged` and `Skipped` write nothing;
/// with `skip_archives` (a held run) no `Archived` change is written either.
pub fn writes_for(changes: &[Change], skip_archives: bool) -> Vec<Write> {
    changes
        .iter()
        .filter(|c| c.writes() && !(skip_archives && c.action == Action::Archived))
        .filter_map(|c| match (&c.after, c.expected_version) {
            (Some(record), expected) => Some(Write::Put {
                record: record.clone(),
                expected,
            }),
            (None, Some(expected)) => Some(Write::Delete {
                key: c.key.clone(),
                expected,
            }),
            (None, None) => None,
        })
        .collect()
}

/// Only the archives of `changes` (approving a held run).
pub fn archive_writes(changes: &[Change]) -> Vec<Write> {
    let archives: Vec<Change> = changes
        .iter()
        .filter(|c| c.action == Action::Archived)
        .cloned()
        .collect();
    writes_for(&archives, false)
}
