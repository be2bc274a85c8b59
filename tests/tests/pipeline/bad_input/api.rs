//! The HTTP API: bad bodies, queries, cursors and scopes, through `api::router` over the
//! in-memory adapters. Each case asserts the status, the error `code` and, for settings, the
//! fields named (the API's "location"); and that nothing changed (settings, runs, directory).

use api::{ApiState, ControlError, RunControl, create_token, router};
use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use domain::district::{District, Run};
use domain::report::RunStatus;
use domain::settings::SyncSettings;
use std::sync::Arc;
use store::memory::{MemoryDirectory, MemoryObjectStore, MemoryRuns};
use store::{ObjectStore, Runs};
use tower::ServiceExt;

/// Starts nothing: a case that reaches it has passed validation it should have failed.
struct NoRuns;

#[async_trait]
impl RunControl for NoRuns {
    async fn start(&self, _: &str, _: bool) -> Result<Run, ControlError> {
        Err(ControlError::Conflict(
            "no run may start in this test".into(),
        ))
    }
    async fn approve(&self, _: &str, _: &str) -> Result<Run, ControlError> {
        Err(ControlError::NotFound)
    }
    async fn dismiss(&self, _: &str, _: &str) -> Result<Run, ControlError> {
        Err(ControlError::NotFound)
    }
}

#[derive(Debug, Clone, Copy)]
enum Token {
    D1,
    None,
}

struct Case {
    name: &'static str,
    method: Method,
    uri: &'static str,
    token: Token,
    content_type: Option<&'static str>,
    body: fn() -> Vec<u8>,
    status: StatusCode,
    code: &'static str,
    /// Fields named in `fields` (settings errors), in order.
    fields: &'static [&'static str],
}

fn no_body() -> Vec<u8> {
    Vec::new()
}

const JSON: Option<&str> = Some("application/json");

