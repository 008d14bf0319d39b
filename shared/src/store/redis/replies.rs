//! Reply channels over Redis (docs/architecture.md §5), both kinds behind [`Replies`]:
//!
//! - `stream`: one reply stream per HTTP-tier instance, `stock:replies:<instance>`, read by one
//!   background task that hands each entry (`a` = request id, `r` = JSON reply) to its waiter.
//!   Address `stream:<instance>:<id>`.
//! - `key`: one list per request, `stock:reply:<id>`, popped with `BLPOP` on a dedicated
//!   connection while the waiter lives (for Lambda, where nothing runs between invocations).
//!   Address `key:<id>`.
//!
//! The address says which kind it is, so a worker answers either. Senders give each stream or
//! list a PX expiry, so that what an abandoned instance leaves behind disappears.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use redis::streams::StreamReadReply;
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;

use super::blocking::BlockingPool;
use super::conn::Dedicated;
use super::{RedisStore, keys, unavailable};
use crate::backoff::Backoff;
use crate::reply::Reply;
use crate::store::{ReplyWaiter, StoreError};

/// Replies buffered per address; a write gets at most a provisional and a final reply.
const REPLY_BUFFER: usize = 16;
/// Closed waiters are purged from the dispatch table once every this many `open` calls.
const PURGE_EVERY: u64 = 256;
/// How long one blocking read of a reply channel waits before looking again.
const REPLY_BLOCK: Duration = Duration::from_secs(5);
/// Entries read from the reply stream per round trip.
const STREAM_READ_COUNT: usize = 1_000;
/// First pause after a failed read of a reply channel; doubled while the failures go on.
const RETRY_PAUSE: Duration = Duration::from_millis(20);
/// Longest pause between two attempts to read a reply channel.
const MAX_RETRY_PAUSE: Duration = Duration::from_millis(200);

/// Which reply channel an HTTP-tier instance listens on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyChannelKind {
    /// A per-instance reply stream read by one background task (long-running servers).
    Stream,
    /// A per-request list read with a blocking pop (Lambda).
    Key,
}

impl FromStr for ReplyChannelKind {
    type Err = String;

    fn from_str(s: &str) -> Result<ReplyChannelKind, String> {
        match s.to_ascii_lowercase().as_str() {
            "stream" => Ok(ReplyChannelKind::Stream),
            "key" => Ok(ReplyChannelKind::Key),
            _ => Err(format!(
                "reply channel must be `stream` or `key`, not {s:?}"
            )),
        }
    }
}

impl std::fmt::Display for ReplyChannelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReplyChannelKind::Stream => "stream",
            ReplyChannelKind::Key => "key",
        })
    }
}

/// Where a reply goes, parsed from its address.
#[derive(Debug, PartialEq)]
pub(super) enum Address<'a> {
    Stream { instance: &'a str, id: &'a str },
    Key { id: &'a str },
}

impl<'a> Address<'a> {
    pub(super) fn parse(address: &'a str) -> Option<Address<'a>> {
        if let Some(rest) = address.strip_prefix("stream:") {
            let (instance, id) = rest.split_once(':')?;
            return Some(Address::Stream { instance, id });
        }
        address.strip_prefix("key:").map(|id| Address::Key { id })
    }
}

/// The reply side of one [`RedisStore`]: its instance id, the waiters of its reply stream and
/// the task that reads it.
pub(super) struct ReplyHub {
    pub(super) instance: String,
    waiters: Arc<Mutex<Waiters>>,
    reader: Mutex<Option<AbortHandle>>,
    /// Counts the reader's returns after an outage ([`ReplyWaiter::gaps`]).
    gaps: Arc<watch::Sender<u64>>,
}

#[derive(Default)]
struct Waiters {
    senders: HashMap<String, mpsc::Sender<Reply>>,
    opens: u64,
}

impl ReplyHub {
    pub(super) fn new() -> ReplyHub {
        ReplyHub {
            instance: random_id(),
            waiters: Arc::default(),
            gaps: Arc::new(watch::channel(0).0),
            reader: Mutex::new(None),
        }
    }

    fn waiters(&self) -> MutexGuard<'_, Waiters> {
        lock(&self.waiters)
    }

    /// Starts the reply stream reader unless it runs.
    fn ensure_reader(&self, dedicated: &Dedicated) {
        let mut reader = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        if reader.as_ref().is_some_and(|r| !r.is_finished()) {
            return;
        }
        let task = read_stream(
            dedicated.clone(),
            keys::reply_stream(&self.instance),
            Arc::clone(&self.waiters),
            Arc::clone(&self.gaps),
        );
        *reader = Some(tokio::spawn(task).abort_handle());
    }
}

