//! Budgets and pacing on one node. The request path never calls the store for budgets: a
//! campaign with a budget bids only while its [`Pacer`] holds local lease money and its
//! throttle draws in; a win is charged against the lease (an atomic subtraction). A
//! background task ([`Pacing::run`]) settles what was used and tops the lease up through
//! one store call per campaign, runs the [`controller`], rolls days over, and gives every
//! lease back at shutdown.
//!
//! **Budget bound.** The store grants a lease only while committed spend + all
//! outstanding leases + all reservations + the grant ≤ budget. When a node settles, the
//! lease money its wins used is not returned to the pool but stays *reserved* (in a
//! bucket that ends after the wins' notice URLs expire) until each win's signed notice
//! commits its spend and releases exactly what the win took (`res` in the URL). So
//! committed spend ≤ budget however late notices come within their validity; a win whose
//! notice never comes keeps its money reserved until its URL expires
//! (`notices.ttl_secs`). Tested with notices 0 s, 10 s and 2 min late on two nodes
//! (`tests::late_notices_from_two_nodes_stay_within_the_budget`) and end to end
//! (`tests/tests/late_notices.rs`).

pub mod controller;
pub mod simulation;
#[cfg(test)]
mod tests;

use crate::campaign::{Campaign, PacingMode};
use crate::index::Snapshot;
use crate::shared::{LeaseCall, PacingStore, SharedStore};
use arc_swap::ArcSwap;
use controller::{Controller, Plan};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Throttle resolution: draws are in `0..THROTTLE_SCALE`.
pub const THROTTLE_SCALE: u32 = 1_000_000;
/// Release everything held (shutdown, day rollover).
const RELEASE_ALL: i64 = i64::MAX / 4;
/// A lease holding fewer than this many charges of the last size asks for a refill.
const LOW_WATER_CHARGES: i64 = 4;
/// Length of a day, ms.
const DAY_MS: i64 = 86_400_000;
/// Campaigns settled with the store at once (each call has its own deadline).
pub const CONCURRENT_SETTLES: usize = 64;

/// How leases are sized and kept.
#[derive(Debug, Clone)]
pub struct PacingSettings {
    /// This node's id in lease records.
    pub node: String,
    /// How long a lease stays reserved without a settle, ms (a dead node's lease returns
    /// after this).
    pub lease_ttl_ms: i64,
    /// A lease aims to cover this many seconds of the campaign's recent spend.
    pub lease_secs: f64,
    /// Largest lease, as a share of the budget.
    pub max_lease_share: f64,
    /// How often each campaign settles with the store, ms.
    pub settle_ms: i64,
    /// How long a win's money stays reserved when its notice does not come: the notice
    /// URLs' validity (`notices.ttl_secs`), s.
    pub reservation_secs: i64,
}

/// Why pacing kept a campaign out of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaceBlock {
    /// The throttle drew out (ahead of the target curve).
    Throttled,
    /// No usable lease money (budget exhausted, store unreachable, or not leased yet).
    NoLease,
}

impl PaceBlock {
    /// Every value, for metric registration.
    pub const ALL: [PaceBlock; 2] = [Self::Throttled, Self::NoLease];

    /// Stable label (the debug view's reason and the metrics' `reason`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Throttled => "throttled",
            Self::NoLease => "no_lease",
        }
    }
}

/// The day index (unix days) at `now_ms` in a time zone `utc_offset_secs` east of UTC:
/// the day budgets and spend are kept under.
pub fn local_day(now_ms: i64, utc_offset_secs: i32) -> i64 {
    (now_ms.div_euclid(1000) + i64::from(utc_offset_secs)).div_euclid(86_400)
}

