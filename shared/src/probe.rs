//! The `probe` subcommand of both binaries: one GET of the node's own `/health/ready` over plain TCP,
//! so a container healthcheck needs no HTTP client in the image.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The path a probe asks: ready means the node serves its tier (see docs/OPERATIONS.md).
pub const READY_PATH: &str = "/health/ready";

/// How long a probe waits in all (connect, write, read) before it reports the node unready.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Enough for the status line and headers of a health answer; the rest is not read.
const MAX_HEAD: usize = 4096;

/// Why a probe found the node not ready.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// No TCP connection, or the exchange failed.
    #[error("{addr}: {source}")]
    Io {
        /// The probed address.
        addr: SocketAddr,
        /// What the socket reported.
        source: std::io::Error,
    },
    /// No complete answer within [`PROBE_TIMEOUT`].
    #[error("{0}: no answer within {PROBE_TIMEOUT:?}")]
    Timeout(SocketAddr),
    /// The answer does not start with an HTTP status line.
    #[error("{0}: not an HTTP answer")]
    Malformed(SocketAddr),
    /// An answer other than 2xx (`/health/ready` answers 503 while the node is not ready).
    #[error("{addr}: status {status}")]
    NotReady {
        /// The probed address.
        addr: SocketAddr,
        /// The HTTP status of the answer.
        status: u16,
    },
}

/// The address to probe for a bound address: `0.0.0.0` and `::` become the loopback address.
pub fn local_target(bound: SocketAddr) -> SocketAddr {
    let ip = match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, bound.port())
}

/// GETs [`READY_PATH`] at `addr` and succeeds on a 2xx status.
pub async fn ready(addr: SocketAddr) -> Result<(), ProbeError> {
    let status = tokio::time::timeout(PROBE_TIMEOUT, status_of(addr, READY_PATH))
        .await
        .map_err(|_| ProbeError::Timeout(addr))??;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(ProbeError::NotReady { addr, status })
    }
}

/// One HTTP/1.0 GET (the server closes the connection after the answer); the status code.
async fn status_of(addr: SocketAddr, path: &str) -> Result<u16, ProbeError> {
    let io = |source| ProbeError::Io { addr, source };
    let mut stream = TcpStream::connect(addr).await.map_err(io)?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(io)?;
    let mut head = Vec::with_capacity(256);
    let mut buffer = [0u8; 512];
    while head.len() < MAX_HEAD && !head.windows(2).any(|pair| pair == b"\r\n") {
        let read = stream.read(&mut buffer).await.map_err(io)?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    status_code(&head).ok_or(ProbeError::Malformed(addr))
}

/// The status code of an answer starting `HTTP/1.x NNN`.
fn status_code(head: &[u8]) -> Option<u16> {
    let line = head.split(|byte| *byte == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    let version = parts.next()?;
    let code = parts.next()?;
    (version.starts_with("HTTP/1.") && code.len() == 3)
        .then(|| code.parse().ok())
        .flatten()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use tokio::net::TcpListener;

    use super::*;

    /// A one-connection server on loopback that reads the request head and sends `answer`.
    async fn serve_once(answer: &'static [u8]) -> (SocketAddr, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 256];
            while !request.ends_with(b"\r\n\r\n") {
                let read = stream.read(&mut buffer).await.unwrap();
                if read == 0 {
                    break;
                }
                request.extend_from_slice(&buffer[..read]);
            }
            stream.write_all(answer).await.unwrap();
            String::from_utf8(request).unwrap()
        });
        (addr, task)
    }

    #[tokio::test]
    async fn a_node_answering_200_is_ready_and_was_asked_for_its_ready_path() {
        let (addr, server) = serve_once(b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nUP").await;
        ready(addr).await.unwrap();
        assert!(
            server
                .await
                .unwrap()
                .starts_with("GET /health/ready HTTP/1.0\r\n")
        );
    }

    #[tokio::test]
    async fn a_node_answering_503_is_not_ready() {
        let (addr, _server) = serve_once(b"HTTP/1.1 503 Service Unavailable\r\n\r\n").await;
        let error = ready(addr).await.unwrap_err();
        assert!(
            matches!(error, ProbeError::NotReady { status: 503, .. }),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_not_ready() {
        let addr = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        assert!(matches!(ready(addr).await, Err(ProbeError::Io { .. })));
    }

    #[tokio::test]
    async fn an_answer_that_is_not_http_is_not_ready() {
        let (addr, _server) = serve_once(b"+PONG\r\n").await;
        assert!(matches!(ready(addr).await, Err(ProbeError::Malformed(_))));
    }

    #[test]
    fn an_unspecified_bind_address_is_probed_on_loopback() {
        let target = |text: &str| local_target(text.parse().unwrap()).to_string();
        assert_eq!(target("0.0.0.0:9090"), "127.0.0.1:9090");
        assert_eq!(target("[::]:8080"), "[::1]:8080");
        assert_eq!(target("10.1.2.3:8080"), "10.1.2.3:8080");
    }
}
