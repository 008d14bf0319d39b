//! One child process of a stack: started with a clean environment, its output copied line by
//! line into a log file, its bound address read from its own log, signalled by pid.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

/// How long a process may take to announce its address, or to exit once told to.
const START_DEADLINE: Duration = Duration::from_secs(30);
const EXIT_DEADLINE: Duration = Duration::from_secs(15);

type Log = Arc<Mutex<File>>;

/// A running child process; killed (SIGKILL) when dropped.
#[derive(Debug)]
pub(crate) struct Process {
    name: String,
    child: Child,
    pid: u32,
    addr: SocketAddr,
    log_path: PathBuf,
}

impl Process {
    /// Spawns `program` with only `vars` (plus `PATH`), copies its output into `log_path`, and
    /// waits for the JSON log line whose top-level string field `addr_field` is its address.
    pub(crate) async fn start(
        name: &str,
        program: &Path,
        vars: &BTreeMap<String, String>,
        log_path: &Path,
        addr_field: &'static str,
    ) -> anyhow::Result<Process> {
        let file = File::create(log_path).with_context(|| format!("{}", log_path.display()))?;
        let log: Log = Arc::new(Mutex::new(file));
        let mut child = spawn_clean(program, vars)?;
        let pid = child.id().context("a just spawned child has no pid")?;
        let (found, address) = oneshot::channel();
        if let Some(stdout) = child.stdout.take() {
            let sink = log_into(log.clone(), "");
            tokio::spawn(pump(stdout, sink, Some((addr_field, found))));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(pump(stderr, log_into(log, "[stderr] "), None));
        }
        // The sender is dropped when stdout closes, i.e. when the process is on its way out.
        let addr = match tokio::time::timeout(START_DEADLINE, address).await {
            Ok(Ok(addr)) => addr,
            Ok(Err(_)) => bail!(
                "{name} exited before listening; log: {}",
                log_path.display()
            ),
            Err(_) => bail!(
                "{name} logged no \"{addr_field}\" within {START_DEADLINE:?}; log: {}",
                log_path.display()
            ),
        };
        Ok(Process {
            name: name.to_owned(),
            child,
            pid,
            addr,
            log_path: log_path.to_path_buf(),
        })
    }

    /// The address the process announced.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The log file holding its stdout and stderr.
    pub(crate) fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Sends a signal by name (`STOP`, `CONT`, `TERM`, `KILL`) with the `kill` command.
    pub(crate) fn signal(&self, signal: &str) -> anyhow::Result<()> {
        send_signal(self.pid, signal).with_context(|| self.name.clone())
    }

    /// SIGKILL, then reap.
    pub(crate) async fn kill(&mut self) -> anyhow::Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        self.child
            .start_kill()
            .with_context(|| format!("killing {}", self.name))?;
        self.wait().await
    }

    /// Waits for the process to exit (after a signal), within a deadline.
    pub(crate) async fn wait(&mut self) -> anyhow::Result<ExitStatus> {
        tokio::time::timeout(EXIT_DEADLINE, self.child.wait())
            .await
            .map_err(|_| anyhow!("{} did not exit within {EXIT_DEADLINE:?}", self.name))?
            .with_context(|| format!("waiting for {}", self.name))
    }

    /// Whether the process has exited.
    pub(crate) fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

/// Spawns `program` with only `vars` (plus `PATH`), stdin closed, stdout and stderr piped; the
/// child is killed when dropped.
pub(crate) fn spawn_clean(
    program: &Path,
    vars: &BTreeMap<String, String>,
) -> anyhow::Result<Child> {
    let mut command = Command::new(program);
    command.env_clear().envs(vars).stdin(Stdio::null());
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
        .spawn()
        .with_context(|| format!("spawning {}", program.display()))
}

/// A line sink appending each line, after `prefix`, to the shared log file.
fn log_into(log: Log, prefix: &'static str) -> impl FnMut(&str) {
    move |line| {
        if let Ok(mut file) = log.lock() {
            let _ = writeln!(file, "{prefix}{line}");
        }
    }
}

/// Hands every line of `stream` to `sink`; the first line announcing `watch`'s field sends the
/// address on its sender.
pub(crate) async fn pump(
    stream: impl AsyncRead + Unpin,
    mut sink: impl FnMut(&str),
    mut watch: Option<(&'static str, oneshot::Sender<SocketAddr>)>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        sink(&line);
        if let Some((field, _)) = &watch
            && let Some(addr) = announced_addr(&line, field)
            && let Some((_, sender)) = watch.take()
        {
            let _ = sender.send(addr);
        }
    }
}

/// The address in a JSON log line's top-level string field `field`, or in a text line's
/// ` field=` pair (`STOCK_LOG_FORMAT=text`), quoted or not.
fn announced_addr(line: &str, field: &str) -> Option<SocketAddr> {
    match serde_json::from_str::<Value>(line) {
        Ok(value) => value.get(field)?.as_str()?.parse().ok(),
        Err(_) => {
            let (_, rest) = line.split_once(&format!(" {field}="))?;
            let value = rest.split_whitespace().next()?;
            value.trim_matches('"').parse().ok()
        }
    }
}

/// Sends a signal by name (`STOP`, `CONT`, `TERM`, `KILL`) to process `pid` with the `kill`
/// command.
pub(crate) fn send_signal(pid: u32, signal: &str) -> anyhow::Result<()> {
    let status = std::process::Command::new("kill")
        .args(["-s", signal, &pid.to_string()])
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("kill -s {signal} {pid}"))?;
    if !status.success() {
        bail!("kill -s {signal} {pid} failed: {status}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_comes_from_the_named_top_level_field() {
        let line = r#"{"level":"INFO","message":"listening","admin_addr":"127.0.0.1:4123"}"#;
        assert_eq!(
            announced_addr(line, "admin_addr"),
            "127.0.0.1:4123".parse().ok()
        );
        assert_eq!(announced_addr(line, "http_addr"), None);
    }

    #[test]
    fn nested_fields_and_plain_text_lines_announce_nothing() {
        let nested = r#"{"fields":{"admin_addr":"127.0.0.1:1"}}"#;
        assert_eq!(announced_addr(nested, "admin_addr"), None);
        assert_eq!(announced_addr("admin_addr=127.0.0.1:1", "admin_addr"), None);
    }

    #[test]
    fn a_text_line_announces_the_address_in_its_field_pair() {
        let quoted =
            r#"2024-12-07T12:00:00Z  INFO actor_worker: listening admin_addr="127.0.0.1:4123""#;
        assert_eq!(
            announced_addr(quoted, "admin_addr"),
            "127.0.0.1:4123".parse().ok()
        );
        let bare = "2024-12-07T12:00:00Z  INFO http_fn::app: listening http_addr=127.0.0.1:1 x=2";
        assert_eq!(
            announced_addr(bare, "http_addr"),
            "127.0.0.1:1".parse().ok()
        );
        assert_eq!(announced_addr(bare, "admin_addr"), None);
        assert_eq!(
            announced_addr("listening my_admin_addr=127.0.0.1:1", "admin_addr"),
            None
        );
    }
}
