//! Fixtures for the benches: a synthetic campaign population with realistic targeting
//! spread, and a typical publisher request. Deterministic (fixed seeds), built outside
//! the measured code. [`child`]: the release binary as a child process, for examples.

pub mod child;

use exchange::campaign::{compile, parse, Campaign};
use serde_json::json;

/// A typical 1–2 KB site request: two banner sizes, a Chinese page, device, user, regs,
/// supply chain.
pub const TYPICAL_REQUEST: &str = r#"{
  "id": "c9f2a4b0-5d6e-4f1a-9b7c-2e8d3f4a5b6c", "at": 2, "tmax": 150, "cur": ["USD"],
  "imp": [{"id": "1", "tagid": "home-top-banner", "secure": 1, "bidfloor": 0.35, "bidfloorcur": "USD",
    "banner": {"format": [{"w": 300, "h": 250}, {"w": 320, "h": 50}], "pos": 1, "battr": [1, 3]},
    "ext": {"gpid": "/21796327/mama/home-top-banner"}}],
  "site": {"id": "s-88231", "domain": "mama.example", "name": "妈妈网 Mama",
    "page": "https://mama.example/guide/how-to-choose-newborn-diapers?utm_source=feed",
    "ref": "https://search.example/?q=%E7%BA%B8%E5%B0%BF%E8%A3%A4",
    "cat": ["IAB6", "IAB6-1"], "pagecat": ["IAB6-1"], "keywords": "纸尿裤,婴儿,diapers,kw17,kw42",
    "publisher": {"id": "pub-mama", "name": "Mama Media", "domain": "mama.example"},
    "content": {"title": "新生儿纸尿裤怎么选？How to choose newborn diapers", "language": "zh", "cat": ["IAB6-1"]}},
  "device": {"ua": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "ip": "203.0.113.42", "devicetype": 4, "make": "Apple", "model": "iPhone", "os": "iOS", "osv": "17.4",
    "language": "zh", "carrier": "China Mobile", "connectiontype": 6,
    "geo": {"country": "CHN", "region": "GD", "city": "Shenzhen", "lat": 22.54, "lon": 114.05, "type": 2}},
  "user": {"id": "u-55816b39711f9b5a", "ext": {"consent": "CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA"}},
  "regs": {"coppa": 0, "gdpr": 0},
  "source": {"tid": "c9f2a4b0-5d6e-4f1a-9b7c-2e8d3f4a5b6c",
    "schain": {"complete": 1, "ver": "1.0", "nodes": [{"asi": "mama.example", "sid": "88231", "hp": 1}]}}
}"#;

/// `n` synthetic campaigns (validated by the same compiler as real files).
pub fn synthetic_campaigns(n: usize) -> Vec<Campaign> {
    let text = synthetic_campaign_json(n);
    let file = parse(&text, "synthetic", false).expect("synthetic campaigns parse");
    compile(&file, "synthetic").expect("synthetic campaigns are valid")
}

