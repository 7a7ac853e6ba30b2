//! `loadtest`: load tools for the exchange. `run` sends open-loop load and reports;
//! `baseline` serves the bare-hyper ceiling; `mock-bidder` runs a configurable DSP. The
//! commands not built yet say so plainly.

use anyhow::Context;
use clap::{Parser, Subcommand};
use loadtest::engine::{run, RunOptions, StopSignal};
use loadtest::mock_bidder::spec::{parse_latency, parse_price, Latency, Price};
use loadtest::mock_bidder::{spawn, MockConfig};
use loadtest::scenario::Scenario;
use loadtest::units::parse_duration;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

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
    /// Send open-loop load at a constant rate and report latency, errors, fill.
    Run(RunArgs),
    /// Serve the bare hyper baseline (parse + validate, fixed answer) until Ctrl-C.
    Baseline(BaselineArgs),
    /// Run a mock DSP (built on the bidder SDK) until Ctrl-C.
    MockBidder(MockArgs),
    /// Not built yet: sweep, compare, demo (the load-test issue).
    #[command(external_subcommand)]
    Other(Vec<String>),
}

/// An open-loop run.
#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Target URL (a bare `http://host:port` means `/openrtb2/auction`).
    #[arg(long)]
    target: String,
    /// Requests per second, sent on a fixed schedule.
    #[arg(long)]
    rate: f64,
    /// Measured duration (`10s`, `2m`).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Warm-up before measuring (sent, not recorded).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// Keep-alive connections (requests in flight at most).
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Scenario file.
    #[arg(long, default_value = "configs/loadtest/default.toml")]
    scenario: PathBuf,
    /// A request without an answer after this counts as a timeout.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    timeout: Duration,
    /// Write the full report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress line.
    #[arg(long)]
    quiet: bool,
}

/// The baseline server.
#[derive(Debug, clap::Args)]
struct BaselineArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
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
        Command::Run(args) => report_failure("run", run_load(args)),
        Command::Baseline(args) => report_failure("baseline", baseline(args)),
        Command::MockBidder(args) => match mock_bidder(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("loadtest mock-bidder: {error:#}");
                ExitCode::FAILURE
            }
        },
        Command::Other(args) => {
            eprintln!(
                "loadtest {}: not built yet (the load-test issue); run, baseline and mock-bidder are available",
                args.first().map_or("", String::as_str)
            );
            ExitCode::from(2)
        }
    }
}

fn report_failure(command: &str, result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("loadtest {command}: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")
}

fn run_load(args: RunArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.rate.is_finite() && args.rate > 0.0 && args.rate <= 1_000_000.0,
        "--rate must be within (0, 1000000]"
    );
    anyhow::ensure!(
        (1..=10_000).contains(&args.connections),
        "--connections must be 1..=10000"
    );
    anyhow::ensure!(!args.duration.is_zero(), "--duration must be > 0");
    let mut target: http::Uri = args
        .target
        .parse()
        .with_context(|| format!("--target {:?}", args.target))?;
    anyhow::ensure!(
        target.scheme_str() == Some("http") && target.host().is_some(),
        "--target must be http://host[:port][/path]"
    );
    if target.path() == "/" {
        target = format!("{}/openrtb2/auction", args.target.trim_end_matches('/')).parse()?;
    }
    let (scenario, folder) = Scenario::load(&args.scenario).map_err(|e| anyhow::anyhow!("{e}"))?;
    let prepared = scenario
        .prepare(&folder)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    eprintln!(
        "scenario {}: {} request bodies prepared; {:.0} req/s for {:?} after {:?} warm-up",
        prepared.name,
        prepared.bodies.len(),
        args.rate,
        args.duration,
        args.warmup
    );
    let options = RunOptions {
        target,
        rate: args.rate,
        duration: args.duration,
        warmup: args.warmup,
        connections: args.connections,
        timeout: args.timeout,
        progress: !args.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let report = runtime()?.block_on(async {
        let stop = StopSignal::default();
        let on_ctrl_c = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                on_ctrl_c.stop();
            }
        });
        run(&options, &prepared.name, Arc::new(prepared.bodies), stop).await
    });
    print!("{report}");
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text).with_context(|| format!("{}", path.display()))?;
        eprintln!("JSON report: {}", path.display());
    }
    Ok(())
}

fn baseline(args: BaselineArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        println!(
            "baseline listening on http://{}/openrtb2/auction",
            listener.local_addr()?
        );
        loadtest::baseline::serve(listener, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("baseline server")
    })
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
    runtime()?.block_on(async move {
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
