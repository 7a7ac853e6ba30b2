//! Builds a [`Snapshot`] from compiled campaigns. Pure and synchronous: callers run it
//! on a blocking thread and swap the result in.

use super::dimension::DimensionBuilder;
use super::{Size, Snapshot};
use crate::campaign::{Campaign, CreativeKind};
use crate::context::index::ContextIndex;
use crate::context::lexicon::Lexicon;
use crate::scoring::{score, Signals};
use fixedbitset::FixedBitSet;
use std::collections::BTreeSet;

/// Indexes `campaigns` as snapshot `version`, ordering them by descending neutral eCPM
/// (ties by id, so the order is deterministic).
pub fn build(campaigns: Vec<Campaign>, version: u64, source: String) -> Snapshot {
    build_with(campaigns, Lexicon::default(), version, source)
}

/// Builds a snapshot whose contextual index carries `lexicon`.
pub fn build_with(
    campaigns: Vec<Campaign>,
    lexicon: Lexicon,
    version: u64,
    source: String,
) -> Snapshot {
    let (campaigns, base_ecpm) = order_by_value(campaigns);
    let len = campaigns.len();
    let mut active = FixedBitSet::with_capacity(len);
    let mut country = DimensionBuilder::new(len);
    let mut device_type = DimensionBuilder::new(len);
    let mut os = DimensionBuilder::new(len);
    let mut language = DimensionBuilder::new(len);
    let mut keyword = DimensionBuilder::new(len);
    let mut banner_size = DimensionBuilder::<Size>::new(len);
    let mut any_banner = FixedBitSet::with_capacity(len);
    let mut any_native = FixedBitSet::with_capacity(len);
    let mut sizes = BTreeSet::new();

    for (position, campaign) in campaigns.iter().enumerate() {
        let id = position as u32;
        if campaign.active && !campaign.creatives.is_empty() {
            active.insert(position);
        }
        index_list(&mut country, &campaign.countries, id);
        if campaign.device_classes.is_empty() {
            device_type.unconstrained(id);
        }
        for class in &campaign.device_classes {
            for &device in class.device_types() {
                device_type.add(&device, id);
            }
        }
        index_list(&mut os, &campaign.os, id);
        index_list(&mut language, &campaign.languages, id);
        index_list(&mut keyword, &campaign.targeting_keywords, id);
        for creative in &campaign.creatives {
            match creative.kind {
                CreativeKind::Banner => {
                    any_banner.insert(position);
                    banner_size.add(&(creative.w, creative.h), id);
                    sizes.insert((creative.w, creative.h));
                }
                CreativeKind::Native => any_native.insert(position),
            }
        }
    }
    Snapshot {
        version,
        source,
        active,
        country: country.finish(),
        device_type: device_type.finish(),
        os: os.finish(),
        language: language.finish(),
        keyword: keyword.finish(),
        banner_size: banner_size.finish(),
        any_banner,
        any_native,
        banner_sizes: sizes.into_iter().collect(),
        ids: campaigns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.clone(), i as u32))
            .collect(),
        any_frequency_cap: campaigns
            .iter()
            .any(|c| c.active && c.frequency_cap.is_some()),
        any_view_through: campaigns
            .iter()
            .any(|c| c.active && c.attribution.view_through_secs.is_some()),
        max_tier_boost: campaigns
            .iter()
            .flat_map(|c| {
                c.ltv_tiers
                    .iter()
                    .map(|t| t.boost(&c.pricing))
                    .chain(repurchase_boost(c))
            })
            .fold(1.0, f64::max),
        any_ltv_tiers: campaigns
            .iter()
            .any(|c| c.active && !c.ltv_tiers.is_empty()),
        context: ContextIndex::build(&campaigns, lexicon),
        campaigns,
        base_ecpm,
        publishers: crate::publishers::Registry::default(),
        ads_txt: crate::ads_txt::Table::default(),
    }
}

/// Campaigns sorted by descending neutral eCPM (ties by id), with those eCPMs. Each
/// score is computed once; positions are sorted, then the campaigns moved into place.
fn order_by_value(campaigns: Vec<Campaign>) -> (Vec<Campaign>, Vec<f64>) {
    let values: Vec<f64> = campaigns
        .iter()
        .map(|c| score(c, Signals::NEUTRAL).ecpm)
        .collect();
    let mut order: Vec<usize> = (0..campaigns.len()).collect();
    order.sort_unstable_by(|&a, &b| {
        values[b]
            .total_cmp(&values[a])
            .then_with(|| campaigns[a].id.cmp(&campaigns[b].id))
    });
    let mut slots: Vec<Option<Campaign>> = campaigns.into_iter().map(Some).collect();
    let sorted = order.iter().filter_map(|&i| slots[i].take()).collect();
    (sorted, order.iter().map(|&i| values[i]).collect())
}

fn index_list(builder: &mut DimensionBuilder<String>, values: &[String], id: u32) {
    if values.is_empty() {
        builder.unconstrained(id);
    }
    for value in values {
        builder.add(value.as_str(), id);
    }
}

/// How far a repurchase can raise a CPS campaign's expected rate over its base rate (what
/// its neutral eCPM uses): part of the bound on what user signals lift.
fn repurchase_boost(campaign: &Campaign) -> Option<f64> {
    let ppm = campaign.commission.repurchase_ppm()?;
    match campaign.pricing {
        crate::campaign::Pricing::Cps {
            commission_rate, ..
        } if commission_rate > 0.0 => Some(f64::from(ppm) / 1e6 / commission_rate),
        _ => None,
    }
}
