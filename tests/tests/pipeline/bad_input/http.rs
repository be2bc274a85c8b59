//! HTTP sources: the Clever Data API and OneRoster 1.1 REST, served by the test kit's fake
//! servers with faults. A run is started as `app::runs::start` does it (fetch with the raw pages
//! kept, then `fail_run` or `stage_roster`), but with a [`FakeClock`] so retries cost no time.

use super::{Ctx, Expect, clean, clean_district, enrolled_student, ensure, error, verify};
use app::fetch::{FetchError, ObjectRaw};
use domain::district::SourceConfig;
use domain::report::Report;
use domain::{Roster, SourceDistrict};
use integration::{D, TestEnv, dump};
use sources::SourceError;
use sources::clever_api::CleverConfig;
use sources::oneroster_api::{OneRosterAuth, OneRosterConfig, SignatureMethod};
use std::sync::Arc;
use testkit::{CleverOptions, CleverServer, FakeClock, Faults, OneRosterOptions, OneRosterServer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Clever,
    OneRoster,
}

/// One case: the server's faults (applied to the second run, after a good first run), the page
/// size, how the served district differs, and what must come of it.
struct Case {
    name: &'static str,
    api: Api,
    faults: Faults,
    page_limit: u32,
    /// Changes the served district (e.g. a paused Clever district).
    serve: fn(&mut Roster),
    expect: Expect,
}

fn same(_: &mut Roster) {}

fn case(name: &'static str, api: Api, page_limit: u32, faults: Faults, expect: Expect) -> Case {
    Case {
        name,
        api,
        faults,
        page_limit,
        serve: same,
        expect,
    }
}

fn cases() -> Vec<Case> {
    use Api::{Clever as C, OneRoster as O};
    vec![
        // Clever: requests are districts (1), schools (2), users (3, 4, ...) with 10 per page.
        case(
            "clever_truncated_json_page",
            C,
            10,
            Faults {
                truncate_at: Some(4),
                ..Faults::default()
            },
            error(
                "invalid_input",
                "malformed_json",
                "/v3.0/users?limit=10&starting_after=",
            ),
        ),
        case(
            "clever_401_mid_paging",
            C,
            10,
            Faults {
                unauthorized_at: Some(5),
                ..Faults::default()
            },
            error(
                "wrong_credentials",
                "wrong_credentials",
                "/v3.0/users?limit=10&starting_after=",
            ),
        ),
        case(
            "clever_next_link_loops",
            C,
            10,
            Faults {
                loop_next: true,
                ..Faults::default()
            },
            error(
                "invalid_input",
                "invalid_response",
                "/v3.0/users?limit=10&starting_after=",
            ),
        ),
        case(
            "clever_429_storm_beyond_retries",
            C,
            1000,
            Faults {
                rate_limited: 1000,
                reset_after: 1,
                ..Faults::default()
            },
            error(
                "source_unavailable",
                "source_unavailable",
                "/v3.0/districts?limit=1000",
            ),
        ),
        case(
            "clever_5xx_persistent",
            C,
            1000,
            Faults {
                server_errors: 1000,
                ..Faults::default()
            },
            error(
                "source_unavailable",
                "source_unavailable",
                "/v3.0/districts?limit=1000",
            ),
        ),
        Case {
            serve: |r| {
                r.district = Some(SourceDistrict {
                    id: D.into(),
                    name: Some("Paused district".into()),
                    state: Some("paused".into()),
                    pause_start: Some("2026-06-01".into()),
                    pause_end: Some("2026-09-30".into()),
                });
            },
            ..case(
                "clever_paused_district",
                C,
                1000,
                Faults::default(),
                error("source_unavailable", "source_paused", "roster"),
            )
        },
        // OneRoster: orgs, academicSessions, courses, classes, users, ... with 10 per page.
        case(
            "oneroster_total_count_too_high",
            O,
            10,
            Faults {
                lying_total: Some(1_000_000),
                ..Faults::default()
            },
            clean(same_as_good_run),
        ),
        case(
            "oneroster_total_count_too_low",
            O,
            10,
            Faults {
                lying_total: Some(3),
                ..Faults::default()
            },
            clean(same_as_good_run),
        ),
        case(
            "oneroster_401_mid_paging",
            O,
            10,
            Faults {
                unauthorized_at: Some(12),
                ..Faults::default()
            },
            error(
                "wrong_credentials",
                "wrong_credentials",
                "/ims/oneroster/v1p1/users?limit=10&offset=",
            ),
        ),
        case(
            "oneroster_5xx_persistent",
            O,
            1000,
            Faults {
                server_errors: 1000,
                ..Faults::default()
            },
            error(
                "source_unavailable",
                "source_unavailable",
                "/ims/oneroster/v1p1/orgs?limit=1000&offset=0",
            ),
        ),
        case(
            "oneroster_truncated_json_page",
            O,
            1000,
            Faults {
                truncate_at: Some(5),
                ..Faults::default()
            },
            error(
                "invalid_input",
                "malformed_json",
                "/ims/oneroster/v1p1/users?limit=1000&offset=0",
            ),
        ),
    ]
}

