//! What a run measured: the [`Recorder`] the engine feeds, and the [`Report`] it becomes
//! (terminal table, JSON with every figure, and the data of the HTML report).

pub mod html;

use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Highest latency tracked, µs (one hour).
const MAX_US: u64 = 3_600_000_000;
/// The generator is judged to keep up when its p99 release lag stays under this.
const LAG_LIMIT: Duration = Duration::from_millis(1);

fn histogram(figures: u8) -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, figures).expect("constant bounds are valid")
}

fn micros(duration: Duration) -> u64 {
    (duration.as_micros() as u64).clamp(1, MAX_US)
}

/// Accumulates one run's measurements.
#[derive(Debug)]
pub struct Recorder {
    latency: Histogram<u64>,
    seconds: Vec<Second>,
    statuses: BTreeMap<u16, u64>,
    connect_errors: u64,
    io_errors: u64,
    timeouts: u64,
    prices: (f64, u64),
    release_lag: Histogram<u64>,
    connection_wait: Histogram<u64>,
    /// When the first and the last answer arrived, from the start of the measured interval.
    first_answer: Option<Duration>,
    last_answer: Duration,
}

/// One second of the measured interval, by scheduled time.
#[derive(Debug)]
struct Second {
    answered: u64,
    errors: u64,
    latency: Histogram<u64>,
}

impl Recorder {
    /// A recorder for a measured interval of `duration`.
    pub fn new(duration: Duration) -> Self {
        let seconds = (0..duration.as_secs().max(1) + 1)
            .map(|_| Second {
                answered: 0,
                errors: 0,
                latency: histogram(2),
            })
            .collect();
        Self {
            latency: histogram(3),
            seconds,
            statuses: BTreeMap::new(),
            connect_errors: 0,
            io_errors: 0,
            timeouts: 0,
            prices: (0.0, 0),
            release_lag: histogram(3),
            connection_wait: histogram(3),
            first_answer: None,
            last_answer: Duration::ZERO,
        }
    }

    fn second(&mut self, index: usize) -> Option<&mut Second> {
        let last = self.seconds.len() - 1;
        self.seconds.get_mut(index.min(last))
    }

    /// An HTTP answer `latency` after its scheduled time, arriving `at` into the
    /// measured interval.
    pub fn answered(
        &mut self,
        second: usize,
        at: Duration,
        latency: Duration,
        status: http::StatusCode,
        price: Option<f64>,
    ) {
        self.first_answer = Some(self.first_answer.map_or(at, |first| first.min(at)));
        self.last_answer = self.last_answer.max(at);
        let us = micros(latency);
        self.latency.saturating_record(us);
        *self.statuses.entry(status.as_u16()).or_default() += 1;
        if let Some(price) = price.filter(|p| p.is_finite()) {
            self.prices.0 += price;
            self.prices.1 += 1;
        }
        let error = !is_answer(status.as_u16());
        if let Some(s) = self.second(second) {
            s.answered += 1;
            s.errors += u64::from(error);
            s.latency.saturating_record(us);
        }
    }

    /// A connection could not be made.
    pub fn connect_error(&mut self, second: usize) {
        self.connect_errors += 1;
        if let Some(s) = self.second(second) {
            s.errors += 1;
        }
    }

    /// A connection broke mid-request.
    pub fn io_error(&mut self, second: usize) {
        self.io_errors += 1;
        if let Some(s) = self.second(second) {
            s.errors += 1;
        }
    }

    /// No answer within the timeout.
    pub fn timeout(&mut self, second: usize) {
        self.timeouts += 1;
        if let Some(s) = self.second(second) {
            s.errors += 1;
        }
    }

    /// How late the scheduler released a request.
    pub fn release_lag(&mut self, lag: Duration) {
        self.release_lag.saturating_record(micros(lag));
    }

    /// How long a released request waited for a free connection.
    pub fn connection_wait(&mut self, wait: Duration) {
        self.connection_wait.saturating_record(micros(wait));
    }

