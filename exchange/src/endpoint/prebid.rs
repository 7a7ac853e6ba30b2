//! Prebid Server conventions, for pages that reach the exchange through Prebid.js's
//! `prebidServerBidAdapter` (`s2sConfig.endpoint` = `/openrtb2/auction`).
//!
//! **The rule:** a request is a Prebid call when it carries `ext.prebid` or any
//! `imp[].ext.prebid` (the adapter always sends both); a plain OpenRTB caller never does.
//! For a Prebid call the exchange
//! - answers only imps whose `imp.ext.prebid.bidder` names it (`prebid.bidder_code` or an
//!   alias) or one of its configured bidders by name;
//! - runs a first-price auction when the request gives no `at` (Prebid compares prices
//!   as bid);
//! - puts each bid under the bidder code the imp asked for (`seatbid[].seat`): a
//!   configured bidder's bid under its own name when the imp named it, every other bid
//!   under the exchange's code (or the alias used), and marks `bid.ext.prebid.type`;
//! - reports `ext.responsetimemillis` and `ext.errors` per bidder code;
//! - answers a no-fill with 200 and an empty `seatbid` (the adapter parses every answer).

use crate::config::{BidderTerms, PrebidConfig};
use bidder_sdk::openrtb::enums::{auction_type, markup_type};
use bidder_sdk::openrtb::{BidRequest, BidResponse, Json, SeatBid};
use std::collections::BTreeMap;

/// Most bidder codes read from one imp's `ext.prebid.bidder`.
const MAX_BIDDER_CODES: usize = 32;

/// A Prebid call: per imp, the bidder codes it named.
#[derive(Debug, Clone, Default)]
pub struct PrebidCall {
    /// Imp id → (the code the exchange answers under, configured bidders it named).
    imps: BTreeMap<String, (String, Vec<String>)>,
    /// The exchange's own code (for request-level figures).
    code: String,
}

/// Whether `bidders` holds one named `name`.
fn configured(bidders: &[BidderTerms], name: &str) -> bool {
    bidders.iter().any(|b| b.name == name)
}

/// Whether `request` follows Prebid Server conventions; if so, what each imp asked for.
/// `bidders` are the configured bidders (by index).
pub fn detect(
    request: &BidRequest,
    config: &PrebidConfig,
    bidders: &[BidderTerms],
) -> Option<PrebidCall> {
    let prebid_ext = |ext: &Option<Json>| ext.as_ref().and_then(|e| e.get("prebid")).is_some();
    if !prebid_ext(&request.ext) && !request.imp.iter().any(|imp| prebid_ext(&imp.ext)) {
        return None;
    }
    let ours = |code: &str| code == config.bidder_code || config.aliases.iter().any(|a| a == code);
    let mut call = PrebidCall {
        imps: BTreeMap::new(),
        code: config.bidder_code.clone(),
    };
    for imp in &request.imp {
        let named: Vec<&str> = imp
            .ext
            .as_ref()
            .and_then(|e| e.get("prebid"))
            .and_then(|p| p.get("bidder"))
            .and_then(Json::as_object)
            .map(|codes| {
                codes
                    .keys()
                    .take(MAX_BIDDER_CODES)
                    .map(String::as_str)
                    .collect()
            })
            .unwrap_or_default();
        let own = named.iter().find(|c| ours(c)).map(|c| (*c).to_owned());
        let dsps: Vec<String> = named
            .iter()
            .filter(|c| configured(bidders, c))
            .map(|c| (*c).to_owned())
            .collect();
        if own.is_some() || !dsps.is_empty() {
            let seat = own.unwrap_or_else(|| dsps[0].clone());
            call.imps.insert(imp.id.clone(), (seat, dsps));
        }
    }
    Some(call)
}

impl PrebidCall {
    /// Keeps the imps the exchange was asked to answer and, without `at`, asks for a
    /// first-price auction. False when no imp is left (answer with an empty `seatbid`).
    pub fn prepare(&self, request: &mut BidRequest) -> bool {
        request.imp.retain(|imp| self.imps.contains_key(&imp.id));
        if request.at.is_none() {
            request.at = Some(auction_type::FIRST_PRICE);
        }
        !request.imp.is_empty()
    }

    /// Re-seats `response` by the codes the imps asked for and marks each bid's type;
    /// `bidders` are the configured bidders (their names are the seats of their bids).
    pub fn reseat(&self, response: &mut BidResponse, bidders: &[BidderTerms]) {
        let mut seats: Vec<SeatBid> = Vec::new();
        for seatbid in std::mem::take(&mut response.seatbid) {
            let from_dsp = seatbid.seat.as_deref().filter(|s| configured(bidders, s));
            for mut bid in seatbid.bid {
                let (own, named) = self
                    .imps
                    .get(&bid.impid)
                    .map(|(own, named)| (own.as_str(), named.as_slice()))
                    .unwrap_or((self.code.as_str(), &[]));
                let seat = match from_dsp {
                    Some(dsp) if named.iter().any(|n| n == dsp) => dsp,
                    _ => own,
                };
                let kind = match bid.mtype {
                    Some(markup_type::NATIVE) => "native",
                    Some(markup_type::VIDEO) => "video",
                    Some(markup_type::AUDIO) => "audio",
                    _ => "banner",
                };
                let mut ext = bid
                    .ext
                    .take()
                    .unwrap_or_else(|| Json::Object(Default::default()));
                if let Some(object) = ext.as_object_mut() {
                    object.insert("prebid".into(), serde_json::json!({ "type": kind }));
                }
                bid.ext = Some(ext);
                match seats.iter_mut().find(|s| s.seat.as_deref() == Some(seat)) {
                    Some(existing) => existing.bid.push(bid),
                    None => seats.push(SeatBid {
                        seat: Some(seat.to_owned()),
                        bid: vec![bid],
                        ..SeatBid::default()
                    }),
                }
            }
        }
        response.seatbid = seats;
    }

    /// The exchange's own bidder code.
    pub fn code(&self) -> &str {
        &self.code
    }
}
