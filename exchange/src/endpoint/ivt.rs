//! Invalid traffic at the request (`[ivt]`): each reason the detector finds is counted,
//! then flagged in the answer or refused, as configured.

use super::{prebid::PrebidCall, supply::no_bid, Reply};
use crate::config::IvtAction;
use crate::ivt::Findings;
use crate::metrics::Refused;
use crate::state::AppState;
use bidder_sdk::openrtb::BidRequest;

/// The reasons to flag (with what exactly), or the no-bid reply a `refuse` asks for.
pub(super) fn check(
    state: &AppState,
    request: &BidRequest,
    prebid: Option<&PrebidCall>,
) -> Result<Findings, Reply> {
    let policy = &state.config.ivt;
    let mut findings = state.ivt.check(request);
    findings
        .found
        .retain(|(reason, _)| policy.action(*reason) != IvtAction::Allow);
    for (reason, _) in &findings.found {
        state.metrics.ivt(*reason);
    }
    let refused = findings
        .found
        .iter()
        .find(|(reason, _)| policy.action(*reason) == IvtAction::Refuse);
    if let Some((reason, _)) = refused {
        state.metrics.refused(Refused::ivt(*reason));
        let debug = super::debug_wanted(state, request, false);
        return Err(no_bid(request, prebid, debug));
    }
    Ok(findings)
}
