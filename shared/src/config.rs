//! The configuration both tiers read: the `docs/configuration.md` §2 variables of the role, the
//! store, the worker tier and the logs, parsed and validated at start-up. The settings only the
//! HTTP tier reads (listener, token key, location source, demo mode) are parsed by `http-fn`
//! with the same rules ([`Vars`]). Parsing reads variables only, never a file.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use crate::store::redis::ReplyChannelKind;

/// Largest accepted `STOCK_SHARDS`.
pub const MAX_SHARDS: u32 = 65_536;

/// Smallest accepted `STOCK_IDEMPOTENCY_RETENTION`.
pub const MIN_IDEMPOTENCY_RETENTION: Duration = Duration::from_secs(3600);

/// The largest value of a duration setting, and how errors write it.
pub type Bound = (Duration, &'static str);

/// Bound of a duration setting of at most one minute.
pub const UP_TO_1M: Bound = (Duration::from_secs(60), "1m");

/// Bound of a duration setting of at most five minutes.
pub const UP_TO_5M: Bound = (Duration::from_secs(5 * 60), "5m");

/// Bound of a duration setting of at most one hour.
pub const UP_TO_1H: Bound = (Duration::from_secs(3600), "1h");

/// Bound of a duration setting of at most seven days.
pub const UP_TO_7D: Bound = (Duration::from_secs(7 * 24 * 3600), "7d");

/// Largest accepted value of a duration setting without a bound of its own: far below where
/// deadline arithmetic could overflow.
pub const MAX_DURATION: Bound = (Duration::from_secs(366 * 24 * 3600), "366d");

/// What a node does (`NODE_ROLE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeRole {
    /// Serves HTTP, hosts no pots.
    Http,
    /// Hosts the pots of leased shards, serves no public HTTP.
    Actor,
    /// Both in one process (development, small deployments).
    Both,
}

impl fmt::Display for NodeRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NodeRole::Http => "http",
            NodeRole::Actor => "actor",
            NodeRole::Both => "both",
        })
    }
}

/// Which binary reads the configuration: it decides the default role and the allowed ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    /// `http-fn`: `http` or `both` (default).
    HttpFn,
    /// `actor-worker`: `actor` only.
    ActorWorker,
}

impl Binary {
    fn name(self) -> &'static str {
        match self {
            Binary::HttpFn => "http-fn",
            Binary::ActorWorker => "actor-worker",
        }
    }

    fn default_role(self) -> NodeRole {
        match self {
            Binary::HttpFn => NodeRole::Both,
            Binary::ActorWorker => NodeRole::Actor,
        }
    }

    fn runs(self, role: NodeRole) -> bool {
        match self {
            Binary::HttpFn => role != NodeRole::Actor,
            Binary::ActorWorker => role == NodeRole::Actor,
        }
    }
}

/// Log line format (`STOCK_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Text,
}

/// The validated settings both tiers read.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `NODE_ROLE`.
    pub role: NodeRole,
    /// `STOCK_ADMIN_ADDR` (used by `actor`; the default on `http` and `both` nodes).
    pub admin_addr: SocketAddr,
    /// `STOCK_REDIS_URL`; `None` only with `both` (the embedded backend).
    pub redis_url: Option<String>,
    /// `STOCK_REDIS_MIN_REPLICAS`: replicas that must confirm a write (Redis `WAIT`).
    pub redis_min_replicas: u32,
    /// `STOCK_SHARDS`.
    pub shards: u32,
    /// `STOCK_WORKER_ID`, or host name + `-` + 6 random hex digits.
    pub worker_id: String,
    /// `STOCK_POT_UNLOAD_AFTER`.
    pub pot_unload_after: Duration,
    /// `STOCK_POT_UNLOAD_CHECK_INTERVAL`.
    pub pot_unload_check_interval: Duration,
    /// `STOCK_LEASE_TTL`.
    pub lease_ttl: Duration,
    /// `STOCK_IDEMPOTENCY_RETENTION`.
    pub idempotency_retention: Duration,
    /// `STOCK_COMMAND_TIMEOUT`.
    pub command_timeout: Duration,
    /// `STOCK_LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `STOCK_REPLY_CHANNEL`: how an HTTP-tier instance receives replies over Redis.
    pub reply_channel: ReplyChannelKind,
}

