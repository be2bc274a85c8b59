//! Tests of the Clever CSV reader.
