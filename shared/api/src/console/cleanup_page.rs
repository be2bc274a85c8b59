//! Step 9: clean up student data. Archive students the sync does not manage (with a preview of
//! exactly who), duplicate candidates with their evidence side by side, merge in one click and
//! undo a merge.

use super::html::{button_form, esc, notice, page, table};
use super::session::Session;
use super::{FormBody, checked, done_notice, fail, params, see_other};
use crate::ApiState;
use crate::error::ApiError;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use cleanup::{CleanupError, FindOptions, MergeOptions};
use domain::directory::{IndexKey, Person, PersonKind, Record, RecordKey};
use std::collections::BTreeMap;
use std::fmt::Write;

type Q = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// How many students the archive preview lists by name.
const PREVIEW: usize = 200;

async fn people(
    st: &ApiState,
    district: &str,
    ids: impl Iterator<Item = &String>,
) -> Result<BTreeMap<String, Person>, ApiError> {
    let keys: Vec<RecordKey> = ids.map(|id| RecordKey::person(id)).collect();
    Ok(st
        .directory
        .get_many(district, &keys)
        .await?
        .into_iter()
        .filter_map(|r| match r {
            Record::Person(p) => Some((p.id.clone(), *p)),
            _ => None,
        })
        .collect())
}

fn name(p: &Person) -> String {
    format!("{} {}", p.first_name, p.last_name)
}

pub async fn cleanup(State(st): State<ApiState>, session: Session, q: Q) -> Response {
    let q = params(q);
    match body(&st, &session, q.get("done"), q.get("merge")).await {
        Ok(b) => page("9 · Clean up students", 9, Some(&session), &b),
        Err(e) => fail(&session, e),
    }
}

async fn body(st: &ApiState, s: &Session, done: &str, merge_id: &str) -> Result<String, ApiError> {
    let dir = st.directory.as_ref();
    let mut h = done_notice(Some(done));
    if done == "merged" && !merge_id.is_empty() {
        let _ = write!(h, "<p>Merge id: <code>{}</code></p>", esc(merge_id));
    }
    // (a) Archive students who are not part of the sync.
    h.push_str(
        "<h2>Archive students not part of the sync</h2><p>Students the sync manages cannot be \
         archived by hand: this archives only the others, in the schools that sync. Archived \
         students can be unarchived.</p>",
    );
    match cleanup::default_scope(dir, &s.district).await {
        Err(CleanupError::NoSyncedSchools { .. }) => h.push_str(&notice(
            "warn",
            "No school syncs yet: match schools first (step 3).",
        )),
        Err(e) => return Err(e.into()),
        Ok(scope) => {
            let preview =
                cleanup::archive_unsynced(dir, &s.district, &scope, true, st.clock.as_ref())
                    .await?;
            let _ = write!(
                h,
                "<p role=\"status\"><strong>{}</strong> students would be archived; {} are managed by the sync and stay; {} are already archived.</p>",
                preview.archived, preview.skipped_managed, preview.already_archived
            );
            if !preview.ids.is_empty() {
                let who = people(st, &s.district, preview.ids.iter().take(PREVIEW)).await?;
                let rows: Vec<Vec<String>> = preview
                    .ids
                    .iter()
                    .take(PREVIEW)
                    .map(|id| {
                        let p = who.get(id);
                        vec![
                            esc(&p.map(name).unwrap_or_default()),
                            format!("<code>{}</code>", esc(id)),
                            esc(&p
                                .and_then(|p| p.grade.map(|g| g.to_string()))
                                .unwrap_or_default()),
                            esc(&p
                                .map(|p| {
                                    p.school_ids.iter().cloned().collect::<Vec<_>>().join(", ")
                                })
                                .unwrap_or_default()),
                        ]
                    })
                    .collect();
                h.push_str(&table(
                    &format!(
                        "Preview: who would be archived{}",
                        if preview.ids.len() > PREVIEW {
                            format!(" (first {PREVIEW})")
                        } else {
                            String::new()
                        }
                    ),
                    &["Student", "Id", "Grade", "Schools"],
                    &rows,
                ));
                h.push_str(&button_form(
                    s,
                    "/console/cleanup/archive",
                    &[],
                    &format!("Archive these {} students", preview.archived),
                    "danger",
                ));
            }
        }
    }
    // (b) Duplicates.
    h.push_str(
        "<h2>Duplicate students</h2><p>Pairs that may be one child, strongest evidence first. \
         Merging keeps the survivor (the synced record when there is one), moves classes, \
         guardians and everything linked to the student onto it, and can be undone.</p>",
    );
    let page = cleanup::find_duplicates(
        dir,
        &s.district,
        PersonKind::Student,
        &FindOptions::default(),
    )
    .await?;
    let who = people(
        st,
        &s.district,
        page.items.iter().flat_map(|c| [&c.a, &c.b]),
    )
    .await?;
    let describe = |id: &str| -> String {
        match who.get(id) {
            None => format!("<code>{}</code>", esc(id)),
            Some(p) => format!(
                "<strong>{}</strong><br><code>{}</code><br><span class=\"muted\">{}{}{}</span>",
                esc(&name(p)),
                esc(id),
                esc(&p.grade.map(|g| format!("grade {g} · ")).unwrap_or_default()),
                esc(&p.dob.map(|d| format!("born {d} · ")).unwrap_or_default()),
                if p.managed.is_some() {
                    "synced"
                } else {
                    "manual"
                }
            ),
        }
    };
    let rows: Vec<Vec<String>> = page
        .items
        .iter()
        .map(|c| {
            let dup = if c.survivor == c.a { &c.b } else { &c.a };
            let reasons: Vec<String> = c
                .reasons
                .iter()
                .filter_map(|r| serde_json::to_value(r).ok())
                .filter_map(|v| v.as_str().map(|x| x.replace('_', " ")))
                .collect();
            vec![
                describe(&c.survivor),
                describe(dup),
                format!("{:.0}%", c.confidence * 100.0),
                esc(&reasons.join(", ")),
                button_form(
                    s,
                    "/console/cleanup/merge",
                    &[("survivor", &c.survivor), ("duplicate", dup)],
                    "Merge",
                    "small",
                ),
            ]
        })
        .collect();
    h.push_str(&table(
        &format!("Duplicate candidates ({} in all)", page.total),
        &["Keep", "Fold in", "Confidence", "Evidence", ""],
        &rows,
    ));
    // Merges that can be undone.
    let mut merges: Vec<_> = dir
        .query(&s.district, &IndexKey::kind("merge"), None, 500)
        .await?
        .into_iter()
        .filter_map(|r| match r {
            Record::Merge(m) if m.undone_at.is_none() && m.kind == PersonKind::Student => Some(m),
            _ => None,
        })
        .collect();
    merges.sort_by_key(|m| std::cmp::Reverse(m.at));
    let rows: Vec<Vec<String>> = merges
        .iter()
        .map(|m| {
            vec![
                esc(&m.at.format("%Y-%m-%d %H:%M UTC").to_string()),
                format!("<code>{}</code>", esc(&m.survivor_id)),
                format!("<code>{}</code>", esc(&m.duplicate_id)),
                button_form(
                    s,
                    "/console/cleanup/unmerge",
                    &[("merge", &m.id)],
                    "Undo",
                    "small secondary",
                ),
            ]
        })
        .collect();
    h.push_str(&table(
        "Merges (newest first)",
        &["When", "Kept", "Folded in", ""],
        &rows,
    ));
    Ok(h)
}