fn cases() -> Vec<Case> {
    let base = |name, method, uri, body: fn() -> Vec<u8>, status, code| Case {
        name,
        method,
        uri,
        token: Token::D1,
        content_type: JSON,
        body,
        status,
        code,
        fields: &[],
    };
    vec![
        base(
            "api_body_over_size_limit",
            Method::PUT,
            "/v1/districts/d1/settings",
            || {
                let pad = "x".repeat(api::BODY_LIMIT + 1024);
                format!("{{\"deletion_threshold_pct\": 5, \"pad\": \"{pad}\"}}").into_bytes()
            },
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        base(
            "api_malformed_json_body",
            Method::PUT,
            "/v1/districts/d1/settings",
            || b"{\"deletion_threshold_pct\": 5,".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        base(
            "api_start_run_malformed_json",
            Method::POST,
            "/v1/districts/d1/runs",
            || b"{\"dry_run\": tru".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        Case {
            content_type: Some("text/plain"),
            ..base(
                "api_body_not_declared_json",
                Method::PUT,
                "/v1/districts/d1/settings",
                || b"{}".to_vec(),
                StatusCode::BAD_REQUEST,
                "unsupported_media_type",
            )
        },
        Case {
            fields: &["schedule.start_time", "deletion_threshold_pct"],
            ..base(
                "api_invalid_settings",
                Method::PUT,
                "/v1/districts/d1/settings",
                || {
                    br#"{"deletion_threshold_pct": 150,
                         "schedule": {"start_time": "25:99", "timezone": "UTC", "enabled": true}}"#
                        .to_vec()
                },
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_settings",
            )
        },
        Case {
            fields: &["body"],
            ..base(
                "api_settings_unknown_enum_value",
                Method::PUT,
                "/v1/districts/d1/settings",
                || br#"{"phone_column": "fax"}"#.to_vec(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_settings",
            )
        },
        base(
            "api_unknown_enum_in_query",
            Method::GET,
            "/v1/districts/d1/runs/r1/changes?entity=wizards",
            no_body,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        base(
            "api_limit_out_of_range",
            Method::GET,
            "/v1/districts/d1/runs?limit=0",
            no_body,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        base(
            "api_another_districts_run",
            Method::GET,
            "/v1/districts/d1/runs/q1",
            no_body,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        base(
            "api_another_districts_runs_list",
            Method::GET,
            "/v1/districts/d2/runs",
            no_body,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        base(
            "api_bad_cursor",
            Method::GET,
            "/v1/districts/d1/runs?cursor=not-a-cursor",
            no_body,
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
        ),
        base(
            "api_forged_cursor",
            Method::GET,
            "/v1/districts/d1/runs?cursor=cjE.AAAAAAAAAAAA",
            no_body,
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
        ),
        Case {
            token: Token::None,
            ..base(
                "api_no_token",
                Method::GET,
                "/v1/districts/d1/runs",
                no_body,
                StatusCode::UNAUTHORIZED,
                "unauthorized",
            )
        },
    ]
}

fn run(district: &str, id: &str) -> Run {
    Run {
        district: district.into(),
        run_id: id.into(),
        status: RunStatus::Succeeded,
        reason: None,
        dry_run: false,
        source: None,
        started_at: integration::t0(),
        finished_at: Some(integration::t0()),
        schools_total: 0,
        schools_done: 0,
        version: 0,
    }
}

#[tokio::test]
async fn api_bad_inputs() {
    let runs = Arc::new(MemoryRuns::new());
    let directory = Arc::new(MemoryDirectory::new());
    let objects = Arc::new(MemoryObjectStore::new());
    for id in ["d1", "d2"] {
        runs.put_district(&District {
            id: id.into(),
            name: format!("District {id}"),
            settings: SyncSettings::default(),
            source: None,
            version: 0,
        })
        .await
        .expect("district");
    }
    runs.create_run(&run("d1", "r1")).await.expect("run");
    runs.create_run(&run("d2", "q1")).await.expect("run");
    let token = create_token(objects.as_ref() as &dyn ObjectStore, "d1", false)
        .await
        .expect("token");
    let app = router(ApiState::new(
        runs.clone(),
        directory.clone(),
        objects.clone(),
        Arc::new(NoRuns),
    ));
    let state = || async {
        let d1 = runs.get_district("d1").await.expect("get");
        let r1 = runs.list_runs("d1", None, 100).await.expect("runs");
        let r2 = runs.list_runs("d2", None, 100).await.expect("runs");
        (
            format!("{d1:?}"),
            r1.len(),
            r2.len(),
            directory.snapshot("d1"),
        )
    };

    let mut failures = Vec::new();
    for c in cases() {
        let before = state().await;
        let mut req = Request::builder().method(c.method.clone()).uri(c.uri);
        if let Token::D1 = c.token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let body = (c.body)();
        if let Some(ct) = c.content_type.filter(|_| !body.is_empty()) {
            req = req.header("content-type", ct);
        }
        let resp = app
            .clone()
            .oneshot(req.body(Body::from(body)).expect("request"))
            .await
            .expect("response");
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        let json: serde_json::Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(_) => {
                failures.push(format!(
                    "{}: the error is not JSON: {}",
                    c.name,
                    String::from_utf8_lossy(&bytes)
                ));
                continue;
            }
        };
        let code = json["code"].as_str().unwrap_or_default();
        let fields: Vec<&str> = json["fields"]
            .as_array()
            .map(|a| a.iter().filter_map(|f| f["field"].as_str()).collect())
            .unwrap_or_default();
        if status != c.status || code != c.code || fields != c.fields {
            failures.push(format!(
                "{}: got {status} {code} {fields:?}, expected {} {} {:?} ({json})",
                c.name, c.status, c.code, c.fields
            ));
        }
        if state().await != before {
            failures.push(format!("{}: the stored state changed", c.name));
        }
    }
    super::report_failures("HTTP API", failures);
}
