//! A set of named files delivered together (a folder, a ZIP archive, or files held in memory),
//! opened safely: ZIP path traversal, symlinks, too many files and decompression bombs are refused
//! before anything is read.
//!
//! Names are the file names as delivered, relative to the set's root. When every file of a ZIP
//! (or a folder) sits inside one top-level folder, that folder is looked through, so
//! `export/users.csv` is found as `users.csv`. Look-ups are exact ([`FileSet::find`], for
//! OneRoster) or ASCII-case-insensitive ([`FileSet::find_ignore_case`], for Clever CSV).

pub(crate) mod ids;
pub(crate) mod table;

pub(crate) use table::bool_word;

use crate::SourceError;
use domain::{Issue, IssueCode, Location};
use std::borrow::Cow;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

/// How much a ZIP archive may hold before it is refused as unsafe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most files (directories not counted) an archive may contain.
    pub max_files: usize,
    /// Most bytes all entries may expand to, together.
    pub max_total_bytes: u64,
    /// Highest expansion ratio (uncompressed / compressed) allowed for large entries.
    pub max_ratio: u64,
    /// Entries up to this size are not ratio-checked (small files compress very well).
    pub ratio_min_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_files: 64,
            max_total_bytes: 2 << 30,
            max_ratio: 200,
            ratio_min_bytes: 1 << 20,
        }
    }
}

/// Files delivered together, looked up by name.
#[derive(Debug)]
pub struct FileSet {
    /// What `Location`s name when the set itself is at fault (the archive or folder name).
    origin: String,
    entries: Vec<Entry>,
    store: Store,
}

#[derive(Debug)]
struct Entry {
    name: String,
    at: At,
}

#[derive(Debug)]
enum At {
    Path(PathBuf),
    Memory(Vec<u8>),
    Zip {
        index: usize,
        raw_name: String,
        size: u64,
    },
}

#[derive(Debug)]
enum Store {
    Plain,
    ZipFile(PathBuf),
    ZipBytes(Vec<u8>),
}

