//! `[context]` (contextual relevance) and `[ltv]` (lifetime value) settings.

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
