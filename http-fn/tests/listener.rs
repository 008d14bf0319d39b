//! The public listener over real TCP: silent, slow and surplus connections are bounded while
//! normal requests keep being served, and what clients send cannot grow `/metrics`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use http_fn::app::Application;
use http_fn::config::{Binary, Config, JwtSettings, ServerSettings};
use http_fn::demo::{DEMO_AUDIENCE, DEMO_ISSUER, DemoKeys};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::{Instant, timeout};

/// Longer than any timeout these tests configure, so a wait fails only when nothing happens.
const DEADLINE: Duration = Duration::from_secs(20);

const LIVE: &[u8] = b"GET /health/live HTTP/1.1\r\nHost: t\r\n\r\n";

/// An `http-fn` (`NODE_ROLE=both`, demo estate, embedded store) served from this process.
struct Service {
    addr: SocketAddr,
    token: String,
    _stop: oneshot::Sender<()>,
}

impl Service {
    async fn start(limits: ServerSettings) -> Service {
        let vars = [("STOCK_HTTP_ADDR".to_owned(), "127.0.0.1:0".to_owned())];
        let mut config = Config::from_vars(vars, Binary::HttpFn, true).unwrap();
        let keys = DemoKeys::generate().unwrap();
        config.jwt = Some(JwtSettings {
            public_key_file: "(test)".into(),
            public_key_pem: keys.public_key_pem.clone(),
            issuer: DEMO_ISSUER.to_owned(),
            audience: DEMO_AUDIENCE.to_owned(),
        });
        let valid = Duration::from_secs(600);
        let token = keys
            .token("System Administrator", DEMO_ISSUER, DEMO_AUDIENCE, valid)
            .unwrap();
        let app = Application::build(config)
            .await
            .unwrap()
            .with_server_settings(limits);
        let addr = app.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        Service {
            addr,
            token,
            _stop: stop,
        }
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr).await.unwrap()
    }

    /// One request on a fresh connection; the status line of its answer.
    async fn live(&self) -> String {
        let mut stream = self.connect().await;
        stream.write_all(LIVE).await.unwrap();
        status_line(&mut stream).await
    }
}

/// The first line of the answer read from `stream`, within [`DEADLINE`].
async fn status_line(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buf = [0u8; 1024];
    let until = Instant::now() + DEADLINE;
    while !received.windows(2).any(|w| w == b"\r\n") {
        let read = tokio::time::timeout_at(until, stream.read(&mut buf))
            .await
            .expect("no answer before the deadline")
            .unwrap();
        assert!(read > 0, "closed without an answer");
        received.extend_from_slice(&buf[..read]);
    }
    let text = String::from_utf8_lossy(&received);
    text.lines().next().unwrap_or_default().to_owned()
}

/// Waits until the server closes `stream` (end of stream or reset), reading and dropping any
/// answer; fails at [`DEADLINE`].
async fn closed_by_server(stream: &mut TcpStream) {
    let until = Instant::now() + DEADLINE;
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(until, stream.read(&mut buf)).await {
            Err(_) => panic!("the server kept the connection open past {DEADLINE:?}"),
            Ok(Ok(0) | Err(_)) => return,
            Ok(Ok(_)) => {}
        }
    }
}

fn limits(header: u64, idle: u64, body: u64, max_connections: usize) -> ServerSettings {
    ServerSettings {
        header_read_timeout: Duration::from_millis(header),
        idle_timeout: Duration::from_millis(idle),
        body_read_timeout: Duration::from_millis(body),
        max_connections,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_stalled_mid_header_is_closed_while_other_requests_are_served() {
    let service = Service::start(limits(1_000, 60_000, 30_000, 64)).await;
    let mut stalled = service.connect().await;
    stalled
        .write_all(b"GET /health/live HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        .await
        .unwrap();
    let close = tokio::spawn(async move { closed_by_server(&mut stalled).await });
    // Served the whole time the stalled head is pending, and after.
    let mut served = 0;
    while !close.is_finished() && served < 10_000 {
        assert_eq!(service.live().await, "HTTP/1.1 200 OK");
        served += 1;
    }
    close.await.unwrap();
    assert_eq!(service.live().await, "HTTP/1.1 200 OK");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_idle_keep_alive_connections_are_closed_after_the_idle_timeout() {
    let service = Service::start(limits(30_000, 1_000, 30_000, 64)).await;
    let mut silent = service.connect().await;
    let mut kept_alive = service.connect().await;
    kept_alive.write_all(LIVE).await.unwrap();
    assert_eq!(status_line(&mut kept_alive).await, "HTTP/1.1 200 OK");
    closed_by_server(&mut silent).await;
    closed_by_server(&mut kept_alive).await;
    assert_eq!(service.live().await, "HTTP/1.1 200 OK");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_are_served_only_once_another_closes() {
    let service = Service::start(limits(60_000, 60_000, 30_000, 2)).await;
    let mut first = service.connect().await;
    first.write_all(LIVE).await.unwrap();
    assert_eq!(status_line(&mut first).await, "HTTP/1.1 200 OK");
    let second = service.connect().await;
    let mut third = service.connect().await;
    third.write_all(LIVE).await.unwrap();
    let mut buf = [0u8; 64];
    let early = timeout(Duration::from_secs(1), third.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "a third connection was served past a cap of two"
    );
    drop(first);
    assert_eq!(status_line(&mut third).await, "HTTP/1.1 200 OK");
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_arriving_is_refused_at_the_body_read_timeout() {
    let service = Service::start(limits(30_000, 60_000, 1_000, 64)).await;
    let mut stream = service.connect().await;
    let head = format!(
        "POST /locations/WH01/deliveries HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"requestId\":",
        service.token
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    assert_eq!(status_line(&mut stream).await, "HTTP/1.1 400 Bad Request");
}

/// A random token of 1 to 1024 upper-case letters: a method hyper accepts and nobody defined.
fn random_method(rng: &mut impl Rng) -> String {
    let len = rng.random_range(1..=1024);
    (0..len)
        .map(|_| char::from(rng.random_range(b'A'..=b'Z')))
        .collect()
}

fn random_path(rng: &mut impl Rng) -> String {
    let len = rng.random_range(1..=2048);
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789-_/";
    let tail: String = (0..len)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect();
    format!("/{tail}")
}

/// `/metrics` after 10 000 requests with random methods and paths stays under this size.
const METRICS_BOUND: usize = 64 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_requests_with_random_methods_and_paths_leave_metrics_bounded() {
    let service = Service::start(ServerSettings::default()).await;
    let base = format!("http://{}", service.addr);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut tasks = Vec::new();
    for seed in 0..8 {
        let (client, base) = (client.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed);
            for _ in 0..1_250 {
                let method = random_method(&mut rng);
                let path = random_path(&mut rng);
                let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
                let answer = client.request(method, format!("{base}{path}")).send().await;
                assert!(answer.unwrap().status().is_client_error());
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    println!(
        "/metrics after 10 000 random requests: {} bytes",
        metrics.len()
    );
    assert!(
        metrics.len() < METRICS_BOUND,
        "/metrics grew to {} bytes",
        metrics.len()
    );
}
