//! The conformance suite: one async function per port that checks every documented semantic
//! against an adapter, and panics with a message naming the broken rule. Every adapter's tests
//! (in-memory, local, AWS against moto / DynamoDB Local) call these.
//!
//! The object store, directory and runs suites use keys, districts and run ids unique to each
//! call, so several calls (and other tests) may share one backend. The queue suite needs a
//! queue of its own: it cannot tell its messages from another test's.
//!
//! ```text
//! #[tokio::test]
//! async fn conforms() {
//!     store::conformance::object_store(&my_object_store).await;
//!     store::conformance::directory(&my_directory).await;
//!     store::conformance::runs(&my_runs).await;
//!     let clock = Arc::new(store::memory::ManualClock::default());
//!     let q = MyQueue::with_clock(3, clock.clone());
//!     store::conformance::queue(&q, 3, Duration::from_secs(30), |d| {
//!         clock.advance(d);
//!         std::future::ready(())
//!     })
//!     .await;
//! }
//! ```
//!
//! This is test support: failing is its job, so it panics (`assert!`, and `expect` on adapter
//! errors) with messages.

use crate::{
    ChangeFilter, Delivery, Directory, ObjectStore, Queue, Runs, StoreError, Write, WriteOutcome,
};
use chrono::{DateTime, TimeZone, Utc};
use domain::EntityKind;
use domain::directory::{
    Classroom, Enrollment, IndexKey, MemberRole, Person, PersonKind, Record, RecordKey, School,
};
use domain::district::{District, Run};
use domain::plan::{Action, Change};
use domain::report::{Report, RunStatus, SchoolReport, Totals};
use domain::settings::SyncSettings;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A token unique to this call of a suite (across processes too): time, pid, counter.
fn unique(tag: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{tag}-{nanos:x}-{:x}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

#[track_caller]
fn ok<T>(r: crate::Result<T>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: unexpected error: {e}"),
    }
}

// =============================================================================================
// Object store

/// Checks [`ObjectStore`]: not-found, overwrite, `put_if_absent` conflicts, prefix listing
/// order and sizes, deletes (idempotent), empty objects, and that concurrent readers never see
/// a partial object.
pub async fn object_store(s: &dyn ObjectStore) {
    let p = format!("conformance/{}/", unique("objects"));
    let k = |name: &str| format!("{p}{name}");

    // Not found.
    match s.get(&k("missing")).await {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("get of an absent key must be NotFound, got {other:?}"),
    }
    assert!(
        ok(s.list(&p).await, "list of an empty prefix").is_empty(),
        "list of a prefix nothing was written under must be empty"
    );

    // Put, get, overwrite.
    ok(s.put(&k("a.json"), b"one".to_vec()).await, "put");
    assert_eq!(
        ok(s.get(&k("a.json")).await, "get"),
        b"one",
        "get returns what put stored"
    );
    ok(
        s.put(&k("a.json"), b"two!".to_vec()).await,
        "overwriting put",
    );
    assert_eq!(
        ok(s.get(&k("a.json")).await, "get"),
        b"two!",
        "put replaces the object"
    );

    // put_if_absent.
    ok(
        s.put_if_absent(&k("once"), b"first".to_vec()).await,
        "put_if_absent of a new key",
    );
    match s.put_if_absent(&k("once"), b"second".to_vec()).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("put_if_absent of an existing key must be Conflict, got {other:?}"),
    }
    assert_eq!(
        ok(s.get(&k("once")).await, "get"),
        b"first",
        "a losing put_if_absent must not change the object"
    );

    // Empty objects and nested keys.
    ok(
        s.put(&k("empty"), Vec::new()).await,
        "put of an empty object",
    );
    assert!(ok(s.get(&k("empty")).await, "get of an empty object").is_empty());
    let deep = k("runs/r1/staged/schools/s-01.jsonl");
    ok(s.put(&deep, vec![7u8; 1000]).await, "put of a nested key");
    assert_eq!(
        ok(s.get(&deep).await, "get of a nested key"),
        vec![7u8; 1000]
    );

    // Listing: every key under the prefix (a string prefix, not a folder), sorted, with sizes.
    for (name, size) in [("d/2", 2), ("d/1", 1), ("dx", 3), ("c", 4), ("d/10/x", 5)] {
        ok(s.put(&k(name), vec![b'x'; size]).await, "put");
    }
    let listed: Vec<(String, u64)> = ok(s.list(&p).await, "list")
        .into_iter()
        .map(|m| (m.key, m.size))
        .collect();
    let mut want: Vec<(String, u64)> = [
        ("a.json", 4),
        ("once", 5),
        ("empty", 0),
        ("runs/r1/staged/schools/s-01.jsonl", 1000),
        ("d/2", 2),
        ("d/1", 1),
        ("dx", 3),
        ("c", 4),
        ("d/10/x", 5),
    ]
    .into_iter()
    .map(|(n, sz)| (k(n), sz))
    .collect();
    want.sort();
    assert_eq!(
        listed, want,
        "list returns every key under the prefix, sorted, with sizes"
    );
    let under_d: Vec<String> = ok(s.list(&k("d/")).await, "list")
        .into_iter()
        .map(|m| m.key)
        .collect();
    assert_eq!(
        under_d,
        vec![k("d/1"), k("d/10/x"), k("d/2")],
        "list(prefix) includes nested keys and excludes siblings that only share a stem"
    );
    let stem: Vec<String> = ok(s.list(&k("d")).await, "list")
        .into_iter()
        .map(|m| m.key)
        .collect();
    assert_eq!(
        stem,
        vec![k("d/1"), k("d/10/x"), k("d/2"), k("dx")],
        "list matches a string prefix, not only whole folders"
    );

    // Delete.
    ok(s.delete(&k("d/1")).await, "delete");
    match s.get(&k("d/1")).await {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("get of a deleted key must be NotFound, got {other:?}"),
    }
    ok(s.delete(&k("d/1")).await, "deleting an absent key succeeds");
    ok(
        s.delete(&k("never-written")).await,
        "deleting a never-written key succeeds",
    );
    assert!(
        !ok(s.list(&p).await, "list")
            .iter()
            .any(|m| m.key == k("d/1")),
        "a deleted key is not listed"
    );
    ok(
        s.put_if_absent(&k("d/1"), b"again".to_vec()).await,
        "put_if_absent after delete",
    );
    assert_eq!(ok(s.get(&k("d/1")).await, "get"), b"again");

    // Atomic overwrite: a concurrent reader sees the old or the new object, never a mix.
    let big = k("big.bin");
    let len = 256 * 1024;
    ok(s.put(&big, vec![b'a'; len]).await, "put");
    let writer = async {
        for i in 0..20u8 {
            let fill = if i % 2 == 0 { b'b' } else { b'a' };
            ok(s.put(&big, vec![fill; len]).await, "overwriting put");
            tokio::task::yield_now().await;
        }
    };
    let reader = async {
        for _ in 0..20 {
            let body = ok(s.get(&big).await, "get during overwrites");
            assert_eq!(body.len(), len, "a reader saw a partial object");
            assert!(
                body.iter().all(|b| *b == body[0]),
                "a reader saw a mix of two objects"
            );
            tokio::task::yield_now().await;
        }
    };
    tokio::join!(writer, reader);

    // Clean up (the suite may run against a shared bucket).
    for m in ok(s.list(&p).await, "list") {
        ok(s.delete(&m.key).await, "delete");
    }
    assert!(
        ok(s.list(&p).await, "list").is_empty(),
        "everything deleted"
    );
}

