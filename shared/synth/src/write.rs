//! Writers: stream a roster into the files of one format, row by row.

mod clever_csv;
mod clever_json;
mod oneroster;

use crate::Format;
use crate::dirt::{Dirt, Injected, Injector};
use domain::Roster;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Why files could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {file}: {source}")]
    Csv {
        file: String,
        #[source]
        source: csv::Error,
    },
    #[error("cannot write {file}: {source}")]
    Json {
        file: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot write the ZIP {path}: {source}")]
    Zip {
        path: PathBuf,
        #[source]
        source: zip::result::ZipError,
    },
}

/// Writes `roster` in `format` under `out` (a directory, created if needed; for
/// [`Format::OneRosterCsvZip`] a `.zip` path or a directory that gets `oneroster.zip`).
/// Exactly what the roster says: no dirt.
pub fn write(roster: &Roster, format: Format, out: &Path) -> Result<(), WriteError> {
    write_dirty(roster, format, out, &Dirt::none()).map(drop)
}

/// Like [`write`], and also writes the invalid cells `dirt` asks for where the canonical
/// value is absent. Returns every injected cell.
pub fn write_dirty(
    roster: &Roster,
    format: Format,
    out: &Path,
    dirt: &Dirt,
) -> Result<Vec<Injected>, WriteError> {
    let mut inj = Injector::new(roster, dirt);
    match format {
        Format::OneRosterCsv => {
            let mut sink = Sink::dir(out)?;
            oneroster::write(roster, &mut sink, &mut inj)?;
            sink.finish()?;
        }
        Format::OneRosterCsvZip => {
            let path = if out
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
            {
                if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
                    create_dir(parent)?;
                }
                out.to_path_buf()
            } else {
                create_dir(out)?;
                out.join("oneroster.zip")
            };
            let mut sink = Sink::zip(&path)?;
            oneroster::write(roster, &mut sink, &mut inj)?;
            sink.finish()?;
        }
        Format::CleverCsv => {
            let mut sink = Sink::dir(out)?;
            clever_csv::write(roster, &mut sink, &mut inj)?;
            sink.finish()?;
        }
        Format::CleverJson => {
            let mut sink = Sink::dir(out)?;
            clever_json::write(roster, &mut sink, &mut inj)?;
            sink.finish()?;
        }
    }
    Ok(inj.injected)
}

fn create_dir(path: &Path) -> Result<(), WriteError> {
    std::fs::create_dir_all(path).map_err(|source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Where files go: a directory or a ZIP archive.
pub(crate) enum Sink {
    Dir(PathBuf),
    Zip {
        path: PathBuf,
        zip: Box<zip::ZipWriter<BufWriter<File>>>,
    },
}

impl Sink {
    fn dir(path: &Path) -> Result<Self, WriteError> {
        create_dir(path)?;
        Ok(Self::Dir(path.to_path_buf()))
    }

    fn zip(path: &Path) -> Result<Self, WriteError> {
        let file = File::create(path).map_err(|source| WriteError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self::Zip {
            path: path.to_path_buf(),
            zip: Box::new(zip::ZipWriter::new(BufWriter::with_capacity(1 << 16, file))),
        })
    }

    /// Starts the file `name`; write it completely and flush before starting the next one.
    pub(crate) fn file(&mut self, name: &str) -> Result<Box<dyn Write + '_>, WriteError> {
        match self {
            Self::Dir(dir) => {
                let path = dir.join(name);
                let f = File::create(&path).map_err(|source| WriteError::Io { path, source })?;
                Ok(Box::new(BufWriter::with_capacity(1 << 16, f)))
            }
            Self::Zip { path, zip } => {
                let opts = zip::write::SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Deflated)
                    .compression_level(Some(1))
                    .large_file(true);
                zip.start_file(name, opts)
                    .map_err(|source| WriteError::Zip {
                        path: path.clone(),
                        source,
                    })?;
                Ok(Box::new(zip.as_mut()))
            }
        }
    }

    fn finish(self) -> Result<(), WriteError> {
        match self {
            Self::Dir(_) => Ok(()),
            Self::Zip { path, zip } => {
                let mut inner = zip.finish().map_err(|source| WriteError::Zip {
                    path: path.clone(),
                    source,
                })?;
                inner
                    .flush()
                    .map_err(|source| WriteError::Io { path, source })
            }
        }
    }
}

/// A CSV file being written, with the current line for dirt locations.
pub(crate) struct CsvFile<'a> {
    w: csv::Writer<Box<dyn Write + 'a>>,
    pub(crate) name: &'static str,
    /// The line the next row goes on (header = 1).
    pub(crate) line: u64,
}

impl<'a> CsvFile<'a> {
    pub(crate) fn create(
        sink: &'a mut Sink,
        name: &'static str,
        header: &[&str],
    ) -> Result<Self, WriteError> {
        let w = csv::WriterBuilder::new()
            .buffer_capacity(1 << 16)
            .from_writer(sink.file(name)?);
        let mut f = Self { w, name, line: 1 };
        f.row(header)?;
        Ok(f)
    }

    pub(crate) fn row(&mut self, fields: &[&str]) -> Result<(), WriteError> {
        self.w
            .write_record(fields)
            .map_err(|source| WriteError::Csv {
                file: self.name.to_string(),
                source,
            })?;
        self.line += 1;
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<(), WriteError> {
        self.w.flush().map_err(|source| WriteError::Io {
            path: PathBuf::from(self.name),
            source,
        })
    }
}

/// Joins values with commas (a OneRoster multi-value cell; the CSV writer quotes it).
pub(crate) fn join<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let mut s = String::new();
    for (i, x) in items.into_iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(x);
    }
    s
}

pub(crate) fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}
