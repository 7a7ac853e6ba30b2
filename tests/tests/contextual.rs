//! Contextual auctions end to end: pages in Chinese, English and both get the campaigns
//! that fit them; relevance ranks a lower bid past an irrelevant higher one through the
//! quality weight (and only within the lift when the weight is off); the lexicon reaches
//! products the page never names, product phrases whole;
//! brand-safety exclusions and minimum relevance hold; hostile page text is bounded.

use tests::{debug_row as row, debug_rows};
use tests::{Client, TestExchange};

const LEXICON: &str = r#"
[[synonyms]]
terms = ["跑鞋", "跑步鞋", "running shoes"]

[[links]]
need = ["扁平足", "flat feet"]
products = ["足弓垫", "arch support insoles"]
weight = 0.8

[[links]]
need = ["新生儿", "newborn"]
products = ["纸尿裤", "diapers"]
"#;

/// A CPC campaign: equal CTR and CVR everywhere, so the bid is the neutral order.
fn campaign(id: &str, bid: f64, cat: &str, keywords: &[&str], context: &str) -> String {
    let keywords = serde_json::to_string(keywords).expect("keywords");
    format!(
        r#"{{"id":"{id}","name":"{id}","advertiser":"adv-{id}","adomain":["{id}.example"],"cat":["{cat}"],
        "keywords":{keywords},"pricing":{{"model":"cpc","bid":{bid}}},"base_ctr":0.01{context},
        "creatives":[{{"id":"b1","format":"banner","w":300,"h":250,
          "image_url":"https://img.example/{id}.jpg","landing_url":"https://{id}.example/p"}}]}}"#
    )
}

fn campaigns(cookware_bid: f64) -> String {
    let list = [
        campaign(
            "shoes",
            0.50,
            "IAB17-26",
            &["running shoes", "跑鞋", "trail running"],
            "",
        ),
        campaign(
            "insoles",
            0.48,
            "IAB7-1",
            &["鞋垫", "足弓垫", "arch support insoles"],
            "",
        ),
        campaign(
            "diapers",
            0.49,
            "IAB6-1",
            &["纸尿裤", "尿不湿", "diapers"],
            "",
        ),
        campaign(
            "cookware",
            cookware_bid,
            "IAB8-5",
            &["炒锅", "不粘锅", "frying pan"],
            "",
        ),
        campaign(
            "sunscreen",
            0.47,
            "IAB18-1",
            &["防晒霜", "sunscreen", "spf"],
            r#","context":{"exclude_keywords":["casino","赌博"],"exclude_categories":["IAB25"]}"#,
        ),
        campaign(
            "tents",
            5.0,
            "IAB20-18",
            &["帐篷", "camping tent"],
            r#","context":{"min_relevance":0.3}"#,
        ),
    ];
    format!(r#"{{"campaigns":[{}]}}"#, list.join(","))
}

async fn exchange(cookware_bid: f64) -> TestExchange {
    exchange_with(cookware_bid, "").await
}

/// The exchange with `context` lines added to its `[context]` table.
async fn exchange_with(cookware_bid: f64, context: &str) -> TestExchange {
    TestExchange::builder()
        .campaigns(&campaigns(cookware_bid))
        .file("lexicon.toml", LEXICON)
        .config(&format!(
            "[context]\nlexicon = \"lexicon.toml\"\nrelevance_lift = 1.0\n{context}\n[limits]\nmax_body_bytes = 4194304"
        ))
        .start()
        .await
}

/// A banner request whose page says `title` (and optionally more `site` fields).
fn page(title: &str, site_extra: &str) -> String {
    let title = serde_json::to_string(title).expect("title");
    format!(
        r#"{{"id":"p","tmax":500,"imp":[{{"id":"1","banner":{{"w":300,"h":250}}}}],
        "site":{{"id":"s","domain":"pages.example","content":{{"title":{title}}}{site_extra}}}}}"#
    )
}

