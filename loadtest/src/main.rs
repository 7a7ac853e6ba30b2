//! `loadtest`: load tools for the exchange. `run` sends open-loop load and reports;
//! `sweep` finds the highest rate holding a p99 objective; `compare` states the exchange
//! against the bare `baseline` as ratios; `demo` runs it all with two mock DSPs;
//! `mock-bidder` runs a configurable DSP. The work is in the library (`loadtest::*`).

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
    /// Step the rate up and report the highest that holds a p99 objective.
    Sweep(SweepArgs),
    /// The exchange against the bare baseline in alternating rounds, as ratios.
    Compare(CompareArgs),
    /// CPU per request and resident memory of the `exchange` binary (without and with a
    /// mock DSP) against the baseline, each its own process pinned to core 0, at fixed
    /// open-loop rates in alternating rounds.
    Cost(CostArgs),
    /// The exchange on the sample configs with two mock DSPs under a short load.
    Demo(DemoArgs),
    /// Clicks on served ads (`GET /c/ad`) at a constant rate against a running exchange:
    /// client latency, and the exchange's own click time from its `/metrics`.
    Clicks(ClickArgs),
    /// Order reports (`POST /orders`, bearer-authenticated) at a constant rate against a
    /// running exchange: client latency, and the exchange's own report time.
    Orders(OrderArgs),
    /// Run a mock DSP (built on the bidder SDK) until Ctrl-C.
    MockBidder(MockArgs),
    /// Give the scenario's users (`u-1` … `u-N`) synthetic purchase histories through the
    /// exchange's admin API, so a run prices them by predicted LTV.
    SeedHistory(SeedArgs),
}

/// `seed-history` settings.
#[derive(Debug, clap::Args)]
struct SeedArgs {
    /// The exchange (`http://host:port`).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    target: String,
    /// Admin bearer token.
    #[arg(long, default_value = "change-me")]
    token: String,
    /// Users to seed: `u-1` … `u-N` (the most active users of a Zipf scenario).
    #[arg(long, default_value_t = 2000)]
    users: usize,
    /// Seed of the order draws.
    #[arg(long, default_value_t = 20261129)]
    seed: u64,
}

