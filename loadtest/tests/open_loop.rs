//! The open-loop method, checked against servers whose behaviour is known: latency must
//! count from the scheduled send time, so a stall shows in the percentiles instead of
//! quietly lowering the rate (coordinated omission). Bounds are generous: this checks
//! the method, not the machine's speed.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use loadtest::engine::{run, RunOptions, StopSignal};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A server that answers 204 after `delay`, except that from `stall_after` past its
/// first request it holds every request until `stall` has passed (a GC pause, a swap).
async fn stalling_server(delay: Duration, stall_after: Duration, stall: Duration) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("addr");
    let first: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let first = Arc::clone(&first);
            tokio::spawn(async move {
                let service = service_fn(move |_request| {
                    let first = Arc::clone(&first);
                    async move {
                        let started = *first.lock().expect("lock").get_or_insert_with(Instant::now);
                        let stall_from = started + stall_after;
                        let now = Instant::now();
                        if now >= stall_from && now < stall_from + stall {
                            tokio::time::sleep_until((stall_from + stall).into()).await;
                        }
                        tokio::time::sleep(delay).await;
                        let mut response = Response::new(Full::new(Bytes::new()));
                        *response.status_mut() = StatusCode::NO_CONTENT;
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    format!("http://{address}/")
}

fn options(target: &str, rate: f64, duration: Duration) -> RunOptions {
    RunOptions::post(
        target.parse().expect("uri"),
        rate,
        duration,
        Duration::ZERO,
        64,
        Duration::from_secs(5),
        false,
    )
}

fn bodies() -> Arc<Vec<Bytes>> {
    Arc::new(vec![Bytes::from_static(b"{}")])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_shows_in_the_percentiles() {
    // 200 req/s for 3 s; the server stalls for 500 ms one second in. A sixth of the
    // requests are scheduled during the stall and wait up to 500 ms: p90 ≈ 200 ms,
    // p99 ≈ 470 ms. A closed-loop tester would see a handful of slow requests at most.
    let target = stalling_server(
        Duration::from_millis(2),
        Duration::from_secs(1),
        Duration::from_millis(500),
    )
    .await;
    let report = run(
        &options(&target, 200.0, Duration::from_secs(3)),
        "stall",
        bodies(),
        StopSignal::default(),
    )
    .await;
    let ms = |us: u64| us as f64 / 1e3;
    let l = report.latency_us;
    assert_eq!(report.errors, 0, "{report}");
    assert_eq!(report.statuses.get("204"), Some(&600), "{report}");
    assert!(ms(l.p50) < 100.0, "median is unaffected: {report}");
    assert!(
        ms(l.p90) > 100.0 && ms(l.p90) < 400.0,
        "p90 inside the stall: {report}"
    );
    assert!(ms(l.p99) > 350.0, "p99 near the stall's length: {report}");
    assert!(
        ms(l.max) >= 450.0 && ms(l.max) < 1_500.0,
        "max ≈ the stall: {report}"
    );
    assert!((report.achieved_rate - 200.0).abs() < 20.0, "{report}");
    // The stall is visible in the per-second p99 of the second it happened in.
    assert!(
        report.per_second.iter().any(|s| s.p99_us > 300_000),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steady_server_is_measured_near_its_service_time() {
    let target = stalling_server(
        Duration::from_millis(5),
        Duration::from_secs(3600),
        Duration::ZERO,
    )
    .await;
    let report = run(
        &options(&target, 100.0, Duration::from_secs(2)),
        "steady",
        bodies(),
        StopSignal::default(),
    )
    .await;
    let l = report.latency_us;
    assert!(
        l.p50 >= 5_000 && l.p50 < 50_000,
        "5 ms service time: {report}"
    );
    assert!(
        report.generator.release_lag_us.p50 < 1_000,
        "released on schedule: {report}"
    );
    assert_eq!(report.per_second.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_early_reports_what_was_sent() {
    let target = stalling_server(
        Duration::from_millis(1),
        Duration::from_secs(3600),
        Duration::ZERO,
    )
    .await;
    let stop = StopSignal::default();
    let stopper = stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        stopper.stop();
    });
    let report = run(
        &options(&target, 100.0, Duration::from_secs(10)),
        "stopped",
        bodies(),
        stop,
    )
    .await;
    assert!(report.interrupted);
    assert!(report.requests > 20 && report.requests < 200, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_target_is_counted_as_connect_errors() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let report = run(
        &options(&format!("http://{closed}/"), 50.0, Duration::from_secs(1)),
        "dead",
        bodies(),
        StopSignal::default(),
    )
    .await;
    assert_eq!(report.answered, 0);
    assert_eq!(report.error_kinds.connect, report.requests, "{report}");
    assert!(report.requests >= 45, "{report}");
}
