//! Turns a [`Decision`] into a BidResponse: one bid per cleared imp, grouped by seat
//! (advertiser), with markup filled and notice URLs that point back at the exchange.

use crate::auction::{Clearing, Source};
use crate::campaign::{CreativeKind, MarkupValues};
use crate::config::BidderTerms;
use crate::decision::Decision;
use crate::features::ImpFeatures;
use crate::index::Snapshot;
use crate::notice::Signer;
use crate::publishers::Provenance;
use crate::screen::ExternalBid;
use bidder_sdk::macros::{substitute, MacroValues as DspMacros};
use bidder_sdk::openrtb::enums::markup_type;
use bidder_sdk::openrtb::{Bid, BidResponse, SeatBid};

/// Settings the response needs from the exchange config.
#[derive(Debug, Clone, Copy)]
pub struct ResponseSettings<'a> {
    /// The user key (hex) the notices count impressions for, if the request had one.
    pub user: Option<&'a str>,
    /// Base URL of this exchange for notice URLs.
    pub public_url: &'a str,
    /// `bid.exp` in seconds.
    pub bid_expiry_secs: i64,
    /// The configured bidders, by index (their names are the seats of their bids).
    pub bidders: &'a [BidderTerms],
    /// Signs the notice URLs.
    pub signer: Signer<'a>,
    /// Who sold each imp (by the request's imp order); empty: nobody named.
    pub provenance: &'a [Provenance<'a>],
    /// Now, unix ms: the serving time stamped into click URLs.
    pub served_ms: i64,
    /// The request's domain's ads.txt does not authorise its seller: every bid says so in
    /// `ext.ads_txt_unauthorised` (the `[supply_chain] unauthorised = "mark"` policy).
    pub ads_txt_unauthorised: bool,
    /// Invalid-traffic reasons flagged on the request (`[ivt]` actions `flag`): every bid
    /// lists them in `ext.ivt`.
    pub ivt: &'a [&'static str],
}

/// Builds the response; `None` when no imp cleared (→ 204).
pub fn build(
    decision: &Decision<'_>,
    snapshot: &Snapshot,
    auction_id: &str,
    settings: ResponseSettings<'_>,
) -> Option<BidResponse> {
    let currency = decision.currency.as_ref()?;
    let mut seatbids: Vec<SeatBid> = Vec::new();
    for (index, (imp, clearing)) in decision.imps.iter().zip(&decision.clearings).enumerate() {
        let Some(clearing) = clearing else { continue };
        let price = round_price(clearing.price * currency.rate);
        let slot = Slot {
            imp,
            auction_id,
            bid_id: bid_id(auction_id, index),
            price,
            currency_code: &currency.code,
            provenance: settings.provenance.get(index),
        };
        let mismatch = settings
            .provenance
            .get(index)
            .is_some_and(|p| p.source_mismatch);
        let (mut bid, seat) = match clearing.winner.source {
            Source::External { index } => {
                external_bid(&decision.external[index as usize], clearing, slot, settings)
            }
            Source::Campaign { id, creative } => {
                let won = Won {
                    id,
                    creative,
                    clearing,
                };
                campaign_bid(decision, snapshot, won, slot, settings)
            }
        };
        if mismatch || settings.ads_txt_unauthorised || !settings.ivt.is_empty() {
            // Answered, but marked in what it produces (JD Union's invalid code 14 for a
            // source the registry does not have).
            let mut marks = serde_json::Map::new();
            if mismatch {
                marks.insert("source_mismatch".to_owned(), true.into());
            }
            if settings.ads_txt_unauthorised {
                marks.insert("ads_txt_unauthorised".to_owned(), true.into());
            }
            if !settings.ivt.is_empty() {
                marks.insert("ivt".to_owned(), settings.ivt.into());
            }
            bid.ext = Some(serde_json::Value::Object(marks));
        }
        match seatbids
            .iter_mut()
            .find(|s| s.seat.as_deref() == Some(seat.as_str()))
        {
            Some(existing) => existing.bid.push(bid),
            None => seatbids.push(SeatBid {
                bid: vec![bid],
                seat: Some(seat),
                ..SeatBid::default()
            }),
        }
    }
    if seatbids.is_empty() {
        return None;
    }
    Some(BidResponse {
        id: decision.request_id.to_owned(),
        seatbid: seatbids,
        bidid: Some(auction_id.to_owned()),
        cur: Some(currency.code.clone()),
        ..BidResponse::default()
    })
}