/// `clicks` settings.
#[derive(Debug, clap::Args)]
struct ClickArgs {
    /// The exchange (`http://host:port`), e.g. the sample configs'.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    target: String,
    /// The bid request whose ads are clicked (its `id` is made unique per auction).
    #[arg(long, default_value = "configs/examples/banner-request.json")]
    request: PathBuf,
    /// Distinct served ads (auctions run, rendered, before the timed run); their click
    /// URLs are sent round robin (repeats are recorded as duplicates).
    #[arg(long, default_value_t = 500)]
    ads: usize,
    /// Clicks per second.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Measured duration.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Keep-alive connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// `orders` settings.
#[derive(Debug, clap::Args)]
struct OrderArgs {
    /// The exchange (`http://host:port`), e.g. the sample configs'.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    target: String,
    /// The advertiser reporting (its `[[advertisers]]` entry has `bearer_token`).
    #[arg(long, default_value = "adv-zhutie")]
    advertiser: String,
    /// Its bearer token.
    #[arg(long, default_value = "sample-order-token-adv-zhutie-change-me")]
    token: String,
    /// The bid request whose ads are clicked to give the orders real click ids.
    #[arg(long, default_value = "configs/examples/banner-request.json")]
    request: PathBuf,
    /// Clicks made before the run; the orders credit them round robin (0: orders without
    /// a click, unattributed).
    #[arg(long, default_value_t = 50)]
    clicks: usize,
    /// The landing-URL parameter of the click id.
    #[arg(long, default_value = "click_id")]
    click_param: String,
    /// Currency of the orders.
    #[arg(long, default_value = "CNY")]
    currency: String,
    /// Orders per second.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// Measured duration.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Keep-alive connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Settings shared by the commands that send load.
#[derive(Debug, clap::Args)]
struct LoadArgs {
    /// Measured duration of each run (`10s`, `2m`).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    duration: Duration,
    /// Warm-up before each run (sent, not recorded).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    warmup: Duration,
    /// Keep-alive connections (requests in flight at most).
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Scenario file.
    #[arg(long, default_value = "configs/loadtest/default.toml")]
    scenario: PathBuf,
    /// Write the result as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

impl LoadArgs {
    /// Refuses connections outside 1..=10000 and an empty measured window.
    fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (1..=10_000).contains(&self.connections),
            "--connections must be 1..=10000"
        );
        anyhow::ensure!(!self.duration.is_zero(), "--duration must be > 0");
        Ok(())
    }
}

/// A sweep.
#[derive(Debug, clap::Args)]
struct SweepArgs {
    /// Target URL (a bare `http://host:port` means `/openrtb2/auction`).
    #[arg(long)]
    target: String,
    /// First rate.
    #[arg(long)]
    from: f64,
    /// Last rate.
    #[arg(long)]
    to: f64,
    /// Rate step.
    #[arg(long)]
    step: f64,
    /// p99 objective (`1ms`, `5ms`).
    #[arg(long, value_parser = parse_duration)]
    slo_p99: Duration,
    #[command(flatten)]
    load: LoadArgs,
}

/// A comparison.
#[derive(Debug, clap::Args)]
struct CompareArgs {
    /// Exchange config.
    #[arg(long, default_value = "configs/exchange.toml")]
    config: PathBuf,
    /// Rounds (each runs the baseline, then the exchange).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// First swept rate.
    #[arg(long, default_value_t = 500.0)]
    from: f64,
    /// Last swept rate.
    #[arg(long, default_value_t = 4000.0)]
    to: f64,
    /// Rate step.
    #[arg(long, default_value_t = 500.0)]
    step: f64,
    /// p99 objective of the sweep.
    #[arg(long, default_value = "5ms", value_parser = parse_duration)]
    slo_p99: Duration,
    /// Fixed rate at which p99 is compared.
    #[arg(long, default_value_t = 500.0)]
    rate: f64,
    /// Mock DSPs (answering in 1–3 ms) added to the exchange as bidders.
    #[arg(long, default_value_t = 0)]
    bidders: usize,
    /// Compare the exchange on this Redis (`redis://host:port/`) against the exchange on
    /// its embedded store, instead of against the baseline.
    #[arg(long)]
    redis: Option<String>,
    /// `--redis` names Redis Cluster seed nodes (comma-separated).
    #[arg(long)]
    redis_cluster: bool,
    #[command(flatten)]
    load: LoadArgs,
}

/// `cost` settings: load windows of 10 s after 3 s (a CPU reading's tick is 10 ms).
#[derive(Debug, clap::Args)]
#[command(
    mut_arg("duration", |arg| arg.default_value("10s")),
    mut_arg("warmup", |arg| arg.default_value("3s"))
)]
struct CostArgs {
    /// Exchange config (its folder is linked into each run's own folder; store files
    /// are the run's own).
    #[arg(long, default_value = "configs/exchange.toml")]
    config: PathBuf,
    /// The `exchange` binary (default: beside this one).
    #[arg(long)]
    exchange: Option<PathBuf>,
    /// Rounds (each runs every server).
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Fixed rates, requests per second.
    #[arg(long, value_delimiter = ',', default_value = "300,1000,3000")]
    rates: Vec<f64>,
    /// Mock DSPs for the `exchange+dsp` runs (0: no such runs).
    #[arg(long, default_value_t = 1)]
    dsps: usize,
    /// The mock DSPs' answer time.
    #[arg(long, default_value = "5ms", value_parser = parse_duration)]
    dsp_latency: Duration,
    /// Where run folders go (default: a temporary folder).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    #[command(flatten)]
    load: LoadArgs,
}

