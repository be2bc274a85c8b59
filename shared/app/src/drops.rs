//! Ingesting file drops (SFTP pulls, uploads): a drop is a prefix
//! `districts/{d}/drops/{drop_id}/` holding `files/{name}` and, written last, the
//! `_complete.json` marker (the `sftp` crate's `DropManifest`). Ingestion reads the files
//! (a `.zip` through the archive safety limits), detects the format, reads the roster, merges an
//! optional `guardians.csv`, and stages one run, **exactly once per drop**: an `ingested.json`
//! marker naming the run is written with `put_if_absent` before staging, so a second delivery of
//! the same S3 event (or a second `rostersync sync`) does nothing.
//!
//! ## `guardians.csv`
//!
//! The header names are matched ignoring case and surrounding spaces; column order is free and
//! unknown columns are ignored:
//!
//! | column | required | alternatives accepted | becomes |
//! |---|---|---|---|
//! | `student_id` | yes | `student_sis_id`, `student` | the linked student's source id |
//! | `guardian_id` | yes | `contact_id`, `guardian_sis_id` | the contact's id (and `sis_id`) |
//! | `first_name` | yes | | |
//! | `last_name` | yes | | |
//! | `email` | no | | login + email notifications |
//! | `mobile` | no | `sms`, `cell` | SMS-capable number (login + SMS) |
//! | `home_phone` | no | `phone` | kept on the record only |
//! | `language` | no | `preferred_language` | preferred language code |
//! | `relationship` | no | | `Parent`, `Guardian`, `Grandparent`... |
//!
//! One row per (student, guardian): a guardian of three students has three rows. A guardian's
//! fields come from its first row; later rows add links. Unusable emails and phones are dropped
//! with a warning, as in every reader.
//!
//! With a roster in the same drop, the guardians replace the roster's contacts of the same id and
//! join the rest. A **guardians-only** drop cannot be staged alone (the pipeline refuses a feed
//! without students, and contacts are sharded by their students' schools), so it is ingested on
//! top of the district's latest ingested roster drop, with every entity's coverage set to
//! `delta`: guardians and links are created or updated, and nothing is archived. Without an
//! earlier roster drop it fails with a clear error.

use crate::fetch::{FetchError, FileFormat, ObjectRaw, detect_format, read_files};
use crate::runs::{RunError, Started, fail_run, new_run, stage_roster};
use crate::secrets::SecretStore;
use domain::district::District;
use domain::values::{Email, Phone};
use domain::{
    Contact, ContactLink, ContactType, FeedMode, Issue, IssueCode, Location, Relationship, Roster,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sources::SourceError;
use sources::files::{FileSet, Limits};
use std::collections::{BTreeMap, BTreeSet};
use store::{ObjectStore, StoreError};
use sync::pipeline::Ports;

/// Written last by a pull: the drop is whole.
pub const COMPLETE_MARKER: &str = "_complete.json";
/// Written (if absent) before staging: the drop has its run.
pub const INGESTED_MARKER: &str = "ingested.json";
pub const GUARDIANS_FILE: &str = "guardians.csv";

/// `districts/{d}/drops/`.
pub fn drops_prefix(district: &str) -> String {
    format!("districts/{district}/drops/")
}

fn latest_roster_key(district: &str) -> String {
    format!("districts/{district}/drops/latest-roster.json")
}

/// The parts of `_complete.json` ingestion relies on.
#[derive(Debug, Clone, Deserialize)]
struct Marker {
    drop_id: String,
    #[serde(default)]
    format: Option<String>,
    files: Vec<MarkerFile>,
}

#[derive(Debug, Clone, Deserialize)]
struct MarkerFile {
    name: String,
    size: u64,
    #[serde(default)]
    sha256: Option<String>,
}

/// `ingested.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Ingested {
    drop_id: String,
    run_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LatestRoster {
    prefix: String,
}

/// What ingesting a drop did.
#[derive(Debug)]
pub enum DropOutcome {
    /// This delivery started the drop's run (staged, or ended before any write).
    Started(Started),
    /// The drop already has its run (`run_id`): nothing done.
    Duplicate { drop_id: String, run_id: String },
}

#[derive(Debug, thiserror::Error)]
pub enum DropError {
    #[error(
        "the drop {0} is not complete (no {COMPLETE_MARKER}); it is ingested once its transfer finishes"
    )]
    Incomplete(String),
    #[error("the drop marker {key} is unreadable: {detail}")]
    BadMarker { key: String, detail: String },
}

