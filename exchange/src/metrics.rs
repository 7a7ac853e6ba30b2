//! Metrics: atomic counters with bounded labels and latency histograms, recorded where the
//! event happens (no lock, no channel, no other thread); exported at scrape time through
//! `prometheus-client` ([`exposition`]), histograms as buckets ([`histogram`]).

pub mod exposition;
pub mod histogram;
pub mod log_limit;

use crate::ads_txt::Verdict;
use crate::decision::ImpNoBid;
use crate::ivt::IvtReason;
use crate::notice::Rejection;
use crate::supply_chain::ChainStatus;
use exposition::Exposition;
use histogram::LatencyHistogram;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

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

/// A counter family with one label: name, help, label key, label values, and the counter
/// of each value.
type CounterFamily<'a> = (&'a str, &'a str, &'a str, &'a [&'a str], &'a [AtomicU64]);

/// The `field` labels of `exchange_requests_enriched`, in [`crate::enrich::Filled`]'s order.
pub const ENRICHED_FIELDS: [&str; 5] = ["ip", "user_agent", "geo", "device", "crawler"];

/// A mark a request is answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// The publisher registry does not have its publisher, or not its domain or bundle.
    SourceMismatch,
    /// Its domain's ads.txt (or app-ads.txt) does not list its seller on the exchange.
    AdsTxtUnauthorised,
}

impl Mark {
    /// Every mark, in label order.
    pub const ALL: [Mark; 2] = [Mark::SourceMismatch, Mark::AdsTxtUnauthorised];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SourceMismatch => "source_mismatch",
            Self::AdsTxtUnauthorised => "ads_txt_unauthorised",
        }
    }
}

/// Why an auction request was refused by policy (answered with no bid, or 400 for an
/// invalid supply chain under `invalid = "refuse"`), a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Its supply chain breaks the specification (`supply_chain.invalid = "refuse"`).
    SchainInvalid,
    /// The chain bidders would get is incomplete (`supply_chain.incomplete = "refuse"`).
    SchainIncomplete,
    /// Its domain's ads.txt does not authorise its seller (`supply_chain.unauthorised =
    /// "refuse"`).
    AdsTxtUnauthorised,
    /// A known bot's agent (`ivt.crawler = "refuse"`).
    IvtCrawler,
    /// A data-center address (`ivt.datacenter = "refuse"`).
    IvtDatacenter,
    /// A device that contradicts itself (`ivt.device_mismatch = "refuse"`).
    IvtDeviceMismatch,
}

impl Refused {
    /// Every reason, in label order.
    pub const ALL: [Refused; 6] = [
        Self::SchainInvalid,
        Self::SchainIncomplete,
        Self::AdsTxtUnauthorised,
        Self::IvtCrawler,
        Self::IvtDatacenter,
        Self::IvtDeviceMismatch,
    ];

    /// The refusal of an invalid-traffic reason.
    pub fn ivt(reason: IvtReason) -> Self {
        match reason {
            IvtReason::Crawler => Self::IvtCrawler,
            IvtReason::Datacenter => Self::IvtDatacenter,
            IvtReason::DeviceMismatch => Self::IvtDeviceMismatch,
        }
    }

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SchainInvalid => "schain_invalid",
            Self::SchainIncomplete => "schain_incomplete",
            Self::AdsTxtUnauthorised => "ads_txt_unauthorised",
            Self::IvtCrawler => "ivt_crawler",
            Self::IvtDatacenter => "ivt_datacenter",
            Self::IvtDeviceMismatch => "ivt_device_mismatch",
        }
    }
}

/// The `ext.prebid.channel.name` values counted by name (Prebid Server's); any other is
/// counted as `other`.
pub const PREBID_CHANNELS: [&str; 5] = ["pbjs", "amp", "app", "web", "other"];

/// All exchange metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    outcomes: [AtomicU64; Outcome::ALL.len()],
    imp_no_bids: [AtomicU64; ImpNoBid::ALL.len()],
    notices: [AtomicU64; NoticeEvent::ALL.len()],
    notice_rejections: [AtomicU64; Rejection::ALL.len()],
    /// Campaign reloads: ok, error.
    reloads: [AtomicU64; 2],
    /// LTV model reloads: ok, error.
    model_reloads: [AtomicU64; 2],
    /// Requests enriched, per field filled ([`ENRICHED_FIELDS`]).
    enriched: [AtomicU64; ENRICHED_FIELDS.len()],
    /// Requests marked, per [`Mark`].
    marks: [AtomicU64; Mark::ALL.len()],
    /// Supply chains sent to bidders, per [`ChainStatus`].
    chains: [AtomicU64; ChainStatus::ALL.len()],
    /// Requests refused by policy, per [`Refused`].
    refused: [AtomicU64; Refused::ALL.len()],
    /// ads.txt checks, per [`Verdict`].
    ads_txt: [AtomicU64; Verdict::ALL.len()],
    /// Invalid-traffic findings, per [`IvtReason`].
    ivt: [AtomicU64; IvtReason::ALL.len()],
    /// Prebid calls per channel ([`PREBID_CHANNELS`]).
    prebid_calls: [AtomicU64; PREBID_CHANNELS.len()],
    decision: LatencyHistogram,
    fanout_overhead: LatencyHistogram,
    cap_read: LatencyHistogram,
}

