//! Rate-limited logging for failures that repeat while something is down (a store, a
//! Redis master, the file-descriptor limit): at most one line per interval per site,
//! each saying how many were left out before it; the left-out lines are counted for
//! the metrics (`exchange_log_lines_suppressed_total`). The failures themselves are
//! counted by their own metrics; the log only has to say that they happen.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// The usual interval between two lines of one site.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// One log site's limit: lock-free, shared by every task that may log there.
#[derive(Debug)]
pub struct LogLimit {
    origin: Instant,
    every_ms: u64,
    /// Earliest time (ms after `origin`, plus one so that 0 means "never logged") of the
    /// next line.
    next_ms: AtomicU64,
    /// Lines left out since the last one written.
    since_last: AtomicU64,
    /// Lines left out in all.
    suppressed: AtomicU64,
}

impl Default for LogLimit {
    fn default() -> Self {
        Self::new(LOG_EVERY)
    }
}

impl LogLimit {
    /// A site that writes at most one line per `every`.
    pub fn new(every: Duration) -> Self {
        Self {
            origin: Instant::now(),
            every_ms: every.as_millis().max(1) as u64,
            next_ms: AtomicU64::new(0),
            since_last: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(lines left out since the last one)` when a line may be written now; `None`
    /// (and the line counted as left out) otherwise.
    pub fn admit(&self) -> Option<u64> {
        let now = self.origin.elapsed().as_millis() as u64 + 1;
        let next = self.next_ms.load(Relaxed);
        if now >= next
            && self
                .next_ms
                .compare_exchange(next, now + self.every_ms, Relaxed, Relaxed)
                .is_ok()
        {
            return Some(self.since_last.swap(0, Relaxed));
        }
        self.since_last.fetch_add(1, Relaxed);
        self.suppressed.fetch_add(1, Relaxed);
        None
    }

    /// Lines left out since the start.
    pub fn suppressed(&self) -> u64 {
        self.suppressed.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_and_the_rest_counted() {
        let limit = LogLimit::new(Duration::from_millis(200));
        assert_eq!(limit.admit(), Some(0));
        for _ in 0..99 {
            assert_eq!(limit.admit(), None);
        }
        assert_eq!(limit.suppressed(), 99);
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(
            limit.admit(),
            Some(99),
            "the next line says how many were left out"
        );
        assert_eq!(limit.admit(), None);
        assert_eq!(limit.suppressed(), 100);
    }

    #[test]
    fn many_threads_at_once_write_one_line() {
        let limit = std::sync::Arc::new(LogLimit::new(Duration::from_secs(60)));
        let written: u64 = (0..8)
            .map(|_| {
                let limit = limit.clone();
                std::thread::spawn(move || (0..1000).filter(|_| limit.admit().is_some()).count())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().expect("thread") as u64)
            .sum();
        assert_eq!(written, 1);
        assert_eq!(limit.suppressed(), 7999);
    }
}