/// Ingests the complete drop at `drop_prefix` (`districts/{d}/drops/{drop_id}/`) exactly once.
/// `_secrets` is unused today (drops carry no credentials); it keeps the signature of the other
/// run starters.
pub async fn ingest_drop(
    ports: &Ports,
    _secrets: &dyn SecretStore,
    district: &str,
    drop_prefix: &str,
) -> Result<DropOutcome, RunError> {
    let district = crate::admin::district(ports.runs.as_ref(), district).await?;
    ingest(ports, &district, drop_prefix, false).await
}

async fn get_opt(objects: &dyn ObjectStore, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
    match objects.get(key).await {
        Ok(b) => Ok(Some(b)),
        Err(StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn json<T: for<'de> Deserialize<'de>>(key: &str, body: &[u8]) -> Result<T, DropError> {
    serde_json::from_slice(body).map_err(|e| DropError::BadMarker {
        key: key.to_string(),
        detail: e.to_string(),
    })
}

fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec_pretty(v).unwrap_or_default()
}

/// `dry_run`: a self-check on the drop; it never consumes the drop (no `ingested.json`).
pub(crate) async fn ingest(
    ports: &Ports,
    district: &District,
    prefix: &str,
    dry_run: bool,
) -> Result<DropOutcome, RunError> {
    let prefix = if prefix.ends_with('/') {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    };
    let objects = ports.objects.as_ref();
    let marker_key = format!("{prefix}{COMPLETE_MARKER}");
    let marker: Marker = match get_opt(objects, &marker_key).await? {
        Some(b) => json(&marker_key, &b)?,
        None => return Err(DropError::Incomplete(prefix).into()),
    };
    let mut run = new_run(district, dry_run, ports.clock.now());
    let span = tracing::info_span!("drop", district = %district.id, drop_id = %marker.drop_id, run_id = tracing::field::Empty);
    let _g = span.enter();
    if !dry_run {
        let key = format!("{prefix}{INGESTED_MARKER}");
        let mine = Ingested {
            drop_id: marker.drop_id.clone(),
            run_id: run.run_id.clone(),
        };
        match objects.put_if_absent(&key, to_json(&mine)).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                let theirs: Ingested = json(&key, &objects.get(&key).await?)?;
                if ports
                    .runs
                    .get_run(&district.id, &theirs.run_id)
                    .await?
                    .is_some()
                {
                    tracing::info!(run_id = %theirs.run_id, "drop already ingested; nothing to do");
                    return Ok(DropOutcome::Duplicate {
                        drop_id: marker.drop_id,
                        run_id: theirs.run_id,
                    });
                }
                // The earlier delivery stopped between its marker and its run: finish its work
                // under the same run id (staging a planning run again is safe).
                tracing::warn!(run_id = %theirs.run_id, "drop marked ingested but its run is missing; staging it now");
                run.run_id = theirs.run_id;
            }
            Err(e) => return Err(e.into()),
        }
    }
    span.record("run_id", run.run_id.as_str());
    let mut raw = ObjectRaw::new(ports.objects.clone(), &district.id, &run.run_id);
    match read_drop(objects, district, &prefix, &marker, &mut raw).await? {
        Ok((roster, has_roster)) => {
            let started = stage_roster(ports, district, run, roster).await?;
            if has_roster && !dry_run && matches!(started, Started::Staged(_)) {
                objects
                    .put(
                        &latest_roster_key(&district.id),
                        to_json(&LatestRoster {
                            prefix: prefix.clone(),
                        }),
                    )
                    .await?;
            }
            Ok(DropOutcome::Started(started))
        }
        Err(e) => {
            tracing::warn!(reason = %e.reason(), "drop refused before any write");
            Ok(DropOutcome::Started(Started::Ended(Box::new(
                fail_run(ports, run, &e).await?,
            ))))
        }
    }
}

