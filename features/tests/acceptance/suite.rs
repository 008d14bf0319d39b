//! What every scenario of a run shares: keys, scratch space, the HTTP client, the target.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, anyhow};
use features::service::{ComposeRun, Target};
use features::token::Keys;

/// How long a condition may take to become true before a step gives up.
pub(crate) const DEADLINE: Duration = Duration::from_secs(10);
/// How often a condition is re-checked.
pub(crate) const POLL_EVERY: Duration = Duration::from_millis(20);

/// What every scenario of a run shares.
#[derive(Debug)]
pub(crate) struct Suite {
    /// The identity provider's keys.
    pub(crate) keys: Keys,
    /// The PEM file of the public key handed to every service.
    pub(crate) public_key_file: PathBuf,
    /// Scratch space of this run.
    pub(crate) scratch: PathBuf,
    /// One HTTP client that never follows redirects, so 303s are seen.
    pub(crate) client: reqwest::Client,
    /// Where services run.
    pub(crate) target: Target,
    /// Where fakes the service calls listen: loopback, or a network the containers reach.
    pub(crate) fake_host: IpAddr,
}

static SUITE: OnceLock<Suite> = OnceLock::new();

/// Generates the keys, writes the public key and builds the client, once per run; on the compose
/// target also sets up the run's stacks, taken down when the returned guard drops.
pub(crate) fn init_suite() -> anyhow::Result<(&'static Suite, Option<ComposeRun>)> {
    let target = Target::from_env()?;
    let scratch = std::env::temp_dir().join(format!("stock-features-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let keys = Keys::generate()?;
    let public_key_file = scratch.join("identity-provider.pem");
    std::fs::write(&public_key_file, &keys.public_pem)?;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // No kept-alive connections: a later service may reuse a stopped one's port, and an
        // idle connection would hold a graceful shutdown open.
        .pool_max_idle_per_host(0)
        .timeout(DEADLINE)
        .build()?;
    let compose = match target {
        Target::Compose => Some(ComposeRun::start(&scratch)?),
        _ => None,
    };
    let fake_host = compose
        .as_ref()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), ComposeRun::fake_host);
    let suite = Suite {
        keys,
        public_key_file,
        scratch,
        client,
        target,
        fake_host,
    };
    Ok((SUITE.get_or_init(|| suite), compose))
}

/// The shared state of the run.
pub(crate) fn suite() -> anyhow::Result<&'static Suite> {
    SUITE
        .get()
        .ok_or_else(|| anyhow!("the suite is not initialised"))
}
