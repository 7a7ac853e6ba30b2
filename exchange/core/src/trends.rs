//! Trends: which page topics are rising over the traffic, and the bounded lift they give
//! the products that match them (选品's "what is hot now").
//!
//! A topic is a term of the snapshot's vocabulary (a campaign keyword or a lexicon term)
//! that a page reads as one of its strongest. Each page counts each of its topics once.
//! Counts decay twice: a recent window (`recent_half_life_hours`, 6 h by default) and a
//! baseline (`baseline_half_life_hours`, 30 days), over the pages of the same windows. A
//! topic's ratio is its recent share of pages, smoothed toward its baseline share by
//! `prior_pages` pseudo-pages, over its baseline share: 1 for a topic as common as usual,
//! 3 for one three times as common lately. It trends at `min_ratio` (1.8) with at least
//! `min_pages` recent pages; its strength grows from 0.1 there to 1 at `full_ratio` (4).
//! A lasting shift becomes the new baseline: it trends while it rises and for a while
//! after, not for ever.
//!
//! A campaign's lift is `1 + (max_lift − 1) × min(1, Σ weight × strength)` over the
//! trending terms of its keyword document (normalised weights, as relevance uses them):
//! at most `max_lift`, and exactly 1 when nothing trends. Pure: the server counts topics on
//! the request path and folds them here (`exchange::serving::trending`).

pub mod simulation;

use crate::index::Snapshot;
use std::collections::HashMap;

/// Topics a page counts at most (its strongest terms).
pub const TOPICS_PER_PAGE: usize = 8;
/// A topic whose baseline count decayed below this is forgotten.
const FORGOTTEN: f64 = 0.05;

/// How trends are read and how much they lift.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrendSettings {
    /// Half-life of the recent window, hours.
    pub recent_half_life_hours: f64,
    /// Half-life of the baseline, hours.
    pub baseline_half_life_hours: f64,
    /// A topic trends when its recent share is at least this × its baseline share.
    pub min_ratio: f64,
    /// The ratio at which a trend's strength is full.
    pub full_ratio: f64,
    /// Recent (decayed) pages a topic needs to trend.
    pub min_pages: f64,
    /// Pseudo-pages smoothing a topic's recent share toward its baseline share.
    pub prior_pages: f64,
    /// The largest pCTR lift trends give a product.
    pub max_lift: f64,
}

impl Default for TrendSettings {
    fn default() -> Self {
        Self {
            recent_half_life_hours: 6.0,
            baseline_half_life_hours: 720.0,
            min_ratio: 1.8,
            full_ratio: 4.0,
            min_pages: 30.0,
            prior_pages: 200.0,
            max_lift: 1.2,
        }
    }
}

/// One topic's numbers.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Trend {
    /// The topic (a term of the vocabulary).
    pub topic: String,
    /// Recent pages with it (decayed).
    pub recent_pages: f64,
    /// Baseline pages with it (decayed).
    pub baseline_pages: f64,
    /// Its share of recent pages, smoothed toward the baseline share.
    pub recent_share: f64,
    /// Its share of baseline pages.
    pub baseline_share: f64,
    /// `recent_share / baseline_share`.
    pub ratio: f64,
    /// 0 below `min_ratio` (or `min_pages`), rising to 1 at `full_ratio`.
    pub strength: f64,
}

/// Decayed page counts per topic, recent and baseline, and the pages they are out of.
#[derive(Debug, Clone, Default)]
pub struct TopicCounts {
    topics: HashMap<String, (f64, f64)>,
    recent_pages: f64,
    baseline_pages: f64,
    as_of_ms: i64,
}

fn halving(elapsed_ms: i64, half_life_hours: f64) -> f64 {
    let hours = elapsed_ms.max(0) as f64 / 3_600_000.0;
    0.5f64.powf(hours / half_life_hours.max(1e-9))
}

impl TopicCounts {
    /// Adds `pages` pages seen up to `at_ms`, of which `topics` counts those with each
    /// topic; both windows decay to `at_ms` first.
    pub fn add(
        &mut self,
        topics: &[(String, u64)],
        pages: u64,
        at_ms: i64,
        settings: &TrendSettings,
    ) {
        if self.as_of_ms > 0 {
            let elapsed = at_ms - self.as_of_ms;
            let recent = halving(elapsed, settings.recent_half_life_hours);
            let baseline = halving(elapsed, settings.baseline_half_life_hours);
            self.recent_pages *= recent;
            self.baseline_pages *= baseline;
            self.topics.retain(|_, (r, b)| {
                *r *= recent;
                *b *= baseline;
                *b >= FORGOTTEN
            });
        }
        self.as_of_ms = self.as_of_ms.max(at_ms);
        self.recent_pages += pages as f64;
        self.baseline_pages += pages as f64;
        for (topic, n) in topics {
            let counts = self.topics.entry(topic.clone()).or_insert((0.0, 0.0));
            counts.0 += *n as f64;
            counts.1 += *n as f64;
        }
    }

