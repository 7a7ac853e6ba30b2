//! Prometheus families of the shared store: the request path's counter reads, the
//! exclusions they caused, notice writes and budget leases.

use crate::freq::CapBlock;
use crate::state::AppState;
use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

/// Appends the store families to `out`.
pub fn render(state: &AppState, out: &mut String) {
    let caps = &state.caps;
    let kind = state.shared.kind();
    let _ = writeln!(out, "# HELP exchange_store_info The shared store in use.\n# TYPE exchange_store_info gauge\nexchange_store_info{{kind=\"{kind}\"}} 1");
    let _ = writeln!(out, "# HELP exchange_frequency_reads_total Frequency-counter reads on the request path (one store command each).\n# TYPE exchange_frequency_reads_total counter");
    for (result, value) in [
        ("ok", &caps.reads_ok),
        ("error", &caps.reads_failed),
        ("late", &caps.reads_late),
        ("anonymous", &caps.anonymous),
    ] {
        let _ = writeln!(
            out,
            "exchange_frequency_reads_total{{result=\"{result}\"}} {}",
            value.load(Relaxed)
        );
    }
    let _ = writeln!(out, "# HELP exchange_frequency_blocks_total Campaigns kept out of a request by a frequency cap.\n# TYPE exchange_frequency_blocks_total counter");
    for reason in CapBlock::ALL {
        let _ = writeln!(
            out,
            "exchange_frequency_blocks_total{{reason=\"{}\"}} {}",
            reason.as_str(),
            caps.blocked[reason as usize].load(Relaxed)
        );
    }
    let writes = &state.writer.stats;
    let _ = writeln!(out, "# HELP exchange_store_writes_total Notice writes (impressions, spend) by result.\n# TYPE exchange_store_writes_total counter");
    for (result, value) in [
        ("counted", &writes.counted),
        ("replayed", &writes.replayed),
        ("refused", &writes.refused),
    ] {
        let _ = writeln!(
            out,
            "exchange_store_writes_total{{result=\"{result}\"}} {}",
            value.load(Relaxed)
        );
    }
    let _ = writeln!(out, "# HELP exchange_store_write_batches_total Write batches (one pipeline each) by result.\n# TYPE exchange_store_write_batches_total counter");
    let batches = writes.batches.load(Relaxed);
    let failed = writes.failed_batches.load(Relaxed);
    let _ = writeln!(
        out,
        "exchange_store_write_batches_total{{result=\"ok\"}} {}",
        batches.saturating_sub(failed)
    );
    let _ = writeln!(
        out,
        "exchange_store_write_batches_total{{result=\"failed\"}} {failed}"
    );
    let _ = writeln!(out, "# HELP exchange_store_writes_queued Notice writes waiting for the store.\n# TYPE exchange_store_writes_queued gauge\nexchange_store_writes_queued {}", state.writer.pending());
    let pacing = &state.pacing.stats;
    let _ = writeln!(out, "# HELP exchange_budget_leases_total Lease calls by result.\n# TYPE exchange_budget_leases_total counter");
    for (result, value) in [
        ("granted", &pacing.leases_granted),
        ("empty", &pacing.leases_empty),
        ("error", &pacing.lease_errors),
    ] {
        let _ = writeln!(
            out,
            "exchange_budget_leases_total{{result=\"{result}\"}} {}",
            value.load(Relaxed)
        );
    }
    let _ = writeln!(out, "# HELP exchange_budget_charges_total Wins charged to a local lease, or withdrawn because it could not pay.\n# TYPE exchange_budget_charges_total counter");
    let _ = writeln!(
        out,
        "exchange_budget_charges_total{{result=\"charged\"}} {}",
        pacing.charged.load(Relaxed)
    );
    let _ = writeln!(
        out,
        "exchange_budget_charges_total{{result=\"refused\"}} {}",
        pacing.charge_refused.load(Relaxed)
    );
    let _ = writeln!(out, "# HELP exchange_budget_blocks_total Campaigns kept out of a request by pacing.\n# TYPE exchange_budget_blocks_total counter");
    let _ = writeln!(
        out,
        "exchange_budget_blocks_total{{reason=\"throttled\"}} {}",
        pacing.throttled.load(Relaxed)
    );
    let _ = writeln!(
        out,
        "exchange_budget_blocks_total{{reason=\"no_lease\"}} {}",
        pacing.no_lease.load(Relaxed)
    );
}
