//! A whole-read parse harness (the CLI's `bench parse` measures the same, in child processes):
//! `cargo run --release -p sources --example parse_bench -- gen DIR [STUDENTS]` writes a generated
//! district in every file format under DIR; `… -- FORMAT DIR/FORMAT` reads it once and prints
//! the seconds, the records read and the peak RSS, with FORMAT one of `oneroster-csv`,
//! `clever-csv`, `clever-json` or `floor` (a bare `csv` ByteRecord pass over the CSV files).
//! One read per process, so that the RSS is that read's and it can run under callgrind.

use sources::files::FileSet;
use std::path::Path;
use std::time::Instant;

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn floor(dir: &Path) -> u64 {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    files.sort();
    let mut n = 0;
    for p in files {
        let mut r = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(&p)
            .expect("open");
        let mut rec = csv::ByteRecord::new();
        while r.read_byte_record(&mut rec).expect("csv") {
            n += 1;
        }
    }
    n
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, dir) = match args.as_slice() {
        [m, d, ..] => (m.as_str(), Path::new(d)),
        _ => {
            eprintln!("usage: parse gen DIR [STUDENTS] | parse FORMAT DIR");
            std::process::exit(2);
        }
    };
    if mode == "gen" {
        let students = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(50_000);
        let roster = synth::generate(&synth::Spec {
            students,
            seed: 1,
            ..synth::Spec::default()
        });
        for f in [
            synth::Format::OneRosterCsv,
            synth::Format::CleverCsv,
            synth::Format::CleverJson,
        ] {
            synth::write(&roster, f, &dir.join(f.as_str())).expect("write");
        }
        return;
    }
    let started = Instant::now();
    let records = if mode == "floor" {
        floor(dir)
    } else {
        let files = FileSet::open(dir).expect("files");
        let r = match mode {
            "oneroster-csv" => sources::oneroster_csv::read(&files),
            "clever-csv" => sources::clever_csv::read(&files),
            "clever-json" => sources::clever_api::read_json_dir(|n| files.read(n).ok()),
            other => panic!("unknown format {other}"),
        }
        .expect("read");
        (r.students.len()
            + r.staff.len()
            + r.contacts.len()
            + r.sections.len()
            + r.enrollments.len()) as u64
    };
    println!(
        "{mode}: {:.3} s, {records} records, peak RSS {:.0} MB",
        started.elapsed().as_secs_f64(),
        peak_rss_mb()
    );
}
