//! The state every exchange node shares: frequency counters per user and budget spend and
//! leases per campaign. One interface ([`PacingStore`]), two implementations: Redis
//! ([`redis::RedisStore`], for several nodes) and in-process ([`memory::MemoryStore`], the
//! embedded default when no Redis is configured). Both keep the same semantics; one
//! behavioural test suite runs against both.
//!
//! The request path makes at most one call here ([`PacingStore::read_counters`], one
//! Redis round trip). Writes (impressions, spend) come from notices and go through the
//! batching [`writer`]; leases are taken by the pacing task in the background. Every write
//! is idempotent per auction and imp, so a retried batch or a replayed notice counts once.
//! Key layout and scripts: [`keys`] and [`scripts`].

pub mod durable;
pub mod keys;
pub mod memory;
pub mod redis;
pub mod scripts;
pub mod writer;

pub use exchange_core::ltv::PurchaseHistory;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::future::Future;
use thiserror::Error;

/// Locks `mutex`, recovering it if a panic poisoned it: the guarded maps and pacing
/// state stay usable (each update is a few field writes), and the exchange keeps serving.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Why a store call failed (the caller applies its failure policy).
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum StoreError {
    /// The store could not be reached or answered with an error.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store answered something this code cannot read.
    #[error("unexpected store reply: {0}")]
    BadReply(String),
}

/// A user as the counters know them: a keyed hash of `user.id`, `user.buyeruid` or
/// `device.ifa` (never the raw id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UserKey(pub u64);

impl UserKey {
    /// Sixteen hex digits, as in keys and notice URLs.
    pub fn hex(self) -> String {
        format!("{:016x}", self.0)
    }

    /// Parses [`UserKey::hex`] output.
    pub fn from_hex(text: &str) -> Option<Self> {
        (text.len() == 16)
            .then(|| u64::from_str_radix(text, 16).ok())
            .flatten()
            .map(Self)
    }
}

/// One event that may be counted once: an imp of an auction.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EventId {
    /// The exchange's auction id.
    pub auction: String,
    /// The imp id.
    pub imp: String,
}

/// A user's hash as read: frequency counters and purchase history (one round trip).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserCounters {
    /// Field (see [`keys::cap_field`]) → (bucket, impressions in that bucket).
    pub fields: HashMap<String, (i64, u32)>,
    /// Vertical (`*` for all purchases) → the user's purchase history there.
    pub history: HashMap<String, PurchaseHistory>,
}

impl UserCounters {
    /// Reads one raw hash entry into `self`: a counter (`bucket:count`) or, under a
    /// [`keys::history_field`], a purchase history; anything else is ignored.
    pub fn insert_raw(&mut self, field: String, value: &str) {
        if let Some(vertical) = keys::history_vertical(&field) {
            if let Some(history) = PurchaseHistory::parse(value) {
                self.history.insert(vertical.to_owned(), history);
            }
        } else if let Some(counter) = Self::parse_value(value) {
            self.fields.insert(field, counter);
        }
    }

    /// Impressions counted for `field` in `bucket` (0 when the stored bucket is older).
    pub fn count(&self, field: &str, bucket: i64) -> u32 {
        match self.fields.get(field) {
            Some(&(stored, count)) if stored == bucket => count,
            _ => 0,
        }
    }

    /// Reads a stored counter value `bucket:count`.
    pub fn parse_value(value: &str) -> Option<(i64, u32)> {
        let (bucket, count) = value.split_once(':')?;
        Some((bucket.parse().ok()?, count.parse().ok()?))
    }
}

/// One counter to bump for an impression.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterBump {
    /// Counter field ([`keys::cap_field`]).
    pub field: String,
    /// Window bucket the impression falls in.
    pub bucket: i64,
    /// Seconds the counter must live (to the end of its window).
    pub ttl_secs: u64,
}

/// A write the notices produce.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Write {
    /// An impression a user saw: bump their frequency counters, once per event.
    Impression {
        /// Whose counters.
        user: UserKey,
        /// Counted once.
        event: EventId,
        /// The counters of every cap that applies.
        bumps: Vec<CounterBump>,
    },
    /// A user's purchase history in one vertical (replaces what was there; idempotent).
    History {
        /// Whose history.
        user: UserKey,
        /// Vertical, or `*` for all purchases.
        vertical: String,
        /// The history.
        history: PurchaseHistory,
        /// Seconds the user's hash must live at least.
        ttl_secs: u64,
    },
    /// Money a campaign spent, once per event.
    Spend {
        /// Campaign id.
        campaign: String,
        /// Day index in the campaign's time zone (unix days).
        day: i64,
        /// Amount, micro-units of the exchange currency.
        micros: i64,
        /// Counted once.
        event: EventId,
        /// The reservation this spend settles (what the win was charged to the lease).
        #[serde(default)]
        release: Release,
    },
}

/// Budget money a node reserved for a win (when it settled the lease money the win
/// used) and that the win's notice releases when it commits the real spend. Until then,
/// or until its bucket expires (the notice URL's validity), it counts against the budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// Micros reserved for the win (0: none, e.g. a campaign without a budget).
    pub micros: i64,
    /// Reservation bucket: the notice URL's expiry in [`keys::RESERVE_BUCKET_SECS`] units.
    pub bucket: i64,
}

impl Release {
    /// Nothing to release.
    pub const NONE: Self = Self {
        micros: 0,
        bucket: 0,
    };
}

