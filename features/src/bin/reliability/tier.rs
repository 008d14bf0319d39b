//! The worker tier as the scenarios see it: which workers run, who leases which shard at which
//! epoch, and waits for ownership to settle.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use features::stack::{HttpReply, Stack, StackConfig, delivery, eventually};
use shared::shard::ShardId;
use shared::store::redis::keys;
use tokio::time::Instant;

/// How often ownership is read while waiting for it to settle.
const LOOK_EVERY: Duration = Duration::from_millis(100);

/// A scenario's stack: `workers` workers over `shards` shards, the lease TTL and command timeout
/// given, `locations` tracked.
pub(crate) fn stack_config(
    shards: u32,
    workers: usize,
    ttl: Duration,
    timeout: Duration,
    locations: Vec<String>,
) -> StackConfig {
    StackConfig {
        shards,
        workers,
        lease_ttl: ttl,
        command_timeout: timeout,
        locations,
        ..StackConfig::default()
    }
}

/// Fails with the command to run when a binary the stack starts is missing.
pub(crate) fn check_binaries() -> anyhow::Result<()> {
    for name in ["http-fn", "actor-worker"] {
        features::service::debug_binary(name)?;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    if !std::env::split_paths(&path).any(|dir| Path::new(&dir).join("redis-server").is_file()) {
        bail!("redis-server is not on PATH (Debian: apt-get install redis-server)");
    }
    Ok(())
}

/// The running workers by id, with their index in the stack (a restart gets a new index).
#[derive(Debug, Default)]
pub(crate) struct Roster {
    live: BTreeMap<String, usize>,
}

impl Roster {
    /// The `count` workers a stack starts with: `w1` … at indexes 0 ….
    pub(crate) fn started(count: usize) -> Roster {
        let live = (0..count).map(|i| (format!("w{}", i + 1), i)).collect();
        Roster { live }
    }

    pub(crate) fn ids(&self) -> Vec<String> {
        self.live.keys().cloned().collect()
    }

    /// Starts worker `id`; returns once it has announced its admin address (it is ready).
    pub(crate) async fn start(&mut self, stack: &Stack, id: &str) -> anyhow::Result<()> {
        if self.live.contains_key(id) {
            bail!("worker {id} is already running");
        }
        let index = stack.start_worker(id).await?;
        self.live.insert(id.to_owned(), index);
        Ok(())
    }

    /// SIGKILL.
    pub(crate) async fn kill(&mut self, stack: &Stack, id: &str) -> anyhow::Result<()> {
        stack.kill_worker(self.take(id)?).await
    }

    /// SIGTERM, and waits for the exit.
    pub(crate) async fn stop(&mut self, stack: &Stack, id: &str) -> anyhow::Result<()> {
        stack.stop_worker(self.take(id)?).await
    }

    fn take(&mut self, id: &str) -> anyhow::Result<usize> {
        self.live
            .remove(id)
            .with_context(|| format!("worker {id} is not running"))
    }
}

/// Each shard's lease holder and fencing epoch, read in one transaction.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Ownership {
    pub(crate) owners: Vec<Option<String>>,
    pub(crate) epochs: Vec<u64>,
}

impl Ownership {
    pub(crate) async fn read(stack: &Stack) -> anyhow::Result<Ownership> {
        let shards = stack.config().shards;
        let mut pipe = redis::pipe();
        pipe.atomic();
        for shard in 0..shards {
            pipe.cmd("GET").arg(keys::lease(shard));
            pipe.cmd("GET").arg(keys::epoch(shard));
        }
        let values: Vec<Option<String>> = pipe.query_async(&mut stack.redis().await?).await?;
        Ok(Ownership::from_values(&values))
    }

    /// From alternating lease tokens (`worker/epoch/nonce`) and epoch counters.
    fn from_values(values: &[Option<String>]) -> Ownership {
        let mut ownership = Ownership::default();
        for pair in values.chunks(2) {
            let owner = pair[0].as_deref().and_then(|t| t.split('/').next());
            ownership.owners.push(owner.map(str::to_owned));
            let epoch = pair.get(1).and_then(Option::as_deref);
            ownership
                .epochs
                .push(epoch.and_then(|e| e.parse().ok()).unwrap_or(0));
        }
        ownership
    }

    pub(crate) fn shards_of(&self, id: &str) -> Vec<ShardId> {
        (0..self.owners.len())
            .filter(|s| self.owners[*s].as_deref() == Some(id))
            .map(|s| s as ShardId)
            .collect()
    }

    pub(crate) fn all_owned_by(&self, ids: &[String]) -> bool {
        self.owners
            .iter()
            .all(|o| o.as_ref().is_some_and(|o| ids.contains(o)))
    }

    pub(crate) fn all_free(&self) -> bool {
        self.owners.iter().all(Option::is_none)
    }

    /// Shards whose holder differs from `before`.
    pub(crate) fn moved_since(&self, before: &Ownership) -> Vec<ShardId> {
        (0..self.owners.len())
            .filter(|s| before.owners.get(*s) != Some(&self.owners[*s]))
            .map(|s| s as ShardId)
            .collect()
    }