/// The exchange's id of the bid for imp number `index` of auction `auction_id`.
pub fn bid_id(auction_id: &str, index: usize) -> String {
    let mut id = String::with_capacity(auction_id.len() + 4);
    id.push_str(auction_id);
    id.push('-');
    use std::fmt::Write;
    let _ = write!(id, "{index}");
    id
}

/// Where a bid goes: the imp, the exchange's ids and the price in response currency.
struct Slot<'a> {
    imp: &'a ImpFeatures<'a>,
    auction_id: &'a str,
    bid_id: String,
    price: f64,
    currency_code: &'a str,
    provenance: Option<&'a Provenance<'a>>,
}

/// The bid of an internal campaign and its seat (the advertiser).
/// A campaign's win: which campaign and creative, at what clearing.
struct Won<'a> {
    id: u32,
    creative: u16,
    clearing: &'a Clearing,
}

fn campaign_bid(
    decision: &Decision<'_>,
    snapshot: &Snapshot,
    won: Won<'_>,
    slot: Slot<'_>,
    settings: ResponseSettings<'_>,
) -> (Bid, String) {
    let Won {
        id,
        creative,
        clearing,
    } = won;
    let Slot {
        imp,
        auction_id,
        bid_id,
        price,
        currency_code,
        provenance,
    } = slot;
    let campaign = &snapshot.campaigns[id as usize];
    let creative = &campaign.creatives[usize::from(creative)];
    let crid = [campaign.id.as_str(), creative.id.as_str()].join(".");
    let click_url = click_url(
        campaign,
        creative,
        clearing,
        &imp.imp.id,
        auction_id,
        provenance,
        settings,
    );
    let (adm, mtype) = match creative.kind {
        CreativeKind::Banner => {
            let values = MarkupValues {
                click_url: &click_url,
                image_url: &creative.image_url,
                title: &creative.title,
                w: creative.w,
                h: creative.h,
                auction_id: decision.request_id,
                bid_id: &bid_id,
                imp_id: &imp.imp.id,
                price,
                currency: currency_code,
            };
            (creative.markup.render(&values), markup_type::BANNER)
        }
        CreativeKind::Native => {
            let spec = imp.native.as_ref();
            let adm = spec
                .map(|s| s.render(creative, &click_url))
                .unwrap_or_default();
            (adm, markup_type::NATIVE)
        }
    };
    // A budgeted campaign's win took this from its lease (as `admission::charge_winners`
    // computed it): the notice releases that reservation when it commits.
    let budgeted = campaign.daily_budget_micros.is_some() || campaign.total_budget_micros.is_some();
    let reserved = budgeted.then(|| crate::auction::charged_micros(clearing.price).to_string());
    let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(9);
    pairs.extend([
        ("auction", auction_id),
        ("imp", imp.imp.id.as_str()),
        ("bid", bid_id.as_str()),
        ("campaign", campaign.id.as_str()),
        ("creative", creative.id.as_str()),
        ("cur", currency_code),
    ]);
    if let Some(user) = settings.user {
        pairs.push(("user", user));
    }
    if let Some(reserved) = &reserved {
        pairs.push(("res", reserved));
    }
    crate::publishers::push_signed(&mut pairs, provenance);
    let query = settings.signer.query(&pairs, price);
    let bid = Bid {
        id: bid_id,
        impid: imp.imp.id.clone(),
        price,
        nurl: Some(notice_url(settings.public_url, "win", &query)),
        burl: Some(notice_url(settings.public_url, "bill", &query)),
        adm: Some(adm),
        adid: Some(crid.clone()),
        adomain: campaign.adomain.clone(),
        bundle: campaign.bundle.clone(),
        iurl: Some(creative.image_url.clone()),
        cid: Some(campaign.id.clone()),
        crid: Some(crid),
        cat: campaign.cat.clone(),
        attr: creative.attr.clone(),
        language: campaign.language.clone(),
        w: Some(i64::from(creative.w)),
        h: Some(i64::from(creative.h)),
        exp: Some(settings.bid_expiry_secs),
        mtype: Some(mtype),
        ..Bid::default()
    };
    (bid, campaign.advertiser.clone())
}