    /// One line for the progress display.
    pub fn progress_line(&self) -> String {
        let errors = self.connect_errors + self.io_errors + self.timeouts;
        format!(
            "answered {:>8}  p99 {:>8.2} ms  errors {errors}",
            self.latency.len(),
            self.latency.value_at_quantile(0.99) as f64 / 1e3
        )
    }

    /// The report of a finished run.
    pub fn report(self, info: RunInfo) -> Report {
        let answered = self.latency.len();
        // Answers per second between the first and the last answer: at a steady latency
        // that is the rate sent; a server that falls behind spreads its answers over a
        // longer time, and the rate shows it.
        let span = self
            .first_answer
            .map_or(Duration::ZERO, |first| {
                self.last_answer.saturating_sub(first)
            })
            .as_secs_f64();
        let achieved_rate = if answered >= 2 && span > 0.0 {
            (answered - 1) as f64 / span
        } else {
            answered as f64 / info.duration.as_secs_f64().max(1e-9)
        };
        let status_errors: u64 = self
            .statuses
            .iter()
            .filter(|(code, _)| !is_answer(**code))
            .map(|(_, n)| n)
            .sum();
        let filled = self.statuses.get(&200).copied().unwrap_or(0);
        let no_fill = self.statuses.get(&204).copied().unwrap_or(0);
        let errors = Errors {
            connect: self.connect_errors,
            io: self.io_errors,
            timeout: self.timeouts,
            http_status: self
                .statuses
                .iter()
                .filter(|(code, _)| !is_answer(**code))
                .map(|(code, n)| (code.to_string(), *n))
                .collect(),
        };
        let lag_p99 = Duration::from_micros(self.release_lag.value_at_quantile(0.99));
        let generator = Generator {
            release_lag_us: Quantiles::of(&self.release_lag),
            connection_wait_us: Quantiles::of(&self.connection_wait),
            kept_up: lag_p99 <= LAG_LIMIT,
        };
        let spectrum = spectrum(&self.latency);
        let per_second = self
            .seconds
            .iter()
            .enumerate()
            .take(info.duration.as_secs().max(1) as usize)
            .map(|(second, s)| PerSecond {
                second: second as u64,
                answered: s.answered,
                errors: s.errors,
                p99_us: s.latency.value_at_quantile(0.99),
            })
            .collect();
        Report {
            scenario: info.scenario,
            target: info.target,
            target_rate: info.target_rate,
            achieved_rate,
            duration_s: info.duration.as_secs_f64(),
            warmup_s: info.warmup.as_secs_f64(),
            connections: info.connections,
            requests: answered + self.connect_errors + self.io_errors + self.timeouts,
            answered,
            errors: self.connect_errors + self.io_errors + self.timeouts + status_errors,
            error_kinds: errors,
            statuses: self
                .statuses
                .iter()
                .map(|(c, n)| (c.to_string(), *n))
                .collect(),
            fill_rate: if filled + no_fill == 0 {
                0.0
            } else {
                filled as f64 / (filled + no_fill) as f64
            },
            avg_price: (self.prices.1 > 0).then(|| self.prices.0 / self.prices.1 as f64),
            latency_us: Quantiles::of(&self.latency),
            generator,
            per_second,
            spectrum,
            interrupted: info.interrupted,
        }
    }
}

/// Facts about a run the recorder does not see.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// Scenario name.
    pub scenario: String,
    /// Target URL.
    pub target: String,
    /// Requests per second asked for.
    pub target_rate: f64,
    /// Measured interval.
    pub duration: Duration,
    /// Warm-up before it.
    pub warmup: Duration,
    /// Connections used.
    pub connections: usize,
    /// Stopped early (Ctrl-C).
    pub interrupted: bool,
}

/// Latency quantiles, µs.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Quantiles {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th.
    pub p99: u64,
    /// 99.9th.
    pub p999: u64,
    /// 99.99th.
    pub p9999: u64,
    /// Largest.
    pub max: u64,
    /// Mean.
    pub mean: f64,
}

impl Quantiles {
    fn of(h: &Histogram<u64>) -> Self {
        Self {
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            p9999: h.value_at_quantile(0.9999),
            max: h.max(),
            mean: h.mean(),
        }
    }
}

