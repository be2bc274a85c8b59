//! Matching a feed person to a directory person: by source id (merged-away ids lead to the
//! survivor), then by secondary keys (a re-keyed person is a move, not archive + create).

use super::PlanContext;
use domain::directory::{
    ArchiveReason, IndexKey, Person, PersonKind, Record, RecordKey, derived_id,
};
use domain::settings::{StudentIdSource, SyncSettings};
use domain::{Email, Issue, IssueCode, Location, Phone};

/// The keys of a feed person other than its source id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedKeys {
    pub sis_id: Option<String>,
    pub student_number: Option<String>,
    pub state_id: Option<String>,
    pub email: Option<Email>,
    pub sms: Option<Phone>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    /// An existing directory person (the survivor, for a merged-away id).
    Existing(Box<Person>),
    /// No match: a new person with this derived id.
    New(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    pub target: Resolved,
    /// `ambiguous_match`, `merged_id_reappeared`: reported by the owner shard only.
    pub warnings: Vec<Issue>,
}

impl Resolution {
    pub fn id(&self) -> &str {
        match &self.target {
            Resolved::Existing(p) => &p.id,
            Resolved::New(id) => id,
        }
    }
}

fn prefix(kind: PersonKind) -> &'static str {
    match kind {
        PersonKind::Student => "stu",
        PersonKind::Staff => "stf",
        PersonKind::Guardian => "gdn",
    }
}

fn location(kind: PersonKind, source_id: &str) -> Location {
    let coll = match kind {
        PersonKind::Student => "students",
        PersonKind::Staff => "staff",
        PersonKind::Guardian => "contacts",
    };
    Location::api(format!("{coll}/{source_id}"))
}

fn merged_into(p: &Person) -> Option<&str> {
    match p.archived.as_ref().map(|a| &a.reason) {
        Some(ArchiveReason::MergedInto(x)) => Some(x),
        _ => None,
    }
}

fn person(r: &Record) -> Option<&Person> {
    match r {
        Record::Person(p) => Some(p),
        _ => None,
    }
}

/// Resolves one feed person. Deterministic: every shard gets the same answer for the same
/// person from the same directory state.
pub fn resolve_person(
    ctx: &PlanContext,
    view: &super::DirectoryView,
    settings: &SyncSettings,
    keys: FeedKeys,
    kind: PersonKind,
    source_id: &str,
) -> Resolution {
    let mut warnings = Vec::new();
    // 1. By source id, including ids united into a survivor by a merge.
    let by_ext: Vec<&Person> = view
        .by_index(&IndexKey::external(source_id))
        .filter_map(person)
        .filter(|p| p.kind == kind)
        .collect();
    if let Some(live) = by_ext.iter().find(|p| merged_into(p).is_none()) {
        return Resolution {
            target: Resolved::Existing(Box::new((*live).clone())),
            warnings,
        };
    }
    for dup in &by_ext {
        // Follow the merge chain (bounded) to a live survivor.
        let mut next = merged_into(dup).map(str::to_string);
        let mut hops = 0;
        while let Some(id) = next.take() {
            hops += 1;
            let Some(s) = view.get(&RecordKey::person(&id)).and_then(person) else {
                break;
            };
            match merged_into(s) {
                None => {
                    warnings.push(Issue::warning(
                        IssueCode::MergedIdReappeared,
                        location(kind, source_id),
                        "source id of a merged-away record reappeared; mapped to the merge survivor",
                    ));
                    return Resolution {
                        target: Resolved::Existing(Box::new(s.clone())),
                        warnings,
                    };
                }
                Some(x) if hops < 8 => next = Some(x.to_string()),
                Some(_) => {}
            }
        }
    }
    // 2. By secondary keys, in order; a key shared by several candidates is ambiguous.
    let mut secondary: Vec<(&str, IndexKey)> = Vec::new();
    match kind {
        PersonKind::Student => {
            let sis = keys.sis_id.as_ref().map(|v| ("sis_id", IndexKey::sis(v)));
            let num = keys
                .student_number
                .as_ref()
                .map(|v| ("student_number", IndexKey::student_number(v)));
            let (first, second) = match settings.student_id_source {
                StudentIdSource::SisId => (sis, num),
                StudentIdSource::StudentNumber => (num, sis),
            };
            secondary.extend(first);
            secondary.extend(
                keys.state_id
                    .as_ref()
                    .map(|v| ("state_id", IndexKey::state_id(v))),
            );
            secondary.extend(second);
        }
        PersonKind::Staff => {
            secondary.extend(keys.email.as_ref().map(|e| ("email", IndexKey::email(e))));
            secondary.extend(keys.sis_id.as_ref().map(|v| ("sis_id", IndexKey::sis(v))));
        }
        PersonKind::Guardian => {
            secondary.extend(keys.email.as_ref().map(|e| ("email", IndexKey::email(e))));
            secondary.extend(keys.sms.as_ref().map(|p| ("sms", IndexKey::sms(p))));
        }
    }
    for (name, key) in secondary {
        let candidates: Vec<&Person> = view
            .by_index(&key)
            .filter_map(person)
            .filter(|p| {
                p.kind == kind
                    && merged_into(p).is_none()
                    // The first sync never takes over manual students (domain.md §1.5).
                    && (kind != PersonKind::Student || p.managed.is_some())
                    // Someone still in the feed under their own id is someone else.
                    && p.external_ids.is_disjoint(&ctx.feed_person_ids)
            })
            .collect();
        match candidates.as_slice() {
            [] => continue,
            [one] => {
                return Resolution {
                    target: Resolved::Existing(Box::new((*one).clone())),
                    warnings,
                };
            }
            many => {
                warnings.push(Issue::warning(
                    IssueCode::AmbiguousMatch,
                    location(kind, source_id),
                    format!(
                        "{} directory records share this {name}; a new record is created",
                        many.len()
                    ),
                ));
                break;
            }
        }
    }
    Resolution {
        target: Resolved::New(derived_id(prefix(kind), &ctx.district, source_id)),
        warnings,
    }
}
