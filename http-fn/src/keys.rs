//! The token key pair of a container stack: written once into a volume, then used to print tokens.
//!
//! `http-fn keys` writes the pair on the stack's first start (the HTTP node verifies with the public
//! half); `http-fn token JOB` signs a token for one job with the private half. Both sides use the
//! demo key format of [`crate::demo`]; a production stack takes the identity provider's key instead.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::demo::{DEMO_AUDIENCE, DEMO_ISSUER, DemoKeys, JOBS, TOKEN_VALIDITY, key_pair_pems};

/// Where the key pair lives unless `STOCK_KEY_DIR` says otherwise (the `keys` volume).
pub const DEFAULT_KEY_DIR: &str = "/var/lib/stock/keys";

/// The private half (PKCS#8 PEM, readable by its owner only).
pub const PRIVATE_KEY_FILE: &str = "jwt-private.pem";

/// The public half (SubjectPublicKeyInfo PEM), for `STOCK_JWT_PUBLIC_KEY_FILE`.
pub const PUBLIC_KEY_FILE: &str = "jwt-public.pem";

/// Writes a fresh key pair into `dir` unless a complete one is there; true when it wrote one.
pub fn ensure_key_pair(dir: &Path) -> anyhow::Result<bool> {
    if load(dir).is_ok() {
        return Ok(false);
    }
    let (private_pem, public_pem) = key_pair_pems()?;
    // The public half goes last: its presence tells the HTTP node the pair is complete.
    write_atomically(&dir.join(PRIVATE_KEY_FILE), private_pem.as_bytes(), 0o600)?;
    write_atomically(&dir.join(PUBLIC_KEY_FILE), public_pem.as_bytes(), 0o644)?;
    Ok(true)
}

/// The key pair stored in `dir`.
pub fn load(dir: &Path) -> anyhow::Result<DemoKeys> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
    };
    DemoKeys::from_pems(&read(PRIVATE_KEY_FILE)?, read(PUBLIC_KEY_FILE)?)
}

/// A token for `job` (one of [`JOBS`]) signed with the key pair in `dir`.
pub fn token(dir: &Path, job: &str, issuer: &str, audience: &str) -> anyhow::Result<String> {
    let Some(job) = JOBS
        .iter()
        .find(|known| known.eq_ignore_ascii_case(job.trim()))
    else {
        // The argument is not echoed: the list of jobs says enough.
        anyhow::bail!("the job must be one of: {}", JOBS.join(", "));
    };
    load(dir)?.token(job, issuer, audience, TOKEN_VALIDITY)
}

/// `http-fn keys [--check]`: writes the pair when missing, or only checks it; the exit code.
pub fn keys_command(args: &[String]) -> i32 {
    let dir = key_dir();
    let outcome = match args.first().map(String::as_str) {
        None => ensure_key_pair(&dir).map(|written| {
            let what = if written { "wrote a new" } else { "kept the" };
            eprintln!("{what} token key pair in {}", dir.display());
        }),
        Some("--check") => load(&dir).map(|_| ()),
        Some(_) => Err(anyhow::anyhow!("usage: http-fn keys [--check]")),
    };
    report(outcome)
}

/// `http-fn token JOB`: prints a token for `JOB` on stdout and nothing else; the exit code.
pub fn token_command(args: &[String]) -> i32 {
    let outcome = match args {
        [job] => {
            let setting = |name: &str, default: &str| {
                std::env::var(name).unwrap_or_else(|_| default.to_owned())
            };
            let issuer = setting("STOCK_JWT_ISSUER", DEMO_ISSUER);
            let audience = setting("STOCK_JWT_AUDIENCE", DEMO_AUDIENCE);
            token(&key_dir(), job, &issuer, &audience).map(|token| println!("{token}"))
        }
        _ => Err(anyhow::anyhow!(
            "usage: http-fn token JOB (one of: {})",
            JOBS.join(", ")
        )),
    };
    report(outcome)
}

fn key_dir() -> PathBuf {
    std::env::var_os("STOCK_KEY_DIR").map_or_else(|| PathBuf::from(DEFAULT_KEY_DIR), PathBuf::from)
}

fn report(outcome: anyhow::Result<()>) -> i32 {
    match outcome {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("{error:#}");
            1
        }
    }
}

/// Writes `bytes` to a temporary file beside `path`, then renames it, so a reader never sees half.
fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let partial = path.with_extension("partial");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&partial)
        .with_context(|| format!("cannot write {}", partial.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", partial.display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    use serde_json::Value;

    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("stock-keys-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_first_start_writes_a_pair_and_later_starts_keep_it() {
        let dir = temp_dir("keep");
        assert!(ensure_key_pair(&dir).unwrap());
        let public = std::fs::read(dir.join(PUBLIC_KEY_FILE)).unwrap();
        assert!(!ensure_key_pair(&dir).unwrap());
        assert_eq!(std::fs::read(dir.join(PUBLIC_KEY_FILE)).unwrap(), public);
        let mode = std::fs::metadata(dir.join(PRIVATE_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_pair_missing_its_public_half_is_written_again() {
        let dir = temp_dir("half");
        ensure_key_pair(&dir).unwrap();
        std::fs::remove_file(dir.join(PUBLIC_KEY_FILE)).unwrap();
        assert!(ensure_key_pair(&dir).unwrap());
        assert!(load(&dir).is_ok());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_printed_token_verifies_with_the_public_key_file() {
        let dir = temp_dir("token");
        ensure_key_pair(&dir).unwrap();
        let token = token(&dir, "warehouse manager", DEMO_ISSUER, DEMO_AUDIENCE).unwrap();
        let public = std::fs::read(dir.join(PUBLIC_KEY_FILE)).unwrap();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[DEMO_ISSUER]);
        validation.set_audience(&[DEMO_AUDIENCE]);
        let key = DecodingKey::from_rsa_pem(&public).unwrap();
        let claims = jsonwebtoken::decode::<Value>(&token, &key, &validation)
            .unwrap()
            .claims;
        assert_eq!(claims["job"], "Warehouse Manager");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_unknown_job_gets_no_token_and_is_not_echoed() {
        let dir = temp_dir("unknown");
        ensure_key_pair(&dir).unwrap();
        let error = token(&dir, "Night <Porter>", DEMO_ISSUER, DEMO_AUDIENCE).unwrap_err();
        assert!(error.to_string().contains("Warehouse Manager"));
        assert!(!error.to_string().contains("Porter"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn no_key_pair_means_no_token() {
        let dir = temp_dir("none");
        assert!(token(&dir, JOBS[0], DEMO_ISSUER, DEMO_AUDIENCE).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
