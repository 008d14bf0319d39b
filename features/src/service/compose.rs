//! The compose target: the repository's `docker-compose.yml` stack (Redis, the one-shot `keys`
//! service, an HTTP node and a worker in containers, the file's default scale), reached through its
//! published loopback ports.
//!
//! A run brings up a few stacks, each a compose project of its own named after the test process,
//! and hands them to scenarios one at a time. Before a scenario its HTTP node and workers are
//! stopped, Redis is emptied (`FLUSHALL` through Redis' port, published on 127.0.0.1 for the
//! test), and the nodes start again as fresh processes with the scenario's settings: an override
//! file beside the compose file sets their whole environment (a setting the scenario leaves unset
//! is empty, which the service reads as unset, docs/configuration.md), and compose recreates the
//! containers whose settings changed. The run's scratch directory is mounted read-only at the same
//! path, so file settings name the same files inside the containers; the locations file is reached
//! through a link per stack, so a scenario's own estate does not change the settings. Fakes the
//! service calls (the Location API, an OTLP collector) listen on the gateway of a network of the
//! run's own. Every container's output goes into the scenario's log in the stack target's format.
//! [`ComposeRun`] removes the stacks and their volumes when dropped.
//!
//! The stacks run the compose file with one change ([`node_network_file`]): the HTTP node and the
//! worker share the network namespace of a `nodes` container that stays up for the whole run. It
//! joins the networks the file gives the two nodes (and the network of fakes) and publishes their
//! ports, so restarting a node sets up no network: on this engine a container's network set-up
//! (bridge ports, addresses, firewall rules, port proxies) was most of the cost of a restart,
//! 0.69 CPU-s for the HTTP node on three networks against 0.28 CPU-s in a shared namespace
//! (docs/RELIABILITY.md, "Containers"). Stops, starts, inspections and the nodes' output go
//! through the engine's API ([`crate::engine`]). The container tests
//! (`features/tests/containers.rs`) run the file unchanged.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};
use tokio::process::Command;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use super::START_DEADLINE;
use super::stack::{Log, http_vars, unowned_shards, worker_vars};
use crate::compose::{Project, build_images, docker_blocking, inspect, published, random_hex};
use crate::engine;
use crate::service::workspace_dir;

/// Stacks of a run (`STOCK_FEATURES_COMPOSE_STACKS` overrides it): scenarios run this many at a time.
const DEFAULT_STACKS: usize = 4;
/// Workers of each stack: the compose file's default. Every container started costs about 0.3 s
/// of CPU on the engine's side (docs/RELIABILITY.md, "Containers"), and each scenario starts all
/// of its nodes; the stack and Lambda targets run two workers, the container tests three to five.
const WORKERS: usize = 1;
/// Redis' health-check interval in the tests' stacks. Each check is a process started in the
/// container; the compose file's 500 ms, meant to shorten a user's first start, would cost the
/// run's four idle stacks close to half a core. Only a stack's first start waits for it.
const REDIS_HEALTH_INTERVAL: &str = "5s";
/// The service whose network namespace the HTTP node and the workers share. Its ports are the
/// nodes' ports, so a stack runs one worker (`WORKERS`): a second would find the admin port taken.
const NODE_NETWORK: &str = "nodes";
/// How often a starting stack is looked at.
const POLL_EVERY: Duration = Duration::from_millis(50);
/// How long the copy of a log may take to end.
const LOG_DRAIN: Duration = Duration::from_secs(5);
/// Lines of the log quoted in a start-up error.
const TAIL_LINES: usize = 20;
/// Every variable `docker-compose.yml` gives the HTTP node or the workers: each is set explicitly,
/// empty when the scenario leaves it unset.
const COMPOSE_VARS: [&str; 12] = [
    "NODE_ROLE",
    "RUST_LOG",
    "STOCK_ADMIN_ADDR",
    "STOCK_HTTP_ADDR",
    "STOCK_JWT_AUDIENCE",
    "STOCK_JWT_ISSUER",
    "STOCK_JWT_PUBLIC_KEY_FILE",
    "STOCK_LEASE_TTL",
    "STOCK_LOCATIONS_FILE",
    "STOCK_REDIS_URL",
    "STOCK_SHARDS",
    "STOCK_WORKER_ID",
];
static RUN: OnceLock<Pool> = OnceLock::new();

