//! `loadtest cost`: what a request costs the server at everyday rates, as an operator
//! pays for it: CPU time per request and resident memory. The `exchange` binary (with
//! and without mock DSPs) and the bare baseline each run as a process of their own,
//! pinned to core 0 while the load and the mock DSPs run on the others, in alternating
//! rounds; at each fixed open-loop rate, after a warm-up, the kernel's count of the
//! server's CPU time over the measured window is divided by the requests it answered.
//! Stated as ratios to the baseline in the same round (the only honest way on a noisy
//! shared host).

use crate::engine::{run, RunOptions, StopSignal};
use crate::process::{Pinning, ServerProcess};
use bytes::Bytes;
use serde::Serialize;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What to measure.
#[derive(Debug, Clone)]
pub struct CostOptions {
    /// The exchange config (its folder is linked into each run's own folder).
    pub config: PathBuf,
    /// The `exchange` binary.
    pub exchange: PathBuf,
    /// This binary (it serves the baseline).
    pub loadtest: PathBuf,
    /// Rounds (each runs every server).
    pub rounds: usize,
    /// Fixed open-loop rates, requests per second.
    pub rates: Vec<f64>,
    /// Measured window per rate.
    pub duration: Duration,
    /// Load before each measured window (not counted).
    pub warmup: Duration,
    /// Keep-alive connections of the load.
    pub connections: usize,
    /// Mock DSP endpoints; the exchange runs once without them and once with them.
    pub dsps: Vec<String>,
    /// Where each run's config, store files and logs go.
    pub work_dir: PathBuf,
}

/// One server at one rate in one round.
#[derive(Debug, Clone, Serialize)]
pub struct CostRow {
    /// Round number (1-based).
    pub round: usize,
    /// `baseline`, `exchange` or `exchange+dsp`.
    pub server: &'static str,
    /// Rate asked for.
    pub rate: f64,
    /// Answers per second achieved.
    pub achieved: f64,
    /// Requests answered in the window.
    pub answered: u64,
    /// Server CPU time per answered request, µs.
    pub cpu_us_per_request: f64,
    /// Server context switches per answered request (wake-ups and preemptions).
    pub switches_per_request: f64,
    /// Resident set after the window, MiB.
    pub rss_mib: f64,
    /// Resident set after start-up, before any load, MiB.
    pub idle_rss_mib: f64,
}

/// Exchange CPU per request over the baseline's, median over rounds.
#[derive(Debug, Clone, Serialize)]
pub struct CostRatio {
    /// `exchange` or `exchange+dsp`.
    pub server: &'static str,
    /// The rate.
    pub rate: f64,
    /// Median over rounds of exchange µs/request ÷ baseline µs/request.
    pub cpu_ratio: f64,
}

/// The measurement.
#[derive(Debug, Clone, Serialize)]
pub struct CostReport {
    /// Whether servers were pinned to core 0 and the load to the others.
    pub pinned: bool,
    /// Every row.
    pub rows: Vec<CostRow>,
    /// The ratios.
    pub ratios: Vec<CostRatio>,
}

/// A bidder table for the exchange's config: the mock DSP at `endpoint`.
pub fn dsp_bidder(name: &str, endpoint: &str) -> toml::Table {
    let mut bidder = toml::Table::new();
    bidder.insert("name".into(), name.into());
    bidder.insert("endpoint".into(), endpoint.into());
    bidder.insert("timeout_ms".into(), 100.into());
    // A registered vendor: called under GDPR when the user consented to it.
    bidder.insert("tcf_vendor_id".into(), 755.into());
    bidder
}

/// Runs the measurement.
pub async fn measure(
    options: &CostOptions,
    scenario: &str,
    bodies: Arc<Vec<Bytes>>,
    stop: &StopSignal,
) -> anyhow::Result<CostReport> {
    let pinning = Pinning::apply();
    let mut servers: Vec<&'static str> = vec!["baseline", "exchange"];
    if !options.dsps.is_empty() {
        servers.push("exchange+dsp");
    }
    let mut rows = Vec::new();
    for round in 1..=options.rounds {
        for &server in &servers {
            if stop.stopped() {
                break;
            }
            // Starting waits for the server to answer: off the runtime's turn, so the
            // mock DSPs on this runtime keep answering meanwhile.
            let process = tokio::task::block_in_place(|| start(options, server, round, pinning))?;
            // Start-up settles (lazy pages, first leases) before the idle reading.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let idle = process.usage()?;
            eprintln!(
                "round {round}: {server} (pid {}) on {}, idle {:.1} MiB",
                process.pid(),
                process.addr,
                idle.resident.total_kib as f64 / 1024.0
            );
            for &rate in &options.rates {
                let target: http::Uri = process.auction_url().parse()?;
                let window = |duration: Duration| {
                    RunOptions::post(
                        target.clone(),
                        rate,
                        duration,
                        Duration::ZERO,
                        options.connections,
                        Duration::from_secs(5),
                        false,
                    )
                };
                run(
                    &window(options.warmup),
                    scenario,
                    Arc::clone(&bodies),
                    stop.clone(),
                )
                .await;
                let before = process.usage()?;
                let report = run(
                    &window(options.duration),
                    scenario,
                    Arc::clone(&bodies),
                    stop.clone(),
                )
                .await;
                let after = process.usage()?;
                let answered = report.answered.max(1);
                rows.push(CostRow {
                    round,
                    server,
                    rate,
                    achieved: report.achieved_rate,
                    answered: report.answered,
                    cpu_us_per_request: (after.cpu_us - before.cpu_us) as f64 / answered as f64,
                    switches_per_request: after.switches.saturating_sub(before.switches) as f64
                        / answered as f64,
                    rss_mib: after.resident.total_kib as f64 / 1024.0,
                    idle_rss_mib: idle.resident.total_kib as f64 / 1024.0,
                });
            }
            drop(process);
        }
    }
    let ratios = ratios(&rows, &servers, &options.rates);
    Ok(CostReport {
        pinned: pinning == Pinning::Split,
        rows,
        ratios,
    })
}

