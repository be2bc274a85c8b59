//! `rostersync bench`: the benchmarks the README quotes. Each measurement runs in a child
//! process of its own, so its CPU time and peak RSS (VmHWM) are its own; figures are medians of
//! `--runs`.
//!
//! - `bench sync`: the scenarios of a generated OneRoster CSV district in local mode (folder
//!   object store, SQLite, SQLite queue): **first sync** into an empty directory, **next night**
//!   (`synth::next_night`: 5% of students changed, 1% removed, 1% added, 0.5% moved, guardians
//!   with them) and **no change** (the same night again). Each scenario has a **floor** measured
//!   in the same run: a bare `csv` `ByteRecord` pass over the same files plus a bulk SQLite
//!   insert of as many rows as the scenario wrote to the directory. The next night's report
//!   must count exactly what the churn changed and the no-change run must write nothing, or the
//!   bench fails.
//! - `bench parse`: read a generated district in every file format, against a bare `csv`
//!   `ByteRecord` pass over the same CSV files.
//!
//! With `--instructions` every step runs under `valgrind --tool=callgrind` and reports its
//! instruction count (stable on a noisy machine; what `.ci/perf-check.sh` compares).

use crate::args::BenchArgs;
use crate::output::Out;
use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// One measurement of one child process.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Sample {
    pub what: String,
    /// Wall time of the step, in seconds.
    pub secs: f64,
    /// User + system CPU time of the child process, in seconds.
    #[serde(default)]
    pub cpu_secs: f64,
    pub peak_rss_mb: f64,
    /// Directory records written.
    #[serde(default)]
    pub writes: u64,
    /// Rows read (CSV records) or records produced.
    #[serde(default)]
    pub records: u64,
    /// Instructions executed (`--instructions` only).
    #[serde(default)]
    pub instructions: u64,
    /// The run's report totals (sync steps only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totals: Option<domain::report::Totals>,
}

/// Peak resident set of this process, in MB (Linux; 0 elsewhere).
pub fn peak_rss_mb() -> f64 {
    proc_status_kb("VmHWM:") / 1024.0
}

fn proc_status_kb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(field)).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
        })
        .unwrap_or(0.0)
}

/// User + system CPU time of this process so far, in seconds: `utime` + `stime` of
/// `/proc/self/stat` (the accounting `getrusage(RUSAGE_SELF)` reports), in clock ticks of
/// 1/100 s (Linux's `USER_HZ` on every architecture it runs on; 0 elsewhere).
pub fn cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which may contain spaces) start at `state` (field 3).
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime is field 14, stime field 15 of the whole line: indexes 11 and 12 after `)`.
    (ticks(11) + ticks(12)) / 100.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

/// How a child step is started.
#[derive(Debug, Clone)]
struct Runner {
    /// Run under callgrind, writing its output files in this folder.
    callgrind: Option<PathBuf>,
}

