//! The next night on the embedded default: a first sync of a generated district, then a sync of
//! its churn (`synth::next_night`: changed, removed, added and moved students, guardians with
//! them). The report counts exactly what the churn changed, the directory writes exactly those
//! records, and a third sync of the same night changes nothing.

use domain::EntityKind;
use integration::{TestEnv, district, nonzero_totals, ok, write_feed};
use synth::{Format, NextNight};

const STUDENTS: usize = 300;
const SEED: u64 = 23;

#[tokio::test]
async fn next_night_reports_exactly_the_churn() {
    let roster = district(STUDENTS, SEED);
    let churn = synth::next_night(&roster, &NextNight::default());
    assert_eq!(
        (
            churn.changed.len(),
            churn.removed.len(),
            churn.added.len(),
            churn.moved.len()
        ),
        (15, 3, 3, 2),
        "5% changed, 1% removed, 1% added, 0.5% moved of {STUDENTS}"
    );

    let t = TestEnv::new();
    let feed = t.feed_dir("oneroster");
    let path = write_feed(&roster, Format::OneRosterCsv, &feed);
    t.connect_files(Format::OneRosterCsv, &path).await;
    let first = t.sync().await;
    assert!(ok(&first), "first sync: {first:?}");

    write_feed(&churn.roster, Format::OneRosterCsv, &feed);
    let before = t.writes();
    let night = t.sync().await;
    assert!(ok(&night), "next night: {night:?}");
    let wrong = churn.expected.mismatches(&night.totals);
    assert!(
        wrong.is_empty(),
        "next-night report differs from the churn: {wrong:?}; report: {:?}",
        nonzero_totals(&night)
    );
    assert_eq!(
        t.writes() - before,
        churn.expected.writes(),
        "the next night writes exactly the changed records"
    );
    for e in [
        EntityKind::Schools,
        EntityKind::Classrooms,
        EntityKind::Staff,
    ] {
        let c = night.totals.get(e);
        assert_eq!(
            (c.created, c.updated, c.archived),
            (0, 0, 0),
            "{}",
            e.as_str()
        );
    }
    assert!(churn.expected.get(EntityKind::Students).updated >= 17);
    assert!(churn.expected.get(EntityKind::Guardians).archived > 0);

    let before = t.writes();
    let again = t.sync().await;
    assert!(ok(&again), "same night again: {again:?}");
    assert_eq!(
        t.writes() - before,
        0,
        "the same night twice writes nothing"
    );
    assert!(
        synth::Expected::default()
            .mismatches(&again.totals)
            .is_empty(),
        "same night again: {:?}",
        nonzero_totals(&again)
    );
}
