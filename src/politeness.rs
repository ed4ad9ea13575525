//! Politeness beyond the per-host delay: request-rate caps, and the waits a server asks for.
//!
//! The end-to-start delay itself is a due time in the frontier (DESIGN §Politeness); this module
//! owns what sits on top of it:
//! - [`RateCaps`]: governor limiters for `max_requests_per_minute` per host and
//!   `max_requests_per_minute_total` crawl-wide, evenly spaced (burst 1). A host's limiter unused
//!   for one period (60 s / the cap) is as good as a fresh one, so once more than
//!   [`LIMITERS_KEPT`] are held such limiters are dropped: memory follows the hosts active in the
//!   last period, not the hosts ever seen.
//! - [`retry_after`]: a `Retry-After` value (RFC 9110 §10.2.3: seconds or an HTTP-date).
//! - [`Backoff`]: exponential backoff for retried failures, capped.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// Host limiters held before idle ones are dropped.
pub const LIMITERS_KEPT: usize = 1024;

fn limiter(per_minute: u32) -> Option<DefaultDirectRateLimiter> {
    if per_minute == 0 {
        return None;
    }
    let quota = Quota::with_period(Duration::from_secs_f64(60.0 / per_minute as f64))?;
    Some(RateLimiter::direct(quota))
}

/// Request-rate caps (0 = no cap).
pub struct RateCaps {
    per_host: u32,
    /// The crawl-wide limiter, shared by every worker.
    total: Option<DefaultDirectRateLimiter>,
    /// One limiter per recently active host, with when it was last used.
    hosts: Mutex<HashMap<String, (DefaultDirectRateLimiter, Instant)>>,
    clock: DefaultClock,
}

impl std::fmt::Debug for RateCaps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateCaps").field("per_host", &self.per_host).field("total", &self.total.is_some()).finish()
    }
}

impl RateCaps {
    /// Caps of `per_host` and `total` requests per minute (0 = none).
    pub fn new(per_host: u32, total: u32) -> Self {
        Self { per_host, total: limiter(total), hosts: Mutex::new(HashMap::new()), clock: DefaultClock::default() }
    }

    /// Takes one request for `host` if both caps allow it now; otherwise how long to wait.
    pub fn check(&self, host: &str) -> Result<(), Duration> {
        if self.per_host > 0 {
            let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
            if hosts.len() >= LIMITERS_KEPT && !hosts.contains_key(host) {
                // Unused for a whole period: its next request would pass anyway.
                let period = Duration::from_secs_f64(60.0 / self.per_host as f64);
                hosts.retain(|_, (_, used)| used.elapsed() < period);
            }
            let entry = hosts
                .entry(host.to_string())
                .or_insert_with(|| (limiter(self.per_host).expect("per_host > 0"), Instant::now()));
            entry.1 = Instant::now();
            if let Err(not_until) = entry.0.check() {
                return Err(not_until.wait_time_from(self.clock.now()));
            }
        }
        if let Some(total) = &self.total {
            if let Err(not_until) = total.check() {
                return Err(not_until.wait_time_from(self.clock.now()));
            }
        }
        Ok(())
    }

    /// Host limiters currently held (for tests and status).
    pub fn hosts_held(&self) -> usize {
        self.hosts.lock().map(|h| h.len()).unwrap_or(0)
    }
}

/// The wait a `Retry-After` value asks for, from `now`: delta-seconds or an HTTP-date (RFC 9110
/// §10.2.3). `None` when it does not parse. A date in the past means no wait.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Exponential backoff: `first` × 2^(attempt − 1), capped at `max`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// The first wait.
    pub first: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Backoff {
    /// The wait before try number `attempt + 1`, after `attempt` failed tries (≥ 1).
    pub fn wait(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(30));
        self.first.saturating_mul(factor).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now), Some(Duration::from_secs(10)));
        assert_eq!(retry_after("Sunday, 06-Nov-94 08:49:40 GMT", now), Some(Duration::from_secs(3)));
        assert_eq!(retry_after("Sun Nov  6 08:49:38 1994", now), Some(Duration::from_secs(1)));
        assert_eq!(retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-5", now), None);
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let b = Backoff { first: Duration::from_secs(10), max: Duration::from_secs(60) };
        let waits: Vec<u64> = (1..=5).map(|a| b.wait(a).as_secs()).collect();
        assert_eq!(waits, vec![10, 20, 40, 60, 60]);
    }

    #[test]
    fn per_host_cap_spaces_requests_and_hosts_are_separate() {
        let caps = RateCaps::new(60, 0); // one a second per host
        assert!(caps.check("a.example").is_ok());
        let wait = caps.check("a.example").unwrap_err();
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1), "{wait:?}");
        assert!(caps.check("b.example").is_ok(), "another host has its own cap");
        assert_eq!(caps.hosts_held(), 2);
    }

    #[test]
    fn idle_host_limiters_are_dropped_so_memory_follows_active_hosts() {
        let caps = RateCaps::new(60_000, 0); // a 1 ms period
        for i in 0..LIMITERS_KEPT {
            assert!(caps.check(&format!("h{i}.example")).is_ok());
        }
        std::thread::sleep(Duration::from_millis(5));
        assert!(caps.check("new.example").is_ok());
        assert_eq!(caps.hosts_held(), 1, "every idle limiter dropped");
        // A limiter still within its period is kept, and still caps its host.
        let slow = RateCaps::new(1, 0);
        for i in 0..LIMITERS_KEPT {
            let _ = slow.check(&format!("h{i}.example"));
        }
        assert!(slow.check("another.example").is_ok());
        assert!(slow.check("h0.example").is_err(), "a host's cap is not forgotten within its period");
    }

    #[test]
    fn total_cap_spans_hosts() {
        let caps = RateCaps::new(0, 60);
        assert!(caps.check("a.example").is_ok());
        assert!(caps.check("b.example").is_err());
    }
}
