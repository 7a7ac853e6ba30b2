//! Fan-out to external bidders (DSPs) under the request's deadline.
//!
//! Per request, [`start`] picks the eligible bidders (accepted imps, QPS throttle,
//! circuit state, time left), builds and encodes each one's BidRequest (`tmax` reduced
//! by the time already spent, the network margin and the exchange's answer margin);
//! [`InFlight::send`] puts every call on the wire at once through the pooled keep-alive
//! client. The calls are futures of the request's own task, not tasks of their own (no
//! spawn, no hand-over per call). The handler then scores its own campaigns while the
//! calls are out, and [`InFlight::collect`] waits only until the deadline: a late bidder
//! is cut off (its call dropped) and counted, never awaited.
//!
//! Submodules: [`outgoing`] (what each bidder is sent), [`client`] (one call),
//! [`circuit`] and `throttle` (bidder health and rate), [`notices_out`] (win/billing/loss
//! URLs, off the request path), [`verdicts`] (what each bidder is told); the core's
//! `screen` decides which returned bids may enter the auction.
//! [`stats`]: per-bidder metrics.

pub mod circuit;
pub mod client;
pub mod notices_out;
pub mod outgoing;

pub mod stats;
mod throttle;
pub mod verdicts;

use crate::config::ExchangeConfig;
use crate::privacy::scrub::scrub;
use crate::privacy::{Activity, Permissions, Privacy, Rules};
use bidder_sdk::gzip::gzip;
use bidder_sdk::openrtb::{encode_request, BidRequest, Json};
use bytes::Bytes;
use circuit::{Circuit, Permit};
use client::{call, new_client, CallOutcome, HttpClient, Outgoing};
use futures_util::stream::{FuturesUnordered, StreamExt};
use http::{HeaderValue, Uri};
use notices_out::{Notifier, PendingBills, SendPolicy};
use outgoing::{accepted_imps, build_request, CallTerms};
use stats::{BidderStats, BidderView, Skip};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};
use throttle::Throttle;

/// Extra wait past the response deadline before in-flight calls are aborted: the calls'
/// own timers fire at the deadline; this only covers scheduling delay.
const COLLECT_GRACE: Duration = Duration::from_millis(1);

/// Runtime state of every configured bidder.
#[derive(Debug)]
pub struct Fanout {
    bidders: Vec<BidderRuntime>,
    client: HttpClient,
    exchange_name: HeaderValue,
    /// Win/billing/loss notice queue.
    pub notifier: Notifier,
    /// DSP billing URLs waiting for the publisher's billing notice.
    pub bills: PendingBills,
    origin: Instant,
}

#[derive(Debug)]
struct BidderRuntime {
    uri: Uri,
    sizes: Vec<(i64, i64)>,
    circuit: Circuit,
    throttle: Throttle,
    stats: BidderStats,
}

impl Fanout {
    /// Runtime state for `config.bidders` (validated config).
    pub fn new(config: &ExchangeConfig) -> Self {
        let fanout = &config.fanout;
        let bidders = config
            .bidders
            .iter()
            .map(|bidder| BidderRuntime {
                uri: bidder.endpoint.parse().unwrap_or_default(),
                sizes: bidder.parsed_sizes(),
                circuit: Circuit::new(
                    fanout.circuit_failures,
                    fanout.circuit_open_ms,
                    fanout.circuit_probes,
                ),
                throttle: Throttle::new(bidder.max_qps),
                stats: BidderStats::default(),
            })
            .collect();
        Self {
            bidders,
            client: new_client(fanout.pool_idle_per_bidder),
            exchange_name: HeaderValue::from_str(&fanout.exchange_name)
                .unwrap_or(HeaderValue::from_static("rtb-exchange")),
            notifier: Notifier::new(fanout.notice_queue, config.bidders.len()),
            bills: PendingBills::new(Duration::from_secs(
                config.auction.bid_expiry_secs.max(1) as u64
            )),
            origin: Instant::now(),
        }
    }

    /// Whether any bidder is configured.
    pub fn is_empty(&self) -> bool {
        self.bidders.is_empty()
    }

    /// Counters of bidder `index`.
    pub fn stats(&self, index: usize) -> &BidderStats {
        &self.bidders[index].stats
    }

    /// Sends queued notices until shutdown (spawned by the server).
    pub async fn send_notices(&self, config: &ExchangeConfig) {
        let policy = SendPolicy {
            retries: config.fanout.notice_retries,
            timeout: Duration::from_millis(config.fanout.notice_timeout_ms),
        };
        self.notifier.run(self.client.clone(), policy).await;
    }

    /// Appends the per-bidder metric families.
    pub fn describe(
        &self,
        config: &ExchangeConfig,
        out: &mut crate::metrics::exposition::Exposition<'_, '_>,
    ) {
        let views: Vec<BidderView<'_>> = self
            .bidders
            .iter()
            .zip(&config.bidders)
            .map(|(runtime, bidder)| BidderView {
                name: &bidder.name,
                stats: &runtime.stats,
                circuit: runtime.circuit.state(),
            })
            .collect();
        stats::describe(out, &views, &self.notifier.counters);
    }

