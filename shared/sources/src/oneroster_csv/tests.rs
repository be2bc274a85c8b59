//! Tests of the OneRoster CSV reader.
