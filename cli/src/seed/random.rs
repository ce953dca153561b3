//! [`Dice`]: every random choice of the generator, from one seeded ChaCha stream,
//! and the ids it makes up, from another, so the same seed makes the same log.

use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

/// The generator's randomness: behaviour and ids, both derived from the seed.
pub struct Dice {
    rng: ChaCha8Rng,
    ids: ChaCha8Rng,
    clock: DateTime<Utc>,
}

impl Dice {
    /// Dice for `seed`.
    pub fn new(seed: u64) -> Self {
        let rng = ChaCha8Rng::seed_from_u64(seed);
        let mut ids = ChaCha8Rng::seed_from_u64(seed);
        // A stream of its own: how many ids are made does not move the choices.
        ids.set_stream(1);
        Dice {
            rng,
            ids,
            clock: DateTime::UNIX_EPOCH,
        }
    }

    /// Sets the business time that new ids carry.
    pub fn set_clock(&mut self, at: DateTime<Utc>) {
        self.clock = at;
    }

    /// A new time-ordered (version 7) UUID of the business time set last, its other
    /// bits from the seed: like the ids the API makes (`Uuid::now_v7`), and kind to
    /// the log's indexes, which then grow at their end.
    pub fn id(&mut self) -> Uuid {
        let random: [u8; 10] = self.ids.gen();
        let millis = u64::try_from(self.clock.timestamp_millis()).unwrap_or(0);
        uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p.clamp(0.0, 1.0))
    }

    /// A uniform integer in `low..=high`.
    pub fn int(&mut self, low: i64, high: i64) -> i64 {
        if high <= low {
            low
        } else {
            self.rng.gen_range(low..=high)
        }
    }

    /// A uniform index below `len` (0 when `len` is 0).
    pub fn index(&mut self, len: usize) -> usize {
        if len == 0 {
            0
        } else {
            self.rng.gen_range(0..len)
        }
    }

    /// A uniform number in `[low, high)`.
    pub fn uniform(&mut self, low: f64, high: f64) -> f64 {
        if high <= low {
            low
        } else {
            self.rng.gen_range(low..high)
        }
    }

    /// An exponentially distributed number with this mean.
    pub fn exp(&mut self, mean: f64) -> f64 {
        let u: f64 = self.rng.gen_range(f64::EPSILON..1.0);
        -u.ln() * mean
    }

    /// A log-uniform integer in `low..=high`: as many values in each tenfold.
    pub fn log_int(&mut self, low: i64, high: i64) -> i64 {
        let (l, h) = ((low.max(1)) as f64, (high.max(low).max(1)) as f64);
        let value = (self.uniform(l.ln(), h.ln().max(l.ln()))).exp();
        (value.round() as i64).clamp(low, high.max(low))
    }

    /// `x` rounded down or up at random, so that its expected value is `x`.
    pub fn round(&mut self, x: f64) -> u64 {
        let x = x.max(0.0);
        let whole = x.floor();
        let extra = u64::from(self.chance(x - whole));
        whole as u64 + extra
    }

    /// One of `items`, uniformly.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    /// One of `items` with the weights given beside them.
    pub fn weighted<'a, T>(&mut self, items: &'a [(T, f64)]) -> &'a T {
        let total: f64 = items.iter().map(|(_, w)| w.max(0.0)).sum();
        let mut target = self.uniform(0.0, total);
        for (item, weight) in items {
            target -= weight.max(0.0);
            if target < 0.0 {
                return item;
            }
        }
        &items[items.len() - 1].0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_dice() {
        let (mut a, mut b) = (Dice::new(7), Dice::new(7));
        for _ in 0..100 {
            assert_eq!(a.id(), b.id());
            assert_eq!(a.int(0, 1000), b.int(0, 1000));
        }
        assert_ne!(Dice::new(7).id(), Dice::new(8).id());
    }

    #[test]
    fn draws_stay_in_their_ranges() {
        let mut dice = Dice::new(1);
        for _ in 0..1000 {
            assert!((3..=9).contains(&dice.int(3, 9)));
            assert!((10..=10_000).contains(&dice.log_int(10, 10_000)));
            assert!(dice.exp(5.0) >= 0.0);
            assert!(*dice.weighted(&[(1, 0.0), (2, 1.0)]) == 2);
        }
    }
}
