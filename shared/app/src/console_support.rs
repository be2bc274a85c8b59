//! What the web console needs from the application layer beyond [`crate::admin`]: a source
//! configuration built from a submitted form (step 1), and one read of the district's source
//! summarised for steps 2 to 4 (counts per entity, the feed's schools, its sections).
//!
//! Secrets typed into the form go straight to the [`SecretStore`]; nothing here returns or logs
//! them.

use crate::admin::{AdminError, secret_name};
use crate::fetch::{FetchError, fetch_roster};
use crate::secrets::{Secret, SecretStore};
use domain::district::{District, SourceConfig};
use serde::Serialize;
use std::collections::BTreeMap;

/// The fields of the console's "connect a source" form. Empty strings count as absent.
#[derive(Debug, Clone)]
pub struct SourceForm {
    /// `clever`, `oneroster-api`, `oneroster-csv`, `clever-csv` or `sftp`.
    pub kind: String,
    pub base_url: String,
    pub client_id: String,
    /// `oauth1` (default) or `oauth2`.
    pub auth: String,
    pub token_url: String,
    /// Clever token, OneRoster client secret, SFTP password or private key. Never shown back.
    pub secret: Secret,
    pub path: String,
    pub host: String,
    pub port: String,
    pub user: String,
    pub host_key: String,
    pub format: String,
}

impl Default for SourceForm {
    fn default() -> Self {
        Self {
            kind: String::new(),
            base_url: String::new(),
            client_id: String::new(),
            auth: String::new(),
            token_url: String::new(),
            secret: Secret::new(""),
            path: String::new(),
            host: String::new(),
            port: String::new(),
            user: String::new(),
            host_key: String::new(),
            format: String::new(),
        }
    }
}

fn field<'a>(value: &'a str, name: &str, kind: &str) -> Result<&'a str, AdminError> {
    let v = value.trim();
    if v.is_empty() {
        Err(AdminError::Invalid(format!("{kind}: {name} is required")))
    } else {
        Ok(v)
    }
}

fn optional(value: &str) -> Option<String> {
    Some(value.trim().to_string()).filter(|v| !v.is_empty())
}

/// Builds the configuration (and the secret to store) a form describes. `existing` is the
/// district's current source: a form that leaves the secret empty keeps the stored one when
/// the source kind is unchanged, so an admin can fix a URL without retyping a token.
pub fn source_from_form(
    district: &str,
    form: &SourceForm,
    existing: Option<&SourceConfig>,
) -> Result<(SourceConfig, Option<Secret>), AdminError> {
    let kind = form.kind.trim();
    let secret_ref = secret_name(district);
    let same_kind = existing.is_some_and(|e| e.kind_name() == kind);
    let secret = Some(form.secret.expose().trim())
        .filter(|v| !v.is_empty())
        .map(Secret::new);
    let need_secret = |what: &str| -> Result<Option<Secret>, AdminError> {
        match (&secret, same_kind) {
            (Some(s), _) => Ok(Some(s.clone())),
            (None, true) => Ok(None),
            (None, false) => Err(AdminError::Invalid(format!("{kind}: {what} is required"))),
        }
    };
    let config = match kind {
        "clever" => {
            let secret = need_secret("the district OAuth token")?;
            let base = optional(&form.base_url).unwrap_or_else(|| "https://api.clever.com".into());
            return Ok((
                SourceConfig::Clever {
                    base_url: base,
                    version: None,
                    secret_ref,
                },
                secret,
            ));
        }
        "oneroster-api" => {
            let auth = optional(&form.auth).unwrap_or_else(|| "oauth1".into());
            if auth != "oauth1" && auth != "oauth2" {
                return Err(AdminError::Invalid(
                    "oneroster-api: authentication must be oauth1 or oauth2".into(),
                ));
            }
            let token_url = optional(&form.token_url);
            if auth == "oauth2" && token_url.is_none() {
                return Err(AdminError::Invalid(
                    "oneroster-api: OAuth 2 needs a token URL".into(),
                ));
            }
            let secret = need_secret("the client secret")?;
            return Ok((
                SourceConfig::OnerosterApi {
                    base_url: field(&form.base_url, "the base URL", kind)?.to_string(),
                    client_id: field(&form.client_id, "the client id", kind)?.to_string(),
                    auth,
                    token_url,
                    signature: None,
                    secret_ref,
                },
                secret,
            ));
        }
        "oneroster-csv" | "clever-csv" => {
            let path = field(&form.path, "the folder or ZIP path", kind)?;
            let abs = std::path::Path::new(path).canonicalize().map_err(|e| {
                AdminError::Invalid(format!("{kind}: the path {path} cannot be read: {e}"))
            })?;
            let path = abs.display().to_string();
            if kind == "oneroster-csv" {
                SourceConfig::OnerosterCsv { path }
            } else {
                SourceConfig::CleverCsv { path }
            }
        }
        "sftp" => {
            let host_key = field(&form.host_key, "the host key fingerprint", kind)?;
            if !host_key.starts_with("SHA256:") {
                return Err(AdminError::Invalid(
                    "sftp: the host key must be a SHA256 fingerprint (SHA256:...)".into(),
                ));
            }
            let port = match optional(&form.port) {
                None => 22,
                Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                    AdminError::Invalid("sftp: the port must be a number from 1 to 65535".into())
                })?,
            };
            let format = optional(&form.format);
            if let Some(f) = &format
                && f != "oneroster-csv"
                && f != "clever-csv"
            {
                return Err(AdminError::Invalid(
                    "sftp: the file format must be oneroster-csv or clever-csv".into(),
                ));
            }
            let secret = need_secret("the password or private key")?;
            let auth = match &secret {
                Some(s) if s.expose().contains("PRIVATE KEY") => "key".to_string(),
                Some(_) => "password".to_string(),
                None => match existing {
                    Some(SourceConfig::Sftp { auth, .. }) => auth.clone(),
                    _ => "password".to_string(),
                },
            };
            return Ok((
                SourceConfig::Sftp {
                    host: field(&form.host, "the host", kind)?.to_string(),
                    port,
                    user: field(&form.user, "the user", kind)?.to_string(),
                    host_key: host_key.to_string(),
                    path: field(&form.path, "the remote folder", kind)?.to_string(),
                    format,
                    auth,
                    secret_ref,
                },
                secret,
            ));
        }
        other => {
            return Err(AdminError::Invalid(format!(
                "unknown source kind {other:?}: choose clever, oneroster-api, oneroster-csv, clever-csv or sftp"
            )));
        }
    };
    Ok((config, None))
}

