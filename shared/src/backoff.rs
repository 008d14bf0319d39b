//! Exponential back-off without jitter: the one schedule of every retry loop (Location API
//! client, settling a write, re-sending an append, shard driver, late replies, reply reader).

use std::time::Duration;

/// Delays `first, first × multiplier, …`, each capped at `max`.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    multiplier: f64,
    /// Retries already waited for since the last [`Backoff::reset`].
    retries: u32,
}

impl Backoff {
    /// A schedule starting at `first`, growing by `multiplier` (≥ 1.0) and capped at `max`.
    pub fn new(first: Duration, max: Duration, multiplier: f64) -> Backoff {
        Backoff {
            first,
            max,
            multiplier,
            retries: 0,
        }
    }

    /// A schedule that doubles from `first` up to `max`.
    pub fn doubling(first: Duration, max: Duration) -> Backoff {
        Backoff::new(first, max, 2.0)
    }

    /// The delay before retry `k` (1 for the second attempt): `min(first × multiplier^(k−1), max)`.
    pub fn delay(&self, k: u32) -> Duration {
        let exponent = i32::try_from(k.saturating_sub(1)).unwrap_or(i32::MAX);
        // In whole nanoseconds, so that 100 ms × 2 is exactly 200 ms and not a hair less.
        let nanos = self.first.as_nanos() as f64 * self.multiplier.powi(exponent);
        if nanos.is_finite() && nanos < self.max.as_nanos() as f64 {
            Duration::from_nanos(nanos.round() as u64)
        } else {
            self.max
        }
    }

    /// The next delay of the schedule; the one after it grows.
    pub fn next_delay(&mut self) -> Duration {
        self.retries = self.retries.saturating_add(1);
        self.delay(self.retries)
    }

    /// Waits for [`Backoff::next_delay`].
    pub async fn wait(&mut self) {
        tokio::time::sleep(self.next_delay()).await;
    }

    /// Starts the schedule over (after a success).
    pub fn reset(&mut self) {
        self.retries = 0;
    }

    /// The same schedule with its cap lowered to `max` (never below the first delay).
    pub fn capped(mut self, max: Duration) -> Backoff {
        self.max = self.max.min(max).max(self.first);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn delays(backoff: &mut Backoff, n: usize) -> Vec<u128> {
        (0..n).map(|_| backoff.next_delay().as_millis()).collect()
    }

    #[test]
    fn delays_double_up_to_the_cap_and_start_over_after_a_reset() {
        let mut backoff = Backoff::doubling(ms(50), ms(300));
        assert_eq!(delays(&mut backoff, 5), [50, 100, 200, 300, 300]);
        backoff.reset();
        assert_eq!(delays(&mut backoff, 2), [50, 100]);
    }

    #[test]
    fn a_multiplier_of_one_keeps_the_delay_constant() {
        assert_eq!(
            delays(&mut Backoff::new(ms(70), ms(2000), 1.0), 3),
            [70, 70, 70]
        );
    }

    #[test]
    fn a_huge_exponent_saturates_at_the_cap() {
        let backoff = Backoff::new(ms(100), ms(2000), 10.0);
        assert_eq!(backoff.delay(u32::MAX), ms(2000));
        assert_eq!(backoff.delay(400), ms(2000));
    }

    #[test]
    fn a_lower_cap_never_goes_below_the_first_delay() {
        let backoff = Backoff::doubling(ms(50), ms(1000));
        assert_eq!(backoff.clone().capped(ms(10)).delay(5), ms(50));
        assert_eq!(backoff.capped(ms(400)).delay(5), ms(400));
    }
}
