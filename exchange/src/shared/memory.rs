//! The in-process store: the embedded default when no Redis is configured. The same
//! rules as the Redis scripts ([`super::scripts`]), over mutex-guarded maps that the
//! request path reads (no disk IO there).
//!
//! Opened on a file ([`MemoryStore::open`]) it is durable: every batch of writes is first
//! committed to the SQLite file ([`super::durable`]; markers decide there what is a replay)
//! and only then applied to memory, and a restart loads counters, histories and spend back.
//! Without a file ([`MemoryStore::default`], for tests and benches) it forgets everything
//! on restart, and its markers are bounded: past [`MAX_ENTRIES`] live markers a write is
//! refused (the notice is answered 503 and retried) rather than a live marker forgotten,
//! so a replay is never charged twice. Expired entries leave in insertion order (markers)
//! or in a sweep at most every [`SWEEP_EVERY_SECS`] (users, day budgets): O(1) amortised.

use super::durable::Database;
use super::keys::{self, DAY_TTL_SECS, EVENT_TTL_SECS};
use super::{
    LeaseCall, LeaseReply, PacingStore, PurchaseHistory, Release, SpendView, StoreError,
    UserCounters, UserKey, Write,
};
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// Most users (and, separately, most live markers and budget hashes) kept in memory.
pub const MAX_ENTRIES: usize = 1_000_000;
/// Key prefix used for the in-process maps and the database (same layout as Redis).
pub const PREFIX: &str = keys::EMBEDDED_PREFIX;
/// Expired users and day budgets are swept at most this often (and when a map is full,
/// at most once a second).
pub const SWEEP_EVERY_SECS: u64 = 60;

/// The in-process store. Cloning shares the state.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    users: Mutex<HashMap<UserKey, UserEntry>>,
    markers: Mutex<Markers>,
    budgets: Mutex<HashMap<String, BudgetHash>>,
    database: Option<Arc<Database>>,
    last_sweep: AtomicU64,
    /// Live markers kept at most ([`MAX_ENTRIES`] unless a test says otherwise).
    marker_limit: Option<usize>,
    /// Impressions not kept in memory because the user map was full of live users.
    users_full: AtomicU64,
}

/// Markers with their expiry, and the order they expire in (a marker lives a fixed time,
/// so insertion order is expiry order).
#[derive(Debug, Default)]
struct Markers {
    live: HashMap<String, u64>,
    order: VecDeque<(u64, String)>,
}

impl Markers {
    fn expire(&mut self, now: u64) {
        while let Some((expires, _)) = self.order.front() {
            if *expires > now {
                break;
            }
            if let Some((expires, key)) = self.order.pop_front() {
                if self.live.get(&key) == Some(&expires) {
                    self.live.remove(&key);
                }
            }
        }
    }
}

#[derive(Debug, Default)]
struct UserEntry {
    counters: UserCounters,
    expires: u64,
}

#[derive(Debug, Default, Clone)]
struct BudgetHash {
    spent: i64,
    leased: i64,
    /// Sum of `buckets`: money reserved for wins whose notices have not committed.
    reserved: i64,
    /// Reservation bucket → micros (see [`super::scripts::LEASE`]).
    buckets: HashMap<i64, i64>,
    /// Node → (held micros, expiry unix ms).
    nodes: HashMap<String, (i64, i64)>,
}

impl BudgetHash {
    /// Drops the reservation buckets that ended before `now_ms`.
    fn expire_reservations(&mut self, now_ms: i64) {
        let width_ms = keys::RESERVE_BUCKET_SECS * 1000;
        let mut dropped = 0;
        self.buckets.retain(|&bucket, &mut micros| {
            let live = (bucket + 1) * width_ms > now_ms;
            if !live {
                dropped += micros;
            }
            live
        });
        self.reserved -= dropped;
    }

