//! Per-campaign eligibility checks that the index's bitsets do not cover, and the
//! reasons a campaign can be filtered out (cheap `Copy` values, used as metric labels
//! and in the debug view).

use crate::campaign::{Campaign, Creative, CreativeKind};
use crate::features::{ImpFeatures, RequestFeatures};
use crate::index::Snapshot;

/// Why a campaign did not take part in (or lost) an imp's auction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FilterReason {
    /// Paused or without creatives.
    Inactive,
    /// Outside its flight dates.
    Flight,
    /// Outside its day-parts.
    Daypart,
    /// Country not targeted.
    Country,
    /// Region not targeted.
    Region,
    /// Device type not targeted.
    DeviceType,
    /// OS not targeted.
    Os,
    /// Language not targeted.
    Language,
    /// None of the required page keywords present.
    Keyword,
    /// Site domain not allowed.
    Site,
    /// App bundle not allowed.
    App,
    /// Publisher not allowed.
    Publisher,
    /// Page category not targeted.
    PageCategory,
    /// The ad's category is in `bcat`.
    BlockedCategory,
    /// The advertiser domain is in `badv`.
    BlockedAdvertiser,
    /// The advertised app is in `bapp`.
    BlockedApp,
    /// Seat excluded by `wseat`/`bseat`.
    Seat,
    /// Creative language not in `wlang`.
    CreativeLanguage,
    /// The imp is a private auction for deals only.
    PrivateAuction,
    /// No creative of an allowed size or format.
    Format,
    /// No https creative for a secure imp.
    Secure,
    /// Every fitting creative has a blocked attribute.
    CreativeAttribute,
    /// No native creative supplies the required assets.
    NativeAssets,
    /// eCPM below the floor.
    BelowFloor,
    /// Already won its allowed number of imps in this request.
    CampaignCapped,
    /// Outbid by another campaign.
    Outbid,
}

impl FilterReason {
    /// Stable label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inactive => "inactive",
            Self::Flight => "flight",
            Self::Daypart => "daypart",
            Self::Country => "country",
            Self::Region => "region",
            Self::DeviceType => "device_type",
            Self::Os => "os",
            Self::Language => "language",
            Self::Keyword => "keyword",
            Self::Site => "site",
            Self::App => "app",
            Self::Publisher => "publisher",
            Self::PageCategory => "page_category",
            Self::BlockedCategory => "blocked_category",
            Self::BlockedAdvertiser => "blocked_advertiser",
            Self::BlockedApp => "blocked_app",
            Self::Seat => "seat",
            Self::CreativeLanguage => "creative_language",
            Self::PrivateAuction => "private_auction",
            Self::Format => "format",
            Self::Secure => "secure",
            Self::CreativeAttribute => "creative_attribute",
            Self::NativeAssets => "native_assets",
            Self::BelowFloor => "below_floor",
            Self::CampaignCapped => "campaign_capped",
            Self::Outbid => "outbid",
        }
    }
}

/// Checks the request-level rules the bitsets do not cover.
pub fn check_request(
    campaign: &Campaign,
    request: &RequestFeatures<'_>,
) -> Result<(), FilterReason> {
    if let Some((start, end)) = campaign.flight {
        if request.now_unix < start || request.now_unix >= end {
            return Err(FilterReason::Flight);
        }
    }
    if let Some(hours) = &campaign.daypart_hours {
        let local = request.now_unix + i64::from(campaign.utc_offset_secs);
        let days = local.div_euclid(86_400);
        // 1970-01-01 was a Thursday (index 3 with Monday = 0).
        let weekday = (days + 3).rem_euclid(7) as usize;
        let hour = local.rem_euclid(86_400) / 3_600;
        if hours[weekday] & (1 << hour) == 0 {
            return Err(FilterReason::Daypart);
        }
    }
    if !campaign.regions.is_empty()
        && !request
            .region
            .as_ref()
            .is_some_and(|r| campaign.regions.contains(r))
    {
        return Err(FilterReason::Region);
    }
    if !campaign.sites.is_empty() && !campaign.sites.permits(request.site_domain.as_deref()) {
        return Err(FilterReason::Site);
    }
    if !campaign.apps.is_empty() && !campaign.apps.permits(request.app_bundle.as_deref()) {
        return Err(FilterReason::App);
    }
    if !campaign.publishers.is_empty()
        && !campaign.publishers.permits(request.publisher_id.as_deref())
    {
        return Err(FilterReason::Publisher);
    }
    if !campaign.page_categories.is_empty()
        && !request.page_categories.iter().any(|page| {
            campaign
                .page_categories
                .iter()
                .any(|target| category_within(page, target))
        })
    {
        return Err(FilterReason::PageCategory);
    }
    if let Some(reason) = blocked_ad(
        request,
        &campaign.cat,
        &campaign.adomain,
        campaign.bundle.as_deref(),
    ) {
        return Err(reason);
    }
    let seat = campaign.advertiser.as_str();
    if (!request.wseat.is_empty() && !request.wseat.iter().any(|s| s == seat))
        || request.bseat.iter().any(|s| s == seat)
    {
        return Err(FilterReason::Seat);
    }
    if !request.wlang.is_empty()
        && campaign
            .language
            .as_ref()
            .is_some_and(|l| !request.wlang.contains(l))
    {
        return Err(FilterReason::CreativeLanguage);
    }
    Ok(())
}

