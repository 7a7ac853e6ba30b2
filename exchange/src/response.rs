//! Turns a [`Decision`] into a BidResponse: one bid per cleared imp, grouped by seat
//! (advertiser), with markup filled and notice URLs that point back at the exchange.

use crate::campaign::{CreativeKind, MarkupValues};
use crate::decision::Decision;
use crate::index::Snapshot;
use bidder_sdk::openrtb::enums::markup_type;
use bidder_sdk::openrtb::{Bid, BidResponse, SeatBid};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Characters left as they are in a query-string value.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Settings the response needs from the exchange config.
#[derive(Debug, Clone, Copy)]
pub struct ResponseSettings<'a> {
    /// Base URL of this exchange for notice URLs.
    pub public_url: &'a str,
    /// `bid.exp` in seconds.
    pub bid_expiry_secs: i64,
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
        let campaign = &snapshot.campaigns[clearing.winner.campaign as usize];
        let creative = &campaign.creatives[usize::from(clearing.winner.creative)];
        let price = round_price(clearing.price * currency.rate);
        let bid_id = format!("{auction_id}-{index}");
        let crid = format!("{}.{}", campaign.id, creative.id);
        let (adm, mtype) = match creative.kind {
            CreativeKind::Banner => {
                let values = MarkupValues {
                    click_url: &creative.landing_url,
                    image_url: &creative.image_url,
                    title: &creative.title,
                    w: creative.w,
                    h: creative.h,
                    auction_id: decision.request_id,
                    bid_id: &bid_id,
                    imp_id: &imp.imp.id,
                    price,
                    currency: &currency.code,
                };
                (creative.markup.render(&values), markup_type::BANNER)
            }
            CreativeKind::Native => {
                let spec = imp.native.as_ref();
                let adm = spec
                    .map(|s| s.render(creative, &creative.landing_url))
                    .unwrap_or_default();
                (adm, markup_type::NATIVE)
            }
        };
        let query = notice_query(&[
            ("auction", auction_id),
            ("imp", &imp.imp.id),
            ("bid", &bid_id),
            ("campaign", &campaign.id),
            ("creative", &creative.id),
            ("cur", &currency.code),
        ]);
        let bid = Bid {
            id: bid_id,
            impid: imp.imp.id.clone(),
            price,
            nurl: Some(format!(
                "{}/notice/win?{query}&price=${{AUCTION_PRICE}}",
                settings.public_url
            )),
            burl: Some(format!(
                "{}/notice/bill?{query}&price=${{AUCTION_PRICE}}",
                settings.public_url
            )),
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
        match seatbids
            .iter_mut()
            .find(|s| s.seat.as_deref() == Some(campaign.advertiser.as_str()))
        {
            Some(seat) => seat.bid.push(bid),
            None => seatbids.push(SeatBid {
                bid: vec![bid],
                seat: Some(campaign.advertiser.clone()),
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

/// `a=1&b=2` with values percent-encoded.
fn notice_query(pairs: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(160);
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(key);
        out.push('=');
        out.extend(utf8_percent_encode(value, QUERY_VALUE));
    }
    out
}

/// Prices go out with at most six decimals (micro-units).
fn round_price(price: f64) -> f64 {
    (price * 1e6).round() / 1e6
}
