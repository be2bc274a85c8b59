//! Command-line grammar of `rostersync` (INTERFACES.md).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "rostersync",
    version,
    about = "Keeps a school-communication directory in step with district rosters (Clever, OneRoster, SFTP)."
)]
pub struct Cli {
    /// The embedded store's folder.
    #[arg(
        long,
        global = true,
        env = "ROSTERSYNC_DATA_DIR",
        default_value = "./.rostersync"
    )]
    pub data_dir: PathBuf,
    /// Machine-readable output on stdout (human text goes to stderr).
    #[arg(long, global = true)]
    pub json: bool,
    /// More detail in logs (stderr).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a demo district with pre-existing manual data, connect it, self-check, sync and
    /// print the report. A second run reports everything unchanged.
    Demo(DemoArgs),
    /// Write a deterministic synthetic district in a source format.
    Generate(GenerateArgs),
    /// Connect a district to its source (creates the district if new).
    Connect(ConnectArgs),
    /// Show or change sync settings.
    Settings {
        #[command(subcommand)]
        action: SettingsCmd,
    },
    /// Step 3: match directory schools to the source's schools.
    Schools {
        #[command(subcommand)]
        action: SchoolsCmd,
    },
    /// Step 4: link existing classrooms to sections.
    Classrooms {
        #[command(subcommand)]
        action: ClassroomsCmd,
    },
    /// Step 6: the self-check: plan a run and show it, never applied.
    Check(DistrictArg),
    /// Run one sync.
    Sync(SyncArgs),
    /// Step 8: sync reports, and held runs.
    Runs {
        #[command(subcommand)]
        action: RunsCmd,
    },
    /// Pre-existing product data.
    Directory {
        #[command(subcommand)]
        action: DirectoryCmd,
    },
    /// Step 9: clean up students (and guardians, staff): archive the unsynced, merge duplicates.
    Students {
        #[command(subcommand)]
        action: StudentsCmd,
    },
    /// API bearer tokens (one district each).
    Tokens {
        #[command(subcommand)]
        action: TokensCmd,
    },
    /// Serve the report and admin API on the embedded store.
    Serve(ServeArgs),
    /// Benchmarks quoted in the README.
    Bench(BenchArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum KindArg {
    #[default]
    Students,
    Guardians,
    Staff,
}

#[derive(Debug, Subcommand)]
pub enum StudentsCmd {
    /// Archive every student who is not part of the sync (sync-managed students are never
    /// touched). Default scope: the synced schools.
    ArchiveUnsynced {
        #[arg(long)]
        district: String,
        /// Only this directory school.
        #[arg(long)]
        school: Option<String>,
        /// The whole district.
        #[arg(long, conflicts_with = "school")]
        all_schools: bool,
        #[arg(long)]
        dry_run: bool,
    },
    /// Archive one student by hand (refused for sync-managed students).
    Archive {
        #[arg(long)]
        district: String,
        #[arg(long)]
        student: String,
    },
    /// Undo a manual archive.
    Unarchive {
        #[arg(long)]
        district: String,
        #[arg(long)]
        id: String,
    },
    /// Candidate duplicate pairs with reasons and a confidence.
    Duplicates {
        #[arg(long)]
        district: String,
        #[arg(long, value_enum, default_value_t = KindArg::Students)]
        kind: KindArg,
        #[arg(long, default_value_t = 0.6)]
        min_confidence: f64,
        /// confidence (default) or name.
        #[arg(long, default_value = "confidence")]
        sort: String,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Mark a pair as not duplicates, for good.
    NotDuplicate {
        #[arg(long)]
        district: String,
        #[arg(long, value_enum, default_value_t = KindArg::Students)]
        kind: KindArg,
        #[arg(long)]
        a: String,
        #[arg(long)]
        b: String,
    },
    /// Fold a duplicate into a survivor: every linked record moves; reversible with unmerge.
    Merge {
        #[arg(long)]
        district: String,
        #[arg(long, value_enum, default_value_t = KindArg::Students)]
        kind: KindArg,
        /// Default: the sync-managed one of the pair.
        #[arg(long)]
        survivor: Option<String>,
        #[arg(long)]
        duplicate: Option<String>,
        /// Merge every candidate pair at or above this confidence.
        #[arg(long, conflicts_with_all = ["survivor", "duplicate"])]
        all_above: Option<f64>,
        #[arg(long)]
        dry_run: bool,
        /// Allow merging two sync-managed people of the same source.
        #[arg(long)]
        force: bool,
    },
    /// Undo a merge exactly.
    Unmerge {
        #[arg(long)]
        district: String,
        #[arg(long)]
        merge: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokensCmd {
    Create {
        #[arg(long)]
        district: String,
        #[arg(long)]
        read_only: bool,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
}

#[derive(Debug, Args)]
pub struct DistrictArg {
    #[arg(long)]
    pub district: String,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Students in the demo district.
    #[arg(long, default_value_t = 600)]
    pub students: usize,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[arg(long)]
    pub students: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// oneroster-csv, oneroster-csv-zip, clever-csv or clever-json.
    #[arg(long)]
    pub format: String,
    #[arg(long)]
    pub out: PathBuf,
    /// Also write a few malformed cells (emails without @, unusable phones) that readers must
    /// report and drop.
    #[arg(long)]
    pub dirty: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceArg {
    Clever,
    OnerosterApi,
    OnerosterCsv,
    CleverCsv,
    Sftp,
}

#[derive(Debug, Clone, Args, Default)]
pub struct SourceArgs {
    #[arg(long, value_enum)]
    pub source: Option<SourceArg>,
    /// Clever district-app bearer token (prefer --token-env).
    #[arg(long)]
    pub token: Option<String>,
    /// Name of an environment variable holding the Clever token.
    #[arg(long)]
    pub token_env: Option<String>,
    /// Clever: API root (default https://api.clever.com). OneRoster: the server root.
    #[arg(long)]
    pub base_url: Option<String>,
    /// Clever API version: v3.0 or v3.1.
    #[arg(long)]
    pub api_version: Option<String>,
    #[arg(long)]
    pub client_id: Option<String>,
    /// OneRoster client secret (prefer --client-secret-env).
    #[arg(long)]
    pub client_secret: Option<String>,
    #[arg(long)]
    pub client_secret_env: Option<String>,
    /// oauth1 (default) or oauth2.
    #[arg(long)]
    pub auth: Option<String>,
    #[arg(long)]
    pub token_url: Option<String>,
    /// hmac-sha256 (default) or hmac-sha1.
    #[arg(long)]
    pub signature: Option<String>,
    /// A folder or zip (CSV sources).
    #[arg(long)]
    pub path: Option<String>,
    #[arg(long)]
    pub host: Option<String>,
    #[arg(long)]
    pub port: Option<u16>,
    #[arg(long)]
    pub user: Option<String>,
    #[arg(long)]
    pub key_file: Option<PathBuf>,
    #[arg(long)]
    pub password_env: Option<String>,
    /// SFTP host key fingerprint, SHA256:...
    #[arg(long)]
    pub host_key: Option<String>,
    /// SFTP drop format: oneroster-csv or clever-csv.
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    #[arg(long)]
    pub district: String,
    #[command(flatten)]
    pub source: SourceArgs,
}

#[derive(Debug, Subcommand)]
pub enum SettingsCmd {
    Show(DistrictArg),
    /// KEY=VALUE pairs; `settings set --district D --help-keys` lists the keys.
    Set {
        #[arg(long)]
        district: String,
        /// KEY=VALUE ...
        pairs: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SchoolsCmd {
    List(DistrictArg),
    /// Suggest matches for unmatched directory schools from the source's schools.
    Suggest {
        #[arg(long)]
        district: String,
        /// Apply every suggestion at or above this score (0-1).
        #[arg(long)]
        apply_above: Option<f64>,
    },
    Match {
        #[arg(long)]
        district: String,
        #[arg(long)]
        school: String,
        #[arg(long)]
        external_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClassroomsCmd {
    List {
        #[arg(long)]
        district: String,
        #[arg(long)]
        school: Option<String>,
    },
    Link {
        #[arg(long)]
        district: String,
        #[arg(long)]
        classroom: String,
        #[arg(long)]
        section: String,
    },
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[arg(long)]
    pub district: String,
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub source: SourceArgs,
}

#[derive(Debug, Subcommand)]
pub enum RunsCmd {
    List {
        #[arg(long)]
        district: String,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    Show {
        #[arg(long)]
        district: String,
        /// Defaults to the newest run.
        #[arg(long)]
        run: Option<String>,
    },
    Changes {
        #[arg(long)]
        district: String,
        #[arg(long)]
        run: Option<String>,
        #[arg(long)]
        entity: Option<String>,
        #[arg(long)]
        action: Option<String>,
        #[arg(long)]
        school: Option<String>,
        /// Write CSV (safe against spreadsheet formula injection).
        #[arg(long)]
        csv: bool,
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    Approve {
        #[arg(long)]
        district: String,
        #[arg(long)]
        run: String,
    },
    Dismiss {
        #[arg(long)]
        district: String,
        #[arg(long)]
        run: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DirectoryCmd {
    Import {
        #[arg(long)]
        district: String,
        #[arg(long)]
        file: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// sync: the scenarios first sync, next night and no change in local mode, each against
    /// its floor; parse: read each file format against a bare CSV pass.
    #[arg(value_parser = ["sync", "parse"])]
    pub what: String,
    #[arg(long, default_value_t = 50_000)]
    pub students: usize,
    /// Repetitions (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Working folder (default: a temporary one).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Seed of the generated district (the next night uses its own fixed seed).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Count instructions instead of timing: each step runs under `valgrind --tool=callgrind`
    /// (what the CI regression check compares; wall times are then meaningless).
    #[arg(long)]
    pub instructions: bool,
}
