//! The money path's notices attacked on real sockets: forged, altered, over-priced,
//! expired, signed with a retired key, for a campaign that is gone, and flooded — on the
//! in-process store and on a real Redis. Nothing refused writes anything; genuine notices
//! keep landing, once each.

use exchange::notice::Rejection;
use exchange::shared::PacingStore;
use http::StatusCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tests::redis_server::{keys_under, unique_prefix, RedisServer};
use tests::{Client, Reply, TestExchange, TEST_NOW};

/// Price of one impression at 20 CPM, micros.
const IMPRESSION_MICROS: i64 = 20_000;
/// Keys of a deployment before a rotation, and after it.
const OLD_KEYS: &str = "k1:old-notice-secret-0123456789abcdef0123";
const ROTATED_KEYS: &str =
    "k2:new-notice-secret-0123456789abcdef0123,k1:old-notice-secret-0123456789abcdef0123";
const NEW_KEYS: &str = "k2:new-notice-secret-0123456789abcdef0123";

fn campaign(id: &str, bid: f64) -> String {
    tests::banner_campaign(id, bid, r#","frequency_cap":{"count":2,"window":"1d"}"#)
}

/// `winner` bids 20 CPM, `other` 10: every auction goes to `winner` until it is capped.
fn two_campaigns() -> String {
    tests::campaign_file(&[campaign("winner", 20.0), campaign("other", 10.0)])
}

fn request(id: &str, user: &str) -> String {
    format!(
        r#"{{"id":"{id}","at":1,"tmax":500,"imp":[{{"id":"1","banner":{{"w":300,"h":250}}}}],
        "site":{{"id":"s1","domain":"news.example","page":"https://news.example/a"}},
        "user":{{"id":"{user}"}}}}"#
    )
}

async fn auction(exchange: &TestExchange, client: &Client, id: &str, user: &str) -> Reply {
    let reply = client
        .post(&exchange.url("/openrtb2/auction"), request(id, user))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{id}");
    reply
}

/// The reason a refused notice gives, and its status.
async fn refused(client: &Client, url: &str) -> (u16, String) {
    let reply = client.get(url).await;
    assert_ne!(reply.status, StatusCode::NO_CONTENT, "{url} was accepted");
    let reason = reply.json()["reason"].as_str().unwrap_or("").to_owned();
    (reply.status.as_u16(), reason)
}

async fn spent(exchange: &TestExchange, campaign: &str) -> i64 {
    exchange
        .state
        .shared
        .spend(campaign, TEST_NOW.div_euclid(86_400))
        .await
        .expect("spend")
        .spent_total
}

fn counted(exchange: &TestExchange) -> u64 {
    exchange.state.writer.stats.counted.load(Ordering::Relaxed)
}