/// The drop's roster (`true` when it carried one, `false` for guardians on top of the latest
/// roster drop), or why it cannot be read.
async fn read_drop(
    objects: &dyn ObjectStore,
    district: &District,
    prefix: &str,
    marker: &Marker,
    raw: &mut ObjectRaw,
) -> Result<Result<(Roster, bool), FetchError>, RunError> {
    let files = match load_files(objects, prefix, marker).await? {
        Ok(f) => f,
        Err(e) => return Ok(Err(e)),
    };
    let guardians_name = files.find_ignore_case(GUARDIANS_FILE).map(str::to_string);
    let guardians = match &guardians_name {
        Some(n) => match files.read(n).and_then(|b| read_guardians(&b, n)) {
            Ok(g) => Some(g),
            Err(e) => return Ok(Err(e.into())),
        },
        None => None,
    };
    let format = match (marker.format.as_deref(), detect_format(&files)) {
        (_, Some(f)) => Some(f),
        (Some("oneroster-csv"), None) if guardians.is_none() => Some(FileFormat::OneRosterCsv),
        (Some("clever-csv"), None) if guardians.is_none() => Some(FileFormat::CleverCsv),
        _ => None,
    };
    match (format, guardians) {
        (Some(format), g) => {
            let mut roster = match read_files(&files, format, raw).await {
                Ok(r) => r,
                Err(e) => return Ok(Err(e.into())),
            };
            if let Some((contacts, warnings)) = g {
                merge_contacts(
                    &mut roster,
                    contacts,
                    warnings,
                    guardians_name.as_deref().unwrap_or(GUARDIANS_FILE),
                );
            }
            Ok(Ok((roster, true)))
        }
        (None, Some((contacts, warnings))) => {
            let Some(base) = get_opt(objects, &latest_roster_key(&district.id)).await? else {
                return Ok(Err(FetchError::Unsupported(
                    "this drop holds only guardians.csv, and no roster drop was ingested for the district yet; deliver a roster first".into(),
                )));
            };
            let base: LatestRoster = json(&latest_roster_key(&district.id), &base)?;
            let base_marker_key = format!("{}{COMPLETE_MARKER}", base.prefix);
            let Some(bm) = get_opt(objects, &base_marker_key).await? else {
                return Ok(Err(FetchError::Unsupported(format!(
                    "the latest roster drop {} is gone",
                    base.prefix
                ))));
            };
            let bm: Marker = json(&base_marker_key, &bm)?;
            let base_files = match load_files(objects, &base.prefix, &bm).await? {
                Ok(f) => f,
                Err(e) => return Ok(Err(e)),
            };
            let Some(format) = detect_format(&base_files) else {
                return Ok(Err(FetchError::Unsupported(format!(
                    "the latest roster drop {} holds no roster",
                    base.prefix
                ))));
            };
            // The raw copy is this drop's guardians file; the base drop's files were copied by
            // the run that ingested it.
            if let Err(e) = sources::RawSink::put(
                raw,
                format!("files/{GUARDIANS_FILE}"),
                files
                    .read(guardians_name.as_deref().unwrap_or(GUARDIANS_FILE))
                    .unwrap_or_default(),
            )
            .await
            {
                return Ok(Err(e.into()));
            }
            let mut roster = match read_files(&base_files, format, &mut sources::NoRaw).await {
                Ok(r) => r,
                Err(e) => return Ok(Err(e.into())),
            };
            roster.coverage = domain::Coverage {
                schools: FeedMode::Delta,
                sections: FeedMode::Delta,
                users: FeedMode::Delta,
                enrollments: FeedMode::Delta,
            };
            roster.deletions.clear();
            merge_contacts(
                &mut roster,
                contacts,
                warnings,
                guardians_name.as_deref().unwrap_or(GUARDIANS_FILE),
            );
            Ok(Ok((roster, false)))
        }
        (None, None) => Ok(Err(FetchError::Source(SourceError::invalid(Issue::error(
            IssueCode::MissingFile,
            Location::file(prefix.to_string()),
            "the drop holds no recognisable roster (OneRoster CSV, Clever CSV) and no guardians.csv",
        ))))),
    }
}

