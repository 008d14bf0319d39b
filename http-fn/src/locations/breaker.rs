//! The Location API circuit breaker (`docs/api.md` §15.5.3): a pure state machine over time.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use metrics::Gauge;

/// The breaker's state, as logged and exported on `stock_location_api_circuit_breaker_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BreakerState {
    /// Attempts go through; consecutive failures are counted.
    Closed,
    /// Attempts are rejected until the quiet period has passed.
    Open,
    /// One trial attempt is in flight; every other attempt is rejected.
    HalfOpen,
}

impl BreakerState {
    /// The gauge value: 0 closed, 1 open, 2 half-open.
    pub(crate) fn gauge_value(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::Open => 1.0,
            BreakerState::HalfOpen => 2.0,
        }
    }

    /// The word a log line about a transition into this state contains (`docs/architecture.md` §16.2.2).
    pub(crate) fn word(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "opened",
            BreakerState::HalfOpen => "half-open",
        }
    }
}

/// Permission to send one attempt; hand it back with [`CircuitBreaker::record`] or
/// [`CircuitBreaker::abandon`].
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub(crate) struct Permit {
    trial: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen,
}

/// Consecutive-failure circuit breaker; every method takes the current time as an input.
#[derive(Debug)]
pub(crate) struct CircuitBreaker {
    threshold: u32,
    quiet_period: Duration,
    state: State,
}

impl CircuitBreaker {
    /// A closed breaker that opens after `threshold` consecutive failed attempts (at least one) and
    /// stays open for `quiet_period` before a trial.
    pub(crate) fn new(threshold: u32, quiet_period: Duration) -> CircuitBreaker {
        CircuitBreaker {
            threshold: threshold.max(1),
            quiet_period,
            state: State::Closed { failures: 0 },
        }
    }

    /// The current state.
    pub(crate) fn state(&self) -> BreakerState {
        match self.state {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen => BreakerState::HalfOpen,
        }
    }

    /// Whether an attempt made at `at` would be let through, if nothing changes until then.
    pub(crate) fn would_admit(&self, at: Instant) -> bool {
        match self.state {
            State::Closed { .. } => true,
            State::Open { until } => at >= until,
            State::HalfOpen => false,
        }
    }

    /// Lets an attempt through, or rejects it (`None`). The first attempt after the quiet period
    /// becomes the half-open trial.
    pub(crate) fn acquire(&mut self, now: Instant) -> Option<Permit> {
        match self.state {
            State::Closed { .. } => Some(Permit { trial: false }),
            State::Open { until } if now >= until => {
                self.state = State::HalfOpen;
                Some(Permit { trial: true })
            }
            State::Open { .. } | State::HalfOpen => None,
        }
    }

    /// Records how an admitted attempt ended (`failed`: 500/502/503/504, connection error or
    /// timeout). Outcomes of attempts admitted before the breaker last opened are ignored: only
    /// the trial decides how it leaves the open state.
    pub(crate) fn record(&mut self, permit: Permit, failed: bool, now: Instant) {
        self.state = match (self.state, permit.trial) {
            (State::HalfOpen, true) if failed => self.open_from(now),
            (State::HalfOpen, true) => State::Closed { failures: 0 },
            (State::Closed { failures }, _) if failed => {
                let failures = failures.saturating_add(1);
                if failures >= self.threshold {
                    self.open_from(now)
                } else {
                    State::Closed { failures }
                }
            }
            (State::Closed { .. }, _) => State::Closed { failures: 0 },
            (state, _) => state,
        };
    }

    /// Gives back a permit whose attempt never finished (its caller went away). An abandoned
    /// trial leaves the breaker open but ready for the next attempt to be the trial, so it cannot
    /// stay half-open forever.
    pub(crate) fn abandon(&mut self, permit: Permit, now: Instant) {
        if permit.trial && self.state == State::HalfOpen {
            self.state = State::Open { until: now };
        }
    }