impl Runner {
    /// Runs one measurement in a child process (`ROSTERSYNC_BENCH_CHILD=what:arg`).
    fn child(&self, what: &str, arg: &Path, rows: u64) -> anyhow::Result<Sample> {
        let exe = std::env::current_exe()?;
        let mut cmd;
        let mut out_file = None;
        if let Some(dir) = &self.callgrind {
            let file = dir.join(format!("callgrind.{what}.{}", std::process::id()));
            let _ = std::fs::remove_file(&file);
            cmd = std::process::Command::new("valgrind");
            cmd.arg("--tool=callgrind")
                .arg(format!("--callgrind-out-file={}", file.display()))
                .arg(exe);
            out_file = Some(file);
        } else {
            cmd = std::process::Command::new(exe);
        }
        let out = cmd
            .args(["bench", "parse"])
            .env(
                "ROSTERSYNC_BENCH_CHILD",
                format!("{what}:{rows}:{}", arg.display()),
            )
            .output()
            .with_context(|| {
                if self.callgrind.is_some() {
                    "cannot start valgrind (is it installed?)"
                } else {
                    "cannot start the benchmark child process"
                }
            })?;
        if !out.status.success() {
            bail!(
                "benchmark step {what} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let mut sample: Sample = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("benchmark step {what} printed no sample"))?;
        if let Some(file) = out_file {
            sample.instructions = callgrind_total(&file)?;
            let _ = std::fs::remove_file(&file);
        }
        Ok(sample)
    }

    fn repeat(&self, what: &str, arg: &Path, rows: u64, runs: usize) -> anyhow::Result<Sample> {
        let samples = (0..runs)
            .map(|_| self.child(what, arg, rows))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(summarise(what, samples))
    }
}

/// The total instruction count of a callgrind output file (`summary:` or `totals:` line).
fn callgrind_total(file: &Path) -> anyhow::Result<u64> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    text.lines()
        .filter_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .filter_map(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .max()
        .with_context(|| format!("{}: no instruction total", file.display()))
}

/// Every data row of the CSV files in `dir`, as raw records (the floor's parsing half).
fn csv_pass(
    dir: &Path,
    mut each: impl FnMut(&csv::ByteRecord) -> anyhow::Result<()>,
) -> anyhow::Result<u64> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.sort();
    let mut n = 0u64;
    for p in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
    {
        let mut r = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(p)
            .with_context(|| format!("cannot read {}", p.display()))?;
        let mut rec = csv::ByteRecord::new();
        while r.read_byte_record(&mut rec)? {
            n += 1;
            each(&rec)?;
        }
    }
    Ok(n)
}

/// The floor of a scenario: a `ByteRecord` pass over the feed, and `rows` rows bulk-inserted
/// into SQLite (key + the raw record as body, cycling over the feed's records when the
/// scenario wrote more rows than the feed has).
fn floor(feed: &Path, rows: u64) -> anyhow::Result<u64> {
    let db = tempfile::tempdir()?;
    let conn = rusqlite::Connection::open(db.path().join("floor.db"))?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; \
         CREATE TABLE t(k TEXT PRIMARY KEY, body BLOB)",
    )?;
    let tx = conn.unchecked_transaction()?;
    let mut inserted = 0u64;
    let mut ring: Vec<Vec<u8>> = Vec::new();
    let read = {
        let mut st = tx.prepare("INSERT INTO t VALUES (?1, ?2)")?;
        let mut body = Vec::with_capacity(256);
        let read = csv_pass(feed, |rec| {
            if inserted < rows {
                body.clear();
                for (i, field) in rec.iter().enumerate() {
                    if i > 0 {
                        body.push(b',');
                    }
                    body.extend_from_slice(field);
                }
                st.execute(rusqlite::params![format!("r#{inserted}"), body])?;
                inserted += 1;
                if ring.len() < 1024 {
                    ring.push(body.clone());
                }
            }
            Ok(())
        })?;
        while inserted < rows && !ring.is_empty() {
            let b = &ring[(inserted as usize) % ring.len()];
            st.execute(rusqlite::params![format!("r#{inserted}"), b])?;
            inserted += 1;
        }
        read
    };
    tx.commit()?;
    Ok(read)
}

