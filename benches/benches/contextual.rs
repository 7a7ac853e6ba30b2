//! Contextual + LTV auction cost against the price-only auction, same run, same
//! 10,000-campaign index (with keyword documents, the sample lexicon and LTV tiers):
//! - `price_only`: features → candidates → neutral scores → auction (`Neutral`).
//! - `contextual_ltv`: the same plus page reading (jieba + stemming + lexicon
//!   expansion), BM25 relevance per visited candidate, one LTV prediction per vertical
//!   (BG/NBD + Gamma-Gamma closed forms), tiers, and the wider early-stop bound.
//! - `page_reading`: the page reading alone (the part that does not depend on the index
//!   size).

#![allow(missing_docs)] // criterion_group! generates an undocumented function.

use benches::{synthetic_contextual_campaigns, TYPICAL_REQUEST};
use bidder_sdk::openrtb::decode_request;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use exchange::config::ExchangeConfig;
use exchange::context::lexicon::Lexicon;
use exchange::context::RequestContext;
use exchange::decision::decide;
use exchange::index::build_with;
use exchange::ltv::store::read_model;
use exchange::pacing_store::PurchaseHistory;
use exchange::scoring::Neutral;
use exchange::signals::{AuctionSignals, UserInputs};
use std::collections::HashMap;
use std::path::Path;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// 2026-11-28 12:00 UTC.
const NOW: i64 = 1_795_867_200;

fn contextual(c: &mut Criterion) {
    let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let lexicon = Lexicon::load(&configs.join("lexicon.toml")).expect("sample lexicon");
    let model = read_model(&configs.join("models/ltv.json")).expect("sample model");
    let snapshot = build_with(
        synthetic_contextual_campaigns(10_000),
        lexicon,
        1,
        "bench".into(),
    );
    let mut config = ExchangeConfig::default();
    config.ltv.horizon_weeks = 52.0;
    let request = decode_request(TYPICAL_REQUEST.as_bytes()).expect("valid");
    let today = NOW / 86_400;
    // A loyal customer: 9 repeat purchases over 40 weeks, the last a week ago.
    let mut stored = HashMap::new();
    stored.insert(
        "*".to_owned(),
        PurchaseHistory {
            transactions: 10,
            first_day: today - 287,
            last_day: today - 7,
            total: 1_200.0,
        },
    );

    let mut group = c.benchmark_group("contextual_10k");
    group.throughput(Throughput::Elements(1));
    group.bench_function("price_only", |b| {
        b.iter(|| decide(black_box(&request), &snapshot, &config, &Neutral, NOW))
    });
    group.bench_function("contextual_ltv", |b| {
        b.iter(|| {
            let user = UserInputs::new(&request, &config, Some(&model), Some(&stored), NOW);
            let signals = AuctionSignals::new(black_box(&request), &snapshot, &config, user);
            decide(&request, &snapshot, &config, &signals, NOW)
        })
    });
    group.bench_function("page_reading", |b| {
        b.iter(|| RequestContext::new(black_box(&request), &snapshot.context, 256))
    });
    group.finish();
}

criterion_group!(benches, contextual);
criterion_main!(benches);