    /// Moves `micros` into the reservation of `bucket` (negative: releases it).
    fn reserve(&mut self, bucket: i64, micros: i64) {
        *self.buckets.entry(bucket).or_insert(0) += micros;
        self.reserved += micros;
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

use super::lock;

impl MemoryStore {
    /// A durable store on the SQLite file at `path` (created if missing), loaded with what
    /// it kept: frequency counters, purchase histories and committed spend.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let database = Database::open(path)?;
        let now = now_secs();
        let loaded = database.load(now)?;
        let mut users: HashMap<UserKey, UserEntry> = HashMap::new();
        for (user, fields) in loaded.counters {
            let entry = users.entry(user).or_default();
            for (field, bucket, count, expires) in fields {
                entry.counters.fields.insert(field, (bucket, count));
                entry.expires = entry.expires.max(expires);
            }
        }
        for (user, histories) in loaded.histories {
            let entry = users.entry(user).or_default();
            for (vertical, history, expires) in histories {
                entry.counters.history.insert(vertical, history);
                entry.expires = entry.expires.max(expires);
            }
        }
        let budgets = loaded
            .spend
            .into_iter()
            .map(|(key, spent)| {
                (
                    key,
                    BudgetHash {
                        spent,
                        ..BudgetHash::default()
                    },
                )
            })
            .collect();
        Ok(Self {
            inner: Arc::new(Inner {
                users: Mutex::new(users),
                budgets: Mutex::new(budgets),
                database: Some(Arc::new(database)),
                last_sweep: AtomicU64::new(now),
                ..Inner::default()
            }),
        })
    }

    /// The file writes are committed to, if any.
    pub fn database(&self) -> Option<Arc<Database>> {
        self.inner.database.clone()
    }

    /// Whether writes are committed to a file before they count.
    pub fn is_durable(&self) -> bool {
        self.inner.database.is_some()
    }

    /// Users currently in memory.
    pub fn user_count(&self) -> usize {
        lock(&self.inner.users).len()
    }

    /// Impressions not kept in memory because the user map was full of live users.
    pub fn users_full(&self) -> u64 {
        self.inner.users_full.load(Relaxed)
    }

    /// Records the markers of `writes` in memory (no file); per write, whether it is new.
    /// Refuses the whole batch, changing nothing, when the live markers would pass
    /// [`MAX_ENTRIES`].
    fn mark_in_memory(&self, writes: &[Write], now: u64) -> Result<Vec<bool>, StoreError> {
        let mut markers = lock(&self.inner.markers);
        markers.expire(now);
        let keys: Vec<Option<String>> = writes
            .iter()
            .map(|write| match write {
                Write::History { .. } => None,
                Write::Impression { user, event, .. } => {
                    Some(keys::user_event(PREFIX, *user, event))
                }
                Write::Spend {
                    campaign, event, ..
                } => Some(keys::campaign_event(PREFIX, campaign, event)),
            })
            .collect();
        let is_new = |markers: &Markers, key: &str| markers.live.get(key).is_none_or(|&e| e <= now);
        let new = keys
            .iter()
            .flatten()
            .filter(|key| is_new(&markers, key))
            .count();
        let limit = self.inner.marker_limit.unwrap_or(MAX_ENTRIES);
        if new > 0 && markers.live.len() + new > limit {
            return Err(StoreError::Unavailable(format!(
                "{limit} live idempotency markers: refusing writes rather than forgetting one"
            )));
        }
        let expires = now + EVENT_TTL_SECS;
        Ok(keys
            .into_iter()
            .map(|key| {
                let Some(key) = key else { return true };
                if !is_new(&markers, &key) {
                    return false;
                }
                markers.live.insert(key.clone(), expires);
                markers.order.push_back((expires, key));
                true
            })
            .collect())
    }

    /// Drops expired users and day budgets, at most every [`SWEEP_EVERY_SECS`] (or every
    /// second when `urgent`); also expires the file's rows.
    fn sweep(&self, now: u64, urgent: bool) {
        let last = self.inner.last_sweep.load(Relaxed);
        let every = if urgent { 1 } else { SWEEP_EVERY_SECS };
        if now < last + every
            || self
                .inner
                .last_sweep
                .compare_exchange(last, now, Relaxed, Relaxed)
                .is_err()
        {
            return;
        }
        lock(&self.inner.users).retain(|_, entry| entry.expires > now);
        let oldest_kept = (now / 86_400) as i64 - (DAY_TTL_SECS / 86_400) as i64;
        // A day hash goes once its day is old enough and no lease or reservation is left
        // in it (those end by their own expiry first).
        let now_ms = now as i64 * 1000;
        let bucket_ms = keys::RESERVE_BUCKET_SECS * 1000;
        lock(&self.inner.budgets).retain(|key, hash| {
            hash.nodes
                .values()
                .any(|&(held, expires)| held > 0 && expires > now_ms)
                || hash.buckets.keys().any(|b| (b + 1) * bucket_ms > now_ms)
                || key
                    .rsplit_once(":d:")
                    .and_then(|(_, d)| d.parse::<i64>().ok())
                    .is_none_or(|d| d >= oldest_kept)
        });
        if let Some(database) = &self.inner.database {
            if let Err(error) = database.expire(now) {
                tracing::warn!(%error, "expiring the embedded database's rows failed");
            }
        }
    }

    /// The user's entry for an update, or `None` when the map is full of live users.
    fn user_entry<'a>(
        &self,
        users: &'a mut HashMap<UserKey, UserEntry>,
        user: UserKey,
        now: u64,
    ) -> Option<&'a mut UserEntry> {
        if users.len() >= MAX_ENTRIES && !users.contains_key(&user) {
            self.inner.users_full.fetch_add(1, Relaxed);
            return None;
        }
        let entry = users.entry(user).or_default();
        if entry.expires <= now {
            *entry = UserEntry::default();
        }
        Some(entry)
    }

    fn count_impression(&self, user: UserKey, bumps: &[super::CounterBump], now: u64) {
        let mut users = lock(&self.inner.users);
        let Some(entry) = self.user_entry(&mut users, user, now) else {
            return;
        };
        for bump in bumps {
            let slot = entry
                .counters
                .fields
                .entry(bump.field.clone())
                .or_insert((bump.bucket, 0));
            if slot.0 == bump.bucket {
                slot.1 = slot.1.saturating_add(1);
            } else {
                *slot = (bump.bucket, 1);
            }
            entry.expires = entry.expires.max(now + bump.ttl_secs);
        }
    }

    fn put_history(&self, user: UserKey, vertical: &str, history: PurchaseHistory, until: u64) {
        let mut users = lock(&self.inner.users);
        let Some(entry) = self.user_entry(&mut users, user, now_secs()) else {
            return;
        };
        entry.counters.history.insert(vertical.to_owned(), history);
        entry.expires = entry.expires.max(until);
    }

    fn commit_spend(&self, campaign: &str, day: i64, micros: i64, release: Release) {
        let mut budgets = lock(&self.inner.budgets);
        for key in [
            keys::campaign_day(PREFIX, campaign, day),
            keys::campaign_total(PREFIX, campaign),
        ] {
            let hash = budgets.entry(key).or_default();
            hash.spent += micros;
            if release.micros > 0 {
                hash.reserve(release.bucket, -release.micros);
            }
        }
    }

    /// Applies the writes that counted to memory.
    fn apply_counted(&self, writes: &[Write], counted: &[bool], now: u64) {
        for (write, &counted) in writes.iter().zip(counted) {
            if !counted {
                continue;
            }
            match write {
                Write::Impression { user, bumps, .. } => self.count_impression(*user, bumps, now),
                Write::History {
                    user,
                    vertical,
                    history,
                    ttl_secs,
                } => self.put_history(*user, vertical, *history, now + ttl_secs),
                Write::Spend {
                    campaign,
                    day,
                    micros,
                    release,
                    ..
                } => self.commit_spend(campaign, *day, *micros, *release),
            }
        }
    }
}

