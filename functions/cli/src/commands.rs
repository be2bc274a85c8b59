//! The commands: each one a thin shell over the application services in `app`, `sync` and
//! `cleanup`, printing human text on stderr and `--json` on stdout.

use crate::args::*;
use crate::output::{Out, csv_safe, render_report};
use anyhow::{Context, anyhow, bail};
use app::admin;
use app::local::LocalEnv;
use app::secrets::Secret;
use domain::district::SourceConfig;
use std::process::ExitCode;

/// A bad-usage or bad-input error (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

pub fn exit_code_for(e: &anyhow::Error) -> u8 {
    // Bad input and bad usage are 2; anything else that stops a command is 1.
    if e.downcast_ref::<Usage>().is_some()
        || e.downcast_ref::<app::import::ImportError>().is_some()
        || matches!(
            e.downcast_ref::<cleanup::CleanupError>(),
            Some(
                cleanup::CleanupError::NotFound { .. }
                    | cleanup::CleanupError::WrongKind { .. }
                    | cleanup::CleanupError::Managed { .. }
                    | cleanup::CleanupError::NotManuallyArchived { .. }
                    | cleanup::CleanupError::Refused(_)
                    | cleanup::CleanupError::NoSyncedSchools { .. }
                    | cleanup::CleanupError::BadCursor
            )
        )
        || matches!(
            e.downcast_ref::<admin::AdminError>(),
            Some(
                admin::AdminError::Invalid(_)
                    | admin::AdminError::Settings(_)
                    | admin::AdminError::UnknownDistrict(_)
                    | admin::AdminError::NotFound { .. }
            )
        )
    {
        2
    } else {
        1
    }
}

fn usage(msg: impl Into<String>) -> anyhow::Error {
    Usage(msg.into()).into()
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let out = Out { json: cli.json };
    match cli.command {
        Command::Generate(a) => generate(out, a).map(|_| ExitCode::SUCCESS),
        Command::Bench(a) => crate::bench::run(out, a).await.map(|_| ExitCode::SUCCESS),
        Command::Demo(a) => crate::commands::demo(out, &cli.data_dir, a).await,
        command => {
            let env = LocalEnv::open(&cli.data_dir)?;
            dispatch(out, &env, command).await
        }
    }
}

async fn dispatch(out: Out, env: &LocalEnv, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Connect(a) => {
            let d = connect(env, &a.district, &a.source).await?;
            out.emit(&d, || {
                format!(
                    "Connected district {} to {}.",
                    d.id,
                    d.source
                        .as_ref()
                        .map(SourceConfig::kind_name)
                        .unwrap_or("?")
                )
            })?;
        }
        Command::Settings { action } => settings(out, env, action).await?,
        Command::Schools { action } => schools(out, env, action).await?,
        Command::Classrooms { action } => classrooms(out, env, action).await?,
        Command::Directory {
            action: DirectoryCmd::Import { district, file },
        } => {
            admin::district(env.runs.as_ref(), &district)
                .await
                .or_else(|e| match e {
                    admin::AdminError::UnknownDistrict(_) => Ok(domain::district::District {
                        id: district.clone(),
                        name: district.clone(),
                        settings: Default::default(),
                        source: None,
                        version: 0,
                    }),
                    e => Err(e),
                })?;
            ensure_district(env, &district).await?;
            let name = file.display().to_string();
            let bytes = std::fs::read(&file).with_context(|| format!("cannot read {name}"))?;
            let export = app::import::parse(&name, &bytes)?;
            let summary =
                app::import::import(env.directory.as_ref(), &district, &name, export).await?;
            out.emit(&summary, || {
                format!(
                    "Imported {name}: {} written, {} already there, {} conflicting (left as they were).",
                    summary.written, summary.unchanged, summary.conflicts
                )
            })?;
        }
        Command::Check(a) => {
            return crate::commands::sync(out, env, &a.district, true, &SourceArgs::default())
                .await;
        }
        Command::Sync(a) => {
            return crate::commands::sync(out, env, &a.district, a.dry_run, &a.source).await;
        }
        Command::Runs { action } => return runs(out, env, action).await,
        Command::Students { action } => students(out, env, action).await?,
        Command::Tokens {
            action:
                TokensCmd::Create {
                    district,
                    read_only,
                },
        } => {
            admin::district(env.runs.as_ref(), &district).await?;
            let token = api::create_token(env.objects.as_ref(), &district, read_only).await?;
            let scope = if read_only { "read-only" } else { "admin" };
            out.emit(&serde_json::json!({"district": district, "scope": scope, "token": token}), || {
                format!("{token}\n(an {scope} token for district {district}; shown once, stored only as a hash)")
            })?;
        }
        Command::Serve(a) => crate::serve::serve(out, env, a).await?,
        Command::Generate(_) | Command::Bench(_) | Command::Demo(_) => unreachable_command()?,
    }
    Ok(ExitCode::SUCCESS)
}

