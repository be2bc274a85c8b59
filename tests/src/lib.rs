//! Helpers for the integration tests: local environments in temp dirs, generated districts and
//! feeds, reading a feed back with the matching reader, and deterministic directory dumps.

use app::local::LocalEnv;
use app::secrets::Secret;
use chrono::{DateTime, TimeZone, Utc};
use domain::directory::{IndexKey, Record, RecordKey};
use domain::district::{District, Run, SourceConfig};
use domain::report::{Report, RunStatus};
use domain::{EntityKind, Roster};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use store::Directory;
use store::memory::ManualClock;
use sync::pipeline::Ports;
use synth::{Format, Spec};

/// The district id every test uses.
pub const D: &str = "d1";

/// Every record kind the directory holds (`Record::kind_name`).
pub const KINDS: [&str; 8] = Record::KIND_NAMES;

/// The fixed "now" of every test environment.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 9, 14, 8, 0, 0).unwrap()
}

/// A generated district (`dirty` on, as real feeds are).
pub fn district(students: usize, seed: u64) -> Roster {
    synth::generate(&Spec {
        students,
        seed,
        district_id: D.into(),
        dirty: true,
    })
}

/// A local environment (SQLite, folder object store, SQLite queue) in its own temp dir, with a
/// manual clock so that timestamps in records and reports are reproducible.
pub struct TestEnv {
    /// Holds the temp dir alive; feeds written by a test go under `root/feeds`.
    pub root: tempfile::TempDir,
    pub env: LocalEnv,
    pub clock: Arc<ManualClock>,
}