impl PacingStore for MemoryStore {
    async fn read_counters(&self, user: UserKey) -> Result<UserCounters, StoreError> {
        let users = lock(&self.inner.users);
        Ok(users
            .get(&user)
            .filter(|entry| entry.expires > now_secs())
            .map(|entry| entry.counters.clone())
            .unwrap_or_default())
    }

    async fn apply(&self, writes: &[Write]) -> Result<Vec<bool>, StoreError> {
        let now = now_secs();
        let full = lock(&self.inner.users).len() >= MAX_ENTRIES;
        let counted = match &self.inner.database {
            Some(database) => {
                // The file first: nothing counts in memory that a crash could forget.
                let database = Arc::clone(database);
                let batch = writes.to_vec();
                let store = self.clone();
                tokio::task::spawn_blocking(move || {
                    store.sweep(now, full);
                    database.persist(&batch, now)
                })
                .await
                .map_err(|e| StoreError::Unavailable(format!("embedded database task: {e}")))??
            }
            None => {
                self.sweep(now, full);
                self.mark_in_memory(writes, now)?
            }
        };
        self.apply_counted(writes, &counted, now);
        Ok(counted)
    }

    async fn lease(&self, call: &LeaseCall) -> Result<LeaseReply, StoreError> {
        let mut budgets = lock(&self.inner.budgets);
        let keys = [
            keys::campaign_day(PREFIX, &call.campaign, call.day),
            keys::campaign_total(PREFIX, &call.campaign),
        ];
        let limits = [call.daily_budget, call.total_budget];
        let mut grant = call.want;
        let mut held = [0i64; 2];
        let mut reserved = [0i64; 2];
        for (i, key) in keys.iter().enumerate() {
            let hash = budgets.entry(key.clone()).or_default();
            let expired: Vec<String> = hash
                .nodes
                .iter()
                .filter(|(_, &(_, expires))| expires < call.now_ms)
                .map(|(node, _)| node.clone())
                .collect();
            for node in expired {
                if let Some((gone, _)) = hash.nodes.remove(&node) {
                    hash.leased -= gone;
                }
            }
            hash.expire_reservations(call.now_ms);
            let mine = hash.nodes.get(&call.node).map_or(0, |&(h, _)| h);
            let released = call.release.min(mine);
            hash.leased = (hash.leased - released).max(0);
            held[i] = mine - released;
            if call.reserve > 0 {
                hash.reserve(call.reserve_bucket, call.reserve);
            }
            reserved[i] = hash.reserved;
            if let Some(budget) = limits[i] {
                grant = grant.min(budget - hash.spent - hash.leased - hash.reserved.max(0));
            }
        }
        let grant = grant.max(0);
        for (i, key) in keys.iter().enumerate() {
            let hash = budgets.entry(key.clone()).or_default();
            hash.leased += grant;
            hash.nodes.insert(
                call.node.clone(),
                (held[i] + grant, call.now_ms + call.ttl_ms),
            );
        }
        let mine = if call.daily_budget.is_some() {
            held[0]
        } else {
            held[1]
        };
        let day = budgets.get(&keys[0]).cloned().unwrap_or_default();
        let total = budgets.get(&keys[1]).map_or(0, |h| h.spent);
        Ok(LeaseReply {
            granted: grant,
            held: mine + grant,
            spent_day: day.spent,
            leased_day: day.leased,
            spent_total: total,
            reserved_day: reserved[0],
        })
    }

