//! Wall-clock time for flight dates and day-parts, injectable for tests.

use std::time::{SystemTime, UNIX_EPOCH};

/// Where the auction gets "now" from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// A fixed instant, unix seconds (tests, replays).
    Fixed(i64),
}

impl Clock {
    /// Now, unix milliseconds.
    pub fn now_millis(self) -> i64 {
        match self {
            Self::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
            Self::Fixed(at) => at.saturating_mul(1000),
        }
    }

    /// Now, unix seconds.
    pub fn now_unix(self) -> i64 {
        match self {
            Self::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
            Self::Fixed(at) => at,
        }
    }
}