/// The demo.
#[derive(Debug, clap::Args)]
struct DemoArgs {
    /// Exchange config.
    #[arg(long, default_value = "configs/exchange.toml")]
    config: PathBuf,
    /// Requests per second.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// Measured duration.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    duration: Duration,
    /// Scenario file.
    #[arg(long, default_value = "configs/loadtest/default.toml")]
    scenario: PathBuf,
    /// Write a self-contained HTML report here.
    #[arg(long)]
    html: Option<PathBuf>,
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
    /// Write a self-contained HTML report here.
    #[arg(long)]
    html: Option<PathBuf>,
    /// No progress line.
    #[arg(long)]
    quiet: bool,
    /// The server's process id: also report its CPU time and context switches per
    /// answered request over the measured window, and its resident set.
    #[arg(long)]
    server_pid: Option<u32>,
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
        Command::Sweep(args) => report_failure("sweep", sweep_rates(args)),
        Command::Compare(args) => report_failure("compare", compare(args)),
        Command::Cost(args) => report_failure("cost", cost(args)),
        Command::Demo(args) => report_failure("demo", demo(args)),
        Command::Clicks(args) => report_failure("clicks", clicks(args)),
        Command::Orders(args) => report_failure("orders", orders(args)),
        Command::Baseline(args) => report_failure("baseline", baseline(args)),
        Command::SeedHistory(args) => report_failure("seed-history", seed_history(args)),
        Command::MockBidder(args) => match mock_bidder(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("loadtest mock-bidder: {error:#}");
                ExitCode::FAILURE
            }
        },
    }
}

fn seed_history(args: SeedArgs) -> anyhow::Result<()> {
    let today = time::OffsetDateTime::now_utc().date();
    let summary = runtime()?.block_on(loadtest::history::seed(
        &args.target,
        &args.token,
        args.users,
        today,
        args.seed,
    ))?;
    println!(
        "seeded {} users ({} without orders before today skipped, {} refused)",
        summary.stored,
        args.users - summary.stored - summary.refused,
        summary.refused
    );
    if let Some(error) = summary.first_error {
        anyhow::bail!("first refusal: {error}");
    }
    Ok(())
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
    let options = RunOptions::post(
        target,
        args.rate,
        args.duration,
        args.warmup,
        args.connections,
        args.timeout,
        !args.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()),
    );
    if let Some(pid) = args.server_pid {
        anyhow::ensure!(
            loadtest::process::Usage::of(pid).is_some(),
            "--server-pid {pid}: no such process (or no /proc)"
        );
    }
    let bodies = Arc::new(prepared.bodies);
    let (report, server) = runtime()?.block_on(async {
        let stop = stop_on_ctrl_c();
        let Some(pid) = args.server_pid else {
            return (run(&options, &prepared.name, bodies, stop).await, None);
        };
        // The warm-up as a run of its own, so the server's usage covers the window alone.
        let warmup = RunOptions {
            duration: options.warmup,
            warmup: Duration::ZERO,
            ..options.clone()
        };
        if !warmup.duration.is_zero() {
            run(&warmup, &prepared.name, Arc::clone(&bodies), stop.clone()).await;
        }
        let measured = RunOptions {
            warmup: Duration::ZERO,
            ..options.clone()
        };
        let before = loadtest::process::Usage::of(pid);
        let report = run(&measured, &prepared.name, bodies, stop).await;
        let after = loadtest::process::Usage::of(pid);
        (report, before.zip(after))
    });
    print!("{report}");
    if let (Some(pid), Some((before, after))) = (args.server_pid, server) {
        let answered = report.answered.max(1) as f64;
        println!(
            "server pid {pid}: CPU {:.1} µs/request, {:.2} context switches/request, RSS {:.1} MiB",
            (after.cpu_us - before.cpu_us) as f64 / answered,
            after.switches.saturating_sub(before.switches) as f64 / answered,
            after.resident.total_kib as f64 / 1024.0
        );
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text).with_context(|| format!("{}", path.display()))?;
        eprintln!("JSON report: {}", path.display());
    }
    if let Some(path) = &args.html {
        std::fs::write(path, loadtest::report::html::render(&report))
            .with_context(|| format!("{}", path.display()))?;
        eprintln!("HTML report: {}", path.display());
    }
    Ok(())
}

/// Warm-up of the affiliate scenarios.
const AFFILIATE_WARMUP: Duration = Duration::from_secs(1);

