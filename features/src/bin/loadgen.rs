//! Load generator: drives a mix of stock reads, deliveries, sales and moves against a Stock API
//! URL and prints throughput, latency percentiles and status counts.
//!
//! ```text
//! loadgen --url http://127.0.0.1:8080 --token "$TOKEN" --concurrency 16 --duration 20s \
//!         --mix read=40,delivery=20,sale=30,move=10 --locations WH01,Store-001,DC01,Cambridge
//! loadgen --url http://127.0.0.1:8080 --token "$TOKEN" --rate 5000 --duration 20s
//! ```
//!
//! Two modes:
//! * **closed loop** (the default): `--concurrency` clients, each sending its next request when the
//!   previous one is answered. It finds the saturation throughput, but its tails understate what
//!   clients see: a client stuck behind a slow answer sends nothing meanwhile, so a stall is
//!   recorded once instead of once for every request that would have been sent during it
//!   (coordinated omission).
//! * **open loop** (`--rate R`): requests are due at a constant rate of R per second whatever the
//!   answers, and each latency is measured from the time the request was due, not from when it
//!   could be sent. `--max-in-flight` bounds the requests outstanding at once; a request waiting for
//!   a free slot is still timed from its due time, and the send lag (due time to send) is reported
//!   so that a generator that cannot keep its schedule shows.
//!
//! Latencies go into HDR histograms (microseconds, three significant digits). Every request has a
//! unique `requestId`; the run is bounded by `--duration` and `--requests`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use hdrhistogram::Histogram;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// The command line.
#[derive(Parser, Debug)]
#[command(
    name = "loadgen",
    about = "Drives a request mix against a Stock API URL."
)]
struct Options {
    /// Base URL of the service, e.g. http://127.0.0.1:8080.
    #[arg(long, value_parser = parse_url)]
    url: String,
    /// Bearer token sent with every request.
    #[arg(
        long,
        required_unless_present = "private_key",
        conflicts_with = "private_key"
    )]
    token: Option<String>,
    /// RSA private key (PEM) to sign a one-hour System Administrator token with.
    #[arg(long)]
    private_key: Option<PathBuf>,
    /// `iss` of the signed token.
    #[arg(long, default_value = "")]
    issuer: String,
    /// `aud` of the signed token.
    #[arg(long, default_value = "")]
    audience: String,
    /// Closed loop: clients sending one request at a time.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    concurrency: u32,
    /// Open loop: requests per second, due at constant intervals whatever the answers.
    #[arg(long, value_parser = parse_rate)]
    rate: Option<f64>,
    /// Open loop: the most requests outstanding at once.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_in_flight: u32,
    /// How long requests are sent.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// The most requests of the run.
    #[arg(long = "requests", default_value_t = 10_000_000)]
    max_requests: u64,
    /// How long one request may take before it counts as `timeout`.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// Weights of the request kinds (read, delivery, sale, move).
    #[arg(long, default_value = "read=40,delivery=20,sale=30,move=10", value_parser = parse_mix)]
    mix: Mix,
    /// Tracked locations the requests go to (at least two: moves need a destination).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "WH01,Store-001,DC01,Cambridge,Store-002,WH02,DC02,Central Store"
    )]
    locations: Vec<String>,
    /// Products per location (`P0` …).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    products: u32,
    /// Printed with the results.
    #[arg(long, default_value = "")]
    label: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Read,
    Delivery,
    Sale,
    Move,
}

/// Request kinds with their weights, none zero all together.
#[derive(Clone, Debug)]
struct Mix(Vec<(Kind, u32)>);

fn parse_mix(text: &str) -> Result<Mix, String> {
    let mut mix = Vec::new();
    for part in text.split(',') {
        let (name, weight) = part.split_once('=').ok_or("kind=weight,...")?;
        let kind = match name {
            "read" => Kind::Read,
            "delivery" => Kind::Delivery,
            "sale" => Kind::Sale,
            "move" => Kind::Move,
            other => {
                return Err(format!(
                    "unknown kind {other:?} (read, delivery, sale, move)"
                ));
            }
        };
        let weight = weight
            .parse()
            .map_err(|e| format!("weight of {name}: {e}"))?;
        mix.push((kind, weight));
    }
    if mix.iter().map(|(_, w)| u64::from(*w)).sum::<u64>() == 0 {
        return Err("all weights are zero".to_owned());
    }
    if mix.iter().map(|(_, w)| u64::from(*w)).sum::<u64>() > u64::from(u32::MAX) {
        return Err("the weights add up to more than 2^32 - 1".to_owned());
    }
    Ok(Mix(mix))
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && (0.1..=10_000_000.0).contains(&rate) => Ok(rate),
        _ => Err("a number of requests per second from 0.1 to 10000000".to_owned()),
    }
}

