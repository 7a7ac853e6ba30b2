//! `[reports]`: the privacy-preserving aggregate reports (`crate::reports`): each
//! consumer's privacy budget, how much one report may spend, how much one user may add,
//! and the δ the threshold keeps to.

use serde::Deserialize;

/// Report settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportsConfig {
    /// ε one consumer (a publisher, an advertiser) may spend over `window_days`.
    pub budget_epsilon: f64,
    /// The rolling window of the budget, days.
    pub window_days: u32,
    /// Most ε one report may spend.
    pub max_epsilon: f64,
    /// Most days one report covers.
    pub max_days: u32,
    /// Cells one user adds to, at most (contribution bounding).
    pub max_cells_per_user: usize,
    /// Of each metric, in one cell, one user adds at most this.
    pub max_per_cell: u64,
    /// The δ of the (ε, δ) guarantee: the threshold a cell's noisy impressions must reach
    /// is set from it.
    pub delta: f64,
    /// Most rows (user × cell × metric) read for one report; more: narrow the range.
    pub max_rows: usize,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        Self {
            budget_epsilon: 4.0,
            window_days: 30,
            max_epsilon: 1.0,
            max_days: 92,
            max_cells_per_user: 8,
            max_per_cell: 20,
            delta: 1e-6,
            max_rows: 2_000_000,
        }
    }
}

impl ReportsConfig {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let fail =
            |field: &str, message: &str| Err((format!("reports.{field}"), message.to_owned()));
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(self.budget_epsilon) || self.budget_epsilon > 100.0 {
            return fail("budget_epsilon", "in (0, 100]");
        }
        if !positive(self.max_epsilon) || self.max_epsilon > self.budget_epsilon {
            return fail("max_epsilon", "in (0, budget_epsilon]");
        }
        if !(1..=3650).contains(&self.window_days) {
            return fail("window_days", "1..=3650");
        }
        if !(1..=366).contains(&self.max_days) {
            return fail("max_days", "1..=366");
        }
        if !(1..=1000).contains(&self.max_cells_per_user) {
            return fail("max_cells_per_user", "1..=1000");
        }
        if !(1..=1_000_000).contains(&self.max_per_cell) {
            return fail("max_per_cell", "1..=1000000");
        }
        if !(self.delta > 0.0 && self.delta < 0.01) {
            return fail("delta", "in (0, 0.01)");
        }
        if !(1_000..=100_000_000).contains(&self.max_rows) {
            return fail("max_rows", "1000..=100000000");
        }
        Ok(())
    }
}
