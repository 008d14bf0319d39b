//! The HTTP side of a write: the command goes to its shard's stream, and the outcome comes back
//! on a reply channel, or is settled with the store once the deadline has passed
//! (ARCHITECTURE.md §6): a reply means committed, a 503 means never applied.

use std::sync::Arc;
use std::time::Duration;

use shared::command::{Command, CommandEnvelope};
use shared::reply::Reply;
use shared::shard::{ShardId, shard_of};
use shared::store::{ReplyWaiter, Settled, Store, StoreError, StreamId};
use tokio::time::Instant;

/// How long past the command timeout settling may take (store time lagging local time, or a
/// store hiccup) before the write is given up.
const SETTLE_GRACE: Duration = Duration::from_secs(2);
const SETTLE_FIRST_PAUSE: Duration = Duration::from_millis(5);
const SETTLE_MAX_PAUSE: Duration = Duration::from_millis(100);

/// Sends client writes to the owners of their shards and waits for the outcome.
pub struct Dispatcher {
    store: Arc<dyn Store>,
    shards: u32,
    command_timeout: Duration,
}

/// Why a write has no outcome to report.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// 503: the write was not applied, and will never be.
    #[error("write not applied: {0}")]
    Unavailable(String),
}

impl Dispatcher {
    /// A dispatcher over `store`, for `shards` shards, waiting up to `command_timeout`
    /// (`STOCK_COMMAND_TIMEOUT`) for each write.
    pub fn new(store: Arc<dyn Store>, shards: u32, command_timeout: Duration) -> Dispatcher {
        Dispatcher {
            store,
            shards,
            command_timeout,
        }
    }

    /// Sends a client write to its shard and waits for the outcome. The command carries
    /// `traceparent`, or else the current span's trace context.
    pub async fn execute(
        &self,
        command: Command,
        traceparent: Option<String>,
    ) -> Result<Reply, DispatchError> {
        let shard = shard_of(command.location(), self.shards);
        let mut waiter = self
            .store
            .open()
            .await
            .map_err(|e| unavailable("open a reply channel", &e))?;
        let envelope = CommandEnvelope {
            id: format!("{:032x}", rand::random::<u128>()),
            timeout_ms: Some(u64::try_from(self.command_timeout.as_millis()).unwrap_or(u64::MAX)),
            traceparent: traceparent.or_else(crate::telemetry::current_traceparent),
            reply_to: Some(waiter.address.clone()),
            command,
        };
        let appended = self
            .store
            .append(shard, &envelope)
            .await
            .map_err(|e| unavailable("send the command", &e))?;
        if let Some(reply) = self.wait(&mut waiter).await {
            return Ok(reply);
        }
        self.settle(shard, &envelope, appended).await
    }

    /// Replies until the timeout: a final one at once; a provisional `InTransit` is kept while
    /// waiting for the `Created` that follows when the credit lands in time.
    async fn wait(&self, waiter: &mut ReplyWaiter) -> Option<Reply> {
        let until = Instant::now() + self.command_timeout;
        let mut in_transit = None;
        loop {
            match tokio::time::timeout_at(until, waiter.replies.recv()).await {
                Ok(Some(reply @ Reply::InTransit { .. })) => in_transit = Some(reply),
                Ok(Some(reply)) => return Some(reply),
                Ok(None) | Err(_) => return in_transit,
            }
        }
    }

    /// No reply in time: ask the store, once its time has passed the deadline, whether the write
    /// was committed. After that point it can no longer be.
    async fn settle(
        &self,
        shard: ShardId,
        envelope: &CommandEnvelope,
        appended: StreamId,
    ) -> Result<Reply, DispatchError> {
        let command = &envelope.command;
        let Some((location, request_id)) = command.idempotency_key() else {
            return Err(DispatchError::Unavailable("not a client write".to_owned()));
        };
        let deadline_ms = envelope.deadline_ms(appended.ms);
        let give_up = Instant::now() + self.command_timeout + SETTLE_GRACE;
        let mut pause = SETTLE_FIRST_PAUSE;
        let mut last_error = None;
        while Instant::now() < give_up {
            match self
                .store
                .settle(shard, location, request_id, deadline_ms)
                .await
            {
                Ok(Settled::NotApplied) => {
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
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(SETTLE_MAX_PAUSE);
        }
        Err(match last_error {
            Some(error) => unavailable("settle the write", &error),
            None => {
                tracing::warn!(
                    shard,
                    "store time did not pass the command deadline in time"
                );
                DispatchError::Unavailable("the write could not be settled".to_owned())
            }
        })
    }
}

/// A store failure: logged once here with its cause; the response reveals nothing.
fn unavailable(what: &str, error: &StoreError) -> DispatchError {
    tracing::warn!(%error, "store failure: could not {what}");
    DispatchError::Unavailable(format!("could not {what}"))
}

#[cfg(test)]
mod tests;
