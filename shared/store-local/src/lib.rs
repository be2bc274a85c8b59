//! Embedded adapters (to be written).
