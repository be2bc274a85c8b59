//! The ledger of remote files already fetched (or refused), `districts/{d}/sftp/ledger.json`:
//! a file whose path, size and mtime are in the ledger is not fetched again.

use crate::{DropFile, SftpError, ledger_key};
use serde::{Deserialize, Serialize};
use store::{ObjectStore, StoreError};

/// One remote file as it was when fetched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Full remote path.
    pub name: String,
    pub size: u64,
    pub mtime: u64,
    /// Empty for a refused file (never downloaded).
    #[serde(default)]
    pub sha256: String,
    /// The drop it went into; `None` when refused.
    #[serde(default)]
    pub drop_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    #[serde(default)]
    pub files: Vec<LedgerEntry>,
}

/// How many entries the ledger keeps (the newest); older drops are long gone from the server.
const MAX_ENTRIES: usize = 5_000;

impl Ledger {
    pub async fn load(objects: &dyn ObjectStore, district: &str) -> Result<Self, SftpError> {
        match objects.get(&ledger_key(district)).await {
            Ok(body) => serde_json::from_slice(&body).map_err(|e| {
                SftpError::Config(format!(
                    "the SFTP ledger {} is not valid JSON: {e}",
                    ledger_key(district)
                ))
            }),
            Err(StoreError::NotFound(_)) => Ok(Self::default()),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn save(&self, objects: &dyn ObjectStore, district: &str) -> Result<(), SftpError> {
        let body = serde_json::to_vec_pretty(self)
            .map_err(|e| SftpError::Config(format!("cannot encode the SFTP ledger: {e}")))?;
        Ok(objects.put(&ledger_key(district), body).await?)
    }

    /// True when this remote file, at this size and mtime, was fetched or refused before.
    pub fn seen(&self, path: &str, size: u64, mtime: u64) -> bool {
        self.files
            .iter()
            .any(|e| e.name == path && e.size == size && e.mtime == mtime)
    }

    /// True when the file was refused (too large) at this size.
    pub fn refused(&self, path: &str, size: u64) -> bool {
        self.files
            .iter()
            .any(|e| e.name == path && e.size == size && e.drop_id.is_none())
    }

    pub fn record(&mut self, files: &[DropFile], drop_id: &str) {
        for f in files {
            self.files
                .retain(|e| !(e.name == f.remote && e.size == f.size && e.mtime == f.mtime));
            self.files.push(LedgerEntry {
                name: f.remote.clone(),
                size: f.size,
                mtime: f.mtime,
                sha256: f.sha256.clone(),
                drop_id: Some(drop_id.to_string()),
            });
        }
        self.trim();
    }

    pub fn refuse(&mut self, path: &str, size: u64) {
        // The mtime is not known here; a refused path is matched by path and size.
        self.files.push(LedgerEntry {
            name: path.to_string(),
            size,
            mtime: 0,
            sha256: String::new(),
            drop_id: None,
        });
        self.trim();
    }

    fn trim(&mut self) {
        if self.files.len() > MAX_ENTRIES {
            let excess = self.files.len() - MAX_ENTRIES;
            self.files.drain(..excess);
        }
    }
}