/// The child side: one measurement, one JSON sample on stdout.
async fn run_child(spec: &str) -> anyhow::Result<()> {
    let (what, rest) = spec.split_once(':').context("bad ROSTERSYNC_BENCH_CHILD")?;
    let (rows, arg) = rest.split_once(':').context("bad ROSTERSYNC_BENCH_CHILD")?;
    let rows: u64 = rows.parse().context("bad ROSTERSYNC_BENCH_CHILD rows")?;
    let path = PathBuf::from(arg);
    let started = Instant::now();
    let mut sample = Sample {
        what: what.to_string(),
        ..Sample::default()
    };
    match what {
        "csv-floor" => sample.records = csv_pass(&path, |_| Ok(()))?,
        "oneroster-csv" | "oneroster-csv-zip" | "clever-csv" | "clever-json" => {
            let files = sources::files::FileSet::open(&path)?;
            let roster = match app::fetch::detect_format(&files).context("unrecognised files")? {
                app::fetch::FileFormat::OneRosterCsv => sources::oneroster_csv::read(&files)?,
                app::fetch::FileFormat::CleverCsv => sources::clever_csv::read(&files)?,
                app::fetch::FileFormat::CleverJson => {
                    sources::clever_api::read_json_dir(|n| files.read(n).ok())?
                }
            };
            sample.records = (roster.students.len()
                + roster.staff.len()
                + roster.contacts.len()
                + roster.sections.len()
                + roster.enrollments.len()) as u64;
        }
        "floor" => {
            sample.records = floor(&path, rows)?;
            sample.writes = rows;
        }
        "first" | "night" | "again" => {
            // arg = the feed folder the district is connected to; the data dir is beside it.
            let data = path.with_file_name("data");
            if what == "first" {
                let _ = std::fs::remove_dir_all(&data);
            }
            let env = app::local::LocalEnv::open(&data)?;
            if what == "first" {
                let source = domain::district::SourceConfig::OnerosterCsv {
                    path: path.display().to_string(),
                };
                app::admin::connect(
                    env.runs.as_ref(),
                    env.secrets.as_ref(),
                    "bench",
                    source,
                    None,
                )
                .await?;
            }
            let before = env.directory.writes_count();
            let report = crate::commands::sync_once(&env, "bench", false).await?;
            sample.writes = env.directory.writes_count() - before;
            sample.records = rows;
            if !matches!(
                report.status,
                domain::report::RunStatus::Succeeded
                    | domain::report::RunStatus::CompletedWithWarnings
            ) {
                bail!(
                    "{what}: the run ended {} ({:?})",
                    report.status.as_str(),
                    report.reason
                );
            }
            sample.totals = Some(report.totals);
        }
        other => bail!("unknown benchmark step {other}"),
    }
    sample.secs = started.elapsed().as_secs_f64();
    sample.cpu_secs = cpu_secs();
    sample.peak_rss_mb = peak_rss_mb();
    println!("{}", serde_json::to_string(&sample)?);
    Ok(())
}

fn summarise(what: &str, samples: Vec<Sample>) -> Sample {
    let first = samples.first().cloned().unwrap_or_default();
    Sample {
        what: what.to_string(),
        secs: median(samples.iter().map(|s| s.secs).collect()),
        cpu_secs: median(samples.iter().map(|s| s.cpu_secs).collect()),
        peak_rss_mb: samples.iter().map(|s| s.peak_rss_mb).fold(0.0, f64::max),
        writes: samples.iter().map(|s| s.writes).max().unwrap_or(0),
        records: first.records,
        instructions: median(samples.iter().map(|s| s.instructions as f64).collect()) as u64,
        totals: first.totals,
    }
}

/// One scenario against its floor, with the target for it.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub scenario: String,
    pub students: usize,
    /// CSV rows of the feed the scenario reads.
    pub rows: u64,
    pub wall_secs: f64,
    pub cpu_secs: f64,
    pub peak_rss_mb: f64,
    pub rows_per_sec: f64,
    pub writes: u64,
    pub floor_wall_secs: f64,
    pub floor_cpu_secs: f64,
    /// Wall time over the floor's wall time.
    pub ratio: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floor_instructions: Option<u64>,
    /// Instructions over the floor's instructions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instruction_ratio: Option<f64>,
    /// The target for this scenario and size ("" when it sets none).
    pub target: String,
    /// Whether the target is met (`None` without a target or when counting instructions).
    pub met: Option<bool>,
}

/// The targets (#9) on a 2-core machine: (text, met?).
fn target(scenario: &str, students: usize, r: &ScenarioResult) -> (String, Option<bool>) {
    let (text, met) = match (scenario, students) {
        ("first sync", 50_000) => (
            "<= 5 s, <= 2x floor, RSS <= 250 MB",
            r.wall_secs <= 5.0 && r.ratio <= 2.0 && r.peak_rss_mb <= 250.0,
        ),
        ("next night", 50_000) => (
            "<= 2 s, RSS <= 250 MB",
            r.wall_secs <= 2.0 && r.peak_rss_mb <= 250.0,
        ),
        ("no change", 50_000) => (
            "<= 1.5 s, 0 writes, RSS <= 250 MB",
            r.wall_secs <= 1.5 && r.writes == 0 && r.peak_rss_mb <= 250.0,
        ),
        ("first sync", 500_000) => (
            "<= 60 s, RSS <= 1 GB",
            r.wall_secs <= 60.0 && r.peak_rss_mb <= 1024.0,
        ),
        ("no change", _) => ("0 writes", r.writes == 0),
        _ => return (String::new(), None),
    };
    (text.to_string(), Some(met))
}

