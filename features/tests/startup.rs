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
use features::service::{debug_binary, target_dir, workspace_dir};
use features::token::{AUDIENCE, ISSUER, Keys};
use serde_json::Value;
use shared::testing::TestRedis;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// Longest wait for a process to listen, answer or exit.
const DEADLINE: Duration = Duration::from_secs(30);
/// Pause between two readiness probes of a starting process.
const PROBE_EVERY: Duration = Duration::from_millis(1);

/// A process's environment: names and values.
type Vars<'a> = [(&'a str, &'a OsStr)];

/// `café` in Latin-1: not UTF-8.
fn latin1() -> &'static OsStr {
    OsStr::from_bytes(b"caf\xe9")
}

/// `binary` with only `vars` (plus `PATH`) in its environment, its output piped: the debug
/// build, or the release build with `STOCK_STARTUP_PROFILE=release` (built beforehand).
fn command(binary: &str, args: &[&str], vars: &Vars) -> Command {
    let program = match std::env::var("STOCK_STARTUP_PROFILE").as_deref() {
        Ok("release") => target_dir().join("release").join(binary),
        _ => debug_binary(binary).unwrap_or_else(|error| panic!("{error:#}")),
    };
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

/// Waits until `GET /health/ready` at `addr` answers 200, probing every [`PROBE_EVERY`].
async fn ready(addr: SocketAddr) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().timeout(DEADLINE).build()?;
    let until = Instant::now() + DEADLINE;
    while Instant::now() < until {
        let probe = client.get(format!("http://{addr}/health/ready")).send();
        if probe.await.is_ok_and(|answer| answer.status() == 200) {
            return Ok(());
        }
        tokio::time::sleep(PROBE_EVERY).await;
    }
    bail!("{addr} not ready within {DEADLINE:?}")
}

/// Process start to a ready node (`/health/ready` answering 200), ten times per binary, over a
/// local Redis: an HTTP node (`NODE_ROLE=http`, a public key file, the demo estate) and a worker.
/// Figures for docs/PERFORMANCE.md, not a check:
///
/// ```text
/// cargo build --release --bin http-fn --bin actor-worker
/// STOCK_STARTUP_PROFILE=release cargo test -p features --test startup cold_start -- --ignored --nocapture
/// ```
#[tokio::test]
#[ignore = "prints figures for docs/PERFORMANCE.md"]
async fn cold_start_to_ready_figures() {
    const RUNS: usize = 10;
    let redis = TestRedis::start();
    let url = redis.url();
    let (local, shards) = (text("127.0.0.1:0"), text("4"));
    let keys = Keys::generate().unwrap();
    let key_file = std::env::temp_dir().join(format!("stock-startup-{}.pem", std::process::id()));
    std::fs::write(&key_file, &keys.public_pem).unwrap();
    let locations = workspace_dir().join("infra/demo/locations.json");
    let http = [
        ("NODE_ROLE", text("http")),
        ("STOCK_REDIS_URL", text(&url)),
        ("STOCK_HTTP_ADDR", local),
        ("STOCK_SHARDS", shards),
        ("STOCK_LOCATIONS_FILE", locations.as_os_str()),
        ("STOCK_JWT_PUBLIC_KEY_FILE", key_file.as_os_str()),
        ("STOCK_JWT_ISSUER", text(ISSUER)),
        ("STOCK_JWT_AUDIENCE", text(AUDIENCE)),
    ];
    let worker = [
        ("STOCK_REDIS_URL", text(&url)),
        ("STOCK_ADMIN_ADDR", local),
        ("STOCK_SHARDS", shards),
    ];
    let nodes: [(&str, &Vars, &str); 2] = [
        ("http-fn", &http, "http_addr"),
        ("actor-worker", &worker, "admin_addr"),
    ];
    for (binary, vars, field) in nodes {
        let mut times = Vec::new();
        for _ in 0..RUNS {
            let mut command = command(binary, &[], vars);
            let started = Instant::now();
            let mut child = command.spawn().unwrap();
            let addr = announced(&mut child, field).await.unwrap();
            ready(addr).await.unwrap();
            times.push(started.elapsed());
            child.start_kill().unwrap();
            tokio::time::timeout(DEADLINE, child.wait())
                .await
                .unwrap()
                .unwrap();
        }
        times.sort();
        println!(
            "{binary}: process start to ready, {RUNS} runs: median {:?}, min {:?}, max {:?}",
            times[RUNS / 2],
            times[0],
            times[RUNS - 1]
        );
    }
    let _ = std::fs::remove_file(&key_file);
}
