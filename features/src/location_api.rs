//! A fake Location API on loopback (`docs/api.md` §15): serves an estate, answers as scripted.
//!
//! It serves `GET /locations/{id}`, `/locations/{id}/children[?depth=1]`, `/locations/{id}/path`
//! and `/health` from an [`Estate`]; any answer can be replaced per target (path and query as
//! received, still percent-encoded), once or for good, and it can stop listening altogether.
//! Every call is recorded with its arrival time, headers and body, so the fake can also stand in
//! for an OTLP collector.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::serve::Listener;
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::estate::{Estate, Location};

/// How long [`LocationApi::come_back`] waits for the port to accept connections again.
const REOPEN_DEADLINE: Duration = Duration::from_secs(5);

/// An answer replacing (part of) the one the estate gives.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reply {
    /// The status; `None` keeps the estate's (200, or 404 for an unknown location).
    pub status: Option<u16>,
    /// The body; `None` keeps the estate's (or a small error body with a replaced status).
    pub body: Option<String>,
    /// How long to wait before answering.
    pub delay: Duration,
    /// Extra headers, e.g. `Cache-Control`.
    pub headers: Vec<(String, String)>,
}

impl Reply {
    /// The estate's answer with another status.
    pub fn status(status: u16) -> Reply {
        Reply {
            status: Some(status),
            ..Reply::default()
        }
    }
}

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct Call {
    /// The method.
    pub method: Method,
    /// The path, still percent-encoded.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// When it arrived.
    pub at: Instant,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body (empty for the Location API's GETs).
    pub body: Vec<u8>,
}

impl Call {
    /// Path and query, exactly as received.
    pub fn target(&self) -> String {
        match &self.query {
            Some(query) => format!("{}?{query}", self.path),
            None => self.path.clone(),
        }
    }

    /// Every value of a header, as text.
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    }
}

/// The replies scripted for one target: one-shot ones first, in order, then the standing one.
#[derive(Debug, Default)]
struct Script {
    once: VecDeque<Reply>,
    standing: Reply,
}

#[derive(Debug, Default)]
struct Inner {
    estate: Estate,
    scripts: HashMap<String, Script>,
    calls: Vec<Call>,
    /// Calls before this index are set aside (see [`LocationApi::set_calls_aside`]).
    mark: usize,
}

