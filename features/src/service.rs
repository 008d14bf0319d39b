//! Starting and stopping the service under test: in-process, as the real `http-fn` binary, as
//! a local multi-process stack, as that stack with the HTTP tier run as a Lambda function, or as
//! the compose stack in containers.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};

mod binary;
mod compose;
mod in_process;
mod lambda;
mod stack;

pub use compose::ComposeRun;

/// How long a service may take to start or to stop.
const START_DEADLINE: Duration = Duration::from_secs(30);
const STOP_DEADLINE: Duration = Duration::from_secs(10);

/// The kernel's connection-tracking table (netfilter), present when a firewall or Docker loaded
/// it: every TCP connection, loopback ones included, holds an entry, and a closed one keeps it
/// in `TIME_WAIT` for `nf_conntrack_tcp_timeout_time_wait` (120 s by default). While the table is
/// full, the kernel drops the first packet of every new connection (`nf_conntrack: table full,
/// dropping packet`): connects time out, established connections carry on.
const CONNTRACK_COUNT: &str = "/proc/sys/net/netfilter/nf_conntrack_count";
const CONNTRACK_MAX: &str = "/proc/sys/net/netfilter/nf_conntrack_max";
/// Entries left free before a multi-process service starts. One stack scenario opens about 400
/// connections (most of them the workers' connections to Redis: one per owned shard, 256 shards
/// by default, and again for the shards handed over when the second worker joins); four run at
/// once, and other programs on the machine open connections too.
const CONNTRACK_HEADROOM: u64 = 20_000;
/// How long a start waits for room in the table: longer than an entry's `TIME_WAIT`, so waiting
/// in vain means something else keeps the table full.
const CONNTRACK_WAIT: Duration = Duration::from_secs(180);
/// How often the table's fill is looked at while waiting.
const CONNTRACK_POLL: Duration = Duration::from_millis(250);

/// Waits until the connection-tracking table has room for a scenario's connections (at once when
/// there is no such table). A run of the stack or lambda target opens about 270 000 connections
/// in one to three minutes, more than the default table (262 144 entries) holds within
/// `TIME_WAIT`; started into a full table, a scenario's connects to its own Redis or the
/// function's calls to the Location API would be dropped and time out.
pub(crate) async fn wait_for_connection_tracking_room() -> anyhow::Result<()> {
    wait_for_room(
        Path::new(CONNTRACK_COUNT),
        Path::new(CONNTRACK_MAX),
        CONNTRACK_HEADROOM,
        CONNTRACK_WAIT,
    )
    .await
}

/// Waits until the number in `count` leaves `headroom` below the one in `max`, for at most
/// `within`; at once when either file is missing or holds no number.
async fn wait_for_room(
    count: &Path,
    max: &Path,
    headroom: u64,
    within: Duration,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let (Some(used), Some(limit)) = (read_number(count), read_number(max)) else {
            return Ok(());
        };
        if used.saturating_add(headroom) <= limit {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "the kernel's connection-tracking table stayed full ({used} of {limit} entries, \
                 {}) for {within:?}: new connections would be dropped",
                count.display()
            );
        }
        tokio::time::sleep(CONNTRACK_POLL).await;
    }
}

fn read_number(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Where the service runs (`STOCK_FEATURES_TARGET`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The `http-fn` library inside the test process.
    InProcess,
    /// The `http-fn` binary, one process per scenario.
    Binary,
    /// Redis, one `http-fn` node (`NODE_ROLE=http`) and two `actor-worker` nodes per scenario.
    Stack,
    /// The `http-fn` binary as an AWS Lambda function behind a local API Gateway stand-in, with
    /// Redis and two `actor-worker` nodes per scenario.
    Lambda,
    /// The `docker-compose.yml` stack (Redis, an HTTP node, a worker) in containers, reached
    /// through its published loopback port; its nodes restart afresh for every scenario.
    Compose,
}

impl Target {
    /// Reads `STOCK_FEATURES_TARGET` (`inprocess`, the default, `binary`, `stack`, `lambda` or
    /// `compose`).
    pub fn from_env() -> anyhow::Result<Target> {
        match std::env::var("STOCK_FEATURES_TARGET").as_deref() {
            Err(_) | Ok("") | Ok("inprocess") => Ok(Target::InProcess),
            Ok("binary") => Ok(Target::Binary),
            Ok("stack") => Ok(Target::Stack),
            Ok("lambda") => Ok(Target::Lambda),
            Ok("compose") => Ok(Target::Compose),
            Ok(other) => bail!(
                "STOCK_FEATURES_TARGET must be inprocess, binary, stack, lambda or compose, got {other:?}"
            ),
        }
    }
}

/// A running service.
#[derive(Debug)]
pub struct Service {
    addr: SocketAddr,
    running: Running,
}

#[derive(Debug)]
enum Running {
    InProcess(in_process::InProcess),
    Binary(binary::Process),
    Stack(stack::Stack),
    Lambda(lambda::Lambda),
    Compose(compose::Compose),
}

impl Service {
    /// Starts the service with exactly these environment variables (`docs/configuration.md` §2) and waits
    /// until it listens. A binary's stdout and stderr go to `log` (see [`log_path`]), which is
    /// left in place whether or not the start succeeds; a stack's nodes all write there.
    pub async fn start(
        target: Target,
        vars: BTreeMap<String, String>,
        log: &Path,
    ) -> anyhow::Result<Service> {
        let (addr, running) = match target {
            Target::InProcess => {
                let (addr, service) = in_process::InProcess::start(vars).await?;
                (addr, Running::InProcess(service))
            }
            Target::Binary => {
                let (addr, process) = binary::Process::start(vars, log).await?;
                (addr, Running::Binary(process))
            }
            Target::Stack => {
                let (addr, stack) = stack::Stack::start(vars, log).await?;
                (addr, Running::Stack(stack))
            }
            Target::Lambda => {
                let (addr, function) = lambda::Lambda::start(vars, log).await?;
                (addr, Running::Lambda(function))
            }
            Target::Compose => {
                let (addr, stack) = compose::Compose::start(vars, log).await?;
                (addr, Running::Compose(stack))
            }
        };
        Ok(Service { addr, running })
    }

    /// The bound public address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every `/metrics` URL of the service, the public one first. On a stack the workers' admin
    /// listeners follow: the idempotency counters and the loaded-pots gauge live on the nodes
    /// that run the stock pots (`docs/architecture.md` §16.3).
    pub fn metrics_urls(&self) -> Vec<String> {
        match &self.running {
            Running::Stack(stack) => stack.metrics_urls(),
            Running::Lambda(function) => function.metrics_urls(self.addr),
            Running::Compose(stack) => stack.metrics_urls(),
            _ => vec![format!("http://{}/metrics", self.addr)],
        }
    }

    /// Stops the service and waits for it to end.
    pub async fn stop(self) -> anyhow::Result<()> {
        match self.running {
            Running::InProcess(service) => service.stop().await,
            Running::Binary(process) => process.stop().await,
            Running::Stack(stack) => stack.stop().await,
            Running::Lambda(function) => function.stop().await,
            Running::Compose(stack) => stack.stop().await,
        }
    }
}

/// The cargo target directory: `CARGO_TARGET_DIR` (relative to the workspace) or
/// `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    let workspace = workspace_dir();
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace.join(dir),
        _ => workspace.join("target"),
    }
}

