//! Load generator: drives a mix of stock reads, deliveries, sales and moves against a Stock API
//! URL at a fixed concurrency and prints throughput, latency percentiles and status counts.
//!
//! ```text
//! loadgen --url http://127.0.0.1:8080 --token "$TOKEN" --concurrency 16 --duration 20s \
//!         --mix read=40,delivery=20,sale=30,move=10 --locations WH01,Store-001,DC01,Cambridge
//! ```
//! Every request has a unique `requestId`; the run is bounded by `--duration` and `--requests`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The command line, parsed.
struct Options {
    url: String,
    token: String,
    concurrency: usize,
    duration: Duration,
    max_requests: u64,
    mix: Vec<(Kind, u32)>,
    locations: Vec<String>,
    products: u32,
    label: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Read,
    Delivery,
    Sale,
    Move,
}

impl Kind {
    fn parse(name: &str) -> anyhow::Result<Kind> {
        Ok(match name {
            "read" => Kind::Read,
            "delivery" => Kind::Delivery,
            "sale" => Kind::Sale,
            "move" => Kind::Move,
            other => bail!("--mix: unknown kind {other:?} (read, delivery, sale, move)"),
        })
    }
}

/// Per-run results gathered by all clients.
#[derive(Default)]
struct Results {
    latencies_us: Vec<u64>,
    statuses: BTreeMap<String, u64>,
    per_kind: BTreeMap<String, Vec<u64>>,
}

const USAGE: &str = "usage: loadgen --url URL (--token JWT | --private-key PEM --issuer ISS --audience AUD) \
[--concurrency N] [--duration 20s] [--requests N] [--mix read=40,delivery=20,sale=30,move=10] \
[--locations A,B,...] [--products N] [--label TEXT]";

fn parse_options() -> anyhow::Result<Options> {
    let mut args: BTreeMap<String, String> = BTreeMap::new();
    let mut iter = std::env::args().skip(1);
    while let Some(flag) = iter.next() {
        let Some(name) = flag.strip_prefix("--") else {
            bail!("{USAGE}")
        };
        let value = iter
            .next()
            .with_context(|| format!("--{name} needs a value\n{USAGE}"))?;
        args.insert(name.to_owned(), value);
    }
    let get = |name: &str, default: &str| {
        args.get(name)
            .cloned()
            .unwrap_or_else(|| default.to_owned())
    };
    let url = args
        .get("url")
        .cloned()
        .context(USAGE)?
        .trim_end_matches('/')
        .to_owned();
    let token = match (args.get("token"), args.get("private-key")) {
        (Some(token), _) => token.clone(),
        (None, Some(path)) => mint(path, &get("issuer", ""), &get("audience", ""))?,
        (None, None) => bail!("--token or --private-key is required\n{USAGE}"),
    };
    let mut mix = Vec::new();
    for part in get("mix", "read=40,delivery=20,sale=30,move=10").split(',') {
        let (name, weight) = part.split_once('=').context("--mix: kind=weight,...")?;
        mix.push((Kind::parse(name)?, weight.parse().context("--mix: weight")?));
    }
    if mix.iter().all(|(_, w)| *w == 0) {
        bail!("--mix: all weights are zero");
    }
    let locations: Vec<String> = get(
        "locations",
        "WH01,Store-001,DC01,Cambridge,Store-002,WH02,DC02,Central Store",
    )
    .split(',')
    .map(str::to_owned)
    .collect();
    if locations.len() < 2 {
        bail!("--locations: at least two tracked locations (moves need a destination)");
    }
    Ok(Options {
        url,
        token,
        concurrency: get("concurrency", "16").parse().context("--concurrency")?,
        duration: humantime::parse_duration(&get("duration", "20s")).context("--duration")?,
        max_requests: get("requests", "10000000").parse().context("--requests")?,
        mix,
        locations,
        products: get("products", "50").parse().context("--products")?,
        label: get("label", ""),
    })
}

/// A token for `System Administrator`, valid for an hour, signed RS256 with the given key.
fn mint(path: &str, issuer: &str, audience: &str) -> anyhow::Result<String> {
    let pem = std::fs::read(path).with_context(|| format!("--private-key {path}"))?;
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = Arc::new(parse_options()?);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(options.concurrency)
        .build()?;
    prime(&client, &options).await?;
    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + options.duration;
    let mut tasks = Vec::new();
    for worker in 0..options.concurrency {
        let (client, options, issued) = (client.clone(), options.clone(), issued.clone());
        tasks.push(tokio::spawn(async move {
            run_client(worker, client, options, issued, deadline).await
        }));
    }
    let mut results = Results::default();
    for task in tasks {
        let part = task.await?;
        results.latencies_us.extend(part.latencies_us);
        for (status, n) in part.statuses {
            *results.statuses.entry(status).or_default() += n;
        }
        for (kind, lat) in part.per_kind {
            results.per_kind.entry(kind).or_default().extend(lat);
        }
    }
    report(&options, &mut results, started.elapsed());
    Ok(())
}

