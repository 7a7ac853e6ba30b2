//! The auction endpoint without its HTTP framing: body bytes in, status and body out.
//! The HTTP layer and the tests and benches all call [`auction`].

use crate::admission::{charge_winners, RequestGate};
use crate::config::Limits;
use crate::debug_view;
use crate::decision::{imp_floors, prepare_observed, Inputs, Trace, Unobserved};
use crate::fanout::client::CallOutcome;
use crate::fanout::verdicts;
use crate::fanout::{self, Timing};
use crate::freq::{self, CapRead};
use crate::metrics::Outcome;
use crate::notice::Signer;
use crate::pacing_store::{PacingStore, UserKey};
use crate::response::{self, ResponseSettings};
use crate::screen::{screen, Auctioned};
use crate::signals::{AuctionSignals, UserInputs};
use crate::state::AppState;
use bidder_sdk::openrtb::enums::no_bid_reason;
use bidder_sdk::openrtb::{
    decode_request, encode_response, validate_request, BidRequest, BidResponse, Json,
};
use http::StatusCode;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the endpoint answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// JSON body (empty for 204).
    pub body: Vec<u8>,
    /// The outcome counted in metrics.
    pub outcome: Outcome,
}

impl Reply {
    /// A JSON error reply `{"error": ..., "field": ...}`.
    pub fn error(status: StatusCode, outcome: Outcome, message: &str, field: &str) -> Self {
        let body = serde_json::json!({ "error": message, "field": field });
        Self {
            status,
            body: body.to_string().into_bytes(),
            outcome,
        }
    }
}

/// Runs one auction for a request body that arrived at `arrival`; `debug_query` is
/// `?debug=1`. With bidders configured, the fan-out runs while internal campaigns are
/// scored, and the answer is ready by `tmax` whatever the bidders do.
pub async fn auction(
    state: &Arc<AppState>,
    body: &[u8],
    debug_query: bool,
    arrival: Instant,
) -> Reply {
    let reply = match decode_request(body) {
        Err(error) => Reply::error(
            StatusCode::BAD_REQUEST,
            Outcome::BadRequest,
            &error.message,
            &error.field,
        ),
        Ok(mut request) => match validate_request(&mut request) {
            Err(invalid) => Reply::error(
                StatusCode::BAD_REQUEST,
                Outcome::BadRequest,
                &invalid.message,
                &invalid.field,
            ),
            Ok(()) => {
                let (reply, slowest_bidder) =
                    decide_and_answer(state, &request, debug_query, arrival).await;
                if let Some(slowest) = slowest_bidder {
                    let overhead = arrival.elapsed().saturating_sub(slowest);
                    state
                        .metrics
                        .fanout_overhead_us(overhead.as_micros() as u64);
                }
                reply
            }
        },
    };
    state.metrics.outcome(reply.outcome);
    state
        .metrics
        .decision_latency_us(arrival.elapsed().as_micros() as u64);
    reply
}

