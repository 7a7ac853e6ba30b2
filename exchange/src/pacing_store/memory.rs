//! The in-process store: the embedded default when no Redis is configured. The same
//! rules as the Redis scripts ([`super::scripts`]), over mutex-guarded maps. Counters and
//! "already counted" markers expire by time like Redis keys; the maps are bounded (past
//! [`MAX_ENTRIES`], expired entries are dropped first, then the oldest half of the markers).

use super::keys::{self, DAY_TTL_SECS, EVENT_TTL_SECS};
use super::{
    LeaseCall, LeaseReply, PacingStore, PurchaseHistory, SpendView, StoreError, UserCounters,
    UserKey, Write,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// Most users (and, separately, most markers and budget hashes) kept in memory.
pub const MAX_ENTRIES: usize = 1_000_000;
/// Key prefix used for the in-process maps (same layout as Redis).
const PREFIX: &str = "mem";

/// The in-process store. Cloning shares the state.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    users: Mutex<HashMap<UserKey, UserEntry>>,
    markers: Mutex<HashMap<String, u64>>,
    budgets: Mutex<HashMap<String, BudgetHash>>,
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
    /// Node → (held micros, expiry unix ms).
    nodes: HashMap<String, (i64, i64)>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

use super::lock;

impl MemoryStore {
    /// Marks `key` as counted; false when it already was (a replay).
    fn mark_once(&self, key: String, now: u64) -> bool {
        let mut markers = lock(&self.inner.markers);
        if markers.get(&key).is_some_and(|&expires| expires > now) {
            return false;
        }
        if markers.len() >= MAX_ENTRIES {
            markers.retain(|_, &mut expires| expires > now);
            if markers.len() >= MAX_ENTRIES {
                let mut expiries: Vec<u64> = markers.values().copied().collect();
                let middle = expiries.len() / 2;
                let (_, &mut cut, _) = expiries.select_nth_unstable(middle);
                markers.retain(|_, &mut expires| expires > cut);
            }
        }
        markers.insert(key, now + EVENT_TTL_SECS);
        true
    }

    fn count_impression(&self, user: UserKey, bumps: &[super::CounterBump], now: u64) {
        let mut users = lock(&self.inner.users);
        if users.len() >= MAX_ENTRIES && !users.contains_key(&user) {
            users.retain(|_, entry| entry.expires > now);
        }
        let entry = users.entry(user).or_default();
        if entry.expires <= now {
            *entry = UserEntry::default();
        }
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
        if users.len() >= MAX_ENTRIES && !users.contains_key(&user) {
            users.retain(|_, entry| entry.expires > now_secs());
        }
        let entry = users.entry(user).or_default();
        entry.counters.history.insert(vertical.to_owned(), history);
        entry.expires = entry.expires.max(until);
    }

    fn commit_spend(&self, campaign: &str, day: i64, micros: i64) {
        let mut budgets = lock(&self.inner.budgets);
        budgets
            .entry(keys::campaign_day(PREFIX, campaign, day))
            .or_default()
            .spent += micros;
        budgets
            .entry(keys::campaign_total(PREFIX, campaign))
            .or_default()
            .spent += micros;
        if budgets.len() > MAX_ENTRIES {
            // Day hashes older than their TTL go first (the day is in the key).
            let oldest_kept = (now_secs() / 86_400) as i64 - (DAY_TTL_SECS / 86_400) as i64;
            budgets.retain(|key, _| {
                key.rsplit_once(":d:")
                    .and_then(|(_, d)| d.parse::<i64>().ok())
                    .is_none_or(|d| d >= oldest_kept)
            });
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
        Ok(writes
            .iter()
            .map(|write| match write {
                Write::Impression { user, event, bumps } => {
                    let counted = self.mark_once(keys::user_event(PREFIX, *user, event), now);
                    if counted {
                        self.count_impression(*user, bumps, now);
                    }
                    counted
                }
                Write::History {
                    user,
                    vertical,
                    history,
                    ttl_secs,
                } => {
                    self.put_history(*user, vertical, *history, now + ttl_secs);
                    true
                }
                Write::Spend {
                    campaign,
                    day,
                    micros,
                    event,
                } => {
                    let counted =
                        self.mark_once(keys::campaign_event(PREFIX, campaign, event), now);
                    if counted {
                        self.commit_spend(campaign, *day, *micros);
                    }
                    counted
                }
            })
            .collect())
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
            let mine = hash.nodes.get(&call.node).map_or(0, |&(h, _)| h);
            let released = call.release.min(mine);
            hash.leased = (hash.leased - released).max(0);
            held[i] = mine - released;
            if let Some(budget) = limits[i] {
                grant = grant.min(budget - hash.spent - hash.leased);
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
            spent_total: total,
        })
    }
}