/// The compose stacks of one test run; dropping it takes them down with their volumes.
#[derive(Debug)]
pub struct ComposeRun {
    fake_host: IpAddr,
    stacks: usize,
}

impl ComposeRun {
    /// Builds the images when missing or stale, and creates the run's network for fakes. `shared`
    /// is the run's scratch directory, mounted into every HTTP node.
    pub fn start(shared: &Path) -> anyhow::Result<ComposeRun> {
        if RUN.get().is_some() {
            bail!("the compose stacks of this run are already set up");
        }
        build_images()?;
        let prefix = format!("stockfeatures{}", std::process::id());
        let network = format!("{prefix}-fakes");
        docker_blocking(&["network", "create", &network])?;
        let fake_host = docker_blocking(&[
            "network",
            "inspect",
            "-f",
            "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
            &network,
        ])
        .and_then(|out| {
            out.trim()
                .parse::<IpAddr>()
                .with_context(|| format!("the gateway of {network}: {out:?}"))
        });
        let fake_host = match fake_host {
            Ok(host) => host,
            Err(error) => {
                let _ = docker_blocking(&["network", "rm", &network]);
                return Err(error);
            }
        };
        let stacks: usize = std::env::var("STOCK_FEATURES_COMPOSE_STACKS")
            .ok()
            .and_then(|n| n.parse().ok())
            .filter(|n| *n > 0)
            .unwrap_or(DEFAULT_STACKS);
        let password = random_hex(16);
        let file = shared.join("compose.json");
        let written = std::fs::read_to_string(workspace_dir().join("docker-compose.yml"))
            .context("reading docker-compose.yml")
            .and_then(|text| node_network_file(&text, &network))
            .and_then(|doc| Ok(std::fs::write(&file, doc.to_string())?));
        if let Err(error) = written {
            let _ = docker_blocking(&["network", "rm", &network]);
            return Err(error.context("writing the tests' compose file"));
        }
        let slots = (1..=stacks)
            .map(|n| {
                let dir = shared.join(format!("compose-{n}"));
                let env = [
                    ("STOCK_REDIS_USER".to_owned(), "stock".to_owned()),
                    ("STOCK_REDIS_PASSWORD".to_owned(), password.clone()),
                ];
                Slot {
                    project: Project::new(
                        &format!("{prefix}s{n}"),
                        &dir.join("override.json"),
                        env.into_iter().collect(),
                    )
                    .on_file(&file),
                    dir,
                    applied: None,
                    containers: None,
                }
            })
            .collect();
        let pool = Pool {
            slots: Mutex::new(slots),
            free: Arc::new(Semaphore::new(stacks)),
            shared: shared.to_path_buf(),
            network,
            password,
            used: Mutex::new(Vec::new()),
        };
        RUN.set(pool)
            .map_err(|_| anyhow!("the compose stacks of this run are already set up"))?;
        Ok(ComposeRun { fake_host, stacks })
    }

    /// The address fakes bind to so that the HTTP nodes reach them.
    pub fn fake_host(&self) -> IpAddr {
        self.fake_host
    }

    /// How many stacks the run has: scenarios that can run at the same time.
    pub fn stacks(&self) -> usize {
        self.stacks
    }
}

impl Drop for ComposeRun {
    fn drop(&mut self) {
        let Some(pool) = RUN.get() else { return };
        let used = pool.used.lock().map(|u| u.clone()).unwrap_or_default();
        for project in used {
            if let Err(error) = project.compose_blocking(&["down", "-v", "--timeout", "0"]) {
                eprintln!("taking down {}: {error:#}", project.name());
            }
        }
        let _ = docker_blocking(&["network", "rm", &pool.network]);
    }
}

#[derive(Debug)]
struct Pool {
    slots: Mutex<Vec<Slot>>,
    free: Arc<Semaphore>,
    shared: PathBuf,
    network: String,
    password: String,
    /// The stacks brought up so far, to take down at the end.
    used: Mutex<Vec<Project>>,
}

/// One compose project of the run.
#[derive(Debug)]
struct Slot {
    project: Project,
    /// Where its override file and the link to the locations file are.
    dir: PathBuf,
    /// The override file the containers run with.
    applied: Option<String>,
    containers: Option<Containers>,
}