    fn now_ms(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.origin).as_millis() as u64
    }
}

/// Calls in flight for one request.
#[derive(Debug)]
pub struct InFlight {
    calls: Vec<SentCall>,
    /// The calls still out (polled by the request's task).
    out: FuturesUnordered<CallFuture>,
    /// Calls that ended while being sent.
    ended: Vec<(usize, CallOutcome, Duration)>,
    deadline: Instant,
    /// What privacy denied each bidder it touched (for the debug view).
    privacy: Vec<BidderPrivacy>,
}

/// One call in flight: the bidder index, how it ended, how long it took.
type CallFuture = Pin<Box<dyn Future<Output = (usize, CallOutcome, Duration)> + Send>>;

/// One call that went out.
#[derive(Debug)]
struct SentCall {
    bidder: usize,
    request: BidRequest,
    permit: Permit,
}

/// A bidder's answer (or failure) with the request it answers.
#[derive(Debug)]
pub struct Answered {
    /// Bidder index.
    pub bidder: usize,
    /// What the bidder was sent.
    pub request: BidRequest,
    /// How the call ended.
    pub outcome: CallOutcome,
    /// How long it took (until the deadline, for a timeout).
    pub elapsed: Duration,
}

/// The time rules of one request's fan-out.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// When the request arrived.
    pub arrival: Instant,
    /// The honoured `tmax`.
    pub tmax: Duration,
}

impl Timing {
    /// The instant by which the bidders must have answered for the exchange to answer
    /// within `tmax`.
    pub fn response_deadline(&self, config: &ExchangeConfig) -> Instant {
        self.arrival
            + self
                .tmax
                .saturating_sub(Duration::from_millis(config.fanout.answer_margin_ms))
    }
}

/// What goes out with every call: the publisher's request, the supply chain the bidders
/// get (`None`: the request's own, as given), and the request's privacy with the
/// operator's activity rules.
#[derive(Debug, Clone, Copy)]
pub struct Outbound<'a> {
    /// The publisher's request.
    pub request: &'a BidRequest,
    /// The supply chain for `source.schain`.
    pub schain: Option<&'a Json>,
    /// The request's consent, read once.
    pub privacy: &'a Privacy,
    /// `[privacy]` rules.
    pub rules: &'a Rules,
}

/// What privacy did to one bidder's call: what it was denied, and the fields cut from
/// what it got (nothing is kept for a bidder that was denied nothing).
#[derive(Debug, Clone)]
pub struct BidderPrivacy {
    /// Bidder index.
    pub bidder: usize,
    /// Its permissions on this request.
    pub permissions: Permissions,
    /// Fields removed or coarsened in its request.
    pub removed: Vec<&'static str>,
}

/// Starts a call to every eligible bidder that privacy lets the exchange call, with what
/// it may get; `floors` are the imps' floors in the exchange currency (`None` where the
/// floor's currency is unknown: that imp is not offered).
pub fn start(
    fanout: &Arc<Fanout>,
    config: &ExchangeConfig,
    outbound: Outbound<'_>,
    floors: &[Option<f64>],
    auction_id: &str,
    timing: Timing,
) -> InFlight {
    let deadline = timing.response_deadline(config);
    let mut in_flight = InFlight {
        calls: Vec::new(),
        out: FuturesUnordered::new(),
        ended: Vec::new(),
        deadline,
        privacy: Vec::new(),
    };
    let request = outbound.request;
    if fanout.is_empty() {
        return in_flight;
    }
    let now = Instant::now();
    let known_floors: Vec<f64> = floors.iter().map(|f| f.unwrap_or(0.0)).collect();
    let network_margin = Duration::from_millis(config.fanout.network_margin_ms);
    let min_tmax = Duration::from_millis(config.fanout.min_bidder_tmax_ms);
    for (index, (bidder, runtime)) in config.bidders.iter().zip(&fanout.bidders).enumerate() {
        let mut imps = accepted_imps(bidder, &runtime.sizes, request);
        imps.retain(|&i| floors.get(i).is_some_and(Option::is_some));
        if imps.is_empty() {
            continue;
        }
        let permissions =
            outbound
                .privacy
                .bidder(request, &bidder.name, bidder.tcf_vendor_id, outbound.rules);
        let denied_any = permissions != Permissions::all();
        if !permissions.allows(Activity::FetchBids) {
            runtime.stats.skip(Skip::Privacy);
            in_flight.privacy.push(BidderPrivacy {
                bidder: index,
                permissions,
                removed: Vec::new(),
            });
            continue;
        }
        let call_deadline = deadline.min(now + Duration::from_millis(bidder.timeout_ms));
        let told = call_deadline
            .saturating_duration_since(now)
            .saturating_sub(network_margin);
        if told < min_tmax {
            runtime.stats.skip(Skip::NoTime);
            continue;
        }
        if !runtime
            .throttle
            .try_acquire(now.saturating_duration_since(fanout.origin).as_nanos() as u64)
        {
            runtime.stats.skip(Skip::Throttled);
            continue;
        }
        // Validation guarantees a rate; without one the bidder could not be priced.
        let Some(rate) = config.rate_of(&bidder.currency) else {
            continue;
        };
        let Some(permit) = runtime.circuit.allow(fanout.now_ms(now)) else {
            runtime.stats.skip(Skip::CircuitOpen);
            continue;
        };
        let terms = CallTerms {
            auction_id,
            tmax_ms: told.as_millis() as u64,
            rate,
            adjustment: bidder.bid_adjustment,
            schain: outbound.schain,
        };
        let mut sent = build_request(request, bidder, &runtime.sizes, &imps, &known_floors, terms);
        if denied_any {
            let removed = scrub(&mut sent, &permissions);
            in_flight.privacy.push(BidderPrivacy {
                bidder: index,
                permissions,
                removed,
            });
        }
        let encoded = encode_request(&sent);
        let body = if bidder.gzip { gzip(&encoded) } else { encoded };
        let outgoing = Outgoing {
            uri: runtime.uri.clone(),
            body: Bytes::from(body),
            gzip: bidder.gzip,
            exchange_name: fanout.exchange_name.clone(),
        };
        runtime.stats.requests.fetch_add(1, Relaxed);
        let task_fanout = Arc::clone(fanout);
        let max_bytes = config.fanout.max_response_bytes;
        in_flight.out.push(Box::pin(async move {
            let started = Instant::now();
            let fanout = &*task_fanout;
            let outcome = tokio::time::timeout_at(
                call_deadline.into(),
                call(&fanout.client, outgoing, max_bytes),
            )
            .await
            .unwrap_or(CallOutcome::Timeout);
            account(fanout, index, permit, &outcome, started);
            (index, outcome, started.elapsed())
        }));
        in_flight.calls.push(SentCall {
            bidder: index,
            request: sent,
            permit,
        });
    }
    in_flight
}