/// A variable whose value breaks a rule; displayed as one line naming both.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {rule}")]
pub struct ConfigError {
    /// The offending variable (for combinations, the one to fix).
    pub variable: String,
    /// The rule it broke, with the value found.
    pub rule: String,
}

/// The error of `variable` breaking `rule`.
pub fn error(variable: &str, rule: impl Into<String>) -> ConfigError {
    ConfigError {
        variable: variable.to_owned(),
        rule: rule.into(),
    }
}

impl Config {
    /// Reads and validates the configuration from `vars` (tests pass their own map) for
    /// `binary`. Unknown variables are ignored, and so are empty values, which count as unset
    /// (a `VAR=` line in an env file).
    pub fn from_vars<I: IntoIterator<Item = (String, String)>>(
        vars: I,
        binary: Binary,
    ) -> Result<Config, ConfigError> {
        let vars = Vars::new(vars);
        vars.checked(Config::parse(&vars, binary))
    }

    /// [`Config::from_vars`] over raw variables, as the environment holds them. A name or value
    /// that is not UTF-8 is ignored unless the configuration reads it: then it is an error
    /// naming the variable (its value is not echoed).
    pub fn from_os_vars<I: IntoIterator<Item = (OsString, OsString)>>(
        vars: I,
        binary: Binary,
    ) -> Result<Config, ConfigError> {
        let vars = Vars::from_os(vars);
        vars.checked(Config::parse(&vars, binary))
    }

    /// [`Config::from_os_vars`] over the process environment.
    pub fn from_env(binary: Binary) -> Result<Config, ConfigError> {
        Config::from_os_vars(std::env::vars_os(), binary)
    }

    /// The settings of `vars`, or the first rule broken. A caller that reads more variables
    /// from the same `vars` passes its result through [`Vars::checked`].
    pub fn parse(vars: &Vars, binary: Binary) -> Result<Config, ConfigError> {
        let role = role(vars, binary)?;
        let d = Duration::from_secs;
        let pot_unload_after =
            vars.positive_duration("STOCK_POT_UNLOAD_AFTER", d(300), UP_TO_7D)?;
        let interval =
            vars.positive_duration("STOCK_POT_UNLOAD_CHECK_INTERVAL", d(30), UP_TO_1H)?;
        Ok(Config {
            role,
            admin_addr: vars.address("STOCK_ADMIN_ADDR", role == NodeRole::Actor, 9090)?,
            redis_url: redis_url(vars, role)?,
            redis_min_replicas: redis_min_replicas(vars)?,
            shards: shards(vars)?,
            worker_id: vars
                .get("STOCK_WORKER_ID")
                .map_or_else(default_worker_id, str::to_owned),
            pot_unload_after,
            pot_unload_check_interval: interval,
            lease_ttl: vars.positive_duration("STOCK_LEASE_TTL", d(3), UP_TO_5M)?,
            idempotency_retention: retention(vars)?,
            command_timeout: vars.positive_duration("STOCK_COMMAND_TIMEOUT", d(5), UP_TO_5M)?,
            log_format: log_format(vars)?,
            reply_channel: reply_channel(vars)?,
        })
    }
}

/// The raw variables, looked up by name.
#[derive(Default)]
pub struct Vars {
    values: HashMap<String, String>,
    /// Variables whose value is not UTF-8: an error only once one of them is read.
    not_utf8: HashSet<String>,
    /// The first of those read.
    read_not_utf8: RefCell<Option<String>>,
}

impl Vars {
    /// The variables of `vars`.
    pub fn new<I: IntoIterator<Item = (String, String)>>(vars: I) -> Vars {
        Vars {
            values: vars.into_iter().collect(),
            ..Vars::default()
        }
    }

    /// The variables of `vars` as the environment holds them; a value that is not UTF-8 is an
    /// error once it is read.
    pub fn from_os<I: IntoIterator<Item = (OsString, OsString)>>(vars: I) -> Vars {
        let mut read = Vars::default();
        for (name, value) in vars {
            // A name the configuration reads is ASCII: any other is never looked up.
            let Ok(name) = name.into_string() else {
                continue;
            };
            match value.into_string() {
                Ok(value) => read.values.insert(name, value),
                Err(_) => {
                    read.not_utf8.insert(name);
                    continue;
                }
            };
        }
        read
    }