/// A lease call: settle what this node used and optionally take more budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseCall {
    /// Campaign id.
    pub campaign: String,
    /// Day index in the campaign's time zone.
    pub day: i64,
    /// This node's id (leases are held per node).
    pub node: String,
    /// Daily budget, micros.
    pub daily_budget: Option<i64>,
    /// Lifetime budget, micros.
    pub total_budget: Option<i64>,
    /// Micros of the held lease to give back (what was used, and any unused part).
    pub release: i64,
    /// Micros wanted on top of what is held after the release.
    pub want: i64,
    /// Now, unix ms (the store's notion of time for lease expiry is the caller's).
    pub now_ms: i64,
    /// How long the held lease stays reserved without another call, ms.
    pub ttl_ms: i64,
    /// Micros of `release` that wins used: they stay reserved (counted against the
    /// budget) until their notices commit or `reserve_bucket` expires.
    pub reserve: i64,
    /// Bucket the reservation expires with ([`keys::RESERVE_BUCKET_SECS`] units of unix
    /// time, at least the expiry of the wins' notice URLs).
    pub reserve_bucket: i64,
}

/// What a lease call left.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeaseReply {
    /// Micros granted by this call.
    pub granted: i64,
    /// What this node holds now (after release and grant).
    pub held: i64,
    /// Committed spend today (all nodes).
    pub spent_day: i64,
    /// Outstanding leases today (all nodes).
    pub leased_day: i64,
    /// Committed spend over the campaign's life (all nodes).
    pub spent_total: i64,
    /// Reserved today for wins whose notices have not committed (all nodes).
    pub reserved_day: i64,
}

/// Committed spend of a campaign (for the admin view and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpendView {
    /// Committed today.
    pub spent_day: i64,
    /// Outstanding leases today.
    pub leased_day: i64,
    /// Reserved today for wins whose notices have not committed (may dip below 0 for a
    /// moment when a notice commits before its node settled the win).
    pub reserved_day: i64,
    /// Committed over the campaign's life.
    pub spent_total: i64,
}

/// The shared state interface. Every method is one round trip (or none, in process).
pub trait PacingStore: Send + Sync {
    /// All frequency counters of `user` (one command: the request path's only call).
    fn read_counters(
        &self,
        user: UserKey,
    ) -> impl Future<Output = Result<UserCounters, StoreError>> + Send;

    /// Applies writes; per write, whether it counted (false: a replay). Idempotent, so a
    /// failed batch may be retried whole.
    fn apply(&self, writes: &[Write])
        -> impl Future<Output = Result<Vec<bool>, StoreError>> + Send;

    /// Settles and takes a budget lease atomically (grants only while committed spend +
    /// outstanding leases + the grant stay within every budget).
    fn lease(
        &self,
        call: &LeaseCall,
    ) -> impl Future<Output = Result<LeaseReply, StoreError>> + Send;

    /// Committed spend and leases of `campaign` on `day`.
    fn spend(
        &self,
        campaign: &str,
        day: i64,
    ) -> impl Future<Output = Result<SpendView, StoreError>> + Send;
}

/// The store a running exchange uses: in process, or Redis.
#[derive(Debug, Clone)]
pub enum SharedStore {
    /// In-process (the embedded default; one node).
    Memory(memory::MemoryStore),
    /// Redis or Redis Cluster (several nodes).
    Redis(redis::RedisStore),
}

impl SharedStore {
    /// `memory` or `redis`, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Memory(_) => "memory",
            Self::Redis(_) => "redis",
        }
    }
}

impl SharedStore {
    /// The store `config` asks for: Redis when a URL is set (with the journal file, if
    /// any), else in process (durable on the file, if any).
    pub async fn open(config: &crate::config::StoreConfig) -> Result<Self, StoreError> {
        let file = (!config.path.as_os_str().is_empty()).then_some(config.path.as_path());
        if config.redis_url.is_empty() {
            return match file {
                Some(path) => Ok(Self::Memory(memory::MemoryStore::open(path)?)),
                None => Ok(Self::default()),
            };
        }
        let journal = file
            .map(|path| durable::Database::open(path).map(std::sync::Arc::new))
            .transpose()?;
        let settings = redis::RedisSettings {
            url: config.redis_url.clone(),
            cluster: config.cluster,
            key_prefix: config.key_prefix.clone(),
            connect_timeout: std::time::Duration::from_millis(config.connect_timeout_ms),
            response_timeout: std::time::Duration::from_millis(config.command_timeout_ms),
        };
        let store = redis::RedisStore::connect(&settings).await?;
        Ok(Self::Redis(store.with_journal(journal)))
    }

    /// Where writes the store did not take are journaled (Redis with a file only).
    pub fn journal(&self) -> Option<std::sync::Arc<durable::Database>> {
        match self {
            Self::Memory(_) => None,
            Self::Redis(store) => store.journal(),
        }
    }
}

impl Default for SharedStore {
    fn default() -> Self {
        Self::Memory(memory::MemoryStore::default())
    }
}

impl PacingStore for SharedStore {
    async fn read_counters(&self, user: UserKey) -> Result<UserCounters, StoreError> {
        match self {
            Self::Memory(store) => store.read_counters(user).await,
            Self::Redis(store) => store.read_counters(user).await,
        }
    }

    async fn apply(&self, writes: &[Write]) -> Result<Vec<bool>, StoreError> {
        match self {
            Self::Memory(store) => store.apply(writes).await,
            Self::Redis(store) => store.apply(writes).await,
        }
    }

    async fn lease(&self, call: &LeaseCall) -> Result<LeaseReply, StoreError> {
        match self {
            Self::Memory(store) => store.lease(call).await,
            Self::Redis(store) => store.lease(call).await,
        }
    }

    async fn spend(&self, campaign: &str, day: i64) -> Result<SpendView, StoreError> {
        match self {
            Self::Memory(store) => store.spend(campaign, day).await,
            Self::Redis(store) => store.spend(campaign, day).await,
        }
    }
}
