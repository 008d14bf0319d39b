//! Driving a project of the repository's `docker-compose.yml` from tests: the images, `docker`
//! and `docker-compose` commands with a bound on their time, and the containers of a project.
//!
//! A project runs the compose file with an override file of the test's own (environment, ports
//! published on 127.0.0.1, mounts) and a name of its own, so it never touches a user's stack.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::Command;

use crate::service::{target_dir, workspace_dir};

/// The stock image the tests run by default: the debug binaries (`infra/images/build.sh
/// --profile debug`).
pub const API_IMAGE: &str = "stock-api:debug";

/// The stock image the tests build and run: `STOCK_API_IMAGE` when set (several checkouts of the
/// repository sharing one Docker engine each name their own), else [`API_IMAGE`].
pub fn api_image() -> String {
    std::env::var("STOCK_API_IMAGE")
        .ok()
        .filter(|image| !image.is_empty())
        .unwrap_or_else(|| API_IMAGE.to_owned())
}
/// How long one `docker` or `docker-compose` command may take.
const COMMAND_DEADLINE: Duration = Duration::from_secs(180);
/// How often a container's published port is looked up while it starts.
const POLL_EVERY: Duration = Duration::from_millis(50);

/// Whether a Docker engine answers (`docker info`) and `docker-compose` is installed.
pub fn engine_present() -> bool {
    let ok = |program: &str, arg: &str| {
        std::process::Command::new(program)
            .arg(arg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    ok("docker", "info") && ok("docker-compose", "version")
}

/// Builds the images the tests run (`infra/images/build.sh --profile debug`): the base and Redis
/// images when missing, the stock image from the debug binaries when missing or stale.
pub fn build_images() -> anyhow::Result<()> {
    let script = workspace_dir().join("infra/images/build.sh");
    let output = std::process::Command::new(&script)
        .args(["--profile", "debug"])
        .env("CARGO_TARGET_DIR", target_dir())
        .env("STOCK_API_IMAGE", api_image())
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !output.status.success() {
        bail!(
            "{} --profile debug failed ({}): {}{}",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// A compose project: the repository's compose file, an override file, a name and the
/// environment `docker-compose` reads the file's settings from.
#[derive(Clone, Debug)]
pub struct Project {
    name: String,
    /// The compose file: the repository's unless [`Project::on_file`] names another.
    file: PathBuf,
    override_file: PathBuf,
    env: BTreeMap<String, String>,
}

impl Project {
    /// A project `name` with the override file `override_file` (JSON is YAML too) and the
    /// compose file's settings `env` (`STOCK_REDIS_PASSWORD`, …); the stock image is
    /// [`api_image`] and ports are published on 127.0.0.1 unless `env` says otherwise.
    pub fn new(name: &str, override_file: &Path, env: BTreeMap<String, String>) -> Project {
        let mut all: BTreeMap<String, String> = [
            ("STOCK_API_IMAGE", api_image()),
            ("STOCK_PUBLISH_ADDR", "127.0.0.1".to_owned()),
            ("STOCK_HTTP_PORT", String::new()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        all.extend(env);
        Project {
            name: name.to_owned(),
            file: workspace_dir().join("docker-compose.yml"),
            override_file: override_file.to_path_buf(),
            env: all,
        }
    }

    /// The same project on the compose file `file` instead of the repository's.
    pub fn on_file(mut self, file: &Path) -> Project {
        self.file = file.to_path_buf();
        self
    }

    /// The project name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `docker-compose` on the project; its stdout.
    pub async fn compose(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut command = Command::new("docker-compose");
        self.compose_args(args, command.as_std_mut());
        run(command, "docker-compose", args).await
    }

    /// [`Project::compose`] blocking the thread, for clean-up in `Drop`.
    pub fn compose_blocking(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut command = std::process::Command::new("docker-compose");
        self.compose_args(args, &mut command);
        finish(command.output(), "docker-compose", args)
    }

    fn compose_args(&self, args: &[&str], command: &mut std::process::Command) {
        command
            .arg("-p")
            .arg(&self.name)
            .arg("-f")
            .arg(&self.file)
            .arg("-f")
            .arg(&self.override_file)
            .args(args)
            .envs(&self.env)
            .stdin(Stdio::null());
    }

    /// The ids of `service`'s containers, running or not, in the order of their numbers.
    pub async fn ids(&self, service: &str) -> anyhow::Result<Vec<String>> {
        let out = docker(&[
            "ps",
            "-a",
            "--no-trunc",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.name),
            "--filter",
            &format!("label=com.docker.compose.service={service}"),
            "--format",
            "{{.Label \"com.docker.compose.container-number\"}} {{.ID}}",
        ])
        .await?;
        let mut numbered: Vec<(u32, String)> = out
            .lines()
            .filter_map(|line| {
                let (number, id) = line.trim().split_once(' ')?;
                Some((number.parse().ok()?, id.to_owned()))
            })
            .collect();
        numbered.sort();
        Ok(numbered.into_iter().map(|(_, id)| id).collect())
    }

    /// The id of `service`'s only (or first) container.
    pub async fn id(&self, service: &str) -> anyhow::Result<String> {
        self.ids(service)
            .await?
            .into_iter()
            .next()
            .with_context(|| format!("{} has no {service} container", self.name))
    }
}

/// The loopback address container `id` publishes its `port` on, waiting (bounded) while the
/// container starts.
pub async fn published(id: &str, port: u16, within: Duration) -> anyhow::Result<SocketAddr> {
    let port = port.to_string();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match docker(&["port", id, &port])
            .await
            .and_then(|out| host_port(&out))
        {
            Ok(addr) => return Ok(addr),
            Err(error) if tokio::time::Instant::now() > deadline => {
                bail!("{id} publishes no port {port} after {within:?}: {error:#}")
            }
            Err(error) => {
                // A container that ended publishes nothing until it starts again.
                let state = inspect(id, "{{.State.Status}}").await?;
                if state != "running" && state != "created" && state != "restarting" {
                    bail!("{id} is {state}, publishing no port {port}: {error:#}");
                }
                tokio::time::sleep(POLL_EVERY).await;
            }
        }
    }
}

/// The first IPv4 address of `docker port`'s output.
fn host_port(out: &str) -> anyhow::Result<SocketAddr> {
    out.lines()
        .find_map(|line| {
            line.trim()
                .parse::<SocketAddr>()
                .ok()
                .filter(SocketAddr::is_ipv4)
        })
        .with_context(|| format!("no published address in {out:?}"))
}

/// `docker inspect -f FORMAT id`, trimmed.
pub async fn inspect(id: &str, format: &str) -> anyhow::Result<String> {
    Ok(docker(&["inspect", "-f", format, id])
        .await?
        .trim()
        .to_owned())
}

/// Runs `docker` with `args`; its stdout.
pub async fn docker(args: &[&str]) -> anyhow::Result<String> {
    let mut command = Command::new("docker");
    command.args(args).stdin(Stdio::null());
    run(command, "docker", args).await
}

/// [`docker`] blocking the thread.
pub fn docker_blocking(args: &[&str]) -> anyhow::Result<String> {
    let mut command = std::process::Command::new("docker");
    command.args(args).stdin(Stdio::null());
    finish(command.output(), "docker", args)
}

async fn run(mut command: Command, program: &str, args: &[&str]) -> anyhow::Result<String> {
    command.kill_on_drop(true);
    let output = tokio::time::timeout(COMMAND_DEADLINE, command.output())
        .await
        .with_context(|| {
            format!(
                "{program} {} took over {COMMAND_DEADLINE:?}",
                args.join(" ")
            )
        })?;
    finish(output, program, args)
}

fn finish(
    output: std::io::Result<std::process::Output>,
    program: &str,
    args: &[&str],
) -> anyhow::Result<String> {
    let output = output.with_context(|| format!("running {program}"))?;
    if !output.status.success() {
        bail!(
            "{program} {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `bytes` random bytes in hex: passwords of throw-away stacks.
pub fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_address_is_the_ipv4_line_of_docker_port() {
        let out = "[::1]:49153\n127.0.0.1:49153\n";
        assert_eq!(host_port(out).ok(), "127.0.0.1:49153".parse().ok());
        assert!(host_port("").is_err());
    }
}
