//! Duplicate detection: candidate pairs of people of one kind, each with the reasons that match
//! and a confidence in 0..=1 (the strongest reason's).
//!
//! People are first grouped by blocking keys (folded name, student number, state id, SIS id,
//! email, SMS phone) and only people sharing a key are compared, so a 50k-student district costs
//! a few sorts and the (small) groups, not 50k² comparisons.
//!
//! Rules, students:
//! - same student number, state id or SIS id: 0.95;
//! - same folded name (first + last) and date of birth: 0.9;
//! - same name, same grade, a shared school and a shared guardian: 0.8;
//! - same name, a shared school, grades at most one apart: 0.6;
//! - same name only: 0.3.
//!
//! The name rules other than name + date of birth do not apply when both dates of birth are known
//! and differ. Guardians: same email 0.95, same SMS phone 0.9. Staff: same email 0.95, same name
//! and a shared school 0.7.
//!
//! Never returned: pairs an admin marked "not duplicates" ([`mark_not_duplicate`]), people
//! archived as merged into someone, and pairs of two sync-managed people with different source
//! ids below 0.9 or at 0.9 (the feed says they are two people; they may be twins).

use crate::merge::choose_survivor;
use crate::normalize::person_name_key;
use crate::{CleanupError, Result, load};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::directory::{
    ArchiveReason, IndexKey, NotDuplicate, Person, PersonKind, Record, RecordKey,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, HashSet};
use store::{Clock, Directory, Write, WriteOutcome};

/// Why two people look like one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    SameStudentNumber,
    SameStateId,
    SameSisId,
    SameNameAndDob,
    SameNameGradeSchoolAndGuardian,
    SameNameSchoolAndNearGrade,
    SameName,
    SameEmail,
    SameSms,
    SameNameAndSchool,
}

impl Reason {
    /// The confidence this reason alone gives.
    pub fn confidence(self) -> f64 {
        match self {
            Self::SameStudentNumber | Self::SameStateId | Self::SameSisId | Self::SameEmail => 0.95,
            Self::SameNameAndDob | Self::SameSms => 0.9,
            Self::SameNameGradeSchoolAndGuardian => 0.8,
            Self::SameNameAndSchool => 0.7,
            Self::SameNameSchoolAndNearGrade => 0.6,
            Self::SameName => 0.3,
        }
    }
}

/// A pair that may be one person. `a < b` by id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub kind: PersonKind,
    pub a: String,
    pub b: String,
    /// 0..=1: the strongest reason's confidence.
    pub confidence: f64,
    /// Every reason that matched, strongest first.
    pub reasons: Vec<Reason>,
    /// The survivor [`choose_survivor`] would keep.
    pub survivor: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortBy {
    /// Highest confidence first (then by ids).
    #[default]
    Confidence,
    /// By the folded name of `a` (then by ids).
    Name,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindOptions {
    /// Pairs below this confidence are left out.
    pub min_confidence: f64,
    pub sort: SortBy,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size (at least 1).
    pub limit: usize,
}

impl Default for FindOptions {
    fn default() -> Self {
        Self {
            min_confidence: 0.6,
            sort: SortBy::Confidence,
            cursor: None,
            limit: 50,
        }
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Opaque; `None` on the last page.
    pub next_cursor: Option<String>,
    /// How many items all pages hold together.
    pub total: u64,
}

#[derive(Serialize, Deserialize)]
struct Cursor {
    s: SortBy,
    k: String,
    a: String,
    b: String,
}

fn encode_cursor(c: &Cursor) -> Result<String> {
    let json = serde_json::to_vec(c).map_err(|_| CleanupError::BadCursor)?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

fn decode_cursor(s: &str, sort: SortBy) -> Result<Cursor> {
    let bytes = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| CleanupError::BadCursor)?;
    let c: Cursor = serde_json::from_slice(&bytes).map_err(|_| CleanupError::BadCursor)?;
    if c.s != sort {
        return Err(CleanupError::BadCursor);
    }
    Ok(c)
}

/// Whether a person was folded into another by a merge (such people are out of detection).
pub(crate) fn merged_away(p: &Person) -> bool {
    matches!(
        p.archived.as_ref().map(|a| &a.reason),
        Some(ArchiveReason::MergedInto(_))
    )
}

fn ordered<'a>(x: &'a str, y: &'a str) -> (&'a str, &'a str) {
    if x <= y { (x, y) } else { (y, x) }
}

fn non_empty(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|s| !s.is_empty())
}

