//! Replies whose first send failed: the writes are committed and their HTTP nodes may still be
//! waiting. One task per worker sends them again, oldest first, as soon as the store answers
//! (docs/architecture.md §5). Without it such a write is only answered once its deadline has
//! passed and the HTTP node settles it from its idempotency record.
//!
//! The task is the worker's, not a shard driver's: a reply is a notification and needs no
//! lease, so it still goes out when the shard changed hands meanwhile. Replies are kept for
//! [`KEEP_FOR`] at most and [`MAX_KEPT`] of them: past either the HTTP node settles the write.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use metrics::Counter;
use shared::backoff::Backoff;
use shared::metrics::Metrics;
use shared::reply::Reply;
use shared::store::Store;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How long a reply is tried again: longer than an HTTP node waits with the default
/// `STOCK_COMMAND_TIMEOUT` (5 s); a node that waits longer settles the write itself.
const KEEP_FOR: Duration = Duration::from_secs(10);
/// Replies kept at most; past that the oldest is dropped.
const MAX_KEPT: usize = 4_096;
/// Pauses between two attempts while the store keeps failing.
const FIRST_PAUSE: Duration = Duration::from_millis(10);
const MAX_PAUSE: Duration = Duration::from_millis(100);

/// One reply not yet delivered.
struct Late {
    address: String,
    reply: Reply,
    since: Instant,
}

/// Hands replies to the worker's late-reply task. Cheap to clone.
#[derive(Clone)]
pub(crate) struct LateReplies {
    queue: mpsc::Sender<Late>,
    dropped: Counter,
}

impl LateReplies {
    /// Starts the task on the current runtime; it ends once every handle is dropped and what it
    /// holds is sent or expired.
    pub(crate) fn start(store: Arc<dyn Store>, metrics: &Metrics) -> LateReplies {
        let outcome = |outcome: &str| {
            let counter = metrics.counter(
                "stock_late_replies_total",
                &[("outcome", outcome.to_owned())],
            );
            counter.increment(0);
            counter
        };
        let (sent, dropped) = (outcome("sent"), outcome("dropped"));
        let (queue, received) = mpsc::channel(MAX_KEPT);
        tokio::spawn(run(store, received, sent, dropped.clone()));
        LateReplies { queue, dropped }
    }

    /// Sends `reply` to `address` again once the store answers.
    pub(crate) fn push(&self, address: String, reply: Reply) {
        let late = Late {
            address,
            reply,
            since: Instant::now(),
        };
        if self.queue.try_send(late).is_err() {
            self.dropped.increment(1);
        }
    }
}

async fn run(
    store: Arc<dyn Store>,
    mut received: mpsc::Receiver<Late>,
    sent: Counter,
    dropped: Counter,
) {
    let mut kept: VecDeque<Late> = VecDeque::new();
    let mut pause = Backoff::doubling(FIRST_PAUSE, MAX_PAUSE);
    loop {
        if kept.is_empty() {
            match received.recv().await {
                Some(late) => kept.push_back(late),
                None => return,
            }
        }
        while let Ok(late) = received.try_recv() {
            kept.push_back(late);
        }
        let before = kept.len();
        kept.retain(|late| late.since.elapsed() < KEEP_FOR);
        while kept.len() > MAX_KEPT {
            kept.pop_front();
        }
        dropped.increment((before - kept.len()) as u64);
        let Some(late) = kept.front() else {
            continue;
        };
        match store.send(&late.address, &late.reply).await {
            Ok(()) => {
                kept.pop_front();
                sent.increment(1);
                pause.reset();
            }
            Err(error) => {
                tracing::debug!(%error, waiting = kept.len(), "late replies: not sent yet");
                tokio::time::sleep(pause.next_delay()).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use shared::store::redis::{RedisStore, ReplyChannelKind};
    use shared::testing::TestRedis;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reply_that_could_not_be_sent_reaches_its_waiter_once_the_store_answers() {
        let mut redis = TestRedis::start();
        let store = RedisStore::connect(&redis.url(), 4, ReplyChannelKind::Stream)
            .await
            .unwrap();
        let store: Arc<dyn Store> = Arc::new(store);
        let mut waiter = store.open().await.unwrap();
        let metrics = Metrics::new();
        let late = LateReplies::start(store.clone(), &metrics);
        let reply = Reply::Created {
            body: "{\"requestId\":\"r1\"}".to_owned(),
        };
        redis.stop();
        assert!(store.send(&waiter.address, &reply).await.is_err());
        late.push(waiter.address.clone(), reply.clone());
        // Kept until the end: dropping the server stops it.
        let restarted = tokio::task::spawn_blocking(move || {
            redis.restart(&[]);
            redis
        });
        let received = tokio::time::timeout(Duration::from_secs(20), waiter.replies.recv()).await;
        assert_eq!(received.unwrap(), Some(reply));
        let _redis = restarted.await.unwrap();
        // Counted once the store acknowledged the send, which may be just after the delivery.
        let counted = "stock_late_replies_total{outcome=\"sent\"} 1";
        let until = Instant::now() + Duration::from_secs(5);
        while !metrics.render().contains(counted) {
            assert!(Instant::now() < until, "{}", metrics.render());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
