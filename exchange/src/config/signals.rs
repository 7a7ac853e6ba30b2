//! `[context]` (contextual relevance), `[ltv]` (lifetime value), `[learning]` (rates
//! learned from outcomes) and `[trends]` (rising page topics) settings.

use serde::Deserialize;
use std::path::PathBuf;

/// `[context]`: how the page's content enters the auction.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContextConfig {
    /// Lexicon file (synonyms, need → product links, taxonomy maps), relative to the
    /// config file's folder; loaded and swapped with the campaign snapshot. Absent: none.
    pub lexicon: Option<PathBuf>,
    /// Semantic resource (related words: `word<TAB>neighbour:similarity …`), relative to
    /// the config file's folder; read once at start. Absent: none.
    pub semantic: Option<PathBuf>,
    /// pCTR is multiplied by `1 + relevance_lift × relevance` (relevance 0..=1); 0 turns
    /// contextual lift off. Default 1 (a fully relevant ad's pCTR doubles). At most 10.
    pub relevance_lift: f64,
    /// Weight of the category match against the keyword match, 0..=1. Default 0.6.
    pub category_weight: f64,
    /// Exponent `w` of the quality weight every internal campaign ranks by when the page
    /// was read: rank = eCPM × (quality_floor + (1 − quality_floor) × relevance)^w; the
    /// winner never pays more than its eCPM. 0 (the default) ranks by eCPM alone; the sample config uses 2. At most 4.
    pub quality_weight: f64,
    /// The quality of a campaign the page is not relevant to at all, (0, 1]. Default 0.05.
    pub quality_floor: f64,
    /// pCTR is also multiplied by `1 + interest_lift × fit` of the user's declared
    /// interests (`user.keywords`, `user.data` segments, `user.ext.interests`), when user
    /// data may be used. Default 0.5, at most 2; 0 ignores them.
    pub interest_lift: f64,
    /// pCVR multiplier for a member (`user.ext.member: true`), when user data may be used.
    /// Default 1 (off), 1..=3.
    pub member_cvr_lift: f64,
    /// Most page terms read per request (1..=1024). Default 256.
    pub max_terms: usize,
    /// Never use user data (LTV history, publisher signals) in the auction: contextual
    /// only for every request. Default false (requests without consent are contextual
    /// only anyway).
    pub contextual_only: bool,
}

impl Default for ContextConfig {
    fn default() -> Self {
        Self {
            lexicon: None,
            semantic: None,
            relevance_lift: 1.0,
            category_weight: 0.6,
            quality_weight: 0.0,
            quality_floor: 0.05,
            interest_lift: 0.5,
            member_cvr_lift: 1.0,
            max_terms: 256,
            contextual_only: false,
        }
    }
}

impl ContextConfig {
    /// Checks ranges; the error names the field.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let fail =
            |field: &str, message: &str| Err((format!("context.{field}"), message.to_owned()));
        if !(self.relevance_lift.is_finite() && (0.0..=10.0).contains(&self.relevance_lift)) {
            return fail("relevance_lift", "must be in [0, 10]");
        }
        if !(self.category_weight.is_finite() && (0.0..=1.0).contains(&self.category_weight)) {
            return fail("category_weight", "must be in [0, 1]");
        }
        if !(self.quality_weight.is_finite() && (0.0..=4.0).contains(&self.quality_weight)) {
            return fail("quality_weight", "must be in [0, 4]");
        }
        if !(self.quality_floor.is_finite()
            && self.quality_floor > 0.0
            && self.quality_floor <= 1.0)
        {
            return fail("quality_floor", "must be in (0, 1]");
        }
        if !(self.interest_lift.is_finite() && (0.0..=2.0).contains(&self.interest_lift)) {
            return fail("interest_lift", "must be in [0, 2]");
        }
        if !(self.member_cvr_lift.is_finite() && (1.0..=3.0).contains(&self.member_cvr_lift)) {
            return fail("member_cvr_lift", "must be in [1, 3]");
        }
        if !(1..=1024).contains(&self.max_terms) {
            return fail("max_terms", "must be in 1..=1024");
        }
        Ok(())
    }
}

