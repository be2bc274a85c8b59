//! The OneRoster 1.1 REST reader against the in-process fake server: OAuth 1.0a (both HMAC
//! methods) and OAuth2, offset paging with honest and lying totals, retries and broken pages.

use domain::{Deletion, EntityKind, IssueCode, Roster};
use sources::SourceError;
use sources::oneroster_api::model::{self, GuidRef};
use sources::oneroster_api::{self, OneRosterAuth, OneRosterConfig, SignatureMethod};
use std::sync::Arc;
use std::time::Duration;
use testkit::fixtures::oneroster_roster;
use testkit::{FakeClock, Faults, MemRaw, OneRosterOptions, OneRosterServer, OneRosterWire};

const KEY: &str = "consumer-key";
const SECRET: &str = "consumer-secret";

fn oauth1(method: SignatureMethod) -> OneRosterAuth {
    OneRosterAuth::OAuth1 {
        key: KEY.into(),
        secret: SECRET.into(),
        method,
    }
}

fn config(
    server: &OneRosterServer,
    auth: OneRosterAuth,
    clock: &Arc<FakeClock>,
) -> OneRosterConfig {
    OneRosterConfig {
        page_limit: 3,
        retries: 4,
        timeout: Duration::from_secs(5),
        backoff_base: Duration::from_millis(100),
        clock: clock.clone(),
        ..OneRosterConfig::new(server.base_url(), auth)
    }
}

async fn serve(opts: OneRosterOptions) -> (OneRosterServer, Arc<FakeClock>) {
    let opts = OneRosterOptions {
        oauth1: Some((KEY.into(), SECRET.into())),
        oauth2: Some(("client".into(), "client-secret".into())),
        ..opts
    };
    let server = OneRosterServer::start(&oneroster_roster(), opts)
        .await
        .unwrap();
    (server, Arc::new(FakeClock::new()))
}

fn normalised(mut r: Roster) -> Roster {
    r.normalise();
    r
}

fn expected() -> Roster {
    normalised(oneroster_roster())
}

#[tokio::test]
async fn oauth1_hmac_sha256_full_fetch_equals_served_roster() {
    let (server, clock) = serve(OneRosterOptions::default()).await;
    let mut raw = MemRaw::default();
    let got = oneroster_api::fetch(
        &config(&server, oauth1(SignatureMethod::HmacSha256), &clock),
        &mut raw,
    )
    .await
    .unwrap();
    assert_eq!(normalised(got), expected());
    let reqs = server.requests();
    assert_eq!(reqs[0], "/ims/oneroster/v1p1/orgs?limit=3&offset=0");
    assert!(reqs.contains(&"/ims/oneroster/v1p1/users?limit=3&offset=9".to_string()));
    assert!(raw.names().contains(&"oneroster/users/0004.json"));
}

#[tokio::test]
async fn oauth1_hmac_sha1_is_accepted() {
    let (server, clock) = serve(OneRosterOptions::default()).await;
    let got = oneroster_api::fetch(
        &config(&server, oauth1(SignatureMethod::HmacSha1), &clock),
        &mut MemRaw::default(),
    )
    .await
    .unwrap();
    assert_eq!(normalised(got), expected());
}

