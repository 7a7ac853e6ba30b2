//! What the decision tells an observer about each campaign it looks at, imp by imp. In
//! production nobody listens ([`Unobserved`]: the calls compile away); under `?debug=1` a
//! [`Trace`] records every campaign's real fate, and the debug view is built from it, so
//! it cannot disagree with the answer.

use crate::scoring::Score;

/// Receives each campaign's fate on each imp from `decision::prepare_observed`.
pub trait Observer {
    /// Whether the decision should look at every campaign (no early stop, exclusions by
    /// the targeting bitsets reported one by one). Early stopping clears exactly as a full
    /// evaluation (`decision::tests`), so the outcome is the same; only the cost differs.
    fn wants_every_campaign(&self) -> bool {
        false
    }

    /// Campaign `id` was left out of imp `imp`'s auction for `reason` (a stable label).
    fn excluded(&mut self, _imp: usize, _id: u32, _reason: &'static str) {}

    /// Campaign `id` entered imp `imp`'s auction with `creative`, scored `score`.
    fn scored(&mut self, _imp: usize, _id: u32, _creative: u16, _score: &Score) {}
}

/// Nobody listens (production).
#[derive(Debug, Clone, Copy, Default)]
pub struct Unobserved;

impl Observer for Unobserved {}

/// One campaign's fate on one imp.
#[derive(Debug, Clone, PartialEq)]
pub enum Fate {
    /// Left out, and why.
    Excluded(&'static str),
    /// In the auction with this creative and score (whether it won is in the clearing).
    Scored {
        /// Creative index.
        creative: u16,
        /// The score it competed with.
        score: Score,
    },
}

/// Every campaign's fate, per imp, in the order the decision met them.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    /// Per imp: (dense campaign id, fate).
    pub imps: Vec<Vec<(u32, Fate)>>,
}

impl Trace {
    fn imp(&mut self, imp: usize) -> &mut Vec<(u32, Fate)> {
        if self.imps.len() <= imp {
            self.imps.resize_with(imp + 1, Vec::new);
        }
        &mut self.imps[imp]
    }
}

impl Observer for Trace {
    fn wants_every_campaign(&self) -> bool {
        true
    }

    fn excluded(&mut self, imp: usize, id: u32, reason: &'static str) {
        self.imp(imp).push((id, Fate::Excluded(reason)));
    }

    fn scored(&mut self, imp: usize, id: u32, creative: u16, score: &Score) {
        let score = *score;
        self.imp(imp).push((id, Fate::Scored { creative, score }));
    }
}
