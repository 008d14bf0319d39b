//! `http-fn`: the Stock API HTTP tier (`NODE_ROLE=http`) or the whole service in one process
//! (`NODE_ROLE=both`). `--demo` starts with the demo estate, a fresh key pair and printed tokens.

use http_fn::config::{Binary, Config};

#[tokio::main]
async fn main() {
    // Raw arguments and variables: one that is not UTF-8 must not stop the process unless it
    // is one the configuration reads (then it is a one-line error naming it).
    let demo = std::env::args_os().skip(1).any(|arg| arg == "--demo");
    let config = match Config::from_env(Binary::HttpFn, demo) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(2);
        }
    };
    let lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    if let Err(error) = http_fn::run(config, lambda).await {
        eprintln!("{error:#}");
        std::process::exit(1);
    }
}
