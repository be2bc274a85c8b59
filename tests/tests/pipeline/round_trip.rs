//! Every format round-trips: what synth writes, the format's reader reads back as exactly
//! `project(roster, format)`; with dirty cells, the reader reports each one where it was put.
//! No convention is neutralised on either side: the readers agree with the projection (and so
//! with each other) on sis ids, contact types and relationships, term and course ids. The
//! OneRoster REST reader, fed the same district by the in-process server, reads back exactly
//! the OneRoster CSV projection.

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

fn round_trip(students: usize, seed: u64, format: Format, dirt: Dirt) -> Result<(), TestCaseError> {
    let roster = district(students, seed);
    let dir = tempfile::tempdir().expect("temp dir");
    let injected = synth::write_dirty(&roster, format, dir.path(), &dirt).expect("write");
    let read = read_back(format, dir.path())
        .map_err(|e| TestCaseError::fail(format!("{format}: the reader refused the feed: {e}")))?;
    let warnings = read.warnings.clone();
    let (read, projected) = (
        normalised(read),
        normalised(synth::project(&roster, format)),
    );
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

/// The same district through OneRoster REST (the in-process server, real paging, OAuth 1.0a)
/// reads back exactly what OneRoster CSV carries: both OneRoster readers give one canonical
/// roster (sis ids only from `{SIS:…}`, no contact type, relationships from the role).
#[tokio::test]
async fn oneroster_rest_reads_back_the_oneroster_projection() {
    use sources::oneroster_api::{self, OneRosterAuth, OneRosterConfig, SignatureMethod};
    use testkit::{MemRaw, OneRosterOptions, OneRosterServer};
    let (key, secret) = ("round-trip-key", "round-trip-secret");
    let mut failures = Vec::new();
    for (students, seed) in [(5, 1), (37, 7), (60, 42)] {
        let roster = district(students, seed);
        let server = OneRosterServer::start(
            &roster,
            OneRosterOptions {
                oauth1: Some((key.into(), secret.into())),
                ..OneRosterOptions::default()
            },
        )
        .await
        .expect("oneroster server");
        let auth = OneRosterAuth::OAuth1 {
            key: key.into(),
            secret: secret.into(),
            method: SignatureMethod::HmacSha256,
        };
        let cfg = OneRosterConfig {
            page_limit: 25,
            ..OneRosterConfig::new(server.base_url(), auth)
        };
        let read = oneroster_api::fetch(&cfg, &mut MemRaw::default())
            .await
            .expect("fetch");
        assert!(read.warnings.is_empty(), "{:#?}", read.warnings);
        let mut projected = synth::project(&roster, Format::OneRosterCsv);
        projected.source = read.source;
        if let Some(d) = difference(&normalised(read), &normalised(projected)) {
            failures.push(format!(
                "OneRoster REST, {students} students, seed {seed}: read back differs from the projection at {d}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
