//! Step 9 clean-up: archive students who are not part of the sync, find duplicate people, merge
//! them into one record (reversibly) and unmerge.
//!
//! Everything here works through the [`store::Directory`] port with conditional writes, takes
//! time from a [`store::Clock`], and logs ids and counts only (never names, emails or phones).
//!
//! - [`archive`]: step 9a, "archive students not part of the sync" (sync-managed students are
//!   never archived by hand).
//! - [`detect`]: duplicate candidates with reasons and a confidence, blocked by key so a large
//!   district is not compared pair by pair.
//! - [`merge`]: fold a duplicate into a survivor, re-pointing every linked record; recorded in a
//!   [`domain::directory::MergeRecord`] and undone by [`merge::unmerge`].

pub mod archive;
pub mod detect;
pub mod merge;
pub mod normalize;

mod load;

pub use archive::{
    ArchiveOutcome, Scope, archive_student, archive_unsynced, default_scope, unarchive,
};
pub use detect::{
    Candidate, FindOptions, Page, Reason, SortBy, find_duplicates, mark_not_duplicate,
    unmark_not_duplicate,
};
pub use merge::{
    MergeAllOutcome, MergeOptions, MergeOutcome, MergeSkip, UnmergeOutcome, choose_survivor, merge,
    merge_all, unmerge,
};

use store::StoreError;

/// What went wrong in a clean-up action. Messages carry ids and counts only.
#[derive(Debug, thiserror::Error)]
pub enum CleanupError {
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    #[error("{id} is a {actual}, not a {expected}")]
    WrongKind {
        id: String,
        expected: &'static str,
        actual: &'static str,
    },
    /// A sync-managed student cannot be archived by hand.
    #[error(
        "student {id} is managed by the sync (source {source_kind}, id {source_id}); it is archived by the sync when it leaves the feed"
    )]
    Managed {
        id: String,
        source_kind: &'static str,
        source_id: String,
    },
    /// Only a manual archive can be undone by hand.
    #[error("{id} cannot be unarchived by hand: {why}")]
    NotManuallyArchived { id: String, why: String },
    /// The merge (or unmerge) is not allowed; the message says why.
    #[error("merge refused: {0}")]
    Refused(String),
    /// No school has an external id, so no school takes part in the sync.
    #[error("no school of district {district} has an external id; match schools first (step 3)")]
    NoSyncedSchools { district: String },
    #[error("invalid cursor")]
    BadCursor,
    /// A record changed while the action ran. Nothing was left half-applied (see
    /// [`merge`]); reading again and retrying can help.
    #[error("conflict: {0} changed concurrently; nothing was applied, try again")]
    Conflict(String),
    /// A conflict during the roll-back of a failed merge: some records could not be restored
    /// because they changed again. The merge record is kept; `unmerge` of it finishes the job.
    #[error(
        "merge {merge_id} partly applied: {unrestored} record(s) changed concurrently during roll-back; run unmerge {merge_id}"
    )]
    PartiallyApplied { merge_id: String, unrestored: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CleanupError {
    /// Whether trying again (after reading again) can help.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Conflict(_) => true,
            Self::Store(e) => e.is_transient(),
            _ => false,
        }
    }
}

pub type Result<T> = std::result::Result<T, CleanupError>;
