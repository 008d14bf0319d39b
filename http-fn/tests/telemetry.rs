//! The real `http-fn` binary's logs and traces: trace ids on every line logged for a request, in
//! both tiers, none outside requests, and spans exported over OTLP when asked
//! (docs/architecture.md §16.1–§16.2).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use http_fn::demo::{DEMO_AUDIENCE, DEMO_ISSUER, DemoKeys};
use serde_json::Value;
use shared::shard::shard_of;

const DEADLINE: Duration = Duration::from_secs(15);
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN: &str = "00f067aa0ba902b7";
const SHARDS: u32 = 256;

/// Tracked locations; the test picks two of them on different shards.
const CANDIDATES: [&str; 6] = ["WH-A", "WH-B", "Store-C", "Store-D", "DC-E", "DC-F"];

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn traceparent(trace: &str) -> String {
    format!("00-{trace}-{PARENT_SPAN}-01")
}

/// Two tracked locations owned by different shards.
fn cross_shard_pair() -> (&'static str, &'static str) {
    for a in CANDIDATES {
        for b in CANDIDATES {
            if shard_of(a, SHARDS) != shard_of(b, SHARDS) {
                return (a, b);
            }
        }
    }
    panic!("all candidate locations share a shard");
}

/// A running `http-fn` (`NODE_ROLE=both`) with its stdout lines collected.
struct Service {
    child: Child,
    addr: SocketAddr,
    token: String,
    lines: Receiver<String>,
    seen: Vec<String>,
    dir: PathBuf,
}

impl Service {
    fn start(extra_env: &[(&str, String)]) -> Service {
        let dir = std::env::temp_dir().join(format!(
            "http-fn-telemetry-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let keys = DemoKeys::generate().unwrap();
        let key_file = dir.join("jwt.pem");
        std::fs::write(&key_file, &keys.public_key_pem).unwrap();
        let locations_file = dir.join("locations.json");
        std::fs::write(&locations_file, locations_json()).unwrap();
        let token = keys
            .token(
                "System Administrator",
                DEMO_ISSUER,
                DEMO_AUDIENCE,
                Duration::from_secs(3600),
            )
            .unwrap();

        let mut command = Command::new(env!("CARGO_BIN_EXE_http-fn"));
        for (name, _) in std::env::vars() {
            if name.starts_with("OTEL_") || name.starts_with("STOCK_") || name.ends_with("_proxy") {
                command.env_remove(name);
            }
        }
        command
            .env("NODE_ROLE", "both")
            .env("STOCK_HTTP_ADDR", "127.0.0.1:0")
            .env("RUST_LOG", "debug")
            .env("STOCK_LOCATIONS_FILE", &locations_file)
            .env("STOCK_JWT_PUBLIC_KEY_FILE", &key_file)
            .env("STOCK_JWT_ISSUER", DEMO_ISSUER)
            .env("STOCK_JWT_AUDIENCE", DEMO_AUDIENCE)
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("ALL_PROXY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in extra_env {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut service = Service {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            token,
            lines,
            seen: Vec::new(),
            dir,
        };
        let listening =
            service.wait_for_line("the listening line", |line| listening_addr(line).is_some());
        service.addr = listening_addr(&listening).unwrap();
        service
    }

    /// The first line (already seen or arriving before the deadline) that `wanted` accepts.
    fn wait_for_line(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        if let Some(line) = self.seen.iter().find(|line| wanted(line)) {
            return line.clone();
        }
        let until = Instant::now() + DEADLINE;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no log line for {what} within {DEADLINE:?}; last lines:\n{}",
                    self.seen[self.seen.len().saturating_sub(20)..].join("\n")
                ),
            }
        }
    }

    /// The first JSON line that `wanted` accepts.
    fn wait_for(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let line = self.wait_for_line(what, |line| json(line).is_some_and(|j| wanted(&j)));
        json(&line).unwrap()
    }

    fn send(&self, method: &str, path: &str, traceparent: Option<&str>, body: &str) -> Reply {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
             Authorization: Bearer {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n",
            self.addr,
            self.token,
            body.len()
        );
        if let Some(tp) = traceparent {
            head.push_str(&format!(
                "traceparent: {tp}\r\ntracestate: vendor=value\r\n"
            ));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body.as_bytes()).unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        Reply::parse(&raw)
    }

    fn sale(&self, location: &str, request_id: &str, traceparent: Option<&str>) -> Reply {
        let body = format!(
            r#"{{"requestId":"{request_id}","quantity":1,"soldAt":"2024-12-07T12:00:00"}}"#
        );
        let path = format!("/locations/{location}/products/SKU1/sales");
        self.send("POST", &path, traceparent, &body)
    }

    /// Sends SIGTERM and waits for the process to end.
    fn stop(&mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        let until = Instant::now() + DEADLINE;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < until, "http-fn did not stop on SIGTERM");
            thread::sleep(Duration::from_millis(20));
        };
        // Killed by the signal's default action means no drain and no span flush.
        assert!(
            status.success(),
            "http-fn did not stop gracefully: {status}"
        );
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
}

