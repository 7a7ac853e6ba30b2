//! `loadtest demo`: one command for a newcomer. Starts two mock DSPs and the exchange on
//! the sample configs with them as bidders, sends a short open-loop load of the default
//! scenario, prints the report and what the bidders saw, and shuts everything down.

use crate::engine::{run, RunOptions, StopSignal};
use crate::mock_bidder::spec::{Latency, Price};
use crate::mock_bidder::{spawn_local, MockConfig};
use crate::report::Report;
use crate::servers::start_exchange;
use bytes::Bytes;
use exchange::config::BidderConfig;
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

/// Runs the demo: `rate` requests/s for `duration` against the exchange of `config`.
pub async fn demo(
    config: &Path,
    rate: f64,
    duration: Duration,
    scenario: &str,
    bodies: Arc<Vec<Bytes>>,
    stop: &StopSignal,
) -> anyhow::Result<Report> {
    let quick = spawn_local(MockConfig {
        latency: Latency::LogNormal {
            p50: Duration::from_millis(4),
            p99: Duration::from_millis(25),
        },
        price: Price::Uniform(0.5, 20.0),
        bid_rate: 0.8,
        seat: "quick-dsp".into(),
        ..MockConfig::default()
    })
    .await?;
    let slow = spawn_local(MockConfig {
        latency: Latency::LogNormal {
            p50: Duration::from_millis(30),
            p99: Duration::from_millis(300),
        },
        price: Price::Uniform(1.0, 30.0),
        bid_rate: 0.5,
        seat: "slow-dsp".into(),
        ..MockConfig::default()
    })
    .await?;
    let bidder = |name: &str, endpoint: String| BidderConfig {
        name: name.into(),
        endpoint,
        timeout_ms: 100,
        ..BidderConfig::default()
    };
    let bidders = vec![
        bidder("quick-dsp", quick.endpoint()),
        bidder("slow-dsp", slow.endpoint()),
    ];
    let exchange = start_exchange(config, bidders, None)?;
    eprintln!(
        "demo: exchange on {} with two mock DSPs (quick: p50 4 ms, p99 25 ms; slow: p50 30 ms, p99 300 ms, often past tmax)",
        exchange.addr
    );
    let options = RunOptions::post(
        exchange.auction_url().parse()?,
        rate,
        duration,
        Duration::from_secs(1),
        64,
        Duration::from_secs(5),
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
    );
    let report = run(&options, scenario, bodies, stop.clone()).await;
    tokio::task::spawn_blocking(move || exchange.stop()).await?;
    for (name, mock) in [("quick-dsp", &quick), ("slow-dsp", &slow)] {
        let s = &mock.stats;
        eprintln!(
            "{name}: {} requests, {} bids, {} wins, {} losses heard",
            s.requests.load(Relaxed),
            s.bids.load(Relaxed),
            s.wins.load(Relaxed),
            s.losses.load(Relaxed)
        );
    }
    Ok(report)
}