/// Budget rules of a campaign, as of the serving snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetRule {
    /// Daily budget, micros.
    pub daily: Option<i64>,
    /// Lifetime budget, micros.
    pub total: Option<i64>,
    /// Pacing mode.
    pub mode: PacingMode,
    /// The campaign's UTC offset, seconds.
    pub utc_offset_secs: i32,
    /// End of the flight, unix seconds.
    pub flight_end: Option<i64>,
    /// Largest charge of one impression, micros (a lease holds at least a few).
    pub max_charge: i64,
}

impl BudgetRule {
    /// The rule of `campaign`, `None` without any budget.
    pub fn of(campaign: &Campaign, max_ecpm: f64) -> Option<Self> {
        if campaign.daily_budget_micros.is_none() && campaign.total_budget_micros.is_none() {
            return None;
        }
        Some(Self {
            daily: campaign.daily_budget_micros,
            total: campaign.total_budget_micros,
            mode: campaign.pacing,
            utc_offset_secs: campaign.utc_offset_secs,
            flight_end: campaign.flight.map(|(_, end)| end),
            max_charge: (max_ecpm * 1000.0).ceil().clamp(1.0, 1e15) as i64,
        })
    }

    /// The campaign's day index (unix days in its time zone) at `now_ms`.
    pub fn day(&self, now_ms: i64) -> i64 {
        local_day(now_ms, self.utc_offset_secs)
    }

    /// Start of `day` in unix ms.
    pub fn day_start_ms(&self, day: i64) -> i64 {
        (day * 86_400 - i64::from(self.utc_offset_secs)) * 1000
    }

    /// Today's spending plan for even pacing; `None` for `asap` or when nothing bounds the
    /// day (no daily budget, and no lifetime budget with a flight end).
    pub fn plan(&self, day: i64, spent_day: i64, spent_total: i64) -> Option<Plan> {
        if self.mode == PacingMode::Asap {
            return None;
        }
        let day_start_ms = self.day_start_ms(day);
        let from_total = match (self.total, self.flight_end) {
            (Some(total), Some(end)) => {
                let days_left = ((end * 1000 - day_start_ms) + DAY_MS - 1).div_euclid(DAY_MS);
                let before_today = spent_total - spent_day;
                Some((total - before_today).max(0) / days_left.max(1))
            }
            _ => None,
        };
        let budget = match (self.daily, from_total) {
            (Some(daily), Some(allowance)) => daily.min(allowance),
            (Some(daily), None) => daily,
            (None, Some(allowance)) => allowance,
            (None, None) => return None,
        };
        Some(Plan {
            budget,
            day_start_ms,
            day_len_ms: DAY_MS,
        })
    }

    /// The smaller remaining budget (day or lifetime), micros.
    fn budget_cap(&self) -> i64 {
        match (self.daily, self.total) {
            (Some(d), Some(t)) => d.min(t),
            (Some(d), None) => d,
            (None, Some(t)) => t,
            (None, None) => 0,
        }
    }
}

/// What the background task knows about a campaign (not read on the request path).
#[derive(Debug, Clone, Default)]
struct PacerState {
    day: Option<i64>,
    held: i64,
    spent_day: i64,
    leased_day: i64,
    spent_total: i64,
    last_settle_ms: i64,
    controller: Controller,
    charge_rate: f64,
    last_error: Option<String>,
    removed: bool,
}

/// One campaign's budget on this node.
#[derive(Debug)]
pub struct Pacer {
    /// Campaign id.
    pub campaign: String,
    rule: Mutex<BudgetRule>,
    lease_left: AtomicI64,
    used: AtomicI64,
    valid_until_ms: AtomicI64,
    throttle: AtomicU32,
    state: Mutex<PacerState>,
    refill: Arc<Notify>,
}

use crate::shared::lock;

impl Pacer {
    fn new(campaign: String, rule: BudgetRule, refill: Arc<Notify>) -> Self {
        Self {
            campaign,
            rule: Mutex::new(rule),
            lease_left: AtomicI64::new(0),
            used: AtomicI64::new(0),
            valid_until_ms: AtomicI64::new(i64::MIN),
            throttle: AtomicU32::new(THROTTLE_SCALE),
            state: Mutex::new(PacerState::default()),
            refill,
        }
    }

