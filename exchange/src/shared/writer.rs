//! Notice writes leave the request path through a bounded queue; one task drains it in
//! batches (up to [`WRITE_BATCH`] notices: one pipeline, one transaction) and tells each
//! notice when its writes are durable, so a notice is answered 2xx only then:
//!
//! - the embedded store commits the batch to its file before it counts ([`super::memory`]);
//! - Redis counts it; when Redis does not take a batch, the batch is appended to the local
//!   journal ([`super::durable`]) instead, and [`Writer::replay_journal`] delivers it once
//!   Redis answers again (and at the next start, whatever happened in between);
//! - with neither (Redis down and no journal file), the batch is retried with backoff and
//!   its notices wait (their senders get 503 past the notice endpoint's (`notices_in`) bound and retry).
//!
//! Writes are idempotent, so a retry or a replayed journal row never counts twice; a full
//! queue refuses the notice (503) so the sender retries it, rather than losing money.

use super::durable::Database;
use super::{PacingStore, SharedStore, StoreError, Write};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

/// Most notices in one batch.
pub const WRITE_BATCH: usize = 256;
/// First pause after a failed batch; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(20);
/// Longest pause between attempts at a failed batch.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// How long a batch may wait for the store before it is journaled instead.
pub const JOURNAL_AFTER: Duration = Duration::from_millis(800);
/// Writes applied at once when a batch is retried one by one.
const CONCURRENT_WRITES: usize = 64;
/// Writes a batch must have, all failed, to send the next ones straight to the journal.
const JOURNAL_ONLY_MIN_WRITES: usize = 8;
/// Batches in a row that all failed, whatever their size, that do the same.
const JOURNAL_ONLY_AFTER_BATCHES: usize = 3;
/// After a batch the store took none of, how long later batches go straight to the journal.
const JOURNAL_ONLY_FOR: Duration = Duration::from_secs(1);
/// How often the journal is checked for rows to deliver.
const JOURNAL_POLL: Duration = Duration::from_millis(200);

/// Counters of the write path.
#[derive(Debug, Default)]
pub struct WriteStats {
    /// Writes that counted.
    pub counted: AtomicU64,
    /// Writes that were replays (already counted).
    pub replayed: AtomicU64,
    /// Batches that failed (and were retried or journaled).
    pub failed_batches: AtomicU64,
    /// Batches sent.
    pub batches: AtomicU64,
    /// Writes refused because the queue was full.
    pub refused: AtomicU64,
    /// Writes appended to the journal because the store did not take them.
    pub journaled: AtomicU64,
    /// Journaled writes delivered to the store since.
    pub delivered_from_journal: AtomicU64,
    /// Limits the writer's and replayer's warnings while the store is down.
    pub log: crate::metrics::log_limit::LogLimit,
}

/// One notice's writes, and who waits for them to be durable.
#[derive(Debug)]
struct Job {
    writes: Vec<Write>,
    durable: oneshot::Sender<()>,
}

/// Resolves when a notice's writes are durable (counted by the store, or journaled).
#[derive(Debug)]
pub struct Durable(oneshot::Receiver<()>);

impl Durable {
    /// Waits up to `timeout`; whether the writes are durable.
    pub async fn wait(self, timeout: Duration) -> bool {
        matches!(tokio::time::timeout(timeout, self.0).await, Ok(Ok(())))
    }
}

/// The sending side, held by the notice endpoints.
#[derive(Debug)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
    rx: std::sync::Mutex<Option<mpsc::Receiver<Job>>>,
    pending: Arc<AtomicUsize>,
    /// Counters.
    pub stats: Arc<WriteStats>,
}

impl Writer {
    /// A writer whose queue holds `capacity` notices.
    pub fn new(capacity: usize) -> Self {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        Self {
            tx,
            rx: std::sync::Mutex::new(Some(rx)),
            pending: Arc::new(AtomicUsize::new(0)),
            stats: Arc::default(),
        }
    }

    /// Queues one notice's `writes`; `None` when the queue is full (answer 503).
    pub fn send(&self, writes: Vec<Write>) -> Option<Durable> {
        let Ok(permit) = self.tx.try_reserve() else {
            self.stats.refused.fetch_add(writes.len() as u64, Relaxed);
            return None;
        };
        let (durable, done) = oneshot::channel();
        self.pending.fetch_add(writes.len(), Relaxed);
        permit.send(Job { writes, durable });
        Some(Durable(done))
    }

