//! Test helpers for the file readers: compact roster rendering for snapshots, and in-memory ZIPs.

use crate::SourceError;
use domain::Roster;
use std::io::Write;

/// Renders a read result as one line per record (JSON without nulls or empty lists), then the
/// warnings, or the error's issues.
pub(crate) fn render(result: Result<Roster, SourceError>) -> String {
    let mut out = String::new();
    match result {
        Err(SourceError::Invalid { issues }) => {
            for i in issues {
                out.push_str(&format!("error {} {} {}\n", i.code, i.location, i.message));
            }
        }
        Err(other) => out.push_str(&format!("error {other}\n")),
        Ok(mut roster) => {
            roster.normalise();
            let mut line = |kind: &str, v: serde_json::Value| {
                out.push_str(kind);
                out.push(' ');
                out.push_str(&compact(v).to_string());
                out.push('\n');
            };
            line("coverage", json(&roster.coverage));
            if let Some(d) = &roster.district {
                line("district", json(d));
            }
            roster.schools.iter().for_each(|x| line("school", json(x)));
            roster.terms.iter().for_each(|x| line("term", json(x)));
            roster.courses.iter().for_each(|x| line("course", json(x)));
            roster
                .sections
                .iter()
                .for_each(|x| line("section", json(x)));
            roster
                .students
                .iter()
                .for_each(|x| line("student", json(x)));
            roster.staff.iter().for_each(|x| line("staff", json(x)));
            roster
                .contacts
                .iter()
                .for_each(|x| line("contact", json(x)));
            roster
                .enrollments
                .iter()
                .for_each(|x| line("enrollment", json(x)));
            roster
                .deletions
                .iter()
                .for_each(|x| line("deletion", json(x)));
            for w in &roster.warnings {
                out.push_str(&format!(
                    "warning {} {} {}\n",
                    w.code, w.location, w.message
                ));
            }
        }
    }
    out
}

fn json<T: serde::Serialize>(x: &T) -> serde_json::Value {
    serde_json::to_value(x).unwrap()
}

fn compact(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| {
                    !(v.is_null()
                        || v.as_array().is_some_and(Vec::is_empty)
                        || *v == Value::Bool(false))
                })
                .map(|(k, v)| (k, compact(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(compact).collect()),
        other => other,
    }
}

/// A ZIP holding `files` (deflated).
pub(crate) fn zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, body) in files {
        w.start_file(*name, opts).unwrap();
        w.write_all(body).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// In-memory files from `name: body` pairs.
pub(crate) fn mem(files: &[(&str, &str)]) -> crate::files::FileSet {
    crate::files::FileSet::from_memory(
        files
            .iter()
            .map(|(n, b)| ((*n).to_string(), b.as_bytes().to_vec()))
            .collect(),
    )
}
