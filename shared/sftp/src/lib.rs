//! Pulls roster drops from a district's SFTP server into the object store, once per drop.
//!
//! One [`pull`]:
//! 1. connects (connect and read timeouts), checks the server's host key against the pinned
//!    SHA256 fingerprint **before** authenticating, then logs in with a private key or a password;
//! 2. lists the configured folder (and its subfolders, one level) and finds the oldest complete
//!    set not fetched before ([`sets`]): a OneRoster CSV folder, a Clever CSV set (its five
//!    required files), a `.zip`, or a lone `guardians.csv`. A set is complete when its OneRoster
//!    `manifest.csv` is present, or when its files are unchanged (size and mtime) across two
//!    listings [`SftpConfig::settle`] apart. Partial uploads wait: [`PullOutcome::NothingReady`];
//! 3. downloads every file into memory, checks each size against the listing and computes its
//!    SHA-256;
//! 4. writes the files to `districts/{d}/drops/{drop_id}/files/{name}` and then, **last**, the
//!    `_complete.json` marker ([`DropManifest`]). A transfer cut short writes no marker, so
//!    nothing is ingested and the next pull starts again;
//! 5. records the files (remote path, size, mtime, sha256) in the ledger
//!    `districts/{d}/sftp/ledger.json`, so the same drop is not fetched again.
//!
//! The drop id is derived from the newest mtime and the files' content hashes, so a drop fetched
//! twice (a lost ledger write, two pulls at once) lands under the same prefix; ingestion keeps
//! its own exactly-once marker beside it.
//!
//! Secrets (passwords, private keys) are never logged, and no error message contains them.

mod client;
mod ledger;
pub mod sets;

pub use ledger::{Ledger, LedgerEntry};
pub use sets::SetKind;

use chrono::{DateTime, Utc};
use domain::district::SourceConfig;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use store::{ObjectStore, StoreError};

/// The marker written last in a drop's prefix.
pub const COMPLETE_MARKER: &str = "_complete.json";

/// `districts/{d}/drops/{drop_id}/`: where a drop's files and marker live.
pub fn drop_prefix(district: &str, drop_id: &str) -> String {
    format!("districts/{district}/drops/{drop_id}/")
}

/// `districts/{d}/sftp/ledger.json`.
pub fn ledger_key(district: &str) -> String {
    format!("districts/{district}/sftp/ledger.json")
}

/// Called with the bytes of the current file read so far (progress reporting; tests use it to
/// cut a transfer short).
pub type Progress = Arc<dyn Fn(&str, u64) + Send + Sync>;

/// Where and how to reach a district's SFTP drops.
#[derive(Clone)]
pub struct SftpConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// The pinned host key fingerprint as `ssh-keygen -lf` prints it: `SHA256:` + base64
    /// (no padding).
    pub host_key: String,
    /// The remote folder drops arrive in.
    pub path: String,
    /// `oneroster-csv` or `clever-csv` when the district said so (detection otherwise).
    pub format: Option<String>,
    pub connect_timeout: Duration,
    /// How long one blocking SSH call (a read, a listing) may wait.
    pub io_timeout: Duration,
    /// The pause between the two listings that prove a set is no longer changing.
    pub settle: Duration,
    /// The most bytes one drop may hold (all its files together).
    pub max_drop_bytes: u64,
    pub progress: Option<Progress>,
}

impl fmt::Debug for SftpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SftpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("host_key", &self.host_key)
            .field("path", &self.path)
            .field("format", &self.format)
            .field("connect_timeout", &self.connect_timeout)
            .field("io_timeout", &self.io_timeout)
            .field("settle", &self.settle)
            .field("max_drop_bytes", &self.max_drop_bytes)
            .finish_non_exhaustive()
    }
}

impl SftpConfig {
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(30);
    pub const DEFAULT_SETTLE: Duration = Duration::from_secs(5);
    pub const DEFAULT_MAX_DROP_BYTES: u64 = 512 << 20;

