//! The single-table key design (see `DYNAMODB.md` for the access patterns behind it).
//!
//! | item | `pk` | `sk` | other attributes |
//! |---|---|---|---|
//! | directory record | `D#{d}#R#{record_key}` | `R` | `body` (JSON) or `ptr` (S3 key), `version`, `kind`, `ikeys` |
//! | index entry | `D#{d}#I#{index_key}` | `{record_key}` | (none) |
//! | district | `DISTRICTS` | `{district}` | `body`, `version` |
//! | run | `D#{d}#RUNS` | `RUN#{run}` | `lsi1sk` = `{started_at}#{run}`, `body`, `version` |
//! | report | `D#{d}#RUN#{run}` | `REPORT` | `body` or `ptr` |
//! | phase counter | `D#{d}#RUN#{run}` | `DONE#{phase}` | `schools` (string set) |
//! | changes head | `D#{d}#RUN#{run}` | `CH#{school}` | `school`, `cgen` (generation), `count`, `school_ids` (set), `expires_at` |
//! | changes chunk | `D#{d}#RUN#{run}#CH#{school}` | `{gen}#{first position:08}` | `body` or `ptr`, `expires_at` |
//!
//! Local secondary index [`LSI_STARTED`] on `lsi1sk` (only run items carry it) lists a
//! district's runs newest first with strongly consistent reads.

use chrono::{DateTime, SecondsFormat, Utc};
use domain::directory::{IndexKey, RecordKey};

pub const PK: &str = "pk";
pub const SK: &str = "sk";
/// Sort key of [`LSI_STARTED`].
pub const LSI1_SK: &str = "lsi1sk";
/// Local secondary index: runs of a district by start time.
pub const LSI_STARTED: &str = "by_started";
/// TTL attribute (epoch seconds) on run details (changes).
pub const TTL_ATTR: &str = "expires_at";

pub const BODY: &str = "body";
pub const PTR: &str = "ptr";
pub const VERSION: &str = "version";
pub const KIND: &str = "kind";
pub const IKEYS: &str = "ikeys";
pub const SCHOOLS: &str = "schools";
pub const SCHOOL: &str = "school";
pub const SCHOOL_IDS: &str = "school_ids";
pub const GEN: &str = "cgen";
pub const COUNT: &str = "count";

pub const RECORD_SK: &str = "R";
pub const DISTRICTS_PK: &str = "DISTRICTS";
pub const REPORT_SK: &str = "REPORT";
pub const CHANGES_HEAD_PREFIX: &str = "CH#";

pub fn record_pk(district: &str, key: &RecordKey) -> String {
    format!("D#{district}#R#{}", key.as_str())
}

pub fn index_pk(district: &str, index: &IndexKey) -> String {
    format!("D#{district}#I#{}", index.as_str())
}

pub fn index_pk_str(district: &str, index: &str) -> String {
    format!("D#{district}#I#{index}")
}

pub fn runs_pk(district: &str) -> String {
    format!("D#{district}#RUNS")
}

pub fn run_sk(run_id: &str) -> String {
    format!("RUN#{run_id}")
}

/// Fixed-width UTC timestamp (microseconds) then the run id: string order = time order.
pub fn run_lsi_sk(started_at: DateTime<Utc>, run_id: &str) -> String {
    format!(
        "{}#{run_id}",
        started_at.to_rfc3339_opts(SecondsFormat::Micros, true)
    )
}

pub fn run_pk(district: &str, run_id: &str) -> String {
    format!("D#{district}#RUN#{run_id}")
}

pub fn done_sk(phase: &str) -> String {
    format!("DONE#{phase}")
}

pub fn changes_head_sk(school: &str) -> String {
    format!("{CHANGES_HEAD_PREFIX}{school}")
}

pub fn changes_chunk_pk(district: &str, run_id: &str, school: &str) -> String {
    format!("D#{district}#RUN#{run_id}#CH#{school}")
}

pub fn changes_chunk_sk(gen_id: &str, first: usize) -> String {
    format!("{gen_id}#{first:08}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_sort_keys_order_by_time() {
        let a = DateTime::parse_from_rfc3339("2024-09-01T02:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap();
        let b = DateTime::parse_from_rfc3339("2024-09-01T02:00:00.5Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap();
        assert_eq!(run_lsi_sk(a, "r1"), "2024-09-01T02:00:00.000000Z#r1");
        assert!(run_lsi_sk(a, "r9") < run_lsi_sk(b, "r1"));
    }

    #[test]
    fn record_and_index_keys() {
        assert_eq!(
            record_pk("d1", &RecordKey::person("p1")),
            "D#d1#R#person#p1"
        );
        assert_eq!(
            index_pk("d1", &IndexKey::in_school("s1")),
            "D#d1#I#school#s1"
        );
        assert_eq!(changes_chunk_sk("g1", 42), "g1#00000042");
    }
}
