//! Rate sweeps: the same run at rising rates, to find the highest rate that holds a p99
//! objective (with no errors, and with the generator keeping up).

use crate::engine::{run, RunOptions, StopSignal};
use crate::report::Report;
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;

/// One step of a sweep.
#[derive(Debug, Clone)]
pub struct Step {
    /// Rate asked for.
    pub rate: f64,
    /// What the run measured.
    pub report: Report,
    /// p99 within the objective, no errors, generator kept up.
    pub passed: bool,
}

/// Consecutive failed steps after which a sweep stops climbing.
const FAILURES_TO_STOP: usize = 2;

/// Runs `template` at each rate (its `rate` is replaced), stopping after two failures in
/// a row; `stop` ends it early.
pub async fn sweep(
    template: &RunOptions,
    rates: &[f64],
    slo_p99: Duration,
    scenario: &str,
    bodies: Arc<Vec<Bytes>>,
    stop: &StopSignal,
) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    for &rate in rates {
        if stop.stopped() {
            break;
        }
        let options = RunOptions {
            rate,
            ..template.clone()
        };
        let report = run(&options, scenario, Arc::clone(&bodies), stop.clone()).await;
        let passed = holds(&report, slo_p99);
        steps.push(Step {
            rate,
            report,
            passed,
        });
        let failing = steps.iter().rev().take_while(|s| !s.passed).count();
        if failing >= FAILURES_TO_STOP {
            break;
        }
    }
    steps
}

/// Whether a run holds the objective.
pub fn holds(report: &Report, slo_p99: Duration) -> bool {
    report.errors == 0
        && report.generator.kept_up
        && !report.interrupted
        && report.latency_us.p99 <= slo_p99.as_micros() as u64
        && report.achieved_rate >= report.target_rate * 0.97
}

/// The highest rate that held, if any.
pub fn highest_passing(steps: &[Step]) -> Option<f64> {
    steps
        .iter()
        .filter(|s| s.passed)
        .map(|s| s.rate)
        .fold(None, |best, rate| {
            Some(best.map_or(rate, |b: f64| b.max(rate)))
        })
}

/// Rates `from, from + step, ... <= to`.
pub fn rates(from: f64, to: f64, step: f64) -> Vec<f64> {
    let mut rates = Vec::new();
    let mut rate = from;
    while rate <= to + 1e-9 && rates.len() < 1_000 {
        rates.push(rate);
        rate += step;
    }
    rates
}

/// A table of the steps.
pub fn table(steps: &[Step]) -> String {
    let mut out = String::from("| rate/s | achieved/s | p50 ms | p99 ms | p99.9 ms | errors | generator kept up | holds |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for s in steps {
        let l = &s.report.latency_us;
        out.push_str(&format!(
            "| {:.0} | {:.1} | {:.3} | {:.3} | {:.3} | {} | {} | {} |\n",
            s.rate,
            s.report.achieved_rate,
            l.p50 as f64 / 1e3,
            l.p99 as f64 / 1e3,
            l.p999 as f64 / 1e3,
            s.report.errors,
            if s.report.generator.kept_up {
                "yes"
            } else {
                "no"
            },
            if s.passed { "yes" } else { "no" }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_step_inclusively() {
        assert_eq!(rates(100.0, 300.0, 100.0), [100.0, 200.0, 300.0]);
        assert_eq!(rates(100.0, 50.0, 10.0), Vec::<f64>::new());
    }
}
