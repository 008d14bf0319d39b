//! Failures only containers can stage, on the compose stack (`docker-compose.yml`, an override
//! file of the test's own: a 1 s lease, 32 shards, a small estate, Redis published on 127.0.0.1)
//! under a seeded client load, then the chaos invariants: no 5xx but 503 with `Retry-After`, every
//! request resolved, every 201 present exactly once, nothing half-applied, conservation across
//! moves, every 201 replaying unchanged (docs/RELIABILITY.md, "Containers").
//!
//! - a worker cut off from Redis while it keeps running (`docker network disconnect`), a worker
//!   frozen past its lease (`docker pause`), a worker crashed (SIGKILL of its main process from the
//!   host: Docker restarts it) and a worker killed through Docker (`docker kill`: it stays down
//!   until started), Redis crashed (restarted on its AOF volume), and the HTTP node cut off from
//!   Redis (503s and a DOWN readiness within their bounds), in one stack;
//! - workers scaled 3 → 5 → 0 → 1 under load, in another: at zero every write answers 503 and is
//!   never applied later.
//!
//! Recovery times are printed (`containers: …`) and written to
//! `<target dir>/containers-recovery.json`. Skipped with a message when no Docker engine is
//! present. Needs the debug binaries (`cargo build --bins`); the images are built when missing or
//! stale (`infra/images/build.sh --profile debug`).
//!
//! ```text
//! cargo build --bins && cargo test -p features --test containers -- --nocapture
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use features::chaos::invariants::{Findings, Pot, read_pots};
use features::chaos::load::{self, Record};
use features::chaos::{Layout, check};
use features::compose::{self, Project, docker, inspect, published, random_hex};
use features::prometheus::sample_sum;
use features::service::target_dir;
use features::stack::{Api, HttpApi, HttpReply, delivery, estate_json, eventually, segment};
use futures::future::join_all;
use serde_json::{Value, json};
use shared::store::redis::keys;
use tokio::time::Instant;

const SHARDS: u32 = 32;
const LEASE_TTL: Duration = Duration::from_secs(1);
/// `STOCK_COMMAND_TIMEOUT` of the HTTP node.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// The most a write or a read to an HTTP node cut off Redis may take to answer 503: twice the
/// command timeout. A write answers within the command timeout + 1 s whatever the store does
/// (0.5 s of clock allowance, then 0.5 s to settle; docs/architecture.md §11) and a read within
/// the store's 2 s response timeout; the rest is room for a loaded machine. Before the shared
/// connection was replaced on a missing answer, the write took 4.5 s here.
const CUT_OFF_BOUND: Duration = Duration::from_secs(4);
/// Concurrent load clients.
const CLIENTS: usize = 4;
/// Load around each fault.
const LOAD: Duration = Duration::from_secs(8);
/// Bound on every wait for the stack to reach a state (not a claim about speed).
const WITHIN: Duration = Duration::from_secs(30);
/// Bound on the wait for the containers to be up and every shard owned.
const START_WITHIN: Duration = Duration::from_secs(120);
/// How long a frozen worker stays frozen: past its lease.
const PAUSED: Duration = Duration::from_secs(3);
/// How long the stack is watched for a late apply or a restart that must not happen.
const WATCH: Duration = Duration::from_secs(3);
/// Warnings and errors of the stack's logs printed when an invariant breaks.
const LOG_EXCERPT: usize = 80;
/// Bytes of each such line printed.
const LOG_LINE: usize = 400;
/// The bound of an HTTP probe (`http-fn probe`, the compose healthcheck's timeout).
const PROBE_BOUND: Duration = Duration::from_secs(2);

/// One stack at a time: two cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A compose stack of the test, taken down with its volumes when dropped.
struct TestStack {
    project: Project,
    api: HttpApi,
    http: SocketAddr,
    redis: redis::Client,
    layout: Layout,
    records: Vec<Record>,
    figures: BTreeMap<&'static str, Vec<u128>>,
    seed: u64,
    phase: u64,
}