// =============================================================================================
// Queue

/// Receives until `want` deliveries have arrived or `attempts` receives came back empty-handed
/// (SQS may return fewer messages than are visible).
async fn receive_n(q: &dyn Queue, want: usize, visibility: Duration) -> Vec<Delivery> {
    let mut got: Vec<Delivery> = Vec::new();
    let mut empty = 0;
    while got.len() < want && empty < 5 {
        let batch = ok(q.receive(want - got.len(), visibility).await, "receive");
        assert!(
            batch.len() <= want - got.len(),
            "receive(max) returned more than max messages"
        );
        if batch.is_empty() {
            empty += 1;
        }
        got.extend(batch);
    }
    got
}

#[track_caller]
fn own(token: &str, deliveries: &[Delivery]) {
    for d in deliveries {
        assert!(
            d.body.starts_with(token),
            "the queue suite needs a queue of its own; got a foreign message {:?}",
            d.body
        );
    }
}

/// Checks [`Queue`]: send/receive, invisibility while in flight, at-least-once redelivery after
/// the visibility timeout (with a new receipt and a higher `receive_count`), ack removes, release
/// redelivers at once, `receive(max)` bounds, and dead-lettering after `max_receives` deliveries.
///
/// `q` must be a queue used by nothing else, configured with `max_receives` (at least 2), and
/// `visibility` is the timeout the suite receives with. `advance(d)` must make `d` of the
/// queue's time pass: advance a manual clock (`store::memory::ManualClock`) for local adapters,
/// or sleep for real ones (then pass a `visibility` of a second or two). The suite only ever
/// asks to advance by more than `visibility`.
pub async fn queue<F, Fut>(q: &dyn Queue, max_receives: u32, visibility: Duration, advance: F)
where
    F: Fn(Duration) -> Fut,
    Fut: Future<Output = ()>,
{
    assert!(max_receives >= 2, "the queue suite needs max_receives >= 2");
    let token = unique("queue");
    let past_visibility = visibility + visibility / 2 + Duration::from_millis(200);
    let body = |n: u32| format!("{token}-{n}");

    // Send and receive.
    let mut ids = BTreeSet::new();
    for n in 1..=3 {
        let id = ok(q.send(&body(n)).await, "send");
        assert!(!id.is_empty(), "send returns a message id");
        assert!(ids.insert(id), "message ids are unique");
    }
    let first = receive_n(q, 3, visibility).await;
    own(&token, &first);
    let bodies: BTreeSet<&str> = first.iter().map(|d| d.body.as_str()).collect();
    assert_eq!(
        bodies,
        [body(1), body(2), body(3)]
            .iter()
            .map(String::as_str)
            .collect(),
        "receive delivers every sent message"
    );
    for d in &first {
        assert_eq!(
            d.receive_count, 1,
            "receive_count is 1 on the first delivery"
        );
        assert!(
            ids.contains(&d.message_id),
            "a delivery carries its message id"
        );
    }
    let receipts: BTreeSet<&str> = first.iter().map(|d| d.receipt.as_str()).collect();
    assert_eq!(receipts.len(), 3, "receipts are unique per delivery");

    // In flight: invisible.
    let none = ok(q.receive(10, visibility).await, "receive");
    own(&token, &none);
    assert!(
        none.is_empty(),
        "received messages are invisible until their visibility timeout: got {none:?}"
    );

    let by_body = |ds: &[Delivery], n: u32| -> Delivery {
        let b = body(n);
        match ds.iter().find(|d| d.body == b) {
            Some(d) => d.clone(),
            None => panic!("message {b} was not delivered; got {ds:?}"),
        }
    };
    let (d1, d2, d3) = (by_body(&first, 1), by_body(&first, 2), by_body(&first, 3));

    // Ack removes; release redelivers at once.
    ok(q.ack(&d1.receipt).await, "ack");
    ok(q.release(&d2.receipt).await, "release");
    let again = receive_n(q, 1, visibility).await;
    own(&token, &again);
    assert_eq!(
        again.len(),
        1,
        "a released message is delivered again at once"
    );
    assert_eq!(
        again[0].body,
        body(2),
        "only the released message is visible"
    );
    assert_eq!(
        again[0].message_id, d2.message_id,
        "a redelivery keeps its message id"
    );
    assert_eq!(again[0].receive_count, 2, "a redelivery counts the receive");
    assert_ne!(
        again[0].receipt, d2.receipt,
        "each delivery has its own receipt"
    );
    ok(q.ack(&again[0].receipt).await, "ack");
    ok(q.ack(&again[0].receipt).await, "acking twice succeeds");

    // At-least-once: an unacked message comes back once its visibility expires.
    advance(past_visibility).await;
    let redelivered = receive_n(q, 2, visibility).await;
    own(&token, &redelivered);
    assert_eq!(
        redelivered.len(),
        1,
        "after the visibility timeout exactly the unacked message returns (acked ones never): \
         {redelivered:?}"
    );
    assert_eq!(redelivered[0].body, body(3));
    assert_eq!(redelivered[0].message_id, d3.message_id);
    assert_eq!(redelivered[0].receive_count, 2);
    assert_ne!(redelivered[0].receipt, d3.receipt);
    ok(q.ack(&redelivered[0].receipt).await, "ack");

    // receive(max) bounds the batch.
    for n in 10..15 {
        ok(q.send(&body(n)).await, "send");
    }
    let one = ok(q.receive(1, visibility).await, "receive");
    own(&token, &one);
    assert!(one.len() <= 1, "receive(1) returned {} messages", one.len());
    let rest = receive_n(q, 5 - one.len(), visibility).await;
    own(&token, &rest);
    let all: BTreeSet<String> = one.iter().chain(&rest).map(|d| d.body.clone()).collect();
    assert_eq!(
        all,
        (10..15).map(body).collect(),
        "every message delivered once"
    );
    for d in one.iter().chain(&rest) {
        ok(q.ack(&d.receipt).await, "ack");
    }

    // Dead letters: after max_receives deliveries the message is not delivered again.
    let doomed = body(99);
    ok(q.send(&doomed).await, "send");
    for n in 1..=max_receives {
        let ds = receive_n(q, 1, visibility).await;
        own(&token, &ds);
        assert_eq!(
            ds.len(),
            1,
            "delivery {n} of {max_receives} of a failing message"
        );
        assert_eq!(ds[0].body, doomed);
        assert_eq!(ds[0].receive_count, n, "receive_count counts deliveries");
        if n % 2 == 0 {
            advance(past_visibility).await;
        } else {
            ok(q.release(&ds[0].receipt).await, "release");
        }
    }
    let mut dead = false;
    for _ in 0..5 {
        let ds = ok(q.receive(10, visibility).await, "receive");
        own(&token, &ds);
        assert!(
            ds.is_empty(),
            "a message received max_receives ({max_receives}) times is not delivered again: \
             {ds:?}"
        );
        if ok(q.dead_letters().await, "dead_letters").contains(&doomed) {
            dead = true;
            break;
        }
    }
    assert!(
        dead,
        "after max_receives deliveries the body is in the dead-letter queue"
    );
    assert!(
        !ok(q.dead_letters().await, "dead_letters")
            .iter()
            .any(|b| b.starts_with(&token) && *b != doomed),
        "only the failing message is dead-lettered"
    );

    // Nothing of ours is left.
    advance(past_visibility).await;
    let left = ok(q.receive(10, visibility).await, "receive");
    own(&token, &left);
    assert!(left.is_empty(), "acked messages never return: {left:?}");
}

