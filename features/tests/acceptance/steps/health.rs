//! The worker-tier view of `/health/cluster`.

use anyhow::{Context, bail, ensure};
use cucumber::then;
use reqwest::Method;
use serde_json::Value;

use crate::world::{DEADLINE, POLL_EVERY, Request, StockWorld};

fn shard_counts(body: &Value) -> anyhow::Result<(u64, u64, u64)> {
    let shards = body.get("shards").context("no shards object")?;
    let count = |name: &str| {
        shards
            .get(name)
            .and_then(Value::as_u64)
            .with_context(|| format!("no shards.{name}"))
    };
    Ok((count("total")?, count("owned")?, count("unowned")?))
}

#[then(regex = r"^the cluster view shows all (\d+) shards owned by a live worker$")]
async fn all_shards_owned(world: &mut StockWorld, shards: u64) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let answer = world
            .send_as_admin(Request::new(Method::GET, "/health/cluster"))
            .await?;
        ensure!(
            answer.status == 200,
            "/health/cluster answered {}",
            answer.status
        );
        let body: Value =
            serde_json::from_slice(&answer.body).context("/health/cluster is not JSON")?;
        let workers = body
            .get("workers")
            .and_then(Value::as_array)
            .context("no workers array")?;
        let (total, owned, unowned) = shard_counts(&body)?;
        ensure!(
            total == shards,
            "shards.total is {total}, expected {shards}"
        );
        ensure!(
            owned + unowned == total,
            "owned {owned} + unowned {unowned} ≠ total {total}"
        );
        let per_worker: u64 = workers
            .iter()
            .filter_map(|w| w.get("shards")?.as_u64())
            .sum();
        if owned == total && !workers.is_empty() && per_worker == total {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("not all shards owned after {DEADLINE:?}: {}", answer.text());
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}
