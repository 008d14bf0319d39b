//! Contract: command streams (ids, reads after an id, blocking reads, trimming on commit).

use std::time::Duration;

use super::StoreAid;
use super::fixture::{DAY, envelope, leased};
use crate::store::{ShardCommit, Store, StreamId};

/// Ids increase and carry store time; a read returns up to `max` entries after the given id.
pub async fn stream_ids_increase_and_reads_return_entries_after_the_given_id(
    store: &dyn Store,
    _aid: &dyn StoreAid,
) {
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(store.append(3, &envelope(&format!("c{i}"))).await.unwrap());
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let now = store.now_ms().await.unwrap();
    assert!(
        ids[4].ms <= now && now - ids[4].ms < 60_000,
        "ids carry store time"
    );
    let read = store.read(3, ids[1], 2, Duration::ZERO).await.unwrap();
    let got: Vec<_> = read.iter().map(|(id, e)| (*id, e.id.clone())).collect();
    assert_eq!(
        got,
        vec![(ids[2], "c2".to_owned()), (ids[3], "c3".to_owned())]
    );
    assert_eq!(read[0].1, envelope("c2"));
    let blocking = store.read(3, ids[1], 10, Duration::from_millis(50));
    assert_eq!(blocking.await.unwrap().len(), 3);
    assert!(
        store
            .read(4, StreamId::ZERO, 10, Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A read blocked on an empty stream returns the entry appended meanwhile, and the store keeps
/// answering other calls while it waits.
pub async fn a_blocked_read_wakes_up_when_a_command_is_appended(
    store: &dyn Store,
    aid: &dyn StoreAid,
) {
    let read = store.read(1, StreamId::ZERO, 10, Duration::from_secs(30));
    tokio::pin!(read);
    // Biased: the read is polled (and so starts blocking) before the aid looks for it.
    tokio::select! {
        biased;
        early = &mut read => panic!("the read returned before any append: {early:?}"),
        () = aid.readers_blocked(1) => {}
    }
    store.ping().await.unwrap();
    store.append(1, &envelope("c1")).await.unwrap();
    let read = tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.len(), 1);
}

/// A blocked read of an empty stream gives up after its block time.
pub async fn a_blocked_read_returns_empty_after_the_block_time(
    store: &dyn Store,
    _aid: &dyn StoreAid,
) {
    let read = store
        .read(1, StreamId::ZERO, 10, Duration::from_millis(30))
        .await
        .unwrap();
    assert!(read.is_empty());
}

/// A commit drops the stream entries up to its `applied`, which never moves back.
pub async fn a_commit_trims_the_stream_up_to_applied(store: &dyn Store, aid: &dyn StoreAid) {
    let token = leased(store).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(store.append(0, &envelope(&format!("c{i}"))).await.unwrap());
    }
    store
        .commit(&token, &ShardCommit::new(0, ids[1]), DAY)
        .await
        .unwrap();
    assert_eq!(aid.stream_len(0).await, 1);
    assert_eq!(store.applied(0).await.unwrap(), ids[1]);
    let rest = store.read(0, ids[1], 10, Duration::ZERO).await.unwrap();
    assert_eq!(rest[0].0, ids[2]);
    store
        .commit(&token, &ShardCommit::new(0, ids[0]), DAY)
        .await
        .unwrap();
    assert_eq!(store.applied(0).await.unwrap(), ids[1]);
}