/// The drop's files as a [`FileSet`], each checked against the marker's size and SHA-256. A
/// lone `.zip` is opened through the archive safety limits.
async fn load_files(
    objects: &dyn ObjectStore,
    prefix: &str,
    marker: &Marker,
) -> Result<Result<FileSet, FetchError>, RunError> {
    let mut files = Vec::with_capacity(marker.files.len());
    for f in &marker.files {
        if f.name.contains('/') || f.name.contains('\\') || f.name.starts_with('.') {
            return Ok(Err(unsafe_name(&f.name)));
        }
        let body = objects.get(&format!("{prefix}files/{}", f.name)).await?;
        let sha = hex(&Sha256::digest(&body));
        if body.len() as u64 != f.size
            || f.sha256
                .as_ref()
                .is_some_and(|s| !s.eq_ignore_ascii_case(&sha))
        {
            return Ok(Err(FetchError::Source(SourceError::invalid(Issue::error(
                IssueCode::UnreadableArchive,
                Location::file(f.name.clone()),
                format!(
                    "the stored file does not match the drop marker ({} bytes expected, {} stored)",
                    f.size,
                    body.len()
                ),
            )))));
        }
        files.push((f.name.clone(), body));
    }
    let zips: Vec<usize> = (0..files.len())
        .filter(|&i| files[i].0.to_ascii_lowercase().ends_with(".zip"))
        .collect();
    match zips.as_slice() {
        [] => Ok(Ok(FileSet::from_memory(files))),
        [i] if files.len() == 1 => {
            let (name, bytes) = files.swap_remove(*i);
            Ok(FileSet::from_zip_bytes(name, bytes, Limits::default()).map_err(FetchError::from))
        }
        _ => Ok(Err(FetchError::Source(SourceError::invalid(Issue::error(
            IssueCode::UnreadableArchive,
            Location::file(prefix.to_string()),
            "a drop holds either one .zip or loose files, not both",
        ))))),
    }
}

