//! The HTTP server: hyper 1.x on tokio, HTTP/1.1 keep-alive and h2c, graceful shutdown.
//!
//! [`run`] owns the accept loop and the background reload tasks; [`routes`] maps each
//! request to a handler. Errors become HTTP responses only in `routes`.

pub(crate) mod body;
pub mod caller;
pub mod connections;
pub mod cors;
pub mod idle;
pub(crate) mod reply;
pub mod routes;
pub mod runtime;

use routes::Role;

use crate::state::AppState;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Longest wait for in-flight requests to finish after shutdown starts.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait at shutdown for queued bidder notices (wins and bills are money).
pub const NOTICE_FLUSH_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest wait at shutdown for notice writes to reach the store.
pub const STORE_FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// Serves on `listener` until `shutdown` completes, then drains in-flight requests.
pub async fn run(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    run_with_admin(listener, None, state, shutdown).await
}

/// [`run`], with `/metrics` and `/admin/*` served on `admin` instead of `listener` when
/// one is given (`admin.listen`), so an operator can keep them off the public port.
pub async fn run_with_admin(
    listener: TcpListener,
    admin: Option<TcpListener>,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let public_role = if admin.is_some() {
        Role::Public
    } else {
        Role::All
    };
    // The segmenter's dictionary loads here, once, not on the first request.
    crate::context::tokenize::tokenizer();
    let (stop_tx, stop_rx) = watch::channel(false);
    let interval = state.config.reload.watch_interval_ms;
    if interval > 0 {
        use crate::serving::reload::Watched;
        for watched in [Watched::Campaigns, Watched::Model] {
            if watched == Watched::Model && state.model_file.loaded_sources().files.is_empty() {
                continue;
            }
            tokio::spawn(crate::serving::reload::watch_file(
                Arc::clone(&state),
                watched,
                Duration::from_millis(interval),
                stop_rx.clone(),
            ));
        }
    }
    #[cfg(unix)]
    if let Some(hangups) = crate::serving::reload::listen_for_sighup() {
        tokio::spawn(crate::serving::reload::on_sighup(
            Arc::clone(&state),
            hangups,
            stop_rx.clone(),
        ));
    }

    // Leases first (the pacer table was built with the serving set), so budgeted
    // campaigns can bid from the first request.
    state
        .budgets
        .tick(&state.shared, state.clock.now_millis())
        .await;
    let writer = Arc::clone(&state);
    tokio::spawn(async move {
        let journal = writer.shared.journal();
        writer.writer.run(writer.shared.clone(), journal).await;
    });
    crate::affiliate::click_writer::start(&state);
    crate::affiliate::settlement_in::start(&state);
    crate::affiliate::settlement_in::start_sequencer(&state);
    crate::serving::refresh::start(&state);
    if let Some(journal) = state.shared.journal() {
        let replayer = Arc::clone(&state);
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            replayer
                .writer
                .replay_journal(replayer.shared.clone(), journal, stop)
                .await;
        });
    }
    let pacing = Arc::clone(&state);
    let pacing_stop = stop_rx.clone();
    let pacing_task = tokio::spawn(async move {
        pacing
            .budgets
            .run(pacing.shared.clone(), pacing.clock, pacing_stop)
            .await;
    });

    if !state.bidders.is_empty() {
        let notices = Arc::clone(&state);
        tokio::spawn(async move { notices.bidders.send_notices(&notices.config).await });
    }

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(
            state.config.limits.header_read_timeout_ms,
        ));
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut backoff = crate::receive::connections::AcceptBackoff::default();
    tracing::debug!(limit = state.connections.limit(), "connection cap");
    loop {
        // A free slot first: at the cap, new clients wait in the kernel's backlog.
        let slot = tokio::select! {
            slot = state.connections.slot() => slot,
            () = &mut shutdown => break,
        };
        let (stream, peer, role) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    backoff.succeeded();
                    (stream, peer, public_role)
                }
                Err(error) => {
                    let pause = backoff.failed(&state.connections, &error);
                    tokio::time::sleep(pause).await;
                    continue;
                }
            },
            accepted = accept_admin(admin.as_ref()) => match accepted {
                Ok((stream, peer)) => {
                    backoff.succeeded();
                    (stream, peer, Role::Admin)
                }
                Err(error) => {
                    let pause = backoff.failed(&state.connections, &error);
                    tokio::time::sleep(pause).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let state = Arc::clone(&state);
        let builder = Arc::clone(&builder);
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _slot = slot;
            let Some(stream) = state.connections.first_byte(stream).await else {
                return;
            };
            let routed = Arc::clone(&state);
            let service = service_fn(move |request| {
                let state = Arc::clone(&routed);
                async move {
                    let peer = Some(peer.ip());
                    Ok::<_, std::convert::Infallible>(
                        routes::route(state, request, role, peer).await,
                    )
                }
            });
            let connection = builder
                .serve_connection(TokioIo::new(stream), service)
                .into_owned();
            if let Err(error) = watcher.watch(connection).await {
                state.connections.ended_with(&*error);
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    state.draining.store(true, Ordering::Relaxed);
    let _ = stop_tx.send(true);
    drop(listener);
    drop(admin);
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(DRAIN_TIMEOUT) => tracing::warn!("drain timeout; closing remaining connections"),
    }
    // Clicks that arrived are written (their CPC charges join the store writer's queue).
    let clicks = state.affiliate.clicks.pending();
    if !state.affiliate.clicks.flush(STORE_FLUSH_TIMEOUT).await && clicks > 0 {
        tracing::warn!(clicks, "clicks not all written at shutdown");
    }
    // Notices that arrived are money: land them, then give the unused leases back.
    let queued = state.writer.pending();
    state.writer.flush(STORE_FLUSH_TIMEOUT).await;
    // A store that is down must not hold the process: both steps are bounded.
    let abort = pacing_task.abort_handle();
    if tokio::time::timeout(STORE_FLUSH_TIMEOUT, pacing_task)
        .await
        .is_err()
    {
        abort.abort();
    }
    let released = state
        .budgets
        .release_all(&state.shared, state.clock.now_millis());
    if tokio::time::timeout(STORE_FLUSH_TIMEOUT, released)
        .await
        .is_err()
    {
        tracing::warn!("store unreachable at shutdown; unused leases return when they expire");
    }
    let journaled = match state.shared.journal() {
        Some(journal) => tokio::task::spawn_blocking(move || journal.journal_len())
            .await
            .ok()
            .and_then(Result::ok),
        None => Some(0),
    };
    let left = state.writer.pending();
    if left == 0 {
        tracing::info!(
            queued,
            in_journal = journaled,
            "store writes flushed (journaled ones are delivered at the next start) and leases released"
        );
    } else {
        // Never acknowledged (their notices got no 2xx): the senders retry them.
        tracing::warn!(
            queued,
            unacknowledged_left = left,
            in_journal = journaled,
            "store writes not all landed at shutdown; leases released where the store answered"
        );
    }
    let unsent = state.bidders.notifier.pending();
    if unsent > 0 {
        state.bidders.notifier.flush(NOTICE_FLUSH_TIMEOUT).await;
        tracing::info!(
            unsent,
            left = state.bidders.notifier.pending(),
            "flushed bidder notices"
        );
    }
    Ok(())
}

/// The next connection on the admin listener; never, when there is none.
async fn accept_admin(
    admin: Option<&TcpListener>,
) -> std::io::Result<(tokio::net::TcpStream, std::net::SocketAddr)> {
    match admin {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}
