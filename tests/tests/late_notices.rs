//! A budget holds when notices come late: publishers fire `nurl`/`burl` seconds or
//! minutes after the auction. Money a win took stays reserved until its notice commits,
//! so nodes cannot lease it again in between. Drained by concurrent clients with every
//! notice held back, on the in-process store (one node) and on one Redis (two nodes).

use http::StatusCode;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tests::redis_server::{unique_prefix, RedisServer};
use tests::{Client, TestExchange, TEST_NOW};

/// 1.0 a day at 20 CPM: 50 impressions.
const BUDGET_MICROS: i64 = 1_000_000;
const CONFIG: &str =
    "[store]\nsettle_ms = 50\nlease_ttl_ms = 2000\nmax_lease_share = 0.2\nlease_secs = 1.0\nread_timeout_ms = 200";

fn campaigns() -> String {
    r#"{"campaigns":[{"id":"late","name":"late","advertiser":"adv","adomain":["late.example"],
      "pricing":{"model":"cpm","bid":20},"budget":{"daily":1.0,"pacing":"asap"},
      "creatives":[{"id":"b1","format":"banner","w":300,"h":250,
        "image_url":"https://img.example/l.jpg","landing_url":"https://late.example/p"}]}]}"#
        .to_owned()
}

fn request(id: &str, user: &str) -> String {
    format!(
        r#"{{"id":"{id}","at":1,"tmax":500,"imp":[{{"id":"1","banner":{{"w":300,"h":250}}}}],
        "site":{{"id":"s1","domain":"news.example"}},"user":{{"id":"{user}"}}}}"#
    )
}

/// Serves from `nodes` with 4 clients until nothing fills for a while, firing each win
/// notice `delay` after its auction (at another node); returns the fills once every
/// notice has been fired and landed.
async fn drain_with_late_notices(nodes: &[Arc<TestExchange>], delay: Duration) -> u64 {
    let due: Arc<Mutex<VecDeque<(Instant, String)>>> = Arc::default();
    let fills = Arc::new(AtomicU64::new(0));
    let serving = Arc::new(AtomicBool::new(true));
    let firer = {
        let (due, serving) = (Arc::clone(&due), Arc::clone(&serving));
        tokio::spawn(async move {
            let client = Client::new();
            loop {
                let next = due.lock().expect("queue").front().cloned();
                match next {
                    Some((at, url)) if at <= Instant::now() => {
                        due.lock().expect("queue").pop_front();
                        let status = client.get(&url).await.status;
                        assert_eq!(status, StatusCode::NO_CONTENT, "{url}");
                    }
                    Some(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                    None if !serving.load(Ordering::Relaxed) => return,
                    None => tokio::time::sleep(Duration::from_millis(5)).await,
                }
            }
        })
    };
    let mut clients = Vec::new();
    for c in 0..4 {
        let nodes: Vec<Arc<TestExchange>> = nodes.to_vec();
        let (due, fills) = (Arc::clone(&due), Arc::clone(&fills));
        clients.push(tokio::spawn(async move {
            let client = Client::new();
            let mut quiet_since = Instant::now();
            let mut i = 0usize;
            // Until nothing filled for 1.5 s (leases have had time to move between nodes).
            while quiet_since.elapsed() < Duration::from_millis(1_500) && i < 2_000 {
                let node = &nodes[(c + i) % nodes.len()];
                let reply = client
                    .post(
                        &node.url("/openrtb2/auction"),
                        request(&format!("c{c}-{i}"), &format!("u{c}-{i}")),
                    )
                    .await;
                if reply.status == StatusCode::OK {
                    quiet_since = Instant::now();
                    fills.fetch_add(1, Ordering::Relaxed);
                    let (_, nurl, _) = reply.first_bid_notices();
                    let other = &nodes[(c + i + 1) % nodes.len()];
                    let nurl = nurl.replace(&node.url(""), &other.url(""));
                    due.lock()
                        .expect("queue")
                        .push_back((Instant::now() + delay, nurl));
                } else {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                i += 1;
            }
        }));
    }
    for client in clients {
        client.await.expect("client");
    }
    serving.store(false, Ordering::Relaxed);
    firer.await.expect("firer");
    for node in nodes {
        node.writes_landed().await;
    }
    fills.load(Ordering::Relaxed)
}

async fn committed(node: &TestExchange) -> i64 {
    use exchange::shared::PacingStore;
    node.state
        .shared
        .spend("late", TEST_NOW.div_euclid(86_400))
        .await
        .expect("spend")
        .spent_day
}

/// Spend within 1% of the budget, and at least half of it used.
async fn assert_held(nodes: Vec<Arc<TestExchange>>, delay: Duration) {
    let fills = drain_with_late_notices(&nodes, delay).await;
    let spent = committed(&nodes[0]).await;
    assert_eq!(spent, fills as i64 * 20_000, "every fill committed once");
    assert!(
        spent * 100 <= BUDGET_MICROS * 101,
        "notices {delay:?} late: {spent} committed on a budget of {BUDGET_MICROS} ({fills} fills)"
    );
    assert!(spent * 2 >= BUDGET_MICROS, "the budget was used: {spent}");
    for node in nodes {
        Arc::into_inner(node).expect("sole owner").shutdown().await;
    }
}

async fn one_node_in_process() -> Vec<Arc<TestExchange>> {
    vec![Arc::new(
        TestExchange::builder()
            .campaigns(&campaigns())
            .config(CONFIG)
            .start()
            .await,
    )]
}

async fn two_nodes_on(redis: &RedisServer) -> Vec<Arc<TestExchange>> {
    let prefix = unique_prefix();
    let mut nodes = Vec::new();
    for _ in 0..2 {
        nodes.push(Arc::new(
            TestExchange::builder()
                .campaigns(&campaigns())
                .config(CONFIG)
                .redis(redis.url(), &prefix)
                .start()
                .await,
        ));
    }
    nodes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_notices_keep_the_budget_in_process() {
    assert_held(one_node_in_process().await, Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_ten_seconds_late_keep_the_budget_in_process() {
    assert_held(one_node_in_process().await, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_notices_keep_the_budget_on_two_nodes() {
    let redis = RedisServer::shared_or_own();
    assert_held(two_nodes_on(&redis).await, Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_ten_seconds_late_keep_the_budget_on_two_nodes() {
    let redis = RedisServer::shared_or_own();
    assert_held(two_nodes_on(&redis).await, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_ten_seconds_late_keep_the_budget_on_a_redis_cluster() {
    let cluster = tests::redis_cluster::RedisCluster::start();
    let prefix = unique_prefix();
    let config = format!("{CONFIG}\ncluster = true");
    let mut nodes = Vec::new();
    for _ in 0..2 {
        nodes.push(Arc::new(
            TestExchange::builder()
                .campaigns(&campaigns())
                .config(&config)
                .redis(&cluster.seeds(), &prefix)
                .start()
                .await,
        ));
    }
    assert_held(nodes, Duration::from_secs(10)).await;
}
