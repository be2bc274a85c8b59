//! `rostersync bench`: the benchmarks the README quotes. Each measurement runs in a child
//! process of its own so its peak RSS (VmHWM) is its own; times are medians of `--runs`.
//!
//! - `bench parse`: read a generated district in every file format, against a floor measured in
//!   the same run: a bare `csv` `ByteRecord` pass over the same CSV files.
//! - `bench sync`: first sync and no-change re-sync in local mode from OneRoster CSV, against a
//!   floor: parsing the same files plus bulk-inserting as many rows into SQLite.

use crate::args::BenchArgs;
use crate::output::Out;
use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sample {
    pub what: String,
    pub secs: f64,
    pub peak_rss_mb: f64,
    #[serde(default)]
    pub writes: u64,
    #[serde(default)]
    pub records: u64,
}

/// Peak resident set of this process, in MB (Linux; 0 elsewhere).
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

/// Runs one measurement in a child process (`ROSTERSYNC_BENCH_CHILD=what:arg`).
fn child(what: &str, arg: &Path) -> anyhow::Result<Sample> {
    let exe = std::env::current_exe()?;
    let out = std::process::Command::new(exe)
        .args(["bench", "parse"])
        .env(
            "ROSTERSYNC_BENCH_CHILD",
            format!("{what}:{}", arg.display()),
        )
        .output()
        .context("cannot start the benchmark child process")?;
    if !out.status.success() {
        bail!(
            "benchmark step {what} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).context("benchmark child printed no sample")
}

/// The child side: one measurement, one JSON sample on stdout.
async fn run_child(spec: &str) -> anyhow::Result<()> {
    let (what, arg) = spec.split_once(':').context("bad ROSTERSYNC_BENCH_CHILD")?;
    let path = PathBuf::from(arg);
    let started = Instant::now();
    let mut sample = Sample {
        what: what.to_string(),
        secs: 0.0,
        peak_rss_mb: 0.0,
        writes: 0,
        records: 0,
    };
    match what {
        "csv-floor" => {
            let mut n = 0u64;
            for entry in std::fs::read_dir(&path)? {
                let p = entry?.path();
                if p.extension().is_some_and(|e| e == "csv") {
                    let mut r = csv::ReaderBuilder::new().flexible(true).from_path(&p)?;
                    let mut rec = csv::ByteRecord::new();
                    while r.read_byte_record(&mut rec)? {
                        n += rec.len() as u64;
                    }
                }
            }
            sample.records = n;
        }
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
        "sync-floor" => {
            let files = sources::files::FileSet::open(&path)?;
            let roster = sources::oneroster_csv::read(&files)?;
            let db = tempfile::tempdir()?;
            let conn = rusqlite::Connection::open(db.path().join("floor.db"))?;
            conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; CREATE TABLE t(k TEXT PRIMARY KEY, body TEXT)")?;
            let tx = conn.unchecked_transaction()?;
            let mut n = 0u64;
            {
                let mut st = tx.prepare("INSERT INTO t VALUES (?1, ?2)")?;
                for s in &roster.students {
                    st.execute(rusqlite::params![
                        format!("s#{}", s.id),
                        serde_json::to_string(s)?
                    ])?;
                    n += 1;
                }
                for s in &roster.staff {
                    st.execute(rusqlite::params![
                        format!("t#{}", s.id),
                        serde_json::to_string(s)?
                    ])?;
                    n += 1;
                }
                for c in &roster.contacts {
                    st.execute(rusqlite::params![
                        format!("c#{}", c.id),
                        serde_json::to_string(c)?
                    ])?;
                    n += 1;
                }
                for s in &roster.sections {
                    st.execute(rusqlite::params![
                        format!("x#{}", s.id),
                        serde_json::to_string(s)?
                    ])?;
                    n += 1;
                }
                for e in &roster.enrollments {
                    st.execute(rusqlite::params![
                        format!("e#{}#{}", e.section_id, e.user_id),
                        serde_json::to_string(e)?
                    ])?;
                    n += 1;
                }
            }
            tx.commit()?;
            sample.records = n;
        }
        "sync-first" | "sync-again" => {
            // arg = feed folder; the data dir is beside it.
            let data = path.with_file_name("data");
            if what == "sync-first" {
                let _ = std::fs::remove_dir_all(&data);
            }
            let env = app::local::LocalEnv::open(&data)?;
            if what == "sync-first" {
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
            let started = Instant::now();
            let report = crate::commands::sync_once(&env, "bench", false).await?;
            sample.secs = started.elapsed().as_secs_f64();
            sample.writes = env.directory.writes_count();
            sample.records = report
                .totals
                .0
                .values()
                .map(|c| c.created + c.updated + c.unchanged)
                .sum();
            sample.peak_rss_mb = peak_rss_mb();
            println!("{}", serde_json::to_string(&sample)?);
            return Ok(());
        }
        other => bail!("unknown benchmark step {other}"),
    }
    sample.secs = started.elapsed().as_secs_f64();
    sample.peak_rss_mb = peak_rss_mb();
    println!("{}", serde_json::to_string(&sample)?);
    Ok(())
}

fn summarise(what: &str, samples: Vec<Sample>) -> Sample {
    let secs = median(samples.iter().map(|s| s.secs).collect());
    let rss = samples.iter().map(|s| s.peak_rss_mb).fold(0.0, f64::max);
    let writes = samples.iter().map(|s| s.writes).max().unwrap_or(0);
    let records = samples.first().map(|s| s.records).unwrap_or(0);
    Sample {
        what: what.to_string(),
        secs,
        peak_rss_mb: rss,
        writes,
        records,
    }
}

pub async fn run(out: Out, a: BenchArgs) -> anyhow::Result<()> {
    if let Ok(spec) = std::env::var("ROSTERSYNC_BENCH_CHILD") {
        return run_child(&spec).await;
    }
    let tmp;
    let dir = match &a.dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    std::fs::create_dir_all(&dir)?;
    let spec = synth::Spec {
        students: a.students,
        seed: 1,
        ..synth::Spec::default()
    };
    let roster = synth::generate(&spec);
    let runs = a.runs.max(1);
    let mut results = Vec::new();
    match a.what.as_str() {
        "parse" => {
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
                let samples = (0..runs)
                    .map(|_| child(format.as_str(), &written))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                results.push(summarise(format.as_str(), samples));
                if matches!(
                    format,
                    synth::Format::OneRosterCsv | synth::Format::CleverCsv
                ) {
                    let samples = (0..runs)
                        .map(|_| child("csv-floor", &target))
                        .collect::<anyhow::Result<Vec<_>>>()?;
                    results.push(summarise(
                        &format!("{}: csv ByteRecord floor", format.as_str()),
                        samples,
                    ));
                }
            }
        }
        "sync" => {
            let feed = dir.join("feed");
            let _ = std::fs::remove_dir_all(&feed);
            synth::write(&roster, synth::Format::OneRosterCsv, &feed)?;
            let mut first = Vec::new();
            let mut again = Vec::new();
            for _ in 0..runs {
                first.push(child("sync-first", &feed)?);
                again.push(child("sync-again", &feed)?);
            }
            results.push(summarise("first sync", first));
            results.push(summarise("no-change re-sync", again));
            let floor = (0..runs)
                .map(|_| child("sync-floor", &feed))
                .collect::<anyhow::Result<Vec<_>>>()?;
            results.push(summarise("floor: parse + SQLite bulk insert", floor));
        }
        other => bail!(crate::commands::Usage(format!("unknown benchmark {other}"))),
    }
    let header = format!(
        "rostersync bench {} --students {} (median of {runs}; {} cores)",
        a.what,
        a.students,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    out.emit(&serde_json::json!({"benchmark": a.what, "students": a.students, "runs": runs, "results": results}), || {
        let mut s = format!("{header}\n{:<40} {:>9} {:>12} {:>10} {:>10}\n", "step", "seconds", "peak RSS MB", "writes", "records");
        for r in &results {
            s.push_str(&format!("{:<40} {:>9.2} {:>12.0} {:>10} {:>10}\n", r.what, r.secs, r.peak_rss_mb, r.writes, r.records));
        }
        s
    })
}