/// The containers of a stack.
#[derive(Clone, Debug)]
struct Containers {
    redis_port: u16,
    /// The container holding the nodes' network namespace and their published ports.
    network: String,
    http: String,
    workers: Vec<String>,
}

impl Containers {
    fn nodes(&self) -> impl Iterator<Item = (String, &str)> {
        std::iter::once(("http".to_owned(), self.http.as_str())).chain(
            self.workers
                .iter()
                .enumerate()
                .map(|(i, id)| (format!("worker-{}", i + 1), id.as_str())),
        )
    }
}

/// A scenario's stack.
#[derive(Debug)]
pub(super) struct Compose {
    slot: Option<Slot>,
    _permit: OwnedSemaphorePermit,
    metrics: Vec<String>,
    /// The tasks copying the nodes' output into the scenario's log.
    logs: Vec<JoinHandle<()>>,
}

impl Drop for Compose {
    fn drop(&mut self) {
        if let (Some(slot), Some(pool)) = (self.slot.take(), RUN.get())
            && let Ok(mut slots) = pool.slots.lock()
        {
            slots.push(slot);
        }
    }
}

impl Compose {
    /// Takes a free stack of the run, restarts its nodes afresh with the scenario's `vars`, and
    /// waits until every shard is owned.
    pub(super) async fn start(
        vars: BTreeMap<String, String>,
        log_path: &Path,
    ) -> anyhow::Result<(SocketAddr, Compose)> {
        let pool = RUN
            .get()
            .context("the compose target needs the run's stacks set up (ComposeRun::start)")?;
        let permit = pool.free.clone().acquire_owned().await?;
        let slot = pool
            .slots
            .lock()
            .map_err(|_| anyhow!("the stack pool is poisoned"))?
            .pop()
            .context("no free stack although a permit was granted")?;
        let mut compose = Compose {
            slot: Some(slot),
            _permit: permit,
            metrics: Vec::new(),
            logs: Vec::new(),
        };
        let log = Log::create(log_path)?;
        let addr = compose.prepare(pool, &vars, &log).await?;
        Ok((addr, compose))
    }

    async fn prepare(
        &mut self,
        pool: &Pool,
        vars: &BTreeMap<String, String>,
        log: &Log,
    ) -> anyhow::Result<SocketAddr> {
        let slot = self.slot.as_mut().context("the stack was handed back")?;
        std::fs::create_dir_all(&slot.dir)
            .with_context(|| format!("creating {}", slot.dir.display()))?;
        let vars = link_locations_file(&slot.dir, vars)?;
        let override_text = override_file(pool, &vars).to_string();
        std::fs::write(slot.dir.join("override.json"), &override_text)?;
        let project = &slot.project;
        let scale = format!("worker={WORKERS}");
        let mut timings = Timings::new();
        let mut since = unix_now();
        let containers = match slot.containers.clone() {
            None => {
                if let Ok(mut used) = pool.used.lock()
                    && !used.iter().any(|p| p.name() == project.name())
                {
                    used.push(project.clone());
                }
                project.compose(&["up", "-d", "--scale", &scale]).await?;
                containers(project, None).await?
            }
            Some(running) => {
                let nodes: Vec<&str> = running.nodes().map(|(_, id)| id).collect();
                each(&nodes, engine::stop).await?;
                timings.mark("stop");
                flush(&pool.password, running.redis_port).await?;
                timings.mark("flush");
                since = unix_now();
                if slot.applied.as_deref() == Some(override_text.as_str()) {
                    each(&nodes, engine::start).await?;
                    running
                } else {
                    let args = ["up", "-d", "--no-deps", "--scale", &scale, "http", "worker"];
                    project.compose(&args).await?;
                    timings.mark("recreate");
                    containers(project, Some(&running)).await?
                }
            }
        };
        timings.mark("start");
        slot.applied = Some(override_text);
        slot.containers = Some(containers.clone());
        for (node, id) in containers.nodes() {
            self.logs.push(follow_log(id, &node, since, log));
        }
        timings.mark("logs");
        let ready = async {
            let ports = published_ports(&containers).await?;
            timings.mark("ports");
            let http = ports.first().copied().context("no published HTTP port")?;
            wait_until_ready(http, &containers).await?;
            timings.mark("ready");
            timings.report(project.name());
            Ok::<_, anyhow::Error>((http, ports))
        };
        match ready.await {
            Ok((http, ports)) => {
                self.metrics = ports
                    .iter()
                    .map(|addr| format!("http://{addr}/metrics"))
                    .collect();
                Ok(http)
            }
            Err(error) => {
                // The output of a node that ended is complete once its log is copied.
                for copying in &mut self.logs {
                    let _ = tokio::time::timeout(LOG_DRAIN, copying).await;
                }
                let ended = ended_output(&containers).await;
                let tail = if ended.is_empty() { log.tail() } else { ended };
                bail!("{error:#}; log: {}\n{tail}", log.path.display());
            }
        }
    }

