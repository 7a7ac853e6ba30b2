//! `/metrics` through `prometheus-client`: at each scrape one collector reads the
//! exchange's counters (atomics, where the events happen) and histograms and encodes them
//! with the library's OpenMetrics text encoder. [`Exposition`] is the small vocabulary the
//! areas (requests, store, bidders, connections) describe their families with.

use super::histogram::LatencyHistogram;
use crate::state::AppState;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::fmt;
use std::sync::Arc;

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The labels of one sample, as (key, value) pairs.
pub type Labels<'a> = &'a [(&'a str, &'a str)];

/// Encodes families through the library's descriptor encoder; the first error is kept
/// and ends the scrape.
pub struct Exposition<'e, 'w> {
    encoder: &'e mut DescriptorEncoder<'w>,
    result: fmt::Result,
}

impl<'e, 'w> Exposition<'e, 'w> {
    fn new(encoder: &'e mut DescriptorEncoder<'w>) -> Self {
        Self {
            encoder,
            result: Ok(()),
        }
    }

    /// A counter family (`name` without `_total`: the encoder adds it), one sample per
    /// label set.
    pub fn counter(&mut self, name: &str, help: &str, samples: &[(Labels<'_>, u64)]) {
        if self.result.is_err() {
            return;
        }
        self.result = (|| {
            let mut metric =
                self.encoder
                    .encode_descriptor(name, help, None, MetricType::Counter)?;
            for (labels, value) in samples {
                let mut sample = metric.encode_family(labels)?;
                sample.encode_counter::<NoLabelSet, u64, u64>(value, None)?;
            }
            Ok(())
        })();
    }

    /// A gauge family, one sample per label set.
    pub fn gauge(&mut self, name: &str, help: &str, samples: &[(Labels<'_>, i64)]) {
        if self.result.is_err() {
            return;
        }
        self.result = (|| {
            let mut metric = self
                .encoder
                .encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (labels, value) in samples {
                metric.encode_family(labels)?.encode_gauge(value)?;
            }
            Ok(())
        })();
    }

    /// A histogram family in seconds, one histogram per label set.
    pub fn histogram(
        &mut self,
        name: &str,
        help: &str,
        samples: &[(Labels<'_>, &LatencyHistogram)],
    ) {
        if self.result.is_err() {
            return;
        }
        self.result = (|| {
            let mut metric =
                self.encoder
                    .encode_descriptor(name, help, None, MetricType::Histogram)?;
            for (labels, histogram) in samples {
                let (buckets, sum, count) = histogram.snapshot();
                metric
                    .encode_family(labels)?
                    .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
            }
            Ok(())
        })();
    }

    fn finish(self) -> fmt::Result {
        self.result
    }
}

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
        state.fanout.describe(&state.config, &mut out);
        super::shared_store::describe(state, &mut out);
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