fn unreachable_command() -> anyhow::Result<()> {
    Err(anyhow!("internal: command dispatched twice"))
}

fn generate(out: Out, a: GenerateArgs) -> anyhow::Result<()> {
    let format: synth::Format = a
        .format
        .parse()
        .map_err(|e: synth::UnknownFormat| usage(e.to_string()))?;
    let spec = synth::Spec {
        students: a.students,
        seed: a.seed,
        dirty: a.dirty,
        ..synth::Spec::default()
    };
    let started = std::time::Instant::now();
    let (roster, injected) = synth::generate_to(&spec, format, &a.out)?;
    let summary = serde_json::json!({
        "out": a.out.display().to_string(),
        "format": format.as_str(),
        "schools": roster.schools.len(),
        "sections": roster.sections.len(),
        "students": roster.students.len(),
        "staff": roster.staff.len(),
        "contacts": roster.contacts.len(),
        "enrollments": roster.enrollments.len(),
        "dirty_cells": injected.len(),
    });
    out.emit(&summary, || {
        format!(
            "Wrote a {} district to {} in {:.1}s: {} schools, {} sections, {} students, {} staff, {} contacts, {} enrollments{}.",
            format,
            a.out.display(),
            started.elapsed().as_secs_f64(),
            roster.schools.len(),
            roster.sections.len(),
            roster.students.len(),
            roster.staff.len(),
            roster.contacts.len(),
            roster.enrollments.len(),
            if injected.is_empty() { String::new() } else { format!(", {} malformed cells", injected.len()) }
        )
    })
}

fn env_secret(var: &str) -> anyhow::Result<Secret> {
    std::env::var(var)
        .map(Secret::new)
        .map_err(|_| usage(format!("environment variable {var} is not set")))
}

/// Builds a source configuration (and its secret) from connect-style flags.
pub fn source_from_args(
    district: &str,
    a: &SourceArgs,
) -> anyhow::Result<(SourceConfig, Option<Secret>)> {
    let need = |v: &Option<String>, flag: &str| {
        v.clone()
            .ok_or_else(|| usage(format!("--source {:?} needs {flag}", a.source)))
    };
    let secret_ref = admin::secret_name(district);
    let Some(kind) = a.source else {
        bail!(Usage("--source is required".into()))
    };
    Ok(match kind {
        SourceArg::Clever => {
            let token = match (&a.token, &a.token_env) {
                (Some(t), _) => Secret::new(t.clone()),
                (None, Some(var)) => env_secret(var)?,
                (None, None) => return Err(usage("--source clever needs --token or --token-env")),
            };
            (
                SourceConfig::Clever {
                    base_url: a
                        .base_url
                        .clone()
                        .unwrap_or_else(|| "https://api.clever.com".into()),
                    version: a.api_version.clone(),
                    secret_ref,
                },
                Some(token),
            )
        }
        SourceArg::OnerosterApi => {
            let secret = match (&a.client_secret, &a.client_secret_env) {
                (Some(s), _) => Secret::new(s.clone()),
                (None, Some(var)) => env_secret(var)?,
                (None, None) => {
                    return Err(usage(
                        "--source oneroster-api needs --client-secret or --client-secret-env",
                    ));
                }
            };
            let auth = a.auth.clone().unwrap_or_else(|| "oauth1".into());
            if !["oauth1", "oauth2"].contains(&auth.as_str()) {
                return Err(usage("--auth must be oauth1 or oauth2"));
            }
            if auth == "oauth2" && a.token_url.is_none() {
                return Err(usage("--auth oauth2 needs --token-url"));
            }
            if let Some(sig) = &a.signature
                && !["hmac-sha256", "hmac-sha1"].contains(&sig.as_str())
            {
                return Err(usage("--signature must be hmac-sha256 or hmac-sha1"));
            }
            (
                SourceConfig::OnerosterApi {
                    base_url: need(&a.base_url, "--base-url")?,
                    client_id: need(&a.client_id, "--client-id")?,
                    auth,
                    token_url: a.token_url.clone(),
                    signature: a.signature.clone(),
                    secret_ref,
                },
                Some(secret),
            )
        }
        SourceArg::OnerosterCsv | SourceArg::CleverCsv => {
            let path = need(&a.path, "--path")?;
            let abs = std::path::Path::new(&path)
                .canonicalize()
                .map_err(|e| usage(format!("--path {path}: {e}")))?
                .display()
                .to_string();
            if kind == SourceArg::OnerosterCsv {
                (SourceConfig::OnerosterCsv { path: abs }, None)
            } else {
                (SourceConfig::CleverCsv { path: abs }, None)
            }
        }
        SourceArg::Sftp => {
            let (auth, secret) = match (&a.key_file, &a.password_env) {
                (Some(k), _) => (
                    "key".to_string(),
                    Secret::new(
                        std::fs::read_to_string(k)
                            .map_err(|e| usage(format!("--key-file {}: {e}", k.display())))?,
                    ),
                ),
                (None, Some(var)) => ("password".to_string(), env_secret(var)?),
                (None, None) => {
                    return Err(usage("--source sftp needs --key-file or --password-env"));
                }
            };
            let host_key = need(&a.host_key, "--host-key SHA256:...")?;
            if !host_key.starts_with("SHA256:") {
                return Err(usage(
                    "--host-key must be a SHA256 fingerprint, e.g. SHA256:abc... (ssh-keygen -lf key.pub)",
                ));
            }
            if let Some(f) = &a.format
                && !["oneroster-csv", "clever-csv"].contains(&f.as_str())
            {
                return Err(usage("--format must be oneroster-csv or clever-csv"));
            }
            (
                SourceConfig::Sftp {
                    host: need(&a.host, "--host")?,
                    port: a.port.unwrap_or(22),
                    user: need(&a.user, "--user")?,
                    host_key,
                    path: need(&a.path, "--path")?,
                    format: a.format.clone(),
                    auth,
                    secret_ref,
                },
                Some(secret),
            )
        }
    })
}

