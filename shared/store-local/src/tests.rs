//! Tests of the embedded adapters: the conformance suite on each, key safety, durability of the
//! queue and the database across reopening, schema versioning and exact index rows.

use crate::{DB_FILE, LocalObjectStore, SCHEMA_VERSION, SqliteQueue, SqliteStore};
use domain::directory::{IndexKey, Person, PersonKind, Record, RecordKey};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::memory::ManualClock;
use store::{Directory, ObjectStore, Queue, StoreError, Write, WriteOutcome, conformance};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[tokio::test]
async fn object_store_conforms() {
    let dir = tmp();
    let s = LocalObjectStore::new(dir.path().join("objects"));
    conformance::object_store(&s).await;
    tokio::join!(conformance::object_store(&s), conformance::object_store(&s));
}

#[tokio::test]
async fn object_keys_cannot_escape_the_folder() {
    let dir = tmp();
    let s = LocalObjectStore::new(dir.path().join("objects"));
    for key in [
        "",
        "/etc/passwd",
        "../x",
        "a/../../x",
        "a//b",
        "a/./b",
        "a/",
        "a\\b",
        ".",
    ] {
        match s.put(key, b"x".to_vec()).await {
            Err(StoreError::Permanent(_)) => {}
            other => panic!("key {key:?} must be rejected, got {other:?}"),
        }
        assert!(matches!(s.get(key).await, Err(StoreError::Permanent(_))));
        assert!(matches!(s.delete(key).await, Err(StoreError::Permanent(_))));
    }
    assert!(!dir.path().join("x").exists());
    // Listing by a prefix no valid key has is empty, not an error.
    assert!(s.list("../").await.unwrap().is_empty());
    assert!(s.list("/").await.unwrap().is_empty());
}

#[tokio::test]
async fn temporary_files_are_not_objects() {
    let dir = tmp();
    let root = dir.path().join("objects");
    let s = LocalObjectStore::new(root.clone());
    s.put("a/b", b"1".to_vec()).await.unwrap();
    std::fs::write(root.join("a/.rostersync-tmp-1-1"), b"partial").unwrap();
    let keys: Vec<String> = s
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.key)
        .collect();
    assert_eq!(keys, vec!["a/b".to_string()]);
    assert!(s.get("a/.rostersync-tmp-1-1").await.is_err());
    // put_if_absent leaves no temporary file behind, won or lost.
    s.put_if_absent("a/c", b"1".to_vec()).await.unwrap();
    assert!(s.put_if_absent("a/c", b"2".to_vec()).await.is_err());
    let names: BTreeSet<String> = std::fs::read_dir(root.join("a"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        names,
        ["a/b", "a/c", "a/.rostersync-tmp-1-1"]
            .iter()
            .map(|n| n.trim_start_matches("a/").to_string())
            .collect()
    );
}

#[tokio::test]
async fn directory_and_runs_conform() {
    let dir = tmp();
    let s = SqliteStore::open_dir(dir.path()).unwrap();
    assert_eq!(s.path(), dir.path().join(DB_FILE));
    conformance::directory(&s).await;
    conformance::runs(&s).await;
    assert!(s.writes_count() > 0);
    // Two handles on one file, concurrently.
    let other = SqliteStore::open(dir.path().join(DB_FILE)).unwrap();
    tokio::join!(
        conformance::directory(&s),
        conformance::directory(&other),
        conformance::runs(&s),
        conformance::runs(&other),
    );
}

#[tokio::test]
async fn queue_conforms() {
    let dir = tmp();
    let clock = Arc::new(ManualClock::default());
    let db = dir.path().join(DB_FILE);
    let q = SqliteQueue::open_with_clock(&db, "work", 3, clock.clone()).unwrap();
    conformance::queue(&q, 3, Duration::from_secs(30), |d| {
        clock.advance(d);
        std::future::ready(())
    })
    .await;
    assert_eq!(q.len().await.unwrap(), 0);
    // Another queue in the same file is independent.
    let q2 = SqliteQueue::open_with_clock(&db, "other", 2, clock.clone()).unwrap();
    conformance::queue(&q2, 2, Duration::from_secs(5), |d| {
        clock.advance(d);
        std::future::ready(())
    })
    .await;
    assert_eq!(q.dead_letters().await.unwrap().len(), 1);
    assert_eq!(q2.dead_letters().await.unwrap().len(), 1);
}