    /// The campaign's budget rule.
    pub fn rule(&self) -> BudgetRule {
        *lock(&self.rule)
    }

    /// Whether the campaign may bid now; `draw` is uniform in `0..THROTTLE_SCALE`.
    pub fn admits(&self, now_ms: i64, draw: u32) -> Result<(), PaceBlock> {
        if self.lease_left.load(Relaxed) <= 0 || self.valid_until_ms.load(Relaxed) < now_ms {
            return Err(PaceBlock::NoLease);
        }
        if draw >= self.throttle.load(Relaxed) {
            return Err(PaceBlock::Throttled);
        }
        Ok(())
    }

    /// Takes `micros` from the local lease; false (and nothing taken) when it holds less.
    pub fn charge(&self, micros: i64) -> bool {
        let micros = micros.max(0);
        let taken = self
            .lease_left
            .fetch_update(Relaxed, Relaxed, |left| {
                (left >= micros).then_some(left - micros)
            })
            .is_ok();
        if taken {
            self.used.fetch_add(micros, Relaxed);
            // Running low: ask the background task for more now, not at the next settle.
            if self.lease_left.load(Relaxed) < micros.saturating_mul(LOW_WATER_CHARGES) {
                self.refill.notify_one();
            }
        }
        taken
    }

    /// Lease money left on this node, micros.
    pub fn lease_left(&self) -> i64 {
        self.lease_left.load(Relaxed)
    }

    /// The share of requests bid on, 0..=1.
    pub fn throttle(&self) -> f64 {
        f64::from(self.throttle.load(Relaxed)) / f64::from(THROTTLE_SCALE)
    }
}

/// Pacers by dense campaign id, for one snapshot version.
#[derive(Debug, Default)]
pub struct PacerTable {
    /// Snapshot version this table indexes.
    pub version: u64,
    /// Pacer per dense id (`None`: no budget).
    pub by_id: Vec<Option<Arc<Pacer>>>,
}

impl PacerTable {
    /// The pacer of dense id `id`, if the campaign has a budget.
    pub fn get(&self, id: usize) -> Option<&Pacer> {
        self.by_id.get(id).and_then(|p| p.as_deref())
    }
}

/// Counters of the budget path.
#[derive(Debug, Default)]
pub struct PacingStats {
    /// Lease calls that granted something.
    pub leases_granted: AtomicU64,
    /// Lease calls that granted nothing (budget reached).
    pub leases_empty: AtomicU64,
    /// Lease calls that failed.
    pub lease_errors: AtomicU64,
    /// Wins charged to a lease.
    pub charged: AtomicU64,
    /// Wins dropped because the lease could not pay them.
    pub charge_refused: AtomicU64,
    /// Campaign exclusions by reason (indexed by [`PaceBlock`]).
    pub blocked: [AtomicU64; PaceBlock::ALL.len()],
    /// Limits the warnings of failed lease calls (one per campaign per settle while the
    /// store is down).
    pub log: crate::metrics::log_limit::LogLimit,
}

impl PacingStats {
    /// Counts one exclusion.
    pub fn block(&self, reason: PaceBlock) {
        self.blocked[reason as usize].fetch_add(1, Relaxed);
    }

    /// Exclusions counted for `reason`.
    pub fn blocks(&self, reason: PaceBlock) -> u64 {
        self.blocked[reason as usize].load(Relaxed)
    }
}

/// Budgets and pacing of every campaign on this node.
#[derive(Debug)]
pub struct Pacing {
    settings: PacingSettings,
    pacers: Mutex<HashMap<String, Arc<Pacer>>>,
    table: ArcSwap<PacerTable>,
    wake: Arc<Notify>,
    /// Counters.
    pub stats: PacingStats,
}