fn scenario_result(
    scenario: &str,
    students: usize,
    counting: bool,
    s: &Sample,
    f: &Sample,
) -> ScenarioResult {
    let rows = f.records;
    let div = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let mut r = ScenarioResult {
        scenario: scenario.to_string(),
        students,
        rows,
        wall_secs: s.secs,
        cpu_secs: s.cpu_secs,
        peak_rss_mb: s.peak_rss_mb,
        rows_per_sec: div(rows as f64, s.secs),
        writes: s.writes,
        floor_wall_secs: f.secs,
        floor_cpu_secs: f.cpu_secs,
        ratio: div(s.secs, f.secs),
        instructions: counting.then_some(s.instructions),
        floor_instructions: counting.then_some(f.instructions),
        instruction_ratio: counting.then(|| div(s.instructions as f64, f.instructions as f64)),
        target: String::new(),
        met: None,
    };
    let (text, met) = target(scenario, students, &r);
    r.target = text;
    // Times under valgrind say nothing about the targets; only the write count still does.
    r.met = if counting && r.writes > 0 { None } else { met };
    r
}

/// Copies the CSV files of `from` over those of `to` (the connected feed folder).
fn install_feed(from: &Path, to: &Path) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let p = e?.path();
        if let Some(name) = p.file_name() {
            std::fs::copy(&p, to.join(name))
                .with_context(|| format!("cannot copy {}", p.display()))?;
        }
    }
    Ok(())
}

/// `bench sync`: the three scenarios and their floors.
fn bench_sync(
    a: &BenchArgs,
    dir: &Path,
    runner: &Runner,
    runs: usize,
) -> anyhow::Result<Vec<ScenarioResult>> {
    let roster = synth::generate(&synth::Spec::new(a.students, a.seed));
    let churn = synth::next_night(&roster, &synth::NextNight::default());
    let (first_feed, night_feed, feed) = (dir.join("first"), dir.join("night"), dir.join("feed"));
    for (r, p) in [(&roster, &first_feed), (&churn.roster, &night_feed)] {
        let _ = std::fs::remove_dir_all(p);
        synth::write(r, synth::Format::OneRosterCsv, p)?;
    }
    drop(roster);
    let mut first = Vec::new();
    let mut night = Vec::new();
    let mut again = Vec::new();
    for _ in 0..runs {
        install_feed(&first_feed, &feed)?;
        first.push(runner.child("first", &feed, 0)?);
        install_feed(&night_feed, &feed)?;
        let n = runner.child("night", &feed, 0)?;
        let wrong = churn
            .expected
            .mismatches(n.totals.as_ref().context("next night: no report totals")?);
        if !wrong.is_empty() {
            bail!(
                "next night: the report differs from what the churn changed: {}",
                wrong.join("; ")
            );
        }
        if n.writes != churn.expected.writes() {
            bail!(
                "next night: {} directory writes, the churn changed {} records",
                n.writes,
                churn.expected.writes()
            );
        }
        night.push(n);
        let g = runner.child("again", &feed, 0)?;
        let wrong = synth::Expected::default()
            .mismatches(g.totals.as_ref().context("no change: no report totals")?);
        if g.writes != 0 || !wrong.is_empty() {
            bail!(
                "no change: {} directory writes; {}",
                g.writes,
                wrong.join("; ")
            );
        }
        again.push(g);
    }
    let first = summarise("first sync", first);
    let night = summarise("next night", night);
    let again = summarise("no change", again);
    let counting = runner.callgrind.is_some();
    let mut out = Vec::new();
    for (s, f) in [
        (&first, &first_feed),
        (&night, &night_feed),
        (&again, &night_feed),
    ] {
        let fl = runner.repeat("floor", f, s.writes, runs)?;
        out.push(scenario_result(&s.what, a.students, counting, s, &fl));
    }
    Ok(out)
}

