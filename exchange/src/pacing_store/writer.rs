//! Notice writes leave the request path through a bounded queue; one task drains it in
//! batches (up to [`WRITE_BATCH`] writes: one pipeline) and retries a failed batch with
//! backoff until it lands. Writes are idempotent, so a retry never counts twice; a full
//! queue refuses the notice (503) so the sender retries it, rather than losing money.

use super::{PacingStore, SharedStore, Write};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Most writes sent in one batch.
pub const WRITE_BATCH: usize = 256;
/// First pause after a failed batch; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(20);
/// Longest pause between attempts at a failed batch.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Counters of the write path.
#[derive(Debug, Default)]
pub struct WriteStats {
    /// Writes that counted.
    pub counted: AtomicU64,
    /// Writes that were replays (already counted).
    pub replayed: AtomicU64,
    /// Batches that failed (and were retried).
    pub failed_batches: AtomicU64,
    /// Batches sent.
    pub batches: AtomicU64,
    /// Writes refused because the queue was full.
    pub refused: AtomicU64,
}

/// The sending side, held by the notice endpoints.
#[derive(Debug)]
pub struct Writer {
    tx: mpsc::Sender<Write>,
    rx: std::sync::Mutex<Option<mpsc::Receiver<Write>>>,
    pending: Arc<AtomicUsize>,
    /// Counters.
    pub stats: Arc<WriteStats>,
}

impl Writer {
    /// A writer whose queue holds `capacity` writes.
    pub fn new(capacity: usize) -> Self {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        Self {
            tx,
            rx: std::sync::Mutex::new(Some(rx)),
            pending: Arc::new(AtomicUsize::new(0)),
            stats: Arc::default(),
        }
    }

    /// Queues `writes` (all or none); false when the queue has no room for them.
    pub fn send(&self, writes: Vec<Write>) -> bool {
        let Ok(permits) = self.tx.try_reserve_many(writes.len()) else {
            self.stats.refused.fetch_add(writes.len() as u64, Relaxed);
            return false;
        };
        self.pending.fetch_add(writes.len(), Relaxed);
        for (permit, write) in permits.zip(writes) {
            permit.send(write);
        }
        true
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
    /// return at once).
    pub async fn run(&self, store: SharedStore) {
        let Some(mut rx) = self
            .rx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        else {
            return;
        };
        let mut batch = Vec::with_capacity(WRITE_BATCH);
        while rx.recv_many(&mut batch, WRITE_BATCH).await > 0 {
            let mut backoff = FIRST_BACKOFF;
            loop {
                self.stats.batches.fetch_add(1, Relaxed);
                match store.apply(&batch).await {
                    Ok(counted) => {
                        let landed = counted.iter().filter(|&&c| c).count() as u64;
                        self.stats.counted.fetch_add(landed, Relaxed);
                        self.stats
                            .replayed
                            .fetch_add(counted.len() as u64 - landed, Relaxed);
                        break;
                    }
                    Err(error) => {
                        self.stats.failed_batches.fetch_add(1, Relaxed);
                        tracing::warn!(%error, writes = batch.len(), "store write failed; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
            }
            self.pending.fetch_sub(batch.len(), Relaxed);
            batch.clear();
        }
    }
}
