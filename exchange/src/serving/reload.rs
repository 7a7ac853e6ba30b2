//! Reload triggers: the admin call, `SIGHUP`, and a change of the campaign file, the
//! lexicon or the LTV model file against the bytes the serving set was built from. Each runs the
//! blocking rebuild on a blocking thread; serving never waits for it.

use crate::serving::snapshots::{Fingerprint, LoadError, LoadSummary, Stat};
use crate::state::AppState;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Re-reads the LTV model file (if one is configured), counting and logging the result;
/// a bad file leaves the serving model in place.
pub fn reload_model(state: &AppState, trigger: &'static str) -> Result<Option<u64>, String> {
    let result = state.model_file.reload();
    match &result {
        Ok(Some(version)) => {
            state.publish();
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
    let result = tokio::task::spawn_blocking(move || {
        let summary = worker.snapshots.reload()?;
        worker.publish();
        Ok(summary)
    })
    .await
    .unwrap_or_else(|join_error| {
        Err(LoadError {
            errors: vec![crate::campaign::CampaignError::new(
                &state.snapshots.path().display().to_string(),
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

/// Reloads when a source file differs from what the serving snapshot was loaded from
/// (its stat, or its bytes while the stat cannot prove them unchanged; see
/// [`Fingerprint::recheck`]) and has then held still for one more poll.
///
/// The baseline is the fingerprint the load itself took, so an edit made at any time
/// after a load, even before this task first runs, is seen. A file whose reload failed
/// is not tried again until it changes again.
pub async fn watch_file(
    state: Arc<AppState>,
    watched: Watched,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut baseline = watched.loaded(&state);
    let mut confirmed: Vec<Fingerprint> = baseline.files.clone();
    let mut settling: Option<Vec<Option<Stat>>> = None;
    let mut failed: Option<Vec<Option<Stat>>> = None;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        let loaded = watched.loaded(&state);
        if loaded.version != baseline.version {
            // Reloaded by another trigger (or by us): compare against that load now.
            confirmed = loaded.files.clone();
            baseline = loaded;
            failed = None;
        }
        let check = confirmed.clone();
        let Ok((changed, rechecked)) = tokio::task::spawn_blocking(move || recheck(&check)).await
        else {
            continue;
        };
        if !changed {
            confirmed = rechecked;
            settling = None;
            continue;
        }
        let now: Vec<Option<Stat>> = confirmed.iter().map(|f| Stat::of(&f.path)).collect();
        if failed.as_ref() == Some(&now) {
            continue;
        }
        // Act once the files have stopped changing (the same stats two polls in a row):
        // a non-atomic write (truncate, then write) is read once, whole, not half-written
        // and then again.
        if settling.as_ref() == Some(&now) {
            settling = None;
            failed = (!watched.reload(&state).await).then_some(now);
        } else {
            settling = Some(now);
        }
    }
}

/// What a file watcher watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watched {
    /// The campaign file and the lexicon.
    Campaigns,
    /// The LTV model file.
    Model,
}

impl Watched {
    /// The files as the last load read them.
    fn loaded(self, state: &AppState) -> Arc<crate::serving::snapshots::LoadedSources> {
        match self {
            Self::Campaigns => state.snapshots.loaded_sources(),
            Self::Model => state.model_file.loaded_sources(),
        }
    }

    /// Reloads them (and publishes the serving set); whether that succeeded.
    async fn reload(self, state: &Arc<AppState>) -> bool {
        match self {
            Self::Campaigns => reload_now(state, "file_change").await.is_ok(),
            Self::Model => {
                let worker = Arc::clone(state);
                tokio::task::spawn_blocking(move || reload_model(&worker, "file_change").is_ok())
                    .await
                    .unwrap_or(false)
            }
        }
    }
}

/// Whether any file differs from its fingerprint, and the fingerprints as confirmed by
/// this check (blocking: may read the files).
fn recheck(files: &[Fingerprint]) -> (bool, Vec<Fingerprint>) {
    let mut confirmed = Vec::with_capacity(files.len());
    for file in files {
        match file.recheck() {
            Some(again) => confirmed.push(again),
            None => return (true, files.to_vec()),
        }
    }
    (false, confirmed)
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