    fn open_from(&self, now: Instant) -> State {
        State::Open {
            // Bounded by the configuration; should that fail, a breaker open "for ever" must
            // not panic the call that opens it.
            until: now.checked_add(self.quiet_period).unwrap_or(now),
        }
    }
}

/// The process's breaker shared by all calls: locks the state machine, logs every transition at
/// WARN and keeps the state gauge current.
#[derive(Debug)]
pub(crate) struct SharedBreaker {
    inner: Mutex<CircuitBreaker>,
    gauge: Gauge,
}

impl SharedBreaker {
    /// Wraps `breaker`, exporting its state on `gauge`.
    pub(crate) fn new(breaker: CircuitBreaker, gauge: Gauge) -> SharedBreaker {
        gauge.set(breaker.state().gauge_value());
        SharedBreaker {
            inner: Mutex::new(breaker),
            gauge,
        }
    }

    /// See [`CircuitBreaker::would_admit`].
    pub(crate) fn would_admit(&self, at: Instant) -> bool {
        self.lock().would_admit(at)
    }

    /// See [`CircuitBreaker::acquire`]; the returned guard gives the permit back when dropped
    /// without an outcome.
    pub(crate) fn acquire(&self) -> Option<AttemptGuard<'_>> {
        let permit = self.change(|breaker| breaker.acquire(Instant::now()))?;
        Some(AttemptGuard {
            breaker: self,
            permit: Some(permit),
        })
    }

    fn change<T>(&self, step: impl FnOnce(&mut CircuitBreaker) -> T) -> T {
        let mut breaker = self.lock();
        let before = breaker.state();
        let result = step(&mut breaker);
        let after = breaker.state();
        if after != before {
            self.gauge.set(after.gauge_value());
            let word = after.word();
            match after {
                BreakerState::Open => tracing::warn!(
                    from = before.word(),
                    "circuit breaker {word}: Location API calls fail fast for the quiet period"
                ),
                BreakerState::HalfOpen => tracing::warn!(
                    from = before.word(),
                    "circuit breaker {word}: one trial call to the Location API"
                ),
                BreakerState::Closed => tracing::warn!(
                    from = before.word(),
                    "circuit breaker {word}: the Location API answers again"
                ),
            }
        }
        result
    }

    fn lock(&self) -> MutexGuard<'_, CircuitBreaker> {
        // The state machine never panics half-way, so a poisoned lock still holds a valid state.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One admitted attempt; report its outcome with [`AttemptGuard::finish`].
#[derive(Debug)]
pub(crate) struct AttemptGuard<'a> {
    breaker: &'a SharedBreaker,
    permit: Option<Permit>,
}

impl AttemptGuard<'_> {
    /// Records the attempt's outcome (`failed` as in [`CircuitBreaker::record`]).
    pub(crate) fn finish(mut self, failed: bool) {
        if let Some(permit) = self.permit.take() {
            self.breaker
                .change(|breaker| breaker.record(permit, failed, Instant::now()));
        }
    }
}

