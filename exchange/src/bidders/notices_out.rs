//! Win, billing and loss notices to bidders, sent off the request path.
//!
//! The request path only queues a filled URL on a bounded channel (a full queue drops
//! and counts, never blocks); a background task gathers what is queued for a few
//! milliseconds (`BATCH_WINDOW`: fewer wake-ups at everyday rates) and sends each with a
//! per-attempt timeout and a bounded number of retries (connection errors and 5xx only). Billing URLs wait
//! in [`PendingBills`] until the publisher fires the exchange's own billing notice.

use super::client::HttpClient;
use bidder_sdk::NoticeKind;
use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Full};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};

/// Longest notice URL sent; longer ones are dropped as invalid.
pub const MAX_NOTICE_URL: usize = 8 * 1024;
/// Notices in flight at once.
const NOTICE_CONCURRENCY: usize = 256;
/// How long the sender gathers queued notices before sending them together.
const BATCH_WINDOW: Duration = Duration::from_millis(5);
/// First retry delay; doubles per attempt.
const RETRY_BASE: Duration = Duration::from_millis(50);
/// Shards of the pending-bill table (fewer collisions between request threads).
const BILL_SHARDS: usize = 16;
/// Pending bills kept per shard at most; the oldest go first when full.
const MAX_BILLS_PER_SHARD: usize = 65_536;

/// One notice to send.
#[derive(Debug, Clone)]
pub struct NoticeJob {
    /// Bidder index.
    pub bidder: usize,
    /// Win, billing or loss.
    pub kind: NoticeKind,
    /// The URL, macros filled.
    pub url: String,
}

/// How a notice ended (a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeResult {
    /// A 2xx/3xx answer.
    Sent,
    /// Every attempt failed, or the bidder answered 4xx.
    Failed,
    /// Not an `http://` URL this client can send.
    Invalid,
    /// The queue was full.
    Dropped,
}

impl NoticeResult {
    /// Every value.
    pub const ALL: [NoticeResult; 4] = [Self::Sent, Self::Failed, Self::Invalid, Self::Dropped];

    /// Stable label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Invalid => "invalid",
            Self::Dropped => "dropped",
        }
    }
}

/// Per bidder × kind × result counters.
#[derive(Debug)]
pub struct NoticeCounters {
    counts: Vec<AtomicU64>,
}

impl NoticeCounters {
    /// Counters for `bidders` bidders.
    pub fn new(bidders: usize) -> Self {
        Self {
            counts: (0..bidders * 3 * NoticeResult::ALL.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }

    fn slot(bidder: usize, kind: NoticeKind, result: NoticeResult) -> usize {
        (bidder * 3 + kind_index(kind)) * NoticeResult::ALL.len() + result as usize
    }

    /// Counts one notice.
    pub fn count(&self, bidder: usize, kind: NoticeKind, result: NoticeResult) {
        if let Some(counter) = self.counts.get(Self::slot(bidder, kind, result)) {
            counter.fetch_add(1, Relaxed);
        }
    }

    /// The count for one label set.
    pub fn get(&self, bidder: usize, kind: NoticeKind, result: NoticeResult) -> u64 {
        self.counts
            .get(Self::slot(bidder, kind, result))
            .map_or(0, |c| c.load(Relaxed))
    }
}

fn kind_index(kind: NoticeKind) -> usize {
    match kind {
        NoticeKind::Win => 0,
        NoticeKind::Billing => 1,
        NoticeKind::Loss => 2,
    }
}

/// The request path's end of the notice queue.
#[derive(Debug)]
pub struct Notifier {
    tx: mpsc::Sender<NoticeJob>,
    rx: Mutex<Option<mpsc::Receiver<NoticeJob>>>,
    /// Notices queued or being sent.
    pending: Arc<AtomicU64>,
    /// Outcome counters.
    pub counters: Arc<NoticeCounters>,
}

/// How the background sender behaves.
#[derive(Debug, Clone, Copy)]
pub struct SendPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
    /// Time allowed per attempt.
    pub timeout: Duration,
}

impl Notifier {
    /// A queue of `capacity` notices for `bidders` bidders (the sender starts with
    /// [`Notifier::run`]).
    pub fn new(capacity: usize, bidders: usize) -> Self {
        let (tx, rx) = mpsc::channel(capacity);
        Self {
            tx,
            rx: Mutex::new(Some(rx)),
            pending: Arc::new(AtomicU64::new(0)),
            counters: Arc::new(NoticeCounters::new(bidders)),
        }
    }

    /// Queues a notice; never blocks (a full queue drops it and counts).
    pub fn send(&self, job: NoticeJob) {
        let (bidder, kind) = (job.bidder, job.kind);
        self.pending.fetch_add(1, Relaxed);
        if self.tx.try_send(job).is_err() {
            self.pending.fetch_sub(1, Relaxed);
            self.counters.count(bidder, kind, NoticeResult::Dropped);
        }
    }

    /// Notices queued or being sent right now.
    pub fn pending(&self) -> u64 {
        self.pending.load(Relaxed)
    }

