//! Fetching a district's roster from its configured source, with the verbatim source material
//! kept under the run's `raw/` prefix for audit and replay.

use crate::admin::secret_name;
use crate::secrets::{SecretError, SecretStore};
use domain::Roster;
use domain::district::{District, SourceConfig};
use sources::files::FileSet;
use sources::{RawSink, SourceError};
use std::sync::Arc;
use store::ObjectStore;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "district {0} has no source; connect one: rostersync connect --district {0} --source ..."
    )]
    NotConnected(String),
    #[error("the source secret is missing: {0}")]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("{0}")]
    Unsupported(String),
    #[cfg(feature = "sftp")]
    #[error(transparent)]
    Sftp(#[from] sftp::SftpError),
}

impl FetchError {
    pub fn reason(&self) -> domain::FailureReason {
        match self {
            Self::Source(e) => e.reason(),
            Self::Secret(_) => domain::FailureReason::WrongCredentials,
            Self::NotConnected(_) | Self::Unsupported(_) => domain::FailureReason::InvalidInput,
            #[cfg(feature = "sftp")]
            Self::Sftp(e) if e.is_credentials() => domain::FailureReason::WrongCredentials,
            #[cfg(feature = "sftp")]
            Self::Sftp(e) if e.is_transient() => domain::FailureReason::SourceUnavailable,
            #[cfg(feature = "sftp")]
            Self::Sftp(_) => domain::FailureReason::InvalidInput,
        }
    }
    /// The issues to report (file, line, column), for invalid feeds.
    pub fn issues(&self) -> Vec<domain::Issue> {
        match self {
            Self::Source(SourceError::Invalid { issues }) => issues.clone(),
            _ => Vec::new(),
        }
    }
}

/// Writes raw pages and files to `districts/{d}/runs/{run}/raw/`.
pub struct ObjectRaw {
    store: Arc<dyn ObjectStore>,
    prefix: String,
}

impl ObjectRaw {
    pub fn new(store: Arc<dyn ObjectStore>, district: &str, run_id: &str) -> Self {
        Self {
            store,
            prefix: format!("districts/{district}/runs/{run_id}/raw/"),
        }
    }
}

#[async_trait::async_trait]
impl RawSink for ObjectRaw {
    async fn put(&mut self, name: String, body: Vec<u8>) -> Result<(), SourceError> {
        self.store
            .put(&format!("{}{name}", self.prefix), body)
            .await
            .map_err(|e| SourceError::Unavailable {
                path: format!("raw/{name}"),
                detail: e.to_string(),
            })
    }
}

/// Which file format a folder, zip or drop holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    OneRosterCsv,
    CleverCsv,
    CleverJson,
}

/// Recognises a file set by the files it holds.
pub fn detect_format(files: &FileSet) -> Option<FileFormat> {
    if files.contains("manifest.csv") || files.contains("users.csv") {
        Some(FileFormat::OneRosterCsv)
    } else if files.find_ignore_case("students.csv").is_some()
        && files.find_ignore_case("sections.csv").is_some()
    {
        Some(FileFormat::CleverCsv)
    } else if files.contains("users.json") && files.contains("sections.json") {
        Some(FileFormat::CleverJson)
    } else {
        None
    }
}

/// Reads a file set in the given format (copying every file verbatim to `raw`).
pub async fn read_files(
    files: &FileSet,
    format: FileFormat,
    raw: &mut dyn RawSink,
) -> Result<Roster, SourceError> {
    let names: Vec<String> = files.names().map(str::to_string).collect();
    for name in &names {
        raw.put(format!("files/{name}"), files.read(name)?).await?;
    }
    let mut roster = match format {
        FileFormat::OneRosterCsv => sources::oneroster_csv::read(files)?,
        FileFormat::CleverCsv => sources::clever_csv::read(files)?,
        FileFormat::CleverJson => sources::clever_api::read_json_dir(|n| files.read(n).ok())?,
    };
    if roster.source.is_none() {
        roster.source = Some(match format {
            FileFormat::OneRosterCsv => domain::SourceKind::OnerosterCsv,
            FileFormat::CleverCsv => domain::SourceKind::CleverCsv,
            FileFormat::CleverJson => domain::SourceKind::Clever,
        });
    }
    Ok(roster)
}

