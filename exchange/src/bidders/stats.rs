//! Per-bidder health and traffic counters, and their Prometheus rendering: requests,
//! answers, bids, timeouts, errors by kind, drops by reason, skips by reason, wins,
//! notices, circuit state and a latency histogram.

use super::circuit::CircuitState;
use super::client::CallError;
use super::notices_out::{NoticeCounters, NoticeResult};
use crate::metrics::exposition::Exposition;
use crate::metrics::histogram::LatencyHistogram;
use crate::screen::DropReason;
use bidder_sdk::NoticeKind;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Why a bidder was not called for a request (a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Its circuit is open.
    CircuitOpen,
    /// It is at its `max_qps`.
    Throttled,
    /// Too little of `tmax` was left to give it.
    NoTime,
    /// The request's consent does not let it be called (`fetchBids` denied).
    Privacy,
}

impl Skip {
    /// Every value.
    pub const ALL: [Skip; 4] = [
        Self::CircuitOpen,
        Self::Throttled,
        Self::NoTime,
        Self::Privacy,
    ];

    /// Stable label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CircuitOpen => "circuit_open",
            Self::Throttled => "throttled",
            Self::NoTime => "no_time",
            Self::Privacy => "privacy",
        }
    }
}

/// One bidder's counters.
#[derive(Debug, Default)]
pub struct BidderStats {
    /// Requests sent.
    pub requests: AtomicU64,
    /// Answers with at least one seat.
    pub answers_with_bids: AtomicU64,
    /// Bids received (before screening).
    pub bids: AtomicU64,
    /// No-bid answers (204, empty).
    pub no_bids: AtomicU64,
    /// Calls cut off at their deadline.
    pub timeouts: AtomicU64,
    /// Bids that won an imp.
    pub wins: AtomicU64,
    errors: [AtomicU64; CallError::ALL.len()],
    drops: [AtomicU64; DropReason::ALL.len()],
    skips: [AtomicU64; Skip::ALL.len()],
    latency: LatencyHistogram,
}

impl BidderStats {
    /// Counts a failed call.
    pub fn error(&self, error: CallError) {
        self.errors[error as usize].fetch_add(1, Relaxed);
    }

    /// Counts a dropped bid.
    pub fn drop_bid(&self, reason: DropReason) {
        self.drops[reason as usize].fetch_add(1, Relaxed);
    }

    /// Counts a skipped call.
    pub fn skip(&self, skip: Skip) {
        self.skips[skip as usize].fetch_add(1, Relaxed);
    }

    /// Drops counted for `reason`.
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize].load(Relaxed)
    }

    /// Errors counted of `kind`.
    pub fn errors(&self, kind: CallError) -> u64 {
        self.errors[kind as usize].load(Relaxed)
    }

    /// Skips counted for `skip`.
    pub fn skips(&self, skip: Skip) -> u64 {
        self.skips[skip as usize].load(Relaxed)
    }

    /// Records a call's round trip, µs.
    pub fn latency_us(&self, micros: u64) {
        self.latency.record_us(micros);
    }
}

/// Reads one counter of a bidder.
type Reader = fn(&BidderStats) -> u64;

/// One bidder as the renderer sees it.
pub struct BidderView<'a> {
    /// Name (label).
    pub name: &'a str,
    /// Counters.
    pub stats: &'a BidderStats,
    /// Circuit state now.
    pub circuit: CircuitState,
}

