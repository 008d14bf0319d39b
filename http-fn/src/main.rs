//! `http-fn`: the Stock API HTTP tier (`NODE_ROLE=http`) or the whole service in one process
//! (`NODE_ROLE=both`). `--demo` starts with the demo estate, a fresh key pair and printed tokens.

use http_fn::config::{Binary, Config, ServerSettings};

#[tokio::main]
async fn main() {
    let demo = std::env::args().skip(1).any(|arg| arg == "--demo");
    let config = match Config::from_vars(std::env::vars(), Binary::HttpFn, demo) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(2);
        }
    };
    let server = match ServerSettings::from_vars(std::env::vars()) {
        Ok(server) => server,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(2);
        }
    };
    let lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    if let Err(error) = http_fn::run(config, server, lambda).await {
        eprintln!("{error:#}");
        std::process::exit(1);
    }
}