impl Metrics {
    /// Creates the metrics (all zero).
    pub fn new() -> Self {
        Self::default()
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
        self.reloads[usize::from(!ok)].fetch_add(1, Relaxed);
    }

    /// Counts an LTV model reload.
    pub fn model_reload(&self, ok: bool) {
        self.model_reloads[usize::from(!ok)].fetch_add(1, Relaxed);
    }

    /// Counts what enrichment filled in one request.
    pub fn enriched(&self, filled: crate::enrich::Filled) {
        let flags = [
            filled.ip,
            filled.user_agent,
            filled.geo,
            filled.device,
            filled.crawler,
        ];
        for (counter, set) in self.enriched.iter().zip(flags) {
            if set {
                counter.fetch_add(1, Relaxed);
            }
        }
    }

    /// Counts a request marked `mark` (answered, with the mark in what it produces).
    pub fn marked(&self, mark: Mark) {
        self.marks[mark as usize].fetch_add(1, Relaxed);
    }

    /// Counts the supply chain of one request by what it says.
    pub fn supply_chain(&self, status: ChainStatus) {
        self.chains[status as usize].fetch_add(1, Relaxed);
    }

    /// Counts one request's ads.txt check.
    pub fn ads_txt(&self, verdict: Verdict) {
        self.ads_txt[verdict as usize].fetch_add(1, Relaxed);
    }

    /// Counts a request that gave an invalid-traffic reason.
    pub fn ivt(&self, reason: IvtReason) {
        self.ivt[reason as usize].fetch_add(1, Relaxed);
    }

    /// Counts a request refused by policy.
    pub fn refused(&self, reason: Refused) {
        self.refused[reason as usize].fetch_add(1, Relaxed);
    }

    /// Requests refused for `reason` so far.
    pub fn refused_count(&self, reason: Refused) -> u64 {
        self.refused[reason as usize].load(Relaxed)
    }

    /// Requests marked `mark` so far.
    pub fn marked_count(&self, mark: Mark) -> u64 {
        self.marks[mark as usize].load(Relaxed)
    }

    /// Counts a Prebid call from `channel` (one of [`PREBID_CHANNELS`]).
    pub fn prebid_call(&self, channel: &str) {
        let channels = PREBID_CHANNELS;
        let index = channels
            .iter()
            .position(|c| *c == channel)
            .unwrap_or(channels.len() - 1);
        self.prebid_calls[index].fetch_add(1, Relaxed);
    }

    /// Requests in which enrichment filled `field` (one of [`ENRICHED_FIELDS`]).
    pub fn enriched_count(&self, field: &str) -> u64 {
        ENRICHED_FIELDS
            .iter()
            .position(|f| *f == field)
            .map_or(0, |i| self.enriched[i].load(Relaxed))
    }

    /// Records one server-side decision time, µs (two atomic additions).
    pub fn decision_latency_us(&self, micros: u64) {
        self.decision.record_us(micros);
    }

    /// Records how long a request took beyond its slowest awaited bidder, µs: the
    /// exchange's own overhead on a fanned-out request.
    pub fn fanout_overhead_us(&self, micros: u64) {
        self.fanout_overhead.record_us(micros);
    }

    /// Records one frequency-counter read on the request path, µs.
    pub fn cap_read_us(&self, micros: u64) {
        self.cap_read.record_us(micros);
    }

    /// Server-side decision times.
    pub fn decision_latency(&self) -> &LatencyHistogram {
        &self.decision
    }

    /// Frequency-counter read times.
    pub fn cap_read_latency(&self) -> &LatencyHistogram {
        &self.cap_read
    }