fn clicks(args: ClickArgs) -> anyhow::Result<()> {
    use loadtest::affiliate;
    let base = args.target.trim_end_matches('/').to_owned();
    let request = std::fs::read_to_string(&args.request)
        .with_context(|| format!("{}", args.request.display()))?;
    runtime()?.block_on(async {
        eprintln!("clicks: serving {} ads on {base} first", args.ads);
        let clicks = affiliate::prepare_clicks(&base, &request, args.ads, None).await?;
        let before = affiliate::histogram(&base, "exchange_click_seconds").await?;
        let mut options = RunOptions::post(
            base.parse()?,
            args.rate,
            args.duration,
            AFFILIATE_WARMUP,
            args.connections,
            Duration::from_secs(5),
            false,
        );
        options.method = http::Method::GET;
        let report = run(&options, "clicks", Arc::new(clicks), stop_on_ctrl_c()).await;
        print!("{report}");
        let after = affiliate::histogram(&base, "exchange_click_seconds").await?;
        print_server_time("click", &before, &after);
        write_json(args.json.as_ref(), &report)
    })
}

fn orders(args: OrderArgs) -> anyhow::Result<()> {
    use loadtest::affiliate;
    let base = args.target.trim_end_matches('/').to_owned();
    let request = std::fs::read_to_string(&args.request)
        .with_context(|| format!("{}", args.request.display()))?;
    runtime()?.block_on(async {
        let ids = if args.clicks == 0 {
            Vec::new()
        } else {
            eprintln!("orders: making {} clicks on {base} first", args.clicks);
            let clicks =
                affiliate::prepare_clicks(&base, &request, args.clicks, Some(&args.advertiser))
                    .await?;
            affiliate::click_ids(&base, &clicks, &args.click_param).await?
        };
        let total = ((args.duration + AFFILIATE_WARMUP).as_secs_f64() * args.rate).ceil() as usize;
        let bodies = affiliate::order_bodies(total.max(1), &ids, &args.currency);
        let before = affiliate::histogram(&base, "exchange_order_report_seconds").await?;
        let mut options = RunOptions::post(
            format!("{base}/orders").parse()?,
            args.rate,
            args.duration,
            AFFILIATE_WARMUP,
            args.connections,
            Duration::from_secs(5),
            false,
        );
        options.headers = vec![
            (
                http::HeaderName::from_static("x-advertiser"),
                args.advertiser.parse()?,
            ),
            (
                http::header::AUTHORIZATION,
                format!("Bearer {}", args.token).parse()?,
            ),
        ];
        let report = run(&options, "orders", Arc::new(bodies), stop_on_ctrl_c()).await;
        print!("{report}");
        let after = affiliate::histogram(&base, "exchange_order_report_seconds").await?;
        print_server_time("order report", &before, &after);
        write_json(args.json.as_ref(), &report)
    })
}

/// The exchange's own time for what the run sent, from its histogram.
fn print_server_time(what: &str, before: &[(f64, u64)], after: &[(f64, u64)]) {
    let quantile = |q| loadtest::affiliate::quantile_between(before, after, q);
    match (quantile(0.5), quantile(0.99)) {
        (Some(p50), Some(p99)) => println!(
            "server time per {what} (the exchange's /metrics, bucket-interpolated): p50 {p50:.0} µs, p99 {p99:.0} µs"
        ),
        _ => println!("server time per {what}: nothing recorded"),
    }
}

/// A target URL; a bare `http://host:port` means the auction endpoint.
fn parse_target(text: &str) -> anyhow::Result<http::Uri> {
    let target: http::Uri = text.parse().with_context(|| format!("--target {text:?}"))?;
    anyhow::ensure!(
        target.scheme_str() == Some("http") && target.host().is_some(),
        "--target must be http://host[:port][/path]"
    );
    if target.path() == "/" {
        return Ok(format!("{}/openrtb2/auction", text.trim_end_matches('/')).parse()?);
    }
    Ok(target)
}

