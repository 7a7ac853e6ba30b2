//! Step 7 of an auction: the answer. Bids with markup and signed notice URLs (200), or
//! nothing (204); under `?debug=1` always a document, with the debug view read from the
//! decision's trace and every external bid's fate.

use super::Reply;
use crate::debug_view;
use crate::decision::{Decision, Trace};
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
    };
    let response = response::build(decision, &serving.snapshot, facts.auction_id, settings);
    let outcome = if response.is_some() {
        Outcome::Filled
    } else {
        Outcome::NoFill
    };
    if let Some((trace, signals)) = debug {
        let view = debug_view::build(decision, trace, &serving.snapshot, signals, facts.tmax_ms);
        let external = debug_view::external(decision, facts.dropped, &state.auction.bidders);
        let mut response = response.unwrap_or_else(|| BidResponse {
            id: request.id.clone(),
            nbr: Some(no_bid_reason::UNKNOWN),
            ..BidResponse::default()
        });
        response.ext = Some(serde_json::json!({ "debug": view, "bidders": external }));
        return Reply {
            status: StatusCode::OK,
            body: encode_response(&response),
            outcome,
        };
    }
    match response {
        Some(response) => Reply {
            status: StatusCode::OK,
            body: encode_response(&response),
            outcome,
        },
        None => Reply {
            status: StatusCode::NO_CONTENT,
            body: Vec::new(),
            outcome,
        },
    }
}