    /// `parsed`, unless a variable read was not UTF-8: that comes first, since reading it as
    /// unset may have broken a rule by itself.
    pub fn checked<T>(&self, parsed: Result<T, ConfigError>) -> Result<T, ConfigError> {
        // The telemetry set-up reads these later and would take them as unset.
        let telemetry = self
            .not_utf8
            .iter()
            .filter(|name| *name == "RUST_LOG" || name.starts_with("OTEL_"))
            .min()
            .cloned();
        match self.read_not_utf8.borrow_mut().take().or(telemetry) {
            Some(name) => Err(error(&name, "must be valid UTF-8")),
            None => parsed,
        }
    }

    /// The trimmed value; empty counts as unset (and so, until reported, does a value that is
    /// not UTF-8).
    pub fn get(&self, name: &str) -> Option<&str> {
        if self.not_utf8.contains(name) {
            self.read_not_utf8
                .borrow_mut()
                .get_or_insert_with(|| name.to_owned());
            return None;
        }
        self.values
            .get(name)
            .map(|value| value.trim())
            .filter(|value| !value.is_empty())
    }

    /// The value parsed as `T`, `default` when unset; `expected` says what it must be.
    pub fn parsed<T: FromStr>(
        &self,
        name: &str,
        default: T,
        expected: &str,
    ) -> Result<T, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|_| error(name, format!("must be {expected}, got {raw:?}"))),
        }
    }

    /// A duration, at most `bound`.
    pub fn duration(
        &self,
        name: &str,
        default: Duration,
        bound: Bound,
    ) -> Result<Duration, ConfigError> {
        let value = match self.get(name) {
            None => default,
            Some(raw) => humantime::parse_duration(raw).map_err(|_| {
                error(
                    name,
                    format!("must be a duration such as 100ms, 2s or 5m, got {raw:?}"),
                )
            })?,
        };
        let (bound, written) = bound;
        if value > bound {
            let rule = format!(
                "must be ≤ {written}, got {}",
                humantime::format_duration(value)
            );
            return Err(error(name, rule));
        }
        Ok(value)
    }

    /// A duration > 0, at most `bound`.
    pub fn positive_duration(
        &self,
        name: &str,
        default: Duration,
        bound: Bound,
    ) -> Result<Duration, ConfigError> {
        let value = self.duration(name, default, bound)?;
        if value.is_zero() {
            return Err(error(name, "must be > 0, got 0s"));
        }
        Ok(value)
    }

    /// An integer ≥ 1.
    pub fn at_least_one(&self, name: &str, default: u32) -> Result<u32, ConfigError> {
        let value = self.parsed(name, default, "an integer ≥ 1")?;
        if value == 0 {
            return Err(error(name, "must be an integer ≥ 1, got 0"));
        }
        Ok(value)
    }

    /// A listen address on `port` by default; a variable the role does not use is not read
    /// (the default is kept).
    pub fn address(&self, name: &str, used: bool, port: u16) -> Result<SocketAddr, ConfigError> {
        let default = SocketAddr::from(([0, 0, 0, 0], port));
        if !used {
            return Ok(default);
        }
        self.parsed(name, default, "a socket address such as 0.0.0.0:8080")
    }
}

fn role(vars: &Vars, binary: Binary) -> Result<NodeRole, ConfigError> {
    let role = match vars.get("NODE_ROLE") {
        None => binary.default_role(),
        Some(raw) => match raw.to_ascii_lowercase().as_str() {
            "http" => NodeRole::Http,
            "actor" => NodeRole::Actor,
            "both" => NodeRole::Both,
            _ => {
                return Err(error(
                    "NODE_ROLE",
                    format!("must be http, actor or both, got {raw:?}"),
                ));
            }
        },
    };
    if !binary.runs(role) {
        let runs = match binary {
            Binary::HttpFn => "http or both (actor runs in actor-worker)",
            Binary::ActorWorker => "actor only (http and both run in http-fn)",
        };
        let rule = format!("the {} binary runs {runs}, got {role}", binary.name());
        return Err(error("NODE_ROLE", rule));
    }
    Ok(role)
}

fn redis_url(vars: &Vars, role: NodeRole) -> Result<Option<String>, ConfigError> {
    const NAME: &str = "STOCK_REDIS_URL";
    match vars.get(NAME) {
        None if role == NodeRole::Both => Ok(None),
        None => Err(error(NAME, format!("required with NODE_ROLE={role}"))),
        // The value is not echoed: it may carry a password.
        Some(url) => match crate::store::redis::check_url(url) {
            Ok(()) => Ok(Some(url.to_owned())),
            Err(rule) => Err(error(NAME, rule)),
        },
    }
}

