//! Contract: pots as stored by commits (events, checkpoint stack, history, exact states).

use super::StoreAid;
use super::fixture::{DAY, leased, positions, pot, pot_at, write};
use crate::domain::{HistoryRequest, LocalDateTime, PotState};
use crate::store::{PotWrite, ShardCommit, Store, StreamId};

/// Commits deliveries at positions 1..=5 to pot (L, P), with checkpoints at 2 and 4.
async fn five_events_with_checkpoints_at_two_and_four(store: &dyn Store) {
    let token = leased(store).await;
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    for position in 1..=5 {
        commit
            .pots
            .push(write(position, 2.0, position == 2 || position == 4));
    }
    store.commit(&token, &commit, DAY).await.unwrap();
}

/// Loading a pot gives its version, state, top checkpoint and only the events after it.
pub async fn a_loaded_pot_holds_the_top_checkpoint_and_the_events_after_it(
    store: &dyn Store,
    _aid: &dyn StoreAid,
) {
    five_events_with_checkpoints_at_two_and_four(store).await;
    let stored = store.load_pot(0, &pot()).await.unwrap();
    assert_eq!(stored.version, 5);
    assert_eq!(stored.checkpoint_count, 2);
    assert_eq!(stored.top_checkpoint.map(|c| c.position), Some(4));
    assert_eq!(positions(&stored.events), vec![5]);
    assert_eq!(stored.state.quantity, 10.0);
    let empty = store.load_pot(0, &pot_at("L", "Q")).await.unwrap();
    assert_eq!(
        (empty.version, empty.state, empty.events.len()),
        (0, PotState::INITIAL, 0)
    );
    assert_eq!(empty.top_checkpoint, None);
}

/// Without checkpoints every event is loaded, and a later commit appends to them.
pub async fn a_pot_without_checkpoints_loads_every_event_and_later_commits_continue_it(
    store: &dyn Store,
    _aid: &dyn StoreAid,
) {
    let token = leased(store).await;
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    commit.pots.push(write(1, 1.0, false));
    commit.pots.push(write(2, 1.0, false));
    store.commit(&token, &commit, DAY).await.unwrap();
    let mut commit = ShardCommit::new(0, StreamId { ms: 2, seq: 0 });
    commit.pots.push(write(3, 1.0, false));
    store.commit(&token, &commit, DAY).await.unwrap();
    let stored = store.load_pot(0, &pot()).await.unwrap();
    assert_eq!((stored.version, stored.checkpoint_count), (3, 0));
    assert_eq!(positions(&stored.events), vec![1, 2, 3]);
    assert_eq!(stored.events[2], write(3, 1.0, false).change.event);
}

/// A history request gets the checkpoint stack if asked and the events in `(from, to]`.
pub async fn history_requests_return_the_checkpoint_stack_and_the_event_range(
    store: &dyn Store,
    _aid: &dyn StoreAid,
) {
    five_events_with_checkpoints_at_two_and_four(store).await;
    let request = HistoryRequest {
        all_checkpoints: true,
        events_from: 2,
        events_to: 4,
    };
    let history = store.load_history(0, &pot(), &request).await.unwrap();
    let stack = positions_of_checkpoints(history.checkpoints.as_deref());
    assert_eq!(stack, Some(vec![2, 4]));
    assert_eq!(positions(&history.events), vec![3, 4]);
    let request = HistoryRequest {
        all_checkpoints: false,
        events_from: 0,
        events_to: 9,
    };
    let history = store.load_history(0, &pot(), &request).await.unwrap();
    assert!(history.checkpoints.is_none());
    assert_eq!(history.events.len(), 5);
    let none = HistoryRequest {
        all_checkpoints: false,
        events_from: 3,
        events_to: 3,
    };
    let history = store.load_history(0, &pot(), &none).await.unwrap();
    assert!(history.events.is_empty());
}

/// A change may truncate the checkpoint stack before pushing its own, or drop it entirely.
pub async fn a_change_can_cut_the_checkpoint_stack_before_pushing(
    store: &dyn Store,
    _aid: &dyn StoreAid,
) {
    let token = leased(store).await;
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    for position in 1..=4 {
        commit.pots.push(write(position, 1.0, true));
    }
    let mut cut = write(5, 1.0, true);
    cut.change.truncate_checkpoints_to = Some(1);
    commit.pots.push(cut);
    store.commit(&token, &commit, DAY).await.unwrap();
    let request = HistoryRequest {
        all_checkpoints: true,
        events_from: 0,
        events_to: 0,
    };
    let history = store.load_history(0, &pot(), &request).await.unwrap();
    let stack = positions_of_checkpoints(history.checkpoints.as_deref());
    assert_eq!(stack, Some(vec![1, 5]));
    assert_eq!(store.load_pot(0, &pot()).await.unwrap().checkpoint_count, 2);
    let mut drop_all = write(6, 1.0, false);
    drop_all.change.truncate_checkpoints_to = Some(0);
    let mut commit = ShardCommit::new(0, StreamId { ms: 2, seq: 0 });
    commit.pots.push(drop_all);
    store.commit(&token, &commit, DAY).await.unwrap();
    let stored = store.load_pot(0, &pot()).await.unwrap();
    assert_eq!((stored.checkpoint_count, stored.top_checkpoint), (0, None));
    assert_eq!(positions(&stored.events), vec![1, 2, 3, 4, 5, 6]);
}

/// States read back exactly as written (floats bit for bit, nanoseconds), in the order asked,
/// with pots never written reading as initial.
pub async fn pot_states_read_back_bit_exact_in_one_round_trip(
    store: &dyn Store,
    _aid: &dyn StoreAid,
) {
    let token = leased(store).await;
    let exact = exact_write();
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    commit.pots.push(exact.clone());
    store.commit(&token, &commit, DAY).await.unwrap();
    let states = store
        .read_pots(&[pot_at("L", "none"), pot(), pot_at("M", "P")])
        .await
        .unwrap();
    assert_eq!(
        states,
        vec![PotState::INITIAL, exact.change.state, PotState::INITIAL]
    );
    assert!(store.read_pots(&[]).await.unwrap().is_empty());
    let stored = store.load_pot(0, &pot()).await.unwrap();
    assert_eq!(stored.state, exact.change.state);
    assert_eq!(stored.top_checkpoint, exact.change.push_checkpoint);
}

/// A first write to (L, P) whose state has inexact floats and nanoseconds.
fn exact_write() -> PotWrite {
    let mut exact = write(1, 0.1, true);
    exact.change.state = PotState {
        quantity: 0.1 + 0.2,
        pending_adjustment: -1.0 / 3.0,
        last_updated: LocalDateTime::parse("2024-12-07T10:00:00.123456789").unwrap(),
    };
    exact
}

fn positions_of_checkpoints(stack: Option<&[crate::domain::Checkpoint]>) -> Option<Vec<u64>> {
    stack.map(|s| s.iter().map(|c| c.position).collect())
}
