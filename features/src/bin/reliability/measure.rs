//! Figures: a seedable generator, percentiles of durations, and how they are printed.

use std::time::Duration;

/// splitmix64: a small seedable generator for reproducible choices (no cryptographic use).
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
}

/// A seed from the clock, for runs that are not given one.
pub(crate) fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
}

/// Median, 99th and 99.9th percentiles and maximum of a sample (nearest rank: with fewer than
/// 100 values the 99th percentile is the maximum).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Spread {
    pub(crate) n: usize,
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
    pub(crate) p999: Duration,
    pub(crate) max: Duration,
}

impl Spread {
    pub(crate) fn of(values: &[Duration]) -> Spread {
        let mut sorted = values.to_vec();
        sorted.sort_unstable();
        Spread {
            n: sorted.len(),
            p50: quantile(&sorted, 0.5),
            p99: quantile(&sorted, 0.99),
            p999: quantile(&sorted, 0.999),
            max: sorted.last().copied().unwrap_or_default(),
        }
    }
}

/// The value at rank `round((n - 1) · q)` of sorted values (zero when there are none).
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// `3.42 s`.
pub(crate) fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// `12.3 ms`.
pub(crate) fn millis(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// A signed difference `a - b` in milliseconds, `+12.3 ms` or `-4.0 ms`.
pub(crate) fn signed_millis(a: Duration, b: Duration) -> String {
    let delta = (a.as_secs_f64() - b.as_secs_f64()) * 1000.0;
    format!("{delta:+.1} ms")
}

/// `pass` or `FAIL`.
pub(crate) fn verdict(pass: bool) -> &'static str {
    if pass { "pass" } else { "FAIL" }
}

/// The date of today (UTC) as `YYYY-MM-DD`, for the figures' heading.
pub(crate) fn today() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400) as i64;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|v| Duration::from_millis(*v)).collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_choices() {
        let mut a = SplitMix64::new(42);
        let mut b = SplitMix64::new(42);
        let first: Vec<u64> = (0..5).map(|_| a.below(3)).collect();
        let second: Vec<u64> = (0..5).map(|_| b.below(3)).collect();
        assert_eq!(first, second);
        assert!(first.iter().all(|n| *n < 3));
    }

    #[test]
    fn splitmix_matches_its_reference_sequence() {
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(rng.next_u64(), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let spread = Spread::of(&ms(&[5, 1, 4, 2, 3]));
        assert_eq!(spread.n, 5);
        assert_eq!(spread.p50, Duration::from_millis(3));
        assert_eq!(spread.p99, Duration::from_millis(5));
        assert_eq!(spread.max, Duration::from_millis(5));
    }

    #[test]
    fn the_99th_percentile_of_a_thousand_values_is_below_the_maximum() {
        let values: Vec<u64> = (1..=1000).collect();
        let spread = Spread::of(&ms(&values));
        assert_eq!(spread.p99, Duration::from_millis(990));
        assert_eq!(spread.p999, Duration::from_millis(999));
        assert_eq!(spread.max, Duration::from_millis(1000));
    }

    #[test]
    fn an_empty_sample_is_all_zero() {
        assert_eq!(Spread::of(&[]), Spread::default());
    }

    #[test]
    fn durations_are_printed_with_their_unit() {
        assert_eq!(secs(Duration::from_millis(3420)), "3.42 s");
        assert_eq!(millis(Duration::from_micros(12_345)), "12.3 ms");
        let (a, b) = (Duration::from_millis(10), Duration::from_millis(14));
        assert_eq!(signed_millis(a, b), "-4.0 ms");
        assert_eq!(verdict(true), "pass");
    }

    #[test]
    fn day_counts_become_calendar_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_513), (2026, 3, 1));
    }
}
