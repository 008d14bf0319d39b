//! The HTTP side of a write: the command goes to its shard's stream, and the outcome comes back
//! on a reply channel, or is settled with the store once the deadline has passed
//! (docs/architecture.md §5): a reply means committed, a 503 means never applied.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use metrics::{Counter, Gauge};
use shared::backoff::Backoff;
use shared::command::{Command, CommandEnvelope};
use shared::domain::time::millis;
use shared::metrics::Metrics;
use shared::reply::Reply;
use shared::shard::{ShardId, shard_of};
use shared::store::{ReplyWaiter, Settled, Store, StoreError};
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

/// How long past the local deadline settling may take (the store's clock running behind this
/// host's, as far as [`CLOCK_ALLOWANCE`] lets it run ahead, or a store hiccup) before the write is
/// given up. A write is answered within `STOCK_COMMAND_TIMEOUT` + `CLOCK_ALLOWANCE` + this, whatever
/// the store does (docs/architecture.md §11).
const SETTLE_GRACE: Duration = Duration::from_millis(500);
/// How far the store's clock may run ahead of this host's: added to the wall-clock bound every
/// command carries (`not_after_ms`), so that the bound by the append time normally comes first.
const CLOCK_ALLOWANCE: Duration = Duration::from_millis(500);
const SETTLE_FIRST_PAUSE: Duration = Duration::from_millis(5);
const SETTLE_MAX_PAUSE: Duration = Duration::from_millis(100);
/// Pauses before a command whose append had an unknown outcome is sent again, and how many
/// more copies at most (each bounded by the command's deadline as well).
const RESEND_FIRST_PAUSE: Duration = Duration::from_millis(10);
const RESEND_MAX_PAUSE: Duration = Duration::from_millis(200);
const MAX_RESENDS: usize = 16;

/// Sends client writes to the owners of their shards and waits for the outcome.
pub struct Dispatcher {
    store: Arc<dyn Store>,
    shards: u32,
    command_timeout: Duration,
    admission: Admission,
}

/// How many writes one instance has in flight at most, and how long a write beyond that may wait
/// for a place before it is refused (`STOCK_MAX_WRITES_IN_FLIGHT`, `STOCK_WRITE_QUEUE_TIMEOUT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteLimit {
    /// Writes sent and not yet answered, at most.
    pub max_in_flight: u32,
    /// How long a write waits for one of them to finish before it is answered 503.
    pub queue_timeout: Duration,
}

impl WriteLimit {
    /// No limit that matters: what [`Dispatcher::new`] starts with.
    pub const UNLIMITED: WriteLimit = WriteLimit {
        max_in_flight: u32::MAX,
        queue_timeout: Duration::ZERO,
    };
}

/// The settings' defaults (docs/configuration.md).
impl Default for WriteLimit {
    fn default() -> WriteLimit {
        WriteLimit {
            max_in_flight: 256,
            queue_timeout: Duration::from_millis(10),
        }
    }
}

/// Admission of writes: a place among the [`WriteLimit::max_in_flight`], taken before anything
/// is sent, so a write turned away was never appended anywhere (docs/architecture.md §5).
struct Admission {
    places: Semaphore,
    limit: u32,
    queue_timeout: Duration,
    in_flight: Gauge,
    shed: Counter,
}

impl Admission {
    fn new(limit: WriteLimit, metrics: Option<&Metrics>) -> Admission {
        let limit_places = usize::try_from(limit.max_in_flight)
            .unwrap_or(usize::MAX)
            .min(Semaphore::MAX_PERMITS);
        let (in_flight, shed) = match metrics {
            Some(metrics) => (
                metrics.gauge("stock_writes_in_flight", &[]),
                metrics.counter("stock_writes_shed_total", &[]),
            ),
            None => (Gauge::noop(), Counter::noop()),
        };
        Admission {
            places: Semaphore::new(limit_places),
            limit: limit.max_in_flight,
            queue_timeout: limit.queue_timeout,
            in_flight,
            shed,
        }
    }