#[tokio::test]
async fn oauth1_with_a_bad_secret_is_refused() {
    let (server, clock) = serve(OneRosterOptions::default()).await;
    let auth = OneRosterAuth::OAuth1 {
        key: KEY.into(),
        secret: "wrong".into(),
        method: SignatureMethod::HmacSha256,
    };
    let cfg = config(&server, auth, &clock);
    let err = oneroster_api::fetch(&cfg, &mut MemRaw::default())
        .await
        .unwrap_err();
    match &err {
        SourceError::WrongCredentials { path, status } => {
            assert_eq!(*status, 401);
            assert_eq!(path, "/ims/oneroster/v1p1/orgs?limit=3&offset=0");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.requests().len(), 1);
    assert!(!format!("{err} {cfg:?}").contains("wrong"));
}

fn oauth2(server: &OneRosterServer, secret: &str) -> OneRosterAuth {
    OneRosterAuth::OAuth2 {
        client_id: "client".into(),
        client_secret: secret.into(),
        token_url: server.token_url(),
        scope: Some("https://purl.imsglobal.org/spec/or/v1p1/scope/roster-core.readonly".into()),
    }
}

#[tokio::test]
async fn oauth2_token_is_fetched_once_and_cached() {
    let (server, clock) = serve(OneRosterOptions::default()).await;
    let got = oneroster_api::fetch(
        &config(&server, oauth2(&server, "client-secret"), &clock),
        &mut MemRaw::default(),
    )
    .await
    .unwrap();
    assert_eq!(normalised(got), expected());
    assert_eq!(server.tokens_issued(), 1);
}

#[tokio::test]
async fn oauth2_token_is_refreshed_once_on_401() {
    let (server, clock) = serve(OneRosterOptions {
        token_uses: Some(5),
        ..OneRosterOptions::default()
    })
    .await;
    let got = oneroster_api::fetch(
        &config(&server, oauth2(&server, "client-secret"), &clock),
        &mut MemRaw::default(),
    )
    .await
    .unwrap();
    assert_eq!(normalised(got), expected());
    assert!(server.tokens_issued() > 1);
}

#[tokio::test]
async fn oauth2_with_a_bad_client_secret_is_wrong_credentials() {
    let (server, clock) = serve(OneRosterOptions::default()).await;
    let err = oneroster_api::fetch(
        &config(&server, oauth2(&server, "nope"), &clock),
        &mut MemRaw::default(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, SourceError::WrongCredentials { status: 401, .. }),
        "{err:?}"
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn oauth2_token_that_stays_refused_is_wrong_credentials() {
    let (server, clock) = serve(OneRosterOptions {
        token_uses: Some(0),
        ..OneRosterOptions::default()
    })
    .await;
    let err = oneroster_api::fetch(
        &config(&server, oauth2(&server, "client-secret"), &clock),
        &mut MemRaw::default(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, SourceError::WrongCredentials { status: 401, .. }),
        "{err:?}"
    );
    assert_eq!(server.tokens_issued(), 2);
}

#[tokio::test]
async fn a_lying_total_count_still_terminates() {
    let (server, clock) = serve(OneRosterOptions {
        faults: Faults {
            lying_total: Some(1_000_000),
            ..Faults::default()
        },
        ..OneRosterOptions::default()
    })
    .await;
    let got = oneroster_api::fetch(
        &config(&server, oauth1(SignatureMethod::HmacSha256), &clock),
        &mut MemRaw::default(),
    )
    .await
    .unwrap();
    assert_eq!(normalised(got), expected());
    // Each collection ends on its first empty page.
    assert!(server.requests().len() < 40, "{}", server.requests().len());
}

#[tokio::test]
async fn a_server_that_caps_limit_is_still_read_in_full() {
    let (server, clock) = serve(OneRosterOptions {
        max_limit: Some(2),
        ..OneRosterOptions::default()
    })
    .await;
    let cfg = OneRosterConfig {
        page_limit: 100,
        ..config(&server, oauth1(SignatureMethod::HmacSha256), &clock)
    };
    let got = oneroster_api::fetch(&cfg, &mut MemRaw::default())
        .await
        .unwrap();
    assert_eq!(normalised(got), expected());
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried() {
    let (server, clock) = serve(OneRosterOptions {
        faults: Faults {
            rate_limited: 1,
            reset_after: 4,
            server_errors: 2,
            ..Faults::default()
        },
        ..OneRosterOptions::default()
    })
    .await;
    let got = oneroster_api::fetch(
        &config(&server, oauth1(SignatureMethod::HmacSha256), &clock),
        &mut MemRaw::default(),
    )
    .await
    .unwrap();
    assert_eq!(normalised(got), expected());
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 3, "{sleeps:?}");
    assert!(sleeps[0] >= Duration::from_secs(3), "{sleeps:?}");
    assert_eq!(sleeps[1..], [100, 200].map(Duration::from_millis));
}

#[tokio::test]
async fn unauthorized_mid_paging_is_wrong_credentials() {
    let (server, clock) = serve(OneRosterOptions {
        faults: Faults {
            // orgs 1, academicSessions 2, courses 3, classes 4, users 5, 6 (offset 3), ...
            unauthorized_at: Some(6),
            ..Faults::default()
        },
        ..OneRosterOptions::default()
    })
    .await;
    let err = oneroster_api::fetch(
        &config(&server, oauth1(SignatureMethod::HmacSha256), &clock),
        &mut MemRaw::default(),
    )
    .await
    .unwrap_err();
    match err {
        SourceError::WrongCredentials { path, status } => {
            assert_eq!(status, 401);
            // The 6th request: a full page never ends a collection on the total alone, so
            // collections of exactly 3 records take a second (empty) page.
            assert_eq!(path, "/ims/oneroster/v1p1/classes?limit=3&offset=3");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_truncated_page_is_malformed_json() {
    let (server, clock) = serve(OneRosterOptions {
        faults: Faults {
            truncate_at: Some(6),
            ..Faults::default()
        },
        ..OneRosterOptions::default()
    })
    .await;
    let err = oneroster_api::fetch(
        &config(&server, oauth1(SignatureMethod::HmacSha256), &clock),
        &mut MemRaw::default(),
    )
    .await
    .unwrap_err();
    let SourceError::Invalid { issues } = err else {
        panic!("{err:?}")
    };
    assert_eq!(issues[0].code, IssueCode::MalformedJson);
    assert_eq!(
        issues[0].location.source,
        "/ims/oneroster/v1p1/classes?limit=3&offset=3"
    );
}

#[tokio::test]
async fn tobedeleted_records_are_left_out_and_listed_as_deletions() {
    let gone = |id: &str| Some(id.to_string());
    let tobedeleted = OneRosterWire {
        users: vec![model::User {
            sourced_id: gone("old-student"),
            status: gone("tobedeleted"),
            role: gone("student"),
            given_name: gone("X"),
            family_name: gone("Y"),
            orgs: vec![GuidRef::to("org", "sch1")],
            ..model::User::default()
        }],
        enrollments: vec![model::Enrollment {
            sourced_id: gone("old-enrollment"),
            status: gone("tobedeleted"),
            user: Some(GuidRef::to("user", "stu1")),
            class: Some(GuidRef::to("class", "sec2")),
            school: Some(GuidRef::to("org", "sch2")),
            role: gone("student"),
            ..model::Enrollment::default()
        }],
        ..OneRosterWire::default()
    };
    let (server, clock) = serve(OneRosterOptions {
        tobedeleted,
        ..OneRosterOptions::default()
    })
    .await;
    let mut got = oneroster_api::fetch(
        &config(&server, oauth1(SignatureMethod::HmacSha256), &clock),
        &mut MemRaw::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        std::mem::take(&mut got.deletions),
        vec![
            Deletion {
                entity: EntityKind::Students,
                id: "old-student".into()
            },
            Deletion {
                entity: EntityKind::Enrollments,
                id: "old-enrollment".into()
            },
        ]
    );
    assert_eq!(normalised(got), expected());
}