    pub fn new(
        host: impl Into<String>,
        port: u16,
        user: impl Into<String>,
        host_key: impl Into<String>,
        path: impl Into<String>,
    ) -> Self {
        Self {
            host: host.into(),
            port,
            user: user.into(),
            host_key: host_key.into(),
            path: path.into(),
            format: None,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            io_timeout: Self::DEFAULT_IO_TIMEOUT,
            settle: Self::DEFAULT_SETTLE,
            max_drop_bytes: Self::DEFAULT_MAX_DROP_BYTES,
            progress: None,
        }
    }

    /// The configuration of a district's `sftp` source, with the default timeouts and pause.
    pub fn from_source(source: &SourceConfig) -> Result<Self, SftpError> {
        let SourceConfig::Sftp {
            host,
            port,
            user,
            host_key,
            path,
            format,
            ..
        } = source
        else {
            return Err(SftpError::Config(format!(
                "not an SFTP source: {}",
                source.kind_name()
            )));
        };
        let mut cfg = Self::new(
            host.clone(),
            *port,
            user.clone(),
            host_key.clone(),
            path.clone(),
        );
        cfg.format = format.clone();
        Ok(cfg)
    }
}

/// How to log in. `Debug` never shows the secret.
#[derive(Clone)]
pub enum Credential {
    /// A private key (PEM or OpenSSH format), with its passphrase if it has one.
    Key {
        private_key: String,
        passphrase: Option<String>,
    },
    Password(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Key { .. } => f.write_str("Credential::Key(***)"),
            Self::Password(_) => f.write_str("Credential::Password(***)"),
        }
    }
}

impl Credential {
    /// From a district's `auth` (`key` or `password`) and its stored secret.
    pub fn from_secret(auth: &str, secret: &str) -> Result<Self, SftpError> {
        match auth {
            "key" => Ok(Self::Key {
                private_key: secret.to_string(),
                passphrase: None,
            }),
            "password" => Ok(Self::Password(secret.to_string())),
            other => Err(SftpError::Config(format!(
                "unknown SFTP auth method {other:?} (expected key or password)"
            ))),
        }
    }

    fn method(&self) -> &'static str {
        match self {
            Self::Key { .. } => "key",
            Self::Password(_) => "password",
        }
    }
}

/// What went wrong, with what an operator can act on. Never holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum SftpError {
    #[error("cannot connect to the SFTP server {addr}: {detail}")]
    Connect { addr: String, detail: String },
    #[error(
        "the SFTP server {addr} presented host key {actual}, but {expected} is pinned; refusing to log in. If the district changed its server key, check the new fingerprint with them and reconnect with --host-key {actual}"
    )]
    HostKeyMismatch {
        addr: String,
        expected: String,
        actual: String,
    },
    #[error("the SFTP server {addr} refused the {method} login: {detail}")]
    Auth {
        addr: String,
        method: &'static str,
        detail: String,
    },
    #[error("SFTP error at {path}: {detail}")]
    Remote { path: String, detail: String },
    #[error(
        "{path} changed during the download (expected {expected} bytes, got {actual}); it will be fetched again"
    )]
    Changed {
        path: String,
        expected: u64,
        actual: u64,
    },
    #[error(
        "the drop at {path} holds {size} bytes, more than the {max} allowed; refused (it will not be fetched again)"
    )]
    TooLarge { path: String, size: u64, max: u64 },
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SftpError {
    /// True when the same pull may succeed later without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Connect { .. } | Self::Remote { .. } | Self::Changed { .. } => true,
            Self::Store(e) => e.is_transient(),
            Self::HostKeyMismatch { .. }
            | Self::Auth { .. }
            | Self::TooLarge { .. }
            | Self::Config(_) => false,
        }
    }

    /// True when the credentials or the pinned host key are at fault.
    pub fn is_credentials(&self) -> bool {
        matches!(self, Self::HostKeyMismatch { .. } | Self::Auth { .. })
    }
}