    /// A place, at once or within the queue timeout; else the write is shed.
    async fn admit(&self) -> Result<Place<'_>, DispatchError> {
        let permit = match self.places.try_acquire() {
            Ok(permit) => Some(permit),
            Err(_) => tokio::time::timeout(self.queue_timeout, self.places.acquire())
                .await
                .ok()
                .and_then(Result::ok),
        };
        let Some(permit) = permit else {
            self.shed.increment(1);
            return Err(DispatchError::Overloaded { limit: self.limit });
        };
        self.in_flight.increment(1.0);
        Ok(Place {
            _permit: permit,
            in_flight: &self.in_flight,
        })
    }
}

/// A write's place among those in flight, given back when the write is answered.
struct Place<'a> {
    _permit: SemaphorePermit<'a>,
    in_flight: &'a Gauge,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.in_flight.decrement(1.0);
    }
}

/// What became of a command's append.
enum Appended {
    /// Acknowledged at this store time (ms), the only copy sent.
    At(u64),
    /// In the stream or perhaps not, at a time unknown; or in it more than once.
    Unknown,
    /// A copy was applied already: its first reply.
    Answered(Reply),
}

/// Why a write has no outcome to report.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// 503: the write was not applied, and will never be.
    #[error("write not applied: {0}")]
    Unavailable(String),
    /// 503: every place for a write in flight was taken; the write was never sent.
    #[error("write shed: {limit} writes in flight on this instance; not sent")]
    Overloaded {
        /// `STOCK_MAX_WRITES_IN_FLIGHT`.
        limit: u32,
    },
}

impl Dispatcher {
    /// A dispatcher over `store`, for `shards` shards, waiting up to `command_timeout`
    /// (`STOCK_COMMAND_TIMEOUT`) for each write, with no limit on writes in flight.
    pub fn new(store: Arc<dyn Store>, shards: u32, command_timeout: Duration) -> Dispatcher {
        Dispatcher {
            store,
            shards,
            command_timeout,
            admission: Admission::new(WriteLimit::UNLIMITED, None),
        }
    }

    /// The same with at most `limit` writes in flight, counted in `metrics`
    /// (`stock_writes_in_flight`, `stock_writes_shed_total`).
    pub fn limited(self, limit: WriteLimit, metrics: &Metrics) -> Dispatcher {
        Dispatcher {
            admission: Admission::new(limit, Some(metrics)),
            ..self
        }
    }

    /// Sends a client write to its shard and waits for the outcome. The command carries
    /// `traceparent`, or else the current span's trace context.
    pub async fn execute(
        &self,
        command: Command,
        traceparent: Option<String>,
    ) -> Result<Reply, DispatchError> {
        // Beyond the limit a write is refused before it is sent: queueing it would only make it
        // and every write behind it wait, up to the whole command timeout.
        let _place = self.admission.admit().await?;
        let shard = shard_of(command.location(), self.shards);
        let mut waiter = self
            .store
            .open()
            .await
            .map_err(|e| unavailable("open a reply channel", &e))?;
        let sent = Instant::now();
        let envelope = CommandEnvelope {
            id: format!("{:032x}", rand::random::<u128>()),
            timeout_ms: Some(millis(self.command_timeout)),
            // Past this (our clock, with room for the store's running a little ahead) the command
            // is dead wherever it is, even if its append is executed late (a frozen store).
            not_after_ms: Some(
                unix_ms()
                    .saturating_add(millis(self.command_timeout))
                    .saturating_add(millis(CLOCK_ALLOWANCE)),
            ),
            traceparent: traceparent.or_else(crate::telemetry::current_traceparent),
            reply_to: Some(waiter.address.clone()),
            command,
        };
        let give_up = later(sent, self.command_timeout.saturating_add(CLOCK_ALLOWANCE));
        let (appended_ms, in_transit) =
            match self.append(shard, &envelope, &mut waiter, give_up).await? {
                Appended::At(ms) => (ms, None),
                // Its entry time is unknown (or which copy was applied), so the deadline is
                // `not_after_ms`, which bounds every copy anyway.
                Appended::Unknown => (u64::MAX, None),
                Appended::Answered(reply @ Reply::InTransit { .. }) => (u64::MAX, Some(reply)),
                Appended::Answered(reply) => return Ok(reply),
            };
        self.finish(
            &mut waiter,
            shard,
            &envelope,
            appended_ms,
            give_up,
            in_transit,
        )
        .await
    }

