//! The click writer: one task drains the click log (`click_log`) into the affiliate
//! database in batches, counts each click's verdict, and charges each valid CPC click to
//! its campaign's budget through the store writer (idempotent: once per impression).
//! Also [`start`]: the writer, and the re-sending of order spend the store never confirmed.

use super::click_log::{click_event, ClickLog, Message};
use super::database::{AffiliateDb, ClickRecord, ClickVerdict, ImpressionRecord};
use crate::shared::{Release, Write};
use crate::state::AppState;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

/// First pause after a failed batch; doubles up to one second.
const FIRST_BACKOFF: Duration = Duration::from_millis(20);

/// Writes the queue to `database` until the process ends (call once; later calls
/// return at once); valid CPC clicks are charged through `state.writer`.
pub async fn run(log: &ClickLog, state: Arc<AppState>, database: Option<Arc<AffiliateDb>>) {
    let Some(mut rx) = crate::shared::lock(&log.rx).take() else {
        return;
    };
    let mut messages: Vec<Message> = Vec::with_capacity(log.batch);
    loop {
        if rx.recv_many(&mut messages, log.batch).await == 0 {
            return;
        }
        // Whatever else arrives within the flush window joins this batch.
        let deadline = tokio::time::Instant::now() + log.flush_window;
        while messages.len() < log.batch && !messages.iter().any(|m| matches!(m, Message::Flush(_)))
        {
            let room = log.batch - messages.len();
            match tokio::time::timeout_at(deadline, rx.recv_many(&mut messages, room)).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let mut clicks = Vec::with_capacity(messages.len());
        let mut impressions = Vec::new();
        let mut flushes = Vec::new();
        for message in messages.drain(..) {
            match message {
                Message::Click(click) => clicks.push(*click),
                Message::Impression(impression) => impressions.push(*impression),
                Message::Flush(done) => flushes.push(done),
            }
        }
        if !clicks.is_empty() || !impressions.is_empty() {
            let count = clicks.len() + impressions.len();
            let rules = state.config.affiliate.fraud;
            let batch = Arc::new((impressions, clicks));
            let verdicts = write(log, database.as_ref(), Arc::clone(&batch), rules).await;
            charge(log, &state, &batch.1, &verdicts);
            log.pending.fetch_sub(count, Relaxed);
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// Writes one batch, retrying until the database takes it; without a database, only
/// the path's flags judge (and nothing is kept).
async fn write(
    log: &ClickLog,
    database: Option<&Arc<AffiliateDb>>,
    batch: Arc<(Vec<ImpressionRecord>, Vec<ClickRecord>)>,
    rules: crate::config::FraudConfig,
) -> Vec<ClickVerdict> {
    let Some(database) = database else {
        return batch
            .1
            .iter()
            .map(|c| ClickVerdict {
                valid: c.flag.is_none(),
                reason: c.flag.map(str::to_owned),
            })
            .collect();
    };
    let mut backoff = FIRST_BACKOFF;
    loop {
        let db = Arc::clone(database);
        let events = Arc::clone(&batch);
        let written =
            tokio::task::spawn_blocking(move || db.insert_events(&events.0, &events.1, &rules))
                .await;
        match written {
            Ok(Ok(verdicts)) => return verdicts,
            Ok(Err(error)) => {
                log.stats.failed_batches.fetch_add(1, Relaxed);
                tracing::warn!(%error, clicks = batch.1.len(), "click batch not written; retrying");
            }
            Err(error) => {
                log.stats.failed_batches.fetch_add(1, Relaxed);
                tracing::warn!(%error, "click batch task failed; retrying");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

/// Counts the verdicts and charges each valid CPC click (off this task: the store
/// writer's durability wait never holds up the next batch).
fn charge(
    log: &ClickLog,
    state: &Arc<AppState>,
    clicks: &[ClickRecord],
    verdicts: &[ClickVerdict],
) {
    let serving = state.serving();
    let mut writes = Vec::new();
    for (click, verdict) in clicks.iter().zip(verdicts) {
        if !verdict.valid {
            log.stats
                .invalid(verdict.reason.as_deref().unwrap_or("other"));
            continue;
        }
        log.stats.valid.fetch_add(1, Relaxed);
        let (Some(micros), Some(campaign)) =
            (click.cpc_micros, serving.snapshot.campaign(&click.campaign))
        else {
            continue;
        };
        writes.push(Write::Spend {
            campaign: campaign.id.clone(),
            day: crate::admission::budgets::local_day(click.at_ms, campaign.utc_offset_secs),
            micros,
            event: click_event(&click.auction, &click.imp),
            release: Release::NONE,
        });
    }
    if writes.is_empty() {
        return;
    }
    log.stats.charges.fetch_add(writes.len() as u64, Relaxed);
    let state = Arc::clone(state);
    tokio::spawn(async move {
        let mut backoff = FIRST_BACKOFF;
        loop {
            let landed = match state.writer.send(writes.clone()) {
                Some(durable) => durable.wait(Duration::from_secs(5)).await,
                None => false,
            };
            if landed {
                return;
            }
            state
                .affiliate
                .clicks
                .stats
                .charge_retries
                .fetch_add(1, Relaxed);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    });
}

/// Starts the click writer and re-sends order spend the budget store never confirmed
/// (from before a crash). Called once by `receive::run`.
pub fn start(state: &Arc<AppState>) {
    let clicks = Arc::clone(state);
    tokio::spawn(async move {
        let database = clicks.affiliate.database.clone();
        run(&clicks.affiliate.clicks, Arc::clone(&clicks), database).await;
    });
    if let Some(database) = state.affiliate.database.clone() {
        let state = Arc::clone(state);
        tokio::spawn(async move {
            // Older than the store's idempotency window, a re-send could count twice.
            let window_ms = crate::shared::keys::EVENT_TTL_SECS as i64 * 1000 / 2;
            let since = state.clock.now_millis() - window_ms;
            let db = Arc::clone(&database);
            let Ok(Ok(spend)) =
                tokio::task::spawn_blocking(move || db.uncommitted_spend(since)).await
            else {
                return;
            };
            if !spend.is_empty() {
                tracing::info!(
                    lines = spend.len(),
                    "re-sending order spend the store had not confirmed"
                );
                super::orders_in::commit_spend(&state, &database, spend).await;
            }
        });
    }
}
