//! The learner's task: every `learning.refresh_secs` it reads the outcomes the affiliate
//! database recorded since the last count, hands them to the learner (`serving::learning::Learner`) and republishes
//! the serving set (its own module so that `state`, which holds the learner, never
//! imports what imports `state`).

use crate::state::AppState;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

/// Counts new outcomes once and republishes the serving set; `Err` when the database did
/// not answer (nothing changes).
pub async fn refresh(state: &Arc<AppState>) -> Result<(), crate::shared::StoreError> {
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

/// Starts the learner's task (with a database and learning on). Called once by
/// `receive::run`; it holds the state weakly, so it never keeps a stopped exchange alive.
pub fn start(state: &Arc<AppState>) {
    if !state.config.learning.enabled || state.affiliate.database.is_none() {
        return;
    }
    let period = Duration::from_secs(state.config.learning.refresh_secs);
    crate::state::every(state, period, |state| async move {
        if let Err(error) = refresh(&state).await {
            state.learner.failures.fetch_add(1, Relaxed);
            tracing::warn!(%error, "counting outcomes failed; retried next tick");
        }
    });
}