/// Errors by kind.
#[derive(Debug, Clone, Serialize)]
pub struct Errors {
    /// Could not connect.
    pub connect: u64,
    /// Connection broke mid-request.
    pub io: u64,
    /// No answer within the timeout.
    pub timeout: u64,
    /// Answers other than 200/204 (and 302, a click's), by status.
    pub http_status: BTreeMap<String, u64>,
}

/// The generator's own figures.
#[derive(Debug, Clone, Serialize)]
pub struct Generator {
    /// How late requests were released against their schedule, µs.
    pub release_lag_us: Quantiles,
    /// How long released requests waited for a free connection, µs (all connections busy:
    /// the server is slower than the rate, or `--connections` is too low).
    pub connection_wait_us: Quantiles,
    /// p99 release lag within 1 ms: the rate asked for is the rate sent.
    pub kept_up: bool,
}

/// One second of the run.
#[derive(Debug, Clone, Serialize)]
pub struct PerSecond {
    /// Second since the measurement started (by scheduled time).
    pub second: u64,
    /// Answers to requests scheduled in it.
    pub answered: u64,
    /// Errors among them.
    pub errors: u64,
    /// Their p99 latency, µs.
    pub p99_us: u64,
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Target URL.
    pub target: String,
    /// Requests per second asked for.
    pub target_rate: f64,
    /// Answers per second: answers to the measured interval's requests over the time
    /// between the first and the last of them.
    pub achieved_rate: f64,
    /// Measured seconds.
    pub duration_s: f64,
    /// Warm-up seconds (not in any figure).
    pub warmup_s: f64,
    /// Connections.
    pub connections: usize,
    /// Requests scheduled in the measured interval that ended (answered or failed).
    pub requests: u64,
    /// HTTP answers among them.
    pub answered: u64,
    /// Connect errors + broken connections + timeouts + statuses other than 200/204/302.
    pub errors: u64,
    /// Errors by kind.
    pub error_kinds: Errors,
    /// Answers by HTTP status.
    pub statuses: BTreeMap<String, u64>,
    /// 200 / (200 + 204).
    pub fill_rate: f64,
    /// Mean price of the first bid of 200 answers.
    pub avg_price: Option<f64>,
    /// Latency from the scheduled send time, µs.
    pub latency_us: Quantiles,
    /// The generator's own limits.
    pub generator: Generator,
    /// Per second: answers, errors, p99.
    pub per_second: Vec<PerSecond>,
    /// Percentile spectrum: (percentile, latency µs) pairs, for the HDR plot.
    pub spectrum: Vec<(f64, u64)>,
    /// Stopped early by Ctrl-C.
    pub interrupted: bool,
}

