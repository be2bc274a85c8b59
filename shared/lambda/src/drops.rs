//! The `ingest-drop` handler: an S3 `Object Created` event for a drop's completion marker
//! `districts/{d}/drops/{drop}/_complete.json` (written last by `sftp-pull` or an uploader)
//! ingests that drop once, through [`app::drops::ingest_drop`]: its `ingested.json` marker,
//! written with put-if-absent before staging, makes a second delivery of the same event (S3
//! and EventBridge deliver at least once) a no-op.
//!
//! Two event shapes are accepted, so either wiring works:
//! - EventBridge (what `infra/template.yaml` uses, since S3 notification filters cannot say
//!   `districts/*/drops/`): `{"detail-type": "Object Created", "detail": {"bucket": {"name"},
//!   "object": {"key"}}}`;
//! - an S3 event notification: `{"Records": [{"eventName": "ObjectCreated:Put", "s3":
//!   {"bucket": {"name"}, "object": {"key"}}}]}`.
//!
//! Object keys in both are URL-encoded the way S3 encodes them (`+` for a space, `%XX` for
//! other bytes) and are decoded here. Keys other than completion markers (the drop's files,
//! `ingested.json`, anything outside `drops/`) and events of other buckets are ignored.

use crate::{Deps, HandlerError};
use app::drops::DropOutcome;
use app::runs::Started;
use serde::{Deserialize, Serialize};
use tracing::Instrument;

/// Name of the marker a complete drop ends with.
pub const COMPLETE_MARKER: &str = "_complete.json";

/// One S3 object named by the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectCreated {
    pub bucket: String,
    /// Decoded (the raw event key is URL-encoded).
    pub key: String,
}

// Wire types: only the fields read here.
#[derive(Debug, Deserialize)]
struct Bucket {
    name: String,
}
#[derive(Debug, Deserialize)]
struct Object {
    key: String,
}
#[derive(Debug, Deserialize)]
struct Entity {
    bucket: Bucket,
    object: Object,
}
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NotificationRecord {
    #[serde(default)]
    event_name: String,
    s3: Entity,
}
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Wire {
    Notification {
        #[serde(rename = "Records")]
        records: Vec<NotificationRecord>,
    },
    EventBridge {
        #[serde(rename = "detail-type")]
        detail_type: String,
        detail: Entity,
    },
}

/// The created objects an event names (other event types name none).
pub fn objects_created(event: serde_json::Value) -> Result<Vec<ObjectCreated>, HandlerError> {
    let wire: Wire = serde_json::from_value(event).map_err(|e| {
        HandlerError::BadEvent(format!(
            "neither an S3 notification nor an EventBridge S3 event: {e}"
        ))
    })?;
    let entities: Vec<Entity> = match wire {
        Wire::Notification { records } => records
            .into_iter()
            .filter(|r| r.event_name.starts_with("ObjectCreated"))
            .map(|r| r.s3)
            .collect(),
        Wire::EventBridge {
            detail_type,
            detail,
        } if detail_type == "Object Created" => vec![detail],
        Wire::EventBridge { .. } => Vec::new(),
    };
    Ok(entities
        .into_iter()
        .map(|e| ObjectCreated {
            bucket: e.bucket.name,
            key: decode_key(&e.object.key),
        })
        .collect())
}

