//! The auction endpoint without its HTTP framing: body bytes in, status and body out.
//! The HTTP layer and the tests and benches all call [`auction`]. One auction is seven
//! named steps (see `decide_and_answer`); refusals become HTTP in [`refusal`] only.

mod answer;
mod ivt;
pub mod prebid;
pub mod refusal;
mod supply;
mod user;

use crate::admission::{charge_winners, RequestGate};
use crate::bidders::client::CallOutcome;
use crate::bidders::verdicts;
use crate::bidders::{self, InFlight, Timing};
use crate::config::Limits;
use crate::decision::{imp_floors, prepare_observed, Decision, Inputs, Trace, Unobserved};
use crate::enrich::uid::{self, CookieAction};
use crate::enrich::{Caller, Filled};
use crate::metrics::{Mark, Outcome};
use crate::privacy::{Activity, Privacy};
use crate::publishers;
use crate::screen::{screen, Auctioned, DroppedBid};
use crate::serving::Serving;
use crate::shared::UserKey;
use crate::signals::{AuctionSignals, UserInputs};
use crate::state::AppState;
use bidder_sdk::openrtb::{decode_request, validate_request, BidRequest, Json};
use http::StatusCode;
pub use refusal::Refusal;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Mixed into the auction seed for the learned rates' exploration draws (independent of
/// the pacing throttle's draws, which take the seed itself).
const LEARNING_DRAWS: u64 = 0x6c65_6172_6e69_6e67;

/// What the endpoint answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// JSON body (empty for 204).
    pub body: Vec<u8>,
    /// The outcome counted in metrics.
    pub outcome: Outcome,
    /// What the answer does with the exchange's user-id cookie.
    pub cookie: CookieAction,
}

/// Runs one auction for a request body that arrived at `arrival` from `caller`;
/// `debug_query` is `?debug=1`. What a browser's request lacks is filled in first
/// ([`crate::enrich`]). With bidders configured, the fan-out runs while internal campaigns
/// are scored, and the answer is ready by `tmax` whatever the bidders do.
pub async fn auction(
    state: &Arc<AppState>,
    body: &[u8],
    caller: &Caller,
    debug_query: bool,
    arrival: Instant,
) -> Reply {
    let reply = match accept(body) {
        Err(refusal) => refusal.reply(),
        Ok(mut request) => {
            let filled = state.enricher.enrich(&mut request, caller);
            if filled != Filled::default() {
                state.metrics.enriched(filled);
            }
            // Consent and regulation, read once: every decision about the user below.
            let privacy = Privacy::read(&request, &state.auction.privacy);
            let cookie = if state.config.first_party_id.enabled() {
                uid::assign(
                    &mut request,
                    caller.uid_cookie.as_deref(),
                    caller.from_browser,
                    privacy.own.allows(Activity::StableId),
                )
            } else {
                CookieAction::Leave
            };
            let prebid = prebid::detect(&request, &state.config.prebid, &state.auction.bidders);
            if let Ok(Some(call)) = &prebid {
                state.metrics.prebid_call(call.channel());
            }
            let (reply, slowest_bidder) = match &prebid {
                Err((field, message)) => {
                    let refusal = Refusal::Invalid {
                        message: message.clone(),
                        field: field.clone(),
                    };
                    (refusal.reply(), None)
                }
                Ok(Some(call)) if !call.prepare(&mut request) => {
                    let debug = debug_wanted(state, &request, debug_query);
                    (answer::empty_for_prebid(&request, call, debug), None)
                }
                Ok(call) => {
                    let asked = Asked {
                        request: &request,
                        privacy: &privacy,
                        debug_query,
                        arrival,
                    };
                    decide_and_answer(state, asked, call.as_ref()).await
                }
            };
            if let Some(slowest) = slowest_bidder {
                let overhead = arrival.elapsed().saturating_sub(slowest);
                state
                    .metrics
                    .fanout_overhead_us(overhead.as_micros() as u64);
            }
            Reply { cookie, ..reply }
        }
    };
    state.metrics.outcome(reply.outcome);
    state
        .metrics
        .decision_latency_us(arrival.elapsed().as_micros() as u64);
    reply
}

/// Decodes the body and checks the OpenRTB rules beyond types.
fn accept(body: &[u8]) -> Result<BidRequest, Refusal> {
    let mut request = decode_request(body).map_err(|error| Refusal::Malformed {
        message: error.message,
        field: error.field,
    })?;
    validate_request(&mut request).map_err(|invalid| Refusal::Invalid {
        message: invalid.message,
        field: invalid.field,
    })?;
    Ok(request)
}

/// One auction, step by step: (1) start the bidder calls, (2) read the user, (3) prepare
/// the internal candidates, (4) collect and screen the bidders' answers, (5) clear and
/// charge, (6) tell the bidders, (7) answer. The reply, and how long the slowest awaited
/// bidder took (when any was called).
/// One decoded request and what was read of it before the auction.
#[derive(Debug, Clone, Copy)]
struct Asked<'a> {
    request: &'a BidRequest,
    privacy: &'a Privacy,
    debug_query: bool,
    arrival: Instant,
}

