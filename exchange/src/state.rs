//! Shared state of a running exchange: config, snapshot store, bidders, metrics, clock.

use crate::admission::budgets::{Pacing, PacingSettings};
use crate::admission::caps::CapStats;
use crate::bidders::Fanout;
use crate::clock::Clock;
use crate::config::ExchangeConfig;
use crate::metrics::Metrics;
use crate::notice::KeyRing;
use crate::serving::snapshots::SnapshotStore;
use crate::serving::Serving;
use crate::shared::writer::Writer;
use crate::shared::SharedStore;
use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// Everything a request handler may read. Immutable but for atomics and the snapshot.
#[derive(Debug)]
pub struct AppState {
    /// Validated configuration.
    pub config: ExchangeConfig,
    /// The auction's slice of it (what the core reads), built once.
    pub auction: exchange_core::config::AuctionConfig,
    /// The campaign snapshot as loaded (and where to reload it from).
    pub snapshots: SnapshotStore,
    /// What requests are served from: snapshot, model and pacers as one value
    /// ([`AppState::publish`] after any of them changes).
    serving: ArcSwap<Serving>,
    publishing: Mutex<()>,
    /// Counters and histograms.
    pub metrics: Metrics,
    /// Source of "now" for flights and day-parts.
    pub clock: Clock,
    /// External bidders: clients, health, notices.
    pub(crate) bidders: Arc<Fanout>,
    /// Frequency counters and budgets shared with other nodes (or in process).
    pub shared: SharedStore,
    /// Notice writes on their way to `shared`.
    pub writer: Writer,
    /// Budget leases and pacing of this node.
    pub budgets: Pacing,
    /// Counters of the frequency read on the request path.
    pub caps: CapStats,
    /// Key of the user-id hash.
    pub user_secret: [u8; 16],
    /// The serving lifetime-value model.
    pub model_file: crate::serving::model_file::ModelStore,
    /// Keys that sign and verify notice URLs.
    pub notice_keys: KeyRing,
    /// CORS of the public endpoints.
    pub cors: crate::receive::cors::Cors,
    /// What is filled into a browser's request (place, device), with its database.
    pub enricher: crate::enrich::Enricher,
    /// Invalid-traffic checks (the bot list, the data-center ranges read at start).
    pub ivt: crate::ivt::Detector,
    /// The open-connection cap and the connection timeouts.
    pub connections: crate::receive::connections::Connections,
    /// Clicks and orders: the database, the click queue, the advertisers' credentials.
    pub affiliate: crate::affiliate::Affiliate,
    /// Outcomes counted so far, and the rates learned from them.
    pub learner: crate::serving::learning::Learner,
    /// Page topics counted so far, and what trends.
    pub trending: crate::serving::trending::Trending,
    /// Set when shutdown starts; `/readyz` then answers 503.
    pub draining: AtomicBool,
    /// What each start-up stage added to the resident set (`GET /admin/memory`).
    pub startup_memory: crate::memory::StartupMemory,
    auction_counter: AtomicU64,
    auction_id_base: u64,
}

impl AppState {
    /// State for `config`, serving `store`.
    pub fn new(config: ExchangeConfig, store: SnapshotStore) -> Self {
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let auction_id_base = crate::auction::mix(started ^ u64::from(std::process::id()));
        let store_config = &config.store;
        let node = if store_config.node_id.is_empty() {
            format!("{:08x}-{}", auction_id_base as u32, std::process::id())
        } else {
            store_config.node_id.clone()
        };
        let pacing = Pacing::new(PacingSettings {
            node,
            lease_ttl_ms: store_config.lease_ttl_ms as i64,
            lease_secs: store_config.lease_secs,
            max_lease_share: store_config.max_lease_share,
            settle_ms: store_config.settle_ms as i64,
            reservation_secs: config.notices.ttl_secs as i64,
        });
        // Validation built this ring once already; an environment that changed since
        // falls back to a per-process key rather than stopping.
        let notice_keys = config.notices.key_ring().unwrap_or_else(|(field, error)| {
            tracing::error!(
                field,
                error,
                "notice keys unusable; signing with a per-process key"
            );
            KeyRing::ephemeral()
        });
        let limits = &config.limits;
        let connections = crate::receive::connections::Connections::new(
            limits.max_connections,
            crate::receive::connections::nofile_limit(),
            std::time::Duration::from_millis(limits.first_byte_timeout_ms),
            std::time::Duration::from_millis(limits.idle_timeout_ms),
        );
        let snapshot = store.load_full();
        let learner = crate::serving::learning::Learner::new(&config.learning);
        let trending = crate::serving::trending::Trending::new(&config.trends);
        let serving = ArcSwap::from_pointee(Serving {
            pacers: pacing.table(&snapshot),
            learned: learner.rates(&snapshot),
            topics: trending.counters(&snapshot),
            trends: trending.lifts(&snapshot),
            snapshot,
            model: None,
        });
        Self {
            serving,
            publishing: Mutex::new(()),
            notice_keys,
            connections,
            cors: crate::receive::cors::Cors::new(&config.cors),
            enricher: crate::enrich::Enricher::with_database(&config.enrichment, None),
            ivt: crate::ivt::Detector::new(crate::ivt::IpRanges::default()),
            shared: SharedStore::default(),
            writer: Writer::new(store_config.write_queue),
            budgets: pacing,
            caps: CapStats::default(),
            user_secret: store_config.secret(),
            model_file: crate::serving::model_file::ModelStore::none(),
            bidders: Arc::new(Fanout::new(&config)),
            affiliate: crate::affiliate::Affiliate::new(&config),
            learner,
            trending,
            auction: config.auction_config(),
            config,
            snapshots: store,
            metrics: Metrics::new(),
            clock: Clock::System,
            draining: AtomicBool::new(false),
            startup_memory: crate::memory::StartupMemory::default(),
            auction_counter: AtomicU64::new(0),
            auction_id_base,
        }
    }