fn parse_url(text: &str) -> Result<String, String> {
    if text.starts_with("http://") || text.starts_with("https://") {
        Ok(text.trim_end_matches('/').to_owned())
    } else {
        Err("an http:// or https:// URL".to_owned())
    }
}

/// Latencies and statuses of one client, or of the whole run once merged.
struct Recorder {
    all: Histogram<u64>,
    per_kind: BTreeMap<Kind, Histogram<u64>>,
    /// By answer (`201`, `503`, `timeout`, …): how many, and how long each took.
    per_status: BTreeMap<String, Histogram<u64>>,
}

/// Microseconds the histograms cover: up to an hour, three significant digits.
fn histogram() -> Histogram<u64> {
    #[allow(clippy::unwrap_used)] // constant, valid bounds
    Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap()
}

/// A duration in whole microseconds, at least 1 (the histograms' lowest value).
fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

impl Recorder {
    fn new() -> Recorder {
        Recorder {
            all: histogram(),
            per_kind: BTreeMap::new(),
            per_status: BTreeMap::new(),
        }
    }

    fn record(&mut self, kind: Kind, status: String, latency: Duration) {
        let micros = micros(latency);
        self.all.saturating_record(micros);
        self.per_kind
            .entry(kind)
            .or_insert_with(histogram)
            .saturating_record(micros);
        self.per_status
            .entry(status)
            .or_insert_with(histogram)
            .saturating_record(micros);
    }

    fn merge(&mut self, other: Recorder) -> anyhow::Result<()> {
        self.all.add(&other.all)?;
        merge_histograms(&mut self.per_kind, other.per_kind)?;
        merge_histograms(&mut self.per_status, other.per_status)
    }
}

/// Adds each of `other`'s histograms to `mine`'s under the same key.
fn merge_histograms<K: Ord>(
    mine: &mut BTreeMap<K, Histogram<u64>>,
    other: BTreeMap<K, Histogram<u64>>,
) -> anyhow::Result<()> {
    for (key, histogram) in other {
        match mine.entry(key) {
            std::collections::btree_map::Entry::Occupied(mut slot) => {
                slot.get_mut().add(&histogram)?;
            }
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(histogram);
            }
        }
    }
    Ok(())
}

/// What a run hands to the report besides the recorded answers.
struct Run {
    elapsed: Duration,
    /// Open loop: how long after their due time requests were sent.
    lag: Option<Histogram<u64>>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    if options.locations.len() < 2 {
        bail!("--locations: at least two tracked locations (moves need a destination)");
    }
    let token = match (&options.token, &options.private_key) {
        (Some(token), _) => token.clone(),
        (None, Some(path)) => mint(path, &options.issuer, &options.audience)?,
        (None, None) => bail!("--token or --private-key is required"),
    };
    let idle = match options.rate {
        Some(_) => options.max_in_flight,
        None => options.concurrency,
    };
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(idle as usize)
        .timeout(options.timeout)
        .build()?;
    let target = Arc::new(Target {
        client,
        options,
        token,
    });
    prime(&target).await?;
    let (recorder, run) = match target.options.rate {
        Some(rate) => open_loop(target.clone(), rate).await?,
        None => closed_loop(target.clone()).await?,
    };
    report(&target.options, &recorder, &run);
    Ok(())
}

/// Where requests go and how they are signed.
struct Target {
    client: reqwest::Client,
    options: Options,
    token: String,
}

