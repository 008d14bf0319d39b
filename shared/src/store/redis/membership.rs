//! Membership over Redis: leaving `stock:workers`, and announcements on the `stock:membership`
//! stream that waiting workers read with a blocking `XREAD` on a connection of their own.

use std::time::Duration;

use redis::streams::{StreamRangeReply, StreamReadReply};

use super::{RedisStore, keys, millis};
use crate::store::{MembershipCursor, StoreError};

/// The position before every entry of a stream.
const BEGINNING: &str = "0-0";

impl RedisStore {
    /// `ZREM stock:workers worker`.
    pub(super) async fn leave_membership(&self, worker: &str) -> Result<(), StoreError> {
        let mut remove = redis::cmd("ZREM");
        remove.arg(keys::WORKERS).arg(worker);
        let _: i64 = self.query("leave", &remove).await?;
        Ok(())
    }

    /// `XADD stock:membership MAXLEN ~ 1000 * w <worker>`.
    pub(super) async fn announce_membership(&self, worker: &str) -> Result<(), StoreError> {
        let mut add = redis::cmd("XADD");
        add.arg(keys::MEMBERSHIP)
            .arg("MAXLEN")
            .arg("~")
            .arg(keys::MEMBERSHIP_MAX_LEN)
            .arg("*")
            .arg("w")
            .arg(worker);
        let _: String = self.query("announce", &add).await?;
        Ok(())
    }

    /// The latest announcement after `after`, waiting up to `timeout` (blocking `XREAD` on a
    /// dedicated connection); `after` itself when none came.
    pub(super) async fn await_announcement(
        &self,
        after: &MembershipCursor,
        timeout: Duration,
    ) -> Result<MembershipCursor, StoreError> {
        if after.is_unknown() {
            return self.latest_announcement().await;
        }
        let mut read = redis::cmd("XREAD");
        // Only the newest entry matters; a backlog is skipped by asking for the latest next.
        read.arg("COUNT").arg(keys::MEMBERSHIP_MAX_LEN);
        let reply: Option<StreamReadReply> = if timeout.is_zero() {
            read.arg("STREAMS").arg(keys::MEMBERSHIP).arg(&after.0);
            self.query("await membership", &read).await?
        } else {
            read.arg("BLOCK")
                .arg(millis(timeout).max(1))
                .arg("STREAMS")
                .arg(keys::MEMBERSHIP)
                .arg(&after.0);
            let limit = timeout + self.options.response_timeout;
            self.blocking
                .query("await membership", &read, limit)
                .await?
        };
        let latest = reply
            .into_iter()
            .flat_map(|r| r.keys)
            .flat_map(|k| k.ids)
            .map(|entry| entry.id)
            .next_back();
        Ok(latest.map_or_else(|| after.clone(), MembershipCursor))
    }

    /// The id of the newest announcement (`0-0` when there is none).
    async fn latest_announcement(&self) -> Result<MembershipCursor, StoreError> {
        let mut last = redis::cmd("XREVRANGE");
        last.arg(keys::MEMBERSHIP)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1);
        let reply: StreamRangeReply = self.query("latest announcement", &last).await?;
        let id = reply
            .ids
            .into_iter()
            .next()
            .map_or_else(|| BEGINNING.to_owned(), |entry| entry.id);
        Ok(MembershipCursor(id))
    }
}
