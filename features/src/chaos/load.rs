//! The seeded client load: requests, their bodies, and the retry-until-final loop that records
//! every request's outcome.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::Layout;
use crate::stack::{Api, HttpReply, segment};

/// Longest a client waits for one answer before it sends the same request again: the HTTP
/// node answers within the command timeout plus its settling time, well under this.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(8);
/// Back-off after a 503, a connection error or a timeout: doubled each time, capped.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_millis(800);
/// Bounds on the loops, far beyond what any run reaches.
const MAX_ATTEMPTS: u32 = 10_000;
const MAX_REQUESTS_PER_CLIENT: u64 = 1_000_000;
/// Pause of a client between two requests, in milliseconds: keeps the load within what two cores
/// and the logs of a debug build take.
const THINK_MS: std::ops::RangeInclusive<u64> = 5..=40;
/// Products each client owns; no other client touches them.
pub const PRODUCTS_PER_CLIENT: usize = 3;
/// The product of the liveness writes.
pub const LIVE_PRODUCT: &str = "live";

/// What a request does.
#[derive(Clone, Debug)]
pub enum Op {
    /// A delivery of `lines` (product, quantity) at `location`.
    Delivery {
        location: String,
        lines: Vec<(String, f64)>,
    },
    /// A sale of `quantity` of `product` at `location`.
    Sale {
        location: String,
        product: String,
        quantity: f64,
    },
    /// A move of `quantity` of `product` from `source` to `destination`.
    Move {
        source: String,
        destination: String,
        product: String,
        quantity: f64,
        cross_shard: bool,
    },
}

impl Op {
    /// The kind, for the summary.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Delivery { .. } => "delivery",
            Op::Sale { .. } => "sale",
            Op::Move {
                cross_shard: true, ..
            } => "move_cross_shard",
            Op::Move { .. } => "move_same_shard",
        }
    }

    /// The change of `quantity + pendingAdjustment` of each `(location, product)` once applied.
    pub fn effects(&self) -> Vec<((String, String), f64)> {
        match self {
            Op::Delivery { location, lines } => lines
                .iter()
                .map(|(product, q)| ((location.clone(), product.clone()), *q))
                .collect(),
            Op::Sale {
                location,
                product,
                quantity,
            } => vec![((location.clone(), product.clone()), -quantity)],
            Op::Move {
                source,
                destination,
                product,
                quantity,
                ..
            } => vec![
                ((source.clone(), product.clone()), -quantity),
                ((destination.clone(), product.clone()), *quantity),
            ],
        }
    }
}

/// One client request: sent again, when needed, with the same path and body.
#[derive(Clone, Debug)]
pub struct Request {
    pub id: String,
    pub op: Op,
    pub path: String,
    pub body: Value,
}

/// What happened to the attempts of one request.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub attempts: u64,
    pub unavailable: u64,
    pub timeouts: u64,
    pub connection_errors: u64,
    /// Answers that break the failure contract: a 5xx other than 503, a 503 without
    /// `Retry-After`.
    pub bad_answers: Vec<String>,
}

impl Tally {
    /// Attempts beyond the first.
    pub fn retries(&self) -> u64 {
        self.attempts.saturating_sub(1)
    }
}

/// A request and its outcome.
#[derive(Clone, Debug)]
pub struct Record {
    pub request: Request,
    /// The final answer (201, 202 or 4xx) obtained while the load ran, if any.
    pub during_run: Option<HttpReply>,
    /// The final answer, once known (after resolution).
    pub answer: Option<HttpReply>,
    /// For a move answered 202: the replay that answered 201 once its credit landed.
    pub landed: Option<HttpReply>,
    pub tally: Tally,
}

impl Record {
    /// Whether the final answer says the request took effect.
    pub fn applied(&self) -> bool {
        self.answer
            .as_ref()
            .is_some_and(|a| a.status == 201 || a.status == 202)
    }
}