/// One file of a fetched drop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropFile {
    /// The name inside the drop (`users.csv`, `export.zip`): the object is `files/{name}`.
    pub name: String,
    /// The full remote path it came from.
    pub remote: String,
    pub size: u64,
    /// Remote modification time, seconds since the epoch.
    pub mtime: u64,
    /// Lower-case hex SHA-256 of the content.
    pub sha256: String,
}

/// The `_complete.json` marker: written after every file of the drop, so its presence means
/// the drop is whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropManifest {
    pub v: u32,
    pub district: String,
    pub drop_id: String,
    pub kind: SetKind,
    /// `oneroster-csv` / `clever-csv` when the district's source says so.
    #[serde(default)]
    pub format: Option<String>,
    /// The remote folder (or zip) the drop came from.
    pub remote: String,
    pub files: Vec<DropFile>,
    pub fetched_at: DateTime<Utc>,
}

/// A drop now in the object store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedDrop {
    pub drop_id: String,
    /// `districts/{d}/drops/{drop_id}/`.
    pub prefix: String,
    pub manifest: DropManifest,
}

/// What one pull found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullOutcome {
    /// A new complete drop was fetched and its marker written.
    Fetched(FetchedDrop),
    /// The files were new to the ledger but their content was already fetched as this drop
    /// (re-uploaded unchanged, or a pull whose ledger write was lost).
    AlreadyFetched { drop_id: String, prefix: String },
    /// Nothing complete and new: why, for the operator.
    NothingReady { reason: String },
}

