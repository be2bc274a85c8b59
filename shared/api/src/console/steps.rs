//! Steps 1 to 7: connect a source, what it shares, match schools, link classrooms, sync
//! settings, self-check, the nightly sync; and the overview that shows where a district is.

use super::html::{
    PickForm, button_form, csrf_field, esc, next_step, notice, page, status_badge, table, url,
};
use super::session::Session;
use super::{FormBody, checked, done_notice, fail, params, see_other};
use crate::ApiState;
use crate::error::ApiError;
use app::admin;
use app::console_support::{self, SourceForm, SourceShares};
use app::secrets::{Secret, SecretError, SecretStore};
use async_trait::async_trait;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use domain::directory::{Classroom, School};
use domain::district::{District, SourceConfig};
use domain::settings::{SETTING_KEYS, SyncSettings};
use std::collections::BTreeMap;
use std::fmt::Write;

type Q = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// Where no secret store was given to the router (a deployment that keeps secrets elsewhere):
/// file sources still work; saving or reading a secret says why it cannot.
struct NoSecrets;

#[async_trait]
impl SecretStore for NoSecrets {
    async fn get(&self, name: &str) -> Result<Secret, SecretError> {
        Err(SecretError::Missing(name.to_string()))
    }
    async fn put(&self, name: &str, _: &Secret) -> Result<(), SecretError> {
        Err(SecretError::Store {
            path: name.to_string(),
            message: "this deployment gives the console no secret store; set the secret with the deployment's own tools".into(),
        })
    }
}

fn secrets(st: &ApiState) -> &dyn SecretStore {
    match &st.secrets {
        Some(s) => s.as_ref(),
        None => &NoSecrets,
    }
}

async fn district(st: &ApiState, s: &Session) -> Result<District, ApiError> {
    Ok(admin::district(st.runs.as_ref(), &s.district).await?)
}

fn source_summary(src: Option<&SourceConfig>) -> String {
    match src {
        None => "No source connected yet.".into(),
        Some(SourceConfig::Clever { base_url, .. }) => {
            format!("Clever API at {base_url} (token stored, not shown)")
        }
        Some(SourceConfig::OnerosterApi {
            base_url,
            client_id,
            auth,
            ..
        }) => format!(
            "OneRoster API at {base_url}, client {client_id}, {auth} (secret stored, not shown)"
        ),
        Some(SourceConfig::OnerosterCsv { path }) => format!("OneRoster CSV files at {path}"),
        Some(SourceConfig::CleverCsv { path }) => format!("Clever CSV files at {path}"),
        Some(SourceConfig::Sftp {
            host,
            port,
            user,
            path,
            ..
        }) => format!("SFTP drop {user}@{host}:{port}{path} (credential stored, not shown)"),
    }
}

// ---------------------------------------------------------------------------------------------
// Overview

pub async fn overview(State(st): State<ApiState>, session: Session) -> Response {
    match overview_body(&st, &session).await {
        Ok(body) => page("Set up roster sync", 0, Some(&session), &body),
        Err(e) => fail(&session, e),
    }
}

async fn overview_body(st: &ApiState, s: &Session) -> Result<String, ApiError> {
    let d = district(st, s).await?;
    let schools = admin::schools(st.directory.as_ref(), &s.district).await?;
    let matched = schools
        .iter()
        .filter(|x| !x.external_ids.is_empty())
        .count();
    let rooms = admin::classrooms(st.directory.as_ref(), &s.district, None).await?;
    let linked = rooms
        .iter()
        .filter(|c| c.managed.is_none() && !c.section_ids.is_empty())
        .count();
    let runs = st.runs.list_runs(&s.district, None, 30).await?;
    let last_check = runs.iter().find(|r| r.dry_run);
    let last_sync = runs.iter().find(|r| !r.dry_run);
    let sched = &d.settings.schedule;
    let status = [
        esc(&source_summary(d.source.as_ref())),
        "Read the source and count what it shares.".to_string(),
        format!("{matched} of {} directory schools matched.", schools.len()),
        format!("{linked} existing classrooms linked to sections."),
        format!(
            "Deletion threshold {}%, student id from {}.",
            d.settings.deletion_threshold_pct,
            match d.settings.student_id_source {
                domain::settings::StudentIdSource::SisId => "SIS id",
                domain::settings::StudentIdSource::StudentNumber => "student number",
            }
        ),
        match last_check {
            Some(r) => format!("Last self-check {}.", status_badge(r.status.as_str())),
            None => "No self-check yet.".into(),
        },
        if sched.enabled {
            format!(
                "On, daily at {} ({}).",
                esc(&sched.start_time),
                esc(&sched.timezone)
            )
        } else {
            "Off.".into()
        },
        match last_sync {
            Some(r) => format!("Last sync {}.", status_badge(r.status.as_str())),
            None => "No sync yet.".into(),
        },
        "Archive students the sync does not manage; merge duplicates.".into(),
    ];
    let mut h = String::from(
        "<p>Walk the nine steps in order. Each step can be revisited; nothing syncs for real until \
         you run a sync or enable the nightly sync.</p><ol class=\"overview\">",
    );
    for (i, ((path, name), text)) in super::html::STEPS.iter().zip(status).enumerate() {
        let _ = write!(
            h,
            "<li><a href=\"{path}\"><span class=\"num\">{}</span> {name}</a><p>{text}</p></li>",
            i + 1
        );
    }
    h.push_str("</ol>");
    Ok(h)
}

