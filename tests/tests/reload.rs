//! Snapshot reloads: under load nothing fails; a bad file keeps the old snapshot; the
//! admin call, and a change of the file, both trigger a reload.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tests::{sample_campaigns, Client, TestExchange};

const BANNER: &str = r#"{"id":"r1","imp":[{"id":"1","banner":{"w":300,"h":250}}],"device":{"devicetype":4,"geo":{"country":"CHN"}}}"#;

fn bearer() -> [(&'static str, &'static str); 1] {
    [("authorization", "Bearer test-token")]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloading_under_load_drops_nothing() {
    let exchange = TestExchange::builder()
        .config("[reload]\nwatch_interval_ms = 0")
        .start()
        .await;
    let url = exchange.url("/openrtb2/auction");
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (url, stop, ok, failed) = (
            url.clone(),
            Arc::clone(&stop),
            Arc::clone(&ok),
            Arc::clone(&failed),
        );
        clients.push(tokio::spawn(async move {
            let client = Client::new();
            while !stop.load(Ordering::Relaxed) {
                let reply = client.post(&url, BANNER).await;
                let good =
                    reply.status == 200 && reply.json()["seatbid"][0]["bid"][0]["adm"].is_string();
                if good { &ok } else { &failed }.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // Swap the snapshot many times, alternating the admin API and direct store swaps.
    let admin = Client::new();
    let campaigns = exchange.state.snapshots.load_full().campaigns.clone();
    for round in 0..40 {
        if round % 2 == 0 {
            let reply = exchange.admin_reload(&admin).await;
            assert_eq!(
                reply.status,
                200,
                "{}",
                String::from_utf8_lossy(&reply.body)
            );
        } else {
            exchange.state.replace_campaigns(campaigns.clone());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.expect("client task");
    }
    let served = ok.load(Ordering::Relaxed);
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "failed requests during reloads ({served} served)"
    );
    assert!(served >= 40, "the load loop barely ran: {served}");
    assert_eq!(exchange.state.snapshots.load().version, 41);
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_file_keeps_the_old_snapshot_serving_and_says_why() {
    let exchange = TestExchange::builder()
        .config("[reload]\nwatch_interval_ms = 0")
        .start()
        .await;
    let client = Client::new();
    let broken = sample_campaigns().replacen(
        "\"model\": \"cpm\",\n    \"bid\": ",
        "\"model\": \"cpm\",\n    \"bid\": -",
        1,
    );
    assert_ne!(broken, sample_campaigns(), "the fixture edit must apply");
    std::fs::write(&exchange.campaigns_path, broken).expect("write");
    let reply = exchange.admin_reload(&client).await;
    assert_eq!(reply.status, 422);
    let body = reply.json();
    assert!(
        body["field"]
            .as_str()
            .is_some_and(|f| f.ends_with(".pricing.bid")),
        "{body}"
    );
    assert_eq!(body["serving_version"], 1);
    // Still serving the old snapshot.
    assert_eq!(
        client
            .post(&exchange.url("/openrtb2/auction"), BANNER)
            .await
            .status,
        200
    );
    assert_eq!(
        client.get(&exchange.url("/readyz")).await.json()["snapshot_version"],
        1
    );
    let metrics =
        String::from_utf8_lossy(&client.get(&exchange.url("/metrics")).await.body).into_owned();
    assert!(
        metrics.contains("exchange_reloads_total{result=\"error\"} 1"),
        "{metrics}"
    );
    // Not JSON at all: same story.
    std::fs::write(&exchange.campaigns_path, "{\"campaigns\": [").expect("write");
    assert_eq!(exchange.admin_reload(&client).await.status, 422);
    exchange.shutdown().await;
}

/// A request header: name and value.
type Header<'a> = (&'a str, &'a str);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_needs_the_token() {
    let exchange = TestExchange::builder().start().await;
    let client = Client::new();
    let url = exchange.url("/admin/reload");
    let cases: [(http::Method, &[Header], u16); 5] = [
        (http::Method::POST, &[], 401),
        (
            http::Method::POST,
            &[("authorization", "Bearer wrong-token")],
            401,
        ),
        (
            http::Method::POST,
            &[("authorization", "Bearer test-tokenX")],
            401,
        ),
        (http::Method::GET, &bearer(), 405),
        (http::Method::POST, &bearer(), 200),
    ];
    for (method, headers, expected) in cases {
        let reply = client.send(method.clone(), &url, headers, "").await;
        assert_eq!(reply.status, expected, "{method} with {headers:?}");
    }
    exchange.shutdown().await;
    let closed = TestExchange::builder().admin_token("").start().await;
    assert_eq!(closed.admin_reload(&client).await.status, 404);
    closed.shutdown().await;
}

/// The sample campaign file cut to its first `n` campaigns.
fn first_campaigns(n: usize) -> String {
    let mut file: serde_json::Value = serde_json::from_str(&sample_campaigns()).expect("json");
    file["campaigns"].as_array_mut().expect("array").truncate(n);
    file.to_string()
}

/// Waits (up to a generous bound, so a busy machine cannot fail it) until the serving
/// snapshot has `campaigns` campaigns; the count it last saw.
async fn serving_count_reaches(exchange: &TestExchange, campaigns: usize) -> usize {
    let mut serving = 0;
    for _ in 0..1_000 {
        serving = exchange.state.snapshots.load().len();
        if serving == campaigns {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    serving
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_the_campaign_file_reloads_it() {
    let exchange = TestExchange::builder()
        .config("[reload]\nwatch_interval_ms = 20")
        .start()
        .await;
    std::fs::write(&exchange.campaigns_path, first_campaigns(10)).expect("write");
    assert_eq!(
        serving_count_reaches(&exchange, 10).await,
        10,
        "the watcher did not pick up the change within 20 s"
    );
    assert_eq!(exchange.state.snapshots.load().version, 2);
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_made_after_the_load_but_before_the_first_poll_is_reloaded() {
    // The file is rewritten after the snapshot is loaded and before the watcher exists:
    // a watcher that took its baseline from the disk when it started would never see it.
    let exchange = TestExchange::builder()
        .config("[reload]\nwatch_interval_ms = 20")
        .campaigns_after_load(&first_campaigns(7))
        .start()
        .await;
    assert_eq!(
        serving_count_reaches(&exchange, 7).await,
        7,
        "the edit made before the watcher's first poll was never loaded"
    );
    assert_eq!(exchange.state.snapshots.load().version, 2);
    let sources = exchange.state.snapshots.loaded_sources();
    assert_eq!(sources.version, 2);
    assert_eq!(sources.files[0].path, exchange.campaigns_path);
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_edit_is_tried_once_and_the_fix_is_loaded() {
    let exchange = TestExchange::builder()
        .config("[reload]\nwatch_interval_ms = 20")
        .start()
        .await;
    std::fs::write(&exchange.campaigns_path, "{\"campaigns\": [").expect("write");
    let client = Client::new();
    let failed_reloads = || async {
        let metrics = client.get(&exchange.url("/metrics")).await.body;
        let metrics = String::from_utf8_lossy(&metrics).into_owned();
        (0..100).find(|n| {
            metrics.contains(&format!("exchange_reloads_total{{result=\"error\"}} {n}\n"))
        })
    };
    for _ in 0..1_000 {
        if failed_reloads().await == Some(1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(failed_reloads().await, Some(1));
    // Fifteen more polls: the same broken file is not tried again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(failed_reloads().await, Some(1));
    assert_eq!(
        exchange.state.snapshots.load().version,
        1,
        "the old one serves"
    );
    std::fs::write(&exchange.campaigns_path, first_campaigns(5)).expect("write");
    assert_eq!(serving_count_reaches(&exchange, 5).await, 5);
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_the_lexicon_reloads_it() {
    let lexicon = std::fs::read_to_string(tests::repo_root().join("configs/lexicon.toml"))
        .expect("configs/lexicon.toml");
    let exchange = TestExchange::builder()
        .file("lexicon.toml", &lexicon)
        .config("[reload]\nwatch_interval_ms = 20\n[context]\nlexicon = \"lexicon.toml\"")
        .start()
        .await;
    assert_eq!(exchange.state.snapshots.loaded_sources().files.len(), 2);
    let path = exchange.campaigns_path.with_file_name("lexicon.toml");
    std::fs::write(&path, format!("{lexicon}\n# edited\n")).expect("write");
    let mut version = 1;
    for _ in 0..1_000 {
        version = exchange.state.snapshots.load().version;
        if version == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(version, 2, "the lexicon edit was not loaded within 20 s");
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_the_publisher_registry_reloads_it() {
    let registry = std::fs::read_to_string(tests::repo_root().join("configs/publishers.toml"))
        .expect("configs/publishers.toml");
    let exchange = TestExchange::builder()
        .publishers(&registry)
        .config("[reload]\nwatch_interval_ms = 20")
        .start()
        .await;
    assert_eq!(exchange.state.snapshots.loaded_sources().files.len(), 2);
    let registered = |e: &TestExchange| {
        e.state
            .snapshots
            .load()
            .publishers
            .get("pub-mama")
            .is_some_and(|p| p.domains.iter().any(|d| d == "mama2.example"))
    };
    assert!(!registered(&exchange));
    let path = exchange.campaigns_path.with_file_name("publishers.toml");
    let edited = registry.replace(
        "domains = [\"mama.example\"]",
        "domains = [\"mama.example\", \"mama2.example\"]",
    );
    assert_ne!(edited, registry, "the sample registers mama.example");
    std::fs::write(&path, edited).expect("write");
    let mut loaded = false;
    for _ in 0..1_000 {
        loaded = registered(&exchange);
        if loaded {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(loaded, "the registry edit was not loaded within 20 s");
    exchange.shutdown().await;
}

fn model(r: f64) -> String {
    format!(
        r#"{{"bgnbd":{{"r":{r},"alpha":4.4,"a":0.79,"b":2.4}},"gamma_gamma":{{"p":6.2,"q":3.7,"gamma":15.4}},
        "log_likelihood":{{"bgnbd":-1.0,"gamma_gamma":-1.0}},"time_unit":"weeks","calibration_end":"2026-01-01","customers":10}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_ltv_model_is_rejected_and_the_old_one_keeps_serving() {
    let exchange = TestExchange::builder()
        .file("ltv.json", &model(0.25))
        // Reloaded by the admin call only (the watcher would also try each bad file).
        .config("[ltv]\nmodel = \"ltv.json\"\n[reload]\nwatch_interval_ms = 0")
        .start()
        .await;
    let client = Client::new();
    let serving = |e: &TestExchange| e.state.serving().model.as_ref().expect("a model").bgnbd.r;
    assert_eq!(serving(&exchange), 0.25);
    let path = exchange.campaigns_path.with_file_name("ltv.json");
    for bad in [
        "{not json",
        &model(-1.0),
        &model(0.3).replace("weeks", "days"),
        &model(0.3).replace("\"customers\":10", "\"customers\":10,\"extra\":1"),
    ] {
        std::fs::write(&path, bad).expect("write");
        let reply = exchange.admin_reload(&client).await;
        assert_eq!(reply.status, 422, "{bad}");
        let json = reply.json();
        assert_eq!(json["field"], "ltv.model");
        assert_eq!(json["ltv_model"]["serving_version"], 1);
        assert_eq!(serving(&exchange), 0.25, "the old model keeps serving");
    }
    std::fs::write(&path, model(0.5)).expect("write");
    let reply = exchange.admin_reload(&client).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["ltv_model"]["version"], 2);
    assert_eq!(serving(&exchange), 0.5);
    let metrics =
        String::from_utf8_lossy(&client.get(&exchange.url("/metrics")).await.body).into_owned();
    assert!(
        metrics.contains("exchange_ltv_model_reloads_total{result=\"error\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("exchange_ltv_model_reloads_total{result=\"ok\"} 1"),
        "{metrics}"
    );
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_the_ltv_model_reloads_it() {
    let exchange = TestExchange::builder()
        .file("ltv.json", &model(0.25))
        .config("[ltv]\nmodel = \"ltv.json\"\n[reload]\nwatch_interval_ms = 20")
        .start()
        .await;
    let serving = |e: &TestExchange| e.state.serving().model.as_ref().expect("a model").bgnbd.r;
    assert_eq!(serving(&exchange), 0.25);
    let path = exchange.campaigns_path.with_file_name("ltv.json");
    std::fs::write(&path, model(0.5)).expect("write");
    let mut r = 0.25;
    for _ in 0..1_000 {
        r = serving(&exchange);
        if r == 0.5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(r, 0.5, "the model edit was not served within 20 s");
    // The campaigns were not reloaded for it.
    assert_eq!(exchange.state.serving().snapshot.version, 1);
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_publishes_snapshot_and_pacers_together_before_any_request() {
    let exchange = TestExchange::builder()
        .config("[reload]\nwatch_interval_ms = 0")
        .start()
        .await;
    let client = Client::new();
    let before = exchange.state.serving();
    assert_eq!(before.pacers.version, before.snapshot.version);
    let reply = exchange.admin_reload(&client).await;
    assert_eq!(reply.status, 200);
    // No request has run since: the pacer table of the new snapshot was built by the
    // reload, not by the first request after it.
    let after = exchange.state.serving();
    assert_eq!(after.snapshot.version, before.snapshot.version + 1);
    assert_eq!(after.pacers.version, after.snapshot.version);
    assert!(
        after.pacers.by_id.iter().flatten().count() > 0,
        "the sample campaigns have budgets"
    );
    exchange.shutdown().await;
}
