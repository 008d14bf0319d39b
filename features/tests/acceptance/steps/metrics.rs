//! `/metrics`: the idempotency counters and the loaded-pots gauge.
//!
//! On a multi-process stack the counters and the gauge live on the workers, which serve them on
//! their admin listeners (`docs/architecture.md` §16.3); a metric is read as the sum over every `/metrics`
//! endpoint of the service.

use anyhow::{Context, bail, ensure};
use cucumber::{given, then, when};
use features::prometheus::sample_sum;

use crate::world::{DEADLINE, POLL_EVERY, StockWorld, suite};

const HITS: &str = "stock_idempotency_hits_total";
const MISSES: &str = "stock_idempotency_misses_total";
const POTS_LOADED: &str = "stock_pots_loaded";

/// The expositions of `urls`, one after the other: summing a metric over the text sums it over
/// the endpoints.
async fn expositions(urls: &[String]) -> anyhow::Result<String> {
    let mut text = String::new();
    for url in urls {
        let response = suite()?
            .client
            .get(url)
            .send()
            .await
            // The whole chain: whether the connection was refused, reset or timed out.
            .map_err(|error| anyhow::anyhow!("GET {url}: {:#}", anyhow::Error::from(error)))?;
        let status = response.status();
        ensure!(status.is_success(), "GET {url} answered {status}");
        text.push_str(&response.text().await?);
        text.push('\n');
    }
    Ok(text)
}

/// Every `/metrics` endpoint of the service, concatenated.
async fn metrics(world: &mut StockWorld) -> anyhow::Result<String> {
    expositions(&world.metrics_urls().await?).await
}

#[given("I note the idempotency counters")]
#[when("I note the idempotency counters")]
async fn note_counters(world: &mut StockWorld) -> anyhow::Result<()> {
    let text = metrics(world).await?;
    for name in [HITS, MISSES] {
        // A counter not incremented yet may be absent: it reads as zero.
        world
            .noted
            .insert(name.to_owned(), sample_sum(&text, name).unwrap_or(0.0));
    }
    Ok(())
}

#[then(regex = r"^the idempotency counters rose by (\d+) hits? and (\d+) miss(?:es)?$")]
async fn counters_rose(world: &mut StockWorld, hits: u32, misses: u32) -> anyhow::Result<()> {
    let text = metrics(world).await?;
    for (name, rise) in [(HITS, hits), (MISSES, misses)] {
        let before = *world
            .noted
            .get(name)
            .context("note the idempotency counters first")?;
        let now = sample_sum(&text, name).unwrap_or(0.0);
        ensure!(
            now - before == f64::from(rise),
            "{name} rose by {}, expected {rise}",
            now - before
        );
    }
    Ok(())
}

#[then(regex = r#"^the response lists the metric "(\w+)"$"#)]
async fn lists_metric(world: &mut StockWorld, name: String) -> anyhow::Result<()> {
    let mut text = world.last()?.text() + "\n";
    // The response is the public endpoint's; the other endpoints, if any, are workers'.
    let others: Vec<String> = world.metrics_urls().await?.into_iter().skip(1).collect();
    text.push_str(&expositions(&others).await?);
    ensure!(
        sample_sum(&text, &name).is_some(),
        "no {name} sample in:\n{text}"
    );
    Ok(())
}

#[when("I wait until no stock pots are loaded")]
async fn wait_for_eviction(world: &mut StockWorld) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let text = metrics(world).await?;
        match sample_sum(&text, POTS_LOADED) {
            None => bail!("/metrics has no {POTS_LOADED} gauge"),
            Some(loaded) if loaded <= 0.0 => return Ok(()),
            Some(loaded) if tokio::time::Instant::now() > deadline => {
                bail!("{loaded} pots still loaded after {DEADLINE:?}")
            }
            Some(_) => tokio::time::sleep(POLL_EVERY).await,
        }
    }
}
