//! `GET /metrics`: at each scrape one `prometheus-client` collector reads everything the
//! exchange counts — requests, the shared store ([`shared_store`]), bidders, connections —
//! and the library encodes OpenMetrics text.

pub mod affiliate;
pub mod shared_store;

use crate::metrics::exposition::Exposition;
use crate::state::AppState;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Registry;
use std::fmt;
use std::sync::Arc;

/// Everything one exchange exports, read at scrape time.
#[derive(Debug)]
struct ExchangeCollector(Arc<AppState>);

impl Collector for ExchangeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let state = &self.0;
        let mut out = Exposition::new(&mut encoder);
        let serving = state.serving();
        let snapshot = &serving.snapshot;
        state.metrics.describe(
            &mut out,
            (snapshot.version, snapshot.len(), snapshot.creative_count()),
        );
        state.bidders.describe(&state.config, &mut out);
        shared_store::describe(state, &mut out);
        affiliate::describe(state, &mut out);
        let learner = &state.learner;
        out.counter(
            "exchange_learning_counts",
            "Counts of new outcomes by the learner (failed: the affiliate database did not answer; retried at the next tick).",
            &[
                (&[("result", "ok")], learner.refreshes.load(std::sync::atomic::Ordering::Relaxed)),
                (&[("result", "failed")], learner.failures.load(std::sync::atomic::Ordering::Relaxed)),
            ],
        );
        let (_, _, topics) = state.trending.volume();
        out.counter(
            "exchange_trend_folds",
            "Folds of the page topics counted on the request path into the trend windows.",
            &[(
                &[],
                state
                    .trending
                    .folds
                    .load(std::sync::atomic::Ordering::Relaxed),
            )],
        );
        out.gauge(
            "exchange_trend_topics",
            "Page topics tracked (decayed counts), and how many trend now.",
            &[
                (&[("state", "tracked")], topics as i64),
                (
                    &[("state", "trending")],
                    state.trending.trends().len() as i64,
                ),
            ],
        );
        out.gauge(
            "exchange_learning_cells",
            "Campaign × page-category cells with decayed outcome counts.",
            &[(&[], learner.cells() as i64)],
        );
        state.connections.describe(&mut out);
        out.finish()
    }
}

/// The OpenMetrics text of `state`'s metrics.
pub fn render(state: &Arc<AppState>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(ExchangeCollector(Arc::clone(state))));
    let mut text = String::with_capacity(16 * 1024);
    // Writing into a String cannot fail; a collector error leaves what was written.
    let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
    text
}