#[derive(Debug, Default)]
struct Shared {
    inner: Mutex<Inner>,
    /// Bumped when the fake goes down: connections of an earlier generation fail.
    generation: Arc<AtomicU64>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while the lock is held, so a poisoned state is still consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running fake Location API; dropping it stops it.
#[derive(Debug)]
pub struct LocationApi {
    shared: Arc<Shared>,
    addr: SocketAddr,
    up: watch::Sender<bool>,
    server: JoinHandle<()>,
}

impl Drop for LocationApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl LocationApi {
    /// Starts serving `estate` on `127.0.0.1:0`.
    pub async fn start(estate: Estate) -> anyhow::Result<LocationApi> {
        LocationApi::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), estate).await
    }

    /// Starts serving `estate` on a free port of `host` (loopback, or the gateway of a container
    /// network of the test's own for a service in containers).
    pub async fn start_on(host: IpAddr, estate: Estate) -> anyhow::Result<LocationApi> {
        let listener = TcpListener::bind(SocketAddr::new(host, 0))
            .await
            .context("binding the fake Location API")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        shared.lock().estate = estate;
        let (up, up_seen) = watch::channel(true);
        let listener = Switchable {
            addr,
            listener: Some(listener),
            reserved: None,
            up: up_seen,
            generation: shared.generation.clone(),
        };
        let app = Router::new().fallback(answer).with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(LocationApi {
            shared,
            addr,
            up,
            server,
        })
    }

    /// The base URL to configure as `STOCK_LOCATION_API_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the estate served from now on.
    pub fn set_estate(&self, estate: Estate) {
        self.shared.lock().estate = estate;
    }

    /// Answers the next calls to `target` with `replies`, one each, after any queued before.
    pub fn answer_next(&self, target: &str, replies: impl IntoIterator<Item = Reply>) {
        let mut inner = self.shared.lock();
        let script = inner.scripts.entry(target.to_owned()).or_default();
        script.once.extend(replies);
    }

    /// Changes how `target` is answered once no one-shot reply is left.
    pub fn answer_always(&self, target: &str, change: impl FnOnce(&mut Reply)) {
        let mut inner = self.shared.lock();
        change(&mut inner.scripts.entry(target.to_owned()).or_default().standing);
    }

    /// Forgets every scripted reply: the estate answers everything again.
    pub fn answer_normally(&self) {
        self.shared.lock().scripts.clear();
    }

    /// Stops listening (connections are refused) and breaks the open connections.
    pub fn go_down(&self) {
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
        self.up.send_replace(false);
    }

    /// Listens again on the same port and waits until it accepts connections.
    pub async fn come_back(&self) -> anyhow::Result<()> {
        self.up.send_replace(true);
        let deadline = Instant::now() + REOPEN_DEADLINE;
        while TcpStream::connect(self.addr).await.is_err() {
            if Instant::now() > deadline {
                bail!(
                    "the fake Location API did not listen again on {}",
                    self.addr
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }

    /// The calls received since they were last set aside, in order of arrival.
    pub fn calls(&self) -> Vec<Call> {
        let inner = self.shared.lock();
        inner.calls[inner.mark..].to_vec()
    }

    /// The calls set aside so far.
    pub fn earlier_calls(&self) -> Vec<Call> {
        let inner = self.shared.lock();
        inner.calls[..inner.mark].to_vec()
    }

    /// Sets the calls received so far aside: [`LocationApi::calls`] starts afresh.
    pub fn set_calls_aside(&self) {
        let mut inner = self.shared.lock();
        inner.mark = inner.calls.len();
    }
}

/// Records the call and answers it: the scripted reply over the estate's answer.
async fn answer(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call = Call {
        method,
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        at: Instant::now(),
        headers,
        body: body.to_vec(),
    };
    let target = call.target();
    let (reply, (status, body)) = {
        let mut inner = shared.lock();
        let reply = match inner.scripts.get_mut(&target) {
            Some(script) => script
                .once
                .pop_front()
                .unwrap_or_else(|| script.standing.clone()),
            None => Reply::default(),
        };
        let normal = estate_answer(&inner.estate, &call.path, call.query.as_deref());
        inner.calls.push(call);
        (reply, normal)
    };
    tokio::time::sleep(reply.delay).await;
    let status = reply.status.unwrap_or(status);
    let body = match (reply.body, reply.status) {
        (Some(body), _) => body,
        (None, Some(replaced)) if !(200..300).contains(&replaced) => {
            json!({ "status": replaced }).to_string()
        }
        (None, _) => body,
    };
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (code, body).into_response();
    let out = response.headers_mut();
    out.insert("content-type", HeaderValue::from_static("application/json"));
    for (name, value) in reply.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            out.append(name, value);
        }
    }
    response
}

