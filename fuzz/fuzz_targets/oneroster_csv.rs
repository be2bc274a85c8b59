//! OneRoster CSV reader on a fuzzed set of files (format: `rostersync_fuzz::split_files`).
//! Flags: bit 0 puts every file in an `export/` folder (looked through by the reader).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sources::files::FileSet;

const NAMES: [&str; 8] = [
    "manifest.csv",
    "orgs.csv",
    "academicSessions.csv",
    "courses.csv",
    "classes.csv",
    "users.csv",
    "enrollments.csv",
    "demographics.csv",
];

fuzz_target!(|data: &[u8]| {
    let (flags, mut files) = rostersync_fuzz::split_files(&NAMES, data);
    if flags & 1 != 0 {
        for (name, _) in &mut files {
            *name = format!("export/{name}");
        }
    }
    let result = sources::oneroster_csv::read(&FileSet::from_memory(files));
    rostersync_fuzz::check(&result);
});
