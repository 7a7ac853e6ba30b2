//! The publisher registry on real sockets: publisher → placement → sub-id carried in the
//! signed notice URLs, unregistered sources answered but marked `source_mismatch`, a
//! malformed sub-id refused, and the registry reloaded with the campaigns.

use exchange::metrics::Mark;
use tests::affiliate::REGISTRY;
use tests::{Client, TestExchange};

fn request(domain: &str, sub_id: &str) -> String {
    format!(
        r#"{{"id":"r-{domain}","imp":[{{"id":"1","tagid":"home-top","banner":{{"w":300,"h":250}},
            "ext":{{"sub_id":{sub_id}}}}}],
          "site":{{"domain":"{domain}","page":"https://{domain}/a","publisher":{{"id":"p1"}}}}}}"#
    )
}

async fn start() -> TestExchange {
    TestExchange::builder()
        .campaigns(&tests::campaign_file(&[tests::banner_campaign(
            "stroller", 5.0, "",
        )]))
        .publishers(REGISTRY)
        .start()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notice_urls_carry_who_sold_the_imp_and_unregistered_sources_are_marked() {
    let exchange = start().await;
    let client = Client::new();
    let url = exchange.url("/openrtb2/auction");

    let registered = client
        .post(&url, request("mama.example", "\"wechat-group-7\""))
        .await;
    let answer = registered.json_if(200);
    let bid = &answer["seatbid"][0]["bid"][0];
    let nurl = bid["nurl"].as_str().expect("nurl");
    for field in ["&pub=p1&", "&plc=home-top&", "&sub=wechat-group-7&"] {
        assert!(nurl.contains(field), "{field} in {nurl}");
    }
    assert!(!nurl.contains("mm="), "{nurl}");
    assert!(bid["ext"].get("source_mismatch").is_none(), "{bid}");
    let (_, win, _) = registered.first_bid_notices();
    assert_eq!(client.get(&win).await.status, 204, "the URL verifies");
    // Who sold it is signed: a URL moved to another publisher is refused.
    let moved = win.replace("&pub=p1&", "&pub=p2&");
    assert_eq!(client.get(&moved).await.status, 403);

    // A domain the registry does not have for p1: answered, marked everywhere.
    let copycat = client
        .post(&url, request("copycat.example", "\"wechat-group-7\""))
        .await;
    let answer = copycat.json_if(200);
    let bid = &answer["seatbid"][0]["bid"][0];
    assert_eq!(bid["ext"]["source_mismatch"], true, "{bid}");
    assert!(bid["nurl"].as_str().expect("nurl").contains("&mm=1&"));
    let (_, win, _) = copycat.first_bid_notices();
    assert_eq!(client.get(&win).await.status, 204);
    assert_eq!(exchange.state.metrics.marked_count(Mark::SourceMismatch), 1);
    let metrics =
        String::from_utf8_lossy(&client.get(&exchange.url("/metrics")).await.body).into_owned();
    assert!(
        metrics.contains("exchange_requests_marked_total{mark=\"source_mismatch\"} 1"),
        "{metrics}"
    );

    // The debug view says who sold each imp.
    let debug = client
        .post(
            &exchange.url("/openrtb2/auction?debug=1"),
            request("copycat.example", "\"wechat-group-7\""),
        )
        .await
        .json_if(200);
    assert_eq!(
        debug["ext"]["provenance"][0],
        serde_json::json!({"publisher": "p1", "placement": "home-top",
            "sub_id": "wechat-group-7", "source_mismatch": true}),
        "{debug}"
    );

    // A sub-id that is not one is refused, naming it.
    let refused = client
        .post(&url, request("mama.example", "\"has space\""))
        .await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["field"], "imp[0].ext.sub_id");
    let refused = client.post(&url, request("mama.example", "42")).await;
    assert_eq!(refused.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_reloads_with_the_campaigns_and_a_broken_one_is_refused() {
    let exchange = start().await;
    let client = Client::new();
    let url = exchange.url("/openrtb2/auction");
    let registry_path = exchange
        .campaigns_path
        .parent()
        .expect("config folder")
        .join("publishers.toml");
    let marked = |answer: &serde_json::Value| {
        answer["seatbid"][0]["bid"][0]["ext"]["source_mismatch"] == true
    };

    let before = client
        .post(&url, request("shop.mama2.example", "null"))
        .await;
    assert!(marked(&before.json_if(200)));
    // The publisher registers a second site: the next reload knows it.
    std::fs::write(
        &registry_path,
        REGISTRY.replace(
            "domains = [\"mama.example\"]",
            "domains = [\"mama.example\", \"mama2.example\"]",
        ),
    )
    .expect("write registry");
    assert_eq!(exchange.admin_reload(&client).await.status, 200);
    let after = client
        .post(&url, request("shop.mama2.example", "null"))
        .await;
    assert!(
        !marked(&after.json_if(200)),
        "a subdomain of a registered site"
    );

    // A broken registry fails the whole reload, naming the field; the old one serves on.
    std::fs::write(&registry_path, "[[publishers]]\nid = \"p1\"\nname = \"\"\n")
        .expect("write registry");
    let failed = exchange.admin_reload(&client).await;
    assert_ne!(failed.status, 200);
    let text = String::from_utf8_lossy(&failed.body).into_owned();
    assert!(text.contains("publishers[0](p1).name"), "{text}");
    let still = client
        .post(&url, request("shop.mama2.example", "null"))
        .await;
    assert!(
        !marked(&still.json_if(200)),
        "the old registry still serves"
    );
}