    /// The `/metrics` URL of the HTTP node, then of each worker's admin listener.
    pub(super) fn metrics_urls(&self) -> Vec<String> {
        self.metrics.clone()
    }

    /// Stops following the logs and hands the stack back; its nodes stop when the next scenario
    /// takes it.
    pub(super) async fn stop(mut self) -> anyhow::Result<()> {
        for copying in self.logs.drain(..) {
            copying.abort();
        }
        Ok(())
    }
}

/// Copies container `id`'s output from `since` on into `log` until the container stops (or the
/// task is aborted): stdout lines as they are, stderr lines after `[stderr] [<node>] `.
fn follow_log(id: &str, node: &str, since: f64, log: &Log) -> JoinHandle<()> {
    let (id, log) = (id.to_owned(), log.clone());
    let prefix = format!("[stderr] [{node}] ");
    tokio::spawn(async move {
        let sink = |stderr: bool, line: &str| {
            if stderr {
                log.write(&format!("{prefix}{line}"));
            } else {
                log.write(line);
            }
        };
        if let Err(error) = engine::follow_log(&id, since, sink).await {
            log.write(&format!("{prefix}following the log: {error:#}"));
        }
    })
}

/// Runs `action` on every container of `ids` side by side (the engine works on them at once).
async fn each<'a, F, Fut>(ids: &[&'a str], action: F) -> anyhow::Result<()>
where
    F: Fn(&'a str) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    for done in futures::future::join_all(ids.iter().map(|id| action(id))).await {
        done?;
    }
    Ok(())
}

/// The last lines of every node that is no longer running (where a refused setting is named).
async fn ended_output(containers: &Containers) -> String {
    let mut text = String::new();
    for (node, id) in containers.nodes() {
        if inspect(id, "{{.State.Status}}")
            .await
            .is_ok_and(|s| s == "running")
        {
            continue;
        }
        let tail = TAIL_LINES.to_string();
        let output = Command::new("docker")
            .args(["logs", "--tail", &tail, id])
            .stdin(Stdio::null())
            .output()
            .await;
        if let Ok(output) = output {
            text.push_str(&format!("[{node}]\n"));
            text.push_str(&String::from_utf8_lossy(&output.stdout));
            text.push_str(&String::from_utf8_lossy(&output.stderr));
        }
    }
    text
}

/// Points the stack's link at the scenario's locations file and the setting at the link.
fn link_locations_file(
    dir: &Path,
    vars: &BTreeMap<String, String>,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut vars = vars.clone();
    if let Some(file) = vars.get_mut("STOCK_LOCATIONS_FILE") {
        let link = dir.join("locations.json");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&*file, &link)
            .with_context(|| format!("linking {} to {file}", link.display()))?;
        *file = link.display().to_string();
    }
    Ok(vars)
}

/// The override file of a scenario: the nodes' whole environment, no restarts (a node that
/// refuses its settings stays down), no health checks before a day (their probes would show up in what the
/// scenarios count), Redis published on loopback and checked less often, and the scratch directory
/// mounted.
fn override_file(pool: &Pool, vars: &BTreeMap<String, String>) -> Value {
    let redis_url = format!("redis://stock:{}@redis:6379", pool.password);
    let shared = pool.shared.display().to_string();
    json!({
        "services": {
            "redis": {
                "ports": ["127.0.0.1::6379"],
                "healthcheck": { "interval": REDIS_HEALTH_INTERVAL },
            },
            "http": {
                "environment": http_env(vars, &redis_url),
                "restart": "no",
                "healthcheck": { "interval": "24h" },
                "volumes": [format!("{shared}:{shared}:ro")],
            },
            "worker": {
                "environment": worker_env(vars, &redis_url),
                "restart": "no",
                "healthcheck": { "interval": "24h" },
            },
        },
    })
}

