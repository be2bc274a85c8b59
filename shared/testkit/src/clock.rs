//! A fake clock for the source clients: `sleep` only records the wait and advances the clock's
//! own time (with a 1 ms real pause so tasks interleave), so tests never wait for real.

use sources::clever_api::Clock;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Default)]
pub struct FakeClock {
    sleeps: Mutex<Vec<Duration>>,
}

impl FakeClock {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every wait asked for, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.sleeps.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The sum of all waits asked for.
    pub fn slept(&self) -> Duration {
        self.sleeps().iter().sum()
    }
}

fn real_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[async_trait::async_trait]
impl Clock for FakeClock {
    fn now_unix(&self) -> u64 {
        real_now() + self.slept().as_secs()
    }
    async fn sleep(&self, d: Duration) {
        if let Ok(mut s) = self.sleeps.lock() {
            s.push(d);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
