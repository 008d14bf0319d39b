//! The Docker Engine API on its unix socket, for what the compose target does before every
//! scenario (stop and start a node, look at a container, follow a node's output): one request
//! each instead of a `docker` process, whose start alone costs about 25 ms of CPU here
//! (docs/RELIABILITY.md, "Containers"). The engine is reached where the `docker` command reaches
//! it: `DOCKER_HOST` when it names a unix socket, `/var/run/docker.sock` otherwise.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// The longest head of an answer read.
const HEAD_LIMIT: usize = 64 * 1024;
/// The longest line of a container's output kept; the rest of a longer line is dropped.
const LINE_LIMIT: usize = 64 * 1024;
/// How long a request that is not a log may take, answer included.
const REQUEST_DEADLINE: Duration = Duration::from_secs(60);

/// The engine's socket.
fn socket() -> anyhow::Result<PathBuf> {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if !host.is_empty() => host
            .strip_prefix("unix://")
            .map(PathBuf::from)
            .with_context(|| {
                format!(
                    "DOCKER_HOST={host}: the compose target reaches the engine on a unix socket"
                )
            }),
        _ => Ok(PathBuf::from("/var/run/docker.sock")),
    }
}

/// Sends `method path` (HTTP/1.0: the engine closes the connection after the answer, so a body
/// runs to the end of the stream) and reads the answer's head: its status, the body bytes read
/// with it, and the connection for the rest of the body.
async fn send(method: &str, path: &str) -> anyhow::Result<(u16, Vec<u8>, UnixStream)> {
    let socket = socket()?;
    let mut stream = UnixStream::connect(&socket)
        .await
        .with_context(|| format!("connecting to the Docker engine at {}", socket.display()))?;
    let request = format!("{method} {path} HTTP/1.0\r\nHost: docker\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut head = Vec::new();
    let mut buf = [0u8; 8192];
    let end = loop {
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        if head.len() > HEAD_LIMIT {
            bail!("{method} {path}: the engine's answer has no end of head");
        }
        let read = stream.read(&mut buf).await?;
        if read == 0 {
            bail!("{method} {path}: the engine closed the connection without an answer");
        }
        head.extend_from_slice(&buf[..read]);
    };
    let body = head.split_off(end + 4);
    let status = std::str::from_utf8(&head)
        .ok()
        .and_then(|head| head.split_whitespace().nth(1))
        .and_then(|status| status.parse().ok())
        .with_context(|| {
            format!(
                "{method} {path}: no status in {:?}",
                String::from_utf8_lossy(&head)
            )
        })?;
    Ok((status, body, stream))
}

/// `method path` answered in full, with a status in `ok`: the body.
async fn call(method: &str, path: &str, ok: &[u16]) -> anyhow::Result<Vec<u8>> {
    let answered = async {
        let (status, mut body, mut stream) = send(method, path).await?;
        stream.read_to_end(&mut body).await?;
        if !ok.contains(&status) {
            bail!(
                "{method} {path}: {status} {}",
                String::from_utf8_lossy(&body).trim()
            );
        }
        Ok(body)
    };
    tokio::time::timeout(REQUEST_DEADLINE, answered)
        .await
        .with_context(|| format!("{method} {path} took over {REQUEST_DEADLINE:?}"))?
}

/// Kills container `id` at once (`docker stop -t 0`); a stopped one stays stopped.
pub async fn stop(id: &str) -> anyhow::Result<()> {
    call("POST", &format!("/containers/{id}/stop?t=0"), &[204, 304]).await?;
    Ok(())
}

/// Starts container `id` (`docker start`); a running one keeps running.
pub async fn start(id: &str) -> anyhow::Result<()> {
    call("POST", &format!("/containers/{id}/start"), &[204, 304]).await?;
    Ok(())
}

/// What the engine knows of container `id` (`docker inspect`).
pub async fn inspect(id: &str) -> anyhow::Result<Value> {
    let body = call("GET", &format!("/containers/{id}/json"), &[200]).await?;
    serde_json::from_slice(&body).with_context(|| format!("inspecting {id}"))
}

/// Follows container `id`'s output from `since` (seconds since the epoch) on, handing each line
/// to `sink` with whether it came from stderr (`docker logs -f --since`). Ends when the container
/// stops.
pub async fn follow_log(
    id: &str,
    since: f64,
    mut sink: impl FnMut(bool, &str),
) -> anyhow::Result<()> {
    let path = format!("/containers/{id}/logs?follow=1&stdout=1&stderr=1&since={since:.6}");
    let (status, mut pending, mut stream) = send("GET", &path).await?;
    if status != 200 {
        stream.read_to_end(&mut pending).await?;
        bail!(
            "GET {path}: {status} {}",
            String::from_utf8_lossy(&pending).trim()
        );
    }
    let mut lines = Lines::default();
    let mut buf = [0u8; 8192];
    loop {
        let used = lines.frames(&pending, &mut sink);
        pending.drain(..used);
        let read = stream.read(&mut buf).await?;
        if read == 0 {
            lines.finish(&mut sink);
            return Ok(());
        }
        pending.extend_from_slice(&buf[..read]);
    }
}

/// The lines of a container's output (not a terminal), as the engine sends it: frames of an
/// 8-byte header (the stream, 1 for stdout and 2 for stderr, three zero bytes, the length as a
/// big-endian u32) and that many bytes, a line possibly split across frames.
#[derive(Default)]
struct Lines {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Lines {
    /// Takes the whole frames at the start of `bytes`, handing complete lines to `sink`; how many
    /// bytes it took.
    fn frames(&mut self, bytes: &[u8], sink: &mut impl FnMut(bool, &str)) -> usize {
        let mut used = 0;
        while let Some(header) = bytes.get(used..used + 8) {
            let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
            let Some(payload) = bytes.get(used + 8..used + 8 + len) else {
                break;
            };
            let stderr = header[0] == 2;
            let line = if stderr {
                &mut self.stderr
            } else {
                &mut self.stdout
            };
            for &byte in payload {
                if byte == b'\n' {
                    sink(stderr, &String::from_utf8_lossy(line));
                    line.clear();
                } else if line.len() < LINE_LIMIT {
                    line.push(byte);
                }
            }
            used += 8 + len;
        }
        used
    }

    /// Hands over what is left of an unfinished line.
    fn finish(&mut self, sink: &mut impl FnMut(bool, &str)) {
        for (stderr, line) in [(false, &mut self.stdout), (true, &mut self.stderr)] {
            if !line.is_empty() {
                sink(stderr, &String::from_utf8_lossy(line));
                line.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(stream: u8, payload: &str) -> Vec<u8> {
        let mut bytes = vec![stream, 0, 0, 0];
        bytes.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        bytes.extend_from_slice(payload.as_bytes());
        bytes
    }

    #[test]
    fn lines_split_across_frames_and_streams_come_out_whole_and_apart() {
        let mut bytes = frame(1, "one\ntw");
        bytes.extend(frame(2, "err"));
        bytes.extend(frame(1, "o\n"));
        bytes.extend(frame(2, "or\n"));
        let cut = bytes.len() - 3;
        let mut seen = Vec::new();
        let mut sink = |stderr: bool, line: &str| seen.push((stderr, line.to_owned()));
        let mut lines = Lines::default();
        let used = lines.frames(&bytes[..cut], &mut sink);
        assert_eq!(used, cut - 8, "the cut frame waits for its bytes");
        let rest = lines.frames(&bytes[used..], &mut sink);
        assert_eq!(used + rest, bytes.len());
        lines.finish(&mut sink);
        assert_eq!(
            seen,
            [
                (false, "one".to_owned()),
                (false, "two".to_owned()),
                (true, "error".to_owned())
            ]
        );
    }
}
