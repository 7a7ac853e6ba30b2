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
//! - answers a no-fill with 200 and an empty `seatbid` (the adapter parses every answer);
//! - with `ext.prebid.targeting`, sets `bid.ext.prebid.targeting` (`hb_pb` bucketed by the
//!   request's price granularity, see [`targeting`]);
//! - with `ext.prebid.bidadjustmentfactors`, multiplies each named configured bidder's bids
//!   before the auction (on top of its configured `bid_adjustment`).

pub mod targeting;

use crate::config::{BidderTerms, PrebidConfig};
use crate::metrics::PREBID_CHANNELS as CHANNELS;
use bidder_sdk::openrtb::enums::{auction_type, markup_type};
use bidder_sdk::openrtb::{BidRequest, BidResponse, Json, SeatBid};
use std::collections::BTreeMap;
use targeting::Targeting;

/// Most bidder codes read from one imp's `ext.prebid.bidder`.
const MAX_BIDDER_CODES: usize = 32;

/// Largest `bidadjustmentfactors` value.
const MAX_ADJUSTMENT: f64 = 100.0;

/// A Prebid call: per imp, the bidder codes it named, and the request's options.
#[derive(Debug, Clone, Default)]
pub struct PrebidCall {
    /// Imp id → (the code the exchange answers under, configured bidders it named).
    imps: BTreeMap<String, (String, Vec<String>)>,
    /// The exchange's own code (for request-level figures).
    code: String,
    /// `ext.prebid.targeting`, when asked for.
    targeting: Option<Targeting>,
    /// `ext.prebid.bidadjustmentfactors` of configured bidders.
    adjustments: BTreeMap<String, f64>,
    /// What the request asked for that was not done (`ext.warnings`).
    warnings: Vec<String>,
    /// `ext.prebid.channel.name`, when one of [`CHANNELS`] (else `other`).
    channel: &'static str,
}

/// A Prebid option the exchange refuses: (field, message).
pub type InvalidOption = (String, String);

/// Whether `bidders` holds one named `name`.
fn configured(bidders: &[BidderTerms], name: &str) -> bool {
    bidders.iter().any(|b| b.name == name)
}

/// Whether `request` follows Prebid Server conventions; if so, what each imp asked for and
/// the options read from `ext.prebid`. `bidders` are the configured bidders (by index).
/// A malformed option (price granularity, adjustment factor) is refused, naming it.
pub fn detect(
    request: &BidRequest,
    config: &PrebidConfig,
    bidders: &[BidderTerms],
) -> Result<Option<PrebidCall>, InvalidOption> {
    let prebid_ext = |ext: &Option<Json>| ext.as_ref().and_then(|e| e.get("prebid")).is_some();
    if !prebid_ext(&request.ext) && !request.imp.iter().any(|imp| prebid_ext(&imp.ext)) {
        return Ok(None);
    }
    let ours = |code: &str| code == config.bidder_code || config.aliases.iter().any(|a| a == code);
    let mut warnings = Vec::new();
    let adjustments = adjustment_factors(request.ext.as_ref(), bidders, &mut warnings)?;
    let mut call = PrebidCall {
        imps: BTreeMap::new(),
        code: config.bidder_code.clone(),
        targeting: Targeting::parse(request.ext.as_ref())?,
        adjustments,
        warnings,
        channel: channel(request.ext.as_ref()),
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
    Ok(Some(call))
}

/// The request's `ext.prebid.channel.name` as one of [`CHANNELS`].
fn channel(ext: Option<&Json>) -> &'static str {
    let name = ext
        .and_then(|e| e.get("prebid"))
        .and_then(|p| p.get("channel"))
        .and_then(|c| c.get("name"))
        .and_then(Json::as_str)
        .unwrap_or("other");
    CHANNELS
        .into_iter()
        .find(|known| *known == name)
        .unwrap_or("other")
}

/// `ext.prebid.bidadjustmentfactors`: code → factor (0, 100]. Factors for codes that are
/// not configured bidders (the exchange's own campaigns are priced by their own rules) and
/// per-media-type factors are not applied, and said so in `warnings`.
fn adjustment_factors(
    ext: Option<&Json>,
    bidders: &[BidderTerms],
    warnings: &mut Vec<String>,
) -> Result<BTreeMap<String, f64>, InvalidOption> {
    let field = "ext.prebid.bidadjustmentfactors";
    let Some(factors) = ext
        .and_then(|e| e.get("prebid"))
        .and_then(|p| p.get("bidadjustmentfactors"))
    else {
        return Ok(BTreeMap::new());
    };
    let factors = factors.as_object().ok_or((
        field.to_owned(),
        "an object of bidder code → factor".to_owned(),
    ))?;
    let mut applied = BTreeMap::new();
    for (code, factor) in factors.iter().take(MAX_BIDDER_CODES) {
        if code == "mediatypes" {
            warnings.push(format!("{field}.mediatypes is not supported; not applied"));
            continue;
        }
        let factor = factor
            .as_f64()
            .filter(|f| f.is_finite() && *f > 0.0 && *f <= MAX_ADJUSTMENT)
            .ok_or((
                format!("{field}.{code}"),
                format!("a number in (0, {MAX_ADJUSTMENT}]"),
            ))?;
        if configured(bidders, code) {
            applied.insert(code.clone(), factor);
        } else {
            warnings.push(format!(
                "{field}.{code}: not a configured bidder; not applied"
            ));
        }
    }
    Ok(applied)
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

    /// Per configured bidder (by index), the request's adjustment factor (1 when none).
    pub fn adjustments(&self, bidders: &[BidderTerms]) -> Vec<f64> {
        bidders
            .iter()
            .map(|b| self.adjustments.get(&b.name).copied().unwrap_or(1.0))
            .collect()
    }

    /// The caller's channel (one of [`CHANNELS`]).
    pub fn channel(&self) -> &'static str {
        self.channel
    }

    /// What the request asked for that was not done.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Re-seats `response` by the codes the imps asked for and marks each bid's type (and
    /// its targeting keys, when asked for); `bidders` are the configured bidders (their
    /// names are the seats of their bids).
    pub fn reseat(&self, response: &mut BidResponse, bidders: &[BidderTerms]) {
        // Each imp's top price (the winner's), only when targeting keys are asked for.
        let mut best: BTreeMap<String, f64> = BTreeMap::new();
        if self.targeting.is_some() {
            for bid in response.seatbid.iter().flat_map(|s| &s.bid) {
                let top = best.entry(bid.impid.clone()).or_insert(f64::MIN);
                *top = top.max(bid.price);
            }
        }
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
                let mut prebid = serde_json::json!({ "type": kind });
                if let Some(targeting) = &self.targeting {
                    // The first bid at its imp's top price is the winner.
                    let winner = best.get(&bid.impid) == Some(&bid.price)
                        && best.remove(&bid.impid).is_some();
                    prebid["targeting"] = targeting.keys(&bid, seat, kind, winner);
                }
                if let Some(object) = ext.as_object_mut() {
                    object.insert("prebid".into(), prebid);
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
