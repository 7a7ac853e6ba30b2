//! A per-bidder request-rate limit: GCRA (generic cell rate algorithm) on one atomic,
//! so deciding costs a load and a compare-and-swap, with a small burst allowance.

use std::sync::atomic::{AtomicU64, Ordering::AcqRel, Ordering::Acquire};

/// Limits calls to `qps` per second, with bursts of up to 1/20 s worth of calls.
#[derive(Debug)]
pub struct Throttle {
    interval_ns: u64,
    tolerance_ns: u64,
    /// Theoretical arrival time of the next call, ns from the caller's origin.
    tat_ns: AtomicU64,
}

impl Throttle {
    /// A limit of `qps` calls per second; 0 means unlimited.
    pub fn new(qps: u32) -> Self {
        let interval_ns = if qps == 0 {
            0
        } else {
            1_000_000_000 / u64::from(qps)
        };
        let burst = u64::from((qps / 20).max(1));
        Self {
            interval_ns,
            tolerance_ns: interval_ns * (burst - 1),
            tat_ns: AtomicU64::new(0),
        }
    }

    /// Takes one call's allowance at `now_ns`; false when over the limit.
    pub fn try_acquire(&self, now_ns: u64) -> bool {
        if self.interval_ns == 0 {
            return true;
        }
        let mut tat = self.tat_ns.load(Acquire);
        loop {
            let start = tat.max(now_ns);
            if start - now_ns > self.tolerance_ns {
                return false;
            }
            match self
                .tat_ns
                .compare_exchange_weak(tat, start + self.interval_ns, AcqRel, Acquire)
            {
                Ok(_) => return true,
                Err(actual) => tat = actual,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_the_rate_over_a_second() {
        let throttle = Throttle::new(100);
        // Offer 1,000 calls spread over one second: about 100 get through.
        let allowed = (0..1_000u64)
            .filter(|i| throttle.try_acquire(i * 1_000_000))
            .count();
        assert!((100..=106).contains(&allowed), "{allowed}");
    }

    #[test]
    fn allows_a_small_burst_then_refuses() {
        let throttle = Throttle::new(200);
        let burst = (0..50).filter(|_| throttle.try_acquire(1_000)).count();
        assert_eq!(burst, 10, "1/20 s worth");
        assert!(
            throttle.try_acquire(1_000 + 5_000_000),
            "refills at the rate"
        );
    }

    #[test]
    fn zero_means_unlimited() {
        let throttle = Throttle::new(0);
        assert!((0..10_000).all(|_| throttle.try_acquire(0)));
    }
}
