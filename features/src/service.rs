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
    /// The `docker-compose.yml` stack (Redis, an HTTP node, two workers) in containers, reached
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
