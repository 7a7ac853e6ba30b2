//! Servers a load command starts for itself: the exchange (the library the binary runs,
//! with the sample configs, optionally with extra bidders) and the bare baseline. Each
//! runs on its own thread with its own multi-thread tokio runtime (the binaries'
//! settings), so it competes with the generator for the machine's cores as a separate
//! process would, and stops cleanly when asked.

use anyhow::Context;
use exchange::config::{BidderConfig, ExchangeConfig};
use exchange::shared::SharedStore;
use exchange::{AppState, SnapshotStore};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
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
    /// The run's own store file folder (removed at shutdown).
    data: Option<std::path::PathBuf>,
}

impl Served {
    /// The auction URL.
    pub fn auction_url(&self) -> String {
        format!("http://{}/openrtb2/auction", self.addr)
    }

    /// The exchange's own decision-time p99 and p99.9 so far, µs, estimated from its
    /// `exchange_decision_latency_seconds` histogram as Prometheus' `histogram_quantile`
    /// would (linear within a bucket; buckets 1-2.5-5 per decade); `None` for the baseline.
    pub fn server_quantiles(&self) -> Option<(u64, u64)> {
        let histogram = self.state.as_ref()?.metrics.decision_latency();
        Some((histogram.quantile_us(0.99)?, histogram.quantile_us(0.999)?))
    }

    /// Store commands the exchange issued on its request path per auction request so
    /// far, and its frequency-read p99 in µs; `None` for the baseline.
    pub fn store_figures(&self) -> Option<(f64, Option<u64>)> {
        let state = self.state.as_ref()?;
        let requests: u64 = exchange::metrics::Outcome::ALL
            .iter()
            .map(|&o| state.metrics.outcome_count(o))
            .sum();
        let per_request = state.caps.commands() as f64 / requests.max(1) as f64;
        let read_p99 = state.metrics.cap_read_latency().quantile_us(0.99);
        Some((per_request, read_p99.filter(|&us| us > 0)))
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
        if let Some(data) = self.data.take() {
            let _ = std::fs::remove_dir_all(data);
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// Starts the exchange on `config` (as `exchange --config`), with `bidders` added, on
/// the embedded store, or on Redis at `redis` (URL, and whether it names Redis Cluster
/// seeds; under a key prefix of its own, so runs never share counters or budgets).
/// `REDIS_URL` is ignored: the caller chooses.
pub fn start_exchange(
    config: &Path,
    bidders: Vec<BidderConfig>,
    redis: Option<(&str, bool)>,
) -> anyhow::Result<Served> {
    static RUNS: AtomicU32 = AtomicU32::new(0);
    let mut settings = ExchangeConfig::load(config).map_err(|e| anyhow::anyhow!("{e}"))?;
    settings.bidders.extend(bidders);
    settings.reload.watch_interval_ms = 0;
    settings.store.redis_url = redis.map(|(url, _)| url).unwrap_or_default().to_owned();
    settings.store.cluster = redis.is_some_and(|(_, cluster)| cluster);
    let run = format!(
        "loadtest-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    );
    // Each run's embedded store (or Redis journal) in a file of its own: runs never
    // share counters or budgets, and none touches the config's own store file.
    let data = std::env::temp_dir().join(&run);
    settings.store.path = data.join("exchange.db");
    settings.store.key_prefix = run;
    settings
        .validate(&config.display().to_string())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let store =
        SnapshotStore::open_with_lexicon(&settings.campaigns, settings.context.lexicon.as_deref())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    // The Redis connection lives on the server's runtime, so the state is built there.
    let (state_tx, state_rx) = std::sync::mpsc::channel();
    let mut served = spawn("exchange", move |listener, stopped| async move {
        let shared = match SharedStore::open(&settings.store).await {
            Ok(shared) => shared,
            Err(error) => {
                let _ = state_tx.send(Err(error.to_string()));
                return;
            }
        };
        let state = Arc::new(AppState::new(settings, store).with_shared_store(shared));
        let _ = state_tx.send(Ok(Arc::clone(&state)));
        let _ = exchange::run(listener, state, async {
            let _ = stopped.await;
        })
        .await;
    })?;
    match state_rx.recv_timeout(std::time::Duration::from_secs(30)) {
        Ok(Ok(state)) => {
            served.state = Some(state);
            served.data = Some(data);
        }
        Ok(Err(error)) => anyhow::bail!("exchange store: {error}"),
        Err(_) => anyhow::bail!("exchange did not start within 30 s"),
    }
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
        data: None,
    })
}
