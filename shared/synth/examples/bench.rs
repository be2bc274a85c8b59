//! Times generation and every writer: `cargo run --release -p synth --example bench -- 500000`.

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args().nth(1).map_or(Ok(50_000), |a| a.parse())?;
    let t = Instant::now();
    let r = synth::generate(&synth::Spec::new(n, 1));
    println!(
        "generate {n}: {:?} ({} schools, {} sections, {} staff, {} contacts, {} enrollments)",
        t.elapsed(),
        r.schools.len(),
        r.sections.len(),
        r.staff.len(),
        r.contacts.len(),
        r.enrollments.len()
    );
    if std::env::args().nth(2).as_deref() == Some("--no-write") {
        return Ok(());
    }
    let dir = std::env::temp_dir().join(format!("synth-bench-{}", std::process::id()));
    for f in synth::Format::ALL {
        let t = Instant::now();
        synth::write(&r, f, &dir.join(f.as_str()))?;
        println!("write {f}: {:?}", t.elapsed());
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