/// Loads a scenario and builds its bodies (before any timing starts).
fn prepare(path: &std::path::Path) -> anyhow::Result<loadtest::scenario::Prepared> {
    let (scenario, folder) = Scenario::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let prepared = scenario
        .prepare(&folder)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    eprintln!(
        "scenario {}: {} request bodies prepared",
        prepared.name,
        prepared.bodies.len()
    );
    Ok(prepared)
}

/// A stop signal that Ctrl-C sets (the report then covers what was sent).
fn stop_on_ctrl_c() -> StopSignal {
    let stop = StopSignal::default();
    let on_ctrl_c = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.stop();
        }
    });
    stop
}

fn write_json(path: Option<&PathBuf>, value: &impl serde::Serialize) -> anyhow::Result<()> {
    if let Some(path) = path {
        std::fs::write(path, serde_json::to_string_pretty(value)?)
            .with_context(|| format!("{}", path.display()))?;
        eprintln!("JSON: {}", path.display());
    }
    Ok(())
}

fn load_options(load: &LoadArgs, target: http::Uri, rate: f64) -> anyhow::Result<RunOptions> {
    load.check()?;
    Ok(RunOptions::post(
        target,
        rate,
        load.duration,
        load.warmup,
        load.connections,
        Duration::from_secs(5),
        false,
    ))
}

fn sweep_rates(args: SweepArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.from > 0.0 && args.step > 0.0 && args.to >= args.from,
        "need 0 < --from <= --to and --step > 0"
    );
    let template = load_options(&args.load, parse_target(&args.target)?, args.from)?;
    let prepared = prepare(&args.load.scenario)?;
    let rates = loadtest::sweep::rates(args.from, args.to, args.step);
    let steps = runtime()?.block_on(async {
        let stop = stop_on_ctrl_c();
        loadtest::sweep::sweep(
            &template,
            &rates,
            args.slo_p99,
            &prepared.name,
            Arc::new(prepared.bodies),
            &stop,
        )
        .await
    });
    print!("{}", loadtest::sweep::table(&steps));
    match loadtest::sweep::highest_passing(&steps) {
        Some(rate) => println!(
            "highest rate holding p99 <= {:?}: {rate:.0}/s",
            args.slo_p99
        ),
        None => println!("no rate held p99 <= {:?}", args.slo_p99),
    }
    let reports: Vec<_> = steps
        .iter()
        .map(|s| (s.rate, s.passed, &s.report))
        .collect();
    write_json(args.load.json.as_ref(), &reports)
}

fn compare(args: CompareArgs) -> anyhow::Result<()> {
    anyhow::ensure!((1..=20).contains(&args.rounds), "--rounds must be 1..=20");
    anyhow::ensure!(
        args.from > 0.0 && args.step > 0.0 && args.to >= args.from && args.rate > 0.0,
        "need 0 < --from <= --to, --step > 0, --rate > 0"
    );
    let template = load_options(&args.load, "http://127.0.0.1/".parse()?, args.rate)?;
    let prepared = prepare(&args.load.scenario)?;
    let options = loadtest::compare::CompareOptions {
        config: args.config,
        bidders: Vec::new(),
        rounds: args.rounds,
        rates: loadtest::sweep::rates(args.from, args.to, args.step),
        slo_p99: args.slo_p99,
        fixed_rate: args.rate,
        template,
        redis: args.redis,
        redis_cluster: args.redis_cluster,
    };
    anyhow::ensure!(args.bidders <= 16, "--bidders must be 0..=16");
    let mut options = options;
    let comparison = runtime()?.block_on(async {
        let stop = stop_on_ctrl_c();
        let mut mocks = Vec::new();
        for i in 0..args.bidders {
            let mock = loadtest::mock_bidder::spawn_local(MockConfig {
                latency: Latency::Uniform(Duration::from_millis(1), Duration::from_millis(3)),
                price: Price::Uniform(0.5, 20.0),
                bid_rate: 0.7,
                seat: format!("mock-{i}"),
                ..MockConfig::default()
            })
            .await?;
            options.bidders.push(exchange::config::BidderConfig {
                name: format!("mock-{i}"),
                endpoint: mock.endpoint(),
                timeout_ms: 100,
                ..Default::default()
            });
            mocks.push(mock);
        }
        loadtest::compare::compare(&options, &prepared.name, Arc::new(prepared.bodies), &stop).await
    })?;
    print!("{comparison}");
    write_json(args.load.json.as_ref(), &comparison)
}