    /// Appends the command to its shard's stream. An append whose outcome is unknown (the
    /// connection failed once the command was sent) is sent again, the same envelope, until a
    /// copy is acknowledged, a reply comes or the write's time is up: a command lost with a
    /// dying connection is applied as soon as the store answers again, instead of being settled
    /// as never applied after the whole command timeout, and a copy of one that did land is
    /// answered from its idempotency record, like a client's retry (docs/architecture.md §11).
    async fn append(
        &self,
        shard: ShardId,
        envelope: &CommandEnvelope,
        waiter: &mut ReplyWaiter,
        give_up: Instant,
    ) -> Result<Appended, DispatchError> {
        let mut pause = Backoff::doubling(RESEND_FIRST_PAUSE, RESEND_MAX_PAUSE);
        let mut uncertain = false;
        for _ in 0..=MAX_RESENDS {
            // An append still unanswered when the write's wait ends is settled like any other.
            let appending = tokio::time::timeout_at(give_up, self.store.append(shard, envelope));
            let appended = appending.await.unwrap_or_else(|_| {
                Err(StoreError::Unavailable(
                    "append: no answer before the command deadline".to_owned(),
                ))
            });
            match appended {
                Ok(appended) if !uncertain => return Ok(Appended::At(appended.ms)),
                // This copy is in the stream; an earlier one may be too, with another time.
                Ok(_) => return Ok(Appended::Unknown),
                Err(error @ StoreError::Unreachable(_)) if !uncertain => {
                    return Err(unavailable("send the command", &error));
                }
                Err(error) => {
                    // The append may have reached the stream, so the command may still be
                    // applied until its deadline: settled like a write that got no reply
                    // unless a copy gets through.
                    tracing::debug!(%error, "store failure: the command may have been appended");
                    if !uncertain {
                        crate::telemetry::failed_because(format!(
                            "store failure: the command may have been appended ({error})"
                        ));
                    }
                    uncertain = true;
                }
            }
            // A reply to a copy that landed, or else the next copy after a pause.
            let resend_at = (Instant::now() + pause.next_delay()).min(give_up);
            if let Ok(Some(reply)) = tokio::time::timeout_at(resend_at, waiter.replies.recv()).await
            {
                return Ok(Appended::Answered(reply));
            }
            if Instant::now() >= give_up {
                break;
            }
        }
        Ok(Appended::Unknown)
    }

    /// A reply if one comes in time, else the settled outcome once the command's deadline
    /// ([`CommandEnvelope::deadline_ms`] of `appended_ms`, store time; about `deadline` locally)
    /// has passed. `appended_ms` is `u64::MAX` when the append's outcome is unknown.
    async fn finish(
        &self,
        waiter: &mut ReplyWaiter,
        shard: ShardId,
        envelope: &CommandEnvelope,
        appended_ms: u64,
        deadline: Instant,
        in_transit: Option<Reply>,
    ) -> Result<Reply, DispatchError> {
        if let Some(reply) = self
            .wait(waiter, shard, envelope, deadline, in_transit)
            .await
        {
            return Ok(reply);
        }
        let deadline_ms = envelope.deadline_ms(appended_ms);
        self.settle(shard, envelope, deadline_ms, later(deadline, SETTLE_GRACE))
            .await
    }

    /// Replies until the timeout: a final one at once; a provisional `InTransit` (perhaps
    /// received already) is kept while waiting for the `Created` that follows when the credit
    /// lands in time. When replies may have been lost ([`ReplyWaiter::gaps`]) the write's record
    /// is looked up at once rather than at the deadline.
    async fn wait(
        &self,
        waiter: &mut ReplyWaiter,
        shard: ShardId,
        envelope: &CommandEnvelope,
        until: Instant,
        mut in_transit: Option<Reply>,
    ) -> Option<Reply> {
        let mut gaps = waiter.gaps.clone();
        loop {
            tokio::select! {
                received = tokio::time::timeout_at(until, waiter.replies.recv()) => match received {
                    Ok(Some(reply @ Reply::InTransit { .. })) => in_transit = Some(reply),
                    Ok(Some(reply)) => return Some(reply),
                    Ok(None) | Err(_) => return in_transit,
                },
                () = gap(&mut gaps) => {
                    if let Some(reply) = self.committed(shard, envelope, until).await {
                        return Some(reply);
                    }
                }
            }
        }
    }