impl Reply {
    fn parse(raw: &str) -> Reply {
        let head = raw.split("\r\n\r\n").next().unwrap_or_default();
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Reply { status, headers }
    }

    fn has_header(&self, name: &str) -> bool {
        self.headers.iter().any(|(k, _)| k == name)
    }
}

fn locations_json() -> String {
    let roots: Vec<String> = CANDIDATES
        .iter()
        .map(|id| {
            format!(
                r#"{{"id":"{id}","name":"{id}","roles":["Warehouse","TrackedInventoryLocation"],"createdAt":"2024-01-15T09:00:00Z","children":[]}}"#
            )
        })
        .collect();
    format!("[{}]", roots.join(","))
}

/// The bound address of the listening line: its `http_addr` field, in either log format.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let addr = match json(line) {
        Some(object) => object.get("http_addr")?.as_str()?.to_owned(),
        None => line
            .split("http_addr=\"")
            .nth(1)?
            .split('"')
            .next()?
            .to_owned(),
    };
    addr.parse().ok()
}

fn json(line: &str) -> Option<Value> {
    serde_json::from_str::<Value>(line)
        .ok()
        .filter(Value::is_object)
}

fn str_field<'a>(line: &'a Value, name: &str) -> &'a str {
    line.get(name).and_then(Value::as_str).unwrap_or_default()
}

