//! Black-box tests of the API router over the in-memory adapters: every endpoint, district
//! isolation, authentication and scopes, CSV safety, limits and the OpenAPI document.

mod helpers;

use api::dto::{ReportDoc, RunDoc, SettingsDoc};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use helpers::spawn_app;
use serde_json::{Value, json};
use store::{ObjectStore, Runs};

const D1: &str = "/v1/districts/d1";
const D2: &str = "/v1/districts/d2";

#[tokio::test]
async fn health_needs_no_token() {
    let app = spawn_app().await;
    let r = app.call(Method::GET, "/health", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), json!({"status": "ok"}));
}

#[tokio::test]
async fn openapi_document_lists_every_route() {
    let app = spawn_app().await;
    let r = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = r.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut paths: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            paths.push((method.clone(), path.clone()));
        }
    }
    paths.sort();
    let expected: Vec<(String, String)> = [
        ("get", "/health"),
        ("get", "/openapi.json"),
        ("get", "/v1/districts/{d}/classrooms"),
        (
            "put",
            "/v1/districts/{d}/classrooms/{classroom}/sections/{section}",
        ),
        ("get", "/v1/districts/{d}/runs"),
        ("post", "/v1/districts/{d}/runs"),
        ("get", "/v1/districts/{d}/runs/{run}"),
        ("post", "/v1/districts/{d}/runs/{run}/approve"),
        ("get", "/v1/districts/{d}/runs/{run}/changes"),
        ("post", "/v1/districts/{d}/runs/{run}/dismiss"),
        ("get", "/v1/districts/{d}/schools"),
        ("get", "/v1/districts/{d}/schools/suggestions"),
        (
            "put",
            "/v1/districts/{d}/schools/{school}/external-ids/{external_id}",
        ),
        ("get", "/v1/districts/{d}/settings"),
        ("put", "/v1/districts/{d}/settings"),
        ("post", "/v1/districts/{d}/students/archive-unsynced"),
        ("get", "/v1/districts/{d}/students/duplicates"),
        ("post", "/v1/districts/{d}/students/merge"),
        ("post", "/v1/districts/{d}/students/merges/{merge}/unmerge"),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    let mut expected = expected;
    expected.sort();
    assert_eq!(paths, expected);
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for schema in [
        "ReportDoc",
        "RunDoc",
        "ChangesPage",
        "SettingsDoc",
        "ErrorBody",
    ] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
}

#[tokio::test]
async fn runs_are_listed_newest_first_with_a_cursor() {
    let app = spawn_app().await;
    let r = app.get(&format!("{D1}/runs"), &app.d1_read).await;
    assert_eq!(r.status, StatusCode::OK);
    let ids: Vec<String> = r.json()["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["r3", "r2", "r1"]);

    let page1 = app
        .get(&format!("{D1}/runs?limit=2"), &app.d1_read)
        .await
        .json();
    assert_eq!(page1["runs"].as_array().unwrap().len(), 2);
    let cursor = page1["next_cursor"].as_str().unwrap();
    let page2 = app
        .get(&format!("{D1}/runs?limit=2&cursor={cursor}"), &app.d1_read)
        .await
        .json();
    assert_eq!(page2["runs"][0]["run_id"], "r1");
    assert_eq!(page2["next_cursor"], Value::Null);

    let bad = app.get(&format!("{D1}/runs?cursor=r2"), &app.d1_read).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.json()["code"], "invalid_cursor");
    let bad = app.get(&format!("{D1}/runs?limit=0"), &app.d1_read).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let bad = app.get(&format!("{D1}/runs?limit=abc"), &app.d1_read).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.json()["code"], "invalid_query");
}

