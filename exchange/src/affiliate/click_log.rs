//! Clicks (and the impressions of verified notices, which the click rules check against)
//! leave the request path through a bounded queue; one task writes them to the affiliate
//! database in batches (up to `affiliate.click_batch` clicks, or whatever
//! arrived within `affiliate.click_flush_ms` of the first: one transaction each), where
//! each click is judged (first valid click of its impression, or why not), and then
//! charges each valid CPC click to its campaign's budget through the store writer
//! (idempotent: once per impression).
//!
//! A click is answered (302) before its record is durable: a crash loses at most the
//! clicks still queued or in the batch being written (at most `click_queue`, in practice
//! one flush window's worth). A full queue drops the record (counted) but still sends the
//! user on: a click is the user's navigation, not ours to block.

use super::database::{AffiliateDb, ClickRecord, ClickVerdict, ImpressionRecord};
use crate::shared::{EventId, Release, Write};
use crate::state::AppState;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// What travels on the queue.
#[derive(Debug)]
enum Message {
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
    fn invalid(&self, reason: &str) {
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
    rx: std::sync::Mutex<Option<mpsc::Receiver<Message>>>,
    pending: Arc<AtomicUsize>,
    batch: usize,
    flush_window: Duration,
    /// Counters.
    pub stats: ClickStats,
}

/// First pause after a failed batch; doubles up to one second.
const FIRST_BACKOFF: Duration = Duration::from_millis(20);

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

    /// Writes the queue to `database` until the process ends (call once; later calls
    /// return at once); valid CPC clicks are charged through `state.writer`.
    pub async fn run(&self, state: Arc<AppState>, database: Option<Arc<AffiliateDb>>) {
        let Some(mut rx) = crate::shared::lock(&self.rx).take() else {
            return;
        };
        let mut messages: Vec<Message> = Vec::with_capacity(self.batch);
        loop {
            if rx.recv_many(&mut messages, self.batch).await == 0 {
                return;
            }
            // Whatever else arrives within the flush window joins this batch.
            let deadline = tokio::time::Instant::now() + self.flush_window;
            while messages.len() < self.batch
                && !messages.iter().any(|m| matches!(m, Message::Flush(_)))
            {
                let room = self.batch - messages.len();
                match tokio::time::timeout_at(deadline, rx.recv_many(&mut messages, room)).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            let mut clicks = Vec::with_capacity(messages.len());
            let mut impressions = Vec::new();
            let mut flushes = Vec::new();
            for message in messages.drain(..) {
                match message {
                    Message::Click(click) => clicks.push(*click),
                    Message::Impression(impression) => impressions.push(*impression),
                    Message::Flush(done) => flushes.push(done),
                }
            }
            if !clicks.is_empty() || !impressions.is_empty() {
                let count = clicks.len() + impressions.len();
                let rules = state.config.affiliate.fraud;
                let batch = Arc::new((impressions, clicks));
                let verdicts = self
                    .write(database.as_ref(), Arc::clone(&batch), rules)
                    .await;
                self.charge(&state, &batch.1, &verdicts);
                self.pending.fetch_sub(count, Relaxed);
            }
            for done in flushes {
                let _ = done.send(());
            }
        }
    }

    /// Writes one batch, retrying until the database takes it; without a database, only
    /// the path's flags judge (and nothing is kept).
    async fn write(
        &self,
        database: Option<&Arc<AffiliateDb>>,
        batch: Arc<(Vec<ImpressionRecord>, Vec<ClickRecord>)>,
        rules: crate::config::FraudConfig,
    ) -> Vec<ClickVerdict> {
        let Some(database) = database else {
            return batch
                .1
                .iter()
                .map(|c| ClickVerdict {
                    valid: c.flag.is_none(),
                    reason: c.flag.map(str::to_owned),
                })
                .collect();
        };
        let mut backoff = FIRST_BACKOFF;
        loop {
            let db = Arc::clone(database);
            let events = Arc::clone(&batch);
            let written =
                tokio::task::spawn_blocking(move || db.insert_events(&events.0, &events.1, &rules))
                    .await;
            match written {
                Ok(Ok(verdicts)) => return verdicts,
                Ok(Err(error)) => {
                    self.stats.failed_batches.fetch_add(1, Relaxed);
                    tracing::warn!(%error, clicks = batch.1.len(), "click batch not written; retrying");
                }
                Err(error) => {
                    self.stats.failed_batches.fetch_add(1, Relaxed);
                    tracing::warn!(%error, "click batch task failed; retrying");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }

    /// Counts the verdicts and charges each valid CPC click (off this task: the store
    /// writer's durability wait never holds up the next batch).
    fn charge(&self, state: &Arc<AppState>, clicks: &[ClickRecord], verdicts: &[ClickVerdict]) {
        let serving = state.serving();
        let mut writes = Vec::new();
        for (click, verdict) in clicks.iter().zip(verdicts) {
            if !verdict.valid {
                self.stats
                    .invalid(verdict.reason.as_deref().unwrap_or("other"));
                continue;
            }
            self.stats.valid.fetch_add(1, Relaxed);
            let (Some(micros), Some(campaign)) =
                (click.cpc_micros, serving.snapshot.campaign(&click.campaign))
            else {
                continue;
            };
            writes.push(Write::Spend {
                campaign: campaign.id.clone(),
                day: crate::admission::budgets::local_day(click.at_ms, campaign.utc_offset_secs),
                micros,
                event: click_event(&click.auction, &click.imp),
                release: Release::NONE,
            });
        }
        if writes.is_empty() {
            return;
        }
        self.stats.charges.fetch_add(writes.len() as u64, Relaxed);
        let state = Arc::clone(state);
        tokio::spawn(async move {
            let mut backoff = FIRST_BACKOFF;
            loop {
                let landed = match state.writer.send(writes.clone()) {
                    Some(durable) => durable.wait(Duration::from_secs(5)).await,
                    None => false,
                };
                if landed {
                    return;
                }
                state
                    .affiliate
                    .clicks
                    .stats
                    .charge_retries
                    .fetch_add(1, Relaxed);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        });
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
