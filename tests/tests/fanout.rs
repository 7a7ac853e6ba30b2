//! Fan-out end to end: the real exchange on port 0 calling mock DSPs (built on the
//! bidder SDK) on port 0, over real sockets.

use bidder_sdk::openrtb::decode_response;
use bidder_sdk::NoticeKind;
use loadtest::mock_bidder::spec::{Latency, Price};
use loadtest::mock_bidder::{spawn_local, MockConfig, MockHandle};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use tests::{corpus, metric, metrics, schema_errors, Client, TestExchange};

const NO_CAMPAIGNS: &str = r#"{"campaigns": []}"#;

/// A site banner request; `extra` is spliced into the top-level object.
fn banner_request(id: &str, extra: &str) -> String {
    format!(
        r#"{{"id":"{id}","tmax":300,"cur":["USD"],"at":2,{extra}
            "imp":[{{"id":"1","banner":{{"format":[{{"w":300,"h":250}}]}},"bidfloor":0.1}}],
            "site":{{"page":"https://news.example/running","domain":"news.example"}},
            "device":{{"geo":{{"country":"CHN"}},"devicetype":2}}}}"#
    )
}

/// `[[bidders]]` entries for the given mocks: (name, mock, extra TOML lines).
fn bidders(entries: &[(&str, &MockHandle, &str)]) -> String {
    entries
        .iter()
        .map(|(name, mock, extra)| {
            format!(
                "[[bidders]]\nname = \"{name}\"\nendpoint = \"{}\"\ntimeout_ms = 250\n{extra}\n",
                mock.endpoint()
            )
        })
        .collect()
}

fn mock(price: f64) -> MockConfig {
    MockConfig {
        latency: Latency::Fixed(Duration::from_millis(2)),
        price: Price::Fixed(price),
        ..MockConfig::default()
    }
}

async fn exchange(config: &str, campaigns: &str) -> TestExchange {
    TestExchange::builder()
        .config(config)
        .campaigns(campaigns)
        .start()
        .await
}

/// POSTs one auction request.
async fn auction(
    client: &Client,
    exchange: &TestExchange,
    body: impl Into<bytes::Bytes>,
) -> tests::Reply {
    client.post(&exchange.url("/openrtb2/auction"), body).await
}

/// The response as JSON with `${AUCTION_PRICE}` filled, as the publisher's ad server
/// would before firing a URL (a URL with the raw macro is not a valid URI).
fn substituted(body: &[u8]) -> serde_json::Value {
    let text = String::from_utf8_lossy(body).replace("${AUCTION_PRICE}", "1.5");
    serde_json::from_str(&text).expect("json")
}

/// Waits (bounded) until `check` holds; notices travel off the request path.
async fn eventually(what: &str, check: impl Fn() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}

#[tokio::test]
async fn external_bids_compete_with_campaigns_in_one_auction() {
    let rich = spawn_local(mock(50.0)).await.expect("mock");
    let poor = spawn_local(mock(0.0001)).await.expect("mock");
    let config = bidders(&[("rich", &rich, ""), ("poor", &poor, "")]);
    let exchange = exchange(&config, &tests::sample_campaigns()).await;
    let client = Client::new();
    let reply = auction(&client, &exchange, banner_request("r1", "")).await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let errors = schema_errors("BidResponse", &substituted(&reply.body));
    assert!(errors.is_empty(), "{errors:?}");
    let response = decode_response(&reply.body).expect("response");
    let seat = &response.seatbid[0];
    assert_eq!(
        seat.seat.as_deref(),
        Some("rich"),
        "50 CPM beats every sample campaign"
    );
    let bid = &seat.bid[0];
    assert!(
        bid.price > 0.1 && bid.price <= 50.0,
        "second price, at most the bid: {}",
        bid.price
    );
    let adm = bid.adm.as_deref().expect("markup");
    assert!(
        !adm.contains("${AUCTION_PRICE}"),
        "the DSP's macros are filled: {adm}"
    );
    assert!(
        bid.nurl.as_deref().expect("nurl").contains("/notice/win?"),
        "our own notice URL"
    );
    // Both bidders saw our auction id, a reduced tmax, and their currency.
    for mock in [&rich, &poor] {
        let seen = mock.stats.requests_seen();
        let sent = seen.last().expect("called");
        assert_eq!(
            sent.id,
            response.bidid.clone().expect("bidid"),
            "our id, not the publisher's"
        );
        assert_eq!(
            sent.source.as_ref().and_then(|s| s.tid.clone()),
            Some(sent.id.clone())
        );
        let tmax = sent.tmax.expect("tmax");
        assert!((10..300).contains(&tmax), "reduced for margins: {tmax}");
        assert_eq!(sent.cur, ["USD"]);
    }
    // With only the poor bidder, a campaign wins instead.
    let exchange2 =
        self::exchange(&bidders(&[("poor", &poor, "")]), &tests::sample_campaigns()).await;
    let reply = auction(&client, &exchange2, banner_request("r2", "")).await;
    let response = decode_response(&reply.body).expect("response");
    assert_ne!(response.seatbid[0].seat.as_deref(), Some("poor"));
    exchange.shutdown().await;
    exchange2.shutdown().await;
}

