//! Paged reads through the directory port.

use crate::{CleanupError, Result};
use domain::directory::{IndexKey, Person, PersonKind, Record, RecordKey};
use store::Directory;

const PAGE: usize = 500;

/// Every record carrying `index`, in key order.
pub(crate) async fn all(
    dir: &dyn Directory,
    district: &str,
    index: &IndexKey,
) -> Result<Vec<Record>> {
    let mut out: Vec<Record> = Vec::new();
    let mut after: Option<RecordKey> = None;
    loop {
        let page = dir.query(district, index, after.as_ref(), PAGE).await?;
        let n = page.len();
        after = page.last().map(Record::key);
        out.extend(page);
        if n < PAGE {
            return Ok(out);
        }
    }
}

/// Every person of `kind`.
pub(crate) async fn people(
    dir: &dyn Directory,
    district: &str,
    kind: PersonKind,
) -> Result<Vec<Person>> {
    Ok(all(dir, district, &IndexKey::kind(kind.as_str()))
        .await?
        .into_iter()
        .filter_map(|r| match r {
            Record::Person(p) if p.kind == kind => Some(*p),
            _ => None,
        })
        .collect())
}

/// One person; `NotFound` when absent or not a person.
pub(crate) async fn person(dir: &dyn Directory, district: &str, id: &str) -> Result<Person> {
    match dir.get(district, &RecordKey::person(id)).await? {
        Some(Record::Person(p)) => Ok(*p),
        _ => Err(CleanupError::NotFound {
            what: "person",
            id: id.to_string(),
        }),
    }
}

/// One person of `kind`.
pub(crate) async fn person_of(
    dir: &dyn Directory,
    district: &str,
    id: &str,
    kind: PersonKind,
) -> Result<Person> {
    let p = person(dir, district, id).await?;
    if p.kind != kind {
        return Err(CleanupError::WrongKind {
            id: id.to_string(),
            expected: kind.as_str(),
            actual: p.kind.as_str(),
        });
    }
    Ok(p)
}