/// Records as the good first run left them: a student still in its classroom (the full
/// comparison with the first run's dump is done by the driver for clean cases).
fn same_as_good_run(ctx: &Ctx, d: &[domain::directory::Record]) -> Result<(), String> {
    let (student, section) = enrolled_student(&ctx.roster);
    ensure(super::enrolled(d, &section, &student), || {
        format!("student {student} is not in the classroom of {section}")
    })
}

const TOKEN: &str = "test-token";
const KEY: &str = "key";
const SECRET: &str = "secret";

/// One run against `base_url` as `app::runs::start` does it, with a fake clock.
async fn run(env: &TestEnv, api: Api, base_url: &str, page_limit: u32) -> Report {
    env.clock.advance(std::time::Duration::from_secs(60));
    let ports = env.ports();
    let district = env.district().await;
    let run = app::runs::new_run(&district, false, ports.clock.now());
    let mut raw = ObjectRaw::new(ports.objects.clone(), D, &run.run_id);
    let clock = Arc::new(FakeClock::new());
    let fetched: Result<Roster, SourceError> = match api {
        Api::Clever => {
            let cfg = CleverConfig {
                base_url: base_url.to_string(),
                page_limit,
                clock,
                ..CleverConfig::new(TOKEN)
            };
            sources::clever_api::fetch(&cfg, &mut raw).await
        }
        Api::OneRoster => {
            let auth = OneRosterAuth::OAuth1 {
                key: KEY.into(),
                secret: SECRET.into(),
                method: SignatureMethod::HmacSha256,
            };
            let cfg = OneRosterConfig {
                page_limit,
                clock,
                ..OneRosterConfig::new(base_url, auth)
            };
            sources::oneroster_api::fetch(&cfg, &mut raw).await
        }
    };
    match fetched {
        Err(e) => app::runs::fail_run(&ports, run, &FetchError::Source(e))
            .await
            .expect("fail_run"),
        Ok(roster) => match app::runs::stage_roster(&ports, &district, run, roster)
            .await
            .expect("stage")
        {
            app::runs::Started::Staged(run) => env.finish(&run.run_id).await,
            app::runs::Started::Ended(r) => *r,
        },
    }
}

async fn serve(api: Api, roster: &Roster, faults: Faults) -> (String, Box<dyn std::any::Any>) {
    match api {
        Api::Clever => {
            let s = CleverServer::start(
                roster,
                CleverOptions {
                    token: TOKEN.into(),
                    faults,
                    ..CleverOptions::default()
                },
            )
            .await
            .expect("clever");
            (s.base_url(), Box::new(s))
        }
        Api::OneRoster => {
            let s = OneRosterServer::start(
                roster,
                OneRosterOptions {
                    oauth1: Some((KEY.into(), SECRET.into())),
                    faults,
                    ..OneRosterOptions::default()
                },
            )
            .await
            .expect("oneroster");
            (s.base_url(), Box::new(s))
        }
    }
}

async fn run_case(c: &Case) -> Result<(), String> {
    let env = TestEnv::new();
    let roster = clean_district(11);
    let source = match c.api {
        Api::Clever => SourceConfig::Clever {
            base_url: "http://unused".into(),
            version: None,
            secret_ref: app::admin::secret_name(D),
        },
        Api::OneRoster => SourceConfig::OnerosterApi {
            base_url: "http://unused".into(),
            client_id: KEY.into(),
            auth: "oauth1".into(),
            token_url: None,
            signature: None,
            secret_ref: app::admin::secret_name(D),
        },
    };
    env.connect(source, Some("secret")).await;
    // A good run first, from a server without faults.
    let (good_url, good) = serve(c.api, &roster, Faults::default()).await;
    let first = run(&env, c.api, &good_url, c.page_limit).await;
    drop(good);
    ensure(integration::ok(&first) && first.warnings.is_empty(), || {
        format!(
            "the good run did not sync cleanly: {} {:?} {:?}",
            first.status.as_str(),
            first.warnings,
            first.errors
        )
    })?;
    let before = dump(env.directory(), D).await;
    let mut served = roster.clone();
    (c.serve)(&mut served);
    let (url, server) = serve(c.api, &served, c.faults.clone()).await;
    let report = run(&env, c.api, &url, c.page_limit).await;
    drop(server);
    // Locations of paging requests end with a cursor or offset that depends on the data: a
    // location ending in `=` matches any value there.
    let mut expect = c.expect.clone();
    if let Expect::Error { location, .. } = &mut expect
        && location.ends_with('=')
        && let Some(got) = report.errors.first()
        && got.location.starts_with(*location)
        && !got.location[location.len()..].contains(['&', '?', ' '])
    {
        *location = Box::leak(got.location.clone().into_boxed_str());
    }
    let ctx = Ctx { roster };
    verify(&env, &ctx, &report, &expect, &before).await?;
    if matches!(c.expect, Expect::Warnings { .. }) {
        // Records correct: exactly what the good run made (run ids aside).
        let after = dump(env.directory(), D).await;
        let strip = |d: Vec<domain::directory::Record>| integration::without_run_ids(d);
        if let Some(d) = integration::first_difference(&strip(before), &strip(after)) {
            return Err(format!("the records differ from the good run: {d}"));
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_source_bad_inputs() {
    let mut failures = Vec::new();
    for c in cases() {
        if let Err(e) = run_case(&c).await {
            failures.push(format!("{} ({:?}): {e}", c.name, c.api));
        }
    }
    super::report_failures("HTTP source", failures);
}