impl Drop for ReplyHub {
    fn drop(&mut self) {
        let reader = self.reader.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(reader) = reader.take() {
            reader.abort();
        }
    }
}

fn lock(waiters: &Mutex<Waiters>) -> MutexGuard<'_, Waiters> {
    // The table stays consistent whatever panicked while holding it.
    waiters.lock().unwrap_or_else(|p| p.into_inner())
}

fn random_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

impl RedisStore {
    /// Opens a waiter on this store's reply channel kind.
    pub(super) fn open_waiter(&self) -> ReplyWaiter {
        let (sender, replies) = mpsc::channel(REPLY_BUFFER);
        let id = random_id();
        let address = match self.reply_channel {
            ReplyChannelKind::Stream => {
                self.replies.ensure_reader(&self.dedicated);
                let mut waiters = self.replies.waiters();
                waiters.opens += 1;
                if waiters.opens >= PURGE_EVERY {
                    waiters.opens = 0;
                    waiters.senders.retain(|_, s| !s.is_closed());
                }
                waiters.senders.insert(id.clone(), sender);
                format!("stream:{}:{id}", self.replies.instance)
            }
            ReplyChannelKind::Key => {
                let task = pop_list(self.blocking.clone(), keys::reply_list(&id), sender);
                tokio::spawn(task);
                format!("key:{id}")
            }
        };
        let gaps = match self.reply_channel {
            ReplyChannelKind::Stream => Some(self.replies.gaps.subscribe()),
            ReplyChannelKind::Key => None,
        };
        ReplyWaiter {
            address,
            replies,
            gaps,
        }
    }

    /// Sends a reply to either kind of address.
    pub(super) async fn send_reply(&self, address: &str, reply: &Reply) -> Result<(), StoreError> {
        let json =
            serde_json::to_string(reply).map_err(|e| StoreError::Corrupt(format!("reply: {e}")))?;
        let ttl = super::millis(self.options.reply_ttl);
        let mut pipe = redis::pipe();
        match Address::parse(address) {
            Some(Address::Stream { instance, id }) => {
                let stream = keys::reply_stream(instance);
                pipe.atomic()
                    .cmd("XADD")
                    .arg(&stream)
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(self.options.reply_stream_max_len)
                    .arg("*")
                    .arg("a")
                    .arg(id)
                    .arg("r")
                    .arg(&json)
                    .ignore()
                    .cmd("PEXPIRE")
                    .arg(&stream)
                    .arg(ttl)
                    .ignore();
            }
            Some(Address::Key { id }) => {
                let list = keys::reply_list(id);
                pipe.atomic()
                    .cmd("RPUSH")
                    .arg(&list)
                    .arg(&json)
                    .ignore()
                    .cmd("PEXPIRE")
                    .arg(&list)
                    .arg(ttl)
                    .ignore();
            }
            None => {
                tracing::warn!(address, "reply dropped: not a Redis reply address");
                return Ok(());
            }
        }
        let mut conn = self.conn.clone();
        self.run("send reply", pipe.query_async::<()>(&mut conn))
            .await
    }
}

/// The failures of one reader in a row: a warning when a streak starts, an info line when it
/// ends, and a pause that doubles in between.
struct Streak {
    what: &'static str,
    backoff: Backoff,
    failing: bool,
}

impl Streak {
    fn new(what: &'static str) -> Streak {
        Streak {
            what,
            backoff: Backoff::doubling(RETRY_PAUSE, MAX_RETRY_PAUSE),
            failing: false,
        }
    }

    /// Logs a failure (a warning for the first of a streak) and pauses.
    async fn failed(&mut self, error: &(dyn std::fmt::Display + Sync)) {
        if self.failing {
            tracing::debug!(%error, "{} failed again", self.what);
        } else {
            self.failing = true;
            tracing::warn!(%error, "{} failed; retrying with back-off", self.what);
        }
        self.backoff.wait().await;
    }

    /// A success; true when it ends a streak of failures.
    fn succeeded(&mut self) -> bool {
        self.backoff.reset();
        if self.failing {
            self.failing = false;
            tracing::info!("{}: store reachable again", self.what);
            return true;
        }
        false
    }
}

