//! Prints the learning simulation's figures (the simulation `exchange_core::learning`'s
//! tests assert on): revenue against an oracle that knows the true rates, per phase, and
//! calibration of the learned pCTR and pCVR, for one truth in detail and for five truths
//! with and without exploration.
//! `cargo run --release -p benches --example learning_simulation [SEED]`.

use exchange::learning::simulation::{run, SimulationSettings};

fn main() {
    let seed = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(7);
    let started = std::time::Instant::now();
    println!("seed {seed}, explore 1 (Thompson sampling):");
    print!("{}", run(&SimulationSettings::with(seed, 1.0)));
    println!();
    println!("last phase over five truths: declared share / learned share, clicks and orders predicted / observed");
    for explore in [0.0, 0.5, 1.0, 2.0] {
        let mut line = format!("  explore {explore}:");
        for seed in [7, 11, 23, 31, 42] {
            let report = run(&SimulationSettings::with(seed, explore));
            let last = report.phases.last().expect("phases");
            line += &format!(
                "  [{:.3} / {:.3}, {:.3}, {:.3}]",
                last.declared_share,
                last.learned_share,
                report.ctr_calibration,
                report.cvr_calibration
            );
        }
        println!("{line}");
    }
    println!("(simulated in {:.2?})", started.elapsed());
}