fn unsafe_name(name: &str) -> FetchError {
    FetchError::Source(SourceError::invalid(Issue::error(
        IssueCode::UnsafeArchive,
        Location::file(name.to_string()),
        "the drop marker names a file outside the drop",
    )))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a `guardians.csv` (see the module docs) into contacts linked to student ids, with the
/// warnings for dropped values.
pub fn read_guardians(bytes: &[u8], file: &str) -> Result<(Vec<Contact>, Vec<Issue>), SourceError> {
    let text =
        std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)).map_err(|e| {
            SourceError::invalid(Issue::error(
                IssueCode::InvalidUtf8,
                Location::file(file.to_string()),
                format!("not UTF-8: {e}"),
            ))
        })?;
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| {
            SourceError::invalid(Issue::error(
                IssueCode::MalformedCsv,
                Location::file(file.to_string()),
                e.to_string(),
            ))
        })?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let col = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| headers.iter().position(|h| h == n))
    };
    let mut missing = Vec::new();
    let mut need = |names: &[&str]| {
        let c = col(names);
        if c.is_none() {
            missing.push(names[0].to_string());
        }
        c.unwrap_or(usize::MAX)
    };
    let c_student = need(&["student_id", "student_sis_id", "student"]);
    let c_guardian = need(&["guardian_id", "contact_id", "guardian_sis_id"]);
    let c_first = need(&["first_name"]);
    let c_last = need(&["last_name"]);
    if !missing.is_empty() {
        return Err(SourceError::Invalid {
            issues: missing
                .iter()
                .map(|m| {
                    Issue::error(
                        IssueCode::MissingColumn,
                        Location::file(file.to_string()),
                        format!("the required column `{m}` is missing"),
                    )
                })
                .collect(),
        });
    }
    let c_email = col(&["email"]);
    let c_mobile = col(&["mobile", "sms", "cell"]);
    let c_home = col(&["home_phone", "phone"]);
    let c_lang = col(&["language", "preferred_language"]);
    let c_rel = col(&["relationship"]);

    let mut warnings = Vec::new();
    let mut by_id: BTreeMap<String, Contact> = BTreeMap::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i as u64 + 2;
        let rec = rec.map_err(|e| {
            SourceError::invalid(Issue::error(
                IssueCode::MalformedCsv,
                Location::at(file, line, None),
                e.to_string(),
            ))
        })?;
        let get = |c: Option<usize>| {
            c.and_then(|c| rec.get(c))
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let at = |c: usize| Location::at(file, line, Some(c as u64 + 1));
        let (Some(student), Some(id)) = (get(Some(c_student)), get(Some(c_guardian))) else {
            warnings.push(Issue::warning(
                IssueCode::MissingValue,
                Location::at(file, line, None),
                "the row lacks a student_id or guardian_id; skipped",
            ));
            continue;
        };
        let relationship = get(c_rel).and_then(|r| {
            let p = Relationship::parse(r);
            if p.is_none() {
                warnings.push(Issue::warning(
                    IssueCode::UnknownEnumValue,
                    at(c_rel.unwrap_or(0)),
                    "unknown relationship; left empty",
                ));
            }
            p
        });
        let link = ContactLink {
            student_id: student.to_string(),
            relationship,
            contact_type: Some(ContactType::ParentGuardian),
        };
        if let Some(c) = by_id.get_mut(id) {
            if !c.links.iter().any(|l| l.student_id == link.student_id) {
                c.links.push(link);
            }
            continue;
        }
        let email = get(c_email).and_then(|v| {
            let p = Email::parse(v);
            if p.is_none() {
                warnings.push(Issue::warning(
                    IssueCode::InvalidEmail,
                    at(c_email.unwrap_or(0)),
                    "not an email address; dropped",
                ));
            }
            p
        });
        let mut phone = |c: Option<usize>| {
            get(c).and_then(|v| {
                let p = Phone::parse(v);
                if p.is_none() {
                    warnings.push(Issue::warning(
                        IssueCode::UnusablePhone,
                        at(c.unwrap_or(0)),
                        "not a usable phone number; dropped",
                    ));
                }
                p
            })
        };
        let sms = phone(c_mobile);
        let home = phone(c_home);
        let first = get(Some(c_first)).unwrap_or_default().to_string();
        let last = get(Some(c_last)).unwrap_or_default().to_string();
        if first.is_empty() && last.is_empty() {
            warnings.push(Issue::warning(
                IssueCode::MissingValue,
                Location::at(file, line, None),
                "the guardian has no name; skipped",
            ));
            continue;
        }
        if email.is_none() && sms.is_none() {
            warnings.push(Issue::warning(
                IssueCode::GuardianWithoutCredential,
                Location::at(file, line, None),
                "the guardian has neither an email nor a mobile number to log in with",
            ));
        }
        by_id.insert(
            id.to_string(),
            Contact {
                id: id.to_string(),
                first_name: first,
                last_name: last,
                sis_id: Some(id.to_string()),
                email,
                sms,
                phone: home.clone(),
                phone_type: home.map(|_| domain::PhoneType::Home),
                language: get(c_lang).map(str::to_string),
                links: vec![link],
            },
        );
    }
    Ok((by_id.into_values().collect(), warnings))
}

/// Puts the guardians into the roster: a guardian replaces the roster's contact of the same id
/// (keeping that contact's other links); links to students absent from the roster are dropped
/// with a warning.
fn merge_contacts(roster: &mut Roster, contacts: Vec<Contact>, warnings: Vec<Issue>, file: &str) {
    roster.warnings.extend(warnings);
    let students: BTreeSet<&str> = roster.students.iter().map(|s| s.id.as_str()).collect();
    let mut merged: Vec<Contact> = Vec::with_capacity(contacts.len());
    let mut dangling = 0usize;
    for mut c in contacts {
        let before = c.links.len();
        c.links.retain(|l| students.contains(l.student_id.as_str()));
        dangling += before - c.links.len();
        if !c.links.is_empty() {
            merged.push(c);
        }
    }
    if dangling > 0 {
        roster.warnings.push(Issue::warning(
            IssueCode::DanglingReference,
            Location::file(file.to_string()),
            format!("{dangling} guardian link(s) name a student who is not in the roster; dropped"),
        ));
    }
    for c in merged {
        match roster.contacts.iter_mut().find(|x| x.id == c.id) {
            Some(existing) => {
                let mut links = c.links.clone();
                for l in &existing.links {
                    if !links.iter().any(|n| n.student_id == l.student_id) {
                        links.push(l.clone());
                    }
                }
                *existing = Contact { links, ..c };
            }
            None => roster.contacts.push(c),
        }
    }
}

