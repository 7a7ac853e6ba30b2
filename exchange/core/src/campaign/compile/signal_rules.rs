//! The campaign fields the signal sources read: contextual rules (minimum relevance,
//! brand-safety exclusions) and LTV payout tiers.

use super::Checker;
use crate::campaign::spec::{ContextSpec, LtvTierSpec};
use crate::campaign::Pricing;
use crate::context::category::Category;

/// Most LTV tiers per campaign.
pub const MAX_LTV_TIERS: usize = 8;
/// Most brand-safety keywords (and categories) per campaign.
pub const MAX_EXCLUSIONS: usize = 256;
/// Largest tier bid multiplier.
pub const MAX_TIER_MULTIPLIER: f64 = 10.0;

/// A campaign's contextual rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContextRules {
    /// Least relevance it bids on (0: any page).
    pub min_relevance: f32,
    /// Page categories it never appears on (a child of one counts).
    pub exclude_categories: Vec<Category>,
    /// Words or phrases whose presence on the page keeps it off (tokenised at index time).
    pub exclude_keywords: Vec<String>,
}

/// One LTV tier, compiled.
#[derive(Debug, Clone, PartialEq)]
pub struct LtvTier {
    /// Name.
    pub name: String,
    /// Least predicted LTV.
    pub min_ltv: f64,
    /// CPS: commission rate in this tier.
    pub commission_rate: Option<f64>,
    /// CPM/CPC: bid multiplier in this tier (1 for CPS).
    pub bid_multiplier: f64,
}

pub(super) fn compile_context(spec: &ContextSpec, check: &mut Checker<'_>) -> ContextRules {
    let min_relevance = spec.min_relevance.unwrap_or(0.0);
    check.require(
        (0.0..=1.0).contains(&min_relevance),
        "context.min_relevance",
        "must be in [0, 1]",
    );
    check.require(
        spec.exclude_categories.len() <= MAX_EXCLUSIONS
            && spec.exclude_keywords.len() <= MAX_EXCLUSIONS,
        "context",
        "at most 256 excluded categories and 256 excluded keywords",
    );
    let mut exclude_categories = Vec::new();
    for (i, code) in spec.exclude_categories.iter().enumerate() {
        match Category::parse(code) {
            Some(category) => exclude_categories.push(category),
            None => check.fail(
                format_args!("context.exclude_categories[{i}]"),
                "use an IAB 1.0 code such as IAB25 or IAB25-3",
            ),
        }
    }
    for (i, word) in spec.exclude_keywords.iter().enumerate() {
        check.require(
            !word.trim().is_empty() && word.len() <= 64,
            format_args!("context.exclude_keywords[{i}]"),
            "need 1 to 64 bytes",
        );
    }
    ContextRules {
        min_relevance: min_relevance as f32,
        exclude_categories,
        exclude_keywords: spec.exclude_keywords.clone(),
    }
}

pub(super) fn compile_tiers(
    specs: &[LtvTierSpec],
    pricing: &Pricing,
    check: &mut Checker<'_>,
) -> Vec<LtvTier> {
    if specs.len() > MAX_LTV_TIERS {
        check.fail("ltv_tiers", "at most 8 tiers");
        return Vec::new();
    }
    let cps = matches!(pricing, Pricing::Cps { .. });
    let mut tiers = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        check.require(
            !spec.name.trim().is_empty() && spec.name.len() <= 32,
            format_args!("ltv_tiers[{i}].name"),
            "need 1 to 32 bytes",
        );
        check.require(
            spec.min_ltv.is_finite() && spec.min_ltv > 0.0 && spec.min_ltv <= 1e9,
            format_args!("ltv_tiers[{i}].min_ltv"),
            "must be in (0, 1e9]",
        );
        if specs[..i].iter().any(|t| t.min_ltv == spec.min_ltv) {
            check.fail(
                format_args!("ltv_tiers[{i}].min_ltv"),
                "two tiers start here",
            );
        }
        let (commission_rate, bid_multiplier) = if cps {
            check.require(
                spec.bid_multiplier.is_none(),
                format_args!("ltv_tiers[{i}].bid_multiplier"),
                "a CPS campaign's tiers set commission_rate",
            );
            let rate = spec.commission_rate.unwrap_or(f64::NAN);
            check.require(
                rate.is_finite() && rate > 0.0 && rate <= 1.0,
                format_args!("ltv_tiers[{i}].commission_rate"),
                "must be in (0, 1]",
            );
            (Some(rate), 1.0)
        } else {
            check.require(
                spec.commission_rate.is_none(),
                format_args!("ltv_tiers[{i}].commission_rate"),
                "CPM and CPC tiers set bid_multiplier",
            );
            let multiplier = spec.bid_multiplier.unwrap_or(f64::NAN);
            check.require(
                multiplier.is_finite() && multiplier > 0.0 && multiplier <= MAX_TIER_MULTIPLIER,
                format_args!("ltv_tiers[{i}].bid_multiplier"),
                "must be in (0, 10]",
            );
            (None, multiplier)
        };
        tiers.push(LtvTier {
            name: spec.name.clone(),
            min_ltv: spec.min_ltv,
            commission_rate,
            bid_multiplier,
        });
    }
    tiers.sort_by(|a, b| b.min_ltv.total_cmp(&a.min_ltv));
    tiers
}

impl LtvTier {
    /// How far this tier raises the campaign's eCPM over its default payout.
    pub fn boost(&self, pricing: &Pricing) -> f64 {
        match (pricing, self.commission_rate) {
            (
                Pricing::Cps {
                    commission_rate, ..
                },
                Some(rate),
            ) => rate / commission_rate,
            _ => self.bid_multiplier,
        }
    }
}