async fn connect(
    env: &LocalEnv,
    district: &str,
    a: &SourceArgs,
) -> anyhow::Result<domain::district::District> {
    let (source, secret) = source_from_args(district, a)?;
    Ok(admin::connect(
        env.runs.as_ref(),
        env.secrets.as_ref(),
        district,
        source,
        secret,
    )
    .await?)
}

async fn ensure_district(env: &LocalEnv, district: &str) -> anyhow::Result<()> {
    admin::validate_id("district", district)?;
    if env.runs.get_district(district).await?.is_none() {
        let d = domain::district::District {
            id: district.to_string(),
            name: district.to_string(),
            settings: Default::default(),
            source: None,
            version: 0,
        };
        env.runs.put_district(&d).await?;
    }
    Ok(())
}

async fn settings(out: Out, env: &LocalEnv, action: SettingsCmd) -> anyhow::Result<()> {
    let d = match action {
        SettingsCmd::Show(a) => admin::district(env.runs.as_ref(), &a.district).await?,
        SettingsCmd::Set { district, pairs } => {
            if pairs.is_empty() {
                let keys: Vec<String> = domain::settings::SETTING_KEYS
                    .iter()
                    .map(|(k, e)| format!("  {k:<24} {e}"))
                    .collect();
                return Err(usage(format!(
                    "give KEY=VALUE pairs. Keys:\n{}",
                    keys.join("\n")
                )));
            }
            let parsed: Vec<(String, String)> = pairs
                .iter()
                .map(|p| {
                    p.split_once('=')
                        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                })
                .collect::<Option<_>>()
                .ok_or_else(|| usage("settings are given as KEY=VALUE"))?;
            admin::set_settings(env.runs.as_ref(), &district, &parsed).await?
        }
    };
    out.emit(&d.settings, || {
        serde_json::to_string_pretty(&d.settings).unwrap_or_default()
    })
}

