//! Directory import: the fuzzed bytes parsed as an export (`app::import::parse`); an export
//! that parses is imported into an empty in-memory directory, then imported again.
//!
//! Invariants: import is all or nothing (a refused export writes nothing), and a re-import of
//! an export that was accepted changes nothing (nothing written the second time).
#![no_main]

use app::import::{import, parse};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use store::memory::MemoryDirectory;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(export) = parse("export.json", data) else {
        return;
    };
    runtime().block_on(async move {
        let dir = MemoryDirectory::new();
        match import(&dir, "d1", "export.json", export.clone()).await {
            Ok(first) => {
                let again = import(&dir, "d1", "export.json", export)
                    .await
                    .expect("a re-import of an accepted export fails");
                assert_eq!(
                    again.written, 0,
                    "a re-import wrote again: {first:?} then {again:?}"
                );
            }
            Err(_) => {
                assert!(
                    dir.snapshot("d1").is_empty(),
                    "a refused import wrote records"
                );
            }
        }
    });
});