/// Sends `request` until a final answer (anything but a 5xx), a connection error or a timeout
/// being retried with back-off; gives up (None) once `until` has passed.
pub async fn send(
    stack: &impl Api,
    request: &Request,
    until: Instant,
    tally: &mut Tally,
) -> Option<HttpReply> {
    let mut pause = FIRST_BACKOFF;
    for _ in 0..MAX_ATTEMPTS {
        tally.attempts += 1;
        let sent = stack.post(&request.path, &request.body);
        match tokio::time::timeout(CLIENT_TIMEOUT, sent).await {
            Ok(Ok(reply)) if reply.status < 500 => return Some(reply),
            Ok(Ok(reply)) => note_unavailable(request, &reply, tally),
            Ok(Err(_)) => tally.connection_errors += 1,
            Err(_) => tally.timeouts += 1,
        }
        if Instant::now() + pause >= until {
            return None;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_BACKOFF);
    }
    None
}

fn note_unavailable(request: &Request, reply: &HttpReply, tally: &mut Tally) {
    let attempt = tally.attempts;
    if reply.status == 503 {
        tally.unavailable += 1;
        if reply.retry_after.is_none() {
            let id = &request.id;
            let bad = format!("{id} attempt {attempt}: 503 without Retry-After");
            tally.bad_answers.push(bad);
        }
    } else {
        let (id, status, body) = (&request.id, reply.status, &reply.body);
        let bad = format!("{id} attempt {attempt}: {status} {body:?}");
        tally.bad_answers.push(bad);
    }
}

/// Sends `request` once through [`send`] and records the outcome.
pub async fn record(stack: &impl Api, request: Request, until: Instant) -> Record {
    let mut tally = Tally::default();
    let answer = send(stack, &request, until, &mut tally).await;
    Record {
        request,
        during_run: answer.clone(),
        answer,
        landed: None,
        tally,
    }
}

/// Client `client`'s load until `end`: one request at a time, each retried until final.
pub async fn client(
    stack: &impl Api,
    layout: &Layout,
    seed: u64,
    client: usize,
    end: Instant,
) -> Vec<Record> {
    let mut rng = StdRng::seed_from_u64(client_seed(seed, client));
    let mut records = Vec::new();
    for n in 0..MAX_REQUESTS_PER_CLIENT {
        if Instant::now() >= end {
            break;
        }
        let request = next_request(&mut rng, layout, seed, client, n);
        let think = Duration::from_millis(rng.random_range(THINK_MS));
        records.push(record(stack, request, end).await);
        tokio::time::sleep(think).await;
    }
    records
}

/// Each client's own stream of random numbers, derived from the run's seed.
fn client_seed(seed: u64, client: usize) -> u64 {
    let c = u64::try_from(client).unwrap_or(u64::MAX);
    seed ^ 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(c + 1)
}

/// The products client `client` owns.
pub fn products_of(client: usize) -> Vec<String> {
    (0..PRODUCTS_PER_CLIENT)
        .map(|k| format!("c{client}-p{k}"))
        .collect()
}

/// Request `n` of client `client`: 40 % deliveries, 25 % sales, 35 % moves (half of them
/// across shards). Draws the same numbers whatever happened before, so a seed replays it.
fn next_request(rng: &mut StdRng, layout: &Layout, seed: u64, client: usize, n: u64) -> Request {
    let id = format!("chaos-{seed}-c{client}-{n}");
    let at = business_time(n);
    let products = products_of(client);
    let location = rng.random_range(0..layout.locations.len());
    let roll = rng.random_range(0..100);
    let op = if roll < 40 {
        let count = rng.random_range(1..=3);
        let lines = (0..count)
            .map(|_| (pick(rng, &products), f64::from(rng.random_range(1..=10u8))))
            .collect();
        Op::Delivery {
            location: layout.locations[location].clone(),
            lines,
        }
    } else if roll < 65 {
        Op::Sale {
            location: layout.locations[location].clone(),
            product: pick(rng, &products),
            quantity: f64::from(rng.random_range(1..=4u8)),
        }
    } else {
        let cross_shard = rng.random_bool(0.5);
        let destination = if cross_shard {
            layout.other_shard(location, rng.random_range(0..layout.locations.len()))
        } else {
            layout.partner(location)
        };
        Op::Move {
            source: layout.locations[location].clone(),
            destination: layout.locations[destination].clone(),
            product: pick(rng, &products),
            quantity: f64::from(rng.random_range(1..=6u8)),
            cross_shard,
        }
    };
    request(id, op, &at)
}