/// Every compose variable empty (`RUST_LOG` at its default, `info`: an empty filter would log
/// nothing), then `set` over it.
fn complete(set: BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = COMPOSE_VARS
        .iter()
        .map(|name| {
            let default = if *name == "RUST_LOG" { "info" } else { "" };
            ((*name).to_owned(), default.to_owned())
        })
        .collect();
    env.extend(set);
    env
}

/// The HTTP node's environment: the stack target's, listening on the published port.
fn http_env(vars: &BTreeMap<String, String>, redis_url: &str) -> BTreeMap<String, String> {
    let mut env = http_vars(vars, redis_url);
    env.insert("STOCK_HTTP_ADDR".to_owned(), "0.0.0.0:8080".to_owned());
    complete(env)
}

/// A worker's environment: the stack target's, with its admin listener on the published port and
/// an id of its own (its host name, the container's).
fn worker_env(vars: &BTreeMap<String, String>, redis_url: &str) -> BTreeMap<String, String> {
    let mut env = worker_vars(vars, redis_url, "");
    env.remove("STOCK_WORKER_ID");
    env.insert("STOCK_ADMIN_ADDR".to_owned(), "0.0.0.0:9090".to_owned());
    complete(env)
}

/// Empties the stack's Redis through its published port.
async fn flush(password: &str, port: u16) -> anyhow::Result<()> {
    let url = format!("redis://stock:{password}@127.0.0.1:{port}/");
    let client = redis::Client::open(url)?;
    let mut connection =
        tokio::time::timeout(START_DEADLINE, client.get_multiplexed_async_connection())
            .await
            .context("connecting to the stack's Redis")??;
    let _: () = redis::cmd("FLUSHALL")
        .query_async(&mut connection)
        .await
        .context("FLUSHALL")?;
    Ok(())
}

/// The stack's Redis port and the ids of its containers; only the nodes' when `known` has the
/// rest (the nodes were recreated).
async fn containers(project: &Project, known: Option<&Containers>) -> anyhow::Result<Containers> {
    let (redis_port, network) = match known {
        Some(known) => (known.redis_port, known.network.clone()),
        None => {
            let redis = project.id("redis").await?;
            let port = published(&redis, 6379, START_DEADLINE).await?.port();
            (port, project.id(NODE_NETWORK).await?)
        }
    };
    let http = project.id("http").await?;
    let workers = project.ids("worker").await?;
    if workers.len() != WORKERS {
        bail!(
            "the stack has {} workers, expected {WORKERS}",
            workers.len()
        );
    }
    Ok(Containers {
        redis_port,
        network,
        http,
        workers,
    })
}

