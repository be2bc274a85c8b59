//! Sync settings: the fuzzed bytes as `key=value` lines applied with `SyncSettings::set`, and
//! as a JSON settings document (what `PUT /settings` receives).
//!
//! Invariants: a refused `set` changes nothing; settings built by accepted `set`s always
//! validate; a document that parses round-trips through JSON unchanged, and validates the same
//! way after the round trip.
#![no_main]

use domain::settings::SyncSettings;
use libfuzzer_sys::fuzz_target;

fn round_trip(s: &SyncSettings) -> SyncSettings {
    serde_json::from_slice(&serde_json::to_vec(s).unwrap()).unwrap()
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut s = SyncSettings::default();
    for line in text.lines() {
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        let before = s.clone();
        match s.set(key, value) {
            Ok(()) => assert!(
                s.validate().is_ok(),
                "set({key:?}, {value:?}) accepted a value that does not validate: {:?}",
                s.validate()
            ),
            Err(e) => {
                assert_eq!(
                    s, before,
                    "a refused set({key:?}, {value:?}) changed the settings"
                );
                assert_eq!(e.field, key);
            }
        }
    }
    assert_eq!(round_trip(&s), s);

    if let Ok(doc) = serde_json::from_slice::<SyncSettings>(data) {
        let valid = doc.validate();
        let back = round_trip(&doc);
        assert_eq!(back, doc, "settings changed in a JSON round trip");
        assert_eq!(back.validate().is_ok(), valid.is_ok());
        if let Err(errs) = valid {
            assert!(!errs.is_empty());
        }
    }
});
