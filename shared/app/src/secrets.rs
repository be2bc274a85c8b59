//! Source credentials, stored apart from settings and never printed or logged. Locally: a JSON
//! file readable only by its owner (mode 0600). On AWS the same port reads SSM / Secrets Manager.

use async_trait::async_trait;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Mutex;

/// A secret value. Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(v: impl Into<String>) -> Self {
        Self(v.into())
    }
    /// The value, for the one place that sends it to the source.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("no secret stored under {0}")]
    Missing(String),
    #[error("cannot access the secret store at {path}: {message}")]
    Store { path: String, message: String },
}

#[async_trait]
pub trait SecretStore: Send + Sync {
    async fn get(&self, name: &str) -> Result<Secret, SecretError>;
    async fn put(&self, name: &str, value: &Secret) -> Result<(), SecretError>;
}

/// `credentials.json` in the data directory, created with mode 0600 and refused if anyone but
/// the owner can read it.
#[derive(Debug)]
pub struct FileSecrets {
    path: PathBuf,
    lock: Mutex<()>,
}

impl FileSecrets {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            lock: Mutex::new(()),
        }
    }

    fn err(&self, message: impl fmt::Display) -> SecretError {
        SecretError::Store {
            path: self.path.display().to_string(),
            message: message.to_string(),
        }
    }

    fn load(&self) -> Result<BTreeMap<String, String>, SecretError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let mode = std::fs::metadata(&self.path)
                        .map_err(|e| self.err(e))?
                        .permissions()
                        .mode();
                    if mode & 0o077 != 0 {
                        return Err(self.err(format!(
                            "the file is readable by others (mode {:o}); run: chmod 600 {}",
                            mode & 0o777,
                            self.path.display()
                        )));
                    }
                }
                serde_json::from_slice(&bytes).map_err(|e| self.err(format!("not valid JSON: {e}")))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(self.err(e)),
        }
    }
}

#[async_trait]
impl SecretStore for FileSecrets {
    async fn get(&self, name: &str) -> Result<Secret, SecretError> {
        let _g = self.lock.lock().map_err(|_| self.err("lock poisoned"))?;
        self.load()?
            .get(name)
            .map(|v| Secret(v.clone()))
            .ok_or_else(|| SecretError::Missing(name.to_string()))
    }

    async fn put(&self, name: &str, value: &Secret) -> Result<(), SecretError> {
        let _g = self.lock.lock().map_err(|_| self.err("lock poisoned"))?;
        let mut all = self.load()?;
        all.insert(name.to_string(), value.0.clone());
        let body = serde_json::to_vec_pretty(&all).map_err(|e| self.err(e))?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| self.err(e))?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        {
            use std::io::Write;
            let mut f = opts.open(&tmp).map_err(|e| self.err(e))?;
            f.write_all(&body).map_err(|e| self.err(e))?;
            f.sync_all().map_err(|e| self.err(e))?;
        }
        std::fs::rename(&tmp, &self.path).map_err(|e| self.err(e))
    }
}

/// Secrets held in memory (tests).
#[derive(Debug, Default)]
pub struct MemorySecrets(Mutex<BTreeMap<String, String>>);

#[async_trait]
impl SecretStore for MemorySecrets {
    async fn get(&self, name: &str) -> Result<Secret, SecretError> {
        let m = self
            .0
            .lock()
            .map_err(|_| SecretError::Missing(name.to_string()))?;
        m.get(name)
            .map(|v| Secret(v.clone()))
            .ok_or_else(|| SecretError::Missing(name.to_string()))
    }
    async fn put(&self, name: &str, value: &Secret) -> Result<(), SecretError> {
        let mut m = self.0.lock().map_err(|_| SecretError::Store {
            path: "memory".into(),
            message: "lock poisoned".into(),
        })?;
        m.insert(name.to_string(), value.0.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn file_secrets_are_private_and_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.json");
        let s = FileSecrets::new(path.clone());
        assert!(matches!(
            s.get("d1/clever").await,
            Err(SecretError::Missing(_))
        ));
        s.put("d1/clever", &Secret::new("tok-123")).await.unwrap();
        assert_eq!(s.get("d1/clever").await.unwrap().expose(), "tok-123");
        assert_eq!(format!("{:?}", Secret::new("tok-123")), "Secret(***)");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = s.get("d1/clever").await.unwrap_err().to_string();
            assert!(e.contains("readable by others"), "{e}");
        }
    }
}
