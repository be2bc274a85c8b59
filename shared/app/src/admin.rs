//! The admin steps over the ports: connect a source, settings, match schools (step 3), link
//! classrooms to sections (step 4). The CLI and the API call these; they enforce the rules.

use crate::secrets::{Secret, SecretError, SecretStore};
use domain::directory::{Classroom, IndexKey, Record, RecordKey, School};
use domain::district::{District, SourceConfig};
use domain::settings::{FieldError, SyncSettings};
use serde::Serialize;
use store::{Directory, Runs, StoreError, Write, WriteOutcome};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("district {0} is not known; connect it first: rostersync connect --district {0} ...")]
    UnknownDistrict(String),
    #[error("{kind} {id} not found in district {district}")]
    NotFound {
        kind: &'static str,
        id: String,
        district: String,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("invalid settings: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Settings(Vec<FieldError>),
    #[error("the record changed while it was being updated; try again")]
    Conflict,
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type Result<T> = std::result::Result<T, AdminError>;

pub async fn district(runs: &dyn Runs, id: &str) -> Result<District> {
    runs.get_district(id)
        .await?
        .ok_or_else(|| AdminError::UnknownDistrict(id.to_string()))
}

/// Where a district's source secret is kept (a key in the secret store).
pub fn secret_name(district: &str) -> String {
    format!("districts/{district}/source")
}

/// Creates the district if new, and sets its source. The secret, if any, goes to the secret
/// store, never into the district record.
pub async fn connect(
    runs: &dyn Runs,
    secrets: &dyn SecretStore,
    district_id: &str,
    source: SourceConfig,
    secret: Option<Secret>,
) -> Result<District> {
    validate_id("district", district_id)?;
    if let Some(s) = &secret {
        secrets.put(&secret_name(district_id), s).await?;
    }
    let mut d = match runs.get_district(district_id).await? {
        Some(d) => d,
        None => District {
            id: district_id.to_string(),
            name: district_id.to_string(),
            settings: SyncSettings::default(),
            source: None,
            version: 0,
        },
    };
    d.source = Some(source);
    put_district(runs, &mut d).await?;
    Ok(d)
}

async fn put_district(runs: &dyn Runs, d: &mut District) -> Result<()> {
    match runs.put_district(d).await {
        Ok(()) => {
            d.version += 1;
            Ok(())
        }
        Err(StoreError::Conflict(_)) => Err(AdminError::Conflict),
        Err(e) => Err(e.into()),
    }
}

/// Ids are opaque, but they end up in object keys and URLs: keep them printable and short.
pub fn validate_id(what: &str, id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && id != "."
        && id != "..";
    if ok {
        Ok(())
    } else {
        Err(AdminError::Invalid(format!(
            "{what} id must be 1-128 characters of letters, digits, '-', '_' or '.'"
        )))
    }
}

/// Applies `key=value` pairs; all or nothing.
pub async fn set_settings(
    runs: &dyn Runs,
    district_id: &str,
    pairs: &[(String, String)],
) -> Result<District> {
    let mut d = district(runs, district_id).await?;
    let mut s = d.settings.clone();
    let errors: Vec<FieldError> = pairs
        .iter()
        .filter_map(|(k, v)| s.set(k, v).err())
        .collect();
    if !errors.is_empty() {
        return Err(AdminError::Settings(errors));
    }
    d.settings = s;
    put_district(runs, &mut d).await?;
    Ok(d)
}

/// Replaces the whole settings document (API `PUT`), validated.
pub async fn replace_settings(
    runs: &dyn Runs,
    district_id: &str,
    settings: SyncSettings,
) -> Result<District> {
    settings.validate().map_err(AdminError::Settings)?;
    let mut d = district(runs, district_id).await?;
    d.settings = settings;
    put_district(runs, &mut d).await?;
    Ok(d)
}

async fn all_of(
    directory: &dyn Directory,
    district: &str,
    index: &IndexKey,
) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    let mut after: Option<RecordKey> = None;
    loop {
        let page = directory
            .query(district, index, after.as_ref(), 1000)
            .await?;
        let done = page.len() < 1000;
        after = page.last().map(Record::key);
        out.extend(page);
        if done {
            return Ok(out);
        }
    }
}

pub async fn schools(directory: &dyn Directory, district: &str) -> Result<Vec<School>> {
    Ok(all_of(directory, district, &IndexKey::kind("school"))
        .await?
        .into_iter()
        .filter_map(|r| match r {
            Record::School(s) => Some(*s),
            _ => None,
        })
        .collect())
}

pub async fn classrooms(
    directory: &dyn Directory,
    district: &str,
    school: Option<&str>,
) -> Result<Vec<Classroom>> {
    let index = match school {
        Some(s) => IndexKey::in_school(s),
        None => IndexKey::kind("classroom"),
    };
    Ok(all_of(directory, district, &index)
        .await?
        .into_iter()
        .filter_map(|r| match r {
            Record::Classroom(c) => Some(*c),
            _ => None,
        })
        .collect())
}

/// Step 3: give a directory school the source's school id. One source id maps to one school.
pub async fn match_school(
    directory: &dyn Directory,
    district: &str,
    school_id: &str,
    external_id: &str,
) -> Result<School> {
    if external_id.trim().is_empty() {
        return Err(AdminError::Invalid(
            "the external id must not be empty".into(),
        ));
    }
    let owner = directory
        .query(district, &IndexKey::external(external_id), None, 10)
        .await?;
    if let Some(Record::School(other)) = owner.iter().find(|r| matches!(r, Record::School(_))) {
        if other.id != school_id {
            return Err(AdminError::Invalid(format!(
                "external id {external_id} is already matched to school {}",
                other.id
            )));
        }
        return Ok((**other).clone());
    }
    let Some(Record::School(mut school)) = directory
        .get(district, &RecordKey::school(school_id))
        .await?
    else {
        return Err(AdminError::NotFound {
            kind: "school",
            id: school_id.into(),
            district: district.into(),
        });
    };
    let expected = Some(school.version);
    school.external_ids.insert(external_id.to_string());
    write_one(
        directory,
        district,
        Record::School(school.clone()),
        expected,
    )
    .await?;
    Ok(*school)
}

/// Step 4: take over an existing classroom with a section id (for Clever, the section's Clever
/// id; for OneRoster, the class sourcedId).
pub async fn link_classroom(
    directory: &dyn Directory,
    district: &str,
    classroom_id: &str,
    section_id: &str,
) -> Result<Classroom> {
    if section_id.trim().is_empty() {
        return Err(AdminError::Invalid(
            "the section id must not be empty".into(),
        ));
    }
    let owner = directory
        .query(district, &IndexKey::external(section_id), None, 10)
        .await?;
    if let Some(Record::Classroom(other)) = owner.iter().find(|r| matches!(r, Record::Classroom(_)))
    {
        if other.id != classroom_id {
            return Err(AdminError::Invalid(format!(
                "section {section_id} is already linked to classroom {}",
                other.id
            )));
        }
        return Ok((**other).clone());
    }
    let Some(Record::Classroom(mut c)) = directory
        .get(district, &RecordKey::classroom(classroom_id))
        .await?
    else {
        return Err(AdminError::NotFound {
            kind: "classroom",
            id: classroom_id.into(),
            district: district.into(),
        });
    };
    let expected = Some(c.version);
    c.section_ids.insert(section_id.to_string());
    write_one(directory, district, Record::Classroom(c.clone()), expected).await?;
    Ok(*c)
}

async fn write_one(
    directory: &dyn Directory,
    district: &str,
    record: Record,
    expected: Option<u64>,
) -> Result<()> {
    match directory
        .write(district, &[Write::Put { record, expected }])
        .await?
        .first()
    {
        Some(WriteOutcome::Written | WriteOutcome::AlreadyApplied) => Ok(()),
        _ => Err(AdminError::Conflict),
    }
}

/// A suggested match between a directory school and a feed school.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchoolSuggestion {
    pub school_id: String,
    pub school_name: String,
    pub external_id: String,
    pub feed_name: String,
    /// 0–1.
    pub score: f64,
    pub reasons: Vec<String>,
}

