//! The supply chain on real sockets: the exchange's node appended to what the request
//! brought (2.6 or 2.5 place), forwarded in `source.schain` as a mock DSP sees it and valid
//! against the OpenRTB schema; invalid and incomplete chains replaced, marked or refused
//! as configured, counted; `/sellers.json` from the registry, naming every `sid` the
//! exchange writes.

use loadtest::mock_bidder::spec::{Latency, Price};
use loadtest::mock_bidder::{spawn_local, MockConfig, MockHandle};
use serde_json::{json, Value};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tests::{corpus, metric, metrics, schema_errors, Client, TestExchange};

const REGISTRY: &str = r#"
[[publishers]]
id = "pub-owner"
name = "Owner Media"
domains = ["owner.example"]

[[publishers]]
id = "pub-reseller"
name = "Resale Network"
domains = ["resold.example"]
seller_type = "intermediary"
business_domain = "resale.example"

[[publishers]]
id = "pub-quiet"
name = "Quiet Seller"
domains = ["quiet.example"]
confidential = true
"#;

const ASI: &str = "exchange.example";

fn request(id: &str, publisher: &str, domain: &str, source: &str) -> String {
    format!(
        r#"{{"id":"{id}","tmax":300,"cur":["USD"],
            "imp":[{{"id":"1","banner":{{"format":[{{"w":300,"h":250}}]}},"bidfloor":0.1}}],
            "site":{{"domain":"{domain}","page":"https://{domain}/a","publisher":{{"id":"{publisher}"}}}},
            "device":{{"geo":{{"country":"CHN"}},"devicetype":2}}{source}}}"#
    )
}

