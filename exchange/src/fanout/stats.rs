//! Per-bidder health and traffic counters, and their Prometheus rendering: requests,
//! answers, bids, timeouts, errors by kind, drops by reason, skips by reason, wins,
//! notices, circuit state and a latency histogram.

use super::circuit::CircuitState;
use super::client::CallError;
use super::notices::{NoticeCounters, NoticeResult};
use crate::screen::DropReason;
use bidder_sdk::NoticeKind;
use hdrhistogram::Histogram;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// Highest bidder latency tracked, µs (one minute).
const MAX_LATENCY_US: u64 = 60_000_000;

/// Why a bidder was not called for a request (a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Its circuit is open.
    CircuitOpen,
    /// It is at its `max_qps`.
    Throttled,
    /// Too little of `tmax` was left to give it.
    NoTime,
}

impl Skip {
    /// Every value.
    pub const ALL: [Skip; 3] = [Self::CircuitOpen, Self::Throttled, Self::NoTime];

    /// Stable label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CircuitOpen => "circuit_open",
            Self::Throttled => "throttled",
            Self::NoTime => "no_time",
        }
    }
}

/// One bidder's counters.
#[derive(Debug)]
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
    latency: Mutex<Histogram<u64>>,
}

impl Default for BidderStats {
    fn default() -> Self {
        Self {
            requests: AtomicU64::new(0),
            answers_with_bids: AtomicU64::new(0),
            bids: AtomicU64::new(0),
            no_bids: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            wins: AtomicU64::new(0),
            errors: Default::default(),
            drops: Default::default(),
            skips: Default::default(),
            // Two significant figures over 1 µs .. 60 s: a few KiB per bidder.
            latency: Mutex::new(
                Histogram::new_with_bounds(1, MAX_LATENCY_US, 2)
                    .expect("constant bounds are valid"),
            ),
        }
    }
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

    /// Records a call's round trip, µs (the lock is held for one record).
    pub fn latency_us(&self, micros: u64) {
        if let Ok(mut histogram) = self.latency.lock() {
            histogram.saturating_record(micros.clamp(1, MAX_LATENCY_US));
        }
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

/// Appends the bidder metric families to `out`.
pub fn render(out: &mut String, bidders: &[BidderView<'_>], notices: &NoticeCounters) {
    if bidders.is_empty() {
        return;
    }
    let simple: [(&str, &str, Reader); 6] = [
        (
            "exchange_bidder_requests_total",
            "Requests sent to the bidder.",
            |s| s.requests.load(Relaxed),
        ),
        (
            "exchange_bidder_answers_with_bids_total",
            "Answers carrying at least one seat.",
            |s| s.answers_with_bids.load(Relaxed),
        ),
        (
            "exchange_bidder_bids_total",
            "Bids received, before screening.",
            |s| s.bids.load(Relaxed),
        ),
        ("exchange_bidder_no_bids_total", "No-bid answers.", |s| {
            s.no_bids.load(Relaxed)
        }),
        (
            "exchange_bidder_timeouts_total",
            "Calls cut off at their deadline.",
            |s| s.timeouts.load(Relaxed),
        ),
        ("exchange_bidder_wins_total", "Bids that won an imp.", |s| {
            s.wins.load(Relaxed)
        }),
    ];
    for (name, help, read) in simple {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for bidder in bidders {
            let _ = writeln!(
                out,
                "{name}{{bidder=\"{}\"}} {}",
                bidder.name,
                read(bidder.stats)
            );
        }
    }
    labelled(
        out,
        ("exchange_bidder_errors_total", "Failed calls by kind."),
        bidders,
        "kind",
        &CallError::ALL.map(|k| (k.as_str(), k)),
        |stats, kind| stats.errors(kind),
    );
    labelled(
        out,
        (
            "exchange_bidder_dropped_bids_total",
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
            "exchange_bidder_skipped_total",
            "Requests the bidder was not called for, by reason.",
        ),
        bidders,
        "reason",
        &Skip::ALL.map(|r| (r.as_str(), r)),
        |stats, skip| stats.skips(skip),
    );
    let _ = writeln!(out, "# HELP exchange_bidder_notices_total Notices to the bidder by kind and result.\n# TYPE exchange_bidder_notices_total counter");
    for (index, bidder) in bidders.iter().enumerate() {
        for kind in [NoticeKind::Win, NoticeKind::Billing, NoticeKind::Loss] {
            for result in NoticeResult::ALL {
                let _ = writeln!(
                    out,
                    "exchange_bidder_notices_total{{bidder=\"{}\",kind=\"{}\",result=\"{}\"}} {}",
                    bidder.name,
                    kind.as_str(),
                    result.as_str(),
                    notices.get(index, kind, result)
                );
            }
        }
    }
    let _ = writeln!(out, "# HELP exchange_bidder_circuit_state Circuit breaker: 0 closed, 1 open, 2 half-open.\n# TYPE exchange_bidder_circuit_state gauge");
    for bidder in bidders {
        let _ = writeln!(
            out,
            "exchange_bidder_circuit_state{{bidder=\"{}\",state=\"{}\"}} {}",
            bidder.name,
            bidder.circuit.as_str(),
            bidder.circuit as u8
        );
    }
    let _ = writeln!(out, "# HELP exchange_bidder_latency_seconds Round trip of answered calls.\n# TYPE exchange_bidder_latency_seconds summary");
    for bidder in bidders {
        let Ok(histogram) = bidder.stats.latency.lock() else {
            continue;
        };
        for q in [0.5, 0.9, 0.99, 0.999] {
            let _ = writeln!(
                out,
                "exchange_bidder_latency_seconds{{bidder=\"{}\",quantile=\"{q}\"}} {:.6}",
                bidder.name,
                histogram.value_at_quantile(q) as f64 / 1e6
            );
        }
        let _ = writeln!(
            out,
            "exchange_bidder_latency_seconds_count{{bidder=\"{}\"}} {}",
            bidder.name,
            histogram.len()
        );
    }
}

/// One counter family with a second label besides `bidder`: `(name, help)`, the label's
/// key, its values with what they select, and how to read a bidder's count for one.
fn labelled<L: Copy>(
    out: &mut String,
    (name, help): (&str, &str),
    bidders: &[BidderView<'_>],
    key: &str,
    values: &[(&'static str, L)],
    read: impl Fn(&BidderStats, L) -> u64,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for bidder in bidders {
        for &(label, value) in values {
            let _ = writeln!(
                out,
                "{name}{{bidder=\"{}\",{key}=\"{label}\"}} {}",
                bidder.name,
                read(bidder.stats, value)
            );
        }
    }
}
