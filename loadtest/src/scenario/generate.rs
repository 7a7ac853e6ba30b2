//! Synthetic requests from a scenario: seeded, so the same scenario always yields the
//! same bodies.

use super::{Scenario, Vertical};
use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};
use serde_json::{json, Value};

/// Banner sizes drawn from, most common first.
const BANNER_SIZES: [(u32, u32); 5] = [(300, 250), (320, 50), (728, 90), (300, 600), (320, 100)];
/// Countries drawn from, weighted towards the affiliate networks' home market.
const COUNTRIES: [(&str, u32); 5] = [("CHN", 70), ("USA", 10), ("SGP", 8), ("MYS", 7), ("JPN", 5)];
/// A TC string consenting to purposes 1-10, vendors 32, 755 and 1000, precise geolocation
/// (built by the IAB's encoder: `tests/consent/fixtures.json`, `tcf.all`): a consenting user.
const CONSENT: &str =
    "CQuzncAQuzncAAKABAENEsEoAP_AAEIAAAYgH0QAwAQALzAfQBecAIAEAC8wAAAA.IAAA.YAAAAAAAAAAA";

/// `scenario.pool` request bodies.
pub fn requests(scenario: &Scenario, verticals: &[Vertical]) -> Vec<Bytes> {
    let mut rng = SmallRng::seed_from_u64(scenario.seed);
    let zipf = Zipf::new(scenario.users.population, scenario.users.zipf_exponent).ok();
    (0..scenario.pool)
        .map(|i| {
            let request = request(scenario, verticals, zipf.as_ref(), &mut rng, i);
            Bytes::from(request.to_string())
        })
        .collect()
}

fn request(
    scenario: &Scenario,
    verticals: &[Vertical],
    zipf: Option<&Zipf<f64>>,
    rng: &mut SmallRng,
    index: usize,
) -> Value {
    let vertical = &verticals[rng.gen_range(0..verticals.len())];
    let chinese = rng.gen_bool(scenario.zh_share);
    let (titles, keywords) = if chinese {
        (&vertical.zh_titles, &vertical.zh_keywords)
    } else {
        (&vertical.en_titles, &vertical.en_keywords)
    };
    let title = titles.choose(rng).cloned().unwrap_or_default();
    let picked: Vec<&String> = keywords.choose_multiple(rng, 3).collect();
    let keywords = picked
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let language = if chinese { "zh" } else { "en" };
    let imps: Vec<Value> = (0..rng.gen_range(scenario.imps.min..=scenario.imps.max))
        .map(|n| imp(scenario, rng, n))
        .collect();
    let mut request = json!({
        "id": format!("lt-{:x}-{index}", scenario.seed),
        "at": 2,
        "tmax": scenario.tmax_ms,
        "cur": ["USD"],
        "imp": imps,
        "device": device(rng, language),
    });
    let domain = vertical
        .domains
        .choose(rng)
        .cloned()
        .unwrap_or_else(|| "site.example".into());
    if rng.gen_bool(scenario.site_share) {
        request["site"] = json!({
            "id": format!("site-{}", vertical.name),
            "domain": domain,
            "page": format!("https://{domain}/{}/{}", vertical.name, index % 997),
            "cat": vertical.cat,
            "pagecat": vertical.cat,
            "keywords": keywords,
            "publisher": {"id": format!("pub-{}", vertical.name)},
            "content": {"title": title, "language": language, "cat": vertical.cat},
        });
    } else {
        request["app"] = json!({
            "id": format!("app-{}", vertical.name),
            "name": title,
            "bundle": format!("com.example.{}", vertical.name),
            "cat": vertical.cat,
            "keywords": keywords,
            "publisher": {"id": format!("pub-{}", vertical.name)},
            "content": {"language": language},
        });
    }
    if let Some(zipf) = zipf.filter(|_| rng.gen_bool(scenario.users.id_share)) {
        let user = zipf.sample(rng) as u64;
        request["user"] = json!({ "id": format!("u-{user}") });
    }
    if rng.gen_bool(scenario.users.consent_share) {
        request["regs"] = json!({ "gdpr": 1 });
        let user = request.get("user").cloned().unwrap_or_else(|| json!({}));
        let mut user = user;
        user["consent"] = json!(CONSENT);
        request["user"] = user;
    }
    request
}

fn imp(scenario: &Scenario, rng: &mut SmallRng, n: usize) -> Value {
    let f = &scenario.formats;
    let total = f.banner + f.native + f.video;
    let draw = rng.gen_range(0.0..total);
    let mut imp = if draw < f.banner {
        let first = BANNER_SIZES[rng.gen_range(0..BANNER_SIZES.len())];
        let mut formats = vec![json!({"w": first.0, "h": first.1})];
        if rng.gen_bool(0.4) {
            let second = BANNER_SIZES[rng.gen_range(0..BANNER_SIZES.len())];
            if second != first {
                formats.push(json!({"w": second.0, "h": second.1}));
            }
        }
        json!({ "banner": { "format": formats } })
    } else if draw < f.banner + f.native {
        let native = r#"{"ver":"1.2","assets":[{"id":1,"required":1,"title":{"len":90}},{"id":2,"required":1,"img":{"type":3,"w":300,"h":300}},{"id":3,"data":{"type":2}}]}"#;
        json!({ "native": { "request": native, "ver": "1.2" } })
    } else {
        json!({ "video": { "mimes": ["video/mp4"], "w": 640, "h": 360, "minduration": 5, "maxduration": 30, "protocols": [2, 3, 7], "plcmt": 1 } })
    };
    imp["id"] = json!((n + 1).to_string());
    if rng.gen_bool(scenario.floors.share) {
        let floor = rng.gen_range(scenario.floors.min..=scenario.floors.max);
        imp["bidfloor"] = json!((floor * 100.0).round() / 100.0);
        imp["bidfloorcur"] = json!("USD");
    }
    imp
}

fn device(rng: &mut SmallRng, language: &str) -> Value {
    let total: u32 = COUNTRIES.iter().map(|(_, w)| w).sum();
    let mut draw = rng.gen_range(0..total);
    let country = COUNTRIES
        .iter()
        .find(|(_, weight)| {
            if draw < *weight {
                true
            } else {
                draw -= weight;
                false
            }
        })
        .map_or("CHN", |(code, _)| code);
    let (os, ua, devicetype) = match rng.gen_range(0..3) {
        0 => (
            "iOS",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15",
            4,
        ),
        1 => (
            "Android",
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/124.0 Mobile",
            4,
        ),
        _ => (
            "Windows",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0",
            2,
        ),
    };
    json!({
        "ua": ua,
        "ip": format!("203.0.113.{}", rng.gen_range(1..255)),
        "os": os,
        "devicetype": devicetype,
        "language": language,
        "geo": {"country": country},
    })
}
