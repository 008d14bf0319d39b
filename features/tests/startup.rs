//! Start-up of both binaries with environment variables that are not UTF-8: one the service does
//! not read changes nothing; one it reads stops the process with a one-line error naming it.
//!
//! Needs the debug binaries (`cargo build -p http-fn -p actor-worker`) and `redis-server` on
//! `PATH`.

#![allow(clippy::unwrap_used)]

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use features::service::debug_binary;
use serde_json::Value;
use shared::testing::TestRedis;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Longest wait for a process to listen, answer or exit.
const DEADLINE: Duration = Duration::from_secs(30);

/// `café` in Latin-1: not UTF-8.
fn latin1() -> &'static OsStr {
    OsStr::from_bytes(b"caf\xe9")
}

/// `binary` with only `vars` (plus `PATH`) in its environment, its output piped.
fn command(binary: &str, args: &[&str], vars: &[(&str, &OsStr)]) -> Command {
    let program = debug_binary(binary).unwrap_or_else(|error| panic!("{error:#}"));
    let mut command = Command::new(program);
    command
        .args(args)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    for (name, value) in vars {
        command.env(name, value);
    }
    command
}

/// The address of the first JSON log line on stdout with a string field `field`; the rest of
/// the output is drained in the background so that the process never blocks on it.
async fn announced(child: &mut Child, field: &str) -> anyhow::Result<SocketAddr> {
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let found = async {
        while let Some(line) = lines.next_line().await? {
            let value: Option<Value> = serde_json::from_str(&line).ok();
            if let Some(addr) = value.as_ref().and_then(|v| v.get(field)?.as_str()) {
                return addr.parse().context("announced address");
            }
        }
        bail!("the output ended before a line with {field}")
    };
    let addr = tokio::time::timeout(DEADLINE, found)
        .await
        .with_context(|| format!("no line with {field} within {DEADLINE:?}"))??;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(addr)
}

/// Starts the process, waits until it listens and checks that it answers `/health/live`.
async fn starts_and_serves(mut command: Command, field: &str) -> anyhow::Result<()> {
    let mut child = command.spawn().context("spawning")?;
    let served = async {
        let addr = announced(&mut child, field).await?;
        let client = reqwest::Client::builder().timeout(DEADLINE).build()?;
        let answer = client
            .get(format!("http://{addr}/health/live"))
            .send()
            .await?;
        ensure!(
            answer.status() == 200,
            "/health/live answered {}",
            answer.status()
        );
        Ok(())
    }
    .await;
    child.start_kill().context("stopping")?;
    tokio::time::timeout(DEADLINE, child.wait()).await??;
    served
}

/// Runs the process to its end; returns its exit code and standard error.
async fn exits(mut command: Command) -> anyhow::Result<(Option<i32>, String)> {
    let output = tokio::time::timeout(DEADLINE, command.output())
        .await
        .context("the process did not exit")??;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    Ok((output.status.code(), stderr))
}

fn text(value: &str) -> &OsStr {
    OsStr::new(value)
}

#[tokio::test]
async fn a_variable_the_service_does_not_read_may_hold_any_bytes() {
    let local = text("127.0.0.1:0");
    let http = command(
        "http-fn",
        &["--demo"],
        &[("STOCK_HTTP_ADDR", local), ("LC_UNRELATED", latin1())],
    );
    starts_and_serves(http, "http_addr").await.unwrap();
    let redis = TestRedis::start();
    let url = redis.url();
    let worker = command(
        "actor-worker",
        &[],
        &[
            ("STOCK_REDIS_URL", text(&url)),
            ("STOCK_ADMIN_ADDR", local),
            ("STOCK_SHARDS", text("4")),
            ("LC_UNRELATED", latin1()),
            // Only the HTTP tier reads the public address.
            ("STOCK_HTTP_ADDR", latin1()),
        ],
    );
    starts_and_serves(worker, "admin_addr").await.unwrap();
}

#[tokio::test]
async fn a_variable_the_service_reads_that_is_not_utf8_stops_it_with_one_line() {
    let http = command("http-fn", &["--demo"], &[("STOCK_SHARDS", latin1())]);
    let (code, stderr) = exits(http).await.unwrap();
    assert_eq!(
        (code, stderr.as_str()),
        (Some(2), "STOCK_SHARDS: must be valid UTF-8\n")
    );
    let worker = command("actor-worker", &[], &[("STOCK_REDIS_URL", latin1())]);
    let (code, stderr) = exits(worker).await.unwrap();
    assert_eq!(
        (code, stderr.as_str()),
        (Some(2), "STOCK_REDIS_URL: must be valid UTF-8\n")
    );
}

#[tokio::test]
async fn a_shard_count_other_than_the_datasets_is_a_configuration_error_exit_2() {
    let redis = TestRedis::start();
    let url = redis.url();
    let local = text("127.0.0.1:0");
    let worker = |shards: &'static str| {
        command(
            "actor-worker",
            &[],
            &[
                ("STOCK_REDIS_URL", text(&url)),
                ("STOCK_ADMIN_ADDR", local),
                ("STOCK_SHARDS", text(shards)),
            ],
        )
    };
    starts_and_serves(worker("4"), "admin_addr").await.unwrap();
    let (code, stderr) = exits(worker("8")).await.unwrap();
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("STOCK_SHARDS is 8"), "{stderr}");
}