fn name_tokens(s: &str) -> std::collections::BTreeSet<String> {
    const NOISE: &[&str] = &[
        "school",
        "the",
        "of",
        "and",
        "sch",
        "elem",
        "elementary",
        "es",
        "ms",
        "hs",
    ];
    s.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty() && !NOISE.contains(t))
        .map(str::to_string)
        .collect()
}

/// Suggests matches for directory schools with no external id, from the feed's schools that are
/// matched to no school yet: same school number or NCES id, or similar names.
pub fn suggest_schools(directory: &[School], feed: &[domain::School]) -> Vec<SchoolSuggestion> {
    let taken: std::collections::BTreeSet<&str> = directory
        .iter()
        .flat_map(|s| s.external_ids.iter().map(String::as_str))
        .collect();
    let mut out = Vec::new();
    for s in directory
        .iter()
        .filter(|s| s.external_ids.is_empty() && s.archived.is_none())
    {
        let mine = name_tokens(&s.name);
        let mut best: Option<SchoolSuggestion> = None;
        for f in feed.iter().filter(|f| !taken.contains(f.id.as_str())) {
            let mut score: f64 = 0.0;
            let mut reasons = Vec::new();
            if s.school_number.is_some() && s.school_number == f.school_number {
                score += 0.6;
                reasons.push("same school number".to_string());
            }
            if s.nces_id.is_some() && s.nces_id == f.nces_id {
                score += 0.6;
                reasons.push("same NCES id".to_string());
            }
            let theirs = name_tokens(&f.name);
            let inter = mine.intersection(&theirs).count() as f64;
            let union = mine.union(&theirs).count() as f64;
            if union > 0.0 && inter > 0.0 {
                let j = inter / union;
                score += 0.5 * j;
                reasons.push(format!("similar name ({:.0}% of words shared)", j * 100.0));
            }
            let score = score.min(1.0);
            if score >= 0.3 && best.as_ref().is_none_or(|b| score > b.score) {
                best = Some(SchoolSuggestion {
                    school_id: s.id.clone(),
                    school_name: s.name.clone(),
                    external_id: f.id.clone(),
                    feed_name: f.name.clone(),
                    score,
                    reasons,
                });
            }
        }
        out.extend(best);
    }
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.school_id.cmp(&b.school_id))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_school(id: &str, name: &str, number: Option<&str>) -> School {
        School {
            id: id.into(),
            name: name.into(),
            external_ids: Default::default(),
            school_number: number.map(Into::into),
            nces_id: None,
            managed: None,
            archived: None,
            version: 1,
        }
    }

    fn feed_school(id: &str, name: &str, number: Option<&str>) -> domain::School {
        domain::School {
            id: id.into(),
            name: name.into(),
            sis_id: None,
            school_number: number.map(Into::into),
            state_id: None,
            nces_id: None,
            low_grade: None,
            high_grade: None,
        }
    }

    #[test]
    fn suggestions_prefer_numbers_then_names() {
        let dir = vec![
            dir_school("s1", "Lincoln Elementary", None),
            dir_school("s2", "Washington Middle", Some("204")),
            dir_school("s3", "Zzz Academy", None),
        ];
        let feed = vec![
            feed_school("f1", "Lincoln Elementary School", None),
            feed_school("f2", "GW Middle School", Some("204")),
            feed_school("f3", "Jefferson High", None),
        ];
        let s = suggest_schools(&dir, &feed);
        let pairs: Vec<_> = s
            .iter()
            .map(|s| (s.school_id.as_str(), s.external_id.as_str()))
            .collect();
        // Highest score first: a shared school number outweighs a shared name.
        assert_eq!(pairs, vec![("s2", "f2"), ("s1", "f1")]);
    }

    #[test]
    fn ids_are_checked() {
        assert!(validate_id("district", "d-1_x.y").is_ok());
        for bad in ["", "..", "a/b", "a b", &"x".repeat(129)] {
            assert!(validate_id("district", bad).is_err(), "{bad}");
        }
    }
}
