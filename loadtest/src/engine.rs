//! The open-loop engine. A scheduler thread releases request `i` at
//! `start + i / rate` whether or not earlier requests finished (sleep, then a short spin,
//! so the release is within tens of microseconds of the schedule); each release becomes
//! a task that waits for one of `connections` keep-alive connections, sends the next
//! prepared body and records its latency **from the scheduled time**. Queueing behind a
//! slow server therefore shows in the latency instead of silently lowering the rate
//! (no coordinated omission). Requests scheduled during the warm-up are sent but not
//! recorded. The generator measures its own lag and says when it could not keep up.

use crate::report::{Recorder, Report, RunInfo};
use bytes::Bytes;
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};

/// How long before a release the scheduler stops sleeping and starts spinning.
const SPIN_WINDOW: Duration = Duration::from_micros(200);
/// Most response bytes read per request (prices are read from them).
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// What to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// `POST` target, e.g. `http://127.0.0.1:8080/openrtb2/auction`.
    pub target: Uri,
    /// Requests per second, scheduled at fixed intervals.
    pub rate: f64,
    /// Measured duration (after the warm-up).
    pub duration: Duration,
    /// Warm-up: sent, not recorded.
    pub warmup: Duration,
    /// Keep-alive connections (and so requests in flight) at most.
    pub connections: usize,
    /// A request without an answer after this is a timeout error.
    pub timeout: Duration,
    /// Print a progress line to stderr every second.
    pub progress: bool,
    /// `POST` (each body sent to `target`) or `GET` (each "body" is a path and query
    /// appended to `target`'s authority: clicks).
    pub method: http::Method,
    /// Headers every request carries (e.g. an advertiser's credentials).
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

impl RunOptions {
    /// `POST`s to `target` with no extra headers.
    #[allow(clippy::too_many_arguments)]
    pub fn post(
        target: Uri,
        rate: f64,
        duration: Duration,
        warmup: Duration,
        connections: usize,
        timeout: Duration,
        progress: bool,
    ) -> Self {
        Self {
            target,
            rate,
            duration,
            warmup,
            connections,
            timeout,
            progress,
            method: http::Method::POST,
            headers: Vec::new(),
        }
    }
}

/// A way to stop a run early (Ctrl-C): the report covers what was sent until then.
#[derive(Debug, Clone, Default)]
pub struct StopSignal(Arc<AtomicBool>);

impl StopSignal {
    /// Asks the run to stop scheduling.
    pub fn stop(&self) {
        self.0.store(true, Relaxed);
    }

    /// Whether a stop was asked.
    pub fn stopped(&self) -> bool {
        self.0.load(Relaxed)
    }
}

