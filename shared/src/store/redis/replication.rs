//! Writes confirmed by replicas (`STOCK_REDIS_MIN_REPLICAS`, docs/architecture.md §15.1).
//!
//! With a minimum of n > 0, a commit runs on a connection of its own followed by `WAIT n t`,
//! which returns once n replicas hold everything that connection wrote (or at `t` with fewer).
//! A commit that falls short has been applied by the primary but is not confirmed: it fails as
//! unavailable, its replies are not sent, and the write is settled at its deadline. After a
//! shortfall, no commit runs until a probe (a marker write and `WAIT`) is confirmed again, so
//! writes arriving while the replicas are away are never applied and answer 503. Acquisitions,
//! which bump a shard's fencing epoch, and settled records are confirmed the same way. On
//! Sentinel, a confirmation counts only if the sentinels still name the node that gave it
//! (`SentinelConn::still_primary`).

use std::sync::atomic::Ordering;

use redis::{FromRedisValue, ScriptInvocation, Value};

use super::blocking::{Op, Write};
use super::{RedisStore, keys, millis};
use crate::shard::ShardId;
use crate::store::StoreError;

impl RedisStore {
    /// Whether writes must be confirmed by replicas.
    pub(super) fn confirms(&self) -> bool {
        self.options.min_replicas > 0
    }

    /// Runs `script` and waits for the replicas to confirm it; a script answer other than `OK`
    /// wrote nothing and needs no confirmation. Before it, if the last confirmation fell short,
    /// a probe must be confirmed.
    pub(super) async fn confirmed_script<T: FromRedisValue>(
        &self,
        what: &str,
        shard: ShardId,
        script: &ScriptInvocation<'_>,
        wrote: impl Fn(&T) -> bool,
    ) -> Result<T, StoreError> {
        if self.replicas_short.load(Ordering::SeqCst) {
            self.probe_replicas(shard).await?;
        }
        let (answer, confirmed) = self.confirmed(what, Write::Script(script)).await?;
        let answer =
            T::from_redis_value(answer).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))?;
        if wrote(&answer) {
            self.check_confirmed(what, confirmed)?;
        }
        Ok(answer)
    }

    /// Writes the shard's probe marker and waits for the replicas to confirm it, and so every
    /// write the node applied before it.
    pub(super) async fn probe_replicas(&self, shard: ShardId) -> Result<(), StoreError> {
        let mut set = redis::cmd("SET");
        set.arg(keys::replica_probe(shard))
            .arg(millis(
                std::time::SystemTime::UNIX_EPOCH
                    .elapsed()
                    .unwrap_or_default(),
            ))
            .arg("PX")
            .arg(60_000);
        let (_, confirmed) = self
            .confirmed("replica probe", Write::Command(&set))
            .await?;
        self.check_confirmed("replica probe", confirmed)
    }

    /// `write`, then `WAIT`: its answer and how many replicas confirmed.
    async fn confirmed(&self, what: &str, write: Write<'_>) -> Result<(Value, u32), StoreError> {
        let timeout = self.options.replica_wait;
        let op = Op::Confirmed {
            write,
            replicas: self.options.min_replicas,
            timeout,
        };
        let limit = timeout + self.options.response_timeout;
        let generation = self.dedicated.generation();
        let answer = self.blocking.perform(what, &op, limit).await?;
        match answer {
            Value::Array(parts) => match <[Value; 2]>::try_from(parts) {
                Ok([answer, Value::Int(confirmed)]) => {
                    let confirmed = u32::try_from(confirmed).unwrap_or(0);
                    // Replicas confirm only for the node they follow: it must still be the
                    // primary (Sentinel), or its confirmations are worth nothing.
                    if confirmed >= self.options.min_replicas
                        && !self.dedicated.still_primary(generation).await
                    {
                        tracing::warn!(
                            what,
                            "a write confirmed by replicas of a node the sentinels no longer all name as primary"
                        );
                        return Ok((answer, 0));
                    }
                    Ok((answer, confirmed))
                }
                Ok(other) => Err(StoreError::Corrupt(format!(
                    "{what}: WAIT answered {:?}",
                    other[1]
                ))),
                Err(parts) => Err(StoreError::Corrupt(format!(
                    "{what}: {} answers",
                    parts.len()
                ))),
            },
            other => Err(StoreError::Corrupt(format!("{what}: answered {other:?}"))),
        }
    }

    /// Fails as unavailable, and closes the gate for later commits, when fewer replicas than
    /// the minimum confirmed.
    fn check_confirmed(&self, what: &str, confirmed: u32) -> Result<(), StoreError> {
        let wanted = self.options.min_replicas;
        if confirmed >= wanted {
            if self.replicas_short.swap(false, Ordering::SeqCst) {
                tracing::info!(replicas = confirmed, "replicas confirm writes again");
            }
            return Ok(());
        }
        if !self.replicas_short.swap(true, Ordering::SeqCst) {
            tracing::warn!(
                confirmed,
                wanted,
                "replicas do not confirm writes: commits wait for them"
            );
        }
        Err(StoreError::Unavailable(format!(
            "{what}: {confirmed} of {wanted} replicas confirmed within {:?}",
            self.options.replica_wait
        )))
    }
}
