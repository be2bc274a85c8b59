//! Step 8: sync reports. History with the trend of the last 30 runs, a run's detail (chart of
//! changes by entity, per-school drill-down, warnings grouped by cause, held runs with what they
//! tried to archive and approve / dismiss), the changes table with filters, and its CSV.

use super::charts;
use super::html::{button_form, esc, notice, page, page_with, status_badge, table, url};
use super::session::Session;
use super::{FormBody, checked, done_notice, fail, params, see_other};
use crate::ApiState;
use crate::dto::ChangeDto;
use crate::error::ApiError;
use crate::routes::{open_cursor, seal_cursor};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use domain::EntityKind;
use domain::plan::Action;
use domain::report::{Report, RunStatus, Totals};
use std::collections::BTreeMap;
use std::fmt::Write;
use store::ChangeFilter;

type Q = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// How many runs the trend covers.
pub const TREND_RUNS: usize = 30;
const PAGE: usize = 100;

fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn sum(totals: &Totals, action: Action) -> u64 {
    EntityKind::ALL
        .into_iter()
        .map(|e| totals.get(e).get(action))
        .sum()
}

pub async fn runs(State(st): State<ApiState>, session: Session) -> Response {
    match runs_body(&st, &session).await {
        Ok(b) => page("8 · Sync reports", 8, Some(&session), &b),
        Err(e) => fail(&session, e),
    }
}