fn cost(args: CostArgs) -> anyhow::Result<()> {
    anyhow::ensure!((1..=20).contains(&args.rounds), "--rounds must be 1..=20");
    anyhow::ensure!(args.dsps <= 8, "--dsps must be 0..=8");
    anyhow::ensure!(
        !args.rates.is_empty()
            && args
                .rates
                .iter()
                .all(|r| r.is_finite() && *r > 0.0 && *r <= 100_000.0),
        "--rates must be within (0, 100000]"
    );
    args.load.check()?;
    let loadtest = std::env::current_exe().context("this binary's path")?;
    let exchange = match args.exchange {
        Some(path) => path,
        None => loadtest.with_file_name("exchange"),
    };
    anyhow::ensure!(
        exchange.exists(),
        "no exchange binary at {} (build it: cargo build --release -p exchange, or pass --exchange)",
        exchange.display()
    );
    let work_dir = args.work_dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("loadtest-cost-{}", std::process::id()))
    });
    let prepared = prepare(&args.load.scenario)?;
    let report = runtime()?.block_on(async {
        let stop = stop_on_ctrl_c();
        let mut mocks = Vec::new();
        for i in 0..args.dsps {
            mocks.push(
                loadtest::mock_bidder::spawn_local(MockConfig {
                    latency: Latency::Fixed(args.dsp_latency),
                    seat: format!("mock-{i}"),
                    ..MockConfig::default()
                })
                .await?,
            );
        }
        let options = loadtest::cost::CostOptions {
            config: args.config,
            exchange,
            loadtest,
            rounds: args.rounds,
            rates: args.rates,
            duration: args.load.duration,
            warmup: args.load.warmup,
            connections: args.load.connections,
            dsps: mocks.iter().map(|m| m.endpoint()).collect(),
            work_dir: work_dir.clone(),
        };
        loadtest::cost::measure(&options, &prepared.name, Arc::new(prepared.bodies), &stop).await
    });
    let _ = std::fs::remove_dir_all(&work_dir);
    let report = report?;
    print!("{report}");
    write_json(args.load.json.as_ref(), &report)
}

fn demo(args: DemoArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.rate > 0.0 && args.rate <= 100_000.0,
        "--rate must be within (0, 100000]"
    );
    let prepared = prepare(&args.scenario)?;
    let report = runtime()?.block_on(async {
        let stop = stop_on_ctrl_c();
        loadtest::demo::demo(
            &args.config,
            args.rate,
            args.duration,
            &prepared.name,
            Arc::new(prepared.bodies),
            &stop,
        )
        .await
    })?;
    print!("{report}");
    if let Some(path) = &args.html {
        std::fs::write(path, loadtest::report::html::render(&report))
            .with_context(|| format!("{}", path.display()))?;
        eprintln!("HTML report: {}", path.display());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn load_of(args: &[&str]) -> LoadArgs {
        match Cli::try_parse_from(args).expect("parses").command {
            Command::Cost(cost) => cost.load,
            Command::Compare(compare) => compare.load,
            other => panic!("not a load command: {other:?}"),
        }
    }

    #[test]
    fn cost_windows_default_longer_than_the_other_load_commands() {
        let cost = load_of(&["loadtest", "cost"]);
        assert_eq!(
            (cost.duration, cost.warmup),
            (Duration::from_secs(10), Duration::from_secs(3))
        );
        let compare = load_of(&["loadtest", "compare"]);
        assert_eq!(
            (compare.duration, compare.warmup),
            (Duration::from_secs(5), Duration::from_secs(1))
        );
        let given = load_of(&["loadtest", "cost", "--duration", "2s", "--connections", "8"]);
        assert_eq!(
            (given.duration, given.connections),
            (Duration::from_secs(2), 8)
        );
        assert!(load_of(&["loadtest", "cost", "--connections", "0"])
            .check()
            .is_err());
    }
}