    /// Waits until every queued notice has been sent or given up, at most `limit`
    /// (used at shutdown: win and billing notices are money).
    pub async fn flush(&self, limit: Duration) {
        let give_up = Instant::now() + limit;
        while self.pending() > 0 && Instant::now() < give_up {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Sends queued notices until the exchange shuts down; a second call returns at once.
    pub async fn run(&self, client: HttpClient, policy: SendPolicy) {
        let Some(mut rx) = self.rx.lock().ok().and_then(|mut rx| rx.take()) else {
            return;
        };
        let permits = Arc::new(Semaphore::new(NOTICE_CONCURRENCY));
        let mut batch = Vec::new();
        while let Some(first) = rx.recv().await {
            // What else is queued within the window goes out with it: one wake-up of this
            // task, and one burst of answers, per batch rather than per notice.
            tokio::time::sleep(BATCH_WINDOW).await;
            batch.push(first);
            while batch.len() < NOTICE_CONCURRENCY {
                let Ok(job) = rx.try_recv() else { break };
                batch.push(job);
            }
            for job in batch.drain(..) {
                let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                    return;
                };
                let client = client.clone();
                let counters = Arc::clone(&self.counters);
                let pending = Arc::clone(&self.pending);
                tokio::spawn(async move {
                    let result = deliver(&client, &job.url, policy).await;
                    counters.count(job.bidder, job.kind, result);
                    pending.fetch_sub(1, Relaxed);
                    drop(permit);
                });
            }
        }
    }
}

/// Sends one notice with retries.
async fn deliver(client: &HttpClient, url: &str, policy: SendPolicy) -> NoticeResult {
    if url.len() > MAX_NOTICE_URL {
        return NoticeResult::Invalid;
    }
    let Ok(uri) = url.trim().parse::<Uri>() else {
        return NoticeResult::Invalid;
    };
    if uri.scheme_str() != Some("http") || uri.host().is_none() {
        return NoticeResult::Invalid;
    }
    for attempt in 0..=policy.retries {
        if attempt > 0 {
            tokio::time::sleep(RETRY_BASE * 2u32.saturating_pow(attempt - 1)).await;
        }
        let Ok(request) = Request::get(uri.clone()).body(Full::new(Bytes::new())) else {
            return NoticeResult::Invalid;
        };
        let answered = tokio::time::timeout(policy.timeout, async {
            let response = client.request(request).await.ok()?;
            let status = response.status();
            // Drain (bounded by the timeout) so the connection returns to the pool.
            let _ = response.into_body().collect().await;
            Some(status)
        })
        .await;
        match answered {
            Ok(Some(status)) if status.is_success() || status.is_redirection() => {
                return NoticeResult::Sent
            }
            Ok(Some(status)) if status.is_client_error() => return NoticeResult::Failed,
            _ => {}
        }
    }
    NoticeResult::Failed
}

/// A DSP billing URL waiting for the publisher's billing notice.
#[derive(Debug, Clone)]
pub struct PendingBill {
    /// Bidder index.
    pub bidder: usize,
    /// The bidder's `burl`, macros filled with its clearing price.
    pub url: String,
}

/// Billing URLs of external wins, by the exchange's bid id, until billed or expired.
/// Taking a bill removes it, so a replayed billing notice fires nothing.
#[derive(Debug)]
pub struct PendingBills {
    ttl: Duration,
    shards: Vec<Mutex<Shard>>,
}

#[derive(Debug, Default)]
struct Shard {
    bills: HashMap<String, (Instant, PendingBill)>,
    order: VecDeque<(Instant, String)>,
}

impl PendingBills {
    /// Bills kept for `ttl` (the bid expiry).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            shards: (0..BILL_SHARDS)
                .map(|_| Mutex::new(Shard::default()))
                .collect(),
        }
    }

    fn shard(&self, bid_id: &str) -> &Mutex<Shard> {
        let hash = bid_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        &self.shards[(hash % BILL_SHARDS as u64) as usize]
    }

    /// Keeps `bill` under `bid_id` from `now`.
    pub fn insert(&self, bid_id: String, bill: PendingBill, now: Instant) {
        let Ok(mut shard) = self.shard(&bid_id).lock() else {
            return;
        };
        let expires = now + self.ttl;
        while let Some((at, _)) = shard.order.front() {
            if *at > now && shard.order.len() < MAX_BILLS_PER_SHARD {
                break;
            }
            if let Some((at, key)) = shard.order.pop_front() {
                if shard.bills.get(&key).is_some_and(|(e, _)| *e == at) {
                    shard.bills.remove(&key);
                }
            }
        }
        shard.order.push_back((expires, bid_id.clone()));
        shard.bills.insert(bid_id, (expires, bill));
    }

    /// Takes the bill for `bid_id` if it is there and unexpired.
    pub fn take(&self, bid_id: &str, now: Instant) -> Option<PendingBill> {
        let mut shard = self.shard(bid_id).lock().ok()?;
        let (expires, bill) = shard.bills.remove(bid_id)?;
        (expires > now).then_some(bill)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bill_is_taken_once_and_expires() {
        let bills = PendingBills::new(Duration::from_secs(10));
        let now = Instant::now();
        let bill = |url: &str| PendingBill {
            bidder: 1,
            url: url.into(),
        };
        bills.insert("a-0".into(), bill("http://dsp/b1"), now);
        bills.insert("a-1".into(), bill("http://dsp/b2"), now);
        assert_eq!(
            bills.take("a-0", now).map(|b| b.url),
            Some("http://dsp/b1".into())
        );
        assert!(bills.take("a-0", now).is_none(), "a replay fires nothing");
        assert!(
            bills.take("a-1", now + Duration::from_secs(11)).is_none(),
            "expired"
        );
        assert!(bills.take("never", now).is_none());
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let notifier = Notifier::new(1, 2);
        let job = || NoticeJob {
            bidder: 1,
            kind: NoticeKind::Loss,
            url: "http://x/".into(),
        };
        notifier.send(job());
        notifier.send(job());
        assert_eq!(
            notifier
                .counters
                .get(1, NoticeKind::Loss, NoticeResult::Dropped),
            1
        );
    }
}
