//! The stack target: a throw-away Redis, one `http-fn` node and two `actor-worker` nodes per scenario.
//!
//! Every node is a real child process started with a clean environment (only `PATH` and
//! `docs/configuration.md` §2 variables). All of them write into the scenario's one log file in the binary
//! target's format, as a log collector would gather them: stdout lines as they are (the JSON
//! lines' `target` tells the HTTP tier from the workers), stderr lines after `[stderr] [<node>] `.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde_json::Value;
use shared::testing::TestRedis;
use tokio::process::Child;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{START_DEADLINE, STOP_DEADLINE, debug_binary};
use crate::stack::process::{pump, spawn_clean};

/// The `STOCK_WORKER_ID`s of the stack's workers.
pub(super) const WORKER_IDS: [&str; 2] = ["w1", "w2"];
/// The scenario variables a worker reads; location and JWT settings concern the HTTP tier only.
pub(super) const WORKER_VARS: [&str; 7] = [
    "STOCK_SHARDS",
    "STOCK_LEASE_TTL",
    "STOCK_POT_UNLOAD_AFTER",
    "STOCK_POT_UNLOAD_CHECK_INTERVAL",
    "STOCK_IDEMPOTENCY_RETENTION",
    "RUST_LOG",
    "STOCK_LOG_FORMAT",
];
/// How often the cluster view is asked whether every shard is owned yet.
const POLL_EVERY: Duration = Duration::from_millis(20);
/// Lines of the log quoted in a start-up error.
const TAIL_LINES: usize = 20;

/// The log file every node of one stack writes into.
#[derive(Clone, Debug)]
pub(super) struct Log {
    file: Arc<Mutex<File>>,
    pub(super) path: PathBuf,
}

impl Log {
    pub(super) fn create(path: &Path) -> anyhow::Result<Log> {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Log {
            file: Arc::new(Mutex::new(file)),
            path: path.to_path_buf(),
        })
    }

    pub(super) fn write(&self, line: &str) {
        if let Ok(mut file) = self.file.lock() {
            let _ = writeln!(file, "{line}");
        }
    }

    /// The last lines written, for error messages.
    pub(super) fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
    }
}

/// One running node: a child process and the address it announced.
#[derive(Debug)]
pub(super) struct Node {
    name: &'static str,
    child: Child,
    pub(super) addr: SocketAddr,
}

impl Node {
    /// Spawns `program` with only `vars` (plus `PATH`) and waits for the JSON log line whose
    /// top-level string field `addr_field` holds its bound address.
    pub(super) async fn start(
        name: &'static str,
        program: &str,
        vars: &BTreeMap<String, String>,
        log: &Log,
        addr_field: &'static str,
    ) -> anyhow::Result<Node> {
        let path = debug_binary(program)?;
        let mut child = spawn_clean(&path, vars)?;
        let (found, announced) = oneshot::channel();
        let mut pumps = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            let sink = {
                let log = log.clone();
                move |line: &str| log.write(line)
            };
            pumps.push(tokio::spawn(pump(stdout, sink, Some((addr_field, found)))));
        }
        if let Some(stderr) = child.stderr.take() {
            let prefix = format!("[stderr] [{name}] ");
            let log = log.clone();
            let sink = move |line: &str| log.write(&format!("{prefix}{line}"));
            pumps.push(tokio::spawn(pump(stderr, sink, None)));
        }
        // The sender is dropped when stdout closes, i.e. when the process is on its way out.
        match tokio::time::timeout(START_DEADLINE, announced).await {
            Ok(Ok(addr)) => Ok(Node { name, child, addr }),
            Ok(Err(_)) => Err(exited_early(name, child, pumps, log).await),
            Err(_) => {
                let _ = child.start_kill();
                Err(anyhow!(
                    "{name} logged no line with a top-level \"{addr_field}\" within \
                     {START_DEADLINE:?}; log: {}",
                    log.path.display()
                ))
            }
        }
    }

    /// SIGKILL, then reap.
    pub(super) async fn stop(mut self) -> anyhow::Result<()> {
        if self.child.try_wait()?.is_none() {
            self.child
                .start_kill()
                .with_context(|| format!("killing {}", self.name))?;
        }
        tokio::time::timeout(STOP_DEADLINE, self.child.wait())
            .await
            .with_context(|| format!("{} did not exit after being killed", self.name))?
            .with_context(|| format!("waiting for {}", self.name))?;
        Ok(())
    }
}