    /// Writes queued or in a batch not yet landed.
    pub fn pending(&self) -> usize {
        self.pending.load(Relaxed)
    }

    /// Waits until every queued write landed, or `timeout`.
    pub async fn flush(&self, timeout: Duration) {
        let until = Instant::now() + timeout;
        while self.pending() > 0 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Drains the queue into `store` until the process ends (call once; later calls
    /// return at once). A batch the store refuses goes to `journal` when there is one.
    pub async fn run(&self, store: SharedStore, journal: Option<Arc<Database>>) {
        let Some(mut rx) = self
            .rx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        else {
            return;
        };
        let mut jobs = Vec::with_capacity(WRITE_BATCH);
        // When a whole batch found the store down, later ones go straight to the journal
        // for a while (the replayer finds out when it is back): an outage costs one wait,
        // not one per batch.
        let mut journal_only_until: Option<Instant> = None;
        let mut failed_in_a_row = 0usize;
        while rx.recv_many(&mut jobs, WRITE_BATCH).await > 0 {
            let batch: Vec<Write> = jobs.iter().flat_map(|j| j.writes.iter().cloned()).collect();
            let mut backoff = FIRST_BACKOFF;
            loop {
                self.stats.batches.fetch_add(1, Relaxed);
                let Some(journal) = &journal else {
                    match store.apply(&batch).await {
                        Ok(counted) => {
                            self.count(&counted);
                            break;
                        }
                        Err(error) => {
                            self.stats.failed_batches.fetch_add(1, Relaxed);
                            if let Some(left_out) = self.stats.log.admit() {
                                tracing::warn!(%error, writes = batch.len(), left_out, "store write failed; retrying");
                            }
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(MAX_BACKOFF);
                            continue;
                        }
                    }
                };
                let store_known_down = journal_only_until.is_some_and(|t| Instant::now() < t);
                let failed: Vec<Write> = if store_known_down {
                    batch.clone()
                } else {
                    match bounded_apply(&store, &batch).await {
                        Ok(counted) => {
                            self.count(&counted);
                            failed_in_a_row = 0;
                            break;
                        }
                        Err(_) if batch.len() == 1 => batch.clone(),
                        // Part of the store may be down (one cluster master): each write
                        // on its own, so the others land now; only the failures wait.
                        Err(_) => self.apply_one_by_one(&store, &batch).await,
                    }
                };
                if failed.is_empty() {
                    failed_in_a_row = 0;
                    break;
                }
                self.stats.failed_batches.fetch_add(1, Relaxed);
                if failed.len() < batch.len() {
                    failed_in_a_row = 0;
                } else if !store_known_down {
                    failed_in_a_row += 1;
                }
                // Many writes, or several batches in a row, that all failed say the whole
                // store is down (a few writes may all belong to one failed cluster node).
                if failed.len() == batch.len()
                    && (batch.len() >= JOURNAL_ONLY_MIN_WRITES
                        || failed_in_a_row >= JOURNAL_ONLY_AFTER_BATCHES)
                    && !store_known_down
                {
                    journal_only_until = Some(Instant::now() + JOURNAL_ONLY_FOR);
                    if let Some(left_out) = self.stats.log.admit() {
                        tracing::warn!(
                            writes = batch.len(),
                            left_out,
                            "store did not take a batch; journaling for delivery later"
                        );
                    }
                }
                if spill(journal, &failed).await {
                    self.stats.journaled.fetch_add(failed.len() as u64, Relaxed);
                    break;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            self.pending.fetch_sub(batch.len(), Relaxed);
            for job in jobs.drain(..) {
                let _ = job.durable.send(());
            }
        }
    }

    /// Applies each of `writes` on its own (concurrently, each under [`JOURNAL_AFTER`]),
    /// counting those that land; the writes that did not.
    async fn apply_one_by_one(&self, store: &SharedStore, writes: &[Write]) -> Vec<Write> {
        use futures_util::stream::{self, StreamExt};
        let results: Vec<(Write, Result<Vec<bool>, StoreError>)> =
            stream::iter(writes.iter().cloned())
                .map(|write| async move {
                    let result = bounded_apply(store, std::slice::from_ref(&write)).await;
                    (write, result)
                })
                .buffer_unordered(CONCURRENT_WRITES)
                .collect()
                .await;
        let mut failed = Vec::new();
        for (write, result) in results {
            match result {
                Ok(counted) => self.count(&counted),
                Err(_) => failed.push(write),
            }
        }
        failed
    }

    fn count(&self, counted: &[bool]) {
        let landed = counted.iter().filter(|&&c| c).count() as u64;
        self.stats.counted.fetch_add(landed, Relaxed);
        self.stats
            .replayed
            .fetch_add(counted.len() as u64 - landed, Relaxed);
    }

    /// Delivers the journal to `store`, oldest rows first, until `stop`: at start (what
    /// an earlier run left) and whenever batches were journaled since. Rows are delivered
    /// one by one when a batch fails, and rows the store still refuses (a master in
    /// failover) do not hold back the rows behind them.
    pub async fn replay_journal(
        &self,
        store: SharedStore,
        journal: Arc<Database>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut after = 0i64;
        loop {
            let rows = {
                let journal = Arc::clone(&journal);
                tokio::task::spawn_blocking(move || journal.journal_rows(after, WRITE_BATCH)).await
            };
            let pause = match rows {
                Ok(Ok(rows)) if rows.is_empty() => {
                    after = 0;
                    JOURNAL_POLL
                }
                Ok(Ok(rows)) => {
                    let delivered = self.deliver(&store, &rows).await;
                    let stuck = rows.len() - delivered.len();
                    after = rows.last().map_or(0, |(seq, _)| *seq);
                    let journal = Arc::clone(&journal);
                    let count = delivered.len() as u64;
                    match tokio::task::spawn_blocking(move || journal.journal_remove(&delivered))
                        .await
                    {
                        Ok(Ok(())) => {
                            self.stats.delivered_from_journal.fetch_add(count, Relaxed);
                        }
                        _ => after = 0,
                    }
                    if stuck > 0 && count == 0 {
                        JOURNAL_POLL
                    } else {
                        Duration::ZERO
                    }
                }
                Ok(Err(error)) => {
                    tracing::error!(%error, "reading the journal failed");
                    MAX_BACKOFF
                }
                Err(_) => MAX_BACKOFF,
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// Applies journal `rows`, whole or one by one; the sequence numbers delivered.
    async fn deliver(&self, store: &SharedStore, rows: &[(i64, Write)]) -> Vec<i64> {
        use futures_util::stream::{self, StreamExt};
        let writes: Vec<Write> = rows.iter().map(|(_, w)| w.clone()).collect();
        if let Ok(counted) = bounded_apply(store, &writes).await {
            self.count(&counted);
            return rows.iter().map(|(seq, _)| *seq).collect();
        }
        let results: Vec<(i64, Result<Vec<bool>, StoreError>)> = stream::iter(rows.iter().cloned())
            .map(|(seq, write)| async move {
                (
                    seq,
                    bounded_apply(store, std::slice::from_ref(&write)).await,
                )
            })
            .buffer_unordered(CONCURRENT_WRITES)
            .collect()
            .await;
        let mut delivered = Vec::new();
        for (seq, result) in results {
            if let Ok(counted) = result {
                self.count(&counted);
                delivered.push(seq);
            }
        }
        delivered
    }
}

/// `store.apply` under [`JOURNAL_AFTER`] (a late success is a replay later: idempotent).
async fn bounded_apply(store: &SharedStore, writes: &[Write]) -> Result<Vec<bool>, StoreError> {
    tokio::time::timeout(JOURNAL_AFTER, store.apply(writes))
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::Unavailable(format!(
                "no answer within {JOURNAL_AFTER:?}"
            )))
        })
}

/// Appends `batch` to the journal on a blocking thread; whether it is durable there.
async fn spill(journal: &Arc<Database>, batch: &[Write]) -> bool {
    let journal = Arc::clone(journal);
    let batch = batch.to_vec();
    match tokio::task::spawn_blocking(move || journal.spill(&batch)).await {
        Ok(Ok(())) => true,
        Ok(Err(error)) => {
            tracing::error!(%error, "journaling a batch failed");
            false
        }
        Err(_) => false,
    }
}
