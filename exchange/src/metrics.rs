//! Metrics: atomic counters with bounded labels, and latency histograms (decision time,
//! fan-out overhead) fed
//! off the request path through a bounded channel. Rendered as Prometheus text.

use crate::decision::ImpNoBid;
use crate::notice::Rejection;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use hdrhistogram::Histogram;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// Latency samples buffered between the request path and the recorder thread; when
/// full, samples are dropped and counted rather than blocking a request.
pub const LATENCY_QUEUE: usize = 65_536;
/// Highest latency the histogram tracks, µs (one minute).
const MAX_LATENCY_US: u64 = 60_000_000;

/// How an auction request ended (a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// At least one bid returned.
    Filled,
    /// 204: nothing filled.
    NoFill,
    /// 400: invalid request.
    BadRequest,
    /// 413: body over the cap.
    PayloadTooLarge,
    /// 408: body not received in time.
    BodyTimeout,
    /// 415: unsupported content encoding.
    UnsupportedEncoding,
}

impl Outcome {
    /// Every value.
    pub const ALL: [Outcome; 6] = [
        Self::Filled,
        Self::NoFill,
        Self::BadRequest,
        Self::PayloadTooLarge,
        Self::BodyTimeout,
        Self::UnsupportedEncoding,
    ];

    /// Stable label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Filled => "filled",
            Self::NoFill => "no_fill",
            Self::BadRequest => "bad_request",
            Self::PayloadTooLarge => "payload_too_large",
            Self::BodyTimeout => "body_timeout",
            Self::UnsupportedEncoding => "unsupported_encoding",
        }
    }
}

/// A notice the exchange received on its own endpoints (a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeEvent {
    /// `GET /notice/win`.
    Win,
    /// `GET /notice/bill`.
    Billing,
    /// A billing notice that forwarded an external bidder's `burl`.
    BillingForwarded,
    /// A notice refused (by reason in `exchange_notices_rejected_total`).
    Rejected,
}

impl NoticeEvent {
    /// Every value.
    pub const ALL: [NoticeEvent; 4] = [
        Self::Win,
        Self::Billing,
        Self::BillingForwarded,
        Self::Rejected,
    ];

    /// Stable label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Win => "win",
            Self::Billing => "billing",
            Self::BillingForwarded => "billing_forwarded",
            Self::Rejected => "rejected",
        }
    }
}

