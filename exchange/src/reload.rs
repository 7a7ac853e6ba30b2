//! Reload triggers: the admin call, `SIGHUP`, and a change of the campaign file's
//! modification time or size. Each runs the blocking rebuild on a blocking thread;
//! serving never waits for it.

use crate::state::AppState;
use crate::store::{LoadError, LoadSummary};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// Re-reads the LTV model file (if one is configured), counting and logging the result;
/// a bad file leaves the serving model in place.
pub fn reload_model(state: &AppState, trigger: &'static str) -> Result<Option<u64>, String> {
    let result = state.ltv.reload();
    match &result {
        Ok(Some(version)) => {
            state.metrics.model_reload(true);
            tracing::info!(trigger, version, "LTV model reloaded");
        }
        Ok(None) => {}
        Err(error) => {
            state.metrics.model_reload(false);
            tracing::error!(trigger, %error, "LTV model rejected; the previous model keeps serving");
        }
    }
    result
}

/// Rebuilds the snapshot from the campaign file, counting and logging the result.
pub async fn reload_now(
    state: &Arc<AppState>,
    trigger: &'static str,
) -> Result<LoadSummary, LoadError> {
    let worker = Arc::clone(state);
    let result = tokio::task::spawn_blocking(move || worker.store.reload())
        .await
        .unwrap_or_else(|join_error| {
            Err(LoadError {
                errors: vec![crate::campaign::CampaignError::new(
                    &state.store.path().display().to_string(),
                    "$",
                    format!("reload task failed: {join_error}"),
                )],
            })
        });
    match &result {
        Ok(summary) => {
            state.metrics.reload(true);
            tracing::info!(
                trigger,
                version = summary.version,
                campaigns = summary.campaigns,
                "campaigns reloaded"
            );
        }
        Err(error) => {
            state.metrics.reload(false);
            tracing::error!(trigger, %error, "campaign reload failed; the previous snapshot keeps serving");
        }
    }
    result
}

/// Reloads when the campaign file's modification time or size changes and then holds
/// still for one more poll.
pub async fn watch_file(state: Arc<AppState>, interval: Duration, mut stop: watch::Receiver<bool>) {
    let fingerprint = |state: &AppState| -> Option<(SystemTime, u64)> {
        let meta = std::fs::metadata(state.store.path()).ok()?;
        Some((meta.modified().ok()?, meta.len()))
    };
    let mut seen = fingerprint(&state);
    let mut settling = None;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        let now = fingerprint(&state);
        if now.is_none() || now == seen {
            settling = None;
            continue;
        }
        // Act once the file has stopped changing (the same fingerprint two polls in a
        // row): a non-atomic write (truncate, then write) is read once, whole, not
        // half-written and then again.
        if settling == now {
            seen = now;
            settling = None;
            let _ = reload_now(&state, "file_change").await;
        } else {
            settling = now;
        }
    }
}

/// Listens for `SIGHUP`. Call it before serving: once it returns, a `SIGHUP` no longer
/// terminates the process (the default action) but reaches [`on_sighup`].
#[cfg(unix)]
pub fn listen_for_sighup() -> Option<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{signal, SignalKind};
    signal(SignalKind::hangup())
        .map_err(|error| tracing::warn!(%error, "cannot listen for SIGHUP; reload with the admin API or by editing the file"))
        .ok()
}

/// Reloads on every `SIGHUP` received by `hangups`.
#[cfg(unix)]
pub async fn on_sighup(
    state: Arc<AppState>,
    mut hangups: tokio::signal::unix::Signal,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            received = hangups.recv() => {
                if received.is_none() { return; }
                let _ = reload_now(&state, "sighup").await;
                let _ = reload_model(&state, "sighup");
            }
            _ = stop.changed() => return,
        }
    }
}