/// Picks the creative to serve on `imp`, in the imp's order of size preference.
pub fn pick_creative(campaign: &Campaign, imp: &ImpFeatures<'_>) -> Result<u16, FilterReason> {
    if imp.private_auction {
        return Err(FilterReason::PrivateAuction);
    }
    // The most specific reason seen wins over "no creative of this format".
    let mut reason = FilterReason::Format;
    let unusable = |creative: &Creative| -> Option<FilterReason> {
        if imp.secure && !creative.secure {
            return Some(FilterReason::Secure);
        }
        creative
            .attr
            .iter()
            .any(|a| imp.battr.contains(a))
            .then_some(FilterReason::CreativeAttribute)
    };
    let banners = || {
        campaign
            .creatives
            .iter()
            .enumerate()
            .filter(|(_, c)| c.kind == CreativeKind::Banner)
    };
    let sized = imp
        .banner_sizes
        .iter()
        .flat_map(|&(w, h)| banners().filter(move |(_, c)| c.w == w && c.h == h));
    let any_size = banners().filter(|_| imp.banner_any_size);
    for (i, creative) in sized.chain(any_size) {
        match unusable(creative) {
            None => return Ok(i as u16),
            Some(why) => reason = why,
        }
    }
    if let Some(native) = &imp.native {
        for (i, creative) in campaign
            .creatives
            .iter()
            .enumerate()
            .filter(|(_, c)| c.kind == CreativeKind::Native)
        {
            if let Some(why) = unusable(creative) {
                reason = why;
            } else if native.fits(creative) {
                return Ok(i as u16);
            } else {
                reason = FilterReason::NativeAssets;
            }
        }
    }
    Err(reason)
}

/// The full per-campaign check, dimension by dimension, giving the first reason that
/// fails: the bitset dimensions ([`mask_reason`]), then the request checks and the
/// creative. It answers the same question as the bitset path (the reference of the
/// decision's tests).
pub fn explain(
    snapshot: &Snapshot,
    id: u32,
    request: &RequestFeatures<'_>,
    imp: &ImpFeatures<'_>,
) -> Result<u16, FilterReason> {
    mask_reason(snapshot, id, request)?;
    let campaign = &snapshot.campaigns[id as usize];
    check_request(campaign, request)?;
    pick_creative(campaign, imp)
}

/// Which targeting bitset leaves campaign `id` out of `request`, if one does (the same
/// dimensions `decision`'s request mask intersects).
pub fn mask_reason(
    snapshot: &Snapshot,
    id: u32,
    request: &RequestFeatures<'_>,
) -> Result<(), FilterReason> {
    if !snapshot.active.contains(id as usize) {
        return Err(FilterReason::Inactive);
    }
    if !snapshot.country.admits(request.country.as_deref(), id) {
        return Err(FilterReason::Country);
    }
    if !snapshot
        .device_type
        .admits(request.device_type.as_ref(), id)
    {
        return Err(FilterReason::DeviceType);
    }
    if !snapshot.os.admits(request.os.as_deref(), id) {
        return Err(FilterReason::Os);
    }
    if !snapshot
        .language
        .admits(request.languages.iter().map(String::as_str), id)
    {
        return Err(FilterReason::Language);
    }
    if !snapshot
        .keyword
        .admits(request.keywords.iter().map(String::as_str), id)
    {
        return Err(FilterReason::Keyword);
    }
    Ok(())
}

/// The request block (`bcat`, `badv`, `bapp`) an ad falls under, given its declared
/// categories, advertiser domains and app bundle (domains and bundle lower-case). Shared by
/// campaigns and external bids.
pub fn blocked_ad(
    request: &RequestFeatures<'_>,
    cat: &[String],
    adomain: &[String],
    bundle: Option<&str>,
) -> Option<FilterReason> {
    if cat.iter().any(|cat| {
        request
            .bcat
            .iter()
            .any(|blocked| category_within(cat, blocked))
    }) {
        return Some(FilterReason::BlockedCategory);
    }
    if adomain.iter().any(|domain| {
        request
            .badv
            .iter()
            .any(|blocked| domain_within(domain, blocked))
    }) {
        return Some(FilterReason::BlockedAdvertiser);
    }
    if bundle.is_some_and(|bundle| request.bapp.iter().any(|b| b == bundle)) {
        return Some(FilterReason::BlockedApp);
    }
    None
}

/// `IAB6-1` is within `IAB6` and within `IAB6-1`, not within `IAB6-10`'s sibling `IAB6-1x`.
pub fn category_within(category: &str, ancestor: &str) -> bool {
    category == ancestor
        || (category.len() > ancestor.len()
            && category.starts_with(ancestor)
            && category.as_bytes()[ancestor.len()] == b'-')
}

/// `shop.example.com` is within `example.com`.
fn domain_within(domain: &str, blocked: &str) -> bool {
    domain == blocked
        || (domain.ends_with(blocked)
            && domain.as_bytes().get(domain.len() - blocked.len() - 1) == Some(&b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_match_by_parent() {
        assert!(category_within("IAB6-1", "IAB6"));
        assert!(category_within("IAB6", "IAB6"));
        assert!(!category_within("IAB60", "IAB6"));
        assert!(!category_within("IAB6", "IAB6-1"));
    }

    #[test]
    fn domains_match_subdomains_only() {
        assert!(domain_within("shop.example.com", "example.com"));
        assert!(domain_within("example.com", "example.com"));
        assert!(!domain_within("badexample.com", "example.com"));
    }
}
