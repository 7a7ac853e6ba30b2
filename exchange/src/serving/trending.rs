//! Trends, the server's part. Each serving set carries the [`TopicCounters`] of its
//! snapshot: an atomic counter per vocabulary term, which the request that read a page
//! bumps for its strongest terms (no lock, no allocation, no hand-off to another thread).
//! Every `trends.window_secs` the [`Trending`] holder drains them (`swap(0)`) into the
//! decayed [`TopicCounts`], reads which topics trend, and builds the [`TrendLifts`] each
//! serving set carries. A reload retires the old snapshot's counters; they are drained
//! once more at the next fold, by the old snapshot's vocabulary.

use crate::config::TrendsConfig;
use crate::context::index::TermId;
use crate::context::page::PageTerms;
use crate::index::Snapshot;
use crate::trends::{TopicCounts, Trend, TrendLifts, TOPICS_PER_PAGE};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// Per vocabulary term of one snapshot, the pages that read it among their strongest
/// terms since the last fold, and the pages read.
#[derive(Debug)]
pub struct TopicCounters {
    counts: Box<[AtomicU32]>,
    pages: AtomicU64,
}

impl TopicCounters {
    /// Counters for `terms` vocabulary terms (none when trends are off).
    pub fn new(terms: usize) -> Self {
        Self {
            counts: (0..terms).map(|_| AtomicU32::new(0)).collect(),
            pages: AtomicU64::new(0),
        }
    }

    /// Counts one page: its [`TOPICS_PER_PAGE`] strongest terms once each. On the request
    /// path: a selection over the page's terms and a few relaxed atomic adds.
    pub fn count(&self, page: &PageTerms) {
        if self.counts.is_empty() || page.query.is_empty() {
            return;
        }
        let mut strongest: [(TermId, f32); TOPICS_PER_PAGE] = [(0, f32::MIN); TOPICS_PER_PAGE];
        for &(term, weight) in &page.query {
            let weakest = strongest
                .iter()
                .enumerate()
                .min_by(|a, b| a.1 .1.total_cmp(&b.1 .1))
                .map_or(0, |(i, _)| i);
            if weight > strongest[weakest].1 {
                strongest[weakest] = (term, weight);
            }
        }
        for (term, weight) in strongest {
            if weight > f32::MIN {
                if let Some(counter) = self.counts.get(term as usize) {
                    counter.fetch_add(1, Relaxed);
                }
            }
        }
        self.pages.fetch_add(1, Relaxed);
    }

    /// Takes what was counted (each counter back to 0): (term, pages) and the pages read.
    fn drain(&self) -> (Vec<(TermId, u64)>, u64) {
        let pages = self.pages.swap(0, Relaxed);
        let counts = self
            .counts
            .iter()
            .enumerate()
            .filter_map(|(term, counter)| {
                let n = counter.swap(0, Relaxed);
                (n > 0).then_some((term as TermId, u64::from(n)))
            })
            .collect();
        (counts, pages)
    }
}

/// The counters of the serving snapshot and of retired ones, the decayed counts and what
/// trends.
#[derive(Debug, Default)]
struct State {
    /// The serving snapshot's counters (by version).
    current: Option<(Arc<Snapshot>, Arc<TopicCounters>)>,
    /// Counters of snapshots a reload replaced, drained at the next fold.
    retired: Vec<(Arc<Snapshot>, Arc<TopicCounters>)>,
    counts: TopicCounts,
    trends: Vec<Trend>,
}

/// Trends of one node.
#[derive(Debug)]
pub struct Trending {
    config: TrendsConfig,
    state: Mutex<State>,
    /// Folds done.
    pub folds: AtomicU64,
}

