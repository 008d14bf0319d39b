//! The process configuration: every `docs/configuration.md` §2 variable, parsed and validated at start-up.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use crate::store::redis::ReplyChannelKind;

/// Where the demo estate lives, relative to the repository root (the usual current directory).
pub const DEMO_LOCATIONS_PATH: &str = "infra/demo/locations.json";

/// The demo estate compiled into the binary, so `--demo` works from any directory.
pub const DEMO_LOCATIONS: &str = include_str!("../../infra/demo/locations.json");

/// Largest accepted `STOCK_SHARDS`.
pub const MAX_SHARDS: u32 = 65_536;

/// Smallest accepted `STOCK_IDEMPOTENCY_RETENTION`.
pub const MIN_IDEMPOTENCY_RETENTION: Duration = Duration::from_secs(3600);

/// Largest accepted value of a duration setting without a bound of its own (see
/// [`duration_bound`]), as written in errors: far below where deadline arithmetic could
/// overflow.
pub const MAX_DURATION: (Duration, &str) = (Duration::from_secs(366 * 24 * 3600), "366d");

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

/// Where the location hierarchy comes from (`docs/api.md` §15.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocationSourceConfig {
    /// `STOCK_LOCATION_API_URL`, without trailing `/`.
    Api {
        /// e.g. `http://locations:8080` or `https://example.com/location-api`.
        base_url: String,
    },
    /// `STOCK_LOCATIONS_FILE`, or the demo estate file in demo mode.
    File {
        /// The JSON hierarchy file, watched for changes.
        path: PathBuf,
    },
    /// Demo mode outside the repository: the demo estate compiled into the binary.
    Embedded {
        /// The JSON hierarchy ([`DEMO_LOCATIONS`]).
        json: &'static str,
    },
    /// An actor node: workers never look locations up, so no source is configured or needed.
    Unused,
}

/// Log line format (`STOCK_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Text,
}

/// Timeouts, retries and circuit breaker of the Location API client (`docs/api.md` §15.5).
#[derive(Debug, Clone, PartialEq)]
pub struct LocationApiSettings {
    /// Total attempts per call, the first included (≥ 1).
    pub max_attempts: u32,
    /// Delay before the first retry.
    pub initial_delay: Duration,
    /// Upper bound of any retry delay (≥ `initial_delay`).
    pub max_delay: Duration,
    /// Growth of the delay per retry (≥ 1.0).
    pub backoff_multiplier: f64,
    /// Consecutive failed attempts that open the breaker (≥ 1 and ≥ `max_attempts`).
    pub failure_threshold: u32,
    /// How long the breaker stays open before a trial (> 0).
    pub quiet_period: Duration,
    /// TCP connect timeout per attempt (> 0).
    pub connect_timeout: Duration,
    /// Whole-request timeout per attempt (> 0).
    pub request_timeout: Duration,
}

impl Default for LocationApiSettings {
    /// The defaults of `docs/configuration.md` §2.
    fn default() -> LocationApiSettings {
        LocationApiSettings {
            max_attempts: 3,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            backoff_multiplier: 2.0,
            failure_threshold: 5,
            quiet_period: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(2),
        }
    }
}

/// Bearer-token verification settings (`docs/api.md` §13.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtSettings {
    /// `STOCK_JWT_PUBLIC_KEY_FILE`.
    pub public_key_file: PathBuf,
    /// The file's content, read at start-up: a PEM RSA public key (SPKI or PKCS#1).
    pub public_key_pem: Vec<u8>,
    /// `STOCK_JWT_ISSUER`: the required `iss`.
    pub issuer: String,
    /// `STOCK_JWT_AUDIENCE`: the required `aud`.
    pub audience: String,
}

/// The validated configuration of one process.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `NODE_ROLE`.
    pub role: NodeRole,
    /// `STOCK_HTTP_ADDR` (used by `http` and `both`; the default on `actor` nodes).
    pub http_addr: SocketAddr,
    /// `STOCK_ADMIN_ADDR` (used by `actor`; the default on `http` and `both` nodes).
    pub admin_addr: SocketAddr,
    /// `STOCK_REDIS_URL`; `None` only with `both` (the embedded backend).
    pub redis_url: Option<String>,
    /// `STOCK_SHARDS`.
    pub shards: u32,
    /// `STOCK_WORKER_ID`, or host name + `-` + 6 random hex digits.
    pub worker_id: String,
    /// `STOCK_LOCATION_API_URL` / `STOCK_LOCATIONS_FILE` / the demo estate.
    pub locations: LocationSourceConfig,
    /// Token verification; `None` only in demo mode, which generates its own key pair.
    pub jwt: Option<JwtSettings>,
    /// `STOCK_LOCATION_API_*`.
    pub location_api: LocationApiSettings,
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
    /// Started with `--demo`.
    pub demo: bool,
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

fn error(variable: &str, rule: impl Into<String>) -> ConfigError {
    ConfigError {
        variable: variable.to_owned(),
        rule: rule.into(),
    }
}

impl Config {
    /// Reads and validates the configuration from `vars` (tests pass their own map) for
    /// `binary`; `demo` is the `--demo` flag. Unknown variables are ignored, and so are empty
    /// values, which count as unset (a `VAR=` line in an env file).
    pub fn from_vars<I: IntoIterator<Item = (String, String)>>(
        vars: I,
        binary: Binary,
        demo: bool,
    ) -> Result<Config, ConfigError> {
        let vars = Vars {
            values: vars.into_iter().collect(),
            ..Vars::default()
        };
        Config::read(&vars, binary, demo)
    }

    /// [`Config::from_vars`] over raw variables, as the environment holds them. A name or value
    /// that is not UTF-8 is ignored unless the configuration reads it: then it is an error
    /// naming the variable (its value is not echoed).
    pub fn from_os_vars<I: IntoIterator<Item = (OsString, OsString)>>(
        vars: I,
        binary: Binary,
        demo: bool,
    ) -> Result<Config, ConfigError> {
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
        Config::read(&read, binary, demo)
    }