/// What the estate answers for a path and query: status and JSON body.
pub fn estate_answer(estate: &Estate, path: &str, query: Option<&str>) -> (u16, String) {
    const NOT_FOUND: (u16, &str) = (404, r#"{"status":"NotFound"}"#);
    let not_found = || (NOT_FOUND.0, NOT_FOUND.1.to_owned());
    if path == "/health" {
        return (200, r#"{"status":"UP"}"#.to_owned());
    }
    let Some(rest) = path.strip_prefix("/locations/") else {
        return not_found();
    };
    let (segment, suffix) = rest.split_once('/').unwrap_or((rest, ""));
    let Ok(id) = percent_decode_str(segment).decode_utf8() else {
        return not_found();
    };
    let Some(location) = estate.find(&id) else {
        return not_found();
    };
    let body = match suffix {
        "" => object(location, 0),
        "children" if query == Some("depth=1") => object(location, 1),
        "children" => object(location, usize::MAX),
        "path" => Value::Array(
            ancestry(&estate.roots, &id)
                .into_iter()
                .map(|l| object(l, 0))
                .collect(),
        ),
        _ => return not_found(),
    };
    (200, body.to_string())
}

/// A location object with `depth` levels of children (`children` omitted at depth 0).
fn object(location: &Location, depth: usize) -> Value {
    let mut value = json!({
        "id": location.id,
        "name": location.id,
        "roles": location.roles,
        "createdAt": "2024-12-15T12:34:56Z",
    });
    if depth > 0
        && let Some(map) = value.as_object_mut()
    {
        let children = location
            .children
            .iter()
            .map(|c| object_with_children(c, depth - 1))
            .collect();
        map.insert("children".to_owned(), Value::Array(children));
    }
    value
}

/// A child in a `/children` answer: always with a `children` array (empty past the depth).
fn object_with_children(location: &Location, depth: usize) -> Value {
    let mut value = object(location, depth);
    if depth == 0
        && let Some(map) = value.as_object_mut()
    {
        map.insert("children".to_owned(), Value::Array(Vec::new()));
    }
    value
}

/// The locations from a root down to and including `id`; empty when unknown.
fn ancestry<'a>(nodes: &'a [Location], id: &str) -> Vec<&'a Location> {
    for node in nodes {
        if node.id == id {
            return vec![node];
        }
        let below = ancestry(&node.children, id);
        if !below.is_empty() {
            let mut path = vec![node];
            path.extend(below);
            return path;
        }
    }
    Vec::new()
}

/// A listener that can stop listening and listen again on the same address.
struct Switchable {
    addr: SocketAddr,
    listener: Option<TcpListener>,
    /// While down: the address stays bound without listening, so connections are refused and no
    /// other process (a concurrent scenario's server) can take the port meanwhile.
    reserved: Option<TcpSocket>,
    up: watch::Receiver<bool>,
    generation: Arc<AtomicU64>,
}

/// A socket bound to `addr` that does not listen.
fn reserve(addr: SocketAddr) -> io::Result<TcpSocket> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    Ok(socket)
}

/// Listens on `addr` again, on the reserved socket when there is one.
async fn relisten(reserved: Option<TcpSocket>, addr: SocketAddr) -> io::Result<TcpListener> {
    match reserved {
        Some(socket) => socket.listen(1024),
        None => TcpListener::bind(addr).await,
    }
}