    /// Topics held.
    pub fn len(&self) -> usize {
        self.topics.len()
    }

    /// No topic held.
    pub fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }

    /// Recent and baseline pages (decayed).
    pub fn pages(&self) -> (f64, f64) {
        (self.recent_pages, self.baseline_pages)
    }

    /// The numbers of `topic`, trending or not (`None`: never seen, or forgotten).
    pub fn topic(&self, topic: &str, settings: &TrendSettings) -> Option<Trend> {
        let &(recent, baseline) = self.topics.get(topic)?;
        Some(self.trend(topic, recent, baseline, settings))
    }

    fn trend(&self, topic: &str, recent: f64, baseline: f64, settings: &TrendSettings) -> Trend {
        let baseline_share = if self.baseline_pages > 0.0 {
            (baseline / self.baseline_pages).min(1.0)
        } else {
            0.0
        };
        let prior = settings.prior_pages.max(0.0);
        let recent_share =
            (recent + prior * baseline_share) / (self.recent_pages + prior).max(1e-9);
        let ratio = if baseline_share > 0.0 {
            recent_share / baseline_share
        } else {
            1.0
        };
        let strength = if recent >= settings.min_pages && ratio >= settings.min_ratio {
            let span = (settings.full_ratio - settings.min_ratio).max(1e-9);
            // Trending at all counts for something: from a tenth at `min_ratio` to 1.
            (0.1 + 0.9 * (ratio - settings.min_ratio) / span).min(1.0)
        } else {
            0.0
        };
        Trend {
            topic: topic.to_owned(),
            recent_pages: recent,
            baseline_pages: baseline,
            recent_share,
            baseline_share,
            ratio,
            strength,
        }
    }

    /// Every trending topic, strongest rise first (ties: more recent pages first).
    pub fn trends(&self, settings: &TrendSettings) -> Vec<Trend> {
        let mut out: Vec<Trend> = self
            .topics
            .iter()
            .map(|(topic, &(recent, baseline))| self.trend(topic, recent, baseline, settings))
            .filter(|t| t.strength > 0.0)
            .collect();
        out.sort_by(|a, b| {
            b.ratio
                .total_cmp(&a.ratio)
                .then(b.recent_pages.total_cmp(&a.recent_pages))
                .then(a.topic.cmp(&b.topic))
        });
        out
    }
}

/// The lift trending topics give each campaign of one snapshot, by dense id.
#[derive(Debug, Clone, Default)]
pub struct TrendLifts {
    by_id: Vec<f32>,
    max: f64,
}

impl TrendLifts {
    /// Nothing trends: every lift 1.
    pub fn none() -> Self {
        Self {
            by_id: Vec::new(),
            max: 1.0,
        }
    }

    /// The lifts of `snapshot`'s campaigns under `trends`.
    pub fn build(snapshot: &Snapshot, trends: &[Trend], settings: &TrendSettings) -> Self {
        let index = &snapshot.context;
        let mut strength: HashMap<crate::context::index::TermId, f64> = HashMap::new();
        for trend in trends.iter().filter(|t| t.strength > 0.0) {
            if let Some(id) = index.term(&trend.topic) {
                let entry = strength.entry(id).or_insert(0.0);
                *entry = entry.max(trend.strength);
            }
        }
        if strength.is_empty() {
            return Self::none();
        }
        let extra = (settings.max_lift - 1.0).clamp(0.0, 1.0);
        let by_id: Vec<f32> = (0..snapshot.campaigns.len())
            .map(|id| {
                let matched: f64 = index
                    .document(id)
                    .iter()
                    .filter_map(|(term, weight)| strength.get(term).map(|s| f64::from(*weight) * s))
                    .sum();
                (1.0 + extra * matched.clamp(0.0, 1.0)) as f32
            })
            .collect();
        let max = by_id.iter().copied().fold(1.0f32, f32::max);
        Self {
            by_id,
            max: f64::from(max),
        }
    }

    /// Campaign `id`'s lift (1 when nothing it is about trends).
    pub fn lift(&self, id: usize) -> f64 {
        self.by_id.get(id).map_or(1.0, |&l| f64::from(l))
    }

    /// The largest lift (≥ 1).
    pub fn max(&self) -> f64 {
        self.max.max(1.0)
    }
}

#[cfg(test)]
mod tests;