/// The HDR "percentile spectrum": latency at percentiles 0, 50, 75, 87.5, ... (halving
/// the distance to 100 each step), up to the largest value.
fn spectrum(h: &Histogram<u64>) -> Vec<(f64, u64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let mut points = Vec::new();
    let mut remaining = 100.0f64;
    let mut percentile = 0.0f64;
    while remaining > 1e-4 {
        points.push((percentile, h.value_at_percentile(percentile)));
        remaining /= 2.0;
        percentile = 100.0 - remaining;
    }
    points.push((100.0, h.max()));
    points
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |us: u64| us as f64 / 1e3;
        writeln!(f, "scenario {} → {}", self.scenario, self.target)?;
        writeln!(
            f,
            "rate: target {:.0}/s, achieved {:.1}/s over {:.0} s ({:.0} s warm-up excluded), {} connections{}",
            self.target_rate,
            self.achieved_rate,
            self.duration_s,
            self.warmup_s,
            self.connections,
            if self.interrupted { " — INTERRUPTED" } else { "" }
        )?;
        let l = &self.latency_us;
        writeln!(f, "latency (from scheduled send), ms:")?;
        writeln!(
            f,
            "  p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  p99.99 {:.3}  max {:.3}  mean {:.3}",
            ms(l.p50),
            ms(l.p90),
            ms(l.p99),
            ms(l.p999),
            ms(l.p9999),
            ms(l.max),
            l.mean / 1e3
        )?;
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(c, n)| format!("{c}: {n}"))
            .collect();
        writeln!(
            f,
            "answers: {} ({}), fill {:.1}%, average price {}",
            self.answered,
            statuses.join(", "),
            self.fill_rate * 100.0,
            self.avg_price.map_or("-".to_owned(), |p| format!("{p:.4}"))
        )?;
        let e = &self.error_kinds;
        writeln!(
            f,
            "errors: {} (connect {}, broken {}, timeout {}, http status {:?})",
            self.errors, e.connect, e.io, e.timeout, e.http_status
        )?;
        let g = &self.generator;
        writeln!(
            f,
            "generator: release lag p99 {:.3} ms, max {:.3} ms; connection wait p99 {:.3} ms{}",
            ms(g.release_lag_us.p99),
            ms(g.release_lag_us.max),
            ms(g.connection_wait_us.p99),
            if g.kept_up {
                ""
            } else {
                " — COULD NOT KEEP THE TARGET RATE: figures understate the load asked for"
            }
        )?;
        writeln!(f, "per second (answers / errors / p99 ms):")?;
        let line: Vec<String> = self
            .per_second
            .iter()
            .map(|s| format!("{}/{}/{:.2}", s.answered, s.errors, ms(s.p99_us)))
            .collect();
        for chunk in line.chunks(8) {
            writeln!(f, "  {}", chunk.join("  "))?;
        }
        Ok(())
    }
}

/// A status the exchange answers on success: 200 and 204 (auctions, orders), 302 (clicks).
fn is_answer(status: u16) -> bool {
    matches!(status, 200 | 204 | 302)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_counts_and_ranks() {
        let mut recorder = Recorder::new(Duration::from_secs(2));
        for i in 0..100u64 {
            recorder.answered(
                (i / 50) as usize,
                Duration::from_millis(i * 20),
                Duration::from_millis(i + 1),
                if i % 4 == 0 {
                    http::StatusCode::NO_CONTENT
                } else {
                    http::StatusCode::OK
                },
                Some(2.0),
            );
        }
        recorder.timeout(1);
        recorder.answered(
            1,
            Duration::from_millis(1999),
            Duration::from_millis(1),
            http::StatusCode::SERVICE_UNAVAILABLE,
            None,
        );
        let report = recorder.report(RunInfo {
            scenario: "s".into(),
            target: "t".into(),
            target_rate: 50.0,
            duration: Duration::from_secs(2),
            warmup: Duration::ZERO,
            connections: 4,
            interrupted: false,
        });
        assert_eq!(report.requests, 102);
        assert!(
            (report.achieved_rate - 100.0 / 1.999).abs() < 0.1,
            "{}",
            report.achieved_rate
        );
        assert_eq!(report.errors, 2);
        assert_eq!(report.error_kinds.http_status.get("503"), Some(&1));
        assert!((report.fill_rate - 0.75).abs() < 1e-9);
        assert_eq!(report.avg_price, Some(2.0));
        assert!(
            (49_000..=51_000).contains(&report.latency_us.p50),
            "{:?}",
            report.latency_us
        );
        assert_eq!(report.per_second.len(), 2);
        assert_eq!(report.per_second[1].errors, 2);
        let json = serde_json::to_value(&report).expect("json");
        for key in ["target_rate", "achieved_rate", "requests", "errors"] {
            assert!(json.get(key).is_some(), "{key}");
        }
        for key in ["p50", "p90", "p99", "p999", "p9999", "max"] {
            assert!(json["latency_us"].get(key).is_some(), "{key}");
        }
        let spectrum = &report.spectrum;
        assert!(spectrum
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
        assert!(report.to_string().contains("p99"));
        let page = html::render(&report);
        assert!(
            page.starts_with("<!doctype html>")
                && page.contains("<svg")
                && page.contains("polyline")
        );
        assert!(
            !page.contains("<script") && !page.contains("src="),
            "self-contained: no script, nothing fetched"
        );
    }
}
