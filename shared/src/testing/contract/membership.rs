//! Contract: membership (heartbeats, leaving), the holder of each lease in the cluster view, and
//! announcements that wake waiting workers.

use std::time::Duration;

use super::fixture::{DAY, TTL};
use super::{PATIENCE, StoreAid};
use crate::store::{MembershipCursor, Store};

/// The view names each shard's holder; a released lease shows as free.
pub async fn the_cluster_view_names_the_holder_of_each_lease(
    store: &dyn Store,
    _aid: &dyn StoreAid,
) {
    let first = store.acquire(0, "w1", TTL).await.unwrap().unwrap();
    store.acquire(2, "host/w2", TTL).await.unwrap().unwrap();
    let view = store.cluster(4, DAY).await.unwrap();
    assert_eq!(
        view.holders,
        vec![
            Some("w1".to_owned()),
            None,
            Some("host/w2".to_owned()),
            None
        ]
    );
    assert_eq!(view.owned, 2);
    assert!(store.release(&first).await.unwrap());
    let view = store.cluster(4, DAY).await.unwrap();
    assert_eq!(view.holders[0], None);
    assert_eq!(view.owned, 1);
}

/// A worker that leaves is no longer live; the others stay.
pub async fn a_worker_that_leaves_is_no_longer_live(store: &dyn Store, _aid: &dyn StoreAid) {
    store.heartbeat("w1").await.unwrap();
    store.heartbeat("w2").await.unwrap();
    let live = |view: crate::store::ClusterView| -> Vec<String> {
        view.workers.into_iter().map(|w| w.id).collect()
    };
    assert_eq!(live(store.cluster(1, DAY).await.unwrap()), ["w1", "w2"]);
    store.leave("w1").await.unwrap();
    assert_eq!(live(store.cluster(1, DAY).await.unwrap()), ["w2"]);
    store.leave("never-joined").await.unwrap();
    store.heartbeat("w1").await.unwrap();
    assert_eq!(live(store.cluster(1, DAY).await.unwrap()), ["w1", "w2"]);
}

/// From the unknown cursor the wait answers at once; then it times out with the same cursor
/// when nothing is announced, and returns a new one after an announcement, whether it was made
/// before the wait began or while it blocks.
pub async fn an_announcement_wakes_a_membership_waiter(store: &dyn Store, aid: &dyn StoreAid) {
    let unknown = MembershipCursor::default();
    let start = tokio::time::timeout(
        PATIENCE,
        store.await_membership_change(&unknown, Duration::from_secs(60)),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(!start.is_unknown());
    let quiet = store
        .await_membership_change(&start, Duration::from_millis(50))
        .await
        .unwrap();
    assert_eq!(quiet, start);

    store.announce("w1").await.unwrap();
    let first = store
        .await_membership_change(&start, Duration::from_secs(30))
        .await
        .unwrap();
    assert_ne!(first, start);
    let wait = store.await_membership_change(&first, PATIENCE * 3);
    tokio::pin!(wait);
    // Biased: the wait is polled (and so starts blocking) before the aid looks for it.
    tokio::select! {
        biased;
        early = &mut wait => panic!("the wait returned before any announcement: {early:?}"),
        () = aid.readers_blocked(1) => {}
    }
    store.announce("w2").await.unwrap();
    let second = tokio::time::timeout(PATIENCE, wait).await.unwrap().unwrap();
    assert_ne!(second, first);
    assert_ne!(second, start);
}
