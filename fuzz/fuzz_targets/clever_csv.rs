//! Clever CSV reader on a fuzzed set of files (format: `rostersync_fuzz::split_files`).
//! Flags: bit 0 puts every file in an `export/` folder; bit 1 changes the names' case
//! (`Students.CSV`), which the reader must accept.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sources::files::FileSet;

const NAMES: [&str; 6] = [
    "schools.csv",
    "students.csv",
    "teachers.csv",
    "sections.csv",
    "enrollments.csv",
    "staff.csv",
];

fuzz_target!(|data: &[u8]| {
    let (flags, mut files) = rostersync_fuzz::split_files(&NAMES, data);
    for (name, _) in &mut files {
        if flags & 2 != 0 {
            let (stem, ext) = name.split_once('.').unwrap();
            let mut stem = stem.to_string();
            stem[..1].make_ascii_uppercase();
            *name = format!("{stem}.{}", ext.to_ascii_uppercase());
        }
        if flags & 1 != 0 {
            *name = format!("export/{name}");
        }
    }
    let result = sources::clever_csv::read(&FileSet::from_memory(files));
    rostersync_fuzz::check(&result);
});