/// Reaps a node that closed its output before announcing its address and says how it ended,
/// quoting the end of the log (where a refused configuration names its variable).
pub(super) async fn exited_early(
    name: &str,
    mut child: Child,
    pumps: Vec<JoinHandle<()>>,
    log: &Log,
) -> anyhow::Error {
    let status = match tokio::time::timeout(STOP_DEADLINE, child.wait()).await {
        Ok(Ok(status)) => status.to_string(),
        _ => "still running".to_owned(),
    };
    // The log is complete once both streams are drained.
    for pump in pumps {
        let _ = tokio::time::timeout(STOP_DEADLINE, pump).await;
    }
    anyhow!(
        "{name} ended ({status}) before listening; log: {}\n{}",
        log.path.display(),
        log.tail()
    )
}

/// A running stack: Redis, the HTTP node and the workers.
#[derive(Debug)]
pub(super) struct Stack {
    http: Node,
    workers: Vec<Node>,
    redis: TestRedis,
}

impl Stack {
    /// Starts Redis, the HTTP node and the workers with the scenario's `vars`, then waits until
    /// every shard is owned, so the scenario's first write does not wait for a claim.
    pub(super) async fn start(
        vars: BTreeMap<String, String>,
        log_path: &Path,
    ) -> anyhow::Result<(SocketAddr, Stack)> {
        let log = Log::create(log_path)?;
        super::wait_for_connection_tracking_room().await?;
        let redis = tokio::task::spawn_blocking(TestRedis::start)
            .await
            .context("starting redis-server")?;
        let redis_url = redis.url();
        let http = Node::start(
            "http",
            "http-fn",
            &http_vars(&vars, &redis_url),
            &log,
            "http_addr",
        )
        .await?;
        let workers = WORKER_IDS.map(|id| {
            let vars = worker_vars(&vars, &redis_url, id);
            let log = log.clone();
            async move { Node::start(id, "actor-worker", &vars, &log, "admin_addr").await }
        });
        let workers = futures::future::try_join_all(workers).await?;
        let stack = Stack {
            http,
            workers,
            redis,
        };
        if let Err(error) = wait_until_every_shard_is_owned(stack.http.addr).await {
            let message = format!("{error:#}; log: {}\n{}", log.path.display(), log.tail());
            let _ = stack.stop().await;
            bail!(message);
        }
        Ok((stack.http.addr, stack))
    }

    /// The `/metrics` URL of the HTTP node, then of each worker's admin listener.
    pub(super) fn metrics_urls(&self) -> Vec<String> {
        std::iter::once(&self.http)
            .chain(&self.workers)
            .map(|node| format!("http://{}/metrics", node.addr))
            .collect()
    }

    /// Kills every node and Redis.
    pub(super) async fn stop(self) -> anyhow::Result<()> {
        let mut result = self.http.stop().await;
        for worker in self.workers {
            result = result.and(worker.stop().await);
        }
        // Dropping the server kills and reaps it, a blocking wait.
        let redis = self.redis;
        tokio::task::spawn_blocking(move || drop(redis))
            .await
            .context("stopping redis-server")?;
        result
    }
}

/// Polls `GET /health/cluster` at `addr` until it reports `"unowned":0`.
pub(super) async fn wait_until_every_shard_is_owned(addr: SocketAddr) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(START_DEADLINE)
        .build()
        .context("building an HTTP client")?;
    let url = format!("http://{addr}/health/cluster");
    let deadline = tokio::time::Instant::now() + START_DEADLINE;
    loop {
        let last = match client.get(&url).send().await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(error) => format!("{:#}", anyhow::Error::from(error)),
        };
        if unowned_shards(&last) == Some(0) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("shards still unowned after {START_DEADLINE:?}: GET {url} gave {last}");
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// The HTTP node's environment: the scenario's, in the `http` role on a free port, on Redis.
pub(super) fn http_vars(
    scenario: &BTreeMap<String, String>,
    redis_url: &str,
) -> BTreeMap<String, String> {
    let mut vars = scenario.clone();
    vars.insert("NODE_ROLE".to_owned(), "http".to_owned());
    vars.insert("STOCK_HTTP_ADDR".to_owned(), "127.0.0.1:0".to_owned());
    vars.insert("STOCK_REDIS_URL".to_owned(), redis_url.to_owned());
    vars
}