async fn start(policy: &str) -> (TestExchange, MockHandle) {
    let dsp = spawn_local(MockConfig {
        latency: Latency::Fixed(Duration::from_millis(1)),
        price: Price::Fixed(2.0),
        ..MockConfig::default()
    })
    .await
    .expect("mock");
    let config = format!(
        "[supply_chain]\nasi = \"{ASI}\"\ncontact_email = \"supply@exchange.example\"\n{policy}\n\
         [[bidders]]\nname = \"dsp\"\nendpoint = \"{}\"\ntimeout_ms = 250\n",
        dsp.endpoint()
    );
    let exchange = TestExchange::builder()
        .config(&config)
        .campaigns(r#"{"campaigns": []}"#)
        .publishers(REGISTRY)
        .start()
        .await;
    (exchange, dsp)
}

/// The chain the DSP got in the last request it saw, checked against the schema, with
/// nothing left in `source.ext.schain`.
fn last_chain(dsp: &MockHandle) -> (String, Value) {
    let seen = dsp.stats.requests_seen();
    let sent = seen.last().expect("the DSP was called");
    let whole = serde_json::to_value(sent).expect("json");
    let errors = schema_errors("BidRequest", &whole);
    assert!(errors.is_empty(), "{errors:?}");
    let source = sent.source.as_ref().expect("source");
    assert!(
        source.ext.as_ref().and_then(|e| e.get("schain")).is_none(),
        "one chain, in the 2.6 place"
    );
    let chain = source.schain.clone().expect("source.schain");
    let errors = schema_errors("SupplyChain", &chain);
    assert!(errors.is_empty(), "{errors:?}");
    // And against the SupplyChain 1.0 rules the exchange holds incoming chains to.
    if let Err(error) = exchange::supply_chain::check(&chain, "source.schain") {
        panic!("the chain sent breaks the specification: {error:?}: {chain}");
    }
    (sent.id.clone(), chain)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exchange_appends_its_node_and_bidders_get_one_valid_chain() {
    let (exchange, dsp) = start("").await;
    let client = Client::new();
    let url = exchange.url("/openrtb2/auction");

    // A direct sale by the owner: a complete chain of one node, ours.
    let reply = client
        .post(&url, request("r1", "pub-owner", "owner.example", ""))
        .await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let (sent_id, chain) = last_chain(&dsp);
    assert_eq!(
        chain,
        json!({"complete": 1, "ver": "1.0", "nodes": [
            {"asi": ASI, "sid": "pub-owner", "rid": sent_id, "hp": 1}
        ]})
    );

    // A reseller's request carrying its upstream chain the 2.5 way: extended, and as
    // complete as the upstream said.
    let upstream = json!({"complete": 1, "ver": "1.0", "nodes": [
        {"asi": "owner-ssp.example", "sid": "site-42", "hp": 1, "rid": "up-1"}
    ]});
    let source = format!(r#","source":{{"fd":1,"ext":{{"schain":{upstream}}}}}"#);
    client
        .post(
            &url,
            request("r2", "pub-reseller", "resold.example", &source),
        )
        .await;
    let (sent_id, chain) = last_chain(&dsp);
    assert_eq!(chain["complete"], 1);
    let nodes = chain["nodes"].as_array().expect("nodes");
    assert_eq!(nodes[0], upstream["nodes"][0], "upstream nodes as given");
    assert_eq!(
        nodes[1],
        json!({"asi": ASI, "sid": "pub-reseller", "rid": sent_id, "hp": 1})
    );

    // The same reseller without a chain: nothing says who owns the inventory.
    client
        .post(&url, request("r3", "pub-reseller", "resold.example", ""))
        .await;
    assert_eq!(last_chain(&dsp).1["complete"], 0);

    // A chain that breaks the specification (Prebid's sample: ver "ver", asi "asi") is
    // replaced by ours alone, incomplete; the request is still answered.
    let broken = json!({"complete": 1, "nodes": [{"asi": "asi", "sid": "sid"}], "ver": "ver"});
    let reply = client
        .post(
            &exchange.url("/openrtb2/auction?debug=1"),
            request(
                "r4",
                "pub-owner",
                "owner.example",
                &format!(r#","source":{{"schain":{broken}}}"#),
            ),
        )
        .await;
    let answer = reply.json_if(200);
    let (sent_id, chain) = last_chain(&dsp);
    assert_eq!(
        chain,
        json!({"complete": 0, "ver": "1.0", "nodes": [
            {"asi": ASI, "sid": "pub-owner", "rid": sent_id, "hp": 1}
        ]})
    );
    let shown = &answer["ext"]["supply_chain"];
    assert_eq!(shown["status"], "invalid");
    assert_eq!(
        shown["problem"],
        json!({"field": "source.schain.ver", "reason": "version"})
    );
    assert_eq!(shown["sent"], chain, "the debug view shows what left");

    let text = metrics(&client, &exchange).await;
    for (status, count) in [("complete", 2.0), ("incomplete", 1.0), ("invalid", 1.0)] {
        let series = format!("exchange_supply_chains_total{{status=\"{status}\"}}");
        assert_eq!(metric(&text, &series), count, "{series}");
    }

    // Every sid the exchange wrote is a seller in its sellers.json.
    let sellers = client
        .get(&exchange.url("/sellers.json"))
        .await
        .json_if(200);
    let listed: Vec<&str> = sellers["sellers"]
        .as_array()
        .expect("sellers")
        .iter()
        .map(|s| s["seller_id"].as_str().expect("seller_id"))
        .collect();
    for sid in ["pub-owner", "pub-reseller"] {
        assert!(listed.contains(&sid), "{sid} in {listed:?}");
    }
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_refuse_invalid_and_incomplete_chains_when_asked() {
    let (exchange, dsp) = start("invalid = \"refuse\"\nincomplete = \"refuse\"").await;
    let client = Client::new();
    let url = exchange.url("/openrtb2/auction");
    let bad = json!({"complete": 1, "ver": "1.0", "nodes": [{"asi": "ssp.example", "sid": ""}]});
    let reply = client
        .post(
            &url,
            request(
                "r1",
                "pub-owner",
                "owner.example",
                &format!(r#","source":{{"schain":{bad}}}"#),
            ),
        )
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["field"], "source.schain.nodes[0].sid");

    // Incomplete: an intermediary without an upstream chain, an unregistered publisher, a
    // registered one on a site that is not its own.
    for (publisher, domain) in [
        ("pub-reseller", "resold.example"),
        ("pub-nobody", "owner.example"),
        ("pub-owner", "elsewhere.example"),
    ] {
        let reply = client
            .post(&url, request("r2", publisher, domain, ""))
            .await;
        assert_eq!(reply.status, 204, "{publisher} on {domain}");
    }
    assert_eq!(dsp.stats.requests_seen().len(), 0, "no bidder was called");
    // A complete one still goes through.
    let reply = client
        .post(&url, request("r3", "pub-owner", "owner.example", ""))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(dsp.stats.requests_seen().len(), 1);

    let text = metrics(&client, &exchange).await;
    let refused = |reason: &str| {
        metric(
            &text,
            &format!("exchange_requests_refused_total{{reason=\"{reason}\"}}"),
        )
    };
    assert_eq!(refused("schain_invalid"), 1.0);
    assert_eq!(refused("schain_incomplete"), 3.0);
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_valid_conformance_request_is_still_answered_with_a_valid_chain() {
    let (exchange, dsp) = start("").await;
    let client = Client::new();
    let url = exchange.url("/openrtb2/auction");
    let mut with_chain = 0;
    for (name, body) in corpus("requests") {
        let before = dsp.stats.requests.load(Relaxed);
        let reply = client.post(&url, body.clone()).await;
        assert!(
            reply.status == 200 || reply.status == 204,
            "{name}: {} {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
        let original: Value = serde_json::from_slice(&body).expect("json");
        let brought = original["source"]["schain"].is_object()
            || original["source"]["ext"]["schain"].is_object();
        if dsp.stats.requests.load(Relaxed) == before {
            continue;
        }
        let (sent_id, chain) = last_chain(&dsp);
        let nodes = chain["nodes"].as_array().expect("nodes");
        assert_eq!(nodes.last().expect("ours")["asi"], ASI, "{name}");
        assert_eq!(
            nodes.last().expect("ours")["rid"],
            sent_id.as_str(),
            "{name}"
        );
        with_chain += usize::from(brought);
    }
    // Of the corpus's four chains, the two on GDPR requests do not reach this DSP: it has no
    // tcf_vendor_id, so it is not called under GDPR (tests/tests/privacy.rs).
    assert!(
        with_chain >= 2,
        "the corpus's chains (2.5 and 2.6 places) reached the DSP: {with_chain}"
    );
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sellers_json_lists_the_registry_and_hides_the_confidential() {
    let (exchange, _dsp) = start("").await;
    let client = Client::new();
    let sellers = client
        .get(&exchange.url("/sellers.json"))
        .await
        .json_if(200);
    assert_eq!(
        sellers,
        json!({
            "contact_email": "supply@exchange.example",
            "version": "1.0",
            "sellers": [
                {"seller_id": "pub-owner", "seller_type": "PUBLISHER", "is_confidential": 0,
                 "name": "Owner Media", "domain": "owner.example"},
                {"seller_id": "pub-quiet", "seller_type": "PUBLISHER", "is_confidential": 1},
                {"seller_id": "pub-reseller", "seller_type": "INTERMEDIARY", "is_confidential": 0,
                 "name": "Resale Network", "domain": "resale.example"},
            ]
        })
    );
    let post = client.post(&exchange.url("/sellers.json"), "").await;
    assert_eq!(post.status, 405);
    exchange.shutdown().await;
    // Without a registry there is no one to list.
    let bare = TestExchange::builder().start().await;
    assert_eq!(client.get(&bare.url("/sellers.json")).await.status, 404);
    bare.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ads_txt_marks_or_refuses_sellers_the_domain_does_not_list() {
    let file = "exchange.example, pub-owner, DIRECT\nother-ssp.example, pub-quiet, DIRECT\n";
    let start_with = |policy: &'static str| async move {
        let dsp = spawn_local(MockConfig {
            latency: Latency::Fixed(Duration::from_millis(1)),
            price: Price::Fixed(2.0),
            ..MockConfig::default()
        })
        .await
        .expect("mock");
        // The config folder itself holds the files (others there are skipped).
        let config = format!(
            "[supply_chain]\nasi = \"{ASI}\"\nads_txt_dir = \".\"\nunauthorised = \"{policy}\"\n\
             [[bidders]]\nname = \"dsp\"\nendpoint = \"{}\"\ntimeout_ms = 250\n",
            dsp.endpoint()
        );
        let exchange = TestExchange::builder()
            .config(&config)
            .campaigns(r#"{"campaigns": []}"#)
            .publishers(REGISTRY)
            .file("owner.example.ads.txt", file)
            .start()
            .await;
        (exchange, dsp)
    };
    let (exchange, _dsp) = start_with("mark").await;
    let client = Client::new();
    let url = exchange.url("/openrtb2/auction");
    let bid_ext = |answer: &Value| answer["seatbid"][0]["bid"][0]["ext"].clone();

    // Listed: a clean bid. On a subdomain too (the parent's file applies).
    for domain in ["owner.example", "m.owner.example"] {
        let answer = client
            .post(&url, request("a1", "pub-owner", domain, ""))
            .await
            .json_if(200);
        assert!(bid_ext(&answer).is_null(), "{domain}: {answer}");
    }
    // Not listed under our asi (only under another system): answered, marked.
    let answer = client
        .post(&url, request("a2", "pub-quiet", "owner.example", ""))
        .await
        .json_if(200);
    assert_eq!(bid_ext(&answer)["ads_txt_unauthorised"], true, "{answer}");
    // No file for the domain: nothing to check.
    let answer = client
        .post(&url, request("a3", "pub-reseller", "resold.example", ""))
        .await
        .json_if(200);
    assert!(bid_ext(&answer).is_null(), "{answer}");
    let text = metrics(&client, &exchange).await;
    for (verdict, count) in [("authorised", 2.0), ("unauthorised", 1.0), ("no_file", 1.0)] {
        let series = format!("exchange_ads_txt_checks_total{{verdict=\"{verdict}\"}}");
        assert_eq!(metric(&text, &series), count, "{series}");
    }
    assert_eq!(
        metric(
            &text,
            "exchange_requests_marked_total{mark=\"ads_txt_unauthorised\"}"
        ),
        1.0
    );

    // A fetched file changes; a reload reads it: pub-owner is no longer listed.
    let folder = exchange.campaigns_path.parent().expect("folder").to_owned();
    std::fs::write(
        folder.join("owner.example.ads.txt"),
        "exchange.example, pub-quiet, DIRECT\n",
    )
    .expect("write");
    assert_eq!(exchange.admin_reload(&client).await.status, 200);
    let answer = client
        .post(&url, request("a4", "pub-owner", "owner.example", ""))
        .await
        .json_if(200);
    assert_eq!(bid_ext(&answer)["ads_txt_unauthorised"], true, "{answer}");
    exchange.shutdown().await;

    let (exchange, dsp) = start_with("refuse").await;
    let url = exchange.url("/openrtb2/auction");
    let reply = client
        .post(&url, request("b1", "pub-quiet", "owner.example", ""))
        .await;
    assert_eq!(reply.status, 204);
    assert_eq!(dsp.stats.requests.load(Relaxed), 0, "no bidder called");
    let reply = client
        .post(&url, request("b2", "pub-owner", "owner.example", ""))
        .await;
    assert_eq!(reply.status, 200);
    let text = metrics(&client, &exchange).await;
    assert_eq!(
        metric(
            &text,
            "exchange_requests_refused_total{reason=\"ads_txt_unauthorised\"}"
        ),
        1.0
    );
    exchange.shutdown().await;
}