/// Decodes an S3 event key: `+` is a space, `%XX` a byte (UTF-8 overall).
pub fn decode_key(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// `(district, drop prefix)` when `key` is a drop's completion marker
/// `districts/{d}/drops/{drop}/_complete.json`.
pub fn completed_drop(key: &str) -> Option<(String, String)> {
    let rest = key.strip_prefix("districts/")?;
    let (district, rest) = rest.split_once('/')?;
    let rest = rest.strip_prefix("drops/")?;
    let (drop, tail) = rest.split_once('/')?;
    if district.is_empty() || drop.is_empty() || tail != COMPLETE_MARKER {
        return None;
    }
    Some((
        district.to_string(),
        format!("districts/{district}/drops/{drop}/"),
    ))
}

/// What happened to one object of the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropResult {
    pub key: String,
    /// `started` (this delivery started the drop's run), `duplicate` (the drop already has
    /// its run) or `ignored` (not a completion marker of this bucket).
    pub outcome: String,
    pub run_id: Option<String>,
    /// The run's status after starting: `planning`, or final when it ended before any write.
    pub status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropOutput {
    pub objects: Vec<DropResult>,
}

/// Ingests every completed drop the event names.
pub async fn handle(deps: &Deps, event: serde_json::Value) -> Result<DropOutput, HandlerError> {
    let mut objects = Vec::new();
    for o in objects_created(event)? {
        let ignored = DropResult {
            key: o.key.clone(),
            outcome: "ignored".into(),
            run_id: None,
            status: None,
        };
        if o.bucket != deps.config.aws.bucket {
            tracing::warn!(bucket = %o.bucket, "event of another bucket; ignored");
            objects.push(ignored);
            continue;
        }
        let Some((district, prefix)) = completed_drop(&o.key) else {
            tracing::debug!(key = %o.key, "not a drop completion marker; ignored");
            objects.push(ignored);
            continue;
        };
        let span = tracing::info_span!("ingest_drop", %district, drop = %prefix);
        let outcome =
            app::drops::ingest_drop(&deps.ports, deps.secrets.as_ref(), &district, &prefix)
                .instrument(span)
                .await
                .map_err(|e| {
                    let e = HandlerError::from(e);
                    tracing::error!(%district, error = %e, retryable = e.is_retryable(), "drop not ingested");
                    e
                })?;
        objects.push(match outcome {
            DropOutcome::Started(Started::Staged(run)) => {
                tracing::info!(%district, run_id = %run.run_id, "drop staged; workers take over");
                DropResult {
                    key: o.key,
                    outcome: "started".into(),
                    status: Some(run.status.as_str().into()),
                    run_id: Some(run.run_id),
                }
            }
            DropOutcome::Started(Started::Ended(report)) => {
                tracing::warn!(%district, run_id = %report.run_id, status = report.status.as_str(), "drop refused before any write");
                DropResult {
                    key: o.key,
                    outcome: "started".into(),
                    status: Some(report.status.as_str().into()),
                    run_id: Some(report.run_id.clone()),
                }
            }
            DropOutcome::Duplicate { run_id, .. } => {
                tracing::info!(%district, %run_id, "drop already ingested; nothing to do");
                DropResult {
                    key: o.key,
                    outcome: "duplicate".into(),
                    status: None,
                    run_id: Some(run_id),
                }
            }
        });
    }
    Ok(DropOutput { objects })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_decoded_like_s3_encodes_them() {
        assert_eq!(decode_key("drops/a+b%2Bc%C3%A9.csv"), "drops/a b+cé.csv");
        assert_eq!(decode_key("plain/key.json"), "plain/key.json");
    }

    #[test]
    fn only_completion_markers_are_drops() {
        assert_eq!(
            completed_drop("districts/d1/drops/20261128-ab/_complete.json"),
            Some(("d1".into(), "districts/d1/drops/20261128-ab/".into()))
        );
        for key in [
            "districts/d1/drops/x/files/users.csv",
            "districts/d1/drops/x/ingested.json",
            "districts/d1/drops/latest-roster.json",
            "districts/d1/runs/r/raw/_complete.json",
            "districts//drops/x/_complete.json",
            "districts/d1/drops/x/y/_complete.json",
        ] {
            assert_eq!(completed_drop(key), None, "{key}");
        }
    }

    #[test]
    fn both_event_shapes_are_read() {
        let eb = json!({
            "version": "0", "id": "e1", "detail-type": "Object Created", "source": "aws.s3",
            "detail": {"version": "0", "bucket": {"name": "b"},
                       "object": {"key": "districts/d1/drops/a+b/_complete.json", "size": 10}}
        });
        assert_eq!(
            objects_created(eb).unwrap(),
            vec![ObjectCreated {
                bucket: "b".into(),
                key: "districts/d1/drops/a b/_complete.json".into()
            }]
        );
        let s3 = json!({"Records": [
            {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {"key": "k%3D1"}}},
            {"eventName": "ObjectRemoved:Delete", "s3": {"bucket": {"name": "b"}, "object": {"key": "gone"}}}
        ]});
        assert_eq!(objects_created(s3).unwrap().len(), 1);
        let deleted = json!({"detail-type": "Object Deleted", "detail": {"bucket": {"name": "b"}, "object": {"key": "k"}}});
        assert!(objects_created(deleted).unwrap().is_empty());
        assert!(matches!(
            objects_created(json!({"district": "d1"})),
            Err(HandlerError::BadEvent(_))
        ));
    }
}
