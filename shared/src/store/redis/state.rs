//! [`ShardState`] over Redis: loading pots, history, records and the outbox, and the fenced
//! commit and settle scripts.

use std::time::Duration;

use async_trait::async_trait;

use super::{RedisStore, codec, keys, millis, scripts};
use crate::command::CreditMove;
use crate::domain::{Checkpoint, Event, HistoryRequest, PotHistory, StoredPot};
use crate::reply::IdempotencyRecord;
use crate::shard::ShardId;
use crate::store::{
    CommitError, DEAD_LETTER_MAX_FIELDS, DEAD_LETTER_MAX_LEN, LeaseToken, PotRef, Settled,
    ShardCommit, ShardState, StoreError, StreamId,
};

impl RedisStore {
    /// Events with `from < position ≤ to`, read from the pot's event list (index = position − 1).
    async fn events_between(
        &self,
        shard: ShardId,
        pot: &PotRef,
        from: u64,
        to: u64,
    ) -> Result<Vec<Event>, StoreError> {
        if to <= from {
            return Ok(Vec::new());
        }
        let mut range = redis::cmd("LRANGE");
        range
            .arg(keys::events(shard, &pot.location, &pot.product))
            .arg(from)
            .arg(to - 1);
        let raw: Vec<String> = self.query("load events", &range).await?;
        raw.iter().map(|json| codec::event(json)).collect()
    }