/// `[ltv]`: the lifetime-value model file and horizon.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LtvConfig {
    /// Model file written by `exchange train-ltv`, relative to the config file's folder;
    /// absent: no model (LTV tiers never apply).
    pub model: Option<PathBuf>,
    /// Predicted LTV is the expected spend over this many weeks (1..=520). Default 52.
    pub horizon_weeks: f64,
    /// How long a seeded or written purchase history lives in the store, days
    /// (1..=3650). Default 400.
    pub history_ttl_days: u64,
}

impl Default for LtvConfig {
    fn default() -> Self {
        Self {
            model: None,
            horizon_weeks: 52.0,
            history_ttl_days: 400,
        }
    }
}

impl LtvConfig {
    /// Checks ranges; the error names the field.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let fail = |field: &str, message: &str| Err((format!("ltv.{field}"), message.to_owned()));
        if !(self.horizon_weeks.is_finite() && (1.0..=520.0).contains(&self.horizon_weeks)) {
            return fail("horizon_weeks", "must be in [1, 520]");
        }
        if !(1..=3650).contains(&self.history_ttl_days) {
            return fail("history_ttl_days", "must be in 1..=3650");
        }
        Ok(())
    }
}

/// `[learning]`: pCTR and pCVR learned from served impressions, clicks and orders
/// (`exchange_core::learning`; counted from the affiliate database by
/// `crate::learning`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LearningConfig {
    /// Learn and apply. Default true (until outcomes are counted every lift is exactly 1).
    pub enabled: bool,
    /// Seconds between two counts of new outcomes, each republishing the rates (1..=3600).
    /// Default 60.
    pub refresh_secs: u64,
    /// Half-life of an outcome's weight, hours (1..=8760). Default 168 (a week).
    pub half_life_hours: f64,
    /// How far counting trails the clock, ms (0..=600000): longer than a click batch
    /// takes to reach the database, so no row lands in a range already counted. Default
    /// 10000.
    pub settle_ms: u64,
    /// Pseudo-impressions behind a campaign's declared `base_ctr` (1..=10⁷). Default 2000.
    pub ctr_prior: f64,
    /// Pseudo-clicks behind a campaign's declared `base_cvr` (1..=10⁷). Default 100.
    pub cvr_prior: f64,
    /// Pseudo-impressions behind a campaign's rate on one page category (1..=10⁷).
    /// Default 1000.
    pub category_prior: f64,
    /// Largest factor between a learned and a declared rate, each way (1..=20). Default 4.
    pub max_lift: f64,
    /// Thompson-sampling exploration: standard deviations of spread in each request's
    /// draw (0..=3; 0 ranks by the posterior mean, no randomness). Default 0; the sample
    /// config uses 1 (`docs/intent.md` "Learning from outcomes" has the trade-off).
    pub explore: f64,
}

impl Default for LearningConfig {
    fn default() -> Self {
        let core = exchange_core::learning::LearningSettings::default();
        Self {
            enabled: true,
            refresh_secs: 60,
            half_life_hours: 168.0,
            settle_ms: 10_000,
            ctr_prior: core.ctr_prior,
            cvr_prior: core.cvr_prior,
            category_prior: core.category_prior,
            max_lift: core.max_lift,
            explore: core.explore,
        }
    }
}

impl LearningConfig {
    /// Checks ranges; the error names the field.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let fail =
            |field: &str, message: &str| Err((format!("learning.{field}"), message.to_owned()));
        let within = |x: f64, low: f64, high: f64| x.is_finite() && (low..=high).contains(&x);
        if !(1..=3600).contains(&self.refresh_secs) {
            return fail("refresh_secs", "must be in 1..=3600");
        }
        if self.settle_ms > 600_000 {
            return fail("settle_ms", "must be in 0..=600000");
        }
        if !within(self.half_life_hours, 1.0, 8760.0) {
            return fail("half_life_hours", "must be in [1, 8760]");
        }
        for (field, value) in [
            ("ctr_prior", self.ctr_prior),
            ("cvr_prior", self.cvr_prior),
            ("category_prior", self.category_prior),
        ] {
            if !within(value, 1.0, 1e7) {
                return fail(field, "must be in [1, 10000000]");
            }
        }
        if !within(self.max_lift, 1.0, 20.0) {
            return fail("max_lift", "must be in [1, 20]");
        }
        if !within(self.explore, 0.0, 3.0) {
            return fail("explore", "must be in [0, 3]");
        }
        Ok(())
    }

    /// The core's settings.
    pub fn settings(&self) -> exchange_core::learning::LearningSettings {
        exchange_core::learning::LearningSettings {
            ctr_prior: self.ctr_prior,
            cvr_prior: self.cvr_prior,
            category_prior: self.category_prior,
            max_lift: self.max_lift,
            explore: self.explore,
        }
    }
}

