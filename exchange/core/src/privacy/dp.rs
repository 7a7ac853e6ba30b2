//! Differentially private aggregate reports: counts by cell (placement or campaign × page
//! category × day) that reveal almost nothing about any one user.
//!
//! Three steps, in this order:
//! 1. **Bounding** ([`bound`]): each user adds to at most `max_cells` cells, and to each at
//!    most `max_per_cell` of every metric (impressions, clicks, orders). Events without a
//!    user key count as one user each (one event, in one cell). So adding or removing one user's whole history
//!    changes the report by at most `sensitivity = max_cells × max_per_cell × 3` in sum.
//! 2. **Noise** ([`Mechanism::release`]): every released count gets independent Laplace
//!    noise of scale `sensitivity / ε` (the difference of two exponential draws of
//!    `rand_distr`), then is rounded to a whole number and floored at 0 (post-processing
//!    spends no privacy).
//! 3. **Thresholding**: a cell appears only if its noisy impressions reach `threshold`, so
//!    which cells exist is protected too. This is what makes the guarantee (ε, δ) rather
//!    than pure ε: a cell only one user fills shows with probability at most
//!    `δ = max_cells × ½ × exp(−(threshold − max_per_cell) / scale)` ([`Mechanism::delta`]).
//!
//! The guarantee, in plain words: whether or not any one user's data is in the report, every
//! possible report is at most `e^ε` times as likely, except with probability `δ`. A
//! consumer's repeated reports add up: the server keeps each consumer's spent ε over a
//! rolling window and refuses a report that would exceed its budget.

use rand::Rng;
use rand_distr::{Distribution, Exp};
use std::collections::{BTreeMap, HashMap};

/// The metrics of a cell: impressions, valid clicks, attributed orders.
pub const METRICS: [&str; 3] = ["impressions", "clicks", "orders"];

/// How much one user may add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Cells one user adds to, at most.
    pub max_cells: usize,
    /// Of each metric, in one cell, at most.
    pub max_per_cell: u64,
}

/// One user's contribution to one cell, as the database groups it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contribution<K> {
    /// The hashed user key (`None`: events without a key, each its own user: added whole).
    pub user: Option<String>,
    /// The cell.
    pub cell: K,
    /// Impressions, clicks, orders.
    pub counts: [u64; 3],
}

/// The true counts per cell after bounding every user's contribution: each user keeps its
/// `max_cells` cells with the most impressions (ties by cell), each count capped.
pub fn bound<K: Ord + Clone>(rows: Vec<Contribution<K>>, bounds: Bounds) -> BTreeMap<K, [u64; 3]> {
    let mut by_user: HashMap<String, Vec<Contribution<K>>> = HashMap::new();
    let mut cells: BTreeMap<K, [u64; 3]> = BTreeMap::new();
    let add = |row: &Contribution<K>, cap: u64, cells: &mut BTreeMap<K, [u64; 3]>| {
        let cell = cells.entry(row.cell.clone()).or_default();
        for (total, count) in cell.iter_mut().zip(row.counts) {
            *total += count.min(cap);
        }
    };
    for row in rows {
        match &row.user {
            Some(user) => by_user.entry(user.clone()).or_default().push(row),
            // Each keyless event is one user's one event: within any bound.
            None => add(&row, u64::MAX, &mut cells),
        }
    }
    for (_, mut rows) in by_user {
        rows.sort_by(|a, b| {
            b.counts[0]
                .cmp(&a.counts[0])
                .then_with(|| a.cell.cmp(&b.cell))
        });
        for row in rows.iter().take(bounds.max_cells) {
            add(row, bounds.max_per_cell, &mut cells);
        }
    }
    cells
}

/// The mechanism's parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mechanism {
    /// The privacy loss ε this release spends.
    pub epsilon: f64,
    /// What one user may add.
    pub bounds: Bounds,
    /// Noisy impressions a cell needs to be released.
    pub threshold: f64,
}

/// A released cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Released<K> {
    /// The cell.
    pub cell: K,
    /// Noisy impressions, clicks, orders (whole numbers, ≥ 0).
    pub counts: [f64; 3],
}

impl Mechanism {
    /// The most one user can change the report by (L1, over every cell and metric).
    pub fn sensitivity(&self) -> f64 {
        self.bounds.max_cells as f64 * self.bounds.max_per_cell as f64 * METRICS.len() as f64
    }

    /// The Laplace scale, `sensitivity / ε`.
    pub fn scale(&self) -> f64 {
        self.sensitivity() / self.epsilon
    }

    /// The δ of the (ε, δ) guarantee the threshold leaves (see the module doc).
    pub fn delta(&self) -> f64 {
        let excess = (self.threshold - self.bounds.max_per_cell as f64).max(0.0);
        (self.bounds.max_cells as f64 * 0.5 * (-excess / self.scale()).exp()).min(1.0)
    }

    /// Noisy counts of `cells`, those under the threshold left out.
    pub fn release<K, R: Rng + ?Sized>(
        &self,
        cells: BTreeMap<K, [u64; 3]>,
        rng: &mut R,
    ) -> Vec<Released<K>> {
        let noise = Laplace::new(self.scale());
        cells
            .into_iter()
            .filter_map(|(cell, counts)| {
                let noisy = counts.map(|c| (c as f64 + noise.sample(rng)).round().max(0.0));
                (noisy[0] >= self.threshold).then_some(Released {
                    cell,
                    counts: noisy,
                })
            })
            .collect()
    }
}

/// Laplace noise of scale `b`: the difference of two exponential draws of rate `1/b`.
#[derive(Debug, Clone, Copy)]
pub struct Laplace {
    exp: Option<Exp<f64>>,
}

impl Laplace {
    /// Noise of scale `scale` (> 0 and finite; otherwise no noise can be drawn and every
    /// draw is infinite, so nothing passes a threshold).
    pub fn new(scale: f64) -> Self {
        Self {
            exp: (scale.is_finite() && scale > 0.0)
                .then(|| Exp::new(1.0 / scale).ok())
                .flatten(),
        }
    }

    /// One draw.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        match &self.exp {
            Some(exp) => exp.sample(rng) - exp.sample(rng),
            None => f64::NEG_INFINITY,
        }
    }
}

/// ε spent by one consumer within the window, and whether `epsilon` more fits `budget`.
pub fn fits(spent: f64, epsilon: f64, budget: f64) -> bool {
    spent.is_finite() && epsilon > 0.0 && spent + epsilon <= budget + 1e-12
}

#[cfg(test)]
mod tests;
