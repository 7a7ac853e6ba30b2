//! Fan-out latency and cost: the release `exchange` binary (a child process, so its CPU
//! time can be read from /proc) against 0, 1, 2, 4 and 8 mock DSPs on loopback that all
//! answer after a fixed latency, under an open-loop request rate (requests are sent on
//! schedule whether or not earlier ones finished; latency counts from the scheduled time).
//!
//! ```text
//! cargo build --release -p exchange
//! cargo run --release -p benches --example fanout_latency -- [RATE] [SECONDS] [BIDDER_MS]
//! ```
//!
//! Reports per bidder count: achieved rate; p50/p90/p99/max end to end as the client sees
//! it (from the scheduled send time; includes up to ~1 ms of tokio timer granularity in
//! the generator and in the mocks' sleeps); the server-side time and the exchange's own
//! overhead over the slowest awaited bidder, per request (from the exchange's
//! `/metrics`); answers later than `tmax`; fill; and the exchange's CPU time per request.

use benches::child::{cpu_ticks, free_port, start_exchange};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use loadtest::mock_bidder::spec::{Latency, Price};
use loadtest::mock_bidder::{spawn_local, MockConfig, MockHandle};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `tmax` of every request, ms.
const TMAX_MS: u64 = 100;
/// Warm-up before measuring (connections, pools, caches).
const WARM_UP: Duration = Duration::from_secs(1);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rate: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(200);
    let seconds: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let bidder_ms: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let binary = root.join("target/release/exchange");
    assert!(
        binary.exists(),
        "build it first: cargo build --release -p exchange"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "open loop {rate} req/s for {seconds} s (after {} s warm-up), tmax {TMAX_MS} ms, every bidder answers after {bidder_ms} ms\n",
        WARM_UP.as_secs()
    );
    println!("| bidders | achieved req/s | client p50 / p90 / p99 / max ms | server p50 / p99 ms | overhead over slowest bidder p50 / p99 ms | later than tmax | filled | exchange CPU µs/req |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for bidders in [0usize, 1, 2, 4, 8] {
        let row = runtime.block_on(measure(&root, &binary, bidders, rate, seconds, bidder_ms));
        let overhead = if bidders == 0 {
            "-".to_owned()
        } else {
            format!("{:.2} / {:.2}", row.overhead_p50, row.overhead_p99)
        };
        println!(
            "| {bidders} | {:.0} | {:.2} / {:.2} / {:.2} / {:.2} | {:.2} / {:.2} | {overhead} | {} | {:.0}% | {:.0} |",
            row.achieved,
            row.p50,
            row.p90,
            row.p99,
            row.max,
            row.server_p50,
            row.server_p99,
            row.late,
            row.fill * 100.0,
            row.cpu_us_per_request
        );
    }
}

struct Row {
    achieved: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
    late: u64,
    fill: f64,
    cpu_us_per_request: f64,
    server_p50: f64,
    server_p99: f64,
    overhead_p50: f64,
    overhead_p99: f64,
}

/// GETs a URL's body as text (empty on failure).
async fn fetch<C>(client: &Client<C, Full<Bytes>>, url: &str) -> String
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let Ok(request) = http::Request::get(url).body(Full::new(Bytes::new())) else {
        return String::new();
    };
    let Ok(response) = client.request(request).await else {
        return String::new();
    };
    match response.into_body().collect().await {
        Ok(body) => String::from_utf8_lossy(&body.to_bytes()).into_owned(),
        Err(_) => String::new(),
    }
}

