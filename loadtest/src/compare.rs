//! `loadtest compare`: the exchange against the bare baseline, in alternating rounds on
//! the same machine at the same rates, stated as ratios (the only way to state speed on
//! a noisy shared 2-core host). Each round, each server in turn: a sweep for the highest
//! rate that holds the p99 objective, and a run at one fixed rate for p99 and p99.9.

use crate::engine::{run, RunOptions, StopSignal};
use crate::servers::{start_baseline, start_exchange, Served};
use crate::sweep::{highest_passing, sweep};
use bytes::Bytes;
use exchange::config::BidderConfig;
use serde::Serialize;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What to compare.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// Exchange config file.
    pub config: PathBuf,
    /// Extra bidders for the exchange (mock DSPs started by the caller).
    pub bidders: Vec<BidderConfig>,
    /// Rounds (each runs both servers).
    pub rounds: usize,
    /// Rates swept.
    pub rates: Vec<f64>,
    /// p99 objective of the sweep.
    pub slo_p99: Duration,
    /// Fixed rate for the p99 comparison.
    pub fixed_rate: f64,
    /// Run settings (target and rate are set per run).
    pub template: RunOptions,
    /// Compare the exchange on this Redis against the exchange on its embedded store,
    /// instead of the exchange against the baseline.
    pub redis: Option<String>,
    /// `redis` names Redis Cluster seed nodes.
    pub redis_cluster: bool,
}

/// One server's figures in one round.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    /// `baseline` or `exchange`.
    pub server: &'static str,
    /// Round number (1-based).
    pub round: usize,
    /// Highest swept rate that held the objective (0 when none did).
    pub rate_at_slo: f64,
    /// p99 at the fixed rate, µs.
    pub p99_us: u64,
    /// p99.9 at the fixed rate, µs.
    pub p999_us: u64,
    /// The exchange's own decision-time p99 at the fixed rate, µs (none for the baseline).
    pub server_p99_us: Option<u64>,
    /// The exchange's own decision-time p99.9 at the fixed rate, µs.
    pub server_p999_us: Option<u64>,
    /// Achieved rate at the fixed rate.
    pub achieved_at_fixed: f64,
    /// Store commands on the request path per request at the fixed rate (exchange only).
    pub store_commands_per_request: Option<f64>,
    /// p99 of the request path's frequency read at the fixed rate, µs (exchange only).
    pub frequency_read_p99_us: Option<u64>,
}

/// The comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Every round's figures.
    pub rounds: Vec<Measured>,
    /// Median over rounds of exchange rate at SLO / baseline rate at SLO.
    pub throughput_ratio: f64,
    /// Median over rounds of exchange p99 / baseline p99 at the fixed rate.
    pub p99_ratio: f64,
    /// The p99 objective, µs.
    pub slo_p99_us: u64,
    /// The fixed rate.
    pub fixed_rate: f64,
    /// The reference and the subject of the ratios (`baseline`/`exchange` or
    /// `embedded`/`redis`).
    pub names: (&'static str, &'static str),
}

/// Runs the comparison.
pub async fn compare(
    options: &CompareOptions,
    scenario: &str,
    bodies: Arc<Vec<Bytes>>,
    stop: &StopSignal,
) -> anyhow::Result<Comparison> {
    let mut rounds = Vec::new();
    let names = if options.redis.is_some() {
        ("embedded", "redis")
    } else {
        ("baseline", "exchange")
    };
    for round in 1..=options.rounds {
        for server in [names.0, names.1] {
            if stop.stopped() {
                break;
            }
            let served: Served = match server {
                "baseline" => start_baseline()?,
                "redis" => start_exchange(
                    &options.config,
                    options.bidders.clone(),
                    options
                        .redis
                        .as_deref()
                        .map(|url| (url, options.redis_cluster)),
                )?,
                _ => start_exchange(&options.config, options.bidders.clone(), None)?,
            };
            let template = RunOptions {
                target: served.auction_url().parse()?,
                ..options.template.clone()
            };
            eprintln!("round {round}: {server} on {}", served.addr);
            // The fixed rate first, on a fresh server, so its own latency figures cover
            // that run alone; then the sweep.
            let fixed = RunOptions {
                rate: options.fixed_rate,
                ..template.clone()
            };
            let report = run(&fixed, scenario, Arc::clone(&bodies), stop.clone()).await;
            let server_side = served.server_quantiles();
            let store = served.store_figures();
            let steps = sweep(
                &template,
                &options.rates,
                options.slo_p99,
                scenario,
                Arc::clone(&bodies),
                stop,
            )
            .await;
            tokio::task::spawn_blocking(move || served.stop()).await?;
            rounds.push(Measured {
                server,
                round,
                rate_at_slo: highest_passing(&steps).unwrap_or(0.0),
                p99_us: report.latency_us.p99,
                p999_us: report.latency_us.p999,
                server_p99_us: server_side.map(|(p99, _)| p99),
                server_p999_us: server_side.map(|(_, p999)| p999),
                achieved_at_fixed: report.achieved_rate,
                store_commands_per_request: store.map(|(per_request, _)| per_request),
                frequency_read_p99_us: store.and_then(|(_, p99)| p99),
            });
        }
    }
    let ratios = |f: &dyn Fn(&Measured) -> f64| {
        let mut values: Vec<f64> = (1..=options.rounds)
            .filter_map(|round| {
                let of = |name: &str| rounds.iter().find(|m| m.round == round && m.server == name);
                let (b, e) = (of(names.0)?, of(names.1)?);
                let denominator = f(b);
                (denominator > 0.0).then(|| f(e) / denominator)
            })
            .collect();
        median(&mut values)
    };
    Ok(Comparison {
        throughput_ratio: ratios(&|m| m.rate_at_slo),
        p99_ratio: ratios(&|m| m.p99_us as f64),
        slo_p99_us: options.slo_p99.as_micros() as u64,
        fixed_rate: options.fixed_rate,
        rounds,
        names,
    })
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "| round | server | highest rate with p99 ≤ {:.2} ms | client p99 / p99.9 ms at {:.0}/s | server p99 / p99.9 ms | achieved/s | store cmds/request | frequency read p99 ms |",
            self.slo_p99_us as f64 / 1e3,
            self.fixed_rate,
        )?;
        writeln!(f, "| --- | --- | --- | --- | --- | --- | --- | --- |")?;
        for m in &self.rounds {
            let server = match (m.server_p99_us, m.server_p999_us) {
                (Some(p99), Some(p999)) => {
                    format!("{:.3} / {:.3}", p99 as f64 / 1e3, p999 as f64 / 1e3)
                }
                _ => "-".to_owned(),
            };
            let commands = m
                .store_commands_per_request
                .map_or("-".to_owned(), |c| format!("{c:.2}"));
            let read = m
                .frequency_read_p99_us
                .map_or("-".to_owned(), |us| format!("{:.3}", us as f64 / 1e3));
            writeln!(
                f,
                "| {} | {} | {:.0} | {:.3} / {:.3} | {server} | {:.1} | {commands} | {read} |",
                m.round,
                m.server,
                m.rate_at_slo,
                m.p99_us as f64 / 1e3,
                m.p999_us as f64 / 1e3,
                m.achieved_at_fixed
            )?;
        }
        writeln!(
            f,
            "\n{} / {} (median of rounds): throughput at the SLO {:.2}, p99 at {:.0}/s {:.2}",
            self.names.1, self.names.0, self.throughput_ratio, self.fixed_rate, self.p99_ratio
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }
}