/// The reply stream reader: one per instance, on a connection of its own.
async fn read_stream(
    dedicated: Dedicated,
    stream: String,
    waiters: Arc<Mutex<Waiters>>,
    gaps: Arc<watch::Sender<u64>>,
) {
    let mut last = String::from("0-0");
    let mut connection = None;
    // The generation of the connection's primary (Sentinel, else always 0): once the
    // deployment names a new primary, the connection is replaced, and the replies the old
    // one could not show are looked up.
    let mut generation = dedicated.generation();
    let mut moved = false;
    let mut streak = Streak::new("reply stream read");
    loop {
        if dedicated.generation() != generation {
            generation = dedicated.generation();
            connection = None;
            moved = true;
        }
        if connection.is_none() {
            match dedicated.open(REPLY_BLOCK).await {
                Ok(c) => connection = Some(c),
                Err(e) => {
                    streak
                        .failed(&unavailable("reply stream: connect", &e))
                        .await;
                    continue;
                }
            }
        }
        let Some(conn) = connection.as_mut() else {
            continue;
        };
        let mut read = redis::cmd("XREAD");
        read.arg("COUNT")
            .arg(STREAM_READ_COUNT)
            .arg("BLOCK")
            .arg(super::millis(REPLY_BLOCK))
            .arg("STREAMS")
            .arg(&stream)
            .arg(&last);
        let reading = read.query_async::<Option<StreamReadReply>>(conn);
        let read = tokio::select! {
            read = tokio::time::timeout(REPLY_BLOCK * 2, reading) => read,
            () = dedicated.moved_from(generation) => continue,
        };
        match read {
            Ok(Ok(reply)) => {
                if streak.succeeded() | std::mem::take(&mut moved) {
                    // Whatever was lost while the store was away, waiters look for it now.
                    gaps.send_modify(|n| *n = n.wrapping_add(1));
                }
                let entries = reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids);
                for entry in entries {
                    dispatch(&waiters, &entry);
                    last = entry.id;
                }
            }
            Ok(Err(e)) => {
                connection = None;
                streak.failed(&unavailable("reply stream", &e)).await;
            }
            Err(_) => {
                connection = None;
                streak.failed(&"no answer; reconnecting").await;
            }
        }
    }
}

fn dispatch(waiters: &Mutex<Waiters>, entry: &redis::streams::StreamId) {
    let (Some(id), Some(json)) = (entry.get::<String>("a"), entry.get::<String>("r")) else {
        tracing::warn!(entry = entry.id, "reply stream: malformed entry");
        return;
    };
    let reply = match serde_json::from_str::<Reply>(&json) {
        Ok(reply) => reply,
        Err(e) => {
            tracing::warn!(entry = entry.id, error = %e, "reply stream: malformed reply");
            return;
        }
    };
    let mut waiters = lock(waiters);
    let Some(sender) = waiters.senders.get(&id) else {
        return;
    };
    if sender.is_closed() {
        waiters.senders.remove(&id);
    } else if sender.try_send(reply).is_err() {
        tracing::debug!(id, "reply dropped: the waiter's buffer is full");
    }
}

/// Pops one request's reply list until a final reply arrives or the waiter is dropped.
///
/// Only [`Reply::InTransit`] is provisional; after any other reply nothing more is sent to the
/// address, so the task stops reading (the channel stays open until the waiter is dropped, as
/// with the other kind).
async fn pop_list(pool: BlockingPool, list: String, sender: mpsc::Sender<Reply>) {
    let limit = REPLY_BLOCK * 2;
    let mut pop = redis::cmd("BLPOP");
    pop.arg(&list).arg(REPLY_BLOCK.as_secs_f64());
    let mut streak = Streak::new("reply list read");
    loop {
        let popped = tokio::select! {
            () = sender.closed() => return,
            popped = pool.query::<Option<(String, String)>>("reply pop", &pop, limit) => popped,
        };
        let json = match popped {
            Ok(Some((_, json))) => {
                streak.succeeded();
                json
            }
            Ok(None) => {
                streak.succeeded();
                continue;
            }
            Err(e) => {
                tokio::select! {
                    () = sender.closed() => return,
                    () = streak.failed(&e) => continue,
                }
            }
        };
        let reply = match serde_json::from_str::<Reply>(&json) {
            Ok(reply) => reply,
            Err(e) => {
                tracing::warn!(error = %e, "reply list: malformed reply");
                continue;
            }
        };
        let last = !matches!(reply, Reply::InTransit { .. });
        if sender.send(reply).await.is_err() {
            return;
        }
        if last {
            sender.closed().await;
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_name_their_kind() {
        assert_eq!(
            Address::parse("stream:abc:123"),
            Some(Address::Stream {
                instance: "abc",
                id: "123"
            })
        );
        assert_eq!(Address::parse("key:123"), Some(Address::Key { id: "123" }));
        assert_eq!(Address::parse("0123abcd"), None);
        assert_eq!(Address::parse("stream:nocolon"), None);
    }

    #[test]
    fn the_channel_kind_parses_from_its_name() {
        assert_eq!("stream".parse(), Ok(ReplyChannelKind::Stream));
        assert_eq!("KEY".parse(), Ok(ReplyChannelKind::Key));
        assert!("list".parse::<ReplyChannelKind>().is_err());
        assert_eq!(ReplyChannelKind::Key.to_string(), "key");
    }
}