/// The oldest complete drop of the district without `ingested.json`.
pub async fn next_drop(
    objects: &dyn ObjectStore,
    district: &str,
) -> Result<Option<String>, StoreError> {
    let root = drops_prefix(district);
    let mut complete = BTreeSet::new();
    let mut ingested = BTreeSet::new();
    for o in objects.list(&root).await? {
        let Some(rest) = o.key.strip_prefix(&root) else {
            continue;
        };
        let Some((id, tail)) = rest.split_once('/') else {
            continue;
        };
        if tail == COMPLETE_MARKER {
            complete.insert(id.to_string());
        } else if tail == INGESTED_MARKER {
            ingested.insert(id.to_string());
        }
    }
    Ok(complete
        .difference(&ingested)
        .next()
        .map(|id| format!("{root}{id}/")))
}

/// The latest roster drop ingested (what a dry run checks when no new drop waits).
pub async fn latest_roster_drop(
    objects: &dyn ObjectStore,
    district: &str,
) -> Result<Option<String>, RunError> {
    let key = latest_roster_key(district);
    match get_opt(objects, &key).await? {
        Some(b) => Ok(Some(json::<LatestRoster>(&key, &b)?.prefix)),
        None => Ok(None),
    }
}

/// `rostersync sync` for a drop-fed district: pull from SFTP (when the source is SFTP and the
/// `sftp` feature is on), then ingest the oldest complete drop not yet ingested. A dry run
/// checks the new drop (or else the latest roster drop) without consuming it.
pub async fn pull_and_start(
    ports: &Ports,
    secrets: &dyn SecretStore,
    district: &District,
    dry_run: bool,
) -> Result<Started, RunError> {
    #[cfg(feature = "sftp")]
    let note = match &district.source {
        Some(source @ domain::district::SourceConfig::Sftp { auth, .. }) => {
            match pull(ports, secrets, district, source, auth).await {
                Ok(n) => n,
                Err(e) => {
                    let run = new_run(district, dry_run, ports.clock.now());
                    tracing::warn!(reason = %e.reason(), "SFTP pull failed; run failed before any write");
                    return Ok(Started::Ended(Box::new(fail_run(ports, run, &e).await?)));
                }
            }
        }
        _ => String::new(),
    };
    #[cfg(not(feature = "sftp"))]
    let note = {
        let _ = secrets;
        String::new()
    };
    let objects = ports.objects.as_ref();
    let next = match next_drop(objects, &district.id).await? {
        Some(p) => Some(p),
        None if dry_run => latest_roster_drop(objects, &district.id).await?,
        None => None,
    };
    let Some(prefix) = next else {
        let why = if note.is_empty() {
            "no new complete drop".to_string()
        } else {
            note
        };
        return Err(RunError::NothingNew(why));
    };
    match ingest(ports, district, &prefix, dry_run).await? {
        DropOutcome::Started(s) => Ok(s),
        DropOutcome::Duplicate { drop_id, .. } => Err(RunError::NothingNew(format!(
            "drop {drop_id} was already ingested"
        ))),
    }
}

#[cfg(feature = "sftp")]
async fn pull(
    ports: &Ports,
    secrets: &dyn SecretStore,
    district: &District,
    source: &domain::district::SourceConfig,
    auth: &str,
) -> Result<String, FetchError> {
    let mut cfg = sftp::SftpConfig::from_source(source)?;
    if let Some(ms) = std::env::var("ROSTERSYNC_SFTP_SETTLE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        cfg.settle = std::time::Duration::from_millis(ms);
    }
    let secret = secrets
        .get(&crate::admin::secret_name(&district.id))
        .await?;
    let cred = sftp::Credential::from_secret(auth, secret.expose())?;
    Ok(
        match sftp::pull(&cfg, &cred, ports.objects.clone(), &district.id).await? {
            sftp::PullOutcome::Fetched(d) => format!("fetched drop {}", d.drop_id),
            sftp::PullOutcome::AlreadyFetched { drop_id, .. } => {
                format!("the files on the server are drop {drop_id}, already fetched")
            }
            sftp::PullOutcome::NothingReady { reason } => reason,
        },
    )
}