    async fn spend(&self, campaign: &str, day: i64) -> Result<SpendView, StoreError> {
        let budgets = lock(&self.inner.budgets);
        let day = budgets
            .get(&keys::campaign_day(PREFIX, campaign, day))
            .cloned()
            .unwrap_or_default();
        let total = budgets
            .get(&keys::campaign_total(PREFIX, campaign))
            .map_or(0, |h| h.spent);
        Ok(SpendView {
            spent_day: day.spent,
            leased_day: day.leased,
            reserved_day: day.reserved,
            spent_total: total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::EventId;

    fn spend(n: u32) -> Write {
        Write::Spend {
            campaign: "c".into(),
            day: 1,
            micros: 10,
            event: EventId {
                auction: format!("a{n}"),
                imp: "1".into(),
            },
            release: Release::NONE,
        }
    }

    #[tokio::test]
    async fn a_full_marker_table_refuses_rather_than_forgets() {
        let store = MemoryStore {
            inner: Arc::new(Inner {
                marker_limit: Some(1_000),
                ..Inner::default()
            }),
        };
        let batch: Vec<Write> = (0..1_000).map(spend).collect();
        assert!(store.apply(&batch).await.expect("fits").iter().all(|&c| c));
        // One more event: refused whole, nothing evicted, nothing charged.
        assert!(store.apply(&[spend(1_000)]).await.is_err());
        // The first event's replay still finds its marker: answered, not charged twice.
        assert_eq!(store.apply(&[spend(0)]).await.expect("a replay"), [false]);
        assert_eq!(
            store.spend("c", 1).await.expect("spend").spent_total,
            10_000
        );
        let live = lock(&store.inner.markers).live.len();
        assert_eq!(live, 1_000);
    }

    #[tokio::test]
    async fn markers_expire_in_order_and_free_their_room() {
        let mut markers = Markers::default();
        for (i, expires) in [10u64, 20, 30].iter().enumerate() {
            markers.live.insert(format!("k{i}"), *expires);
            markers.order.push_back((*expires, format!("k{i}")));
        }
        markers.expire(20);
        assert_eq!(markers.live.len(), 1);
        assert!(markers.live.contains_key("k2"));
        assert_eq!(markers.order.len(), 1);
    }

    #[tokio::test]
    async fn the_durable_store_remembers_markers_after_many_other_events() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("store.db");
        let store = MemoryStore::open(&path).expect("open");
        assert_eq!(store.apply(&[spend(0)]).await.expect("apply"), [true]);
        // 20,000 other events (no memory bound applies: markers live in the file).
        for chunk in (1..20_001).collect::<Vec<u32>>().chunks(2_000) {
            let batch: Vec<Write> = chunk.iter().map(|&n| spend(n)).collect();
            store.apply(&batch).await.expect("apply");
        }
        assert_eq!(store.apply(&[spend(0)]).await.expect("apply"), [false]);
        drop(store);
        let reopened = MemoryStore::open(&path).expect("reopen");
        assert_eq!(reopened.apply(&[spend(0)]).await.expect("apply"), [false]);
        assert_eq!(
            reopened.spend("c", 1).await.expect("spend").spent_total,
            20_001 * 10
        );
    }
}
