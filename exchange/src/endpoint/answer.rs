//! Step 7 of an auction: the answer. Bids with markup and signed notice URLs (200), or
//! nothing (204); under `?debug=1` always a document, with the debug view read from the
//! decision's trace and every external bid's fate.

use super::prebid::PrebidCall;
use super::Reply;
use crate::config::BidderTerms;
use crate::debug_view;
use crate::decision::{Decision, Trace};
use crate::enrich::uid::CookieAction;
use crate::metrics::Outcome;
use crate::notice::Signer;
use crate::response::{self, ResponseSettings};
use crate::screen::DroppedBid;
use crate::serving::Serving;
use crate::signals::AuctionSignals;
use crate::state::AppState;
use bidder_sdk::openrtb::enums::no_bid_reason;
use bidder_sdk::openrtb::{encode_response, BidRequest, BidResponse};
use http::StatusCode;

/// What the answer is made from besides the decision.
#[derive(Debug)]
pub struct Facts<'a> {
    /// The request's auction id.
    pub auction_id: &'a str,
    /// The hashed user key (hex) notices count impressions for.
    pub user: Option<&'a str>,
    /// Now, unix ms (notice URLs expire from it).
    pub now_ms: i64,
    /// The `tmax` honoured, ms.
    pub tmax_ms: u64,
    /// External bids screened out.
    pub dropped: &'a [DroppedBid],
    /// How each bidder call went.
    pub calls: &'a [super::CallReport],
    /// The Prebid call this answers, if it is one.
    pub prebid: Option<&'a PrebidCall>,
    /// Who sold each imp (the request's imp order).
    pub provenance: &'a [crate::publishers::Provenance<'a>],
    /// The supply chain the bidders got (none: no `asi` configured).
    pub supply_chain: Option<&'a crate::supply_chain::Outgoing>,
    /// The domain's ads.txt leaves the seller out (its bids are marked).
    pub ads_txt_unauthorised: bool,
    /// Invalid-traffic reasons flagged, with their details.
    pub ivt: &'a crate::ivt::Findings,
    /// Their labels, as bids list them.
    pub ivt_flags: &'a [&'static str],
    /// The request's consent and the exchange's own permissions.
    pub privacy: &'a crate::privacy::Privacy,
    /// What privacy denied each bidder it touched.
    pub bidder_privacy: &'a [crate::bidders::BidderPrivacy],
    /// Time since the request arrived.
    pub elapsed: std::time::Duration,
}