#[tokio::test]
async fn a_late_or_silent_bidder_is_cut_off_and_the_answer_is_in_time() {
    let slow = spawn_local(MockConfig {
        latency: Latency::Fixed(Duration::from_secs(3)),
        ..mock(9.0)
    })
    .await
    .expect("mock");
    let silent = spawn_local(MockConfig {
        never_answer: true,
        ..mock(9.0)
    })
    .await
    .expect("mock");
    let good = spawn_local(mock(2.0)).await.expect("mock");
    let config = bidders(&[
        ("slow", &slow, ""),
        ("silent", &silent, ""),
        ("good", &good, ""),
    ]);
    let exchange = exchange(&config, NO_CAMPAIGNS).await;
    let client = Client::new();
    let started = Instant::now();
    let reply = auction(
        &client,
        &exchange,
        banner_request("r", "").replace("\"tmax\":300", "\"tmax\":120"),
    )
    .await;
    let elapsed = started.elapsed();
    // The slow bidder would take 3 s and the silent one forever; the deadline is 120 ms.
    assert!(
        elapsed < Duration::from_secs(1),
        "answered after {elapsed:?}"
    );
    assert_eq!(reply.status, 200);
    let response = decode_response(&reply.body).expect("response");
    assert_eq!(response.seatbid[0].seat.as_deref(), Some("good"));
    let text = metrics(&client, &exchange).await;
    assert_eq!(
        metric(&text, "exchange_bidder_timeouts_total{bidder=\"slow\"}"),
        1.0
    );
    assert_eq!(
        metric(&text, "exchange_bidder_timeouts_total{bidder=\"silent\"}"),
        1.0
    );
    assert_eq!(
        metric(&text, "exchange_bidder_timeouts_total{bidder=\"good\"}"),
        0.0
    );
    exchange.shutdown().await;
}

#[tokio::test]
async fn broken_bidders_are_counted_and_the_auction_goes_on() {
    let erroring = spawn_local(MockConfig {
        error_rate: 1.0,
        ..mock(9.0)
    })
    .await
    .expect("mock");
    let garbage = spawn_local(MockConfig {
        garbage_rate: 1.0,
        ..mock(9.0)
    })
    .await
    .expect("mock");
    let huge = spawn_local(MockConfig {
        pad_bytes: 600 * 1024,
        ..mock(9.0)
    })
    .await
    .expect("mock");
    let good = spawn_local(mock(1.0)).await.expect("mock");
    // A port that was free a moment ago: connection refused.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let mut config = bidders(&[
        ("erroring", &erroring, ""),
        ("garbage", &garbage, ""),
        ("huge", &huge, ""),
        ("good", &good, ""),
    ]);
    config.push_str(&format!(
        "[[bidders]]\nname = \"refused\"\nendpoint = \"http://{closed}/bid\"\n"
    ));
    let exchange = exchange(&config, NO_CAMPAIGNS).await;
    let client = Client::new();
    let reply = auction(&client, &exchange, banner_request("r", "")).await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let response = decode_response(&reply.body).expect("response");
    assert_eq!(response.seatbid.len(), 1);
    assert_eq!(response.seatbid[0].seat.as_deref(), Some("good"));
    let text = metrics(&client, &exchange).await;
    for (bidder, kind) in [
        ("erroring", "http_status"),
        ("garbage", "undecodable"),
        ("huge", "too_large"),
        ("refused", "connect"),
    ] {
        let series = format!("exchange_bidder_errors_total{{bidder=\"{bidder}\",kind=\"{kind}\"}}");
        assert_eq!(metric(&text, &series), 1.0, "{series}");
    }
    exchange.shutdown().await;
}

