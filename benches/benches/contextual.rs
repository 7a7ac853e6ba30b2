//! Contextual + LTV auction cost against the price-only auction, same run, same
//! 10,000-campaign index (with keyword documents, the sample lexicon and LTV tiers:
//! `benches::ContextualFixture`):
//! - `price_only`: features → candidates → neutral scores → auction (`Neutral`).
//! - `contextual_ltv`: the same plus page reading (jieba + stemming + lexicon
//!   expansion), BM25 relevance per visited candidate, one LTV prediction per vertical
//!   (BG/NBD + Gamma-Gamma closed forms), tiers, and the wider early-stop bound.
//! - `page_reading`: the page reading alone (the part that does not depend on the index
//!   size).

#![allow(missing_docs)] // criterion_group! generates an undocumented function.

use benches::{ContextualFixture, BENCH_NOW};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use exchange::context::RequestContext;
use exchange::decision::decide;
use exchange::scoring::Neutral;
use exchange::signals::{AuctionSignals, UserInputs};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn contextual(c: &mut Criterion) {
    let f = ContextualFixture::new();
    let mut group = c.benchmark_group("contextual_10k");
    group.throughput(Throughput::Elements(1));
    group.bench_function("price_only", |b| {
        b.iter(|| {
            decide(
                black_box(&f.request),
                &f.snapshot,
                &f.config,
                &Neutral,
                BENCH_NOW,
            )
        })
    });
    group.bench_function("contextual_ltv", |b| {
        b.iter(|| {
            let privacy = exchange::privacy::Privacy::read(&f.request, &f.config.privacy);
            let user = UserInputs::new(
                &f.request,
                privacy.own.allows(exchange::privacy::Activity::UseUserData),
                &f.config,
                Some(&f.model),
                Some(&f.stored),
                BENCH_NOW,
            );
            let signals = AuctionSignals::new(black_box(&f.request), &f.snapshot, &f.config, user);
            decide(&f.request, &f.snapshot, &f.config, &signals, BENCH_NOW)
        })
    });
    group.bench_function("page_reading", |b| {
        b.iter(|| RequestContext::new(black_box(&f.request), &f.snapshot.context, 256))
    });
    group.finish();
}

criterion_group!(benches, contextual);
criterion_main!(benches);