impl FileSet {
    /// Opens a folder or a `.zip` file with the default [`Limits`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SourceError> {
        Self::open_with_limits(path, Limits::default())
    }

    /// Opens a folder or a ZIP file (recognised by its signature, whatever its extension).
    pub fn open_with_limits(path: impl AsRef<Path>, limits: Limits) -> Result<Self, SourceError> {
        let path = path.as_ref();
        let origin = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let meta = std::fs::metadata(path).map_err(|e| io_error(path, e))?;
        if meta.is_dir() {
            return Self::open_dir(path, origin);
        }
        let file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
        let entries = list_zip(file, &origin, limits)?;
        Ok(Self {
            origin,
            entries,
            store: Store::ZipFile(path.to_path_buf()),
        })
    }

    /// Opens a ZIP archive held in memory (an upload or an SFTP drop) with the given limits.
    pub fn from_zip_bytes(
        name: impl Into<String>,
        bytes: Vec<u8>,
        limits: Limits,
    ) -> Result<Self, SourceError> {
        let origin = name.into();
        let entries = list_zip(std::io::Cursor::new(&bytes[..]), &origin, limits)?;
        Ok(Self {
            origin,
            entries,
            store: Store::ZipBytes(bytes),
        })
    }

    /// A set of files held in memory, named as given (tests, drops already unpacked).
    pub fn from_memory(files: Vec<(String, Vec<u8>)>) -> Self {
        let mut entries: Vec<Entry> = files
            .into_iter()
            .map(|(name, body)| Entry {
                name,
                at: At::Memory(body),
            })
            .collect();
        strip_single_root(&mut entries);
        Self {
            origin: "memory".to_string(),
            entries,
            store: Store::Plain,
        }
    }

    fn open_dir(dir: &Path, origin: String) -> Result<Self, SourceError> {
        let mut root = dir.to_path_buf();
        // Look through one level of a lone subfolder (an unpacked `export/` folder).
        for _ in 0..2 {
            let (files, dirs) = list_dir(&root)?;
            if files.is_empty() && dirs.len() == 1 {
                root = dirs.into_iter().next().unwrap_or_default();
                continue;
            }
            let mut entries: Vec<Entry> = files
                .into_iter()
                .map(|(name, path)| Entry {
                    name,
                    at: At::Path(path),
                })
                .collect();
            entries.sort_by(|a, b| a.name.cmp(&b.name));
            return Ok(Self {
                origin,
                entries,
                store: Store::Plain,
            });
        }
        Ok(Self {
            origin,
            entries: Vec::new(),
            store: Store::Plain,
        })
    }

    /// The name of the folder or archive the set came from (`memory` for in-memory sets).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The names of the files in the set, in delivery order (sorted for folders).
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.entries.iter().map(|e| e.name.as_str())
    }

    /// The file named exactly `name`, if present.
    pub fn find(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.name.as_str())
    }

    /// The file whose name equals `name` ignoring ASCII case, if present (exact match first).
    pub fn find_ignore_case(&self, name: &str) -> Option<&str> {
        self.find(name).or_else(|| {
            self.entries
                .iter()
                .find(|e| e.name.eq_ignore_ascii_case(name))
                .map(|e| e.name.as_str())
        })
    }

    /// True when a file is named exactly `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    /// The bytes of the file named exactly `name` (as returned by [`FileSet::names`]).
    pub fn read(&self, name: &str) -> Result<Vec<u8>, SourceError> {
        self.bytes(name).map(Cow::into_owned)
    }

    /// Like [`FileSet::read`], but borrows the bytes of in-memory files instead of copying them.
    pub fn bytes(&self, name: &str) -> Result<Cow<'_, [u8]>, SourceError> {
        let entry = self
            .entries
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| {
                SourceError::invalid(Issue::error(
                    IssueCode::MissingFile,
                    Location::file(name),
                    "the file is not in the delivered set",
                ))
            })?;
        match (&entry.at, &self.store) {
            (At::Memory(body), _) => Ok(Cow::Borrowed(body)),
            (At::Path(path), _) => std::fs::read(path)
                .map(Cow::Owned)
                .map_err(|e| io_error(path, e)),
            (
                At::Zip {
                    index,
                    raw_name,
                    size,
                },
                Store::ZipFile(path),
            ) => {
                let file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
                read_zip_entry(file, *index, raw_name, *size).map(Cow::Owned)
            }
            (
                At::Zip {
                    index,
                    raw_name,
                    size,
                },
                Store::ZipBytes(bytes),
            ) => read_zip_entry(std::io::Cursor::new(&bytes[..]), *index, raw_name, *size)
                .map(Cow::Owned),
            (At::Zip { raw_name, .. }, Store::Plain) => Err(unreadable(raw_name, "no archive")),
        }
    }
}

fn io_error(path: &Path, source: std::io::Error) -> SourceError {
    SourceError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn unsafe_archive(entry: &str, message: impl Into<String>) -> SourceError {
    SourceError::invalid(Issue::error(
        IssueCode::UnsafeArchive,
        Location::file(entry),
        message,
    ))
}

fn unreadable(entry: &str, message: impl Into<String>) -> SourceError {
    SourceError::invalid(Issue::error(
        IssueCode::UnreadableArchive,
        Location::file(entry),
        message,
    ))
}

/// Regular files and subfolders directly in `dir`, skipping hidden entries (`.DS_Store`...).
/// Files (name, path) and subfolders of a folder.
type Listing = (Vec<(String, PathBuf)>, Vec<PathBuf>);

fn list_dir(dir: &Path) -> Result<Listing, SourceError> {
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for item in std::fs::read_dir(dir).map_err(|e| io_error(dir, e))? {
        let item = item.map_err(|e| io_error(dir, e))?;
        let name = item.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "__MACOSX" {
            continue;
        }
        let path = item.path();
        let meta = std::fs::metadata(&path).map_err(|e| io_error(&path, e))?;
        if meta.is_dir() {
            dirs.push(path);
        } else if meta.is_file() {
            files.push((name, path));
        }
    }
    Ok((files, dirs))
}

/// True for entries that archivers add and nobody delivers on purpose.
fn is_junk(name: &str) -> bool {
    name.split('/')
        .any(|part| part == "__MACOSX" || part == ".DS_Store" || part.starts_with("._"))
}

/// Why an entry name could escape the extraction root, if it could.
fn unsafe_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("an entry has an empty name");
    }
    if name.starts_with('/') || name.starts_with('\\') {
        return Some("the entry has an absolute path");
    }
    if name.as_bytes().get(1) == Some(&b':') {
        return Some("the entry has a drive-letter path");
    }
    if name.contains('\0') {
        return Some("the entry name contains a NUL byte");
    }
    if name.split(['/', '\\']).any(|part| part == "..") {
        return Some("the entry path climbs out of the archive (`..`)");
    }
    None
}