#[tokio::test]
async fn queue_messages_survive_reopening() {
    let dir = tmp();
    let db = dir.path().join(DB_FILE);
    let clock = Arc::new(ManualClock::default());
    let vis = Duration::from_secs(60);
    {
        let q = SqliteQueue::open_with_clock(&db, "work", 3, clock.clone()).unwrap();
        q.send("in-flight").await.unwrap();
        let got = q.receive(1, vis).await.unwrap();
        assert_eq!(got[0].body, "in-flight");
        q.send("waiting").await.unwrap();
        q.send("acked").await.unwrap();
        q.send("doomed").await.unwrap();
    }
    {
        let q = SqliteQueue::open_with_clock(&db, "work", 3, clock.clone()).unwrap();
        // The received-but-unacked message is still invisible after reopening.
        let got = q.receive(10, vis).await.unwrap();
        let bodies: Vec<&str> = got.iter().map(|d| d.body.as_str()).collect();
        assert_eq!(bodies, vec!["waiting", "acked", "doomed"]);
        q.ack(&got[1].receipt).await.unwrap();
        for _ in 0..2 {
            q.release(&got[2].receipt).await.unwrap();
        }
        let d = q.receive(10, vis).await.unwrap();
        assert_eq!(d[0].body, "doomed");
        q.release(&d[0].receipt).await.unwrap();
        let d = q.receive(10, vis).await.unwrap();
        assert_eq!((d[0].body.as_str(), d[0].receive_count), ("doomed", 3));
        q.release(&d[0].receipt).await.unwrap();
        assert!(q.receive(10, vis).await.unwrap().is_empty());
    }
    clock.advance(vis + Duration::from_secs(1));
    let q = SqliteQueue::open_with_clock(&db, "work", 3, clock.clone()).unwrap();
    let got = q.receive(10, vis).await.unwrap();
    let mut seen: Vec<(String, u32)> = got
        .iter()
        .map(|d| (d.body.clone(), d.receive_count))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![("in-flight".to_string(), 2), ("waiting".to_string(), 2)],
        "after reopening, expired deliveries come back; acked ones do not"
    );
    assert_eq!(q.dead_letters().await.unwrap(), vec!["doomed".to_string()]);
    for d in got {
        q.ack(&d.receipt).await.unwrap();
    }
    assert_eq!(q.len().await.unwrap(), 0);
}

fn student(id: &str, school: &str, sis: &str) -> Record {
    Record::Person(Box::new(Person {
        id: id.into(),
        kind: PersonKind::Student,
        first_name: "Grace".into(),
        middle_name: None,
        last_name: "Hopper".into(),
        email: None,
        sms: None,
        phone: None,
        language: None,
        grade: None,
        dob: None,
        sis_id: Some(sis.into()),
        student_number: None,
        state_id: None,
        staff_roles: Vec::new(),
        title: None,
        school_ids: [school.to_string()].into(),
        external_ids: [format!("ext-{id}")].into(),
        active: false,
        same_person_as: None,
        managed: None,
        archived: None,
        version: 0,
    }))
}

