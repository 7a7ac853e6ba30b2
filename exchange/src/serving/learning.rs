//! Learning from outcomes, the server's part: the [`Learner`] holds the outcome counts and
//! builds the rates each serving set carries; `serving::outcomes` feeds it. Every
//! `learning.refresh_secs` the outcomes recorded since the last count (impressions from verified notices, valid clicks,
//! attributed orders: the affiliate database's rows, so every node learns from every
//! node's traffic and a restart loses nothing) are added to a time-decayed
//! [`OutcomeTable`], and the serving set is republished with the rates learned for its
//! snapshot (`exchange_core::learning`). The request path only reads the published
//! [`LearnedRates`]: no lock, no IO, no hand-off.
//!
//! Counting trails the clock by `learning.settle_ms` (rows are written in batches; one
//! recorded after its range was counted would be missed) and starts, at boot, five
//! half-lives back.

use crate::affiliate::database::OutcomeCount;
use crate::config::LearningConfig;
use crate::index::Snapshot;
use crate::learning::{LearnedRates, OutcomeTable, Outcomes};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

/// Half-lives of history read at boot.
const HISTORY_HALF_LIVES: f64 = 5.0;

/// The outcome table and how far it has counted.
#[derive(Debug, Default)]
struct Counted {
    table: OutcomeTable,
    /// Rows before this instant are counted, unix ms (0: nothing yet).
    until_ms: i64,
    /// The instant the table's weights are as of, unix ms.
    as_of_ms: i64,
}

/// The learner of one node.
#[derive(Debug)]
pub struct Learner {
    config: LearningConfig,
    counted: Mutex<Counted>,
    /// Counts that succeeded.
    pub refreshes: AtomicU64,
    /// Counts that failed (the database did not answer); retried at the next tick.
    pub failures: AtomicU64,
}

impl Learner {
    /// A learner with nothing counted.
    pub fn new(config: &LearningConfig) -> Self {
        Self {
            config: config.clone(),
            counted: Mutex::new(Counted::default()),
            refreshes: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }

    fn counted(&self) -> std::sync::MutexGuard<'_, Counted> {
        self.counted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The rates learned so far for `snapshot`'s campaigns (all lifts 1 when learning is
    /// off or nothing is counted).
    pub fn rates(&self, snapshot: &Snapshot) -> Arc<LearnedRates> {
        if !self.config.enabled {
            return Arc::new(LearnedRates::none());
        }
        let counted = self.counted();
        Arc::new(LearnedRates::build(
            snapshot,
            &counted.table,
            &self.config.settings(),
        ))
    }

    /// The range to count next at `now_ms`: from where the last count stopped (or five
    /// half-lives back), to the settle lag behind the clock.
    pub fn next_range(&self, now_ms: i64) -> (i64, i64) {
        let until = self.counted().until_ms;
        let history = (self.half_life_ms() * HISTORY_HALF_LIVES) as i64;
        let from = if until > 0 { until } else { now_ms - history };
        let settle = self.config.settle_ms as i64;
        (from, (now_ms - settle).max(from))
    }

    fn half_life_ms(&self) -> f64 {
        self.config.half_life_hours * 3_600_000.0
    }

    /// Adds `rows` (the outcomes of `[from, to_ms)`) at `now_ms`: the table decays to now,
    /// and each row weighs by its age (its hour's middle).
    pub fn absorb(&self, rows: &[OutcomeCount], to_ms: i64, now_ms: i64) {
        let half_life = self.half_life_ms();
        let weight = |age_ms: f64| 0.5f64.powf(age_ms.max(0.0) / half_life);
        let mut counted = self.counted();
        if counted.as_of_ms > 0 {
            let factor = weight((now_ms - counted.as_of_ms) as f64);
            counted.table.decay(factor);
        }
        for row in rows {
            let w = weight((now_ms - (row.hour_ms + 1_800_000)) as f64).min(1.0);
            let outcomes = Outcomes {
                impressions: row.impressions as f64 * w,
                clicks: row.clicks as f64 * w,
                orders: row.orders as f64 * w,
            };
            counted
                .table
                .add(&row.campaign, row.page_category, outcomes);
        }
        counted.as_of_ms = now_ms;
        counted.until_ms = counted.until_ms.max(to_ms);
    }

    /// Cells (campaign × page category) counted.
    pub fn cells(&self) -> usize {
        self.counted().table.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(campaign: &str, hour_ms: i64, impressions: i64, clicks: i64) -> OutcomeCount {
        OutcomeCount {
            campaign: campaign.into(),
            page_category: Some(8),
            hour_ms,
            impressions,
            clicks,
            orders: 0,
        }
    }

    #[test]
    fn counting_starts_five_half_lives_back_and_then_goes_on_from_where_it_stopped() {
        let learner = Learner::new(&LearningConfig::default());
        let now = 1_000 * 86_400_000;
        let (from, to) = learner.next_range(now);
        assert_eq!(from, now - 5 * 168 * 3_600_000);
        assert_eq!(to, now - 10_000);
        learner.absorb(&[], to, now);
        let later = now + 60_000;
        assert_eq!(learner.next_range(later), (to, later - 10_000));
    }

    #[test]
    fn an_outcome_weighs_half_after_one_half_life() {
        let config = LearningConfig {
            half_life_hours: 1.0,
            ..LearningConfig::default()
        };
        let learner = Learner::new(&config);
        let hour = 3_600_000;
        let now = 100 * hour;
        // One row in the hour that ended one hour and a half ago: its middle is two hours
        // back.
        learner.absorb(&[row("a", now - 2 * hour - hour / 2, 1000, 10)], now, now);
        let weight = learner.counted().table.get("a", Some(8)).impressions / 1000.0;
        assert!((weight - 0.25).abs() < 1e-9, "{weight}");
        // An hour later, the table has decayed by half again.
        learner.absorb(&[], now + hour, now + hour);
        let weight = learner.counted().table.get("a", Some(8)).impressions / 1000.0;
        assert!((weight - 0.125).abs() < 1e-9, "{weight}");
    }
}
