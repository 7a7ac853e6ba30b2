//! Wall-clock time for flight dates and day-parts, injectable for tests.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where the auction gets "now" from.
#[derive(Debug, Clone, Copy, Default)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// A fixed instant, unix seconds (tests, replays).
    Fixed(i64),
    /// The system clock moved by this many milliseconds, which may change while it runs
    /// (tests that let weeks pass: lock periods, settlement cycles).
    Shifted(&'static AtomicI64),
}

impl PartialEq for Clock {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::System, Self::System) => true,
            (Self::Fixed(a), Self::Fixed(b)) => a == b,
            (Self::Shifted(a), Self::Shifted(b)) => std::ptr::eq(*a, *b),
            _ => false,
        }
    }
}

impl Eq for Clock {}

fn system_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Clock {
    /// Now, unix milliseconds.
    pub fn now_millis(self) -> i64 {
        match self {
            Self::System => system_millis(),
            Self::Fixed(at) => at.saturating_mul(1000),
            Self::Shifted(by) => system_millis() + by.load(Ordering::Relaxed),
        }
    }

    /// Now, unix seconds.
    pub fn now_unix(self) -> i64 {
        match self {
            Self::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
            Self::Fixed(at) => at,
            Self::Shifted(_) => self.now_millis().div_euclid(1000),
        }
    }
}
