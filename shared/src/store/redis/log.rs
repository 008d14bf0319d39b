//! Command streams and shard leases over Redis: `XADD`/`XREAD` and the lease scripts (taken and
//! renewed many at a time in `leases`).

use std::time::Duration;

use async_trait::async_trait;

use super::entries::stream_entries;
use super::{RedisStore, keys, millis, scripts};
use crate::command::CommandEnvelope;
use crate::shard::ShardId;
use crate::store::{
    ClusterView, CommandLog, LeaseToken, Leases, MembershipCursor, StoreError, StreamEntry,
    StreamId, lease_holder,
};

#[async_trait]
impl CommandLog for RedisStore {
    async fn append(
        &self,
        shard: ShardId,
        command: &CommandEnvelope,
    ) -> Result<StreamId, StoreError> {
        let json = serde_json::to_string(command)
            .map_err(|e| StoreError::Corrupt(format!("command: {e}")))?;
        let mut add = redis::cmd("XADD");
        add.arg(keys::commands(shard)).arg("*").arg("c").arg(json);
        self.query_unsent::<String>("append", &add).await?.parse()
    }

    async fn now_ms(&self) -> Result<u64, StoreError> {
        let (secs, micros): (u64, u64) = self.query("time", &redis::cmd("TIME")).await?;
        Ok(secs.saturating_mul(1000).saturating_add(micros / 1000))
    }

    async fn read(
        &self,
        shard: ShardId,
        after: StreamId,
        max: usize,
        block: Duration,
    ) -> Result<Vec<(StreamId, CommandEnvelope)>, StoreError> {
        let entries = self.read_entries(shard, after, max, block).await?;
        entries
            .into_iter()
            .map(|(id, entry)| match entry {
                StreamEntry::Command(command) => Ok((id, command)),
                StreamEntry::Undecodable(bad) => Err(StoreError::Corrupt(format!(
                    "stream entry {id}: {}",
                    bad.error
                ))),
            })
            .collect()
    }

    async fn read_entries(
        &self,
        shard: ShardId,
        after: StreamId,
        max: usize,
        block: Duration,
    ) -> Result<Vec<(StreamId, StreamEntry)>, StoreError> {
        let mut read = redis::cmd("XREAD");
        read.arg("COUNT").arg(max.max(1));
        if !block.is_zero() {
            // `BLOCK 0` would wait forever: the shortest real wait is 1 ms.
            read.arg("BLOCK").arg(millis(block).max(1));
        }
        read.arg("STREAMS")
            .arg(keys::commands(shard))
            .arg(after.to_string());
        let reply: redis::Value = if block.is_zero() {
            self.query("read", &read).await?
        } else {
            let limit = block + self.options.response_timeout;
            self.blocking.query("read", &read, limit).await?
        };
        stream_entries(reply)
    }
}

#[async_trait]
impl Leases for RedisStore {
    async fn acquire(
        &self,
        shard: ShardId,
        worker: &str,
        ttl: Duration,
    ) -> Result<Option<LeaseToken>, StoreError> {
        let answer = self.acquire_leases(&[shard], worker, ttl).await.pop();
        answer.unwrap_or_else(|| Err(StoreError::Corrupt("acquire: no answer".into())))
    }

    async fn renew(&self, token: &LeaseToken, ttl: Duration) -> Result<bool, StoreError> {
        let answer = self
            .renew_leases(std::slice::from_ref(token), ttl)
            .await
            .pop();
        answer.unwrap_or_else(|| Err(StoreError::Corrupt("renew: no answer".into())))
    }

    async fn acquire_each(
        &self,
        shards: &[ShardId],
        worker: &str,
        ttl: Duration,
    ) -> Vec<Result<Option<LeaseToken>, StoreError>> {
        self.acquire_leases(shards, worker, ttl).await
    }

    async fn renew_each(
        &self,
        tokens: &[LeaseToken],
        ttl: Duration,
    ) -> Vec<Result<bool, StoreError>> {
        self.renew_leases(tokens, ttl).await
    }

    async fn release(&self, token: &LeaseToken) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let mut invocation = scripts::RELEASE.prepare_invoke();
        invocation.key(keys::lease(token.shard)).arg(token.value());
        let released: i64 = self
            .run("release", invocation.invoke_async(&mut conn))
            .await?;
        Ok(released == 1)
    }

    async fn heartbeat(&self, worker: &str) -> Result<(), StoreError> {
        let now = self.now_ms().await?;
        let mut add = redis::cmd("ZADD");
        add.arg(keys::WORKERS).arg(now).arg(worker);
        let _: i64 = self.query("heartbeat", &add).await?;
        Ok(())
    }

    async fn cluster(&self, shards: u32, max_age: Duration) -> Result<ClusterView, StoreError> {
        let now = self.now_ms().await?;
        let oldest = now.saturating_sub(millis(max_age));
        // Members silent for much longer than a live one can be are forgotten.
        let mut prune = redis::cmd("ZREMRANGEBYSCORE");
        prune
            .arg(keys::WORKERS)
            .arg("-inf")
            .arg(format!("({}", now.saturating_sub(millis(max_age) * 100)));
        let _: i64 = self.query("prune workers", &prune).await?;
        let mut live = redis::cmd("ZRANGE");
        live.arg(keys::WORKERS)
            .arg(oldest)
            .arg("+inf")
            .arg("BYSCORE")
            .arg("WITHSCORES");
        let members: Vec<(String, u64)> = self.query("workers", &live).await?;
        let heartbeats = members
            .into_iter()
            .map(|(id, at)| (id, now.saturating_sub(at)))
            .collect();
        let commands = (0..shards)
            .map(|shard| {
                let mut get = redis::cmd("GET");
                get.arg(keys::lease(shard));
                (shard, get)
            })
            .collect();
        let leases: Vec<Option<String>> = self.query_each("leases", commands).await?;
        let holders = leases
            .iter()
            .map(|v| v.as_deref().map(|v| lease_holder(v).to_owned()))
            .collect();
        Ok(ClusterView::from_parts(heartbeats, holders))
    }

    async fn leave(&self, worker: &str) -> Result<(), StoreError> {
        self.leave_membership(worker).await
    }

    async fn announce(&self, worker: &str) -> Result<(), StoreError> {
        self.announce_membership(worker).await
    }

    async fn await_membership_change(
        &self,
        after: &MembershipCursor,
        timeout: Duration,
    ) -> Result<MembershipCursor, StoreError> {
        self.await_announcement(after, timeout).await
    }
}
