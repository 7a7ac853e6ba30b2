//! Clicks (and the impressions of verified notices, which the click rules check against)
//! leave the request path through a bounded queue (this module); one task
//! (`click_writer`) writes them to the affiliate database in batches (up to `affiliate.click_batch` clicks, or whatever
//! arrived within `affiliate.click_flush_ms` of the first: one transaction each), where
//! each click is judged (first valid click of its impression, or why not), and then
//! charges each valid CPC click to its campaign's budget through the store writer
//! (idempotent: once per impression).
//!
//! A click is answered (302) before its record is durable: a crash loses at most the
//! clicks still queued or in the batch being written (at most `click_queue`, in practice
//! one flush window's worth). A full queue drops the record (counted) but still sends the
//! user on: a click is the user's navigation, not ours to block.

use super::database::{ClickRecord, ImpressionRecord};
use crate::shared::EventId;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// What travels on the queue.
#[derive(Debug)]
pub(super) enum Message {
    /// A click to record.
    Click(Box<ClickRecord>),
    /// An impression to record.
    Impression(Box<ImpressionRecord>),
    /// Answered once everything queued before it is written.
    Flush(oneshot::Sender<()>),
}

/// Counters of the click path (rendered in `/metrics`).
#[derive(Debug, Default)]
pub struct ClickStats {
    /// Clicks written valid.
    pub valid: AtomicU64,
    /// Clicks written invalid, by reason ([`INVALID_REASONS`] order; last: other).
    pub invalid: [AtomicU64; INVALID_REASONS.len() + 1],
    /// Click records dropped: the queue was full.
    pub dropped: AtomicU64,
    /// Impression records dropped: the queue was full.
    pub impressions_dropped: AtomicU64,
    /// Batches that failed to write (retried).
    pub failed_batches: AtomicU64,
    /// CPC charges sent to the store writer.
    pub charges: AtomicU64,
    /// CPC charges the store writer did not take at once (retried).
    pub charge_retries: AtomicU64,
}

/// Why a click earns nothing (metric labels).
pub const INVALID_REASONS: [&str; 7] = [
    "duplicate",
    "too_fast",
    "bot_agent",
    "before_impression",
    "flood_ip",
    "flood_user",
    "flood_sub_id",
];

impl ClickStats {
    /// Counts an invalid click under its reason.
    pub(super) fn invalid(&self, reason: &str) {
        let at = INVALID_REASONS
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(INVALID_REASONS.len());
        self.invalid[at].fetch_add(1, Relaxed);
    }
}

/// The sending side, held by the click endpoint.
#[derive(Debug)]
pub struct ClickLog {
    tx: mpsc::Sender<Message>,
    pub(super) rx: std::sync::Mutex<Option<mpsc::Receiver<Message>>>,
    pub(super) pending: Arc<AtomicUsize>,
    pub(super) batch: usize,
    pub(super) flush_window: Duration,
    /// Counters.
    pub stats: ClickStats,
}

impl ClickLog {
    /// A log whose queue holds `capacity` clicks, written `batch` at a time at least every
    /// `flush_window`.
    pub fn new(capacity: usize, batch: usize, flush_window: Duration) -> Self {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        Self {
            tx,
            rx: std::sync::Mutex::new(Some(rx)),
            pending: Arc::new(AtomicUsize::new(0)),
            batch: batch.max(1),
            flush_window,
            stats: ClickStats::default(),
        }
    }

    /// Queues a click record; `false` when the queue is full (the record is dropped and
    /// counted).
    pub fn push(&self, click: ClickRecord) -> bool {
        match self.tx.try_send(Message::Click(Box::new(click))) {
            Ok(()) => {
                self.pending.fetch_add(1, Relaxed);
                true
            }
            Err(_) => {
                self.stats.dropped.fetch_add(1, Relaxed);
                false
            }
        }
    }

    /// Queues an impression record (a verified, durable notice of an internal campaign);
    /// `false` when the queue is full (dropped and counted).
    pub fn push_impression(&self, impression: ImpressionRecord) -> bool {
        match self.tx.try_send(Message::Impression(Box::new(impression))) {
            Ok(()) => {
                self.pending.fetch_add(1, Relaxed);
                true
            }
            Err(_) => {
                self.stats.impressions_dropped.fetch_add(1, Relaxed);
                false
            }
        }
    }

    /// Records (clicks and impressions) queued or in a batch not yet written.
    pub fn pending(&self) -> usize {
        self.pending.load(Relaxed)
    }

    /// Waits until every click queued before this call is written (or `timeout`);
    /// whether it was.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let (done, written) = oneshot::channel();
        let sent = tokio::time::timeout(timeout, self.tx.send(Message::Flush(done))).await;
        if !matches!(sent, Ok(Ok(()))) {
            return false;
        }
        matches!(tokio::time::timeout(timeout, written).await, Ok(Ok(())))
    }
}

/// The idempotency key of an impression's click charge: its own namespace, so the
/// impression's notice (which commits its own spend, zero for CPC) never shadows it.
pub fn click_event(auction: &str, imp: &str) -> EventId {
    EventId {
        auction: format!("click:{auction}"),
        imp: imp.to_owned(),
    }
}