    /// Refuses a commit whose pots or records belong to another shard: their keys would carry
    /// another hash tag, and reads (which locate pots by shard) would never see them.
    fn check_shard(&self, commit: &ShardCommit) -> Result<(), StoreError> {
        let locations = commit
            .pots
            .iter()
            .map(|w| &w.location)
            .chain(commit.records.iter().map(|w| &w.location));
        for location in locations {
            if self.shard_of(location) != commit.shard {
                return Err(StoreError::Corrupt(format!(
                    "location {location:?} is not in shard {}",
                    commit.shard
                )));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl ShardState for RedisStore {
    async fn applied(&self, shard: ShardId) -> Result<StreamId, StoreError> {
        let mut get = redis::cmd("GET");
        get.arg(keys::applied(shard));
        self.query::<Option<String>>("applied", &get)
            .await?
            .map_or(Ok(StreamId::ZERO), |id| id.parse())
    }

    async fn load_pot(&self, shard: ShardId, pot: &PotRef) -> Result<StoredPot, StoreError> {
        let mut stored = self
            .load_pot_chunks(shard, std::slice::from_ref(pot))
            .await?;
        stored
            .pop()
            .ok_or_else(|| StoreError::Corrupt("load pot: no answer".into()))
    }

    async fn load_pots(
        &self,
        shard: ShardId,
        pots: &[PotRef],
    ) -> Result<Vec<StoredPot>, StoreError> {
        self.load_pot_chunks(shard, pots).await
    }

    async fn load_history(
        &self,
        shard: ShardId,
        pot: &PotRef,
        request: &HistoryRequest,
    ) -> Result<PotHistory, StoreError> {
        let checkpoints = if request.all_checkpoints {
            let mut range = redis::cmd("LRANGE");
            range
                .arg(keys::checkpoints(shard, &pot.location, &pot.product))
                .arg(0)
                .arg(-1);
            let raw: Vec<String> = self.query("load checkpoints", &range).await?;
            let stack: Result<Vec<Checkpoint>, _> =
                raw.iter().map(|json| codec::checkpoint(json)).collect();
            Some(stack?)
        } else {
            None
        };
        let (from, to) = (request.events_from, request.events_to);
        let mut events = self.events_between(shard, pot, from, to).await?;
        events.retain(|e| e.position > from && e.position <= to);
        Ok(PotHistory {
            checkpoints,
            events,
        })
    }

    async fn load_record(
        &self,
        shard: ShardId,
        location: &str,
        request_id: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let mut get = redis::cmd("GET");
        get.arg(keys::record(shard, location, request_id));
        let raw: Option<String> = self.query("load record", &get).await?;
        raw.as_deref().map(codec::decode_record).transpose()
    }

    async fn credit_applied(&self, shard: ShardId, move_id: &str) -> Result<bool, StoreError> {
        let mut exists = redis::cmd("EXISTS");
        exists.arg(keys::credit(shard, move_id));
        Ok(self.query::<u64>("credit applied", &exists).await? > 0)
    }

    async fn outbox(&self, shard: ShardId) -> Result<Vec<CreditMove>, StoreError> {
        let mut all = redis::cmd("HGETALL");
        all.arg(keys::outbox(shard));
        let mut entries: Vec<(String, String)> = self.query("outbox", &all).await?;
        // Move-id order, as the embedded backend gives.
        entries.sort();
        entries
            .iter()
            .map(|(_, json)| codec::credit(json))
            .collect()
    }

    async fn commit(
        &self,
        token: &LeaseToken,
        commit: &ShardCommit,
        retention: Duration,
    ) -> Result<(), CommitError> {
        if token.shard != commit.shard {
            return Err(CommitError::Stale);
        }
        self.check_shard(commit)?;
        let shard = commit.shard;
        let mut invocation = scripts::COMMIT.prepare_invoke();
        invocation
            .key(keys::lease(shard))
            .key(keys::applied(shard))
            .key(keys::commands(shard))
            .key(keys::outbox(shard))
            .key(keys::dead_letters(shard));
        for w in &commit.pots {
            invocation
                .key(keys::pot(shard, &w.location, &w.product))
                .key(keys::events(shard, &w.location, &w.product))
                .key(keys::checkpoints(shard, &w.location, &w.product));
        }
        for w in &commit.records {
            invocation.key(keys::record(shard, &w.location, &w.request_id));
        }
        for move_id in &commit.credits_applied {
            invocation.key(keys::credit(shard, move_id));
        }
        let deadline = commit
            .min_deadline_ms
            .map_or_else(String::new, |d| d.to_string());
        invocation
            .arg(token.value())
            .arg(deadline)
            .arg(commit.applied.to_string())
            .arg(millis(retention).max(1))
            .arg(codec::encode_batch(commit)?)
            .arg(DEAD_LETTER_MAX_LEN);
        for dead in &commit.dead_letters {
            let fields = &dead.entry.fields[..dead.entry.fields.len().min(DEAD_LETTER_MAX_FIELDS)];
            invocation
                .arg(dead.id.to_string())
                .arg(&dead.entry.error)
                .arg(fields.len());
            for (name, value) in fields {
                invocation.arg(name).arg(value.as_slice());
            }
        }
        let answer: String = if self.confirms() {
            let wrote = |answer: &String| answer == "OK";
            self.confirmed_script("commit", shard, &invocation, wrote)
                .await?
        } else {
            let mut conn = self.conn.clone();
            self.run("commit", invocation.invoke_async(&mut conn))
                .await?
        };
        scripts::commit_outcome(&answer)
    }

    async fn settle(
        &self,
        shard: ShardId,
        location: &str,
        request_id: &str,
        deadline_ms: u64,
    ) -> Result<Settled, StoreError> {
        let mut invocation = scripts::SETTLE.prepare_invoke();
        invocation
            .key(keys::record(shard, location, request_id))
            .arg(deadline_ms);
        let mut conn = self.conn.clone();
        let answer: Vec<redis::Value> = self
            .run("settle", invocation.invoke_async(&mut conn))
            .await?;
        let settled = scripts::settled(&answer)?;
        if matches!(settled, Settled::Recorded(_))
            && self.confirms()
            && let Err(error) = self.probe_replicas(shard).await
        {
            // The record is on the primary: the write is applied, so it is not answered as
            // never applied (503). Only its copy on the replicas is unconfirmed
            // (docs/architecture.md §15.1, "Settle").
            tracing::warn!(
                shard,
                %error,
                "write settled from the primary's record without replica confirmation"
            );
        }
        Ok(settled)
    }
}