// =============================================================================================
// Directory

fn person(id: &str, kind: PersonKind) -> Person {
    Person {
        id: id.to_string(),
        kind,
        first_name: "Ada".into(),
        middle_name: None,
        last_name: "Lovelace".into(),
        email: None,
        sms: None,
        phone: None,
        language: None,
        grade: None,
        dob: None,
        sis_id: None,
        student_number: None,
        state_id: None,
        staff_roles: Vec::new(),
        title: None,
        school_ids: BTreeSet::new(),
        external_ids: BTreeSet::new(),
        active: false,
        same_person_as: None,
        managed: None,
        archived: None,
        version: 0,
    }
}

pub(crate) fn student(id: &str, school: &str, ext: &str) -> Record {
    let mut p = person(id, PersonKind::Student);
    p.school_ids.insert(school.to_string());
    p.external_ids.insert(ext.to_string());
    p.sis_id = Some(format!("sis-{id}"));
    Record::Person(Box::new(p))
}

pub(crate) fn put(record: &Record, expected: Option<u64>) -> Write {
    Write::Put {
        record: record.clone(),
        expected,
    }
}

pub(crate) async fn write1(d: &dyn Directory, district: &str, w: Write) -> WriteOutcome {
    let out = ok(d.write(district, std::slice::from_ref(&w)).await, "write");
    assert_eq!(out.len(), 1, "write returns one outcome per write");
    out[0]
}

async fn get(d: &dyn Directory, district: &str, key: &RecordKey) -> Option<Record> {
    ok(d.get(district, key).await, "get")
}

/// Every record carrying `index`, by pages of `page` (checking each page's bounds and order).
async fn query_all(
    d: &dyn Directory,
    district: &str,
    index: &IndexKey,
    page: usize,
) -> Vec<Record> {
    let mut out: Vec<Record> = Vec::new();
    let mut after: Option<RecordKey> = None;
    for _ in 0..10_000 {
        let batch = ok(
            d.query(district, index, after.as_ref(), page).await,
            "query",
        );
        assert!(
            batch.len() <= page,
            "query returned more than limit records"
        );
        for r in &batch {
            assert!(
                r.index_keys().contains(index),
                "query({}) returned {} which does not carry that index key",
                index.as_str(),
                r.key().as_str()
            );
            if let Some(a) = &after {
                assert!(
                    r.key() > *a,
                    "query returns keys after `after`, in key order"
                );
            }
            after = Some(r.key());
        }
        let done = batch.len() < page;
        out.extend(batch);
        if done {
            return out;
        }
    }
    panic!("query paging did not end");
}

fn keys(records: &[Record]) -> Vec<RecordKey> {
    records.iter().map(Record::key).collect()
}

fn with_version(r: &Record, v: u64) -> Record {
    let mut r = r.clone();
    r.set_version(v);
    r
}