async fn runs_body(st: &ApiState, s: &Session) -> Result<String, ApiError> {
    let runs = st.runs.list_runs(&s.district, None, TREND_RUNS).await?;
    let mut reports: BTreeMap<String, Report> = BTreeMap::new();
    for r in &runs {
        if let Some(rep) = st.runs.get_report(&s.district, &r.run_id).await? {
            reports.insert(r.run_id.clone(), rep);
        }
    }
    let mut h = String::from(
        "<p>Every run, newest first. Self-checks (dry runs) wrote nothing. Open a run for its \
         schools, warnings and the list of changes.</p>",
    );
    let names = ["created", "updated", "archived", "warnings"];
    let points: Vec<(String, Vec<u64>)> = runs
        .iter()
        .rev()
        .filter_map(|r| reports.get(&r.run_id))
        .map(|rep| {
            (
                rep.started_at.format("%m-%d %H:%M").to_string(),
                vec![
                    sum(&rep.totals, Action::Created),
                    sum(&rep.totals, Action::Updated),
                    sum(&rep.totals, Action::Archived),
                    rep.warnings.len() as u64,
                ],
            )
        })
        .collect();
    if !points.is_empty() {
        h.push_str("<h2>Trend of the last runs</h2>");
        h.push_str(&charts::trend(
            &format!(
                "Created, updated, archived and warnings over the last {} runs",
                points.len()
            ),
            &names,
            &points,
        ));
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let rep = reports.get(&r.run_id);
            let n = |a: Action| {
                rep.map(|x| sum(&x.totals, a).to_string())
                    .unwrap_or_default()
            };
            vec![
                format!(
                    "<a href=\"/console/runs/{}\">{}</a>",
                    url(&r.run_id),
                    esc(&when(r.started_at))
                ),
                if r.dry_run {
                    "self-check".into()
                } else {
                    "sync".into()
                },
                status_badge(r.status.as_str()),
                esc(r.reason.map(|x| x.as_str()).unwrap_or("")),
                n(Action::Created),
                n(Action::Updated),
                n(Action::Archived),
                rep.map(|x| x.warnings.len().to_string())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    h.push_str(&table(
        "Run history",
        &[
            "Started", "Kind", "Status", "Reason", "Created", "Updated", "Archived", "Warnings",
        ],
        &rows,
    ));
    Ok(h)
}

pub async fn run(
    State(st): State<ApiState>,
    session: Session,
    Path(run_id): Path<String>,
    q: Q,
) -> Response {
    let q = params(q);
    match run_body(&st, &session, &run_id, q.get("done")).await {
        Ok((b, refresh)) => page_with(
            StatusCode::OK,
            "Run report",
            8,
            Some(&session),
            &b,
            refresh.then_some(2),
        ),
        Err(e) => fail(&session, e),
    }
}

async fn run_body(
    st: &ApiState,
    s: &Session,
    run_id: &str,
    done: &str,
) -> Result<(String, bool), ApiError> {
    let Some(run) = st.runs.get_run(&s.district, run_id).await? else {
        return Err(ApiError::NotFound("run"));
    };
    let mut h = done_notice(Some(done));
    let _ = write!(
        h,
        "<dl class=\"facts\"><dt>Run</dt><dd><code>{}</code></dd><dt>Kind</dt><dd>{}</dd>\
         <dt>Status</dt><dd>{} {}</dd><dt>Started</dt><dd>{}</dd><dt>Finished</dt><dd>{}</dd></dl>",
        esc(&run.run_id),
        if run.dry_run {
            "self-check (dry run: nothing written)"
        } else {
            "sync"
        },
        status_badge(run.status.as_str()),
        esc(run.reason.map(|r| r.as_str()).unwrap_or("")),
        esc(&when(run.started_at)),
        esc(&run.finished_at.map(when).unwrap_or_else(|| "—".into())),
    );
    let Some(rep) = st.runs.get_report(&s.district, run_id).await? else {
        let _ = write!(
            h,
            "<p role=\"status\">Still running: {} of {} schools done. This page refreshes by itself.</p>",
            run.schools_done, run.schools_total
        );
        return Ok((h, true));
    };
    let base = format!("/console/runs/{}", url(run_id));
    if rep.status == RunStatus::Held {
        h.push_str(&notice(
            "warn",
            "This run was held: it would have archived more than the deletion threshold allows. \
             Creates and updates were applied; the archives below wait for your decision.",
        ));
        let rows: Vec<Vec<String>> = rep
            .tried_to_archive
            .iter()
            .map(|(e, n)| {
                vec![
                    esc(e.as_str()),
                    n.to_string(),
                    format!(
                        "<a href=\"{base}/changes?entity={}&amp;action=archived\">list them</a>",
                        url(e.as_str())
                    ),
                ]
            })
            .collect();
        h.push_str(&table(
            "Tried to archive",
            &["Entity", "Records", ""],
            &rows,
        ));
        h.push_str("<p class=\"actions\">");
        h.push_str(&button_form(
            s,
            &format!("{base}/approve"),
            &[],
            "Approve: apply the archives",
            "danger",
        ));
        h.push(' ');
        h.push_str(&button_form(
            s,
            &format!("{base}/dismiss"),
            &[],
            "Dismiss: archive nothing",
            "secondary",
        ));
        h.push_str("</p>");
    }
    let actions = [
        Action::Created,
        Action::Updated,
        Action::Archived,
        Action::Unarchived,
    ];
    let bars: Vec<(String, Vec<(&str, u64)>)> = EntityKind::ALL
        .into_iter()
        .map(|e| {
            let c = rep.totals.get(e);
            (
                e.as_str().replace('_', " "),
                actions.iter().map(|a| (a.as_str(), c.get(*a))).collect(),
            )
        })
        .collect();
    h.push_str("<h2>Changes by entity</h2>");
    h.push_str(&charts::stacked_bars(
        if rep.dry_run {
            "Changes this self-check would make, by entity"
        } else {
            "Changes this run made, by entity"
        },
        &bars,
    ));
    let rows: Vec<Vec<String>> = EntityKind::ALL
        .into_iter()
        .map(|e| {
            let c = rep.totals.get(e);
            let mut r = vec![format!(
                "<a href=\"{base}/changes?entity={}\">{}</a>",
                url(e.as_str()),
                esc(&e.as_str().replace('_', " "))
            )];
            r.extend(Action::ALL.iter().map(|a| c.get(*a).to_string()));
            r
        })
        .collect();
    let head: Vec<&str> = std::iter::once("Entity")
        .chain(Action::ALL.iter().map(|a| a.as_str()))
        .collect();
    h.push_str(&table("Totals", &head, &rows));
    let _ = write!(
        h,
        "<p class=\"actions\"><a class=\"button\" href=\"{base}/changes\">Browse the changes</a> \
         <a class=\"button secondary\" href=\"{base}/changes.csv\" download>Download the change list (CSV)</a></p>"
    );
    let names: BTreeMap<String, String> = app::admin::schools(st.directory.as_ref(), &s.district)
        .await?
        .into_iter()
        .map(|x| (x.id, x.name))
        .collect();
    let rows: Vec<Vec<String>> = rep
        .schools
        .iter()
        .map(|sr| {
            let t = |a: Action| sum(&sr.totals, a).to_string();
            vec![
                format!(
                    "<a href=\"{base}/changes?school={}\">{}</a>",
                    url(&sr.school_id),
                    esc(names.get(&sr.school_id).unwrap_or(&sr.school_id))
                ),
                format!("<code>{}</code>", esc(&sr.external_id)),
                status_badge(sr.status.as_str()),
                t(Action::Created),
                t(Action::Updated),
                t(Action::Archived),
                t(Action::Unchanged),
            ]
        })
        .collect();
    h.push_str("<h2>Per school</h2>");
    h.push_str(&table(
        "Schools in this run (open one for its changes)",
        &[
            "School",
            "Source id",
            "Status",
            "Created",
            "Updated",
            "Archived",
            "Unchanged",
        ],
        &rows,
    ));
    h.push_str("<h2>Warnings by cause</h2>");
    h.push_str(&issues_grouped(&rep.warnings));
    if !rep.errors.is_empty() {
        h.push_str("<h2>Errors</h2>");
        h.push_str(&issues_grouped(&rep.errors));
    }
    Ok((h, false))
}

fn issues_grouped(issues: &[domain::report::ReportIssue]) -> String {
    if issues.is_empty() {
        return "<p>None.</p>".into();
    }
    let mut groups: BTreeMap<&str, Vec<&domain::report::ReportIssue>> = BTreeMap::new();
    for i in issues {
        groups.entry(i.code.as_str()).or_default().push(i);
    }
    let mut by_size: Vec<_> = groups.into_iter().collect();
    by_size.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    let mut h = String::from("<ul class=\"groups\">");
    for (code, list) in by_size {
        let _ = write!(
            h,
            "<li><details><summary><code>{}</code> <span class=\"count\">{}</span></summary><ul>",
            esc(code),
            list.len()
        );
        for i in list.iter().take(200) {
            let _ = write!(
                h,
                "<li><span class=\"loc\">{}</span> {}</li>",
                esc(&i.location),
                esc(&i.message)
            );
        }
        if list.len() > 200 {
            let _ = write!(h, "<li>… and {} more</li>", list.len() - 200);
        }
        h.push_str("</ul></details></li>");
    }
    h.push_str("</ul>");
    h
}

/// The filter a changes page or its CSV was asked for.
fn filter_of(q: &super::Form) -> Result<ChangeFilter, ApiError> {
    let bad = |what: &str, v: &str| {
        ApiError::bad_request("invalid_query", format!("unknown {what} {v:?}"))
    };
    let entity = match q.get("entity") {
        "" => None,
        v => Some(EntityKind::parse(v).ok_or_else(|| bad("entity", v))?),
    };
    let action = match q.get("action") {
        "" => None,
        v => Some(Action::parse(v).ok_or_else(|| bad("action", v))?),
    };
    Ok(ChangeFilter {
        entity,
        action,
        school: Some(q.get("school").to_string()).filter(|s| !s.is_empty()),
        include_unchanged: action == Some(Action::Unchanged),
    })
}

fn select(name: &str, label: &str, options: &[(String, String)], current: &str) -> String {
    let mut h = format!(
        "<div class=\"field\"><label for=\"c-{name}\">{}</label><select id=\"c-{name}\" name=\"{name}\"><option value=\"\">All</option>",
        esc(label)
    );
    for (v, l) in options {
        let _ = write!(
            h,
            "<option value=\"{}\"{}>{}</option>",
            esc(v),
            if v == current { " selected" } else { "" },
            esc(l)
        );
    }
    h.push_str("</select></div>");
    h
}

pub async fn changes(
    State(st): State<ApiState>,
    session: Session,
    Path(run_id): Path<String>,
    q: Q,
) -> Response {
    let q = params(q);
    match changes_body(&st, &session, &run_id, &q).await {
        Ok(b) => page("Changes", 8, Some(&session), &b),
        Err(e) => fail(&session, e),
    }
}

async fn changes_body(
    st: &ApiState,
    s: &Session,
    run_id: &str,
    q: &super::Form,
) -> Result<String, ApiError> {
    if st.runs.get_run(&s.district, run_id).await?.is_none() {
        return Err(ApiError::NotFound("run"));
    }
    let filter = filter_of(q)?;
    let scope = format!("console-changes/{}/{run_id}", s.district);
    let cursor = match q.get("cursor") {
        "" => None,
        c => Some(open_cursor(&scope, c)?),
    };
    let (page, next) = st
        .runs
        .list_changes(&s.district, run_id, &filter, cursor.as_deref(), PAGE)
        .await?;
    let schools = app::admin::schools(st.directory.as_ref(), &s.district).await?;
    let base = format!("/console/runs/{}", url(run_id));
    let mut h = format!(
        "<p><a href=\"{base}\">← Back to the run report</a></p>\
         <form method=\"get\" action=\"{base}/changes\" class=\"card filters\">{}{}{}<button type=\"submit\">Filter</button></form>",
        select(
            "entity",
            "Entity",
            &EntityKind::ALL
                .iter()
                .map(|e| (e.as_str().to_string(), e.as_str().replace('_', " ")))
                .collect::<Vec<_>>(),
            q.get("entity")
        ),
        select(
            "action",
            "Action",
            &Action::ALL
                .iter()
                .map(|a| (a.as_str().to_string(), a.as_str().to_string()))
                .collect::<Vec<_>>(),
            q.get("action")
        ),
        select(
            "school",
            "School",
            &schools
                .iter()
                .map(|x| (x.id.clone(), x.name.clone()))
                .collect::<Vec<_>>(),
            q.get("school")
        ),
    );
    let filters = ["entity", "action", "school"]
        .iter()
        .filter(|k| !q.get(k).is_empty())
        .map(|k| format!("{k}={}", url(q.get(k))))
        .collect::<Vec<_>>()
        .join("&amp;");
    let _ = write!(
        h,
        "<p><a class=\"button secondary\" href=\"{base}/changes.csv{}{}\" download>Download these changes (CSV)</a></p>",
        if filters.is_empty() { "" } else { "?" },
        filters
    );
    let rows: Vec<Vec<String>> = page
        .iter()
        .map(|c| {
            vec![
                esc(c.entity.as_str()),
                esc(c.action.as_str()),
                esc(c.school_id.as_deref().unwrap_or("")),
                format!("<code>{}</code>", esc(c.key.as_str())),
                esc(c.source_id.as_deref().unwrap_or("")),
                esc(&c.fields.join(", ")),
                esc(c.note.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    h.push_str(&table(
        &format!("Changes ({} shown)", page.len()),
        &[
            "Entity",
            "Action",
            "School",
            "Record",
            "Source id",
            "Fields",
            "Note",
        ],
        &rows,
    ));
    if let Some(n) = next {
        let sealed = seal_cursor(&scope, &n);
        let _ = write!(
            h,
            "<p><a class=\"button\" href=\"{base}/changes?{}{}cursor={}\">Next page →</a></p>",
            filters,
            if filters.is_empty() { "" } else { "&amp;" },
            url(&sealed)
        );
    }
    Ok(h)
}

pub async fn changes_csv(
    State(st): State<ApiState>,
    session: Session,
    Path(run_id): Path<String>,
    q: Q,
) -> Response {
    let q = params(q);
    let result = async {
        if st.runs.get_run(&session.district, &run_id).await?.is_none() {
            return Err(ApiError::NotFound("run"));
        }
        let filter = filter_of(&q)?;
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let (page, next) = st
                .runs
                .list_changes(&session.district, &run_id, &filter, cursor.as_deref(), 1000)
                .await?;
            all.extend(page.iter().map(ChangeDto::from));
            match next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        crate::csv_out::changes_csv(&all)
    }
    .await;
    match result {
        Ok(body) => (
            [
                (CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    CONTENT_DISPOSITION,
                    format!(
                        "attachment; filename=\"changes-{}.csv\"",
                        run_id.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_")
                    ),
                ),
            ],
            body,
        )
            .into_response(),
        Err(e) => fail(&session, e),
    }
}

async fn decide(st: &ApiState, c: super::Checked, run_id: &str, approve: bool) -> Response {
    let result = async {
        if st
            .runs
            .get_run(&c.session.district, run_id)
            .await?
            .is_none()
        {
            return Err(ApiError::NotFound("run"));
        }
        if approve {
            st.control.approve(&c.session.district, run_id).await?;
        } else {
            st.control.dismiss(&c.session.district, run_id).await?;
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => {
            tracing::info!(district = %c.session.district, run_id = %run_id, approve, "held run decided through the console");
            see_other(&format!(
                "/console/runs/{}?done={}",
                url(run_id),
                if approve { "approved" } else { "dismissed" }
            ))
        }
        Err(e) => fail(&c.session, e),
    }
}

pub async fn approve(
    State(st): State<ApiState>,
    session: Session,
    Path(run_id): Path<String>,
    body: FormBody,
) -> Response {
    match checked(session, body) {
        Ok(c) => decide(&st, c, &run_id, true).await,
        Err(r) => r,
    }
}

pub async fn dismiss(
    State(st): State<ApiState>,
    session: Session,
    Path(run_id): Path<String>,
    body: FormBody,
) -> Response {
    match checked(session, body) {
        Ok(c) => decide(&st, c, &run_id, false).await,
        Err(r) => r,
    }
}