/// The signed click URL the campaign's markup links through: the impression's identity,
/// and what a click (CPC: the clearing price per click) or an order (CPS: the commission
/// rate of the user's tier) will cost.
fn click_url(
    campaign: &crate::campaign::Campaign,
    creative: &crate::campaign::Creative,
    clearing: &Clearing,
    imp_id: &str,
    auction_id: &str,
    provenance: Option<&Provenance<'_>>,
    settings: ResponseSettings<'_>,
) -> String {
    use crate::campaign::Pricing;
    let rate = clearing.winner.event_rate;
    let (cpc_micros, commission_rate) = match campaign.pricing {
        Pricing::Cpm { .. } => (None, None),
        // The second-price discount applies per click as it does per impression.
        Pricing::Cpc { .. } => {
            let share = if clearing.winner.ecpm > 0.0 {
                (clearing.price / clearing.winner.ecpm).min(1.0)
            } else {
                0.0
            };
            (Some((rate * share * 1e6).round() as i64), None)
        }
        Pricing::Cps { .. } => (None, Some(rate)),
    };
    crate::click::url(
        &settings.signer,
        settings.public_url,
        &crate::click::ClickFacts {
            auction: auction_id,
            imp: imp_id,
            campaign: &campaign.id,
            creative: &creative.id,
            user: settings.user,
            provenance,
            cpc_micros,
            commission_rate,
            served_ms: settings.served_ms,
        },
    )
}

/// The bid of an external bidder's winning bid, and its seat (the bidder's name).
fn external_bid(
    external: &ExternalBid,
    clearing: &Clearing,
    slot: Slot<'_>,
    settings: ResponseSettings<'_>,
) -> (Bid, String) {
    let Slot {
        imp,
        auction_id,
        bid_id,
        price,
        currency_code,
        provenance,
    } = slot;
    let values = DspMacros {
        auction_id: Some(auction_id),
        bid_id: Some(&external.bid.id),
        imp_id: Some(&imp.imp.id),
        seat_id: external.seat.as_deref(),
        ad_id: external.bid.adid.as_deref(),
        price: Some(external.bidder_price(clearing.price)),
        currency: Some(&external.currency),
        ..DspMacros::default()
    };
    let seat = settings
        .bidders
        .get(external.bidder)
        .map(|b| b.name.as_str())
        .unwrap_or("bidder");
    let mut pairs = vec![
        ("auction", auction_id),
        ("imp", imp.imp.id.as_str()),
        ("bid", bid_id.as_str()),
        ("bidder", seat),
        ("cur", currency_code),
    ];
    crate::publishers::push_signed(&mut pairs, provenance);
    let query = settings.signer.query(&pairs, price);
    let source = &external.bid;
    let bid = Bid {
        id: bid_id,
        impid: imp.imp.id.clone(),
        price,
        nurl: Some(notice_url(settings.public_url, "win", &query)),
        burl: Some(notice_url(settings.public_url, "bill", &query)),
        adm: source.adm.as_deref().map(|adm| substitute(adm, &values)),
        adid: source.adid.clone(),
        adomain: source.adomain.clone(),
        bundle: source.bundle.clone(),
        iurl: source.iurl.clone(),
        cid: source.cid.clone(),
        crid: source.crid.clone(),
        cattax: source.cattax,
        cat: source.cat.clone(),
        attr: source.attr.clone(),
        language: source.language.clone(),
        dealid: source.dealid.clone(),
        w: source.w,
        h: source.h,
        exp: Some(
            source
                .exp
                .filter(|e| *e > 0)
                .map_or(settings.bid_expiry_secs, |e| {
                    e.min(settings.bid_expiry_secs)
                }),
        ),
        mtype: source.mtype.or_else(|| inferred_mtype(imp.imp)),
        ..Bid::default()
    };
    (bid, seat.to_owned())
}

/// `{public_url}/notice/{kind}?{signed query}&price=${AUCTION_PRICE}`.
fn notice_url(public_url: &str, kind: &str, query: &str) -> String {
    [
        public_url,
        "/notice/",
        kind,
        "?",
        query,
        "&price=",
        crate::notice::PRICE_MACRO,
    ]
    .concat()
}

/// The markup type of an imp with exactly one media object.
fn inferred_mtype(imp: &bidder_sdk::openrtb::Imp) -> Option<i32> {
    let present = [
        (imp.banner.is_some(), markup_type::BANNER),
        (imp.video.is_some(), markup_type::VIDEO),
        (imp.audio.is_some(), markup_type::AUDIO),
        (imp.native.is_some(), markup_type::NATIVE),
    ];
    let mut offered = present.iter().filter(|(yes, _)| *yes);
    match (offered.next(), offered.next()) {
        (Some((_, mtype)), None) => Some(*mtype),
        _ => None,
    }
}

/// Prices go out with at most six decimals (micro-units).
fn round_price(price: f64) -> f64 {
    (price * 1e6).round() / 1e6
}
