//! Hot-path benches. Each group puts a naive baseline beside the optimised path:
//! - `parse`: simd-json codec vs serde_json on the same typed request.
//! - `select_and_auction_10k`: bitset index vs checking all 10,000 campaigns one by one.
//! - `handler_10k`: the whole endpoint without sockets (parse → validate → decide →
//!   response → encode), the figure the 50 µs target is about.
//! - `handler_10k_consent`: the same under GDPR with a TC string of real size and a GPP
//!   string (US national section): what reading consent once per request costs.
//! - `handler_10k_browser`: the same for a browser's call through Prebid.js, with CORS,
//!   the caller's headers and enrichment (geo from the sample database, the user agent,
//!   the uid cookie): what a publisher page costs over a server-to-server call.
//! - `index_build`: indexing 100,000 compiled campaigns, and a full reload from JSON text.
//! - `notices`: signing one bid's notice query (on the request path, once per bid) and
//!   verifying one notice (on the notice endpoint, before anything is written).

#![allow(missing_docs)] // criterion_group! generates an undocumented function.

use benches::{synthetic_campaign_json, synthetic_campaigns, TYPICAL_REQUEST};
use bidder_sdk::openrtb::{decode_request, BidRequest};
use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use exchange::config::ExchangeConfig;
use exchange::decision::decide;
use exchange::features::{imp_features, request_features};
use exchange::index::build;
use exchange::scoring::{score, Neutral, SignalSource};
use exchange::targeting::explain;
use exchange::{AppState, SnapshotStore};
use http_body_util::Full;
use std::path::Path;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// 2026-11-28 12:00 UTC.
const NOW: i64 = 1_795_867_200;

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(TYPICAL_REQUEST.len() as u64));
    group.bench_function("simd_json_codec", |b| {
        b.iter(|| decode_request(black_box(TYPICAL_REQUEST.as_bytes())).expect("valid"))
    });
    group.bench_function("serde_json_baseline", |b| {
        b.iter(|| {
            serde_json::from_slice::<BidRequest>(black_box(TYPICAL_REQUEST.as_bytes()))
                .expect("valid")
        })
    });
    group.finish();
}

fn select_and_auction(c: &mut Criterion) {
    let snapshot = build(synthetic_campaigns(10_000), 1, "bench".into());
    let config = ExchangeConfig::default().auction_config();
    let request = decode_request(TYPICAL_REQUEST.as_bytes()).expect("valid");
    let mut group = c.benchmark_group("select_and_auction_10k");
    group.throughput(Throughput::Elements(1));
    group.bench_function("bitset_index", |b| {
        b.iter(|| decide(black_box(&request), &snapshot, &config, &Neutral, NOW))
    });
    group.bench_function("scan_every_campaign_baseline", |b| {
        b.iter(|| {
            let features = request_features(&request, NOW);
            let imp = imp_features(&request.imp[0], Some(0.35), &snapshot);
            let mut best = (0.0f64, u32::MAX);
            for id in 0..snapshot.len() as u32 {
                if explain(&snapshot, id, &features, &imp).is_ok() {
                    let campaign = &snapshot.campaigns[id as usize];
                    let ecpm = score(campaign, Neutral.signals(id as usize, campaign)).ecpm;
                    if ecpm > best.0 {
                        best = (ecpm, id);
                    }
                }
            }
            black_box(best)
        })
    });
    group.finish();
}

/// The whole handler on `campaigns`, with leases taken as the server takes them before
/// it accepts requests.
struct HandlerBench {
    state: std::sync::Arc<AppState>,
    runtime: tokio::runtime::Runtime,
}

impl HandlerBench {
    fn new(campaigns: Vec<exchange::campaign::Campaign>) -> Self {
        let store = SnapshotStore::with_campaigns(Path::new("bench.json"), campaigns);
        let state = std::sync::Arc::new(
            AppState::new(ExchangeConfig::default(), store)
                .with_clock(exchange::clock::Clock::Fixed(NOW)),
        );
        // No bidders configured: the handler awaits nothing slow, so a current-thread
        // runtime's `block_on` adds only its own small constant cost.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(state.budgets.tick(&state.shared, NOW * 1000));
        let bench = Self { state, runtime };
        let reply = bench.run(TYPICAL_REQUEST.as_bytes());
        // A 200 alone is not a fill (a Prebid call with no imp for this exchange is a 200
        // with an empty `seatbid`): the answer must carry a bid with its click URL.
        let body = String::from_utf8_lossy(&reply.body);
        assert!(
            reply.status == 200 && body.contains("\"seatbid\":[{") && body.contains("/c/ad?"),
            "the bench request must fill: {body}"
        );
        bench
    }