/// `--concurrency` clients, each waiting for an answer before sending the next request.
async fn closed_loop(target: Arc<Target>) -> anyhow::Result<(Recorder, Run)> {
    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + target.options.duration;
    let mut clients = JoinSet::new();
    for client in 0..target.options.concurrency {
        let (target, issued) = (target.clone(), issued.clone());
        clients.spawn(async move {
            let mut recorder = Recorder::new();
            let mut seed = rand_u64() ^ u64::from(client).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            while Instant::now() < deadline
                && issued.fetch_add(1, Ordering::Relaxed) < target.options.max_requests
            {
                let (kind, request) = target.next_request(&mut seed);
                let sent = Instant::now();
                let status = send(request).await;
                recorder.record(kind, status, sent.elapsed());
            }
            recorder
        });
    }
    let mut recorder = Recorder::new();
    while let Some(part) = clients.join_next().await {
        recorder.merge(part?)?;
    }
    let run = Run {
        elapsed: started.elapsed(),
        lag: None,
    };
    Ok((recorder, run))
}

/// Requests due at `rate` per second from the start, each timed from its due time.
async fn open_loop(target: Arc<Target>, rate: f64) -> anyhow::Result<(Recorder, Run)> {
    let recorder = Arc::new(Mutex::new(Recorder::new()));
    let slots = Arc::new(Semaphore::new(target.options.max_in_flight as usize));
    let mut seed = rand_u64();
    let mut lag = histogram();
    let mut requests = JoinSet::new();
    let started = Instant::now();
    for n in 0..target.options.max_requests {
        let offset = Duration::from_secs_f64(n as f64 / rate);
        if offset >= target.options.duration {
            break;
        }
        let due = started + offset;
        tokio::time::sleep_until(due.into()).await;
        let slot = slots.clone().acquire_owned().await?;
        lag.saturating_record(micros(due.elapsed()));
        let (kind, request) = target.next_request(&mut seed);
        let recorder = recorder.clone();
        requests.spawn(async move {
            let status = send(request).await;
            let latency = due.elapsed();
            drop(slot);
            let mut recorder = recorder.lock().unwrap_or_else(|e| e.into_inner());
            recorder.record(kind, status, latency);
        });
        while let Some(done) = requests.try_join_next() {
            done?;
        }
    }
    while let Some(done) = requests.join_next().await {
        done?;
    }
    let elapsed = started.elapsed();
    let recorder = Arc::into_inner(recorder)
        .context("a request still holds the recorder")?
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a request panicked while recording"))?;
    let run = Run {
        elapsed,
        lag: Some(lag),
    };
    Ok((recorder, run))
}

/// Sends a request and reads its whole answer: the status code, `timeout` or `error`.
async fn send(request: reqwest::RequestBuilder) -> String {
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16().to_string();
            let _ = response.bytes().await;
            status
        }
        Err(error) if error.is_timeout() => "timeout".to_owned(),
        Err(_) => "error".to_owned(),
    }
}

/// A token for `System Administrator`, valid for an hour, signed RS256 with the given key.
fn mint(path: &Path, issuer: &str, audience: &str) -> anyhow::Result<String> {
    let pem = std::fs::read(path).with_context(|| format!("--private-key {}", path.display()))?;
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(&pem).context("--private-key: RSA PEM")?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let claims = serde_json::json!({
        "sub": "loadgen", "name": "Load generator", "job": "System Administrator",
        "iss": issuer, "aud": audience, "iat": now, "exp": now + 3600,
    });
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    Ok(jsonwebtoken::encode(&header, &claims, &key)?)
}

/// Stocks every source pot generously so that moves rarely fail for lack of stock.
async fn prime(target: &Target) -> anyhow::Result<()> {
    let options = &target.options;
    let run = format!("{:08x}", rand_u64() as u32);
    for location in &options.locations {
        let products: Vec<serde_json::Value> = (0..options.products)
            .map(|p| serde_json::json!({"productId": format!("P{p}"), "quantity": 1.0e9}))
            .collect();
        let body = serde_json::json!({
            "requestId": format!("prime-{run}-{location}"), "supplierId": "loadgen",
            "supplierRef": run, "deliveredAt": "2024-01-01T00:00:00", "products": products,
        });
        let response = target
            .client
            .post(format!(
                "{}/locations/{}/deliveries",
                options.url,
                segment(location)
            ))
            .bearer_auth(&target.token)
            .json(&body)
            .send()
            .await
            .context("priming delivery")?;
        if !response.status().is_success() {
            bail!("priming delivery at {location}: {}", response.status());
        }
    }
    Ok(())
}