/// Checks [`Directory`]: conditional puts and deletes with `Written` / `AlreadyApplied` /
/// `Conflict`, stored versions, per-write (not per-batch) atomicity, get/get_many, index queries
/// with paging, index maintenance when a record changes or is deleted, and district isolation.
pub async fn directory(d: &dyn Directory) {
    let a = unique("district-a");
    let b = unique("district-b");
    let school = unique("school");
    let other_school = unique("school");

    // Absent.
    let p1 = student("p1", &school, "ext-p1");
    assert_eq!(
        get(d, &a, &p1.key()).await,
        None,
        "get of an absent record is None"
    );
    assert!(ok(d.get_many(&a, &[p1.key()]).await, "get_many").is_empty());
    assert!(
        ok(
            d.query(&a, &IndexKey::in_school(&school), None, 10).await,
            "query"
        )
        .is_empty(),
        "query of an empty district is empty"
    );

    // Create: expected None; the stored version is 1 whatever the record says.
    let mut given = p1.clone();
    given.set_version(42);
    assert_eq!(
        write1(d, &a, put(&given, None)).await,
        WriteOutcome::Written,
        "create"
    );
    assert_eq!(
        get(d, &a, &p1.key()).await,
        Some(with_version(&p1, 1)),
        "a created record is stored as given, with version 1"
    );
    assert_eq!(
        write1(d, &a, put(&p1, None)).await,
        WriteOutcome::AlreadyApplied,
        "re-creating a record with the same content is AlreadyApplied"
    );
    let Record::Person(mut changed) = p1.clone() else {
        unreachable!()
    };
    changed.first_name = "Augusta".into();
    let p1b = Record::Person(changed);
    assert_eq!(
        write1(d, &a, put(&p1b, None)).await,
        WriteOutcome::Conflict,
        "creating over a different record is Conflict"
    );
    assert_eq!(get(d, &a, &p1.key()).await.map(|r| r.version()), Some(1));

    // Update: expected Some(v).
    assert_eq!(
        write1(d, &a, put(&p1b, Some(1))).await,
        WriteOutcome::Written,
        "update"
    );
    assert_eq!(
        get(d, &a, &p1.key()).await,
        Some(with_version(&p1b, 2)),
        "an update stores version expected + 1"
    );
    assert_eq!(
        write1(d, &a, put(&p1b, Some(1))).await,
        WriteOutcome::AlreadyApplied,
        "a redelivered update (stale version, same content) is AlreadyApplied"
    );
    assert_eq!(
        write1(d, &a, put(&p1, Some(1))).await,
        WriteOutcome::Conflict,
        "a stale update with different content is Conflict"
    );
    assert_eq!(
        write1(d, &a, put(&p1, Some(7))).await,
        WriteOutcome::Conflict,
        "an update expecting a future version is Conflict"
    );
    let ghost = student("ghost", &school, "ext-ghost");
    assert_eq!(
        write1(d, &a, put(&ghost, Some(1))).await,
        WriteOutcome::Conflict,
        "an update of an absent record is Conflict"
    );
    assert_eq!(get(d, &a, &ghost.key()).await, None);
    assert_eq!(
        write1(d, &a, put(&p1b, Some(2))).await,
        WriteOutcome::Written,
        "an update with the current version is written even when the content is equal"
    );
    assert_eq!(get(d, &a, &p1.key()).await.map(|r| r.version()), Some(3));

    // Delete.
    assert_eq!(
        write1(
            d,
            &a,
            Write::Delete {
                key: p1.key(),
                expected: 2
            }
        )
        .await,
        WriteOutcome::Conflict,
        "a delete with a stale version is Conflict"
    );
    assert!(
        get(d, &a, &p1.key()).await.is_some(),
        "a conflicting delete deletes nothing"
    );
    assert_eq!(
        write1(
            d,
            &a,
            Write::Delete {
                key: p1.key(),
                expected: 3
            }
        )
        .await,
        WriteOutcome::Written,
        "delete"
    );
    assert_eq!(
        get(d, &a, &p1.key()).await,
        None,
        "a deleted record is gone"
    );
    assert_eq!(
        write1(
            d,
            &a,
            Write::Delete {
                key: p1.key(),
                expected: 3
            }
        )
        .await,
        WriteOutcome::AlreadyApplied,
        "deleting an absent record is AlreadyApplied"
    );
    assert_eq!(
        write1(d, &a, put(&p1, None)).await,
        WriteOutcome::Written,
        "a deleted record can be created again"
    );
    assert_eq!(get(d, &a, &p1.key()).await.map(|r| r.version()), Some(1));

    // A batch: one outcome per write, in order; each write stands on its own.
    let p2 = student("p2", &school, "ext-p2");
    let p3 = student("p3", &school, "ext-p3");
    let out = ok(
        d.write(
            &a,
            &[
                put(&p2, None),
                put(&p1b, None), // p1 exists with other content
                put(&p3, None),
                put(&p2, None), // the same batch's earlier write already made it
                Write::Delete {
                    key: RecordKey::person("nobody"),
                    expected: 1,
                },
            ],
        )
        .await,
        "write batch",
    );
    assert_eq!(
        out,
        vec![
            WriteOutcome::Written,
            WriteOutcome::Conflict,
            WriteOutcome::Written,
            WriteOutcome::AlreadyApplied,
            WriteOutcome::AlreadyApplied,
        ],
        "a batch returns per-write outcomes in order; a conflict does not stop the others"
    );
    assert!(
        get(d, &a, &p3.key()).await.is_some(),
        "writes after a conflict are applied"
    );

    // get_many: found records only.
    let mut many = ok(
        d.get_many(
            &a,
            &[p3.key(), RecordKey::person("nobody"), p1.key(), p2.key()],
        )
        .await,
        "get_many",
    );
    many.sort_by_key(Record::key);
    assert_eq!(
        many,
        vec![
            with_version(&p1, 1),
            with_version(&p2, 1),
            with_version(&p3, 1)
        ],
        "get_many returns the records that exist"
    );

    // Index queries, in key order, paged.
    let classroom = Record::from(Classroom {
        id: "c1".into(),
        school_id: school.clone(),
        name: "Room 1".into(),
        grade: None,
        section_ids: ["sec-1".to_string()].into(),
        managed: None,
        archived: None,
        version: 0,
    });
    let enrollment = Record::Enrollment(Enrollment {
        classroom_id: "c1".into(),
        person_id: "p2".into(),
        role: MemberRole::Student,
        primary: true,
        managed: true,
        version: 0,
    });
    let mut batch = vec![put(&classroom, None), put(&enrollment, None)];
    let mut extra = Vec::new();
    for i in 0..7 {
        let r = student(&format!("q{i}"), &school, &format!("ext-q{i}"));
        batch.push(put(&r, None));
        extra.push(r);
    }
    let out = ok(d.write(&a, &batch).await, "write batch");
    assert!(out.iter().all(|o| *o == WriteOutcome::Written), "{out:?}");

    let in_school = IndexKey::in_school(&school);
    let all = query_all(d, &a, &in_school, 100).await;
    let mut want: Vec<RecordKey> = [classroom.key(), p1.key(), p2.key(), p3.key()]
        .into_iter()
        .chain(extra.iter().map(Record::key))
        .collect();
    want.sort();
    assert_eq!(
        keys(&all),
        want,
        "query returns every record carrying the index, key order"
    );
    assert!(
        all.iter().all(|r| r.version() == 1),
        "query returns stored records with their versions"
    );
    for page in [1, 2, 3, 10] {
        assert_eq!(
            keys(&query_all(d, &a, &in_school, page).await),
            want,
            "paging by {page} returns the same records"
        );
    }
    let after_p2 = ok(d.query(&a, &in_school, Some(&p2.key()), 2).await, "query");
    let pos = want.iter().position(|k| *k == p2.key()).unwrap_or(0);
    assert_eq!(
        keys(&after_p2),
        want[pos + 1..pos + 3].to_vec(),
        "query(after, limit) starts strictly after `after`"
    );
    let after_gone = RecordKey(format!("{}0", p2.key().as_str()));
    assert_eq!(
        keys(&ok(
            d.query(&a, &in_school, Some(&after_gone), 1).await,
            "query"
        )),
        want[pos + 1..pos + 2].to_vec(),
        "`after` need not be a stored key"
    );
    assert_eq!(
        keys(&query_all(d, &a, &IndexKey::external("ext-q3"), 10).await),
        vec![RecordKey::person("q3")],
        "people are found by external id"
    );
    assert_eq!(
        keys(&query_all(d, &a, &IndexKey::sis("sis-q4"), 10).await),
        vec![RecordKey::person("q4")],
        "people are found by SIS id"
    );
    assert_eq!(
        keys(&query_all(d, &a, &IndexKey::external("sec-1"), 10).await),
        vec![classroom.key()],
        "classrooms are found by section id"
    );
    assert_eq!(
        keys(&query_all(d, &a, &IndexKey::of_person("p2"), 10).await),
        vec![enrollment.key()],
        "memberships are found by person"
    );
    assert_eq!(
        query_all(d, &a, &IndexKey::kind("student"), 4).await.len(),
        10,
        "records are found by kind"
    );
    assert!(
        query_all(d, &a, &IndexKey::in_school(&other_school), 10)
            .await
            .is_empty(),
        "an index key nothing carries finds nothing"
    );

    // Batched queries: the union of the keys' records, each once, in key order.
    let mut many_keys = vec![
        IndexKey::of_person("p2"),
        IndexKey::external("ext-q3"),
        IndexKey::sis("sis-q4"),
        in_school.clone(),
        IndexKey::in_school(&other_school),
        IndexKey::external("ext-q3"),
    ];
    let mut want_many = want.clone();
    want_many.push(enrollment.key());
    want_many.sort();
    assert_eq!(
        keys(&ok(d.query_many(&a, &many_keys).await, "query_many")),
        want_many,
        "query_many returns every record carrying any of the keys, once each, in key order"
    );
    assert!(
        ok(d.query_many(&a, &[]).await, "query_many").is_empty(),
        "query_many of no keys finds nothing"
    );
    assert!(
        ok(d.query_many(&b, &many_keys).await, "query_many").is_empty(),
        "query_many reads one district only"
    );
    // Many keys (adapters batch them): every student by external id, plus keys nothing carries.
    for i in 0..1200 {
        many_keys.push(IndexKey::external(&format!("ext-none-{i}")));
    }
    many_keys.extend((0..7).map(|i| IndexKey::external(&format!("ext-q{i}"))));
    assert_eq!(
        keys(&ok(d.query_many(&a, &many_keys).await, "query_many")),
        want_many,
        "query_many of many keys"
    );
    let got = ok(
        d.query_many(&a, &[IndexKey::external("ext-q5")]).await,
        "query_many",
    );
    assert_eq!(
        got.iter().map(Record::version).collect::<Vec<_>>(),
        vec![1],
        "query_many returns stored records with their versions"
    );

    // Index maintenance: a changed record is found by its new keys only.
    let Record::Person(mut moved) = extra[2].clone() else {
        unreachable!()
    };
    moved.school_ids = [other_school.clone()].into();
    moved.external_ids = ["ext-q2-new".to_string()].into();
    moved.sis_id = None;
    let moved = Record::Person(moved);
    assert_eq!(
        write1(d, &a, put(&moved, Some(1))).await,
        WriteOutcome::Written
    );
    assert!(
        !keys(&query_all(d, &a, &in_school, 3).await).contains(&moved.key()),
        "a record that left an index key is no longer found by it"
    );
    assert_eq!(
        keys(&query_all(d, &a, &IndexKey::in_school(&other_school), 3).await),
        vec![moved.key()],
        "a record is found by a key it gained"
    );
    assert!(
        query_all(d, &a, &IndexKey::external("ext-q2"), 3)
            .await
            .is_empty()
    );
    assert!(
        query_all(d, &a, &IndexKey::sis("sis-q2"), 3)
            .await
            .is_empty()
    );
    assert_eq!(
        query_all(d, &a, &IndexKey::external("ext-q2-new"), 3).await,
        vec![with_version(&moved, 2)]
    );
    // Losing a conditional write must leave the index alone.
    assert_eq!(
        write1(d, &a, put(&extra[2], Some(1))).await,
        WriteOutcome::Conflict
    );
    assert!(
        query_all(d, &a, &IndexKey::external("ext-q2"), 3)
            .await
            .is_empty()
    );

    // A deleted record leaves every index.
    assert_eq!(
        write1(
            d,
            &a,
            Write::Delete {
                key: extra[3].key(),
                expected: 1
            }
        )
        .await,
        WriteOutcome::Written
    );
    for ik in extra[3].index_keys() {
        assert!(
            !keys(&query_all(d, &a, &ik, 5).await).contains(&extra[3].key()),
            "a deleted record is still found by {}",
            ik.as_str()
        );
    }

    // District isolation.
    let p1_in_b = with_version(&p1b, 0);
    assert_eq!(
        get(d, &b, &p1.key()).await,
        None,
        "district B does not see A's records"
    );
    assert_eq!(
        write1(d, &b, put(&p1_in_b, None)).await,
        WriteOutcome::Written,
        "the same key is independent in another district"
    );
    assert_eq!(get(d, &a, &p1.key()).await, Some(with_version(&p1, 1)));
    assert_eq!(get(d, &b, &p1.key()).await, Some(with_version(&p1b, 1)));
    assert_eq!(
        keys(&query_all(d, &b, &in_school, 10).await),
        vec![p1.key()],
        "queries see only their district"
    );
    assert!(ok(d.get_many(&b, &[p2.key()]).await, "get_many").is_empty());
    assert_eq!(
        write1(
            d,
            &b,
            Write::Delete {
                key: p1.key(),
                expected: 1
            }
        )
        .await,
        WriteOutcome::Written
    );
    assert!(
        get(d, &a, &p1.key()).await.is_some(),
        "a delete in B leaves A alone"
    );

    // A large batch (adapters that chunk writes must keep per-write outcomes in order).
    let big_school = unique("big");
    let mut big = Vec::new();
    for i in 0..260 {
        let r = student(&format!("b{i:03}"), &big_school, &format!("ext-b{i}"));
        big.push(put(&r, if i == 130 { Some(5) } else { None }));
    }
    let out = ok(d.write(&a, &big).await, "large write batch");
    assert_eq!(out.len(), 260);
    for (i, o) in out.iter().enumerate() {
        let want = if i == 130 {
            WriteOutcome::Conflict
        } else {
            WriteOutcome::Written
        };
        assert_eq!(*o, want, "outcome {i} of a large batch");
    }
    assert_eq!(
        query_all(d, &a, &IndexKey::in_school(&big_school), 100)
            .await
            .len(),
        259
    );

    // School records too.
    let sch = Record::from(School {
        id: school.clone(),
        name: "Lincoln".into(),
        external_ids: ["src-school-1".to_string()].into(),
        school_number: Some("007".into()),
        nces_id: None,
        managed: None,
        archived: None,
        version: 0,
    });
    assert_eq!(write1(d, &a, put(&sch, None)).await, WriteOutcome::Written);
    assert_eq!(
        query_all(d, &a, &IndexKey::external("src-school-1"), 10).await,
        vec![with_version(&sch, 1)],
        "a school round-trips and is found by external id"
    );

    // Scan: every record of the district, each once, in key order; another district's apart.
    let all = ok(d.scan(&a).await, "scan");
    let mut keys_of_all = keys(&all);
    assert!(
        keys_of_all.windows(2).all(|w| w[0] < w[1]),
        "scan is in key order, each record once"
    );
    let mut expected: Vec<RecordKey> = Vec::new();
    for kind in Record::KIND_NAMES {
        expected.extend(keys(&query_all(d, &a, &IndexKey::kind(kind), 500).await));
    }
    expected.sort();
    assert_eq!(
        keys_of_all.len(),
        expected.len(),
        "scan returns every record"
    );
    keys_of_all.sort();
    assert_eq!(keys_of_all, expected, "scan returns every record");
    assert!(
        all.contains(&with_version(&sch, 1)),
        "scan returns stored versions"
    );
    assert!(
        ok(d.scan(&b).await, "scan")
            .iter()
            .all(|r| !all.contains(r)),
        "scan of another district does not see this one"
    );
    ids_containing_the_separator(d).await;
}