    /// Lease acquisitions since `before`: the sum of the epochs' increments.
    pub(crate) fn handovers_since(&self, before: &Ownership) -> u64 {
        self.epochs
            .iter()
            .zip(&before.epochs)
            .map(|(now, then)| now.saturating_sub(*then))
            .sum()
    }

    /// `w1=85 w2=85 w3=86` (free shards as `free=N`).
    pub(crate) fn counts(&self) -> String {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for owner in &self.owners {
            *counts
                .entry(owner.as_deref().unwrap_or("free"))
                .or_default() += 1;
        }
        let parts: Vec<String> = counts.iter().map(|(k, v)| format!("{k}={v}")).collect();
        parts.join(" ")
    }
}

/// Settled ownership and when it last changed.
pub(crate) struct Settled {
    pub(crate) ownership: Ownership,
    pub(crate) last_change: Instant,
}

/// Waits until every shard is leased by one of `ids` and no lease has changed hands for
/// `stable_for`, at most `timeout`.
pub(crate) async fn wait_stable(
    stack: &Stack,
    ids: &[String],
    stable_for: Duration,
    timeout: Duration,
) -> anyhow::Result<Settled> {
    let deadline = Instant::now() + timeout;
    let mut last = Ownership::read(stack).await?;
    let mut last_change = Instant::now();
    loop {
        tokio::time::sleep(LOOK_EVERY).await;
        let now = Ownership::read(stack).await?;
        if now.owners != last.owners {
            last_change = Instant::now();
        }
        last = now;
        if last.all_owned_by(ids) && last_change.elapsed() >= stable_for {
            return Ok(Settled {
                ownership: last,
                last_change,
            });
        }
        if Instant::now() >= deadline {
            bail!(
                "ownership did not settle on {ids:?} within {timeout:?}: {}",
                last.counts()
            );
        }
    }
}

/// Whether restarted workers get shards back. Learnt at the first restart: a worker that holds no
/// shard `probe` after every shard is owned means the tier does not hand shards to newcomers.
#[derive(Debug, Default)]
pub(crate) struct Balance {
    observed: Option<bool>,
}

impl Balance {
    /// What was observed: `Some(true)` when restarted workers got shards back.
    pub(crate) fn observed(&self) -> Option<bool> {
        self.observed
    }

    /// After worker `id` (re)started: waits until every shard is owned by a running worker and,
    /// unless the tier was seen not to balance, until `id` holds a shard.
    pub(crate) async fn settle(
        &mut self,
        stack: &Stack,
        roster: &Roster,
        id: &str,
        probe: Duration,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let ids = roster.ids();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        stack.wait_all_owned_by(&refs, timeout).await?;
        if self.observed == Some(false) {
            return Ok(());
        }
        let what = format!("worker {id} holding a shard");
        let holds = eventually(&what, probe, || async {
            Ok((!Ownership::read(stack).await?.shards_of(id).is_empty()).then_some(()))
        })
        .await
        .is_ok();
        if self.observed.is_none() || !holds {
            self.observed = Some(holds);
        }
        Ok(())
    }
}

/// A one-line delivery of one unit of `product` at `location`.
pub(crate) async fn deliver(
    stack: &Stack,
    location: &str,
    product: &str,
    request_id: &str,
) -> anyhow::Result<HttpReply> {
    stack
        .deliver(location, &delivery(request_id, &[(product, 1.0)]))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(items: &[Option<&str>]) -> Vec<Option<String>> {
        items.iter().map(|v| v.map(str::to_owned)).collect()
    }

    #[test]
    fn owners_and_epochs_come_from_lease_tokens_and_counters() {
        let read = Ownership::from_values(&values(&[
            Some("w1/3/abc"),
            Some("3"),
            None,
            None,
            Some("w2/7/x"),
            Some("7"),
        ]));
        assert_eq!(
            read.owners,
            vec![Some("w1".to_owned()), None, Some("w2".to_owned())]
        );
        assert_eq!(read.epochs, vec![3, 0, 7]);
        assert_eq!(read.shards_of("w2"), vec![2]);
        assert!(!read.all_owned_by(&["w1".to_owned(), "w2".to_owned()]));
        assert_eq!(read.counts(), "free=1 w1=1 w2=1");
    }

    #[test]
    fn moves_and_handovers_are_counted_against_an_earlier_reading() {
        let before = Ownership::from_values(&values(&[
            Some("w1/1/a"),
            Some("1"),
            Some("w1/1/b"),
            Some("1"),
        ]));
        let after = Ownership::from_values(&values(&[
            Some("w1/1/a"),
            Some("1"),
            Some("w4/3/c"),
            Some("3"),
        ]));
        assert_eq!(after.moved_since(&before), vec![1]);
        assert_eq!(after.handovers_since(&before), 2);
    }

    #[test]
    fn a_roster_starts_with_numbered_workers() {
        let roster = Roster::started(3);
        assert_eq!(roster.ids(), vec!["w1", "w2", "w3"]);
    }
}