/// `bench parse`: every format against the bare CSV pass.
fn bench_parse(
    a: &BenchArgs,
    dir: &Path,
    runner: &Runner,
    runs: usize,
) -> anyhow::Result<Vec<Sample>> {
    let roster = synth::generate(&synth::Spec::new(a.students, a.seed));
    let mut results = Vec::new();
    for format in synth::Format::ALL {
        let target = dir.join(format.as_str());
        let _ = std::fs::remove_dir_all(&target);
        let written = if format == synth::Format::OneRosterCsvZip {
            let zip = dir.join("oneroster.zip");
            synth::write(&roster, format, &zip)?;
            zip
        } else {
            synth::write(&roster, format, &target)?;
            target.clone()
        };
        results.push(runner.repeat(format.as_str(), &written, 0, runs)?);
        if matches!(
            format,
            synth::Format::OneRosterCsv | synth::Format::CleverCsv
        ) {
            let mut floor = runner.repeat("csv-floor", &target, 0, runs)?;
            floor.what = format!("{}: csv ByteRecord floor", format.as_str());
            results.push(floor);
        }
    }
    Ok(results)
}

fn sync_table(header: &str, rows: &[ScenarioResult], counting: bool) -> String {
    let mut s = format!("{header}\n");
    if counting {
        s.push_str(&format!(
            "{:<11} {:>9} {:>16} {:>16} {:>7} {:>8}\n",
            "scenario", "students", "instructions", "floor instr.", "ratio", "writes"
        ));
        for r in rows {
            s.push_str(&format!(
                "{:<11} {:>9} {:>16} {:>16} {:>7.2} {:>8}\n",
                r.scenario,
                r.students,
                r.instructions.unwrap_or(0),
                r.floor_instructions.unwrap_or(0),
                r.instruction_ratio.unwrap_or(0.0),
                r.writes
            ));
        }
        return s;
    }
    s.push_str(&format!(
        "{:<11} {:>9} {:>8} {:>8} {:>7} {:>10} {:>8} {:>8} {:>7}  {:<36} {}\n",
        "scenario",
        "students",
        "wall s",
        "CPU s",
        "RSS MB",
        "rows/s",
        "writes",
        "floor s",
        "ratio",
        "target",
        "met"
    ));
    for r in rows {
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "-",
        };
        s.push_str(&format!(
            "{:<11} {:>9} {:>8.2} {:>8.2} {:>7.0} {:>10.0} {:>8} {:>8.2} {:>7.1}  {:<36} {met}\n",
            r.scenario,
            r.students,
            r.wall_secs,
            r.cpu_secs,
            r.peak_rss_mb,
            r.rows_per_sec,
            r.writes,
            r.floor_wall_secs,
            r.ratio,
            if r.target.is_empty() { "-" } else { &r.target },
        ));
    }
    s
}

pub async fn run(out: Out, a: BenchArgs) -> anyhow::Result<()> {
    if let Ok(spec) = std::env::var("ROSTERSYNC_BENCH_CHILD") {
        return run_child(&spec).await;
    }
    let tmp = tempfile::tempdir()?;
    let dir = a.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let runner = Runner {
        callgrind: a.instructions.then(|| tmp.path().to_path_buf()),
    };
    let runs = a.runs.max(1);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let header = format!(
        "rostersync bench {} --students {} (median of {runs}; {cores} cores{})",
        a.what,
        a.students,
        if a.instructions {
            "; callgrind instruction counts"
        } else {
            ""
        }
    );
    match a.what.as_str() {
        "sync" => {
            let rows = bench_sync(&a, &dir, &runner, runs)?;
            out.emit(
                &serde_json::json!({"benchmark": "sync", "students": a.students, "runs": runs, "cores": cores, "results": rows}),
                || sync_table(&header, &rows, a.instructions),
            )
        }
        "parse" => {
            let results = bench_parse(&a, &dir, &runner, runs)?;
            out.emit(
                &serde_json::json!({"benchmark": "parse", "students": a.students, "runs": runs, "cores": cores, "results": results}),
                || {
                    let mut s = format!(
                        "{header}\n{:<40} {:>9} {:>9} {:>12} {:>10}\n",
                        "step", "seconds", "CPU s", "peak RSS MB", "records"
                    );
                    for r in &results {
                        s.push_str(&format!(
                            "{:<40} {:>9.2} {:>9.2} {:>12.0} {:>10}\n",
                            r.what, r.secs, r.cpu_secs, r.peak_rss_mb, r.records
                        ));
                    }
                    s
                },
            )
        }
        other => bail!(crate::commands::Usage(format!("unknown benchmark {other}"))),
    }
}
