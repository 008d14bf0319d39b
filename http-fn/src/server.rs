//! The public listener: HTTP/1 connections served with a cap on their number, idle, header-read
//! and body-read timeouts, and a graceful shutdown that drains requests in flight.

mod connection;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;
use tower_http::timeout::RequestBodyDeadlineLayer;

use self::connection::{Activity, Watched, expiry};
use crate::config::ServerSettings;

/// Pause after a failed accept (such as running out of file descriptors), so that a persistent
/// failure does not spin.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(50);

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, lets idle
/// connections close and waits for the requests in flight to be answered.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let service = tower::ServiceBuilder::new()
        .layer(RequestBodyDeadlineLayer::new(limits.body_read_timeout))
        .service(router);
    tokio::pin!(shutdown);
    loop {
        // A permit first: past the cap, connections wait in the listen backlog, unanswered.
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
                    continue;
                }
            },
        };
        let connection = Connection {
            permit,
            limits,
            activity: Activity::new(),
        };
        tokio::spawn(connection.serve(stream, service.clone(), &graceful));
    }
    drop(listener);
    graceful.shutdown().await;
}

/// One accepted connection and its share of the cap.
struct Connection {
    permit: OwnedSemaphorePermit,
    limits: ServerSettings,
    activity: Arc<Activity>,
}

impl Connection {
    /// The connection's task: served until the client closes it, an error, the graceful
    /// shutdown, or a timeout.
    fn serve<S>(
        self,
        stream: TcpStream,
        service: S,
        graceful: &GracefulShutdown,
    ) -> impl Future<Output = ()> + Send + 'static
    where
        S: tower::Service<
                http::Request<Incoming>,
                Response = axum::response::Response,
                Error = Infallible,
            > + Clone
            + Send
            + 'static,
        S::Future: Send,
    {
        let activity = self.activity.clone();
        let hyper_service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
            let activity = activity.clone();
            let service = service.clone();
            activity.request_started();
            async move {
                let response = service.oneshot(request).await;
                activity.request_finished();
                response
            }
        });
        let io = TokioIo::new(Watched::new(stream, self.activity.clone()));
        let mut builder = http1::Builder::new();
        // Header reads are bounded by the connection's own deadlines, which tell an idle
        // connection from one stalled mid-head.
        builder.header_read_timeout(None);
        let served = graceful.watch(builder.serve_connection(io, hyper_service));
        let expired = expiry(self.activity.clone(), self.limits);
        async move {
            let _permit = self.permit;
            tokio::select! {
                result = served => {
                    if let Err(error) = result {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                }
                () = expired => tracing::debug!("connection closed: idle or head too slow"),
            }
        }
    }
}
