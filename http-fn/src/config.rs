//! Configuration of the HTTP tier: the settings both tiers read (`shared::config`) and those only
//! this tier reads — the public listener and its connection limits, the token key, the location
//! source and the Location API client, the demo mode. Parsing reads variables only and yields
//! values and paths; [`Settings::load`] then reads the files they name, at start-up.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use shared::config::{Binary, ConfigError, LogFormat, NodeRole};

pub use crate::dispatch::WriteLimit;
use shared::config::{UP_TO_1H, UP_TO_1M, UP_TO_5M, Vars, error};

/// Where the demo estate lives, relative to the repository root (the usual current directory).
pub const DEMO_LOCATIONS_PATH: &str = "infra/demo/locations.json";

/// The demo estate compiled into the binary, so `--demo` works from any directory.
pub const DEMO_LOCATIONS: &str = include_str!("../../infra/demo/locations.json");

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

/// The token key file and the claims it is checked with, as configured (`docs/api.md` §13.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtKeyFile {
    /// `STOCK_JWT_PUBLIC_KEY_FILE`.
    pub public_key_file: PathBuf,
    /// `STOCK_JWT_ISSUER`: the required `iss`.
    pub issuer: String,
    /// `STOCK_JWT_AUDIENCE`: the required `aud`.
    pub audience: String,
}

/// Bearer-token verification settings (`docs/api.md` §13.6), the key read.
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

/// The HTTP tier's variables, parsed and validated: values and paths, no file read yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// What both tiers read.
    pub common: shared::config::Config,
    /// `STOCK_HTTP_ADDR` (used by `http` and `both`; the default on `actor` nodes).
    pub http_addr: SocketAddr,
    /// `STOCK_LOCATION_API_URL` / `STOCK_LOCATIONS_FILE`; `None` in demo mode without either,
    /// where [`Settings::load`] picks the demo estate.
    pub locations: Option<LocationSourceConfig>,
    /// Token verification; `None` in demo mode, which generates its own key pair, and on an
    /// actor node.
    pub jwt: Option<JwtKeyFile>,
    /// `STOCK_LOCATION_API_*`.
    pub location_api: LocationApiSettings,
    /// `STOCK_MAX_WRITES_IN_FLIGHT`, `STOCK_WRITE_QUEUE_TIMEOUT`.
    pub writes: WriteLimit,
    /// Started with `--demo`.
    pub demo: bool,
}

/// The validated configuration of an `http-fn` process, its files read.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// What both tiers read; its fields are reached through this configuration too.
    pub common: shared::config::Config,
    /// `STOCK_HTTP_ADDR`.
    pub http_addr: SocketAddr,
    /// `STOCK_LOCATION_API_URL` / `STOCK_LOCATIONS_FILE` / the demo estate.
    pub locations: LocationSourceConfig,
    /// Token verification; `None` only in demo mode, which generates its own key pair.
    pub jwt: Option<JwtSettings>,
    /// `STOCK_LOCATION_API_*`.
    pub location_api: LocationApiSettings,
    /// `STOCK_MAX_WRITES_IN_FLIGHT`, `STOCK_WRITE_QUEUE_TIMEOUT`.
    pub writes: WriteLimit,
    /// Started with `--demo`.
    pub demo: bool,
}

impl Deref for Config {
    type Target = shared::config::Config;

    fn deref(&self) -> &shared::config::Config {
        &self.common
    }
}

impl DerefMut for Config {
    fn deref_mut(&mut self) -> &mut shared::config::Config {
        &mut self.common
    }
}

impl Config {
    /// The configuration of `vars` for `binary` (`demo`: the `--demo` flag), its files read:
    /// [`Settings::read`], then [`Settings::load`]. Unknown variables are ignored, and so are
    /// empty values, which count as unset (a `VAR=` line in an env file).
    pub fn from_vars<I: IntoIterator<Item = (String, String)>>(
        vars: I,
        binary: Binary,
        demo: bool,
    ) -> Result<Config, ConfigError> {
        Settings::read(&Vars::new(vars), binary, demo)?.load()
    }
}

impl Settings {
    /// Reads and validates the settings of `vars` for `binary`; `demo` is the `--demo` flag.
    /// A variable read whose value is not UTF-8 is an error naming it (its value is not
    /// echoed). No file is read.
    pub fn read(vars: &Vars, binary: Binary, demo: bool) -> Result<Settings, ConfigError> {
        vars.checked(Settings::parse(vars, binary, demo))
    }

