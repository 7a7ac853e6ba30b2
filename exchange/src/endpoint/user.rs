//! Step 2 of an auction: the user. Their key (only where a cap can count it or an LTV
//! tier can price it) and their hash — frequency counters and purchase history — read
//! with one store call, bounded by `store.read_timeout_ms` and the response deadline.

use crate::admission::caps::{self, CapRead};
use crate::privacy::{Activity, Privacy};
use crate::serving::Serving;
use crate::shared::{PacingStore, UserKey};
use crate::state::AppState;
use bidder_sdk::openrtb::BidRequest;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// What the auction knows of the request's user.
#[derive(Debug)]
pub struct User {
    /// The hashed user key, when one was needed and the request had an id.
    pub key: Option<UserKey>,
    /// What the store read found.
    pub read: CapRead,
}

impl User {
    /// The purchase histories the store holds for the user, if it was read.
    pub fn stored_history(
        &self,
    ) -> Option<&std::collections::HashMap<String, crate::shared::PurchaseHistory>> {
        match &self.read {
            CapRead::Counters(counters) => Some(&counters.history),
            _ => None,
        }
    }
}

/// Finds the user's key and reads their hash when the serving campaigns need it.
pub async fn read(
    state: &AppState,
    serving: &Serving,
    (request, privacy): (&BidRequest, &Privacy),
    response_deadline: Instant,
) -> User {
    let snapshot = &serving.snapshot;
    // LTV tiers need the user's history: read with the counters, when user data may be used.
    let allowed =
        privacy.own.allows(Activity::UseUserData) && !state.auction.context.contextual_only;
    let history_wanted = snapshot.any_ltv_tiers && serving.model.is_some() && allowed;
    // The user key matters only where a cap can count it or a tier can price it (read),
    // or an impression may be credited with a buyer's order (view-through: no read); and
    // only when the request lets the exchange keep a stable id (caps then count the
    // request as anonymous: each campaign's `allow_anonymous`).
    let wanted = snapshot.any_frequency_cap || history_wanted;
    let key = ((wanted || (snapshot.any_view_through && allowed))
        && privacy.own.allows(Activity::StableId))
    .then(|| caps::user_key(request, &state.user_secret))
    .flatten();
    let read = read_user(state, wanted, key, response_deadline).await;
    User { key, read }
}

/// Reads the user's hash (frequency counters and purchase history) when some campaign
/// is capped or priced by LTV tier: one store call, bounded by `store.read_timeout_ms`
/// and the response deadline. Counted either way.
async fn read_user(
    state: &AppState,
    wanted: bool,
    user: Option<UserKey>,
    response_deadline: Instant,
) -> CapRead {
    if !wanted {
        return CapRead::NotNeeded;
    }
    let Some(user) = user else {
        state.caps.anonymous.fetch_add(1, Relaxed);
        return CapRead::Anonymous;
    };
    let started = Instant::now();
    let limit = started + Duration::from_millis(state.config.store.read_timeout_ms);
    let deadline = limit.min(response_deadline);
    match tokio::time::timeout_at(deadline.into(), state.shared.read_counters(user)).await {
        Ok(Ok(counters)) => {
            state.caps.reads_ok.fetch_add(1, Relaxed);
            state
                .metrics
                .cap_read_us(started.elapsed().as_micros() as u64);
            CapRead::Counters(counters)
        }
        Ok(Err(error)) => {
            state.caps.reads_failed.fetch_add(1, Relaxed);
            if let Some(left_out) = state.caps.log.admit() {
                tracing::warn!(%error, left_out, "frequency read failed; capped campaigns apply their on_store_error");
            }
            CapRead::Failed
        }
        Err(_) => {
            state.caps.reads_late.fetch_add(1, Relaxed);
            if let Some(left_out) = state.caps.log.admit() {
                tracing::warn!(
                    waited_ms = started.elapsed().as_millis() as u64,
                    left_out,
                    "frequency read late; capped campaigns apply their on_store_error"
                );
            }
            CapRead::Failed
        }
    }
}