/// The debug build of `name` (`http-fn` or `actor-worker`), refused when it is missing or older
/// than a source file of this workspace it was built from (its `.d` file lists them): a test never
/// runs a stale binary.
pub fn debug_binary(name: &str) -> anyhow::Result<PathBuf> {
    let program = target_dir().join("debug").join(name);
    let built = std::fs::metadata(&program)
        .and_then(|meta| meta.modified())
        .map_err(|_| {
            anyhow::anyhow!(
                "{} is missing: build it first with `cargo build --bins`",
                program.display()
            )
        })?;
    let sources = std::fs::read_to_string(program.with_extension("d")).unwrap_or_default();
    let workspace = workspace_dir();
    let newer = sources
        .split_once(": ")
        .map(|(_, files)| files)
        .unwrap_or_default()
        .split_whitespace()
        .map(Path::new)
        .filter(|source| source.starts_with(&workspace))
        .find(|source| {
            std::fs::metadata(source)
                .and_then(|meta| meta.modified())
                .is_ok_and(|modified| modified > built)
        });
    if let Some(newer) = newer {
        anyhow::bail!(
            "{} is older than {}: rebuild it with `cargo build --bins`",
            program.display(),
            newer.display()
        );
    }
    Ok(program)
}

/// The workspace root.
pub fn workspace_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// A fresh log file path under `<target dir>/features-logs/`, named after `label`.
pub fn log_path(label: &str) -> anyhow::Result<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let dir = target_dir().join("features-logs");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let name: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(80)
        .collect();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Ok(dir.join(format!("{name}-{}-{n}.log", std::process::id())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_waits_while_the_connection_tracking_table_is_full() {
        let dir = std::env::temp_dir().join(format!("stock-conntrack-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        let (count, max) = (dir.join("count"), dir.join("max"));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .ok();
        let wait = |headroom| {
            runtime.as_ref().map(|runtime| {
                runtime.block_on(wait_for_room(
                    &count,
                    &max,
                    headroom,
                    Duration::from_millis(300),
                ))
            })
        };
        let missing = wait(10);
        std::fs::write(&count, "95\n").unwrap_or_default();
        std::fs::write(&max, "100\n").unwrap_or_default();
        let room = wait(5);
        let full = wait(10);
        std::fs::write(&count, "90\n").unwrap_or_default();
        let freed = wait(10);
        let _ = std::fs::remove_dir_all(&dir);
        assert!(matches!(missing, Some(Ok(()))), "{missing:?}");
        assert!(matches!(room, Some(Ok(()))), "{room:?}");
        let message = full.and_then(Result::err).map(|e| e.to_string());
        assert!(
            message
                .as_deref()
                .is_some_and(|m| m.contains("95 of 100 entries")),
            "{message:?}"
        );
        assert!(matches!(freed, Some(Ok(()))), "{freed:?}");
    }

    #[test]
    fn log_file_names_are_plain_and_unique() {
        let a = log_path("Untracked till: redirect / 303").unwrap_or_default();
        let b = log_path("Untracked till: redirect / 303").unwrap_or_default();
        assert_ne!(a, b);
        let name = a
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        assert!(
            name.starts_with("untracked-till--redirect---303-"),
            "{name}"
        );
    }
}
