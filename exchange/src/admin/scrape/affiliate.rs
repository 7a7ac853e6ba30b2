//! Metric families of the affiliate loop: clicks by outcome and reason, CPC charges,
//! orders by attribution and refusal.

use crate::affiliate::click_log::INVALID_REASONS;
use crate::affiliate::stats::REFUSALS;
use crate::metrics::exposition::Exposition;
use crate::notice::Rejection;
use crate::orders::Unattributed;
use crate::state::AppState;
use std::sync::atomic::Ordering::Relaxed;

/// Describes the affiliate families.
pub fn describe(state: &AppState, out: &mut Exposition<'_, '_>) {
    let affiliate = &state.affiliate;
    let clicks = &affiliate.clicks.stats;
    let mut labels: Vec<[(&str, &str); 2]> = vec![[("outcome", "valid"), ("reason", "")]];
    let mut values = vec![clicks.valid.load(Relaxed)];
    for (i, reason) in INVALID_REASONS.iter().chain(["other"].iter()).enumerate() {
        labels.push([("outcome", "invalid"), ("reason", reason)]);
        values.push(clicks.invalid[i].load(Relaxed));
    }
    for (i, reason) in Rejection::ALL.iter().enumerate() {
        labels.push([("outcome", "refused"), ("reason", reason.as_str())]);
        values.push(affiliate.refused.0[i].load(Relaxed));
    }
    labels.push([("outcome", "dropped"), ("reason", "queue_full")]);
    values.push(clicks.dropped.load(Relaxed));
    let samples: Vec<(&[(&str, &str)], u64)> = labels
        .iter()
        .zip(values)
        .map(|(l, v)| (l.as_slice(), v))
        .collect();
    out.counter(
        "exchange_clicks",
        "Clicks: valid (earn), invalid by rule (recorded, earn nothing), refused at the door (not signed, altered, expired: nothing recorded), dropped (queue full: redirected, not recorded).",
        &samples,
    );
    out.counter(
        "exchange_click_charges",
        "CPC charges sent to the budget store (retries: the store writer did not take one at once).",
        &[
            (&[("result", "sent")], clicks.charges.load(Relaxed)),
            (&[("result", "retried")], clicks.charge_retries.load(Relaxed)),
        ],
    );
    out.gauge(
        "exchange_clicks_pending",
        "Clicks queued or being written (lost on a crash).",
        &[(&[], affiliate.clicks.pending() as i64)],
    );
    let orders = &affiliate.orders;
    let mut order_labels: Vec<[(&str, &str); 2]> =
        vec![[("outcome", "attributed"), ("reason", "")]];
    let mut order_values = vec![orders.attributed.load(Relaxed)];
    for (i, reason) in Unattributed::ALL.iter().enumerate() {
        order_labels.push([("outcome", "unattributed"), ("reason", reason.as_str())]);
        order_values.push(orders.unattributed[i].load(Relaxed));
    }
    for (i, reason) in REFUSALS.iter().enumerate() {
        order_labels.push([("outcome", "refused"), ("reason", reason)]);
        order_values.push(orders.refused[i].load(Relaxed));
    }
    let order_samples: Vec<(&[(&str, &str)], u64)> = order_labels
        .iter()
        .zip(order_values)
        .map(|(l, v)| (l.as_slice(), v))
        .collect();
    out.counter(
        "exchange_order_reports",
        "Order reports: applied (attributed, or unattributed by reason) or refused by reason.",
        &order_samples,
    );
    let hold_labels = crate::orders::HoldReason::ALL.map(|r| [("reason", r.as_str())]);
    let holds: Vec<(&[(&str, &str)], u64)> = hold_labels
        .iter()
        .zip(&orders.holds)
        .map(|(l, v)| (l.as_slice(), v.load(Relaxed)))
        .collect();
    out.counter(
        "exchange_order_holds",
        "Orders the fraud rules held (not commissioned until cleared), by rule.",
        &holds,
    );
    out.counter(
        "exchange_order_hold_decisions",
        "Operators' decisions on held orders.",
        &[
            (
                &[("decision", "cleared")],
                orders.decisions[0].load(Relaxed),
            ),
            (
                &[("decision", "confirmed")],
                orders.decisions[1].load(Relaxed),
            ),
        ],
    );
    out.counter(
        "exchange_impressions_dropped",
        "Impression records not written (the click and impression queue was full).",
        &[(&[], clicks.impressions_dropped.load(Relaxed))],
    );
    out.histogram(
        "exchange_click_seconds",
        "Server time of a click, routed to answered (its record is written later, off the path).",
        &[(&[], &affiliate.click_latency)],
    );
    out.histogram(
        "exchange_order_report_seconds",
        "Server time of an order report, its durable commit included.",
        &[(&[], &affiliate.order_latency)],
    );
    out.counter(
        "exchange_order_line_transitions",
        "Order line state or refund changes written.",
        &[(&[], orders.transitions.load(Relaxed))],
    );
}