/// Pulls the oldest complete new drop (see the crate docs). ssh2's blocking calls run on
/// tokio's blocking pool.
pub async fn pull(
    cfg: &SftpConfig,
    secret: &Credential,
    objects: Arc<dyn ObjectStore>,
    district: &str,
) -> Result<PullOutcome, SftpError> {
    let span = tracing::info_span!("sftp_pull", district = %district, host = %cfg.host, port = cfg.port, path = %cfg.path);
    let _g = span.enter();
    let ledger = Ledger::load(objects.as_ref(), district).await?;
    let (c, s, l) = (cfg.clone(), secret.clone(), ledger.clone());
    let found = tokio::task::spawn_blocking(move || client::fetch(&c, &s, &l))
        .await
        .map_err(|e| SftpError::Remote {
            path: cfg.path.clone(),
            detail: format!("the transfer task failed: {e}"),
        })?;
    let found = match found {
        Ok(f) => f,
        Err(SftpError::TooLarge { path, size, max }) => {
            // Remember the refusal, so later pulls move on to newer drops.
            let mut ledger = ledger;
            ledger.refuse(&path, size);
            ledger.save(objects.as_ref(), district).await?;
            tracing::warn!(size, max, "drop refused: too large");
            return Err(SftpError::TooLarge { path, size, max });
        }
        Err(e) => return Err(e),
    };
    let (set, downloaded) = match found {
        client::Found::Nothing(reason) => {
            tracing::info!(%reason, "nothing ready");
            return Ok(PullOutcome::NothingReady { reason });
        }
        client::Found::Set(set, files) => (set, files),
    };
    let files: Vec<DropFile> = downloaded
        .iter()
        .map(|(f, body)| DropFile {
            name: f.name.clone(),
            remote: f.path.clone(),
            size: f.size,
            mtime: f.mtime,
            sha256: hex(&Sha256::digest(body)),
        })
        .collect();
    let drop_id = drop_id(&files);
    let prefix = drop_prefix(district, &drop_id);
    let manifest = DropManifest {
        v: 1,
        district: district.to_string(),
        drop_id: drop_id.clone(),
        kind: set.kind,
        format: cfg.format.clone(),
        remote: set.root.clone(),
        files: files.clone(),
        fetched_at: Utc::now(),
    };
    let marker = format!("{prefix}{COMPLETE_MARKER}");
    let already = match objects.get(&marker).await {
        Ok(_) => true,
        Err(StoreError::NotFound(_)) => false,
        Err(e) => return Err(e.into()),
    };
    if !already {
        for (f, body) in downloaded {
            objects
                .put(&format!("{prefix}files/{}", f.name), body)
                .await?;
        }
        let body = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| SftpError::Config(format!("cannot encode the drop marker: {e}")))?;
        match objects.put_if_absent(&marker, body).await {
            Ok(()) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut ledger = ledger;
    ledger.record(&files, &drop_id);
    ledger.save(objects.as_ref(), district).await?;
    let bytes: u64 = files.iter().map(|f| f.size).sum();
    if already {
        tracing::info!(drop_id = %drop_id, files = files.len(), "drop content already fetched");
        return Ok(PullOutcome::AlreadyFetched { drop_id, prefix });
    }
    tracing::info!(drop_id = %drop_id, kind = ?manifest.kind, files = files.len(), bytes, "drop fetched");
    Ok(PullOutcome::Fetched(FetchedDrop {
        drop_id,
        prefix,
        manifest,
    }))
}

/// `{newest mtime, UTC}-{12 hex of the content hash}`: sorts by upload time, and the same
/// content always gets the same id.
fn drop_id(files: &[DropFile]) -> String {
    let newest = files.iter().map(|f| f.mtime).max().unwrap_or(0);
    let when =
        DateTime::<Utc>::from_timestamp(i64::try_from(newest).unwrap_or(0), 0).unwrap_or_default();
    let mut sorted: Vec<&DropFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut h = Sha256::new();
    for f in sorted {
        h.update(f.name.as_bytes());
        h.update([0]);
        h.update(f.sha256.as_bytes());
        h.update([b'\n']);
    }
    let digest = hex(&h.finalize());
    format!("{}-{}", when.format("%Y%m%dT%H%M%SZ"), &digest[..12])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `SHA256:` + unpadded base64, as `ssh-keygen -lf` prints it.
pub fn fingerprint(sha256: &[u8]) -> String {
    use base64::Engine;
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(sha256)
    )
}

/// True when two fingerprints name the same key (tolerates `=` padding and surrounding space).
pub fn same_fingerprint(pinned: &str, actual: &str) -> bool {
    let norm = |s: &str| s.trim().trim_end_matches('=').to_string();
    let pinned = norm(pinned);
    let pinned = if pinned.starts_with("SHA256:") {
        pinned
    } else {
        format!("SHA256:{pinned}")
    };
    pinned == norm(actual)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_compare_like_ssh_keygen() {
        let fp = fingerprint(&[0u8; 32]);
        assert_eq!(fp, "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        assert!(same_fingerprint(&format!("{fp}="), &fp));
        assert!(same_fingerprint(
            " AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA ",
            &fp
        ));
        assert!(!same_fingerprint("SHA256:AAAB", &fp));
    }

    #[test]
    fn drop_ids_follow_content() {
        let f = |sha: &str| DropFile {
            name: "users.csv".into(),
            remote: "/in/users.csv".into(),
            size: 1,
            mtime: 1_700_000_000,
            sha256: sha.into(),
        };
        let a = drop_id(&[f("aa")]);
        assert!(a.starts_with("20231114T221320Z-"), "{a}");
        assert_eq!(a, drop_id(&[f("aa")]));
        assert_ne!(a, drop_id(&[f("bb")]));
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let c = Credential::Password("hunter2".into());
        assert!(!format!("{c:?}").contains("hunter2"));
        let k = Credential::Key {
            private_key: "-----BEGIN".into(),
            passphrase: Some("pp".into()),
        };
        assert!(!format!("{k:?}").contains("BEGIN"));
    }
}