impl Target {
    /// A request of a kind drawn from the mix, to a random location and product.
    fn next_request(&self, seed: &mut u64) -> (Kind, reqwest::RequestBuilder) {
        let o = &self.options;
        let total: u64 = o.mix.0.iter().map(|(_, w)| u64::from(*w)).sum();
        let kind = pick(&o.mix.0, next(seed) % total);
        let n = o.locations.len() as u64;
        let location = &o.locations[(next(seed) % n) as usize];
        let product = format!("P{}", next(seed) % u64::from(o.products.max(1)));
        let id = format!("lg-{:016x}", next(seed));
        let at = format!(
            "2024-06-{:02}T{:02}:{:02}:00",
            1 + next(seed) % 28,
            next(seed) % 24,
            next(seed) % 60
        );
        let (loc, prod) = (segment(location), segment(&product));
        let client = &self.client;
        let request = match kind {
            Kind::Read => client.get(format!("{}/locations/{loc}/products/{prod}", o.url)),
            Kind::Delivery => client
                .post(format!("{}/locations/{loc}/deliveries", o.url))
                .json(&serde_json::json!({
                    "requestId": id, "supplierId": "loadgen", "supplierRef": "po", "deliveredAt": at,
                    "products": [{"productId": product, "quantity": 5.0}],
                })),
            Kind::Sale => client
                .post(format!("{}/locations/{loc}/products/{prod}/sales", o.url))
                .json(&serde_json::json!({
                    "requestId": id, "quantity": 1.0, "soldAt": at,
                })),
            Kind::Move => {
                let mut destination = &o.locations[(next(seed) % n) as usize];
                if destination == location {
                    let here = o.locations.iter().position(|l| l == location).unwrap_or(0);
                    destination = &o.locations[(here + 1) % o.locations.len()];
                }
                client
                    .post(format!("{}/locations/{loc}/{prod}/movements", o.url))
                    .json(&serde_json::json!({
                        "requestId": id, "destinationLocationId": destination, "quantity": 1.0,
                        "reason": "replenishment", "movedAt": at,
                    }))
            }
        };
        (kind, request.bearer_auth(&self.token))
    }
}

fn pick(mix: &[(Kind, u32)], mut roll: u64) -> Kind {
    for (kind, weight) in mix {
        if roll < u64::from(*weight) {
            return *kind;
        }
        roll -= u64::from(*weight);
    }
    mix[0].0
}

fn report(options: &Options, recorder: &Recorder, run: &Run) {
    let count = recorder.all.len();
    let throughput = count as f64 / run.elapsed.as_secs_f64();
    let mode = match options.rate {
        Some(rate) => format!("rate={rate} max_in_flight={}", options.max_in_flight),
        None => format!("concurrency={}", options.concurrency),
    };
    println!(
        "label={} {mode} duration={:.1}s requests={count} throughput={throughput:.0} req/s",
        options.label,
        run.elapsed.as_secs_f64(),
    );
    if let Some(lag) = &run.lag {
        println!("send lag (due to sent): {}", percentiles(lag));
    }
    println!("latency all: {}", percentiles(&recorder.all));
    for (kind, histogram) in &recorder.per_kind {
        println!("latency {kind:?}: {}", percentiles(histogram));
    }
    let statuses: Vec<String> = recorder
        .per_status
        .iter()
        .map(|(s, histogram)| format!("{s}={}", histogram.len()))
        .collect();
    println!("statuses: {}", statuses.join(" "));
    // Accepted and refused answers apart: under overload the 503s are the fast ones.
    for (status, histogram) in &recorder.per_status {
        println!("latency status {status}: {}", percentiles(histogram));
    }
}

fn percentiles(histogram: &Histogram<u64>) -> String {
    if histogram.is_empty() {
        return "n=0".to_owned();
    }
    let at = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    format!(
        "n={} p50={:.2}ms p90={:.2}ms p99={:.2}ms p99.9={:.2}ms max={:.2}ms",
        histogram.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        at(0.999),
        histogram.max() as f64 / 1000.0
    )
}

fn segment(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// xorshift64*: a small, fast, seedable generator (no cryptographic use).
fn next(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

fn rand_u64() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos());
    (nanos as u64) | 1
}