    /// [`Settings::read`] over the process environment.
    pub fn from_env(binary: Binary, demo: bool) -> Result<Settings, ConfigError> {
        Settings::read(&Vars::from_os(std::env::vars_os()), binary, demo)
    }

    fn parse(vars: &Vars, binary: Binary, demo: bool) -> Result<Settings, ConfigError> {
        let common = shared::config::Config::parse(vars, binary)?;
        let http = common.role != NodeRole::Actor;
        Ok(Settings {
            http_addr: vars.address("STOCK_HTTP_ADDR", http, 8080)?,
            locations: match common.role {
                NodeRole::Actor => Some(LocationSourceConfig::Unused),
                _ => locations(vars, demo)?,
            },
            jwt: if demo || !http {
                None
            } else {
                Some(jwt(vars)?)
            },
            location_api: location_api(vars)?,
            writes: write_limit(vars)?,
            demo,
            common,
        })
    }

    /// Reads the files the settings name, at start-up: the token key (which must be a PEM RSA
    /// public key) and the locations file (which must be readable); in demo mode without a
    /// source, the demo estate file when the current directory holds it, else the built-in copy.
    pub fn load(self) -> Result<Config, ConfigError> {
        let locations = match self.locations {
            Some(LocationSourceConfig::File { path }) => {
                readable_file(&path).map_err(|rule| error(LOCATIONS_FILE, rule))?;
                LocationSourceConfig::File { path }
            }
            Some(source) => source,
            None if Path::new(DEMO_LOCATIONS_PATH).is_file() => LocationSourceConfig::File {
                path: PathBuf::from(DEMO_LOCATIONS_PATH),
            },
            None => LocationSourceConfig::Embedded {
                json: DEMO_LOCATIONS,
            },
        };
        let jwt = self.jwt.map(read_key).transpose()?;
        Ok(Config {
            common: self.common,
            http_addr: self.http_addr,
            locations,
            jwt,
            location_api: self.location_api,
            writes: self.writes,
            demo: self.demo,
        })
    }
}

/// `STOCK_MAX_WRITES_IN_FLIGHT` and `STOCK_WRITE_QUEUE_TIMEOUT` (docs/configuration.md, "Load
/// shedding").
fn write_limit(vars: &Vars) -> Result<WriteLimit, ConfigError> {
    let defaults = WriteLimit::default();
    Ok(WriteLimit {
        max_in_flight: vars.at_least_one("STOCK_MAX_WRITES_IN_FLIGHT", defaults.max_in_flight)?,
        queue_timeout: vars.duration(
            "STOCK_WRITE_QUEUE_TIMEOUT",
            defaults.queue_timeout,
            UP_TO_1M,
        )?,
    })
}

const LOCATION_API_URL: &str = "STOCK_LOCATION_API_URL";
const LOCATIONS_FILE: &str = "STOCK_LOCATIONS_FILE";
const KEY_FILE: &str = "STOCK_JWT_PUBLIC_KEY_FILE";

