//! The in-process target: the `http-fn` library served from a task of the test process.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use anyhow::Context;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::STOP_DEADLINE;

/// A service running on the test process's runtime.
#[derive(Debug)]
pub(super) struct InProcess {
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl InProcess {
    /// Builds the application from `vars` and serves it until stopped.
    pub(super) async fn start(
        vars: BTreeMap<String, String>,
    ) -> anyhow::Result<(SocketAddr, InProcess)> {
        let config =
            http_fn::config::Config::from_vars(vars, http_fn::config::Binary::HttpFn, false)
                .context("configuration refused")?;
        let app = http_fn::app::Application::build(config)
            .await
            .context("start-up failed")?;
        let addr = app.local_addr();
        let (shutdown, stopped) = oneshot::channel::<()>();
        // A dropped sender also stops the service, so a scenario that panics cannot leak it.
        let task = tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        Ok((addr, InProcess { shutdown, task }))
    }

    /// Signals shutdown and waits for the server task to finish.
    pub(super) async fn stop(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(());
        tokio::time::timeout(STOP_DEADLINE, self.task)
            .await
            .context("the service did not stop in time")?
            .context("the service task panicked")?
    }
}
