//! The even-pacing controller: a pure function of time, today's budget and the spend
//! seen so far, giving the share of eligible requests a campaign should bid on.
//!
//! Target curve: `budget × elapsed / day`. Each update measures the spend rate since the
//! last one (smoothed), computes the rate that would bring spend onto the target curve
//! [`LOOKAHEAD_MS`] from now (never past the end of the day), and scales the throttle by
//! desired / observed (at most ×2 or ÷2 per update). Ahead of the curve it throttles;
//! behind it relaxes; with no spend seen it doubles. All nodes run it on the same global
//! spend, so their corrections agree.

/// How far ahead the controller aims to be back on the target curve, ms.
pub const LOOKAHEAD_MS: i64 = 15 * 60 * 1000;
/// Lowest throttle (share of requests bid on).
pub const MIN_THROTTLE: f64 = 1e-4;
/// Weight of the newest spend-rate sample in the smoothed rate.
const RATE_SMOOTHING: f64 = 0.5;
/// Largest change of the throttle per update (factor).
const MAX_STEP: f64 = 2.0;

/// Today's spending plan of one campaign.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// What may be spent today, micros.
    pub budget: i64,
    /// Start of the campaign's day, unix ms.
    pub day_start_ms: i64,
    /// Length of the day, ms.
    pub day_len_ms: i64,
}

impl Plan {
    /// Spend the target curve reaches at `now_ms`.
    pub fn target_at(&self, now_ms: i64) -> i64 {
        let elapsed = (now_ms - self.day_start_ms).clamp(0, self.day_len_ms);
        (self.budget as i128 * elapsed as i128 / self.day_len_ms.max(1) as i128) as i64
    }
}

/// The controller state of one campaign on one node.
#[derive(Debug, Clone, PartialEq)]
pub struct Controller {
    throttle: f64,
    last: Option<(i64, i64)>,
    rate: Option<f64>,
}

impl Default for Controller {
    fn default() -> Self {
        Self {
            throttle: 1.0,
            last: None,
            rate: None,
        }
    }
}

impl Controller {
    /// The current throttle, in [`MIN_THROTTLE`], 1].
    pub fn throttle(&self) -> f64 {
        self.throttle
    }

    /// The smoothed spend rate, micros per second (0 before two updates).
    pub fn rate_per_sec(&self) -> f64 {
        self.rate.unwrap_or(0.0) * 1000.0
    }

    /// Takes the spend seen at `now_ms` (all nodes, today) and returns the new throttle.
    pub fn update(&mut self, now_ms: i64, plan: &Plan, spent: i64) -> f64 {
        if let Some((then, spent_then)) = self.last {
            let dt = now_ms - then;
            if dt > 0 {
                let sample = (spent - spent_then).max(0) as f64 / dt as f64;
                self.rate = Some(match self.rate {
                    Some(old) => old * (1.0 - RATE_SMOOTHING) + sample * RATE_SMOOTHING,
                    None => sample,
                });
            }
        }
        self.last = Some((now_ms, spent));
        let day_end = plan.day_start_ms + plan.day_len_ms;
        let left = day_end - now_ms;
        if left <= 0 || spent >= plan.budget {
            return self.throttle;
        }
        let horizon = LOOKAHEAD_MS.min(left);
        let desired = (plan.target_at(now_ms + horizon) - spent).max(0) as f64 / horizon as f64;
        let factor = match self.rate {
            Some(rate) if rate > 0.0 => (desired / rate).clamp(1.0 / MAX_STEP, MAX_STEP),
            _ if desired > 0.0 => MAX_STEP,
            _ => 1.0,
        };
        self.throttle = (self.throttle * factor).clamp(MIN_THROTTLE, 1.0);
        self.throttle
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn the_target_curve_is_linear_over_the_day() {
        let plan = Plan {
            budget: 1_000,
            day_start_ms: DAY,
            day_len_ms: DAY,
        };
        assert_eq!(plan.target_at(0), 0);
        assert_eq!(plan.target_at(DAY + DAY / 4), 250);
        assert_eq!(plan.target_at(3 * DAY), 1_000);
    }

    #[test]
    fn ahead_of_the_curve_throttles_and_behind_it_relaxes() {
        let plan = Plan {
            budget: 86_400_000,
            day_start_ms: 0,
            day_len_ms: DAY,
        };
        // Spending 4× the planned rate (1000 micros/s planned).
        let mut ahead = Controller::default();
        let mut spent = 0;
        for second in (0..600).step_by(10) {
            spent += 40_000;
            ahead.update(second * 1000, &plan, spent);
        }
        assert!(ahead.throttle() < 0.5, "throttled: {}", ahead.throttle());
        // Spending a quarter of it, with the throttle already low: it opens up.
        let mut behind = Controller {
            throttle: 0.1,
            ..Controller::default()
        };
        let mut spent = 0;
        for second in (0..600).step_by(10) {
            spent += 2_500;
            behind.update(second * 1000, &plan, spent);
        }
        assert!(behind.throttle() > 0.1, "relaxed: {}", behind.throttle());
    }
}