/// Most replicas `STOCK_REDIS_MIN_REPLICAS` may ask for.
const MAX_MIN_REPLICAS: u32 = 16;

fn redis_min_replicas(vars: &Vars) -> Result<u32, ConfigError> {
    const NAME: &str = "STOCK_REDIS_MIN_REPLICAS";
    let expected = format!("an integer from 0 to {MAX_MIN_REPLICAS}");
    let replicas = vars.parsed(NAME, 0, &expected)?;
    if replicas > MAX_MIN_REPLICAS {
        return Err(error(
            NAME,
            format!("must be {expected}, got \"{replicas}\""),
        ));
    }
    Ok(replicas)
}

fn shards(vars: &Vars) -> Result<u32, ConfigError> {
    let expected = format!("an integer from 1 to {MAX_SHARDS}");
    let shards = vars.parsed("STOCK_SHARDS", 256, &expected)?;
    if !(1..=MAX_SHARDS).contains(&shards) {
        return Err(error(
            "STOCK_SHARDS",
            format!("must be {expected}, got \"{shards}\""),
        ));
    }
    Ok(shards)
}

fn default_worker_id() -> String {
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    format!("{host}-{:06x}", rand::random::<u32>() & 0x00ff_ffff)
}

fn retention(vars: &Vars) -> Result<Duration, ConfigError> {
    const NAME: &str = "STOCK_IDEMPOTENCY_RETENTION";
    let retention = vars.duration(NAME, Duration::from_secs(7 * 24 * 3600), MAX_DURATION)?;
    if retention < MIN_IDEMPOTENCY_RETENTION {
        let rule = format!(
            "must be ≥ 1h, got {}",
            humantime::format_duration(retention)
        );
        return Err(error(NAME, rule));
    }
    Ok(retention)
}

fn reply_channel(vars: &Vars) -> Result<ReplyChannelKind, ConfigError> {
    match vars.get("STOCK_REPLY_CHANNEL") {
        None => Ok(ReplyChannelKind::Stream),
        Some(raw) => raw.parse().map_err(|_| {
            error(
                "STOCK_REPLY_CHANNEL",
                format!("must be stream or key, got {raw:?}"),
            )
        }),
    }
}