// ---------------------------------------------------------------------------------------------
// Step 1: connect a source

pub async fn source(State(st): State<ApiState>, session: Session, q: Q) -> Response {
    let q = params(q);
    match district(&st, &session).await {
        Ok(d) => page(
            "1 · Connect a source",
            1,
            Some(&session),
            &source_body(&session, &d, &done_notice(Some(q.get("done")))),
        ),
        Err(e) => fail(&session, e),
    }
}

fn option(value: &str, label: &str, current: &str) -> String {
    format!(
        "<option value=\"{}\"{}>{}</option>",
        esc(value),
        if value == current { " selected" } else { "" },
        esc(label)
    )
}

fn text_input(name: &str, label: &str, value: &str, help: &str) -> String {
    format!(
        "<div class=\"field\"><label for=\"f-{name}\">{}</label>\
         <input id=\"f-{name}\" name=\"{name}\" type=\"text\" value=\"{}\" aria-describedby=\"h-{name}\">\
         <p class=\"help\" id=\"h-{name}\">{}</p></div>",
        esc(label),
        esc(value),
        esc(help)
    )
}

fn source_body(s: &Session, d: &District, flash: &str) -> String {
    let src = d.source.as_ref();
    let kind = src.map(SourceConfig::kind_name).unwrap_or("oneroster-csv");
    let (mut base_url, mut client_id, mut path, mut host, mut user, mut host_key) = (
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    );
    let mut port = "22".to_string();
    match src {
        Some(SourceConfig::Clever { base_url: b, .. }) => base_url = b.clone(),
        Some(SourceConfig::OnerosterApi {
            base_url: b,
            client_id: c,
            ..
        }) => {
            base_url = b.clone();
            client_id = c.clone();
        }
        Some(SourceConfig::OnerosterCsv { path: p } | SourceConfig::CleverCsv { path: p }) => {
            path = p.clone()
        }
        Some(SourceConfig::Sftp {
            host: h,
            port: p,
            user: u,
            host_key: k,
            path: pa,
            ..
        }) => {
            host = h.clone();
            port = p.to_string();
            user = u.clone();
            host_key = k.clone();
            path = pa.clone();
        }
        None => {}
    }
    let mut h = String::from(flash);
    let _ = write!(
        h,
        "<p>Where the roster comes from. Today: <strong>{}</strong></p>",
        esc(&source_summary(src))
    );
    let _ = write!(
        h,
        "<form method=\"post\" action=\"/console/source\" class=\"card\">{}\
         <div class=\"field\"><label for=\"f-kind\">Source</label><select id=\"f-kind\" name=\"kind\">{}{}{}{}{}</select>\
         <p class=\"help\">Clever and OneRoster APIs are read over HTTPS; CSV sources read a folder or ZIP on this server; SFTP pulls nightly drops.</p></div>\
         <fieldset><legend>Clever or OneRoster API</legend>{}{}\
         <div class=\"field\"><label for=\"f-auth\">OneRoster authentication</label><select id=\"f-auth\" name=\"auth\">{}{}</select></div>{}</fieldset>\
         <fieldset><legend>Files</legend>{}</fieldset>\
         <fieldset><legend>SFTP</legend>{}{}{}{}{}</fieldset>\
         <div class=\"field\"><label for=\"f-secret\">Token, client secret or SFTP password</label>\
         <input id=\"f-secret\" name=\"secret\" type=\"password\" autocomplete=\"new-password\" aria-describedby=\"h-secret\">\
         <p class=\"help\" id=\"h-secret\">Stored in the secret store, never in the settings and never shown again. Leave empty to keep the stored one.</p></div>\
         <button type=\"submit\"{}>Save source</button></form>",
        csrf_field(s),
        option("oneroster-csv", "OneRoster CSV (folder or ZIP)", kind),
        option("clever-csv", "Clever CSV (folder or ZIP)", kind),
        option("clever", "Clever API", kind),
        option(
            "oneroster-api",
            "OneRoster API (ClassLink and others)",
            kind
        ),
        option("sftp", "SFTP drops", kind),
        text_input(
            "base_url",
            "API base URL",
            &base_url,
            "Clever: https://api.clever.com (default). OneRoster: the server's base URL."
        ),
        text_input(
            "client_id",
            "OneRoster client id",
            &client_id,
            "The application or client id the roster server issued."
        ),
        option("oauth1", "OAuth 1.0a (signed requests)", "oauth1"),
        option("oauth2", "OAuth 2 client credentials", ""),
        text_input("token_url", "OAuth 2 token URL", "", "Only for OAuth 2."),
        text_input(
            "path",
            "Folder, ZIP or remote folder",
            &path,
            "CSV sources: a folder or ZIP on this server. SFTP: the remote folder the drops land in."
        ),
        text_input("host", "SFTP host", &host, "Host name of the SFTP server."),
        text_input("port", "SFTP port", &port, "Usually 22."),
        text_input("user", "SFTP user", &user, "The login name."),
        text_input(
            "host_key",
            "SFTP host key fingerprint",
            &host_key,
            "SHA256:... as printed by ssh-keygen -lf; the connection is refused if the server shows another key."
        ),
        text_input(
            "format",
            "SFTP file format",
            "",
            "oneroster-csv or clever-csv (default: detected)."
        ),
        if s.read_only() { " disabled" } else { "" },
    );
    if src.is_some() {
        h.push_str(&next_step(1));
    }
    h
}

