//! The chaos suite: real processes (`redis-server` with an fsynced AOF, one `http-fn`, three
//! `actor-worker`s), a seeded load and a seeded fault schedule, then the invariants of the
//! failure contract. See `features::chaos` for the knobs (`STOCK_CHAOS_SECONDS`,
//! `STOCK_CHAOS_SEED`) and the long-run command.
//!
//! Needs the debug binaries (`cargo build -p http-fn -p actor-worker`) and `redis-server` on
//! `PATH`.

use features::chaos::{self, ChaosConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_lands_exactly_once_through_seeded_worker_and_redis_faults() {
    let config = match ChaosConfig::from_env() {
        Ok(config) => config,
        Err(error) => panic!("chaos settings: {error:#}"),
    };
    if let Err(message) = chaos::run("chaos", &config).await {
        panic!("{message}");
    }
}