/// Fetches the district's roster from its source.
pub async fn fetch_roster(
    district: &District,
    secrets: &dyn SecretStore,
    raw: &mut dyn RawSink,
) -> Result<Roster, FetchError> {
    let source = district
        .source
        .as_ref()
        .ok_or_else(|| FetchError::NotConnected(district.id.clone()))?;
    match source {
        SourceConfig::OnerosterCsv { path } => {
            let files = FileSet::open(path)?;
            Ok(read_files(&files, FileFormat::OneRosterCsv, raw).await?)
        }
        SourceConfig::CleverCsv { path } => {
            let files = FileSet::open(path)?;
            let format = match detect_format(&files) {
                Some(FileFormat::CleverJson) => FileFormat::CleverJson,
                _ => FileFormat::CleverCsv,
            };
            Ok(read_files(&files, format, raw).await?)
        }
        SourceConfig::Clever { .. } | SourceConfig::OnerosterApi { .. } => {
            match api_source(district, secrets).await? {
                ApiSource::Clever(cfg) => Ok(sources::clever_api::fetch(&cfg, raw).await?),
                ApiSource::OneRoster(cfg) => Ok(sources::oneroster_api::fetch(&cfg, raw).await?),
            }
        }
        // A drop-fed source has no roster to fetch on demand: `app::drops::pull_and_start`
        // pulls the next drop and ingests it exactly once (what `rostersync sync` and
        // `app::runs::start` do for it).
        SourceConfig::Sftp { .. } => Err(FetchError::Unsupported(
            "an SFTP district is read drop by drop: run `rostersync sync --district D`, which pulls the next complete drop and ingests it".into(),
        )),
    }
}

/// The client configuration of a district read over HTTP (Clever or OneRoster REST), its secret
/// included.
pub enum ApiSource {
    Clever(sources::clever_api::CleverConfig),
    OneRoster(sources::oneroster_api::OneRosterConfig),
}

/// The HTTP API configuration of `district`; `Unsupported` for a file or drop source.
pub async fn api_source(
    district: &District,
    secrets: &dyn SecretStore,
) -> Result<ApiSource, FetchError> {
    match district.source.as_ref() {
        Some(SourceConfig::Clever {
            base_url, version, ..
        }) => {
            let token = secrets.get(&secret_name(&district.id)).await?;
            let mut cfg = sources::clever_api::CleverConfig::new(token.expose());
            cfg.base_url = base_url.clone();
            if let Some(v) = version {
                cfg.version = v.clone();
            }
            Ok(ApiSource::Clever(cfg))
        }
        Some(source @ SourceConfig::OnerosterApi { .. }) => {
            let secret = secrets.get(&secret_name(&district.id)).await?;
            Ok(ApiSource::OneRoster(oneroster_config(
                source,
                secret.expose(),
            )?))
        }
        Some(_) => Err(FetchError::Unsupported(
            "the district's source is not a Clever or OneRoster REST API".into(),
        )),
        None => Err(FetchError::NotConnected(district.id.clone())),
    }
}

/// Builds the OneRoster REST client configuration from a district's source and its secret.
pub fn oneroster_config(
    source: &SourceConfig,
    secret: &str,
) -> Result<sources::oneroster_api::OneRosterConfig, FetchError> {
    use sources::oneroster_api::{OneRosterAuth, OneRosterConfig, SignatureMethod};
    let SourceConfig::OnerosterApi {
        base_url,
        client_id,
        auth,
        token_url,
        signature,
        ..
    } = source
    else {
        return Err(FetchError::Unsupported(
            "not a OneRoster REST source".into(),
        ));
    };
    let auth = match auth.as_str() {
        "oauth2" => OneRosterAuth::OAuth2 {
            client_id: client_id.clone(),
            client_secret: secret.to_string(),
            token_url: token_url
                .clone()
                .ok_or_else(|| FetchError::Unsupported("--auth oauth2 needs --token-url".into()))?,
            scope: None,
        },
        _ => OneRosterAuth::OAuth1 {
            key: client_id.clone(),
            secret: secret.to_string(),
            method: match signature.as_deref() {
                Some("hmac-sha1") => SignatureMethod::HmacSha1,
                _ => SignatureMethod::HmacSha256,
            },
        },
    };
    Ok(OneRosterConfig::new(base_url.clone(), auth))
}
