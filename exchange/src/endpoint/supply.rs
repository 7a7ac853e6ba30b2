//! The request's supply chain as the bidders will get it, and whether its domain's ads.txt
//! authorises its seller, or the refusal a policy asks for (`[supply_chain]`): read once
//! per request, before the calls go out.

use super::{prebid::PrebidCall, Refusal, Reply};
use crate::ads_txt::{self, Verdict};
use crate::config::{IncompleteChain, InvalidChain, Unauthorised};
use crate::enrich::uid::CookieAction;
use crate::metrics::{Mark, Outcome, Refused};
use crate::serving::Serving;
use crate::state::AppState;
use crate::supply_chain::{self, ChainStatus, Outgoing};
use bidder_sdk::openrtb::BidRequest;
use http::StatusCode;

/// The chain for `request` (`None`: no `asi` configured, chains pass as given), or the
/// reply when a policy refuses it.
pub(super) fn chain(
    state: &AppState,
    serving: &Serving,
    request: &BidRequest,
    auction_id: &str,
    prebid: Option<&PrebidCall>,
) -> Result<Option<Outgoing>, Reply> {
    let policy = &state.config.supply_chain;
    if !policy.enabled() {
        return Ok(None);
    }
    let upstream = supply_chain::read(request);
    let registry = &serving.snapshot.publishers;
    let outgoing = supply_chain::outgoing(&upstream, registry, request, &policy.asi, auction_id);
    state.metrics.supply_chain(outgoing.status);
    if let (Some(problem), InvalidChain::Refuse) = (&outgoing.problem, policy.invalid) {
        state.metrics.refused(Refused::SchainInvalid);
        let refusal = Refusal::Invalid {
            message: format!("supply chain: {}", problem.problem.rule()),
            field: problem.field.clone(),
        };
        return Err(refusal.reply());
    }
    if outgoing.status != ChainStatus::Complete && policy.incomplete == IncompleteChain::Refuse {
        state.metrics.refused(Refused::SchainIncomplete);
        let debug = super::debug_wanted(state, request, false);
        return Err(no_bid(request, prebid, debug));
    }
    Ok(Some(outgoing))
}

/// Whether the request's domain's ads.txt (or app-ads.txt) leaves its seller out (`true`:
/// mark its bids), or the no-bid reply `unauthorised = "refuse"` asks for. No folder
/// configured, or no file for the domain: `false`.
pub(super) fn unauthorised(
    state: &AppState,
    serving: &Serving,
    request: &BidRequest,
    prebid: Option<&PrebidCall>,
) -> Result<bool, Reply> {
    let snapshot = &serving.snapshot;
    let Some(verdict) = ads_txt::request_verdict(&snapshot.ads_txt, &snapshot.publishers, request)
    else {
        return Ok(false);
    };
    state.metrics.ads_txt(verdict);
    if verdict != Verdict::Unauthorised {
        return Ok(false);
    }
    if state.config.supply_chain.unauthorised == Unauthorised::Refuse {
        state.metrics.refused(Refused::AdsTxtUnauthorised);
        let debug = super::debug_wanted(state, request, false);
        return Err(no_bid(request, prebid, debug));
    }
    state.metrics.marked(Mark::AdsTxtUnauthorised);
    Ok(true)
}

/// The no-bid answer of a refused request: 204, or Prebid's empty 200 for a Prebid call.
pub(super) fn no_bid(request: &BidRequest, prebid: Option<&PrebidCall>, debug: bool) -> Reply {
    match prebid {
        Some(call) => super::answer::empty_for_prebid(request, call, debug),
        None => Reply {
            status: StatusCode::NO_CONTENT,
            body: Vec::new(),
            outcome: Outcome::NoFill,
            cookie: CookieAction::Leave,
        },
    }
}
