//! The periodic refreshes of the serving set (their own module, so that `state`, which
//! holds the learner and the trends, never imports what imports `state`):
//! - every `learning.refresh_secs` the outcomes the affiliate database recorded since the
//!   last count go to the learner (`serving::learning::Learner`);
//! - every `trends.window_secs` the topics counted on the request path are folded
//!   (`serving::trending::Trending`);
//!
//! and each republishes the serving set.

use crate::state::AppState;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

/// Counts new outcomes once and republishes the serving set; `Err` when the database did
/// not answer (nothing changes).
pub async fn count_outcomes(state: &Arc<AppState>) -> Result<(), crate::shared::StoreError> {
    let Some(database) = state.affiliate.database.clone() else {
        return Ok(());
    };
    let now_ms = state.clock.now_millis();
    let (from, to) = state.learner.next_range(now_ms);
    let rows = tokio::task::spawn_blocking(move || database.outcome_counts(from, to))
        .await
        .map_err(|e| crate::shared::StoreError::Unavailable(e.to_string()))??;
    state.learner.absorb(&rows, to, now_ms);
    let publisher = Arc::clone(state);
    // Building the rates walks the table and the snapshot: off the runtime's threads.
    let _ = tokio::task::spawn_blocking(move || publisher.publish()).await;
    state.learner.refreshes.fetch_add(1, Relaxed);
    Ok(())
}

/// Folds the topics counted since the last fold and republishes the serving set with the
/// lifts of what trends now.
pub async fn fold_trends(state: &Arc<AppState>) {
    state.trending.fold(state.clock.now_millis());
    let publisher = Arc::clone(state);
    let _ = tokio::task::spawn_blocking(move || publisher.publish()).await;
}

/// Starts both tasks (each when it is on: learning needs a database). Called once by
/// `receive::run`; they hold the state weakly, so they never keep a stopped exchange alive.
pub fn start(state: &Arc<AppState>) {
    if state.config.trends.enabled {
        let period = Duration::from_secs(state.config.trends.window_secs);
        crate::state::every(
            state,
            period,
            |state| async move { fold_trends(&state).await },
        );
    }
    if !state.config.learning.enabled || state.affiliate.database.is_none() {
        return;
    }
    let period = Duration::from_secs(state.config.learning.refresh_secs);
    crate::state::every(state, period, |state| async move {
        if let Err(error) = count_outcomes(&state).await {
            state.learner.failures.fetch_add(1, Relaxed);
            tracing::warn!(%error, "counting outcomes failed; retried next tick");
        }
    });
}
