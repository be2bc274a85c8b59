//! The sync engine (to be written).