    /// [`Config::from_os_vars`] over the process environment.
    pub fn from_env(binary: Binary, demo: bool) -> Result<Config, ConfigError> {
        Config::from_os_vars(std::env::vars_os(), binary, demo)
    }

    /// The configuration, or the first rule broken; a variable read that is not UTF-8 comes first,
    /// since reading it as unset may have broken a rule by itself.
    fn read(vars: &Vars, binary: Binary, demo: bool) -> Result<Config, ConfigError> {
        let config = Config::parse(vars, binary, demo);
        // The telemetry set-up reads these later and would take them as unset.
        let telemetry = vars
            .not_utf8
            .iter()
            .filter(|name| *name == "RUST_LOG" || name.starts_with("OTEL_"))
            .min()
            .cloned();
        match vars.read_not_utf8.borrow_mut().take().or(telemetry) {
            Some(name) => Err(error(&name, "must be valid UTF-8")),
            None => config,
        }
    }

    fn parse(vars: &Vars, binary: Binary, demo: bool) -> Result<Config, ConfigError> {
        let role = role(vars, binary)?;
        let d = Duration::from_secs;
        let pot_unload_after = vars.positive_duration("STOCK_POT_UNLOAD_AFTER", d(300))?;
        let interval = vars.positive_duration("STOCK_POT_UNLOAD_CHECK_INTERVAL", d(30))?;
        Ok(Config {
            role,
            http_addr: address(vars, "STOCK_HTTP_ADDR", role != NodeRole::Actor, 8080)?,
            admin_addr: address(vars, "STOCK_ADMIN_ADDR", role == NodeRole::Actor, 9090)?,
            redis_url: redis_url(vars, role)?,
            shards: shards(vars)?,
            worker_id: vars
                .get("STOCK_WORKER_ID")
                .map_or_else(default_worker_id, str::to_owned),
            locations: match role {
                NodeRole::Actor => LocationSourceConfig::Unused,
                _ => locations(vars, demo)?,
            },
            jwt: if demo || role == NodeRole::Actor {
                None
            } else {
                Some(jwt(vars)?)
            },
            location_api: location_api(vars)?,
            pot_unload_after,
            pot_unload_check_interval: interval,
            lease_ttl: vars.positive_duration("STOCK_LEASE_TTL", d(3))?,
            idempotency_retention: retention(vars)?,
            command_timeout: vars.positive_duration("STOCK_COMMAND_TIMEOUT", d(5))?,
            log_format: log_format(vars)?,
            reply_channel: reply_channel(vars)?,
            demo,
        })
    }
}

/// The raw variables, looked up by name.
#[derive(Default)]
struct Vars {
    values: HashMap<String, String>,
    /// Variables whose value is not UTF-8: an error only once one of them is read.
    not_utf8: HashSet<String>,
    /// The first of those read.
    read_not_utf8: RefCell<Option<String>>,
}

impl Vars {
    /// The trimmed value; empty counts as unset (and so, until reported, does a value that is
    /// not UTF-8).
    fn get(&self, name: &str) -> Option<&str> {
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

    fn parsed<T: FromStr>(&self, name: &str, default: T, expected: &str) -> Result<T, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|_| error(name, format!("must be {expected}, got {raw:?}"))),
        }
    }

    /// A duration, at most [`duration_bound`] of `name`.
    fn duration(&self, name: &str, default: Duration) -> Result<Duration, ConfigError> {
        let value = match self.get(name) {
            None => default,
            Some(raw) => humantime::parse_duration(raw).map_err(|_| {
                error(
                    name,
                    format!("must be a duration such as 100ms, 2s or 5m, got {raw:?}"),
                )
            })?,
        };
        let (bound, written) = duration_bound(name);
        if value > bound {
            let rule = format!(
                "must be ≤ {written}, got {}",
                humantime::format_duration(value)
            );
            return Err(error(name, rule));
        }
        Ok(value)
    }

    fn positive_duration(&self, name: &str, default: Duration) -> Result<Duration, ConfigError> {
        let value = self.duration(name, default)?;
        if value.is_zero() {
            return Err(error(name, "must be > 0, got 0s"));
        }
        Ok(value)
    }

    fn at_least_one(&self, name: &str, default: u32) -> Result<u32, ConfigError> {
        let value = self.parsed(name, default, "an integer ≥ 1")?;
        if value == 0 {
            return Err(error(name, "must be an integer ≥ 1, got 0"));
        }
        Ok(value)
    }
}