/// All exchange metrics.
#[derive(Debug)]
pub struct Metrics {
    outcomes: [AtomicU64; Outcome::ALL.len()],
    imp_no_bids: [AtomicU64; ImpNoBid::ALL.len()],
    notices: [AtomicU64; NoticeEvent::ALL.len()],
    notice_rejections: [AtomicU64; Rejection::ALL.len()],
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    model_reloads_ok: AtomicU64,
    model_reloads_failed: AtomicU64,
    latency_dropped: AtomicU64,
    latency_tx: Sender<(Series, u64)>,
    latency: Arc<Mutex<[Histogram<u64>; 3]>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates the metrics and starts the latency recorder thread (it ends when the
    /// metrics are dropped).
    pub fn new() -> Self {
        let (latency_tx, rx) = crossbeam_channel::bounded(LATENCY_QUEUE);
        // Three significant figures over 1 µs .. 60 s: about 100 KiB.
        let histogram = Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
            .expect("constant histogram bounds are valid");
        let latency = Arc::new(Mutex::new([
            histogram.clone(),
            histogram.clone(),
            histogram,
        ]));
        let sink = Arc::clone(&latency);
        std::thread::Builder::new()
            .name("latency-recorder".into())
            .spawn(move || record_latencies(&rx, &sink))
            .map_err(|e| tracing::error!("cannot start latency recorder: {e}"))
            .ok();
        Self {
            outcomes: Default::default(),
            imp_no_bids: Default::default(),
            notices: Default::default(),
            notice_rejections: Default::default(),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            model_reloads_ok: AtomicU64::new(0),
            model_reloads_failed: AtomicU64::new(0),
            latency_dropped: AtomicU64::new(0),
            latency_tx,
            latency,
        }
    }

    /// Counts one auction request's outcome.
    pub fn outcome(&self, outcome: Outcome) {
        self.outcomes[outcome as usize].fetch_add(1, Relaxed);
    }

    /// Count of requests with `outcome` so far.
    pub fn outcome_count(&self, outcome: Outcome) -> u64 {
        self.outcomes[outcome as usize].load(Relaxed)
    }

    /// Counts an imp that got no bid.
    pub fn imp_no_bid(&self, reason: ImpNoBid) {
        self.imp_no_bids[reason as usize].fetch_add(1, Relaxed);
    }

    /// Counts a notice received.
    pub fn notice(&self, event: NoticeEvent) {
        self.notices[event as usize].fetch_add(1, Relaxed);
    }

    /// Counts a refused notice by its reason.
    pub fn notice_rejected(&self, reason: Rejection) {
        self.notice_rejections[reason as usize].fetch_add(1, Relaxed);
    }

    /// Count of notices refused for `reason` so far.
    pub fn notice_rejection_count(&self, reason: Rejection) -> u64 {
        self.notice_rejections[reason as usize].load(Relaxed)
    }

    /// Count of notices of `event` so far.
    pub fn notice_count(&self, event: NoticeEvent) -> u64 {
        self.notices[event as usize].load(Relaxed)
    }

    /// Counts a campaign reload.
    pub fn reload(&self, ok: bool) {
        if ok {
            &self.reloads_ok
        } else {
            &self.reloads_failed
        }
        .fetch_add(1, Relaxed);
    }

    /// Counts an LTV model reload.
    pub fn model_reload(&self, ok: bool) {
        if ok {
            &self.model_reloads_ok
        } else {
            &self.model_reloads_failed
        }
        .fetch_add(1, Relaxed);
    }

    /// Records one server-side decision time, µs. Never blocks.
    pub fn decision_latency_us(&self, micros: u64) {
        self.sample(Series::Decision, micros);
    }

    /// Records how long a request took beyond its slowest awaited bidder, µs: the
    /// exchange's own overhead on a fanned-out request. Never blocks.
    pub fn fanout_overhead_us(&self, micros: u64) {
        self.sample(Series::FanoutOverhead, micros);
    }

    /// Records one frequency-counter read on the request path, µs. Never blocks.
    pub fn cap_read_us(&self, micros: u64) {
        self.sample(Series::CapRead, micros);
    }

    fn sample(&self, series: Series, micros: u64) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.latency_tx.try_send((series, micros.max(1)))
        {
            self.latency_dropped.fetch_add(1, Relaxed);
        }
    }

