//! Configuration from the function's environment (set by `infra/template.yaml`), validated once
//! at cold start: one [`ConfigError`] names every variable that is missing or invalid, so a
//! misconfigured stack fails its first invocation with the whole list.

use store_aws::{AwsConfig, ENV_BUCKET, ENV_DLQ_URL, ENV_QUEUE_URL, ENV_TABLE};

/// Prefix of the SSM parameters holding source secrets: a district's secret `districts/d1/source`
/// (see `app::admin::secret_name`) is the SecureString `{prefix}districts/d1/source`.
pub const ENV_SSM_PREFIX: &str = "ROSTERSYNC_SSM_PREFIX";
/// The work queue's redrive `maxReceiveCount` (the template's `MaxReceiveCount`): on that
/// delivery a failing message is the last one the worker sees before the dead-letter queue.
pub const ENV_MAX_RECEIVES: &str = "ROSTERSYNC_MAX_RECEIVES";
/// The queue the `fetch` function sends its own continuations to (and is triggered by): a
/// Clever or OneRoster fetch that runs out of invocation time checkpoints and continues there.
pub const ENV_FETCH_QUEUE_URL: &str = "ROSTERSYNC_FETCH_QUEUE_URL";
/// The prefix used where no secret is read (worker, ingest-drop).
pub const DEFAULT_SSM_PREFIX: &str = "/rostersync/";

/// Which function is starting: each needs a different set of variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Fetch,
    SftpPull,
    Worker,
    IngestDrop,
    Api,
}

impl Function {
    /// The variables this function cannot start without (besides the AWS SDK's own).
    pub fn required(self) -> Vec<&'static str> {
        let mut v = vec![ENV_BUCKET, ENV_QUEUE_URL, ENV_DLQ_URL, ENV_TABLE];
        match self {
            Self::Fetch => v.extend([ENV_SSM_PREFIX, ENV_FETCH_QUEUE_URL]),
            Self::SftpPull | Self::Api => v.push(ENV_SSM_PREFIX),
            Self::Worker => v.push(ENV_MAX_RECEIVES),
            Self::IngestDrop => {}
        }
        v
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Bucket, queue, dead-letter queue and table names.
    pub aws: AwsConfig,
    pub ssm_prefix: String,
    pub max_receives: u32,
    /// The fetch function's continuation queue (`fetch` only).
    pub fetch_queue_url: Option<String>,
}

/// Everything wrong with the environment, in one message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid function configuration: {}", .problems.join("; "))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl Config {
    pub fn from_env(function: Function) -> Result<Self, ConfigError> {
        Self::from_lookup(function, |name| std::env::var(name).ok())
    }

    /// The same validation over any lookup (tests pass a map).
    pub fn from_lookup(
        function: Function,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let required = function.required();
        let mut problems = Vec::new();
        let missing: Vec<&str> = required
            .iter()
            .copied()
            .filter(|name| get(name).is_none())
            .collect();
        if !missing.is_empty() {
            problems.push(format!(
                "missing environment variable(s) {}",
                missing.join(", ")
            ));
        }
        let max_receives = match get(ENV_MAX_RECEIVES) {
            None => 0,
            Some(v) => match v.parse::<u32>() {
                Ok(n) if n >= 1 => n,
                _ => {
                    problems.push(format!(
                        "{ENV_MAX_RECEIVES} must be a whole number of at least 1 (the queue's maxReceiveCount), not {v:?}"
                    ));
                    0
                }
            },
        };
        let ssm_prefix = get(ENV_SSM_PREFIX).unwrap_or_else(|| DEFAULT_SSM_PREFIX.to_string());
        if !ssm_prefix.starts_with('/') || !ssm_prefix.ends_with('/') {
            problems.push(format!(
                "{ENV_SSM_PREFIX} must start and end with '/' (e.g. /rostersync/), not {ssm_prefix:?}"
            ));
        }
        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
        let var = |name: &str| get(name).unwrap_or_default();
        Ok(Self {
            aws: AwsConfig {
                bucket: var(ENV_BUCKET),
                queue_url: var(ENV_QUEUE_URL),
                dlq_url: var(ENV_DLQ_URL),
                table: var(ENV_TABLE),
            },
            ssm_prefix,
            max_receives,
            fetch_queue_url: get(ENV_FETCH_QUEUE_URL),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn one_error_lists_every_missing_variable() {
        let e = Config::from_lookup(Function::Worker, lookup(&[("ROSTERSYNC_BUCKET", "b")]))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid function configuration: missing environment variable(s) \
             ROSTERSYNC_QUEUE_URL, ROSTERSYNC_DLQ_URL, ROSTERSYNC_TABLE, ROSTERSYNC_MAX_RECEIVES"
        );
    }

    #[test]
    fn invalid_values_are_listed_with_missing_ones() {
        let e = Config::from_lookup(
            Function::Worker,
            lookup(&[
                ("ROSTERSYNC_MAX_RECEIVES", "many"),
                ("ROSTERSYNC_TABLE", " "),
            ]),
        )
        .unwrap_err();
        assert_eq!(e.problems.len(), 2, "{e}");
        assert!(e.problems[0].contains("ROSTERSYNC_TABLE"), "{e}");
        assert!(e.problems[1].contains("\"many\""), "{e}");
    }

    #[test]
    fn each_function_needs_its_own_variables() {
        let base = [
            ("ROSTERSYNC_BUCKET", "b"),
            ("ROSTERSYNC_QUEUE_URL", "q"),
            ("ROSTERSYNC_DLQ_URL", "dlq"),
            ("ROSTERSYNC_TABLE", "t"),
        ];
        let c = Config::from_lookup(Function::IngestDrop, lookup(&base)).unwrap();
        assert_eq!(c.ssm_prefix, DEFAULT_SSM_PREFIX);
        assert_eq!(c.aws.dlq_url, "dlq");
        let e = Config::from_lookup(Function::Fetch, lookup(&base)).unwrap_err();
        assert!(e.to_string().contains(ENV_SSM_PREFIX), "{e}");
        assert!(e.to_string().contains(ENV_FETCH_QUEUE_URL), "{e}");
        let mut with = base.to_vec();
        with.push((ENV_SSM_PREFIX, "/rs/"));
        with.push((ENV_MAX_RECEIVES, "4"));
        assert_eq!(
            Config::from_lookup(Function::Api, lookup(&with))
                .unwrap()
                .ssm_prefix,
            "/rs/"
        );
        assert_eq!(
            Config::from_lookup(Function::Worker, lookup(&with))
                .unwrap()
                .max_receives,
            4
        );
    }
}