/// A feed section, for searching in step 4.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeedSection {
    pub id: String,
    pub name: String,
    pub school_id: String,
    pub subject: Option<String>,
    pub period: Option<String>,
}

/// One read of the source, summarised: what it shares.
#[derive(Debug, Clone, Serialize)]
pub struct SourceShares {
    /// The source kind (`clever`, `oneroster-csv`, ...).
    pub source: String,
    /// Records per entity, in a fixed order: schools, sections, students, staff, contacts,
    /// enrollments, terms, courses.
    pub counts: Vec<(&'static str, usize)>,
    /// Students per feed school id.
    pub students_per_school: BTreeMap<String, usize>,
    pub schools: Vec<domain::School>,
    pub sections: Vec<FeedSection>,
    /// Warnings the reader raised, counted per code.
    pub warnings: BTreeMap<String, usize>,
}

/// Reads the district's source once, writing nothing, and summarises it.
pub async fn read_source(
    district: &District,
    secrets: &dyn SecretStore,
) -> Result<SourceShares, FetchError> {
    let mut raw = sources::NoRaw;
    let roster = fetch_roster(district, secrets, &mut raw).await?;
    let mut students_per_school = BTreeMap::new();
    for s in &roster.students {
        for school in &s.school_ids {
            *students_per_school.entry(school.clone()).or_insert(0) += 1;
        }
    }
    let mut warnings = BTreeMap::new();
    for w in &roster.warnings {
        *warnings.entry(w.code.as_str().to_string()).or_insert(0) += 1;
    }
    Ok(SourceShares {
        source: district
            .source
            .as_ref()
            .map(|s| s.kind_name().to_string())
            .unwrap_or_default(),
        counts: vec![
            ("schools", roster.schools.len()),
            ("sections", roster.sections.len()),
            ("students", roster.students.len()),
            ("staff", roster.staff.len()),
            ("contacts", roster.contacts.len()),
            ("enrollments", roster.enrollments.len()),
            ("terms", roster.terms.len()),
            ("courses", roster.courses.len()),
        ],
        students_per_school,
        sections: roster
            .sections
            .iter()
            .map(|s| FeedSection {
                id: s.id.clone(),
                name: s.name.clone(),
                school_id: s.school_id.clone(),
                subject: s.subject.clone(),
                period: s.period.clone(),
            })
            .collect(),
        schools: roster.schools,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(kind: &str) -> SourceForm {
        SourceForm {
            kind: kind.into(),
            ..SourceForm::default()
        }
    }

    #[test]
    fn clever_needs_a_token_unless_one_is_stored() {
        let err = source_from_form("d1", &form("clever"), None).unwrap_err();
        assert!(err.to_string().contains("OAuth token"), "{err}");
        let mut f = form("clever");
        f.secret = Secret::new("tok");
        let (cfg, secret) = source_from_form("d1", &f, None).unwrap();
        assert_eq!(cfg.kind_name(), "clever");
        assert_eq!(secret.map(|s| s.expose().to_string()), Some("tok".into()));
        // Same kind already connected: an empty secret keeps the stored one.
        let (_, kept) = source_from_form("d1", &form("clever"), Some(&cfg)).unwrap();
        assert!(kept.is_none());
    }

    #[test]
    fn bad_forms_say_what_is_wrong() {
        let mut f = form("sftp");
        f.host = "h".into();
        f.user = "u".into();
        f.path = "/in".into();
        f.host_key = "MD5:aa".into();
        let err = source_from_form("d1", &f, None).unwrap_err().to_string();
        assert!(err.contains("SHA256"), "{err}");
        let err = source_from_form("d1", &form("ftp"), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown source kind"), "{err}");
        let mut f = form("oneroster-csv");
        f.path = "/no/such/folder/anywhere".into();
        let err = source_from_form("d1", &f, None).unwrap_err().to_string();
        assert!(err.contains("/no/such/folder/anywhere"), "{err}");
    }
}
