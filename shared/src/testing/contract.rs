//! The store contract: behaviour every backend must show, as test bodies run against each one.
//!
//! Each contract test is an async function taking a fresh [`Store`] and its [`StoreAid`], the
//! little a test needs beyond the store traits (moving time along, stealing a lease, looking at a
//! stream). A backend runs the whole contract with [`store_contract_tests!`](crate::store_contract_tests),
//! one `#[tokio::test]` per function, each on a fresh [`Backend`]. Time-dependent tests use short
//! TTLs and poll with a deadline, so they hold on a store whose clock cannot be moved.
#![allow(clippy::unwrap_used)]

mod fence;
pub mod fixture;
mod lease;
mod membership;
mod pot;
mod record;
mod reply;
mod stream;

use std::future::Future;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::shard::ShardId;
use crate::store::{LeaseToken, Store};

pub use fence::{
    a_batch_past_its_deadline_writes_nothing, a_commit_with_a_stale_token_writes_nothing,
    a_pot_change_at_the_wrong_position_refuses_the_whole_commit, a_token_of_another_shard_is_stale,
    an_expired_lease_fences_commits_and_can_be_acquired_again,
};
pub use lease::leases_taken_and_renewed_many_at_a_time_answer_for_each_shard;
pub use membership::{
    a_worker_that_leaves_is_no_longer_live, an_announcement_wakes_a_membership_waiter,
    the_cluster_view_names_the_holder_of_each_lease,
};
pub use pot::{
    a_change_can_cut_the_checkpoint_stack_before_pushing,
    a_loaded_pot_holds_the_top_checkpoint_and_the_events_after_it,
    a_pot_without_checkpoints_loads_every_event_and_later_commits_continue_it,
    history_requests_return_the_checkpoint_stack_and_the_event_range,
    pot_states_read_back_bit_exact_in_one_round_trip,
};
pub use record::{
    once_settled_as_not_applied_a_write_can_never_commit,
    records_and_credits_expire_after_the_retention,
    settle_waits_for_the_deadline_then_reports_the_record_or_its_absence,
    the_outbox_holds_credits_until_removed,
};
pub use reply::replies_reach_open_waiters_in_order_and_are_dropped_otherwise;
pub use stream::{
    a_blocked_read_returns_empty_after_the_block_time,
    a_blocked_read_wakes_up_when_a_command_is_appended, a_commit_trims_the_stream_up_to_applied,
    stream_ids_increase_and_reads_return_entries_after_the_given_id,
};

/// How long a condition may take to come true before a test fails.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// What a contract test needs from a backend beyond the [`Store`] traits.
#[async_trait]
pub trait StoreAid: Send + Sync {
    /// Hurries store time along by `by` where the backend can: the embedded store moves its
    /// clock, Redis's clock cannot be moved (a no-op). Tests then poll until time has passed.
    fn advance_time(&self, by: Duration);
    /// Takes the shard's lease for `worker` whoever holds it, as if the holder had been paused
    /// past its lease and another worker had acquired it (the epoch moves on by one).
    async fn steal_lease(&self, shard: ShardId, worker: &str, ttl: Duration) -> LeaseToken;
    /// Number of entries still held in the shard's stream (not yet trimmed).
    async fn stream_len(&self, shard: ShardId) -> usize;
    /// Returns once at least `n` reads are blocked waiting for stream entries. It is polled after
    /// the blocked read itself, so a store that registers a read on its first poll may return
    /// at once.
    async fn readers_blocked(&self, n: u64);
    /// The handle a worker sends replies with: another instance on the same data where the
    /// backend has instances, else the store itself.
    fn replier(&self) -> &dyn Store;
}

/// A fresh backend for one contract test: the store under test and its aid.
pub trait Backend {
    /// The store under test.
    fn store(&self) -> &dyn Store;
    /// The aid that reaches behind that store.
    fn aid(&self) -> &dyn StoreAid;
}

/// Polls `check` until it holds, failing the test after [`PATIENCE`].
///
/// # Panics
/// If `check` still fails after [`PATIENCE`].
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let until = Instant::now() + PATIENCE;
    while !check().await {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Generates one `#[tokio::test]` per contract function, each running it on the fresh
/// [`Backend`] that the given expression's future yields (e.g. `store_contract_tests!(fresh())`).
#[macro_export]
macro_rules! store_contract_tests {
    ($fresh:expr) => {
        $crate::store_contract_tests!(@each $fresh;
            a_commit_with_a_stale_token_writes_nothing,
            an_expired_lease_fences_commits_and_can_be_acquired_again,
            a_token_of_another_shard_is_stale,
            leases_taken_and_renewed_many_at_a_time_answer_for_each_shard,
            a_batch_past_its_deadline_writes_nothing,
            a_pot_change_at_the_wrong_position_refuses_the_whole_commit,
            settle_waits_for_the_deadline_then_reports_the_record_or_its_absence,
            once_settled_as_not_applied_a_write_can_never_commit,
            records_and_credits_expire_after_the_retention,
            the_outbox_holds_credits_until_removed,
            stream_ids_increase_and_reads_return_entries_after_the_given_id,
            a_blocked_read_wakes_up_when_a_command_is_appended,
            a_blocked_read_returns_empty_after_the_block_time,
            a_commit_trims_the_stream_up_to_applied,
            a_loaded_pot_holds_the_top_checkpoint_and_the_events_after_it,
            a_pot_without_checkpoints_loads_every_event_and_later_commits_continue_it,
            history_requests_return_the_checkpoint_stack_and_the_event_range,
            a_change_can_cut_the_checkpoint_stack_before_pushing,
            pot_states_read_back_bit_exact_in_one_round_trip,
            replies_reach_open_waiters_in_order_and_are_dropped_otherwise,
            the_cluster_view_names_the_holder_of_each_lease,
            a_worker_that_leaves_is_no_longer_live,
            an_announcement_wakes_a_membership_waiter,
        );
    };
    (@each $fresh:expr; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                use $crate::testing::contract::Backend as _;
                let backend = $fresh.await;
                $crate::testing::contract::$name(backend.store(), backend.aid()).await;
            }
        )+
    };
}