fn pick(rng: &mut StdRng, items: &[String]) -> String {
    items.choose(rng).cloned().unwrap_or_default()
}

/// The business time of request `n`: one second apart, within one day.
fn business_time(n: u64) -> String {
    let s = n % 86_400;
    format!(
        "2024-12-26T{:02}:{:02}:{:02}",
        s / 3600,
        (s / 60) % 60,
        s % 60
    )
}

/// The liveness write at `location`: one unit of [`LIVE_PRODUCT`].
pub fn liveness_request(seed: u64, location: &str) -> Request {
    let op = Op::Delivery {
        location: location.to_owned(),
        lines: vec![(LIVE_PRODUCT.to_owned(), 1.0)],
    };
    request(
        format!("chaos-{seed}-live-{location}"),
        op,
        "2024-12-27T00:00:00",
    )
}

/// The path and body of `op`.
fn request(id: String, op: Op, at: &str) -> Request {
    let (path, body) = match &op {
        Op::Delivery { location, lines } => {
            let products: Vec<Value> = lines
                .iter()
                .map(|(p, q)| json!({"productId": p, "quantity": q}))
                .collect();
            let path = format!("/locations/{}/deliveries", segment(location));
            let body = json!({
                "requestId": id, "supplierId": "chaos", "supplierRef": "po-chaos",
                "deliveredAt": at, "products": products,
            });
            (path, body)
        }
        Op::Sale {
            location,
            product,
            quantity,
        } => {
            let (l, p) = (segment(location), segment(product));
            let path = format!("/locations/{l}/products/{p}/sales");
            let body = json!({"requestId": id, "quantity": quantity, "soldAt": at});
            (path, body)
        }
        Op::Move {
            source,
            destination,
            product,
            quantity,
            ..
        } => {
            let path = format!(
                "/locations/{}/{}/movements",
                segment(source),
                segment(product)
            );
            let body = json!({
                "requestId": id, "destinationLocationId": destination, "quantity": quantity,
                "reason": "replenishment", "movedAt": at,
            });
            (path, body)
        }
    };
    Request { id, op, path, body }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_each_client_the_same_requests_every_time() {
        let layout = Layout::new(32);
        let draw = |seed| {
            let mut rng = StdRng::seed_from_u64(client_seed(seed, 2));
            (0..20)
                .map(|n| next_request(&mut rng, &layout, seed, 2, n).body.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }

    #[test]
    fn a_move_takes_from_its_source_and_gives_to_its_destination() {
        let op = Op::Move {
            source: "A".to_owned(),
            destination: "B".to_owned(),
            product: "p".to_owned(),
            quantity: 3.0,
            cross_shard: true,
        };
        let effects = op.effects();
        assert_eq!(effects[0], (("A".to_owned(), "p".to_owned()), -3.0));
        assert_eq!(effects[1], (("B".to_owned(), "p".to_owned()), 3.0));
    }

    #[test]
    fn business_times_are_valid_local_date_times() {
        assert_eq!(business_time(0), "2024-12-26T00:00:00");
        assert_eq!(business_time(3_661), "2024-12-26T01:01:01");
        assert_eq!(business_time(86_400 + 59), "2024-12-26T00:00:59");
    }
}
