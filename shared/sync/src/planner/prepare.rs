//! Staging-time preparation, pure: apply the guardian settings to the feed (filters, phone
//! column), fold contacts that share a credential into one guardian, decide which school shard
//! owns each person, and cut the per-school shards the workers plan.

use domain::settings::{PhoneColumn, SyncSettings};
use domain::{Contact, Roster, SchoolShard};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One school's staged input: the shard plus what staging decided for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedSchool {
    /// The school's part of the feed, plus the people its enrollments and multi-role contacts
    /// reference (needed to resolve their ids; only `owned` people are planned).
    pub shard: SchoolShard,
    /// Source ids of the people this shard owns.
    pub owned: BTreeSet<String>,
    /// Contact source id → staff source id of the same person.
    pub contact_staff: BTreeMap<String, String>,
}

fn passes<T: Ord>(filter: &BTreeSet<T>, v: Option<&T>) -> bool {
    // Empty filter = all; a value the source did not give is not filtered out.
    filter.is_empty() || v.is_none_or(|v| filter.contains(v))
}

/// Applies the settings that shape the feed itself, then sorts it.
/// - contact links outside `contact_types` / `relationships` are dropped (and contacts left
///   without links); a phone whose type is outside `phone_types` is dropped;
/// - `phone_column` picks which number becomes `sms` (staff and contacts);
/// - contacts sharing a credential (email, else SMS number) become one guardian, kept under the
///   smallest source id, with the links of all of them (siblings' repeated contact rows).
pub fn prepare_roster(mut roster: Roster, settings: &SyncSettings) -> Roster {
    if settings.phone_column == PhoneColumn::Phone {
        for s in &mut roster.staff {
            std::mem::swap(&mut s.sms, &mut s.phone);
        }
    }
    let mut contacts = Vec::new();
    for mut c in std::mem::take(&mut roster.contacts) {
        c.links.retain(|l| {
            passes(&settings.contact_types, l.contact_type.as_ref())
                && passes(&settings.relationships, l.relationship.as_ref())
        });
        if c.links.is_empty() {
            continue;
        }
        if !passes(&settings.phone_types, c.phone_type.as_ref()) {
            c.sms = None;
            c.phone = None;
        }
        if settings.phone_column == PhoneColumn::Phone {
            std::mem::swap(&mut c.sms, &mut c.phone);
        }
        contacts.push(c);
    }
    contacts.sort_by(|a, b| a.id.cmp(&b.id));
    let mut by_credential: BTreeMap<String, usize> = BTreeMap::new();
    let mut merged: Vec<Contact> = Vec::new();
    for c in contacts {
        let cred = c
            .email
            .as_ref()
            .map(|e| format!("email:{}", e.key()))
            .or_else(|| c.sms.as_ref().map(|p| format!("sms:{}", p.as_str())));
        match cred.as_ref().and_then(|k| by_credential.get(k)) {
            Some(&i) => {
                let rep = &mut merged[i];
                for l in c.links {
                    if !rep.links.iter().any(|x| x.student_id == l.student_id) {
                        rep.links.push(l);
                    }
                }
            }
            None => {
                if let Some(k) = cred {
                    by_credential.insert(k, merged.len());
                }
                merged.push(c);
            }
        }
    }
    roster.contacts = merged;
    roster.normalise();
    roster
}

/// Person source id → owning source school: the first in-scope school in a student's or staff
/// member's `school_ids`; for a contact, the smallest in-scope school of its linked students.
pub fn owners(roster: &Roster, school_map: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let first = |ids: &[String]| ids.iter().find(|s| school_map.contains_key(*s)).cloned();
    let mut student_schools: BTreeMap<&str, &[String]> = BTreeMap::new();
    for s in &roster.students {
        student_schools.insert(&s.id, &s.school_ids);
        if let Some(o) = first(&s.school_ids) {
            out.insert(s.id.clone(), o);
        }
    }
    for s in &roster.staff {
        if let Some(o) = first(&s.school_ids) {
            out.entry(s.id.clone()).or_insert(o);
        }
    }
    for c in &roster.contacts {
        let owner = c
            .links
            .iter()
            .filter_map(|l| student_schools.get(l.student_id.as_str()))
            .flat_map(|ids| ids.iter())
            .filter(|s| school_map.contains_key(*s))
            .min();
        if let Some(o) = owner {
            out.entry(c.id.clone()).or_insert_with(|| o.clone());
        }
    }
    out
}

