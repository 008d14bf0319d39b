//! Configuration of the HTTP tier: the typed configuration shared by both binaries, and the
//! connection limits of the public listener, which only this tier has.

use std::collections::HashMap;
use std::time::Duration;

pub use shared::config::*;

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
mod tests {
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
}
