//! Every format round-trips: what synth writes, the format's reader reads back as exactly
//! `project(roster, format)`; with dirty cells, the reader reports each one where it was put.

use domain::Roster;
use integration::{district, normalised, read_back};
use proptest::prelude::*;
use synth::{Dirt, Format};

/// For every top-level field where the rosters differ, its first differing entry.
fn difference(read: &Roster, projected: &Roster) -> Option<String> {
    let a = serde_json::to_value(read).expect("json");
    let b = serde_json::to_value(projected).expect("json");
    let (a, b) = (
        a.as_object().expect("object"),
        b.as_object().expect("object"),
    );
    let mut out = Vec::new();
    for (k, va) in a {
        let vb = &b[k];
        if va == vb {
            continue;
        }
        let (Some(xa), Some(xb)) = (va.as_array(), vb.as_array()) else {
            out.push(format!("{k}:\n  read:      {va}\n  projected: {vb}"));
            continue;
        };
        let differing = (0..xa.len().max(xb.len()))
            .filter(|&i| xa.get(i) != xb.get(i))
            .collect::<Vec<_>>();
        let i = differing[0];
        out.push(format!(
            "{k}[{i}] ({} entries differ; {} read, {} projected):\n  read:      {}\n  projected: {}",
            differing.len(),
            xa.len(),
            xb.len(),
            xa.get(i).map(ToString::to_string).unwrap_or_default(),
            xb.get(i).map(ToString::to_string).unwrap_or_default()
        ));
    }
    (!out.is_empty()).then(|| out.join("\n"))
}

/// Where a reader and `synth::project` disagree on a convention the specs leave open, both sides
/// are brought to a neutral form so that everything else is still compared. Each one is a
/// reported finding, not an endorsement of either side:
///
/// - OneRoster CSV (`sources/src/oneroster_csv.rs`) sets `sis_id = sourcedId` on schools and
///   sections, and on users without `{SIS:…}` in `userIds`; the projection (and the OneRoster
///   REST reader) leave them empty. It also gives every contact link `contact_type =
///   Parent/Guardian`, `relative` included, where the REST reader says `Family` for `relative`
///   and the projection `None` (OneRoster has no contact type).
/// - Clever CSV names derived terms `term:<hash of name and dates>`; the projection uses the
///   term's name. Terms are compared by name, and sections by the names of their terms.
fn known_divergences(format: Format, read: &mut Roster, projected: &mut Roster) {
    match format {
        Format::OneRosterCsv | Format::OneRosterCsvZip => {
            for r in [&mut *read, &mut *projected] {
                r.schools.iter_mut().for_each(|s| s.sis_id = None);
                r.sections.iter_mut().for_each(|s| s.sis_id = None);
                for c in &mut r.contacts {
                    c.links.iter_mut().for_each(|l| l.contact_type = None);
                }
            }
            let fallback = |id: &str, read: &mut Option<String>, projected: &Option<String>| {
                if projected.is_none() && read.as_deref() == Some(id) {
                    *read = None;
                }
            };
            for (a, b) in read.students.iter_mut().zip(&projected.students) {
                fallback(&b.id, &mut a.sis_id, &b.sis_id);
            }
            for (a, b) in read.staff.iter_mut().zip(&projected.staff) {
                fallback(&b.id, &mut a.sis_id, &b.sis_id);
            }
            for (a, b) in read.contacts.iter_mut().zip(&projected.contacts) {
                fallback(&b.id, &mut a.sis_id, &b.sis_id);
            }
        }
        Format::CleverCsv => {
            for r in [&mut *read, &mut *projected] {
                let names: std::collections::HashMap<String, String> = r
                    .terms
                    .iter()
                    .map(|t| (t.id.clone(), t.name.clone()))
                    .collect();
                for t in &mut r.terms {
                    t.id = t.name.clone();
                }
                for s in &mut r.sections {
                    for t in &mut s.term_ids {
                        if let Some(n) = names.get(t) {
                            *t = n.clone();
                        }
                    }
                }
                r.normalise();
            }
        }
        Format::CleverJson => {}
    }
}

fn round_trip(students: usize, seed: u64, format: Format, dirt: Dirt) -> Result<(), TestCaseError> {
    let roster = district(students, seed);
    let dir = tempfile::tempdir().expect("temp dir");
    let injected = synth::write_dirty(&roster, format, dir.path(), &dirt).expect("write");
    let read = read_back(format, dir.path())
        .map_err(|e| TestCaseError::fail(format!("{format}: the reader refused the feed: {e}")))?;
    let warnings = read.warnings.clone();
    let (mut read, mut projected) = (
        normalised(read),
        normalised(synth::project(&roster, format)),
    );
    known_divergences(format, &mut read, &mut projected);
    if let Some(d) = difference(&read, &projected) {
        return Err(TestCaseError::fail(format!(
            "{format}, {students} students, seed {seed}: read back differs from the projection at {d}"
        )));
    }
    if dirt == Dirt::none() {
        prop_assert!(injected.is_empty());
    }
    // A student's columns repeat on each of its students.csv rows (one per contact), so one
    // bad value can be written on several lines; synth lists every line, the reader reports the
    // value once, at its first line. Require the first line of each injected value.
    let mut firsts: Vec<&synth::Injected> = Vec::new();
    for inj in &injected {
        match firsts.iter_mut().find(|f| {
            (f.kind, &f.file, &f.record_id, &f.field)
                == (inj.kind, &inj.file, &inj.record_id, &inj.field)
        }) {
            Some(f) if f.line > inj.line => *f = inj,
            Some(_) => {}
            None => firsts.push(inj),
        }
    }
    for inj in firsts {
        let found = warnings.iter().any(|w| {
            w.code == inj.kind.code()
                && w.location.source.starts_with(inj.file.as_str())
                && (inj.line.is_none() || w.location.line == inj.line)
        });
        let lines: Vec<String> = match inj.line {
            Some(l) => std::fs::read_to_string(dir.path().join(&inj.file))
                .unwrap_or_default()
                .lines()
                .enumerate()
                .skip((l as usize).saturating_sub(2))
                .take(3)
                .map(|(i, x)| format!("{}: {x}", i + 1))
                .collect(),
            None => Vec::new(),
        };
        prop_assert!(
            found,
            "{format}: no {} warning at {}:{:?} ({} = {:?} of {}); file around it: {:#?}; warnings: {:#?}",
            inj.kind.code().as_str(),
            inj.file,
            inj.line,
            inj.field,
            inj.value,
            inj.record_id,
            lines,
            warnings
                .iter()
                .map(|w| format!("{} {}", w.code.as_str(), w.location))
                .collect::<Vec<_>>()
        );
    }
    Ok(())
}

fn formats() -> impl Strategy<Value = Format> {
    prop::sample::select(Format::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_format_reads_back_its_projection(students in 5usize..=60, seed in 1u64..1_000, format in formats()) {
        round_trip(students, seed, format, Dirt::none())?;
    }

    #[test]
    fn dirty_cells_are_reported_and_dropped(students in 5usize..=60, seed in 1u64..1_000, format in formats()) {
        round_trip(students, seed, format, Dirt::typical())?;
    }
}

/// A few fixed cases so that every format is covered on every run, whatever proptest draws.
#[test]
fn every_format_round_trips_on_fixed_seeds() {
    let mut failures = Vec::new();
    for format in Format::ALL {
        for (students, seed) in [(5, 1), (37, 7), (60, 42)] {
            for dirt in [Dirt::none(), Dirt::typical()] {
                if let Err(e) = round_trip(students, seed, format, dirt) {
                    failures.push(e.to_string());
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