/// The largest value of each duration setting (docs/configuration.md), and how errors write it.
/// Each is far beyond any sensible setting and far below where deadline arithmetic could
/// overflow.
fn duration_bound(name: &str) -> (Duration, &'static str) {
    let minutes = |m: u64| Duration::from_secs(m * 60);
    match name {
        "STOCK_COMMAND_TIMEOUT" | "STOCK_LEASE_TTL" | "STOCK_LOCATION_API_REQUEST_TIMEOUT" => {
            (minutes(5), "5m")
        }
        "STOCK_LOCATION_API_INITIAL_DELAY"
        | "STOCK_LOCATION_API_MAX_DELAY"
        | "STOCK_LOCATION_API_CONNECT_TIMEOUT" => (minutes(1), "1m"),
        "STOCK_LOCATION_API_QUIET_PERIOD" | "STOCK_POT_UNLOAD_CHECK_INTERVAL" => {
            (minutes(60), "1h")
        }
        "STOCK_POT_UNLOAD_AFTER" => (minutes(7 * 24 * 60), "7d"),
        _ => MAX_DURATION,
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

/// A listen address; a variable the role does not use is ignored (the default is kept).
fn address(vars: &Vars, name: &str, used: bool, port: u16) -> Result<SocketAddr, ConfigError> {
    let default = SocketAddr::from(([0, 0, 0, 0], port));
    if !used {
        return Ok(default);
    }
    vars.parsed(name, default, "a socket address such as 0.0.0.0:8080")
}

fn redis_url(vars: &Vars, role: NodeRole) -> Result<Option<String>, ConfigError> {
    const NAME: &str = "STOCK_REDIS_URL";
    match vars.get(NAME) {
        None if role == NodeRole::Both => Ok(None),
        None => Err(error(NAME, format!("required with NODE_ROLE={role}"))),
        // The value is not echoed: it may carry a password.
        Some(url) if !(url.starts_with("redis://") || url.starts_with("rediss://")) => {
            Err(error(NAME, "must start with redis:// or rediss://"))
        }
        Some(url) => Ok(Some(url.to_owned())),
    }
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

fn locations(vars: &Vars, demo: bool) -> Result<LocationSourceConfig, ConfigError> {
    const API: &str = "STOCK_LOCATION_API_URL";
    const FILE: &str = "STOCK_LOCATIONS_FILE";
    match (vars.get(API), vars.get(FILE)) {
        (Some(_), Some(_)) => Err(error(FILE, format!("must not be set together with {API}"))),
        (Some(url), None) => Ok(LocationSourceConfig::Api {
            base_url: location_api_url(url)?,
        }),
        (None, Some(path)) => {
            let path = PathBuf::from(path);
            readable_file(&path).map_err(|rule| error(FILE, rule))?;
            Ok(LocationSourceConfig::File { path })
        }
        (None, None) if demo && Path::new(DEMO_LOCATIONS_PATH).is_file() => {
            Ok(LocationSourceConfig::File {
                path: PathBuf::from(DEMO_LOCATIONS_PATH),
            })
        }
        (None, None) if demo => Ok(LocationSourceConfig::Embedded {
            json: DEMO_LOCATIONS,
        }),
        (None, None) => Err(error(
            API,
            format!("required: set it or {FILE} (exactly one of the two), or start with --demo"),
        )),
    }
}

fn location_api_url(url: &str) -> Result<String, ConfigError> {
    let uri = url.parse::<http::Uri>().ok();
    let scheme_ok = uri
        .as_ref()
        .is_some_and(|uri| matches!(uri.scheme_str(), Some("http" | "https")));
    if !scheme_ok || uri.is_some_and(|uri| uri.authority().is_none()) {
        let rule = format!("must be an http:// or https:// URL, got {url:?}");
        return Err(error("STOCK_LOCATION_API_URL", rule));
    }
    // Paths are appended as `{base}/locations/…`.
    Ok(url.trim_end_matches('/').to_owned())
}

fn readable_file(path: &Path) -> Result<Vec<u8>, String> {
    match std::fs::read(path) {
        Ok(content) => Ok(content),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

fn jwt(vars: &Vars) -> Result<JwtSettings, ConfigError> {
    const KEY: &str = "STOCK_JWT_PUBLIC_KEY_FILE";
    let Some(file) = vars.get(KEY) else {
        let rule =
            "required (with STOCK_JWT_ISSUER and STOCK_JWT_AUDIENCE) unless started with --demo";
        return Err(error(KEY, rule));
    };
    let required = |name: &str| {
        vars.get(name)
            .map(str::to_owned)
            .ok_or_else(|| error(name, format!("required with {KEY}")))
    };
    let issuer = required("STOCK_JWT_ISSUER")?;
    let audience = required("STOCK_JWT_AUDIENCE")?;
    let public_key_file = PathBuf::from(file);
    let public_key_pem = readable_file(&public_key_file).map_err(|rule| error(KEY, rule))?;
    if !is_rsa_public_key_pem(&public_key_pem) {
        let rule = format!(
            "{} must hold a PEM RSA public key (BEGIN PUBLIC KEY or BEGIN RSA PUBLIC KEY)",
            public_key_file.display()
        );
        return Err(error(KEY, rule));
    }
    Ok(JwtSettings {
        public_key_file,
        public_key_pem,
        issuer,
        audience,
    })
}

fn is_rsa_public_key_pem(pem: &[u8]) -> bool {
    let text = String::from_utf8_lossy(pem);
    // Checked first because the decoder also takes a private key, which would verify nothing.
    let public = text.contains("-----BEGIN PUBLIC KEY-----")
        || text.contains("-----BEGIN RSA PUBLIC KEY-----");
    public && jsonwebtoken::DecodingKey::from_rsa_pem(pem).is_ok()
}

fn location_api(vars: &Vars) -> Result<LocationApiSettings, ConfigError> {
    let defaults = LocationApiSettings::default();
    let max_attempts =
        vars.at_least_one("STOCK_LOCATION_API_MAX_ATTEMPTS", defaults.max_attempts)?;
    let initial_delay =
        vars.duration("STOCK_LOCATION_API_INITIAL_DELAY", defaults.initial_delay)?;
    let max_delay = vars.duration("STOCK_LOCATION_API_MAX_DELAY", defaults.max_delay)?;
    if max_delay < initial_delay {
        let rule = format!(
            "must be ≥ STOCK_LOCATION_API_INITIAL_DELAY ({}), got {}",
            humantime::format_duration(initial_delay),
            humantime::format_duration(max_delay)
        );
        return Err(error("STOCK_LOCATION_API_MAX_DELAY", rule));
    }
    const MULTIPLIER: &str = "STOCK_LOCATION_API_BACKOFF_MULTIPLIER";
    let backoff_multiplier =
        vars.parsed(MULTIPLIER, defaults.backoff_multiplier, "a number ≥ 1.0")?;
    if !(backoff_multiplier.is_finite() && backoff_multiplier >= 1.0) {
        let raw = vars.get(MULTIPLIER).unwrap_or_default();
        return Err(error(
            MULTIPLIER,
            format!("must be a number ≥ 1.0, got {raw:?}"),
        ));
    }
    const THRESHOLD: &str = "STOCK_LOCATION_API_FAILURE_THRESHOLD";
    let failure_threshold = vars.at_least_one(THRESHOLD, defaults.failure_threshold)?;
    if failure_threshold < max_attempts {
        let rule = format!(
            "must be ≥ STOCK_LOCATION_API_MAX_ATTEMPTS ({max_attempts}), got {failure_threshold}"
        );
        return Err(error(THRESHOLD, rule));
    }
    Ok(LocationApiSettings {
        max_attempts,
        initial_delay,
        max_delay,
        backoff_multiplier,
        failure_threshold,
        quiet_period: vars
            .positive_duration("STOCK_LOCATION_API_QUIET_PERIOD", defaults.quiet_period)?,
        connect_timeout: vars.positive_duration(
            "STOCK_LOCATION_API_CONNECT_TIMEOUT",
            defaults.connect_timeout,
        )?,
        request_timeout: vars.positive_duration(
            "STOCK_LOCATION_API_REQUEST_TIMEOUT",
            defaults.request_timeout,
        )?,
    })
}

fn retention(vars: &Vars) -> Result<Duration, ConfigError> {
    const NAME: &str = "STOCK_IDEMPOTENCY_RETENTION";
    let retention = vars.duration(NAME, Duration::from_secs(7 * 24 * 3600))?;
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
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    const SPKI_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCitJVtImv92Uzox5NGvSPj0bTA
N2q4poLOqIpIgoQxa9bGGpuFU4sLxMEI1lQA7Pr9JRq6nZZPrhNQqkZ0P5Qa/grO
2eBog9aut+O7/EMi3c591awqrNV23Q9uZUDi4dOkRPrLMFGlTaaVQWrJPejS+5XJ
iQ1Mt/dWMpDdzOx2twIDAQAB
-----END PUBLIC KEY-----
";

    const PKCS1_PEM: &str = "-----BEGIN RSA PUBLIC KEY-----
MIGJAoGBAKK0lW0ia/3ZTOjHk0a9I+PRtMA3arimgs6oikiChDFr1sYam4VTiwvE
wQjWVADs+v0lGrqdlk+uE1CqRnQ/lBr+Cs7Z4GiD1q6347v8QyLdzn3VrCqs1Xbd
D25lQOLh06RE+sswUaVNppVBask96NL7lcmJDUy391YykN3M7Ha3AgMBAAE=
-----END RSA PUBLIC KEY-----
";

    /// Variables set (or removed with `""`) on top of the smallest valid environment.
    type Overrides = &'static [(&'static str, &'static str)];

    /// What an accepted configuration must satisfy.
    type Check = fn(&Config) -> bool;

    /// A temp directory with key and locations files, removed on drop.
    struct Fixture(PathBuf);

    impl Fixture {
        fn new() -> Fixture {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("stock-config-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let private = SPKI_PEM.replace("PUBLIC KEY", "PRIVATE KEY");
            let files = [
                ("spki.pem", SPKI_PEM),
                ("pkcs1.pem", PKCS1_PEM),
                ("private.pem", private.as_str()),
                ("garbage.pem", "not a key"),
                ("locations.json", r#"{"id": "UK"}"#),
            ];
            for (name, content) in files {
                std::fs::write(dir.join(name), content).unwrap();
            }
            Fixture(dir)
        }

        fn path(&self, name: &str) -> String {
            self.0.join(name).display().to_string()
        }

        /// The smallest valid environment of `http-fn`, with `overrides` applied (`""` removes).
        fn load(&self, overrides: &[(&str, &str)]) -> Result<Config, ConfigError> {
            self.load_as(Binary::HttpFn, false, overrides)
        }

        fn load_as(
            &self,
            binary: Binary,
            demo: bool,
            overrides: &[(&str, &str)],
        ) -> Result<Config, ConfigError> {
            let mut vars: HashMap<String, String> = [
                ("STOCK_LOCATIONS_FILE", self.path("locations.json")),
                ("STOCK_JWT_PUBLIC_KEY_FILE", self.path("spki.pem")),
                (
                    "STOCK_JWT_ISSUER",
                    "https://identity-provider.example.com".to_owned(),
                ),
                ("STOCK_JWT_AUDIENCE", "stock-api".to_owned()),
                ("PATH", "/usr/bin".to_owned()),
            ]
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
            for (name, value) in overrides {
                let value = value.replace("{dir}", &self.0.display().to_string());
                if value.is_empty() {
                    vars.remove(*name);
                } else {
                    vars.insert((*name).to_owned(), value);
                }
            }
            Config::from_vars(vars, binary, demo)
        }
    }

    impl Fixture {
        /// The smallest valid environment of `http-fn` as raw variables, with `extra` added.
        fn load_os(&self, extra: &[(&[u8], &[u8])]) -> Result<Config, ConfigError> {
            use std::os::unix::ffi::OsStrExt;
            let os = |bytes: &[u8]| std::ffi::OsStr::from_bytes(bytes).to_owned();
            let base = [
                ("STOCK_LOCATIONS_FILE", self.path("locations.json")),
                ("STOCK_JWT_PUBLIC_KEY_FILE", self.path("spki.pem")),
                ("STOCK_JWT_ISSUER", "https://idp.example.com".to_owned()),
                ("STOCK_JWT_AUDIENCE", "stock-api".to_owned()),
            ];
            let vars = base
                .iter()
                .map(|(name, value)| (os(name.as_bytes()), os(value.as_bytes())))
                .chain(extra.iter().map(|(name, value)| (os(name), os(value))));
            Config::from_os_vars(vars, Binary::HttpFn, false)
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn every_default_matches_the_spec() {
        let fixture = Fixture::new();
        let config = fixture.load(&[]).unwrap();
        assert_eq!(config.role, NodeRole::Both);
        assert_eq!(config.http_addr, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(config.admin_addr, "0.0.0.0:9090".parse().unwrap());
        assert_eq!(config.redis_url, None);
        assert_eq!(config.shards, 256);
        let api = &config.location_api;
        assert_eq!(api.max_attempts, 3);
        assert_eq!(api.initial_delay, Duration::from_millis(100));
        assert_eq!(api.max_delay, Duration::from_secs(2));
        assert_eq!(api.backoff_multiplier, 2.0);
        assert_eq!(api.failure_threshold, 5);
        assert_eq!(api.quiet_period, Duration::from_secs(60));
        assert_eq!(api.connect_timeout, Duration::from_secs(1));
        assert_eq!(api.request_timeout, Duration::from_secs(2));
        assert_eq!(config.location_api, LocationApiSettings::default());
        assert_eq!(config.pot_unload_after, Duration::from_secs(5 * 60));
        assert_eq!(config.pot_unload_check_interval, Duration::from_secs(30));
        assert_eq!(config.lease_ttl, Duration::from_secs(3));
        assert_eq!(
            config.idempotency_retention,
            Duration::from_secs(7 * 24 * 3600)
        );
        assert_eq!(config.command_timeout, Duration::from_secs(5));
        assert_eq!(config.log_format, LogFormat::Json);
        assert!(!config.demo);
    }

    #[test]
    fn the_default_worker_id_is_the_host_name_and_six_hex_digits() {
        let fixture = Fixture::new();
        let id = fixture.load(&[]).unwrap().worker_id;
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        let suffix = id.strip_prefix(&format!("{host}-")).unwrap();
        assert_eq!(suffix.len(), 6);
        assert!(
            suffix
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        let named = fixture.load(&[("STOCK_WORKER_ID", "worker-7")]).unwrap();
        assert_eq!(named.worker_id, "worker-7");
    }

    #[test]
    fn the_default_role_depends_on_the_binary() {
        let fixture = Fixture::new();
        let redis = [("STOCK_REDIS_URL", "redis://127.0.0.1:6379")];
        let worker = fixture.load_as(Binary::ActorWorker, false, &redis).unwrap();
        assert_eq!(worker.role, NodeRole::Actor);
        assert_eq!(fixture.load(&redis).unwrap().role, NodeRole::Both);
    }

    #[test]
    fn the_file_settings_are_read_from_the_files() {
        let fixture = Fixture::new();
        let config = fixture.load(&[]).unwrap();
        let jwt = config.jwt.unwrap();
        assert_eq!(jwt.public_key_file, PathBuf::from(fixture.path("spki.pem")));
        assert_eq!(jwt.public_key_pem, SPKI_PEM.as_bytes());
        assert_eq!(jwt.issuer, "https://identity-provider.example.com");
        assert_eq!(jwt.audience, "stock-api");
        let path = PathBuf::from(fixture.path("locations.json"));
        assert_eq!(config.locations, LocationSourceConfig::File { path });
    }

    #[test]
    fn every_rule_rejects_its_bad_values() {
        let fixture = Fixture::new();
        const REDIS: (&str, &str) = ("STOCK_REDIS_URL", "redis://localhost");
        #[rustfmt::skip]
        let cases: &[(Overrides, &str, &str)] = &[
            (&[("NODE_ROLE", "worker")], "NODE_ROLE", r#"must be http, actor or both, got "worker""#),
            (&[("NODE_ROLE", "actor"), REDIS], "NODE_ROLE", "the http-fn binary runs http or both"),
            (&[("NODE_ROLE", "http")], "STOCK_REDIS_URL", "required with NODE_ROLE=http"),
            (&[("STOCK_REDIS_URL", "http://localhost")], "STOCK_REDIS_URL", "must start with redis:// or rediss://"),
            (&[("STOCK_REDIS_URL", "REDIS://localhost")], "STOCK_REDIS_URL", "must start with redis://"),
            (&[("STOCK_HTTP_ADDR", "localhost:80")], "STOCK_HTTP_ADDR", r#"must be a socket address such as 0.0.0.0:8080, got "localhost:80""#),
            (&[("STOCK_SHARDS", "0")], "STOCK_SHARDS", r#"must be an integer from 1 to 65536, got "0""#),
            (&[("STOCK_SHARDS", "65537")], "STOCK_SHARDS", r#"must be an integer from 1 to 65536, got "65537""#),
            (&[("STOCK_SHARDS", "-1")], "STOCK_SHARDS", "must be an integer from 1 to 65536"),
            (&[("STOCK_SHARDS", "many")], "STOCK_SHARDS", "must be an integer from 1 to 65536"),
            (&[("STOCK_LOCATION_API_URL", "http://locations")], "STOCK_LOCATIONS_FILE", "must not be set together with STOCK_LOCATION_API_URL"),
            (&[("STOCK_LOCATIONS_FILE", "")], "STOCK_LOCATION_API_URL", "required: set it or STOCK_LOCATIONS_FILE"),
            (&[("STOCK_LOCATIONS_FILE", ""), ("STOCK_LOCATION_API_URL", "ftp://x")], "STOCK_LOCATION_API_URL", "must be an http:// or https:// URL"),
            (&[("STOCK_LOCATIONS_FILE", ""), ("STOCK_LOCATION_API_URL", "locations:8080")], "STOCK_LOCATION_API_URL", "must be an http:// or https:// URL"),
            (&[("STOCK_LOCATIONS_FILE", ""), ("STOCK_LOCATION_API_URL", "http://")], "STOCK_LOCATION_API_URL", "must be an http:// or https:// URL"),
            (&[("STOCK_LOCATIONS_FILE", "{dir}/missing.json")], "STOCK_LOCATIONS_FILE", "cannot read"),
            (&[("STOCK_JWT_PUBLIC_KEY_FILE", "")], "STOCK_JWT_PUBLIC_KEY_FILE", "required (with STOCK_JWT_ISSUER and STOCK_JWT_AUDIENCE) unless started with --demo"),
            (&[("STOCK_JWT_ISSUER", "")], "STOCK_JWT_ISSUER", "required with STOCK_JWT_PUBLIC_KEY_FILE"),
            (&[("STOCK_JWT_AUDIENCE", "")], "STOCK_JWT_AUDIENCE", "required with STOCK_JWT_PUBLIC_KEY_FILE"),
            (&[("STOCK_JWT_PUBLIC_KEY_FILE", "{dir}/missing.pem")], "STOCK_JWT_PUBLIC_KEY_FILE", "cannot read"),
            (&[("STOCK_JWT_PUBLIC_KEY_FILE", "{dir}/garbage.pem")], "STOCK_JWT_PUBLIC_KEY_FILE", "must hold a PEM RSA public key"),
            (&[("STOCK_JWT_PUBLIC_KEY_FILE", "{dir}/private.pem")], "STOCK_JWT_PUBLIC_KEY_FILE", "must hold a PEM RSA public key"),
            (&[("STOCK_LOCATION_API_MAX_ATTEMPTS", "0")], "STOCK_LOCATION_API_MAX_ATTEMPTS", "must be an integer ≥ 1, got 0"),
            (&[("STOCK_LOCATION_API_MAX_ATTEMPTS", "three")], "STOCK_LOCATION_API_MAX_ATTEMPTS", r#"must be an integer ≥ 1, got "three""#),
            (&[("STOCK_LOCATION_API_INITIAL_DELAY", "fast")], "STOCK_LOCATION_API_INITIAL_DELAY", r#"must be a duration such as 100ms, 2s or 5m, got "fast""#),
            (&[("STOCK_LOCATION_API_INITIAL_DELAY", "-1s")], "STOCK_LOCATION_API_INITIAL_DELAY", "must be a duration"),
            (&[("STOCK_LOCATION_API_MAX_DELAY", "50ms")], "STOCK_LOCATION_API_MAX_DELAY", "must be ≥ STOCK_LOCATION_API_INITIAL_DELAY (100ms), got 50ms"),
            (&[("STOCK_LOCATION_API_INITIAL_DELAY", "3s")], "STOCK_LOCATION_API_MAX_DELAY", "must be ≥ STOCK_LOCATION_API_INITIAL_DELAY (3s), got 2s"),
            (&[("STOCK_LOCATION_API_BACKOFF_MULTIPLIER", "0.5")], "STOCK_LOCATION_API_BACKOFF_MULTIPLIER", r#"must be a number ≥ 1.0, got "0.5""#),
            (&[("STOCK_LOCATION_API_BACKOFF_MULTIPLIER", "NaN")], "STOCK_LOCATION_API_BACKOFF_MULTIPLIER", "must be a number ≥ 1.0"),
            (&[("STOCK_LOCATION_API_BACKOFF_MULTIPLIER", "inf")], "STOCK_LOCATION_API_BACKOFF_MULTIPLIER", "must be a number ≥ 1.0"),
            (&[("STOCK_LOCATION_API_BACKOFF_MULTIPLIER", "double")], "STOCK_LOCATION_API_BACKOFF_MULTIPLIER", "must be a number ≥ 1.0"),
            (&[("STOCK_LOCATION_API_FAILURE_THRESHOLD", "0")], "STOCK_LOCATION_API_FAILURE_THRESHOLD", "must be an integer ≥ 1, got 0"),
            (&[("STOCK_LOCATION_API_FAILURE_THRESHOLD", "2")], "STOCK_LOCATION_API_FAILURE_THRESHOLD", "must be ≥ STOCK_LOCATION_API_MAX_ATTEMPTS (3), got 2"),
            (&[("STOCK_LOCATION_API_QUIET_PERIOD", "0s")], "STOCK_LOCATION_API_QUIET_PERIOD", "must be > 0, got 0s"),
            (&[("STOCK_LOCATION_API_CONNECT_TIMEOUT", "0ms")], "STOCK_LOCATION_API_CONNECT_TIMEOUT", "must be > 0"),
            (&[("STOCK_LOCATION_API_REQUEST_TIMEOUT", "0")], "STOCK_LOCATION_API_REQUEST_TIMEOUT", "must be > 0"),
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
            (&[("STOCK_LOCATION_API_INITIAL_DELAY", "61s")], "STOCK_LOCATION_API_INITIAL_DELAY", "must be ≤ 1m, got 1m 1s"),
            (&[("STOCK_LOCATION_API_MAX_DELAY", "2m")], "STOCK_LOCATION_API_MAX_DELAY", "must be ≤ 1m, got 2m"),
            (&[("STOCK_LOCATION_API_QUIET_PERIOD", "2h")], "STOCK_LOCATION_API_QUIET_PERIOD", "must be ≤ 1h, got 2h"),
            (&[("STOCK_LOCATION_API_CONNECT_TIMEOUT", "2m")], "STOCK_LOCATION_API_CONNECT_TIMEOUT", "must be ≤ 1m, got 2m"),
            (&[("STOCK_LOCATION_API_REQUEST_TIMEOUT", "6m")], "STOCK_LOCATION_API_REQUEST_TIMEOUT", "must be ≤ 5m, got 6m"),
            (&[("STOCK_LOG_FORMAT", "xml")], "STOCK_LOG_FORMAT", r#"must be json or text, got "xml""#),
            (&[("STOCK_REPLY_CHANNEL", "queue")], "STOCK_REPLY_CHANNEL", r#"must be stream or key, got "queue""#),
        ];
        for (overrides, variable, rule) in cases {
            let error = fixture.load(overrides).unwrap_err();
            assert_eq!(error.variable, *variable, "{overrides:?}: {error}");
            assert!(error.rule.contains(rule), "{overrides:?}: {error}");
        }
    }

    #[test]
    fn the_actor_worker_binary_runs_only_the_actor_role() {
        let fixture = Fixture::new();
        let redis = ("STOCK_REDIS_URL", "redis://localhost");
        for role in ["both", "http"] {
            let error = fixture.load_as(Binary::ActorWorker, false, &[("NODE_ROLE", role), redis]);
            let error = error.unwrap_err();
            assert_eq!(error.variable, "NODE_ROLE");
            assert!(
                error
                    .rule
                    .contains("the actor-worker binary runs actor only"),
                "{error}"
            );
        }
        let missing = fixture
            .load_as(Binary::ActorWorker, false, &[])
            .unwrap_err();
        assert_eq!(
            missing.to_string(),
            "STOCK_REDIS_URL: required with NODE_ROLE=actor"
        );
    }

    #[test]
    fn an_error_displays_as_one_line_naming_the_variable_and_the_rule() {
        let fixture = Fixture::new();
        let error = fixture
            .load(&[("STOCK_LOCATION_API_FAILURE_THRESHOLD", "2")])
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "STOCK_LOCATION_API_FAILURE_THRESHOLD: must be ≥ STOCK_LOCATION_API_MAX_ATTEMPTS (3), got 2"
        );
        let error = fixture
            .load(&[("STOCK_LOCATIONS_FILE", "{dir}/missing.json")])
            .unwrap_err();
        assert!(!error.to_string().contains('\n'));
    }

    #[test]
    fn a_value_that_is_not_utf8_is_an_error_only_when_the_variable_is_read() {
        let fixture = Fixture::new();
        let bad: &[u8] = b"8\xff";
        let unread: &[(&[u8], &[u8])] = &[
            (b"LC_UNRELATED", bad),
            (b"NAME_\xfe", b"x"),
            // Only an actor node reads the admin address.
            (b"STOCK_ADMIN_ADDR", bad),
        ];
        assert_eq!(fixture.load_os(unread).unwrap().shards, 256);
        let shards = fixture.load_os(&[(b"STOCK_SHARDS", bad)]).unwrap_err();
        assert_eq!(shards.to_string(), "STOCK_SHARDS: must be valid UTF-8");
        // Read as unset, the URL would be "required": the encoding is what to fix.
        let redis = [
            (b"NODE_ROLE".as_slice(), b"http".as_slice()),
            (b"STOCK_REDIS_URL", bad),
        ];
        let error = fixture.load_os(&redis).unwrap_err();
        assert_eq!(error.to_string(), "STOCK_REDIS_URL: must be valid UTF-8");
        let log = fixture.load_os(&[(b"OTEL_SERVICE_NAME", bad)]).unwrap_err();
        assert_eq!(log.to_string(), "OTEL_SERVICE_NAME: must be valid UTF-8");
        let good = fixture.load_os(&[(b"STOCK_SHARDS", b"8")]).unwrap();
        assert_eq!(good.shards, 8);
    }

    #[test]
    fn the_redis_url_is_never_echoed_in_an_error() {
        let fixture = Fixture::new();
        let error = fixture
            .load(&[("STOCK_REDIS_URL", "http://:secret@host")])
            .unwrap_err();
        assert!(!error.to_string().contains("secret"));
    }

    #[test]
    fn boundary_and_alternative_values_are_accepted() {
        let fixture = Fixture::new();
        const NO_FILE: (&str, &str) = ("STOCK_LOCATIONS_FILE", "");
        #[rustfmt::skip]
        let cases: &[(Overrides, Check)] = &[
            (&[("NODE_ROLE", " HTTP "), ("STOCK_REDIS_URL", "rediss://cache:6380")], |c| c.role == NodeRole::Http && c.redis_url.as_deref() == Some("rediss://cache:6380")),
            (&[("NODE_ROLE", "Both"), ("STOCK_REDIS_URL", "redis://localhost")], |c| c.role == NodeRole::Both && c.redis_url.is_some()),
            (&[("STOCK_HTTP_ADDR", "127.0.0.1:0")], |c| c.http_addr == "127.0.0.1:0".parse().unwrap()),
            (&[("STOCK_HTTP_ADDR", "[::1]:8443")], |c| c.http_addr.port() == 8443),
            (&[("STOCK_ADMIN_ADDR", "garbage")], |c| c.admin_addr.port() == 9090),
            (&[("STOCK_SHARDS", "1")], |c| c.shards == 1),
            (&[("STOCK_SHARDS", "65536")], |c| c.shards == 65_536),
            (&[NO_FILE, ("STOCK_LOCATION_API_URL", "https://example.com/api/")], |c| c.locations == LocationSourceConfig::Api { base_url: "https://example.com/api".into() }),
            (&[NO_FILE, ("STOCK_LOCATION_API_URL", "http://locations:8080")], |c| c.locations == LocationSourceConfig::Api { base_url: "http://locations:8080".into() }),
            (&[("STOCK_JWT_PUBLIC_KEY_FILE", "{dir}/pkcs1.pem")], |c| c.jwt.as_ref().unwrap().public_key_pem == PKCS1_PEM.as_bytes()),
            (&[("STOCK_LOCATION_API_MAX_ATTEMPTS", "1"), ("STOCK_LOCATION_API_FAILURE_THRESHOLD", "1")], |c| c.location_api.max_attempts == 1 && c.location_api.failure_threshold == 1),
            (&[("STOCK_LOCATION_API_MAX_ATTEMPTS", "5")], |c| c.location_api.failure_threshold == 5),
            (&[("STOCK_LOCATION_API_INITIAL_DELAY", "0ms")], |c| c.location_api.initial_delay.is_zero()),
            (&[("STOCK_LOCATION_API_INITIAL_DELAY", "2s")], |c| c.location_api.max_delay == c.location_api.initial_delay),
            (&[("STOCK_LOCATION_API_BACKOFF_MULTIPLIER", "1.0")], |c| c.location_api.backoff_multiplier == 1.0),
            (&[("STOCK_LOCATION_API_BACKOFF_MULTIPLIER", "1.5")], |c| c.location_api.backoff_multiplier == 1.5),
            (&[("STOCK_LOCATION_API_QUIET_PERIOD", "150ms")], |c| c.location_api.quiet_period == Duration::from_millis(150)),
            (&[("STOCK_POT_UNLOAD_AFTER", "200ms"), ("STOCK_POT_UNLOAD_CHECK_INTERVAL", "50ms")], |c| c.pot_unload_after == Duration::from_millis(200) && c.pot_unload_check_interval == Duration::from_millis(50)),
            (&[("STOCK_LEASE_TTL", "1s 500ms")], |c| c.lease_ttl == Duration::from_millis(1500)),
            (&[("STOCK_IDEMPOTENCY_RETENTION", "1h")], |c| c.idempotency_retention == MIN_IDEMPOTENCY_RETENTION),
            (&[("STOCK_COMMAND_TIMEOUT", "250ms")], |c| c.command_timeout == Duration::from_millis(250)),
            (&[("STOCK_COMMAND_TIMEOUT", "5m"), ("STOCK_LEASE_TTL", "5m")], |c| c.command_timeout == Duration::from_secs(300) && c.lease_ttl == c.command_timeout),
            (&[("STOCK_POT_UNLOAD_AFTER", "7d"), ("STOCK_POT_UNLOAD_CHECK_INTERVAL", "1h")], |c| c.pot_unload_after == Duration::from_secs(7 * 86_400) && c.pot_unload_check_interval == Duration::from_secs(3600)),
            (&[("STOCK_IDEMPOTENCY_RETENTION", "366d")], |c| c.idempotency_retention == MAX_DURATION.0),
            (&[("STOCK_LOCATION_API_INITIAL_DELAY", "1m"), ("STOCK_LOCATION_API_MAX_DELAY", "1m"), ("STOCK_LOCATION_API_QUIET_PERIOD", "1h")], |c| c.location_api.max_delay == Duration::from_secs(60)),
            (&[("STOCK_LOG_FORMAT", "TEXT")], |c| c.log_format == LogFormat::Text),
            (&[("STOCK_LOG_FORMAT", "json")], |c| c.log_format == LogFormat::Json),
            (&[("STOCK_REPLY_CHANNEL", "Key")], |c| c.reply_channel == ReplyChannelKind::Key),
            (&[("STOCK_SHARDS", "   ")], |c| c.shards == 256),
            (&[("SOME_UNKNOWN_VARIABLE", "x"), ("STOCK_UNKNOWN", "y")], |c| c.shards == 256),
        ];
        for (overrides, check) in cases {
            let config = fixture.load(overrides);
            assert!(
                config.as_ref().is_ok_and(check),
                "{overrides:?}: {config:?}"
            );
        }
    }

    #[test]
    fn an_actor_node_ignores_the_http_address_and_reads_the_admin_address() {
        let fixture = Fixture::new();
        let vars = [
            ("STOCK_REDIS_URL", "redis://localhost"),
            ("STOCK_HTTP_ADDR", "garbage"),
            ("STOCK_ADMIN_ADDR", "127.0.0.1:0"),
        ];
        let config = fixture.load_as(Binary::ActorWorker, false, &vars).unwrap();
        assert_eq!(config.admin_addr, "127.0.0.1:0".parse().unwrap());
        assert_eq!(config.http_addr.port(), 8080);
        let bad = fixture.load_as(
            Binary::ActorWorker,
            false,
            &[vars[0], ("STOCK_ADMIN_ADDR", "x")],
        );
        assert_eq!(bad.unwrap_err().variable, "STOCK_ADMIN_ADDR");
    }

    #[test]
    fn demo_mode_needs_no_key_and_falls_back_to_the_demo_estate() {
        let fixture = Fixture::new();
        let none = [
            ("STOCK_LOCATIONS_FILE", ""),
            ("STOCK_JWT_PUBLIC_KEY_FILE", ""),
            ("STOCK_JWT_ISSUER", ""),
            ("STOCK_JWT_AUDIENCE", ""),
        ];
        let config = fixture.load_as(Binary::HttpFn, true, &none).unwrap();
        assert!(config.demo);
        assert_eq!(config.jwt, None);
        // Tests run in the crate directory, where the relative demo path may not resolve.
        let expected = if Path::new(DEMO_LOCATIONS_PATH).is_file() {
            LocationSourceConfig::File {
                path: PathBuf::from(DEMO_LOCATIONS_PATH),
            }
        } else {
            LocationSourceConfig::Embedded {
                json: DEMO_LOCATIONS,
            }
        };
        assert_eq!(config.locations, expected);
    }

    #[test]
    fn demo_mode_keeps_a_configured_locations_file_and_ignores_key_settings() {
        let fixture = Fixture::new();
        let config = fixture.load_as(Binary::HttpFn, true, &[]).unwrap();
        let path = PathBuf::from(fixture.path("locations.json"));
        assert_eq!(config.locations, LocationSourceConfig::File { path });
        assert_eq!(config.jwt, None);
    }

    #[test]
    fn the_embedded_demo_estate_is_the_repository_file() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(DEMO_LOCATIONS_PATH);
        assert_eq!(std::fs::read_to_string(path).unwrap(), DEMO_LOCATIONS);
    }
}