async fn decide_and_answer(
    state: &Arc<AppState>,
    asked: Asked<'_>,
    prebid: Option<&prebid::PrebidCall>,
) -> (Reply, Option<Duration>) {
    let Asked {
        request,
        privacy,
        debug_query,
        arrival,
    } = asked;
    let config = &state.config;
    let rules = &state.auction;
    let auction_id = state.next_auction_id();
    let tmax = effective_tmax(request.tmax, &config.limits);
    let timing = Timing {
        arrival,
        tmax: Duration::from_millis(tmax),
    };
    let serving = state.serving();
    // Who sold each imp (publisher, placement, sub-id): carried into every notice and
    // click URL, with the page's category once the page is read (step 3).
    let mut provenance = match publishers::provenance(&serving.snapshot.publishers, request) {
        Ok(provenance) => provenance,
        Err(field) => {
            let refusal = Refusal::Invalid {
                message: "a sub-id is 1–64 letters, digits, '-', '_', '.' or ':'".to_owned(),
                field,
            };
            return (refusal.reply(), None);
        }
    };
    if provenance.first().is_some_and(|p| p.source_mismatch) {
        state.metrics.marked(Mark::SourceMismatch);
    }
    // Invalid traffic: counted, flagged or refused before anything is spent on it.
    let ivt = match ivt::check(state, request, prebid) {
        Ok(findings) => findings,
        Err(reply) => return (reply, None),
    };
    let ivt_flags: Vec<&'static str> = ivt.found.iter().map(|(r, _)| r.as_str()).collect();
    // Who sold it before the exchange: the supply chain bidders get (or a policy's refusal).
    let chain = match supply::chain(state, &serving, request, &auction_id, prebid) {
        Ok(chain) => chain,
        Err(reply) => return (reply, None),
    };
    let ads_txt_unauthorised = match supply::unauthorised(state, &serving, request, prebid) {
        Ok(unauthorised) => unauthorised,
        Err(reply) => return (reply, None),
    };
    let floors = imp_floors(request, rules);
    // 1. The calls go out first; the rest happens while they are on the wire.
    let outbound = bidders::Outbound {
        request,
        schain: chain.as_ref().map(|c| &c.chain),
        privacy,
        rules: &rules.privacy.rules,
    };
    let mut in_flight = bidders::start(
        &state.bidders,
        config,
        outbound,
        &floors,
        &auction_id,
        timing,
    );
    in_flight.send().await;
    let bidder_privacy = in_flight.take_privacy();
    // 2. The user: one bounded store read, when some campaign needs it.
    let user = user::read(
        state,
        &serving,
        (request, privacy),
        timing.response_deadline(config),
    )
    .await;
    // 3. Internal candidates, traced under `?debug=1` (the debug view is read from it).
    let now_ms = state.clock.now_millis();
    let now_unix = now_ms.div_euclid(1000);
    let user_inputs = UserInputs::new(
        request,
        privacy.own.allows(Activity::UseUserData),
        rules,
        serving.model.as_deref(),
        user.stored_history(),
        now_unix,
    );
    let seed = crate::auction::mix(u64::from_str_radix(&auction_id, 16).unwrap_or_default());
    let mut signals = AuctionSignals::new(request, &serving.snapshot, rules, user_inputs)
        .with_trends(&serving.trends);
    if config.learning.enabled {
        // What outcomes are learned under: the page's category, as the page read it.
        signals = signals.with_learning(request, &serving.learned, rules, seed ^ LEARNING_DRAWS);
        for imp in &mut provenance {
            imp.page_category = signals.page_category();
        }
    }
    // The page's strongest topics count toward what trends (a few relaxed atomic adds).
    serving.topics.count(&signals.context().terms);
    let gate = RequestGate {
        caps: &user.read,
        pacers: &serving.pacers,
        now_unix,
        now_ms,
        seed,
        cap_stats: &state.caps,
        pacing_stats: &state.budgets.stats,
    };
    let inputs = Inputs {
        snapshot: &serving.snapshot,
        config: rules,
        signals: &signals,
        now_unix,
        gate: &gate,
    };
    let debug = debug_wanted(state, request, debug_query);
    let mut trace = debug.then(Trace::default);
    let mut decision = match trace.as_mut() {
        Some(trace) => prepare_observed(request, &floors, inputs, trace),
        None => prepare_observed(request, &floors, inputs, &mut Unobserved),
    };
    // 4. The bidders' answers, screened, join the same auction.
    let adjustments = prebid.map(|call| call.adjustments(&rules.bidders));
    let (dropped, calls) = collect_and_screen(
        state,
        in_flight,
        (request, adjustments.as_deref()),
        &floors,
        &mut decision,
    )
    .await;
    let slowest_bidder = calls.iter().map(|c| c.elapsed).max();
    // 5. One auction per imp; each internal win is paid from its campaign's lease.
    clear_and_charge(state, &serving, &mut decision);
    // 6. Win, loss and (parked) billing notices to the bidders, off the request path.
    if !decision.external.is_empty() || !dropped.is_empty() {
        verdicts::send(&state.bidders, &decision, &auction_id, &dropped);
    }
    // 7. The answer.
    let user_hex = user.key.map(UserKey::hex);
    let facts = answer::Facts {
        auction_id: &auction_id,
        user: user_hex.as_deref(),
        now_ms,
        tmax_ms: tmax,
        dropped: &dropped,
        calls: &calls,
        prebid,
        provenance: &provenance,
        supply_chain: chain.as_ref(),
        ads_txt_unauthorised,
        ivt: &ivt,
        ivt_flags: &ivt_flags,
        privacy,
        bidder_privacy: &bidder_privacy,
        elapsed: arrival.elapsed(),
    };
    let debug = trace.as_ref().map(|trace| (trace, &signals));
    let reply = answer::build(state, &serving, request, &decision, facts, debug);
    (reply, slowest_bidder)
}

