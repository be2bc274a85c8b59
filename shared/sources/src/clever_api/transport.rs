//! HTTP plumbing shared by the Clever and OneRoster clients: an injectable clock, a per-minute
//! request budget, `X-RateLimit-*` handling, and retries with exponential backoff.
//!
//! Status rules: 401/403 → [`SourceError::WrongCredentials`] at once; 429 → wait for
//! `X-RateLimit-Reset` (or a short default) and retry; 5xx and timeouts → exponential backoff,
//! then [`SourceError::Unavailable`]; other 4xx → [`SourceError::Invalid`] (`invalid_response`).

use crate::SourceError;
use domain::{Issue, IssueCode, Location};
use reqwest::header::HeaderMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Time as an input: real in production, fake in tests so that rate-limit waits cost nothing.
#[async_trait::async_trait]
pub trait Clock: Send + Sync + fmt::Debug {
    /// Seconds since the Unix epoch.
    fn now_unix(&self) -> u64;
    async fn sleep(&self, d: Duration);
}

/// The wall clock and `tokio::time::sleep`.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

#[async_trait::async_trait]
impl Clock for SystemClock {
    fn now_unix(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

/// The default clock as a shareable handle.
pub fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// How one client retries and paces its requests.
#[derive(Debug, Clone)]
pub struct Policy {
    pub max_retries: u32,
    pub requests_per_minute: u32,
    /// First backoff delay after a 5xx or timeout; doubles each try, capped at `max_backoff`.
    pub backoff_base: Duration,
    pub max_backoff: Duration,
    /// Wait after a 429 without a usable `X-RateLimit-Reset`.
    pub default_rate_wait: Duration,
    /// Longest wait a reset header may impose (a bogus far-future reset must not hang a run).
    pub max_rate_wait: Duration,
    pub clock: Arc<dyn Clock>,
}

/// What a successful exchange returned.
#[derive(Debug)]
pub struct Fetched {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Why one attempt did not produce a usable response.
pub enum Attempt {
    Ok(Fetched),
    /// Transport error (timeout, connection refused...).
    Transport(reqwest::Error),
}

/// Paces requests: a fixed one-minute window with `requests_per_minute` requests, plus the
/// server's own `X-RateLimit-Remaining: 0` until `X-RateLimit-Reset`.
#[derive(Debug)]
pub struct Pacer {
    policy: Policy,
    window_start: u64,
    in_window: u32,
    blocked_until: Option<u64>,
}

impl Pacer {
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            window_start: 0,
            in_window: 0,
            blocked_until: None,
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Waits as needed before the next request.
    async fn before_request(&mut self) {
        let clock = self.policy.clock.clone();
        if let Some(until) = self.blocked_until.take() {
            let now = clock.now_unix();
            if until > now {
                let wait = Duration::from_secs(until - now).min(self.policy.max_rate_wait);
                tracing::info!(
                    wait_ms = wait.as_millis() as u64,
                    "rate budget spent; waiting for reset"
                );
                clock.sleep(wait).await;
            }
        }
        let now = clock.now_unix();
        if now >= self.window_start + 60 {
            self.window_start = now;
            self.in_window = 0;
        }
        let budget = self.policy.requests_per_minute.max(1);
        if self.in_window >= budget {
            let wait = Duration::from_secs((self.window_start + 60).saturating_sub(now));
            tracing::info!(
                wait_ms = wait.as_millis() as u64,
                "client request budget spent; waiting"
            );
            clock.sleep(wait).await;
            self.window_start = clock.now_unix();
            self.in_window = 0;
        }
        self.in_window += 1;
    }

    /// Notes the rate-limit headers of a response.
    fn after_response(&mut self, headers: &HeaderMap) {
        if header_u64(headers, "x-ratelimit-remaining") == Some(0) {
            let reset = header_u64(headers, "x-ratelimit-reset")
                .unwrap_or_else(|| self.policy.clock.now_unix() + 1);
            self.blocked_until = Some(reset);
        }
    }

    /// How long to wait after a 429.
    fn rate_wait(&self, headers: &HeaderMap) -> Duration {
        let now = self.policy.clock.now_unix();
        match header_u64(headers, "x-ratelimit-reset") {
            Some(reset) if reset > now => {
                Duration::from_secs(reset - now).min(self.policy.max_rate_wait)
            }
            // Reset now or in the past: the window has just turned; try again shortly.
            Some(_) => Duration::from_millis(100).min(self.policy.default_rate_wait),
            None => self.policy.default_rate_wait,
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX);
        self.policy
            .backoff_base
            .saturating_mul(factor)
            .min(self.policy.max_backoff)
    }

    /// Runs `send` (one HTTP exchange) under the status rules above. `path` names the request
    /// in errors and logs (never a token).
    pub async fn run<F, Fut>(&mut self, path: &str, send: F) -> Result<Fetched, SourceError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Attempt>,
    {
        self.run_with(path, send, &[401, 403]).await
    }

    /// As [`Pacer::run`], with the statuses that mean "credentials refused" given (an OAuth2
    /// token endpoint answers 400 for a bad client).
    pub async fn run_with<F, Fut>(
        &mut self,
        path: &str,
        mut send: F,
        credential_statuses: &[u16],
    ) -> Result<Fetched, SourceError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Attempt>,
    {
        let mut retries = 0u32;
        // 5xx and transport failures so far: the backoff exponent (429s wait for the reset).
        let mut failures = 0u32;
        loop {
            self.before_request().await;
            let outcome = send().await;
            let failure = match outcome {
                Attempt::Ok(f) => {
                    self.after_response(&f.headers);
                    tracing::debug!(path, status = f.status, bytes = f.body.len(), "response");
                    match f.status {
                        200..=299 => return Ok(f),
                        s if credential_statuses.contains(&s) => {
                            tracing::warn!(path, status = f.status, "credentials refused");
                            return Err(SourceError::WrongCredentials {
                                path: path.to_string(),
                                status: f.status,
                            });
                        }
                        429 => {
                            let wait = self.rate_wait(&f.headers);
                            Failure::Retry {
                                wait,
                                detail: "HTTP 429 (rate limited)".to_string(),
                            }
                        }
                        501 => {
                            return Err(SourceError::Unavailable {
                                path: path.to_string(),
                                detail: "HTTP 501 (not implemented by the source)".to_string(),
                            });
                        }
                        500..=599 => Failure::Retry {
                            wait: self.backoff(post_inc(&mut failures)),
                            detail: format!("HTTP {}", f.status),
                        },
                        s => {
                            return Err(SourceError::invalid(Issue::error(
                                IssueCode::InvalidResponse,
                                Location::api(path),
                                format!("the source answered HTTP {s}"),
                            )));
                        }
                    }
                }
                Attempt::Transport(e) => Failure::Retry {
                    wait: self.backoff(post_inc(&mut failures)),
                    detail: if e.is_timeout() {
                        "request timed out".to_string()
                    } else if e.is_connect() {
                        "cannot connect".to_string()
                    } else {
                        "transport error".to_string()
                    },
                },
            };
            let Failure::Retry { wait, detail } = failure;
            if retries >= self.policy.max_retries {
                tracing::warn!(path, retries, detail = %detail, "giving up");
                return Err(SourceError::Unavailable {
                    path: path.to_string(),
                    detail: format!("{detail} after {} tries", retries + 1),
                });
            }
            retries += 1;
            tracing::info!(path, retries, wait_ms = wait.as_millis() as u64, detail = %detail, "retrying");
            self.policy.clock.sleep(wait).await;
        }
    }
}

fn post_inc(n: &mut u32) -> u32 {
    let v = *n;
    *n += 1;
    v
}

enum Failure {
    Retry { wait: Duration, detail: String },
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers
        .get(name)?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|v| v.ceil() as u64)
}

/// Sends a prepared request and reads the whole body.
pub async fn exchange(req: reqwest::RequestBuilder) -> Attempt {
    match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            match resp.bytes().await {
                Ok(b) => Attempt::Ok(Fetched {
                    status,
                    headers,
                    body: b.to_vec(),
                }),
                Err(e) => Attempt::Transport(e),
            }
        }
        Err(e) => Attempt::Transport(e),
    }
}

/// Builds a reqwest client with a per-request timeout.
pub fn client(timeout: Duration) -> Result<reqwest::Client, SourceError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| SourceError::Unavailable {
            path: String::new(),
            detail: format!("cannot build the HTTP client: {e}"),
        })
}

/// Classifies a JSON parse failure of a page: syntax/EOF → `malformed_json`, shape →
/// `invalid_response`.
pub fn json_error(path: &str, e: &serde_json::Error) -> SourceError {
    let code = match e.classify() {
        serde_json::error::Category::Data => IssueCode::InvalidResponse,
        _ => IssueCode::MalformedJson,
    };
    SourceError::invalid(Issue::error(
        code,
        Location::api(path),
        format!(
            "the page is not valid JSON of the expected shape (line {}, column {}): {}",
            e.line(),
            e.column(),
            match e.classify() {
                serde_json::error::Category::Eof => "truncated",
                serde_json::error::Category::Syntax => "syntax error",
                _ => "unexpected structure",
            }
        ),
    ))
}
