//! A fuzzed ZIP archive opened as a file set (default and tight limits), every entry read, then
//! both CSV readers run on it. Beyond "no panic": listed names are safe (relative, no `..`,
//! no NUL), and with tight limits no more bytes come out than `max_total_bytes`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sources::files::{FileSet, Limits};

const TIGHT: Limits = Limits {
    max_files: 16,
    max_total_bytes: 1 << 16,
    max_ratio: 20,
    ratio_min_bytes: 1 << 10,
};

fn open(data: &[u8], limits: Limits) -> Option<FileSet> {
    match FileSet::from_zip_bytes("drop.zip", data.to_vec(), limits) {
        Ok(set) => Some(set),
        Err(e) => {
            rostersync_fuzz::check_error(&e);
            None
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Some(set) = open(data, Limits::default()) {
        let names: Vec<String> = set.names().map(str::to_string).collect();
        assert!(names.len() <= Limits::default().max_files);
        for name in &names {
            assert!(!name.is_empty(), "an empty entry name");
            assert!(
                !name.starts_with('/') && !name.starts_with('\\'),
                "absolute: {name:?}"
            );
            assert!(!name.contains('\0'), "NUL in {name:?}");
            assert!(
                !name.split(['/', '\\']).any(|p| p == ".."),
                "traversal: {name:?}"
            );
            match set.read(name) {
                Ok(_) => {}
                Err(e) => rostersync_fuzz::check_error(&e),
            }
        }
        rostersync_fuzz::check(&sources::oneroster_csv::read(&set));
        rostersync_fuzz::check(&sources::clever_csv::read(&set));
    }
    if let Some(set) = open(data, TIGHT) {
        let names: Vec<String> = set.names().map(str::to_string).collect();
        assert!(names.len() <= TIGHT.max_files);
        let mut total = 0u64;
        for name in &names {
            if let Ok(body) = set.read(name) {
                total += body.len() as u64;
            }
        }
        assert!(
            total <= TIGHT.max_total_bytes,
            "{total} bytes read past a limit of {}",
            TIGHT.max_total_bytes
        );
    }
});
