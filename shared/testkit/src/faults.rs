//! Fault injection shared by the fake servers. Requests to data collections are numbered from 1
//! in arrival order (token requests are not counted).

use std::time::Duration;

#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// The first N data requests answer 429 with `X-RateLimit-Reset` = now + `reset_after`.
    pub rate_limited: u32,
    /// Seconds until the advertised reset (429s and `remaining_zero_at`).
    pub reset_after: u64,
    /// After the 429s, the next N data requests answer 503.
    pub server_errors: u32,
    /// The K-th data request answers 401.
    pub unauthorized_at: Option<u32>,
    /// The K-th data request succeeds with `X-RateLimit-Remaining: 0`.
    pub remaining_zero_at: Option<u32>,
    /// The first N data requests are answered only after `delay`.
    pub slow_requests: u32,
    pub delay: Duration,
    /// The K-th data request gets half its JSON body.
    pub truncate_at: Option<u32>,
    /// Clever: pages after the first link back to the first page.
    pub loop_next: bool,
    /// OneRoster: the `X-Total-Count` sent instead of the true count.
    pub lying_total: Option<u64>,
}
