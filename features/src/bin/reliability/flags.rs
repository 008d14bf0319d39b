//! The command line: a scenario name, then `--name value` pairs, each scenario with its own names.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};

/// The `--name value` pairs of one scenario.
#[derive(Debug, Default)]
pub(crate) struct Flags {
    values: BTreeMap<String, String>,
}

impl Flags {
    /// Reads `--name value` pairs; a name outside `allowed` is an error that lists them.
    pub(crate) fn parse(
        args: impl IntoIterator<Item = String>,
        allowed: &[&str],
    ) -> anyhow::Result<Flags> {
        let mut values = BTreeMap::new();
        let mut args = args.into_iter();
        let names = allowed
            .iter()
            .map(|n| format!("--{n}"))
            .collect::<Vec<_>>()
            .join(" ");
        while let Some(flag) = args.next() {
            let Some(name) = flag.strip_prefix("--") else {
                bail!("unexpected argument {flag:?}; options: {names}");
            };
            if !allowed.contains(&name) {
                bail!("unknown option --{name}; options: {names}");
            }
            let value = args
                .next()
                .with_context(|| format!("--{name} needs a value"))?;
            values.insert(name.to_owned(), value);
        }
        Ok(Flags { values })
    }

    /// A humantime duration (`3s`, `500ms`), or `default`.
    pub(crate) fn duration(&self, name: &str, default: Duration) -> anyhow::Result<Duration> {
        match self.values.get(name) {
            None => Ok(default),
            Some(text) => humantime::parse_duration(text)
                .with_context(|| format!("--{name} {text:?}: a duration such as 3s or 500ms")),
        }
    }

    /// The text given, or `default`.
    pub(crate) fn text(&self, name: &str, default: &str) -> String {
        self.values
            .get(name)
            .map_or_else(|| default.to_owned(), String::clone)
    }

    /// A number, or `default`.
    pub(crate) fn number<T>(&self, name: &str, default: T) -> anyhow::Result<T>
    where
        T: FromStr,
        T::Err: std::error::Error + Send + Sync + 'static,
    {
        match self.values.get(name) {
            None => Ok(default),
            Some(text) => text
                .parse()
                .with_context(|| format!("--{name} {text:?}: a whole number")),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(args: &[&str], allowed: &[&str]) -> anyhow::Result<Flags> {
        Flags::parse(args.iter().map(|a| (*a).to_owned()), allowed)
    }

    #[test]
    fn given_values_replace_the_defaults() {
        let flags = parse(&["--kills", "20", "--ttl", "1s"], &["kills", "ttl"]).unwrap();
        assert_eq!(flags.number("kills", 5u32).unwrap(), 20);
        assert_eq!(
            flags.duration("ttl", Duration::ZERO).unwrap(),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn missing_values_take_the_defaults() {
        let flags = parse(&[], &["kills"]).unwrap();
        assert_eq!(flags.number("kills", 5u32).unwrap(), 5);
    }

    #[test]
    fn unknown_names_and_bad_values_are_errors() {
        assert!(parse(&["--kill", "3"], &["kills"]).is_err());
        assert!(parse(&["--kills"], &["kills"]).is_err());
        assert!(parse(&["kills", "3"], &["kills"]).is_err());
        let flags = parse(&["--ttl", "soon"], &["ttl"]).unwrap();
        assert!(flags.duration("ttl", Duration::ZERO).is_err());
    }
}