impl TestEnv {
    pub fn new() -> Self {
        let root = temp_dir();
        let clock = Arc::new(ManualClock::new(t0()));
        let env = open_env(&root.path().join("data"), clock.clone());
        Self { root, env, clock }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    /// A fresh folder under the temp dir for a feed.
    pub fn feed_dir(&self, name: &str) -> PathBuf {
        let p = self.root.path().join("feeds").join(name);
        std::fs::create_dir_all(&p).expect("feed dir");
        p
    }

    /// Drops the open store and opens the same data directory again, as a new process would.
    pub fn reopen(self) -> Self {
        let Self { root, env, clock } = self;
        drop(env);
        let env = open_env(&root.path().join("data"), clock.clone());
        Self { root, env, clock }
    }

    pub fn ports(&self) -> Ports {
        self.env.ports()
    }

    pub fn directory(&self) -> &dyn Directory {
        self.env.directory.as_ref()
    }

    /// Connects district [`D`] to files on disk (`format` as written by synth).
    pub async fn connect_files(&self, format: Format, path: &Path) -> District {
        let path = path.display().to_string();
        let source = match format {
            Format::OneRosterCsv | Format::OneRosterCsvZip => SourceConfig::OnerosterCsv { path },
            Format::CleverCsv | Format::CleverJson => SourceConfig::CleverCsv { path },
        };
        self.connect(source, None).await
    }

    pub async fn connect(&self, source: SourceConfig, secret: Option<&str>) -> District {
        app::admin::connect(
            self.env.runs.as_ref(),
            self.env.secrets.as_ref(),
            D,
            source,
            secret.map(Secret::new),
        )
        .await
        .expect("connect")
    }

    /// Sets district settings (`key=value` pairs as the CLI takes them).
    pub async fn set(&self, pairs: &[(&str, &str)]) {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        app::admin::set_settings(self.env.runs.as_ref(), D, &pairs)
            .await
            .expect("settings");
    }

    /// One whole run as `rostersync sync` does it: fetch the configured source, stage, drain.
    pub async fn sync(&self) -> Report {
        // Run ids are made from the clock: each run starts a minute after the previous one.
        self.clock.advance(std::time::Duration::from_secs(60));
        app::runs::sync_once(&self.ports(), self.env.secrets.as_ref(), D, false)
            .await
            .expect("sync")
    }

    pub async fn district(&self) -> District {
        app::admin::district(self.env.runs.as_ref(), D)
            .await
            .expect("district")
    }

    /// Stages `roster` for a run with a fixed id (so that `last_seen_run` is reproducible);
    /// returns the run when it was staged, `None` when the feed was refused.
    pub async fn stage(&self, run_id: &str, roster: Roster) -> Option<Run> {
        let district = self.district().await;
        let mut run = app::runs::new_run(&district, false, t0());
        run.run_id = run_id.to_string();
        match app::runs::stage_roster(&self.ports(), &district, run, roster)
            .await
            .expect("stage")
        {
            app::runs::Started::Staged(run) => Some(run),
            app::runs::Started::Ended(_) => None,
        }
    }

    /// Stages and runs to the end with a fixed run id.
    pub async fn sync_roster(&self, run_id: &str, roster: Roster) -> Report {
        self.stage(run_id, roster).await;
        self.finish(run_id).await
    }

    /// Drains the queue until the run is final; its report.
    pub async fn finish(&self, run_id: &str) -> Report {
        sync::pipeline::run_local(&self.ports(), D, run_id)
            .await
            .expect("run_local")
    }

    pub async fn dump(&self) -> Vec<Record> {
        dump(self.directory(), D).await
    }

    pub fn writes(&self) -> u64 {
        self.directory().writes_count()
    }
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

/// A temp dir in memory when the machine has one (`/dev/shm`): SQLite's fsyncs then cost
/// nothing, which keeps hundreds of crash trials fast. Same semantics as a disk.
pub fn temp_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(d) = tempfile::Builder::new()
            .prefix("rostersync-it-")
            .tempdir_in(shm)
    {
        return d;
    }
    tempfile::tempdir().expect("temp dir")
}

fn open_env(data: &Path, clock: Arc<ManualClock>) -> LocalEnv {
    let mut env = LocalEnv::open(data).expect("open the local env");
    env.clock = clock;
    env
}

/// Every record of `district`, through the kind index of every kind, versions zeroed, sorted
/// by key.
pub async fn dump(dir: &dyn Directory, district: &str) -> Vec<Record> {
    let mut out = Vec::new();
    for kind in KINDS {
        let mut after: Option<RecordKey> = None;
        loop {
            let page = dir
                .query(district, &IndexKey::kind(kind), after.as_ref(), 500)
                .await
                .expect("query");
            let done = page.len() < 500;
            after = page.last().map(Record::key);
            out.extend(page);
            if done {
                break;
            }
        }
    }
    for r in &mut out {
        r.set_version(0);
    }
    out.sort_by_key(Record::key);
    out
}

/// A dump with what depends on the run rather than on the data cleared: `last_seen_run`, the
/// managing source kind (CSV and API of one vendor manage the same records), and archive run
/// ids. For comparing runs from different sources or processes.
pub fn without_run_ids(mut records: Vec<Record>) -> Vec<Record> {
    fn clear(m: &mut Option<domain::directory::Managed>) {
        if let Some(m) = m {
            m.last_seen_run.clear();
            m.source = domain::SourceKind::Clever;
        }
    }
    fn clear_archive(a: &mut Option<domain::directory::Archived>) {
        if let Some(a) = a {
            a.run_id = None;
        }
    }
    for r in &mut records {
        match r {
            Record::School(s) => {
                clear(&mut s.managed);
                clear_archive(&mut s.archived);
            }
            Record::Classroom(c) => {
                clear(&mut c.managed);
                clear_archive(&mut c.archived);
            }
            Record::Person(p) => {
                clear(&mut p.managed);
                clear_archive(&mut p.archived);
            }
            _ => {}
        }
    }
    records
}

/// A compact, diff-friendly text of a dump (one JSON line per record).
pub fn render(records: &[Record]) -> String {
    records
        .iter()
        .map(|r| serde_json::to_string(r).expect("json"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first differing line of two dumps, for readable assertion messages.
pub fn first_difference(a: &[Record], b: &[Record]) -> Option<String> {
    let (ra, rb) = (render(a), render(b));
    let (la, lb): (Vec<&str>, Vec<&str>) = (ra.lines().collect(), rb.lines().collect());
    for i in 0..la.len().max(lb.len()) {
        let (x, y) = (la.get(i), lb.get(i));
        if x != y {
            return Some(format!(
                "record {i} of {}/{}:\n  left:  {}\n  right: {}",
                la.len(),
                lb.len(),
                x.unwrap_or(&"<none>"),
                y.unwrap_or(&"<none>")
            ));
        }
    }
    None
}

/// Asserts two dumps are equal, showing the first difference.
#[track_caller]
pub fn assert_same_dump(a: &[Record], b: &[Record], what: &str) {
    if let Some(d) = first_difference(a, b) {
        panic!("{what}: the directories differ at {d}");
    }
}

/// Reads back what synth wrote at `path` in `format` with the matching reader.
pub fn read_back(format: Format, path: &Path) -> Result<Roster, sources::SourceError> {
    use sources::files::FileSet;
    match format {
        Format::OneRosterCsv => sources::oneroster_csv::read(&FileSet::open(path)?),
        Format::OneRosterCsvZip => {
            sources::oneroster_csv::read(&FileSet::open(path.join("oneroster.zip"))?)
        }
        Format::CleverCsv => sources::clever_csv::read(&FileSet::open(path)?),
        Format::CleverJson => {
            sources::clever_api::read_json_dir(|name| std::fs::read(path.join(name)).ok())
        }
    }
}

/// Where a format's files are for a reader or a connection: the ZIP for `oneroster-csv-zip`.
pub fn feed_path(format: Format, dir: &Path) -> PathBuf {
    match format {
        Format::OneRosterCsvZip => dir.join("oneroster.zip"),
        _ => dir.to_path_buf(),
    }
}

/// Writes `roster` in `format` into `dir`; the path to connect.
pub fn write_feed(roster: &Roster, format: Format, dir: &Path) -> PathBuf {
    synth::write(roster, format, dir).expect("write feed");
    feed_path(format, dir)
}

/// `project(roster, format)` and a reader's result, both normalised, warnings dropped.
pub fn normalised(mut r: Roster) -> Roster {
    r.normalise();
    r.warnings.clear();
    r
}

/// The totals of a report that are not zero, as `entity action n` lines (for messages).
pub fn nonzero_totals(r: &Report) -> Vec<String> {
    let mut out = Vec::new();
    for e in EntityKind::ALL {
        let c = r.totals.get(e);
        for (a, n) in [
            ("created", c.created),
            ("updated", c.updated),
            ("unchanged", c.unchanged),
            ("archived", c.archived),
            ("unarchived", c.unarchived),
            ("skipped", c.skipped),
        ] {
            if n > 0 {
                out.push(format!("{} {a} {n}", e.as_str()));
            }
        }
    }
    out
}

/// True when a finished run did its work (`succeeded` or `completed_with_warnings`).
pub fn ok(r: &Report) -> bool {
    matches!(
        r.status,
        RunStatus::Succeeded | RunStatus::CompletedWithWarnings
    )
}

/// The workspace's `target/debug/rostersync`, built once (`cargo build -p cli`) if missing.
pub fn cli_binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
            let root = manifest.parent().expect("workspace root").to_path_buf();
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join("target"));
            let bin = target.join("debug").join("rostersync");
            if !bin.exists() {
                let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
                let status = std::process::Command::new(cargo)
                    .args(["build", "-p", "cli"])
                    .current_dir(&root)
                    .status()
                    .expect("run cargo build -p cli");
                assert!(status.success(), "cargo build -p cli failed");
            }
            bin
        })
        .clone()
}