    fn run(&self, body: &[u8]) -> exchange::endpoint::Reply {
        self.runtime.block_on(exchange::endpoint::auction(
            &self.state,
            body,
            &exchange::enrich::Caller::default(),
            false,
            std::time::Instant::now(),
        ))
    }

    /// One call as a browser makes it through Prebid.js: the CORS check, the caller read
    /// from the headers, the auction with enrichment (the sample geolocation database,
    /// the user agent, the uid cookie), the CORS and cookie headers on the answer.
    fn run_browser(&self, body: &[u8], headers: &http::HeaderMap) -> http::Response<Full<Bytes>> {
        let state = &self.state;
        let origin = state.cors.allowed_origin(headers);
        let caller = exchange::receive::caller::of(headers, Some(LOOPBACK), &state.config);
        let reply = self.runtime.block_on(exchange::endpoint::auction(
            state,
            body,
            &caller,
            false,
            std::time::Instant::now(),
        ));
        let mut response = http::Response::new(Full::new(Bytes::from(reply.body)));
        state.cors.decorate(origin, &mut response);
        let cookie =
            exchange::enrich::uid::set_cookie_header(&state.config.first_party_id, &reply.cookie);
        if let Some(value) = cookie.and_then(|v| http::HeaderValue::try_from(v).ok()) {
            response
                .headers_mut()
                .insert(http::header::SET_COOKIE, value);
        }
        response
    }

    fn measure(&self, c: &mut Criterion, group: &str, name: &str) {
        self.measure_body(c, group, name, TYPICAL_REQUEST);
    }

    fn measure_body(&self, c: &mut Criterion, group: &str, name: &str, body: &str) {
        let mut group = c.benchmark_group(group);
        group.throughput(Throughput::Elements(1));
        group.bench_function(name, |b| b.iter(|| self.run(black_box(body.as_bytes()))));
        group.finish();
    }
}

fn handler(c: &mut Criterion) {
    HandlerBench::new(synthetic_campaigns(10_000)).measure(
        c,
        "handler_10k",
        "parse_validate_decide_respond",
    );
}

/// The typical request under GDPR with a TC string of the size CMPs send (594 bytes: 800
/// vendors with consent, 533 with legitimate interest; built by the IAB's encoder,
/// `tests/consent/fixtures.json`) and a GPP string with a US national section: what
/// reading consent once per request costs (`handler_10k_consent` against `handler_10k`).
fn consent_request() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/consent/fixtures.json"
    );
    let fixtures: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixtures")).expect("json");
    let mut request: serde_json::Value =
        serde_json::from_str(TYPICAL_REQUEST).expect("typical request");
    request["regs"] = serde_json::json!({
        "gdpr": 1,
        "gpp": fixtures["gpp"]["usnatNoOptOut"]["gpp"],
        "gpp_sid": [7],
    });
    request["user"]["ext"]["consent"] = fixtures["tcf"]["large"].clone();
    request.to_string()
}

/// `handler_10k` with consent to read (see [`consent_request`]).
fn handler_consent(c: &mut Criterion) {
    HandlerBench::new(synthetic_campaigns(10_000)).measure_body(
        c,
        "handler_10k_consent",
        "parse_validate_decide_respond",
        &consent_request(),
    );
}

const LOOPBACK: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// The typical request as Prebid.js sends it from a page: the device says only its agent,
/// screen and language (no IP, geo, OS or device type).
fn browser_request() -> String {
    let mut request: serde_json::Value =
        serde_json::from_str(TYPICAL_REQUEST).expect("typical request");
    let device = request["device"].as_object_mut().expect("device");
    for field in [
        "ip",
        "geo",
        "os",
        "osv",
        "devicetype",
        "make",
        "model",
        "carrier",
    ] {
        device.remove(field);
    }
    request["user"].as_object_mut().expect("user").remove("id");
    // Prebid.js names the exchange's bidder code on each imp.
    request["imp"][0]["ext"] = serde_json::json!({ "prebid": { "bidder": { "exchange": {} } } });
    request.to_string()
}