/// The reply, and how long the slowest awaited bidder took (when any was called).
async fn decide_and_answer(
    state: &Arc<AppState>,
    request: &BidRequest,
    debug_query: bool,
    arrival: Instant,
) -> (Reply, Option<Duration>) {
    let config = &state.config;
    let auction_id = state.next_auction_id();
    let tmax = effective_tmax(request.tmax, &config.limits);
    let rules = &state.auction;
    let floors = imp_floors(request, rules);
    let timing = Timing {
        arrival,
        tmax: Duration::from_millis(tmax),
    };
    // Calls go out first; the counter read and the scoring of internal campaigns happen
    // while they are on the wire.
    let in_flight = fanout::start(&state.fanout, config, request, &floors, &auction_id, timing);
    let serving = state.serving();
    let snapshot = &serving.snapshot;
    let model = &serving.model;
    // LTV tiers need the user's history: read with the counters, when user data may be used.
    let history_wanted =
        snapshot.any_ltv_tiers && model.is_some() && UserInputs::allowed(request, rules);
    // The user key matters only where a cap can count it or a tier can price it.
    let read_wanted = snapshot.any_frequency_cap || history_wanted;
    let user = read_wanted
        .then(|| freq::user_key(request, &state.user_secret))
        .flatten();
    let caps = read_user(state, read_wanted, user, timing.response_deadline(config)).await;
    let now_ms = state.clock.now_millis();
    let stored_history = match &caps {
        CapRead::Counters(counters) => Some(&counters.history),
        _ => None,
    };
    let user_inputs = UserInputs::new(
        request,
        rules,
        model.as_deref(),
        stored_history,
        now_ms.div_euclid(1000),
    );
    let signals = AuctionSignals::new(request, snapshot, rules, user_inputs);
    let pacers = &serving.pacers;
    let gate = RequestGate {
        caps: &caps,
        pacers,
        now_unix: now_ms.div_euclid(1000),
        now_ms,
        seed: crate::auction::mix(u64::from_str_radix(&auction_id, 16).unwrap_or_default()),
        cap_stats: &state.caps,
        pacing_stats: &state.pacing.stats,
    };
    let inputs = Inputs {
        snapshot,
        config: rules,
        signals: &signals,
        now_unix: now_ms.div_euclid(1000),
        gate: &gate,
    };
    // Under `?debug=1` the decision is traced as it is made; the debug view is read from it.
    let debug = config.debug.allow && (debug_query || debug_requested(request));
    let mut trace = debug.then(Trace::default);
    let mut decision = match trace.as_mut() {
        Some(trace) => prepare_observed(request, &floors, inputs, trace),
        None => prepare_observed(request, &floors, inputs, &mut Unobserved),
    };
    let mut dropped = Vec::new();
    let mut slowest_bidder = None;
    if !in_flight.is_empty() {
        let answered = in_flight.collect(&state.fanout).await;
        slowest_bidder = answered.iter().map(|a| a.elapsed).max();
        let floors: Vec<f64> = floors.iter().map(|f| f.unwrap_or(0.0)).collect();
        let auctioned = Auctioned {
            config: rules,
            publisher: request,
            features: &decision.request,
            floors: &floors,
        };
        let mut admitted = Vec::new();
        for answer in answered {
            if let CallOutcome::Bids(response) = answer.outcome {
                let screened = screen(answer.bidder, &auctioned, &answer.request, response);
                for drop in &screened.dropped {
                    state.fanout.stats(drop.bidder).drop_bid(drop.reason);
                }
                admitted.extend(screened.admitted);
                dropped.extend(screened.dropped);
            }
        }
        decision.add_external(admitted);
    }
    decision.clear();
    charge_winners(&mut decision, pacers, &state.pacing.stats);
    for reason in decision.no_bids.iter().flatten() {
        state.metrics.imp_no_bid(*reason);
    }
    if !decision.external.is_empty() || !dropped.is_empty() {
        verdicts::send(&state.fanout, &decision, &auction_id, &dropped);
    }
    let user_hex = user.map(UserKey::hex);
    let settings = ResponseSettings {
        user: user_hex.as_deref(),
        public_url: &config.public_url,
        bid_expiry_secs: config.auction.bid_expiry_secs,
        bidders: &rules.bidders,
        signer: Signer {
            keys: &state.notice_keys,
            expires: now_ms
                .div_euclid(1000)
                .saturating_add_unsigned(config.notices.ttl_secs),
        },
    };
    let response = response::build(&decision, snapshot, &auction_id, settings);
    if let Some(trace) = &trace {
        let view = debug_view::build(&decision, trace, snapshot, &signals, tmax);
        let filled = response.is_some();
        let mut response = response.unwrap_or_else(|| BidResponse {
            id: request.id.clone(),
            nbr: Some(no_bid_reason::UNKNOWN),
            ..BidResponse::default()
        });
        let external = debug_view::external(&decision, &dropped, &rules.bidders);
        response.ext = Some(serde_json::json!({ "debug": view, "bidders": external }));
        let outcome = if filled {
            Outcome::Filled
        } else {
            Outcome::NoFill
        };
        let reply = Reply {
            status: StatusCode::OK,
            body: encode_response(&response),
            outcome,
        };
        return (reply, slowest_bidder);
    }
    let reply = match response {
        Some(response) => Reply {
            status: StatusCode::OK,
            body: encode_response(&response),
            outcome: Outcome::Filled,
        },
        None => Reply {
            status: StatusCode::NO_CONTENT,
            body: Vec::new(),
            outcome: Outcome::NoFill,
        },
    };
    (reply, slowest_bidder)
}

/// Reads the user's hash (frequency counters and purchase history) when some campaign
/// is capped or priced by LTV tier: one store call, bounded by `store.read_timeout_ms`
/// and the response deadline. Counted either way.
async fn read_user(
    state: &AppState,
    wanted: bool,
    user: Option<UserKey>,
    response_deadline: Instant,
) -> CapRead {
    if !wanted {
        return CapRead::NotNeeded;
    }
    let Some(user) = user else {
        state.caps.anonymous.fetch_add(1, Relaxed);
        return CapRead::Anonymous;
    };
    let started = Instant::now();
    let limit = started + Duration::from_millis(state.config.store.read_timeout_ms);
    let deadline = limit.min(response_deadline);
    match tokio::time::timeout_at(deadline.into(), state.shared.read_counters(user)).await {
        Ok(Ok(counters)) => {
            state.caps.reads_ok.fetch_add(1, Relaxed);
            state
                .metrics
                .cap_read_us(started.elapsed().as_micros() as u64);
            CapRead::Counters(counters)
        }
        Ok(Err(error)) => {
            state.caps.reads_failed.fetch_add(1, Relaxed);
            if let Some(left_out) = state.caps.log.admit() {
                tracing::warn!(%error, left_out, "frequency read failed; capped campaigns apply their on_store_error");
            }
            CapRead::Failed
        }
        Err(_) => {
            state.caps.reads_late.fetch_add(1, Relaxed);
            if let Some(left_out) = state.caps.log.admit() {
                tracing::warn!(
                    waited_ms = started.elapsed().as_millis() as u64,
                    left_out,
                    "frequency read late; capped campaigns apply their on_store_error"
                );
            }
            CapRead::Failed
        }
    }
}

fn debug_requested(request: &BidRequest) -> bool {
    request
        .ext
        .as_ref()
        .and_then(|ext| ext.get("debug"))
        .is_some_and(|d| matches!(d, Json::Bool(true)) || d.as_i64() == Some(1))
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
