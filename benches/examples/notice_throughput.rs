//! Notice throughput: the release `exchange` binary (a child process, so its CPU time can
//! be read from /proc) answers N genuine, signed win notices fired by C concurrent
//! keep-alive connections — once on the durable embedded store (each batch committed to
//! SQLite, WAL, `synchronous = FULL`, before its notices are answered) and once on the
//! memory-only store, in the same run.
//!
//! ```text
//! cargo build --release -p exchange
//! cargo run --release -p benches --example notice_throughput -- [NOTICES] [CONNECTIONS]
//! ```
//!
//! Reports per store: notices answered 204, wall time, notices/s, and the exchange's CPU
//! time per notice (so notices per CPU-second: the rate one core sustains).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let notices: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let connections: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(16);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let binary = root.join("target/release/exchange");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    println!("{notices} notices over {connections} connections");
    println!("store       answered  seconds  notices/s  CPU µs/notice  notices per CPU-second");
    for (name, durable) in [("durable", true), ("memory", false)] {
        let row = runtime.block_on(measure(&root, &binary, durable, notices, connections));
        println!(
            "{name:<10} {:>9} {:>8.2} {:>10.0} {:>14.1} {:>23.0}",
            row.answered,
            row.seconds,
            row.answered as f64 / row.seconds,
            row.cpu_us_per_notice,
            1e6 / row.cpu_us_per_notice
        );
    }
}

struct Row {
    answered: usize,
    seconds: f64,
    cpu_us_per_notice: f64,
}

async fn send(client: &HttpClient, request: http::Request<Full<Bytes>>) -> (u16, String) {
    let Ok(response) = client.request(request).await else {
        return (0, String::new());
    };
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_default();
    (status, body)
}

async fn measure(
    root: &Path,
    binary: &Path,
    durable: bool,
    notices: usize,
    connections: usize,
) -> Row {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = benches::child::free_port();
    let store = if durable {
        format!("{:?}", dir.path().join("exchange.db").display().to_string())
    } else {
        "\"\"".to_owned()
    };
    let config = format!(
        "campaigns = {:?}\npublic_url = \"http://127.0.0.1:{port}\"\n[fx_rates]\nCNY = 7.1\n\
         [reload]\nwatch_interval_ms = 0\n[store]\npath = {store}\n\
         [[notices.keys]]\nid = \"k1\"\nsecret = \"notice-throughput-secret-0123456789abcdef\"\n",
        root.join("configs/campaigns.json").display().to_string()
    );
    let config_path = dir.path().join("exchange.toml");
    std::fs::write(&config_path, config).expect("write config");
    let mut child = benches::child::start_exchange(binary, &config_path, port);
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1024)
        .build_http();
    // Genuine notices: one auction each (distinct users, so no cap stops them).
    let auction = format!("http://127.0.0.1:{port}/openrtb2/auction");
    let mut urls = Vec::with_capacity(notices);
    let mut i = 0;
    while urls.len() < notices && i < notices * 3 {
        i += 1;
        let body = format!(
            r#"{{"id":"n{i}","at":1,"tmax":500,"imp":[{{"id":"1","banner":{{"w":300,"h":250}}}}],
            "site":{{"id":"s1","domain":"news.example"}},"device":{{"devicetype":4,"geo":{{"country":"CHN"}}}},
            "user":{{"id":"user-{i}"}}}}"#
        );
        let request = http::Request::post(&auction)
            .body(Full::new(Bytes::from(body)))
            .expect("request");
        let (status, body) = send(&client, request).await;
        if status != 200 {
            continue;
        }
        let json: serde_json::Value = serde_json::from_str(&body).expect("json");
        let bid = &json["seatbid"][0]["bid"][0];
        let price = bid["price"].as_f64().expect("price").to_string();
        let nurl = bid["nurl"].as_str().expect("nurl");
        urls.push(nurl.replace("${AUCTION_PRICE}", &price));
    }
    let urls = Arc::new(urls);
    let next = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(AtomicUsize::new(0));
    let cpu_before = benches::child::cpu_ticks(child.id());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (client, urls, next, answered) = (
            client.clone(),
            Arc::clone(&urls),
            Arc::clone(&next),
            Arc::clone(&answered),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let Some(url) = urls.get(n) else { break };
                let request = http::Request::get(url.as_str())
                    .body(Full::new(Bytes::new()))
                    .expect("request");
                if send(&client, request).await.0 == 204 {
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = benches::child::cpu_ticks(child.id()) - cpu_before;
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    let answered = answered.load(Ordering::Relaxed);
    Row {
        answered,
        seconds,
        cpu_us_per_notice: cpu as f64 * 10_000.0 / answered.max(1) as f64,
    }
}