impl Drop for TestStack {
    fn drop(&mut self) {
        if let Err(error) = self
            .project
            .compose_blocking(&["down", "-v", "--timeout", "0"])
        {
            eprintln!("taking down {}: {error:#}", self.project.name());
        }
    }
}

impl TestStack {
    /// Brings a stack up with `workers` workers and waits until every shard is owned.
    async fn up(test: &str, workers: usize) -> anyhow::Result<TestStack> {
        compose::build_images()?;
        let dir = target_dir().join("containers").join(test);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let layout = Layout::new(SHARDS);
        std::fs::write(dir.join("locations.json"), estate_json(&layout.locations))?;
        let override_file = dir.join("override.json");
        let estate = format!("{}:/estate:ro", dir.display());
        let shards = SHARDS.to_string();
        let overrides = json!({
            "services": {
                "redis": { "ports": ["127.0.0.1::6379"] },
                "http": {
                    "environment": {
                        "STOCK_LOCATIONS_FILE": "/estate/locations.json",
                        "STOCK_SHARDS": shards,
                        "STOCK_COMMAND_TIMEOUT": format!("{}s", COMMAND_TIMEOUT.as_secs()),
                    },
                    "volumes": [estate],
                },
                "worker": { "environment": { "STOCK_SHARDS": shards } },
            },
        });
        std::fs::write(&override_file, overrides.to_string())?;
        let password = random_hex(16);
        let env = [
            ("STOCK_REDIS_USER", "stock".to_owned()),
            ("STOCK_REDIS_PASSWORD", password.clone()),
            ("STOCK_LEASE_TTL", format!("{}s", LEASE_TTL.as_secs())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let name = format!("stockcontainers{}{test}", std::process::id());
        let project = Project::new(&name, &override_file, env);
        let scale = format!("worker={workers}");
        // Taken down on drop from here on, even when the start fails half-way.
        let partial = Partial(Some(project.clone()));
        project.compose(&["up", "-d", "--scale", &scale]).await?;
        let token = project
            .compose(&[
                "run",
                "--rm",
                "-T",
                "keys",
                "http-fn",
                "token",
                "Warehouse Manager",
            ])
            .await?
            .trim()
            .to_owned();
        let http = published(&project.id("http").await?, 8080, START_WITHIN).await?;
        let redis_port = published(&project.id("redis").await?, 6379, START_WITHIN)
            .await?
            .port();
        let redis =
            redis::Client::open(format!("redis://stock:{password}@127.0.0.1:{redis_port}/"))?;
        let stack = TestStack {
            project: partial.take(),
            api: HttpApi::new(http, &token)?,
            http,
            redis,
            layout,
            records: Vec::new(),
            figures: BTreeMap::new(),
            seed: rand::random::<u32>().into(),
            phase: 0,
        };
        eprintln!("containers: {name}, seed {}", stack.seed);
        stack.balanced(workers, START_WITHIN).await?;
        Ok(stack)
    }

    /// The worker id of each shard's lease, `None` where it is free or Redis does not answer.
    async fn owners(&self) -> Vec<Option<String>> {
        let read = async {
            let mut connection = self.redis.get_multiplexed_async_connection().await?;
            let mut pipe = redis::pipe();
            for shard in 0..SHARDS {
                pipe.cmd("GET").arg(keys::lease(shard));
            }
            let tokens: Vec<Option<String>> = pipe.query_async(&mut connection).await?;
            Ok::<_, anyhow::Error>(tokens)
        };
        match tokio::time::timeout(Duration::from_secs(2), read).await {
            Ok(Ok(tokens)) => tokens
                .into_iter()
                .map(|t| t.and_then(|t| t.split('/').next().map(str::to_owned)))
                .collect(),
            _ => vec![None; SHARDS as usize],
        }
    }

    /// Shards whose lease names the worker in container `id` (its id starts with the host name,
    /// the container's short id).
    async fn shards_of(&self, id: &str) -> usize {
        let host = &id[..12.min(id.len())];
        self.owners()
            .await
            .iter()
            .filter(|o| o.as_deref().is_some_and(|o| o.starts_with(host)))
            .count()
    }

    /// Waits until every shard is owned and each of `workers` running worker containers owns
    /// some; returns how long it took.
    async fn balanced(&self, workers: usize, within: Duration) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let what = format!("every shard owned, by {workers} workers each owning some");
        eventually(&what, within, || async {
            let ids = self.running_workers().await?;
            let owners = self.owners().await;
            let all_owned = owners.iter().all(Option::is_some);
            let each = ids.iter().all(|id| {
                let host = &id[..12.min(id.len())];
                owners
                    .iter()
                    .any(|o| o.as_deref().is_some_and(|o| o.starts_with(host)))
            });
            Ok((all_owned && ids.len() == workers && each).then_some(()))
        })
        .await?;
        Ok(started.elapsed())
    }

    /// The running worker containers.
    async fn running_workers(&self) -> anyhow::Result<Vec<String>> {
        let mut running = Vec::new();
        for id in self.project.ids("worker").await? {
            if inspect(&id, "{{.State.Status}}").await? == "running" {
                running.push(id);
            }
        }
        Ok(running)
    }

    /// Waits until no shard names the worker in container `id` and every shard is owned.
    async fn moved_off(&self, id: &str, since: Instant) -> anyhow::Result<Duration> {
        let host = id[..12.min(id.len())].to_owned();
        eventually(
            "the worker's shards owned by the others",
            WITHIN,
            || async {
                let owners = self.owners().await;
                let moved = owners
                    .iter()
                    .all(|o| o.as_deref().is_some_and(|o| !o.starts_with(&host)));
                Ok(moved.then_some(()))
            },
        )
        .await?;
        Ok(since.elapsed())
    }

    /// Waits until the worker in container `id` owns shards again.
    async fn rejoined(&self, id: &str, since: Instant) -> anyhow::Result<Duration> {
        eventually("the worker owning shards again", WITHIN, || async {
            Ok((self.shards_of(id).await > 0).then_some(()))
        })
        .await?;
        Ok(since.elapsed())
    }

    /// A sum of `name` on the admin listener of worker container `id`.
    async fn worker_metric(&self, id: &str, name: &str) -> anyhow::Result<f64> {
        let admin = published(id, 9090, WITHIN).await?;
        let text = reqwest::Client::builder()
            .timeout(PROBE_BOUND)
            .build()?
            .get(format!("http://{admin}/metrics"))
            .send()
            .await?
            .text()
            .await?;
        Ok(sample_sum(&text, name).unwrap_or(0.0))
    }

    fn note(&mut self, what: &'static str, took: Duration) {
        eprintln!("containers: {what}: {} ms", took.as_millis());
        self.figures.entry(what).or_default().push(took.as_millis());
    }

    /// Runs `fault` while [`CLIENTS`] clients write for [`LOAD`]; keeps their records.
    async fn under_load<T>(
        &mut self,
        fault: impl AsyncFnOnce(&TestStack) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        self.phase += 1;
        let seed = self.seed * 100 + self.phase;
        let end = Instant::now() + LOAD;
        let (records, outcome) = {
            let this = &*self;
            let clients = (0..CLIENTS).map(|c| load::client(&this.api, &this.layout, seed, c, end));
            tokio::join!(join_all(clients), fault(this))
        };
        self.records.extend(records.into_iter().flatten());
        outcome
    }

    /// Resolves every request and checks the invariants; the figures go to
    /// `<target dir>/containers-recovery.json`.
    async fn finish(mut self, test: &str) -> anyhow::Result<()> {
        let products: Vec<String> = (0..CLIENTS).flat_map(load::products_of).collect();
        let mut findings = Findings::default();
        let mut records = std::mem::take(&mut self.records);
        let checked = check(
            &self.api,
            &self.layout.locations,
            &products,
            &mut records,
            &mut findings,
        )
        .await?;
        let created = records.iter().filter(|r| r.applied()).count();
        eprintln!(
            "containers: {test}: {} requests, {created} applied, {} pots checked, {} replays",
            records.len(),
            checked.pots,
            checked.replays
        );
        write_figures(test, &self.figures);
        if !findings.items.is_empty() {
            self.keep_logs(test).await;
            bail!("{}", findings.render(self.seed));
        }
        Ok(())
    }

    /// Writes the stack's logs to `<target dir>/containers/<test>/compose.log` and prints their
    /// last warnings and errors (at most [`LOG_EXCERPT`] lines, each cut to [`LOG_LINE`] bytes).
    async fn keep_logs(&self, test: &str) {
        let logs = match self
            .project
            .compose(&["logs", "--no-color", "--timestamps"])
            .await
        {
            Ok(logs) => logs,
            Err(error) => {
                eprintln!("containers: no logs: {error:#}");
                return;
            }
        };
        let path = target_dir()
            .join("containers")
            .join(test)
            .join("compose.log");
        if let Err(error) = std::fs::write(&path, &logs) {
            eprintln!("containers: writing {}: {error}", path.display());
        }
        let notable: Vec<&str> = logs
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .collect();
        let shown = &notable[notable.len().saturating_sub(LOG_EXCERPT)..];
        eprintln!(
            "containers: {} warnings and errors in {}; the last {}:",
            notable.len(),
            path.display(),
            shown.len()
        );
        for line in shown {
            let mut end = line.len().min(LOG_LINE);
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            eprintln!("  {}", &line[..end]);
        }
    }
}

/// A project taken down when dropped unless taken over.
struct Partial(Option<Project>);

impl Partial {
    fn take(mut self) -> Project {
        self.0
            .take()
            .unwrap_or_else(|| Project::new("", &PathBuf::new(), BTreeMap::new()))
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if let Some(project) = self.0.take() {
            let _ = project.compose_blocking(&["down", "-v", "--timeout", "0"]);
        }
    }
}

/// Median of the figures of each kind, merged into the JSON file of the target directory.
fn write_figures(test: &str, figures: &BTreeMap<&'static str, Vec<u128>>) {
    let path = target_dir().join("containers-recovery.json");
    let mut all: Value = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| json!({}));
    let mut mine = serde_json::Map::new();
    for (what, values) in figures {
        let mut sorted = values.clone();
        sorted.sort_unstable();
        let median = sorted.get(sorted.len() / 2).copied().unwrap_or_default();
        mine.insert(
            (*what).to_owned(),
            json!({"ms": values, "median_ms": median}),
        );
    }
    if let Some(map) = all.as_object_mut() {
        map.insert(test.to_owned(), Value::Object(mine));
    }
    let _ = std::fs::write(&path, format!("{all:#}\n"));
}

