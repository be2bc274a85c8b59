//! OneRoster REST JSON: the fuzzed bytes parsed as a page of every collection (one document may
//! hold several keys, `{"orgs":[…],"users":[…],…}`); the pages that parse are converted to a
//! roster with `from_pages`, checked with every roster invariant (unique ids, sections in a
//! school of the roster).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rostersync_fuzz::Checks;
use sources::oneroster_api::{OneRosterPages, Page, from_pages, parse_page};

/// Was a known bug (fuzz/RESULTS.md, bug 3): `from_pages` kept a record listed twice (e.g. the
/// same class on two offset pages) twice. Fixed (first wins, `duplicate_id` warning); the corpus
/// input `regression-duplicate-class-id.json` guards the fix.
const KNOWN_DUPLICATE_IDS: bool = false;

fn page<T: serde::de::DeserializeOwned>(key: &str, data: &[u8]) -> Vec<Page<T>> {
    let path = format!("/ims/oneroster/v1p1/{key}");
    match parse_page::<T>(&path, key, data) {
        Ok(p) => vec![p],
        Err(e) => {
            rostersync_fuzz::check_error(&e);
            Vec::new()
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let pages = OneRosterPages {
        orgs: page("orgs", data),
        academic_sessions: page("academicSessions", data),
        courses: page("courses", data),
        classes: page("classes", data),
        users: page("users", data),
        enrollments: page("enrollments", data),
        demographics: page("demographics", data),
    };
    match from_pages(&pages) {
        Ok(r) => rostersync_fuzz::check_roster(
            &r,
            Checks {
                sections_need_schools: true,
                unique_ids: !KNOWN_DUPLICATE_IDS,
            },
        ),
        Err(e) => rostersync_fuzz::check_error(&e),
    }
});
