//! Labelled `/metrics` series: request latency and the Location API client (`docs/architecture.md` §16.3).

use anyhow::{Context, bail, ensure};
use cucumber::then;
use reqwest::Method;

use crate::world::{Request, StockWorld};

/// One sample line: metric name, labels in order, value.
#[derive(Debug, PartialEq)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// Parses `name{a="x",b="y"} value [timestamp]`; label values may hold `{`, `}` and escapes.
fn sample(line: &str) -> Option<Sample> {
    let end = line.find(['{', ' '])?;
    let name = line[..end].to_owned();
    let mut rest = &line[end..];
    let labels = match rest.strip_prefix('{') {
        Some(inner) => {
            let (labels, after) = labels(inner)?;
            rest = after;
            labels
        }
        None => Vec::new(),
    };
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// The labels up to the closing `}`, and the text after it.
fn labels(mut text: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    loop {
        text = text.trim_start_matches(',');
        if let Some(after) = text.strip_prefix('}') {
            return Some((labels, after));
        }
        let (key, after) = text.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let close = loop {
            match chars.next()? {
                (_, '\\') => value.push(chars.next()?.1),
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        labels.push((key.trim().to_owned(), value));
        text = &after[close + 1..];
    }
}

/// Label filters written like `{call="location",outcome="5xx"}`.
fn filters(text: &str) -> anyhow::Result<Vec<(String, String)>> {
    let inner = text
        .strip_prefix('{')
        .context("labels must be written {name=\"value\",…}")?;
    labels(inner)
        .map(|(labels, _)| labels)
        .context("bad labels")
}

/// The samples of `name` whose labels include all of `wanted`.
fn matching(text: &str, name: &str, wanted: &[(String, String)]) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(sample)
        .filter(|s| s.name == name && wanted.iter().all(|w| s.labels.contains(w)))
        .collect()
}

async fn metrics(world: &mut StockWorld) -> anyhow::Result<String> {
    let answer = world
        .send_as_admin(Request::new(Method::GET, "/metrics"))
        .await?;
    ensure!(answer.status == 200, "/metrics answered {}", answer.status);
    Ok(answer.text())
}

#[then(regex = r"^the metric (\w+) with labels (\{.*\}) is (\S+)$")]
async fn labelled_value(
    world: &mut StockWorld,
    name: String,
    wanted: String,
    value: f64,
) -> anyhow::Result<()> {
    let text = metrics(world).await?;
    let samples = matching(&text, &name, &filters(&wanted)?);
    let total: f64 = samples.iter().map(|s| s.value).sum();
    if samples.is_empty() || total != value {
        bail!(
            "{name}{wanted} is {total} over {} samples, expected {value}; all samples of {name}: {:?}",
            samples.len(),
            matching(&text, &name, &[])
        );
    }
    Ok(())
}

#[then(regex = r"^the metric (\w+) is (\S+)$")]
async fn unlabelled_value(world: &mut StockWorld, name: String, value: f64) -> anyhow::Result<()> {
    let text = metrics(world).await?;
    let samples = matching(&text, &name, &[]);
    let total: f64 = samples.iter().map(|s| s.value).sum();
    ensure!(
        !samples.is_empty() && total == value,
        "{name} is {total} over {} samples, expected {value}",
        samples.len()
    );
    Ok(())
}

#[then(regex = r"^the metrics have a histogram (\w+) with labels (\{.*\})$")]
async fn histogram(world: &mut StockWorld, name: String, wanted: String) -> anyhow::Result<()> {
    let text = metrics(world).await?;
    let wanted = filters(&wanted)?;
    ensure!(
        text.lines()
            .any(|line| line == format!("# TYPE {name} histogram")),
        "{name} is not typed a histogram"
    );
    let count = format!("{name}_count");
    for part in ["_bucket", "_sum", "_count"] {
        let series = format!("{name}{part}");
        ensure!(
            !matching(&text, &series, &wanted).is_empty(),
            "no {series} sample with {wanted:?}; the counts: {:?}",
            matching(&text, &count, &[])
        );
    }
    let counted: f64 = matching(&text, &count, &wanted)
        .iter()
        .map(|s| s.value)
        .sum();
    ensure!(counted >= 1.0, "{count} with {wanted:?} is {counted}");
    Ok(())
}
