//! Shared state of a running exchange: config, snapshot store, bidders, metrics, clock.

use crate::clock::Clock;
use crate::config::ExchangeConfig;
use crate::fanout::Fanout;
use crate::metrics::Metrics;
use crate::store::SnapshotStore;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

/// Everything a request handler may read. Immutable but for atomics and the snapshot.
#[derive(Debug)]
pub struct AppState {
    /// Validated configuration.
    pub config: ExchangeConfig,
    /// The serving campaign snapshot.
    pub store: SnapshotStore,
    /// Counters and histograms.
    pub metrics: Metrics,
    /// Source of "now" for flights and day-parts.
    pub clock: Clock,
    /// External bidders: clients, health, notices.
    pub fanout: Fanout,
    /// Set when shutdown starts; `/readyz` then answers 503.
    pub draining: AtomicBool,
    auction_counter: AtomicU64,
    auction_id_base: u64,
}

impl AppState {
    /// State for `config`, serving `store`.
    pub fn new(config: ExchangeConfig, store: SnapshotStore) -> Self {
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Self {
            fanout: Fanout::new(&config),
            config,
            store,
            metrics: Metrics::new(),
            clock: Clock::System,
            draining: AtomicBool::new(false),
            auction_counter: AtomicU64::new(0),
            auction_id_base: crate::auction::mix(started ^ u64::from(std::process::id())),
        }
    }

    /// The same state with another clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// A new auction id, unique within this process and unlikely to collide across nodes.
    pub fn next_auction_id(&self) -> String {
        let n = self.auction_counter.fetch_add(1, Relaxed);
        format!("{:016x}", crate::auction::mix(self.auction_id_base ^ n))
    }
}
