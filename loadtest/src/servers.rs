//! Servers a load command starts for itself: the exchange (the library the binary runs,
//! with the sample configs, optionally with extra bidders) and the bare baseline. Each
//! runs on its own thread with its own multi-thread tokio runtime (the binaries'
//! settings), so it competes with the generator for the machine's cores as a separate
//! process would, and stops cleanly when asked.

use anyhow::Context;
use exchange::config::{BidderConfig, ExchangeConfig};
use exchange::{AppState, SnapshotStore};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// A server running on its own runtime.
#[derive(Debug)]
pub struct Served {
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it is (`exchange`, `baseline`).
    pub name: &'static str,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    state: Option<Arc<AppState>>,
}

impl Served {
    /// The auction URL.
    pub fn auction_url(&self) -> String {
        format!("http://{}/openrtb2/auction", self.addr)
    }

    /// The exchange's own decision-time p99 and p99.9 so far, µs (what its `/metrics`
    /// reports); `None` for the baseline.
    pub fn server_quantiles(&self) -> Option<(u64, u64)> {
        let text = self.state.as_ref()?.metrics.render((0, 0, 0));
        let quantile = |q: &str| {
            let series = format!("exchange_decision_latency_seconds{{quantile=\"{q}\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(&series)?.trim().parse::<f64>().ok())
                .map(|seconds| (seconds * 1e6).round() as u64)
        };
        Some((quantile("0.99")?, quantile("0.999")?))
    }

    /// Stops it and waits until it has drained.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// Starts the exchange on `config` (as `exchange --config`), with `bidders` added.
pub fn start_exchange(config: &Path, bidders: Vec<BidderConfig>) -> anyhow::Result<Served> {
    let mut settings = ExchangeConfig::load(config).map_err(|e| anyhow::anyhow!("{e}"))?;
    settings.bidders.extend(bidders);
    settings.reload.watch_interval_ms = 0;
    settings
        .validate(&config.display().to_string())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let store = SnapshotStore::open(&settings.campaigns).map_err(|e| anyhow::anyhow!("{e}"))?;
    let state = Arc::new(AppState::new(settings, store));
    let serving = Arc::clone(&state);
    let mut served = spawn("exchange", move |listener, stopped| async move {
        let _ = exchange::run(listener, serving, async {
            let _ = stopped.await;
        })
        .await;
    })?;
    served.state = Some(state);
    Ok(served)
}

/// Starts the bare baseline server.
pub fn start_baseline() -> anyhow::Result<Served> {
    spawn("baseline", |listener, stopped| async move {
        let _ = crate::baseline::serve(listener, async {
            let _ = stopped.await;
        })
        .await;
    })
}

fn spawn<F, Fut>(name: &'static str, serve: F) -> anyhow::Result<Served>
where
    F: FnOnce(tokio::net::TcpListener, oneshot::Receiver<()>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop, stopped) = oneshot::channel();
    let thread = std::thread::Builder::new()
        .name(format!("{name}-server"))
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    let _ = addr_tx.send(Err(error.to_string()));
                    return;
                }
            };
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
                    Ok(listener) => listener,
                    Err(error) => {
                        let _ = addr_tx.send(Err(error.to_string()));
                        return;
                    }
                };
                let _ = addr_tx.send(listener.local_addr().map_err(|e| e.to_string()));
                serve(listener, stopped).await;
            });
        })
        .context("server thread")?;
    let addr = addr_rx
        .recv()
        .context("server thread ended before listening")?
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    Ok(Served {
        addr,
        name,
        stop: Some(stop),
        thread: Some(thread),
        state: None,
    })
}