    /// Describes the request families; `snapshot` is (version, campaigns, creatives).
    pub fn describe(&self, out: &mut Exposition<'_, '_>, snapshot: (u64, usize, usize)) {
        let results = ["ok", "error"];
        let families: [CounterFamily<'_>; 13] = [
            (
                "exchange_requests",
                "Auction requests by outcome.",
                "outcome",
                &Outcome::ALL.map(Outcome::as_str),
                &self.outcomes,
            ),
            (
                "exchange_imp_no_bids",
                "Imps that got no bid, by reason.",
                "reason",
                &ImpNoBid::ALL.map(ImpNoBid::as_str),
                &self.imp_no_bids,
            ),
            (
                "exchange_notices_received",
                "Notices received on the exchange's own endpoints.",
                "event",
                &NoticeEvent::ALL.map(NoticeEvent::as_str),
                &self.notices,
            ),
            (
                "exchange_notices_rejected",
                "Notices refused (nothing written), by reason.",
                "reason",
                &Rejection::ALL.map(Rejection::as_str),
                &self.notice_rejections,
            ),
            (
                "exchange_reloads",
                "Campaign reloads by result.",
                "result",
                &results,
                &self.reloads,
            ),
            (
                "exchange_ltv_model_reloads",
                "LTV model reloads by result (a rejected file leaves the old model serving).",
                "result",
                &results,
                &self.model_reloads,
            ),
            (
                "exchange_requests_enriched",
                "Auction requests in which the exchange filled a field the caller left out \
                 (ip and user_agent from a browser's call, geo from the IP, device from the \
                 agent; crawler: the agent is a known bot).",
                "field",
                &ENRICHED_FIELDS,
                &self.enriched,
            ),
            (
                "exchange_requests_marked",
                "Auction requests answered with a mark in what they produce (source_mismatch: \
                 the publisher registry does not have the request's publisher, domain or bundle; \
                 ads_txt_unauthorised: its domain's ads.txt does not list its seller).",
                "mark",
                &Mark::ALL.map(Mark::as_str),
                &self.marks,
            ),
            (
                "exchange_supply_chains",
                "Auction requests by the supply chain the exchange built for them (complete: \
                 every seller back to the owner is named; incomplete; invalid: the request's \
                 chain broke the specification and was replaced or refused).",
                "status",
                &ChainStatus::ALL.map(ChainStatus::as_str),
                &self.chains,
            ),
            (
                "exchange_ads_txt_checks",
                "Auction requests checked against their domain's ads.txt or app-ads.txt \
                 ([supply_chain] ads_txt_dir), by verdict (no_file: none held for the domain).",
                "verdict",
                &Verdict::ALL.map(Verdict::as_str),
                &self.ads_txt,
            ),
            (
                "exchange_ivt_requests",
                "Auction requests that gave an invalid-traffic reason (crawler: a known bot's \
                 agent; datacenter: an address in [ivt] datacenter_ranges; device_mismatch: a \
                 device that contradicts itself), whether flagged or refused.",
                "reason",
                &IvtReason::ALL.map(IvtReason::as_str),
                &self.ivt,
            ),
            (
                "exchange_requests_refused",
                "Auction requests refused by policy ([supply_chain] invalid, incomplete, \
                 unauthorised; [ivt] refuse), by reason.",
                "reason",
                &Refused::ALL.map(Refused::as_str),
                &self.refused,
            ),
            (
                "exchange_prebid_requests",
                "Auction requests following Prebid Server conventions, by ext.prebid.channel.name.",
                "channel",
                &PREBID_CHANNELS,
                &self.prebid_calls,
            ),
        ];
        for (name, help, key, values, counters) in families {
            let labels: Vec<[(&str, &str); 1]> = values.iter().map(|v| [(key, *v)]).collect();
            let samples: Vec<(&[(&str, &str)], u64)> = labels
                .iter()
                .zip(counters)
                .map(|(labels, counter)| (labels.as_slice(), counter.load(Relaxed)))
                .collect();
            out.counter(name, help, &samples);
        }
        let no_labels: &[(&str, &str)] = &[];
        out.histogram(
            "exchange_decision_latency_seconds",
            "Server-side time from request headers received to response ready (bidders included).",
            &[(no_labels, &self.decision)],
        );
        out.histogram(
            "exchange_fanout_overhead_seconds",
            "Time a request with bidders took beyond its slowest awaited bidder.",
            &[(no_labels, &self.fanout_overhead)],
        );
        out.histogram(
            "exchange_frequency_read_seconds",
            "Time of the request path's frequency-counter read (answered in time).",
            &[(no_labels, &self.cap_read)],
        );
        let (version, campaigns, creatives) = snapshot;
        let gauges = [
            (
                "exchange_snapshot_version",
                "Version of the campaign snapshot serving.",
                version as i64,
            ),
            (
                "exchange_campaigns",
                "Campaigns in the serving snapshot.",
                campaigns as i64,
            ),
            (
                "exchange_creatives",
                "Creatives in the serving snapshot.",
                creatives as i64,
            ),
        ];
        for (name, help, value) in gauges {
            out.gauge(name, help, &[(no_labels, value)]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_are_recorded_where_they_happen() {
        let metrics = Metrics::new();
        for us in [100, 200, 300] {
            metrics.decision_latency_us(us);
        }
        // No recorder thread: the samples are there at once.
        assert_eq!(metrics.decision_latency().count(), 3);
        assert_eq!(metrics.cap_read_latency().count(), 0);
    }
}