/// How one bidder call of a request went (for the Prebid answer's figures).
#[derive(Debug, Clone)]
pub struct CallReport {
    /// Bidder index.
    pub bidder: usize,
    /// How long it took.
    pub elapsed: Duration,
    /// Why it gave nothing usable, if it failed: a timeout or a call error.
    pub error: Option<&'static str>,
}

/// Step 4: waits for the bidders (never past the response deadline), screens each bid
/// (adjusted by the request's per-bidder factors, if it gave any) and adds the admitted
/// ones to `decision`. The bids screened out, and how each call went.
async fn collect_and_screen(
    state: &AppState,
    in_flight: InFlight,
    (request, adjustments): (&BidRequest, Option<&[f64]>),
    floors: &[Option<f64>],
    decision: &mut Decision<'_>,
) -> (Vec<DroppedBid>, Vec<CallReport>) {
    let mut dropped = Vec::new();
    if in_flight.is_empty() {
        return (dropped, Vec::new());
    }
    let answered = in_flight.collect(&state.bidders).await;
    let calls = answered
        .iter()
        .map(|a| CallReport {
            bidder: a.bidder,
            elapsed: a.elapsed,
            error: match &a.outcome {
                CallOutcome::Timeout => Some("timeout"),
                CallOutcome::Failed(error) => Some(error.as_str()),
                CallOutcome::Bids(_) | CallOutcome::NoBid => None,
            },
        })
        .collect();
    let floors: Vec<f64> = floors.iter().map(|f| f.unwrap_or(0.0)).collect();
    let auctioned = Auctioned {
        config: &state.auction,
        publisher: request,
        features: &decision.request,
        floors: &floors,
        adjustments: adjustments.unwrap_or_default(),
    };
    let mut admitted = Vec::new();
    for answer in answered {
        if let CallOutcome::Bids(response) = answer.outcome {
            let screened = screen(answer.bidder, &auctioned, &answer.request, response);
            for drop in &screened.dropped {
                state.bidders.stats(drop.bidder).drop_bid(drop.reason);
            }
            admitted.extend(screened.admitted);
            dropped.extend(screened.dropped);
        }
    }
    decision.add_external(admitted);
    (dropped, calls)
}

/// Step 5: clears every imp, charges internal wins to their leases (a win the lease
/// cannot pay is withdrawn) and counts why imps went unfilled.
fn clear_and_charge(state: &AppState, serving: &Serving, decision: &mut Decision<'_>) {
    decision.clear();
    charge_winners(decision, &serving.pacers, &state.budgets.stats);
    for reason in decision.no_bids.iter().flatten() {
        state.metrics.imp_no_bid(*reason);
    }
}

/// Whether this request gets the debug document: allowed by the config, and asked for
/// by `?debug=1` or `ext.debug`.
fn debug_wanted(state: &AppState, request: &BidRequest, debug_query: bool) -> bool {
    state.config.debug.allow && (debug_query || debug_requested(request))
}

fn debug_requested(request: &BidRequest) -> bool {
    let ext = request.ext.as_ref();
    // `ext.debug`, or Prebid Server's `ext.prebid.debug` (Prebid.js in debug mode).
    [
        ext.and_then(|e| e.get("debug")),
        ext.and_then(|e| e.get("prebid"))
            .and_then(|p| p.get("debug")),
    ]
    .into_iter()
    .flatten()
    .any(|d| matches!(d, Json::Bool(true)) || d.as_i64() == Some(1))
}

/// The `tmax` honoured, ms: the request's, clamped to the configured bounds.
pub fn effective_tmax(tmax: Option<i64>, limits: &Limits) -> u64 {
    match tmax {
        None => limits.tmax_default_ms,
        Some(ms) => (ms.max(0) as u64).clamp(limits.tmax_min_ms, limits.tmax_max_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmax_is_clamped_to_bounds() {
        let limits = Limits::default();
        assert_eq!(effective_tmax(None, &limits), limits.tmax_default_ms);
        assert_eq!(effective_tmax(Some(-5), &limits), limits.tmax_min_ms);
        assert_eq!(effective_tmax(Some(0), &limits), limits.tmax_min_ms);
        assert_eq!(effective_tmax(Some(i64::MAX), &limits), limits.tmax_max_ms);
        assert_eq!(effective_tmax(Some(120), &limits), 120);
    }
}