/// Runs the load and returns its report; `bodies` are sent round robin.
pub async fn run(
    options: &RunOptions,
    scenario: &str,
    bodies: Arc<Vec<Bytes>>,
    stop: StopSignal,
) -> Report {
    assert!(!bodies.is_empty(), "a run needs at least one request body");
    let interval = Duration::from_secs_f64(1.0 / options.rate.max(1e-3));
    let total = ((options.warmup + options.duration).as_secs_f64() * options.rate).ceil() as u64;
    let start = Instant::now() + Duration::from_millis(50);
    let measure_from = start + options.warmup;
    let recorder = Arc::new(Mutex::new(Recorder::new(options.duration)));
    let released = Arc::new(AtomicU64::new(0));

    let (tx, mut rx) = mpsc::unbounded_channel::<(u64, Instant)>();
    let scheduler = {
        let stop = stop.clone();
        let recorder = Arc::clone(&recorder);
        let released = Arc::clone(&released);
        std::thread::Builder::new()
            .name("loadtest-scheduler".into())
            .spawn(move || {
                schedule(
                    start,
                    interval,
                    total,
                    measure_from,
                    &tx,
                    &stop,
                    &recorder,
                    &released,
                )
            })
            .expect("start the scheduler thread")
    };
    let progress = options.progress.then(|| {
        let recorder = Arc::clone(&recorder);
        let released = Arc::clone(&released);
        let seconds = (options.warmup + options.duration).as_secs();
        tokio::spawn(async move {
            let begun = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let line = recorder
                    .lock()
                    .map(|r| r.progress_line())
                    .unwrap_or_default();
                eprint!(
                    "\r  {:>4}/{seconds} s  released {:>8}  {line}   ",
                    begun.elapsed().as_secs(),
                    released.load(Relaxed)
                );
            }
        })
    });

    let client: Client<HttpConnector, Full<Bytes>> = {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(options.connections)
            .build(connector)
    };
    let connections = Arc::new(Semaphore::new(options.connections.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    while let Some((index, scheduled)) = rx.recv().await {
        let client = client.clone();
        let connections = Arc::clone(&connections);
        let recorder = Arc::clone(&recorder);
        let body = bodies[(index % bodies.len() as u64) as usize].clone();
        let target = options.target.clone();
        let method = options.method.clone();
        let headers = options.headers.clone();
        let timeout = options.timeout;
        let measured = scheduled >= measure_from;
        tasks.spawn(async move {
            let Ok(_permit) = connections.acquire_owned().await else {
                return;
            };
            let waited = scheduled.elapsed();
            let request = build(method, &target, &headers, body);
            let outcome = tokio::time::timeout(timeout, send(&client, request)).await;
            let latency = scheduled.elapsed();
            if !measured {
                return;
            }
            if let Ok(mut recorder) = recorder.lock() {
                let second = scheduled.saturating_duration_since(measure_from).as_secs() as usize;
                match outcome {
                    Ok(Ok((status, price))) => {
                        let at = Instant::now().saturating_duration_since(measure_from);
                        recorder.answered(second, at, latency, status, price)
                    }
                    Ok(Err(Failure::Connect)) => recorder.connect_error(second),
                    Ok(Err(Failure::Io)) => recorder.io_error(second),
                    Err(_) => recorder.timeout(second),
                }
                recorder.connection_wait(waited);
            }
        });
        // Reap finished tasks as we go so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    let _ = scheduler.join();
    // Everything is released; wait for the answers (each bounded by the timeout).
    while tasks.join_next().await.is_some() {}
    if let Some(progress) = progress {
        progress.abort();
        eprintln!();
    }
    let recorder = Arc::try_unwrap(recorder)
        .ok()
        .and_then(|m| m.into_inner().ok())
        .unwrap_or_else(|| Recorder::new(options.duration));
    recorder.report(RunInfo {
        scenario: scenario.to_owned(),
        target: options.target.to_string(),
        target_rate: options.rate,
        duration: options.duration,
        warmup: options.warmup,
        connections: options.connections,
        interrupted: stop.stopped(),
    })
}

/// Releases requests on schedule until `total` or a stop.
#[allow(clippy::too_many_arguments)]
fn schedule(
    start: Instant,
    interval: Duration,
    total: u64,
    measure_from: Instant,
    tx: &mpsc::UnboundedSender<(u64, Instant)>,
    stop: &StopSignal,
    recorder: &Mutex<Recorder>,
    released: &AtomicU64,
) {
    for index in 0..total {
        if stop.stopped() {
            break;
        }
        let scheduled = start + interval.mul_f64(index as f64);
        let now = Instant::now();
        if scheduled > now + SPIN_WINDOW {
            std::thread::sleep(scheduled - now - SPIN_WINDOW);
        }
        while Instant::now() < scheduled {
            std::hint::spin_loop();
        }
        let lag = scheduled.elapsed();
        if tx.send((index, scheduled)).is_err() {
            break;
        }
        released.fetch_add(1, Relaxed);
        if scheduled >= measure_from {
            if let Ok(mut recorder) = recorder.lock() {
                recorder.release_lag(lag);
            }
        }
    }
}

/// Why a request got no HTTP answer.
enum Failure {
    /// Could not connect.
    Connect,
    /// The connection failed mid-request.
    Io,
}

/// The request for one prepared body: a JSON `POST` to `target`, or a `GET` of the path
/// and query in `body` on `target`'s authority.
fn build(
    method: http::Method,
    target: &Uri,
    headers: &[(http::HeaderName, http::HeaderValue)],
    body: Bytes,
) -> Option<Request<Full<Bytes>>> {
    let mut builder = if method == http::Method::GET {
        let path = std::str::from_utf8(&body).ok()?;
        let authority = target.authority()?;
        Request::get(format!("http://{authority}{path}"))
    } else {
        Request::builder()
            .method(method)
            .uri(target.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
    };
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    let body = if builder.method_ref() == Some(&http::Method::GET) {
        Bytes::new()
    } else {
        body
    };
    builder.body(Full::new(body)).ok()
}

/// Sends one request; the status and, for a 200, the first bid's price.
async fn send(
    client: &Client<HttpConnector, Full<Bytes>>,
    request: Option<Request<Full<Bytes>>>,
) -> Result<(StatusCode, Option<f64>), Failure> {
    let request = request.ok_or(Failure::Io)?;
    let response = client.request(request).await.map_err(|error| {
        if error.is_connect() {
            Failure::Connect
        } else {
            Failure::Io
        }
    })?;
    let status = response.status();
    let body = http_body_util::Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
        .collect()
        .await
        .map_err(|_| Failure::Io)?
        .to_bytes();
    let price = (status == StatusCode::OK)
        .then(|| first_price(&body))
        .flatten();
    Ok((status, price))
}

/// The value of the first `"price":` in a response body, without decoding it all (the
/// generator must stay cheap: it shares the machine with the server).
pub fn first_price(body: &[u8]) -> Option<f64> {
    let key = b"\"price\":";
    let at = body.windows(key.len()).position(|w| w == key)? + key.len();
    let rest = &body[at..];
    let rest = &rest[rest.iter().take_while(|b| b.is_ascii_whitespace()).count()..];
    let end = rest
        .iter()
        .position(|b| !(b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'e' | b'E' | b'+')))
        .unwrap_or(rest.len());
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_read_from_the_body() {
        assert_eq!(
            first_price(br#"{"seatbid":[{"bid":[{"id":"1","price": 1.25,"adm":"x"}]}]}"#),
            Some(1.25)
        );
        assert_eq!(first_price(br#"{"price":3}"#), Some(3.0));
        assert_eq!(first_price(br#"{"nope":1}"#), None);
    }
}