async fn forged_and_altered_notices_write_nothing(exchange: TestExchange) {
    let client = Client::new();
    // Hand-made notices in the old, unsigned layout: the attack of the issue, 60 times.
    for i in 0..60 {
        let forged = exchange.url(&format!(
            "/notice/win?auction=f{i}&imp=1&bid=f{i}-0&campaign=winner&cur=USD&price=100000"
        ));
        assert_eq!(refused(&client, &forged).await, (403, "unsigned".into()));
    }
    let reply = auction(&exchange, &client, "r1", "shopper").await;
    let (cid, nurl, burl) = reply.first_bid_notices();
    assert_eq!(cid, "winner");
    let bid_price = "20";
    assert!(nurl.ends_with(&format!("&price={bid_price}")), "{nurl}");
    let cases = [
        // Another campaign's money.
        (
            nurl.replace("campaign=winner", "campaign=other"),
            403,
            "bad_signature",
        ),
        // Another currency, or a higher signed maximum.
        (nurl.replace("cur=USD", "cur=CNY"), 403, "bad_signature"),
        (nurl.replace("max=20", "max=2000"), 403, "bad_signature"),
        // Another auction (a second charge for one impression).
        (nurl.replace("auction=", "auction=x"), 403, "bad_signature"),
        // A price above the bid, sent before the genuine notice.
        (
            nurl.replace("&price=20", "&price=20.5"),
            400,
            "price_above_bid",
        ),
        (
            nurl.replace("&price=20", "&price=100000"),
            400,
            "price_above_bid",
        ),
        (
            nurl.replace("&price=20", "&price=${AUCTION_PRICE:B64}"),
            400,
            "bad_price",
        ),
        // A second campaign or price after the signed part.
        (format!("{nurl}&campaign=other"), 400, "malformed"),
        (format!("{nurl}&price=1"), 400, "malformed"),
        // The signature cut off.
        (
            nurl.split("&sig=").next().expect("sig").to_owned() + "&price=1",
            403,
            "unsigned",
        ),
    ];
    for (url, status, reason) in &cases {
        assert_eq!(
            refused(&client, url).await,
            (*status, (*reason).to_owned()),
            "{url}"
        );
    }
    // The user key copied out of a real nurl into made-up zero-price wins: no cap.
    let user = nurl
        .split("&user=")
        .nth(1)
        .and_then(|rest| rest.split('&').next())
        .expect("a user key");
    for i in 0..2 {
        let forged = exchange.url(&format!(
            "/notice/win?auction=z{i}&imp=1&bid=z{i}-0&campaign=winner&cur=USD&user={user}&price=0"
        ));
        assert_eq!(refused(&client, &forged).await.1, "unsigned");
    }
    exchange.writes_landed().await;
    assert_eq!(counted(&exchange), 0, "nothing refused was written");
    assert_eq!(spent(&exchange, "winner").await, 0);
    assert_eq!(spent(&exchange, "other").await, 0);
    // The user is not capped by the forgeries: the next auction still goes to `winner`.
    let again = auction(&exchange, &client, "r2", "shopper").await;
    assert_eq!(again.first_bid_notices().0, "winner");
    // The genuine notices: one charge at the price filled in, however often they come.
    for url in [&nurl, &burl, &nurl] {
        assert_eq!(
            client.get(url).await.status,
            StatusCode::NO_CONTENT,
            "{url}"
        );
    }
    exchange.writes_landed().await;
    assert_eq!(spent(&exchange, "winner").await, IMPRESSION_MICROS);
    assert_eq!(counted(&exchange), 2, "one spend, one impression");
    let metrics =
        String::from_utf8_lossy(&client.get(&exchange.url("/metrics")).await.body).into_owned();
    for (reason, count) in [
        (Rejection::Unsigned, 63),
        (Rejection::BadSignature, 4),
        (Rejection::PriceAboveBid, 2),
        (Rejection::BadPrice, 1),
        (Rejection::Malformed, 2),
        (Rejection::Expired, 0),
    ] {
        let line = format!(
            "exchange_notices_rejected_total{{reason=\"{}\"}} {count}\n",
            reason.as_str()
        );
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }
    assert!(metrics.contains("exchange_notices_received_total{event=\"rejected\"} 72\n"));
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_altered_notices_write_nothing_in_process() {
    let exchange = TestExchange::builder()
        .campaigns(&two_campaigns())
        .start()
        .await;
    forged_and_altered_notices_write_nothing(exchange).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_altered_notices_write_nothing_on_redis() {
    let redis = RedisServer::shared_or_own();
    let prefix = unique_prefix();
    let exchange = TestExchange::builder()
        .campaigns(&two_campaigns())
        .redis(redis.url(), &prefix)
        // A debug build under a flood on 2 cores: the default 5 ms read deadline would
        // drop capped campaigns at random, which is not what these tests are about.
        .config("[store]\nread_timeout_ms = 200")
        .start()
        .await;
    forged_and_altered_notices_write_nothing(exchange).await;
    let (_, immortal) = keys_under(redis.url(), &prefix);
    assert_only_lifetime_totals(&immortal, &prefix);
}

/// Every key without a TTL is the lifetime spend of a campaign the snapshot serves (a
/// population bounded by the campaign file, not by what notices say).
fn assert_only_lifetime_totals(immortal: &[String], prefix: &str) {
    for key in immortal {
        assert!(
            [
                format!("{prefix}:b:{{winner}}:t"),
                format!("{prefix}:b:{{other}}:t")
            ]
            .contains(key),
            "a key without a TTL that is not a serving campaign's lifetime spend: {key}"
        );
    }
}

/// A node of the same deployment with other keys or another clock: the URL is fired at
/// it instead of the node that issued it.
async fn node(keys: &str, now: i64) -> TestExchange {
    TestExchange::builder()
        .campaigns(&two_campaigns())
        .notice_keys(keys)
        .clock(exchange::clock::Clock::Fixed(now))
        .start()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_and_urls_expire() {
    let issuer = node(OLD_KEYS, TEST_NOW).await;
    let client = Client::new();
    let reply = auction(&issuer, &client, "r1", "shopper").await;
    let (_, nurl, _) = reply.first_bid_notices();
    assert!(nurl.contains("&kid=k1&"), "{nurl}");
    let at = |node: &TestExchange| nurl.replace(&issuer.url(""), &node.url(""));
    // Mid-rotation (new key signs, old one still verifies): accepted.
    let rotated = node(ROTATED_KEYS, TEST_NOW).await;
    assert_eq!(
        client.get(&at(&rotated)).await.status,
        StatusCode::NO_CONTENT
    );
    let (_, new_nurl, _) = auction(&rotated, &client, "r2", "shopper")
        .await
        .first_bid_notices();
    assert!(new_nurl.contains("&kid=k2&"), "{new_nurl}");
    // Old key retired: refused, nothing written.
    let retired = node(NEW_KEYS, TEST_NOW).await;
    assert_eq!(
        refused(&client, &at(&retired)).await,
        (403, "unknown_key".into())
    );
    // A deployment with an unrelated key of the same id.
    let stranger = node("k1:some-other-secret-0123456789abcdef012", TEST_NOW).await;
    assert_eq!(
        refused(&client, &at(&stranger)).await,
        (403, "bad_signature".into())
    );
    // Past the validity window (one day by default); the last second still counts.
    let ttl = issuer.state.config.notices.ttl_secs as i64;
    let late = node(OLD_KEYS, TEST_NOW + ttl + 1).await;
    assert_eq!(refused(&client, &at(&late)).await, (403, "expired".into()));
    let last = node(OLD_KEYS, TEST_NOW + ttl).await;
    assert_eq!(client.get(&at(&last)).await.status, StatusCode::NO_CONTENT);
    for refusing in [&retired, &stranger, &late] {
        refusing.writes_landed().await;
        assert_eq!(counted(refusing), 0);
    }
    for exchange in [issuer, rotated, retired, stranger, late, last] {
        exchange.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_gone_from_the_snapshot_writes_nothing() {
    let exchange = TestExchange::builder()
        .campaigns(&two_campaigns())
        .start()
        .await;
    let client = Client::new();
    let (_, nurl, _) = auction(&exchange, &client, "r1", "shopper")
        .await
        .first_bid_notices();
    let remaining: Vec<_> = exchange
        .state
        .snapshots
        .load()
        .campaigns
        .iter()
        .filter(|c| c.id != "winner")
        .cloned()
        .collect();
    exchange.state.replace_campaigns(remaining);
    assert_eq!(
        refused(&client, &nurl).await,
        (410, "unknown_campaign".into())
    );
    exchange.writes_landed().await;
    assert_eq!(counted(&exchange), 0);
    assert_eq!(spent(&exchange, "winner").await, 0);
    exchange.shutdown().await;
}

/// Forged notices sent by `connections` concurrent clients, `per_connection` each, for
/// made-up campaigns, while genuine notices keep coming; how many genuine ones landed.
/// Then every genuine notice is replayed: after the flood they still count nothing more.
async fn flood(exchange: &Arc<TestExchange>, connections: usize, per_connection: usize) -> u64 {
    let genuine_urls = Arc::new(std::sync::Mutex::new(Vec::new()));
    let genuine = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (exchange, genuine, genuine_urls) = (
            Arc::clone(exchange),
            Arc::clone(&genuine),
            Arc::clone(&genuine_urls),
        );
        tasks.push(tokio::spawn(async move {
            let client = Client::new();
            for i in 0..per_connection {
                let url = exchange.url(&format!(
                    "/notice/bill?auction=a{c}-{i}&imp=1&bid=b&campaign=made-up-{c}-{i}&cur=USD&price=1"
                ));
                let reply = client.get(&url).await;
                assert_eq!(reply.status, StatusCode::FORBIDDEN);
                if i % 500 == 0 {
                    // A genuine auction and its notice, in the middle of the flood.
                    let id = format!("g{c}-{i}");
                    let reply = auction(&exchange, &client, &id, &format!("u{c}-{i}")).await;
                    let (_, nurl, _) = reply.first_bid_notices();
                    let status = client.get(&nurl).await.status;
                    assert_eq!(status, StatusCode::NO_CONTENT, "a genuine notice refused");
                    genuine.fetch_add(1, Ordering::Relaxed);
                    genuine_urls.lock().expect("urls").push(nurl);
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("flood task");
    }
    exchange.writes_landed().await;
    let counted_before = counted(exchange);
    let client = Client::new();
    let urls = std::mem::take(&mut *genuine_urls.lock().expect("urls"));
    for url in &urls {
        assert_eq!(
            client.get(url).await.status,
            StatusCode::NO_CONTENT,
            "a replay"
        );
    }
    exchange.writes_landed().await;
    assert_eq!(
        counted(exchange),
        counted_before,
        "replays after the flood count nothing"
    );
    genuine.load(Ordering::Relaxed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_forged_notices_writes_nothing_and_billing_goes_on_in_process() {
    let exchange = Arc::new(
        TestExchange::builder()
            .campaigns(&two_campaigns())
            .start()
            .await,
    );
    // The issue's flood: ~500,000 notices for made-up campaigns.
    let genuine = flood(&exchange, 8, 62_500).await;
    exchange.writes_landed().await;
    assert_eq!(genuine, 8 * 125);
    assert_eq!(
        counted(&exchange),
        2 * genuine,
        "genuine spends and impressions only"
    );
    assert_eq!(
        spent(&exchange, "winner").await,
        genuine as i64 * IMPRESSION_MICROS
    );
    assert_eq!(
        exchange
            .state
            .metrics
            .notice_rejection_count(Rejection::Unsigned),
        500_000
    );
    Arc::into_inner(exchange)
        .expect("sole owner")
        .shutdown()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_forged_notices_writes_nothing_and_billing_goes_on_on_redis() {
    let redis = RedisServer::shared_or_own();
    let prefix = unique_prefix();
    let exchange = Arc::new(
        TestExchange::builder()
            .campaigns(&two_campaigns())
            .redis(redis.url(), &prefix)
            // A debug build under a flood on 2 cores: the default 5 ms read deadline would
            // drop capped campaigns at random, which is not what these tests are about.
            .config("[store]\nread_timeout_ms = 200")
            .start()
            .await,
    );
    // The issue's flood on Redis: 200,000 notices for made-up campaigns.
    let genuine = flood(&exchange, 8, 25_000).await;
    exchange.writes_landed().await;
    assert_eq!(genuine, 8 * 50);
    assert_eq!(counted(&exchange), 2 * genuine);
    assert_eq!(
        spent(&exchange, "winner").await,
        genuine as i64 * IMPRESSION_MICROS
    );
    let (keys, immortal) = keys_under(redis.url(), &prefix);
    assert_only_lifetime_totals(&immortal, &prefix);
    // Per genuine notice: a spend marker, an impression marker, the user's hash; plus
    // the campaign's day and total budget hashes. Nothing for the 200,000 forgeries.
    assert!(keys <= 3 * genuine as usize + 4, "{keys} keys");
    Arc::into_inner(exchange)
        .expect("sole owner")
        .shutdown()
        .await;
}

/// Prebid.js fires the `burl` without filling `${AUCTION_PRICE}`: the notice bills the
/// signed clearing price instead of being refused, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_billing_notice_with_the_macro_unfilled_bills_the_signed_price() {
    let exchange = TestExchange::builder()
        .campaigns(&two_campaigns())
        .start()
        .await;
    let client = Client::new();
    let (_, _, burl) = auction(&exchange, &client, "r1", "shopper")
        .await
        .first_bid_notices();
    let unfilled = burl.replace("&price=20", "&price=${AUCTION_PRICE}");
    assert!(unfilled.ends_with("&price=${AUCTION_PRICE}"), "{unfilled}");
    for _ in 0..2 {
        assert_eq!(client.get(&unfilled).await.status, StatusCode::NO_CONTENT);
    }
    exchange.writes_landed().await;
    assert_eq!(
        spent(&exchange, "winner").await,
        IMPRESSION_MICROS,
        "billed once, at 20 CPM"
    );
    exchange.shutdown().await;
}
