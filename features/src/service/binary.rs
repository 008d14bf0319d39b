//! The binary target: the real `http-fn` executable in its own process, logs kept in a file.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use anyhow::{Context, anyhow};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{START_DEADLINE, STOP_DEADLINE, debug_binary};

/// A running `http-fn` process.
#[derive(Debug)]
pub(super) struct Process {
    child: Child,
    log_path: PathBuf,
}

type Log = Arc<Mutex<File>>;

impl Process {
    /// Spawns the binary with only `vars` (plus `PATH`) and waits for its `listening` line.
    pub(super) async fn start(
        vars: BTreeMap<String, String>,
        log_path: &Path,
    ) -> anyhow::Result<(SocketAddr, Process)> {
        let program = debug_binary("http-fn")?;
        let log: Log = Arc::new(Mutex::new(
            File::create(log_path).with_context(|| format!("creating {}", log_path.display()))?,
        ));
        let mut command = Command::new(&program);
        command
            .env_clear()
            .envs(&vars)
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        command.stderr(Stdio::piped()).kill_on_drop(true);
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("spawning {}", program.display()))?;
        let (found, address) = oneshot::channel();
        let mut pumps = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            pumps.push(tokio::spawn(pump(stdout, log.clone(), "", Some(found))));
        }
        if let Some(stderr) = child.stderr.take() {
            pumps.push(tokio::spawn(pump(stderr, log, "[stderr] ", None)));
        }
        // The sender is dropped when stdout closes, i.e. when the process is on its way out.
        let addr = tokio::time::timeout(START_DEADLINE, address).await;
        let process = Process {
            child,
            log_path: log_path.to_path_buf(),
        };
        match addr {
            Ok(Ok(addr)) => Ok((addr, process)),
            Ok(Err(_)) => Err(process.exited_early(pumps).await),
            Err(_) => {
                let message = format!(
                    "http-fn logged no line with a top-level \"http_addr\" within {START_DEADLINE:?}; log: {}",
                    process.log_path.display()
                );
                let _ = process.stop().await;
                Err(anyhow!(message))
            }
        }
    }

    /// Reaps a process that closed its output before listening and describes how it ended.
    async fn exited_early(mut self, pumps: Vec<JoinHandle<()>>) -> anyhow::Error {
        let status = match tokio::time::timeout(STOP_DEADLINE, self.child.wait()).await {
            Ok(Ok(status)) => status.to_string(),
            _ => "still running".to_owned(),
        };
        // The log is complete once both streams are drained.
        for pump in pumps {
            let _ = tokio::time::timeout(STOP_DEADLINE, pump).await;
        }
        let error = anyhow!(
            "http-fn ended ({status}) before listening; log: {}\n{}",
            self.log_path.display(),
            tail(&self.log_path)
        );
        let _ = self.stop().await;
        error
    }

    /// Kills the process and reaps it.
    pub(super) async fn stop(mut self) -> anyhow::Result<()> {
        if self.child.try_wait().context("polling http-fn")?.is_some() {
            return Ok(());
        }
        self.child.start_kill().context("killing http-fn")?;
        tokio::time::timeout(STOP_DEADLINE, self.child.wait())
            .await
            .context("http-fn did not exit after being killed")?
            .context("waiting for http-fn")?;
        Ok(())
    }
}

/// Copies a stream into the log, reporting the first `http_addr` seen on it.
async fn pump(
    stream: impl AsyncRead + Unpin,
    log: Log,
    prefix: &'static str,
    mut found: Option<oneshot::Sender<SocketAddr>>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Ok(mut file) = log.lock() {
            let _ = writeln!(file, "{prefix}{line}");
        }
        if found.is_some()
            && let Some(addr) = http_addr(&line)
            && let Some(sender) = found.take()
        {
            let _ = sender.send(addr);
        }
    }
}

/// The bound address announced by a JSON log line (top-level string field `http_addr`), or by a
/// text line (`STOCK_LOG_FORMAT=text`) through its ` http_addr=` field.
pub(super) fn http_addr(line: &str) -> Option<SocketAddr> {
    match serde_json::from_str::<Value>(line) {
        Ok(value) => value.get("http_addr")?.as_str()?.parse().ok(),
        Err(_) => {
            let (_, rest) = line.split_once(" http_addr=")?;
            let token = rest.split_whitespace().next()?;
            token.trim_matches('"').parse().ok()
        }
    }
}

/// The last lines of a log file, for error messages.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_comes_from_a_top_level_http_addr_field() {
        let line = r#"{"timestamp":"t","level":"INFO","message":"listening","http_addr":"127.0.0.1:41234"}"#;
        assert_eq!(http_addr(line), "127.0.0.1:41234".parse().ok());
    }

    #[test]
    fn lines_without_a_top_level_http_addr_are_ignored() {
        assert_eq!(http_addr(r#"{"fields":{"http_addr":"127.0.0.1:1"}}"#), None);
        assert_eq!(http_addr("listening on 127.0.0.1:1"), None);
        assert_eq!(http_addr(r#"{"http_addr":42}"#), None);
    }

    #[test]
    fn a_text_line_announces_the_address_in_its_http_addr_field() {
        let line =
            r#"2024-12-07T12:00:00Z  INFO http_fn::app: listening http_addr="127.0.0.1:41234""#;
        assert_eq!(http_addr(line), "127.0.0.1:41234".parse().ok());
        let bare = "2024-12-07T12:00:00Z  INFO http_fn::app: listening http_addr=127.0.0.1:1 x=2";
        assert_eq!(http_addr(bare), "127.0.0.1:1".parse().ok());
        assert_eq!(http_addr("listening my_http_addr=127.0.0.1:1"), None);
    }
}