/// The network of the project that carries Redis traffic.
fn store_network(project: &Project) -> String {
    format!("{}_store", project.name())
}

/// SIGKILL of a container's main process from the host: a crash, which the restart policy
/// answers (unlike `docker kill`).
async fn crash(id: &str) -> anyhow::Result<()> {
    let pid = inspect(id, "{{.State.Pid}}").await?;
    ensure!(pid != "0", "{id} is not running");
    let status = tokio::process::Command::new("kill")
        .args(["-s", "KILL", &pid])
        .status()
        .await?;
    ensure!(status.success(), "kill -s KILL {pid}: {status}");
    Ok(())
}

/// Waits until container `id` runs again after `restarts` restarts.
async fn restarted(id: &str, restarts: u32) -> anyhow::Result<()> {
    eventually("the container restarted", WITHIN, || async {
        let state = inspect(id, "{{.State.Status}} {{.RestartCount}}").await?;
        let (status, count) = state.split_once(' ').unwrap_or((&state, "0"));
        Ok((status == "running" && count.parse::<u32>().unwrap_or(0) > restarts).then_some(()))
    })
    .await
}

/// One delivery at the first location, answered as it comes (no retry): status, `Retry-After`,
/// and how long the answer took.
async fn one_write(
    api: &HttpApi,
    layout: &Layout,
    id: &str,
    product: &str,
) -> anyhow::Result<(HttpReply, Duration)> {
    let location = &layout.locations[0];
    let path = format!("/locations/{}/deliveries", segment(location));
    let sent = Instant::now();
    let reply = api.post(&path, &delivery(id, &[(product, 1.0)])).await?;
    Ok((reply, sent.elapsed()))
}

