//! The service's log: the stdout lines of the binary target (`docs/architecture.md` §16.2).
//!
//! Lines reach the log file shortly after they are written, so every step that looks for a line
//! polls until it appears.

use anyhow::{Context, bail, ensure};
use cucumber::gherkin::Step;
use cucumber::{given, then};
use serde_json::Value;
use shared::shard::shard_of;

use super::trace_context::is_hex;
use crate::world::{DEADLINE, POLL_EVERY, StockWorld};

/// Where the binary target writes a line of the child's stderr (stdout lines have no prefix).
const STDERR_PREFIX: &str = "[stderr] ";
/// `STOCK_SHARDS` when a scenario does not set it (`docs/configuration.md` §2).
const DEFAULT_SHARDS: u32 = 256;

/// The lines the service wrote on stdout so far.
fn stdout_lines(world: &StockWorld) -> anyhow::Result<Vec<String>> {
    let path = world
        .service_log
        .as_ref()
        .context("the service was not started, or its log is not captured")?;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .filter(|line| !line.starts_with(STDERR_PREFIX))
        .map(str::to_owned)
        .collect())
}

/// The stdout lines that are JSON objects.
fn json_lines(world: &StockWorld) -> anyhow::Result<Vec<Value>> {
    Ok(stdout_lines(world)?
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(Value::is_object)
        .collect())
}

/// Polls the JSON lines until `found` holds for them.
async fn eventually(
    world: &StockWorld,
    what: &str,
    found: impl Fn(&[Value]) -> bool,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if found(&json_lines(world)?) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("after {DEADLINE:?} the log has no {what}");
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

fn text<'a>(line: &'a Value, field: &str) -> &'a str {
    line.get(field).and_then(Value::as_str).unwrap_or_default()
}

/// What is wrong with a line's required fields, if anything (§2.1).
fn malformed(line: &Value) -> Option<String> {
    let timestamp = text(line, "timestamp");
    if !timestamp.ends_with('Z') || humantime::parse_rfc3339(timestamp).is_err() {
        return Some(format!("timestamp {timestamp:?} is not RFC 3339 UTC"));
    }
    if !["ERROR", "WARN", "INFO", "DEBUG", "TRACE"].contains(&text(line, "level")) {
        return Some("no valid level".to_owned());
    }
    if text(line, "target").is_empty() || line.get("message").and_then(Value::as_str).is_none() {
        return Some("no target or no message".to_owned());
    }
    match (line.get("trace_id"), line.get("span_id")) {
        (None, None) => None,
        (Some(Value::String(trace)), Some(Value::String(span)))
            if is_hex(trace, 32) && is_hex(span, 16) =>
        {
            None
        }
        _ => Some("trace_id and span_id are not 32 and 16 lower-case hex digits".to_owned()),
    }
}

#[then("every log line is a JSON object with a timestamp, a level, a target and a message")]
fn every_line_json(world: &mut StockWorld) -> anyhow::Result<()> {
    let lines = stdout_lines(world)?;
    ensure!(!lines.is_empty(), "the log is empty");
    for line in &lines {
        let value: Value =
            serde_json::from_str(line).with_context(|| format!("not JSON: {line}"))?;
        ensure!(value.is_object(), "not a JSON object: {line}");
        if let Some(problem) = malformed(&value) {
            bail!("{problem}: {line}");
        }
    }
    Ok(())
}

#[then("the start-up lines carry no trace ids")]
fn startup_untraced(world: &mut StockWorld) -> anyhow::Result<()> {
    let lines = json_lines(world)?;
    // A server announces its address; a Lambda function the Runtime API it polls.
    let listening = lines
        .iter()
        .position(|line| line.get("http_addr").is_some() || line.get("runtime_api").is_some())
        .context("no start-up line with http_addr or runtime_api")?;
    for line in &lines[..=listening] {
        ensure!(
            line.get("trace_id").is_none() && line.get("span_id").is_none(),
            "a start-up line carries trace ids: {line}"
        );
    }
    Ok(())
}

fn in_trace(line: &Value, level: &str, target: &str, trace_id: &str) -> bool {
    text(line, "level") == level
        && text(line, "target").contains(target)
        && text(line, "trace_id") == trace_id
        && is_hex(text(line, "span_id"), 16)
}

#[then(
    regex = r#"^the log has an? (ERROR|WARN|INFO|DEBUG) line from "([^"]*)" in the trace "(\w+)"$"#
)]
async fn line_in_trace(
    world: &mut StockWorld,
    level: String,
    target: String,
    trace_id: String,
) -> anyhow::Result<()> {
    let what = format!("{level} line from {target} in the trace {trace_id}");
    eventually(world, &what, |lines| {
        lines
            .iter()
            .any(|line| in_trace(line, &level, &target, &trace_id))
    })
    .await
}

