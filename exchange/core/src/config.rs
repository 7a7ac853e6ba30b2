//! The slice of the exchange's settings the auction reads: its rules, the currencies, each
//! bidder's terms, the context and LTV weights. The server builds it from its whole
//! configuration once (`ExchangeConfig::auction_config`); nothing here knows about
//! listeners, stores or files.

use serde::Deserialize;
use std::collections::BTreeMap;

/// Rules of the auction.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuctionRules {
    /// Auction type when a request gives none or an unknown one: 1 first price, 2 second.
    pub default_auction_type: i32,
    /// Second price: the winner pays the runner-up plus this, in `currency` CPM.
    pub min_increment: f64,
    /// Exchange-wide floor CPM, applied with `imp.bidfloor` (the higher wins).
    pub floor_cpm: f64,
    /// How many imps of one request one campaign may win.
    pub max_wins_per_campaign: u32,
    /// Seconds a bid stays valid (`bid.exp`).
    pub bid_expiry_secs: i64,
}

impl Default for AuctionRules {
    fn default() -> Self {
        Self {
            default_auction_type: 2,
            min_increment: 0.01,
            floor_cpm: 0.0,
            max_wins_per_campaign: 1,
            bid_expiry_secs: 300,
        }
    }
}

/// How the page is read and how much relevance weighs (`[context]` without its file).
#[derive(Debug, Clone, PartialEq)]
pub struct ContextWeights {
    /// pCTR × (1 + lift × relevance).
    pub relevance_lift: f64,
    /// Weight of the category match in relevance, [0, 1].
    pub category_weight: f64,
    /// Exponent of the quality weight internal campaigns rank by (0: eCPM alone).
    pub quality_weight: f64,
    /// Quality of a campaign of relevance 0, (0, 1].
    pub quality_floor: f64,
    /// pCTR × (1 + interest_lift × fit of the user's declared interests) (with consent).
    pub interest_lift: f64,
    /// pCVR × this for a member (`user.ext.member`, with consent); 1: off.
    pub member_cvr_lift: f64,
    /// Most page terms read per request.
    pub max_terms: usize,
    /// Never read user data (purchase history, LTV): contextual signals only.
    pub contextual_only: bool,
}

impl Default for ContextWeights {
    fn default() -> Self {
        Self {
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

/// What the auction needs of one external bidder.
#[derive(Debug, Clone, PartialEq)]
pub struct BidderTerms {
    /// Bidder name (the seat of its bids).
    pub name: String,
    /// Multiplier applied to its bids before they compete.
    pub bid_adjustment: f64,
    /// Currency it bids in.
    pub currency: String,
    /// Test bidder: its bids are screened and reported, never served.
    pub test: bool,
    /// Its IAB TCF vendor id, if configured.
    pub tcf_vendor_id: Option<u16>,
}

/// The auction's settings.
#[derive(Debug, Clone)]
pub struct AuctionConfig {
    /// The exchange currency (ISO 4217): campaigns, floors and spend are in it.
    pub currency: String,
    /// Units of each other currency per unit of the exchange currency.
    pub fx_rates: BTreeMap<String, f64>,
    /// Auction rules.
    pub auction: AuctionRules,
    /// Context weights.
    pub context: ContextWeights,
    /// Predicted LTV = expected spend over this many weeks.
    pub ltv_horizon_weeks: f64,
    /// External bidders, by index (as the fan-out numbers them).
    pub bidders: Vec<BidderTerms>,
    /// Learned rates: their priors, bound and exploration (`[learning]`).
    pub learning: crate::learning::LearningSettings,
    /// How consent is read and enforced.
    pub privacy: crate::privacy::PrivacySettings,
}

impl Default for AuctionConfig {
    fn default() -> Self {
        Self {
            currency: "USD".into(),
            fx_rates: BTreeMap::new(),
            auction: AuctionRules::default(),
            context: ContextWeights::default(),
            ltv_horizon_weeks: 52.0,
            bidders: Vec::new(),
            learning: crate::learning::LearningSettings::default(),
            privacy: crate::privacy::PrivacySettings::default(),
        }
    }
}

impl AuctionConfig {
    /// Units of `code` per unit of the exchange currency, if known.
    pub fn rate_of(&self, code: &str) -> Option<f64> {
        rate_of(&self.currency, &self.fx_rates, code)
    }
}

/// Units of `code` per unit of `currency`, given the rates of the other currencies.
pub fn rate_of(currency: &str, fx_rates: &BTreeMap<String, f64>, code: &str) -> Option<f64> {
    if code.eq_ignore_ascii_case(currency) {
        return Some(1.0);
    }
    fx_rates
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(code))
        .map(|(_, rate)| *rate)
}
