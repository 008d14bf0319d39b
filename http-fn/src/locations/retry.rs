//! Retry policy of the Location API client (`docs/api.md` §15.5.2) and attempt classification.

use std::time::Duration;

use shared::backoff::Backoff;

use crate::config::LocationApiSettings;

/// Attempt budget and exponential backoff, without jitter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RetryPolicy {
    max_attempts: u32,
    backoff: Backoff,
}

impl RetryPolicy {
    /// The policy of the `STOCK_LOCATION_API_*` settings.
    pub(crate) fn new(settings: &LocationApiSettings) -> RetryPolicy {
        RetryPolicy {
            max_attempts: settings.max_attempts.max(1),
            backoff: Backoff::new(
                settings.initial_delay,
                settings.max_delay,
                settings.backoff_multiplier,
            ),
        }
    }

    /// Total attempts per call, the first included.
    pub(crate) fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The delay before retry `k` (1 for the second attempt):
    /// `min(initial × multiplier^(k−1), max)`.
    pub(crate) fn delay_before_retry(&self, k: u32) -> Duration {
        self.backoff.delay(k)
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttemptOutcome {
    /// The Location API answered with this status.
    Status(u16),
    /// No complete answer within the connect or request timeout.
    Timeout,
    /// Connection refused or reset, DNS failure, or a broken answer.
    Transport,
}

impl AttemptOutcome {
    /// Retried: any 5xx, timeouts and connection errors (§5.2).
    pub(crate) fn is_retried(self) -> bool {
        match self {
            AttemptOutcome::Status(status) => (500..600).contains(&status),
            AttemptOutcome::Timeout | AttemptOutcome::Transport => true,
        }
    }

    /// A failure for the circuit breaker: 500, 502, 503, 504, timeouts and connection errors
    /// (§5.3). Everything else, 501 and 505 included, counts as a success.
    pub(crate) fn is_breaker_failure(self) -> bool {
        match self {
            AttemptOutcome::Status(status) => matches!(status, 500 | 502 | 503 | 504),
            AttemptOutcome::Timeout | AttemptOutcome::Transport => true,
        }
    }

    /// The `outcome` label of `stock_location_api_requests_total`.
    pub(crate) fn label(self) -> &'static str {
        match self {
            AttemptOutcome::Status(100..=199) => "1xx",
            AttemptOutcome::Status(200..=299) => "2xx",
            AttemptOutcome::Status(300..=399) => "3xx",
            AttemptOutcome::Status(400..=499) => "4xx",
            AttemptOutcome::Status(_) => "5xx",
            AttemptOutcome::Timeout => "timeout",
            AttemptOutcome::Transport => "error",
        }
    }
}

impl std::fmt::Display for AttemptOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttemptOutcome::Status(status) => write!(f, "status {status}"),
            AttemptOutcome::Timeout => f.write_str("timeout"),
            AttemptOutcome::Transport => f.write_str("connection error"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(initial_ms: u64, max_ms: u64, multiplier: f64) -> RetryPolicy {
        RetryPolicy::new(&LocationApiSettings {
            initial_delay: Duration::from_millis(initial_ms),
            max_delay: Duration::from_millis(max_ms),
            backoff_multiplier: multiplier,
            max_attempts: 4,
            ..LocationApiSettings::default()
        })
    }

    fn delays(policy: &RetryPolicy, retries: u32) -> Vec<u128> {
        (1..=retries)
            .map(|k| policy.delay_before_retry(k).as_millis())
            .collect()
    }

    #[test]
    fn the_default_delays_are_100_200_and_400_ms() {
        let default = RetryPolicy::new(&LocationApiSettings::default());
        assert_eq!(default.max_attempts(), 3);
        assert_eq!(delays(&default, 3), [100, 200, 400]);
    }

    #[test]
    fn delays_are_capped_at_the_maximum() {
        assert_eq!(delays(&policy(50, 150, 2.0), 4), [50, 100, 150, 150]);
        assert_eq!(delays(&policy(100, 100, 3.0), 2), [100, 100]);
    }

    #[test]
    fn a_multiplier_of_one_keeps_the_delay_constant() {
        assert_eq!(delays(&policy(70, 2000, 1.0), 3), [70, 70, 70]);
    }

    #[test]
    fn a_huge_exponent_saturates_at_the_maximum() {
        let policy = policy(100, 2000, 10.0);
        assert_eq!(policy.delay_before_retry(u32::MAX).as_millis(), 2000);
        assert_eq!(policy.delay_before_retry(400).as_millis(), 2000);
    }

    #[test]
    fn a_zero_initial_delay_retries_at_once() {
        assert_eq!(delays(&policy(0, 0, 2.0), 2), [0, 0]);
    }

    #[test]
    fn any_5xx_timeouts_and_connection_errors_are_retried_and_nothing_else() {
        for status in [500, 501, 502, 503, 504, 505, 599] {
            assert!(AttemptOutcome::Status(status).is_retried(), "{status}");
        }
        for status in [200, 204, 301, 400, 401, 403, 404, 409, 429] {
            assert!(!AttemptOutcome::Status(status).is_retried(), "{status}");
        }
        assert!(AttemptOutcome::Timeout.is_retried());
        assert!(AttemptOutcome::Transport.is_retried());
    }

    #[test]
    fn only_500_502_503_504_and_transport_problems_count_against_the_breaker() {
        for status in [500, 502, 503, 504] {
            assert!(AttemptOutcome::Status(status).is_breaker_failure());
        }
        for status in [200, 404, 400, 429, 501, 505] {
            assert!(!AttemptOutcome::Status(status).is_breaker_failure());
        }
        assert!(AttemptOutcome::Timeout.is_breaker_failure());
        assert!(AttemptOutcome::Transport.is_breaker_failure());
    }

    #[test]
    fn outcome_labels_are_status_classes_or_error_kinds() {
        let labels: Vec<&str> = [
            AttemptOutcome::Status(200),
            AttemptOutcome::Status(302),
            AttemptOutcome::Status(404),
            AttemptOutcome::Status(503),
            AttemptOutcome::Timeout,
            AttemptOutcome::Transport,
        ]
        .iter()
        .map(|outcome| outcome.label())
        .collect();
        assert_eq!(labels, ["2xx", "3xx", "4xx", "5xx", "timeout", "error"]);
    }
}
