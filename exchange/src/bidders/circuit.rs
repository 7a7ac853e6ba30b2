//! A per-bidder circuit breaker in atomics (no lock on the request path).
//!
//! Closed: every request goes; `failures` consecutive failures open it. Open: the bidder
//! is skipped for `open_ms`. Then half-open: up to `probes` requests go at once; a
//! success closes the circuit, a failure opens it again for another `open_ms`.
//! Callers pass "now" in ms from any monotonic origin, so tests control time.

use std::sync::atomic::{
    AtomicU32, AtomicU64, AtomicU8, Ordering::AcqRel, Ordering::Acquire, Ordering::Relaxed,
    Ordering::Release,
};

/// Circuit state (a metric value: 0 closed, 1 open, 2 half-open).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Requests flow.
    Closed = 0,
    /// The bidder is skipped.
    Open = 1,
    /// A few probe requests test whether the bidder is back.
    HalfOpen = 2,
}

impl CircuitState {
    fn from_u8(value: u8) -> Self {
        match value {
            1 => Self::Open,
            2 => Self::HalfOpen,
            _ => Self::Closed,
        }
    }

    /// Stable label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// Permission to call the bidder once; hand it back to [`Circuit::record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// An ordinary call through a closed circuit.
    Normal,
    /// A probe through a half-open circuit.
    Probe,
}

/// One bidder's breaker.
#[derive(Debug)]
pub struct Circuit {
    failures_to_open: u32,
    open_ms: u64,
    probes: u32,
    state: AtomicU8,
    consecutive_failures: AtomicU32,
    opened_at_ms: AtomicU64,
    probes_in_flight: AtomicU32,
}

impl Circuit {
    /// A closed breaker.
    pub fn new(failures_to_open: u32, open_ms: u64, probes: u32) -> Self {
        Self {
            failures_to_open: failures_to_open.max(1),
            open_ms,
            probes: probes.max(1),
            state: AtomicU8::new(CircuitState::Closed as u8),
            consecutive_failures: AtomicU32::new(0),
            opened_at_ms: AtomicU64::new(0),
            probes_in_flight: AtomicU32::new(0),
        }
    }

    /// The current state.
    pub fn state(&self) -> CircuitState {
        CircuitState::from_u8(self.state.load(Acquire))
    }

    /// Asks to call the bidder now; `None` means skip it.
    pub fn allow(&self, now_ms: u64) -> Option<Permit> {
        match self.state() {
            CircuitState::Closed => Some(Permit::Normal),
            CircuitState::Open => {
                let opened = self.opened_at_ms.load(Acquire);
                if now_ms.saturating_sub(opened) < self.open_ms {
                    return None;
                }
                if self
                    .state
                    .compare_exchange(
                        CircuitState::Open as u8,
                        CircuitState::HalfOpen as u8,
                        AcqRel,
                        Acquire,
                    )
                    .is_ok()
                {
                    self.probes_in_flight.store(0, Release);
                }
                self.probe()
            }
            CircuitState::HalfOpen => self.probe(),
        }
    }

    fn probe(&self) -> Option<Permit> {
        if self.state() != CircuitState::HalfOpen {
            return self.allow_closed_only();
        }
        let before = self.probes_in_flight.fetch_add(1, AcqRel);
        if before < self.probes {
            Some(Permit::Probe)
        } else {
            self.probes_in_flight.fetch_sub(1, AcqRel);
            None
        }
    }

    fn allow_closed_only(&self) -> Option<Permit> {
        (self.state() == CircuitState::Closed).then_some(Permit::Normal)
    }

    /// Records how a permitted call went.
    pub fn record(&self, permit: Permit, success: bool, now_ms: u64) {
        if success {
            self.consecutive_failures.store(0, Relaxed);
            if self.state() == CircuitState::HalfOpen {
                self.state.store(CircuitState::Closed as u8, Release);
            }
            if permit == Permit::Probe {
                self.probes_in_flight.fetch_sub(1, AcqRel);
            }
            return;
        }
        match permit {
            Permit::Probe => {
                self.opened_at_ms.store(now_ms, Release);
                self.state.store(CircuitState::Open as u8, Release);
                self.probes_in_flight.fetch_sub(1, AcqRel);
            }
            Permit::Normal => {
                let failures = self.consecutive_failures.fetch_add(1, AcqRel) + 1;
                if failures >= self.failures_to_open {
                    self.opened_at_ms.store(now_ms, Release);
                    if self
                        .state
                        .compare_exchange(
                            CircuitState::Closed as u8,
                            CircuitState::Open as u8,
                            AcqRel,
                            Acquire,
                        )
                        .is_ok()
                    {
                        self.consecutive_failures.store(0, Relaxed);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_consecutive_failures_only() {
        let circuit = Circuit::new(3, 1_000, 1);
        for _ in 0..2 {
            circuit.record(Permit::Normal, false, 0);
        }
        circuit.record(Permit::Normal, true, 0);
        circuit.record(Permit::Normal, false, 0);
        circuit.record(Permit::Normal, false, 0);
        assert_eq!(
            circuit.state(),
            CircuitState::Closed,
            "a success in between resets the count"
        );
        circuit.record(Permit::Normal, false, 10);
        assert_eq!(circuit.state(), CircuitState::Open);
        assert_eq!(circuit.allow(500), None);
    }

    #[test]
    fn half_open_lets_probes_through_then_closes_or_reopens() {
        let circuit = Circuit::new(1, 1_000, 1);
        circuit.record(Permit::Normal, false, 0);
        assert_eq!(circuit.allow(999), None);
        assert_eq!(circuit.allow(1_000), Some(Permit::Probe));
        assert_eq!(circuit.state(), CircuitState::HalfOpen);
        assert_eq!(circuit.allow(1_001), None, "one probe at a time");
        circuit.record(Permit::Probe, false, 1_002);
        assert_eq!(circuit.state(), CircuitState::Open);
        assert_eq!(circuit.allow(1_500), None, "reopened for another open_ms");
        assert_eq!(circuit.allow(2_002), Some(Permit::Probe));
        circuit.record(Permit::Probe, true, 2_003);
        assert_eq!(circuit.state(), CircuitState::Closed);
        assert_eq!(circuit.allow(2_004), Some(Permit::Normal));
    }
}