#[tokio::test]
async fn a_run_is_started_with_202() {
    let app = spawn_app().await;
    let r = app
        .call(
            Method::POST,
            &format!("{D1}/runs"),
            Some(&app.d1_admin),
            Some(json!({"dry_run": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    let run = r.json();
    assert_eq!(run["dry_run"], true);
    assert_eq!(run["status"], "planning");
    let id = run["run_id"].as_str().unwrap();
    assert!(app.runs.get_run("d1", id).await.unwrap().is_some());
    serde_json::from_value::<RunDoc>(run.clone()).unwrap();
}

#[tokio::test]
async fn a_run_shows_its_report_exactly_or_its_status() {
    let app = spawn_app().await;
    let r = app.get(&format!("{D1}/runs/r2"), &app.d1_read).await;
    assert_eq!(r.status, StatusCode::OK);
    let body = r.json();
    assert_eq!(body, serde_json::to_value(&app.report).unwrap());
    // The documented mirror holds every field the report has.
    let doc: ReportDoc = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(serde_json::to_value(doc).unwrap(), body);

    let r = app.get(&format!("{D1}/runs/r3"), &app.d1_read).await;
    assert_eq!(r.status, StatusCode::OK);
    let body = r.json();
    assert_eq!(body["status"], "held");
    assert_eq!(body["reason"], "threshold");
    let doc: RunDoc = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(serde_json::to_value(doc).unwrap(), body);

    let r = app.get(&format!("{D1}/runs/nope"), &app.d1_read).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["code"], "not_found");
}

#[tokio::test]
async fn changes_are_filtered_and_paged() {
    let app = spawn_app().await;
    let all = app
        .get(&format!("{D1}/runs/r2/changes"), &app.d1_read)
        .await;
    assert_eq!(all.status, StatusCode::OK);
    let keys = |v: &Value| -> Vec<String> {
        v["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["key"].as_str().unwrap().to_string())
            .collect()
    };
    // (school, position) order; unchanged left out.
    assert_eq!(
        keys(&all.json()),
        [
            "person#p4",
            "person#p2",
            "person#p1",
            "classroom#c9",
            "person#t1"
        ]
    );
    let students = app
        .get(
            &format!("{D1}/runs/r2/changes?entity=students&action=created&school=s2"),
            &app.d1_read,
        )
        .await
        .json();
    assert_eq!(keys(&students), ["person#p2"]);
    let unchanged = app
        .get(
            &format!("{D1}/runs/r2/changes?action=unchanged"),
            &app.d1_read,
        )
        .await
        .json();
    assert_eq!(keys(&unchanged), ["person#p3"]);
    let c = &all.json()["changes"][2];
    assert_eq!(c["entity"], "students");
    assert_eq!(c["action"], "updated");
    assert_eq!(c["school_id"], "s2");
    assert_eq!(c["fields"], json!(["first_name", "-grade"]));

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let uri = match &cursor {
            Some(c) => format!("{D1}/runs/r2/changes?limit=2&cursor={c}"),
            None => format!("{D1}/runs/r2/changes?limit=2"),
        };
        let page = app.get(&uri, &app.d1_read).await.json();
        seen.extend(keys(&page));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, keys(&all.json()));

    for bad in [
        "entity=teachers",
        "action=deleted",
        "cursor=1:s2",
        "limit=5000",
    ] {
        let r = app
            .get(&format!("{D1}/runs/r2/changes?{bad}"), &app.d1_read)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    // A cursor of another run's listing is refused.
    let c = app
        .get(&format!("{D1}/runs/r2/changes?limit=1"), &app.d1_read)
        .await
        .json()["next_cursor"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .get(&format!("{D1}/runs/r1/changes?cursor={c}"), &app.d1_read)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app
        .get(&format!("{D1}/runs/nope/changes"), &app.d1_read)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn changes_csv_neutralises_formulas() {
    let app = spawn_app().await;
    let req = Request::get(format!("{D1}/runs/r2/changes"))
        .header("authorization", format!("Bearer {}", app.d1_read))
        .header("accept", "text/csv")
        .body(Body::empty())
        .unwrap();
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let mut rows = csv::Reader::from_reader(r.body.as_slice());
    assert_eq!(
        rows.headers().unwrap(),
        vec![
            "entity",
            "action",
            "school_id",
            "key",
            "source_id",
            "fields",
            "note"
        ]
    );
    let rows: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 5);
    let evil = &rows[2];
    assert_eq!(&evil[0], "students");
    assert_eq!(&evil[3], "person#p1");
    assert_eq!(&evil[4], "'=HYPERLINK(\"http://x\",\"y\")");
    assert_eq!(&evil[5], "first_name;-grade");
    assert_eq!(&evil[6], "'+cmd|' /C calc'!A0");
    for row in &rows {
        for cell in row {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{cell}"
            );
        }
    }

    // Paged CSV names the next page in a header.
    let req = Request::get(format!("{D1}/runs/r2/changes?limit=2"))
        .header("authorization", format!("Bearer {}", app.d1_read))
        .header("accept", "text/csv, application/json")
        .body(Body::empty())
        .unwrap();
    let r = app.send(req).await;
    assert_eq!(r.text().lines().count(), 3);
    assert!(r.headers.contains_key("x-next-cursor"));
}

#[tokio::test]
async fn held_runs_are_approved_or_dismissed() {
    let app = spawn_app().await;
    let r = app
        .call(
            Method::POST,
            &format!("{D1}/runs/r3/approve"),
            Some(&app.d1_admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["status"], "succeeded");
    let again = app
        .call(
            Method::POST,
            &format!("{D1}/runs/r3/dismiss"),
            Some(&app.d1_admin),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.json()["code"], "conflict");
    assert_eq!(again.json()["message"], "the run is not held");
    let missing = app
        .call(
            Method::POST,
            &format!("{D1}/runs/zz/approve"),
            Some(&app.d1_admin),
            None,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn settings_are_read_and_replaced_with_field_errors() {
    let app = spawn_app().await;
    let r = app.get(&format!("{D1}/settings"), &app.d1_read).await;
    assert_eq!(r.status, StatusCode::OK);
    let mut settings = r.json();
    assert_eq!(settings["deletion_threshold_pct"], 10);
    // The documented mirror holds every setting.
    let doc: SettingsDoc = serde_json::from_value(settings.clone()).unwrap();
    assert_eq!(serde_json::to_value(doc).unwrap(), settings);

    settings["deletion_threshold_pct"] = json!(25);
    settings["contact_types"] = json!(["Parent/Guardian"]);
    let r = app
        .call(
            Method::PUT,
            &format!("{D1}/settings"),
            Some(&app.d1_admin),
            Some(settings.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json(), settings);
    let r = app.get(&format!("{D1}/settings"), &app.d1_read).await;
    assert_eq!(r.json()["deletion_threshold_pct"], 25);

    settings["deletion_threshold_pct"] = json!(101);
    settings["schedule"]["start_time"] = json!("7pm");
    let r = app
        .call(
            Method::PUT,
            &format!("{D1}/settings"),
            Some(&app.d1_admin),
            Some(settings.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.json();
    assert_eq!(body["code"], "invalid_settings");
    let fields: Vec<&str> = body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["schedule.start_time", "deletion_threshold_pct"]);

    let r = app
        .call(
            Method::PUT,
            &format!("{D1}/settings"),
            Some(&app.d1_admin),
            Some(json!({"phone_column": "fax"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["code"], "invalid_settings");
    assert_eq!(r.json()["fields"][0]["field"], "body");

    let req = Request::put(format!("{D1}/settings"))
        .header("authorization", format!("Bearer {}", app.d1_admin))
        .header("content-type", "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["code"], "invalid_json");
    // Nothing changed.
    let r = app.get(&format!("{D1}/settings"), &app.d1_read).await;
    assert_eq!(r.json()["deletion_threshold_pct"], 25);
}

#[tokio::test]
async fn schools_are_listed_suggested_and_matched() {
    let app = spawn_app().await;
    let r = app.get(&format!("{D1}/schools"), &app.d1_read).await;
    assert_eq!(r.status, StatusCode::OK);
    let schools = r.json();
    assert_eq!(schools["schools"].as_array().unwrap().len(), 2);
    assert_eq!(schools["schools"][1]["external_ids"], json!(["feed-adams"]));

    let s = app
        .get(&format!("{D1}/schools/suggestions"), &app.d1_read)
        .await
        .json();
    assert_eq!(s["feed_run_id"], "r2");
    assert_eq!(s["suggestions"][0]["school_id"], "s1");
    assert_eq!(s["suggestions"][0]["external_id"], "feed-lincoln");
    assert_eq!(s["unmatched_schools"][0]["id"], "s1");
    assert_eq!(
        s["feed_schools"],
        json!([{"id": "feed-lincoln", "name": "Lincoln Elementary School"}])
    );

    let r = app
        .call(
            Method::PUT,
            &format!("{D1}/schools/s1/external-ids/feed-lincoln"),
            Some(&app.d1_admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["external_ids"], json!(["feed-lincoln"]));
    let taken = app
        .call(
            Method::PUT,
            &format!("{D1}/schools/s2/external-ids/feed-lincoln"),
            Some(&app.d1_admin),
            None,
        )
        .await;
    assert_eq!(taken.status, StatusCode::UNPROCESSABLE_ENTITY);
    let missing = app
        .call(
            Method::PUT,
            &format!("{D1}/schools/nope/external-ids/x"),
            Some(&app.d1_admin),
            None,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // d2 has no staged feed: no suggestions, its unmatched school only.
    let s = app
        .get(&format!("{D2}/schools/suggestions"), &app.d2_admin)
        .await
        .json();
    assert_eq!(s["feed_run_id"], Value::Null);
    assert_eq!(s["suggestions"], json!([]));
    assert_eq!(s["unmatched_schools"][0]["id"], "x1");
}

#[tokio::test]
async fn classrooms_are_listed_and_linked() {
    let app = spawn_app().await;
    let all = app
        .get(&format!("{D1}/classrooms"), &app.d1_read)
        .await
        .json();
    assert_eq!(all["classrooms"].as_array().unwrap().len(), 2);
    let s1 = app
        .get(&format!("{D1}/classrooms?school=s1"), &app.d1_read)
        .await
        .json();
    assert_eq!(s1["classrooms"].as_array().unwrap().len(), 1);
    assert_eq!(s1["classrooms"][0]["id"], "c1");
    assert_eq!(s1["classrooms"][0]["grade"], "03");

    let r = app
        .call(
            Method::PUT,
            &format!("{D1}/classrooms/c1/sections/sec-1"),
            Some(&app.d1_admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["section_ids"], json!(["sec-1"]));
    let r = app
        .call(
            Method::PUT,
            &format!("{D1}/classrooms/c2/sections/sec-1"),
            Some(&app.d1_admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// Every district route, with a body where it takes one.
fn district_routes(d: &str) -> Vec<(Method, String, Option<Value>)> {
    let base = format!("/v1/districts/{d}");
    vec![
        (Method::GET, format!("{base}/runs"), None),
        (
            Method::POST,
            format!("{base}/runs"),
            Some(json!({"dry_run": true})),
        ),
        (Method::GET, format!("{base}/runs/r2"), None),
        (Method::GET, format!("{base}/runs/r2/changes"), None),
        (Method::POST, format!("{base}/runs/r3/approve"), None),
        (Method::POST, format!("{base}/runs/r3/dismiss"), None),
        (Method::GET, format!("{base}/settings"), None),
        (Method::PUT, format!("{base}/settings"), Some(json!({}))),
        (Method::GET, format!("{base}/schools"), None),
        (Method::GET, format!("{base}/schools/suggestions"), None),
        (
            Method::PUT,
            format!("{base}/schools/s1/external-ids/f1"),
            None,
        ),
        (Method::GET, format!("{base}/classrooms"), None),
        (
            Method::PUT,
            format!("{base}/classrooms/c1/sections/x"),
            None,
        ),
    ]
}

#[tokio::test]
async fn a_token_never_reaches_another_district() {
    let app = spawn_app().await;
    for (method, uri, body) in district_routes("d1") {
        let r = app
            .call(method.clone(), &uri, Some(&app.d2_admin), body)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {uri}");
        assert_eq!(r.json()["code"], "not_found");
    }
    for (method, uri, body) in district_routes("d2") {
        let r = app
            .call(method.clone(), &uri, Some(&app.d1_admin), body)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {uri}");
    }
    // An unknown district looks the same.
    let r = app.get("/v1/districts/zz/runs", &app.d1_admin).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Each sees only its own runs.
    let d2 = app.get(&format!("{D2}/runs"), &app.d2_admin).await.json();
    assert_eq!(d2["runs"].as_array().unwrap().len(), 1);
    assert_eq!(d2["runs"][0]["run_id"], "q1");
    // d1's run ids are not d2's.
    let r = app.get(&format!("{D2}/runs/r2"), &app.d2_admin).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn no_or_unknown_token_is_401() {
    let app = spawn_app().await;
    let unknown = format!("rs_{}", "A".repeat(43));
    for (method, uri, body) in district_routes("d1") {
        let r = app.call(method.clone(), &uri, None, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {uri}");
        assert_eq!(r.json()["code"], "unauthorized");
        let r = app.call(method.clone(), &uri, Some(&unknown), body).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {uri}");
    }
    for header in ["Basic abc", "Bearer", "Bearer nope", "rs_abc"] {
        let req = Request::get(format!("{D1}/runs"))
            .header("authorization", header)
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            app.send(req).await.status,
            StatusCode::UNAUTHORIZED,
            "{header}"
        );
    }
}

#[tokio::test]
async fn read_only_tokens_cannot_change_anything() {
    let app = spawn_app().await;
    for (method, uri, body) in district_routes("d1") {
        let write = method != Method::GET;
        let r = app
            .call(method.clone(), &uri, Some(&app.d1_read), body)
            .await;
        if write {
            assert_eq!(
                r.status,
                StatusCode::FORBIDDEN,
                "{method} {uri}: {}",
                r.text()
            );
            assert_eq!(r.json()["code"], "forbidden");
        } else {
            assert_eq!(r.status, StatusCode::OK, "{method} {uri}");
        }
    }
    // Nothing was started.
    assert_eq!(app.runs.list_runs("d1", None, 100).await.unwrap().len(), 3);
}

#[tokio::test]
async fn large_bodies_are_413_json() {
    let app = spawn_app().await;
    let big = json!({"schedule": {"timezone": "x".repeat(300 * 1024)}});
    let r = app
        .call(
            Method::PUT,
            &format!("{D1}/settings"),
            Some(&app.d1_admin),
            Some(big),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.json()["code"], "payload_too_large");
}

#[tokio::test]
async fn unknown_routes_are_json_404() {
    let app = spawn_app().await;
    let r = app.get("/v2/nothing", &app.d1_admin).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["code"], "not_found");
}

#[tokio::test]
async fn tokens_are_stored_only_as_hashes() {
    let app = spawn_app().await;
    let stored = app.objects.list("tokens/").await.unwrap();
    assert_eq!(stored.len(), 3);
    for token in [&app.d1_admin, &app.d1_read, &app.d2_admin] {
        assert!(token.starts_with("rs_") && token.len() == 3 + 43, "{token}");
        assert!(stored.iter().all(|o| !o.key.contains(token.as_str())));
        let record = app.objects.get(&api::auth::token_key(token)).await.unwrap();
        let record = String::from_utf8(record).unwrap();
        assert!(!record.contains(token.as_str()));
    }
    let record: Value = serde_json::from_slice(
        &app.objects
            .get(&api::auth::token_key(&app.d1_read))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(record["district"], "d1");
    assert_eq!(record["scope"], "read_only");
    assert!(record["created_at"].is_string());
}

#[tokio::test]
async fn students_are_cleaned_up_merged_and_unmerged() {
    let app = spawn_app().await;
    let dups = app
        .get(&format!("{D1}/students/duplicates"), &app.d1_read)
        .await;
    assert_eq!(dups.status, StatusCode::OK, "{}", dups.text());
    let dups = dups.json();
    assert_eq!(dups["total"], 1);
    assert_eq!(dups["duplicates"][0]["a"], "p1");
    assert_eq!(dups["duplicates"][0]["b"], "p2");
    assert!(dups["duplicates"][0]["reasons"][0].is_string());
    let bad = app
        .get(
            &format!("{D1}/students/duplicates?cursor=zzz"),
            &app.d1_read,
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    let dry = app
        .call(
            Method::POST,
            &format!("{D1}/students/archive-unsynced"),
            Some(&app.d1_admin),
            Some(json!({"dry_run": true, "school": "s2"})),
        )
        .await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.text());
    assert_eq!(dry.json()["archived"], 2);
    assert_eq!(dry.json()["dry_run"], true);

    let m = app
        .call(
            Method::POST,
            &format!("{D1}/students/merge"),
            Some(&app.d1_admin),
            Some(json!({"survivor": "p1", "duplicate": "p2", "dry_run": false})),
        )
        .await;
    assert_eq!(m.status, StatusCode::OK, "{}", m.text());
    let merge_id = m.json()["merge_id"].as_str().unwrap().to_string();
    let again = app
        .call(
            Method::POST,
            &format!("{D1}/students/merge"),
            Some(&app.d1_admin),
            Some(json!({"survivor": "p1", "duplicate": "p2"})),
        )
        .await;
    assert_eq!(
        again.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        again.text()
    );
    let missing = app
        .call(
            Method::POST,
            &format!("{D1}/students/merge"),
            Some(&app.d1_admin),
            Some(json!({"survivor": "p1", "duplicate": "nobody"})),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.text());

    let u = app
        .call(
            Method::POST,
            &format!("{D1}/students/merges/{merge_id}/unmerge"),
            Some(&app.d1_admin),
            None,
        )
        .await;
    assert_eq!(u.status, StatusCode::OK, "{}", u.text());
    assert_eq!(u.json()["merge_id"], merge_id.as_str());
    let none = app
        .call(
            Method::POST,
            &format!("{D1}/students/merges/nope/unmerge"),
            Some(&app.d1_admin),
            None,
        )
        .await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
}