impl Drop for AttemptGuard<'_> {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.breaker
                .change(|breaker| breaker.abandon(permit, Instant::now()));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const QUIET: Duration = Duration::from_millis(150);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn fail(breaker: &mut CircuitBreaker, now: Instant) {
        let permit = breaker.acquire(now).unwrap();
        breaker.record(permit, true, now);
    }

    fn succeed(breaker: &mut CircuitBreaker, now: Instant) {
        let permit = breaker.acquire(now).unwrap();
        breaker.record(permit, false, now);
    }

    #[test]
    fn it_opens_at_the_threshold_of_consecutive_failures_and_rejects_then() {
        let t0 = Instant::now();
        let mut breaker = CircuitBreaker::new(3, QUIET);
        fail(&mut breaker, t0);
        fail(&mut breaker, t0);
        assert_eq!(breaker.state(), BreakerState::Closed);
        fail(&mut breaker, t0);
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(breaker.acquire(t0 + ms(149)).is_none());
        assert_eq!(breaker.state(), BreakerState::Open);
    }

    #[test]
    fn nine_always_failing_requests_at_threshold_three_make_three_calls() {
        let t0 = Instant::now();
        let mut breaker = CircuitBreaker::new(3, Duration::from_secs(60));
        let mut calls = 0;
        for i in 0..9 {
            let now = t0 + ms(i);
            if let Some(permit) = breaker.acquire(now) {
                calls += 1;
                breaker.record(permit, true, now);
            }
        }
        assert_eq!(calls, 3);
    }

    #[test]
    fn a_success_resets_the_consecutive_failure_count() {
        let t0 = Instant::now();
        let mut breaker = CircuitBreaker::new(3, QUIET);
        fail(&mut breaker, t0);
        fail(&mut breaker, t0);
        succeed(&mut breaker, t0);
        fail(&mut breaker, t0);
        fail(&mut breaker, t0);
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn after_the_quiet_period_one_trial_goes_through_and_others_are_rejected() {
        let t0 = Instant::now();
        let mut breaker = CircuitBreaker::new(2, QUIET);
        fail(&mut breaker, t0);
        fail(&mut breaker, t0);
        assert!(!breaker.would_admit(t0 + ms(149)));
        assert!(breaker.would_admit(t0 + ms(150)));
        let trial = breaker.acquire(t0 + ms(200)).unwrap();
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        assert!(breaker.acquire(t0 + ms(201)).is_none());
        assert!(!breaker.would_admit(t0 + ms(10_000)));
        breaker.record(trial, false, t0 + ms(210));
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert!(breaker.acquire(t0 + ms(211)).is_some());
    }

    #[test]
    fn a_failed_trial_opens_the_breaker_for_another_quiet_period() {
        let t0 = Instant::now();
        let mut breaker = CircuitBreaker::new(1, QUIET);
        fail(&mut breaker, t0);
        let trial = breaker.acquire(t0 + ms(200)).unwrap();
        breaker.record(trial, true, t0 + ms(250));
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(breaker.acquire(t0 + ms(399)).is_none());
        assert!(breaker.acquire(t0 + ms(400)).is_some());
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
    }

    #[test]
    fn late_outcomes_of_attempts_admitted_before_opening_are_ignored() {
        let t0 = Instant::now();
        let mut breaker = CircuitBreaker::new(1, QUIET);
        let early = breaker.acquire(t0).unwrap();
        let late = breaker.acquire(t0).unwrap();
        breaker.record(early, true, t0);
        breaker.record(late, false, t0 + ms(1));
        assert_eq!(breaker.state(), BreakerState::Open);
        let trial = breaker.acquire(t0 + ms(200)).unwrap();
        let straggler = Permit { trial: false };
        breaker.record(straggler, false, t0 + ms(201));
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        breaker.record(trial, false, t0 + ms(202));
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn an_abandoned_trial_lets_the_next_attempt_be_the_trial() {
        let t0 = Instant::now();
        let mut breaker = CircuitBreaker::new(1, QUIET);
        fail(&mut breaker, t0);
        let trial = breaker.acquire(t0 + ms(200)).unwrap();
        breaker.abandon(trial, t0 + ms(210));
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(breaker.acquire(t0 + ms(211)).is_some());
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
    }

    #[test]
    fn abandoning_an_ordinary_attempt_changes_nothing() {
        let t0 = Instant::now();
        let mut breaker = CircuitBreaker::new(2, QUIET);
        fail(&mut breaker, t0);
        let permit = breaker.acquire(t0).unwrap();
        breaker.abandon(permit, t0);
        fail(&mut breaker, t0);
        assert_eq!(breaker.state(), BreakerState::Open);
    }

    #[test]
    fn states_have_their_gauge_values_and_log_words() {
        let cases = [
            (BreakerState::Closed, 0.0, "closed"),
            (BreakerState::Open, 1.0, "opened"),
            (BreakerState::HalfOpen, 2.0, "half-open"),
        ];
        for (state, value, word) in cases {
            assert_eq!(state.gauge_value(), value);
            assert_eq!(state.word(), word);
        }
    }
}