/// Stocks every source pot generously so that moves rarely fail for lack of stock.
async fn prime(client: &reqwest::Client, options: &Options) -> anyhow::Result<()> {
    let run = format!("{:08x}", rand_u64() as u32);
    for location in &options.locations {
        let products: Vec<serde_json::Value> = (0..options.products)
            .map(|p| serde_json::json!({"productId": format!("P{p}"), "quantity": 1.0e9}))
            .collect();
        let body = serde_json::json!({
            "requestId": format!("prime-{run}-{location}"), "supplierId": "loadgen",
            "supplierRef": run, "deliveredAt": "2024-01-01T00:00:00", "products": products,
        });
        let response = client
            .post(format!(
                "{}/locations/{}/deliveries",
                options.url,
                segment(location)
            ))
            .bearer_auth(&options.token)
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

async fn run_client(
    worker: usize,
    client: reqwest::Client,
    options: Arc<Options>,
    issued: Arc<AtomicU64>,
    deadline: Instant,
) -> Results {
    let mut results = Results::default();
    let mut seed = rand_u64() ^ (worker as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let total: u32 = options.mix.iter().map(|(_, w)| w).sum();
    while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < options.max_requests
    {
        let roll = (next(&mut seed) % u64::from(total)) as u32;
        let kind = pick(&options.mix, roll);
        let request = build(&client, &options, kind, &mut seed);
        let sent = Instant::now();
        let status = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16().to_string();
                let _ = response.bytes().await;
                status
            }
            Err(error) if error.is_timeout() => "timeout".to_owned(),
            Err(_) => "error".to_owned(),
        };
        let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
        results.latencies_us.push(micros);
        results
            .per_kind
            .entry(format!("{kind:?}"))
            .or_default()
            .push(micros);
        *results.statuses.entry(status).or_default() += 1;
    }
    results
}

fn pick(mix: &[(Kind, u32)], mut roll: u32) -> Kind {
    for (kind, weight) in mix {
        if roll < *weight {
            return *kind;
        }
        roll -= weight;
    }
    mix[0].0
}

fn build(
    client: &reqwest::Client,
    o: &Options,
    kind: Kind,
    seed: &mut u64,
) -> reqwest::RequestBuilder {
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
    let request = match kind {
        Kind::Read => {
            return client
                .get(format!("{}/locations/{loc}/products/{prod}", o.url))
                .bearer_auth(&o.token);
        }
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
                destination =
                    &o.locations[(o.locations.iter().position(|l| l == location).unwrap_or(0) + 1)
                        % o.locations.len()];
            }
            client
                .post(format!("{}/locations/{loc}/{prod}/movements", o.url))
                .json(&serde_json::json!({
                    "requestId": id, "destinationLocationId": destination, "quantity": 1.0,
                    "reason": "replenishment", "movedAt": at,
                }))
        }
    };
    request.bearer_auth(&o.token)
}

fn report(options: &Options, results: &mut Results, elapsed: Duration) {
    let count = results.latencies_us.len();
    let throughput = count as f64 / elapsed.as_secs_f64();
    println!(
        "label={} concurrency={} duration={:.1}s requests={} throughput={:.0} req/s",
        options.label,
        options.concurrency,
        elapsed.as_secs_f64(),
        count,
        throughput
    );
    println!("latency all: {}", percentiles(&mut results.latencies_us));
    for (kind, latencies) in results.per_kind.iter_mut() {
        println!("latency {kind}: {}", percentiles(latencies));
    }
    let statuses: Vec<String> = results
        .statuses
        .iter()
        .map(|(s, n)| format!("{s}={n}"))
        .collect();
    println!("statuses: {}", statuses.join(" "));
}

fn percentiles(latencies: &mut [u64]) -> String {
    if latencies.is_empty() {
        return "n=0".to_owned();
    }
    latencies.sort_unstable();
    let at =
        |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize] as f64 / 1000.0;
    format!(
        "n={} p50={:.2}ms p90={:.2}ms p99={:.2}ms p99.9={:.2}ms max={:.2}ms",
        latencies.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        at(0.999),
        at(1.0)
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