fn index_rows(db: &std::path::Path, district: &str, key: &RecordKey) -> BTreeSet<String> {
    let mut c = rusqlite::Connection::open(db).unwrap();
    crate::sqlite::fold_pending(&mut c).unwrap();
    let mut stmt = c
        .prepare("SELECT ikey FROM idx WHERE district = ?1 AND key = ?2")
        .unwrap();
    stmt.query_map([district, key.as_str()], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// The index keys that get a row: those the record's own key does not answer.
fn keys_of(r: &Record) -> BTreeSet<String> {
    let key = r.key();
    let keys: BTreeSet<String> = r
        .index_keys()
        .iter()
        .filter(|k| !k.answered_by_key(key.as_str()))
        .map(|k| k.as_str().to_string())
        .collect();
    assert!(
        !keys.contains("kind#person"),
        "a person's kind is answered by its key"
    );
    keys
}

#[tokio::test]
async fn index_rows_are_exactly_the_index_keys_and_survive_reopening() {
    let dir = tmp();
    let db = dir.path().join(DB_FILE);
    let a = student("p1", "s1", "sis-1");
    let b = student("p1", "s2", "sis-2");
    {
        let s = SqliteStore::open(&db).unwrap();
        let w = |r: &Record, e| Write::Put {
            record: r.clone(),
            expected: e,
        };
        assert_eq!(
            s.write("d", &[w(&a, None)]).await.unwrap(),
            vec![WriteOutcome::Written]
        );
        assert_eq!(index_rows(&db, "d", &a.key()), keys_of(&a));
        assert_eq!(
            s.write("d", &[w(&b, Some(1))]).await.unwrap(),
            vec![WriteOutcome::Written]
        );
        assert_eq!(index_rows(&db, "d", &a.key()), keys_of(&b));
    }
    let s = SqliteStore::open(&db).unwrap();
    let mut want = b.clone();
    want.set_version(2);
    assert_eq!(s.get("d", &b.key()).await.unwrap(), Some(want));
    let del = Write::Delete {
        key: b.key(),
        expected: 2,
    };
    assert_eq!(
        s.write("d", &[del]).await.unwrap(),
        vec![WriteOutcome::Written]
    );
    assert!(index_rows(&db, "d", &a.key()).is_empty());
}

/// Index changes of many writes wait in `idx_pending` (no read in between): a record moved
/// twice, deleted and written again, another added in the same batch as its move. The first
/// index read sees exactly the latest state, the log is empty after it, and `settle` on an
/// empty log changes nothing; a reopened store folds what a closed one left in the log.
#[tokio::test]
async fn logged_index_changes_fold_to_the_latest_state() {
    let dir = tmp();
    let db = dir.path().join(DB_FILE);
    let put = |r: &Record, e| Write::Put {
        record: r.clone(),
        expected: e,
    };
    let in_school = |school: &str| IndexKey::in_school(school);
    let keys = |rs: Vec<Record>| rs.iter().map(|r| r.key().0).collect::<Vec<_>>();
    let pending = |db: &std::path::Path| -> i64 {
        rusqlite::Connection::open(db)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM idx_pending", [], |r| r.get(0))
            .unwrap()
    };
    {
        let s = SqliteStore::open(&db).unwrap();
        s.write("d", &[put(&student("p1", "s1", "sis-1"), None)])
            .await
            .unwrap();
        s.write("d", &[put(&student("p1", "s2", "sis-1"), Some(1))])
            .await
            .unwrap();
        s.write("d", &[put(&student("p1", "s3", "sis-9"), Some(2))])
            .await
            .unwrap();
        s.write(
            "d",
            &[Write::Delete {
                key: student("p1", "s3", "").key(),
                expected: 3,
            }],
        )
        .await
        .unwrap();
        // One batch writing p1 again and p2, then p2 moved in the same batch.
        let out = s
            .write(
                "d",
                &[
                    put(&student("p1", "s1", "sis-1"), None),
                    put(&student("p2", "s2", "sis-2"), None),
                    put(&student("p2", "s3", "sis-2"), Some(1)),
                ],
            )
            .await
            .unwrap();
        assert_eq!(out, vec![WriteOutcome::Written; 3]);
        assert!(pending(&db) > 0, "the index changes wait in the log");
    }
    // Closed without a read: the log survives, and the reopened store folds it on first read.
    let s = SqliteStore::open(&db).unwrap();
    assert_eq!(
        keys(s.query("d", &in_school("s1"), None, 10).await.unwrap()),
        ["person#p1"]
    );
    assert_eq!(pending(&db), 0, "the first index read folded the log");
    assert!(
        s.query("d", &in_school("s2"), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        keys(s.query("d", &in_school("s3"), None, 10).await.unwrap()),
        ["person#p2"]
    );
    let by_sis = s
        .query_many("d", &[IndexKey::sis("sis-9"), IndexKey::sis("sis-1")])
        .await
        .unwrap();
    assert_eq!(keys(by_sis), ["person#p1"]);
    for id in ["p1", "p2"] {
        let r = s
            .get("d", &student(id, "s1", "").key())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(index_rows(&db, "d", &r.key()), keys_of(&r));
    }
    // Settling writes the log into idx at once; with nothing logged it is a no-op.
    s.write("d", &[put(&student("p3", "s2", "sis-3"), None)])
        .await
        .unwrap();
    s.settle().await.unwrap();
    assert_eq!(pending(&db), 0);
    assert_eq!(
        index_rows(&db, "d", &student("p3", "s2", "").key()).len(),
        keys_of(&student("p3", "s2", "sis-3")).len()
    );
    s.settle().await.unwrap();
}

#[tokio::test]
async fn schema_is_versioned() {
    let dir = tmp();
    let db = dir.path().join(DB_FILE);
    drop(SqliteStore::open(&db).unwrap());
    let c = rusqlite::Connection::open(&db).unwrap();
    let v: i64 = c
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    let mode: String = c
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    c.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(c);
    match SqliteStore::open(&db) {
        Err(StoreError::Permanent(m)) => assert!(m.contains("newer"), "{m}"),
        other => panic!(
            "a newer schema must be refused, got {:?}",
            other.map(|_| ())
        ),
    }
    // Reopening a current file keeps its data and does not migrate again.
    let dir2 = tmp();
    let s = SqliteStore::open(dir2.path().join(DB_FILE)).unwrap();
    let r = student("x", "s", "sis");
    s.write(
        "d",
        &[Write::Put {
            record: r.clone(),
            expected: None,
        }],
    )
    .await
    .unwrap();
    drop(s);
    let s = SqliteStore::open(dir2.path().join(DB_FILE)).unwrap();
    assert!(s.get("d", &r.key()).await.unwrap().is_some());
}

/// A scan copies the rows out and decodes them in chunks on every core: many records, stored
/// in an order that is not key order, come back complete, in key order, with their versions.
#[tokio::test]
async fn a_scan_of_many_records_decodes_them_in_key_order() {
    let n = 10_000;
    let dir = tmp();
    let s = SqliteStore::open(dir.path().join(DB_FILE)).unwrap();
    let writes: Vec<Write> = (0..n)
        .rev()
        .map(|i| Write::Put {
            record: student(&format!("p{i:05}"), "s1", &format!("sis{i}")),
            expected: None,
        })
        .collect();
    s.write("d", &writes).await.unwrap();
    let mut changed = student("p04321", "s2", "sis4321");
    changed.set_version(1);
    let again = [Write::Put {
        record: changed,
        expected: Some(1),
    }];
    assert_eq!(
        s.write("d", &again).await.unwrap(),
        vec![WriteOutcome::Written]
    );
    let all = s.scan("d").await.unwrap();
    assert_eq!(all.len(), n);
    let keys: Vec<String> = all.iter().map(|r| r.key().0).collect();
    let expected: Vec<String> = (0..n).map(|i| format!("person#p{i:05}")).collect();
    assert_eq!(keys, expected, "every record, in key order");
    for r in &all {
        let want = if r.key().0 == "person#p04321" { 2 } else { 1 };
        assert_eq!(r.version(), want, "{}", r.key().0);
    }
    let Record::Person(p) = &all[4321] else {
        panic!("a person")
    };
    assert_eq!(p.school_ids, ["s2".to_string()].into(), "the stored body");
}

/// A first sync writes every record in large batches; one `write` call is one transaction.
/// `ROSTERSYNC_BULK` sets the record count (default 20,000) for a manual benchmark.
#[tokio::test]
async fn bulk_first_sync_is_fast() {
    let n: usize = std::env::var("ROSTERSYNC_BULK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let dir = tmp();
    let s = SqliteStore::open(dir.path().join(DB_FILE)).unwrap();
    let start = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(5_000) {
        let writes: Vec<Write> = chunk
            .iter()
            .map(|i| Write::Put {
                record: student(
                    &format!("p{i:07}"),
                    &format!("s{}", i % 50),
                    &format!("sis{i}"),
                ),
                expected: None,
            })
            .collect();
        let out = s.write("big", &writes).await.unwrap();
        assert!(out.iter().all(|o| *o == WriteOutcome::Written));
    }
    let took = start.elapsed();
    eprintln!(
        "wrote {n} records in {took:?} ({:.0}/s)",
        n as f64 / took.as_secs_f64()
    );
    assert_eq!(s.writes_count(), n as u64);
    let page = s
        .query(
            "big",
            &domain::directory::IndexKey::in_school("s7"),
            None,
            1000,
        )
        .await
        .unwrap();
    assert_eq!(page.len(), n.div_ceil(50).min(1000));
}

#[tokio::test]
async fn change_lists_older_than_the_ttl_are_deleted_when_a_run_stores_its_own() {
    use domain::EntityKind;
    use domain::district::Run;
    use domain::plan::{Action, Change};
    use domain::report::RunStatus;
    use store::{ChangeFilter, Runs};

    let dir = tmp();
    let db = SqliteStore::open_dir(dir.path())
        .unwrap()
        .with_changes_ttl_days(30);
    let day = chrono::Duration::days(1);
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-28T02:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let run = |id: &str, started| Run {
        district: "d1".into(),
        run_id: id.into(),
        status: RunStatus::Planning,
        reason: None,
        dry_run: false,
        source: None,
        started_at: started,
        finished_at: None,
        schools_total: 0,
        schools_done: 0,
        version: 0,
    };
    let change = |key: &str| Change {
        entity: EntityKind::Students,
        action: Action::Updated,
        key: RecordKey(key.into()),
        school_id: Some("s1".into()),
        source_id: None,
        fields: vec!["last_name".into()],
        expected_version: None,
        after: None,
        note: None,
    };
    let all = ChangeFilter::default();
    for (id, started) in [("old", now - day * 31), ("recent", now - day * 29)] {
        db.create_run(&run(id, started)).await.unwrap();
        db.put_changes("d1", id, "s1", &[change(id)]).await.unwrap();
    }
    // Another district's old run is not this district's business.
    let mut other = run("other-old", now - day * 400);
    other.district = "d2".into();
    db.create_run(&other).await.unwrap();
    db.put_changes("d2", "other-old", "s1", &[change("x")])
        .await
        .unwrap();

    db.create_run(&run("today", now)).await.unwrap();
    db.put_changes("d1", "today", "s1", &[change("today")])
        .await
        .unwrap();
    let listed = |d: &'static str, r: &'static str| {
        let db = db.clone();
        let all = all.clone();
        async move { db.list_changes(d, r, &all, None, 10).await.unwrap().0.len() }
    };
    assert_eq!(listed("d1", "old").await, 0, "31 days before: deleted");
    assert_eq!(listed("d1", "recent").await, 1, "29 days before: kept");
    assert_eq!(listed("d1", "today").await, 1);
    assert_eq!(
        listed("d2", "other-old").await,
        1,
        "other districts untouched"
    );
    assert!(
        db.get_run("d1", "old").await.unwrap().is_some(),
        "the run itself is kept"
    );
}

fn a_change(i: usize, action: domain::plan::Action) -> domain::plan::Change {
    domain::plan::Change {
        entity: if i.is_multiple_of(3) {
            domain::EntityKind::Enrollments
        } else {
            domain::EntityKind::Students
        },
        action,
        key: RecordKey(format!("person#{i:06}")),
        school_id: Some(format!("sch-{}", i / 1000)),
        source_id: Some(format!("src-{i}")),
        fields: if i.is_multiple_of(7) {
            vec!["email".into()]
        } else {
            vec![]
        },
        expected_version: Some(i as u64),
        after: None,
        note: i.is_multiple_of(11).then(|| "note".to_string()),
    }
}

fn chunk_rows(dir: &std::path::Path) -> i64 {
    rusqlite::Connection::open(dir.join(DB_FILE))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM change_chunks", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn change_lists_are_stored_in_chunks_and_page_across_their_edges() {
    use domain::plan::Action;
    use store::{ChangeFilter, Runs};
    let dir = tmp();
    let db = SqliteStore::open_dir(dir.path()).unwrap();
    // Runs of one (entity, action, school_id) long enough to need several 64 KB chunks.
    let changes: Vec<_> = (0..6000)
        .map(|i| {
            a_change(
                i / 3 * 3,
                if i < 4000 {
                    Action::Unchanged
                } else {
                    Action::Created
                },
            )
        })
        .collect();
    db.put_changes("d", "r", "s", &changes).await.unwrap();
    let rows = chunk_rows(dir.path());
    assert!(
        (6..=20).contains(&rows),
        "6,000 changes in 6 groups: {rows} chunk rows"
    );
    let all = ChangeFilter {
        include_unchanged: true,
        ..ChangeFilter::default()
    };
    for page in [1, 7, 499, 5000] {
        let mut got = Vec::new();
        let mut cursor = None;
        loop {
            let (items, next) = db
                .list_changes("d", "r", &all, cursor.as_deref(), page)
                .await
                .unwrap();
            assert!(items.len() <= page);
            got.extend(items);
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(got, changes, "pages of {page}");
    }
    let created = ChangeFilter {
        action: Some(Action::Created),
        school: Some("sch-4".into()),
        ..ChangeFilter::default()
    };
    let (items, next) = db
        .list_changes("d", "r", &created, None, 10_000)
        .await
        .unwrap();
    assert_eq!(next, None);
    assert_eq!(
        items,
        changes
            .iter()
            .filter(|c| c.action == Action::Created && c.school_id.as_deref() == Some("sch-4"))
            .cloned()
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_version_1_file_keeps_its_change_lists() {
    use domain::plan::Action;
    use store::{ChangeFilter, Runs};
    let dir = tmp();
    let path = dir.path().join(DB_FILE);
    let changes: Vec<_> = (0..50)
        .map(|i| {
            a_change(
                i,
                if i % 2 == 0 {
                    Action::Unchanged
                } else {
                    Action::Updated
                },
            )
        })
        .collect();
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(crate::db::SCHEMA_V1).unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
        for (school, list) in [("a", &changes[..20]), ("b", &changes[20..])] {
            for (pos, ch) in list.iter().enumerate() {
                c.execute(
                    "INSERT INTO changes (district, run_id, school, pos, entity, action, school_id, body)
                     VALUES ('d', 'r', ?1, ?2, ?3, ?4, ?5, ?6)",
                    rusqlite::params![
                        school,
                        pos as i64,
                        ch.entity.as_str(),
                        ch.action.as_str(),
                        ch.school_id,
                        serde_json::to_string(ch).unwrap()
                    ],
                )
                .unwrap();
            }
        }
    }
    let db = SqliteStore::open(&path).unwrap();
    let all = ChangeFilter {
        include_unchanged: true,
        ..ChangeFilter::default()
    };
    let (items, next) = db.list_changes("d", "r", &all, None, 100).await.unwrap();
    assert_eq!((items, next), (changes.clone(), None));
    // A cursor from before the upgrade ("position:school") still resumes in the same place.
    let (items, _) = db
        .list_changes("d", "r", &all, Some("4:b"), 3)
        .await
        .unwrap();
    assert_eq!(items, changes[25..28].to_vec());
    let v: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
}

fn enrollment(classroom: &str, person: &str) -> Record {
    Record::Enrollment(domain::directory::Enrollment {
        classroom_id: classroom.into(),
        person_id: person.into(),
        role: domain::directory::MemberRole::Student,
        primary: false,
        managed: true,
        version: 0,
    })
}

async fn keys_of_query(s: &SqliteStore, index: &str, page: usize) -> Vec<String> {
    let index = domain::directory::IndexKey(index.into());
    let mut out = Vec::new();
    let mut after: Option<RecordKey> = None;
    loop {
        let got = s.query("d", &index, after.as_ref(), page).await.unwrap();
        let done = got.len() < page;
        out.extend(got.iter().map(|r| r.key().0));
        after = got.last().map(Record::key);
        if done {
            return out;
        }
    }
}

#[tokio::test]
async fn no_index_rows_for_keys_the_record_key_answers_even_when_ids_contain_the_separator() {
    let dir = tmp();
    let s = SqliteStore::open(dir.path().join(DB_FILE)).unwrap();
    // Classroom "a"'s key range "enrollment#a#" also holds classroom "a#b"'s enrollments.
    let records = conformance::separator_records();
    let writes: Vec<Write> = records
        .iter()
        .map(|r| Write::Put {
            record: r.clone(),
            expected: None,
        })
        .collect();
    s.write("d", &writes).await.unwrap();
    // The answers themselves are the conformance suite's (`ids_containing_the_separator`);
    // here: SQLite stores no `idx` row for the keys the record keys answer.
    for r in &records {
        assert_eq!(
            index_rows(&dir.path().join(DB_FILE), "d", &r.key()),
            keys_of(r)
        );
    }
}

#[tokio::test]
async fn an_earlier_file_moves_its_records_and_drops_the_index_rows_keys_answer() {
    let dir = tmp();
    let path = dir.path().join(DB_FILE);
    let records = [
        enrollment("c1", "p1"),
        enrollment("c1", "p2"),
        enrollment("c2", "p1"),
        student("p1", "s1", "sis-1"),
    ];
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(crate::db::SCHEMA_V1).unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
        for (v, r) in records.iter().enumerate() {
            let mut r = r.clone();
            r.set_version(v as u64 + 1);
            c.execute(
                "INSERT INTO records (district, key, kind, version, body) VALUES ('d', ?1, ?2, ?3, ?4)",
                rusqlite::params![r.key().0, r.kind_name(), v as i64 + 1, serde_json::to_string(&r).unwrap()],
            )
            .unwrap();
            for ik in r.index_keys() {
                c.execute(
                    "INSERT INTO idx (district, ikey, key) VALUES ('d', ?1, ?2)",
                    rusqlite::params![ik.0, r.key().0],
                )
                .unwrap();
            }
        }
    }
    let s = SqliteStore::open(&path).unwrap();
    for (v, r) in records.iter().enumerate() {
        let mut want = r.clone();
        want.set_version(v as u64 + 1);
        assert_eq!(s.get("d", &r.key()).await.unwrap(), Some(want));
        assert_eq!(index_rows(&path, "d", &r.key()), keys_of(r));
    }
    assert_eq!(
        keys_of_query(&s, "classroom#c1", 1).await,
        ["enrollment#c1#p1", "enrollment#c1#p2"]
    );
    assert_eq!(keys_of_query(&s, "person#p1", 10).await.len(), 2);
    assert_eq!(s.scan("d").await.unwrap().len(), records.len());
    // Writes after the upgrade: an update keeps one row, with its version checked.
    let mut moved = records[3].clone();
    moved.set_version(4);
    assert_eq!(
        s.write(
            "d",
            &[Write::Put {
                record: moved,
                expected: Some(4)
            }]
        )
        .await
        .unwrap(),
        vec![WriteOutcome::Written]
    );
    assert_eq!(s.count("d").await.unwrap(), Some(4));
}