fn has_trace(line: &Value, trace: &str) -> bool {
    str_field(line, "trace_id") == trace
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_stock_pot(line: &Value) -> bool {
    str_field(line, "target").contains("stock_pot")
}

/// A line of the HTTP tier: its own modules, or the server span's plumbing in `shared::http`.
fn is_http_tier(line: &Value) -> bool {
    let target = str_field(line, "target");
    target.starts_with("http_fn") || target == "shared::http"
}

#[test]
fn a_sale_with_a_traceparent_logs_in_that_trace_in_the_http_tier_and_the_stock_pot() {
    let mut service = Service::start(&[]);
    let reply = service.sale("WH-A", "sale-1", Some(&traceparent(TRACE)));
    assert_eq!(reply.status, 201);
    assert!(!reply.has_header("traceparent"), "{:?}", reply.headers);
    assert!(!reply.has_header("tracestate"), "{:?}", reply.headers);

    let pot = service.wait_for("the stock pot line of the sale", |l| {
        is_stock_pot(l) && has_trace(l, TRACE)
    });
    assert_eq!(str_field(&pot, "level"), "DEBUG");
    assert_eq!(str_field(&pot, "request_id"), "sale-1");
    assert!(is_lower_hex(str_field(&pot, "span_id"), 16), "{pot}");

    let http = service.wait_for("an http tier line of the sale", |l| {
        is_http_tier(l) && has_trace(l, TRACE)
    });
    let http_span = str_field(&http, "span_id");
    assert!(is_lower_hex(http_span, 16), "{http}");
    assert_ne!(
        http_span, PARENT_SPAN,
        "the server span has a span id of its own"
    );
    assert_ne!(http_span, str_field(&pot, "span_id"));
}

#[test]
fn a_cross_shard_move_credits_the_destination_in_the_request_trace() {
    let (source, destination) = cross_shard_pair();
    let mut service = Service::start(&[]);
    let count = r#"{"requestId":"count-1","reason":"AdminOverride","quantity":100,"countedAt":"2024-12-07T12:00:00"}"#;
    let path = format!("/locations/{source}/products/SKU1/counts");
    assert_eq!(service.send("POST", &path, None, count).status, 201);

    let trace = "0af7651916cd43dd8448eb211c80319c";
    let movement = format!(
        r#"{{"requestId":"move-1","destinationLocationId":"{destination}","quantity":10,"reason":"replenishment","movedAt":"2024-12-07T13:00:00"}}"#
    );
    let path = format!("/locations/{source}/SKU1/movements");
    let reply = service.send("POST", &path, Some(&traceparent(trace)), &movement);
    assert!(matches!(reply.status, 201 | 202), "{}", reply.status);

    let debit = service.wait_for("the move at the source", |l| {
        is_stock_pot(l) && has_trace(l, trace) && str_field(l, "command") == "MoveStock"
    });
    let credit = service.wait_for("the credit at the destination", |l| {
        is_stock_pot(l) && has_trace(l, trace) && str_field(l, "command") == "CreditMove"
    });
    assert_eq!(str_field(&credit, "location"), destination);
    assert!(is_lower_hex(str_field(&credit, "span_id"), 16), "{credit}");
    assert_ne!(str_field(&credit, "span_id"), str_field(&debit, "span_id"));
}

#[test]
fn a_health_probe_logs_its_info_line_inside_a_trace() {
    let mut service = Service::start(&[]);
    let reply = service.send("GET", "/health/live", None, "");
    assert_eq!(reply.status, 200);
    assert!(!reply.has_header("traceparent"));
    let probe = service.wait_for("the health probe line", |l| {
        str_field(l, "message").contains("health probe") && str_field(l, "level") == "INFO"
    });
    assert!(is_lower_hex(str_field(&probe, "trace_id"), 32), "{probe}");
    assert!(is_lower_hex(str_field(&probe, "span_id"), 16), "{probe}");
}

#[test]
fn a_request_without_a_valid_traceparent_starts_a_fresh_trace() {
    let mut service = Service::start(&[]);
    assert_eq!(service.sale("WH-B", "fresh-1", None).status, 201);
    let invalid = format!("00-{}-{PARENT_SPAN}-01", TRACE.to_uppercase());
    assert_eq!(service.sale("WH-B", "fresh-2", Some(&invalid)).status, 201);

    let mut traces = Vec::new();
    for request_id in ["fresh-1", "fresh-2"] {
        let pot = service.wait_for(request_id, |l| {
            is_stock_pot(l) && str_field(l, "request_id") == request_id
        });
        let trace = str_field(&pot, "trace_id").to_owned();
        assert!(is_lower_hex(&trace, 32), "{pot}");
        assert_ne!(trace, TRACE);
        let t = trace.clone();
        service.wait_for("an http tier line in the same trace", move |l| {
            is_http_tier(l) && has_trace(l, &t)
        });
        traces.push(trace);
    }
    assert_ne!(traces[0], traces[1]);
}

#[test]
fn start_up_lines_carry_no_trace_ids() {
    let service = Service::start(&[]);
    assert!(!service.seen.is_empty());
    for line in &service.seen {
        let line = json(line).unwrap_or_else(|| panic!("not a JSON object: {line}"));
        for field in ["timestamp", "level", "target", "message"] {
            assert!(line.get(field).is_some(), "{field} missing: {line}");
        }
        assert!(str_field(&line, "timestamp").ends_with('Z'), "{line}");
        assert_eq!(line.get("trace_id"), None, "{line}");
        assert_eq!(line.get("span_id"), None, "{line}");
    }
}

#[test]
fn the_text_format_shows_the_trace_ids_too() {
    let mut service = Service::start(&[("STOCK_LOG_FORMAT", "text".to_owned())]);
    let listening = service.seen.last().cloned().unwrap_or_default();
    assert!(
        listening.contains(" INFO http_fn::app: listening"),
        "{listening}"
    );
    assert!(!listening.contains("trace_id="), "{listening}");
    let reply = service.send("GET", "/health/started", Some(&traceparent(TRACE)), "");
    assert_eq!(reply.status, 200);
    let probe = service.wait_for_line("the health probe line", |l| l.contains("health probe"));
    assert!(probe.contains(&format!("trace_id={TRACE}")), "{probe}");
    assert!(probe.contains(" INFO "), "{probe}");
    assert!(probe.contains("span_id="), "{probe}");
}

/// A one-shot OTLP/HTTP collector: answers 200 to every request and hands over the bodies.
fn collector() -> (SocketAddr, Receiver<(String, Vec<u8>)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (sender, received) = mpsc::channel();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let _ = stream.set_read_timeout(Some(DEADLINE));
            let Some(request) = read_request(&mut stream) else {
                continue;
            };
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\n\
                  content-length: 0\r\nconnection: close\r\n\r\n",
            );
            if sender.send(request).is_err() {
                break;
            }
        }
    });
    (addr, received)
}

/// `(path, body)` of one HTTP/1.1 request with a `content-length`.
fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut reader = BufReader::new(stream);
    let mut first = String::new();
    reader.read_line(&mut first).ok()?;
    let path = first.split_whitespace().nth(1)?.to_owned();
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((path, body))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn spans_are_exported_over_otlp_and_flushed_on_shutdown() {
    let (addr, received) = collector();
    let mut service = Service::start(&[("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}"))]);
    assert_eq!(
        service
            .send("GET", "/health/live", Some(&traceparent(TRACE)), "")
            .status,
        200
    );
    service.stop();

    let trace_bytes: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&TRACE[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let until = Instant::now() + DEADLINE;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let (path, body) = received
            .recv_timeout(left)
            .expect("no span of the request reached the collector");
        assert_eq!(path, "/v1/traces");
        if contains(&body, &trace_bytes) {
            assert!(contains(&body, b"stock-api"), "service name missing");
            break;
        }
    }
}