/// Describes the bidder families (nothing when no bidder is configured).
pub fn describe(
    out: &mut Exposition<'_, '_>,
    bidders: &[BidderView<'_>],
    notices: &NoticeCounters,
) {
    if bidders.is_empty() {
        return;
    }
    let simple: [(&str, &str, Reader); 6] = [
        (
            "exchange_bidder_requests",
            "Requests sent to the bidder.",
            |s| s.requests.load(Relaxed),
        ),
        (
            "exchange_bidder_answers_with_bids",
            "Answers carrying at least one seat.",
            |s| s.answers_with_bids.load(Relaxed),
        ),
        (
            "exchange_bidder_bids",
            "Bids received, before screening.",
            |s| s.bids.load(Relaxed),
        ),
        ("exchange_bidder_no_bids", "No-bid answers.", |s| {
            s.no_bids.load(Relaxed)
        }),
        (
            "exchange_bidder_timeouts",
            "Calls cut off at their deadline.",
            |s| s.timeouts.load(Relaxed),
        ),
        ("exchange_bidder_wins", "Bids that won an imp.", |s| {
            s.wins.load(Relaxed)
        }),
    ];
    let by_bidder: Vec<[(&str, &str); 1]> = bidders.iter().map(|b| [("bidder", b.name)]).collect();
    for (name, help, read) in simple {
        let samples: Vec<(&[(&str, &str)], u64)> = by_bidder
            .iter()
            .zip(bidders)
            .map(|(labels, bidder)| (labels.as_slice(), read(bidder.stats)))
            .collect();
        out.counter(name, help, &samples);
    }
    labelled(
        out,
        ("exchange_bidder_errors", "Failed calls by kind."),
        bidders,
        "kind",
        &CallError::ALL.map(|k| (k.as_str(), k)),
        |stats, kind| stats.errors(kind),
    );
    labelled(
        out,
        (
            "exchange_bidder_dropped_bids",
            "Bids dropped by screening, by reason.",
        ),
        bidders,
        "reason",
        &DropReason::ALL.map(|r| (r.as_str(), r)),
        |stats, reason| stats.drops(reason),
    );
    labelled(
        out,
        (
            "exchange_bidder_skipped",
            "Requests the bidder was not called for, by reason.",
        ),
        bidders,
        "reason",
        &Skip::ALL.map(|r| (r.as_str(), r)),
        |stats, skip| stats.skips(skip),
    );
    let kinds = [NoticeKind::Win, NoticeKind::Billing, NoticeKind::Loss];
    let mut notice_labels = Vec::new();
    let mut notice_values = Vec::new();
    for (index, bidder) in bidders.iter().enumerate() {
        for kind in kinds {
            for result in NoticeResult::ALL {
                notice_labels.push([
                    ("bidder", bidder.name),
                    ("kind", kind.as_str()),
                    ("result", result.as_str()),
                ]);
                notice_values.push(notices.get(index, kind, result));
            }
        }
    }
    let samples: Vec<(&[(&str, &str)], u64)> = notice_labels
        .iter()
        .map(<[_; 3]>::as_slice)
        .zip(notice_values)
        .collect();
    out.counter(
        "exchange_bidder_notices",
        "Notices to the bidder by kind and result.",
        &samples,
    );
    let circuit_labels: Vec<[(&str, &str); 2]> = bidders
        .iter()
        .map(|b| [("bidder", b.name), ("state", b.circuit.as_str())])
        .collect();
    let samples: Vec<(&[(&str, &str)], i64)> = circuit_labels
        .iter()
        .zip(bidders)
        .map(|(labels, b)| (labels.as_slice(), i64::from(b.circuit as u8)))
        .collect();
    out.gauge(
        "exchange_bidder_circuit_state",
        "Circuit breaker: 0 closed, 1 open, 2 half-open.",
        &samples,
    );
    let samples: Vec<(&[(&str, &str)], &LatencyHistogram)> = by_bidder
        .iter()
        .zip(bidders)
        .map(|(labels, b)| (labels.as_slice(), &b.stats.latency))
        .collect();
    out.histogram(
        "exchange_bidder_latency_seconds",
        "Round trip of answered calls.",
        &samples,
    );
}

/// One counter family with a second label besides `bidder`: `(name, help)`, the label's
/// key, its values with what they select, and how to read a bidder's count for one.
fn labelled<L: Copy>(
    out: &mut Exposition<'_, '_>,
    (name, help): (&str, &str),
    bidders: &[BidderView<'_>],
    key: &str,
    values: &[(&'static str, L)],
    read: impl Fn(&BidderStats, L) -> u64,
) {
    let mut labels = Vec::new();
    let mut counts = Vec::new();
    for bidder in bidders {
        for &(label, value) in values {
            labels.push([("bidder", bidder.name), (key, label)]);
            counts.push(read(bidder.stats, value));
        }
    }
    let samples: Vec<(&[(&str, &str)], u64)> =
        labels.iter().map(<[_; 2]>::as_slice).zip(counts).collect();
    out.counter(name, help, &samples);
}