/// What detection needs besides the people themselves.
struct Context {
    /// Guardians of each student (students only).
    guardians: HashMap<String, BTreeSet<String>>,
}

fn shares<T: Ord>(a: &BTreeSet<T>, b: &BTreeSet<T>) -> bool {
    a.intersection(b).next().is_some()
}

fn grade_gap(a: &Person, b: &Person) -> Option<i32> {
    Some((i32::from(a.grade?.ordinal()) - i32::from(b.grade?.ordinal())).abs())
}

fn same_opt(a: Option<&str>, b: Option<&str>) -> bool {
    matches!((non_empty(a), non_empty(b)), (Some(x), Some(y)) if x == y)
}

/// Every reason that matches `a` and `b`, strongest first.
fn reasons(kind: PersonKind, a: &Person, b: &Person, ctx: &Context) -> Vec<Reason> {
    let mut out = Vec::new();
    let same_name = person_name_key(&a.first_name, &a.last_name)
        == person_name_key(&b.first_name, &b.last_name);
    let same_email = matches!((&a.email, &b.email), (Some(x), Some(y)) if x.key() == y.key());
    match kind {
        PersonKind::Student => {
            if same_opt(a.student_number.as_deref(), b.student_number.as_deref()) {
                out.push(Reason::SameStudentNumber);
            }
            if same_opt(a.state_id.as_deref(), b.state_id.as_deref()) {
                out.push(Reason::SameStateId);
            }
            if same_opt(a.sis_id.as_deref(), b.sis_id.as_deref()) {
                out.push(Reason::SameSisId);
            }
            if same_name {
                let dob_differs = matches!((a.dob, b.dob), (Some(x), Some(y)) if x != y);
                if matches!((a.dob, b.dob), (Some(x), Some(y)) if x == y) {
                    out.push(Reason::SameNameAndDob);
                }
                if !dob_differs {
                    let shared_school = shares(&a.school_ids, &b.school_ids);
                    let none = BTreeSet::new();
                    let shared_guardian = shares(
                        ctx.guardians.get(&a.id).unwrap_or(&none),
                        ctx.guardians.get(&b.id).unwrap_or(&none),
                    );
                    let gap = grade_gap(a, b);
                    if gap == Some(0) && shared_school && shared_guardian {
                        out.push(Reason::SameNameGradeSchoolAndGuardian);
                    }
                    if shared_school && matches!(gap, Some(0 | 1)) {
                        out.push(Reason::SameNameSchoolAndNearGrade);
                    }
                    out.push(Reason::SameName);
                }
            }
        }
        PersonKind::Guardian => {
            if same_email {
                out.push(Reason::SameEmail);
            }
            if matches!((&a.sms, &b.sms), (Some(x), Some(y)) if x == y) {
                out.push(Reason::SameSms);
            }
        }
        PersonKind::Staff => {
            if same_email {
                out.push(Reason::SameEmail);
            }
            if same_name && shares(&a.school_ids, &b.school_ids) {
                out.push(Reason::SameNameAndSchool);
            }
        }
    }
    out.sort_by(|x, y| y.confidence().total_cmp(&x.confidence()).then(x.cmp(y)));
    out
}

/// The keys people of `kind` are grouped by; only people sharing a key are compared.
fn blocking_keys(kind: PersonKind, p: &Person) -> Vec<String> {
    let mut keys = Vec::new();
    match kind {
        PersonKind::Student => {
            keys.push(format!(
                "n#{}",
                person_name_key(&p.first_name, &p.last_name)
            ));
            keys.extend(non_empty(p.student_number.as_deref()).map(|v| format!("num#{v}")));
            keys.extend(non_empty(p.state_id.as_deref()).map(|v| format!("state#{v}")));
            keys.extend(non_empty(p.sis_id.as_deref()).map(|v| format!("sis#{v}")));
        }
        PersonKind::Guardian => {
            keys.extend(p.email.as_ref().map(|e| format!("e#{}", e.key())));
            keys.extend(p.sms.as_ref().map(|s| format!("sms#{}", s.as_str())));
        }
        PersonKind::Staff => {
            keys.push(format!(
                "n#{}",
                person_name_key(&p.first_name, &p.last_name)
            ));
            keys.extend(p.email.as_ref().map(|e| format!("e#{}", e.key())));
        }
    }
    keys
}