/// `handler_10k`'s auction for a browser's call (see `HandlerBench::run_browser`): what
/// CORS and enrichment add to the handler.
fn handler_browser(c: &mut Criterion) {
    let mut bench = HandlerBench::new(synthetic_campaigns(10_000));
    let mut config = ExchangeConfig::default();
    config.enrichment.geo_database =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/geo/sample.mmdb");
    let enricher = exchange::enrich::Enricher::open(&config.enrichment).expect("sample database");
    let state = std::sync::Arc::get_mut(&mut bench.state).expect("not shared yet");
    state.enricher = enricher;
    let body = browser_request();
    let mut headers = http::HeaderMap::new();
    for (name, value) in [
        ("origin", "https://pub.example"),
        ("user-agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"),
        ("cookie", "exchange_uid=0f4e2d9c8b7a65543210fedcba987654"),
        ("content-type", "text/plain"),
    ] {
        headers.insert(name, http::HeaderValue::from_static(value));
    }
    let response = bench.run_browser(body.as_bytes(), &headers);
    assert_eq!(response.status(), 200, "the browser request must fill");
    assert!(response
        .headers()
        .contains_key("access-control-allow-origin"));
    assert!(response.headers().contains_key("set-cookie"));
    assert_eq!(bench.state.metrics.enriched_count("geo"), 1, "located");
    let answer = bench
        .runtime
        .block_on(http_body_util::BodyExt::collect(response.into_body()))
        .expect("body")
        .to_bytes();
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.contains("\"seatbid\":[{"),
        "the browser request must fill: {answer}"
    );
    let mut group = c.benchmark_group("handler_10k_browser");
    group.throughput(Throughput::Elements(1));
    group.bench_function("cors_enrich_parse_validate_decide_respond", |b| {
        b.iter(|| bench.run_browser(black_box(body.as_bytes()), &headers))
    });
    group.finish();
}

/// The same handler when every campaign has a daily budget and a frequency cap: the
/// frequency read (in-process store) and the pacing gate are on the path.
fn handler_with_caps_and_budgets(c: &mut Criterion) {
    let mut campaigns = synthetic_campaigns(10_000);
    for campaign in &mut campaigns {
        campaign.daily_budget_micros = Some(1_000_000_000_000_000);
        campaign.frequency_cap = Some(exchange::campaign::FrequencyCap {
            count: 1_000,
            window_secs: 86_400,
            advertiser_scope: false,
            allow_anonymous: false,
            fail_open: false,
            field: format!("c:{}:86400", campaign.id),
        });
    }
    HandlerBench::new(campaigns).measure(
        c,
        "handler_10k_caps_budgets",
        "parse_read_gate_decide_charge_respond",
    );
}

fn index_build(c: &mut Criterion) {
    let campaigns = synthetic_campaigns(100_000);
    let text = synthetic_campaign_json(100_000);
    let mut group = c.benchmark_group("index_build");
    group.sample_size(10);
    group.throughput(Throughput::Elements(100_000));
    group.bench_function("index_100k_compiled", |b| {
        b.iter_batched(
            || campaigns.clone(),
            |c| build(c, 2, "bench".into()),
            BatchSize::LargeInput,
        )
    });
    group.bench_function("reload_100k_from_json_text", |b| {
        b.iter(|| {
            let file = exchange::campaign::parse(&text, "bench", false).expect("parses");
            build(
                exchange::campaign::compile(&file, "bench").expect("valid"),
                2,
                "bench".into(),
            )
        })
    });
    group.finish();
}

/// The notice query of a typical campaign bid: the fields the response signs.
const NOTICE_PAIRS: [(&str, &str); 7] = [
    ("auction", "5f3a9c2e7b1d4a60"),
    ("imp", "1"),
    ("bid", "5f3a9c2e7b1d4a60-0"),
    ("campaign", "c0042-electronics-earbuds"),
    ("creative", "b300x250"),
    ("cur", "USD"),
    ("user", "00ff00ff00ff00ff"),
];

fn notices(c: &mut Criterion) {
    let keys = exchange::notice::KeyRing::parse_list("k1:bench-notice-secret-0123456789abcdef")
        .expect("valid bench key");
    let signer = exchange::notice::Signer {
        keys: &keys,
        expires: NOW + 86_400,
    };
    let query = format!("{}&price=12.5", signer.query(&NOTICE_PAIRS, 15.25));
    let mut group = c.benchmark_group("notices");
    group.throughput(Throughput::Elements(1));
    group.bench_function("sign_one_bid", |b| {
        b.iter(|| signer.query(black_box(&NOTICE_PAIRS), black_box(15.25)))
    });
    group.bench_function("verify_one_notice", |b| {
        b.iter(|| exchange::notice::verify(&keys, black_box(&query), NOW).expect("verifies"))
    });
    group.finish();
}

criterion_group!(
    benches,
    notices,
    parse,
    select_and_auction,
    handler,
    handler_consent,
    handler_browser,
    handler_with_caps_and_budgets,
    index_build
);
criterion_main!(benches);
