//! Failed logins, counted per key (an email, an address) in a window: after
//! `max_failures` failures within one window from a key's first failure, the key is
//! refused until the window ends, however right its next password. Kept in the
//! server's memory, like the throttle of unknown tokens (`crate::failed_auth`): each
//! server process counts its own.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most keys remembered; beyond, those whose window has ended are forgotten.
const MAX_KEYS: usize = 100_000;

/// One key's failures in its current window.
#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

/// The failures of each key in its current window.
#[derive(Debug)]
pub struct Throttle<K> {
    max_failures: u32,
    window: Duration,
    windows: Mutex<HashMap<K, Window>>,
}

impl<K: Hash + Eq> Throttle<K> {
    /// At most `max_failures` (0: no limit) per `window`.
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Throttle {
            max_failures,
            window,
            windows: Mutex::default(),
        }
    }

    /// Ok when `key` may try now, else the whole seconds (rounded up) until it may.
    pub fn check(&self, key: &K) -> Result<(), u64> {
        self.check_at(key, Instant::now())
    }

    /// Records a failure of `key`.
    pub fn record(&self, key: K) {
        self.record_at(key, Instant::now());
    }

    /// Forgets `key`'s failures (it logged in).
    pub fn clear(&self, key: &K) {
        if let Ok(mut windows) = self.windows.lock() {
            windows.remove(key);
        }
    }

    /// [`Throttle::check`] at `now`.
    pub fn check_at(&self, key: &K, now: Instant) -> Result<(), u64> {
        if self.max_failures == 0 {
            return Ok(());
        }
        let Ok(windows) = self.windows.lock() else {
            return Ok(());
        };
        match windows.get(key) {
            Some(w) if w.failures >= self.max_failures => {
                match (w.started + self.window).checked_duration_since(now) {
                    Some(left) if !left.is_zero() => Err(left
                        .as_millis()
                        .div_ceil(1000)
                        .try_into()
                        .unwrap_or(u64::MAX)),
                    _ => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// [`Throttle::record`] at `now`.
    pub fn record_at(&self, key: K, now: Instant) {
        if self.max_failures == 0 {
            return;
        }
        let Ok(mut windows) = self.windows.lock() else {
            return;
        };
        let window = self.window;
        if windows.len() >= MAX_KEYS {
            windows.retain(|_, w| now.saturating_duration_since(w.started) < window);
            if windows.len() >= MAX_KEYS {
                windows.clear();
            }
        }
        let entry = windows.entry(key).or_insert(Window {
            started: now,
            failures: 0,
        });
        if now.saturating_duration_since(entry.started) >= window {
            *entry = Window {
                started: now,
                failures: 0,
            };
        }
        entry.failures = entry.failures.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_refused_after_its_failures_until_the_window_ends_or_it_is_cleared() {
        let throttle = Throttle::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        for s in 0..3 {
            assert_eq!(throttle.check_at(&"a", at(s)), Ok(()));
            throttle.record_at("a", at(s));
        }
        assert_eq!(throttle.check_at(&"a", at(3)), Err(57));
        assert_eq!(throttle.check_at(&"b", at(3)), Ok(()));
        assert_eq!(throttle.check_at(&"a", at(60)), Ok(()));
        throttle.record_at("b", at(3));
        throttle.record_at("b", at(3));
        throttle.record_at("b", at(3));
        assert!(throttle.check_at(&"b", at(4)).is_err());
        throttle.clear(&"b");
        assert_eq!(throttle.check_at(&"b", at(4)), Ok(()));
        let off = Throttle::new(0, Duration::from_secs(60));
        for _ in 0..10 {
            off.record_at("a", t0);
        }
        assert_eq!(off.check_at(&"a", t0), Ok(()));
    }
}