#[tokio::test]
async fn gzip_bidders_get_and_give_gzip() {
    let zipped = spawn_local(mock(3.0)).await.expect("mock");
    let exchange = exchange(
        &bidders(&[("zipped", &zipped, "gzip = true")]),
        NO_CAMPAIGNS,
    )
    .await;
    let client = Client::new();
    let reply = auction(&client, &exchange, banner_request("r", "")).await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(
        decode_response(&reply.body).expect("response").seatbid[0]
            .seat
            .as_deref(),
        Some("zipped")
    );
    assert_eq!(
        zipped.stats.requests.load(Relaxed),
        1,
        "the SDK host decoded the gzip body"
    );
    exchange.shutdown().await;
}

#[tokio::test]
async fn bad_bids_are_dropped_with_reasons_and_told_why() {
    let dsp = spawn_local(mock(1.0)).await.expect("mock");
    let lurl = format!(
        "http://{}/notice/loss?auction=${{AUCTION_ID}}&bid=${{AUCTION_BID_ID}}&imp=${{AUCTION_IMP_ID}}&reason=${{AUCTION_LOSS}}",
        dsp.addr
    );
    let bid = |id: &str, extra: &str| {
        format!(
            r#"{{"id":"{id}","impid":"1","price":2.0,"crid":"c-{id}","adm":"<b>{id}</b>","lurl":"{lurl}"{extra}}}"#
        )
    };
    let canned = format!(
        r#"{{"id":"x","cur":"USD","seatbid":[{{"seat":"s","bid":[{},{},{},{},{},{}]}}]}}"#,
        bid("unknown-imp", "").replace("\"impid\":\"1\"", "\"impid\":\"9\""),
        bid("cheap", "").replace("\"price\":2.0", "\"price\":0.05"),
        bid("blocked", r#","adomain":["ads.blocked.example"]"#),
        bid("no-crid", "").replace(r#""crid":"c-no-crid","#, ""),
        bid("wrong-size", r#","w":728,"h":90"#),
        bid("good", r#","adomain":["fine.example"],"w":300,"h":250"#),
    );
    dsp.set_config(MockConfig {
        canned: Some(canned.into_bytes()),
        ..mock(1.0)
    });
    let other_currency = spawn_local(MockConfig {
        canned: Some(
            format!(
                r#"{{"id":"x","cur":"XAU","seatbid":[{{"bid":[{}]}}]}}"#,
                bid("gold", "")
            )
            .into_bytes(),
        ),
        ..mock(1.0)
    })
    .await
    .expect("mock");
    let config = bidders(&[("dsp", &dsp, ""), ("gold", &other_currency, "")]);
    let exchange = exchange(&config, NO_CAMPAIGNS).await;
    let client = Client::new();
    let reply = auction(
        &client,
        &exchange,
        banner_request("r", r#""badv":["blocked.example"],"#),
    )
    .await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let response = decode_response(&reply.body).expect("response");
    assert_eq!(response.seatbid[0].bid[0].crid.as_deref(), Some("c-good"));
    let text = metrics(&client, &exchange).await;
    for (bidder, reason) in [
        ("dsp", "unknown_imp"),
        ("dsp", "below_floor"),
        ("dsp", "blocked_adomain"),
        ("dsp", "missing_crid"),
        ("dsp", "size_mismatch"),
        ("gold", "currency_unsupported"),
    ] {
        let series = format!(
            "exchange_bidder_dropped_bids_total{{bidder=\"{bidder}\",reason=\"{reason}\"}}"
        );
        assert_eq!(metric(&text, &series), 1.0, "{series}");
    }
    // Loss notices name the reason: 100 below floor, 205 advertiser, 203 size, 8 no crid,
    // 3 invalid (unknown imp); the answer in an unknown currency gets none (not trusted).
    eventually("five loss notices", || dsp.stats.losses.load(Relaxed) == 5).await;
    let mut reasons: Vec<(String, i32)> = dsp
        .stats
        .notices()
        .into_iter()
        .filter(|(kind, _)| *kind == NoticeKind::Loss)
        .map(|(_, n)| (n.bid_id, n.loss_reason.expect("reason")))
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            ("blocked".to_owned(), 205),
            ("cheap".to_owned(), 100),
            ("no-crid".to_owned(), 8),
            ("unknown-imp".to_owned(), 3),
            ("wrong-size".to_owned(), 203),
        ]
    );
    assert_eq!(other_currency.stats.losses.load(Relaxed), 0);
    exchange.shutdown().await;
}

#[tokio::test]
async fn the_circuit_opens_on_failures_and_recovers() {
    let flaky = spawn_local(MockConfig {
        error_rate: 1.0,
        ..mock(2.0)
    })
    .await
    .expect("mock");
    let config = format!(
        "{}[fanout]\ncircuit_failures = 3\ncircuit_open_ms = 300\n",
        bidders(&[("flaky", &flaky, "")])
    );
    let exchange = exchange(&config, NO_CAMPAIGNS).await;
    let client = Client::new();
    let url = exchange.url("/openrtb2/auction");
    for i in 0..3 {
        assert_eq!(
            client
                .post(&url, banner_request(&format!("f{i}"), ""))
                .await
                .status,
            204
        );
    }
    let text = metrics(&client, &exchange).await;
    assert_eq!(
        metric(
            &text,
            "exchange_bidder_circuit_state{bidder=\"flaky\",state=\"open\"}"
        ),
        1.0
    );
    // Open: the bidder is skipped, not called.
    assert_eq!(
        client
            .post(&url, banner_request("skipped", ""))
            .await
            .status,
        204
    );
    assert_eq!(flaky.stats.requests.load(Relaxed), 3);
    let text = metrics(&client, &exchange).await;
    assert_eq!(
        metric(
            &text,
            "exchange_bidder_skipped_total{bidder=\"flaky\",reason=\"circuit_open\"}"
        ),
        1.0
    );
    // The bidder recovers; after open_ms one probe goes through and closes the circuit.
    flaky.set_config(mock(2.0));
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        client.post(&url, banner_request("probe", "")).await.status,
        200
    );
    let text = metrics(&client, &exchange).await;
    assert_eq!(
        metric(
            &text,
            "exchange_bidder_circuit_state{bidder=\"flaky\",state=\"closed\"}"
        ),
        0.0
    );
    assert_eq!(
        client.post(&url, banner_request("after", "")).await.status,
        200
    );
    exchange.shutdown().await;
}

#[tokio::test]
async fn the_winner_hears_its_clearing_price_and_the_loser_its_reason() {
    // The winner bids 21.3 CNY (3.00 USD); the loser 2.00 USD. Second price: the winner
    // pays 2.01 USD = 14.271 CNY, told in its own currency.
    let winner = spawn_local(MockConfig {
        currency: Some("CNY".into()),
        ..mock(21.3)
    })
    .await
    .expect("mock");
    let loser = spawn_local(mock(2.0)).await.expect("mock");
    let config = bidders(&[
        ("winner", &winner, "currency = \"CNY\""),
        ("loser", &loser, ""),
    ]);
    let exchange = exchange(&config, NO_CAMPAIGNS).await;
    let client = Client::new();
    let reply = auction(&client, &exchange, banner_request("r", "")).await;
    let response = decode_response(&reply.body).expect("response");
    let bid = &response.seatbid[0].bid[0];
    assert_eq!(response.seatbid[0].seat.as_deref(), Some("winner"));
    assert!(
        (bid.price - 2.01).abs() < 1e-9,
        "publisher price in USD: {}",
        bid.price
    );
    assert_eq!(
        winner.stats.requests_seen()[0].cur,
        ["CNY"],
        "asked in its currency"
    );
    eventually("win notice", || winner.stats.wins.load(Relaxed) == 1).await;
    eventually("loss notice", || loser.stats.losses.load(Relaxed) == 1).await;
    let (_, win) = winner
        .stats
        .notices()
        .into_iter()
        .find(|(k, _)| *k == NoticeKind::Win)
        .expect("win");
    assert_eq!(win.currency, "CNY");
    assert!((win.price.expect("price") - 14.271).abs() < 1e-6, "{win:?}");
    assert_eq!(win.auction_id, response.bidid.clone().expect("bidid"));
    let (_, loss) = loser
        .stats
        .notices()
        .into_iter()
        .find(|(k, _)| *k == NoticeKind::Loss)
        .expect("loss");
    assert_eq!(loss.loss_reason, Some(102), "lost to a higher bid");
    // Billing: the publisher fires our burl; the winner's burl follows, once.
    assert_eq!(
        winner.stats.bills.load(Relaxed),
        0,
        "no billing before the impression"
    );
    let burl = bid
        .burl
        .as_deref()
        .expect("burl")
        .replace("${AUCTION_PRICE}", "2.01");
    assert_eq!(client.get(&burl).await.status, 204);
    eventually("billing notice", || winner.stats.bills.load(Relaxed) == 1).await;
    assert_eq!(client.get(&burl).await.status, 204, "a replay is accepted");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(winner.stats.bills.load(Relaxed), 1, "but forwards nothing");
    let (_, bill) = winner
        .stats
        .notices()
        .into_iter()
        .find(|(k, _)| *k == NoticeKind::Billing)
        .expect("bill");
    assert!((bill.price.expect("price") - 14.271).abs() < 1e-6);
    let text = metrics(&client, &exchange).await;
    assert_eq!(
        metric(&text, "exchange_bidder_wins_total{bidder=\"winner\"}"),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            "exchange_bidder_notices_total{bidder=\"winner\",kind=\"win\",result=\"sent\"}"
        ),
        1.0
    );
    exchange.shutdown().await;
}

#[tokio::test]
async fn test_mode_bidders_are_screened_but_never_win() {
    let shadow = spawn_local(mock(50.0)).await.expect("mock");
    let exchange = exchange(
        &bidders(&[("shadow", &shadow, "test = true")]),
        NO_CAMPAIGNS,
    )
    .await;
    let client = Client::new();
    let reply = auction(&client, &exchange, banner_request("r", "")).await;
    assert_eq!(reply.status, 204);
    assert_eq!(shadow.stats.requests_seen()[0].test, Some(1));
    let text = metrics(&client, &exchange).await;
    assert_eq!(
        metric(
            &text,
            "exchange_bidder_dropped_bids_total{bidder=\"shadow\",reason=\"test_mode\"}"
        ),
        1.0
    );
    exchange.shutdown().await;
}

/// Every request/response pair of `SOURCES.md` through a mock DSP replaying the answer.
#[tokio::test]
async fn conformance_pairs_run_through_a_mock_dsp() {
    // (request, response, echo the id, imps expected filled)
    let pairs = [
        (
            "pbs-bidder-ix-video-structured-pod.json",
            "pbs-bidder-ix-video-structured-pod-response.json",
            true,
            1,
        ),
        (
            "pbs-bidder-blis-video.json",
            "pbs-bidder-blis-video-response.json",
            true,
            1,
        ),
        (
            "pbs-bidder-adtonos-audio.json",
            "pbs-bidder-adtonos-audio-response.json",
            true,
            1,
        ),
        (
            "pbs-bidder-aduptech-native-1.2.json",
            "pbs-bidder-aduptech-native-eur-response.json",
            true,
            1,
        ),
        (
            "pbs-bidder-ttd-video-cattax-schain.json",
            "pbs-bidder-ttd-video-cattax-response.json",
            false,
            0,
        ),
        (
            "pbs-bidder-freewheelssp-video-two-imps.json",
            "pbs-bidder-freewheelssp-video-eur-response.json",
            true,
            2,
        ),
    ];
    let requests = corpus("requests");
    let responses = corpus("responses");
    let find = |files: &[(String, Vec<u8>)], name: &str| {
        files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.clone())
            .unwrap_or_else(|| panic!("{name}"))
    };
    let dsp = spawn_local(mock(1.0)).await.expect("mock");
    let exchange = exchange(&bidders(&[("dsp", &dsp, "")]), NO_CAMPAIGNS).await;
    let client = Client::new();
    for (request, response, echo_id, filled) in pairs {
        dsp.set_config(MockConfig {
            canned: Some(find(&responses, response)),
            echo_id,
            ..mock(1.0)
        });
        let reply = auction(&client, &exchange, find(&requests, request)).await;
        if filled == 0 {
            assert_eq!(
                reply.status,
                204,
                "{request}: {}",
                String::from_utf8_lossy(&reply.body)
            );
            continue;
        }
        assert_eq!(
            reply.status,
            200,
            "{request}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        let errors = schema_errors("BidResponse", &substituted(&reply.body));
        assert!(errors.is_empty(), "{request}: {errors:?}");
        let published = decode_response(&reply.body).expect("response");
        let bids: Vec<_> = published.seatbid.iter().flat_map(|s| &s.bid).collect();
        assert_eq!(bids.len(), filled, "{request}");
        for bid in bids {
            assert!(
                bid.price > 0.0 && bid.adm.is_some() && bid.crid.is_some(),
                "{request}: {bid:?}"
            );
        }
    }
    let text = metrics(&client, &exchange).await;
    assert_eq!(
        metric(
            &text,
            "exchange_bidder_dropped_bids_total{bidder=\"dsp\",reason=\"duplicate_bid_id\"}"
        ),
        1.0,
        "the pod answer repeats a bid id"
    );
    assert_eq!(
        metric(
            &text,
            "exchange_bidder_dropped_bids_total{bidder=\"dsp\",reason=\"id_mismatch\"}"
        ),
        1.0,
        "the ttd answer's id is wrong"
    );
    exchange.shutdown().await;
}

/// Invalid bidder answers from the corpus are no-bids, never errors to the publisher.
#[tokio::test]
async fn invalid_bidder_answers_are_no_bids() {
    let dsp = spawn_local(mock(1.0)).await.expect("mock");
    let exchange = exchange(&bidders(&[("dsp", &dsp, "")]), NO_CAMPAIGNS).await;
    let client = Client::new();
    let mut checked = 0;
    for (name, body) in corpus("invalid")
        .into_iter()
        .filter(|(n, _)| n.contains("response"))
    {
        dsp.set_config(MockConfig {
            canned: Some(body),
            ..mock(1.0)
        });
        let reply = auction(
            &client,
            &exchange,
            banner_request(&format!("inv-{checked}"), ""),
        )
        .await;
        assert_eq!(
            reply.status,
            204,
            "{name}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        checked += 1;
    }
    assert!(
        checked >= 8,
        "only {checked} invalid responses in the corpus"
    );
    assert_eq!(client.get(&exchange.url("/healthz")).await.status, 200);
    exchange.shutdown().await;
}

#[tokio::test]
async fn a_bidder_over_its_qps_is_skipped_not_queued() {
    let limited = spawn_local(mock(2.0)).await.expect("mock");
    let exchange = exchange(
        &bidders(&[("limited", &limited, "max_qps = 1")]),
        NO_CAMPAIGNS,
    )
    .await;
    let client = Client::new();
    assert_eq!(
        auction(&client, &exchange, banner_request("q1", ""))
            .await
            .status,
        200
    );
    // Within the same second: over the limit, so no call and no bid.
    assert_eq!(
        auction(&client, &exchange, banner_request("q2", ""))
            .await
            .status,
        204
    );
    assert_eq!(limited.stats.requests.load(Relaxed), 1);
    let text = metrics(&client, &exchange).await;
    assert_eq!(
        metric(
            &text,
            "exchange_bidder_skipped_total{bidder=\"limited\",reason=\"throttled\"}"
        ),
        1.0
    );
    exchange.shutdown().await;
}

/// Checks OpenMetrics text: it ends with `# EOF`; every sample belongs to a family with a
/// `# TYPE`; each histogram's buckets are cumulative and its `+Inf` bucket equals its
/// count. Returns the families by type.
fn check_exposition(text: &str) -> std::collections::BTreeMap<String, String> {
    assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    let mut types = std::collections::BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("name and type");
            types.insert(name.to_owned(), kind.to_owned());
        }
    }
    let mut last_bucket: std::collections::HashMap<String, u64> = Default::default();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let series = line.split([' ', '{']).next().expect("series");
        let family = types
            .keys()
            .filter(|name| series.starts_with(name.as_str()))
            .max_by_key(|name| name.len())
            .unwrap_or_else(|| panic!("{line}: no # TYPE for it"));
        if types[family] == "histogram" && series.ends_with("_bucket") {
            let labels = line
                .split_once('{')
                .and_then(|(_, rest)| rest.split_once('}'))
                .map_or("", |(labels, _)| labels);
            let others: Vec<&str> = labels
                .split(',')
                .filter(|l| !l.starts_with("le="))
                .collect();
            let others = others.join(",");
            let value: u64 = line
                .rsplit(' ')
                .next()
                .expect("value")
                .parse()
                .expect("count");
            let previous = last_bucket
                .insert(format!("{family}{{{others}}}"), value)
                .unwrap_or(0);
            assert!(value >= previous, "{line}: buckets are cumulative");
            if labels.contains("le=\"+Inf\"") {
                let count_series = if others.is_empty() {
                    format!("{family}_count")
                } else {
                    format!("{family}_count{{{others}}}")
                };
                let count = metric(text, &count_series);
                assert_eq!(value as f64, count, "{line}: +Inf bucket = {count_series}");
            }
        }
    }
    types
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_openmetrics_with_histograms_and_every_family() {
    let dsp = spawn_local(mock(5.0)).await.expect("mock");
    let exchange = self::exchange(&bidders(&[("dsp", &dsp, "")]), &tests::sample_campaigns()).await;
    let client = Client::new();
    for i in 0..5 {
        auction(&client, &exchange, banner_request(&format!("m{i}"), "")).await;
    }
    let reply = client.get(&exchange.url("/metrics")).await;
    assert_eq!(
        reply.headers.get("content-type").map(|v| v.as_bytes()),
        Some(&b"application/openmetrics-text; version=1.0.0; charset=utf-8"[..])
    );
    let text = String::from_utf8_lossy(&reply.body).into_owned();
    let types = check_exposition(&text);
    for (family, kind) in [
        ("exchange_requests", "counter"),
        ("exchange_decision_latency_seconds", "histogram"),
        ("exchange_fanout_overhead_seconds", "histogram"),
        ("exchange_frequency_read_seconds", "histogram"),
        ("exchange_bidder_requests", "counter"),
        ("exchange_bidder_latency_seconds", "histogram"),
        ("exchange_bidder_circuit_state", "gauge"),
        ("exchange_store_writes", "counter"),
        ("exchange_budget_leases", "counter"),
        ("exchange_connections", "counter"),
        ("exchange_log_lines_suppressed", "counter"),
        ("exchange_snapshot_version", "gauge"),
    ] {
        assert_eq!(
            types.get(family).map(String::as_str),
            Some(kind),
            "{family}"
        );
    }
    assert_eq!(
        metric(&text, "exchange_decision_latency_seconds_count"),
        5.0
    );
    assert_eq!(
        metric(&text, "exchange_bidder_requests_total{bidder=\"dsp\"}"),
        5.0
    );
    assert_eq!(
        metric(
            &text,
            "exchange_bidder_latency_seconds_count{bidder=\"dsp\"}"
        ),
        5.0,
        "{text}"
    );
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prebid_calls_see_each_bidder_under_its_own_code() {
    let dsp = spawn_local(mock(50.0)).await.expect("mock");
    let silent = spawn_local(MockConfig {
        latency: Latency::Fixed(Duration::from_secs(5)),
        ..mock(90.0)
    })
    .await
    .expect("mock");
    let exchange = self::exchange(
        &bidders(&[("dsp", &dsp, ""), ("slow", &silent, "")]),
        &tests::sample_campaigns(),
    )
    .await;
    let client = Client::new();
    let request = |codes: &str| {
        format!(
            r#"{{"id":"pb","tmax":300,"cur":["USD"],"ext":{{"prebid":{{}}}},
            "imp":[{{"id":"1","banner":{{"format":[{{"w":300,"h":250}}]}},"ext":{{"prebid":{{"bidder":{{{codes}}}}}}}}}],
            "site":{{"page":"https://news.example/running","domain":"news.example"}},
            "device":{{"geo":{{"country":"CHN"}},"devicetype":2}}}}"#
        )
    };
    // The imp names the DSP: its winning bid comes back under its own code.
    let json = auction(
        &client,
        &exchange,
        request(r#""exchange":{},"dsp":{},"slow":{}"#),
    )
    .await
    .json();
    assert_eq!(json["seatbid"][0]["seat"], "dsp", "{json}");
    let times = &json["ext"]["responsetimemillis"];
    assert!(
        times["exchange"].is_u64() && times["dsp"].is_u64(),
        "{json}"
    );
    assert_eq!(
        json["ext"]["errors"]["slow"][0]["code"], 1,
        "a timeout: {json}"
    );
    // Named only as the exchange, the same winning bid answers under the exchange's code.
    let json = auction(&client, &exchange, request(r#""exchange":{}"#))
        .await
        .json();
    assert_eq!(json["seatbid"][0]["seat"], "exchange", "{json}");
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prebid_adjustment_factors_reprice_a_dsp_before_the_auction() {
    let dsp = spawn_local(mock(15.0)).await.expect("mock");
    let campaigns = tests::campaign_file(&[tests::banner_campaign("house", 20.0, "")]);
    let exchange = self::exchange(&bidders(&[("dsp", &dsp, "")]), &campaigns).await;
    let client = Client::new();
    let request = |factors: &str| {
        format!(
            r#"{{"id":"pb","tmax":300,"cur":["USD"],"ext":{{"prebid":{{"bidadjustmentfactors":{factors}}}}},
            "imp":[{{"id":"1","banner":{{"format":[{{"w":300,"h":250}}]}},"ext":{{"prebid":{{"bidder":{{"exchange":{{}},"dsp":{{}}}}}}}}}}],
            "site":{{"page":"https://news.example/running","domain":"news.example"}}}}"#
        )
    };
    // 15 from the DSP loses to the house campaign's 20 (first price)…
    let plain = auction(&client, &exchange, request("{}")).await.json();
    assert_eq!(plain["seatbid"][0]["seat"], "exchange", "{plain}");
    // …doubled by the page's factor it wins at 30, and the DSP is told its own 15.
    let doubled = auction(&client, &exchange, request(r#"{"dsp":2.0,"exchange":3.0}"#))
        .await
        .json();
    let bid = &doubled["seatbid"][0];
    assert_eq!(bid["seat"], "dsp", "{doubled}");
    assert!((bid["bid"][0]["price"].as_f64().expect("price") - 30.0).abs() < 1e-9);
    let warnings = doubled["ext"]["warnings"]["exchange"].to_string();
    assert!(
        warnings.contains("bidadjustmentfactors.exchange"),
        "the exchange's own code is not adjusted, and says so: {doubled}"
    );
    let won = bid["bid"][0]["nurl"].as_str().expect("nurl");
    assert!(!won.is_empty());
    // A factor that is not a positive number is refused, naming it.
    let refused = auction(&client, &exchange, request(r#"{"dsp":-1}"#)).await;
    assert_eq!(refused.status, 400);
    assert_eq!(
        refused.json()["field"],
        "ext.prebid.bidadjustmentfactors.dsp"
    );
    exchange.shutdown().await;
}