fn start(
    options: &CostOptions,
    server: &'static str,
    round: usize,
    pinning: Pinning,
) -> anyhow::Result<ServerProcess> {
    let run_dir = options
        .work_dir
        .join(format!("{}-{round}", server.replace('+', "-")));
    let _ = std::fs::remove_dir_all(&run_dir);
    std::fs::create_dir_all(&run_dir)?;
    let log = run_dir.join("server.log");
    if server == "baseline" {
        return ServerProcess::start(
            "baseline",
            &options.loadtest,
            &["baseline".to_owned()],
            pinning,
            &log,
            None,
        );
    }
    let bidders: Vec<toml::Table> = if server == "exchange+dsp" {
        options
            .dsps
            .iter()
            .enumerate()
            .map(|(i, endpoint)| dsp_bidder(&format!("mock-{i}"), endpoint))
            .collect()
    } else {
        Vec::new()
    };
    let config = crate::process::run_config(&options.config, &run_dir, &bidders)?;
    ServerProcess::start(
        server,
        &options.exchange,
        &["--config".to_owned(), config.display().to_string()],
        pinning,
        &log,
        Some("/readyz"),
    )
}

fn ratios(rows: &[CostRow], servers: &[&'static str], rates: &[f64]) -> Vec<CostRatio> {
    let mut out = Vec::new();
    for &server in servers.iter().filter(|&&s| s != "baseline") {
        for &rate in rates {
            let mut values: Vec<f64> = rows
                .iter()
                .filter(|r| r.server == server && r.rate == rate)
                .filter_map(|r| {
                    let base = rows
                        .iter()
                        .find(|b| b.server == "baseline" && b.rate == rate && b.round == r.round)?;
                    (base.cpu_us_per_request > 0.0)
                        .then(|| r.cpu_us_per_request / base.cpu_us_per_request)
                })
                .collect();
            values.sort_by(f64::total_cmp);
            if values.is_empty() {
                continue;
            }
            let mid = values.len() / 2;
            let cpu_ratio = if values.len() % 2 == 1 {
                values[mid]
            } else {
                (values[mid - 1] + values[mid]) / 2.0
            };
            out.push(CostRatio {
                server,
                rate,
                cpu_ratio,
            });
        }
    }
    out
}

impl fmt::Display for CostReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "servers {}",
            if self.pinned {
                "on core 0, load and mock DSPs on the other cores"
            } else {
                "not pinned"
            }
        )?;
        writeln!(f, "| round | server | rate/s | achieved/s | CPU µs/request | switches/request | RSS MiB (idle → after) |")?;
        writeln!(f, "| --- | --- | --- | --- | --- | --- | --- |")?;
        for row in &self.rows {
            writeln!(
                f,
                "| {} | {} | {:.0} | {:.1} | {:.1} | {:.2} | {:.1} → {:.1} |",
                row.round,
                row.server,
                row.rate,
                row.achieved,
                row.cpu_us_per_request,
                row.switches_per_request,
                row.idle_rss_mib,
                row.rss_mib
            )?;
        }
        writeln!(
            f,
            "\nCPU per request over the baseline's (median of rounds):"
        )?;
        for ratio in &self.ratios {
            writeln!(
                f,
                "  {:<13} at {:>6.0}/s: {:.2}×",
                ratio.server, ratio.rate, ratio.cpu_ratio
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(round: usize, server: &'static str, rate: f64, cpu: f64) -> CostRow {
        CostRow {
            round,
            server,
            rate,
            achieved: rate,
            answered: 1000,
            cpu_us_per_request: cpu,
            switches_per_request: 1.0,
            rss_mib: 40.0,
            idle_rss_mib: 38.0,
        }
    }

    #[test]
    fn ratios_are_medians_of_same_round_pairs() {
        let rows = vec![
            row(1, "baseline", 1000.0, 50.0),
            row(1, "exchange", 1000.0, 75.0),
            row(2, "baseline", 1000.0, 40.0),
            row(2, "exchange", 1000.0, 80.0),
            row(3, "baseline", 1000.0, 60.0),
            row(3, "exchange", 1000.0, 60.0),
        ];
        let ratios = ratios(&rows, &["baseline", "exchange"], &[1000.0]);
        assert_eq!(ratios.len(), 1);
        assert_eq!(ratios[0].cpu_ratio, 1.5, "median of 1.5, 2.0 and 1.0");
    }
}