    /// Prometheus text exposition; `snapshot` is (version, campaigns, creatives).
    pub fn render(&self, snapshot: (u64, usize, usize)) -> String {
        let mut out = String::with_capacity(4096);
        let _ = writeln!(out, "# HELP exchange_requests_total Auction requests by outcome.\n# TYPE exchange_requests_total counter");
        for outcome in Outcome::ALL {
            let _ = writeln!(
                out,
                "exchange_requests_total{{outcome=\"{}\"}} {}",
                outcome.as_str(),
                self.outcome_count(outcome)
            );
        }
        let _ = writeln!(out, "# HELP exchange_imp_no_bids_total Imps that got no bid, by reason.\n# TYPE exchange_imp_no_bids_total counter");
        for reason in ImpNoBid::ALL {
            let _ = writeln!(
                out,
                "exchange_imp_no_bids_total{{reason=\"{}\"}} {}",
                reason.as_str(),
                self.imp_no_bids[reason as usize].load(Relaxed)
            );
        }
        let _ = writeln!(out, "# HELP exchange_notices_received_total Notices received on the exchange's own endpoints.\n# TYPE exchange_notices_received_total counter");
        for event in NoticeEvent::ALL {
            let _ = writeln!(
                out,
                "exchange_notices_received_total{{event=\"{}\"}} {}",
                event.as_str(),
                self.notice_count(event)
            );
        }
        let _ = writeln!(out, "# HELP exchange_notices_rejected_total Notices refused (nothing written), by reason.\n# TYPE exchange_notices_rejected_total counter");
        for reason in Rejection::ALL {
            let _ = writeln!(
                out,
                "exchange_notices_rejected_total{{reason=\"{}\"}} {}",
                reason.as_str(),
                self.notice_rejection_count(reason)
            );
        }
        if let Ok(histograms) = self.latency.lock() {
            let families = [
                ("exchange_decision_latency_seconds", "Server-side time from request headers received to response ready (bidders included).", Series::Decision),
                ("exchange_fanout_overhead_seconds", "Time a request with bidders took beyond its slowest awaited bidder.", Series::FanoutOverhead),
                ("exchange_frequency_read_seconds", "Time of the request path's frequency-counter read (answered in time).", Series::CapRead),
            ];
            for (name, help, series) in families {
                let histogram = &histograms[series as usize];
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} summary");
                for q in [0.5, 0.9, 0.99, 0.999] {
                    let _ = writeln!(
                        out,
                        "{name}{{quantile=\"{q}\"}} {:.6}",
                        histogram.value_at_quantile(q) as f64 / 1e6
                    );
                }
                let _ = writeln!(
                    out,
                    "{name}_sum {:.6}",
                    histogram.mean() * histogram.len() as f64 / 1e6
                );
                let _ = writeln!(out, "{name}_count {}", histogram.len());
            }
        }
        let _ = writeln!(out, "# HELP exchange_latency_samples_dropped_total Latency samples dropped because the recorder fell behind.\n# TYPE exchange_latency_samples_dropped_total counter");
        let _ = writeln!(
            out,
            "exchange_latency_samples_dropped_total {}",
            self.latency_dropped.load(Relaxed)
        );
        family(
            &mut out,
            "exchange_reloads_total",
            "counter",
            "Campaign reloads by result.",
            &[
                ("result=\"ok\"", self.reloads_ok.load(Relaxed)),
                ("result=\"error\"", self.reloads_failed.load(Relaxed)),
            ],
        );
        family(
            &mut out,
            "exchange_ltv_model_reloads_total",
            "counter",
            "LTV model reloads by result (a rejected file leaves the old model serving).",
            &[
                ("result=\"ok\"", self.model_reloads_ok.load(Relaxed)),
                ("result=\"error\"", self.model_reloads_failed.load(Relaxed)),
            ],
        );
        let (version, campaigns, creatives) = snapshot;
        let _ = writeln!(out, "# HELP exchange_snapshot_version Version of the campaign snapshot serving.\n# TYPE exchange_snapshot_version gauge\nexchange_snapshot_version {version}");
        let _ = writeln!(out, "# HELP exchange_campaigns Campaigns in the serving snapshot.\n# TYPE exchange_campaigns gauge\nexchange_campaigns {campaigns}");
        let _ = writeln!(out, "# HELP exchange_creatives Creatives in the serving snapshot.\n# TYPE exchange_creatives gauge\nexchange_creatives {creatives}");
        out
    }
}

/// Appends one Prometheus family: `# HELP`, `# TYPE` (`counter` or `gauge`), then one
/// sample per `(labels, value)`; `labels` is the text inside the braces (empty: none).
pub fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(&str, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, value) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

/// Which latency histogram a sample belongs to.
#[derive(Debug, Clone, Copy)]
enum Series {
    Decision = 0,
    FanoutOverhead = 1,
    CapRead = 2,
}

fn record_latencies(rx: &Receiver<(Series, u64)>, sink: &Mutex<[Histogram<u64>; 3]>) {
    while let Ok(first) = rx.recv() {
        let Ok(mut histograms) = sink.lock() else {
            return;
        };
        for (series, micros) in std::iter::once(first).chain(rx.try_iter().take(4096)) {
            histograms[series as usize].saturating_record(micros.min(MAX_LATENCY_US));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_quantiles() {
        let metrics = Metrics::new();
        metrics.outcome(Outcome::Filled);
        metrics.imp_no_bid(ImpNoBid::BelowFloor);
        for us in [100, 200, 300] {
            metrics.decision_latency_us(us);
        }
        // The recorder thread runs concurrently; wait (bounded) until it caught up.
        for _ in 0..200 {
            if metrics.latency.lock().map(|h| h[0].len()).unwrap_or(0) == 3 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let text = metrics.render((7, 60, 120));
        assert!(
            text.contains("exchange_requests_total{outcome=\"filled\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("exchange_imp_no_bids_total{reason=\"below_floor\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("exchange_decision_latency_seconds_count 3"),
            "{text}"
        );
        assert!(
            text.contains("exchange_decision_latency_seconds{quantile=\"0.5\"} 0.0002"),
            "{text}"
        );
        assert!(text.contains("exchange_snapshot_version 7"), "{text}");
    }
}