impl Listener for Switchable {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Connection, SocketAddr) {
        loop {
            if !*self.up.borrow_and_update() {
                // Closing the socket makes new connections fail with "connection refused"; the
                // port stays bound (not listening) so that nobody else can take it.
                self.listener = None;
                if self.reserved.is_none() {
                    self.reserved = reserve(self.addr).ok();
                }
                if self.up.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
                continue;
            }
            let listener = match self.listener.take() {
                Some(listener) => listener,
                None => match relisten(self.reserved.take(), self.addr).await {
                    Ok(listener) => listener,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                },
            };
            let accepted = tokio::select! {
                accepted = listener.accept() => Some(accepted),
                changed = self.up.changed() => {
                    if changed.is_err() {
                        // The fake is being dropped: nothing will ever switch it again.
                        std::future::pending::<()>().await;
                    }
                    None
                }
            };
            self.listener = Some(listener);
            match accepted {
                // Accepted just as the fake went down: dropped, as a closed socket would.
                Some(Ok(_)) if !*self.up.borrow() => {}
                Some(Ok((stream, peer))) => {
                    // Without it, Nagle and delayed ACKs hold answers back by tens of ms.
                    let _ = stream.set_nodelay(true);
                    let born = self.generation.load(Ordering::SeqCst);
                    let generation = self.generation.clone();
                    return (
                        Connection {
                            stream,
                            born,
                            generation,
                        },
                        peer,
                    );
                }
                Some(Err(_)) => tokio::time::sleep(Duration::from_millis(10)).await,
                None => {}
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

/// An accepted connection that fails once the fake has gone down after accepting it.
struct Connection {
    stream: TcpStream,
    born: u64,
    generation: Arc<AtomicU64>,
}

impl Connection {
    fn broken(&self) -> Option<io::Error> {
        (self.generation.load(Ordering::SeqCst) != self.born)
            .then(|| io::Error::from(io::ErrorKind::ConnectionReset))
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(error) = this.broken() {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(error) = this.broken() {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::estate::parse_roles;

    fn estate() -> Estate {
        Estate::from_rows([
            ("UK", "", parse_roles("Region")),
            (
                "Central Store",
                "UK",
                parse_roles("Shop, TrackedInventoryLocation"),
            ),
            ("Till 1", "Central Store", parse_roles("Till")),
        ])
        .unwrap()
    }

    fn body(path: &str, query: Option<&str>) -> Value {
        let (status, text) = estate_answer(&estate(), path, query);
        assert_eq!(status, 200, "{path}");
        serde_json::from_str(&text).unwrap()
    }

    fn ids(value: &Value) -> Vec<&str> {
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["id"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn a_location_is_found_by_its_percent_encoded_id_without_children() {
        let location = body("/locations/Central%20Store", None);
        assert_eq!(location["id"], "Central Store");
        assert_eq!(location["roles"][1], "TrackedInventoryLocation");
        assert!(location.get("children").is_none());
    }

    #[test]
    fn children_are_the_whole_subtree_or_one_level() {
        let all = body("/locations/UK/children", None);
        assert_eq!(all["children"][0]["children"][0]["id"], "Till 1");
        let one = body("/locations/UK/children", Some("depth=1"));
        assert_eq!(one["children"][0]["id"], "Central Store");
        assert_eq!(one["children"][0]["children"], json!([]));
    }

    #[test]
    fn the_path_runs_from_the_root_down_to_the_location() {
        assert_eq!(
            ids(&body("/locations/Till%201/path", None)),
            ["UK", "Central Store", "Till 1"]
        );
    }

    #[test]
    fn unknown_locations_and_paths_are_not_found() {
        for path in ["/locations/Atlantis", "/locations/UK/parent", "/elsewhere"] {
            assert_eq!(estate_answer(&estate(), path, None).0, 404, "{path}");
        }
    }

    #[tokio::test]
    async fn calls_are_recorded_and_scripted_replies_come_first() {
        let api = LocationApi::start(estate()).await.unwrap();
        api.answer_next("/locations/UK", [Reply::status(500)]);
        api.answer_always("/locations/UK", |r| {
            r.headers.push(("Cache-Control".into(), "no-cache".into()));
        });
        let client = reqwest::Client::new();
        let url = format!("{}/locations/UK", api.base_url());
        let first = client.get(&url).send().await.unwrap();
        assert_eq!(first.status().as_u16(), 500);
        let second = client.get(&url).send().await.unwrap();
        assert_eq!(second.status().as_u16(), 200);
        assert_eq!(second.headers()["cache-control"], "no-cache");
        let targets: Vec<String> = api.calls().iter().map(Call::target).collect();
        assert_eq!(targets, ["/locations/UK", "/locations/UK"]);
        api.set_calls_aside();
        assert!(api.calls().is_empty());
        assert_eq!(api.earlier_calls().len(), 2);
    }

    #[tokio::test]
    async fn a_fake_that_went_down_refuses_connections_until_it_comes_back() {
        let api = LocationApi::start(estate()).await.unwrap();
        let client = reqwest::Client::new();
        let url = format!("{}/health", api.base_url());
        assert!(client.get(&url).send().await.is_ok());
        api.go_down();
        // The kept-alive connection breaks and a new one is refused.
        for _ in 0..2 {
            assert!(client.get(&url).send().await.is_err());
        }
        api.come_back().await.unwrap();
        let answer = client.get(&url).send().await.unwrap();
        assert_eq!(answer.status().as_u16(), 200);
        assert_eq!(api.calls().len(), 2);
    }
}