fn log_format(vars: &Vars) -> Result<LogFormat, ConfigError> {
    match vars.get("STOCK_LOG_FORMAT") {
        None => Ok(LogFormat::Json),
        Some(raw) if raw.eq_ignore_ascii_case("json") => Ok(LogFormat::Json),
        Some(raw) if raw.eq_ignore_ascii_case("text") => Ok(LogFormat::Text),
        Some(raw) => Err(error(
            "STOCK_LOG_FORMAT",
            format!("must be json or text, got {raw:?}"),
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Variables set on an empty environment.
    type Overrides = &'static [(&'static str, &'static str)];

    /// What an accepted configuration must satisfy.
    type Check = fn(&Config) -> bool;

    fn load(overrides: &[(&str, &str)]) -> Result<Config, ConfigError> {
        load_as(Binary::HttpFn, overrides)
    }

    fn load_as(binary: Binary, overrides: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars = overrides
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()));
        Config::from_vars(vars, binary)
    }

    /// The raw variables `vars` as the environment holds them.
    fn load_os(vars: &[(&[u8], &[u8])]) -> Result<Config, ConfigError> {
        use std::os::unix::ffi::OsStrExt;
        let os = |bytes: &[u8]| std::ffi::OsStr::from_bytes(bytes).to_owned();
        let vars = vars.iter().map(|(name, value)| (os(name), os(value)));
        Config::from_os_vars(vars, Binary::HttpFn)
    }

    #[test]
    fn every_default_matches_the_spec() {
        let config = load(&[]).unwrap();
        assert_eq!(config.role, NodeRole::Both);
        assert_eq!(config.admin_addr, "0.0.0.0:9090".parse().unwrap());
        assert_eq!(config.redis_url, None);
        assert_eq!(config.shards, 256);
        assert_eq!(config.pot_unload_after, Duration::from_secs(5 * 60));
        assert_eq!(config.pot_unload_check_interval, Duration::from_secs(30));
        assert_eq!(config.lease_ttl, Duration::from_secs(3));
        assert_eq!(
            config.idempotency_retention,
            Duration::from_secs(7 * 24 * 3600)
        );
        assert_eq!(config.command_timeout, Duration::from_secs(5));
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.reply_channel, ReplyChannelKind::Stream);
    }

    #[test]
    fn the_default_worker_id_is_the_host_name_and_six_hex_digits() {
        let id = load(&[]).unwrap().worker_id;
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        let suffix = id.strip_prefix(&format!("{host}-")).unwrap();
        assert_eq!(suffix.len(), 6);
        assert!(
            suffix
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        let named = load(&[("STOCK_WORKER_ID", "worker-7")]).unwrap();
        assert_eq!(named.worker_id, "worker-7");
    }

    #[test]
    fn the_default_role_depends_on_the_binary() {
        let redis = [("STOCK_REDIS_URL", "redis://127.0.0.1:6379")];
        let worker = load_as(Binary::ActorWorker, &redis).unwrap();
        assert_eq!(worker.role, NodeRole::Actor);
        assert_eq!(load(&redis).unwrap().role, NodeRole::Both);
    }

    #[test]
    fn every_rule_rejects_its_bad_values() {
        const REDIS: (&str, &str) = ("STOCK_REDIS_URL", "redis://localhost");
        #[rustfmt::skip]
        let cases: &[(Overrides, &str, &str)] = &[
            (&[("NODE_ROLE", "worker")], "NODE_ROLE", r#"must be http, actor or both, got "worker""#),
            (&[("NODE_ROLE", "actor"), REDIS], "NODE_ROLE", "the http-fn binary runs http or both"),
            (&[("NODE_ROLE", "http")], "STOCK_REDIS_URL", "required with NODE_ROLE=http"),
            (&[("STOCK_REDIS_URL", "http://localhost")], "STOCK_REDIS_URL", "must start with redis://, rediss:// or redis+sentinel://"),
            (&[("STOCK_REDIS_URL", "redis+sentinel://s1:26379")], "STOCK_REDIS_URL", "must end with /<service-name>"),
            (&[("STOCK_REDIS_URL", "redis+sentinel://s1/stock")], "STOCK_REDIS_URL", "must list sentinels as host:port"),
            (&[("STOCK_REDIS_URL", "REDIS://localhost")], "STOCK_REDIS_URL", "must start with redis://"),
            (&[("STOCK_REDIS_MIN_REPLICAS", "-1")], "STOCK_REDIS_MIN_REPLICAS", r#"must be an integer from 0 to 16, got "-1""#),
            (&[("STOCK_REDIS_MIN_REPLICAS", "17")], "STOCK_REDIS_MIN_REPLICAS", r#"must be an integer from 0 to 16, got "17""#),
            (&[("STOCK_SHARDS", "0")], "STOCK_SHARDS", r#"must be an integer from 1 to 65536, got "0""#),
            (&[("STOCK_SHARDS", "65537")], "STOCK_SHARDS", r#"must be an integer from 1 to 65536, got "65537""#),
            (&[("STOCK_SHARDS", "-1")], "STOCK_SHARDS", "must be an integer from 1 to 65536"),
            (&[("STOCK_SHARDS", "many")], "STOCK_SHARDS", "must be an integer from 1 to 65536"),
            (&[("STOCK_POT_UNLOAD_AFTER", "0s")], "STOCK_POT_UNLOAD_AFTER", "must be > 0"),
            (&[("STOCK_POT_UNLOAD_CHECK_INTERVAL", "0s")], "STOCK_POT_UNLOAD_CHECK_INTERVAL", "must be > 0"),
            (&[("STOCK_LEASE_TTL", "0s")], "STOCK_LEASE_TTL", "must be > 0"),
            (&[("STOCK_LEASE_TTL", "3")], "STOCK_LEASE_TTL", r#"must be a duration such as 100ms, 2s or 5m, got "3""#),
            (&[("STOCK_IDEMPOTENCY_RETENTION", "59m")], "STOCK_IDEMPOTENCY_RETENTION", "must be ≥ 1h, got 59m"),
            (&[("STOCK_IDEMPOTENCY_RETENTION", "forever")], "STOCK_IDEMPOTENCY_RETENTION", "must be a duration"),
            (&[("STOCK_COMMAND_TIMEOUT", "0s")], "STOCK_COMMAND_TIMEOUT", "must be > 0"),
            (&[("STOCK_COMMAND_TIMEOUT", "5m 1s")], "STOCK_COMMAND_TIMEOUT", "must be ≤ 5m, got 5m 1s"),
            (&[("STOCK_COMMAND_TIMEOUT", "100years")], "STOCK_COMMAND_TIMEOUT", "must be ≤ 5m, got 100years"),
            (&[("STOCK_COMMAND_TIMEOUT", "99999999999999999999s")], "STOCK_COMMAND_TIMEOUT", "must be a duration"),
            (&[("STOCK_LEASE_TTL", "6m")], "STOCK_LEASE_TTL", "must be ≤ 5m, got 6m"),
            (&[("STOCK_POT_UNLOAD_AFTER", "8d")], "STOCK_POT_UNLOAD_AFTER", "must be ≤ 7d, got 8days"),
            (&[("STOCK_POT_UNLOAD_CHECK_INTERVAL", "61m")], "STOCK_POT_UNLOAD_CHECK_INTERVAL", "must be ≤ 1h, got 1h 1m"),
            (&[("STOCK_IDEMPOTENCY_RETENTION", "367d")], "STOCK_IDEMPOTENCY_RETENTION", "must be ≤ 366d"),
            (&[("STOCK_LOG_FORMAT", "xml")], "STOCK_LOG_FORMAT", r#"must be json or text, got "xml""#),
            (&[("STOCK_REPLY_CHANNEL", "queue")], "STOCK_REPLY_CHANNEL", r#"must be stream or key, got "queue""#),
        ];
        for (overrides, variable, rule) in cases {
            let error = load(overrides).unwrap_err();
            assert_eq!(error.variable, *variable, "{overrides:?}: {error}");
            assert!(error.rule.contains(rule), "{overrides:?}: {error}");
        }
    }

    #[test]
    fn the_actor_worker_binary_runs_only_the_actor_role() {
        let redis = ("STOCK_REDIS_URL", "redis://localhost");
        for role in ["both", "http"] {
            let error = load_as(Binary::ActorWorker, &[("NODE_ROLE", role), redis]);
            let error = error.unwrap_err();
            assert_eq!(error.variable, "NODE_ROLE");
            assert!(
                error
                    .rule
                    .contains("the actor-worker binary runs actor only"),
                "{error}"
            );
        }
        let missing = load_as(Binary::ActorWorker, &[]).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "STOCK_REDIS_URL: required with NODE_ROLE=actor"
        );
    }

    #[test]
    fn an_error_displays_as_one_line_naming_the_variable_and_the_rule() {
        let error = load(&[("STOCK_POT_UNLOAD_CHECK_INTERVAL", "61m")]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "STOCK_POT_UNLOAD_CHECK_INTERVAL: must be ≤ 1h, got 1h 1m"
        );
    }

    #[test]
    fn a_value_that_is_not_utf8_is_an_error_only_when_the_variable_is_read() {
        let bad: &[u8] = b"8\xff";
        let unread: &[(&[u8], &[u8])] = &[
            (b"LC_UNRELATED", bad),
            (b"NAME_\xfe", b"x"),
            // Only an actor node reads the admin address, and only the HTTP tier the others.
            (b"STOCK_ADMIN_ADDR", bad),
            (b"STOCK_HTTP_ADDR", bad),
            (b"STOCK_JWT_ISSUER", bad),
        ];
        assert_eq!(load_os(unread).unwrap().shards, 256);
        let shards = load_os(&[(b"STOCK_SHARDS", bad)]).unwrap_err();
        assert_eq!(shards.to_string(), "STOCK_SHARDS: must be valid UTF-8");
        // Read as unset, the URL would be "required": the encoding is what to fix.
        let redis = [
            (b"NODE_ROLE".as_slice(), b"http".as_slice()),
            (b"STOCK_REDIS_URL", bad),
        ];
        let error = load_os(&redis).unwrap_err();
        assert_eq!(error.to_string(), "STOCK_REDIS_URL: must be valid UTF-8");
        let log = load_os(&[(b"OTEL_SERVICE_NAME", bad)]).unwrap_err();
        assert_eq!(log.to_string(), "OTEL_SERVICE_NAME: must be valid UTF-8");
        let good = load_os(&[(b"STOCK_SHARDS", b"8")]).unwrap();
        assert_eq!(good.shards, 8);
    }

    #[test]
    fn the_redis_url_is_never_echoed_in_an_error() {
        let error = load(&[("STOCK_REDIS_URL", "http://:secret@host")]).unwrap_err();
        assert!(!error.to_string().contains("secret"));
    }

    #[test]
    fn boundary_and_alternative_values_are_accepted() {
        #[rustfmt::skip]
        let cases: &[(Overrides, Check)] = &[
            (&[("NODE_ROLE", " HTTP "), ("STOCK_REDIS_URL", "rediss://cache:6380")], |c| c.role == NodeRole::Http && c.redis_url.as_deref() == Some("rediss://cache:6380")),
            (&[("NODE_ROLE", "Both"), ("STOCK_REDIS_URL", "redis://localhost")], |c| c.role == NodeRole::Both && c.redis_url.is_some()),
            (&[("STOCK_ADMIN_ADDR", "garbage")], |c| c.admin_addr.port() == 9090),
            (&[("STOCK_SHARDS", "1")], |c| c.shards == 1),
            (&[("STOCK_SHARDS", "65536")], |c| c.shards == 65_536),
            (&[("STOCK_POT_UNLOAD_AFTER", "200ms"), ("STOCK_POT_UNLOAD_CHECK_INTERVAL", "50ms")], |c| c.pot_unload_after == Duration::from_millis(200) && c.pot_unload_check_interval == Duration::from_millis(50)),
            (&[("STOCK_LEASE_TTL", "1s 500ms")], |c| c.lease_ttl == Duration::from_millis(1500)),
            (&[("STOCK_IDEMPOTENCY_RETENTION", "1h")], |c| c.idempotency_retention == MIN_IDEMPOTENCY_RETENTION),
            (&[("STOCK_COMMAND_TIMEOUT", "250ms")], |c| c.command_timeout == Duration::from_millis(250)),
            (&[("STOCK_COMMAND_TIMEOUT", "5m"), ("STOCK_LEASE_TTL", "5m")], |c| c.command_timeout == Duration::from_secs(300) && c.lease_ttl == c.command_timeout),
            (&[("STOCK_POT_UNLOAD_AFTER", "7d"), ("STOCK_POT_UNLOAD_CHECK_INTERVAL", "1h")], |c| c.pot_unload_after == Duration::from_secs(7 * 86_400) && c.pot_unload_check_interval == Duration::from_secs(3600)),
            (&[("STOCK_IDEMPOTENCY_RETENTION", "366d")], |c| c.idempotency_retention == MAX_DURATION.0),
            (&[("STOCK_LOG_FORMAT", "TEXT")], |c| c.log_format == LogFormat::Text),
            (&[("STOCK_LOG_FORMAT", "json")], |c| c.log_format == LogFormat::Json),
            (&[("STOCK_REPLY_CHANNEL", "Key")], |c| c.reply_channel == ReplyChannelKind::Key),
            (&[("STOCK_SHARDS", "   ")], |c| c.shards == 256),
            (&[("SOME_UNKNOWN_VARIABLE", "x"), ("STOCK_UNKNOWN", "y")], |c| c.shards == 256),
        ];
        for (overrides, check) in cases {
            let config = load(overrides);
            assert!(
                config.as_ref().is_ok_and(check),
                "{overrides:?}: {config:?}"
            );
        }
    }

    #[test]
    fn an_actor_node_reads_the_admin_address_and_nothing_of_the_http_tier() {
        let vars = [
            ("STOCK_REDIS_URL", "redis://localhost"),
            ("STOCK_HTTP_ADDR", "garbage"),
            ("STOCK_JWT_PUBLIC_KEY_FILE", "/nowhere.pem"),
            ("STOCK_LOCATION_API_MAX_ATTEMPTS", "0"),
            ("STOCK_ADMIN_ADDR", "127.0.0.1:0"),
        ];
        let config = load_as(Binary::ActorWorker, &vars).unwrap();
        assert_eq!(config.admin_addr, "127.0.0.1:0".parse().unwrap());
        let bad = load_as(Binary::ActorWorker, &[vars[0], ("STOCK_ADMIN_ADDR", "x")]);
        assert_eq!(bad.unwrap_err().variable, "STOCK_ADMIN_ADDR");
    }
}
