//! Prints the figures of a simulated day of pacing (the same simulation the pacing test
//! asserts on): per campaign the budget, spend, utilisation, largest deviation from the
//! target curve over the 15-minute slots, and when the budget ran out.
//! `cargo run --release -p benches --example pacing_day [SEED]`.

use exchange::admission::budgets::simulation::{simulate_day, standard_day};

fn main() {
    let (campaigns, mut traffic) = standard_day();
    if let Some(seed) = std::env::args().nth(1).and_then(|a| a.parse().ok()) {
        traffic.seed = seed;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let started = std::time::Instant::now();
    let report = runtime.block_on(simulate_day(&campaigns, traffic, 20_000, 10));
    print!("{}", report.table());
    println!(
        "(seed {}, simulated in {:.2?})",
        traffic.seed,
        started.elapsed()
    );
}