/// Two sync-managed people with different source ids: the feed says they are two people.
fn both_managed_apart(a: &Person, b: &Person) -> bool {
    matches!((&a.managed, &b.managed), (Some(x), Some(y)) if x.source_id != y.source_id)
}

/// The "not duplicates" pairs of `kind`, ordered.
async fn not_duplicates(
    dir: &dyn Directory,
    district: &str,
    kind: PersonKind,
) -> Result<HashSet<(String, String)>> {
    Ok(load::all(dir, district, &IndexKey::kind("not_duplicate"))
        .await?
        .into_iter()
        .filter_map(|r| match r {
            Record::NotDuplicate(n) if n.kind == kind => {
                let (a, b) = ordered(&n.a, &n.b);
                Some((a.to_string(), b.to_string()))
            }
            _ => None,
        })
        .collect())
}

/// Every candidate pair of `kind` at or above `min_confidence`, unsorted.
pub(crate) async fn all_candidates(
    dir: &dyn Directory,
    district: &str,
    kind: PersonKind,
    min_confidence: f64,
) -> Result<Vec<Candidate>> {
    let people: Vec<Person> = load::people(dir, district, kind)
        .await?
        .into_iter()
        .filter(|p| !merged_away(p))
        .collect();
    let suppressed = not_duplicates(dir, district, kind).await?;
    let mut guardians: HashMap<String, BTreeSet<String>> = HashMap::new();
    if kind == PersonKind::Student {
        for r in load::all(dir, district, &IndexKey::kind("guardian_link")).await? {
            if let Record::GuardianLink(g) = r {
                guardians
                    .entry(g.student_id)
                    .or_default()
                    .insert(g.guardian_id);
            }
        }
    }
    let ctx = Context { guardians };

    let mut blocks: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, p) in people.iter().enumerate() {
        for k in blocking_keys(kind, p) {
            blocks.entry(k).or_default().push(i);
        }
    }
    let mut seen: HashSet<(usize, usize)> = HashSet::new();
    let mut out = Vec::new();
    let mut block_list: Vec<(&String, &Vec<usize>)> =
        blocks.iter().filter(|(_, v)| v.len() > 1).collect();
    block_list.sort();
    for (_, members) in block_list {
        for (n, &i) in members.iter().enumerate() {
            for &j in &members[n + 1..] {
                let (i, j) = if i < j { (i, j) } else { (j, i) };
                if i == j || !seen.insert((i, j)) {
                    continue;
                }
                let (pa, pb) = (&people[i], &people[j]);
                let (a, b) = if pa.id <= pb.id { (pa, pb) } else { (pb, pa) };
                if suppressed.contains(&(a.id.clone(), b.id.clone())) {
                    continue;
                }
                let rs = reasons(kind, a, b, &ctx);
                let Some(confidence) = rs.first().map(|r| r.confidence()) else {
                    continue;
                };
                if confidence < min_confidence {
                    continue;
                }
                if both_managed_apart(a, b) && confidence <= 0.9 {
                    continue;
                }
                out.push(Candidate {
                    kind,
                    a: a.id.clone(),
                    b: b.id.clone(),
                    confidence,
                    reasons: rs,
                    survivor: choose_survivor(a, b).0.id.clone(),
                });
            }
        }
    }
    Ok(out)
}

fn sort_key(c: &Candidate, sort: SortBy, names: &HashMap<String, String>) -> String {
    match sort {
        SortBy::Confidence => {
            // Higher confidence first: sort ascending on 1000 - per mille.
            let per_mille = (c.confidence * 1000.0).round().clamp(0.0, 1000.0) as i64;
            format!("{:04}", 1000 - per_mille)
        }
        SortBy::Name => names.get(&c.a).cloned().unwrap_or_default(),
    }
}