pub async fn source_post(State(st): State<ApiState>, session: Session, body: FormBody) -> Response {
    let c = match checked(session, body) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let f = &c.form;
    let form = SourceForm {
        kind: f.get("kind").into(),
        base_url: f.get("base_url").into(),
        client_id: f.get("client_id").into(),
        auth: f.get("auth").into(),
        token_url: f.get("token_url").into(),
        secret: Secret::new(f.get("secret")),
        path: f.get("path").into(),
        host: f.get("host").into(),
        port: f.get("port").into(),
        user: f.get("user").into(),
        host_key: f.get("host_key").into(),
        format: f.get("format").into(),
    };
    let result = async {
        let d = district(&st, &c.session).await?;
        let (config, secret) = console_support::source_from_form(&d.id, &form, d.source.as_ref())?;
        admin::connect(st.runs.as_ref(), secrets(&st), &d.id, config, secret).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    match result {
        Ok(()) => {
            tracing::info!(district = %c.session.district, "source connected through the console");
            see_other("/console/source?done=connected")
        }
        Err(e) => fail(&c.session, e),
    }
}

// ---------------------------------------------------------------------------------------------
// Step 2: what the source shares

/// Reads the source, or says why it could not.
async fn read(st: &ApiState, d: &District) -> Result<SourceShares, String> {
    if d.source.is_none() {
        return Err("No source is connected yet: connect one in step 1.".into());
    }
    console_support::read_source(d, secrets(st))
        .await
        .map_err(|e| {
            tracing::warn!(district = %d.id, reason = %e.reason(), "console could not read the source");
            format!("The source could not be read ({}): {e}", e.reason().as_str())
        })
}

pub async fn shares(State(st): State<ApiState>, session: Session) -> Response {
    let d = match district(&st, &session).await {
        Ok(d) => d,
        Err(e) => return fail(&session, e),
    };
    let mut h = String::from(
        "<p>What the source gives this district today, read just now (nothing is written). \
         Compare it with what you meant to share: schools, staff and sections you do not intend to \
         sync should not be shared, and the contact types and relationships shared should match \
         the ones ticked in step 5.</p>",
    );
    match read(&st, &d).await {
        Err(msg) => h.push_str(&notice("error", &msg)),
        Ok(sh) => {
            h.push_str("<ul class=\"tiles\">");
            for (name, n) in &sh.counts {
                let _ = write!(h, "<li><span class=\"big\">{n}</span> {}</li>", esc(name));
            }
            h.push_str("</ul>");
            let rows: Vec<Vec<String>> = sh
                .schools
                .iter()
                .map(|s| {
                    vec![
                        esc(&s.name),
                        format!("<code>{}</code>", esc(&s.id)),
                        sh.students_per_school
                            .get(&s.id)
                            .copied()
                            .unwrap_or(0)
                            .to_string(),
                        sh.sections
                            .iter()
                            .filter(|x| x.school_id == s.id)
                            .count()
                            .to_string(),
                    ]
                })
                .collect();
            h.push_str(&table(
                "Schools in the feed",
                &["School", "Source id", "Students", "Sections"],
                &rows,
            ));
            let rows: Vec<Vec<String>> = sh
                .warnings
                .iter()
                .map(|(code, n)| vec![format!("<code>{}</code>", esc(code)), n.to_string()])
                .collect();
            h.push_str(&table(
                "Warnings while reading, by cause",
                &["Cause", "Count"],
                &rows,
            ));
        }
    }
    h.push_str(&next_step(2));
    page("2 · What the source shares", 2, Some(&session), &h)
}

// ---------------------------------------------------------------------------------------------
// Step 3: match schools

/// The feed's schools: read live, or from the newest staged run if the source cannot be read.
async fn feed_schools(
    st: &ApiState,
    d: &District,
) -> Result<(Vec<domain::School>, Option<String>), ApiError> {
    match read(st, d).await {
        Ok(sh) => Ok((sh.schools, None)),
        Err(msg) => {
            let (_, schools) = crate::feed::latest_feed_schools(st, &d.id).await?;
            Ok((schools, Some(msg)))
        }
    }
}

pub async fn schools(State(st): State<ApiState>, session: Session, q: Q) -> Response {
    let q = params(q);
    match schools_body(&st, &session, q.get("done")).await {
        Ok(b) => page("3 · Match schools", 3, Some(&session), &b),
        Err(e) => fail(&session, e),
    }
}

async fn schools_body(st: &ApiState, s: &Session, done: &str) -> Result<String, ApiError> {
    let d = district(st, s).await?;
    let dir = admin::schools(st.directory.as_ref(), &s.district).await?;
    let (feed, warn) = feed_schools(st, &d).await?;
    let suggestions = admin::suggest_schools(&dir, &feed);
    let mut h = done_notice(Some(done));
    h.push_str(
        "<p>Only schools with a source id take part in the sync. Accept a suggestion in one click, \
         or pick the feed school by hand.</p>",
    );
    if let Some(w) = warn {
        h.push_str(&notice("warn", &w));
    }
    let rows: Vec<Vec<String>> = suggestions
        .iter()
        .map(|x| {
            vec![
                esc(&x.school_name),
                format!("{} <code>{}</code>", esc(&x.feed_name), esc(&x.external_id)),
                format!("{:.0}%", x.score * 100.0),
                esc(&x.reasons.join(", ")),
                button_form(
                    s,
                    "/console/schools/match",
                    &[("school", &x.school_id), ("external_id", &x.external_id)],
                    &format!("Accept {}", x.feed_name),
                    "small",
                ),
            ]
        })
        .collect();
    h.push_str(&table(
        "Suggested matches",
        &["Directory school", "Feed school", "Score", "Why", ""],
        &rows,
    ));
    let taken: std::collections::BTreeSet<&str> = dir
        .iter()
        .flat_map(|x| x.external_ids.iter().map(String::as_str))
        .collect();
    let free: Vec<&domain::School> = feed
        .iter()
        .filter(|f| !taken.contains(f.id.as_str()))
        .collect();
    let rows: Vec<Vec<String>> = dir
        .iter()
        .filter(|x| x.archived.is_none())
        .map(|x| school_row(s, x, &free))
        .collect();
    h.push_str(&table(
        "Directory schools",
        &["School", "Id", "Source ids", "Match by hand"],
        &rows,
    ));
    h.push_str(&next_step(3));
    Ok(h)
}

fn school_row(s: &Session, x: &School, free: &[&domain::School]) -> Vec<String> {
    let ids = if x.external_ids.is_empty() {
        "<span class=\"muted\">none: not synced</span>".to_string()
    } else {
        x.external_ids
            .iter()
            .map(|i| format!("<code>{}</code>", esc(i)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let manual = if !x.external_ids.is_empty() {
        "<span class=\"muted\">matched</span>".to_string()
    } else if free.is_empty() {
        "<span class=\"muted\">no unmatched feed school left</span>".to_string()
    } else {
        PickForm {
            action: "/console/schools/match",
            hidden: ("school", &x.id),
            name: "external_id",
            label: &format!("Feed school for {}", x.name),
            options: free
                .iter()
                .map(|f| (f.id.as_str(), f.name.as_str()))
                .collect(),
            button: "Match",
            class: "small secondary",
        }
        .render(s)
    };
    vec![
        esc(&x.name),
        format!("<code>{}</code>", esc(&x.id)),
        ids,
        manual,
    ]
}

pub async fn schools_match(
    State(st): State<ApiState>,
    session: Session,
    body: FormBody,
) -> Response {
    let c = match checked(session, body) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match admin::match_school(
        st.directory.as_ref(),
        &c.session.district,
        c.form.get("school"),
        c.form.get("external_id"),
    )
    .await
    {
        Ok(_) => {
            tracing::info!(district = %c.session.district, school_id = %c.form.get("school"), "school matched through the console");
            see_other("/console/schools?done=matched")
        }
        Err(e) => fail(&c.session, e),
    }
}

// ---------------------------------------------------------------------------------------------
// Step 4: link classrooms

pub async fn classrooms(State(st): State<ApiState>, session: Session, q: Q) -> Response {
    let q = params(q);
    match classrooms_body(&st, &session, q.get("q"), q.get("done")).await {
        Ok(b) => page("4 · Link classrooms", 4, Some(&session), &b),
        Err(e) => fail(&session, e),
    }
}

async fn classrooms_body(
    st: &ApiState,
    s: &Session,
    search: &str,
    done: &str,
) -> Result<String, ApiError> {
    let d = district(st, s).await?;
    let rooms = admin::classrooms(st.directory.as_ref(), &s.district, None).await?;
    let dir_schools = admin::schools(st.directory.as_ref(), &s.district).await?;
    let school_of_feed: BTreeMap<&str, &School> = dir_schools
        .iter()
        .flat_map(|x| x.external_ids.iter().map(move |e| (e.as_str(), x)))
        .collect();
    let manual: Vec<&Classroom> = rooms
        .iter()
        .filter(|c| c.managed.is_none() && c.archived.is_none())
        .collect();
    let mut h = done_notice(Some(done));
    h.push_str(
        "<p>Existing classrooms can be taken over by a section of the feed, so the sync keeps them \
         instead of creating a duplicate. For Clever use the section's Clever id (not its SIS id); \
         for OneRoster the class sourcedId. Classrooms you leave alone stay as they are; archive \
         the ones you no longer want.</p>",
    );
    let rows: Vec<Vec<String>> = manual
        .iter()
        .map(|c| {
            vec![
                esc(&c.name),
                format!("<code>{}</code>", esc(&c.id)),
                esc(&c.school_id),
                if c.section_ids.is_empty() {
                    "<span class=\"muted\">not linked</span>".into()
                } else {
                    c.section_ids
                        .iter()
                        .map(|x| format!("<code>{}</code>", esc(x)))
                        .collect::<Vec<_>>()
                        .join(" ")
                },
            ]
        })
        .collect();
    h.push_str(&table(
        "Existing (manual) classrooms",
        &["Classroom", "Id", "School", "Linked sections"],
        &rows,
    ));
    let _ = write!(
        h,
        "<form method=\"get\" action=\"/console/classrooms\" class=\"card search\" role=\"search\">\
         <label for=\"f-q\">Search the feed's sections</label>\
         <input id=\"f-q\" name=\"q\" type=\"search\" value=\"{}\" placeholder=\"name, subject, period or id\">\
         <button type=\"submit\">Search</button></form>",
        esc(search)
    );
    let needle = search.trim().to_lowercase();
    if !needle.is_empty() {
        match read(st, &d).await {
            Err(msg) => h.push_str(&notice("error", &msg)),
            Ok(sh) => {
                let hits: Vec<_> = sh
                    .sections
                    .iter()
                    .filter(|x| {
                        [
                            Some(&x.name),
                            Some(&x.id),
                            x.subject.as_ref(),
                            x.period.as_ref(),
                        ]
                        .into_iter()
                        .flatten()
                        .any(|v| v.to_lowercase().contains(&needle))
                    })
                    .take(50)
                    .collect();
                let rows: Vec<Vec<String>> = hits
                    .iter()
                    .map(|x| {
                        let school = school_of_feed.get(x.school_id.as_str());
                        let candidates: Vec<&&Classroom> = manual
                            .iter()
                            .filter(|c| school.is_none_or(|sc| sc.id == c.school_id))
                            .collect();
                        let form = if candidates.is_empty() {
                            "<span class=\"muted\">no classroom to link in this school</span>"
                                .to_string()
                        } else {
                            PickForm {
                                action: "/console/classrooms/link",
                                hidden: ("section", &x.id),
                                name: "classroom",
                                label: &format!("Classroom to link to {}", x.name),
                                options: candidates
                                    .iter()
                                    .map(|c| (c.id.as_str(), c.name.as_str()))
                                    .collect(),
                                button: "Link",
                                class: "small",
                            }
                            .render(s)
                        };
                        vec![
                            esc(&x.name),
                            format!("<code>{}</code>", esc(&x.id)),
                            esc(x.subject.as_deref().unwrap_or("")),
                            esc(&school
                                .map(|sc| sc.name.clone())
                                .unwrap_or_else(|| format!("{} (not matched)", x.school_id))),
                            form,
                        ]
                    })
                    .collect();
                h.push_str(&table(
                    &format!("Sections matching “{}” (first 50)", search.trim()),
                    &[
                        "Section",
                        "Section id",
                        "Subject",
                        "School",
                        "Take over a classroom",
                    ],
                    &rows,
                ));
            }
        }
    }
    h.push_str(&next_step(4));
    Ok(h)
}

pub async fn classrooms_link(
    State(st): State<ApiState>,
    session: Session,
    body: FormBody,
) -> Response {
    let c = match checked(session, body) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match admin::link_classroom(
        st.directory.as_ref(),
        &c.session.district,
        c.form.get("classroom"),
        c.form.get("section"),
    )
    .await
    {
        Ok(_) => {
            tracing::info!(district = %c.session.district, classroom_id = %c.form.get("classroom"), "classroom linked through the console");
            see_other("/console/classrooms?done=linked")
        }
        Err(e) => fail(&c.session, e),
    }
}

// ---------------------------------------------------------------------------------------------
// Step 5: settings

enum Control {
    Bool,
    Choice(&'static [(&'static str, &'static str)]),
    Set(&'static [&'static str]),
    Number,
}

/// The settings of step 5 (the schedule is step 7): key, label, control, help.
const FORM_SETTINGS: &[(&str, &str, Control, &str)] = &[
    (
        "deletion_threshold_pct",
        "Deletion threshold (%)",
        Control::Number,
        "The most a run may archive of the sync-managed records of one kind. Above it the run is held: creates and updates go ahead, archives wait for your approval.",
    ),
    (
        "student_id_source",
        "Student ID",
        Control::Choice(&[
            ("sis_id", "SIS id (STUDENT ID)"),
            ("student_number", "Student number"),
        ]),
        "Which source field becomes the student's id. Can be changed at any time.",
    ),
    (
        "archived_students",
        "Archived students who reappear",
        Control::Choice(&[
            (
                "unarchive_sync_archived",
                "Unarchive those the sync archived",
            ),
            ("unarchive_all", "Unarchive all"),
            ("keep_archived", "Keep them archived"),
        ]),
        "What happens to an archived student who is in the feed again.",
    ),
    (
        "manage_guardians",
        "Allow the sync to manage guardians",
        Control::Bool,
        "Off: guardians come from elsewhere (a guardians file) and the sync leaves them alone.",
    ),
    (
        "unarchive_classrooms",
        "Unarchive classrooms that reappear",
        Control::Bool,
        "Off keeps classrooms you archived by hand archived. Turn it off for the year rollover.",
    ),
    (
        "update_active_users",
        "Update contact details of active users",
        Control::Bool,
        "Off: once a person has logged in, their own email and phone are kept.",
    ),
    (
        "update_language",
        "Update the user's language from the roster",
        Control::Bool,
        "Take each person's language from the roster data.",
    ),
    (
        "phone_column",
        "Phone credential column",
        Control::Choice(&[("sms", "SMS (cell) column"), ("phone", "Phone column")]),
        "Which source column becomes the mobile number used to sign in and for texts.",
    ),
    (
        "contact_types",
        "Contact types to sync",
        Control::Set(&[
            "Parent/Guardian",
            "Emergency",
            "Primary",
            "Secondary",
            "Family",
            "Other",
        ]),
        "Tick the types you share in the source. None ticked means all.",
    ),
    (
        "relationships",
        "Contact relationships to sync",
        Control::Set(&[
            "Parent",
            "Grandparent",
            "Self",
            "Aunt/Uncle",
            "Sibling",
            "Guardian",
            "Relative",
            "Other",
        ]),
        "Tick the relationships you share. None ticked means all.",
    ),
    (
        "phone_types",
        "Phone types to sync",
        Control::Set(&["Cell", "Home", "Work", "Other"]),
        "None ticked means all.",
    ),
    (
        "school_scope",
        "Schools that sync",
        Control::Choice(&[
            ("auto", "Matched schools (all if the directory has none)"),
            ("matched", "Only matched schools"),
            ("all", "Every school in the feed"),
        ]),
        "Only matched schools is the safe choice once step 3 is done.",
    ),
    ("entities.classrooms", "Sync classrooms", Control::Bool, ""),
    ("entities.students", "Sync students", Control::Bool, ""),
    ("entities.staff", "Sync staff", Control::Bool, ""),
    ("entities.guardians", "Sync guardians", Control::Bool, ""),
    (
        "entities.enrollments",
        "Sync class memberships",
        Control::Bool,
        "",
    ),
];

/// The current value of `key` as the settings form shows it.
fn current(s: &SyncSettings, key: &str) -> String {
    use domain::settings::{ArchivedStudents, PhoneColumn, SchoolScope, StudentIdSource};
    let set = |it: Vec<&str>| it.join(",");
    match key {
        "deletion_threshold_pct" => s.deletion_threshold_pct.to_string(),
        "student_id_source" => match s.student_id_source {
            StudentIdSource::SisId => "sis_id",
            StudentIdSource::StudentNumber => "student_number",
        }
        .into(),
        "archived_students" => match s.archived_students {
            ArchivedStudents::UnarchiveSyncArchived => "unarchive_sync_archived",
            ArchivedStudents::UnarchiveAll => "unarchive_all",
            ArchivedStudents::KeepArchived => "keep_archived",
        }
        .into(),
        "manage_guardians" => s.manage_guardians.to_string(),
        "unarchive_classrooms" => s.unarchive_classrooms.to_string(),
        "update_active_users" => s.update_active_users.to_string(),
        "update_language" => s.update_language.to_string(),
        "phone_column" => match s.phone_column {
            PhoneColumn::Sms => "sms",
            PhoneColumn::Phone => "phone",
        }
        .into(),
        "contact_types" => set(s.contact_types.iter().map(|x| x.as_str()).collect()),
        "relationships" => set(s.relationships.iter().map(|x| x.as_str()).collect()),
        "phone_types" => set(s.phone_types.iter().map(|x| x.as_str()).collect()),
        "school_scope" => match s.school_scope {
            None => "auto",
            Some(SchoolScope::Matched) => "matched",
            Some(SchoolScope::All) => "all",
        }
        .into(),
        "entities.classrooms" => s.entities.classrooms.to_string(),
        "entities.students" => s.entities.students.to_string(),
        "entities.staff" => s.entities.staff.to_string(),
        "entities.guardians" => s.entities.guardians.to_string(),
        "entities.enrollments" => s.entities.enrollments.to_string(),
        "schedule.start_time" => s.schedule.start_time.clone(),
        "schedule.timezone" => s.schedule.timezone.clone(),
        "schedule.enabled" => s.schedule.enabled.to_string(),
        _ => String::new(),
    }
}

fn expected(key: &str) -> &'static str {
    SETTING_KEYS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, e)| *e)
        .unwrap_or("")
}

fn field_id(key: &str) -> String {
    format!("s-{}", key.replace('.', "-"))
}

fn setting_field(
    key: &str,
    label: &str,
    control: &Control,
    help: &str,
    value: &str,
    error: Option<&str>,
) -> String {
    let id = field_id(key);
    let err = error
        .map(|m| format!("<p class=\"field-error\" id=\"e-{id}\">{}</p>", esc(m)))
        .unwrap_or_default();
    let described = if error.is_some() {
        format!("h-{id} e-{id}")
    } else {
        format!("h-{id}")
    };
    let invalid = if error.is_some() {
        " aria-invalid=\"true\""
    } else {
        ""
    };
    let help_text = if help.is_empty() {
        String::new()
    } else {
        format!("<p class=\"help\" id=\"h-{id}\">{}</p>", esc(help))
    };
    match control {
        Control::Bool => format!(
            "<div class=\"field check\"><input type=\"hidden\" name=\"{key}\" value=\"false\">\
             <input type=\"checkbox\" id=\"{id}\" name=\"{key}\" value=\"true\"{}{invalid} aria-describedby=\"{described}\">\
             <label for=\"{id}\">{}</label>{help_text}{err}</div>",
            if value == "true" { " checked" } else { "" },
            esc(label)
        ),
        Control::Number => format!(
            "<div class=\"field\"><label for=\"{id}\">{}</label>\
             <input type=\"number\" min=\"0\" max=\"100\" id=\"{id}\" name=\"{key}\" value=\"{}\"{invalid} aria-describedby=\"{described}\">{help_text}{err}</div>",
            esc(label),
            esc(value)
        ),
        Control::Choice(options) => {
            let mut f = format!(
                "<div class=\"field\"><label for=\"{id}\">{}</label><select id=\"{id}\" name=\"{key}\"{invalid} aria-describedby=\"{described}\">",
                esc(label)
            );
            for (v, l) in options.iter() {
                f.push_str(&option(v, l, value));
            }
            let _ = write!(f, "</select>{help_text}{err}</div>");
            f
        }
        Control::Set(options) => {
            let ticked: Vec<&str> = value.split(',').collect();
            let mut f = format!(
                "<fieldset class=\"field\" aria-describedby=\"{described}\"><legend>{}</legend><input type=\"hidden\" name=\"{key}\" value=\"\">",
                esc(label)
            );
            for (i, o) in options.iter().enumerate() {
                let _ = write!(
                    f,
                    "<span class=\"opt\"><input type=\"checkbox\" id=\"{id}-{i}\" name=\"{key}\" value=\"{}\"{}><label for=\"{id}-{i}\">{}</label></span>",
                    esc(o),
                    if ticked.contains(o) { " checked" } else { "" },
                    esc(o)
                );
            }
            let _ = write!(f, "{help_text}{err}</fieldset>");
            f
        }
    }
}

fn settings_form(
    s: &Session,
    settings: &SyncSettings,
    errors: &BTreeMap<String, String>,
) -> String {
    let mut h = format!(
        "<form method=\"post\" action=\"/console/settings\" class=\"card\" novalidate>{}",
        csrf_field(s)
    );
    for (key, label, control, help) in FORM_SETTINGS {
        let help = if help.is_empty() {
            expected(key).to_string()
        } else {
            format!("{help} ({})", expected(key))
        };
        h.push_str(&setting_field(
            key,
            label,
            control,
            &help,
            &current(settings, key),
            errors.get(*key).map(String::as_str),
        ));
    }
    let _ = write!(
        h,
        "<button type=\"submit\"{}>Save settings</button></form>",
        if s.read_only() { " disabled" } else { "" }
    );
    h
}

pub async fn settings(State(st): State<ApiState>, session: Session, q: Q) -> Response {
    let q = params(q);
    let d = match district(&st, &session).await {
        Ok(d) => d,
        Err(e) => return fail(&session, e),
    };
    let mut h = done_notice(Some(q.get("done")));
    h.push_str("<p>How the sync behaves. Do not enable the nightly sync yet: that is step 7, after the self-check.</p>");
    h.push_str(&settings_form(&session, &d.settings, &BTreeMap::new()));
    h.push_str(&next_step(5));
    page("5 · Sync settings", 5, Some(&session), &h)
}

/// The form's values as `key=value` pairs for [`admin::set_settings`]; sets are joined with
/// commas. A key the form did not send at all is left as it is.
fn settings_pairs(form: &super::Form, keys: &[&str]) -> Vec<(String, String)> {
    keys.iter()
        .filter(|k| form.0.iter().any(|(name, _)| name == *k))
        .map(|k| {
            let v = match FORM_SETTINGS.iter().find(|(key, ..)| key == k) {
                Some((_, _, Control::Set(_), _)) => form.all(k).join(","),
                _ => form.get(k).trim().to_string(),
            };
            (k.to_string(), v)
        })
        .collect()
}

pub async fn settings_post(
    State(st): State<ApiState>,
    session: Session,
    body: FormBody,
) -> Response {
    let c = match checked(session, body) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let keys: Vec<&str> = FORM_SETTINGS.iter().map(|(k, ..)| *k).collect();
    let pairs = settings_pairs(&c.form, &keys);
    match admin::set_settings(st.runs.as_ref(), &c.session.district, &pairs).await {
        Ok(_) => {
            tracing::info!(district = %c.session.district, "settings saved through the console");
            see_other("/console/settings?done=settings")
        }
        Err(admin::AdminError::Settings(fields)) => {
            let d = match district(&st, &c.session).await {
                Ok(d) => d,
                Err(e) => return fail(&c.session, e),
            };
            // Show what was typed, with each bad field's message beside it.
            let mut shown = d.settings.clone();
            for (k, v) in &pairs {
                let _ = shown.set(k, v);
            }
            let errors: BTreeMap<String, String> =
                fields.into_iter().map(|f| (f.field, f.message)).collect();
            let mut h = notice(
                "error",
                &format!(
                    "{} setting(s) are not valid; nothing was saved.",
                    errors.len()
                ),
            );
            h.push_str(&settings_form(&c.session, &shown, &errors));
            super::html::page_with(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "5 · Sync settings",
                5,
                Some(&c.session),
                &h,
                None,
            )
        }
        Err(e) => fail(&c.session, e),
    }
}

// ---------------------------------------------------------------------------------------------
// Step 6: self-check

pub async fn check(State(st): State<ApiState>, session: Session) -> Response {
    let runs = match st.runs.list_runs(&session.district, None, 50).await {
        Ok(r) => r,
        Err(e) => return fail(&session, e),
    };
    let mut h = String::from(
        "<p>A self-check reads the source and plans the whole sync without writing anything: \
         what would be created, updated and archived in each school, and every warning grouped \
         by cause. Before the first real sync, check in particular:</p><ul>\
         <li><strong>Existing families</strong>: the first sync does not touch existing students; \
         it creates new ones. Archive or merge the old ones afterwards (step 9).</li>\
         <li><strong>Multiple-role users</strong>: a staff member who is also a guardian keeps one \
         account only if name, email and phone are the same in the source.</li>\
         <li><strong>Contact quality</strong>: guardians with neither a unique email nor a mobile \
         number are not created.</li></ul>",
    );
    h.push_str(&button_form(
        &session,
        "/console/check",
        &[],
        "Run the self-check",
        "",
    ));
    let rows: Vec<Vec<String>> = runs
        .iter()
        .filter(|r| r.dry_run)
        .take(10)
        .map(|r| {
            vec![
                format!(
                    "<a href=\"/console/runs/{}\">{}</a>",
                    url(&r.run_id),
                    esc(&r.started_at.format("%Y-%m-%d %H:%M UTC").to_string())
                ),
                status_badge(r.status.as_str()),
            ]
        })
        .collect();
    h.push_str(&table("Earlier self-checks", &["Started", "Status"], &rows));
    h.push_str(&next_step(6));
    page("6 · Self-check", 6, Some(&session), &h)
}

async fn start(st: &ApiState, c: &super::Checked, dry_run: bool) -> Response {
    match st.control.start(&c.session.district, dry_run).await {
        Ok(run) => {
            tracing::info!(district = %c.session.district, run_id = %run.run_id, dry_run, "run started through the console");
            see_other(&format!("/console/runs/{}", url(&run.run_id)))
        }
        Err(e) => fail(&c.session, e),
    }
}

pub async fn check_post(State(st): State<ApiState>, session: Session, body: FormBody) -> Response {
    match checked(session, body) {
        Ok(c) => start(&st, &c, true).await,
        Err(r) => r,
    }
}

pub async fn sync_post(State(st): State<ApiState>, session: Session, body: FormBody) -> Response {
    match checked(session, body) {
        Ok(c) => start(&st, &c, false).await,
        Err(r) => r,
    }
}

// ---------------------------------------------------------------------------------------------
// Step 7: the nightly sync

const TIMEZONES: &[&str] = &[
    "UTC",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Puerto_Rico",
    "Europe/London",
];

fn schedule_form(
    s: &Session,
    settings: &SyncSettings,
    errors: &BTreeMap<String, String>,
) -> String {
    let mut h = format!(
        "<form method=\"post\" action=\"/console/schedule\" class=\"card narrow\">{}",
        csrf_field(s)
    );
    h.push_str(&setting_field(
        "schedule.enabled",
        "Enable the daily sync",
        &Control::Bool,
        "Untick to stop nightly runs (for example during the year rollover).",
        &current(settings, "schedule.enabled"),
        errors.get("schedule.enabled").map(String::as_str),
    ));
    let err = |k: &str| {
        errors
            .get(k)
            .map(|m| format!("<p class=\"field-error\">{}</p>", esc(m)))
            .unwrap_or_default()
    };
    let _ = write!(
        h,
        "<div class=\"field\"><label for=\"s-time\">Start time</label>\
         <input type=\"time\" id=\"s-time\" name=\"schedule.start_time\" value=\"{}\" aria-describedby=\"h-time\">\
         <p class=\"help\" id=\"h-time\">24-hour, in the time zone below. Pick a quiet hour.</p>{}</div>\
         <div class=\"field\"><label for=\"s-tz\">Time zone</label>\
         <input type=\"text\" id=\"s-tz\" name=\"schedule.timezone\" list=\"tz-list\" value=\"{}\" aria-describedby=\"h-tz\">\
         <datalist id=\"tz-list\">{}</datalist>\
         <p class=\"help\" id=\"h-tz\">{}</p>{}</div>\
         <button type=\"submit\"{}>Save</button></form>",
        esc(&settings.schedule.start_time),
        err("schedule.start_time"),
        esc(&settings.schedule.timezone),
        TIMEZONES
            .iter()
            .map(|z| format!("<option value=\"{z}\">"))
            .collect::<String>(),
        esc(expected("schedule.timezone")),
        err("schedule.timezone"),
        if s.read_only() { " disabled" } else { "" },
    );
    h
}

fn schedule_body(
    s: &Session,
    d: &District,
    errors: &BTreeMap<String, String>,
    flash: &str,
) -> String {
    let mut h = String::from(flash);
    h.push_str("<p>When the self-check looks right, enable the daily sync. You can also run one sync now and read its report in step 8.</p>");
    h.push_str(&schedule_form(s, &d.settings, errors));
    h.push_str(&button_form(
        s,
        "/console/sync",
        &[],
        "Run a sync now",
        "secondary",
    ));
    h.push_str(&next_step(7));
    h
}

pub async fn schedule(State(st): State<ApiState>, session: Session, q: Q) -> Response {
    let q = params(q);
    match district(&st, &session).await {
        Ok(d) => page(
            "7 · Enable the nightly sync",
            7,
            Some(&session),
            &schedule_body(
                &session,
                &d,
                &BTreeMap::new(),
                &done_notice(Some(q.get("done"))),
            ),
        ),
        Err(e) => fail(&session, e),
    }
}

pub async fn schedule_post(
    State(st): State<ApiState>,
    session: Session,
    body: FormBody,
) -> Response {
    let c = match checked(session, body) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let pairs = settings_pairs(
        &c.form,
        &[
            "schedule.enabled",
            "schedule.start_time",
            "schedule.timezone",
        ],
    );
    match admin::set_settings(st.runs.as_ref(), &c.session.district, &pairs).await {
        Ok(_) => {
            tracing::info!(district = %c.session.district, "schedule saved through the console");
            see_other("/console/schedule?done=schedule")
        }
        Err(admin::AdminError::Settings(fields)) => match district(&st, &c.session).await {
            Ok(d) => {
                let errors = fields.into_iter().map(|f| (f.field, f.message)).collect();
                super::html::page_with(
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    "7 · Enable the nightly sync",
                    7,
                    Some(&c.session),
                    &schedule_body(
                        &c.session,
                        &d,
                        &errors,
                        &notice("error", "The schedule is not valid; nothing was saved."),
                    ),
                    None,
                )
            }
            Err(e) => fail(&c.session, e),
        },
        Err(e) => fail(&c.session, e),
    }
}