/// Enrollments of classrooms `a`, `a#b` and `ab`, and a student `a`: ids that contain or
/// share the key separator `#` (see `ids_containing_the_separator`).
pub fn separator_records() -> Vec<Record> {
    let enrollment = |classroom: &str, person: &str| {
        Record::Enrollment(Enrollment {
            classroom_id: classroom.into(),
            person_id: person.into(),
            role: MemberRole::Student,
            primary: false,
            managed: true,
            version: 0,
        })
    };
    vec![
        enrollment("a", "p1"),
        enrollment("a#b", "p2"),
        enrollment("a", "p3"),
        enrollment("a#b", "p1"),
        enrollment("ab", "p4"),
        student("a", "s1", "x-a"),
    ]
}

/// Ids may contain `#`, the separator of record and index keys: classroom `a`'s enrollments
/// (`enrollment#a#…`) share a key prefix with classroom `a#b`'s (`enrollment#a#b#…`), and
/// `classroom#a` must still answer only its own (the key-prefix reads of the SQLite adapter and
/// the snapshot).
async fn ids_containing_the_separator(d: &dyn Directory) {
    let a = unique("district-sep");
    let records = separator_records();
    let writes: Vec<Write> = records.iter().map(|r| put(r, None)).collect();
    let out = ok(d.write(&a, &writes).await, "write");
    assert!(out.iter().all(|o| *o == WriteOutcome::Written), "{out:?}");
    let names = |rs: Vec<Record>| -> Vec<String> { rs.iter().map(|r| r.key().0).collect() };
    for page in [1, 2, 10] {
        assert_eq!(
            names(query_all(d, &a, &IndexKey::of_classroom("a"), page).await),
            ["enrollment#a#p1", "enrollment#a#p3"],
            "classroom#a by pages of {page}"
        );
        assert_eq!(
            names(query_all(d, &a, &IndexKey::of_classroom("a#b"), page).await),
            ["enrollment#a#b#p1", "enrollment#a#b#p2"],
            "classroom#a#b by pages of {page}"
        );
        assert_eq!(
            query_all(d, &a, &IndexKey::kind("enrollment"), page)
                .await
                .len(),
            5
        );
    }
    let many = ok(
        d.query_many(
            &a,
            &[IndexKey::of_classroom("a"), IndexKey::of_person("p1")],
        )
        .await,
        "query_many",
    );
    let mut got = names(many);
    got.sort();
    assert_eq!(
        got,
        ["enrollment#a#b#p1", "enrollment#a#p1", "enrollment#a#p3"],
        "query_many over a key-prefix index and a stored one, each record once"
    );
}

