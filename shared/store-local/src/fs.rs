//! [`LocalObjectStore`]: the object store as a folder. Keys are relative paths; `put` writes a
//! temporary file next to the target and renames it over (atomic), `put_if_absent` hard-links
//! the finished temporary file (fails if the key exists), so readers never see partial objects.

use async_trait::async_trait;
use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use store::{ObjectMeta, ObjectStore, Result, StoreError};

/// Temporary files start with this; keys may not contain a component that does.
const TMP_PREFIX: &str = ".rostersync-tmp-";

/// A folder holding one file per object.
#[derive(Debug, Clone)]
pub struct LocalObjectStore {
    root: PathBuf,
}

impl LocalObjectStore {
    /// Objects live under `root` (created on the first write).
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// Checks a key and returns its path: `/`-separated, relative, no empty, `.` or `..`
/// components, no backslashes or NULs.
fn path_of(root: &Path, key: &str) -> Result<PathBuf> {
    let bad = |why: &str| {
        Err(StoreError::Permanent(format!(
            "invalid object key {key:?}: {why}"
        )))
    };
    if key.is_empty() {
        return bad("empty");
    }
    if key.contains('\\') || key.contains('\0') {
        return bad("backslashes and NULs are not allowed");
    }
    let mut path = root.to_path_buf();
    for part in key.split('/') {
        match part {
            "" => return bad("absolute paths and empty components are not allowed"),
            "." | ".." => return bad("`.` and `..` are not allowed"),
            p if p.starts_with(TMP_PREFIX) => return bad("reserved name"),
            p if cfg!(windows) && p.contains(':') => return bad("`:` is not allowed"),
            p => path.push(p),
        }
    }
    Ok(path)
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    let msg = format!("{what} {}: {e}", path.display());
    match e.kind() {
        ErrorKind::Interrupted | ErrorKind::TimedOut | ErrorKind::WouldBlock => {
            StoreError::Transient(msg)
        }
        _ => StoreError::Permanent(msg),
    }
}

/// Writes `body` to a fresh temporary file in `path`'s folder and returns its path.
fn write_temp(path: &Path, body: &[u8]) -> Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path
        .parent()
        .ok_or_else(|| StoreError::Permanent(format!("no parent folder: {}", path.display())))?;
    std::fs::create_dir_all(dir).map_err(|e| io_err("cannot create folder", dir, e))?;
    let tmp = dir.join(format!(
        "{TMP_PREFIX}{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(body)?;
        f.sync_data()
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err("cannot write", &tmp, e));
    }
    Ok(tmp)
}

fn put(path: &Path, body: &[u8]) -> Result<()> {
    let tmp = write_temp(path, body)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_err("cannot write", path, e)
    })
}

fn put_if_absent(key: &str, path: &Path, body: &[u8]) -> Result<()> {
    let tmp = write_temp(path, body)?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            Err(StoreError::Conflict(format!("object {key} exists")))
        }
        Err(e) => Err(io_err("cannot write", path, e)),
    }
}

fn get(key: &str, path: &Path) -> Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(b) => Ok(b),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::IsADirectory) => {
            Err(StoreError::NotFound(format!("object {key}")))
        }
        Err(e) if path.is_dir() => Err(StoreError::NotFound(format!("object {key}: {e}"))),
        Err(e) => Err(io_err("cannot read", path, e)),
    }
}

/// Every file under `dir` (recursively) whose key starts with `prefix`.
fn walk(dir: &Path, key_of_dir: &str, prefix: &str, out: &mut Vec<ObjectMeta>) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("cannot list", dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| io_err("cannot list", dir, e))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue; // not a key this store wrote
        };
        if name.starts_with(TMP_PREFIX) {
            continue;
        }
        let key = format!("{key_of_dir}{name}");
        let ft = entry
            .file_type()
            .map_err(|e| io_err("cannot list", &entry.path(), e))?;
        if ft.is_dir() {
            let sub = format!("{key}/");
            // Descend only where keys can still match the prefix.
            if sub.starts_with(prefix) || prefix.starts_with(&sub) {
                walk(&entry.path(), &sub, prefix, out)?;
            }
        } else if ft.is_file() && key.starts_with(prefix) {
            let size = match entry.metadata() {
                Ok(m) => m.len(),
                Err(e) if e.kind() == ErrorKind::NotFound => continue, // deleted meanwhile
                Err(e) => return Err(io_err("cannot list", &entry.path(), e)),
            };
            out.push(ObjectMeta { key, size });
        }
    }
    Ok(())
}

fn list(root: &Path, prefix: &str) -> Result<Vec<ObjectMeta>> {
    // Start from the deepest folder the prefix names entirely.
    let (dir_key, dir) = match prefix.rfind('/') {
        Some(i) => {
            let dir_key = &prefix[..=i];
            match path_of(root, &prefix[..i]) {
                Ok(p) => (dir_key.to_string(), p),
                Err(_) => return Ok(Vec::new()), // no valid key has this prefix
            }
        }
        None => (String::new(), root.to_path_buf()),
    };
    let mut out = Vec::new();
    walk(&dir, &dir_key, prefix, &mut out)?;
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

fn delete(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("cannot delete", path, e)),
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Permanent(format!("storage task failed: {e}")))?
}

#[async_trait]
impl ObjectStore for LocalObjectStore {
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<()> {
        let path = path_of(&self.root, key)?;
        blocking(move || put(&path, &body)).await
    }

    async fn put_if_absent(&self, key: &str, body: Vec<u8>) -> Result<()> {
        let path = path_of(&self.root, key)?;
        let key = key.to_string();
        blocking(move || put_if_absent(&key, &path, &body)).await
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>> {
        let path = path_of(&self.root, key)?;
        let key = key.to_string();
        blocking(move || get(&key, &path)).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        let root = self.root.clone();
        let prefix = prefix.to_string();
        blocking(move || list(&root, &prefix)).await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let path = path_of(&self.root, key)?;
        blocking(move || delete(&path)).await
    }
}
