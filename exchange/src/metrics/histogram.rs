//! A latency histogram recorded where the request runs: fixed buckets of atomic counters
//! (no lock, no channel, no other thread), exported as a Prometheus histogram in seconds,
//! so that buckets sum across nodes and windows (`rate(..._bucket[5m])`), unlike lifetime
//! quantiles.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Upper bounds of the buckets, µs: 1-2.5-5 steps from 25 µs to 10 s (and +Inf).
pub const BUCKETS_US: [u64; 19] = [
    25,
    50,
    100,
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    u64::MAX,
];

/// Counts of latencies per bucket, with their sum.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    buckets: [AtomicU64; BUCKETS_US.len()],
    sum_us: AtomicU64,
}

impl LatencyHistogram {
    /// Records one latency, µs: two relaxed atomic additions.
    pub fn record_us(&self, micros: u64) {
        let bucket = BUCKETS_US.partition_point(|&bound| bound < micros);
        self.buckets[bucket].fetch_add(1, Relaxed);
        self.sum_us.fetch_add(micros, Relaxed);
    }

    /// Latencies recorded.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Relaxed)).sum()
    }

    /// (upper bound in seconds, count in that bucket alone) per bucket, +Inf last; the
    /// sum in seconds; the count.
    pub fn snapshot(&self) -> (Vec<(f64, u64)>, f64, u64) {
        let buckets: Vec<(f64, u64)> = BUCKETS_US
            .iter()
            .zip(&self.buckets)
            .map(|(&bound, count)| {
                let upper = if bound == u64::MAX {
                    f64::INFINITY
                } else {
                    bound as f64 / 1e6
                };
                (upper, count.load(Relaxed))
            })
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        (buckets, self.sum_us.load(Relaxed) as f64 / 1e6, count)
    }

    /// The `q` quantile (0..=1) estimated from the buckets as Prometheus'
    /// `histogram_quantile` does (linear within the bucket), µs; `None` when empty.
    pub fn quantile_us(&self, q: f64) -> Option<u64> {
        let (buckets, _, count) = self.snapshot();
        quantile_from_buckets(&buckets, count, q).map(|s| (s * 1e6).round() as u64)
    }
}

/// `histogram_quantile` over per-bucket counts with upper bounds in seconds.
pub fn quantile_from_buckets(buckets: &[(f64, u64)], count: u64, q: f64) -> Option<f64> {
    if count == 0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * count as f64;
    let mut below = 0u64;
    let mut lower = 0.0;
    for &(upper, n) in buckets {
        if n > 0 && (below + n) as f64 >= rank {
            if upper.is_infinite() {
                return Some(lower);
            }
            let within = (rank - below as f64) / n as f64;
            return Some(lower + (upper - lower) * within);
        }
        below += n;
        if upper.is_finite() {
            lower = upper;
        }
    }
    Some(lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_land_in_their_buckets_and_sum() {
        let histogram = LatencyHistogram::default();
        for us in [10, 25, 26, 900, 3_000_000, 20_000_000] {
            histogram.record_us(us);
        }
        let (buckets, sum, count) = histogram.snapshot();
        assert_eq!(count, 6);
        assert!((sum - 23.000961).abs() < 1e-9, "{sum}");
        let at = |bound: f64| buckets.iter().find(|(b, _)| *b == bound).map(|(_, n)| *n);
        assert_eq!(at(0.000025), Some(2), "10 and 25 µs: bounds are inclusive");
        assert_eq!(at(0.00005), Some(1));
        assert_eq!(at(0.001), Some(1));
        assert_eq!(at(5.0), Some(1));
        assert_eq!(at(f64::INFINITY), Some(1));
    }

    #[test]
    fn quantiles_interpolate_within_a_bucket() {
        let histogram = LatencyHistogram::default();
        assert_eq!(histogram.quantile_us(0.5), None);
        // 100 samples in (100, 250] µs: the median is halfway through that bucket.
        for _ in 0..100 {
            histogram.record_us(200);
        }
        assert_eq!(histogram.quantile_us(0.5), Some(175));
        assert_eq!(histogram.quantile_us(1.0), Some(250));
    }
}