async fn winner(client: &Client, exchange: &TestExchange, body: String) -> String {
    let reply = client.post(&exchange.url("/openrtb2/auction"), body).await;
    reply.json_if(200)["seatbid"][0]["bid"][0]["cid"]
        .as_str()
        .expect("a winner")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_in_chinese_english_and_both_get_the_campaigns_that_fit() {
    // Cookware bids the most: it wins wherever nothing is relevant.
    let exchange = exchange(0.55).await;
    let client = Client::new();
    for (title, expected) in [
        (
            "How to choose running shoes for your first marathon",
            "shoes",
        ),
        ("新手跑步怎么选跑鞋", "shoes"),
        ("宝宝纸尿裤哪个牌子好", "diapers"),
        ("Best diapers for sensitive skin", "diapers"),
        ("夏天去海边 sunscreen 推荐 SPF50", "sunscreen"),
        ("不粘锅和铁锅哪个好 frying pan review", "cookware"),
        ("今天天气不错 weather is nice", "cookware"),
        ("", "cookware"),
    ] {
        assert_eq!(
            winner(&client, &exchange, page(title, "")).await,
            expected,
            "{title:?}"
        );
    }
    // Other text signals count too: keywords, the URL path, page text in ext.
    assert_eq!(
        winner(
            &client,
            &exchange,
            page("", r#","keywords":"diapers,newborn""#)
        )
        .await,
        "diapers"
    );
    assert_eq!(
        winner(
            &client,
            &exchange,
            page(
                "",
                r#","page":"https://pages.example/guides/running-shoes-buying-guide""#
            )
        )
        .await,
        "shoes"
    );
    assert_eq!(
        winner(
            &client,
            &exchange,
            page(
                "",
                r#","ext":{"context":{"text":"尿不湿怎么选才不红屁屁"}}"#
            )
        )
        .await,
        "diapers"
    );
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lexicon_reaches_products_the_page_never_names() {
    let exchange = exchange(0.55).await;
    let client = Client::new();
    // Neither "insole" nor a brand is on these pages: the need → product links bring them.
    for title in ["扁平足怎么办", "Living with flat feet"] {
        assert_eq!(
            winner(&client, &exchange, page(title, "")).await,
            "insoles",
            "{title}"
        );
    }
    assert_eq!(
        winner(&client, &exchange, page("新生儿护理指南", "")).await,
        "diapers"
    );
    let (debug, rows) = debug_rows(&client, &exchange, page("Living with flat feet", "")).await;
    let expansions = debug["page"]["expansions"].as_array().expect("expansions");
    // The product phrase expands whole: its words alone would lift any "support".
    assert!(
        expansions.iter().any(|e| e[0] == "arch support insol"),
        "{expansions:?}"
    );
    assert!(
        !expansions
            .iter()
            .any(|e| e[0] == "support" || e[0] == "insol"),
        "{expansions:?}"
    );
    let insoles = row(&rows, "insoles");
    assert!(
        insoles["relevance"]["keyword"].as_f64().expect("keyword") > 0.3,
        "{insoles}"
    );
    assert!(
        insoles["ctr_lift"].as_f64().expect("lift") > 1.3,
        "{insoles}"
    );
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relevance_outranks_a_higher_irrelevant_bid_and_pays_no_more_than_its_own() {
    let client = Client::new();
    let running = || page("Trail running shoes: how to choose running shoes", "");
    // 0.55 vs 0.50: within the lift (up to ×2), the relevant ad wins.
    let close = exchange(0.55).await;
    assert_eq!(winner(&client, &close, running()).await, "shoes");
    let (_, rows) = debug_rows(&client, &close, running()).await;
    let (shoes, cookware) = (row(&rows, "shoes"), row(&rows, "cookware"));
    assert!(
        shoes["ecpm"].as_f64() > cookware["ecpm"].as_f64(),
        "{rows:?}"
    );
    assert_eq!(cookware["relevance"]["total"], 0.0);
    assert_eq!(cookware["reason"], "outbid");
    close.shutdown().await;
    // 1.05 vs 0.50: beyond any lift (×2.1), yet the quality weight ranks the page's
    // campaign first, and it pays at most its own eCPM.
    let far = exchange_with(1.05, "quality_weight = 2").await;
    assert_eq!(winner(&client, &far, running()).await, "shoes");
    let (_, rows) = debug_rows(&client, &far, running()).await;
    let shoes_ecpm = row(&rows, "shoes")["ecpm"].as_f64().expect("ecpm");
    let reply = client.post(&far.url("/openrtb2/auction"), running()).await;
    let price = reply.json_if(200)["seatbid"][0]["bid"][0]["price"]
        .as_f64()
        .expect("price");
    assert!(price <= shoes_ecpm + 1e-9, "{price} > {shoes_ecpm}");
    far.shutdown().await;
    // Without the quality weight (the default), price wins again beyond the lift.
    let price_only = exchange(1.05).await;
    assert_eq!(winner(&client, &price_only, running()).await, "cookware");
    price_only.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusions_and_minimum_relevance_hold() {
    let exchange = exchange(0.40).await;
    let client = Client::new();
    // A sunscreen page wins for sunscreen, until the page says "casino" or is IAB25.
    assert_eq!(
        winner(&client, &exchange, page("Sunscreen SPF guide", "")).await,
        "sunscreen"
    );
    for body in [
        page("Sunscreen SPF guide for the casino pool", ""),
        page("赌博网站的防晒霜广告", ""),
        page("Sunscreen SPF guide", r#","cat":["IAB25-3"]"#),
    ] {
        let (_, rows) = debug_rows(&client, &exchange, body.clone()).await;
        assert_eq!(row(&rows, "sunscreen")["reason"], "brand_safety", "{body}");
        assert_ne!(winner(&client, &exchange, body).await, "sunscreen");
    }
    // The tent campaign bids 10× anyone, but only on pages at least 0.3 relevant.
    let (_, rows) = debug_rows(&client, &exchange, page("Sunscreen SPF guide", "")).await;
    assert_eq!(row(&rows, "tents")["reason"], "irrelevant");
    assert_eq!(
        winner(
            &client,
            &exchange,
            page("How to pitch a camping tent in the rain", "")
        )
        .await,
        "tents"
    );
    assert_eq!(
        winner(&client, &exchange, page("露营帐篷怎么选", "")).await,
        "tents"
    );
    // Categories match too: a sports page (parent of the shoes' IAB17-26) lifts shoes.
    let (_, rows) = debug_rows(&client, &exchange, page("", r#","cat":["IAB17"]"#)).await;
    let category = row(&rows, "shoes")["relevance"]["category"].as_f64();
    assert!(
        (category.expect("category") - 0.6).abs() < 1e-6,
        "{category:?}"
    );
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_page_text_is_bounded_and_harmless() {
    let exchange = exchange(0.55).await;
    let client = Client::new();
    let hostile = [
        "啊".repeat(100_000),
        "a".repeat(100_000),
        "😀".repeat(25_000),
        "\u{0}\u{1b}[2J\u{7}\u{202e}".repeat(10_000),
        "word ".repeat(20_000),
        "鞋 ".repeat(30_000),
    ];
    for text in hostile {
        let ext = format!(
            r#","ext":{{"context":{{"text":{t},"query":{t}}}}},"keywords":{t}"#,
            t = serde_json::to_string(&text).expect("json")
        );
        let body = page(&text, &ext);
        assert!(body.len() < 4_194_304);
        let (debug, _) = debug_rows(&client, &exchange, body.clone()).await;
        let terms = debug["page"]["terms"].as_array().expect("terms");
        assert!(terms.len() <= 256, "{} terms", terms.len());
        // And the plain auction answers normally.
        let reply = client.post(&exchange.url("/openrtb2/auction"), body).await;
        assert!(
            reply.status == 200 || reply.status == 204,
            "{}",
            reply.status
        );
    }
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lexicon_swaps_with_the_snapshot_and_a_bad_one_is_refused() {
    let exchange = exchange(0.55).await;
    let client = Client::new();
    let path = exchange.campaigns_path.with_file_name("lexicon.toml");
    let flat_feet = || page("Living with flat feet", "");
    assert_eq!(winner(&client, &exchange, flat_feet()).await, "insoles");
    // A broken lexicon fails the reload whole: the old snapshot (and lexicon) serve on.
    std::fs::write(&path, "[[links]]\nneed = [\"flat feet\"]\nproducts = []\n").expect("write");
    let reply = exchange.admin_reload(&client).await;
    let json = reply.json_if(422);
    assert_eq!(json["field"], "links[0].products", "{json}");
    assert_eq!(winner(&client, &exchange, flat_feet()).await, "insoles");
    // A new lexicon arrives with the next snapshot: flat feet now leads to running shoes.
    std::fs::write(
        &path,
        "[[links]]\nneed = [\"flat feet\"]\nproducts = [\"running shoes\"]\nweight = 1.0\n",
    )
    .expect("write");
    let reply = exchange.admin_reload(&client).await;
    assert_eq!(reply.json_if(200)["snapshot_version"], 2);
    assert_eq!(winner(&client, &exchange, flat_feet()).await, "shoes");
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_interests_lift_the_campaigns_they_fit_only_with_consent() {
    // Cookware bids 0.55, shoes 0.50: on a page that says nothing, interests decide.
    let exchange = exchange(0.55).await;
    let client = Client::new();
    let request = |regs: &str| {
        format!(
            r#"{{"id":"i","tmax":500,"imp":[{{"id":"1","banner":{{"w":300,"h":250}}}}],
            "site":{{"id":"s","domain":"pages.example"}},
            "user":{{"id":"u-1","keywords":"running shoes",
              "data":[{{"name":"dmp","segment":[{{"name":"marathon runners","value":"跑鞋"}}]}}],
              "ext":{{"interests":["trail running"],"member":true}}}}{regs}}}"#
        )
    };
    let (_, rows) = debug_rows(&client, &exchange, request("")).await;
    let shoes = row(&rows, "shoes");
    let fit = shoes["interest"].as_f64().expect("interest read");
    assert!(fit > 0.3, "{shoes}");
    assert!(shoes["ctr_lift"].as_f64().expect("lift") > 1.1, "{shoes}");
    assert_eq!(row(&rows, "cookware")["interest"], 0.0, "{rows:?}");
    assert_eq!(winner(&client, &exchange, request("")).await, "shoes");
    // Under COPPA nothing about the user is read: price decides again.
    let coppa = request(r#","regs":{"coppa":1}"#);
    let (_, rows) = debug_rows(&client, &exchange, coppa.clone()).await;
    assert!(row(&rows, "shoes")["interest"].is_null(), "{rows:?}");
    assert_eq!(winner(&client, &exchange, coppa).await, "cookware");
    exchange.shutdown().await;
}
