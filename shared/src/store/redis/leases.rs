//! Shard leases taken and renewed many at a time, so that a worker's claim or renewal round
//! costs about one round trip whatever the number of shards it holds.
//!
//! On a standalone server one script call handles up to [`CHUNK`] shards; on a cluster one call
//! handles one shard (each shard's keys live in a slot of their own and a script keeps to one
//! slot). Every call of a round is sent at once over the multiplexed connection, and each
//! shard's answer stands on its own: a node that fails fails its shards only.

use std::ops::Range;
use std::time::Duration;

use redis::{FromRedisValue, ScriptInvocation};
use tokio::task::JoinSet;

use super::{RedisStore, keys, millis, run, scripts};
use crate::shard::ShardId;
use crate::store::{LeaseToken, StoreError};

/// Most shards one script call handles: bounds how long one call keeps Redis from everybody
/// else (a few microseconds per shard).
const CHUNK: usize = 256;

impl RedisStore {
    /// `acquire.lua` over each of `shards`; see [`Leases::acquire_each`](crate::store::Leases).
    pub(super) async fn acquire_leases(
        &self,
        shards: &[ShardId],
        worker: &str,
        ttl: Duration,
    ) -> Vec<Result<Option<LeaseToken>, StoreError>> {
        let nonces: Vec<String> = shards
            .iter()
            .map(|_| format!("{:016x}", rand::random::<u64>()))
            .collect();
        let calls = self.chunks(shards.len()).map(|range| {
            let mut invocation = scripts::ACQUIRE.prepare_invoke();
            invocation.arg(worker).arg(millis(ttl).max(1));
            for i in range.clone() {
                invocation
                    .key(keys::lease(shards[i]))
                    .key(keys::epoch(shards[i]))
                    .arg(&nonces[i]);
            }
            (range, invocation)
        });
        let mut epochs: Vec<Result<Option<u64>, StoreError>> =
            self.invoke_each("acquire", calls).await;
        if self.confirms() {
            self.confirm_acquired(shards, &mut epochs).await;
        }
        epochs
            .into_iter()
            .zip(shards.iter().zip(nonces))
            .map(|(epoch, (&shard, nonce))| {
                Ok(epoch?.map(|epoch| LeaseToken {
                    shard,
                    worker: worker.to_owned(),
                    epoch,
                    nonce,
                }))
            })
            .collect()
    }

    /// `renew.lua` over each of `tokens`; see [`Leases::renew_each`](crate::store::Leases).
    pub(super) async fn renew_leases(
        &self,
        tokens: &[LeaseToken],
        ttl: Duration,
    ) -> Vec<Result<bool, StoreError>> {
        let calls = self.chunks(tokens.len()).map(|range| {
            let mut invocation = scripts::RENEW.prepare_invoke();
            invocation.arg(millis(ttl).max(1));
            for token in &tokens[range.clone()] {
                invocation.key(keys::lease(token.shard)).arg(token.value());
            }
            (range, invocation)
        });
        let answers: Vec<Result<i64, StoreError>> = self.invoke_each("renew", calls).await;
        answers.into_iter().map(|a| a.map(|n| n == 1)).collect()
    }

    /// Waits for the replicas to hold the epochs just taken (one probe per shard on a cluster,
    /// one in all on a single primary); an acquisition they do not confirm fails as
    /// unavailable, and its lease is left to expire unused.
    async fn confirm_acquired(
        &self,
        shards: &[ShardId],
        epochs: &mut [Result<Option<u64>, StoreError>],
    ) {
        let taken: Vec<usize> = (0..shards.len())
            .filter(|&i| matches!(epochs[i], Ok(Some(_))))
            .collect();
        let probes: Vec<Vec<usize>> = if self.conn.is_cluster() {
            taken.iter().map(|&i| vec![i]).collect()
        } else if taken.is_empty() {
            Vec::new()
        } else {
            vec![taken]
        };
        for group in probes {
            if let Err(error) = self.probe_replicas(shards[group[0]]).await {
                for i in group {
                    epochs[i] = Err(error.clone());
                }
            }
        }
    }

    /// The ranges of `count` items that go into one script call each.
    fn chunks(&self, count: usize) -> impl Iterator<Item = Range<usize>> + use<> {
        let size = if self.conn.is_cluster() { 1 } else { CHUNK };
        (0..count)
            .step_by(size)
            .map(move |start| start..(start + size).min(count))
    }

    /// Runs every call at once, each answering one value per item of its range; answers in item
    /// order. A call that fails, or answers the wrong number of values, fails its items only.
    async fn invoke_each<T>(
        &self,
        what: &'static str,
        calls: impl Iterator<Item = (Range<usize>, ScriptInvocation<'static>)>,
    ) -> Vec<Result<T, StoreError>>
    where
        T: FromRedisValue + Send + 'static,
    {
        let limit = self.options.response_timeout;
        let mut tasks = JoinSet::new();
        let mut count = 0;
        for (range, invocation) in calls {
            count = count.max(range.end);
            let mut conn = self.conn.clone();
            tasks.spawn(async move {
                let answer: Result<Vec<T>, StoreError> =
                    run(limit, what, invocation.invoke_async(&mut conn)).await;
                (range, answer)
            });
        }
        let mut answers: Vec<Option<Result<T, StoreError>>> = (0..count).map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            let Ok((range, answer)) = joined else {
                continue;
            };
            let error = match answer {
                Ok(values) if values.len() == range.len() => {
                    for (slot, value) in answers[range].iter_mut().zip(values) {
                        *slot = Some(Ok(value));
                    }
                    continue;
                }
                Ok(values) => StoreError::Corrupt(format!(
                    "{what}: {} answers for {} leases",
                    values.len(),
                    range.len()
                )),
                Err(error) => error,
            };
            for slot in &mut answers[range] {
                *slot = Some(Err(error.clone()));
            }
        }
        answers
            .into_iter()
            .map(|a| {
                a.unwrap_or_else(|| Err(StoreError::Unavailable(format!("{what}: no answer"))))
            })
            .collect()
    }
}
