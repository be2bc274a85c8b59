//! The embedded default: everything in one data directory. `objects/` is the object store,
//! `rostersync.db` (SQLite) holds the directory, runs and reports, `queue.db` the durable work
//! queue, and `credentials.json` (mode 0600) the source secrets.

use crate::secrets::FileSecrets;
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use store::{Clock, Directory, ObjectStore, Queue, Runs, SystemClock};
use store_local::{LocalObjectStore, SqliteQueue, SqliteStore};

/// How many deliveries a message gets before it goes to the dead-letter table.
pub const MAX_RECEIVES: u32 = 5;

/// The embedded store of one data directory, opened once per process.
pub struct LocalEnv {
    pub data_dir: PathBuf,
    pub objects: Arc<dyn ObjectStore>,
    pub directory: Arc<dyn Directory>,
    pub runs: Arc<dyn Runs>,
    pub queue: Arc<dyn Queue>,
    pub clock: Arc<dyn Clock>,
    pub secrets: Arc<FileSecrets>,
}

impl LocalEnv {
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
        let mut db = SqliteStore::open(data_dir.join(store_local::DB_FILE))
            .with_context(|| format!("cannot open the database in {}", data_dir.display()))?;
        // The same setting as on AWS: how many days a run's change list is kept.
        if let Some(days) = std::env::var("ROSTERSYNC_CHANGES_TTL_DAYS")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|d| *d > 0)
        {
            db = db.with_changes_ttl_days(days);
        }
        let db = Arc::new(db);
        let queue = Arc::new(
            SqliteQueue::open(data_dir.join("queue.db"), "work", MAX_RECEIVES)
                .with_context(|| format!("cannot open the queue in {}", data_dir.display()))?,
        );
        Ok(Self {
            data_dir: data_dir.to_path_buf(),
            objects: Arc::new(LocalObjectStore::new(data_dir.join("objects"))),
            directory: db.clone(),
            runs: db,
            queue,
            clock: Arc::new(SystemClock),
            secrets: Arc::new(FileSecrets::new(data_dir.join("credentials.json"))),
        })
    }
}

impl LocalEnv {
    /// The ports the pipeline runs on.
    pub fn ports(&self) -> sync::pipeline::Ports {
        sync::pipeline::Ports {
            objects: self.objects.clone(),
            queue: self.queue.clone(),
            directory: self.directory.clone(),
            runs: self.runs.clone(),
            clock: self.clock.clone(),
        }
    }
}
