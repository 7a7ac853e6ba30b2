//! Frequency caps and budgets end to end, on the in-process store and on a real Redis:
//! caps per user, notices counted once, two nodes sharing one budget under concurrent
//! load, and a Redis that dies mid-run and comes back.

use http::{Method, StatusCode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tests::redis_server::{unique_prefix, RedisServer};
use tests::{Client, TestExchange, TEST_NOW};

/// Price of one impression at 20 CPM, micros.
const IMPRESSION_MICROS: i64 = 20_000;

fn campaign(id: &str, bid: f64, daily: f64, cap: &str) -> String {
    format!(
        r#"{{"id":"{id}","name":"{id}","advertiser":"adv-{id}","adomain":["{id}.example"],
        "pricing":{{"model":"cpm","bid":{bid}}},"budget":{{"daily":{daily}}}{cap},
        "creatives":[{{"id":"b1","format":"banner","w":300,"h":250,
          "image_url":"https://img.example/{id}.jpg","landing_url":"https://{id}.example/p"}}]}}"#
    )
}

fn campaigns(list: &[String]) -> String {
    format!(r#"{{"campaigns":[{}]}}"#, list.join(","))
}

/// A first-price banner request (so the cleared price is the bid), from `user` if any.
fn request(id: &str, user: Option<&str>) -> String {
    let user = user.map_or(String::new(), |u| format!(r#","user":{{"id":"{u}"}}"#));
    format!(
        r#"{{"id":"{id}","at":1,"tmax":500,"imp":[{{"id":"1","banner":{{"w":300,"h":250}}}}],
        "site":{{"id":"s1","domain":"news.example","page":"https://news.example/a"}}{user}}}"#
    )
}

async fn fire(client: &Client, url: &str) {
    let reply = client.get(url).await;
    assert_eq!(
        reply.status,
        StatusCode::NO_CONTENT,
        "{url}: {}",
        String::from_utf8_lossy(&reply.body)
    );
}

fn today() -> i64 {
    TEST_NOW.div_euclid(86_400)
}

async fn caps_hold_and_notices_count_once(exchange: TestExchange) {
    let client = Client::new();
    let auction = exchange.url("/openrtb2/auction");
    let mut fills = 0;
    for i in 0..6 {
        let reply = client
            .post(&auction, request(&format!("r{i}"), Some("shopper-1")))
            .await;
        if reply.status == StatusCode::OK {
            fills += 1;
            let (cid, nurl, burl) = reply.first_bid_notices();
            assert_eq!(cid, "capped");
            assert!(nurl.contains("&user="), "{nurl}");
            // The win, the bill, and a replay of the win: one impression, one charge.
            fire(&client, &nurl).await;
            fire(&client, &burl).await;
            fire(&client, &nurl).await;
        } else {
            assert_eq!(reply.status, StatusCode::NO_CONTENT);
        }
        exchange.writes_landed().await;
    }
    assert_eq!(fills, 3, "a 3-per-day cap, sequential requests of one user");
    let debug = client
        .post(
            &exchange.url("/openrtb2/auction?debug=1"),
            request("r-debug", Some("shopper-1")),
        )
        .await
        .json();
    let row = &debug["ext"]["debug"]["imps"][0]["candidates"][0];
    assert_eq!(row["campaign"], "capped");
    assert_eq!(row["reason"], "capped", "the debug view says why: {debug}");
    let other = client
        .post(&auction, request("r-other", Some("shopper-2")))
        .await;
    assert_eq!(other.status, StatusCode::OK, "another user is not capped");
    let anonymous = client.post(&auction, request("r-anon", None)).await;
    assert_eq!(
        anonymous.status,
        StatusCode::NO_CONTENT,
        "the cap does not allow anonymous traffic"
    );
    use exchange::shared::PacingStore;
    let spend = exchange
        .state
        .shared
        .spend("capped", today())
        .await
        .expect("spend");
    assert_eq!(
        spend.spent_day,
        3 * IMPRESSION_MICROS,
        "each impression charged once"
    );
    let writes = &exchange.state.writer.stats;
    assert_eq!(
        writes.counted.load(Ordering::Relaxed),
        6,
        "3 spends + 3 impressions"
    );
    assert_eq!(
        writes.replayed.load(Ordering::Relaxed),
        12,
        "2 replays × 2 writes × 3"
    );
    let metrics =
        String::from_utf8_lossy(&client.get(&exchange.url("/metrics")).await.body).into_owned();
    for line in [
        "exchange_store_writes_total{result=\"counted\"} 6",
        "exchange_store_writes_total{result=\"replayed\"} 12",
        "exchange_budget_charges_total{result=\"charged\"} 4",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    assert!(
        metrics.contains("exchange_frequency_blocks_total{reason=\"capped\"}")
            && !metrics.contains("exchange_frequency_blocks_total{reason=\"capped\"} 0"),
        "{metrics}"
    );
    // The pacing view behind the admin token.
    let path = exchange.url("/admin/campaigns/capped/pacing");
    let view = client
        .send(
            Method::GET,
            &path,
            &[("authorization", "Bearer test-token")],
            "",
        )
        .await;
    assert_eq!(view.status, StatusCode::OK);
    let view = view.json();
    assert_eq!(view["mode"], "even");
    assert!(
        view["throttle"]
            .as_f64()
            .is_some_and(|t| t > 0.0 && t <= 1.0),
        "{view}"
    );
    assert!(
        view["lease"]["held"].as_f64().is_some_and(|h| h > 0.0),
        "{view}"
    );
    assert!(view["target_now"].as_f64().is_some(), "{view}");
    let refused = client.get(&path).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let unknown = client
        .send(
            Method::GET,
            &exchange.url("/admin/campaigns/nope/pacing"),
            &[("authorization", "Bearer test-token")],
            "",
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    exchange.shutdown().await;
}

fn capped_campaigns() -> String {
    campaigns(&[campaign(
        "capped",
        20.0,
        1000.0,
        r#","frequency_cap":{"count":3,"window":"1d"}"#,
    )])
}

#[tokio::test]
async fn caps_hold_and_notices_count_once_in_process() {
    let exchange = TestExchange::builder()
        .campaigns(&capped_campaigns())
        .start()
        .await;
    caps_hold_and_notices_count_once(exchange).await;
}

#[tokio::test]
async fn caps_hold_and_notices_count_once_on_redis() {
    let redis = RedisServer::shared_or_own();
    let exchange = TestExchange::builder()
        .campaigns(&capped_campaigns())
        .redis(redis.url(), &unique_prefix())
        .start()
        .await;
    caps_hold_and_notices_count_once(exchange).await;
}

/// Sends requests from `clients` concurrent clients spread over `nodes` until none fills
/// for a while; every fill fires its win notice at another node (as a load balancer
/// would). Returns the fills.
async fn drain_budget(nodes: &[Arc<TestExchange>], clients: usize) -> u64 {
    let fills = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let nodes: Vec<Arc<TestExchange>> = nodes.to_vec();
        let fills = Arc::clone(&fills);
        let sent = Arc::clone(&sent);
        tasks.push(tokio::spawn(async move {
            let client = Client::new();
            let mut empty_in_a_row = 0;
            let mut i = 0usize;
            while empty_in_a_row < 40 && i < 400 {
                let n = sent.fetch_add(1, Ordering::Relaxed) as usize;
                let node = &nodes[(c + i) % nodes.len()];
                let reply = client
                    .post(
                        &node.url("/openrtb2/auction"),
                        request(&format!("c{c}-{i}"), Some(&format!("u{n}"))),
                    )
                    .await;
                if reply.status == StatusCode::OK {
                    empty_in_a_row = 0;
                    fills.fetch_add(1, Ordering::Relaxed);
                    let (_, nurl, _) = reply.first_bid_notices();
                    let other = &nodes[(c + i + 1) % nodes.len()];
                    let nurl = nurl.replace(&node.url(""), &other.url(""));
                    fire(&client, &nurl).await;
                } else {
                    empty_in_a_row += 1;
                    // Give leases a moment to move between nodes.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                i += 1;
            }
        }));
    }
    for task in tasks {
        task.await.expect("client task");
    }
    fills.load(Ordering::Relaxed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_one_budget_within_the_documented_bound() {
    let redis = RedisServer::shared_or_own();
    let prefix = unique_prefix();
    // 1.0 a day at 20 CPM: 50 impressions.
    let budget_micros = 1_000_000;
    let file = campaigns(&[campaign("budgeted", 20.0, 1.0, "")]);
    let config =
        "[store]\nsettle_ms = 50\nlease_ttl_ms = 2000\nmax_lease_share = 0.2\nlease_secs = 1.0";
    let mut nodes = Vec::new();
    for _ in 0..2 {
        nodes.push(Arc::new(
            TestExchange::builder()
                .campaigns(&file)
                .config(config)
                .redis(redis.url(), &prefix)
                .start()
                .await,
        ));
    }
    let clients = 8;
    let fills = drain_budget(&nodes, clients).await;
    for node in &nodes {
        node.writes_landed().await;
    }
    use exchange::shared::PacingStore;
    let spend = nodes[0]
        .state
        .shared
        .spend("budgeted", today())
        .await
        .expect("spend");
    // Every fill fired one notice and every notice landed once: spend is exact.
    assert_eq!(spend.spent_day, fills as i64 * IMPRESSION_MICROS);
    // The bound: the impressions in flight when a lease ran out, at most one per client.
    let bound = clients as i64 * IMPRESSION_MICROS;
    println!(
        "two nodes: budget {budget_micros} µ, spent {} µ ({} fills), bound {bound} µ",
        spend.spent_day, fills
    );
    assert!(
        spend.spent_day <= budget_micros + bound,
        "spent {} > budget {budget_micros} + bound {bound}",
        spend.spent_day
    );
    assert!(
        spend.spent_day >= budget_micros * 8 / 10,
        "the budget was used: {} of {budget_micros}",
        spend.spent_day
    );
    // Both nodes have stopped bidding.
    let client = Client::new();
    for node in &nodes {
        let reply = client
            .post(
                &node.url("/openrtb2/auction"),
                request("after", Some("late")),
            )
            .await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "budget exhausted");
    }
    for node in nodes {
        Arc::into_inner(node).expect("sole owner").shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_follows_the_cap_policy_and_recovers() {
    let mut redis = RedisServer::own();
    let file = campaigns(&[
        campaign(
            "closed",
            20.0,
            1000.0,
            r#","frequency_cap":{"count":1000,"window":"1d"}"#,
        ),
        campaign(
            "open",
            10.0,
            1000.0,
            r#","frequency_cap":{"count":1000,"window":"1d","on_store_error":"open"}"#,
        ),
    ]);
    let exchange = TestExchange::builder()
        .campaigns(&file)
        .config("[store]\nlease_ttl_ms = 60000\nread_timeout_ms = 20")
        .redis(redis.url(), &unique_prefix())
        .start()
        .await;
    let client = Client::new();
    let auction = exchange.url("/openrtb2/auction");
    let mut expected_micros = 0i64;
    let serve = |i: usize| {
        let client = &client;
        let auction = auction.clone();
        async move {
            let reply = client
                .post(&auction, request(&format!("o{i}"), Some("shopper-9")))
                .await;
            assert_eq!(reply.status, StatusCode::OK, "always answered");
            let (cid, nurl, _) = reply.first_bid_notices();
            fire(client, &nurl).await;
            cid
        }
    };
    assert_eq!(
        serve(0).await,
        "closed",
        "Redis up: the better campaign wins"
    );
    expected_micros += IMPRESSION_MICROS;
    redis.kill();
    for i in 1..6 {
        assert_eq!(
            serve(i).await,
            "open",
            "Redis down: the fail-closed campaign is out, the fail-open one serves"
        );
        expected_micros += IMPRESSION_MICROS / 2;
    }
    assert!(
        exchange.state.caps.reads_failed.load(Ordering::Relaxed)
            + exchange.state.caps.reads_late.load(Ordering::Relaxed)
            >= 5
    );
    redis.start();
    let until = Instant::now() + Duration::from_secs(30);
    let mut i = 6;
    loop {
        let cid = serve(i).await;
        expected_micros += if cid == "closed" {
            IMPRESSION_MICROS
        } else {
            IMPRESSION_MICROS / 2
        };
        i += 1;
        if cid == "closed" {
            break;
        }
        assert!(
            Instant::now() < until,
            "the store did not recover by itself"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Notices taken while Redis was down were retried until they landed; once each.
    exchange.writes_landed().await;
    use exchange::shared::PacingStore;
    let mut committed = 0;
    for id in ["closed", "open"] {
        committed += exchange
            .state
            .shared
            .spend(id, today())
            .await
            .expect("spend")
            .spent_day;
    }
    assert_eq!(committed, expected_micros);
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_users_cap_holds_across_two_nodes_on_one_redis() {
    let redis = RedisServer::shared_or_own();
    one_users_cap_holds_across_two_nodes(redis.url(), "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_users_cap_holds_across_two_nodes_on_a_redis_cluster() {
    let cluster = tests::redis_cluster::RedisCluster::start();
    one_users_cap_holds_across_two_nodes(&cluster.seeds(), "[store]\ncluster = true").await;
}

/// Two nodes on the store at `url` (with `config`): one user's sequential requests over
/// both get exactly the cap; concurrent requests of another pass it by at most the
/// requests in flight.
async fn one_users_cap_holds_across_two_nodes(url: &str, config: &str) {
    let prefix = unique_prefix();
    let file = campaigns(&[campaign(
        "capped",
        20.0,
        1000.0,
        r#","frequency_cap":{"count":5,"window":"1d"}"#,
    )]);
    let mut nodes = Vec::new();
    for _ in 0..2 {
        nodes.push(Arc::new(
            TestExchange::builder()
                .campaigns(&file)
                .config(config)
                .redis(url, &prefix)
                .start()
                .await,
        ));
    }
    // Sequential requests alternating between the nodes: exactly the cap.
    let client = Client::new();
    let mut fills = 0;
    for i in 0..10 {
        let node = &nodes[i % 2];
        let reply = client
            .post(
                &node.url("/openrtb2/auction"),
                request(&format!("s{i}"), Some("walker")),
            )
            .await;
        if reply.status == StatusCode::OK {
            fills += 1;
            let (_, nurl, _) = reply.first_bid_notices();
            fire(&client, &nurl).await;
            node.writes_landed().await;
        }
    }
    assert_eq!(fills, 5, "sequential requests of one user over two nodes");
    // Concurrent requests of another user: the cap can be passed only by the requests
    // in flight between a read and the notices of earlier wins.
    let clients = 6;
    let total = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let nodes = nodes.clone();
        let total = Arc::clone(&total);
        tasks.push(tokio::spawn(async move {
            let client = Client::new();
            for i in 0..6 {
                let node = &nodes[(c + i) % 2];
                let reply = client
                    .post(
                        &node.url("/openrtb2/auction"),
                        request(&format!("p{c}-{i}"), Some("runner")),
                    )
                    .await;
                if reply.status == StatusCode::OK {
                    total.fetch_add(1, Ordering::Relaxed);
                    let (_, nurl, _) = reply.first_bid_notices();
                    fire(&client, &nurl).await;
                    node.writes_landed().await;
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("client");
    }
    let fills = total.load(Ordering::Relaxed);
    println!("concurrent ({url}): {fills} impressions for a cap of 5 with {clients} clients");
    assert!(fills >= 5, "the cap is reached: {fills}");
    assert!(
        fills <= 5 + clients as u64,
        "at most the in-flight requests over the cap: {fills}"
    );
    for node in nodes {
        Arc::into_inner(node).expect("sole owner").shutdown().await;
    }
}

/// Request → win notice → request, for `users` users, `rounds` times each: the fills per
/// user. The notice is answered once its counter is in the store, so the next request of
/// the same user reads it.
async fn sequential_fills(exchange: &TestExchange, users: usize, rounds: usize) -> Vec<usize> {
    let client = Client::new();
    let auction = exchange.url("/openrtb2/auction");
    let mut fills = vec![0; users];
    for round in 0..rounds {
        for (user, filled) in fills.iter_mut().enumerate() {
            let reply = client
                .post(
                    &auction,
                    request(&format!("s{user}-{round}"), Some(&format!("seq-{user}"))),
                )
                .await;
            if reply.status == StatusCode::OK {
                *filled += 1;
                let (_, nurl, burl) = reply.first_bid_notices();
                fire(&client, &nurl).await;
                fire(&client, &burl).await;
            }
        }
    }
    fills
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cap_is_exact_for_sequential_requests_on_one_redis() {
    let redis = RedisServer::shared_or_own();
    a_cap_is_exact_for_sequential_requests(redis.url(), "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cap_is_exact_for_sequential_requests_on_a_redis_cluster() {
    let cluster = tests::redis_cluster::RedisCluster::start();
    a_cap_is_exact_for_sequential_requests(&cluster.seeds(), "cluster = true\n").await;
}

/// 40 users × 5 request → notice rounds on the store at `url` (`store` settings `extra`):
/// exactly 3 fills each.
async fn a_cap_is_exact_for_sequential_requests(url: &str, extra: &str) {
    let exchange = TestExchange::builder()
        .campaigns(&capped_campaigns())
        .config(&format!("[store]\n{extra}read_timeout_ms = 200"))
        .redis(url, &unique_prefix())
        .start()
        .await;
    let fills = sequential_fills(&exchange, 40, 5).await;
    assert!(
        fills.iter().all(|&f| f == 3),
        "3 a day for every user: {fills:?}"
    );
    exchange.shutdown().await;
}
