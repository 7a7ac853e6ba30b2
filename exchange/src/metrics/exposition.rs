//! The vocabulary every area (requests, the shared store, bidders, connections) describes
//! its metric families with, over `prometheus-client`'s OpenMetrics encoder: counters,
//! gauges and bucket histograms, read at scrape time (`admin::scrape`).

use super::histogram::LatencyHistogram;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use std::fmt;

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
    /// Writes through `encoder`.
    pub fn new(encoder: &'e mut DescriptorEncoder<'w>) -> Self {
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

    /// The first error met, if any.
    pub fn finish(self) -> fmt::Result {
        self.result
    }
}