    /// The same state with another shared store (Redis instead of in process).
    pub fn with_shared_store(mut self, shared: SharedStore) -> Self {
        self.shared = shared;
        self
    }

    /// The same state enriching requests with `enricher` (its database opened from
    /// `config.enrichment.geo_database`).
    pub fn with_enricher(mut self, enricher: crate::enrich::Enricher) -> Self {
        self.enricher = enricher;
        self
    }

    /// The same state checking invalid traffic with `detector` (its ranges read from
    /// `ivt.datacenter_ranges`).
    pub fn with_ivt(mut self, detector: crate::ivt::Detector) -> Self {
        self.ivt = detector;
        self
    }

    /// The same state with the start-up memory ledger the binary kept.
    pub fn with_startup_memory(mut self, memory: crate::memory::StartupMemory) -> Self {
        self.startup_memory = memory;
        self
    }

    /// The same state with `affiliate` (its database opened from `affiliate.database`).
    pub fn with_affiliate(mut self, affiliate: crate::affiliate::Affiliate) -> Self {
        self.affiliate = affiliate;
        self
    }

    /// The same state serving `models` (opened from `config.ltv.model`).
    pub fn with_ltv_models(mut self, models: crate::serving::model_file::ModelStore) -> Self {
        self.model_file = models;
        self.publish();
        self
    }

    /// Swaps `campaigns` in without reading the file (tests, benches) and publishes them.
    pub fn replace_campaigns(
        &self,
        campaigns: Vec<crate::campaign::Campaign>,
    ) -> crate::serving::snapshots::LoadSummary {
        let summary = self.snapshots.replace(campaigns);
        self.publish();
        summary
    }

    /// What requests are served from now (one load per request).
    pub fn serving(&self) -> Arc<Serving> {
        self.serving.load_full()
    }

    /// Builds the serving set from the loaded snapshot and model (and the snapshot's
    /// pacer table) and swaps it in. Called off the request path after each reload;
    /// publishes run one at a time, so the last one always has the newest of each.
    pub fn publish(&self) {
        let _one_at_a_time = self
            .publishing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let snapshot = self.snapshots.load_full();
        self.serving.store(Arc::new(Serving {
            pacers: self.budgets.table(&snapshot),
            learned: self.learner.rates(&snapshot),
            topics: self.trending.counters(&snapshot),
            trends: self.trending.lifts(&snapshot),
            model: self.model_file.load(),
            snapshot,
        }));
    }

    /// The same state, signing with a key the embedded store keeps when no key is
    /// configured (one node: notice URLs then verify after a restart too).
    pub fn with_stored_notice_key(mut self) -> Self {
        if !self.notice_keys.is_ephemeral() {
            return self;
        }
        let crate::shared::SharedStore::Memory(memory) = &self.shared else {
            return self;
        };
        let Some(database) = memory.database() else {
            return self;
        };
        match database
            .secret("notice-key")
            .map_err(|e| e.to_string())
            .and_then(|secret| KeyRing::stored(&secret))
        {
            Ok(ring) => self.notice_keys = ring,
            Err(error) => {
                tracing::error!(%error, "cannot keep a notice key in the store file; signing with a per-process key")
            }
        }
        self
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

/// Runs `tick` every `period` (the first at once) on a task that holds `state` only weakly
/// between ticks: it ends when the exchange is gone, and never keeps a stopped one alive.
pub fn every<F, Fut>(state: &Arc<AppState>, period: std::time::Duration, tick: F)
where
    F: Fn(Arc<AppState>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let weak = Arc::downgrade(state);
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(period);
        loop {
            interval.tick().await;
            let Some(state) = weak.upgrade() else { return };
            tick(state).await;
        }
    });
}
