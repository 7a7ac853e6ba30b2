//! Helpers for tests of this crate and of the crates built on it (feature `testing`).

use crate::campaign::{Campaign, ListFilter, Pricing};

/// A minimal active campaign `c` of advertiser `a` priced by `pricing`: no targeting,
/// no budget, no cap, one banner creative.
pub fn campaign(pricing: Pricing) -> Campaign {
    Campaign {
        id: "c".into(),
        name: "c".into(),
        advertiser: "a".into(),
        adomain: vec![],
        cat: vec![],
        vertical: None,
        keywords: vec![],
        bundle: None,
        language: None,
        active: true,
        pricing,
        base_ctr: 0.01,
        base_cvr: 0.05,
        daily_budget_micros: None,
        total_budget_micros: None,
        pacing: crate::campaign::PacingMode::Even,
        frequency_cap: None,
        flight: None,
        utc_offset_secs: 0,
        countries: vec![],
        regions: vec![],
        device_classes: vec![],
        os: vec![],
        sites: ListFilter::default(),
        apps: ListFilter::default(),
        publishers: ListFilter::default(),
        page_categories: vec![],
        targeting_keywords: vec![],
        languages: vec![],
        daypart_hours: None,
        creatives: vec![],
        context: Default::default(),
        ltv_tiers: vec![],
        attribution: crate::campaign::Attribution {
            click_id_param: "click_id".into(),
            window_secs: 7 * 86_400,
            view_through_secs: None,
        },
        commission: crate::commission::CommissionRules::default(),
    }
}