    /// The answer of a write found committed in its idempotency record: a `Created` (or a
    /// mismatch with an earlier write of the same `requestId`). Anything else, a move whose credit
    /// is still on its way or no record yet, is left to the reply or to settling.
    async fn committed(
        &self,
        shard: ShardId,
        envelope: &CommandEnvelope,
        until: Instant,
    ) -> Option<Reply> {
        let command = &envelope.command;
        let (location, request_id) = command.idempotency_key()?;
        let lookup = self.store.load_record(shard, location, request_id);
        let record = tokio::time::timeout_at(until, lookup).await.ok()?.ok()??;
        if Some(record.fingerprint) != command.fingerprint() {
            return Some(Reply::ContentMismatch);
        }
        match record.replay() {
            reply @ Reply::Created { .. } => Some(reply),
            _ => None,
        }
    }

    /// No reply in time: ask the store, once its time has passed the deadline, whether the write
    /// was committed. After that point it can no longer be. Every call is bounded by `give_up`.
    async fn settle(
        &self,
        shard: ShardId,
        envelope: &CommandEnvelope,
        deadline_ms: u64,
        give_up: Instant,
    ) -> Result<Reply, DispatchError> {
        let command = &envelope.command;
        let Some((location, request_id)) = command.idempotency_key() else {
            return Err(DispatchError::Unavailable("not a client write".to_owned()));
        };
        let mut backoff = Backoff::doubling(SETTLE_FIRST_PAUSE, SETTLE_MAX_PAUSE);
        let mut last_error = None;
        while Instant::now() < give_up {
            let settling = self.store.settle(shard, location, request_id, deadline_ms);
            let settled = tokio::time::timeout_at(give_up, settling)
                .await
                .unwrap_or_else(|_| Err(StoreError::Unavailable("settle: no answer".to_owned())));
            match settled {
                Ok(Settled::NotApplied) => {
                    crate::telemetry::failed_because(
                        "no reply before the command deadline; settled as never applied",
                    );
                    return Err(DispatchError::Unavailable(
                        "no reply before the command deadline; not applied".to_owned(),
                    ));
                }
                Ok(Settled::Recorded(record))
                    if Some(record.fingerprint) == command.fingerprint() =>
                {
                    return Ok(record.replay());
                }
                Ok(Settled::Recorded(_)) => return Ok(Reply::ContentMismatch),
                Ok(Settled::Pending) => {}
                Err(error) => last_error = Some(error),
            }
            tokio::time::sleep_until((Instant::now() + backoff.next_delay()).min(give_up)).await;
        }
        Err(match last_error {
            Some(error) => unavailable("settle the write", &error),
            None => {
                crate::telemetry::failed_because(format!(
                    "store time did not pass the command deadline in time (shard {shard})"
                ));
                DispatchError::Unavailable("the write could not be settled".to_owned())
            }
        })
    }
}

/// Completes when `gaps` changes; never when there are none (or no longer any).
async fn gap(gaps: &mut Option<tokio::sync::watch::Receiver<u64>>) {
    if let Some(receiver) = gaps
        && receiver.changed().await.is_ok()
    {
        return;
    }
    *gaps = None;
    std::future::pending::<()>().await;
}

/// Local wall-clock time, ms since the Unix epoch.
fn unix_ms() -> u64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    millis(since_epoch)
}

/// `at + by`, or the latest instant that fits: a deadline beyond what an `Instant` holds is as
/// good as never. The configuration bounds every duration; this keeps a broken bound from
/// panicking every write.
fn later(at: Instant, by: Duration) -> Instant {
    // Halving reaches zero within 128 steps, and `at + 0` always fits.
    std::iter::successors(Some(by), |d| (!d.is_zero()).then(|| *d / 2))
        .find_map(|d| at.checked_add(d))
        .unwrap_or(at)
}

/// A store failure: logged once here with its cause; the response reveals nothing.
fn unavailable(what: &str, error: &StoreError) -> DispatchError {
    crate::telemetry::failed_because(format!("store failure: could not {what} ({error})"));
    DispatchError::Unavailable(format!("could not {what}"))
}

#[cfg(test)]
mod tests;
