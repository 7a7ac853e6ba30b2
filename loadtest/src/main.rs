//! `loadtest`: load tools for the exchange. `mock-bidder` runs a configurable DSP; the
//! open-loop generator commands arrive with the load-test issue and say so plainly.

use anyhow::Context;
use clap::{Parser, Subcommand};
use loadtest::mock_bidder::spec::{parse_latency, parse_price, Latency, Price};
use loadtest::mock_bidder::{spawn, MockConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Load tools for the exchange.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a mock DSP (built on the bidder SDK) until Ctrl-C.
    MockBidder(MockArgs),
    /// Not built yet: run, sweep, baseline, compare, demo (the load-test issue).
    #[command(external_subcommand)]
    Other(Vec<String>),
}

/// Mock DSP behaviour.
#[derive(Debug, clap::Args)]
struct MockArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9001")]
    listen: SocketAddr,
    /// Latency: fixed:5ms | uniform:2ms..10ms | lognormal:P50,P99 (e.g. lognormal:5ms,40ms).
    #[arg(long, default_value = "fixed:5ms", value_parser = parse_latency)]
    latency: Latency,
    /// Share of imps bid on, 0..1.
    #[arg(long, default_value_t = 1.0)]
    bid_rate: f64,
    /// Prices: fixed:P | uniform:A..B (CPM).
    #[arg(long, default_value = "uniform:0.5..3", value_parser = parse_price)]
    price: Price,
    /// Share of requests answered HTTP 500.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Share of requests answered with a body that is not JSON.
    #[arg(long, default_value_t = 0.0)]
    garbage_rate: f64,
    /// Never answer (hold every request open).
    #[arg(long)]
    never_answer: bool,
    /// Answer 204 at the request's tmax instead of late.
    #[arg(long)]
    honour_tmax: bool,
    /// Response currency (default: the request's first `cur`).
    #[arg(long)]
    currency: Option<String>,
    /// Seat name.
    #[arg(long, default_value = "mock")]
    seat: String,
    /// Advertiser domain of the bids.
    #[arg(long, default_value = "mock-advertiser.example")]
    adomain: String,
    /// Answer every request with this file (BidResponse JSON or anything), id echoed.
    #[arg(long)]
    respond_with: Option<PathBuf>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::MockBidder(args) => match mock_bidder(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("loadtest mock-bidder: {error:#}");
                ExitCode::FAILURE
            }
        },
        Command::Other(args) => {
            eprintln!(
                "loadtest {}: not built yet (the load-test issue); mock-bidder is available",
                args.first().map_or("", String::as_str)
            );
            ExitCode::from(2)
        }
    }
}

fn mock_bidder(args: MockArgs) -> anyhow::Result<()> {
    for (name, rate) in [
        ("bid-rate", args.bid_rate),
        ("error-rate", args.error_rate),
        ("garbage-rate", args.garbage_rate),
    ] {
        anyhow::ensure!((0.0..=1.0).contains(&rate), "--{name} must be within 0..1");
    }
    let canned = args
        .respond_with
        .as_ref()
        .map(|path| std::fs::read(path).with_context(|| format!("{}", path.display())))
        .transpose()?;
    let config = MockConfig {
        latency: args.latency,
        bid_rate: args.bid_rate,
        price: args.price,
        error_rate: args.error_rate,
        garbage_rate: args.garbage_rate,
        never_answer: args.never_answer,
        honour_tmax: args.honour_tmax,
        currency: args.currency,
        seat: args.seat,
        adomain: args.adomain,
        canned,
        ..MockConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = spawn(listener, config, async {
            let _ = stopped.await;
        })?;
        println!("mock bidder listening on {}", handle.endpoint());
        let _ = tokio::signal::ctrl_c().await;
        let _ = stop.send(());
        let stats = &handle.stats;
        println!(
            "requests {} · answers with bids {} · bids {} · wins {} · bills {} · losses {}",
            stats.requests.load(std::sync::atomic::Ordering::Relaxed),
            stats.bid_answers.load(std::sync::atomic::Ordering::Relaxed),
            stats.bids.load(std::sync::atomic::Ordering::Relaxed),
            stats.wins.load(std::sync::atomic::Ordering::Relaxed),
            stats.bills.load(std::sync::atomic::Ordering::Relaxed),
            stats.losses.load(std::sync::atomic::Ordering::Relaxed),
        );
        Ok(())
    })
}