/// Counts a finished call and tells its circuit.
fn account(fanout: &Fanout, index: usize, permit: Permit, outcome: &CallOutcome, started: Instant) {
    let runtime = &fanout.bidders[index];
    let stats = &runtime.stats;
    let success = match outcome {
        CallOutcome::Bids(response) => {
            stats.answers_with_bids.fetch_add(1, Relaxed);
            let bids: usize = response.seatbid.iter().map(|s| s.bid.len()).sum();
            stats.bids.fetch_add(bids as u64, Relaxed);
            true
        }
        CallOutcome::NoBid => {
            stats.no_bids.fetch_add(1, Relaxed);
            true
        }
        CallOutcome::Timeout => {
            stats.timeouts.fetch_add(1, Relaxed);
            false
        }
        CallOutcome::Failed(error) => {
            stats.error(*error);
            false
        }
    };
    if !matches!(outcome, CallOutcome::Timeout) {
        stats.latency_us(started.elapsed().as_micros() as u64);
    }
    runtime
        .circuit
        .record(permit, success, fanout.now_ms(Instant::now()));
}

impl InFlight {
    /// What privacy denied each bidder it touched, taken out (the debug view's).
    pub fn take_privacy(&mut self) -> Vec<BidderPrivacy> {
        std::mem::take(&mut self.privacy)
    }

    /// Whether no call went out.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Polls every call once, so that each request is on its way (written to a pooled
    /// connection) before the handler goes on; returns at once.
    pub async fn send(&mut self) {
        if self.out.is_empty() {
            return;
        }
        std::future::poll_fn(|cx| {
            while let Poll::Ready(Some(ended)) = self.out.poll_next_unpin(cx) {
                self.ended.push(ended);
            }
            Poll::Ready(())
        })
        .await;
    }

    /// Waits for the calls, never past the deadline; calls still out then are dropped
    /// (their connections closed) and counted as timeouts.
    pub async fn collect(mut self, fanout: &Fanout) -> Vec<Answered> {
        let started = Instant::now();
        let mut outcomes: Vec<Option<(CallOutcome, Duration)>> =
            self.calls.iter().map(|_| None).collect();
        let give_up = tokio::time::Instant::from(self.deadline + COLLECT_GRACE);
        let mut ended = std::mem::take(&mut self.ended);
        let mut out = std::mem::take(&mut self.out);
        let _ = tokio::time::timeout_at(give_up, async {
            while let Some(call) = out.next().await {
                ended.push(call);
            }
        })
        .await;
        drop(out);
        for (bidder, outcome, elapsed) in ended {
            if let Some(slot) = self.calls.iter().position(|c| c.bidder == bidder) {
                outcomes[slot] = Some((outcome, elapsed));
            }
        }
        self.calls
            .into_iter()
            .zip(outcomes)
            .map(|(call, outcome)| {
                let (outcome, elapsed) = outcome.unwrap_or_else(|| {
                    let runtime = &fanout.bidders[call.bidder];
                    runtime.stats.timeouts.fetch_add(1, Relaxed);
                    runtime
                        .circuit
                        .record(call.permit, false, fanout.now_ms(Instant::now()));
                    (CallOutcome::Timeout, started.elapsed())
                });
                Answered {
                    bidder: call.bidder,
                    request: call.request,
                    outcome,
                    elapsed,
                }
            })
            .collect()
    }
}
