//! Times one reader over a generated district folder, phase by phase (open, read, drop), for
//! profiling: `cargo run --release -p sources --example parse -- <format> <dir> [runs]` where
//! format is `oneroster-csv`, `clever-csv`, `clever-json` or `floor` (a bare `csv` pass).

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let format = args.next().ok_or("usage: parse <format> <dir> [runs]")?;
    let dir = args.next().ok_or("usage: parse <format> <dir> [runs]")?;
    let runs: usize = args.next().map_or(Ok(1), |r| r.parse())?;
    for _ in 0..runs {
        let t0 = Instant::now();
        if format == "floor" {
            let mut n = 0u64;
            for entry in std::fs::read_dir(&dir)? {
                let p = entry?.path();
                if p.extension().is_some_and(|e| e == "csv") {
                    let mut r = csv::ReaderBuilder::new().flexible(true).from_path(&p)?;
                    let mut rec = csv::ByteRecord::new();
                    while r.read_byte_record(&mut rec)? {
                        n += rec.len() as u64;
                    }
                }
            }
            println!("floor {:.3}s fields={n}", t0.elapsed().as_secs_f64());
            continue;
        }
        let files = sources::files::FileSet::open(&dir)?;
        let roster = match format.as_str() {
            "oneroster-csv" => sources::oneroster_csv::read(&files)?,
            "clever-csv" => sources::clever_csv::read(&files)?,
            "clever-json" => sources::clever_api::read_json_dir(|n| files.read(n).ok())?,
            other => return Err(format!("unknown format {other}").into()),
        };
        let t1 = Instant::now();
        let n = roster.students.len() + roster.enrollments.len() + roster.warnings.len();
        drop(roster);
        let t2 = Instant::now();
        println!(
            "{format} read {:.3}s drop {:.3}s total {:.3}s records={n}",
            (t1 - t0).as_secs_f64(),
            (t2 - t1).as_secs_f64(),
            (t2 - t0).as_secs_f64()
        );
    }
    Ok(())
}