/// The published loopback ports of the HTTP node (8080), then of the worker (9090), from the
/// container that holds their network namespace, read with one `docker inspect` that also fails
/// when a node ended.
async fn published_ports(containers: &Containers) -> anyhow::Result<Vec<SocketAddr>> {
    let nodes: Vec<(String, &str)> = containers.nodes().collect();
    let deadline = tokio::time::Instant::now() + START_DEADLINE;
    loop {
        for (node, id) in &nodes {
            let state = engine::inspect(id).await?;
            let status = state.pointer("/State/Status").and_then(Value::as_str);
            if status != Some("running") {
                bail!("{node} is {}", status.unwrap_or("gone"));
            }
        }
        let network = engine::inspect(&containers.network).await?;
        let published = network
            .pointer("/NetworkSettings/Ports")
            .cloned()
            .unwrap_or(Value::Null);
        let ports: Vec<SocketAddr> = ["8080/tcp", "9090/tcp"]
            .iter()
            .filter_map(|port| host_port(&published, port))
            .collect();
        if ports.len() == 2 {
            return Ok(ports);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("ports still unpublished after {START_DEADLINE:?}: {published}");
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// The compose file of the tests' stacks (`text`, the repository's `docker-compose.yml`): the
/// HTTP node and the worker get `network_mode: service:nodes` instead of their networks and
/// ports, and a `nodes` service (Redis' image, asleep) joins those networks and the run's network
/// of fakes (`fakes`, an existing network) and publishes those ports. Build contexts become
/// absolute, as the file is written elsewhere.
fn node_network_file(text: &str, fakes: &str) -> anyhow::Result<Value> {
    let mut yaml: serde_yaml::Value = serde_yaml::from_str(text).context("parsing the file")?;
    yaml.apply_merge()
        .context("applying the file's merge keys")?;
    let mut doc = serde_json::to_value(yaml).context("the file as JSON")?;
    let services = doc
        .get_mut("services")
        .and_then(Value::as_object_mut)
        .context("the file has no services")?;
    let workspace = workspace_dir();
    for service in services.values_mut() {
        if let Some(context) = service.pointer_mut("/build/context")
            && let Some(relative) = context.as_str()
        {
            *context = json!(workspace.join(relative).display().to_string());
        }
    }
    let mut networks = Vec::new();
    let mut ports = Vec::new();
    for name in ["http", "worker"] {
        let node = services
            .get_mut(name)
            .and_then(Value::as_object_mut)
            .with_context(|| format!("the file has no {name} service"))?;
        for (key, into) in [("networks", &mut networks), ("ports", &mut ports)] {
            let Some(list) = node.remove(key) else {
                continue;
            };
            let Value::Array(list) = list else {
                bail!("{name}'s {key} must be a list, got {list}");
            };
            for item in list {
                if !into.contains(&item) {
                    into.push(item);
                }
            }
        }
        node.insert(
            "network_mode".to_owned(),
            json!(format!("service:{NODE_NETWORK}")),
        );
    }
    networks.push(json!("fakes"));
    let image = services
        .get("redis")
        .and_then(|redis| redis.get("image"))
        .cloned()
        .context("the file's redis service names no image")?;
    services.insert(
        NODE_NETWORK.to_owned(),
        json!({
            "image": image,
            "entrypoint": ["sleep", "infinity"],
            "networks": networks,
            "ports": ports,
            "restart": "no",
        }),
    );
    let declared = doc
        .as_object_mut()
        .context("the file is not a mapping")?
        .entry("networks")
        .or_insert_with(|| json!({}));
    let declared = declared
        .as_object_mut()
        .context("the file's networks must be a mapping")?;
    declared.insert(
        "fakes".to_owned(),
        json!({ "external": true, "name": fakes }),
    );
    Ok(doc)
}

/// The IPv4 loopback address `port` is published on, from `docker inspect`'s
/// `NetworkSettings.Ports`.
fn host_port(ports: &Value, port: &str) -> Option<SocketAddr> {
    ports.get(port)?.as_array()?.iter().find_map(|binding| {
        let ip = binding.get("HostIp")?.as_str()?;
        let port = binding.get("HostPort")?.as_str()?;
        format!("{ip}:{port}")
            .parse()
            .ok()
            .filter(SocketAddr::is_ipv4)
    })
}

/// Polls `GET /health/cluster` until every shard is owned; fails early when a node ended.
async fn wait_until_ready(http: SocketAddr, containers: &Containers) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let url = format!("http://{http}/health/cluster");
    let deadline = tokio::time::Instant::now() + START_DEADLINE;
    let mut checks = 0u32;
    loop {
        let last = match client.get(&url).send().await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(error) => format!("{:#}", anyhow::Error::from(error)),
        };
        if unowned_shards(&last) == Some(0) {
            return Ok(());
        }
        checks += 1;
        if checks.is_multiple_of(10) {
            // Fails when a node ended.
            published_ports(containers).await?;
        }
        if tokio::time::Instant::now() > deadline {
            bail!("shards still unowned after {START_DEADLINE:?}: GET {url} gave {last}");
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// How long each step of a stack's preparation took, printed when
/// `STOCK_FEATURES_COMPOSE_TIMINGS=1`.
struct Timings {
    last: tokio::time::Instant,
    steps: Vec<(&'static str, Duration)>,
}

impl Timings {
    fn new() -> Timings {
        Timings {
            last: tokio::time::Instant::now(),
            steps: Vec::new(),
        }
    }

    fn mark(&mut self, step: &'static str) {
        let now = tokio::time::Instant::now();
        self.steps.push((step, now - self.last));
        self.last = now;
    }

    fn report(&self, project: &str) {
        if std::env::var("STOCK_FEATURES_COMPOSE_TIMINGS").as_deref() != Ok("1") {
            return;
        }
        let total: Duration = self.steps.iter().map(|(_, took)| *took).sum();
        let steps: Vec<String> = self
            .steps
            .iter()
            .map(|(step, took)| format!("{step} {}", took.as_millis()))
            .collect();
        eprintln!(
            "compose timings {project}: {} ms: {}",
            total.as_millis(),
            steps.join(", ")
        );
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::super::stack::tests::scenario;
    use super::*;

    #[test]
    fn the_http_node_listens_on_its_published_port_and_unset_compose_settings_are_empty() {
        let env = http_env(&scenario(), "redis://stock:p@redis:6379");
        assert_eq!(env["NODE_ROLE"], "http");
        assert_eq!(env["STOCK_HTTP_ADDR"], "0.0.0.0:8080");
        assert_eq!(env["STOCK_REDIS_URL"], "redis://stock:p@redis:6379");
        assert_eq!(env["STOCK_SHARDS"], "8");
        assert_eq!(env["STOCK_JWT_AUDIENCE"], "");
        assert_eq!(env["STOCK_LEASE_TTL"], "");
    }

    #[test]
    fn the_published_address_is_the_ipv4_binding_of_the_port() {
        let ports = json!({"8080/tcp":[{"HostIp":"127.0.0.1","HostPort":"49153"}],"9090/tcp":null});
        assert_eq!(
            host_port(&ports, "8080/tcp"),
            "127.0.0.1:49153".parse().ok()
        );
        assert_eq!(host_port(&ports, "9090/tcp"), None);
        assert_eq!(host_port(&Value::Null, "8080/tcp"), None);
    }

    #[test]
    fn the_nodes_of_the_tests_stacks_share_one_network_namespace_that_publishes_their_ports()
    -> anyhow::Result<()> {
        let text = std::fs::read_to_string(workspace_dir().join("docker-compose.yml"))?;
        let doc = node_network_file(&text, "run-fakes")?;
        for node in ["http", "worker"] {
            let service = &doc["services"][node];
            assert_eq!(service["network_mode"], "service:nodes", "{node}");
            assert!(service.get("networks").is_none(), "{node}");
            assert!(service.get("ports").is_none(), "{node}");
            // The file's shared settings (a merge key) reach the node.
            assert_eq!(service["environment"]["STOCK_SHARDS"], "256", "{node}");
            let context = service["build"]["context"].as_str().unwrap_or_default();
            assert!(Path::new(context).is_absolute(), "{node}: {context}");
        }
        let nodes = &doc["services"]["nodes"];
        assert_eq!(nodes["image"], doc["services"]["redis"]["image"]);
        assert_eq!(nodes["networks"], json!(["store", "edge", "fakes"]));
        let ports: Vec<&str> = nodes["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(ports.len(), 2, "{ports:?}");
        assert!(ports.iter().any(|p| p.ends_with(":9090")), "{ports:?}");
        assert!(ports.iter().any(|p| p.ends_with(":8080")), "{ports:?}");
        assert_eq!(doc["networks"]["fakes"]["name"], "run-fakes");
        assert_eq!(doc["services"]["redis"]["networks"], json!(["store"]));
        Ok(())
    }

    #[test]
    fn a_worker_gets_only_worker_settings_and_its_admin_port() {
        let env = worker_env(&scenario(), "redis://stock:p@redis:6379");
        assert_eq!(env["NODE_ROLE"], "actor");
        assert_eq!(env["STOCK_ADMIN_ADDR"], "0.0.0.0:9090");
        assert_eq!(env["STOCK_POT_UNLOAD_AFTER"], "200ms");
        assert_eq!(env["STOCK_JWT_ISSUER"], "");
        assert_eq!(env["STOCK_LOCATIONS_FILE"], "");
    }
}