/// Contact source id → staff source id when name, email and SMS number agree exactly.
fn contact_staff(roster: &Roster) -> BTreeMap<String, String> {
    // Staff by email key, each list in id order: the first that also agrees on name and SMS.
    let mut by_email: HashMap<String, Vec<&domain::Staff>> = HashMap::new();
    for s in &roster.staff {
        if let Some(e) = &s.email {
            by_email.entry(e.key()).or_default().push(s);
        }
    }
    for list in by_email.values_mut() {
        list.sort_by(|a, b| a.id.cmp(&b.id));
    }
    let mut out = BTreeMap::new();
    for c in &roster.contacts {
        let Some(email) = &c.email else { continue };
        let Some(candidates) = by_email.get(&email.key()) else {
            continue;
        };
        if let Some(s) = candidates
            .iter()
            .find(|s| s.first_name == c.first_name && s.last_name == c.last_name && s.sms == c.sms)
        {
            out.insert(c.id.clone(), s.id.clone());
        }
    }
    out
}

/// Cuts a prepared roster into the shards of the in-scope schools (`school_map` keys). Records
/// that name a school absent from the roster are added to `warnings` (see [`Roster::shards`]).
pub fn stage_shards(
    roster: &Roster,
    school_map: &BTreeMap<String, String>,
    warnings: &mut Vec<domain::Issue>,
) -> Vec<StagedSchool> {
    let owners = owners(roster, school_map);
    let same = contact_staff(roster);
    let students: BTreeMap<&str, &domain::Student> =
        roster.students.iter().map(|s| (s.id.as_str(), s)).collect();
    let staff: BTreeMap<&str, &domain::Staff> =
        roster.staff.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut out = Vec::new();
    let (shards, unplaced) = roster.shards();
    warnings.extend(unplaced);
    for mut shard in shards {
        if !school_map.contains_key(&shard.school.id) {
            continue;
        }
        let sid = shard.school.id.clone();
        let mut owned: BTreeSet<String> = BTreeSet::new();
        for id in shard
            .students
            .iter()
            .map(|s| &s.id)
            .chain(shard.staff.iter().map(|s| &s.id))
            .chain(shard.contacts.iter().map(|c| &c.id))
        {
            if owners.get(id) == Some(&sid) {
                owned.insert(id.clone());
            }
        }
        let contact_staff: BTreeMap<String, String> = shard
            .contacts
            .iter()
            .filter_map(|c| same.get(&c.id).map(|s| (c.id.clone(), s.clone())))
            .collect();
        // People referenced but not members of this school: resolvable, never planned here.
        // The linked students of the contacts this school owns come along too: a guardian is
        // a member of every school of its children, and only the owner plans the guardian.
        let mut have: BTreeSet<String> = shard
            .students
            .iter()
            .map(|s| s.id.clone())
            .chain(shard.staff.iter().map(|s| s.id.clone()))
            .collect();
        let referenced: Vec<String> = shard
            .enrollments
            .iter()
            .map(|e| e.user_id.clone())
            .chain(contact_staff.values().cloned())
            .chain(
                shard
                    .contacts
                    .iter()
                    .filter(|c| owned.contains(&c.id))
                    .flat_map(|c| c.links.iter().map(|l| l.student_id.clone())),
            )
            .collect();
        for id in referenced {
            if have.contains(&id) {
                continue;
            }
            if let Some(s) = students.get(id.as_str()) {
                shard.students.push((*s).clone());
            } else if let Some(s) = staff.get(id.as_str()) {
                shard.staff.push((*s).clone());
            }
            have.insert(id);
        }
        shard.students.sort_by(|a, b| a.id.cmp(&b.id));
        shard.staff.sort_by(|a, b| a.id.cmp(&b.id));
        out.push(StagedSchool {
            shard,
            owned,
            contact_staff,
        });
    }
    out
}
