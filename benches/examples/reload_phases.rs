//! Times each phase of a full campaign reload (parse JSON text → validate/compile → index)
//! for a synthetic population: `cargo run --release -p benches --example reload_phases [N]`.

use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let text = benches::synthetic_campaign_json(n);
    for round in 0..3 {
        let t0 = Instant::now();
        let file = exchange::campaign::parse(&text, "synthetic", false).expect("parses");
        let t1 = Instant::now();
        let campaigns = exchange::campaign::compile(&file, "synthetic").expect("valid");
        let t2 = Instant::now();
        let snapshot = exchange::index::build(campaigns, 1, "synthetic".into());
        let t3 = Instant::now();
        drop(file);
        println!(
            "round {round}: {n} campaigns, {:.1} MB: parse {:?}, compile {:?}, index {:?}, total {:?} ({} campaigns indexed)",
            text.len() as f64 / 1e6,
            t1 - t0,
            t2 - t1,
            t3 - t2,
            t3 - t0,
            snapshot.len()
        );
    }
}
