//! Instructions per request of the contextual + LTV auction against the price-only one,
//! for callgrind (stable where wall time is not):
//!
//! ```sh
//! cargo build --release -p benches --example signal_cost
//! for v in price_only contextual_ltv learned learned_explore page_reading page_topics; do
//!   valgrind --tool=callgrind --toggle-collect='signal_cost::measure*' \
//!     target/release/examples/signal_cost $v 2000 2>&1 | grep 'refs'
//! done   # instructions per request = I refs / 2000
//! target/release/examples/signal_cost contextual_ltv 50000 --timing   # p50 / p99 wall time
//! ```
//!
//! Same fixture as `benches/benches/contextual.rs`: 10,000 synthetic campaigns with
//! keyword documents and LTV tiers, the sample lexicon, word vectors, quality weight and
//! model, the typical request from a user with a purchase history. `learned` adds rates
//! learned from outcomes of every campaign on four page categories (the request's among
//! them), `learned_explore` draws them per request (`[learning] explore = 1`);
//! `page_topics` is `page_reading` plus counting the page's topics for trends.

use benches::{ContextualFixture, BENCH_NOW as NOW};
use exchange::context::RequestContext;
use exchange::decision::decide;
use exchange::learning::{LearnedRates, OutcomeTable, Outcomes};
use exchange::scoring::Neutral;
use exchange::serving::trending::TopicCounters;
use exchange::signals::{AuctionSignals, UserInputs};
use std::hint::black_box;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Rates learned from outcomes of every campaign on categories 1, 6, 9 and 18 (the
/// declared CTR × 0.5..1.5, one order per 20 clicks).
fn learned(fixture: &ContextualFixture) -> LearnedRates {
    let mut table = OutcomeTable::default();
    for (i, campaign) in fixture.snapshot.campaigns.iter().enumerate() {
        for (j, category) in [1u16, 6, 9, 18].into_iter().enumerate() {
            let impressions = 1_000.0 + (i * 37 + j * 101) as f64 % 5_000.0;
            let factor = 0.5 + ((i * 13 + j * 7) % 11) as f64 / 10.0;
            let clicks = impressions * campaign.base_ctr * factor;
            let outcomes = Outcomes {
                impressions,
                clicks,
                orders: clicks / 20.0,
            };
            table.add(&campaign.id, Some(category), outcomes);
        }
    }
    LearnedRates::build(&fixture.snapshot, &table, &fixture.config.learning)
}

#[inline(never)]
fn measure(
    fixture: &ContextualFixture,
    variant: &str,
    runs: usize,
    rates: &LearnedRates,
    explore: &exchange::config::AuctionConfig,
    topics: &TopicCounters,
) -> usize {
    let ContextualFixture {
        snapshot,
        config,
        request,
        model,
        stored,
    } = fixture;
    let mut filled = 0;
    for _ in 0..runs {
        filled += match variant {
            "price_only" => {
                let decision = decide(black_box(request), snapshot, config, &Neutral, NOW);
                decision.clearings.iter().flatten().count()
            }
            "contextual_ltv" => {
                let privacy = exchange::privacy::Privacy::read(request, &config.privacy);
                let permitted = privacy.own.allows(exchange::privacy::Activity::UseUserData);
                let user =
                    UserInputs::new(request, permitted, config, Some(model), Some(stored), NOW);
                let signals = AuctionSignals::new(black_box(request), snapshot, config, user);
                let decision = decide(request, snapshot, config, &signals, NOW);
                decision.clearings.iter().flatten().count()
            }
            "learned" | "learned_explore" => {
                let config = if variant == "learned" {
                    config
                } else {
                    explore
                };
                let privacy = exchange::privacy::Privacy::read(request, &config.privacy);
                let permitted = privacy.own.allows(exchange::privacy::Activity::UseUserData);
                let user =
                    UserInputs::new(request, permitted, config, Some(model), Some(stored), NOW);
                let signals = AuctionSignals::new(black_box(request), snapshot, config, user)
                    .with_learning(request, rates, config, 0x5eed);
                let decision = decide(request, snapshot, config, &signals, NOW);
                decision.clearings.iter().flatten().count()
            }
            "page_topics" => {
                let context = RequestContext::new(black_box(request), &snapshot.context, 256);
                topics.count(&context.terms);
                context.page.terms.len()
            }
            _ => RequestContext::new(black_box(request), &snapshot.context, 256)
                .page
                .terms
                .len(),
        };
    }
    filled
}

fn main() {
    let mut args = std::env::args().skip(1);
    let variant = args.next().unwrap_or_else(|| "contextual_ltv".into());
    let runs: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(2000);
    let fixture = ContextualFixture::new();
    let mut explore = fixture.config.clone();
    explore.learning.explore = 1.0;
    let rates = learned(&fixture);
    let topics = TopicCounters::new(fixture.snapshot.context.term_count());
    // The tokenizer's dictionary loads once per process (at start-up), never per request.
    exchange::context::tokenize::tokenizer();
    if args.next().as_deref() == Some("--timing") {
        // Wall time per request, one at a time: p50 / p99 / max (noisy on a shared host).
        let mut histogram = hdrhistogram::Histogram::<u64>::new(3).expect("histogram");
        for _ in 0..runs {
            let started = std::time::Instant::now();
            black_box(measure(&fixture, &variant, 1, &rates, &explore, &topics));
            let _ = histogram.record(started.elapsed().as_nanos() as u64);
        }
        let us = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "{variant}: {runs} requests, mean {:.1} µs, p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, max {:.1} µs",
            histogram.mean() / 1000.0,
            us(0.5),
            us(0.99),
            us(0.999),
            histogram.max() as f64 / 1000.0
        );
        return;
    }
    let result = measure(&fixture, &variant, runs, &rates, &explore, &topics);
    println!("{variant}: {runs} runs ({result})");
}