fn locations(vars: &Vars, demo: bool) -> Result<Option<LocationSourceConfig>, ConfigError> {
    match (vars.get(LOCATION_API_URL), vars.get(LOCATIONS_FILE)) {
        (Some(_), Some(_)) => Err(error(
            LOCATIONS_FILE,
            format!("must not be set together with {LOCATION_API_URL}"),
        )),
        (Some(url), None) => Ok(Some(LocationSourceConfig::Api {
            base_url: location_api_url(url)?,
        })),
        (None, Some(path)) => Ok(Some(LocationSourceConfig::File {
            path: PathBuf::from(path),
        })),
        (None, None) if demo => Ok(None),
        (None, None) => Err(error(
            LOCATION_API_URL,
            format!(
                "required: set it or {LOCATIONS_FILE} (exactly one of the two), or start with --demo"
            ),
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
        return Err(error(LOCATION_API_URL, rule));
    }
    // Paths are appended as `{base}/locations/…`.
    Ok(url.trim_end_matches('/').to_owned())
}

fn jwt(vars: &Vars) -> Result<JwtKeyFile, ConfigError> {
    let Some(file) = vars.get(KEY_FILE) else {
        let rule =
            "required (with STOCK_JWT_ISSUER and STOCK_JWT_AUDIENCE) unless started with --demo";
        return Err(error(KEY_FILE, rule));
    };
    let required = |name: &str| {
        vars.get(name)
            .map(str::to_owned)
            .ok_or_else(|| error(name, format!("required with {KEY_FILE}")))
    };
    Ok(JwtKeyFile {
        issuer: required("STOCK_JWT_ISSUER")?,
        audience: required("STOCK_JWT_AUDIENCE")?,
        public_key_file: PathBuf::from(file),
    })
}

fn readable_file(path: &Path) -> Result<Vec<u8>, String> {
    match std::fs::read(path) {
        Ok(content) => Ok(content),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// The key file's content, which must be a PEM RSA public key.
fn read_key(key: JwtKeyFile) -> Result<JwtSettings, ConfigError> {
    let public_key_pem =
        readable_file(&key.public_key_file).map_err(|rule| error(KEY_FILE, rule))?;
    if !is_rsa_public_key_pem(&public_key_pem) {
        let rule = format!(
            "{} must hold a PEM RSA public key (BEGIN PUBLIC KEY or BEGIN RSA PUBLIC KEY)",
            key.public_key_file.display()
        );
        return Err(error(KEY_FILE, rule));
    }
    Ok(JwtSettings {
        public_key_file: key.public_key_file,
        public_key_pem,
        issuer: key.issuer,
        audience: key.audience,
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
    let initial_delay = vars.duration(
        "STOCK_LOCATION_API_INITIAL_DELAY",
        defaults.initial_delay,
        UP_TO_1M,
    )?;
    let max_delay = vars.duration("STOCK_LOCATION_API_MAX_DELAY", defaults.max_delay, UP_TO_1M)?;
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
        quiet_period: vars.positive_duration(
            "STOCK_LOCATION_API_QUIET_PERIOD",
            defaults.quiet_period,
            UP_TO_1H,
        )?,
        connect_timeout: vars.positive_duration(
            "STOCK_LOCATION_API_CONNECT_TIMEOUT",
            defaults.connect_timeout,
            UP_TO_1M,
        )?,
        request_timeout: vars.positive_duration(
            "STOCK_LOCATION_API_REQUEST_TIMEOUT",
            defaults.request_timeout,
            UP_TO_5M,
        )?,
    })
}

/// Longest accepted value of a `STOCK_HTTP_*_TIMEOUT`.
const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

/// Largest accepted `STOCK_HTTP_MAX_CONNECTIONS`.
const MAX_CONNECTIONS: usize = 1_000_000;

/// How the public listener bounds its connections (docs/configuration.md, "Connections").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerSettings {
    /// `STOCK_HTTP_HEADER_READ_TIMEOUT`: a request head must be complete this long after its
    /// first byte arrived.
    pub header_read_timeout: Duration,
    /// `STOCK_HTTP_IDLE_TIMEOUT`: how long a connection may stay open without a request, before
    /// its first one or between two.
    pub idle_timeout: Duration,
    /// `STOCK_HTTP_BODY_READ_TIMEOUT`: a request body must be complete this long after its head.
    pub body_read_timeout: Duration,
    /// `STOCK_HTTP_MAX_CONNECTIONS`: connections served at once; further ones wait in the
    /// listen backlog until one closes.
    pub max_connections: usize,
}

impl Default for ServerSettings {
    fn default() -> ServerSettings {
        ServerSettings {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

impl ServerSettings {
    /// The names of the connection settings.
    const VARIABLES: [&'static str; 4] = [
        "STOCK_HTTP_HEADER_READ_TIMEOUT",
        "STOCK_HTTP_IDLE_TIMEOUT",
        "STOCK_HTTP_BODY_READ_TIMEOUT",
        "STOCK_HTTP_MAX_CONNECTIONS",
    ];

    /// [`ServerSettings::from_vars`] over the process environment: only these variables are
    /// read, and one whose value is not UTF-8 is an error naming it (the value is not echoed).
    pub fn from_env() -> Result<ServerSettings, ConfigError> {
        let mut vars = Vec::new();
        for name in ServerSettings::VARIABLES {
            let Some(value) = std::env::var_os(name) else {
                continue;
            };
            let value = value.into_string().map_err(|_| ConfigError {
                variable: name.to_owned(),
                rule: "must be valid UTF-8".to_owned(),
            })?;
            vars.push((name.to_owned(), value));
        }
        ServerSettings::from_vars(vars)
    }

    /// Reads and validates the `STOCK_HTTP_*` connection settings from `vars`; unset or empty
    /// values take their defaults.
    pub fn from_vars<I: IntoIterator<Item = (String, String)>>(
        vars: I,
    ) -> Result<ServerSettings, ConfigError> {
        let vars: HashMap<String, String> = vars.into_iter().collect();
        let get = |name: &str| {
            vars.get(name)
                .map(|value| value.trim())
                .filter(|value| !value.is_empty())
        };
        let defaults = ServerSettings::default();
        let timeout = |name: &str, default: Duration| match get(name) {
            None => Ok(default),
            Some(raw) => parse_timeout(name, raw),
        };
        let max_connections = match get("STOCK_HTTP_MAX_CONNECTIONS") {
            None => defaults.max_connections,
            Some(raw) => parse_max_connections(raw)?,
        };
        Ok(ServerSettings {
            header_read_timeout: timeout(
                "STOCK_HTTP_HEADER_READ_TIMEOUT",
                defaults.header_read_timeout,
            )?,
            idle_timeout: timeout("STOCK_HTTP_IDLE_TIMEOUT", defaults.idle_timeout)?,
            body_read_timeout: timeout("STOCK_HTTP_BODY_READ_TIMEOUT", defaults.body_read_timeout)?,
            max_connections,
        })
    }
}

fn parse_timeout(name: &str, raw: &str) -> Result<Duration, ConfigError> {
    let rule = || ConfigError {
        variable: name.to_owned(),
        rule: format!("must be a duration > 0 and ≤ 1h such as 500ms or 30s, got {raw:?}"),
    };
    let value = humantime::parse_duration(raw).map_err(|_| rule())?;
    if value.is_zero() || value > MAX_TIMEOUT {
        return Err(rule());
    }
    Ok(value)
}

fn parse_max_connections(raw: &str) -> Result<usize, ConfigError> {
    match raw.parse::<usize>() {
        Ok(value) if (1..=MAX_CONNECTIONS).contains(&value) => Ok(value),
        _ => Err(ConfigError {
            variable: "STOCK_HTTP_MAX_CONNECTIONS".to_owned(),
            rule: format!("must be an integer from 1 to {MAX_CONNECTIONS}, got {raw:?}"),
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::ffi::OsString;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<ServerSettings, ConfigError> {
        ServerSettings::from_vars(
            pairs
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
        )
    }

    #[test]
    fn unset_and_empty_values_take_the_documented_defaults() {
        let expected = ServerSettings {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 1024,
        };
        assert_eq!(load(&[]), Ok(expected));
        assert_eq!(load(&[("STOCK_HTTP_IDLE_TIMEOUT", " ")]), Ok(expected));
    }

    #[test]
    fn every_setting_is_read() {
        let settings = load(&[
            ("STOCK_HTTP_HEADER_READ_TIMEOUT", "500ms"),
            ("STOCK_HTTP_IDLE_TIMEOUT", "5s"),
            ("STOCK_HTTP_BODY_READ_TIMEOUT", "1m"),
            ("STOCK_HTTP_MAX_CONNECTIONS", "2"),
        ]);
        assert_eq!(
            settings,
            Ok(ServerSettings {
                header_read_timeout: Duration::from_millis(500),
                idle_timeout: Duration::from_secs(5),
                body_read_timeout: Duration::from_secs(60),
                max_connections: 2,
            })
        );
    }

    #[test]
    fn out_of_bounds_values_are_refused_with_one_line_naming_the_variable() {
        for (name, value) in [
            ("STOCK_HTTP_HEADER_READ_TIMEOUT", "0s"),
            ("STOCK_HTTP_IDLE_TIMEOUT", "2h"),
            ("STOCK_HTTP_BODY_READ_TIMEOUT", "soon"),
            ("STOCK_HTTP_MAX_CONNECTIONS", "0"),
            ("STOCK_HTTP_MAX_CONNECTIONS", "1000001"),
            ("STOCK_HTTP_MAX_CONNECTIONS", "-1"),
        ] {
            let error = load(&[(name, value)]).err();
            let line = error.map(|e| e.to_string()).unwrap_or_default();
            assert!(line.starts_with(&format!("{name}: must be")), "{line}");
            assert!(!line.contains('\n'), "{line}");
        }
    }

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
        fn vars(&self, overrides: &[(&str, &str)]) -> HashMap<String, String> {
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
            vars
        }

        /// [`Fixture::vars`] parsed, then its files read.
        fn load(&self, overrides: &[(&str, &str)]) -> Result<Config, ConfigError> {
            self.load_demo(false, overrides)
        }

        fn load_demo(&self, demo: bool, overrides: &[(&str, &str)]) -> Result<Config, ConfigError> {
            Config::from_vars(self.vars(overrides), Binary::HttpFn, demo)
        }

        /// The smallest valid environment of `http-fn` as raw variables, with `extra` added,
        /// parsed only.
        fn parse_os(&self, extra: &[(&[u8], &[u8])]) -> Result<Settings, ConfigError> {
            use std::os::unix::ffi::OsStrExt;
            let os = |bytes: &[u8]| std::ffi::OsStr::from_bytes(bytes).to_owned();
            let vars = self
                .vars(&[])
                .into_iter()
                .map(|(name, value)| (OsString::from(name), OsString::from(value)))
                .chain(extra.iter().map(|(name, value)| (os(name), os(value))));
            Settings::read(&Vars::from_os(vars), Binary::HttpFn, false)
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
        assert_eq!(config.writes.max_in_flight, 256);
        assert_eq!(config.writes.queue_timeout, Duration::from_millis(10));
        assert!(!config.demo);
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
    fn parsing_reads_no_file_and_loading_reads_the_files_it_names() {
        const MISSING: Overrides = &[
            ("STOCK_JWT_PUBLIC_KEY_FILE", "{dir}/missing.pem"),
            ("STOCK_LOCATIONS_FILE", "{dir}/missing.json"),
        ];
        let fixture = Fixture::new();
        let settings = Settings::read(&Vars::new(fixture.vars(MISSING)), Binary::HttpFn, false);
        let settings = settings.unwrap();
        let key = settings.jwt.as_ref().unwrap();
        assert_eq!(
            key.public_key_file,
            PathBuf::from(fixture.path("missing.pem"))
        );
        let path = PathBuf::from(fixture.path("missing.json"));
        assert_eq!(
            settings.locations,
            Some(LocationSourceConfig::File { path })
        );
        let error = settings.load().unwrap_err();
        assert_eq!(error.variable, "STOCK_LOCATIONS_FILE");
        assert!(error.rule.starts_with("cannot read"), "{error}");
        let key_only = fixture.vars(&MISSING[..1]);
        let settings = Settings::read(&Vars::new(key_only), Binary::HttpFn, false).unwrap();
        let error = settings.load().unwrap_err();
        assert_eq!(error.variable, "STOCK_JWT_PUBLIC_KEY_FILE");
        assert!(error.rule.starts_with("cannot read"), "{error}");
    }

    #[test]
    fn every_rule_rejects_its_bad_values() {
        let fixture = Fixture::new();
        #[rustfmt::skip]
        let cases: &[(Overrides, &str, &str)] = &[
            (&[("NODE_ROLE", "worker")], "NODE_ROLE", r#"must be http, actor or both, got "worker""#),
            (&[("STOCK_HTTP_ADDR", "localhost:80")], "STOCK_HTTP_ADDR", r#"must be a socket address such as 0.0.0.0:8080, got "localhost:80""#),
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
            (&[("STOCK_LOCATION_API_INITIAL_DELAY", "61s")], "STOCK_LOCATION_API_INITIAL_DELAY", "must be ≤ 1m, got 1m 1s"),
            (&[("STOCK_LOCATION_API_MAX_DELAY", "2m")], "STOCK_LOCATION_API_MAX_DELAY", "must be ≤ 1m, got 2m"),
            (&[("STOCK_LOCATION_API_QUIET_PERIOD", "2h")], "STOCK_LOCATION_API_QUIET_PERIOD", "must be ≤ 1h, got 2h"),
            (&[("STOCK_LOCATION_API_CONNECT_TIMEOUT", "2m")], "STOCK_LOCATION_API_CONNECT_TIMEOUT", "must be ≤ 1m, got 2m"),
            (&[("STOCK_LOCATION_API_REQUEST_TIMEOUT", "6m")], "STOCK_LOCATION_API_REQUEST_TIMEOUT", "must be ≤ 5m, got 6m"),
            (&[("STOCK_MAX_WRITES_IN_FLIGHT", "0")], "STOCK_MAX_WRITES_IN_FLIGHT", "must be an integer ≥ 1, got 0"),
            (&[("STOCK_MAX_WRITES_IN_FLIGHT", "-1")], "STOCK_MAX_WRITES_IN_FLIGHT", "must be an integer ≥ 1"),
            (&[("STOCK_WRITE_QUEUE_TIMEOUT", "soon")], "STOCK_WRITE_QUEUE_TIMEOUT", "must be a duration"),
            (&[("STOCK_WRITE_QUEUE_TIMEOUT", "2m")], "STOCK_WRITE_QUEUE_TIMEOUT", "must be ≤ 1m, got 2m"),
        ];
        for (overrides, variable, rule) in cases {
            let error = fixture.load(overrides).unwrap_err();
            assert_eq!(error.variable, *variable, "{overrides:?}: {error}");
            assert!(error.rule.contains(rule), "{overrides:?}: {error}");
        }
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
    fn a_value_of_the_http_tier_that_is_not_utf8_is_an_error_naming_it() {
        let fixture = Fixture::new();
        let bad: &[u8] = b"8\xff";
        assert!(fixture.parse_os(&[(b"LC_UNRELATED", bad)]).is_ok());
        // Read as unset, the issuer would be "required": the encoding is what to fix.
        let issuer = fixture.parse_os(&[(b"STOCK_JWT_ISSUER", bad)]).unwrap_err();
        assert_eq!(issuer.to_string(), "STOCK_JWT_ISSUER: must be valid UTF-8");
        let addr = fixture.parse_os(&[(b"STOCK_HTTP_ADDR", bad)]).unwrap_err();
        assert_eq!(addr.to_string(), "STOCK_HTTP_ADDR: must be valid UTF-8");
    }

    #[test]
    fn boundary_and_alternative_values_are_accepted() {
        let fixture = Fixture::new();
        const NO_FILE: (&str, &str) = ("STOCK_LOCATIONS_FILE", "");
        #[rustfmt::skip]
        let cases: &[(Overrides, Check)] = &[
            (&[("NODE_ROLE", " HTTP "), ("STOCK_REDIS_URL", "rediss://cache:6380")], |c| c.role == NodeRole::Http && c.redis_url.as_deref() == Some("rediss://cache:6380")),
            (&[("STOCK_HTTP_ADDR", "127.0.0.1:0")], |c| c.http_addr == "127.0.0.1:0".parse().unwrap()),
            (&[("STOCK_HTTP_ADDR", "[::1]:8443")], |c| c.http_addr.port() == 8443),
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
            (&[("STOCK_LOCATION_API_INITIAL_DELAY", "1m"), ("STOCK_LOCATION_API_MAX_DELAY", "1m"), ("STOCK_LOCATION_API_QUIET_PERIOD", "1h")], |c| c.location_api.max_delay == Duration::from_secs(60)),
            (&[("SOME_UNKNOWN_VARIABLE", "x"), ("STOCK_UNKNOWN", "y")], |c| c.shards == 256),
            (&[("STOCK_MAX_WRITES_IN_FLIGHT", "1"), ("STOCK_WRITE_QUEUE_TIMEOUT", "0s")], |c| c.writes.max_in_flight == 1 && c.writes.queue_timeout.is_zero()),
            (&[("STOCK_MAX_WRITES_IN_FLIGHT", "4294967295"), ("STOCK_WRITE_QUEUE_TIMEOUT", "1m")], |c| c.writes.max_in_flight == u32::MAX),
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
    fn demo_mode_needs_no_key_and_falls_back_to_the_demo_estate() {
        let fixture = Fixture::new();
        let none = [
            ("STOCK_LOCATIONS_FILE", ""),
            ("STOCK_JWT_PUBLIC_KEY_FILE", ""),
            ("STOCK_JWT_ISSUER", ""),
            ("STOCK_JWT_AUDIENCE", ""),
        ];
        let config = fixture.load_demo(true, &none).unwrap();
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
        let config = fixture.load_demo(true, &[]).unwrap();
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
