//! Connection admission: how many connections may be open at once (below the process's
//! file limit, so `accept` never runs out of descriptors), how long a connection may stay
//! silent before its first byte and between requests, and what an `accept` error costs
//! (a growing pause, a counter, one log line a second; never a busy loop).
//!
//! At the cap the accept loop stops accepting until a connection ends: new clients wait in
//! the kernel's backlog instead of taking the descriptors the open connections need.

use crate::metrics::exposition::Exposition;
use crate::metrics::log_limit::LogLimit;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Descriptors kept free below the process's limit for everything but client connections
/// (the listener, Redis, bidders, files, the runtime).
pub const RESERVED_DESCRIPTORS: usize = 64;
/// First pause after a failed `accept`; doubled per failure in a row.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
/// Longest pause after failed `accept`s in a row.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_millis(500);
/// At most one log line about failed `accept`s per this interval.
const ACCEPT_LOG_EVERY: Duration = Duration::from_secs(1);

/// A client connection as hyper reads it: closed when idle too long either way.
pub type GuardedStream = super::idle::IdleStream<TcpStream>;

/// The open-connection cap, the timeouts and their counters.
#[derive(Debug)]
pub struct Connections {
    slots: Arc<Semaphore>,
    limit: usize,
    first_byte_timeout: Duration,
    idle_timeout: Duration,
    waited_at_limit: AtomicU64,
    accept_errors: AtomicU64,
    accept_log: LogLimit,
    first_byte_timeouts: AtomicU64,
    idle_timeouts: AtomicU64,
    accepted: AtomicU64,
}

/// One admitted connection: holds its slot until dropped.
#[derive(Debug)]
pub struct Slot {
    _permit: OwnedSemaphorePermit,
}

impl Connections {
    /// At most `configured` connections, and never more than the descriptor limit
    /// (`nofile_limit`, when known) less [`RESERVED_DESCRIPTORS`].
    pub fn new(
        configured: usize,
        nofile_limit: Option<usize>,
        first_byte_timeout: Duration,
        idle_timeout: Duration,
    ) -> Self {
        let limit = nofile_limit
            .map_or(configured, |n| {
                configured.min(n.saturating_sub(RESERVED_DESCRIPTORS))
            })
            .max(1);
        Self {
            slots: Arc::new(Semaphore::new(limit)),
            limit,
            first_byte_timeout,
            idle_timeout,
            waited_at_limit: AtomicU64::new(0),
            accept_errors: AtomicU64::new(0),
            accept_log: LogLimit::new(ACCEPT_LOG_EVERY),
            first_byte_timeouts: AtomicU64::new(0),
            idle_timeouts: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
        }
    }

    /// The cap in force.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// `accept` failure lines left out of the log.
    pub fn accept_log_suppressed(&self) -> u64 {
        self.accept_log.suppressed()
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.limit - self.slots.available_permits()
    }

