//! The mock bidder's command-line value syntax: durations (`250us`, `5ms`, `2s`),
//! latency models (`fixed:5ms`, `uniform:2ms..10ms`, `lognormal:5ms,40ms` as p50,p99)
//! and price models (`fixed:1.5`, `uniform:0.5..3`).

use rand::Rng;
use rand_distr::{Distribution, LogNormal};
use std::time::Duration;
use thiserror::Error;

/// A value that does not parse.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct SpecError(String);

/// z-score of the 99th percentile of a standard normal distribution.
const Z_99: f64 = 2.326_347_874;

/// How long the mock takes to answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Latency {
    /// Always the same.
    Fixed(Duration),
    /// Uniform between two bounds.
    Uniform(Duration, Duration),
    /// Log-normal with this median and 99th percentile (long right tail, like real DSPs).
    LogNormal {
        /// Median.
        p50: Duration,
        /// 99th percentile.
        p99: Duration,
    },
}

impl Latency {
    /// Draws one latency.
    pub fn sample(&self, rng: &mut impl Rng) -> Duration {
        match *self {
            Self::Fixed(d) => d,
            Self::Uniform(a, b) if b > a => rng.gen_range(a..=b),
            Self::Uniform(a, _) => a,
            Self::LogNormal { p50, p99 } => {
                let mu = p50.as_secs_f64().max(1e-6).ln();
                let sigma = ((p99.as_secs_f64().max(1e-6)).ln() - mu).max(0.0) / Z_99;
                match LogNormal::new(mu, sigma) {
                    Ok(dist) => Duration::from_secs_f64(dist.sample(rng).min(3600.0)),
                    Err(_) => p50,
                }
            }
        }
    }
}

/// What the mock bids.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Price {
    /// Always the same CPM.
    Fixed(f64),
    /// Uniform between two CPMs.
    Uniform(f64, f64),
}

impl Price {
    /// Draws one price.
    pub fn sample(&self, rng: &mut impl Rng) -> f64 {
        match *self {
            Self::Fixed(p) => p,
            Self::Uniform(a, b) if b > a => rng.gen_range(a..=b),
            Self::Uniform(a, _) => a,
        }
    }
}

/// Parses a duration (`250us`, `5ms`, `2s`, `1.5s`, `2m`).
pub fn parse_duration(text: &str) -> Result<Duration, SpecError> {
    crate::units::parse_duration(text).map_err(SpecError)
}

/// Parses a latency model.
pub fn parse_latency(text: &str) -> Result<Latency, SpecError> {
    let (kind, args) = text.split_once(':').ok_or_else(|| {
        SpecError(format!(
            "{text:?}: use fixed:D, uniform:D..D or lognormal:P50,P99"
        ))
    })?;
    match kind {
        "fixed" => Ok(Latency::Fixed(parse_duration(args)?)),
        "uniform" => {
            let (a, b) = args
                .split_once("..")
                .ok_or_else(|| SpecError(format!("{args:?}: use MIN..MAX")))?;
            Ok(Latency::Uniform(parse_duration(a)?, parse_duration(b)?))
        }
        "lognormal" => {
            let (p50, p99) = args
                .split_once(',')
                .ok_or_else(|| SpecError(format!("{args:?}: use P50,P99")))?;
            let (p50, p99) = (parse_duration(p50)?, parse_duration(p99)?);
            if p99 < p50 {
                return Err(SpecError("lognormal: p99 must be >= p50".into()));
            }
            Ok(Latency::LogNormal { p50, p99 })
        }
        _ => Err(SpecError(format!("{kind:?}: unknown latency model"))),
    }
}

/// Parses a price model.
pub fn parse_price(text: &str) -> Result<Price, SpecError> {
    let number = |s: &str| {
        s.trim()
            .parse::<f64>()
            .ok()
            .filter(|p| p.is_finite() && *p > 0.0)
            .ok_or_else(|| SpecError(format!("{s:?} is not a positive price")))
    };
    match text.split_once(':') {
        Some(("fixed", p)) => Ok(Price::Fixed(number(p)?)),
        Some(("uniform", range)) => {
            let (a, b) = range
                .split_once("..")
                .ok_or_else(|| SpecError(format!("{range:?}: use MIN..MAX")))?;
            Ok(Price::Uniform(number(a)?, number(b)?))
        }
        _ => Err(SpecError(format!("{text:?}: use fixed:P or uniform:A..B"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn values_parse_and_bad_ones_explain() {
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("-1ms").is_err());
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(
            parse_latency("fixed:5ms"),
            Ok(Latency::Fixed(Duration::from_millis(5)))
        );
        assert!(parse_latency("lognormal:40ms,5ms").is_err());
        assert_eq!(parse_price("uniform:0.5..3"), Ok(Price::Uniform(0.5, 3.0)));
        assert!(parse_price("fixed:-1").is_err());
    }

    #[test]
    fn lognormal_hits_its_percentiles() {
        let model = parse_latency("lognormal:5ms,40ms").expect("valid");
        let mut rng = SmallRng::seed_from_u64(7);
        let mut samples: Vec<f64> = (0..100_000)
            .map(|_| model.sample(&mut rng).as_secs_f64() * 1e3)
            .collect();
        samples.sort_by(f64::total_cmp);
        let (p50, p99) = (samples[50_000], samples[99_000]);
        assert!((p50 - 5.0).abs() < 0.25, "p50 {p50}");
        assert!((p99 - 40.0).abs() < 3.0, "p99 {p99}");
    }
}
