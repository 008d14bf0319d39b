//! The `actor-worker` binary: hosts the stock pots of the shards it leases (`NODE_ROLE=actor`).

use std::process::ExitCode;

fn main() -> ExitCode {
    let role = std::env::var("NODE_ROLE").unwrap_or_else(|_| "actor".to_owned());
    if !role.eq_ignore_ascii_case("actor") {
        eprintln!("NODE_ROLE: the actor-worker binary runs only the actor role (got {role:?})");
        return ExitCode::from(2);
    }
    eprintln!(
        "STOCK_REDIS_URL: the actor role needs the Redis backend (not available in this build)"
    );
    ExitCode::from(2)
}
