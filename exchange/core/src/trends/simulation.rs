//! A season with a known truth: hourly traffic over 100 topics of steady shares (Zipf, the
//! largest 4% of pages), where one topic ("camping", usually 1% of pages) rises to four
//! times its share over three days, holds for four, and falls back. Each hour's pages are
//! folded into [`TopicCounts`] as the server folds them; the report says when the rising
//! topic started and stopped trending, and whether any steady topic ever did.
//! `tests.rs` asserts it; `benches --example trend_simulation` prints it.

use super::{TopicCounts, TrendSettings};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Binomial, Distribution};

/// The rising topic.
pub const RISING: &str = "camping";
/// Hours in the simulated season.
pub const HOURS: usize = 28 * 24;
/// The hour the rise starts (day 14), ends (day 17, at four times) and falls back (day 21).
pub const RISE: (usize, usize, usize) = (14 * 24, 17 * 24, 21 * 24);

/// What the simulation saw.
#[derive(Debug, Clone, PartialEq)]
pub struct SeasonReport {
    /// Hours after the rise started that the topic first trended (`None`: never).
    pub detected_after_hours: Option<usize>,
    /// Hours after the fall that it stopped trending (`None`: it never stopped).
    pub faded_after_hours: Option<usize>,
    /// Steady topics that ever trended, with the hour.
    pub false_alarms: Vec<(String, usize)>,
    /// The rising topic's ratio and strength at the top of the rise (day 17).
    pub at_peak: (f64, f64),
    /// Hourly (hour, ratio, strength) of the rising topic, every 12 hours.
    pub timeline: Vec<(usize, f64, f64)>,
}

/// The rising topic's share of pages at `hour`.
pub fn rising_share(hour: usize) -> f64 {
    let (rise, top, fall) = RISE;
    let base = 0.01;
    if hour < rise || hour >= fall + 48 {
        base
    } else if hour < top {
        base * (1.0 + 3.0 * (hour - rise) as f64 / (top - rise) as f64)
    } else if hour < fall {
        base * 4.0
    } else {
        base * (4.0 - 3.0 * (hour - fall) as f64 / 48.0)
    }
}

/// Runs the season with `pages_per_hour` pages an hour.
pub fn run(seed: u64, pages_per_hour: u64, settings: &TrendSettings) -> SeasonReport {
    let mut rng = StdRng::seed_from_u64(seed);
    let steady: Vec<(String, f64)> = (1..=100)
        .map(|rank| (format!("topic-{rank}"), 0.04 / f64::from(rank).powf(0.8)))
        .collect();
    let mut counts = TopicCounts::default();
    let mut report = SeasonReport {
        detected_after_hours: None,
        faded_after_hours: None,
        false_alarms: Vec::new(),
        at_peak: (0.0, 0.0),
        timeline: Vec::new(),
    };
    let start_ms = 1_780_000_000_000i64;
    for hour in 0..HOURS {
        let mut topics: Vec<(String, u64)> = steady
            .iter()
            .map(|(topic, share)| (topic.clone(), draw(&mut rng, pages_per_hour, *share)))
            .collect();
        topics.push((
            RISING.to_owned(),
            draw(&mut rng, pages_per_hour, rising_share(hour)),
        ));
        let at_ms = start_ms + (hour as i64 + 1) * 3_600_000;
        counts.add(&topics, pages_per_hour, at_ms, settings);
        let trends = counts.trends(settings);
        let rising = counts.topic(RISING, settings).expect("seen every hour");
        let trending = rising.strength > 0.0;
        let (rise, top, fall) = RISE;
        if trending && hour >= rise && report.detected_after_hours.is_none() {
            report.detected_after_hours = Some(hour - rise);
        }
        if !trending && hour >= fall && report.faded_after_hours.is_none() {
            report.faded_after_hours = Some(hour - fall);
        }
        if hour + 1 == top {
            report.at_peak = (rising.ratio, rising.strength);
        }
        if hour % 12 == 11 {
            report
                .timeline
                .push((hour + 1, rising.ratio, rising.strength));
        }
        for trend in trends.iter().filter(|t| t.topic != RISING) {
            if !report.false_alarms.iter().any(|(t, _)| *t == trend.topic) {
                report.false_alarms.push((trend.topic.clone(), hour));
            }
        }
    }
    report
}

fn draw(rng: &mut StdRng, pages: u64, share: f64) -> u64 {
    Binomial::new(pages, share.clamp(0.0, 1.0)).map_or(0, |b| b.sample(rng))
}
