//! The campaign index: an immutable [`Snapshot`] of compiled campaigns plus posting lists
//! per targeting dimension, built off the request path and swapped whole.
//!
//! Campaigns get dense `u32` ids in descending neutral eCPM (see `decision`). Each dimension (country, device type,
//! OS, language, page keyword, banner size) maps a key to the campaigns that target it,
//! plus a bitset of campaigns that do not constrain that dimension. A request turns into
//! one bitset per dimension; their intersection is the candidate set, computed in a few
//! hundred word operations instead of a scan over every campaign.

mod build;
mod dimension;

pub use build::{build, build_with};
pub use dimension::Dimension;

use crate::campaign::Campaign;
use fixedbitset::FixedBitSet;

/// A banner size in pixels.
pub type Size = (u32, u32);

/// One immutable, fully built campaign index.
#[derive(Debug)]
pub struct Snapshot {
    /// Increases by one with each successful load.
    pub version: u64,
    /// Where the campaigns came from (for logs and `/readyz`).
    pub source: String,
    /// Campaigns in descending neutral eCPM; a campaign's dense id is its position here,
    /// so iterating a candidate bitset visits the most valuable campaigns first.
    pub campaigns: Vec<Campaign>,
    /// Neutral (signal-free) eCPM of each campaign, non-increasing by dense id.
    pub base_ecpm: Vec<f64>,
    /// Active campaigns that have at least one creative.
    pub active: FixedBitSet,
    /// Target countries (upper-case alpha-3).
    pub country: Dimension<String>,
    /// Target OpenRTB device types.
    pub device_type: Dimension<i32>,
    /// Target operating systems.
    pub os: Dimension<String>,
    /// Target languages.
    pub language: Dimension<String>,
    /// Required page keywords.
    pub keyword: Dimension<String>,
    /// Campaigns with a banner creative of a given size (nothing is unconstrained).
    pub banner_size: Dimension<Size>,
    /// Campaigns with any banner creative.
    pub any_banner: FixedBitSet,
    /// Campaigns with a native creative.
    pub any_native: FixedBitSet,
    /// Every banner size some creative has, sorted.
    pub banner_sizes: Vec<Size>,
    /// Some active campaign has a frequency cap (else the request path reads no counters).
    pub any_frequency_cap: bool,
    /// Some active campaign allows view-through attribution (its impressions then carry
    /// the user key, where the request allows using user data).
    pub any_view_through: bool,
    /// Dense id of each campaign id (notices name campaigns by id).
    pub ids: std::collections::HashMap<String, u32>,
    /// Keyword documents, ad categories, brand-safety phrases and the lexicon.
    pub context: crate::context::index::ContextIndex,
    /// Largest factor any campaign's LTV tier raises its eCPM by (1 without tiers).
    pub max_tier_boost: f64,
    /// Some active campaign pays by LTV tier (else no user history is read for it).
    pub any_ltv_tiers: bool,
    /// The publisher registry read with the campaigns (empty: none configured).
    pub publishers: crate::publishers::Registry,
    /// The ads.txt / app-ads.txt lines naming the exchange, read with the registry (empty:
    /// no folder configured, nothing checked).
    pub ads_txt: crate::ads_txt::Table,
}

impl Snapshot {
    /// The campaign with id `id`, if this snapshot has it.
    pub fn campaign(&self, id: &str) -> Option<&Campaign> {
        self.ids.get(id).map(|&i| &self.campaigns[i as usize])
    }

    /// Number of campaigns (active or not).
    pub fn len(&self) -> usize {
        self.campaigns.len()
    }

    /// True when no campaign is loaded.
    pub fn is_empty(&self) -> bool {
        self.campaigns.is_empty()
    }

    /// Number of creatives across campaigns.
    pub fn creative_count(&self) -> usize {
        self.campaigns.iter().map(|c| c.creatives.len()).sum()
    }
}
