//! Metric families of the shared store: the request path's counter reads, the exclusions
//! they caused, notice writes, budget leases and the log lines left out while it is down.

use crate::admission::budgets::PaceBlock;
use crate::admission::caps::CapBlock;
use crate::metrics::exposition::Exposition;
use crate::state::AppState;
use std::sync::atomic::Ordering::Relaxed;

/// Describes the store families.
pub fn describe(state: &AppState, out: &mut Exposition<'_, '_>) {
    let durable = match &state.shared {
        crate::shared::SharedStore::Memory(store) => store.is_durable(),
        crate::shared::SharedStore::Redis(store) => store.journal().is_some(),
    };
    out.gauge(
        "exchange_store_durable",
        "1 when acknowledged writes are on disk (embedded store file, or Redis with a journal file).",
        &[(&[], i64::from(durable))],
    );
    let kind = match state.shared.kind() {
        "redis" => "redis",
        _ => "memory",
    };
    out.gauge(
        "exchange_store_info",
        "The shared store in use.",
        &[(&[("kind", kind)], 1)],
    );
    let caps = &state.caps;
    out.counter(
        "exchange_frequency_reads",
        "Frequency-counter reads on the request path (one store command each; anonymous: none).",
        &[
            (&[("result", "ok")], caps.reads_ok.load(Relaxed)),
            (&[("result", "error")], caps.reads_failed.load(Relaxed)),
            (&[("result", "late")], caps.reads_late.load(Relaxed)),
            (&[("result", "anonymous")], caps.anonymous.load(Relaxed)),
        ],
    );
    let cap_labels = CapBlock::ALL.map(|r| [("reason", r.as_str())]);
    let cap_blocks: Vec<(&[(&str, &str)], u64)> = CapBlock::ALL
        .iter()
        .zip(&cap_labels)
        .map(|(&r, labels)| (labels.as_slice(), caps.blocked[r as usize].load(Relaxed)))
        .collect();
    out.counter(
        "exchange_frequency_blocks",
        "Campaigns kept out of a request by a frequency cap.",
        &cap_blocks,
    );
    let writes = &state.writer.stats;
    out.counter(
        "exchange_store_writes",
        "Notice writes (impressions, spend) by result.",
        &[
            (&[("result", "counted")], writes.counted.load(Relaxed)),
            (&[("result", "replayed")], writes.replayed.load(Relaxed)),
            (&[("result", "refused")], writes.refused.load(Relaxed)),
            (&[("result", "journaled")], writes.journaled.load(Relaxed)),
            (
                &[("result", "delivered_from_journal")],
                writes.delivered_from_journal.load(Relaxed),
            ),
        ],
    );
    let batches = writes.batches.load(Relaxed);
    let failed = writes.failed_batches.load(Relaxed);
    out.counter(
        "exchange_store_write_batches",
        "Write batches (one pipeline each) by result.",
        &[
            (&[("result", "ok")], batches.saturating_sub(failed)),
            (&[("result", "failed")], failed),
        ],
    );
    out.gauge(
        "exchange_store_writes_queued",
        "Notice writes waiting for the store.",
        &[(&[], state.writer.pending() as i64)],
    );
    let pacing = &state.budgets.stats;
    out.counter(
        "exchange_budget_leases",
        "Lease calls by result.",
        &[
            (
                &[("result", "granted")],
                pacing.leases_granted.load(Relaxed),
            ),
            (&[("result", "empty")], pacing.leases_empty.load(Relaxed)),
            (&[("result", "error")], pacing.lease_errors.load(Relaxed)),
        ],
    );
    out.counter(
        "exchange_budget_charges",
        "Wins charged to a local lease, or withdrawn because it could not pay.",
        &[
            (&[("result", "charged")], pacing.charged.load(Relaxed)),
            (
                &[("result", "refused")],
                pacing.charge_refused.load(Relaxed),
            ),
        ],
    );
    let pace_labels = PaceBlock::ALL.map(|r| [("reason", r.as_str())]);
    let pace_blocks: Vec<(&[(&str, &str)], u64)> = PaceBlock::ALL
        .iter()
        .zip(&pace_labels)
        .map(|(&r, labels)| (labels.as_slice(), pacing.blocks(r)))
        .collect();
    out.counter(
        "exchange_budget_blocks",
        "Campaigns kept out of a request by pacing.",
        &pace_blocks,
    );
    out.counter(
        "exchange_log_lines_suppressed",
        "Repeated warnings left out of the log (at most one line per site per interval; the failures have counters of their own).",
        &[
            (&[("site", "store_write")], writes.log.suppressed()),
            (&[("site", "budget_lease")], pacing.log.suppressed()),
            (&[("site", "frequency_read")], state.caps.log.suppressed()),
            (&[("site", "accept")], state.connections.accept_log_suppressed()),
        ],
    );
}