async fn schools(out: Out, env: &LocalEnv, action: SchoolsCmd) -> anyhow::Result<()> {
    match action {
        SchoolsCmd::List(a) => {
            admin::district(env.runs.as_ref(), &a.district).await?;
            let list = admin::schools(env.directory.as_ref(), &a.district).await?;
            out.emit(&list, || {
                let mut s = format!("{:<28} {:<36} external ids\n", "school", "name");
                for x in &list {
                    s.push_str(&format!(
                        "{:<28} {:<36} {}\n",
                        x.id,
                        x.name,
                        x.external_ids
                            .iter()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                if list.is_empty() {
                    s.push_str(
                        "(no schools yet: the first sync creates them, or import your directory)\n",
                    );
                }
                s
            })?;
        }
        SchoolsCmd::Suggest {
            district,
            apply_above,
        } => {
            let d = admin::district(env.runs.as_ref(), &district).await?;
            let mut raw = sources::NoRaw;
            let roster = app::fetch::fetch_roster(&d, env.secrets.as_ref(), &mut raw).await?;
            let dir = admin::schools(env.directory.as_ref(), &district).await?;
            let suggestions = admin::suggest_schools(&dir, &roster.schools);
            let mut applied = Vec::new();
            if let Some(min) = apply_above {
                for s in suggestions.iter().filter(|s| s.score >= min) {
                    admin::match_school(
                        env.directory.as_ref(),
                        &district,
                        &s.school_id,
                        &s.external_id,
                    )
                    .await?;
                    applied.push(s.clone());
                }
            }
            out.emit(&serde_json::json!({"suggestions": suggestions, "applied": applied}), || {
                let mut s = String::new();
                for x in &suggestions {
                    s.push_str(&format!(
                        "{:<24} → {:<12} score {:.2}  {}\n    rostersync schools match --district {district} --school {} --external-id {}\n",
                        x.school_id,
                        x.external_id,
                        x.score,
                        x.reasons.join(", "),
                        x.school_id,
                        x.external_id
                    ));
                }
                if suggestions.is_empty() {
                    s.push_str("No suggestions: every directory school is matched, or no feed school looks alike.\n");
                }
                if !applied.is_empty() {
                    s.push_str(&format!("Matched {} schools.\n", applied.len()));
                }
                s
            })?;
        }
        SchoolsCmd::Match {
            district,
            school,
            external_id,
        } => {
            admin::district(env.runs.as_ref(), &district).await?;
            let s = admin::match_school(env.directory.as_ref(), &district, &school, &external_id)
                .await?;
            out.emit(&s, || {
                format!(
                    "School {} now syncs with source school {external_id}.",
                    s.id
                )
            })?;
        }
    }
    Ok(())
}

async fn classrooms(out: Out, env: &LocalEnv, action: ClassroomsCmd) -> anyhow::Result<()> {
    match action {
        ClassroomsCmd::List { district, school } => {
            admin::district(env.runs.as_ref(), &district).await?;
            let list =
                admin::classrooms(env.directory.as_ref(), &district, school.as_deref()).await?;
            out.emit(&list, || {
                let mut s = format!(
                    "{:<28} {:<24} {:<32} {:<9} sections\n",
                    "classroom", "school", "name", "state"
                );
                for c in &list {
                    s.push_str(&format!(
                        "{:<28} {:<24} {:<32} {:<9} {}\n",
                        c.id,
                        c.school_id,
                        c.name,
                        if c.archived.is_some() {
                            "archived"
                        } else if c.managed.is_some() {
                            "synced"
                        } else {
                            "manual"
                        },
                        c.section_ids.iter().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
                s
            })?;
        }
        ClassroomsCmd::Link {
            district,
            classroom,
            section,
        } => {
            admin::district(env.runs.as_ref(), &district).await?;
            let c = admin::link_classroom(env.directory.as_ref(), &district, &classroom, &section)
                .await?;
            out.emit(&c, || {
                format!(
                    "Classroom {} will be taken over by section {section} at the next sync.",
                    c.id
                )
            })?;
        }
    }
    Ok(())
}

async fn latest_run(env: &LocalEnv, district: &str, run: Option<String>) -> anyhow::Result<String> {
    match run {
        Some(r) => Ok(r),
        None => env
            .runs
            .list_runs(district, None, 1)
            .await?
            .into_iter()
            .next()
            .map(|r| r.run_id)
            .ok_or_else(|| usage(format!("district {district} has no runs yet"))),
    }
}

async fn runs(out: Out, env: &LocalEnv, action: RunsCmd) -> anyhow::Result<ExitCode> {
    match action {
        RunsCmd::List { district, limit } => {
            admin::district(env.runs.as_ref(), &district).await?;
            let list = env.runs.list_runs(&district, None, limit).await?;
            out.emit(&list, || {
                let mut s = format!(
                    "{:<36} {:<24} {:<20} {:<8} started\n",
                    "run", "status", "reason", "dry run"
                );
                for r in &list {
                    s.push_str(&format!(
                        "{:<36} {:<24} {:<20} {:<8} {}\n",
                        r.run_id,
                        r.status.as_str(),
                        r.reason.map(|x| x.as_str()).unwrap_or("-"),
                        if r.dry_run { "yes" } else { "no" },
                        r.started_at.format("%Y-%m-%d %H:%M:%S UTC")
                    ));
                }
                s
            })?;
        }
        RunsCmd::Show { district, run } => {
            admin::district(env.runs.as_ref(), &district).await?;
            let run = latest_run(env, &district, run).await?;
            let report = env.runs.get_report(&district, &run).await?.ok_or_else(|| {
                usage(format!(
                    "run {run} of district {district} has no report (yet)"
                ))
            })?;
            out.emit(&report, || render_report(&report))?;
        }
        RunsCmd::Changes {
            district,
            run,
            entity,
            action,
            school,
            csv,
            limit,
        } => {
            admin::district(env.runs.as_ref(), &district).await?;
            let run = latest_run(env, &district, run).await?;
            let filter = store::ChangeFilter {
                entity: entity
                    .as_deref()
                    .map(|e| {
                        domain::EntityKind::parse(e)
                            .ok_or_else(|| usage(format!("unknown entity {e}")))
                    })
                    .transpose()?,
                action: action
                    .as_deref()
                    .map(|a| {
                        domain::plan::Action::parse(a)
                            .ok_or_else(|| usage(format!("unknown action {a}")))
                    })
                    .transpose()?,
                include_unchanged: action.as_deref() == Some("unchanged"),
                school,
            };
            let mut all = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let (page, next) = env
                    .runs
                    .list_changes(&district, &run, &filter, cursor.as_deref(), limit.min(1000))
                    .await?;
                all.extend(page);
                match next {
                    Some(c) if all.len() < limit => cursor = Some(c),
                    _ => break,
                }
            }
            all.truncate(limit);
            if csv {
                let mut w = csv::Writer::from_writer(std::io::stdout());
                w.write_record([
                    "entity",
                    "action",
                    "school_id",
                    "key",
                    "source_id",
                    "fields",
                    "note",
                ])?;
                for c in &all {
                    w.write_record([
                        c.entity.as_str().to_string(),
                        c.action.as_str().to_string(),
                        csv_safe(c.school_id.as_deref().unwrap_or("")),
                        csv_safe(c.key.as_str()),
                        csv_safe(c.source_id.as_deref().unwrap_or("")),
                        csv_safe(&c.fields.join(" ")),
                        csv_safe(c.note.as_deref().unwrap_or("")),
                    ])?;
                }
                w.flush()?;
            } else {
                out.emit(&all, || {
                    let mut s = String::new();
                    for c in &all {
                        s.push_str(&format!(
                            "{:<12} {:<10} {:<24} {:<40} {}\n",
                            c.entity.as_str(),
                            c.action.as_str(),
                            c.school_id.as_deref().unwrap_or("-"),
                            c.key.as_str(),
                            c.fields.join(",")
                        ));
                    }
                    s
                })?;
            }
        }
        RunsCmd::Approve { district, run } => {
            let report = sync::pipeline::approve(&ports(env), &district, &run).await?;
            out.emit(&report, || render_report(&report))?;
            return Ok(exit_for(&report));
        }
        RunsCmd::Dismiss { district, run } => {
            let report = sync::pipeline::dismiss(&ports(env), &district, &run).await?;
            out.emit(&report, || render_report(&report))?;
            return Ok(exit_for(&report));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn exit_for(report: &domain::report::Report) -> ExitCode {
    use domain::report::RunStatus::*;
    match report.status {
        Failed | Held => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    }
}

/// One run on the local pipeline (used by `sync`, `check`, `demo` and the benchmarks).
pub async fn sync_once(
    env: &LocalEnv,
    district: &str,
    dry_run: bool,
) -> anyhow::Result<domain::report::Report> {
    Ok(app::runs::sync_once(&ports(env), env.secrets.as_ref(), district, dry_run).await?)
}

fn ports(env: &LocalEnv) -> sync::pipeline::Ports {
    env.ports()
}

pub async fn sync(
    out: Out,
    env: &LocalEnv,
    district: &str,
    dry_run: bool,
    source: &SourceArgs,
) -> anyhow::Result<ExitCode> {
    if source.source.is_some() {
        connect(env, district, source).await?;
    }
    admin::district(env.runs.as_ref(), district).await?;
    if !out.json {
        out.say(format!(
            "{} district {district}…",
            if dry_run { "Self-checking" } else { "Syncing" }
        ));
    }
    let report = match app::runs::sync_once(&ports(env), env.secrets.as_ref(), district, dry_run)
        .await
    {
        Ok(r) => r,
        // A drop-fed (SFTP) district with no new complete drop: not an error, no run.
        Err(app::runs::RunError::NothingNew(why)) => {
            if out.json {
                println!(
                    "{}",
                    serde_json::json!({ "district": district, "run_id": null, "status": "nothing_new", "reason": why })
                );
            } else {
                out.say(format!("Nothing to sync for district {district}: {why}."));
            }
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => return Err(e.into()),
    };
    out.emit(&report, || render_report(&report))?;
    Ok(exit_for(&report))
}

/// The demo's pre-existing product data: the district's schools under the names the product
/// knows them by (no external ids yet), a few manual classrooms, and manual students (some of
/// them the same children the feed will bring) with guardians and linked records.
fn demo_directory(roster: &domain::Roster) -> app::import::DirectoryExport {
    use domain::directory::*;
    let mut export = app::import::DirectoryExport::default();
    for (i, s) in roster.schools.iter().enumerate() {
        export.schools.push(School {
            id: format!("school-{}", i + 1),
            name: s.name.replace("School", "").trim().to_string(),
            external_ids: Default::default(),
            school_number: s.school_number.clone(),
            nces_id: None,
            managed: None,
            archived: None,
            version: 0,
        });
        export.classrooms.push(Classroom {
            id: format!("room-{}", i + 1),
            school_id: format!("school-{}", i + 1),
            name: "Main Office Announcements".into(),
            grade: None,
            section_ids: Default::default(),
            managed: None,
            archived: None,
            version: 0,
        });
    }
    let Some(first) = roster.schools.first() else {
        return export;
    };
    // Manual students: a dozen children the feed also has (same name and birth date), and a
    // few who have left the district.
    let feed_students: Vec<&domain::Student> = roster
        .students
        .iter()
        .filter(|s| s.school_ids.first() == Some(&first.id))
        .take(12)
        .collect();
    for (i, s) in feed_students.iter().enumerate() {
        let id = format!("manual-student-{}", i + 1);
        export.students.push(Person {
            id: id.clone(),
            kind: PersonKind::Student,
            first_name: s.first_name.clone(),
            middle_name: None,
            last_name: s.last_name.clone(),
            email: None,
            sms: None,
            phone: None,
            language: None,
            grade: s.grade,
            dob: s.dob,
            sis_id: None,
            student_number: None,
            state_id: None,
            staff_roles: Vec::new(),
            title: None,
            school_ids: ["school-1".to_string()].into(),
            external_ids: Default::default(),
            active: false,
            same_person_as: None,
            managed: None,
            archived: None,
            version: 0,
        });
        export.enrollments.push(Enrollment {
            classroom_id: "room-1".into(),
            person_id: id.clone(),
            role: MemberRole::Student,
            primary: false,
            managed: false,
            version: 0,
        });
        for (k, kind) in [
            LinkedKind::Announcement,
            LinkedKind::Backpack,
            LinkedKind::InteractionLog,
            LinkedKind::StudentAttribute,
        ]
        .into_iter()
        .enumerate()
        {
            export.linked_records.push(LinkedRecord {
                id: format!("{id}-rec-{k}"),
                kind,
                student_id: id.clone(),
                data: serde_json::json!({"note": format!("{:?} kept from before the sync", kind)}),
                version: 0,
            });
        }
    }
    for i in 0..3 {
        export.students.push(Person {
            id: format!("manual-left-{}", i + 1),
            kind: PersonKind::Student,
            first_name: ["Avery", "Jordan", "Riley"][i].into(),
            middle_name: None,
            last_name: "Formerstudent".into(),
            email: None,
            sms: None,
            phone: None,
            language: None,
            grade: domain::Grade::parse("03"),
            dob: None,
            sis_id: None,
            student_number: None,
            state_id: None,
            staff_roles: Vec::new(),
            title: None,
            school_ids: ["school-1".to_string()].into(),
            external_ids: Default::default(),
            active: false,
            same_person_as: None,
            managed: None,
            archived: None,
            version: 0,
        });
    }
    export
}

pub async fn demo(out: Out, data_dir: &std::path::Path, a: DemoArgs) -> anyhow::Result<ExitCode> {
    const D: &str = "demo";
    let env = LocalEnv::open(data_dir)?;
    let feed = data_dir.join("demo-feed");
    if env.runs.get_district(D).await?.is_none() {
        out.say(format!(
            "Setting up the demo district in {} (first run).",
            data_dir.display()
        ));
        let spec = synth::Spec {
            students: a.students,
            seed: a.seed,
            district_id: D.into(),
            dirty: true,
        };
        let (roster, _) = synth::generate_to(&spec, synth::Format::OneRosterCsv, &feed)?;
        out.say(format!(
            "  1. Generated a OneRoster CSV feed: {} schools, {} students, {} staff, {} guardians ({}).",
            roster.schools.len(),
            roster.students.len(),
            roster.staff.len(),
            roster.contacts.len(),
            feed.display()
        ));
        ensure_district(&env, D).await?;
        let export = demo_directory(&roster);
        let summary =
            app::import::import(env.directory.as_ref(), D, "demo-directory.json", export).await?;
        out.say(format!("  2. Imported the product's existing directory: {} records (schools without external ids, manual students, linked records).", summary.written));
        let args = SourceArgs {
            source: Some(SourceArg::OnerosterCsv),
            path: Some(feed.display().to_string()),
            ..SourceArgs::default()
        };
        connect(&env, D, &args).await?;
        out.say(
            "  3. Connected the district to the feed (rostersync connect --source oneroster-csv).",
        );
        let dir = admin::schools(env.directory.as_ref(), D).await?;
        let suggestions = admin::suggest_schools(&dir, &roster.schools);
        for s in suggestions.iter().filter(|s| s.score >= 0.3) {
            admin::match_school(env.directory.as_ref(), D, &s.school_id, &s.external_id).await?;
        }
        out.say(format!("  4. Matched {} schools by name and school number (rostersync schools suggest / match).", suggestions.len()));
        if let Some(section) = roster
            .sections
            .iter()
            .find(|s| roster.schools.first().is_some_and(|f| f.id == s.school_id))
        {
            admin::link_classroom(env.directory.as_ref(), D, "room-1", &section.id).await?;
            out.say(format!(
                "  5. Linked classroom room-1 to section {} so the sync takes it over.",
                section.id
            ));
        }
        let check = sync_once(&env, D, true).await?;
        let st = check.totals.get(domain::EntityKind::Students);
        out.say(format!(
            "  6. Self-check (dry run, nothing written): would create {} students and archive {}; status {}.",
            st.created,
            st.archived,
            check.status.as_str()
        ));
        out.say("  7. Syncing for real:");
    } else {
        out.say(format!(
            "The demo district exists in {}: syncing it again (expect everything unchanged).",
            data_dir.display()
        ));
    }
    let report = sync_once(&env, D, false).await?;
    out.emit(&report, || render_report(&report))?;
    if !out.json {
        out.say(format!(
            "\nNext: rostersync runs changes --district {D} --action created | rostersync students duplicates --district {D} | rostersync students archive-unsynced --district {D} --dry-run"
        ));
    }
    Ok(exit_for(&report))
}

fn person_kind(k: KindArg) -> domain::directory::PersonKind {
    use domain::directory::PersonKind;
    match k {
        KindArg::Students => PersonKind::Student,
        KindArg::Guardians => PersonKind::Guardian,
        KindArg::Staff => PersonKind::Staff,
    }
}

/// Who did a clean-up action, for the merge record: the local operating-system user.
fn actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "local".into())
    )
}

async fn students(out: Out, env: &LocalEnv, action: StudentsCmd) -> anyhow::Result<()> {
    let dir = env.directory.as_ref();
    let clock = env.clock.as_ref();
    match action {
        StudentsCmd::ArchiveUnsynced {
            district,
            school,
            all_schools,
            dry_run,
        } => {
            admin::district(env.runs.as_ref(), &district).await?;
            let scope = match (school, all_schools) {
                (Some(s), _) => cleanup::Scope::School(s),
                (None, true) => cleanup::Scope::District,
                (None, false) => cleanup::default_scope(dir, &district).await?,
            };
            let o = cleanup::archive_unsynced(dir, &district, &scope, dry_run, clock).await?;
            out.emit(&o, || {
                format!(
                    "{} {} students not part of the sync ({:?}); {} sync-managed left alone, {} already archived{}.{}",
                    if dry_run { "Would archive" } else { "Archived" },
                    o.archived,
                    scope,
                    o.skipped_managed,
                    o.already_archived,
                    if o.conflicts > 0 { format!(", {} changed meanwhile (run again)", o.conflicts) } else { String::new() },
                    if dry_run { " Nothing was written; run again without --dry-run." } else { " Undo one with `students unarchive`." }
                )
            })?;
        }
        StudentsCmd::Archive { district, student } => {
            let p = cleanup::archive_student(dir, &district, &student, clock).await?;
            out.emit(&p, || format!("Student {} archived.", p.id))?;
        }
        StudentsCmd::Unarchive { district, id } => {
            let p = cleanup::unarchive(dir, &district, &id, clock).await?;
            out.emit(&p, || format!("{} is active again.", p.id))?;
        }
        StudentsCmd::Duplicates {
            district,
            kind,
            min_confidence,
            sort,
            limit,
            cursor,
        } => {
            admin::district(env.runs.as_ref(), &district).await?;
            let sort = match sort.as_str() {
                "confidence" => cleanup::SortBy::Confidence,
                "name" => cleanup::SortBy::Name,
                other => {
                    return Err(usage(format!(
                        "--sort must be confidence or name, not {other}"
                    )));
                }
            };
            let opts = cleanup::FindOptions {
                min_confidence,
                sort,
                cursor,
                limit,
            };
            let page = cleanup::find_duplicates(dir, &district, person_kind(kind), &opts).await?;
            out.emit(&page, || {
                let mut s = format!(
                    "{} candidate pairs (showing {}):\n",
                    page.total,
                    page.items.len()
                );
                for c in &page.items {
                    let reasons: Vec<String> = c.reasons.iter().map(|r| format!("{r:?}")).collect();
                    s.push_str(&format!(
                        "  {:.2}  {} ~ {}  keep {}  ({})\n",
                        c.confidence,
                        c.a,
                        c.b,
                        c.survivor,
                        reasons.join(", ")
                    ));
                }
                if let Some(next) = &page.next_cursor {
                    s.push_str(&format!("more: --cursor {next}\n"));
                }
                s
            })?;
        }
        StudentsCmd::NotDuplicate {
            district,
            kind,
            a,
            b,
        } => {
            let n = cleanup::mark_not_duplicate(
                dir,
                &district,
                person_kind(kind),
                &a,
                &b,
                &actor(),
                clock,
            )
            .await?;
            out.emit(&n, || {
                format!(
                    "{} and {} will not be suggested as duplicates again.",
                    n.a, n.b
                )
            })?;
        }
        StudentsCmd::Merge {
            district,
            kind,
            survivor,
            duplicate,
            all_above,
            dry_run,
            force,
        } => {
            admin::district(env.runs.as_ref(), &district).await?;
            let opts = cleanup::MergeOptions { dry_run, force };
            if let Some(min) = all_above {
                let o = cleanup::merge_all(
                    dir,
                    &district,
                    person_kind(kind),
                    min,
                    opts,
                    &actor(),
                    clock,
                )
                .await?;
                out.emit(&o, || {
                    format!(
                        "{} {} pairs at or above {min:.2}; {} skipped.{}",
                        if dry_run { "Would merge" } else { "Merged" },
                        o.merged.len(),
                        o.skipped.len(),
                        if dry_run { " Nothing was written." } else { "" }
                    )
                })?;
            } else {
                let (Some(survivor), Some(duplicate)) = (survivor, duplicate) else {
                    return Err(usage(
                        "give --survivor and --duplicate, or --all-above CONFIDENCE",
                    ));
                };
                let o = cleanup::merge(
                    dir,
                    &district,
                    person_kind(kind),
                    &survivor,
                    &duplicate,
                    opts,
                    &actor(),
                    clock,
                )
                .await?;
                out.emit(&o, || {
                    format!(
                        "{} {} into {}: {} linked records, {} memberships, {} guardian links moved.{}",
                        if dry_run { "Would merge" } else { "Merged" },
                        o.duplicate_id,
                        o.survivor_id,
                        o.linked_moved,
                        o.enrollments_moved,
                        o.guardian_links_moved,
                        if dry_run { " Nothing was written.".to_string() } else { format!(" Undo: rostersync students unmerge --district {district} --merge {}", o.merge_id) }
                    )
                })?;
            }
        }
        StudentsCmd::Unmerge { district, merge } => {
            let o = cleanup::unmerge(dir, &district, &merge, clock).await?;
            out.emit(&o, || {
                format!(
                    "Merge {} undone: {} records restored, {} removed.",
                    o.merge_id, o.restored, o.deleted
                )
            })?;
        }
    }
    Ok(())
}