/// The JSON text of `n` synthetic campaigns.
pub fn synthetic_campaign_json(n: usize) -> String {
    const SIZES: [(u32, u32); 7] = [
        (300, 250),
        (320, 50),
        (728, 90),
        (320, 100),
        (300, 600),
        (640, 100),
        (160, 600),
    ];
    let mut rng = Lcg(0x5eed_2026);
    let campaigns: Vec<_> = (0..n)
        .map(|i| {
            let mut targeting = serde_json::Map::new();
            match rng.below(100) {
                0..=59 => { targeting.insert("countries".into(), json!(["CHN"])); }
                60..=74 => { targeting.insert("countries".into(), json!(["CHN", "SGP", "USA"])); }
                75..=84 => { targeting.insert("countries".into(), json!(["USA"])); }
                _ => {}
            }
            if rng.below(2) == 0 {
                targeting.insert("device_types".into(), json!(["phone", "tablet"]));
            }
            if rng.below(10) < 3 {
                targeting.insert("os".into(), json!(["ios", "android"]));
            }
            if rng.below(10) < 3 {
                targeting.insert("keywords".into(), json!([format!("kw{}", rng.below(2000)), format!("kw{}", rng.below(2000))]));
            }
            if rng.below(10) < 2 {
                targeting.insert("page_categories".into(), json!([format!("IAB{}", 1 + rng.below(26))]));
            }
            if rng.below(10) < 2 {
                targeting.insert("languages".into(), json!(["zh"]));
            }
            let mut creatives = Vec::new();
            for k in 0..(2 + rng.below(2)) {
                let (w, h) = SIZES[(rng.below(7) as usize + k as usize) % 7];
                if creatives.iter().all(|c: &serde_json::Value| c["id"] != format!("b{w}x{h}")) {
                    creatives.push(json!({"id": format!("b{w}x{h}"), "format": "banner", "w": w, "h": h,
                        "image_url": format!("https://cdn.example/{i}/{w}x{h}.jpg"), "landing_url": format!("https://shop.example/{i}")}));
                }
            }
            if rng.below(2) == 0 {
                creatives.push(json!({"id": "native", "format": "native", "w": 1200, "h": 627, "title": format!("商品 {i}"),
                    "image_url": format!("https://cdn.example/{i}/n.jpg"), "landing_url": format!("https://shop.example/{i}")}));
            }
            let pricing = match rng.below(3) {
                0 => json!({"model": "cpm", "bid": 0.5 + rng.below(400) as f64 / 100.0}),
                1 => json!({"model": "cpc", "bid": 0.05 + rng.below(50) as f64 / 100.0}),
                _ => json!({"model": "cps", "commission_rate": 0.05 + rng.below(25) as f64 / 100.0, "avg_order_value": 10.0 + rng.below(300) as f64}),
            };
            json!({"id": format!("syn-{i}"), "name": format!("Synthetic {i}"), "advertiser": format!("adv-{}", i % 997),
                "adomain": [format!("adv{}.example", i % 997)], "cat": [format!("IAB{}-1", 1 + i % 26)],
                "keywords": [format!("kw{}", rng.below(2000))],
                "pricing": pricing, "base_ctr": 0.002 + rng.below(100) as f64 / 10000.0,
                "targeting": targeting, "creatives": creatives})
        })
        .collect();
    json!({"campaigns": campaigns}).to_string()
}

/// A small deterministic generator (fixture data only).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// Product words per vertical (Chinese and English), for synthetic keyword documents.
const VERTICAL_WORDS: [(&str, &[&str]); 8] = [
    (
        "baby",
        &[
            "纸尿裤",
            "尿不湿",
            "婴儿",
            "奶粉",
            "婴儿车",
            "湿巾",
            "diapers",
            "baby",
            "stroller",
            "formula",
            "wipes",
            "newborn",
        ],
    ),
    (
        "beauty",
        &[
            "精华",
            "护肤",
            "防晒霜",
            "口红",
            "面膜",
            "洗面奶",
            "serum",
            "skincare",
            "sunscreen",
            "lipstick",
            "cleanser",
            "makeup",
        ],
    ),
    (
        "electronics",
        &[
            "手机",
            "耳机",
            "笔记本电脑",
            "充电宝",
            "键盘",
            "平板",
            "smartphone",
            "earbuds",
            "laptop",
            "keyboard",
            "tablet",
            "charger",
        ],
    ),
    (
        "kitchen",
        &[
            "炒锅",
            "不粘锅",
            "空气炸锅",
            "破壁机",
            "电饭煲",
            "咖啡机",
            "frying pan",
            "air fryer",
            "blender",
            "rice cooker",
            "coffee",
            "cookware",
        ],
    ),
    (
        "outdoor",
        &[
            "帐篷",
            "露营",
            "跑鞋",
            "鞋垫",
            "冲锋衣",
            "登山杖",
            "tent",
            "camping",
            "running shoes",
            "insoles",
            "hiking",
            "yoga",
        ],
    ),
    (
        "fresh",
        &[
            "车厘子",
            "水果",
            "海鲜",
            "牛排",
            "大闸蟹",
            "牛奶",
            "cherries",
            "fruit",
            "seafood",
            "steak",
            "crab",
            "milk",
        ],
    ),
    (
        "fashion",
        &[
            "羽绒服",
            "连衣裙",
            "帆布鞋",
            "围巾",
            "牛仔裤",
            "卫衣",
            "down jacket",
            "dress",
            "sneakers",
            "scarf",
            "jeans",
            "hoodie",
        ],
    ),
    (
        "home",
        &[
            "枕头",
            "扫地机器人",
            "四件套",
            "香薰",
            "收纳",
            "床垫",
            "pillow",
            "robot vacuum",
            "bedding",
            "diffuser",
            "storage",
            "mattress",
        ],
    ),
];