/// A worker's environment: the scenario's worker settings, in the `actor` role, with its own id
/// and an admin listener on a free port.
pub(super) fn worker_vars(
    scenario: &BTreeMap<String, String>,
    redis_url: &str,
    id: &str,
) -> BTreeMap<String, String> {
    let mut vars: BTreeMap<String, String> = scenario
        .iter()
        .filter(|(name, _)| WORKER_VARS.contains(&name.as_str()))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    vars.insert("NODE_ROLE".to_owned(), "actor".to_owned());
    vars.insert("STOCK_ADMIN_ADDR".to_owned(), "127.0.0.1:0".to_owned());
    vars.insert("STOCK_WORKER_ID".to_owned(), id.to_owned());
    vars.insert("STOCK_REDIS_URL".to_owned(), redis_url.to_owned());
    vars
}

/// `shards.unowned` of a `/health/cluster` body.
pub(super) fn unowned_shards(body: &str) -> Option<u64> {
    let body: Value = serde_json::from_str(body).ok()?;
    body.get("shards")?.get("unowned")?.as_u64()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A scenario's settings.
    pub(in crate::service) fn scenario() -> BTreeMap<String, String> {
        [
            ("NODE_ROLE", "both"),
            ("STOCK_HTTP_ADDR", "127.0.0.1:0"),
            ("STOCK_LOCATIONS_FILE", "/tmp/locations.json"),
            ("STOCK_JWT_ISSUER", "issuer"),
            ("STOCK_LOG_FORMAT", "json"),
            ("STOCK_SHARDS", "8"),
            ("STOCK_POT_UNLOAD_AFTER", "200ms"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn the_http_node_gets_the_scenario_settings_in_the_http_role_on_redis() {
        let vars = http_vars(&scenario(), "redis://127.0.0.1:1/");
        assert_eq!(vars["NODE_ROLE"], "http");
        assert_eq!(vars["STOCK_HTTP_ADDR"], "127.0.0.1:0");
        assert_eq!(vars["STOCK_REDIS_URL"], "redis://127.0.0.1:1/");
        assert_eq!(vars["STOCK_JWT_ISSUER"], "issuer");
        assert_eq!(vars["STOCK_SHARDS"], "8");
        assert!(!vars.contains_key("STOCK_ADMIN_ADDR"));
    }

    #[test]
    fn a_worker_gets_only_worker_settings_with_its_own_id_and_admin_port() {
        let vars = worker_vars(&scenario(), "redis://127.0.0.1:1/", "w2");
        let names: Vec<&str> = vars.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "NODE_ROLE",
                "STOCK_ADMIN_ADDR",
                "STOCK_LOG_FORMAT",
                "STOCK_POT_UNLOAD_AFTER",
                "STOCK_REDIS_URL",
                "STOCK_SHARDS",
                "STOCK_WORKER_ID",
            ]
        );
        assert_eq!(vars["NODE_ROLE"], "actor");
        assert_eq!(vars["STOCK_WORKER_ID"], "w2");
        assert_eq!(vars["STOCK_ADMIN_ADDR"], "127.0.0.1:0");
    }

    #[test]
    fn the_unowned_count_is_read_from_the_cluster_view() {
        let body =
            r#"{"workers":[{"id":"w1","shards":8}],"shards":{"total":8,"owned":8,"unowned":0}}"#;
        assert_eq!(unowned_shards(body), Some(0));
        assert_eq!(unowned_shards(r#"{"shards":{"unowned":3}}"#), Some(3));
        assert_eq!(unowned_shards(r#"{"status":"ServiceUnavailable"}"#), None);
        assert_eq!(unowned_shards("not json"), None);
    }
}
