//! Step 9 clean-up: archive students who are not part of the sync, find duplicate people, merge
//! them into one record (reversibly) and unmerge.