/// Every piece of personal data a roster holds that must never reach a log: names, emails and
/// phone numbers (E.164 and the 10-digit national form) of students, staff and contacts.
pub fn personal_data(roster: &Roster) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let phone = |p: &domain::Phone, out: &mut Vec<String>| {
        let e164 = p.as_str().to_string();
        let national: String = e164.trim_start_matches("+1").to_string();
        out.push(e164);
        out.push(national);
    };
    for s in &roster.students {
        out.push(format!("{} {}", s.first_name, s.last_name));
        out.extend([s.first_name.clone(), s.last_name.clone()]);
        out.extend(s.email.iter().map(|e| e.as_str().to_string()));
    }
    for s in &roster.staff {
        out.push(format!("{} {}", s.first_name, s.last_name));
        out.extend([s.first_name.clone(), s.last_name.clone()]);
        out.extend(s.email.iter().map(|e| e.as_str().to_string()));
        for p in s.sms.iter().chain(&s.phone) {
            phone(p, &mut out);
        }
    }
    for c in &roster.contacts {
        out.push(format!("{} {}", c.first_name, c.last_name));
        out.extend([c.first_name.clone(), c.last_name.clone()]);
        out.extend(c.email.iter().map(|e| e.as_str().to_string()));
        for p in c.sms.iter().chain(&c.phone) {
            phone(p, &mut out);
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Which of `secrets` occur in `text`. Names are matched as whole words (a first name such as
/// `Will` inside `willing` is not a leak); emails and phone numbers anywhere.
pub fn leaks(text: &str, secrets: &[String]) -> Vec<String> {
    let word = |c: char| c.is_alphanumeric() || c == '\'' || c == '-';
    secrets
        .iter()
        .filter(|s| {
            let is_name =
                s.chars().all(|c| word(c) || c == ' ') && !s.chars().all(|c| c.is_ascii_digit());
            if !is_name {
                return text.contains(s.as_str());
            }
            text.match_indices(s.as_str()).any(|(i, m)| {
                let before = text[..i].chars().next_back();
                let after = text[i + m.len()..].chars().next();
                !before.is_some_and(word) && !after.is_some_and(word)
            })
        })
        .cloned()
        .collect()
}

/// A `tracing` writer into a shared buffer, to capture everything a test logs.
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl LogBuffer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }

    /// A TRACE-level subscriber writing here (spans and their fields included).
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + 'static {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(self.clone())
            .finish()
    }
}

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The output of one CLI invocation.
#[derive(Debug)]
pub struct CliRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CliRun {
    /// stdout as JSON (`--json` output).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }
}

/// Runs `rostersync` with `args` on `data_dir` (blocking), with extra environment variables.
pub fn cli(data_dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> CliRun {
    let out = std::process::Command::new(cli_binary())
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .envs(envs.iter().copied())
        .env_remove("ROSTERSYNC_DATA_DIR")
        .output()
        .expect("run rostersync");
    CliRun {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
