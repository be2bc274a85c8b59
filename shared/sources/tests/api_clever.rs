//! The Clever Data API reader against the in-process fake Clever: round trips, paging, rate
//! limits, retries, credential failures and broken pages.

use domain::{IssueCode, Roster};
use sources::SourceError;
use sources::clever_api::{self, CleverConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::fixtures::clever_roster;
use testkit::{CleverOptions, CleverServer, FakeClock, Faults, MemRaw};

fn config(server: &CleverServer, clock: &Arc<FakeClock>) -> CleverConfig {
    CleverConfig {
        base_url: server.base_url(),
        token: "test-token".into(),
        page_limit: 2,
        max_retries: 4,
        request_timeout: Duration::from_secs(5),
        backoff_base: Duration::from_millis(100),
        clock: clock.clone(),
        ..CleverConfig::default()
    }
}

async fn serve(faults: Faults) -> (CleverServer, Arc<FakeClock>) {
    let server = CleverServer::start(
        &clever_roster(),
        CleverOptions {
            faults,
            ..CleverOptions::default()
        },
    )
    .await
    .unwrap();
    (server, Arc::new(FakeClock::new()))
}

fn normalised(mut r: Roster) -> Roster {
    r.normalise();
    r
}

fn issue_code(e: &SourceError) -> (IssueCode, String) {
    match e {
        SourceError::Invalid { issues } => (issues[0].code, issues[0].location.source.clone()),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[tokio::test]
async fn full_fetch_equals_served_roster_in_both_versions() {
    for version in ["v3.0", "v3.1"] {
        let (server, clock) = serve(Faults::default()).await;
        let mut raw = MemRaw::default();
        let cfg = CleverConfig {
            version: version.into(),
            ..config(&server, &clock)
        };
        let got = clever_api::fetch(&cfg, &mut raw).await.unwrap();
        assert_eq!(normalised(got), normalised(clever_roster()), "{version}");
        // 11 users at 2 per page: 6 pages (the last one short); every page stored verbatim.
        let users: Vec<&str> = raw
            .names()
            .into_iter()
            .filter(|n| n.starts_with("clever/users/"))
            .collect();
        assert_eq!(users.first(), Some(&"clever/users/0001.json"));
        assert_eq!(users.len(), 6);
        let reqs = server.requests();
        assert_eq!(reqs[0], format!("/{version}/districts?limit=2"));
        assert!(
            reqs.iter()
                .any(|r| r.contains("/users?limit=2&starting_after="))
        );
        assert!(
            clock.sleeps().is_empty(),
            "no waits expected: {:?}",
            clock.sleeps()
        );
    }
}

#[tokio::test]
async fn rate_limited_requests_wait_for_the_reset_then_succeed() {
    let (server, clock) = serve(Faults {
        rate_limited: 2,
        reset_after: 7,
        ..Faults::default()
    })
    .await;
    let started = Instant::now();
    let got = clever_api::fetch(&config(&server, &clock), &mut MemRaw::default())
        .await
        .unwrap();
    assert_eq!(normalised(got), normalised(clever_roster()));
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 2, "{sleeps:?}");
    // The first wait covers the advertised reset (7 s, give or take the clock's second).
    assert!(sleeps[0] >= Duration::from_secs(6), "{sleeps:?}");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(server.requests()[0], server.requests()[2]);
}

#[tokio::test]
async fn remaining_zero_waits_until_reset_before_the_next_request() {
    let (server, clock) = serve(Faults {
        remaining_zero_at: Some(1),
        reset_after: 30,
        ..Faults::default()
    })
    .await;
    clever_api::fetch(&config(&server, &clock), &mut MemRaw::default())
        .await
        .unwrap();
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 1, "{sleeps:?}");
    assert!(sleeps[0] >= Duration::from_secs(29), "{sleeps:?}");
}

#[tokio::test]
async fn server_errors_are_retried_with_exponential_backoff() {
    let (server, clock) = serve(Faults {
        server_errors: 3,
        ..Faults::default()
    })
    .await;
    let got = clever_api::fetch(&config(&server, &clock), &mut MemRaw::default())
        .await
        .unwrap();
    assert_eq!(normalised(got), normalised(clever_roster()));
    assert_eq!(
        clock.sleeps(),
        [100, 200, 400].map(Duration::from_millis).to_vec()
    );
}

#[tokio::test]
async fn persistent_server_errors_make_the_source_unavailable() {
    let (server, clock) = serve(Faults {
        server_errors: 100,
        ..Faults::default()
    })
    .await;
    let err = clever_api::fetch(&config(&server, &clock), &mut MemRaw::default())
        .await
        .unwrap_err();
    match &err {
        SourceError::Unavailable { path, detail } => {
            assert_eq!(path, "/v3.0/districts?limit=2");
            assert!(detail.contains("503"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.is_transient());
    assert_eq!(server.requests().len(), 5);
}

#[tokio::test]
async fn slow_responses_time_out_and_are_retried() {
    let (server, clock) = serve(Faults {
        slow_requests: 1,
        delay: Duration::from_millis(400),
        ..Faults::default()
    })
    .await;
    let cfg = CleverConfig {
        request_timeout: Duration::from_millis(150),
        ..config(&server, &clock)
    };
    let got = clever_api::fetch(&cfg, &mut MemRaw::default())
        .await
        .unwrap();
    assert_eq!(normalised(got), normalised(clever_roster()));
    assert_eq!(clock.sleeps(), vec![Duration::from_millis(100)]);
}

#[tokio::test]
async fn unauthorized_mid_paging_is_wrong_credentials() {
    // Request 4 is the second page of /users (districts 1, schools 2, users 3, 4, ...).
    let (server, clock) = serve(Faults {
        unauthorized_at: Some(4),
        ..Faults::default()
    })
    .await;
    let err = clever_api::fetch(&config(&server, &clock), &mut MemRaw::default())
        .await
        .unwrap_err();
    match err {
        SourceError::WrongCredentials { path, status } => {
            assert_eq!(status, 401);
            assert!(
                path.starts_with("/v3.0/users?limit=2&starting_after="),
                "{path}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.requests().len(), 4, "401 is never retried");
}

#[tokio::test]
async fn a_wrong_token_fails_at_once() {
    let (server, clock) = serve(Faults::default()).await;
    let cfg = CleverConfig {
        token: "revoked".into(),
        ..config(&server, &clock)
    };
    let err = clever_api::fetch(&cfg, &mut MemRaw::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, SourceError::WrongCredentials { status: 401, .. }),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 1);
    assert!(!format!("{err} {err:?} {cfg:?}").contains("revoked"));
}

#[tokio::test]
async fn a_looping_next_link_is_an_invalid_response() {
    let (server, clock) = serve(Faults {
        loop_next: true,
        ..Faults::default()
    })
    .await;
    let err = clever_api::fetch(&config(&server, &clock), &mut MemRaw::default())
        .await
        .unwrap_err();
    let (code, path) = issue_code(&err);
    assert_eq!(code, IssueCode::InvalidResponse);
    assert!(
        path.starts_with("/v3.0/users?limit=2&starting_after="),
        "{path}"
    );
}

#[tokio::test]
async fn a_truncated_page_is_malformed_json() {
    let (server, clock) = serve(Faults {
        truncate_at: Some(3),
        ..Faults::default()
    })
    .await;
    let mut raw = MemRaw::default();
    let err = clever_api::fetch(&config(&server, &clock), &mut raw)
        .await
        .unwrap_err();
    let (code, path) = issue_code(&err);
    assert_eq!(code, IssueCode::MalformedJson);
    assert_eq!(path, "/v3.0/users?limit=2");
    // The broken page is kept for audit.
    assert_eq!(raw.names().last(), Some(&"clever/users/0001.json"));
}

#[tokio::test]
async fn json_dir_round_trip() {
    let roster = clever_roster();
    let wire = testkit::roster_to_clever(&roster, "v3.0");
    let files = |name: &str| -> Option<Vec<u8>> {
        use clever_api::model::ListResponse;
        let json = match name {
            "districts.json" => serde_json::to_vec(&ListResponse::of(wire.districts.clone())),
            "schools.json" => serde_json::to_vec(&ListResponse::of(wire.schools.clone())),
            "users.json" => serde_json::to_vec(&ListResponse::of(wire.users.clone())),
            "sections.json" => serde_json::to_vec(&ListResponse::of(wire.sections.clone())),
            "terms.json" => serde_json::to_vec(&ListResponse::of(wire.terms.clone())),
            "courses.json" => serde_json::to_vec(&ListResponse::of(wire.courses.clone())),
            _ => return None,
        };
        json.ok()
    };
    let got = clever_api::read_json_dir(files).unwrap();
    assert_eq!(normalised(got), normalised(roster));
    let err = clever_api::read_json_dir(|_| None).unwrap_err();
    assert_eq!(issue_code(&err).0, IssueCode::MissingFile);
}