// =============================================================================================
// Runs

fn at(secs: i64) -> DateTime<Utc> {
    match Utc.timestamp_opt(1_700_000_000 + secs, 123_000_000) {
        chrono::LocalResult::Single(t) => t,
        _ => panic!("bad test timestamp"),
    }
}

fn run(district: &str, run_id: &str, started: i64) -> Run {
    Run {
        district: district.to_string(),
        run_id: run_id.to_string(),
        status: RunStatus::Planning,
        reason: None,
        dry_run: false,
        source: Some(domain::SourceKind::OnerosterCsv),
        started_at: at(started),
        finished_at: None,
        schools_total: 3,
        schools_done: 0,
        version: 0,
    }
}

fn change(entity: EntityKind, action: Action, id: &str, school: Option<&str>) -> Change {
    Change {
        entity,
        action,
        key: RecordKey::person(id),
        school_id: school.map(str::to_string),
        source_id: Some(format!("src-{id}")),
        fields: if action == Action::Updated {
            vec!["first_name".into()]
        } else {
            Vec::new()
        },
        expected_version: (action != Action::Created).then_some(1),
        after: None,
        note: None,
    }
}

async fn list_changes_all(
    r: &dyn Runs,
    district: &str,
    run_id: &str,
    filter: &ChangeFilter,
    page: usize,
) -> Vec<Change> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let (batch, next) = ok(
            r.list_changes(district, run_id, filter, cursor.as_deref(), page)
                .await,
            "list_changes",
        );
        assert!(batch.len() <= page, "list_changes returned more than limit");
        if next.is_some() {
            assert!(!batch.is_empty(), "a non-final page of changes is empty");
        }
        out.extend(batch);
        match next {
            None => return out,
            Some(c) => cursor = Some(c),
        }
    }
    panic!("list_changes paging did not end");
}

