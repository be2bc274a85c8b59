//! Test kit: in-process fake Clever Data API and OneRoster 1.1 REST servers that serve a
//! [`domain::Roster`] in the real wire formats (with fault injection), the roster → wire
//! conversions they use, and a fake clock so rate-limit waits cost no real time.

pub mod clever;
pub mod clock;
pub mod faults;
pub mod fixtures;
pub mod oneroster;
pub mod raw;

pub use clever::{CleverOptions, CleverServer, CleverWire, roster_to_clever};
pub use clock::FakeClock;
pub use faults::Faults;
pub use oneroster::{OneRosterOptions, OneRosterServer, OneRosterWire, roster_to_oneroster};
pub use raw::MemRaw;