    /// Waits for a free slot (counting the waits: the cap was reached).
    pub async fn slot(&self) -> Slot {
        let permit = match Arc::clone(&self.slots).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                self.waited_at_limit.fetch_add(1, Relaxed);
                Arc::clone(&self.slots)
                    .acquire_owned()
                    .await
                    .expect("the connection semaphore is never closed")
            }
        };
        Slot { _permit: permit }
    }

    /// Waits for the connection's first byte; `None` (counted) when none came in time or
    /// the peer closed. Then wraps it in the idle timeout.
    pub async fn first_byte(&self, stream: TcpStream) -> Option<GuardedStream> {
        self.accepted.fetch_add(1, Relaxed);
        let mut probe = [0u8; 1];
        match tokio::time::timeout(self.first_byte_timeout, stream.peek(&mut probe)).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(_) => return None,
            Err(_) => {
                self.first_byte_timeouts.fetch_add(1, Relaxed);
                return None;
            }
        }
        Some(super::idle::IdleStream::new(stream, self.idle_timeout))
    }

    /// Counts a connection that ended on its idle timeout, if `error` says so.
    pub fn ended_with(&self, error: &(dyn std::error::Error + 'static)) {
        let mut source = Some(error);
        while let Some(error) = source {
            if let Some(io) = error.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::TimedOut {
                    self.idle_timeouts.fetch_add(1, Relaxed);
                }
                return;
            }
            source = error.source();
        }
    }

    /// Describes the connection families.
    pub fn describe(&self, out: &mut Exposition<'_, '_>) {
        out.gauge(
            "exchange_connections_open",
            "Client connections open now.",
            &[(&[], self.open() as i64)],
        );
        out.gauge(
            "exchange_connections_limit",
            "Most client connections open at once (limits.max_connections, below the file limit).",
            &[(&[], self.limit as i64)],
        );
        out.counter(
            "exchange_connections",
            "Client connections by what happened to them.",
            &[
                (&[("event", "accepted")], self.accepted.load(Relaxed)),
                (
                    &[("event", "waited_at_limit")],
                    self.waited_at_limit.load(Relaxed),
                ),
                (
                    &[("event", "first_byte_timeout")],
                    self.first_byte_timeouts.load(Relaxed),
                ),
                (
                    &[("event", "idle_timeout")],
                    self.idle_timeouts.load(Relaxed),
                ),
                (
                    &[("event", "accept_error")],
                    self.accept_errors.load(Relaxed),
                ),
            ],
        );
    }
}

/// Failed `accept`s in a row: the pause before the next try.
#[derive(Debug)]
pub struct AcceptBackoff {
    pause: Duration,
}

impl Default for AcceptBackoff {
    fn default() -> Self {
        Self {
            pause: ACCEPT_BACKOFF_MIN,
        }
    }
}

impl AcceptBackoff {
    /// Counts and (at most once a second) logs a failed `accept`; the pause to take.
    pub fn failed(&mut self, connections: &Connections, error: &std::io::Error) -> Duration {
        connections.accept_errors.fetch_add(1, Relaxed);
        if let Some(left_out) = connections.accept_log.admit() {
            tracing::warn!(%error, left_out, open = connections.open(), "accept failed; backing off");
        }
        let pause = self.pause;
        self.pause = (self.pause * 2).min(ACCEPT_BACKOFF_MAX);
        pause
    }

    /// An `accept` succeeded: the next failure starts from the shortest pause.
    pub fn succeeded(&mut self) {
        self.pause = ACCEPT_BACKOFF_MIN;
    }
}

/// The process's soft limit on open files, where the system says (Linux `/proc`).
pub fn nofile_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_stays_below_the_file_limit() {
        let at = |configured, nofile| {
            Connections::new(configured, nofile, Duration::ZERO, Duration::ZERO).limit()
        };
        assert_eq!(at(10_000, Some(1024)), 1024 - RESERVED_DESCRIPTORS);
        assert_eq!(at(100, Some(1024)), 100);
        assert_eq!(at(100, None), 100);
        assert_eq!(at(100, Some(10)), 1, "never zero");
    }

    #[test]
    fn accept_failures_back_off_and_reset() {
        let connections = Connections::new(10, None, Duration::ZERO, Duration::ZERO);
        let mut backoff = AcceptBackoff::default();
        let error = std::io::Error::other("too many open files");
        let pauses: Vec<Duration> = (0..10)
            .map(|_| backoff.failed(&connections, &error))
            .collect();
        assert_eq!(pauses[0], ACCEPT_BACKOFF_MIN);
        assert!(pauses.windows(2).all(|w| w[1] >= w[0]));
        assert_eq!(pauses[9], ACCEPT_BACKOFF_MAX);
        backoff.succeeded();
        assert_eq!(backoff.failed(&connections, &error), ACCEPT_BACKOFF_MIN);
        assert_eq!(connections.accept_errors.load(Relaxed), 11);
    }

    #[test]
    fn this_process_has_a_file_limit() {
        assert!(nofile_limit().is_some_and(|n| n > 0));
    }
}
