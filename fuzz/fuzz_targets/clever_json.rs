//! Clever API JSON: the fuzzed bytes parsed as a page of every model type, then read as
//! `users.json` of a `clever-json` folder whose other files are small valid fixtures
//! (`fixtures/clever-json/`, one school's district).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sources::clever_api::{model, parse_page, read_json_dir};

const DISTRICTS: &[u8] = include_bytes!("../fixtures/clever-json/districts.json");
const SCHOOLS: &[u8] = include_bytes!("../fixtures/clever-json/schools.json");
const SECTIONS: &[u8] = include_bytes!("../fixtures/clever-json/sections.json");
const TERMS: &[u8] = include_bytes!("../fixtures/clever-json/terms.json");
const COURSES: &[u8] = include_bytes!("../fixtures/clever-json/courses.json");

fn page<T: serde::de::DeserializeOwned>(path: &str, data: &[u8]) {
    if let Err(e) = parse_page::<T>(path, data) {
        rostersync_fuzz::check_error(&e);
    }
}

fuzz_target!(|data: &[u8]| {
    page::<model::District>("/v3.0/districts", data);
    page::<model::School>("/v3.0/schools", data);
    page::<model::User>("/v3.0/users", data);
    page::<model::Section>("/v3.0/sections", data);
    page::<model::Term>("/v3.0/terms", data);
    page::<model::Course>("/v3.0/courses", data);

    let result = read_json_dir(|name| match name {
        "districts.json" => Some(DISTRICTS.to_vec()),
        "schools.json" => Some(SCHOOLS.to_vec()),
        "users.json" => Some(data.to_vec()),
        "sections.json" => Some(SECTIONS.to_vec()),
        "terms.json" => Some(TERMS.to_vec()),
        "courses.json" => Some(COURSES.to_vec()),
        _ => None,
    });
    rostersync_fuzz::check(&result);
});
