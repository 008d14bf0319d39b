//! Contract: reply channels between the worker that applies a write and the waiter for it.

use std::time::Duration;

use super::StoreAid;
use crate::reply::Reply;
use crate::store::{ReplyWaiter, Store};

/// The next reply for `waiter`, failing the test if none comes within seconds.
async fn next(waiter: &mut ReplyWaiter) -> Option<Reply> {
    tokio::time::timeout(Duration::from_secs(5), waiter.replies.recv())
        .await
        .unwrap()
}

/// Each waiter gets the replies sent to its address, in order; a reply to an address nobody
/// waits on (never opened, or dropped) is lost without error, and later waiters still work.
pub async fn replies_reach_open_waiters_in_order_and_are_dropped_otherwise(
    store: &dyn Store,
    aid: &dyn StoreAid,
) {
    let worker = aid.replier();
    let mut waiter = store.open().await.unwrap();
    let mut other = store.open().await.unwrap();
    assert_ne!(waiter.address, other.address);
    let provisional = Reply::InTransit {
        body: "{\"q\":1.0}".to_owned(),
    };
    let last = Reply::Created {
        body: "{\"q\":1.0}".to_owned(),
    };
    worker.send(&waiter.address, &provisional).await.unwrap();
    worker.send(&waiter.address, &last).await.unwrap();
    worker
        .send(&other.address, &Reply::InsufficientStock)
        .await
        .unwrap();
    assert_eq!(next(&mut waiter).await, Some(provisional));
    assert_eq!(next(&mut waiter).await, Some(last.clone()));
    assert_eq!(next(&mut other).await, Some(Reply::InsufficientStock));
    worker.send("nobody", &last).await.unwrap();
    let address = waiter.address.clone();
    drop(waiter);
    worker.send(&address, &last).await.unwrap();
    let mut third = store.open().await.unwrap();
    worker
        .send(&third.address, &Reply::ContentMismatch)
        .await
        .unwrap();
    assert_eq!(next(&mut third).await, Some(Reply::ContentMismatch));
}