#[then(regex = r#"^the log has exactly one INFO line in the trace "(\w+)"$"#)]
async fn one_info_line(world: &mut StockWorld, trace_id: String) -> anyhow::Result<()> {
    let traced = |lines: &[Value]| {
        lines
            .iter()
            .filter(|line| text(line, "level") == "INFO" && text(line, "trace_id") == trace_id)
            .count()
    };
    let what = format!("INFO line in the trace {trace_id}");
    eventually(world, &what, |lines| traced(lines) > 0).await?;
    let count = traced(&json_lines(world)?);
    ensure!(count == 1, "{count} INFO lines in the trace {trace_id}");
    Ok(())
}

#[then(
    regex = r#"^the log has a DEBUG line from "stock_pot" in the trace "(\w+)" for command (\w+) at "([^"]*)"$"#
)]
async fn stock_pot_line(
    world: &mut StockWorld,
    trace_id: String,
    command: String,
    location: String,
) -> anyhow::Result<()> {
    let what = format!("stock_pot DEBUG line in the trace {trace_id} for {command} at {location}");
    eventually(world, &what, |lines| {
        lines.iter().any(|line| {
            in_trace(line, "DEBUG", "stock_pot", &trace_id)
                && text(line, "command") == command
                && text(line, "location") == location
        })
    })
    .await
}

#[then(regex = r#"^every log line from "([^"]*)" carries a trace id and a span id$"#)]
fn every_line_traced(world: &mut StockWorld, target: String) -> anyhow::Result<()> {
    let lines: Vec<Value> = json_lines(world)?
        .into_iter()
        .filter(|line| text(line, "target").contains(&target))
        .collect();
    ensure!(!lines.is_empty(), "no line from {target}");
    for line in lines {
        ensure!(
            is_hex(text(&line, "trace_id"), 32) && is_hex(text(&line, "span_id"), 16),
            "a line without trace ids: {line}"
        );
    }
    Ok(())
}

#[then("the log has these WARN lines, in order:")]
async fn warn_lines_in_order(world: &mut StockWorld, step: &Step) -> anyhow::Result<()> {
    let table = step
        .table
        .as_ref()
        .context("the step needs a table of words")?;
    let wanted: Vec<Vec<String>> = table.rows.clone();
    let what = format!("WARN lines containing, in order, {wanted:?}");
    eventually(world, &what, |lines| {
        let mut rows = wanted.iter().peekable();
        for line in lines.iter().filter(|l| text(l, "level") == "WARN") {
            let message = text(line, "message");
            if let Some(words) = rows.peek()
                && words.iter().all(|word| message.contains(word.as_str()))
            {
                rows.next();
            }
        }
        rows.peek().is_none()
    })
    .await
}

#[then(regex = r#"^the log never mentions "([^"]*)"$"#)]
fn never_mentions(world: &mut StockWorld, secret: String) -> anyhow::Result<()> {
    for line in stdout_lines(world)? {
        ensure!(!line.contains(&secret), "logged: {line}");
    }
    Ok(())
}

#[then(regex = r#"^the log has a text line with "([^"]*)" and "([^"]*)"$"#)]
async fn text_line(world: &mut StockWorld, first: String, second: String) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let lines = stdout_lines(world)?;
        if let Some(json) = lines
            .iter()
            .find(|line| serde_json::from_str::<Value>(line).is_ok())
        {
            bail!("a JSON line in the text log: {json}");
        }
        if lines
            .iter()
            .any(|line| line.contains(&first) && line.contains(&second))
        {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("after {DEADLINE:?} the log has no text line with {first:?} and {second:?}");
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

#[given(regex = r#"^"([^"]*)" and "([^"]*)" are on (different shards|one shard)$"#)]
fn shards_of(world: &mut StockWorld, a: String, b: String, relation: String) -> anyhow::Result<()> {
    let shards = match world.settings.get("STOCK_SHARDS") {
        Some(Some(value)) => value.parse().context("STOCK_SHARDS")?,
        _ => DEFAULT_SHARDS,
    };
    let (shard_a, shard_b) = (shard_of(&a, shards), shard_of(&b, shards));
    ensure!(
        (shard_a == shard_b) == (relation == "one shard"),
        "{a:?} is on shard {shard_a} and {b:?} on shard {shard_b} of {shards}"
    );
    Ok(())
}