/// Duplicate candidates of `kind`, one page at a time (see the module doc for the rules).
pub async fn find_duplicates(
    dir: &dyn Directory,
    district: &str,
    kind: PersonKind,
    opts: &FindOptions,
) -> Result<Page<Candidate>> {
    let after = opts
        .cursor
        .as_deref()
        .map(|c| decode_cursor(c, opts.sort))
        .transpose()?;
    let candidates = all_candidates(dir, district, kind, opts.min_confidence).await?;
    let mut names = HashMap::new();
    if opts.sort == SortBy::Name {
        let ids: Vec<RecordKey> = candidates.iter().map(|c| RecordKey::person(&c.a)).collect();
        for r in dir.get_many(district, &ids).await? {
            if let Record::Person(p) = r {
                names.insert(p.id.clone(), person_name_key(&p.first_name, &p.last_name));
            }
        }
    }
    let mut keyed: Vec<(String, Candidate)> = candidates
        .into_iter()
        .map(|c| (sort_key(&c, opts.sort, &names), c))
        .collect();
    keyed.sort_by(|(k1, c1), (k2, c2)| k1.cmp(k2).then(c1.a.cmp(&c2.a)).then(c1.b.cmp(&c2.b)));
    let total = keyed.len() as u64;
    let start = match &after {
        None => 0,
        Some(cur) => keyed.partition_point(|(k, c)| {
            (k.as_str(), c.a.as_str(), c.b.as_str())
                <= (cur.k.as_str(), cur.a.as_str(), cur.b.as_str())
        }),
    };
    let limit = opts.limit.max(1);
    let rest = &keyed[start..];
    let page: Vec<(String, Candidate)> = rest.iter().take(limit).cloned().collect();
    let next_cursor = if rest.len() > limit {
        page.last()
            .map(|(k, c)| {
                encode_cursor(&Cursor {
                    s: opts.sort,
                    k: k.clone(),
                    a: c.a.clone(),
                    b: c.b.clone(),
                })
            })
            .transpose()?
    } else {
        None
    };
    tracing::info!(
        district,
        kind = kind.as_str(),
        total,
        page = page.len(),
        "duplicate candidates"
    );
    Ok(Page {
        items: page.into_iter().map(|(_, c)| c).collect(),
        next_cursor,
        total,
    })
}

/// Records an admin's decision that `a` and `b` are two people: the pair is never suggested
/// again. Idempotent (an existing decision is returned as it is).
pub async fn mark_not_duplicate(
    dir: &dyn Directory,
    district: &str,
    kind: PersonKind,
    a: &str,
    b: &str,
    by: &str,
    clock: &dyn Clock,
) -> Result<NotDuplicate> {
    if a == b {
        return Err(CleanupError::Refused(format!(
            "{a} cannot be marked as not a duplicate of itself"
        )));
    }
    load::person_of(dir, district, a, kind).await?;
    load::person_of(dir, district, b, kind).await?;
    let key = RecordKey::not_duplicate(a, b);
    if let Some(Record::NotDuplicate(n)) = dir.get(district, &key).await? {
        return Ok(*n);
    }
    let (a, b) = ordered(a, b);
    let record = NotDuplicate {
        kind,
        a: a.to_string(),
        b: b.to_string(),
        at: clock.now(),
        by: by.to_string(),
        version: 1,
    };
    let outcome = dir
        .write(
            district,
            &[Write::Put {
                record: Record::from(record.clone()),
                expected: None,
            }],
        )
        .await?;
    match outcome.first() {
        Some(WriteOutcome::Written | WriteOutcome::AlreadyApplied) => {
            tracing::info!(
                district,
                kind = kind.as_str(),
                a,
                b,
                "marked not duplicates"
            );
            Ok(record)
        }
        _ => match dir.get(district, &key).await? {
            Some(Record::NotDuplicate(n)) => Ok(*n),
            _ => Err(CleanupError::Conflict(key.as_str().to_string())),
        },
    }
}

/// Withdraws a "not duplicates" decision; the pair may be suggested again. Absent: no-op.
pub async fn unmark_not_duplicate(
    dir: &dyn Directory,
    district: &str,
    a: &str,
    b: &str,
) -> Result<()> {
    let key = RecordKey::not_duplicate(a, b);
    if let Some(r) = dir.get(district, &key).await? {
        let outcome = dir
            .write(
                district,
                &[Write::Delete {
                    key: key.clone(),
                    expected: r.version(),
                }],
            )
            .await?;
        if outcome.first() == Some(&WriteOutcome::Conflict) {
            return Err(CleanupError::Conflict(key.as_str().to_string()));
        }
    }
    Ok(())
}