async fn measure(
    root: &Path,
    binary: &Path,
    bidders: usize,
    rate: u64,
    seconds: u64,
    bidder_ms: u64,
) -> Row {
    let mut mocks: Vec<MockHandle> = Vec::new();
    for _ in 0..bidders {
        let config = MockConfig {
            latency: Latency::Fixed(Duration::from_millis(bidder_ms)),
            price: Price::Uniform(0.5, 3.0),
            ..MockConfig::default()
        };
        mocks.push(spawn_local(config).await.expect("mock"));
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let mut config = format!(
        "campaigns = {:?}\npublic_url = \"http://127.0.0.1:{port}\"\n[fx_rates]\nCNY = 7.1\n[reload]\nwatch_interval_ms = 0\n",
        root.join("configs/campaigns.json").display().to_string()
    );
    for (i, mock) in mocks.iter().enumerate() {
        config.push_str(&format!(
            "[[bidders]]\nname = \"mock-{i}\"\nendpoint = \"{}\"\ntimeout_ms = {TMAX_MS}\n",
            mock.endpoint()
        ));
    }
    let config_path = dir.path().join("exchange.toml");
    std::fs::write(&config_path, config).expect("write config");
    let mut child = start_exchange(binary, &config_path, port);
    let url: http::Uri = format!("http://127.0.0.1:{port}/openrtb2/auction")
        .parse()
        .expect("uri");
    let body = Bytes::from(
        benches::TYPICAL_REQUEST.replace("\"tmax\": 150", &format!("\"tmax\": {TMAX_MS}")),
    );
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1024)
        .build_http();
    let _ = open_loop(&client, &url, &body, rate, WARM_UP).await;
    let cpu_before = cpu_ticks(child.id());
    let started = Instant::now();
    let result = open_loop(&client, &url, &body, rate, Duration::from_secs(seconds)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_after = cpu_ticks(child.id());
    let metrics = fetch(&client, &format!("http://127.0.0.1:{port}/metrics")).await;
    // The families are bucket histograms (cumulative `_bucket{le=…}` lines), read as
    // Prometheus' `histogram_quantile` would.
    let quantile = |family: &str, q: &str| {
        let prefix = format!("{family}_bucket{{le=\"");
        let mut buckets = Vec::new();
        let mut below = 0u64;
        for line in metrics.lines() {
            let Some(rest) = line.strip_prefix(&prefix) else {
                continue;
            };
            let Some((le, count)) = rest.split_once("\"} ") else {
                continue;
            };
            let upper = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap_or(f64::NAN)
            };
            let cumulative: u64 = count.trim().parse().unwrap_or(0);
            buckets.push((upper, cumulative.saturating_sub(below)));
            below = cumulative;
        }
        let q: f64 = q.parse().unwrap_or(0.5);
        exchange::metrics::histogram::quantile_from_buckets(&buckets, below, q)
            .map_or(f64::NAN, |seconds| seconds * 1e3)
    };
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
    let late = *result.late.lock().expect("late");
    let filled = *result.filled.lock().expect("filled");
    let histogram = result.histogram.lock().expect("histogram").clone();
    let answered = histogram.len();
    let ms = |us: u64| us as f64 / 1e3;
    Row {
        achieved: answered as f64 / elapsed,
        p50: ms(histogram.value_at_quantile(0.5)),
        p90: ms(histogram.value_at_quantile(0.9)),
        p99: ms(histogram.value_at_quantile(0.99)),
        max: ms(histogram.max()),
        late,
        fill: filled as f64 / answered.max(1) as f64,
        // /proc reports CPU in clock ticks of 10 ms (USER_HZ = 100 on Linux).
        cpu_us_per_request: (cpu_after - cpu_before) as f64 * 10_000.0 / answered.max(1) as f64,
        server_p50: quantile("exchange_decision_latency_seconds", "0.5"),
        server_p99: quantile("exchange_decision_latency_seconds", "0.99"),
        overhead_p50: quantile("exchange_fanout_overhead_seconds", "0.5"),
        overhead_p99: quantile("exchange_fanout_overhead_seconds", "0.99"),
    }
}

struct LoadResult {
    histogram: Arc<Mutex<Histogram<u64>>>,
    late: Arc<Mutex<u64>>,
    filled: Arc<Mutex<u64>>,
}

/// Sends `rate` requests per second for `duration` on a fixed schedule.
async fn open_loop<C>(
    client: &Client<C, Full<Bytes>>,
    url: &http::Uri,
    body: &Bytes,
    rate: u64,
    duration: Duration,
) -> LoadResult
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let result = LoadResult {
        histogram: Arc::new(Mutex::new(
            Histogram::new_with_bounds(1, 60_000_000, 3).expect("bounds"),
        )),
        late: Arc::new(Mutex::new(0)),
        filled: Arc::new(Mutex::new(0)),
    };
    let total = rate * duration.as_secs().max(1);
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now() + Duration::from_millis(20);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        let scheduled = start + interval * i as u32;
        tokio::time::sleep_until(scheduled.into()).await;
        let client = client.clone();
        let request = http::Request::post(url.clone())
            .header("content-type", "application/json")
            .body(Full::new(body.clone()))
            .expect("request");
        let (histogram, late, filled) = (
            Arc::clone(&result.histogram),
            Arc::clone(&result.late),
            Arc::clone(&result.filled),
        );
        tasks.spawn(async move {
            let Ok(response) = client.request(request).await else {
                return;
            };
            let status = response.status();
            let _ = response.into_body().collect().await;
            let latency = scheduled.elapsed();
            if let Ok(mut h) = histogram.lock() {
                h.saturating_record(latency.as_micros() as u64);
            }
            if latency > Duration::from_millis(TMAX_MS) {
                *late.lock().expect("late") += 1;
            }
            if status == 200 {
                *filled.lock().expect("filled") += 1;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    result
}