/// `GET /health/ready` of the HTTP node: status and body, or an error past the probe bound.
async fn ready(http: SocketAddr) -> anyhow::Result<(u16, String, Duration)> {
    let client = reqwest::Client::builder().timeout(PROBE_BOUND).build()?;
    let sent = Instant::now();
    let response = client
        .get(format!("http://{http}/health/ready"))
        .send()
        .await
        .context("GET /health/ready within the probe bound")?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?, sent.elapsed()))
}

/// Runs `test` with no other stack of this file up, or skips it, saying so, when no Docker engine
/// or docker-compose is present.
async fn alone(test: impl Future<Output = anyhow::Result<()>>) {
    if !compose::engine_present() {
        eprintln!("SKIPPED: no Docker engine (docker info) or no docker-compose on this machine");
        return;
    }
    let _one = ONE_AT_A_TIME.lock().await;
    if let Err(error) = test.await {
        panic!("{error:#}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_pauses_crashes_and_kills_keep_the_failure_contract() {
    alone(faults()).await;
}

async fn faults() -> anyhow::Result<()> {
    let mut stack = TestStack::up("faults", 3).await?;
    let workers = stack.project.ids("worker").await?;
    let store = store_network(&stack.project);

    // A worker cut off from Redis keeps running: its shards move, it commits nothing while cut
    // off, and it rejoins once connected again.
    let partitioned = workers[0].clone();
    let (moved, frozen, rejoined) = stack
        .under_load(async |s: &TestStack| {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let cut = Instant::now();
            docker(&["network", "disconnect", &store, &partitioned]).await?;
            let moved = s.moved_off(&partitioned, cut).await?;
            let commits = "stock_commit_duration_seconds_count";
            let before = s.worker_metric(&partitioned, commits).await?;
            tokio::time::sleep(WATCH).await;
            let after = s.worker_metric(&partitioned, commits).await?;
            let joined = Instant::now();
            docker(&["network", "connect", &store, &partitioned]).await?;
            let rejoined = s.rejoined(&partitioned, joined).await?;
            Ok((moved, after - before, rejoined))
        })
        .await?;
    ensure!(
        frozen == 0.0,
        "the partitioned worker committed {frozen} batches after losing its leases"
    );
    stack.note("worker partition: shards moved", moved);
    stack.note("worker partition: rejoined after reconnect", rejoined);

    // A worker frozen past its lease: its shards move; thawed, it is fenced and rejoins.
    let frozen_worker = workers[1].clone();
    let (moved, rejoined) = stack
        .under_load(async |s: &TestStack| {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let paused = Instant::now();
            docker(&["pause", &frozen_worker]).await?;
            let moved = s.moved_off(&frozen_worker, paused).await;
            tokio::time::sleep(PAUSED.saturating_sub(paused.elapsed())).await;
            docker(&["unpause", &frozen_worker]).await?;
            let thawed = Instant::now();
            Ok((moved?, s.rejoined(&frozen_worker, thawed).await?))
        })
        .await?;
    stack.note("worker paused: shards moved", moved);
    stack.note("worker paused: rejoined after unpause", rejoined);

    // A crash (SIGKILL of the main process): Docker restarts the worker, which rejoins.
    let crashed = workers[2].clone();
    let (moved, rejoined) = stack
        .under_load(async |s: &TestStack| {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let restarts: u32 = inspect(&crashed, "{{.RestartCount}}").await?.parse()?;
            let before = s.ids_on(&crashed).await;
            ensure!(!before.is_empty(), "the worker to crash owns no shard");
            let at = Instant::now();
            crash(&crashed).await?;
            restarted(&crashed, restarts).await?;
            let moved = s.released(&before, at).await?;
            Ok((moved, s.rejoined(&crashed, at).await?))
        })
        .await?;
    stack.note("worker crashed: old leases gone", moved);
    stack.note("worker crashed: restarted and owning shards", rejoined);

    // `docker kill` is no crash: the worker stays down until started; its shards move.
    let killed = workers[0].clone();
    let (moved, rejoined) = stack
        .under_load(async |s: &TestStack| {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let at = Instant::now();
            docker(&["kill", &killed]).await?;
            let moved = s.moved_off(&killed, at).await?;
            tokio::time::sleep(WATCH).await;
            let status = inspect(&killed, "{{.State.Status}}").await?;
            ensure!(
                status == "exited",
                "a worker killed through Docker is {status}"
            );
            let started = Instant::now();
            docker(&["start", &killed]).await?;
            Ok((moved, s.rejoined(&killed, started).await?))
        })
        .await?;
    stack.note("worker docker-killed: shards moved", moved);
    stack.note(
        "worker docker-killed: rejoined after docker start",
        rejoined,
    );

    // Redis crashes: Docker restarts it on its AOF volume; writes answer 503 meanwhile and are
    // accepted again once it is back. Nothing acknowledged is lost (checked at the end).
    let redis = stack.project.id("redis").await?;
    let back = stack
        .under_load(async |s: &TestStack| {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let restarts: u32 = inspect(&redis, "{{.RestartCount}}").await?.parse()?;
            let at = Instant::now();
            crash(&redis).await?;
            restarted(&redis, restarts).await?;
            let mut n = 0;
            eventually("a write accepted after the Redis crash", WITHIN, || {
                n += 1;
                let id = format!("redis-back-{}-{n}", s.seed);
                async move {
                    let (reply, _) = one_write(&s.api, &s.layout, &id, "redis-back").await?;
                    Ok((reply.status == 201).then_some(()))
                }
            })
            .await?;
            Ok(at.elapsed())
        })
        .await?;
    stack.note("redis crashed: writes accepted again", back);

    // The HTTP node cut off from Redis: writes and reads answer 503 within the command timeout,
    // readiness answers DOWN within the probe bound; both recover once connected again.
    let http = stack.project.id("http").await?;
    let (first_503, write_503, read_503, ready_down, recovered) = stack
        .under_load(async |s: &TestStack| {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let cut = Instant::now();
            docker(&["network", "disconnect", &store, &http]).await?;
            let id = format!("cut-http-{}", s.seed);
            let (reply, write_took) = one_write(&s.api, &s.layout, &id, "cut-http").await?;
            ensure!(
                reply.status == 503 && reply.retry_after.is_some(),
                "a write to the cut-off HTTP node answered {} (Retry-After {:?}): {}",
                reply.status,
                reply.retry_after,
                reply.body
            );
            let first_503 = cut.elapsed();
            ensure!(
                write_took < CUT_OFF_BOUND,
                "a write to the cut-off HTTP node answered 503 after {write_took:?}, more than \
                 {CUT_OFF_BOUND:?}"
            );
            let read = format!(
                "/locations/{}/products/x?includeChildren=false",
                segment(&s.layout.locations[0])
            );
            let asked = Instant::now();
            let answer = s.api.get(&read).await?;
            let read_took = asked.elapsed();
            ensure!(
                answer.status == 503 && answer.retry_after.is_some(),
                "a read from the cut-off HTTP node answered {}: {}",
                answer.status,
                answer.body
            );
            ensure!(
                read_took < CUT_OFF_BOUND,
                "a read from the cut-off HTTP node answered 503 after {read_took:?}, more than \
                 {CUT_OFF_BOUND:?}"
            );
            let (status, body, took) = ready(s.http).await?;
            ensure!(
                status == 503 && body.contains("DOWN"),
                "/health/ready of the cut-off HTTP node answered {status}: {body}"
            );
            let joined = Instant::now();
            docker(&["network", "connect", "--alias", "http", &store, &http]).await?;
            eventually("the HTTP node ready and writable again", WITHIN, || async {
                let (status, _, _) = ready(s.http).await?;
                let id = format!("back-http-{}-{}", s.seed, joined.elapsed().as_millis());
                let (reply, _) = one_write(&s.api, &s.layout, &id, "back-http").await?;
                Ok((status == 200 && reply.status == 201).then_some(()))
            })
            .await?;
            Ok((first_503, write_took, read_took, took, joined.elapsed()))
        })
        .await?;
    stack.note("http partition: first write answered 503", first_503);
    stack.note("http partition: that write's own answer time", write_503);
    stack.note("http partition: a read's answer time", read_503);
    stack.note("http partition: /health/ready answered DOWN", ready_down);
    stack.note(
        "http partition: ready and writable after reconnect",
        recovered,
    );

    stack.finish("faults").await
}

impl TestStack {
    /// The worker ids of container `id` that own shards now.
    async fn ids_on(&self, id: &str) -> Vec<String> {
        let host = &id[..12.min(id.len())];
        let mut ids: Vec<String> = self
            .owners()
            .await
            .into_iter()
            .flatten()
            .filter(|o| o.starts_with(host))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// Waits until every shard is owned and none by the worker ids `gone` (a crashed process;
    /// its container restarts with a new id on the same host name).
    async fn released(&self, gone: &[String], since: Instant) -> anyhow::Result<Duration> {
        eventually(
            "every shard owned, none by the crashed process",
            WITHIN,
            || async {
                let owners = self.owners().await;
                let all = owners
                    .iter()
                    .all(|o| o.as_ref().is_some_and(|o| !gone.contains(o)));
                Ok(all.then_some(()))
            },
        )
        .await?;
        Ok(since.elapsed())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_workers_three_five_zero_one_under_load_keeps_the_failure_contract() {
    alone(scaling()).await;
}

async fn scaling() -> anyhow::Result<()> {
    let mut stack = TestStack::up("scaling", 3).await?;
    let scale = async |s: &TestStack, n: usize| {
        let workers = format!("worker={n}");
        let args = ["up", "-d", "--no-deps", "--scale", &workers, "worker"];
        s.project.compose(&args).await
    };
    let up = stack
        .under_load(async |s: &TestStack| {
            let at = Instant::now();
            scale(s, 5).await?;
            s.balanced(5, WITHIN).await?;
            Ok(at.elapsed())
        })
        .await?;
    stack.note("scale 3 to 5: all five owning shards", up);

    // At zero workers every write answers 503 with Retry-After; none is applied later.
    let refused: Vec<String> = (0..5).map(|n| format!("zero-{}-{n}", stack.seed)).collect();
    let (down, back) = stack
        .under_load(async |s: &TestStack| {
            let at = Instant::now();
            scale(s, 0).await?;
            let down = at.elapsed();
            for id in &refused {
                let (reply, _) = one_write(&s.api, &s.layout, id, "zero").await?;
                ensure!(
                    reply.status == 503 && reply.retry_after.is_some(),
                    "a write with no worker answered {} (Retry-After {:?}): {}",
                    reply.status,
                    reply.retry_after,
                    reply.body
                );
            }
            let at = Instant::now();
            scale(s, 1).await?;
            s.balanced(1, WITHIN).await?;
            Ok((down, at.elapsed()))
        })
        .await?;
    stack.note("scale 5 to 0: workers removed", down);
    stack.note("scale 0 to 1: one worker owning every shard", back);
    tokio::time::sleep(WATCH).await;
    let zero = [stack.layout.locations[0].clone()];
    let pots = read_pots(&stack.api, &zero, &["zero".to_owned()]).await?;
    let applied: Vec<f64> = pots
        .values()
        .map(Pot::net)
        .filter(|net| *net != 0.0)
        .collect();
    ensure!(
        applied.is_empty(),
        "writes answered 503 with no worker were applied later: {applied:?}"
    );
    stack.finish("scaling").await
}
