//! Failed authentications, throttled per address: after
//! [`FailedAuthSettings::max_failures`] bearer tokens that resolve to nobody within
//! one [`FailedAuthSettings::window`], every request bearing a token from that
//! address is refused (429 `too_many_failed_authentications`, `Retry-After`) until
//! the window ends, before the token is even looked at: guessing tokens costs a
//! window per few guesses. A request with no token is a 401 that counts nothing (it
//! guesses nothing). IPv6 addresses count by their /64 network, which one host
//! usually holds whole.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many failed authentications an address may have, and in how long a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailedAuthSettings {
    /// Failures allowed per window; 0: no throttling.
    pub max_failures: u32,
    /// The window, counted from an address's first failure.
    pub window: Duration,
}

impl Default for FailedAuthSettings {
    /// 20 failures a minute.
    fn default() -> Self {
        FailedAuthSettings {
            max_failures: 20,
            window: Duration::from_secs(60),
        }
    }
}

/// The most addresses remembered; beyond, those whose window has ended are forgotten.
const MAX_ADDRESSES: usize = 100_000;

/// One address's failures in its current window.
#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

/// The failed authentications of each address, in its current window.
#[derive(Debug, Default)]
pub struct FailedAuth {
    settings: FailedAuthSettings,
    windows: Mutex<HashMap<Option<IpAddr>, Window>>,
}

/// Whom failures are counted against: the address, IPv6 ones by their /64.
pub(crate) fn counted_as(address: Option<IpAddr>) -> Option<IpAddr> {
    match address? {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => Some(IpAddr::V4(v4)),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                Some(IpAddr::V6(bits.into()))
            }
        },
        v4 => Some(v4),
    }
}

impl FailedAuth {
    /// Counting failures under `settings`.
    pub fn new(settings: FailedAuthSettings) -> Self {
        FailedAuth {
            settings,
            windows: Mutex::default(),
        }
    }

    /// Ok when `address` (None: unknown, counted as one) may try a token now, else
    /// the seconds until it may.
    pub fn check(&self, address: Option<IpAddr>) -> Result<(), u64> {
        self.check_at(address, Instant::now())
    }

    /// Records that a token from `address` resolved to nobody.
    pub fn record(&self, address: Option<IpAddr>) {
        self.record_at(address, Instant::now());
    }

    /// [`FailedAuth::check`] at `now`.
    pub fn check_at(&self, address: Option<IpAddr>, now: Instant) -> Result<(), u64> {
        let max = self.settings.max_failures;
        if max == 0 {
            return Ok(());
        }
        let Ok(windows) = self.windows.lock() else {
            return Ok(());
        };
        match windows.get(&counted_as(address)) {
            Some(w) if w.failures >= max => {
                let ends = w.started + self.settings.window;
                match ends.checked_duration_since(now) {
                    Some(left) if !left.is_zero() => {
                        // Whole seconds, rounded up: retrying then is never early.
                        Err(left
                            .as_millis()
                            .div_ceil(1000)
                            .try_into()
                            .unwrap_or(u64::MAX))
                    }
                    _ => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// [`FailedAuth::record`] at `now`.
    pub fn record_at(&self, address: Option<IpAddr>, now: Instant) {
        if self.settings.max_failures == 0 {
            return;
        }
        let Ok(mut windows) = self.windows.lock() else {
            return;
        };
        let window = self.settings.window;
        if windows.len() >= MAX_ADDRESSES {
            windows.retain(|_, w| now.saturating_duration_since(w.started) < window);
            if windows.len() >= MAX_ADDRESSES {
                windows.clear();
            }
        }
        let entry = windows.entry(counted_as(address)).or_insert(Window {
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
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(seconds: u64, start: Instant) -> Instant {
        start + Duration::from_secs(seconds)
    }

    #[test]
    fn an_address_is_refused_after_its_failures_until_the_window_ends() {
        let throttle = FailedAuth::new(FailedAuthSettings {
            max_failures: 3,
            window: Duration::from_secs(60),
        });
        let t0 = Instant::now();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for s in 0..3 {
            assert_eq!(throttle.check_at(Some(a), at(s, t0)), Ok(()));
            throttle.record_at(Some(a), at(s, t0));
        }
        // Three failures from 0 s: refused until 60 s, told how long to wait.
        assert_eq!(throttle.check_at(Some(a), at(3, t0)), Err(57));
        assert_eq!(throttle.check_at(Some(a), at(59, t0)), Err(1));
        // Another address is not.
        assert_eq!(throttle.check_at(Some(b), at(3, t0)), Ok(()));
        // The window over, the address tries again and starts a new window.
        assert_eq!(throttle.check_at(Some(a), at(60, t0)), Ok(()));
        throttle.record_at(Some(a), at(61, t0));
        assert_eq!(throttle.check_at(Some(a), at(62, t0)), Ok(()));
    }

    #[test]
    fn ipv6_addresses_of_one_network_count_together_and_zero_turns_it_off() {
        let throttle = FailedAuth::new(FailedAuthSettings {
            max_failures: 2,
            window: Duration::from_secs(60),
        });
        let t0 = Instant::now();
        throttle.record_at(Some("2001:db8::1".parse().unwrap()), t0);
        throttle.record_at(Some("2001:db8::ffff:2".parse().unwrap()), t0);
        assert!(throttle
            .check_at(Some("2001:db8::3".parse().unwrap()), t0)
            .is_err());
        assert!(throttle
            .check_at(Some("2001:db8:0:1::3".parse().unwrap()), t0)
            .is_ok());
        let off = FailedAuth::new(FailedAuthSettings {
            max_failures: 0,
            window: Duration::from_secs(60),
        });
        for _ in 0..10 {
            off.record_at(None, t0);
        }
        assert_eq!(off.check_at(None, t0), Ok(()));
    }
}