/// Checks [`Runs`]: conditional district puts, run create/update conflicts and versions,
/// run listing newest first with cursor paging, `school_done` idempotency and isolation,
/// reports, and stored changes (replace, order, filters, paging).
pub async fn runs(r: &dyn Runs) {
    let did = unique("district");

    // Districts.
    assert_eq!(ok(r.get_district(&did).await, "get_district"), None);
    let mut district = District {
        id: did.clone(),
        name: "Springfield".into(),
        settings: SyncSettings::default(),
        source: None,
        version: 0,
    };
    ok(r.put_district(&district).await, "put_district (create)");
    let stored = ok(r.get_district(&did).await, "get_district");
    district.version = 1;
    assert_eq!(
        stored.as_ref(),
        Some(&district),
        "a created district has version 1"
    );
    district.version = 0;
    match r.put_district(&district).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("creating an existing district must be Conflict, got {other:?}"),
    }
    district.version = 1;
    district.name = "Springfield Unified".into();
    district.settings.deletion_threshold_pct = 25;
    ok(r.put_district(&district).await, "put_district (update)");
    match r.put_district(&district).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a stale district update must be Conflict, got {other:?}"),
    }
    let stored = ok(r.get_district(&did).await, "get_district");
    district.version = 2;
    assert_eq!(
        stored.as_ref(),
        Some(&district),
        "an update stores version + 1"
    );
    let ghost = District {
        id: unique("district"),
        version: 3,
        ..district.clone()
    };
    match r.put_district(&ghost).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("updating an absent district must be Conflict, got {other:?}"),
    }
    let listed: Vec<District> = ok(r.list_districts().await, "list_districts")
        .into_iter()
        .filter(|d| d.id == did || d.id == ghost.id)
        .collect();
    assert_eq!(
        listed,
        vec![district.clone()],
        "list_districts lists stored districts"
    );

    // Runs: create, conflict, conditional update.
    let r1 = run(&did, "run-1", 0);
    assert_eq!(ok(r.get_run(&did, "run-1").await, "get_run"), None);
    ok(r.create_run(&r1).await, "create_run");
    let mut stored = match ok(r.get_run(&did, "run-1").await, "get_run") {
        Some(s) => s,
        None => panic!("a created run is found"),
    };
    assert_eq!(stored.version, 1, "a created run has version 1");
    assert_eq!(
        Run {
            version: 1,
            ..r1.clone()
        },
        stored,
        "a run round-trips"
    );
    match r.create_run(&r1).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("creating an existing run must be Conflict, got {other:?}"),
    }
    stored.status = RunStatus::Planned;
    stored.schools_done = 3;
    ok(r.update_run(&stored).await, "update_run");
    match r.update_run(&stored).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a stale run update must be Conflict, got {other:?}"),
    }
    let got = ok(r.get_run(&did, "run-1").await, "get_run");
    assert_eq!(
        got,
        Some(Run {
            version: 2,
            ..stored.clone()
        }),
        "update_run stores version + 1"
    );
    match r.update_run(&run(&did, "no-such-run", 0)).await {
        Err(StoreError::NotFound(_) | StoreError::Conflict(_)) => {}
        other => panic!("updating an absent run must be NotFound or Conflict, got {other:?}"),
    }
    assert_eq!(ok(r.get_run(&did, "no-such-run").await, "get_run"), None);

    // Listing: newest first (started_at, then run id, descending), cursor paging.
    let mut finished = stored.clone();
    finished.status = RunStatus::Succeeded;
    finished.finished_at = Some(at(30));
    finished.reason = None;
    finished.version = 2;
    ok(r.update_run(&finished).await, "update_run");
    for (id, t) in [
        ("run-2", 60),
        ("run-3", 60),
        ("run-0", 120),
        ("run-4", -60),
        ("run-5", 60),
    ] {
        ok(r.create_run(&run(&did, id, t)).await, "create_run");
    }
    let other = unique("district");
    ok(r.create_run(&run(&other, "run-9", 90)).await, "create_run");
    let want = ["run-0", "run-5", "run-3", "run-2", "run-1", "run-4"];
    let listed: Vec<String> = ok(r.list_runs(&did, None, 100).await, "list_runs")
        .into_iter()
        .map(|r| r.run_id)
        .collect();
    assert_eq!(
        listed, want,
        "list_runs is newest first (ties by run id, descending) and sees only its district"
    );
    for page in [1, 2, 4] {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let batch = ok(
                r.list_runs(&did, cursor.as_deref(), page).await,
                "list_runs",
            );
            assert!(batch.len() <= page, "list_runs returned more than limit");
            if batch.is_empty() {
                break;
            }
            cursor = batch.last().map(|r| r.run_id.clone());
            ids.extend(batch.into_iter().map(|r| r.run_id));
            assert!(ids.len() <= want.len(), "list_runs paging does not end");
        }
        assert_eq!(
            ids, want,
            "list_runs by pages of {page}, cursor = last run id"
        );
    }
    let one = ok(r.list_runs(&did, Some("run-1"), 10).await, "list_runs");
    let run4 = Run {
        version: 1,
        ..run(&did, "run-4", -60)
    };
    assert_eq!(one, vec![run4], "runs listed are complete records");

    // school_done: distinct schools per (run, phase), idempotent.
    let sd = |phase: &'static str, school: &'static str, run: &'static str| {
        let did = did.clone();
        async move { ok(r.school_done(&did, run, phase, school).await, "school_done") }
    };
    assert_eq!(sd("plan", "s1", "run-1").await, 1);
    assert_eq!(
        sd("plan", "s1", "run-1").await,
        1,
        "a repeated school is not counted twice"
    );
    assert_eq!(sd("plan", "s2", "run-1").await, 2);
    assert_eq!(
        sd("apply", "s1", "run-1").await,
        1,
        "phases count separately"
    );
    assert_eq!(sd("plan", "s1", "run-2").await, 1, "runs count separately");
    assert_eq!(
        ok(
            r.school_done(&other, "run-1", "plan", "s1").await,
            "school_done"
        ),
        1,
        "districts count separately"
    );
    let (c3, c4, c5, c6, c3b, c4b) = tokio::join!(
        sd("plan", "s3", "run-1"),
        sd("plan", "s4", "run-1"),
        sd("plan", "s5", "run-1"),
        sd("plan", "s6", "run-1"),
        sd("plan", "s3", "run-1"),
        sd("plan", "s4", "run-1"),
    );
    let counts = [c3, c4, c5, c6, c3b, c4b];
    assert_eq!(
        counts.iter().max(),
        Some(&6),
        "concurrent school_done calls count every distinct school once: {counts:?}"
    );
    assert_eq!(sd("plan", "s6", "run-1").await, 6);

    // Reports.
    assert_eq!(ok(r.get_report(&did, "run-1").await, "get_report"), None);
    let mut totals = Totals::default();
    totals.add(EntityKind::Students, Action::Created, 12);
    totals.add(EntityKind::Classrooms, Action::Unchanged, 3);
    let mut report = Report {
        district: did.clone(),
        run_id: "run-1".into(),
        status: RunStatus::Held,
        reason: Some(domain::FailureReason::Threshold),
        dry_run: false,
        started_at: at(0),
        finished_at: Some(at(30)),
        totals: totals.clone(),
        schools: vec![SchoolReport {
            school_id: "s1".into(),
            external_id: "src-s1".into(),
            status: RunStatus::Succeeded,
            totals,
        }],
        tried_to_archive: BTreeMap::from([(EntityKind::Students, 40)]),
        warnings: Vec::new(),
        errors: Vec::new(),
    };
    ok(r.put_report(&report).await, "put_report");
    assert_eq!(
        ok(r.get_report(&did, "run-1").await, "get_report").as_ref(),
        Some(&report),
        "a report round-trips"
    );
    report.status = RunStatus::Succeeded;
    report.reason = None;
    report.tried_to_archive.clear();
    ok(r.put_report(&report).await, "put_report (replace)");
    assert_eq!(
        ok(r.get_report(&did, "run-1").await, "get_report").as_ref(),
        Some(&report),
        "put_report replaces"
    );
    assert_eq!(ok(r.get_report(&did, "run-2").await, "get_report"), None);

    // Changes.
    use Action::*;
    use EntityKind::*;
    let mut with_after = change(Students, Created, "a1", Some("s-a"));
    with_after.after = Some(student("a1", "s-a", "ext-a1"));
    let s_a = vec![
        with_after,
        change(Students, Unchanged, "a2", Some("s-a")),
        change(Staff, Updated, "a3", Some("s-a")),
        change(Students, Unchanged, "a4", Some("s-a")),
        change(Students, Updated, "a5", Some("s-a")),
    ];
    let s_b = vec![
        change(Students, Created, "b1", Some("s-b")),
        change(Classrooms, Created, "b2", Some("s-b")),
        change(Students, Skipped, "b3", Some("s-b")),
    ];
    let district_step = vec![
        change(Students, Archived, "z1", Some("s-a")),
        change(Guardians, Archived, "z2", None),
    ];
    let old_b = vec![change(Staff, Archived, "old", Some("s-b")); 4];
    ok(
        r.put_changes(&did, "run-1", "s-b", &old_b).await,
        "put_changes",
    );
    ok(
        r.put_changes(&did, "run-1", "s-a", &s_a).await,
        "put_changes",
    );
    ok(
        r.put_changes(&did, "run-1", "s-b", &s_b).await,
        "put_changes (replace)",
    );
    ok(
        r.put_changes(&did, "run-1", "_district", &district_step)
            .await,
        "put_changes",
    );
    ok(
        r.put_changes(&did, "run-2", "s-a", &s_b).await,
        "put_changes (another run)",
    );

    let f = ChangeFilter::default();
    let with_unchanged = ChangeFilter {
        include_unchanged: true,
        ..f.clone()
    };
    // (school, position) order: "_district" < "s-a" < "s-b".
    let everything: Vec<Change> = district_step
        .iter()
        .chain(&s_a)
        .chain(&s_b)
        .cloned()
        .collect();
    let pick = |keep: &dyn Fn(&Change) -> bool| -> Vec<Change> {
        everything.iter().filter(|c| keep(c)).cloned().collect()
    };
    for page in [1, 2, 3, 100] {
        assert_eq!(
            list_changes_all(r, &did, "run-1", &with_unchanged, page).await,
            everything,
            "every change of a run, in (school, position) order, by pages of {page}; \
             put_changes replaces a school's earlier changes"
        );
        assert_eq!(
            list_changes_all(r, &did, "run-1", &f, page).await,
            pick(&|c| c.action != Unchanged),
            "unchanged entries are left out by default (pages of {page})"
        );
    }
    let by_entity = ChangeFilter {
        entity: Some(Students),
        ..f.clone()
    };
    assert_eq!(
        list_changes_all(r, &did, "run-1", &by_entity, 2).await,
        pick(&|c| c.entity == Students && c.action != Unchanged),
        "filter by entity"
    );
    let by_action = ChangeFilter {
        action: Some(Archived),
        ..f.clone()
    };
    assert_eq!(
        list_changes_all(r, &did, "run-1", &by_action, 1).await,
        district_step,
        "filter by action"
    );
    let unchanged_only = ChangeFilter {
        action: Some(Unchanged),
        include_unchanged: true,
        ..f.clone()
    };
    assert_eq!(
        list_changes_all(r, &did, "run-1", &unchanged_only, 1).await,
        pick(&|c| c.action == Unchanged),
        "filter by action unchanged (with include_unchanged)"
    );
    let by_school = ChangeFilter {
        school: Some("s-b".into()),
        include_unchanged: true,
        ..f.clone()
    };
    assert_eq!(
        list_changes_all(r, &did, "run-1", &by_school, 2).await,
        s_b,
        "filter by school"
    );
    let by_school_a = ChangeFilter {
        school: Some("s-a".into()),
        entity: Some(Students),
        ..f.clone()
    };
    assert_eq!(
        list_changes_all(r, &did, "run-1", &by_school_a, 2).await,
        pick(&|c| c.school_id.as_deref() == Some("s-a")
            && c.entity == Students
            && c.action != Unchanged),
        "the school filter matches the school changes were stored under or their school_id"
    );
    assert_eq!(
        list_changes_all(r, &did, "run-2", &with_unchanged, 2).await,
        s_b,
        "changes of another run are separate"
    );
    assert!(
        list_changes_all(r, &did, "run-3", &with_unchanged, 2)
            .await
            .is_empty(),
        "a run without changes lists none"
    );
    assert!(
        list_changes_all(r, &other, "run-1", &with_unchanged, 2)
            .await
            .is_empty(),
        "changes of another district are not visible"
    );
    ok(
        r.put_changes(&did, "run-1", "s-a", &[]).await,
        "put_changes (empty)",
    );
    assert_eq!(
        list_changes_all(r, &did, "run-1", &with_unchanged, 3).await,
        district_step
            .iter()
            .chain(&s_b)
            .cloned()
            .collect::<Vec<_>>(),
        "storing no changes for a school removes its earlier ones"
    );
}