/// `[trends]`: page topics rising over the traffic (`exchange_core::trends`), counted on
/// the request path and folded every `window_secs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrendsConfig {
    /// Count topics and lift products of trending ones. Default true.
    pub enabled: bool,
    /// Seconds between two folds of the counted topics (1..=3600). Default 60.
    pub window_secs: u64,
    /// Half-life of the recent window, hours (0.1..=168). Default 6.
    pub recent_half_life_hours: f64,
    /// Half-life of the baseline, hours (more than the recent one, ..=8760). Default 720.
    pub baseline_half_life_hours: f64,
    /// A topic trends at this ratio of recent to baseline share (1..=100). Default 1.8.
    pub min_ratio: f64,
    /// The ratio at which a trend's lift is full (more than `min_ratio`, ..=1000).
    /// Default 4.
    pub full_ratio: f64,
    /// Recent (decayed) pages a topic needs to trend (0..=10⁹). Default 30.
    pub min_pages: f64,
    /// Pseudo-pages smoothing a topic's recent share toward its baseline (0..=10⁹).
    /// Default 200.
    pub prior_pages: f64,
    /// The largest pCTR lift trends give a product (1..=2; 1: report trends, lift
    /// nothing). Default 1.2.
    pub max_lift: f64,
}

impl Default for TrendsConfig {
    fn default() -> Self {
        let core = exchange_core::trends::TrendSettings::default();
        Self {
            enabled: true,
            window_secs: 60,
            recent_half_life_hours: core.recent_half_life_hours,
            baseline_half_life_hours: core.baseline_half_life_hours,
            min_ratio: core.min_ratio,
            full_ratio: core.full_ratio,
            min_pages: core.min_pages,
            prior_pages: core.prior_pages,
            max_lift: core.max_lift,
        }
    }
}

impl TrendsConfig {
    /// Checks ranges; the error names the field.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let fail =
            |field: &str, message: &str| Err((format!("trends.{field}"), message.to_owned()));
        let within = |x: f64, low: f64, high: f64| x.is_finite() && (low..=high).contains(&x);
        if !(1..=3600).contains(&self.window_secs) {
            return fail("window_secs", "must be in 1..=3600");
        }
        if !within(self.recent_half_life_hours, 0.1, 168.0) {
            return fail("recent_half_life_hours", "must be in [0.1, 168]");
        }
        if !within(self.baseline_half_life_hours, 0.1, 8760.0)
            || self.baseline_half_life_hours <= self.recent_half_life_hours
        {
            return fail(
                "baseline_half_life_hours",
                "must be in [0.1, 8760] and above recent_half_life_hours",
            );
        }
        if !within(self.min_ratio, 1.0, 100.0) {
            return fail("min_ratio", "must be in [1, 100]");
        }
        if !within(self.full_ratio, 1.0, 1000.0) || self.full_ratio <= self.min_ratio {
            return fail("full_ratio", "must be in [1, 1000] and above min_ratio");
        }
        if !within(self.min_pages, 0.0, 1e9) {
            return fail("min_pages", "must be in [0, 1000000000]");
        }
        if !within(self.prior_pages, 0.0, 1e9) {
            return fail("prior_pages", "must be in [0, 1000000000]");
        }
        if !within(self.max_lift, 1.0, 2.0) {
            return fail("max_lift", "must be in [1, 2]");
        }
        Ok(())
    }

    /// The core's settings.
    pub fn settings(&self) -> exchange_core::trends::TrendSettings {
        exchange_core::trends::TrendSettings {
            recent_half_life_hours: self.recent_half_life_hours,
            baseline_half_life_hours: self.baseline_half_life_hours,
            min_ratio: self.min_ratio,
            full_ratio: self.full_ratio,
            min_pages: self.min_pages,
            prior_pages: self.prior_pages,
            max_lift: self.max_lift,
        }
    }
}