fn list_zip<R: Read + Seek>(
    reader: R,
    origin: &str,
    limits: Limits,
) -> Result<Vec<Entry>, SourceError> {
    let mut archive = zip::ZipArchive::new(reader)
        .map_err(|e| unreadable(origin, format!("not a readable ZIP archive: {e}")))?;
    let mut entries = Vec::new();
    let mut total: u64 = 0;
    let mut count: usize = 0;
    for index in 0..archive.len() {
        let file = archive
            .by_index_raw(index)
            .map_err(|e| unreadable(origin, format!("entry {} is unreadable: {e}", index + 1)))?;
        let raw_name = file.name().to_string();
        if let Some(why) = unsafe_name(&raw_name) {
            // An entry without a name is located by the archive's own name.
            let at = if raw_name.is_empty() {
                origin
            } else {
                &raw_name
            };
            return Err(unsafe_archive(at, why));
        }
        if file.is_symlink() {
            return Err(unsafe_archive(&raw_name, "the entry is a symbolic link"));
        }
        if file.is_dir() {
            continue;
        }
        if file.encrypted() {
            return Err(unreadable(&raw_name, "the entry is encrypted"));
        }
        let size = file.size();
        let compressed = file.compressed_size();
        count += 1;
        if count > limits.max_files {
            return Err(unsafe_archive(
                &raw_name,
                format!("the archive holds more than {} files", limits.max_files),
            ));
        }
        total = total.saturating_add(size);
        if total > limits.max_total_bytes {
            return Err(unsafe_archive(
                &raw_name,
                format!(
                    "the archive expands to more than {} bytes",
                    limits.max_total_bytes
                ),
            ));
        }
        if size > limits.ratio_min_bytes
            && (compressed == 0 || size / compressed > limits.max_ratio)
        {
            return Err(unsafe_archive(
                &raw_name,
                format!(
                    "the entry expands more than {}:1 (a decompression bomb?)",
                    limits.max_ratio
                ),
            ));
        }
        if is_junk(&raw_name) {
            continue;
        }
        if entries.iter().any(|e: &Entry| e.name == raw_name) {
            return Err(unsafe_archive(&raw_name, "two entries have the same name"));
        }
        entries.push(Entry {
            name: raw_name.clone(),
            at: At::Zip {
                index,
                raw_name,
                size,
            },
        });
    }
    strip_single_root(&mut entries);
    Ok(entries)
}

/// When every entry sits in the same top-level folder, names drop that folder.
fn strip_single_root(entries: &mut [Entry]) {
    let Some(first) = entries.first() else {
        return;
    };
    let Some((root, _)) = first.name.split_once('/') else {
        return;
    };
    let prefix = format!("{root}/");
    if entries.iter().all(|e| e.name.starts_with(&prefix)) {
        for e in entries.iter_mut() {
            e.name.drain(..prefix.len());
        }
    }
}

fn read_zip_entry<R: Read + Seek>(
    reader: R,
    index: usize,
    raw_name: &str,
    size: u64,
) -> Result<Vec<u8>, SourceError> {
    let mut archive = zip::ZipArchive::new(reader)
        .map_err(|e| unreadable(raw_name, format!("the archive became unreadable: {e}")))?;
    let file = archive
        .by_index(index)
        .map_err(|e| unreadable(raw_name, format!("the entry cannot be opened: {e}")))?;
    // Never trust the declared size: read one byte more to catch an entry that lies about it.
    let mut body = Vec::with_capacity(usize::try_from(size.min(1 << 26)).unwrap_or(0));
    file.take(size.saturating_add(1))
        .read_to_end(&mut body)
        .map_err(|e| unreadable(raw_name, format!("the entry cannot be decompressed: {e}")))?;
    if body.len() as u64 > size {
        return Err(unsafe_archive(
            raw_name,
            "the entry expands beyond its declared size",
        ));
    }
    Ok(body)
}

#[cfg(test)]
pub(crate) mod testutil;

#[cfg(test)]
mod tests;
