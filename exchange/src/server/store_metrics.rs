//! Prometheus families of the shared store: the request path's counter reads, the
//! exclusions they caused, notice writes and budget leases.

use crate::freq::CapBlock;
use crate::metrics::family;
use crate::state::AppState;
use std::sync::atomic::Ordering::Relaxed;

/// Appends the store families to `out`.
pub fn render(state: &AppState, out: &mut String) {
    let kind = match state.shared.kind() {
        "redis" => "kind=\"redis\"",
        _ => "kind=\"memory\"",
    };
    let durable = match &state.shared {
        crate::pacing_store::SharedStore::Memory(store) => u64::from(store.is_durable()),
        crate::pacing_store::SharedStore::Redis(store) => u64::from(store.journal().is_some()),
    };
    family(
        out,
        "exchange_store_durable",
        "gauge",
        "1 when acknowledged writes are on disk (embedded store file, or Redis with a journal file).",
        &[("", durable)],
    );
    family(
        out,
        "exchange_store_info",
        "gauge",
        "The shared store in use.",
        &[(kind, 1)],
    );
    let caps = &state.caps;
    family(
        out,
        "exchange_frequency_reads_total",
        "counter",
        "Frequency-counter reads on the request path (one store command each; anonymous: none).",
        &[
            ("result=\"ok\"", caps.reads_ok.load(Relaxed)),
            ("result=\"error\"", caps.reads_failed.load(Relaxed)),
            ("result=\"late\"", caps.reads_late.load(Relaxed)),
            ("result=\"anonymous\"", caps.anonymous.load(Relaxed)),
        ],
    );
    let blocks: Vec<(String, u64)> = CapBlock::ALL
        .iter()
        .map(|&r| {
            (
                format!("reason=\"{}\"", r.as_str()),
                caps.blocked[r as usize].load(Relaxed),
            )
        })
        .collect();
    let blocks: Vec<(&str, u64)> = blocks.iter().map(|(l, v)| (l.as_str(), *v)).collect();
    family(
        out,
        "exchange_frequency_blocks_total",
        "counter",
        "Campaigns kept out of a request by a frequency cap.",
        &blocks,
    );
    let writes = &state.writer.stats;
    family(
        out,
        "exchange_store_writes_total",
        "counter",
        "Notice writes (impressions, spend) by result.",
        &[
            ("result=\"counted\"", writes.counted.load(Relaxed)),
            ("result=\"replayed\"", writes.replayed.load(Relaxed)),
            ("result=\"refused\"", writes.refused.load(Relaxed)),
            ("result=\"journaled\"", writes.journaled.load(Relaxed)),
            (
                "result=\"delivered_from_journal\"",
                writes.delivered_from_journal.load(Relaxed),
            ),
        ],
    );
    let batches = writes.batches.load(Relaxed);
    let failed = writes.failed_batches.load(Relaxed);
    family(
        out,
        "exchange_store_write_batches_total",
        "counter",
        "Write batches (one pipeline each) by result.",
        &[
            ("result=\"ok\"", batches.saturating_sub(failed)),
            ("result=\"failed\"", failed),
        ],
    );
    family(
        out,
        "exchange_store_writes_queued",
        "gauge",
        "Notice writes waiting for the store.",
        &[("", state.writer.pending() as u64)],
    );
    let pacing = &state.pacing.stats;
    family(
        out,
        "exchange_budget_leases_total",
        "counter",
        "Lease calls by result.",
        &[
            ("result=\"granted\"", pacing.leases_granted.load(Relaxed)),
            ("result=\"empty\"", pacing.leases_empty.load(Relaxed)),
            ("result=\"error\"", pacing.lease_errors.load(Relaxed)),
        ],
    );
    family(
        out,
        "exchange_budget_charges_total",
        "counter",
        "Wins charged to a local lease, or withdrawn because it could not pay.",
        &[
            ("result=\"charged\"", pacing.charged.load(Relaxed)),
            ("result=\"refused\"", pacing.charge_refused.load(Relaxed)),
        ],
    );
    family(
        out,
        "exchange_budget_blocks_total",
        "counter",
        "Campaigns kept out of a request by pacing.",
        &[
            (
                "reason=\"throttled\"",
                pacing.blocks(crate::pacing::PaceBlock::Throttled),
            ),
            (
                "reason=\"no_lease\"",
                pacing.blocks(crate::pacing::PaceBlock::NoLease),
            ),
        ],
    );
    family(
        out,
        "exchange_log_lines_suppressed_total",
        "counter",
        "Repeated warnings left out of the log (at most one line per site per interval; the failures have counters of their own).",
        &[
            ("site=\"store_write\"", writes.log.suppressed()),
            ("site=\"budget_lease\"", pacing.log.suppressed()),
            ("site=\"frequency_read\"", state.caps.log.suppressed()),
            ("site=\"accept\"", state.connections.accept_log_suppressed()),
        ],
    );
}