/// Builds the reply: the bid response, or 204; with a trace, the debug document.
pub fn build(
    state: &AppState,
    serving: &Serving,
    request: &BidRequest,
    decision: &Decision<'_>,
    facts: Facts<'_>,
    debug: Option<(&Trace, &AuctionSignals<'_>)>,
) -> Reply {
    let config = &state.config;
    let settings = ResponseSettings {
        user: facts.user,
        public_url: &config.public_url,
        bid_expiry_secs: config.auction.bid_expiry_secs,
        bidders: &state.auction.bidders,
        signer: Signer {
            keys: &state.notice_keys,
            expires: facts
                .now_ms
                .div_euclid(1000)
                .saturating_add_unsigned(config.notices.ttl_secs),
        },
        provenance: facts.provenance,
        served_ms: facts.now_ms,
        ads_txt_unauthorised: facts.ads_txt_unauthorised,
        ivt: facts.ivt_flags,
    };
    let mut response = response::build(decision, &serving.snapshot, facts.auction_id, settings);
    let outcome = if response.is_some() {
        Outcome::Filled
    } else {
        Outcome::NoFill
    };
    if let Some(call) = facts.prebid {
        // Prebid parses every answer: 200, an empty `seatbid` when nothing filled.
        let mut answer = response.take().unwrap_or_else(|| empty_response(request));
        call.reseat(&mut answer, &state.auction.bidders);
        answer.ext = Some(prebid_ext(call, &facts, &state.auction.bidders));
        response = Some(answer);
    }
    if let Some((trace, signals)) = debug {
        let view = debug_view::build(decision, trace, &serving.snapshot, signals, facts.tmax_ms);
        let external = debug_view::external(decision, facts.dropped, &state.auction.bidders);
        let mut response = response.unwrap_or_else(|| BidResponse {
            id: request.id.clone(),
            nbr: Some(no_bid_reason::UNKNOWN),
            ..BidResponse::default()
        });
        let mut ext = serde_json::json!({
            "debug": view,
            "bidders": external,
            "provenance": facts.provenance,
            "ads_txt_unauthorised": facts.ads_txt_unauthorised,
            "ivt": facts
                .ivt
                .found
                .iter()
                .map(|(reason, detail)| serde_json::json!({"reason": reason.as_str(), "detail": detail}))
                .collect::<Vec<_>>(),
        });
        if let Some(ext) = ext.as_object_mut() {
            ext.insert(
                "privacy".to_owned(),
                privacy_view(facts.privacy, facts.bidder_privacy, &state.auction.bidders),
            );
        }
        if let (Some(chain), Some(ext)) = (facts.supply_chain, ext.as_object_mut()) {
            let problem = chain
                .problem
                .as_ref()
                .map(|p| serde_json::json!({"field": p.field, "reason": p.problem.as_str()}));
            ext.insert(
                "supply_chain".to_owned(),
                serde_json::json!({
                    "status": chain.status.as_str(),
                    "problem": problem,
                    "sent": chain.chain,
                }),
            );
        }
        // A Prebid call keeps its per-code figures beside the debug document.
        if let (Some(serde_json::Value::Object(extra)), Some(ext)) =
            (response.ext.take(), ext.as_object_mut())
        {
            ext.extend(extra);
        }
        response.ext = Some(ext);
        return Reply {
            status: StatusCode::OK,
            body: encode_response(&response),
            outcome,
            cookie: CookieAction::Leave,
        };
    }
    match response {
        Some(response) => Reply {
            status: StatusCode::OK,
            body: encode_response(&response),
            outcome,
            cookie: CookieAction::Leave,
        },
        None => Reply {
            status: StatusCode::NO_CONTENT,
            body: Vec::new(),
            outcome,
            cookie: CookieAction::Leave,
        },
    }
}

/// The debug view's `ext.privacy`: what the request said, what the exchange and each
/// bidder were denied and why, and the fields cut from each bidder's request.
fn privacy_view(
    privacy: &crate::privacy::Privacy,
    bidders: &[crate::bidders::BidderPrivacy],
    terms: &[crate::config::BidderTerms],
) -> serde_json::Value {
    let denied = |p: &crate::privacy::Permissions| {
        p.denials()
            .map(|(activity, why)| (activity.as_str().to_owned(), serde_json::Value::from(why)))
            .collect::<serde_json::Map<_, _>>()
    };
    let consent = &privacy.consent;
    let tcf = consent.tcf.as_ref().map(|t| {
        let list = |bits: u32| {
            (1..32)
                .filter(|p| bits & (1 << p) != 0)
                .collect::<Vec<u32>>()
        };
        serde_json::json!({
            "policy_version": t.core.policy_version,
            "purpose_consents": list(t.core.purpose_consents),
            "purpose_legitimate_interests": list(t.core.purpose_legitimate_interests),
            "special_features": list(u32::from(t.core.special_features)),
            "restrictions": t.core.restrictions.len(),
        })
    });
    let bidders: Vec<serde_json::Value> = bidders
        .iter()
        .map(|b| {
            serde_json::json!({
                "bidder": terms.get(b.bidder).map_or("", |t| t.name.as_str()),
                "called": b.permissions.allows(crate::privacy::Activity::FetchBids),
                "denied": denied(&b.permissions),
                "removed": b.removed,
            })
        })
        .collect();
    serde_json::json!({
        "gdpr": consent.gdpr,
        "coppa": consent.coppa,
        "tcf": tcf,
        "us_opt_out": consent.us_opt_out,
        "us_source": consent.us_source,
        "problems": consent.problems,
        "exchange": {"denied": denied(&privacy.own)},
        "bidders": bidders,
    })
}

/// A response with no bids (the Prebid no-fill answer).
fn empty_response(request: &BidRequest) -> BidResponse {
    BidResponse {
        id: request.id.clone(),
        seatbid: Vec::new(),
        ..BidResponse::default()
    }
}

/// The Prebid answer to a request none of whose imps named the exchange or its bidders
/// (with `debug`, an empty debug document: no auction ran).
pub fn empty_for_prebid(request: &BidRequest, call: &PrebidCall, debug: bool) -> Reply {
    let mut response = empty_response(request);
    let mut ext = serde_json::json!({
        "responsetimemillis": {},
        "warnings": { call.code(): [{ "code": 10002, "message": "no imp names this exchange or one of its bidders in imp.ext.prebid.bidder" }] },
    });
    if debug {
        ext["debug"] = serde_json::json!({ "imps": [] });
    }
    response.ext = Some(ext);
    Reply {
        status: StatusCode::OK,
        body: encode_response(&response),
        outcome: Outcome::NoFill,
        cookie: CookieAction::Leave,
    }
}

/// `ext.responsetimemillis` (per bidder code: the exchange's whole auction, and each
/// configured bidder called) and `ext.errors` (each bidder whose call failed).
fn prebid_ext(call: &PrebidCall, facts: &Facts<'_>, bidders: &[BidderTerms]) -> serde_json::Value {
    let mut times = serde_json::Map::new();
    times.insert(
        call.code().to_owned(),
        (facts.elapsed.as_millis() as u64).into(),
    );
    let mut errors = serde_json::Map::new();
    for report in facts.calls {
        let Some(name) = bidders.get(report.bidder).map(|b| b.name.as_str()) else {
            continue;
        };
        times.insert(name.to_owned(), (report.elapsed.as_millis() as u64).into());
        if let Some(error) = report.error {
            // Prebid Server's codes: 1 timeout, 999 generic.
            let code = if error == "timeout" { 1 } else { 999 };
            errors.insert(
                name.to_owned(),
                serde_json::json!([{ "code": code, "message": error }]),
            );
        }
    }
    let mut ext = serde_json::json!({ "responsetimemillis": times, "errors": errors });
    if !call.warnings().is_empty() {
        let warnings: Vec<_> = call
            .warnings()
            .iter()
            .map(|message| serde_json::json!({ "code": 999, "message": message }))
            .collect();
        ext["warnings"] = serde_json::json!({ call.code(): warnings });
    }
    ext
}
