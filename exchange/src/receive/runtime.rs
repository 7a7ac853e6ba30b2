//! The server's tokio runtime, built the same way for the binary and the load harness.

use tokio::runtime::{Builder, Runtime};

/// Name of the runtime's worker threads (as `top -H` and `/proc/<pid>/task` show them).
pub const WORKER_NAME: &str = "exchange-worker";

/// The multi-thread runtime the exchange serves on: one worker per core.
pub fn build() -> std::io::Result<Runtime> {
    Builder::new_multi_thread()
        .enable_all()
        .thread_name(WORKER_NAME)
        .build()
}

/// Its settings, for the start-up memory ledger.
pub fn describe() -> String {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cores} worker threads")
}