impl Pacing {
    /// Pacing with `settings` and no campaigns yet.
    pub fn new(settings: PacingSettings) -> Self {
        Self {
            settings,
            pacers: Mutex::new(HashMap::new()),
            table: ArcSwap::from_pointee(PacerTable {
                version: u64::MAX,
                by_id: Vec::new(),
            }),
            wake: Arc::new(Notify::new()),
            stats: PacingStats::default(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &PacingSettings {
        &self.settings
    }

    /// The pacer table of `snapshot` (built once per snapshot version; a new campaign's
    /// pacer wakes the background task to lease for it).
    pub fn table(&self, snapshot: &Snapshot) -> Arc<PacerTable> {
        let current = self.table.load_full();
        if current.version == snapshot.version {
            return current;
        }
        let mut pacers = lock(&self.pacers);
        let mut added = false;
        let by_id: Vec<Option<Arc<Pacer>>> = snapshot
            .campaigns
            .iter()
            .enumerate()
            .map(|(id, campaign)| {
                let rule = BudgetRule::of(campaign, snapshot.base_ecpm[id])?;
                let pacer = pacers
                    .entry(campaign.id.clone())
                    .or_insert_with(|| {
                        added = true;
                        Arc::new(Pacer::new(
                            campaign.id.clone(),
                            rule,
                            Arc::clone(&self.wake),
                        ))
                    })
                    .clone();
                *lock(&pacer.rule) = rule;
                lock(&pacer.state).removed = false;
                Some(pacer)
            })
            .collect();
        let budgeted: std::collections::HashSet<&str> = by_id
            .iter()
            .flatten()
            .map(|p| p.campaign.as_str())
            .collect();
        for (id, pacer) in pacers.iter() {
            if !budgeted.contains(id.as_str()) {
                lock(&pacer.state).removed = true;
            }
        }
        let table = Arc::new(PacerTable {
            version: snapshot.version,
            by_id,
        });
        self.table.store(Arc::clone(&table));
        if added {
            self.wake.notify_one();
        }
        table
    }

    /// The pacer of campaign `id`, if it has a budget.
    pub fn pacer(&self, id: &str) -> Option<Arc<Pacer>> {
        lock(&self.pacers).get(id).cloned()
    }

    /// One pass over every campaign: roll days over, settle and top leases up, update
    /// the throttles. `now_ms` is unix ms.
    pub async fn tick(&self, store: &SharedStore, now_ms: i64) {
        self.settle_all(store, now_ms, false).await;
        lock(&self.pacers).retain(|_, p| !(lock(&p.state).removed && p.lease_left() <= 0));
    }

    /// Gives every lease back (shutdown).
    pub async fn release_all(&self, store: &SharedStore, now_ms: i64) {
        self.settle_all(store, now_ms, true).await;
    }

    /// Settles every campaign, up to [`CONCURRENT_SETTLES`] at once, each store call
    /// under its own deadline: a campaign whose keys live on a slow or dead node (a
    /// failed Redis Cluster master) delays only itself.
    async fn settle_all(&self, store: &SharedStore, now_ms: i64, release_all: bool) {
        use futures_util::stream::{self, StreamExt};
        let pacers: Vec<Arc<Pacer>> = lock(&self.pacers).values().cloned().collect();
        stream::iter(pacers)
            .map(|pacer| async move { self.settle(store, &pacer, now_ms, release_all).await })
            .buffer_unordered(CONCURRENT_SETTLES)
            .collect::<Vec<()>>()
            .await;
    }

    /// Runs [`Pacing::tick`] every `settle_ms` (sooner when a campaign appears) until
    /// `stop` turns true; then releases every lease.
    pub async fn run(
        &self,
        store: SharedStore,
        clock: crate::clock::Clock,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let period = std::time::Duration::from_millis(self.settings.settle_ms.max(10) as u64);
        loop {
            self.tick(&store, clock.now_millis()).await;
            tokio::select! {
                () = tokio::time::sleep(period) => {}
                () = self.wake.notified() => {}
                _ = stop.changed() => break,
            }
            if *stop.borrow() {
                break;
            }
        }
    }

    async fn settle(&self, store: &SharedStore, pacer: &Pacer, now_ms: i64, release_all: bool) {
        let rule = pacer.rule();
        let day = rule.day(now_ms);
        let (previous_day, due, charge_rate) = {
            let state = lock(&pacer.state);
            let due = release_all
                || state.removed
                || state.day != Some(day)
                || now_ms - state.last_settle_ms >= self.settings.settle_ms
                || pacer.lease_left() < rule.max_charge.saturating_mul(LOW_WATER_CHARGES);
            (state.day, due, state.charge_rate)
        };
        if !due {
            return;
        }
        if let Some(old) = previous_day.filter(|&d| d != day) {
            // A new day in the campaign's time zone: give yesterday's lease back whole.
            let left = pacer.lease_left.swap(0, Relaxed);
            let used = pacer.used.swap(0, Relaxed);
            let call = self.call(
                pacer,
                &rule,
                old,
                (left + used + RELEASE_ALL, used),
                0,
                now_ms,
            );
            let _ = self.lease(store, &call).await;
            let mut state = lock(&pacer.state);
            state.controller = Controller::default();
            state.held = 0;
            pacer.throttle.store(THROTTLE_SCALE, Relaxed);
        }
        let stopping = release_all || lock(&pacer.state).removed;
        let used = pacer.used.swap(0, Relaxed);
        let (release, want) = if stopping {
            (pacer.lease_left.swap(0, Relaxed) + used, 0)
        } else {
            let cap = rule.budget_cap();
            let min_lease = rule.max_charge.saturating_mul(4);
            let max_lease = ((cap as f64 * self.settings.max_lease_share) as i64).max(min_lease);
            // Before any spend is seen, a quarter of the largest lease.
            let size = if charge_rate > 0.0 {
                ((charge_rate * self.settings.lease_secs) as i64).clamp(min_lease, max_lease)
            } else {
                (max_lease / 4).max(min_lease)
            };
            (used, (size - pacer.lease_left()).max(0))
        };
        let call = self.call(pacer, &rule, day, (release, used), want, now_ms);
        match self.lease(store, &call).await {
            Ok(reply) => {
                if !stopping {
                    pacer.lease_left.fetch_add(reply.granted, Relaxed);
                    pacer.lease_left.fetch_min(reply.held, Relaxed);
                    let margin = self.settings.lease_ttl_ms / 4;
                    pacer
                        .valid_until_ms
                        .store(now_ms + self.settings.lease_ttl_ms - margin, Relaxed);
                }
                let counter = if reply.granted > 0 {
                    &self.stats.leases_granted
                } else {
                    &self.stats.leases_empty
                };
                counter.fetch_add(1, Relaxed);
                let mut state = lock(&pacer.state);
                if let Some(last) = Some(state.last_settle_ms).filter(|&t| t > 0 && now_ms > t) {
                    let sample = used as f64 * 1000.0 / (now_ms - last) as f64;
                    state.charge_rate = if state.charge_rate == 0.0 {
                        sample
                    } else {
                        state.charge_rate * 0.7 + sample * 0.3
                    };
                }
                state.day = Some(day);
                state.held = reply.held;
                state.spent_day = reply.spent_day;
                state.leased_day = reply.leased_day;
                state.spent_total = reply.spent_total;
                state.last_settle_ms = now_ms;
                state.last_error = None;
                let throttle = match rule.plan(day, reply.spent_day, reply.spent_total) {
                    Some(plan) => state.controller.update(now_ms, &plan, reply.spent_day),
                    None => 1.0,
                };
                pacer.throttle.store(
                    (throttle * f64::from(THROTTLE_SCALE)).round() as u32,
                    Relaxed,
                );
            }
            Err(error) => {
                self.stats.lease_errors.fetch_add(1, Relaxed);
                if let Some(left_out) = self.stats.log.admit() {
                    tracing::warn!(campaign = %pacer.campaign, %error, left_out, "budget lease failed; the campaign bids on what its lease holds");
                }
                // Keep what was used for the next settle; the lease stays until it expires.
                pacer.used.fetch_add(used, Relaxed);
                if stopping {
                    pacer.lease_left.fetch_add(release - used, Relaxed);
                }
                let mut state = lock(&pacer.state);
                state.day = Some(day);
                state.last_error = Some(error.to_string());
            }
        }
    }

    /// One lease call under the settle deadline (`settle_ms`, at least 50 ms).
    async fn lease(
        &self,
        store: &SharedStore,
        call: &LeaseCall,
    ) -> Result<crate::shared::LeaseReply, crate::shared::StoreError> {
        let deadline = std::time::Duration::from_millis(self.settings.settle_ms.max(50) as u64);
        tokio::time::timeout(deadline, store.lease(call))
            .await
            .unwrap_or_else(|_| {
                Err(crate::shared::StoreError::Unavailable(format!(
                    "lease call took longer than {deadline:?}"
                )))
            })
    }

    /// A lease call giving back `release`, of which `used` stays reserved until the
    /// wins' notices commit (or their URLs expire: the bucket ends after them).
    fn call(
        &self,
        pacer: &Pacer,
        rule: &BudgetRule,
        day: i64,
        (release, used): (i64, i64),
        want: i64,
        now_ms: i64,
    ) -> LeaseCall {
        let expires = now_ms.div_euclid(1000) + self.settings.reservation_secs;
        LeaseCall {
            reserve: used.max(0),
            reserve_bucket: expires.div_euclid(crate::shared::keys::RESERVE_BUCKET_SECS),
            campaign: pacer.campaign.clone(),
            day,
            node: self.settings.node.clone(),
            daily_budget: rule.daily,
            total_budget: rule.total,
            release: release.clamp(0, RELEASE_ALL),
            want,
            now_ms,
            ttl_ms: self.settings.lease_ttl_ms,
        }
    }

    /// The pacing state of campaign `id` as JSON (the admin view), `None` if it has no
    /// budget.
    pub fn view(&self, id: &str, now_ms: i64) -> Option<serde_json::Value> {
        let pacer = self.pacer(id)?;
        let rule = pacer.rule();
        let state = lock(&pacer.state).clone();
        let day = rule.day(now_ms);
        let plan = rule.plan(day, state.spent_day, state.spent_total);
        let to_units = |micros: i64| micros as f64 / 1e6;
        Some(serde_json::json!({
            "campaign": id,
            "node": self.settings.node,
            "mode": rule.mode.as_str(),
            "day": day,
            "daily_budget": rule.daily.map(to_units),
            "total_budget": rule.total.map(to_units),
            "today_budget": plan.map(|p| to_units(p.budget)),
            "target_now": plan.map(|p| to_units(p.target_at(now_ms))),
            "spent_today": to_units(state.spent_day),
            "spent_total": to_units(state.spent_total),
            "leased_today_all_nodes": to_units(state.leased_day),
            "throttle": pacer.throttle(),
            "spend_rate_per_sec": state.controller.rate_per_sec() / 1e6,
            "lease": {
                "held": to_units(state.held),
                "left": to_units(pacer.lease_left()),
                "used_unsettled": to_units(pacer.used.load(Relaxed)),
                "valid_for_ms": (pacer.valid_until_ms.load(Relaxed) - now_ms).max(0),
                "ttl_ms": self.settings.lease_ttl_ms,
            },
            "last_settle_ms_ago": (state.last_settle_ms > 0).then(|| now_ms - state.last_settle_ms),
            "last_error": state.last_error,
        }))
    }
}