impl Trending {
    /// Nothing counted yet.
    pub fn new(config: &TrendsConfig) -> Self {
        Self {
            config: config.clone(),
            state: Mutex::new(State::default()),
            folds: AtomicU64::new(0),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The settings trends are read with.
    pub fn settings(&self) -> crate::trends::TrendSettings {
        self.config.settings()
    }

    /// The counters requests on `snapshot` count into (the same until a reload).
    pub fn counters(&self, snapshot: &Arc<Snapshot>) -> Arc<TopicCounters> {
        let mut state = self.state();
        if let Some((serving, counters)) = &state.current {
            if serving.version == snapshot.version {
                return Arc::clone(counters);
            }
        }
        let terms = if self.config.enabled {
            snapshot.context.term_count()
        } else {
            0
        };
        let counters = Arc::new(TopicCounters::new(terms));
        if let Some(old) = state
            .current
            .replace((Arc::clone(snapshot), Arc::clone(&counters)))
        {
            state.retired.push(old);
        }
        counters
    }

    /// The lifts of `snapshot`'s campaigns under what trends now (all 1 when trends are
    /// off or nothing trends).
    pub fn lifts(&self, snapshot: &Snapshot) -> Arc<TrendLifts> {
        if !self.config.enabled {
            return Arc::new(TrendLifts::none());
        }
        let state = self.state();
        Arc::new(TrendLifts::build(snapshot, &state.trends, &self.settings()))
    }

    /// Drains every counter into the decayed counts at `now_ms` and reads what trends.
    pub fn fold(&self, now_ms: i64) {
        let mut state = self.state();
        let mut sources: Vec<(Arc<Snapshot>, Arc<TopicCounters>)> =
            std::mem::take(&mut state.retired);
        sources.extend(state.current.clone());
        let mut topics: Vec<(String, u64)> = Vec::new();
        let mut pages = 0;
        for (snapshot, counters) in &sources {
            let (counts, read) = counters.drain();
            pages += read;
            if counts.is_empty() {
                continue;
            }
            let names = snapshot.context.term_names();
            topics.extend(counts.into_iter().filter_map(|(term, n)| {
                let name = names.get(term as usize).copied().flatten()?;
                Some((name.to_owned(), n))
            }));
        }
        let settings = self.settings();
        state.counts.add(&topics, pages, now_ms, &settings);
        state.trends = state.counts.trends(&settings);
        self.folds.fetch_add(1, Relaxed);
    }

    /// What trends now, strongest rise first.
    pub fn trends(&self) -> Vec<Trend> {
        self.state().trends.clone()
    }

    /// One topic's numbers, trending or not.
    pub fn topic(&self, topic: &str) -> Option<Trend> {
        self.state().counts.topic(topic, &self.settings())
    }

    /// Recent and baseline pages (decayed), and the topics held.
    pub fn volume(&self) -> (f64, f64, usize) {
        let state = self.state();
        let (recent, baseline) = state.counts.pages();
        (recent, baseline, state.counts.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(terms: &[(TermId, f32)]) -> PageTerms {
        PageTerms {
            query: terms.to_vec(),
            ..PageTerms::default()
        }
    }

    #[test]
    fn a_page_counts_its_strongest_terms_once() {
        let counters = TopicCounters::new(20);
        let terms: Vec<(TermId, f32)> = (0..12).map(|t| (t, t as f32)).collect();
        counters.count(&page(&terms));
        counters.count(&page(&[(3, 1.0), (19, 0.5), (25, 9.0)]));
        let (counts, pages) = counters.drain();
        assert_eq!(pages, 2);
        // The eight strongest of the first page (4..=11), then 3 and 19 (25 is past the
        // vocabulary and ignored).
        let expected: Vec<(TermId, u64)> = [(3, 1), (4, 1), (5, 1), (6, 1), (7, 1), (8, 1), (9, 1)]
            .into_iter()
            .chain([(10, 1), (11, 1), (19, 1)])
            .collect();
        assert_eq!(counts, expected);
        assert_eq!(counters.drain(), (Vec::new(), 0), "drained");
    }
}
