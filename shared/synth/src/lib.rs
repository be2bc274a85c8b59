//! Deterministic synthetic districts (to be written).
