//! The feed's schools for step-3 suggestions: read from the newest run that staged a feed
//! (`districts/{d}/runs/{run}/staged/manifest.json`, its `schools` array, each entry a
//! canonical school or an object with a `school` field). Best effort: a run without a readable
//! manifest is skipped; with none at all, there is no feed and no suggestion.

use crate::ApiState;
use crate::error::ApiError;
use serde_json::Value;
use store::StoreError;

/// How many of the newest runs are looked at.
const RUNS_LOOKED_AT: usize = 20;

pub(crate) async fn latest_feed_schools(
    st: &ApiState,
    district: &str,
) -> Result<(Option<String>, Vec<domain::School>), ApiError> {
    let runs = st.runs.list_runs(district, None, RUNS_LOOKED_AT).await?;
    for run in runs {
        let key = format!(
            "districts/{district}/runs/{}/staged/manifest.json",
            run.run_id
        );
        let bytes = match st.objects.get(&key).await {
            Ok(b) => b,
            Err(StoreError::NotFound(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        match schools_of(&bytes) {
            Some(schools) => return Ok((Some(run.run_id), schools)),
            None => {
                tracing::warn!(district, run_id = %run.run_id, "staged manifest without readable schools; skipped");
            }
        }
    }
    Ok((None, Vec::new()))
}

fn schools_of(manifest: &[u8]) -> Option<Vec<domain::School>> {
    let v: Value = serde_json::from_slice(manifest).ok()?;
    let items = v.get("schools")?.as_array()?;
    items
        .iter()
        .map(|item| {
            let school = item.get("school").filter(|s| s.is_object()).unwrap_or(item);
            serde_json::from_value(school.clone()).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::schools_of;

    #[test]
    fn manifest_schools_in_either_shape() {
        let flat = br#"{"schools":[{"id":"f1","name":"Lincoln"}]}"#;
        let nested = br#"{"schools":[{"school":{"id":"f2","name":"Adams"},"students":3}]}"#;
        assert_eq!(schools_of(flat).map(|s| s[0].id.clone()), Some("f1".into()));
        assert_eq!(
            schools_of(nested).map(|s| s[0].id.clone()),
            Some("f2".into())
        );
        assert!(schools_of(b"{}").is_none());
    }
}