/// `n` synthetic campaigns with contextual data: each in a vertical, with four product
/// keywords of it (Chinese and English), a title naming two, and LTV tiers on one in
/// five (CPS: double commission above LTV 500; CPM/CPC: ×1.5).
pub fn synthetic_contextual_campaigns(n: usize) -> Vec<Campaign> {
    let mut value: serde_json::Value =
        serde_json::from_str(&synthetic_campaign_json(n)).expect("synthetic json");
    let mut rng = Lcg(0xc0_47e7);
    for (i, campaign) in value["campaigns"]
        .as_array_mut()
        .expect("campaigns")
        .iter_mut()
        .enumerate()
    {
        let (vertical, words) = VERTICAL_WORDS[i % VERTICAL_WORDS.len()];
        let pick = |rng: &mut Lcg| words[rng.below(words.len() as u64) as usize];
        let keywords: Vec<&str> = (0..4).map(|_| pick(&mut rng)).collect();
        campaign["vertical"] = json!(vertical);
        campaign["name"] = json!(format!("{} {} {i}", keywords[0], keywords[1]));
        campaign["keywords"] = json!(keywords);
        if rng.below(5) == 0 {
            let tiers = if campaign["pricing"]["model"] == "cps" {
                let rate = campaign["pricing"]["commission_rate"]
                    .as_f64()
                    .unwrap_or(0.1);
                json!([{"name": "high", "min_ltv": 500, "commission_rate": (rate * 2.0).min(1.0)}])
            } else {
                json!([{"name": "high", "min_ltv": 500, "bid_multiplier": 1.5}])
            };
            campaign["ltv_tiers"] = tiers;
        }
    }
    let file = parse(&value.to_string(), "synthetic", false).expect("synthetic campaigns parse");
    compile(&file, "synthetic").expect("synthetic campaigns are valid")
}

/// 2026-11-28 12:00 UTC, the benches' clock.
pub const BENCH_NOW: i64 = 1_795_867_200;

/// Everything the contextual benches need: 10,000 campaigns with keyword documents and
/// tiers indexed with the sample lexicon, the sample LTV model, the typical request, and
/// its user's stored purchase history (10 orders over 41 weeks, the last a week ago).
pub struct ContextualFixture {
    /// The index.
    pub snapshot: exchange::index::Snapshot,
    /// Default settings (the auction's slice).
    pub config: exchange::config::AuctionConfig,
    /// [`TYPICAL_REQUEST`], decoded.
    pub request: bidder_sdk::openrtb::BidRequest,
    /// `configs/models/ltv.json`.
    pub model: exchange::ltv::train::LtvModel,
    /// The user's histories by vertical.
    pub stored: std::collections::HashMap<String, exchange::shared::PurchaseHistory>,
}

impl ContextualFixture {
    /// Builds the fixture (reads `configs/` of this repository).
    pub fn new() -> Self {
        let configs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
        let mut lexicon = exchange::serving::snapshots::read_lexicon(&configs.join("lexicon.toml"))
            .expect("sample lexicon");
        // The sample config's semantic resource and quality weight (what it serves with).
        let semantic =
            exchange::serving::snapshots::read_semantic(&configs.join("semantic/zh-vectors.bin"))
                .expect("sample word vectors");
        lexicon.semantic = Some(std::sync::Arc::new(semantic));
        let mut config = exchange::config::ExchangeConfig::default().auction_config();
        config.context.quality_weight = 2.0;
        let today = BENCH_NOW / 86_400;
        let history = exchange::shared::PurchaseHistory {
            transactions: 10,
            first_day: today - 287,
            last_day: today - 7,
            total: 1_200.0,
        };
        Self {
            snapshot: exchange::index::build_with(
                synthetic_contextual_campaigns(10_000),
                lexicon,
                1,
                "bench".into(),
            ),
            config,
            request: bidder_sdk::openrtb::decode_request(TYPICAL_REQUEST.as_bytes())
                .expect("valid"),
            model: exchange::serving::model_file::read_model(&configs.join("models/ltv.json"))
                .expect("sample model"),
            stored: [("*".to_owned(), history)].into_iter().collect(),
        }
    }
}

impl Default for ContextualFixture {
    fn default() -> Self {
        Self::new()
    }
}