pub async fn archive(State(st): State<ApiState>, session: Session, body: FormBody) -> Response {
    let c = match checked(session, body) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let dir = st.directory.as_ref();
    let result = async {
        let scope = cleanup::default_scope(dir, &c.session.district).await?;
        cleanup::archive_unsynced(dir, &c.session.district, &scope, false, st.clock.as_ref()).await
    }
    .await;
    match result {
        Ok(o) => {
            tracing::info!(district = %c.session.district, archived = o.archived, "archive-unsynced through the console");
            see_other("/console/cleanup?done=archived")
        }
        Err(e) => fail(&c.session, e),
    }
}

pub async fn merge(State(st): State<ApiState>, session: Session, body: FormBody) -> Response {
    let c = match checked(session, body) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match cleanup::merge(
        st.directory.as_ref(),
        &c.session.district,
        PersonKind::Student,
        c.form.get("survivor"),
        c.form.get("duplicate"),
        MergeOptions::default(),
        "console",
        st.clock.as_ref(),
    )
    .await
    {
        Ok(o) => {
            tracing::info!(district = %c.session.district, merge_id = %o.merge_id, "merge through the console");
            see_other(&format!(
                "/console/cleanup?done=merged&merge={}",
                super::html::url(&o.merge_id)
            ))
        }
        Err(e) => fail(&c.session, e),
    }
}

pub async fn unmerge(State(st): State<ApiState>, session: Session, body: FormBody) -> Response {
    let c = match checked(session, body) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match cleanup::unmerge(
        st.directory.as_ref(),
        &c.session.district,
        c.form.get("merge"),
        st.clock.as_ref(),
    )
    .await
    {
        Ok(o) => {
            tracing::info!(district = %c.session.district, merge_id = %o.merge_id, "unmerge through the console");
            see_other("/console/cleanup?done=unmerged")
        }
        Err(e) => fail(&c.session, e),
    }
}
